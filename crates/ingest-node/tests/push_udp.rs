//! Pushes over UDP against real peers: `tsrtp://` with SMPTE 2022-1 FEC
//! through a lossy capture (recovered with `media::fec`) and into ffmpeg,
//! `tsudp://` into ffmpeg and to a loopback multicast group, `rtp://` with
//! an SDP file that ffmpeg decodes; bad targets.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use hub::{Hub, LiveStream, Publisher};
use ingest_node::push::{Job, PushError};
use media::container::Demuxed;
use media::{Codec, Track};
use support::{Proc, feed_looped, job, ts_sample};
use testkit::{TempDir, have_ffmpeg};

mod support;

/// Runs the push target module of `job`'s scheme.
async fn run_target(job: &Job) -> Result<(), PushError> {
    if job.target.starts_with("rtp://") {
        ingest_node::push::rtp::run(job).await
    } else {
        ingest_node::push::tsudp::run(job).await
    }
}

/// Starts the push in a task.
fn start(job: &Job) -> tokio::task::JoinHandle<Result<(), PushError>> {
    let job = job.clone();
    tokio::spawn(async move { run_target(&job).await })
}

/// A free even port `p` with `p + 1` to `p + 5` free too; the sockets bound
/// on `p`, `p + 2` and `p + 4` are returned when `bind` is set.
fn port_range(bind: bool) -> (u16, Vec<UdpSocket>) {
    loop {
        let p = testkit::free_udp_port() & !1;
        if !(1024..=65_000).contains(&p) {
            continue;
        }
        let sockets: Vec<UdpSocket> = [p, p + 2, p + 4]
            .iter()
            .filter_map(|&q| UdpSocket::bind(("127.0.0.1", q)).ok())
            .collect();
        if sockets.len() == 3 {
            return (p, if bind { sockets } else { Vec::new() });
        }
    }
}

/// Receives datagrams on `socket` until it has been quiet for `quiet`.
fn capture(socket: UdpSocket, quiet: Duration) -> std::thread::JoinHandle<Vec<Bytes>> {
    socket2::SockRef::from(&socket)
        .set_recv_buffer_size(8 << 20)
        .unwrap();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65_536];
        // long wait for the first datagram, then until quiet
        socket.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        while let Ok(n) = socket.recv(&mut buf) {
            out.push(Bytes::copy_from_slice(&buf[..n]));
            socket.set_read_timeout(Some(quiet)).unwrap();
        }
        out
    })
}

fn seq(p: &[u8]) -> u16 {
    u16::from_be_bytes([p[2], p[3]])
}

/// Counts the decoded frames per stream in an ffmpeg `framecrc` file.
fn framecrc_counts(path: &Path) -> Vec<usize> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut counts = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let stream: usize = line.split(',').next().unwrap().trim().parse().unwrap();
        if counts.len() <= stream {
            counts.resize(stream + 1, 0);
        }
        counts[stream] += 1;
    }
    counts
}

/// ffmpeg `-v error` reading `input` for `secs` into a `framecrc` file.
fn ffmpeg_reader(input: &[&str], secs: &str, out: &Path) -> Proc {
    let child = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y"])
        .args(input)
        .args(["-t", secs, "-f", "framecrc"])
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Proc(child)
}

/// Feeds the stream (up to 20 s) until ffmpeg ends; returns ffmpeg's stderr.
async fn feed_until_done(publisher: &Publisher, file: &Demuxed, ffmpeg: Proc) -> String {
    tokio::select! {
        errors = ffmpeg_done(ffmpeg) => errors,
        () = feed_looped(publisher, file, 20.0) => panic!("ffmpeg still running after 20 s of stream"),
    }
}

/// Waits for ffmpeg to end and returns its stderr.
async fn ffmpeg_done(mut p: Proc) -> String {
    let ok = p.exited(30).await;
    if ok.is_none() {
        p.kill();
    }
    let mut err = String::new();
    if let Some(mut e) = p.0.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut err).unwrap();
    }
    assert_eq!(ok, Some(true), "ffmpeg failed or hung: {err}");
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tsrtp_with_fec_recovers_dropped_packets() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("push-fec");
    let file = ts_sample(&dir, "2");
    let (port, mut sockets) = port_range(true);
    let rows = capture(sockets.pop().unwrap(), Duration::from_millis(1500));
    let columns = capture(sockets.pop().unwrap(), Duration::from_millis(1500));
    let media_rx = capture(sockets.pop().unwrap(), Duration::from_millis(1500));
    let hub = Hub::default();
    let stream = hub.stream("fec");
    let publisher = stream.publish().unwrap();
    publisher.set_tracks(file.tracks.clone());
    let job = job(
        &stream,
        &format!("tsrtp://127.0.0.1:{port}?fec=prompeg&rows=8&columns=4"),
    );
    let push = start(&job);
    tokio::time::sleep(Duration::from_millis(200)).await;
    feed_looped(&publisher, &file, 5.0).await;
    drop(publisher);
    hub.remove("fec");
    push.await.unwrap().unwrap();
    let sent = media_rx.join().unwrap();
    let fec: Vec<Bytes> = columns
        .join()
        .unwrap()
        .into_iter()
        .chain(rows.join().unwrap())
        .collect();
    assert!(job.bytes.load(Ordering::Relaxed) > 0);
    // what the push sent, in order, with nothing lost on loopback
    assert!(sent.len() > 5 * 32, "{} media packets", sent.len());
    for (i, p) in sent.iter().enumerate() {
        assert_eq!(p.len(), 12 + 1316, "packet {i}");
        assert_eq!(p[1] & 0x7f, 33);
        assert_eq!(
            seq(p),
            seq(&sent[0]).wrapping_add(i as u16),
            "loopback reordered or lost"
        );
    }
    let matrices = sent.len() / 32;
    // every matrix's 4 column and 8 row FEC packets came
    assert!(
        fec.len() >= matrices * 12,
        "{} fec packets for {matrices} matrices",
        fec.len()
    );
    // drop one packet per column in some matrices, a row of 4 in others
    let mut lost = std::collections::BTreeSet::new();
    for m in 1..matrices {
        match m % 3 {
            1 => lost.extend((0..4).map(|c| m * 32 + ((c + m) % 8) * 4 + c)),
            2 => lost.extend(m * 32 + 12..m * 32 + 16),
            _ => {}
        }
    }
    let received: Vec<Bytes> = sent
        .iter()
        .enumerate()
        .filter(|(i, _)| !lost.contains(i))
        .map(|(_, p)| p.clone())
        .collect();
    let back = media::fec::recover(&received, &fec);
    assert!(back.errors.is_empty(), "{:?}", back.errors);
    assert_eq!(back.packets.len(), lost.len());
    let base = seq(&sent[0]);
    let mut all: Vec<Bytes> = received.into_iter().chain(back.packets).collect();
    all.sort_by_key(|p| seq(p).wrapping_sub(base));
    assert!(all == sent, "recovered stream differs from the sent one");
    // and the TS it carries is H.264 + AAC
    let ts: Vec<u8> = all.iter().flat_map(|p| p[12..].to_vec()).collect();
    let demuxed = media::ts::read_all(&ts).unwrap();
    support::assert_tracks_h264_aac(&demuxed.tracks);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_decodes_tsrtp_with_fec() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("push-fec-ffmpeg");
    let file = ts_sample(&dir, "2");
    // nothing listens on the FEC ports: the push must not mind
    let (port, _) = port_range(false);
    let out = dir.path("out.crc");
    // ffmpeg reads the media port as RTP/MP2T. Through an SDP rather than
    // `-i rtp://`: that input waits for a first packet to learn the payload
    // type, then reopens the port, and what comes in between is lost.
    let sdp = dir.path("in.sdp");
    std::fs::write(
        &sdp,
        format!(
            "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=video {port} RTP/AVP 33\r\na=rtpmap:33 MP2T/90000\r\n"
        ),
    )
    .unwrap();
    let sdp_arg = sdp.display().to_string();
    let ffmpeg = ffmpeg_reader(
        &["-protocol_whitelist", "file,udp,rtp", "-i", &sdp_arg],
        "3",
        &out,
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let hub = Hub::default();
    let stream = hub.stream("fec");
    let publisher = stream.publish().unwrap();
    publisher.set_tracks(file.tracks.clone());
    let job = job(&stream, &format!("tsrtp://127.0.0.1:{port}?fec=prompeg"));
    let push = start(&job);
    let errors = feed_until_done(&publisher, &file, ffmpeg).await;
    assert!(errors.is_empty(), "ffmpeg errors: {errors}");
    let counts = framecrc_counts(&out);
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert!(
        counts.iter().all(|&n| n >= 50),
        "decoded frames per stream: {counts:?}"
    );
    drop(publisher);
    hub.remove("fec");
    push.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_reads_tsudp() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("push-tsudp");
    let file = ts_sample(&dir, "2");
    let port = testkit::free_udp_port();
    let out = dir.path("out.ts");
    let url = format!("udp://127.0.0.1:{port}?overrun_nonfatal=1&fifo_size=100000");
    let child = Command::new("ffmpeg")
        .args([
            "-v", "error", "-nostdin", "-y", "-i", &url, "-t", "3", "-c", "copy",
        ])
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let hub = Hub::default();
    let stream = hub.stream("udp");
    let publisher = stream.publish().unwrap();
    publisher.set_tracks(file.tracks.clone());
    let job = job(&stream, &format!("tsudp://127.0.0.1:{port}"));
    let push = start(&job);
    let errors = feed_until_done(&publisher, &file, Proc(child)).await;
    assert!(errors.is_empty(), "ffmpeg errors: {errors}");
    let streams = testkit::ffprobe_streams(&out);
    let codecs: Vec<&str> = streams
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap())
        .collect();
    assert!(codecs.contains(&"h264") && codecs.contains(&"aac"), "{codecs:?}");
    drop(publisher);
    hub.remove("udp");
    push.await.unwrap().unwrap();
    assert!(job.bytes.load(Ordering::Relaxed) > 100_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tsudp_to_a_multicast_group_on_loopback() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("push-mcast");
    let file = ts_sample(&dir, "2");
    let group = Ipv4Addr::new(239, 255, 42, 9);
    let receiver = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    receiver.set_reuse_address(true).unwrap();
    receiver
        .bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)).into())
        .unwrap();
    receiver.join_multicast_v4(&group, &Ipv4Addr::LOCALHOST).unwrap();
    let receiver: UdpSocket = receiver.into();
    let port = receiver.local_addr().unwrap().port();
    let got = capture(receiver, Duration::from_millis(1500));
    let hub = Hub::default();
    let stream = hub.stream("mcast");
    let publisher = stream.publish().unwrap();
    publisher.set_tracks(file.tracks.clone());
    let job = job(&stream, &format!("tsudp://{group}:{port}?ttl=0&iface=127.0.0.1"));
    let push = start(&job);
    tokio::time::sleep(Duration::from_millis(200)).await;
    feed_looped(&publisher, &file, 2.0).await;
    drop(publisher);
    hub.remove("mcast");
    push.await.unwrap().unwrap();
    let datagrams = got.join().unwrap();
    assert!(datagrams.len() > 20, "{} datagrams", datagrams.len());
    let last = datagrams.len() - 1;
    assert!(datagrams[..last].iter().all(|d| d.len() == 1316));
    assert_eq!(datagrams[last].len() % 188, 0);
    let ts: Vec<u8> = datagrams.concat();
    support::assert_tracks_h264_aac(&media::ts::read_all(&ts).unwrap().tracks);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_decodes_rtp_with_the_sdp_file() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("push-rtp");
    let file = ts_sample(&dir, "2");
    let (port, _) = port_range(false);
    let sdp = dir.path("out.sdp");
    let hub = Hub::default();
    let stream = hub.stream("rtp");
    let publisher = stream.publish().unwrap();
    publisher.set_tracks(file.tracks.clone());
    let job = job(&stream, &format!("rtp://127.0.0.1:{port}?sdp={}", sdp.display()));
    let push = start(&job);
    // the sdp is written from the known tracks, before any frame
    support::wait_for(5, "the sdp file", || sdp.exists()).await;
    let text = std::fs::read_to_string(&sdp).unwrap();
    let described = media::sdp::SessionDescription::parse(&text).unwrap();
    let ports: Vec<u16> = described.media.iter().map(|m| m.port).collect();
    assert_eq!(ports, [port, port + 2], "{text}");
    let tracks = media::sdp::Source::from_session(&described).unwrap();
    assert_eq!(tracks[0].codec, Codec::H264);
    assert_eq!(tracks[1].codec, Codec::Aac);
    let out = dir.path("out.crc");
    let sdp_arg = sdp.display().to_string();
    let ffmpeg = ffmpeg_reader(
        &["-protocol_whitelist", "file,udp,rtp", "-i", &sdp_arg],
        "4",
        &out,
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let errors = feed_until_done(&publisher, &file, ffmpeg).await;
    assert!(errors.is_empty(), "ffmpeg errors: {errors}");
    let counts = framecrc_counts(&out);
    assert_eq!(counts.len(), 2, "{counts:?}");
    // 4 s: 100 video frames, 187 AAC frames
    assert!(
        counts[0] >= 80 && counts[1] >= 150,
        "decoded frames per stream: {counts:?}"
    );
    drop(publisher);
    hub.remove("rtp");
    push.await.unwrap().unwrap();
}

fn aac_stream(hub: &Hub) -> (Arc<LiveStream>, Publisher) {
    let stream = hub.stream("bad");
    let publisher = stream.publish().unwrap();
    let mut aac = Track::new(1, Codec::Aac, 48_000);
    aac.init = Bytes::from_static(&[0x11, 0x90]);
    publisher.set_tracks(vec![aac]);
    (stream, publisher)
}

#[tokio::test]
async fn bad_targets_are_refused() {
    let hub = Hub::default();
    let (stream, _publisher) = aac_stream(&hub);
    for (target, msg) in [
        (
            "tsrtp://127.0.0.1:5000?fec=prompeg&rows=2&columns=4",
            "rows (D) must be 4 to 20",
        ),
        (
            "tsrtp://127.0.0.1:5000?fec=prompeg&rows=4&columns=50",
            "columns (L) must be 1 to 20",
        ),
        (
            "tsrtp://127.0.0.1:5000?fec=prompeg&rows=20&columns=10",
            "at most 100",
        ),
        ("tsudp://127.0.0.1:5000?fec=prompeg", "use tsrtp://"),
        ("rtp://127.0.0.1:5000", "needs ?sdp=PATH"),
        (
            "rtp://127.0.0.1:5000?sdp=/nonexistent-dir/tributary/out.sdp",
            "/nonexistent-dir/tributary/out.sdp",
        ),
    ] {
        let job = job(&stream, target);
        let run = run_target(&job);
        match tokio::time::timeout(Duration::from_secs(5), run).await {
            Ok(Err(PushError::BadTarget(e))) => assert!(e.contains(msg), "{target}: {e}"),
            other => panic!("{target}: {other:?}"),
        }
    }
}
