//! MPEG-TS over UDP into a live stream: unicast from ffmpeg, and multicast on
//! loopback (TTL 0, so nothing leaves the machine) carrying an ffmpeg file.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use hub::{Hub, LiveStream, State};
use ingest_node::tsudp;
use media::Codec;
use testkit::{TempDir, Video, generate, have_ffmpeg};

/// Waits (polling, at most `secs`) until `cond` holds.
async fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// True once both tracks are known with their parameters (the demuxer
/// announces a track at the PMT and describes it when its first frame comes).
fn described(stream: &LiveStream) -> bool {
    let tracks = stream.tracks();
    tracks.len() == 2 && tracks.iter().all(|t| t.video.is_some() || t.audio.is_some())
}

fn assert_h264_aac(stream: &LiveStream) {
    let tracks = stream.tracks();
    let video = tracks
        .iter()
        .find(|t| t.codec == Codec::H264)
        .expect("an h264 track");
    let v = video.video.clone().expect("video info from the sps");
    assert_eq!((v.width, v.height), (320, 240));
    let audio = tracks
        .iter()
        .find(|t| t.codec == Codec::Aac)
        .expect("an aac track");
    assert_eq!(audio.audio.clone().expect("audio info").sample_rate, 48_000);
}

fn start(hub: &Hub, config: tsudp::Config) -> (Arc<LiveStream>, u16) {
    let socket = tsudp::bind(&config).unwrap();
    let port = socket.local_addr().unwrap().port();
    let stream = hub.stream("udp");
    tokio::spawn(tsudp::run(socket, stream.clone(), config.rtp));
    (stream, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unicast_from_ffmpeg_goes_live_then_offline() {
    if !have_ffmpeg() {
        return;
    }
    let hub = Hub::default();
    let bind: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (stream, port) = start(
        &hub,
        tsudp::Config {
            bind,
            group: None,
            iface: None,
            rtp: false,
        },
    );
    let mut ffmpeg = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            testkit::TESTSRC,
            "-f",
            "lavfi",
            "-i",
            testkit::SINE,
        ])
        .args([
            "-t", "3", "-c:v", "libx264", "-g", "25", "-c:a", "aac", "-f", "mpegts",
        ])
        .arg(format!("udp://127.0.0.1:{port}?pkt_size=1316"))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(10, "the stream to go live", || {
        stream.state() == State::Live && described(&stream)
    })
    .await;
    assert_h264_aac(&stream);
    let mut sub = stream.subscribe();
    let first = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let hub::Event::Frame(f) = sub.next().await {
                return f;
            }
        }
    })
    .await
    .expect("a frame within 5 s");
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
    wait_for(10, "the stream to go live", || {
        stream.state() == State::Live && described(&stream)
    })
    .await;
    assert_h264_aac(&stream);
    assert!(stream.stats().frames > 10, "frames arrived: {:?}", stream.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ts_in_rtp_from_ffmpeg() {
    if !have_ffmpeg() {
        return;
    }
    let hub = Hub::default();
    let bind: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (stream, port) = start(
        &hub,
        tsudp::Config {
            bind,
            group: None,
            iface: None,
            rtp: true,
        },
    );
    let mut ffmpeg = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            testkit::TESTSRC,
            "-f",
            "lavfi",
            "-i",
            testkit::SINE,
        ])
        .args([
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-g",
            "25",
            "-c:a",
            "aac",
            "-f",
            "rtp_mpegts",
        ])
        .arg(format!("rtp://127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(10, "the stream to go live", || {
        stream.state() == State::Live && described(&stream)
    })
    .await;
    assert_h264_aac(&stream);
    assert!(ffmpeg.wait().unwrap().success());
}
