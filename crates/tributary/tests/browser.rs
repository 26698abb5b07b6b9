//! Playback in a real browser: headless Chromium running hls.js
//! (`tests/e2e/browser/play.mjs`) plays Tributary's LL-HLS outputs while
//! ffmpeg pushes a live RTMP stream, and reports how far playback advanced,
//! hls.js's latency estimate, decoded frames and hls.js errors. Two more tests
//! play ffmpeg's own HLS output (MPEG-TS and fMP4 segments) through the same
//! harness, the reference the server outputs are held to.
//!
//! Skipped, with the reason printed, when Chromium, node, ffmpeg or the
//! harness's `node_modules` (`make deps`) are missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod support;

use serde_json::Value;
use support::cluster::Killed;
use support::{Server, ffmpeg_live, wait_for};
use testkit::{TempDir, have_ffmpeg};

/// Seconds each browser run lasts.
const PLAY_SECONDS: u32 = 12;

fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e/browser")
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// True when everything the harness needs is installed; otherwise prints why
/// the test skips.
fn have_browser_harness() -> bool {
    if !have_ffmpeg() {
        return false;
    }
    let chromium = chromium();
    if !chromium.is_file() {
        eprintln!(
            "skipping: {} is missing (make deps installs Debian's chromium)",
            chromium.display()
        );
        return false;
    }
    if !Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("skipping: node is not installed");
        return false;
    }
    let modules = harness_dir().join("node_modules");
    if !["playwright-core", "hls.js"]
        .iter()
        .all(|m| modules.join(m).is_dir())
    {
        eprintln!(
            "skipping: {} is missing (make deps runs npm ci there)",
            modules.display()
        );
        return false;
    }
    true
}

/// What play.mjs reported for one run.
struct Playback(Value);

impl Playback {
    /// Runs play.mjs for [`PLAY_SECONDS`]; `serve` makes it serve that
    /// directory too, against which a relative `url` resolves.
    fn run(url: &str, low_latency: bool, serve: Option<&Path>) -> Self {
        let mut cmd = Command::new("node");
        cmd.arg(harness_dir().join("play.mjs"))
            .args(["--url", url, "--seconds", &PLAY_SECONDS.to_string()])
            .arg("--chromium")
            .arg(chromium())
            .stdin(Stdio::null());
        if low_latency {
            cmd.arg("--low-latency");
        }
        if let Some(dir) = serve {
            cmd.arg("--serve").arg(dir);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "play.mjs failed ({}): {stderr}", out.status);
        let summary: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("play.mjs printed no JSON ({e}): {stderr}"));
        let playback = Self(summary);
        playback.print();
        playback
    }

    /// The figures, and the summary without its samples.
    fn print(&self) {
        let v = &self.0;
        println!(
            "browser playback of {}: advanced {} s (currentTime {} -> {}), startup {} s, \
             latency median {} s last {} s, frames decoded {} dropped {}, stalls {}, errors {}, fatal {}",
            v["url"],
            v["advanced"],
            v["startTime"],
            v["endTime"],
            v["startupSeconds"],
            v["latency"]["median"],
            v["latency"]["last"],
            v["framesDecoded"],
            v["framesDropped"],
            v["stalls"],
            v["errors"].as_array().map_or(0, Vec::len),
            v["fatal"],
        );
        let mut brief = v.clone();
        if let Some(o) = brief.as_object_mut() {
            o.remove("samples");
        }
        println!("{brief}");
    }

    fn advanced(&self) -> f64 {
        self.0["advanced"].as_f64().unwrap_or(0.0)
    }

    fn median_latency(&self) -> Option<f64> {
        self.0["latency"]["median"].as_f64()
    }

    /// Playback advanced at least `min_advance` seconds with frames decoded,
    /// no fatal hls.js or media element error, and hls.js's median live
    /// latency (past the warm-up) under `max_latency` seconds.
    fn assert_played(&self, min_advance: f64, max_latency: f64) {
        let v = &self.0;
        assert_eq!(v["fatal"], false, "fatal playback error: {}", v["errors"]);
        assert!(
            self.advanced() >= min_advance,
            "playback advanced {} s, want >= {min_advance} s; errors {}; events {}",
            self.advanced(),
            v["errors"],
            v["events"]
        );
        let frames = v["framesDecoded"].as_u64().unwrap_or(0);
        assert!(frames > 0, "no video frame decoded");
        let latency = self.median_latency().expect("hls.js reported a live latency");
        assert!(
            latency < max_latency,
            "median hls.js latency {latency} s, want < {max_latency} s"
        );
    }
}

/// ffmpeg's HLS muxer writing 1 s segments of type `segment_type` into a
/// scratch directory, played through play.mjs's own file server.
fn play_ffmpeg_hls(name: &str, segment_type: &str) {
    if !have_browser_harness() {
        return;
    }
    let dir = TempDir::new(name);
    let playlist = dir.path("index.m3u8");
    let playlist_arg = playlist.to_str().unwrap().to_owned();
    let _ffmpeg = ffmpeg_live(
        PLAY_SECONDS + 30,
        &[
            "-f",
            "hls",
            "-hls_time",
            "1",
            "-hls_list_size",
            "6",
            "-hls_segment_type",
            segment_type,
            "-hls_flags",
            "delete_segments",
            &playlist_arg,
        ],
    );
    wait_for(15, "ffmpeg's playlist to list 3 segments", || {
        std::fs::read_to_string(&playlist).is_ok_and(|p| p.matches("#EXTINF").count() >= 3)
    });
    let playback = Playback::run("index.m3u8", false, Some(&dir.path("")));
    playback.assert_played(5.0, 10.0);
}

#[test]
fn ffmpeg_ts_hls_plays_in_browser() {
    play_ffmpeg_hls("browser-ffmpeg-ts", "mpegts");
}

#[test]
fn ffmpeg_fmp4_hls_plays_in_browser() {
    play_ffmpeg_hls("browser-ffmpeg-fmp4", "fmp4");
}

/// The standalone server with ffmpeg pushing `name` over RTMP, once the
/// stream is live and `playlist` answers 200 with a media segment or part
/// and allows cross-origin reads.
fn live_server(name: &str, playlist: &str) -> (Server, Killed, TempDir) {
    let dir = TempDir::new(&format!("browser-{name}"));
    let config = dir.path("tributary.toml");
    std::fs::write(&config, format!("[streams.{name}]\nsource = \"push://\"\n")).unwrap();
    let server = Server::start(&config);
    let ffmpeg = ffmpeg_live(
        PLAY_SECONDS + 40,
        &["-f", "flv", &format!("rtmp://{}/live/{name}", server.rtmp)],
    );
    wait_for(15, "the stream to be live", || {
        server
            .get(&format!("/api/v1/streams/{name}"))
            .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok())
            .is_some_and(|s| s["status"]["state"] == "live")
    });
    wait_for(15, &format!("{playlist} to list a segment or part"), || {
        server
            .get(playlist)
            .is_some_and(|(s, body)| s == 200 && (body.contains("#EXTINF") || body.contains("#EXT-X-PART:")))
    });
    // the page plays from another origin
    let cors = server
        .cors(playlist, "http://127.0.0.1")
        .and_then(|(_, cors)| cors);
    assert!(
        cors.as_deref()
            .is_some_and(|c| c == "*" || c == "http://127.0.0.1"),
        "{playlist} must allow cross-origin reads (Access-Control-Allow-Origin), got {cors:?}"
    );
    (server, ffmpeg, dir)
}

#[test]
fn cmaf_ll_hls_plays_in_browser_at_low_latency() {
    if !have_browser_harness() {
        return;
    }
    let playlist = "/cmaf/cmafcam/index.m3u8";
    let (server, _ffmpeg, _dir) = live_server("cmafcam", playlist);
    let playback = Playback::run(&server.url(playlist), true, None);
    playback.assert_played(5.0, 3.0);
}

#[test]
fn ts_ll_hls_plays_in_browser() {
    if !have_browser_harness() {
        return;
    }
    let playlist = "/hls/tscam/index.m3u8";
    let (server, _ffmpeg, _dir) = live_server("tscam", playlist);
    let playback = Playback::run(&server.url(playlist), true, None);
    playback.assert_played(5.0, 10.0);
}
