//! RIST against Debian's `rist-tools`: `ristsender` into our input (we
//! listen, or we call it listening), our push into `ristreceiver` (it
//! listens, or it calls our listening push), bad URLs and garbage on a RIST
//! port. ffmpeg makes the H.264 + AAC MPEG-TS.
#![cfg(feature = "rist")]

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hub::{Hub, LiveStream};
use ingest_node::push::PushError;
use media::container::Format;
use support::{Proc, assert_h264_aac, assert_tracks_h264_aac, first_frame, job, live, wait_for};
use testkit::{ffmpeg_push, free_udp_port, have_ffmpeg};

mod support;

/// True when ffmpeg and both rist-tools run; otherwise prints why the test skips.
fn have_tools() -> bool {
    let rist = ["ristsender", "ristreceiver"].iter().all(|bin| {
        let ok = Command::new(bin).arg("-h").output().is_ok();
        if !ok {
            eprintln!("skipping: {bin} is not installed (Debian rist-tools; make test installs it)");
        }
        ok
    });
    rist && have_ffmpeg()
}

fn quiet(cmd: &mut Command) -> Proc {
    Proc(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// `ristsender` from a UDP port to `output`; its UDP input port.
fn ristsender(output: &str) -> (Proc, u16) {
    let udp = free_udp_port();
    let p = quiet(Command::new("ristsender").args([
        "-i",
        &format!("udp://127.0.0.1:{udp}"),
        "-o",
        output,
        "-S",
        "0",
        "-v",
        "3",
    ]));
    (p, udp)
}

fn rist_source(url: &str) -> spec::source::RistSource {
    match spec::Source::parse(url).unwrap() {
        spec::Source::Rist(r) => r,
        other => panic!("{other:?}"),
    }
}

/// Our input on `url`, fed by ffmpeg through `ristsender` (to `sender_out`):
/// the stream goes live with H.264 + AAC and a subscriber gets a keyframe first.
async fn input_goes_live(url: &str, sender_out: &str) {
    let hub = Hub::default();
    let stream = hub.stream("rist");
    let input = tokio::spawn(ingest_node::rist::run(rist_source(url), stream.clone()));
    let (_sender, udp) = ristsender(sender_out);
    let _ffmpeg = Proc(
        ffmpeg_push(&format!("udp://127.0.0.1:{udp}?pkt_size=1316"), "mpegts", "8")
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(12, "the stream to go live", || live(&stream)).await;
    assert_h264_aac(&stream);
    let first = first_frame(&stream).await;
    assert!(first.keyframe, "a new viewer starts on a keyframe");
    assert!(!input.is_finished(), "the input keeps running");
    input.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_listener_from_ristsender() {
    if !have_tools() {
        return;
    }
    let port = free_udp_port();
    input_goes_live(
        &format!("rist://@127.0.0.1:{port}"),
        &format!("rist://127.0.0.1:{port}"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_caller_to_listening_ristsender() {
    if !have_tools() {
        return;
    }
    let port = free_udp_port();
    input_goes_live(
        &format!("rist://127.0.0.1:{port}"),
        &format!("rist://@127.0.0.1:{port}"),
    )
    .await;
}

/// A stream fed by ffmpeg over TS/UDP for `secs` seconds, live.
async fn live_stream(hub: &Hub, secs: &str) -> (Arc<LiveStream>, Proc) {
    let config = ingest_node::tsudp::Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        group: None,
        iface: None,
        rtp: false,
    };
    let socket = ingest_node::tsudp::bind(&config).unwrap();
    let port = socket.local_addr().unwrap().port();
    let stream = hub.stream("src");
    tokio::spawn(ingest_node::tsudp::run(socket, stream.clone(), false));
    let ffmpeg = Proc(
        ffmpeg_push(&format!("udp://127.0.0.1:{port}?pkt_size=1316"), "mpegts", secs)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(10, "the source stream to go live", || live(&stream)).await;
    (stream, ffmpeg)
}

/// Reads the UDP datagrams `ristreceiver` writes for `secs` seconds.
async fn collect(socket: UdpSocket, secs: u64) -> Vec<u8> {
    tokio::task::spawn_blocking(move || {
        socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while std::time::Instant::now() < deadline {
            if let Ok(n) = socket.recv(&mut buf) {
                out.extend_from_slice(&buf[..n]);
            }
        }
        out
    })
    .await
    .unwrap()
}

/// Our push to `target`, received by `ristreceiver -i receiver_in`: H.264 + AAC
/// frames come out of it, and the push ends Ok with its stream.
async fn push_reaches_ristreceiver(target: &str, receiver_in: &str) {
    let hub = Hub::default();
    let (stream, mut ffmpeg) = live_stream(&hub, "6").await;
    let out = UdpSocket::bind("127.0.0.1:0").unwrap();
    let out_port = out.local_addr().unwrap().port();
    let _receiver = quiet(Command::new("ristreceiver").args([
        "-i",
        receiver_in,
        "-o",
        &format!("udp://127.0.0.1:{out_port}"),
        "-S",
        "0",
        "-v",
        "3",
    ]));
    let job = job(&stream, target);
    let bytes = job.bytes.clone();
    let push = tokio::spawn(async move { ingest_node::push::rist::run(&job).await });
    let ts = collect(out, 4).await;
    assert!(
        ts.len() > 50_000,
        "only {} bytes came out of ristreceiver",
        ts.len()
    );
    let demuxed = media::container::demux(Format::Ts, &ts).unwrap();
    assert_tracks_h264_aac(&demuxed.tracks);
    assert!(
        demuxed
            .frames
            .iter()
            .any(|f| f.keyframe && f.track == demuxed.tracks[0].id),
        "a keyframe came through"
    );
    assert!(bytes.load(Ordering::Relaxed) >= ts.len() as u64 / 2);
    // the stream ends (ffmpeg exits, the ts/udp source goes silent, then the offline grace)
    assert_eq!(ffmpeg.exited(10).await, Some(true));
    let result = tokio::time::timeout(Duration::from_secs(25), push)
        .await
        .expect("the push ends after its stream")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_caller_to_listening_ristreceiver() {
    if !have_tools() {
        return;
    }
    let port = free_udp_port();
    push_reaches_ristreceiver(
        &format!("rist://127.0.0.1:{port}"),
        &format!("rist://@127.0.0.1:{port}"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_listener_called_by_ristreceiver() {
    if !have_tools() {
        return;
    }
    let port = free_udp_port();
    push_reaches_ristreceiver(
        &format!("rist://@127.0.0.1:{port}"),
        &format!("rist://127.0.0.1:{port}"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_caller_without_receiver_fails() {
    if !have_ffmpeg() {
        return;
    }
    let hub = Hub::default();
    let (stream, _ffmpeg) = live_stream(&hub, "20").await;
    let port = free_udp_port();
    let job = job(&stream, &format!("rist://127.0.0.1:{port}"));
    let result = tokio::time::timeout(Duration::from_secs(20), ingest_node::push::rist::run(&job))
        .await
        .expect("the push gives up");
    match result {
        Err(PushError::Failed(e)) => assert!(e.contains("no RIST receiver answered"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn bad_urls_are_clear_errors() {
    let hub = Hub::default();
    let stream = hub.stream("s");
    for target in ["rist://127.0.0.1", "rist://h:1/x", "srt://h:1"] {
        match ingest_node::push::rist::run(&job(&stream, target)).await {
            Err(PushError::BadTarget(e)) => assert!(e.contains(target), "{e}"),
            other => panic!("{target}: {other:?}"),
        }
    }
    // a source URL librist cannot bind: an error, not a panic
    let e = ingest_node::rist::run(rist_source("rist://@192.0.2.1:1"), stream.clone())
        .await
        .unwrap_err();
    assert!(e.contains("rist input"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_rist_port_does_not_go_live() {
    let port = free_udp_port();
    let hub = Hub::default();
    let stream = hub.stream("g");
    let input = tokio::spawn(ingest_node::rist::run(
        rist_source(&format!("rist://@127.0.0.1:{port}")),
        stream.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..2000u32 {
        let mut junk = vec![(i % 251) as u8; (i as usize * 37) % 1500 + 1];
        junk[0] = [0x80, 0x47, 0x00, 0xff][i as usize % 4];
        socket.send_to(&junk, ("127.0.0.1", port)).unwrap();
        socket.send_to(&junk, ("127.0.0.1", port + 1)).unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!input.is_finished(), "the input survives garbage");
    assert_eq!(stream.state(), hub::State::Offline, "garbage publishes nothing");
    input.abort();
}
