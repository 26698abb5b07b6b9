//! Fan-out to several viewers of one stream: the loop writes each frame's
//! first packet to every viewer, then the rest in chunks, and lets newer
//! frames (audio packets every 20 ms) start out between those chunks. Every
//! viewer must still get whole video frames, in order, and all its audio.
//! The viewers are str0m sessions that decrypt and depacketize what they
//! get and send feedback, as browsers do; they are spread over three run
//! loops.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hub::Hub;
use support::{Intake, Seen};
use webrtc::server::{Config, Server};

const VIEWERS: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_viewer_gets_whole_frames_while_newer_frames_cut_into_a_fan_out() {
    let hub = Arc::new(Hub::default());
    // Three loops: the viewers' sessions spread over them, and datagrams
    // reach loops 1 and 2 through loop 0, which has the port.
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        loops: 3,
        ..Config::default()
    };
    let server = Server::bind(config, hub.clone(), Arc::new(|_, _, _| Ok(())))
        .await
        .expect("bind");
    // Viewers join as the stream starts: its first keyframe alone must not
    // pass for its bitrate (which would hold them back to keyframes).
    let publishing = support::publish(&hub, "cam");
    let seen: Vec<Arc<Seen>> = (0..VIEWERS).map(|_| Arc::new(Seen::default())).collect();
    let viewers: Vec<_> = seen
        .iter()
        .map(|s| {
            tokio::spawn(support::view(
                server.clone(),
                "cam".into(),
                Intake::Full,
                s.clone(),
                None,
            ))
        })
        .collect();
    let connected = || seen.iter().all(|s| s.connected.load(Ordering::Relaxed));
    for _ in 0..100 {
        if connected() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(connected(), "all {VIEWERS} viewers connect");

    // Counted over 4.5 s, which hold two or three keyframes (one every 2 s),
    // each written to the viewers in many chunks (55 packets per viewer).
    let video = |s: &Seen| s.video_frames.load(Ordering::Relaxed);
    let audio = |s: &Seen| s.audio_frames.load(Ordering::Relaxed);
    let received = || seen.iter().map(|s| video(s) + audio(s)).sum::<u64>();
    let start: Vec<(u64, u64)> = seen.iter().map(|s| (video(s), audio(s))).collect();
    let (received_before, written_before) = (received(), server.stats.frames_out.load(Ordering::Relaxed));
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let (received_after, written_after) = (received(), server.stats.frames_out.load(Ordering::Relaxed));
    // 112 video frames and 225 audio packets were published meanwhile.
    // Video frames held back from a viewer whose bandwidth estimate fell
    // (its delay grows when this machine is busy) are not written to it;
    // everything written must arrive, whole, and audio is never held back.
    let (received, written) = (received_after - received_before, written_after - written_before);
    assert!(
        written >= (VIEWERS * 200) as u64,
        "{written} frames written to the viewers"
    );
    assert!(
        received * 100 >= written * 97,
        "{received} of the {written} frames written were received"
    );
    for (i, (s, (v0, a0))) in seen.iter().zip(&start).enumerate() {
        let (v, a) = (video(s) - v0, audio(s) - a0);
        assert!(a >= 200, "viewer {i}: {a} audio frames in 4.5 s");
        assert!(v >= 2, "viewer {i}: {v} video frames in 4.5 s");
        assert_eq!(
            s.partial_video.load(Ordering::Relaxed),
            0,
            "viewer {i}: a video frame was not whole"
        );
    }
    publishing.abort();
    for v in viewers {
        v.abort();
    }
}

/// A viewer's keyframe request reaches a WHIP publisher whose session is on
/// another run loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewers_keyframe_request_reaches_a_publisher_on_another_loop() {
    let hub = Arc::new(Hub::default());
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        loops: 2,
        // No periodic requests: every request the publisher gets is a viewer's.
        keyframe_interval: Duration::from_secs(3600),
        ..Config::default()
    };
    let server = Server::bind(config, hub.clone(), Arc::new(|_, _, _| Ok(())))
        .await
        .expect("bind");
    // Sessions 1 (the publisher) and 2 (the viewer) are on loops 1 and 0.
    let published = Arc::new(support::Published::default());
    let publisher = tokio::spawn(support::whip(server.clone(), "cam".into(), published.clone()));
    let live = || hub.get("cam").is_some_and(|s| s.state() == hub::State::Live);
    for _ in 0..100 {
        if live() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(live(), "the WHIP publisher's stream is live");
    let seen = Arc::new(Seen::default());
    let viewer = tokio::spawn(support::view(
        server.clone(),
        "cam".into(),
        Intake::Full,
        seen.clone(),
        None,
    ));
    for _ in 0..100 {
        if seen.video_frames.load(Ordering::Relaxed) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        seen.video_frames.load(Ordering::Relaxed) > 0,
        "the viewer plays the published video"
    );

    let before = published.keyframe_requests.load(Ordering::Relaxed);
    seen.ask_keyframe.store(true, Ordering::Relaxed);
    let mut after = before;
    for _ in 0..50 {
        after = published.keyframe_requests.load(Ordering::Relaxed);
        if after > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !seen.ask_keyframe.load(Ordering::Relaxed),
        "the viewer sent its request"
    );
    assert!(
        after > before,
        "the publisher got the viewer's keyframe request ({before} before, {after} after)"
    );
    publisher.abort();
    viewer.abort();
}
