//! Relay figures on loopback, ingest and edge in one process:
//! - added latency (frame pushed into the ingest hub -> frame out of the
//!   edge hub's subscriber) at 25 fps video + 50 fps audio, ~4 Mbit/s;
//! - for reference, measured alongside: the machine's own wake-up latency,
//!   a UDP datagram from one thread to another blocked in `recv` (no QUIC,
//!   no runtime) at the latency run's frame rate. A frame crosses at least
//!   one such wake-up (the edge side waiting for the network); when the CPUs
//!   are busy with other work, its tail shows in the relay's tail;
//! - CPU seconds (both sides) per Gbit relayed, pushing 1 MB frames as fast
//!   as the edge takes them.
//!
//! `cargo bench -p relay --bench relay` (or `bench/relay.sh`);
//! `RELAY_BENCH_SECONDS` sets the length of the latency run (default 5 s).
//! `RELAY_BENCH_LAYOUT`: `shared` (default: ingest, edge and the bench's
//! tasks share one multi-thread runtime) or `split` (ingest and edge each on
//! their own multi-thread runtime, as two processes on one machine: every
//! frame then wakes a thread of the other side).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hub::{Event, Hub};
use media::{Codec, Frame, Timestamp, Track};
use relay::tls::{ClientTls, SelfSigned};
use relay::{Client, ClientConfig, Metrics, Server, ServerConfig, Upstream};

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

async fn pair(config: ServerConfig) -> (Arc<Hub>, Arc<Hub>, Server, Client, Upstream) {
    let ingest = Arc::new(Hub::default());
    let edge = Arc::new(Hub::default());
    let cert = SelfSigned::generate(&["ingest".into()]).unwrap();
    let server = Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        cert.server_config(None).unwrap(),
        ingest.clone(),
        Arc::new(Metrics::default()),
        config,
    )
    .unwrap();
    let up = Upstream {
        addr: server.local_addr().unwrap(),
        server_name: "ingest".into(),
        pinned_cert: Some(cert.cert_der),
    };
    let client = Client::new(
        edge.clone(),
        ClientTls::pinned_only(),
        Arc::new(Metrics::default()),
        ClientConfig {
            from_live_edge: true,
            ..Default::default()
        },
    );
    (ingest, edge, server, client, up)
}

fn tracks() -> Vec<Track> {
    vec![
        Track::new(1, Codec::H264, 90_000),
        Track::new(2, Codec::Aac, 48_000),
    ]
}

/// (track, dts) -> (pushed at, keyframe)
type Sent = HashMap<(u32, i64), (Instant, bool)>;

/// `ingest`: the runtime of the ingest side (the current one runs the edge).
async fn latency(seconds: u64, ingest: tokio::runtime::Handle) {
    let ih = ingest;
    let (ingest, edge, _server, client, up) = ih.spawn(pair(ServerConfig::default())).await.unwrap();
    let p = ingest.stream("cam").publish().unwrap();
    p.set_tracks(tracks());
    p.push(Frame::new(
        1,
        Timestamp::new(0, 90_000),
        Timestamp::new(0, 90_000),
        true,
        vec![0u8; 100_000],
    ));
    let _sub = client.subscribe("cam", &up).await.unwrap();
    let mut reader = edge.get("cam").unwrap().subscribe();
    let sent: Arc<parking_lot::Mutex<Sent>> = Arc::default();
    let s2 = sent.clone();
    let feeder = ih.spawn(async move {
        // 20 ms ticks: audio every tick, video every other; ~4 Mbit/s
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for i in 1..(seconds as i64 * 50) {
            tick.tick().await;
            let a = Timestamp::new(i * 960, 48_000);
            let f = Frame::new(2, a, a, true, vec![1u8; 400]);
            s2.lock().insert((2, a.ticks()), (Instant::now(), false));
            p.push(f);
            if i % 2 == 0 {
                let v = Timestamp::new(i * 1800, 90_000);
                let key = i % 100 == 0;
                let size = if key { 100_000 } else { 18_000 };
                // the clock starts at the push (the payload exists before)
                let f = Frame::new(1, v, v, key, vec![2u8; size]);
                s2.lock().insert((1, v.ticks()), (Instant::now(), key));
                p.push(f);
            }
        }
        p
    });
    let mut lat = Vec::new();
    let mut by_kind: [Vec<f64>; 3] = Default::default();
    let deadline = Instant::now() + Duration::from_secs(seconds + 2);
    while Instant::now() < deadline {
        let Ok(e) = tokio::time::timeout(Duration::from_millis(500), reader.next()).await else {
            if feeder.is_finished() {
                break;
            }
            continue;
        };
        if let Event::Frame(f) = e
            && let Some((t, key)) = sent.lock().remove(&(f.track, f.dts.ticks()))
        {
            let ms = t.elapsed().as_secs_f64() * 1e3;
            lat.push(ms);
            by_kind[if key {
                0
            } else if f.track == 1 {
                1
            } else {
                2
            }]
            .push(ms);
        }
    }
    let _p = feeder.await.unwrap();
    println!(
        "latency (25 fps video + 50 fps audio, ~4 Mbit/s, {} frames): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        lat.len(),
        percentile(&mut lat, 0.5),
        percentile(&mut lat, 0.99),
        percentile(&mut lat, 1.0),
    );
    for (name, v) in ["keyframes", "other video", "audio"].iter().zip(&mut by_kind) {
        if !v.is_empty() {
            println!(
                "  {name} ({}): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
                v.len(),
                percentile(v, 0.5),
                percentile(v, 0.99),
                percentile(v, 1.0)
            );
        }
    }
}

/// The machine's thread wake-up latency on loopback: a datagram every
/// 13.3 ms (75 a second, the latency run's frame rate) from one thread to
/// another blocked in `recv`, in a thread of its own; gives the send ->
/// receive delays in ms.
fn udp_wake(seconds: u64) -> std::thread::JoinHandle<Vec<f64>> {
    std::thread::spawn(move || udp_wake_run(seconds))
}

fn udp_wake_run(seconds: u64) -> Vec<f64> {
    use std::net::UdpSocket;
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let addr = rx.local_addr().unwrap();
    let t0 = Instant::now();
    let receiver = std::thread::spawn(move || {
        let mut delays = Vec::new();
        let mut buf = [0u8; 8];
        while let Ok(8) = rx.recv(&mut buf) {
            let sent = u64::from_le_bytes(buf);
            if sent == u64::MAX {
                break;
            }
            delays.push((t0.elapsed().as_nanos() as u64).saturating_sub(sent) as f64 / 1e6);
        }
        delays
    });
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..seconds * 75 {
        #[allow(clippy::disallowed_methods)] // a plain thread: no runtime to block
        std::thread::sleep(Duration::from_micros(13_333));
        let now = t0.elapsed().as_nanos() as u64;
        tx.send_to(&now.to_le_bytes(), addr).unwrap();
    }
    tx.send_to(&u64::MAX.to_le_bytes(), addr).unwrap();
    receiver.join().unwrap()
}

async fn throughput(seconds: u64) {
    let (ingest, edge, _server, client, up) = pair(ServerConfig {
        max_lag: Duration::from_secs(3600),
        ..Default::default()
    })
    .await;
    let p = ingest.stream("big").publish().unwrap();
    p.set_tracks(tracks());
    let frame = bytes::Bytes::from(vec![7u8; 1 << 20]);
    p.push(Frame::new(
        1,
        Timestamp::new(0, 90_000),
        Timestamp::new(0, 90_000),
        true,
        frame.clone(),
    ));
    let _sub = client.subscribe("big", &up).await.unwrap();
    let mut reader = edge.get("big").unwrap().subscribe();
    let received = Arc::new(AtomicU64::new(0));
    let r2 = received.clone();
    let reading = tokio::spawn(async move {
        let mut bytes = 0u64;
        loop {
            match reader.next().await {
                Event::Frame(f) => {
                    bytes += f.data.len() as u64;
                    r2.fetch_add(1, Ordering::Relaxed);
                }
                Event::Closed | Event::Offline => return bytes,
                _ => {}
            }
        }
    });
    let cpu0 = control::load::cpu_seconds();
    let t0 = Instant::now();
    let mut i = 1i64;
    while t0.elapsed() < Duration::from_secs(seconds) {
        // stay at most 16 frames ahead of the edge
        while i as u64 > received.load(Ordering::Relaxed) + 16 {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        let t = Timestamp::new(i * 3600, 90_000);
        p.push(Frame::new(1, t, t, i % 10 == 0, frame.clone()));
        i += 1;
    }
    while received.load(Ordering::Relaxed) + 1 < i as u64 && t0.elapsed() < Duration::from_secs(seconds + 5) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = control::load::cpu_seconds() - cpu0;
    drop(p);
    let bytes = reading.await.unwrap();
    let gbit = bytes as f64 * 8.0 / 1e9;
    println!(
        "throughput (1 MiB frames): {:.2} Gbit in {wall:.2} s = {:.2} Gbit/s; CPU {cpu:.2} s (ingest + edge) = {:.2} CPU s per Gbit",
        gbit,
        gbit / wall,
        cpu / gbit
    );
}

fn main() {
    // `cargo bench` passes --bench; a plain run works too
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let rt = runtime();
    let secs = std::env::var("RELAY_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let layout = std::env::var("RELAY_BENCH_LAYOUT").unwrap_or_else(|_| "shared".into());
    let ingest_rt = match layout.as_str() {
        "shared" => None,
        "split" => Some(runtime()),
        other => panic!("RELAY_BENCH_LAYOUT: shared or split, not {other}"),
    };
    let ih = ingest_rt
        .as_ref()
        .map_or_else(|| rt.handle().clone(), |r| r.handle().clone());
    println!("layout: {layout}");
    let wake = udp_wake(secs);
    rt.block_on(latency(secs, ih));
    let mut wake = wake.join().unwrap();
    println!(
        "  reference, UDP datagram to a thread blocked in recv ({} datagrams): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        wake.len(),
        percentile(&mut wake, 0.5),
        percentile(&mut wake, 0.99),
        percentile(&mut wake, 1.0)
    );
    rt.block_on(throughput(4));
    drop(ingest_rt);
}
