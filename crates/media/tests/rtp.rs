//! RTP input against real ffmpeg: `ffmpeg ... -f rtp rtp://127.0.0.1:PORT -sdp_file FILE`
//! into a UDP socket bound by the test, then the SDP file ffmpeg wrote is
//! parsed, the packets are depacketized, and the frames are written to
//! MPEG-TS (or fragmented MP4 for Opus) and checked with ffprobe.
//!
//! Skipped (with a message) when ffmpeg or ffprobe is not installed, or when
//! the encoder a test needs is missing.

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use media::rtp::{Event, Packet, ReceiverOptions, Warning};
use media::sdp::{SessionDescription, Source};
use media::{Codec, Frame, Track};
use testkit::TempDir;

/// What one ffmpeg run sent.
struct Capture {
    sdp: String,
    datagrams: Vec<Vec<u8>>,
}

/// What our receiver made of it.
struct Received {
    tracks: Vec<Track>,
    frames: Vec<Frame>,
    warnings: Vec<Warning>,
}

fn have_encoder(name: &str) -> bool {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-encoders"])
        .output();
    let found = out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(name));
    if !found {
        eprintln!("skipping: ffmpeg has no {name} encoder");
    }
    found
}

/// Runs ffmpeg with `args` (inputs and codec options) sending RTP to a socket
/// bound here, and collects every datagram until ffmpeg has exited and the
/// socket has been quiet for a moment.
fn capture(dir: &TempDir, args: &[&str]) -> Capture {
    capture_with_pkt_size(dir, args, 1200)
}

/// [`capture`] with another RTP packet size.
fn capture_with_pkt_size(dir: &TempDir, args: &[&str], pkt_size: usize) -> Capture {
    let (sdp, mut datagrams) = capture_ports(dir, 1, |ports| {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(["-f".into(), "rtp".into()]);
        all.push(format!("rtp://127.0.0.1:{}?pkt_size={pkt_size}", ports[0]));
        all
    });
    Capture {
        sdp,
        datagrams: datagrams.remove(0),
    }
}

/// Binds `n` sockets, runs ffmpeg with the arguments `args` gives for their
/// ports (`-sdp_file` is added), and collects the datagrams of each socket
/// until ffmpeg has exited and the sockets have been quiet for a moment.
fn capture_ports(
    dir: &TempDir,
    n: usize,
    args: impl FnOnce(&[u16]) -> Vec<String>,
) -> (String, Vec<Vec<Vec<u8>>>) {
    let sockets: Vec<UdpSocket> = (0..n).map(|_| UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
    for s in &sockets {
        s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    }
    let ports: Vec<u16> = sockets.iter().map(|s| s.local_addr().unwrap().port()).collect();
    let sdp_path = dir.path("out.sdp");
    let mut child: Child = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-re"])
        .args(args(&ports))
        .arg("-sdp_file")
        .arg(&sdp_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut datagrams = vec![Vec::new(); n];
    let mut buf = vec![0u8; 65_536];
    let mut exited = None;
    loop {
        let mut quiet = true;
        for (s, out) in sockets.iter().zip(&mut datagrams) {
            // drain what is there; a timeout means this socket is quiet
            while let Ok(len) = s.recv(&mut buf) {
                out.push(buf[..len].to_vec());
                quiet = false;
            }
        }
        if quiet && exited.is_some() {
            break;
        }
        if exited.is_none() {
            exited = child.try_wait().unwrap();
        }
        assert!(Instant::now() < deadline, "ffmpeg did not finish in time");
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (std::fs::read_to_string(&sdp_path).unwrap(), datagrams)
}

fn receive(sdp: &SessionDescription, datagrams: &[Vec<u8>]) -> Received {
    receive_tracks(sdp, &[datagrams.to_vec()])
}

/// Feeds the datagrams of track `i` (its port) to track `i`, track after track.
fn receive_tracks(sdp: &SessionDescription, per_track: &[Vec<Vec<u8>>]) -> Received {
    let mut source = Source::from_sdp(sdp, ReceiverOptions::default()).unwrap();
    for (index, datagrams) in per_track.iter().enumerate() {
        for d in datagrams {
            source.handle_datagram(index, d);
        }
    }
    source.finish();
    let mut out = Received {
        tracks: Vec::new(),
        frames: Vec::new(),
        warnings: Vec::new(),
    };
    while let Some(e) = source.poll_event() {
        match e {
            Event::Track(t) => match out.tracks.iter_mut().find(|o| o.id == t.id) {
                Some(o) => *o = t,
                None => out.tracks.push(t),
            },
            Event::Frame(f) => out.frames.push(f),
            Event::Warning(w) => out.warnings.push(w),
        }
    }
    out
}

/// ffprobe's `(codec_name, width, height, sample_rate)` of the first stream
/// and its packet count.
fn probe(path: &Path) -> (serde_json::Value, usize) {
    let out = testkit::run(
        Command::new("ffprobe")
            .args(["-v", "error", "-show_streams", "-count_packets", "-of", "json"])
            .arg(path),
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stream = json["streams"][0].clone();
    let packets = stream["nb_read_packets"].as_str().unwrap().parse().unwrap();
    (stream, packets)
}

/// ffmpeg decodes the whole file without an error.
fn decodes_cleanly(path: &Path) {
    let out = testkit::run(
        Command::new("ffmpeg")
            .args(["-v", "error", "-xerror", "-i"])
            .arg(path)
            .args(["-f", "null", "-"]),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.trim().is_empty(), "ffmpeg decode errors: {stderr}");
}

fn video_case(name: &str, encoder: &str, codec: Codec) {
    if !testkit::have_ffmpeg() || !have_encoder(encoder) {
        return;
    }
    let dir = TempDir::new(&format!("rtp-{name}"));
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-t",
        "2",
        "-c:v",
        encoder,
        "-g",
        "25",
        "-pix_fmt",
        "yuv420p",
        // parameter sets in the SDP (sprop-*) and in-band before every keyframe
        "-flags:v",
        "+global_header",
        "-bsf:v",
        "dump_extra",
        "-an",
    ];
    if encoder == "libx265" {
        args.extend(["-x265-params", "log-level=error"]);
    }
    let cap = capture(&dir, &args);
    let sdp = SessionDescription::parse(&cap.sdp).unwrap();
    assert_eq!(SessionDescription::parse(&sdp.to_string()).unwrap(), sdp);
    let configs = Source::from_session(&sdp).unwrap();
    assert_eq!(configs.len(), 1);
    assert_eq!(configs[0].codec, codec);
    assert_eq!(configs[0].clock_rate, 90_000);
    assert!(
        !configs[0].init.is_empty(),
        "no sprop parameter sets in {}",
        cap.sdp
    );
    let described = configs[0].track(1);
    let info = described.video.as_ref().unwrap();
    assert_eq!((info.width, info.height), (320, 240));

    let got = receive(&sdp, &cap.datagrams);
    eprintln!(
        "{name}: {} datagrams, {} frames, warnings {:?}",
        cap.datagrams.len(),
        got.frames.len(),
        got.warnings
    );
    assert!(got.warnings.is_empty(), "warnings: {:?}", got.warnings);
    assert_eq!(got.frames.len(), 50);
    assert!(got.frames[0].keyframe);
    assert_eq!(got.frames.iter().filter(|f| f.keyframe).count(), 2);
    assert_eq!(got.frames[0].pts.ticks(), 0);
    // decode timestamps strictly increase and never pass the presentation time
    for w in got.frames.windows(2) {
        assert!(w[0].dts.ticks() < w[1].dts.ticks());
    }
    assert!(got.frames.iter().all(|f| f.dts.ticks() <= f.pts.ticks()));
    // presentation times are the 25 fps grid
    let mut pts: Vec<i64> = got.frames.iter().map(|f| f.pts.ticks()).collect();
    pts.sort_unstable();
    assert_eq!(pts, (0..50).map(|i| i * 3600).collect::<Vec<_>>());
    // the packets seen on the wire use each packetization
    let types: Vec<u8> = cap
        .datagrams
        .iter()
        .map(|d| Packet::parse(d).unwrap())
        .map(|p| match codec {
            Codec::H264 => p.payload[0] & 0x1f,
            _ => (p.payload[0] >> 1) & 0x3f,
        })
        .collect();
    let (aggregate, fragment) = if codec == Codec::H264 { (24, 28) } else { (48, 49) };
    assert!(types.contains(&fragment), "no fragmentation units: {types:?}");
    assert!(types.contains(&aggregate), "no aggregation packets: {types:?}");

    let ts = media::ts::write_all(&got.tracks, &got.frames).unwrap();
    let path = dir.path("out.ts");
    std::fs::write(&path, ts).unwrap();
    let (stream, packets) = probe(&path);
    assert_eq!(
        stream["codec_name"],
        if codec == Codec::H264 { "h264" } else { "hevc" }
    );
    assert_eq!(stream["width"], 320);
    assert_eq!(stream["height"], 240);
    assert_eq!(packets, 50);
    decodes_cleanly(&path);
}

#[test]
fn h264_from_ffmpeg() {
    video_case("h264", "libx264", Codec::H264);
}

#[test]
fn h265_from_ffmpeg() {
    video_case("h265", "libx265", Codec::H265);
}

#[test]
fn h264_without_sprop_takes_parameter_sets_in_band() {
    if !testkit::have_ffmpeg() || !have_encoder("libx264") {
        return;
    }
    let dir = TempDir::new("rtp-h264-inband");
    let cap = capture(
        &dir,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-t",
            "1",
            "-c:v",
            "libx264",
            "-g",
            "25",
            "-pix_fmt",
            "yuv420p",
            "-an",
        ],
    );
    let sdp = SessionDescription::parse(&cap.sdp).unwrap();
    let configs = Source::from_session(&sdp).unwrap();
    assert!(configs[0].init.is_empty(), "sdp has sprop: {}", cap.sdp);
    let got = receive(&sdp, &cap.datagrams);
    assert_eq!(got.frames.len(), 25);
    let info = got.tracks[0].video.as_ref().expect("init from in-band SPS/PPS");
    assert_eq!((info.width, info.height), (320, 240));
}

fn audio_case(name: &str, encoder: &str, codec: Codec) -> Option<(TempDir, Received)> {
    if !testkit::have_ffmpeg() || !have_encoder(encoder) {
        return None;
    }
    let dir = TempDir::new(&format!("rtp-{name}"));
    let cap = capture(
        &dir,
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=1000:sample_rate=48000",
            "-t",
            "2",
            "-c:a",
            encoder,
            "-ac",
            "2",
        ],
    );
    let sdp = SessionDescription::parse(&cap.sdp).unwrap();
    assert_eq!(SessionDescription::parse(&sdp.to_string()).unwrap(), sdp);
    let configs = Source::from_session(&sdp).unwrap();
    assert_eq!(configs[0].codec, codec);
    assert_eq!(configs[0].clock_rate, 48_000);
    let got = receive(&sdp, &cap.datagrams);
    eprintln!(
        "{name}: {} datagrams, {} frames, warnings {:?}",
        cap.datagrams.len(),
        got.frames.len(),
        got.warnings
    );
    assert!(got.warnings.is_empty(), "warnings: {:?}", got.warnings);
    let audio = got.tracks[0].audio.as_ref().unwrap();
    assert_eq!((audio.sample_rate, audio.channels), (48_000, 2));
    assert!(got.frames.iter().all(|f| f.keyframe && f.dts == f.pts));
    Some((dir, got))
}

#[test]
fn aac_from_ffmpeg() {
    let Some((dir, got)) = audio_case("aac", "aac", Codec::Aac) else {
        return;
    };
    // 2 s at 48 kHz: 94 frames of 1024 samples (the last one partial)
    assert!(
        (93..=95).contains(&got.frames.len()),
        "{} frames",
        got.frames.len()
    );
    for (i, f) in got.frames.iter().enumerate() {
        assert_eq!(f.pts.ticks(), 1024 * i as i64);
    }
    let ts = media::ts::write_all(&got.tracks, &got.frames).unwrap();
    let path = dir.path("out.ts");
    std::fs::write(&path, ts).unwrap();
    let (stream, packets) = probe(&path);
    assert_eq!(stream["codec_name"], "aac");
    assert_eq!(stream["sample_rate"], "48000");
    assert_eq!(packets, got.frames.len());
    decodes_cleanly(&path);
}

#[test]
fn opus_from_ffmpeg() {
    let Some((dir, got)) = audio_case("opus", "libopus", Codec::Opus) else {
        return;
    };
    // 2 s in 20 ms packets
    assert!(
        (100..=101).contains(&got.frames.len()),
        "{} frames",
        got.frames.len()
    );
    for w in got.frames.windows(2) {
        assert_eq!(w[1].pts.ticks() - w[0].pts.ticks(), 960);
    }
    let mp4 = media::fmp4::write_all(&got.tracks, &got.frames).unwrap();
    let path = dir.path("out.mp4");
    std::fs::write(&path, mp4).unwrap();
    let (stream, packets) = probe(&path);
    assert_eq!(stream["codec_name"], "opus");
    assert_eq!(stream["channels"], 2);
    assert_eq!(packets, got.frames.len());
    decodes_cleanly(&path);
}

#[test]
fn aac_fragmented_access_units_from_ffmpeg() {
    // a tiny packet size forces ffmpeg to fragment every AAC access unit
    if !testkit::have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("rtp-aac-frag");
    let socket_args = [
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=1000:sample_rate=48000",
        "-t",
        "1",
        "-c:a",
        "aac",
        "-b:a",
        "192k",
        "-ac",
        "2",
    ];
    let cap = capture_with_pkt_size(&dir, &socket_args, 200);
    let sdp = SessionDescription::parse(&cap.sdp).unwrap();
    let packets: Vec<Packet> = cap.datagrams.iter().map(|d| Packet::parse(d).unwrap()).collect();
    assert!(packets.iter().any(|p| !p.marker), "ffmpeg did not fragment");
    let got = receive(&sdp, &cap.datagrams);
    assert!(got.warnings.is_empty(), "warnings: {:?}", got.warnings);
    assert!(
        (46..=48).contains(&got.frames.len()),
        "{} frames",
        got.frames.len()
    );
    let ts = media::ts::write_all(&got.tracks, &got.frames).unwrap();
    let path = dir.path("out.ts");
    std::fs::write(&path, ts).unwrap();
    decodes_cleanly(&path);
}

fn video_args(seconds: &str) -> Vec<&str> {
    vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-t",
        seconds,
        "-c:v",
        "libx264",
        "-g",
        "25",
        "-pix_fmt",
        "yuv420p",
        "-flags:v",
        "+global_header",
        "-an",
    ]
}

#[test]
fn h264_survives_reordering_and_loss() {
    if !testkit::have_ffmpeg() || !have_encoder("libx264") {
        return;
    }
    let dir = TempDir::new("rtp-h264-loss");
    let cap = capture(&dir, &video_args("2"));
    let sdp = SessionDescription::parse(&cap.sdp).unwrap();
    let in_order = receive(&sdp, &cap.datagrams);
    assert_eq!(in_order.frames.len(), 50);

    // neighbours swapped (the first packet stays first: it starts the sequence)
    let mut shuffled = cap.datagrams.clone();
    for i in (1..shuffled.len() - 1).step_by(3) {
        shuffled.swap(i, i + 1);
    }
    let got = receive(&sdp, &shuffled);
    assert!(got.warnings.is_empty(), "warnings: {:?}", got.warnings);
    assert_eq!(got.frames, in_order.frames);

    // the middle fragment of a fragmented non-IDR slice is lost: that NAL
    // unit, and with it that frame, is dropped; the rest goes on
    let packets: Vec<Packet> = cap.datagrams.iter().map(|d| Packet::parse(d).unwrap()).collect();
    let lost = (1..packets.len() - 1)
        .find(|&i| {
            let p = &packets[i].payload;
            p[0] & 0x1f == 28 && p[1] & 0xc0 == 0 && p[1] & 0x1f == 1
        })
        .expect("a middle fu-a fragment of a non-idr slice");
    let mut lossy = cap.datagrams.clone();
    lossy.remove(lost);
    let got = receive(&sdp, &lossy);
    eprintln!("lost packet {lost}: warnings {:?}", got.warnings);
    assert!(
        got.warnings
            .iter()
            .any(|w| matches!(w, Warning::Lost { count: 1, .. }))
    );
    assert!(
        got.warnings
            .iter()
            .any(|w| matches!(w, Warning::Depacketize(media::rtp::Error::FragmentDropped { .. })))
    );
    assert_eq!(got.frames.len(), 49);
    let ts = media::ts::write_all(&got.tracks, &got.frames).unwrap();
    let path = dir.path("lossy.ts");
    std::fs::write(&path, ts).unwrap();
    assert_eq!(probe(&path).1, 49);
}

#[test]
fn video_and_audio_in_one_sdp() {
    if !testkit::have_ffmpeg() || !have_encoder("libx264") {
        return;
    }
    let dir = TempDir::new("rtp-two-tracks");
    let (text, per_port) = capture_ports(&dir, 2, |ports| {
        let mut args: Vec<String> = [
            "-f",
            "lavfi",
            "-t",
            "1",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-t",
            "1",
            "-i",
            "sine=frequency=1000:sample_rate=48000",
            "-map",
            "0:v",
            "-c:v",
            "libx264",
            "-g",
            "25",
            "-pix_fmt",
            "yuv420p",
            "-flags:v",
            "+global_header",
            "-f",
            "rtp",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        args.push(format!("rtp://127.0.0.1:{}", ports[0]));
        args.extend(["-map", "1:a", "-c:a", "aac", "-ac", "2", "-f", "rtp"].map(String::from));
        args.push(format!("rtp://127.0.0.1:{}", ports[1]));
        args
    });
    let sdp = SessionDescription::parse(&text).unwrap();
    assert!(sdp.connection.is_none(), "ffmpeg puts c= in each media: {text}");
    let configs = Source::from_session(&sdp).unwrap();
    assert_eq!(configs.len(), 2);
    assert_eq!(
        (configs[0].codec.clone(), configs[1].codec.clone()),
        (Codec::H264, Codec::Aac)
    );
    assert!(configs.iter().all(|c| c.connection.is_some()));
    let got = receive_tracks(&sdp, &per_port);
    assert!(got.warnings.is_empty(), "warnings: {:?}", got.warnings);
    let count = |id| got.frames.iter().filter(|f| f.track == id).count();
    assert_eq!(count(1), 25);
    assert!((46..=48).contains(&count(2)), "{} audio frames", count(2));
    // interleave by time for the muxer
    let mut frames = got.frames.clone();
    frames.sort_by_key(|f| f.dts.rescale(90_000).ticks());
    let ts = media::ts::write_all(&got.tracks, &frames).unwrap();
    let path = dir.path("out.ts");
    std::fs::write(&path, ts).unwrap();
    let out = testkit::run(
        Command::new("ffprobe")
            .args(["-v", "error", "-show_streams", "-of", "json"])
            .arg(&path),
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let codecs: Vec<&str> = json["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap())
        .collect();
    assert_eq!(codecs, ["h264", "aac"]);
    decodes_cleanly(&path);
}
