//! WebRTC fan-out figures on loopback, server and viewers in one process:
//! - added latency per viewer and frame: from the stream's reader taking a
//!   frame off the hub to that viewer's first RTP packet of it handed to
//!   the socket (`send`), and per frame until every viewer's packets are
//!   out (`fan-out`), from the server's own histograms;
//! - the server's CPU per viewer (process CPU minus the viewers' thread).
//!
//! The stream is synthetic H.264 at 25 fps, about 2 Mbit/s (a 60 kB
//! keyframe every 2 s, 9 kB otherwise). Viewers are str0m sessions on one
//! thread of their own, each with its own UDP socket: they answer ICE,
//! DTLS and RTCP, and take the RTP in (TWCC feedback and receiver reports
//! go back, as a browser's would); `WEBRTC_BENCH_DECRYPT=0` counts RTP
//! without decrypting it (lighter, but with no feedback the server's
//! estimates fall and viewers get held back to keyframes).
//!
//! `cargo bench -p webrtc --bench fanout` (or `bench/webrtc-fanout.sh`);
//! `WEBRTC_BENCH_VIEWERS` (default 100), `WEBRTC_BENCH_SECONDS` (default 10).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hub::Hub;
use media::{Codec, Frame, Timestamp, Track};
use str0m::change::SdpAnswer;
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, RtcConfig};
use webrtc::server::{Config, Histogram, Server};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds of the process, or of the calling thread.
fn cpu_seconds(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn snapshot(h: &Histogram) -> Vec<(f64, u64)> {
    h.buckets()
}

/// Upper bound of the bucket holding quantile `q` of the counts added
/// between two snapshots.
fn quantile(before: &[(f64, u64)], after: &[(f64, u64)], q: f64) -> (f64, u64) {
    let diff: Vec<(f64, u64)> = before
        .iter()
        .zip(after)
        .map(|((b, x), (_, y))| (*b, y - x))
        .collect();
    let total: u64 = diff.iter().map(|(_, n)| n).sum();
    let mut seen = 0;
    for (bound, n) in &diff {
        seen += n;
        if total > 0 && seen as f64 >= q * total as f64 {
            return (*bound, total);
        }
    }
    (f64::INFINITY, total)
}

fn ms(bound: f64) -> String {
    if bound.is_finite() {
        format!("<= {:.2} ms", bound * 1e3)
    } else {
        "> 1000 ms".to_owned()
    }
}

/// RTP (not RTCP) by RFC 7983's first byte and RFC 5761's payload types.
fn is_rtp(d: &[u8]) -> bool {
    d.len() > 1 && (128..=191).contains(&d[0]) && !(192..=223).contains(&d[1])
}

struct Counters {
    connected: AtomicUsize,
    rtp: AtomicU64,
}

async fn viewer(server: Arc<Server>, counters: Arc<Counters>, decrypt: bool) -> Result<(), String> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    let mut rtc = RtcConfig::new()
        .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
        .build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp").map_err(|e| e.to_string())?);
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
    api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
    let (offer, pending) = api.apply().ok_or("no offer")?;
    let (_, answer) = server
        .whep("cam", &offer.to_sdp_string())
        .await
        .map_err(|e| e.to_string())?;
    let answer = SdpAnswer::from_sdp_string(&answer).map_err(|e| e.to_string())?;
    rtc.sdp_api()
        .accept_answer(pending, answer)
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 2048];
    loop {
        let deadline = match rtc.poll_output().map_err(|e| e.to_string())? {
            Output::Timeout(t) => t,
            Output::Transmit(t) => {
                let _ = socket.send_to(&t.contents, t.destination).await;
                continue;
            }
            Output::Event(Event::Connected) => {
                counters.connected.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Output::Event(Event::IceConnectionStateChange(IceConnectionState::Disconnected)) => {
                return Err("disconnected".into());
            }
            Output::Event(_) => continue,
        };
        let wait = deadline.saturating_duration_since(Instant::now());
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let Ok((n, source)) = r else { continue };
                if is_rtp(&buf[..n]) {
                    counters.rtp.fetch_add(1, Ordering::Relaxed);
                    if !decrypt {
                        continue;
                    }
                }
                if let Ok(r) = Receive::new(Protocol::Udp, source, local, &buf[..n]) {
                    let _ = rtc.handle_input(Input::Receive(Instant::now(), r));
                }
            }
            () = tokio::time::sleep(wait) => {
                let _ = rtc.handle_input(Input::Timeout(Instant::now()));
            }
        }
    }
}

fn main() {
    let viewers = env("WEBRTC_BENCH_VIEWERS", 100) as usize;
    let seconds = env("WEBRTC_BENCH_SECONDS", 10);
    let decrypt = env("WEBRTC_BENCH_DECRYPT", 1) == 1;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let hub = Arc::new(Hub::default());
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        ..Config::default()
    };
    let server = runtime
        .block_on(Server::bind(config, hub.clone(), Arc::new(|_, _, _| Ok(()))))
        .expect("bind");
    let stream = hub.stream("cam");
    let publisher = stream.publish().expect("publisher");
    let mut track = Track::new(1, Codec::H264, 90_000);
    // avcC: baseline 3.1, one SPS and one PPS (enough for the packetizer).
    track.init = bytes::Bytes::from_static(&[
        1, 0x42, 0xc0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x42, 0xc0, 0x1f, 1, 0, 4, 0x68, 0xce, 0x3c, 0x80,
    ]);
    publisher.set_tracks(vec![track]);
    let frame = |i: i64| {
        let key = i % 50 == 0;
        let size = if key { 60_000 } else { 9_000 };
        let mut data = Vec::with_capacity(size + 4);
        data.extend_from_slice(&(size as u32).to_be_bytes());
        data.push(if key { 0x65 } else { 0x41 });
        data.resize(size + 4, 0x5a);
        let t = Timestamp::new(i * 3600, 90_000);
        Frame::new(1, t, t, key, data)
    };
    let pushing = runtime.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(40));
        let mut i = 0;
        loop {
            tick.tick().await;
            publisher.push(frame(i));
            i += 1;
        }
    });

    let counters = Arc::new(Counters {
        connected: AtomicUsize::new(0),
        rtp: AtomicU64::new(0),
    });
    // The stream alone, then viewers connect and settle, then the measure.
    runtime.block_on(async { tokio::time::sleep(Duration::from_secs(1)).await });
    let idle_start = cpu_seconds("/proc/self/stat");
    runtime.block_on(async { tokio::time::sleep(Duration::from_secs(3)).await });
    let idle = (cpu_seconds("/proc/self/stat") - idle_start) / 3.0;
    let viewer_cpu = Arc::new(AtomicU64::new(0));
    let client = {
        let server = server.clone();
        let counters = counters.clone();
        let viewer_cpu = viewer_cpu.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("viewers' runtime");
            rt.block_on(async move {
                let sampler = tokio::spawn(async move {
                    loop {
                        let used = cpu_seconds("/proc/thread-self/stat");
                        viewer_cpu.store((used * 1e6) as u64, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                });
                let mut tasks = Vec::new();
                for _ in 0..viewers {
                    tasks.push(tokio::spawn(viewer(server.clone(), counters.clone(), decrypt)));
                }
                tokio::time::sleep(Duration::from_secs(seconds + 6)).await;
                sampler.abort();
                for t in &tasks {
                    t.abort();
                }
            });
        })
    };

    runtime.block_on(async { tokio::time::sleep(Duration::from_secs(5)).await });
    let send0 = snapshot(&server.stats.send);
    let fan0 = snapshot(&server.stats.fanout);
    let rtp0 = counters.rtp.load(Ordering::Relaxed);
    let cpu0 = cpu_seconds("/proc/self/stat");
    let viewers0 = viewer_cpu.load(Ordering::Relaxed);
    let t0 = Instant::now();
    runtime.block_on(async { tokio::time::sleep(Duration::from_secs(seconds)).await });
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = (cpu_seconds("/proc/self/stat") - cpu0) / elapsed;
    let viewer_cpu = (viewer_cpu.load(Ordering::Relaxed) - viewers0) as f64 / 1e6 / elapsed;
    let send1 = snapshot(&server.stats.send);
    let fan1 = snapshot(&server.stats.fanout);
    let rtp = (counters.rtp.load(Ordering::Relaxed) - rtp0) as f64 / elapsed;
    let congested = server.stats.congested.load(Ordering::Relaxed);
    let connected = counters.connected.load(Ordering::Relaxed);
    client.join().expect("viewers' thread");
    pushing.abort();

    println!("viewers: {viewers} requested, {connected} connected, {congested} congested at the end");
    println!(
        "RTP packets received by the viewers: {rtp:.0}/s ({:.0}/s per viewer)",
        rtp / connected.max(1) as f64
    );
    let server_cpu = (cpu - viewer_cpu).max(0.0);
    println!(
        "server CPU: {idle:.3} cores idle, {server_cpu:.3} cores with viewers (process {cpu:.3} minus the viewers' thread {viewer_cpu:.3}) -> {:.2} % of a core per viewer",
        (server_cpu - idle) * 100.0 / connected.max(1) as f64
    );
    for (name, a, b) in [
        ("send (per viewer and frame)", &send0, &send1),
        ("fan-out (per frame)", &fan0, &fan1),
    ] {
        let (p50, n) = quantile(a, b, 0.5);
        let (p90, _) = quantile(a, b, 0.9);
        let (p99, _) = quantile(a, b, 0.99);
        println!(
            "{name}: {n} samples, p50 {}, p90 {}, p99 {}",
            ms(p50),
            ms(p90),
            ms(p99)
        );
    }
}
