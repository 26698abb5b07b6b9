//! The HTTP outputs of `tributary standalone` read by ffmpeg: LL-HLS over
//! CMAF and MPEG-TS, `/NAME.ts` and `/NAME.mp4`, for H.264+AAC (pushed over
//! RTMP) and H.265+AAC (pushed over SRT); and the playlists checked against
//! RFC 8216bis rules across reloads and a source restart.

mod support;

use std::process::{Child, Command, Stdio};

use support::{Server, play, push, wait_for};
use testkit::{TempDir, have_encoder, have_ffmpeg};

fn config(dir: &TempDir) -> std::path::PathBuf {
    let path = dir.path("tributary.toml");
    std::fs::write(
        &path,
        "[streams.cam]\nsource = \"push://\"\n\n[streams.hevc]\nsource = \"push://\"\n",
    )
    .unwrap();
    path
}

fn wait_live(server: &Server, name: &str) {
    wait_for(15, "the stream to be live with two described tracks", || {
        let s = server.stream(name);
        s["status"]["state"] == "live"
            && s["status"]["tracks"]
                .as_array()
                .is_some_and(|t| t.len() == 2 && t.iter().all(|t| !t["codec"].is_null()))
    });
}

/// Every output of `name` decodes for 10 s without an error line.
fn assert_outputs_play(server: &Server, name: &str) {
    let paths = [
        format!("/cmaf/{name}/index.m3u8"),
        format!("/hls/{name}/index.m3u8"),
        format!("/{name}.ts"),
        format!("/{name}.mp4"),
    ];
    let players: Vec<_> = paths
        .iter()
        .map(|p| (p.clone(), play(server.url(p), 10)))
        .collect();
    for (path, player) in players {
        let (ok, errors, decoded) = player.join().unwrap();
        println!("{path}: decoded {decoded:.2} s");
        assert!(ok, "ffmpeg failed on {path}: {errors}");
        assert!(
            errors.trim().is_empty(),
            "ffmpeg reported errors on {path}:\n{errors}"
        );
        assert!(decoded >= 9.5, "{path}: only {decoded} s decoded");
    }
}

fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn h264_aac_over_rtmp_plays_on_every_http_output() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("outputs-h264");
    let server = Server::start(&config(&dir));
    let pusher = push(&format!("rtmp://{}/live/cam", server.rtmp), "flv", 40);
    wait_live(&server, "cam");
    assert_outputs_play(&server, "cam");
    kill(pusher);
}

#[test]
fn h265_aac_over_srt_plays_on_every_http_output() {
    if !have_ffmpeg() || !have_encoder("libx265") {
        return;
    }
    let dir = TempDir::new("outputs-h265");
    let server = Server::start(&config(&dir));
    let url = format!("srt://{}?streamid=#!::r=hevc,m=publish&pkt_size=1316", server.srt);
    let pusher = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-re"])
        .args(testkit::lavfi(&[testkit::TESTSRC, testkit::SINE], "40"))
        .args(["-c:v", "libx265", "-x265-params", "log-level=error:keyint=25"])
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "mpegts", &url])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    wait_live(&server, "hevc");
    assert_outputs_play(&server, "hevc");
    kill(pusher);
}

#[test]
fn playlists_follow_rfc_8216bis_across_reloads_and_a_source_restart() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("outputs-playlists");
    let server = Server::start_with(&config(&dir), &["--hls-target-duration", "1"]);
    let pusher = push(&format!("rtmp://{}/live/cam", server.rtmp), "flv", 60);
    wait_live(&server, "cam");
    let fetch = |path: &str| {
        let (status, body) = server.get(path).expect("server answers");
        assert_eq!(status, 200, "{path}: {body}");
        body
    };
    for format in ["cmaf", "hls"] {
        let path = format!("/{format}/cam/index.m3u8");
        let mut prev = testkit::hls::check_media(&fetch(&path)).unwrap_or_else(|e| panic!("{e:?}"));
        for _ in 0..8 {
            // block until the next part, as a player does
            let last = prev.segments.last().unwrap();
            let (msn, part) = match last.uri {
                None => (last.msn, last.parts.len()),
                Some(_) => (last.msn + 1, 0),
            };
            let text = fetch(&format!("{path}?_HLS_msn={msn}&_HLS_part={part}"));
            let next = testkit::hls::check_media(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
            testkit::hls::check_reload(&prev, &next).unwrap_or_else(|e| panic!("{e:?}"));
            prev = next;
        }
    }
    // the source restarts: the playlists carry on with a discontinuity
    kill(pusher);
    wait_for(15, "the stream to go offline", || {
        server.stream("cam")["status"]["state"] != "live"
    });
    let before = testkit::hls::check_media(&fetch("/cmaf/cam/index.m3u8")).unwrap();
    let pusher = push(&format!("rtmp://{}/live/cam", server.rtmp), "flv", 60);
    wait_live(&server, "cam");
    wait_for(15, "a discontinuity in the playlist", || {
        fetch("/cmaf/cam/index.m3u8").contains("#EXT-X-DISCONTINUITY\n")
    });
    for format in ["cmaf", "hls"] {
        let path = format!("/{format}/cam/index.m3u8?_HLS_skip=YES");
        let text = fetch(&path);
        let after = testkit::hls::check_media(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        assert!(after.segments.iter().any(|s| s.discontinuity), "{text}");
        if format == "cmaf" {
            testkit::hls::check_reload(&before, &after).unwrap_or_else(|e| panic!("{e:?}"));
        }
    }
    // a client that ignores the low-latency tags still plays it as plain HLS
    let (ok, errors, decoded) = play(server.url("/hls/cam/index.m3u8"), 4).join().unwrap();
    assert!(ok && errors.trim().is_empty() && decoded >= 3.5, "{errors}");
    kill(pusher);
}
