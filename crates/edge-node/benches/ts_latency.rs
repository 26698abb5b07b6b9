//! Added latency of the live path inside one process: from a frame entering
//! the stream's buffer (`Publisher::push`, right after an input parsed it) to
//! its MPEG-TS bytes leaving the `/NAME.ts` output stream, across tokio tasks,
//! with 1 and 100 concurrent viewers. Prints p50/p99/max.
//!
//! `cargo bench -p edge-node --bench ts_latency`

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hub::Hub;
use media::{Frame, Timestamp, Track};
use parking_lot::Mutex;

const FRAMES: usize = 1500;
fn tracks() -> Vec<Track> {
    vec![media::sample::h264_track(1), media::sample::aac_track(2)]
}

fn video(i: usize) -> Frame {
    let len = if i.is_multiple_of(50) { 60_000 } else { 20_000 };
    let mut data = vec![0x5au8; len + 4];
    data[..4].copy_from_slice(&(len as u32).to_be_bytes());
    data[4] = if i.is_multiple_of(50) { 0x65 } else { 0x41 };
    let t = Timestamp::new(i as i64 * 3600, 90_000);
    Frame::new(1, t, t, i.is_multiple_of(50), data)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

async fn run(viewers: usize) -> Vec<Duration> {
    let hub = Hub::default();
    let stream = hub.stream("bench");
    let publisher = stream.publish().expect("free stream");
    publisher.set_tracks(tracks());
    publisher.push(video(0));
    // when each frame was pushed, by index; viewers look up their receive time against it
    let pushed: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; FRAMES]));
    let samples = Arc::new(Mutex::new(Vec::with_capacity(FRAMES * viewers)));
    let mut tasks = Vec::new();
    for _ in 0..viewers {
        let out = edge_node::ts_out::stream(stream.subscribe());
        let (pushed, samples) = (pushed.clone(), samples.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Box::pin(out);
            let mut index = 0usize;
            while let Some(Ok(_chunk)) = out.next().await {
                // one chunk per frame, in push order; the first is frame 0, pushed before we started
                if let Some(Some(t)) = pushed.lock().get(index).copied() {
                    samples.lock().push(t.elapsed());
                }
                index += 1;
                if index >= FRAMES {
                    break;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    for i in 1..FRAMES {
        pushed.lock()[i] = Some(Instant::now());
        publisher.push(video(i));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    drop(publisher);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    let mut s = samples.lock().clone();
    s.sort();
    s
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    for viewers in [1, 100] {
        let s = rt.block_on(run(viewers));
        if s.is_empty() {
            println!("{viewers} viewers: no samples");
            continue;
        }
        println!(
            "push -> /NAME.ts bytes, {viewers:>3} viewer(s), {} samples: p50 {:?}  p99 {:?}  max {:?}",
            s.len(),
            percentile(&s, 0.5),
            percentile(&s, 0.99),
            s[s.len() - 1]
        );
    }
}
