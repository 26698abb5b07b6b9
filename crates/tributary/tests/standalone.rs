//! `tributary standalone` as a user runs it: a config file, ffmpeg pushing
//! RTMP and TS/UDP, the REST API reporting the stream, ffprobe reading
//! `/NAME.ts`; refusals; streams created through the API surviving a restart.

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{TempDir, free_udp_port, have_ffmpeg};

mod support;

use support::{Server, push, wait_for};

fn assert_live_h264_aac(server: &Server, name: &str, channels: u64) {
    wait_for(10, "the stream to be live with both tracks described", || {
        let s = server.stream(name);
        s["status"]["state"] == "live"
            && s["status"]["tracks"].as_array().is_some_and(|t| {
                t.len() == 2 && t.iter().all(|t| t["width"].is_u64() || t["sampleRate"].is_u64())
            })
    });
    let status = server.stream(name)["status"].clone();
    let tracks = status["tracks"].as_array().unwrap();
    let video = tracks.iter().find(|t| t["codec"] == "h264").expect("h264 track");
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(320), Some(240))
    );
    let audio = tracks.iter().find(|t| t["codec"] == "aac").expect("aac track");
    assert_eq!(
        (audio["sampleRate"].as_u64(), audio["channels"].as_u64()),
        (Some(48000), Some(channels))
    );

    // ffprobe reads the same tracks over HTTP
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_streams",
            "-of",
            "json",
            "-rw_timeout",
            "5000000",
        ])
        .arg(server.url(&format!("/{name}.ts")))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let probe: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let streams = probe["streams"].as_array().unwrap();
    let v = streams
        .iter()
        .find(|s| s["codec_name"] == "h264")
        .expect("ffprobe sees h264");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(320), Some(240))
    );
    assert!(
        streams.iter().any(|s| s["codec_name"] == "aac"),
        "ffprobe sees aac"
    );
}

#[test]
fn rtmp_push_goes_live_and_plays_as_ts() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("standalone-rtmp");
    let config = dir.path("tributary.toml");
    std::fs::write(
        &config,
        "[streams.cam]\nsource = \"push://\"\npublishKey = \"secret-key\"\n\n[streams.other]\nsource = \"push://\"\n",
    )
    .unwrap();
    let server = Server::start(&config);
    assert_eq!(server.stream("cam")["status"]["state"], "waiting");

    let mut ffmpeg = push(
        &format!("rtmp://{}/live/cam?key=secret-key", server.rtmp),
        "flv",
        30,
    );
    assert_live_h264_aac(&server, "cam", 1);

    // refusals: wrong key, undefined stream; the live stream is unaffected
    for (url, why) in [
        (
            format!("rtmp://{}/live/cam?key=guessed-123", server.rtmp),
            "wrong key",
        ),
        (format!("rtmp://{}/live/nope", server.rtmp), "undefined stream"),
    ] {
        let status = push(&url, "flv", 2).wait().unwrap();
        assert!(!status.success(), "{why}: ffmpeg should have been refused");
    }
    assert_eq!(server.stream("cam")["status"]["state"], "live");
    let last_error = server.stream("cam")["status"]["lastError"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        last_error.contains("refused"),
        "lastError tells of the refusal: {last_error:?}"
    );
    assert!(
        !last_error.contains("guessed-123"),
        "the key is never shown: {last_error:?}"
    );

    // killing the publisher: offline (waiting for a new one) within 5 s
    ffmpeg.kill().unwrap();
    let _ = ffmpeg.wait();
    let killed = Instant::now();
    wait_for(5, "the stream to go offline", || {
        server.stream("cam")["status"]["state"] != "live"
    });
    assert!(killed.elapsed() < Duration::from_secs(5));

    // re-publishing resumes
    let mut again = push(
        &format!("rtmp://{}/live/cam?key=secret-key", server.rtmp),
        "flv",
        30,
    );
    assert_live_h264_aac(&server, "cam", 1);
    again.kill().unwrap();
    let _ = again.wait();
}

#[test]
fn api_streams_survive_a_restart_and_tsudp_goes_live() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("standalone-api");
    let config = dir.path("tributary.toml");
    let port = free_udp_port();
    {
        let server = Server::start(&config);
        let (status, body) = server.put(
            "/api/v1/streams/udp1",
            &format!(r#"{{"source":"tsudp://127.0.0.1:{port}"}}"#),
        );
        assert_eq!(status, 200, "{body}");
        let (status, body) = server.put("/api/v1/streams/bad", r#"{"source":"nope://x"}"#);
        assert_eq!(status, 400, "{body}");
    }
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(
        written.contains("udp1"),
        "the config file holds the stream: {written}"
    );

    let server = Server::start(&config);
    assert_eq!(
        server.stream("udp1")["spec"]["source"],
        format!("tsudp://127.0.0.1:{port}")
    );
    let mut ffmpeg = push(&format!("udp://127.0.0.1:{port}?pkt_size=1316"), "mpegts", 30);
    assert_live_h264_aac(&server, "udp1", 1);
    ffmpeg.kill().unwrap();
    let _ = ffmpeg.wait();
}

#[test]
fn read_only_config_is_never_written() {
    let dir = TempDir::new("standalone-ro");
    let config = dir.path("tributary.toml");
    std::fs::write(&config, "[streams.a]\nsource = \"push://\"\n").unwrap();
    let mut perms = std::fs::metadata(&config).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&config, perms).unwrap();
    let server = Server::start(&config);
    let (status, body) = server.put("/api/v1/streams/b", r#"{"source":"push://"}"#);
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("read-only") || body.contains("read only"), "{body}");
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        "[streams.a]\nsource = \"push://\"\n"
    );
    assert_eq!(
        server.get("/api/v1/streams/b").unwrap().0,
        404,
        "a refused change is not applied"
    );
}

#[test]
fn vod_file_starts_on_request_and_plays_as_hls_and_ts() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("standalone-vod");
    let media = dir.path("clip.mp4");
    testkit::generate(&media, testkit::Video::H264);
    let config = dir.path("tributary.toml");
    std::fs::write(
        &config,
        format!("[streams.clip]\nsource = \"{}?loop\"\n", media.display()),
    )
    .unwrap();
    let server = Server::start(&config);
    assert_eq!(
        server.stream("clip")["status"]["state"],
        "offline",
        "on demand: nothing runs before a viewer"
    );
    // the first request finds it offline, starts it and waits for it
    let (status, playlist) = server.get("/cmaf/clip/index.m3u8").expect("answered within 5 s");
    assert_eq!(status, 200, "{playlist}");
    assert!(playlist.contains("#EXTINF:"), "{playlist}");
    // ffprobe on the looping file: the same tracks as the file
    assert_live_h264_aac(&server, "clip", 2);
}

#[test]
fn garbage_on_every_port_leaves_streams_alone() {
    if !have_ffmpeg() {
        return;
    }
    use std::io::Write;
    let dir = TempDir::new("standalone-garbage");
    let config = dir.path("tributary.toml");
    let udp = free_udp_port();
    std::fs::write(
        &config,
        format!("[streams.cam]\nsource = \"push://\"\n\n[streams.u]\nsource = \"tsudp://127.0.0.1:{udp}\"\n"),
    )
    .unwrap();
    let server = Server::start(&config);
    let mut ffmpeg = push(&format!("rtmp://{}/live/cam", server.rtmp), "flv", 30);
    assert_live_h264_aac(&server, "cam", 1);

    // xorshift noise, deterministic
    let mut x = 0x2545_f491_u32;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    };
    for round in 0..20 {
        // raw garbage, and garbage after a valid-looking RTMP C0 byte
        let mut tcp = std::net::TcpStream::connect(server.rtmp).unwrap();
        let mut bytes = noise(4096);
        if round % 2 == 0 {
            bytes[0] = 3;
        }
        let _ = tcp.write_all(&bytes);
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let _ = sock.send_to(&noise(1316), ("127.0.0.1", udp));
        let _ = server.get(&format!(
            "/{}.ts",
            String::from_utf8_lossy(&noise(8)).replace(['/', '?', '#'], "")
        ));
    }
    assert_eq!(server.get("/healthz").unwrap().0, 200);
    assert_eq!(
        server.stream("cam")["status"]["state"],
        "live",
        "the live stream is unaffected"
    );
    assert_live_h264_aac(&server, "cam", 1);
    ffmpeg.kill().unwrap();
    let _ = ffmpeg.wait();
}

#[test]
fn rtp_described_by_ffmpeg_sdp_goes_live() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("standalone-rtp");
    let config = dir.path("tributary.toml");
    let sdp = dir.path("in.sdp");
    let server = Server::start(&config);
    // RTP ports are even; RTCP goes to the next odd port
    let (video, audio) = (free_udp_port() & !1, free_udp_port() & !1);
    let mut ffmpeg = Command::new("ffmpeg")
        .args(["-v", "error", "-re"])
        .args(testkit::lavfi(&[testkit::TESTSRC, testkit::SINE], "30"))
        .args([
            "-map",
            "0:v",
            "-c:v",
            "libx264",
            "-g",
            "25",
            "-flags:v",
            "+global_header",
        ])
        .args([
            "-bsf:v",
            "dump_extra",
            "-f",
            "rtp",
            &format!("rtp://127.0.0.1:{video}"),
        ])
        .args([
            "-map",
            "1:a",
            "-c:a",
            "aac",
            "-f",
            "rtp",
            &format!("rtp://127.0.0.1:{audio}"),
        ])
        .arg("-sdp_file")
        .arg(&sdp)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(10, "ffmpeg to write the sdp file", || {
        std::fs::metadata(&sdp).is_ok_and(|m| m.len() > 0)
    });
    let (status, body) = server.put(
        "/api/v1/streams/rtp",
        &format!(r#"{{"source":"sdp:{}"}}"#, sdp.display()),
    );
    assert_eq!(status, 200, "{body}");
    assert_live_h264_aac(&server, "rtp", 1);
    ffmpeg.kill().unwrap();
    let _ = ffmpeg.wait();
}

#[test]
fn srt_push_to_the_shared_port_and_to_a_stream_listener() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("standalone-srt");
    let config = dir.path("tributary.toml");
    let own = free_udp_port();
    std::fs::write(
        &config,
        format!(
            "[streams.cam]\nsource = \"push://\"\npublishKey = \"k3y-k3y-k3y\"\n\n\
             [streams.own]\nsource = \"srt://:{own}?passphrase=0123456789abc\"\n"
        ),
    )
    .unwrap();
    let server = Server::start(&config);

    // shared port, access-control streamid with the key
    let url = format!(
        "srt://{}?streamid=#!::r=cam,m=publish,s=k3y-k3y-k3y&pkt_size=1316",
        server.srt
    );
    let mut shared = push(&url, "mpegts", 30);
    assert_live_h264_aac(&server, "cam", 1);
    // a wrong key is refused and the live stream goes on
    let wrong = format!(
        "srt://{}?streamid=#!::r=cam,m=publish,s=guessed-123&pkt_size=1316",
        server.srt
    );
    assert!(
        !push(&wrong, "mpegts", 2).wait().unwrap().success(),
        "wrong key refused"
    );
    assert_eq!(server.stream("cam")["status"]["state"], "live");

    // the stream's own listener, with a passphrase
    let url = format!("srt://127.0.0.1:{own}?passphrase=0123456789abc&pkt_size=1316");
    let mut own_push = push(&url, "mpegts", 30);
    assert_live_h264_aac(&server, "own", 1);
    for child in [&mut shared, &mut own_push] {
        child.kill().unwrap();
        let _ = child.wait();
    }
    wait_for(5, "cam to go offline", || {
        server.stream("cam")["status"]["state"] != "live"
    });
}
