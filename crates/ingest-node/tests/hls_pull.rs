//! HLS pull from a live ffmpeg HLS output (MPEG-TS and fMP4 segments) served
//! over HTTP by a tiny file server; a multivariant playlist; a VOD playlist
//! with a discontinuity and bad segments; and bad sources.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use hub::{Hub, LiveStream, State};
use ingest_node::hls_pull;
use media::{Frame, Track};
use support::{Proc, described, wait_for};
use testkit::{TempDir, have_ffmpeg};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

mod support;

/// Serves the files of `dir` over HTTP/1.1 (GET only, one request per
/// connection); 404 for anything else.
async fn serve(dir: PathBuf) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let dir = dir.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
                    match tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await {
                        Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split_whitespace().nth(1).unwrap_or("/");
                let path = path.split('?').next().unwrap_or("").trim_start_matches('/');
                let file = (!path.contains("..")).then(|| dir.join(path));
                let body = match file {
                    Some(f) => tokio::fs::read(f).await.ok(),
                    None => None,
                };
                let (status, body) = match body {
                    Some(b) => ("200 OK", b),
                    None => ("404 Not Found", b"not found".to_vec()),
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(response.as_bytes()).await;
                let _ = conn.write_all(&body).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    addr
}

/// ffmpeg writing a live HLS stream (1 s segments, 5 in the playlist, old
/// ones deleted) of the test pattern and a sine into `dir/index.m3u8`.
fn live_hls(dir: &Path, fmp4: bool) -> Proc {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-re"])
        .args(testkit::lavfi(&[testkit::TESTSRC, testkit::SINE], "60"))
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-pix_fmt", "yuv420p",
        ])
        .args([
            "-c:a",
            "aac",
            "-ac",
            "2",
            "-f",
            "hls",
            "-hls_time",
            "1",
            "-hls_list_size",
            "5",
        ])
        .args(["-hls_flags", "delete_segments"]);
    if fmp4 {
        cmd.args(["-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4"])
            .arg("-hls_segment_filename")
            .arg(dir.join("seg%03d.m4s"));
    } else {
        cmd.arg("-hls_segment_filename").arg(dir.join("seg%03d.ts"));
    }
    cmd.arg(dir.join("index.m3u8")).stdin(Stdio::null());
    Proc(cmd.spawn().unwrap())
}

/// Waits until ffmpeg's playlist lists at least `n` segments.
async fn wait_for_segments(playlist: &Path, n: usize) {
    wait_for(20, "ffmpeg's playlist", || {
        std::fs::read_to_string(playlist).is_ok_and(|t| t.matches("#EXTINF").count() >= n)
    })
    .await;
}

fn assert_h264_aac(tracks: &[Track]) {
    assert_eq!(support::assert_tracks_h264_aac(tracks).channels, 2);
}

/// The frames a viewer receives during `wall` (or until the source goes
/// away), with the tracks announced last.
async fn watch(stream: &Arc<LiveStream>, wall: Duration) -> (Vec<Track>, Vec<Frame>) {
    let mut sub = stream.subscribe();
    let mut tracks = Vec::new();
    let mut frames = Vec::new();
    let deadline = tokio::time::Instant::now() + wall;
    while let Ok(event) = tokio::time::timeout_at(deadline, sub.next()).await {
        match event {
            hub::Event::Tracks(t) => tracks = t,
            hub::Event::Frame(f) => frames.push(f),
            hub::Event::Closed => break,
            // the source went away after it sent something (a played-out VOD)
            hub::Event::Offline if !frames.is_empty() => break,
            hub::Event::Skipped { .. } | hub::Event::Offline => {}
        }
    }
    (tracks, frames)
}

/// Asserts per-track strictly increasing decode times; returns the span of
/// the video track's decode times in seconds.
fn check_increasing(tracks: &[Track], frames: &[Frame]) -> f64 {
    for t in tracks {
        let dts: Vec<i64> = frames
            .iter()
            .filter(|f| f.track == t.id)
            .map(|f| f.dts.ticks())
            .collect();
        assert!(dts.len() > 10, "track {} got {} frames", t.id, dts.len());
        if let Some(w) = dts.windows(2).find(|w| w[1] <= w[0]) {
            panic!("track {}: dts went from {} to {}", t.id, w[0], w[1]);
        }
    }
    let video = tracks
        .iter()
        .find(|t| t.codec.is_video())
        .expect("a video track")
        .id;
    let v: Vec<f64> = frames
        .iter()
        .filter(|f| f.track == video)
        .map(|f| f.dts.as_secs_f64())
        .collect();
    v.last().unwrap() - v.first().unwrap()
}

/// Writes the frames as MPEG-TS with our muxer; ffprobe must see h264
/// 320x240 and aac, as many video packets as frames, and ffmpeg must decode it.
fn check_with_ffprobe(dir: &TempDir, tracks: &[Track], frames: &[Frame]) {
    let ts = media::ts::write_all(tracks, frames).expect("received frames mux into ts");
    let file = dir.path("received.ts");
    std::fs::write(&file, ts).unwrap();
    let (streams, packets) = testkit::ffprobe_streams_and_packets(&file);
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("a video stream");
    assert_eq!(video["codec_name"], "h264");
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(320), Some(240))
    );
    let audio = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .expect("an audio stream");
    assert_eq!(audio["codec_name"], "aac");
    let video_frames = frames
        .iter()
        .filter(|f| tracks.iter().any(|t| t.id == f.track && t.codec.is_video()))
        .count();
    assert_eq!(
        packets.iter().filter(|p| p.codec_type == "video").count(),
        video_frames
    );
    testkit::decode(&file);
}

/// Pulls ffmpeg's live output: live with both tracks described, frames at
/// real time with increasing dts over several segments, decodable.
async fn pull_live(fmp4: bool) {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new(if fmp4 { "hls-live-fmp4" } else { "hls-live-ts" });
    let _ffmpeg = live_hls(&dir.path(""), fmp4);
    let addr = serve(dir.path("")).await;
    wait_for_segments(&dir.path("index.m3u8"), 3).await;
    let hub = Hub::default();
    let stream = hub.stream("hls");
    let started = std::time::Instant::now();
    let task = tokio::spawn(hls_pull::run(format!("http://{addr}/index.m3u8"), stream.clone()));
    wait_for(15, "the stream to go live with described tracks", || {
        stream.state() == State::Live && described(&stream)
    })
    .await;
    let to_live = started.elapsed();
    assert_h264_aac(&stream.tracks());
    let wall = Duration::from_secs(5);
    let (tracks, frames) = watch(&stream, wall).await;
    assert!(
        !task.is_finished(),
        "the pull is still running: {:?}",
        stream.last_error()
    );
    task.abort();
    assert_h264_aac(&tracks);
    let span = check_increasing(&tracks, &frames);
    // real time: about 5 s of media in 5 s (plus the GOP a new viewer gets at once)
    assert!((3.0..=7.0).contains(&span), "{span} s of video in {wall:?}");
    eprintln!(
        "{}: live after {to_live:?}; {} frames, {span:.2} s of video received in {wall:?}",
        if fmp4 { "fmp4" } else { "mpeg-ts" },
        frames.len()
    );
    assert!(
        frames.first().is_some_and(|f| f.keyframe),
        "a viewer starts on a keyframe"
    );
    check_with_ffprobe(&dir, &tracks, &frames);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_mpegts_segments_from_ffmpeg() {
    pull_live(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_fmp4_segments_from_ffmpeg() {
    pull_live(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multivariant_playlist_pulls_the_highest_bandwidth_variant() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("hls-multivariant");
    let _ffmpeg = live_hls(&dir.path(""), false);
    // the low variant does not exist: choosing it would fail with a 404
    std::fs::write(
        dir.path("master.m3u8"),
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=150000,RESOLUTION=160x120\nlow/index.m3u8\n\
         #EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=320x240,CODECS=\"avc1.64000d,mp4a.40.2\"\n\
         index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=300000\nmid/index.m3u8\n",
    )
    .unwrap();
    let addr = serve(dir.path("")).await;
    wait_for_segments(&dir.path("index.m3u8"), 2).await;
    let hub = Hub::default();
    let stream = hub.stream("hls");
    let task = tokio::spawn(hls_pull::run(
        format!("http://{addr}/master.m3u8"),
        stream.clone(),
    ));
    wait_for(15, "the stream to go live with described tracks", || {
        stream.state() == State::Live && described(&stream)
    })
    .await;
    assert_h264_aac(&stream.tracks());
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vod_playlist_with_discontinuity_and_bad_segments_plays_out() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("hls-vod");
    let mut args = testkit::lavfi(&[testkit::TESTSRC, testkit::SINE], "2");
    args.extend([
        "-c:v", "libx264", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2", "-f", "hls",
    ]);
    args.extend([
        "-hls_time",
        "1",
        "-hls_playlist_type",
        "vod",
        "-hls_segment_filename",
    ]);
    let pattern = dir.path("v%d.ts");
    args.push(pattern.to_str().unwrap());
    testkit::ffmpeg(&args, &dir.path("ffmpeg.m3u8"));
    std::fs::write(dir.path("garbage.ts"), b"<html>this is not a segment</html>").unwrap();
    // v0 v1, a garbage and a missing segment, then the same media again after
    // a discontinuity (its timestamps start over)
    std::fs::write(
        dir.path("vod.m3u8"),
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-PLAYLIST-TYPE:VOD\n\
         #EXTINF:1.0,\nv0.ts\n#EXTINF:1.0,\nv1.ts\n#EXTINF:1.0,\ngarbage.ts\n#EXTINF:1.0,\nmissing.ts\n\
         #EXT-X-DISCONTINUITY\n#EXTINF:1.0,\nv0.ts\n#EXTINF:1.0,\nv1.ts\n#EXT-X-ENDLIST\n",
    )
    .unwrap();
    let addr = serve(dir.path("")).await;
    let hub = Hub::default();
    let stream = hub.stream("vod");
    let started = std::time::Instant::now();
    let watcher = {
        let stream = stream.clone();
        tokio::spawn(async move { watch(&stream, Duration::from_secs(15)).await })
    };
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        hls_pull::run(format!("http://{addr}/vod.m3u8"), stream.clone()),
    )
    .await
    .expect("a vod playlist is played out within 20 s");
    assert_eq!(result, Ok(()));
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(3),
        "4 s of media played at real time took {elapsed:?}"
    );
    assert_eq!(stream.state(), State::Offline, "the publisher is gone");
    let error = stream.last_error().expect("the bad segments are reported");
    assert!(error.contains("segment"), "{error}");
    eprintln!("vod played out in {elapsed:?}; last error: {error}");
    let (tracks, frames) = tokio::time::timeout(Duration::from_secs(20), watcher)
        .await
        .unwrap()
        .unwrap();
    assert_h264_aac(&tracks);
    // both copies arrived, one after the other
    let span = check_increasing(&tracks, &frames);
    assert!(span > 3.0, "{span} s of video");
}

#[tokio::test]
async fn missing_playlist_is_an_error_with_the_status() {
    let dir = TempDir::new("hls-404");
    let addr = serve(dir.path("")).await;
    let hub = Hub::default();
    let url = format!("http://{addr}/nothing/index.m3u8");
    let err = tokio::time::timeout(
        Duration::from_secs(15),
        hls_pull::run(url.clone(), hub.stream("x")),
    )
    .await
    .expect("an answer within 15 s")
    .unwrap_err();
    assert!(err.contains("404") && err.contains(&url), "{err}");
    eprintln!("{err}");
    assert_eq!(hub.stream("x").state(), State::Offline);
}

#[tokio::test]
async fn garbage_playlist_is_an_error_naming_the_line() {
    let dir = TempDir::new("hls-garbage");
    std::fs::write(
        dir.path("bad.m3u8"),
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:two seconds,\nseg.ts\n",
    )
    .unwrap();
    std::fs::write(dir.path("html.m3u8"), "<html><body>login</body></html>\n").unwrap();
    let addr = serve(dir.path("")).await;
    let hub = Hub::default();
    for (file, want) in [
        ("bad.m3u8", "line 3: EXTINF"),
        ("html.m3u8", "line 1: not a playlist"),
    ] {
        let err = tokio::time::timeout(
            Duration::from_secs(15),
            hls_pull::run(format!("http://{addr}/{file}"), hub.stream("x")),
        )
        .await
        .expect("an answer within 15 s")
        .unwrap_err();
        assert!(err.contains(want), "{file}: {err}");
        eprintln!("{file}: {err}");
    }
}

#[tokio::test]
async fn unreachable_server_is_an_error() {
    // a port nobody listens on
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let hub = Hub::default();
    let err = tokio::time::timeout(
        Duration::from_secs(15),
        hls_pull::run(format!("http://127.0.0.1:{port}/index.m3u8"), hub.stream("x")),
    )
    .await
    .expect("an answer within 15 s")
    .unwrap_err();
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    eprintln!("{err}");
}
