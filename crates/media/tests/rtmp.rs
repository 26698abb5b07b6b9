//! RTMP ingest against a real publisher: ffmpeg pushes to a
//! [`ServerSession`] driven over a blocking TCP socket, and the audio/video
//! it sends comes out of [`flv::Demuxer`] as H.264 and AAC frames.
//! The frames are then written to an FLV file that ffprobe decodes.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use media::rtmp::{ServerConfig, ServerSession, SessionEvent};
use media::{Codec, Frame, Track, flv};

/// How long a test may take before it is a failure, not a hang.
const DEADLINE: Duration = Duration::from_secs(60);

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

/// ffmpeg publishing 3 s of 320x240 25 fps H.264 and AAC to `url`, as fast as it can.
fn publish(url: &str) -> Child {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostats", "-nostdin"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000"])
        .args([
            "-t", "3", "-c:v", "libx264", "-g", "25", "-bf", "2", "-c:a", "aac",
        ])
        .args(["-f", "flv", url])
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
fn serve(
    mut stream: TcpStream,
    decide: impl Fn(&str, Option<&str>) -> Result<(), String>,
) -> Vec<SessionEvent> {
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

fn wait(mut child: Child) -> (std::process::ExitStatus, String) {
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

#[test]
fn ffmpeg_publishes_h264_and_aac() {
    if !have_ffmpeg() {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut child = publish(&format!("rtmp://127.0.0.1:{port}/live/cam1?key=secret"));
    let Some(stream) = accept(&listener, &mut child) else {
        let (status, err) = wait(child);
        panic!("ffmpeg never connected ({status}): {err}");
    };
    let server = std::thread::spawn(move || {
        serve(stream, |name, key| {
            if (name, key) == ("cam1", Some("secret")) {
                Ok(())
            } else {
                Err(format!("unexpected {name} {key:?}"))
            }
        })
    });
    let events = server.join().unwrap();
    let (status, err) = wait(child);
    assert!(status.success(), "ffmpeg failed: {err}");

    assert!(
        matches!(&events[0], SessionEvent::Connect { app, tc_url: Some(t) }
        if app == "live" && t == &format!("rtmp://127.0.0.1:{port}/live"))
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
    assert!(
        events
            .iter()
            .any(|e| matches!(e, SessionEvent::Metadata(m) if m.width == Some(320.0)))
    );

    // the bodies through the FLV demuxer
    let mut demuxer = flv::Demuxer::new();
    let mut tracks: Vec<Track> = Vec::new();
    let mut frames: Vec<Frame> = Vec::new();
    for e in &events {
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
    let tail: Vec<_> = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                SessionEvent::Unpublish { .. } | SessionEvent::DeleteStream { .. } | SessionEvent::Closed
            )
        })
        .collect();
    assert_eq!(
        tail,
        [
            &SessionEvent::Unpublish {
                stream_name: "cam1".into()
            },
            &SessionEvent::DeleteStream { stream_id: 1 },
            &SessionEvent::Closed
        ]
    );
    assert_eq!(events.last(), Some(&SessionEvent::Closed));

    // what we received decodes: write it as FLV and let ffprobe count frames
    let file = std::env::temp_dir().join(format!("tributary-rtmp-{}.flv", std::process::id()));
    std::fs::write(&file, flv::write_all(&tracks, &frames).unwrap()).unwrap();
    let probed = probe_video_frames(&file);
    let _ = std::fs::remove_file(&file);
    assert_eq!(probed, (75, 320, 240));
}

/// (decoded frames, width, height) of the video stream, per ffprobe.
fn probe_video_frames(file: &PathBuf) -> (u64, u64, u64) {
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

#[test]
fn rejected_publish_makes_ffmpeg_fail() {
    if !have_ffmpeg() {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut child = publish(&format!("rtmp://127.0.0.1:{port}/live/cam1?key=wrong"));
    let Some(stream) = accept(&listener, &mut child) else {
        let (status, err) = wait(child);
        panic!("ffmpeg never connected ({status}): {err}");
    };
    let server = std::thread::spawn(move || serve(stream, |_, _| Err("bad stream key".into())));
    let events = server.join().unwrap();
    let (status, err) = wait(child);
    assert!(!status.success(), "ffmpeg should fail");
    assert!(err.contains("bad stream key"), "ffmpeg says: {err}");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, SessionEvent::Publish { key: Some(k), .. } if k == "wrong"))
    );
    assert!(!events.iter().any(|e| matches!(
        e,
        SessionEvent::Video { .. } | SessionEvent::Audio { .. } | SessionEvent::Unpublish { .. }
    )));
    assert_eq!(events.last(), Some(&SessionEvent::Closed));
}
