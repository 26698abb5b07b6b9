//! MPEG-TS over UDP into a live stream: unicast from ffmpeg, and multicast on
//! loopback (TTL 0, so nothing leaves the machine) carrying an ffmpeg file.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Stdio;
use std::sync::Arc;

use hub::{Hub, LiveStream, State};
use ingest_node::tsudp;
use support::{assert_h264_aac, first_frame, live, wait_for};
use testkit::{TempDir, Video, ffmpeg_push, generate, have_ffmpeg};

mod support;

fn start(hub: &Hub, config: tsudp::Config) -> (Arc<LiveStream>, u16) {
    let socket = tsudp::bind(&config).unwrap();
    let port = socket.local_addr().unwrap().port();
    let stream = hub.stream("udp");
    tokio::spawn(tsudp::run(socket, stream.clone(), config.rtp));
    (stream, port)
}

/// A unicast input on a free loopback port.
fn start_loopback(hub: &Hub, rtp: bool) -> (Arc<LiveStream>, u16) {
    let bind: SocketAddr = "127.0.0.1:0".parse().unwrap();
    start(
        hub,
        tsudp::Config {
            bind,
            group: None,
            iface: None,
            rtp,
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unicast_from_ffmpeg_goes_live_then_offline() {
    if !have_ffmpeg() {
        return;
    }
    let hub = Hub::default();
    let (stream, port) = start_loopback(&hub, false);
    let mut ffmpeg = ffmpeg_push(&format!("udp://127.0.0.1:{port}?pkt_size=1316"), "mpegts", "3")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(10, "the stream to go live", || live(&stream)).await;
    assert_h264_aac(&stream);
    let first = first_frame(&stream).await;
    assert!(first.keyframe, "a new viewer starts on a keyframe");
    assert!(ffmpeg.wait().unwrap().success());
    // silent for SOURCE_IDLE_TIMEOUT: offline
    wait_for(8, "the stream to go offline", || stream.state() == State::Offline).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multicast_group_on_loopback() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("tsudp-mcast");
    let file = dir.path("m.ts");
    generate(&file, Video::H264);
    let data = std::fs::read(&file).unwrap();
    let group = Ipv4Addr::new(239, 255, 42, 7);
    let hub = Hub::default();
    let bind: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let config = tsudp::Config {
        bind,
        group: Some(group.into()),
        iface: Some(Ipv4Addr::LOCALHOST),
        rtp: false,
    };
    let (stream, port) = start(&hub, config);
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket2::SockRef::from(&sender)
        .set_multicast_if_v4(&Ipv4Addr::LOCALHOST)
        .unwrap();
    sender.set_multicast_ttl_v4(0).unwrap();
    let send = tokio::task::spawn_blocking(move || {
        for chunk in data.chunks(1316) {
            sender.send_to(chunk, (group, port)).unwrap();
            std::thread::yield_now();
        }
    });
    send.await.unwrap();
    wait_for(10, "the stream to go live", || live(&stream)).await;
    assert_h264_aac(&stream);
    assert!(stream.stats().frames > 10, "frames arrived: {:?}", stream.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ts_in_rtp_from_ffmpeg() {
    if !have_ffmpeg() {
        return;
    }
    let hub = Hub::default();
    let (stream, port) = start_loopback(&hub, true);
    let mut ffmpeg = ffmpeg_push(&format!("rtp://127.0.0.1:{port}"), "rtp_mpegts", "3")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(10, "the stream to go live", || live(&stream)).await;
    assert_h264_aac(&stream);
    assert!(ffmpeg.wait().unwrap().success());
}
