//! RTMP pushes against real peers: ffmpeg listening as an RTMP server (H.264
//! and AAC, with and without `audioOverride`), this crate's own RTMP server
//! (H.265 over Enhanced RTMP), and targets that refuse, stall or are not
//! RTMP at all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hub::{Hub, LiveStream};
use ingest_node::admission::Admission;
use ingest_node::push::{Job, PushError, rtmp};
use media::Codec;
use media::container::{Demuxed, Format};
use spec::StreamSpec;
use support::{Proc, wait_for};
use testkit::{TempDir, ffmpeg, ffprobe_packets, free_tcp_port, have_encoder, have_ffmpeg, lavfi};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

mod support;

fn job(stream: &Arc<LiveStream>, target: &str, audio_override: Option<PathBuf>) -> Job {
    Job {
        name: "test".into(),
        stream: stream.clone(),
        target: target.into(),
        audio_override,
        bytes: Arc::new(AtomicU64::new(0)),
    }
}

/// A TS file of `secs` seconds: 320x240 25 fps `video` (libx264 / libx265) and a `freq` Hz AAC sine.
fn sample(dir: &TempDir, name: &str, video: &str, freq: u32, secs: &str) -> Demuxed {
    let sine = format!("sine=frequency={freq}:sample_rate=48000");
    let mut args = lavfi(&[testkit::TESTSRC, &sine], secs);
    args.extend(["-c:v", video, "-g", "25", "-pix_fmt", "yuv420p"]);
    if video == "libx265" {
        args.extend(["-x265-params", "log-level=error:keyint=25"]);
    }
    args.extend(["-c:a", "aac", "-ac", "2", "-f", "mpegts"]);
    let path = dir.path(name);
    ffmpeg(&args, &path);
    media::container::demux(Format::Ts, &std::fs::read(&path).unwrap()).unwrap()
}

/// ffmpeg listening for one RTMP publisher on `port`, copying to `out` as MPEG-TS.
fn ffmpeg_listener(port: u16, out: &Path) -> Proc {
    let child = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y", "-listen", "1", "-i"])
        .arg(format!("rtmp://127.0.0.1:{port}/live/key"))
        .args(["-c", "copy", "-f", "mpegts"])
        .arg(out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    Proc(child)
}

/// Runs the push, retrying while the listener is not up yet (connection refused).
fn spawn_push(job: Job) -> tokio::task::JoinHandle<Result<(), PushError>> {
    tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match rtmp::run(&job).await {
                Err(PushError::Failed(e)) if e.contains("refused") && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
    })
}

/// Pushes `file` played in real time through `job` to ffmpeg; the received TS file.
async fn push_to_ffmpeg(dir: &TempDir, file: Demuxed, audio_override: Option<PathBuf>) -> PathBuf {
    let hub = Hub::default();
    let stream = hub.stream("src");
    let port = free_tcp_port();
    let out = dir.path("received.ts");
    let mut listener = ffmpeg_listener(port, &out);
    let job = job(
        &stream,
        &format!("rtmp://127.0.0.1:{port}/live/key"),
        audio_override,
    );
    let bytes = job.bytes.clone();
    let push = spawn_push(job);
    // the push subscribes once publishing started: play from then on
    wait_for(15, "the push to subscribe", || stream.viewers() == 1).await;
    ingest_node::file::play(file, false, stream.clone())
        .await
        .unwrap();
    let pushed = tokio::time::timeout(Duration::from_secs(10), push)
        .await
        .expect("the push ends with the stream")
        .unwrap();
    assert!(pushed.is_ok(), "push failed: {pushed:?}");
    assert!(bytes.load(Ordering::Relaxed) > 100_000, "bytes counted");
    assert_eq!(listener.exited(10).await, Some(true), "ffmpeg exits cleanly");
    out
}

/// First and last presentation times (the last plus its duration) of a stream's packets.
fn span(packets: &[testkit::Packet], kind: &str) -> (f64, f64) {
    let p: Vec<_> = packets.iter().filter(|p| p.codec_type == kind).collect();
    assert!(!p.is_empty(), "no {kind} packets");
    let first = p.iter().filter_map(|p| p.pts_time).fold(f64::INFINITY, f64::min);
    let last = p
        .iter()
        .filter_map(|p| p.pts_time)
        .fold(f64::NEG_INFINITY, f64::max);
    (first, last)
}

fn codecs(file: &Path) -> Vec<String> {
    testkit::ffprobe_streams(file)
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_h264_and_aac_to_ffmpeg() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("push-rtmp-h264");
    let file = sample(&dir, "src.ts", "libx264", 1000, "4");
    let out = push_to_ffmpeg(&dir, file, None).await;
    let mut names = codecs(&out);
    names.sort();
    assert_eq!(names, ["aac", "h264"]);
    let packets = ffprobe_packets(&out);
    let (v0, v1) = span(&packets, "video");
    let (a0, a1) = span(&packets, "audio");
    assert!((v1 - v0 - 3.96).abs() < 0.3, "video lasts {}", v1 - v0);
    assert!((a1 - a0 - 3.96).abs() < 0.3, "audio lasts {}", a1 - a0);
    assert_eq!(packets.iter().filter(|p| p.codec_type == "video").count(), 100);
    assert!(packets.iter().find(|p| p.codec_type == "video").unwrap().keyframe);
}

/// Power of `freq` in `samples` (Goertzel).
fn power(samples: &[f64], freq: f64, rate: f64) -> f64 {
    let k = 2.0 * (2.0 * std::f64::consts::PI * freq / rate).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for x in samples {
        let s = x + k * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    s1 * s1 + s2 * s2 - k * s1 * s2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_override_replaces_and_loops() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("push-rtmp-override");
    let tone = dir.path("tone.aac");
    let mut args = lavfi(&["sine=frequency=440:sample_rate=48000"], "1");
    args.extend(["-c:a", "aac", "-f", "adts"]);
    ffmpeg(&args, &tone);
    let file = sample(&dir, "src.ts", "libx264", 1000, "6");
    let out = push_to_ffmpeg(&dir, file, Some(tone)).await;

    let packets = ffprobe_packets(&out);
    let (v0, v1) = span(&packets, "video");
    let (a0, a1) = span(&packets, "audio");
    assert!((v1 - v0 - 5.96).abs() < 0.3, "video lasts {}", v1 - v0);
    assert!(
        (a0 - v0).abs() < 0.2 && (a1 - v1).abs() < 0.2,
        "audio {a0}..{a1}, video {v0}..{v1}"
    );

    let pcm = testkit::run(
        Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&out)
            .args(["-map", "0:a", "-f", "s16le", "-ac", "1", "-ar", "48000", "-"]),
    )
    .stdout;
    let samples: Vec<f64> = pcm
        .chunks_exact(2)
        .map(|b| f64::from(i16::from_le_bytes([b[0], b[1]])))
        .collect();
    assert!(samples.len() > 5 * 48_000, "{} samples decoded", samples.len());
    // every 250 ms window: the 440 Hz override, never the stream's 1000 Hz
    let windows: Vec<&[f64]> = samples.chunks_exact(12_000).collect();
    for (i, w) in windows.iter().enumerate() {
        let (p440, p1000) = (power(w, 440.0, 48_000.0), power(w, 1000.0, 48_000.0));
        assert!(
            p440 > 100.0 * p1000,
            "window {i}: 440 Hz power {p440:e}, 1000 Hz {p1000:e}"
        );
        assert!(p440 > 1e9, "window {i}: no 440 Hz tone ({p440:e})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h265_over_enhanced_rtmp_to_our_server() {
    if !have_ffmpeg() || !have_encoder("libx265") {
        return;
    }
    let dir = TempDir::new("push-rtmp-h265");
    let file = sample(&dir, "src.ts", "libx265", 1000, "3");
    let hub = Arc::new(Hub::default());
    let specs: BTreeMap<String, StreamSpec> = [("dst".to_owned(), StreamSpec::new("push://"))].into();
    let admission = Admission::new(watch::channel(Arc::new(specs)).1);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(ingest_node::rtmp::serve(listener, hub.clone(), admission));

    let src = hub.stream("src");
    let publisher_feed = {
        let src = src.clone();
        tokio::spawn(async move { ingest_node::file::play(file, false, src).await })
    };
    wait_for(5, "the source to go live", || src.state() == hub::State::Live).await;
    let push = spawn_push(job(&src, &format!("rtmp://127.0.0.1:{port}/live/dst"), None));
    let dst = hub.stream("dst");
    let mut sub = dst.subscribe();
    let mut tracks = Vec::new();
    let mut frames = 0;
    tokio::time::timeout(Duration::from_secs(10), async {
        while frames < 20 {
            match sub.next().await {
                hub::Event::Tracks(t) => tracks = t,
                hub::Event::Frame(f) if f.track == media::flv::VIDEO_TRACK_ID => frames += 1,
                _ => {}
            }
        }
    })
    .await
    .expect("20 video frames through our server");
    let video = tracks.iter().find(|t| t.codec.is_video()).expect("a video track");
    assert_eq!(video.codec, Codec::H265);
    assert_eq!(
        video.video.as_ref().map(|v| (v.width, v.height)),
        Some((320, 240))
    );
    assert!(tracks.iter().any(|t| t.codec == Codec::Aac));
    publisher_feed.await.unwrap().unwrap();
    let pushed = tokio::time::timeout(Duration::from_secs(10), push)
        .await
        .unwrap()
        .unwrap();
    assert!(pushed.is_ok(), "{pushed:?}");
    server.abort();
}

#[tokio::test]
async fn refused_connection_fails_fast() {
    let hub = Hub::default();
    let port = free_tcp_port();
    let started = Instant::now();
    let err = rtmp::run(&job(
        &hub.stream("s"),
        &format!("rtmp://127.0.0.1:{port}/live/k"),
        None,
    ))
    .await
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        matches!(&err, PushError::Failed(e) if e.contains("refused")),
        "{err}"
    );
}

#[tokio::test]
async fn unresolvable_host_fails() {
    let hub = Hub::default();
    let err = rtmp::run(&job(&hub.stream("s"), "rtmp://no-such-host.invalid/live/k", None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PushError::Failed(e) if e.contains("cannot resolve no-such-host.invalid")
        || e.contains("resolving")),
        "{err}"
    );
}

#[tokio::test]
async fn silent_target_fails_after_the_handshake_timeout() {
    let hub = Hub::default();
    // accepted by the kernel, never answered
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let started = Instant::now();
    let err = rtmp::run(&job(
        &hub.stream("s"),
        &format!("rtmp://127.0.0.1:{port}/live/k"),
        None,
    ))
    .await
    .unwrap_err();
    let took = started.elapsed();
    assert!(took >= rtmp::HANDSHAKE_TIMEOUT && took < rtmp::HANDSHAKE_TIMEOUT + Duration::from_secs(3));
    assert!(
        matches!(&err, PushError::Failed(e) if e.contains("no rtmp handshake answer")),
        "{err}"
    );
    drop(listener);
}

#[tokio::test]
async fn rtmps_to_a_plain_server_fails() {
    let hub = Hub::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf).await;
        let _ = s.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n").await;
    });
    let err = rtmp::run(&job(
        &hub.stream("s"),
        &format!("rtmps://127.0.0.1:{port}/live/k"),
        None,
    ))
    .await
    .unwrap_err();
    assert!(
        matches!(&err, PushError::Failed(e) if e.contains("tls handshake")),
        "{err}"
    );
    server.await.unwrap();
}

#[tokio::test]
async fn bad_override_and_bad_urls_fail_before_connecting() {
    let dir = TempDir::new("push-rtmp-bad");
    let text = dir.path("notes.aac");
    std::fs::write(&text, "these are not adts frames\n".repeat(20)).unwrap();
    let hub = Hub::default();
    let stream = hub.stream("s");
    // a port nobody listens on: reaching it would be a Failed error, not BadTarget
    let target = format!("rtmp://127.0.0.1:{}/live/k", free_tcp_port());
    let err = rtmp::run(&job(&stream, &target, Some(text))).await.unwrap_err();
    assert!(
        matches!(&err, PushError::BadTarget(e) if e.contains("not an ADTS AAC file")),
        "{err}"
    );
    let err = rtmp::run(&job(&stream, &target, Some(dir.path("missing.aac"))))
        .await
        .unwrap_err();
    assert!(matches!(err, PushError::BadTarget(_)), "{err}");
    for url in ["http://h/live/k", "rtmp://h/live", "rtmp://h:99999/live/k"] {
        let err = rtmp::run(&job(&stream, url, None)).await.unwrap_err();
        assert!(matches!(err, PushError::BadTarget(_)), "{url}: {err}");
    }
}
