//! WebRTC in a real browser: headless Chromium (`tests/e2e/browser/webrtc.mjs`)
//! plays a stream pushed by ffmpeg over WHEP, publishes its fake camera over
//! WHIP in H.264 (read back by ffprobe over `/NAME.ts`) and in VP8 (played
//! back over WHEP, read by ffprobe over `/NAME.mp4` and the CMAF playlist),
//! and runs 50 WHEP viewers at once. Skipped, with the reason printed, when Chromium, node, ffmpeg or the
//! harness's `node_modules` (`make deps`) are missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

mod support;

use serde_json::Value;
use support::cluster::Killed;
use support::{Server, wait_for};
use testkit::{TempDir, have_ffmpeg};

fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e/browser")
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

fn have_browser() -> bool {
    if !have_ffmpeg() {
        return false;
    }
    if !chromium().is_file() {
        eprintln!(
            "skipping: {} is missing (make deps installs chromium)",
            chromium().display()
        );
        return false;
    }
    if !harness_dir().join("node_modules/playwright-core").is_dir() {
        eprintln!("skipping: the browser harness's node_modules are missing (make deps)");
        return false;
    }
    true
}

fn config(dir: &TempDir, streams: &[&str]) -> PathBuf {
    let path = dir.path("tributary.toml");
    let text: String = streams
        .iter()
        .map(|s| format!("[streams.{s}]\nsource = \"push://\"\n\n"))
        .collect();
    std::fs::write(&path, text).unwrap();
    path
}

/// ffmpeg pushing live H.264 (1 s GOP, no B-frames: WebRTC players do not
/// reorder) + AAC over RTMP as `name`.
fn push_rtmp(server: &Server, name: &str, secs: u32) -> Killed {
    push_live(&format!("rtmp://{}/live/{name}", server.rtmp), "flv", secs)
}

/// ffmpeg pushing live H.264 (no B-frames) + AAC to `url` as `format`.
fn push_live(url: &str, format: &str, secs: u32) -> Killed {
    support::ffmpeg_live(secs, &["-f", format, url])
}

/// Runs webrtc.mjs against `server` and returns its JSON summary.
fn harness(server: &Server, mode: &str, stream: &str, seconds: u32, viewers: u32) -> Value {
    harness_at(&format!("http://{}", server.http), mode, stream, seconds, viewers)
}

/// Runs webrtc.mjs against the node at `origin`.
fn harness_at(origin: &str, mode: &str, stream: &str, seconds: u32, viewers: u32) -> Value {
    harness_with(origin, mode, stream, seconds, viewers, &[])
}

/// Runs webrtc.mjs against the node at `origin` with `extra` arguments.
fn harness_with(origin: &str, mode: &str, stream: &str, seconds: u32, viewers: u32, extra: &[&str]) -> Value {
    let out = Command::new("node")
        .arg(harness_dir().join("webrtc.mjs"))
        .args(["--mode", mode, "--origin", origin, "--stream", stream])
        .args([
            "--seconds",
            &seconds.to_string(),
            "--viewers",
            &viewers.to_string(),
        ])
        .args(extra)
        .arg("--chromium")
        .arg(chromium())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "webrtc.mjs failed ({}): {stderr}",
        out.status
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("no JSON ({e}): {stderr}"));
    let mut brief = v.clone();
    if let Some(list) = brief["viewers"].as_array_mut()
        && list.len() > 3
    {
        list.truncate(3);
    }
    println!("{mode}: {brief}");
    v
}

/// Sleeps on a synchronous test thread (a probe or counter beside the browser).
#[expect(clippy::disallowed_methods, reason = "a synchronous test thread")]
fn pause(d: Duration) {
    std::thread::sleep(d);
}

/// A sample's value in a Prometheus exposition (0 when absent).
fn metric(exposition: &str, name: &str) -> f64 {
    exposition
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// A standalone server playing stream `name`, pushed by ffmpeg over RTMP
/// for `secs` seconds (H.264 + AAC), once it is live.
fn rtmp_fed(dir: &TempDir, name: &str, secs: u32) -> (Server, Killed) {
    let server = Server::start(&config(dir, &[name]));
    let ffmpeg = push_rtmp(&server, name, secs);
    live(&server, name);
    (server, ffmpeg)
}

fn live(server: &Server, name: &str) {
    wait_for(20, &format!("{name} to be live"), || {
        server.stream(name)["status"]["state"] == "live"
    });
}

#[test]
fn whep_plays_in_chromium_with_low_latency() {
    if !have_browser() {
        return;
    }
    let dir = TempDir::new("webrtc-whep");
    let (server, _ffmpeg) = rtmp_fed(&dir, "cam", 60);
    let v = harness(&server, "whep", "cam", 8, 1);
    let viewer = &v["viewers"][0];
    assert_eq!(viewer["status"], 201, "{viewer}");
    assert_eq!(viewer["state"], "connected", "{viewer}");
    assert_eq!(viewer["codec"], "video/H264");
    let advanced = viewer["advanced"].as_f64().unwrap();
    assert!(advanced >= 6.0, "currentTime advanced {advanced} s in 8 s");
    assert!(viewer["framesDecoded"].as_u64().unwrap() >= 120, "{viewer}");
    assert!(viewer["width"].as_u64().unwrap() > 0, "{viewer}");
    // Glass to glass on loopback: what the browser holds back (jitter buffer)
    // plus the network round trip.
    let jitter = viewer["jitterBufferMs"].as_f64().unwrap();
    let rtt = viewer["rttMs"].as_f64().unwrap_or(0.0);
    println!("jitter buffer {jitter:.1} ms, round trip {rtt:.1} ms");
    assert!(jitter + rtt < 500.0, "jitter buffer {jitter} ms + rtt {rtt} ms");
    // AAC is not sent; the session says so.
    let note = viewer["session"]["note"].as_str().unwrap_or_default();
    assert!(note.contains("AAC"), "{viewer}");
    assert_eq!(viewer["deleted"], 200);
    let (_, metrics) = server.get("/metrics").unwrap();
    let value = |name: &str| metric(&metrics, name);
    assert!(value("tributary_webrtc_frames_sent_total") >= 150.0, "{metrics}");
    assert!(
        value("tributary_webrtc_send_latency_seconds_count") >= 150.0,
        "{metrics}"
    );
}

#[test]
fn a_whep_viewer_without_the_streams_codec_is_told_so() {
    if !have_browser() {
        return;
    }
    let dir = TempDir::new("webrtc-whep-vp8-only");
    let (server, _ffmpeg) = rtmp_fed(&dir, "cam", 60);
    let origin = format!("http://{}", server.http);
    let v = harness_with(&origin, "whep", "cam", 4, 1, &["--video-codec", "vp8"]);
    let viewer = &v["viewers"][0];
    assert_eq!(viewer["status"], 201, "{viewer}");
    assert_eq!(viewer["state"], "connected", "{viewer}");
    assert_eq!(viewer["rtpFramesDecoded"].as_u64().unwrap_or(0), 0, "{viewer}");
    let note = viewer["session"]["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("not sent: H.264 video (the viewer's offer has no H.264)"),
        "{viewer}"
    );
    assert!(note.contains("AAC"), "{viewer}");
}

#[test]
fn whip_from_chromium_is_read_back_over_ts() {
    if !have_browser() {
        return;
    }
    let dir = TempDir::new("webrtc-whip");
    let server = Server::start(&config(&dir, &["pub"]));
    let http = server.http;
    let probe = std::thread::spawn(move || {
        // Wait for the browser's publish to go live, then probe.
        probe_streams(&format!("http://{http}/pub.ts")).unwrap_or(Value::Null)
    });
    // A WHEP viewer of the published stream gets its H.264 and its Opus audio.
    let origin = format!("http://{http}");
    let viewer = std::thread::spawn(move || {
        pause(Duration::from_secs(6));
        harness_at(&origin, "whep", "pub", 5, 1)
    });
    let v = harness(&server, "whip", "pub", 14, 1);
    assert_eq!(v["status"], 201, "{v}");
    assert_eq!(v["state"], "connected", "{v}");
    assert_eq!(v["codec"], "video/H264", "{v}");
    assert!(v["framesEncoded"].as_u64().unwrap() > 100, "{v}");
    // Keyframes on request: the server asks every 2 s.
    assert!(v["keyFramesEncoded"].as_u64().unwrap() >= 3, "{v}");
    let watched = viewer.join().unwrap();
    let w = &watched["viewers"][0];
    assert_eq!(w["state"], "connected", "{watched}");
    assert!(w["rtpFramesDecoded"].as_u64().unwrap_or(0) > 50, "{watched}");
    assert!(
        w["audioPackets"].as_u64().unwrap_or(0) > 100,
        "Opus audio received: {watched}"
    );
    assert!(w["session"]["note"].is_null(), "nothing left out: {watched}");
    let probed = probe.join().unwrap();
    println!("ffprobe: {probed}");
    let video = &probed["streams"][0];
    assert_eq!(video["codec_name"], "h264", "{probed}");
    assert_eq!(video["width"], 640);
    assert_eq!(video["height"], 360);
}

/// ffprobe's streams of `url` (codec, size), once it has any: `None` when
/// it found none in 20 s.
fn probe_streams(url: &str) -> Option<Value> {
    for _ in 0..40 {
        let out = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-rw_timeout",
                "5000000",
                "-show_entries",
                "stream=codec_name,width,height",
            ])
            .args(["-of", "json", url])
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if v["streams"].as_array().is_some_and(|s| !s.is_empty()) {
            return Some(v);
        }
        pause(Duration::from_millis(500));
    }
    None
}

#[test]
fn whip_vp8_from_chromium_plays_over_whep_and_reads_as_mp4_and_cmaf() {
    if !have_browser() {
        return;
    }
    let dir = TempDir::new("webrtc-whip-vp8");
    let server = Server::start(&config(&dir, &["vp8"]));
    let http = server.http;
    let probe = std::thread::spawn(move || {
        let mp4 = probe_streams(&format!("http://{http}/vp8.mp4"));
        let cmaf = probe_streams(&format!("http://{http}/cmaf/vp8/index.m3u8"));
        (mp4, cmaf)
    });
    let origin = format!("http://{http}");
    let viewer = std::thread::spawn(move || {
        pause(Duration::from_secs(6));
        harness_at(&origin, "whep", "vp8", 5, 1)
    });
    let origin = format!("http://{http}");
    let v = harness_with(&origin, "whip", "vp8", 14, 1, &["--video-codec", "vp8"]);
    assert_eq!(v["status"], 201, "{v}");
    assert_eq!(v["state"], "connected", "{v}");
    assert_eq!(v["codec"], "video/VP8", "{v}");
    assert!(v["framesEncoded"].as_u64().unwrap() > 100, "{v}");
    assert!(v["keyFramesEncoded"].as_u64().unwrap() >= 3, "{v}");

    let watched = viewer.join().unwrap();
    let w = &watched["viewers"][0];
    assert_eq!(w["status"], 201, "{watched}");
    assert_eq!(w["state"], "connected", "{watched}");
    assert_eq!(w["codec"], "video/VP8", "{watched}");
    let advanced = w["advanced"].as_f64().unwrap_or(0.0);
    assert!(
        advanced >= 3.0,
        "currentTime advanced {advanced} s in 5 s: {watched}"
    );
    assert!(w["framesDecoded"].as_u64().unwrap_or(0) > 50, "{watched}");
    assert_eq!(w["width"], 640, "{watched}");
    assert!(
        w["audioPackets"].as_u64().unwrap_or(0) > 100,
        "Opus audio received: {watched}"
    );
    assert!(w["session"]["note"].is_null(), "nothing left out: {watched}");

    let (mp4, cmaf) = probe.join().unwrap();
    println!("ffprobe mp4: {mp4:?}\nffprobe cmaf: {cmaf:?}");
    for (what, probed) in [("/vp8.mp4", mp4), ("CMAF playlist", cmaf)] {
        let probed = probed.unwrap_or_else(|| panic!("ffprobe read no stream over {what}"));
        let streams = probed["streams"].as_array().unwrap();
        let video = streams
            .iter()
            .find(|s| s["codec_name"] == "vp8")
            .unwrap_or_else(|| panic!("no vp8 over {what}: {probed}"));
        assert_eq!(
            (&video["width"], &video["height"]),
            (&640.into(), &360.into()),
            "{what}: {probed}"
        );
        assert!(
            streams.iter().any(|s| s["codec_name"] == "opus"),
            "{what}: {probed}"
        );
    }
}

#[test]
fn fifty_whep_viewers_of_one_stream_all_receive_frames() {
    if !have_browser() {
        return;
    }
    let dir = TempDir::new("webrtc-fifty");
    // Two run loops, whatever this machine's cores: each reads the stream
    // once for its share of the viewers.
    let server = Server::start_with(&config(&dir, &["cam"]), &["--webrtc-loops", "2"]);
    let _ffmpeg = push_rtmp(&server, "cam", 90);
    live(&server, "cam");
    let (port, name) = (server.http, "cam");
    let counter = std::thread::spawn(move || {
        // The most WebRTC viewers the stream counted while the page played.
        let mut most = 0;
        for _ in 0..60 {
            if let Some((200, body)) =
                support::request("GET", &format!("http://{port}/api/v1/sessions"), None)
            {
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                let webrtc = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|s| s["stream"] == name)
                    .filter_map(|s| s["byProtocol"]["webrtc"].as_u64())
                    .sum::<u64>();
                most = most.max(webrtc);
            }
            pause(Duration::from_millis(500));
        }
        most
    });
    let v = harness(&server, "whep", "cam", 10, 50);
    let viewers = v["viewers"].as_array().unwrap();
    assert_eq!(viewers.len(), 50);
    for (i, viewer) in viewers.iter().enumerate() {
        assert_eq!(viewer["status"], 201, "viewer {i}: {viewer}");
        assert_eq!(viewer["state"], "connected", "viewer {i}: {viewer}");
        assert!(
            viewer["rtpFramesDecoded"].as_u64().unwrap_or(0) > 0,
            "viewer {i}: {viewer}"
        );
    }
    let decoded: Vec<u64> = viewers
        .iter()
        .map(|v| v["rtpFramesDecoded"].as_u64().unwrap())
        .collect();
    println!(
        "frames decoded per viewer: min {} max {}",
        decoded.iter().min().unwrap(),
        decoded.iter().max().unwrap()
    );
    let most = counter.join().unwrap();
    assert_eq!(most, 50, "the stream counted {most} WebRTC viewers at most");
    // One buffer per loop: each frame is converted once for the stream on
    // each of the two loops, and the loop's sessions all get the same
    // payload (per-viewer copies would make the two counts about equal;
    // viewers that join late make the ratio less than 25).
    let (_, metrics) = server.get("/metrics").unwrap();
    let value = |name: &str| metric(&metrics, name);
    let converted = value("tributary_webrtc_frames_converted_total");
    let sent = value("tributary_webrtc_frames_sent_total");
    println!("frames converted {converted}, written to sessions {sent}");
    assert!(
        converted > 0.0 && sent >= 12.0 * converted,
        "{converted} conversions for {sent} frames sent"
    );
}

#[test]
fn whep_plays_from_an_edge_node_fed_over_the_relay() {
    if !have_browser() {
        return;
    }
    let Some(etcd) = testkit::etcd::Etcd::start("webrtc-edge") else {
        return;
    };
    let ingest = support::cluster::Node::ingest("ingest-w", &etcd.url());
    let edge = support::cluster::Node::edge("edge-w", &etcd.url());
    let (status, body) = support::request(
        "PUT",
        &ingest.url("/api/v1/streams/cam"),
        Some(r#"{"source": "push://"}"#),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let url = format!("srt://{}?streamid=publish:cam&pkt_size=1316", ingest.srt);
    let _ffmpeg = push_live(&url, "mpegts", 60);
    wait_for(20, "cam live on the ingest", || {
        ingest.stream_state("cam").as_deref() == Some("live")
    });
    let v = harness_at(&format!("http://{}", edge.http), "whep", "cam", 6, 1);
    let viewer = &v["viewers"][0];
    assert_eq!(viewer["status"], 201, "{viewer}");
    assert_eq!(viewer["state"], "connected", "{viewer}");
    assert!(viewer["advanced"].as_f64().unwrap() >= 4.0, "{viewer}");
    assert!(viewer["rtpFramesDecoded"].as_u64().unwrap() > 50, "{viewer}");
}
