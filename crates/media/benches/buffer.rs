//! Cost of the live frame buffer: push per frame, and fan-out per reader per frame.
//!
//! The stream is shaped like a 5 Mbps ingest: H.264 at 25 fps averaging 20 KB a
//! frame with a keyframe every 50 frames, plus AAC at ~47 fps of ~400 B.
//! After the criterion groups, a summary prints ns per reader per frame with the
//! push cost subtracted.
use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use media::buffer::{BufferConfig, Cursor, Read, StreamBuffer};
use media::{Codec, Frame, Timestamp, Track};

const READERS: [usize; 4] = [1, 10, 100, 1000];

/// An endless synthetic 5 Mbps audio/video stream.
struct Stream {
    video: i64,
    audio: i64,
    rng: u64,
    payload: Bytes,
}

impl Stream {
    fn new() -> Self {
        Self {
            video: 0,
            audio: 0,
            rng: 0x9e37_79b9_7f4a_7c15,
            payload: Bytes::from(vec![0x55u8; 128 * 1024]),
        }
    }

    fn tracks() -> Vec<Track> {
        vec![
            Track::new(1, Codec::H264, 90_000),
            Track::new(2, Codec::Aac, 48_000),
        ]
    }

    /// Next frame in dts order; payloads share one allocation.
    fn next_frame(&mut self) -> Frame {
        // Video frame v is at v * 40 ms, audio frame a at a * 1024 / 48000 s.
        if self.video * 40 * 48 <= self.audio * 1024 {
            let v = self.video;
            self.video += 1;
            let key = v % 50 == 0;
            // Keyframes 80 KB; others 18.8 KB on average (+-50%): 20 KB overall.
            self.rng = self.rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let jitter = (self.rng >> 33) % 18_775;
            let size = if key { 80_000 } else { 9_388 + jitter as usize };
            let dts = Timestamp::new(v * 3600, 90_000);
            Frame::new(1, dts, dts.add_ticks(7200), key, self.payload.slice(..size))
        } else {
            let a = self.audio;
            self.audio += 1;
            let dts = Timestamp::new(a * 1024, 48_000);
            Frame::new(2, dts, dts, true, self.payload.slice(..380 + (a % 41) as usize))
        }
    }
}

/// A buffer already holding 40 s of the stream (steady state: evicting).
fn warm_buffer() -> (StreamBuffer, Stream) {
    let mut buf = StreamBuffer::new(BufferConfig::default());
    buf.set_tracks(Stream::tracks());
    let mut stream = Stream::new();
    for _ in 0..72 * 40 {
        buf.push(stream.next_frame())
            .expect("synthetic stream starts with a keyframe");
    }
    (buf, stream)
}

/// Reads until caught up, handing each frame on as a reader task would (a
/// refcount clone); returns the number of frames read.
fn drain(buf: &StreamBuffer, cursor: &mut Cursor) -> u64 {
    let mut n = 0;
    loop {
        match buf.read(cursor) {
            Read::Frame(f) => {
                black_box(f.clone());
                n += 1;
            }
            Read::Pending => return n,
            other => {
                black_box(other);
            }
        }
    }
}

fn readers(buf: &StreamBuffer, n: usize) -> Vec<Cursor> {
    let mut cursors = vec![buf.cursor_at_live_edge(); n];
    for c in &mut cursors {
        drain(buf, c);
    }
    cursors
}

fn push(c: &mut Criterion) {
    let mut group = c.benchmark_group("buffer_push");
    group.throughput(Throughput::Elements(1));
    let (mut buf, mut stream) = warm_buffer();
    group.bench_function("frame", |b| {
        b.iter_batched(
            || stream.next_frame(),
            |f| buf.push(f),
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("buffer_fanout");
    for n in READERS {
        // One iteration: one frame pushed, every reader wakes and drains.
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("readers", n), &n, |b, &n| {
            let (mut buf, mut stream) = warm_buffer();
            let mut cursors = readers(&buf, n);
            b.iter(|| {
                buf.push(stream.next_frame()).ok();
                for c in &mut cursors {
                    drain(&buf, c);
                }
            });
        });
    }
    group.finish();
}

/// Times pushing `frames` into a copy of `buf`, with `cursors` draining after
/// each push; returns the best of three runs.
fn best_of_three(buf: &StreamBuffer, frames: &[Frame], cursors: &[Cursor]) -> Duration {
    (0..3)
        .map(|_| {
            let (mut buf, mut cursors, frames) = (buf.clone(), cursors.to_vec(), frames.to_vec());
            let t = Instant::now();
            for f in frames {
                buf.push(f).ok();
                for c in &mut cursors {
                    drain(&buf, c);
                }
            }
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// ns per reader per frame, reads only: (push + reads) minus push alone.
fn summary() {
    println!("\nbuffer fan-out summary (5 Mbps-like stream, each reader wakes per frame and drains):");
    for n in READERS {
        let (buf, mut stream) = warm_buffer();
        let frames = (2_000_000 / n as u64).clamp(2_000, 20_000);
        let pre: Vec<Frame> = (0..frames).map(|_| stream.next_frame()).collect();
        let cursors = readers(&buf, n);
        let push = best_of_three(&buf, &pre, &[]).as_nanos() as f64;
        let total = best_of_three(&buf, &pre, &cursors).as_nanos() as f64;
        let reads = (frames * n as u64) as f64;
        println!(
            "  {n:>4} readers: {:>5.1} ns/reader/frame (push {:.1} ns/frame, {:.1} ns/reader/frame incl. push)",
            (total - push) / reads,
            push / frames as f64,
            total / reads,
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = push, fanout
}

fn main() {
    benches();
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--test" || a == "--list") {
        summary();
    }
    Criterion::default().configure_from_args().final_summary();
}
