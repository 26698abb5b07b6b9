//! Helpers shared by the ingest-node tests with real peers: polling a
//! condition, a stream's track checks, child processes killed on drop.
//! (The std-only ones live in `testkit`.)
#![allow(dead_code)]

use std::process::Child;
use std::time::Duration;

use hub::{LiveStream, State};
use media::Codec;

/// Waits (polling, at most `secs`) until `cond` holds.
pub(crate) async fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// True once both tracks are known with their parameters (the demuxer
/// announces a track at the PMT and describes it when its first frame comes).
pub(crate) fn described(stream: &LiveStream) -> bool {
    let tracks = stream.tracks();
    tracks.len() == 2 && tracks.iter().all(|t| t.video.is_some() || t.audio.is_some())
}

/// Live with both tracks described.
pub(crate) fn live(stream: &LiveStream) -> bool {
    stream.state() == State::Live && described(stream)
}

/// H.264 320x240 and AAC at 48 kHz: what [`testkit::ffmpeg_push`] sends.
pub(crate) fn assert_h264_aac(stream: &LiveStream) {
    assert_tracks_h264_aac(&stream.tracks());
}

/// H.264 320x240 and AAC at 48 kHz among `tracks`; returns the audio parameters.
pub(crate) fn assert_tracks_h264_aac(tracks: &[media::Track]) -> media::AudioInfo {
    let video = tracks
        .iter()
        .find(|t| t.codec == Codec::H264)
        .expect("an h264 track");
    let v = video.video.clone().expect("video info from the sps");
    assert_eq!((v.width, v.height), (320, 240));
    let audio = tracks
        .iter()
        .find(|t| t.codec == Codec::Aac)
        .expect("an aac track");
    let a = audio.audio.clone().expect("audio info");
    assert_eq!(a.sample_rate, 48_000);
    a
}

/// A child process, killed when dropped.
pub(crate) struct Proc(pub(crate) Child);

impl Proc {
    /// Kills it now (SIGKILL: no SRT shutdown is sent).
    pub(crate) fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// Waits up to `secs` for it to exit by itself; its success.
    pub(crate) async fn exited(&mut self, secs: u64) -> Option<bool> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while tokio::time::Instant::now() < deadline {
            if let Some(status) = self.0.try_wait().unwrap() {
                return Some(status.success());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A push job named `test` sending `stream` to `target`, without an audio override.
pub(crate) fn job(stream: &std::sync::Arc<LiveStream>, target: &str) -> ingest_node::push::Job {
    ingest_node::push::Job {
        name: "test".into(),
        stream: stream.clone(),
        target: target.into(),
        audio_override: None,
        bytes: std::sync::Arc::default(),
    }
}

/// A sample of `secs` seconds, H.264 at about 1 Mbps with a keyframe a
/// second, and AAC, made by ffmpeg and demuxed.
pub(crate) fn ts_sample(dir: &testkit::TempDir, secs: &str) -> media::container::Demuxed {
    let path = dir.path("sample.ts");
    let mut args = testkit::lavfi(&[testkit::TESTSRC, testkit::SINE], secs);
    args.extend([
        "-c:v", "libx264", "-g", "25", "-b:v", "1M", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2",
    ]);
    testkit::ffmpeg(&args, &path);
    media::container::demux(media::container::Format::Ts, &std::fs::read(&path).unwrap()).unwrap()
}

/// Pushes the file's frames in real time, looped (timestamps carried on), for `secs` seconds.
pub(crate) async fn feed_looped(publisher: &hub::Publisher, file: &media::container::Demuxed, secs: f64) {
    let dts = |f: &media::Frame| f.dts.as_secs_f64();
    let first = file.frames.iter().map(dts).fold(f64::INFINITY, f64::min);
    let last = file.frames.iter().map(dts).fold(f64::NEG_INFINITY, f64::max);
    let period = last - first + 0.04;
    let start = tokio::time::Instant::now();
    for round in 0.. {
        let offset = period * f64::from(round);
        for frame in &file.frames {
            let due = dts(frame) - first + offset;
            if due > secs {
                return;
            }
            tokio::time::sleep_until(start + Duration::from_secs_f64(due.max(0.0))).await;
            let shift = |t: media::Timestamp| t.add_ticks((offset * f64::from(t.timescale())).round() as i64);
            publisher.push(media::Frame {
                dts: shift(frame.dts),
                pts: shift(frame.pts),
                ..frame.clone()
            });
        }
    }
}

/// A tiny xorshift64 generator: deterministic loss without a crate.
pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// True `percent` % of the time.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Counters of a [`relay`].
#[derive(Default)]
pub(crate) struct RelayStats {
    pub(crate) forwarded: std::sync::atomic::AtomicU64,
    pub(crate) dropped: std::sync::atomic::AtomicU64,
    /// Dropped SRT data packets (the media) from the sender.
    pub(crate) data_dropped: std::sync::atomic::AtomicU64,
}

/// A UDP relay in front of `target`, dropping `percent` % of the datagrams
/// in each direction; returns its address.
pub(crate) async fn relay(
    target: std::net::SocketAddr,
    percent: u64,
    seed: u64,
    stats: std::sync::Arc<RelayStats>,
) -> std::net::SocketAddr {
    let front = std::sync::Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let back = std::sync::Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    back.connect(target).await.unwrap();
    let addr = front.local_addr().unwrap();
    let client: std::sync::Arc<std::sync::Mutex<Option<std::net::SocketAddr>>> = std::sync::Arc::default();
    {
        let (front, back, client, stats) = (front.clone(), back.clone(), client.clone(), stats.clone());
        let mut rng = XorShift(seed);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            while let Ok((n, from)) = front.recv_from(&mut buf).await {
                *client.lock().unwrap() = Some(from);
                if rng.chance(percent) {
                    stats.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    // the first bit of an SRT packet is 0 for data, 1 for control
                    if n > 0 && buf[0] & 0x80 == 0 {
                        stats
                            .data_dropped
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                } else {
                    stats.forwarded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let _ = back.send(&buf[..n]).await;
                }
            }
        });
    }
    let mut rng = XorShift(seed ^ 0x9e37_79b9_7f4a_7c15);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok(n) = back.recv(&mut buf).await {
            let to = *client.lock().unwrap();
            let Some(to) = to else { continue };
            if rng.chance(percent) {
                stats.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            } else {
                stats.forwarded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let _ = front.send_to(&buf[..n], to).await;
            }
        }
    });
    addr
}

/// The SRT reject code our own (srt-tokio) caller gets with `streamid`.
pub(crate) async fn reject_code_for(addr: std::net::SocketAddr, streamid: &str) -> i32 {
    use srt_protocol::protocol::pending_connection::ConnectionReject;
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        srt_tokio::SrtSocket::builder().call(addr, Some(streamid)),
    )
    .await
    .expect("an answer within 10 s");
    let err = result.expect_err("the connection is refused");
    match err.get_ref().and_then(|e| e.downcast_ref::<ConnectionReject>()) {
        Some(ConnectionReject::Rejected(reason)) => i32::from(*reason),
        other => panic!("{streamid}: not a rejection: {err} {other:?}"),
    }
}

/// The first frame a new subscriber of `stream` gets (within 5 s).
pub(crate) async fn first_frame(stream: &std::sync::Arc<LiveStream>) -> media::Frame {
    let mut sub = stream.subscribe();
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let hub::Event::Frame(f) = sub.next().await {
                return f;
            }
        }
    })
    .await
    .expect("a frame within 5 s")
}
