//! WebRTC fan-out figures on loopback, server and viewers in one process:
//! - added latency per viewer and frame: from the server's run loop taking
//!   a frame off the hub to that viewer's first RTP packet of it handed to
//!   the socket (`send`), and per frame until every viewer's packets are
//!   out (`fan-out`), from the server's own histograms;
//! - the server's CPU per viewer (process CPU minus the viewers' thread).
//!
//! The stream and the viewers are the tests' (`tests/support`): synthetic
//! H.264 at 25 fps, about 2 Mbit/s, and Opus; viewers are str0m sessions,
//! here all on one thread of their own, each with its own UDP socket,
//! answering as a browser does (TWCC feedback, receiver reports).
//! `WEBRTC_BENCH_DECRYPT=0` makes them count RTP without decrypting it
//! (lighter, but with no feedback the server's estimates fall and viewers
//! get held back to keyframes).
//!
//! `cargo bench -p webrtc --bench fanout` (or `bench/webrtc-fanout.sh`);
//! `WEBRTC_BENCH_VIEWERS` (default 100), `WEBRTC_BENCH_SECONDS` (default 10),
//! `WEBRTC_BENCH_LOOPS` (the server's run loops; default 0, four per core).

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hub::Hub;
use support::{Intake, Seen};
use webrtc::server::{Config, Server};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
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
        loops: env("WEBRTC_BENCH_LOOPS", 0) as usize,
        ..Config::default()
    };
    let server = runtime
        .block_on(Server::bind(config, hub.clone(), Arc::new(|_, _, _| Ok(()))))
        .expect("bind");
    let pushing = {
        let _entered = runtime.enter();
        support::publish(&hub, "cam")
    };
    let seen: Vec<Arc<Seen>> = (0..viewers).map(|_| Arc::new(Seen::default())).collect();
    let intake = if decrypt { Intake::Full } else { Intake::CountOnly };
    // The stream alone, then viewers connect and settle, then the measure.
    runtime.block_on(async { tokio::time::sleep(Duration::from_secs(1)).await });
    let idle_start = control::load::cpu_seconds();
    runtime.block_on(async { tokio::time::sleep(Duration::from_secs(3)).await });
    let idle = (control::load::cpu_seconds() - idle_start) / 3.0;
    let viewer_cpu = Arc::new(AtomicU64::new(0));
    let client = {
        let server = server.clone();
        let seen = seen.clone();
        let viewer_cpu = viewer_cpu.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("viewers' runtime");
            rt.block_on(async move {
                let sampler = tokio::spawn(async move {
                    loop {
                        let used = control::load::thread_cpu_seconds();
                        viewer_cpu.store((used * 1e6) as u64, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                });
                let mut tasks = Vec::new();
                for s in &seen {
                    let view = support::view(server.clone(), "cam".into(), intake, s.clone(), None);
                    tasks.push(tokio::spawn(view));
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
    let send0 = server.stats.send.buckets();
    let fan0 = server.stats.fanout.buckets();
    let rtp_total = || seen.iter().map(|s| s.rtp.load(Ordering::Relaxed)).sum::<u64>();
    let rtp0 = rtp_total();
    let cpu0 = control::load::cpu_seconds();
    let viewers0 = viewer_cpu.load(Ordering::Relaxed);
    let t0 = Instant::now();
    runtime.block_on(async { tokio::time::sleep(Duration::from_secs(seconds)).await });
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = (control::load::cpu_seconds() - cpu0) / elapsed;
    let viewer_cpu = (viewer_cpu.load(Ordering::Relaxed) - viewers0) as f64 / 1e6 / elapsed;
    let send1 = server.stats.send.buckets();
    let fan1 = server.stats.fanout.buckets();
    let rtp = (rtp_total() - rtp0) as f64 / elapsed;
    let congested = server.stats.congested.load(Ordering::Relaxed);
    let connected = seen
        .iter()
        .filter(|s| s.connected.load(Ordering::Relaxed))
        .count();
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
