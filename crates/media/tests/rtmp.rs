//! RTMP ingest against a real publisher: ffmpeg pushes to a
//! [`ServerSession`] driven over a blocking TCP socket, and the audio/video
//! it sends comes out of [`flv::Demuxer`] as H.264 and AAC frames.
//!
//! The frames are compared with ffprobe's packets of the same encode written
//! to an FLV file (x264 and ffmpeg's AAC encoder are deterministic), and
//! written back to FLV for ffprobe to decode.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use media::rtmp::{ServerConfig, ServerSession, SessionEvent};
use media::{Codec, Frame, Track, flv};

/// How long a test may take before it is a failure, not a hang.
const DEADLINE: Duration = Duration::from_secs(60);

/// A decision on a publish request: stream name and key in, reject reason out.
type Decide = fn(&str, Option<&str>) -> Result<(), String>;

fn have_ffmpeg() -> bool {
    let ok = |bin: &str| {
        Command::new(bin)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ok("ffmpeg") && ok("ffprobe") {
        true
    } else {
        eprintln!("skipping: ffmpeg/ffprobe not installed");
        false
    }
}

fn temp_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tributary-rtmp-{}-{name}", std::process::id()))
}

/// ffmpeg writing `secs` s of 320x240 25 fps H.264 and 48 kHz AAC as FLV to
/// `url` (an RTMP URL or a file), as fast as it can.
fn ffmpeg(url: &str, secs: u32) -> Child {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostats", "-nostdin", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000"])
        .args(["-t", &secs.to_string()])
        .args([
            // one encoder thread: the reference encode must be byte-identical
            "-c:v", "libx264", "-threads", "1", "-g", "25", "-bf", "2", "-c:a", "aac", "-f", "flv",
        ])
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ffmpeg")
}

/// Accepts one connection (giving up when `child` exits first or at the deadline).
fn accept(listener: &TcpListener, child: &mut Child) -> Option<TcpStream> {
    listener.set_nonblocking(true).unwrap();
    let start = Instant::now();
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                return Some(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if child.try_wait().unwrap().is_some() || start.elapsed() > DEADLINE {
                    return None;
                }
                std::thread::park_timeout(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Drives a session over `stream` until the peer closes; `decide` answers
/// the publish request. Returns every event.
fn serve(mut stream: TcpStream, decide: Decide) -> Vec<SessionEvent> {
    let mut session = ServerSession::new(ServerConfig::default());
    let mut events = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < DEADLINE, "session took too long");
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            // ffmpeg may reset the connection after a rejection
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
            Err(e) => panic!("read: {e}"),
        };
        if n == 0 {
            session.handle_eof();
        } else if let Err(e) = session.handle_input(&buf[..n]) {
            panic!("session error: {e}");
        }
        while let Some(e) = session.poll_event() {
            if let SessionEvent::Publish { stream_name, key, .. } = &e {
                match decide(stream_name, key.as_deref()) {
                    Ok(()) => session.accept_publish().unwrap(),
                    Err(reason) => session.reject_publish(&reason).unwrap(),
                }
            }
            events.push(e);
        }
        while let Some(out) = session.poll_output() {
            // the peer may be gone already
            if stream.write_all(&out).is_err() {
                break;
            }
        }
        if session.is_closed() {
            return events;
        }
    }
}

fn wait(mut child: Child) -> (ExitStatus, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                e.read_to_string(&mut err).unwrap();
            }
            return (status, err);
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("ffmpeg did not exit");
        }
        std::thread::park_timeout(Duration::from_millis(20));
    }
}

/// What one publish did: the session's events and ffmpeg's end.
struct Run {
    events: Vec<SessionEvent>,
    status: ExitStatus,
    stderr: String,
    port: u16,
}

/// ffmpeg publishes to `rtmp://127.0.0.1:PORT/{path}` on a fresh listener.
fn run_publish(path: &str, secs: u32, decide: Decide) -> Run {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut child = ffmpeg(&format!("rtmp://127.0.0.1:{port}/{path}"), secs);
    let Some(stream) = accept(&listener, &mut child) else {
        let (status, err) = wait(child);
        panic!("ffmpeg never connected ({status}): {err}");
    };
    let server = std::thread::spawn(move || serve(stream, decide));
    let events = server.join().unwrap();
    let (status, stderr) = wait(child);
    Run {
        events,
        status,
        stderr,
        port,
    }
}

/// Tracks and frames from the session's audio/video events, through [`flv::Demuxer`].
fn demux(events: &[SessionEvent]) -> (Vec<Track>, Vec<Frame>) {
    let mut demuxer = flv::Demuxer::new();
    let mut tracks = Vec::new();
    let mut frames = Vec::new();
    for e in events {
        let r = match e {
            SessionEvent::Video { timestamp_ms, body } => demuxer.handle_video(*timestamp_ms, body),
            SessionEvent::Audio { timestamp_ms, body } => demuxer.handle_audio(*timestamp_ms, body),
            _ => continue,
        };
        match r.expect("ffmpeg's bodies demux") {
            Some(flv::Event::Track(t)) => tracks.push(t),
            Some(flv::Event::Frame(f)) => frames.push(f),
            _ => {}
        }
    }
    (tracks, frames)
}

/// (codec_type, pts, dts, keyframe, size) per packet, per ffprobe.
type Packet = (String, i64, i64, bool, usize);

fn ffprobe_packets(file: &Path) -> Vec<Packet> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_packets", "-of", "json"])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["packets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["codec_type"].as_str().unwrap().to_owned(),
                p["pts"].as_i64().unwrap(),
                p["dts"].as_i64().unwrap(),
                p["flags"].as_str().unwrap().contains('K'),
                p["size"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

/// (decoded frames, width, height) of the video stream, per ffprobe.
fn probe_video_frames(file: &Path) -> (u64, u64, u64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=nb_read_frames,width,height",
            "-of",
            "json",
        ])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &json["streams"][0];
    (
        s["nb_read_frames"].as_str().unwrap().parse().unwrap(),
        s["width"].as_u64().unwrap(),
        s["height"].as_u64().unwrap(),
    )
}

fn only_cam1_secret(name: &str, key: Option<&str>) -> Result<(), String> {
    if (name, key) == ("cam1", Some("secret")) {
        Ok(())
    } else {
        Err(format!("unexpected {name} {key:?}"))
    }
}

#[test]
fn ffmpeg_publishes_h264_and_aac() {
    if !have_ffmpeg() {
        return;
    }
    let run = run_publish("live/cam1?key=secret", 3, only_cam1_secret);
    assert!(run.status.success(), "ffmpeg failed: {}", run.stderr);
    let events = &run.events;
    let tc_url = format!("rtmp://127.0.0.1:{}/live", run.port);
    assert_eq!(
        events[0],
        SessionEvent::Connect {
            app: "live".into(),
            tc_url: Some(tc_url)
        }
    );
    let publish = events.iter().find(|e| matches!(e, SessionEvent::Publish { .. }));
    assert_eq!(
        publish,
        Some(&SessionEvent::Publish {
            app: "live".into(),
            stream_name: "cam1".into(),
            key: Some("secret".into()),
            publishing_type: "live".into(),
        })
    );
    let has_metadata = |e: &SessionEvent| matches!(e, SessionEvent::Metadata(m) if m.width == Some(320.0));
    assert!(events.iter().any(has_metadata));

    // the bodies through the FLV demuxer
    let (tracks, frames) = demux(events);
    let video = tracks
        .iter()
        .find(|t| t.codec == Codec::H264)
        .expect("h264 track");
    let info = video.video.as_ref().expect("video info");
    assert_eq!((info.width, info.height), (320, 240));
    let audio = tracks.iter().find(|t| t.codec == Codec::Aac).expect("aac track");
    assert_eq!(audio.audio.as_ref().map(|a| a.sample_rate), Some(48000));
    let count = |id| frames.iter().filter(|f| f.track == id).count();
    let (nv, na) = (count(video.id), count(audio.id));
    assert_eq!(nv, 75, "3 s at 25 fps");
    // 3 s of 1024-sample frames at 48 kHz: 140.6
    assert!((140..=142).contains(&na), "{na} audio frames");
    let keyframes = frames
        .iter()
        .filter(|f| f.track == video.id && f.keyframe)
        .count();
    assert_eq!(keyframes, 3, "-g 25");

    // the end: FCUnpublish, deleteStream, then the connection closes
    let is_end = |e: &&SessionEvent| {
        matches!(
            e,
            SessionEvent::Unpublish { .. } | SessionEvent::DeleteStream { .. } | SessionEvent::Closed
        )
    };
    let tail: Vec<_> = events.iter().filter(is_end).cloned().collect();
    let expected = [
        SessionEvent::Unpublish {
            stream_name: "cam1".into(),
        },
        SessionEvent::DeleteStream { stream_id: 1 },
        SessionEvent::Closed,
    ];
    assert_eq!(tail, expected);
    assert_eq!(events.last(), Some(&SessionEvent::Closed));

    // the same encode into a file: ffprobe's packets are our frames
    let reference = temp_file("reference.flv");
    let (status, err) = wait(ffmpeg(reference.to_str().unwrap(), 3));
    assert!(status.success(), "{err}");
    let probed = ffprobe_packets(&reference);
    let _ = std::fs::remove_file(&reference);
    let ours: Vec<Packet> = frames
        .iter()
        .map(|f| {
            let kind = if f.track == video.id { "video" } else { "audio" };
            (
                kind.to_owned(),
                f.pts.ticks(),
                f.dts.ticks(),
                f.keyframe,
                f.data.len(),
            )
        })
        .collect();
    for kind in ["video", "audio"] {
        let pick = |v: &[Packet]| v.iter().filter(|p| p.0 == kind).cloned().collect::<Vec<_>>();
        assert_eq!(pick(&ours), pick(&probed), "{kind} packets");
    }

    // what we received decodes: written as FLV, ffprobe decodes every frame
    let file = temp_file("received.flv");
    std::fs::write(&file, flv::write_all(&tracks, &frames).unwrap()).unwrap();
    let decoded = probe_video_frames(&file);
    let _ = std::fs::remove_file(&file);
    assert_eq!(decoded, (75, 320, 240));
}

#[test]
fn rejected_publish_makes_ffmpeg_fail() {
    if !have_ffmpeg() {
        return;
    }
    let run = run_publish("live/cam1?key=wrong", 3, |_, _| Err("bad stream key".into()));
    assert!(!run.status.success(), "ffmpeg should fail");
    assert!(
        run.stderr.contains("bad stream key"),
        "ffmpeg says: {}",
        run.stderr
    );
    let events = &run.events;
    let wrong_key =
        |e: &SessionEvent| matches!(e, SessionEvent::Publish { key: Some(k), .. } if k == "wrong");
    assert!(events.iter().any(wrong_key));
    let media_or_unpublish = |e: &SessionEvent| {
        matches!(
            e,
            SessionEvent::Video { .. } | SessionEvent::Audio { .. } | SessionEvent::Unpublish { .. }
        )
    };
    assert!(!events.iter().any(media_or_unpublish));
    assert_eq!(events.last(), Some(&SessionEvent::Closed));
}

#[test]
fn key_in_app_and_nested_app() {
    if !have_ffmpeg() {
        return;
    }
    // OBS style "server rtmp://HOST/live?key=K": ffmpeg sends app "live?key=K" and name "cam2";
    // "rtmp://HOST/a/b/cam2": app "a/b"
    for (path, app, key) in [
        ("live?key=k2/cam2", "live", Some("k2")),
        ("a/b/cam2", "a/b", None),
    ] {
        let run = run_publish(path, 1, |_, _| Ok(()));
        assert!(run.status.success(), "ffmpeg failed: {}", run.stderr);
        let publish = run
            .events
            .iter()
            .find(|e| matches!(e, SessionEvent::Publish { .. }));
        let expected = SessionEvent::Publish {
            app: app.into(),
            stream_name: "cam2".into(),
            key: key.map(Into::into),
            publishing_type: "live".into(),
        };
        assert_eq!(publish, Some(&expected), "{path}");
        let (tracks, frames) = demux(&run.events);
        assert_eq!(tracks.len(), 2);
        assert_eq!(
            frames.iter().filter(|f| f.track == flv::VIDEO_TRACK_ID).count(),
            25
        );
    }
}
