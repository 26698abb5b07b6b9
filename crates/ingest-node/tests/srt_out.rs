//! SRT output with real peers: playing from the shared port and from a
//! listener push (srt-live-transmit, ffmpeg), pushing as a caller to
//! srt-live-transmit, also through a lossy UDP relay.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;
use hub::{Event, Hub};
use ingest_node::admission::Admission;
use ingest_node::push::PushError;
use ingest_node::srt::{SharedListener, SharedSrtConfig};
use media::ts::Muxer;
use spec::StreamSpec;
use support::{Proc, RelayStats, job, live, reject_code_for, relay, wait_for};
use testkit::{SINE, TempDir, ffmpeg_push, ffprobe_streams, free_udp_port, have, have_ffmpeg, lavfi};
use tokio::sync::watch;
use tokio::time::timeout;

mod support;

// ---- helpers -------------------------------------------------------------

/// Logs to the test's output (`RUST_LOG` to change the level).
fn logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("ingest_node=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .with_ansi(false)
        .try_init();
}

fn have_tools() -> bool {
    have_ffmpeg() && have("srt-live-transmit")
}

fn admission(names: &[&str]) -> Admission {
    let specs: BTreeMap<String, StreamSpec> = names
        .iter()
        .map(|name| (name.to_string(), StreamSpec::new("push://")))
        .collect();
    Admission::new(watch::channel(Arc::new(specs)).1)
}

/// Serves the shared port on a free loopback port.
async fn shared(hub: &Arc<Hub>, admission: Admission) -> SocketAddr {
    let config = SharedSrtConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        ..SharedSrtConfig::default()
    };
    let listener = SharedListener::bind(&config).await.unwrap();
    let addr = listener.local_addr();
    tokio::spawn(listener.run(hub.clone(), admission));
    addr
}

/// A live stream `name` on a shared port, published by ffmpeg over SRT.
async fn live_stream(name: &str) -> (Arc<Hub>, SocketAddr, Proc) {
    let hub = Arc::new(Hub::default());
    let addr = shared(&hub, admission(&[name])).await;
    let ffmpeg = Proc(
        ffmpeg_push(
            &format!("srt://{addr}?streamid=publish:{name}&pkt_size=1316"),
            "mpegts",
            "60",
        )
        .stdin(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let stream = hub.stream(name);
    wait_for(15, "the stream to go live", || live(&stream)).await;
    (hub, addr, ffmpeg)
}

/// `srt-live-transmit SOURCE file://con > out` (exits when the connection ends).
fn slt_receive(source: &str, out: &Path) -> Proc {
    let file = std::fs::File::create(out).unwrap();
    Proc(
        Command::new("srt-live-transmit")
            .args(["-a:no", "-loglevel:error", "-s:500", "-f", "-pf:json"])
            .arg(format!("-statsout:{}.stats", out.display()))
            .args([source, "file://con"])
            .stdin(Stdio::null())
            .stdout(file)
            .spawn()
            .unwrap(),
    )
}

/// ffmpeg copying 3 s of `url` into `out` (MPEG-TS).
fn ffmpeg_receive(url: &str, out: &Path) -> Proc {
    Proc(
        Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-y", "-i", url])
            .args(["-t", "3", "-c", "copy", "-f", "mpegts"])
            .arg(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Waits until `path` holds at least `bytes`.
async fn grows(path: &Path, bytes: u64) {
    wait_for(15, &format!("{} to reach {bytes} bytes", path.display()), || {
        std::fs::metadata(path).is_ok_and(|m| m.len() >= bytes)
    })
    .await;
}

/// ffprobe finds H.264 video and AAC audio in `file`.
fn assert_probe_h264_aac(file: &Path) {
    let streams = ffprobe_streams(file);
    let codecs: Vec<&str> = streams.iter().filter_map(|s| s["codec_name"].as_str()).collect();
    assert!(
        codecs.contains(&"h264") && codecs.contains(&"aac"),
        "{}: {codecs:?}",
        file.display()
    );
}

// ---- 1. playing from the shared port ----------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_port_playback() {
    logs();
    if !have_tools() {
        return;
    }
    let (hub, addr, _ffmpeg) = live_stream("cam").await;
    let dir = TempDir::new("srt-play");

    // the three request forms, by srt-live-transmit and ffmpeg
    let slt_plain = dir.path("plain.ts");
    let slt_request = dir.path("request.ts");
    let ff_ac = dir.path("ac.ts");
    let _a = slt_receive(&format!("srt://{addr}?streamid=cam"), &slt_plain);
    let _b = slt_receive(&format!("srt://{addr}?streamid=request:cam"), &slt_request);
    let mut c = ffmpeg_receive(&format!("srt://{addr}?streamid=#!::r=cam,m=request"), &ff_ac);
    assert_eq!(c.exited(30).await, Some(true), "ffmpeg plays 3 s");
    grows(&slt_plain, 50_000).await;
    grows(&slt_request, 50_000).await;
    for file in [&slt_plain, &slt_request, &ff_ac] {
        assert_probe_h264_aac(file);
    }
    assert!(hub.stream("cam").viewers() >= 2, "srt players count as viewers");

    // an unknown stream is refused with 2404 (not found), a real player fails
    assert_eq!(reject_code_for(addr, "ghost").await, 2404);
    assert_eq!(reject_code_for(addr, "#!::r=ghost,m=request").await, 2404);
    let mut ghost = ffmpeg_receive(&format!("srt://{addr}?streamid=request:ghost"), &dir.path("g.ts"));
    assert_eq!(ghost.exited(20).await, Some(false), "ffmpeg is refused");
    assert!(hub.get("ghost").is_none(), "refused names create no stream");
}

// ---- 2. listener push: every caller gets the stream ------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_push_serves_every_caller() {
    logs();
    if !have_tools() {
        return;
    }
    let (hub, _addr, _ffmpeg) = live_stream("cam").await;
    let stream = hub.stream("cam");
    let port = free_udp_port();
    let job = job(&stream, &format!("srt://:{port}"));
    let push = {
        let job = job.clone();
        tokio::spawn(async move { ingest_node::push::srt::run(&job).await })
    };
    let dir = TempDir::new("srt-listener-out");
    let (slt_out, ff_out) = (dir.path("slt.ts"), dir.path("ff.ts"));
    // no streamid needed
    let _slt = slt_receive(&format!("srt://127.0.0.1:{port}"), &slt_out);
    let mut ff = ffmpeg_receive(&format!("srt://127.0.0.1:{port}"), &ff_out);
    assert_eq!(ff.exited(30).await, Some(true), "ffmpeg plays 3 s");
    grows(&slt_out, 50_000).await;
    assert_probe_h264_aac(&slt_out);
    assert_probe_h264_aac(&ff_out);
    assert!(
        job.bytes.load(Ordering::Relaxed) > 50_000,
        "bytes sent are counted"
    );

    // the push ends (Ok) with its stream
    hub.remove("cam");
    let result = timeout(Duration::from_secs(5), push)
        .await
        .expect("the push ends");
    assert!(result.unwrap().is_ok());
}

// ---- 3. caller push to srt-live-transmit -------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_push_to_srt_live_transmit() {
    logs();
    if !have_tools() {
        return;
    }
    let (hub, _addr, _ffmpeg) = live_stream("cam").await;
    let stream = hub.stream("cam");
    let dir = TempDir::new("srt-caller-out");
    let out = dir.path("out.ts");
    let port = free_udp_port();
    let mut slt = slt_receive(&format!("srt://:{port}?mode=listener&latency=200"), &out);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let job = job(
        &stream,
        &format!("srt://127.0.0.1:{port}?latency=200&streamid=whatever"),
    );
    let push = {
        let job = job.clone();
        tokio::spawn(async move { ingest_node::push::srt::run(&job).await })
    };
    grows(&out, 50_000).await;
    assert_probe_h264_aac(&out);

    // the receiver goes away: the push fails
    slt.kill();
    let result = timeout(Duration::from_secs(15), push)
        .await
        .expect("the push notices the peer is gone")
        .unwrap();
    assert!(matches!(result, Err(PushError::Failed(_))), "{result:?}");

    // nobody there: an error within the connect timeout
    let result = timeout(Duration::from_secs(10), ingest_node::push::srt::run(&job))
        .await
        .expect("the connection attempt gives up");
    assert!(matches!(result, Err(PushError::Failed(_))), "{result:?}");

    // bad targets
    for target in [
        "srt://127.0.0.1:1?latency=99999999",
        "rtmp://x/y",
        "srt://h:1?mode=sideways",
    ] {
        let result = ingest_node::push::srt::run(&self::job(&stream, target)).await;
        assert!(
            matches!(result, Err(PushError::BadTarget(_))),
            "{target}: {result:?}"
        );
    }
}

// ---- 4. through a lossy relay: every packet arrives ---------------------------------

/// The tracks the SRT output muxes (those with a decoder configuration).
fn muxable(tracks: Vec<media::Track>) -> Vec<media::Track> {
    tracks
        .into_iter()
        .filter(|t| !t.init.is_empty() || !(t.codec.is_video() || t.codec.is_audio()))
        .collect()
}

/// What a subscriber of `stream` reads, muxed as the SRT output muxes it,
/// until the stream is removed: the MPEG-TS the push sends.
async fn mux_like_the_output(mut sub: hub::Subscriber) -> Vec<u8> {
    let mut out = BytesMut::new();
    let mut muxer = None;
    loop {
        match sub.next().await {
            Event::Tracks(tracks) => muxer = Some(Muxer::new(&muxable(tracks)).unwrap()),
            Event::Frame(frame) => {
                if let Some(m) = muxer.as_mut() {
                    let _ = m.mux_frame(&frame, &mut out);
                }
            }
            Event::Skipped { lost } => panic!("the reference reader skipped {lost} frames"),
            Event::Offline => {}
            Event::Closed => return out.to_vec(),
        }
    }
}

/// TS packets of `a` found at the same offsets in `b`, when `b` is `a` with
/// whole 1316-byte payloads missing: matched greedily payload by payload.
fn delivered_packets(sent: &[u8], received: &[u8]) -> usize {
    let mut at = 0;
    let mut packets = 0;
    for chunk in sent.chunks(1316) {
        if received.get(at..at + chunk.len()) == Some(chunk) {
            at += chunk.len();
            packets += chunk.len() / 188;
        }
    }
    packets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_push_through_loss_delivers_every_packet() {
    logs();
    if !have_tools() {
        return;
    }
    // 8 s of 720p at 2 Mbps: about 1,500 SRT data packets
    let dir = TempDir::new("srt-push-loss");
    let file = dir.path("source.ts");
    let mut args = lavfi(&["testsrc2=size=1280x720:rate=25", SINE], "8");
    args.extend([
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "25",
        "-b:v",
        "2M",
    ]);
    args.extend(["-pix_fmt", "yuv420p", "-c:a", "aac"]);
    testkit::ffmpeg(&args, &file);
    let source = media::ts::read_all(&std::fs::read(&file).unwrap()).unwrap();

    let hub = Arc::new(Hub::default());
    let stream = hub.stream("lossy");
    let publisher = stream.publish().unwrap();
    publisher.set_tracks(source.tracks.clone());
    let reference = tokio::spawn(mux_like_the_output(stream.subscribe()));

    // srt-live-transmit listens behind a relay losing 5 % each way
    let port = free_udp_port();
    let out = dir.path("received.ts");
    let mut slt = slt_receive(&format!("srt://127.0.0.1:{port}?mode=listener&latency=300"), &out);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = Arc::new(RelayStats::default());
    let relay = relay(
        SocketAddr::from(([127, 0, 0, 1], port)),
        5,
        0x5eed_0005,
        stats.clone(),
    )
    .await;
    let job = job(&stream, &format!("srt://{relay}?latency=300"));
    let push = {
        let job = job.clone();
        tokio::spawn(async move { ingest_node::push::srt::run(&job).await })
    };
    wait_for(10, "the push to connect and subscribe", || stream.viewers() == 2).await;

    // the frames in real time
    let start = tokio::time::Instant::now();
    let first = source.frames[0].dts.as_secs_f64();
    for frame in source.frames {
        let at = Duration::from_secs_f64((frame.dts.as_secs_f64() - first).max(0.0));
        tokio::time::sleep_until(start + at).await;
        publisher.push(frame);
    }
    // both readers catch up, then the stream ends
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(publisher);
    hub.remove("lossy");
    let result = timeout(Duration::from_secs(10), push)
        .await
        .expect("the push ends");
    assert!(result.unwrap().is_ok(), "the push ends Ok with its stream");
    let sent = reference.await.unwrap();
    let _ = slt.exited(5).await;
    eprintln!(
        "{}",
        std::fs::read_to_string(format!("{}.stats", out.display())).unwrap_or_default()
    );
    slt.kill();

    let received = std::fs::read(&out).unwrap();
    let expected_packets = sent.len() / 188;
    let delivered = delivered_packets(&sent, &received);
    let dropped = stats.dropped.load(Ordering::Relaxed);
    let data_dropped = stats.data_dropped.load(Ordering::Relaxed);
    let forwarded = stats.forwarded.load(Ordering::Relaxed);
    eprintln!(
        "lossy relay: {dropped} datagrams dropped ({data_dropped} of them media), {forwarded} forwarded; \
         sent {} bytes, received {} bytes; ts packets delivered {delivered} of {expected_packets} ({:.2} %)",
        sent.len(),
        received.len(),
        delivered as f64 * 100.0 / expected_packets as f64
    );
    assert!(
        data_dropped > 20,
        "the relay dropped media packets: {data_dropped}"
    );
    assert_eq!(
        job.bytes.load(Ordering::Relaxed),
        sent.len() as u64,
        "the push sent the reference"
    );
    assert_eq!(delivered, expected_packets, "every ts packet arrived");
    assert!(received == sent, "the received ts is the sent ts, byte for byte");
}
