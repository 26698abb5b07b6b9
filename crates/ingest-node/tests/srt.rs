//! SRT input with real peers: ffmpeg (libsrt) and libsrt's
//! `srt-live-transmit` publishing to the shared port, and our per-stream
//! SRT sources as listener and caller, also through a lossy UDP relay.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hub::{Hub, LiveStream, State};
use ingest_node::admission::Admission;
use ingest_node::srt::{SharedListener, SharedSrtConfig, SourceListener, run_source, run_source_forever};
use spec::source::SrtSource;
use spec::{Redacted, Source, StreamSpec};
use support::{Proc, RelayStats, XorShift, assert_h264_aac, live, reject_code_for, relay, wait_for};
use testkit::{TempDir, Video, ffmpeg_push, free_udp_port, generate, have, have_ffmpeg};
use tokio::io::AsyncWriteExt;
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

/// Frames still arrive: the pushed count grows within 3 s.
async fn assert_flowing(stream: &LiveStream) {
    let before = stream.stats().pushed;
    wait_for(3, "frames to keep flowing", || {
        stream.stats().pushed > before + 10
    })
    .await;
    assert_eq!(stream.state(), State::Live);
}

fn have_tools() -> bool {
    have_ffmpeg() && have("srt-live-transmit")
}

/// ffmpeg publishing over its own libsrt to `url`.
fn ffmpeg_srt(url: &str) -> Proc {
    Proc(
        ffmpeg_push(url, "mpegts", "60")
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// `ffmpeg | srt-live-transmit file://con target`: libsrt's own tool sends.
fn slt_pipeline(target: &str) -> (Proc, Proc) {
    let mut ffmpeg = ffmpeg_push("-", "mpegts", "60")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let ts = ffmpeg.stdout.take().unwrap();
    let slt = Command::new("srt-live-transmit")
        .args(["-chunk:1316", "-loglevel:error", "file://con", target])
        .stdin(ts)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    (Proc(ffmpeg), Proc(slt))
}

fn admission(entries: &[(&str, &str, Option<&str>)]) -> Admission {
    let specs: BTreeMap<String, StreamSpec> = entries
        .iter()
        .map(|(name, source, key)| {
            let mut spec = StreamSpec::new(*source);
            spec.publish_key = key.map(|k| k.to_owned().into());
            (name.to_string(), spec)
        })
        .collect();
    Admission::new(watch::channel(Arc::new(specs)).1)
}

/// Serves the shared port on a free loopback port.
async fn shared(hub: &Arc<Hub>, admission: Admission, passphrase: Option<&str>) -> SocketAddr {
    let config = SharedSrtConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        passphrase: passphrase.map(Redacted::from),
        ..SharedSrtConfig::default()
    };
    let listener = timeout(Duration::from_secs(5), SharedListener::bind(&config))
        .await
        .unwrap()
        .unwrap();
    let addr = listener.local_addr();
    tokio::spawn(listener.run(hub.clone(), admission));
    addr
}

/// An SRT source parsed from `url`, with its port replaced by `port`.
fn srt_source(url: &str, port: u16) -> SrtSource {
    match Source::parse(url) {
        Ok(Source::Srt(mut s)) => {
            s.port = port;
            s
        }
        other => panic!("{url}: {other:?}"),
    }
}

// ---- 1. shared port, simple streamid, ffmpeg --------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_port_ffmpeg_publish_streamid() {
    logs();
    if !have_ffmpeg() {
        return;
    }
    let hub = Arc::new(Hub::default());
    let addr = shared(&hub, admission(&[("cam", "push://", None)]), None).await;
    let _ffmpeg = ffmpeg_srt(&format!("srt://{addr}?streamid=publish:cam&pkt_size=1316"));
    let stream = hub.stream("cam");
    wait_for(15, "cam to go live with both tracks", || live(&stream)).await;
    assert_h264_aac(&stream);
    assert_flowing(&stream).await;
}

// ---- 2. access-control streamid with a key; refusals --------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_port_access_control_streamid_and_refusals() {
    logs();
    if !have_ffmpeg() {
        return;
    }
    let hub = Arc::new(Hub::default());
    let rules = admission(&[
        ("cam", "push://", Some("k3y")),
        ("lan", "push://10.0.0.0/8", None),
        ("vod", "/media/x.ts", None),
    ]);
    let addr = shared(&hub, rules, None).await;
    // ffmpeg 5.1 takes the streamid as is (no percent-decoding)
    let _ffmpeg = ffmpeg_srt(&format!(
        "srt://{addr}?streamid=#!::r=cam,m=publish,s=k3y&pkt_size=1316"
    ));
    let stream = hub.stream("cam");
    wait_for(15, "cam to go live", || live(&stream)).await;
    assert_h264_aac(&stream);

    // refusals, each with its reject code, while cam stays live
    for (streamid, code) in [
        ("#!::r=cam,m=publish,s=nope", 2401),
        ("#!::r=cam,m=publish", 2401),
        ("publish:cam?key=nope", 2401),
        ("publish:ghost", 2404),
        ("#!::r=lan,m=publish", 2403),
        ("#!::r=vod,m=publish", 2403),
        ("#!::r=cam,m=publish,s=k3y", 2409),
        ("ghost", 2404),
        ("#!::r=ghost,m=request", 2404),
        ("#!::r=cam,m=bidirectional", 2405),
        ("publish:a/b", 2400),
        ("play:cam", 2400),
    ] {
        assert_eq!(reject_code_for(addr, streamid).await, code, "{streamid}");
    }
    let error = stream.last_error().expect("refusals are recorded on the stream");
    assert!(error.contains("refused") && !error.contains("nope"), "{error}");
    assert!(hub.get("ghost").is_none(), "refused names create no stream");

    // a real libsrt peer with a wrong key fails to connect
    let mut wrong = ffmpeg_srt(&format!(
        "srt://{addr}?streamid=#!::r=cam,m=publish,s=nope&pkt_size=1316"
    ));
    assert_eq!(
        wrong.exited(15).await,
        Some(false),
        "ffmpeg with a wrong key fails"
    );
    let mut ghost = ffmpeg_srt(&format!("srt://{addr}?streamid=publish:ghost&pkt_size=1316"));
    assert_eq!(
        ghost.exited(15).await,
        Some(false),
        "ffmpeg to an undefined stream fails"
    );
    assert_flowing(&stream).await;
}

// ---- 3. per-stream listener with a passphrase ---------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_stream_listener_with_passphrase() {
    logs();
    if !have_tools() {
        return;
    }
    let hub = Arc::new(Hub::default());
    let stream = hub.stream("enc");
    let source = srt_source(
        "srt://127.0.0.1:1?mode=listener&passphrase=correct-horse-battery",
        0,
    );
    let listener = SourceListener::bind(&source).await.unwrap();
    let port = listener.local_addr().port();
    tokio::spawn(listener.run(stream.clone()));

    // wrong passphrase, then none: refused
    for target in [
        format!("srt://127.0.0.1:{port}?passphrase=wrong-horse-battery"),
        format!("srt://127.0.0.1:{port}"),
    ] {
        let (_ffmpeg, _slt) = slt_pipeline(&target);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(stream.state(), State::Offline, "{target}");
        assert!(stream.stats().pushed == 0);
    }
    assert!(stream.last_error().is_some_and(|e| e.contains("refused")));

    let (_ffmpeg, _slt) = slt_pipeline(&format!(
        "srt://127.0.0.1:{port}?passphrase=correct-horse-battery&pbkeylen=32"
    ));
    wait_for(15, "enc to go live", || live(&stream)).await;
    assert_h264_aac(&stream);
    assert_flowing(&stream).await;
}

// ---- 4. per-stream caller, and always-on retry --------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_stream_caller_to_srt_live_transmit() {
    logs();
    if !have_tools() {
        return;
    }
    let port = free_udp_port();
    // encrypted with AES-256 both ways: srt-tokio's caller against libsrt's listener
    let secret = "passphrase=pull-passphrase&pbkeylen=32";
    let (_ffmpeg, mut slt) = slt_pipeline(&format!("srt://:{port}?mode=listener&{secret}"));
    let hub = Arc::new(Hub::default());
    let stream = hub.stream("pull");
    let source = srt_source(&format!("srt://127.0.0.1:1?{secret}&streamid=pull"), port);
    // srt-live-transmit may need a moment to listen: retry like a supervisor would
    let task = tokio::spawn(run_source_forever(source.clone(), stream.clone()));
    wait_for(15, "pull to go live", || live(&stream)).await;
    assert_h264_aac(&stream);
    assert_flowing(&stream).await;
    task.abort();
    let _ = task.await;
    assert_eq!(
        stream.state(),
        State::Offline,
        "dropping the source releases the stream"
    );

    // one attempt against nothing: an error, soon
    slt.kill();
    let result = timeout(Duration::from_secs(10), run_source(source, stream.clone()))
        .await
        .expect("the caller gives up within its connect timeout");
    let err = result.unwrap_err();
    assert!(err.contains("timed out"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_on_caller_connects_once_the_listener_appears() {
    logs();
    if !have_tools() {
        return;
    }
    let port = free_udp_port();
    let hub = Arc::new(Hub::default());
    let stream = hub.stream("later");
    let task = tokio::spawn(run_source_forever(
        srt_source("srt://127.0.0.1:1?latency=200", port),
        stream.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stream.state(), State::Offline);
    let (_ffmpeg, _slt) = slt_pipeline(&format!("srt://:{port}?mode=listener"));
    wait_for(20, "later to go live", || live(&stream)).await;
    assert_h264_aac(&stream);
    task.abort();
}

// ---- 5. through a lossy relay: every frame arrives -----------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lossy_relay_every_frame_arrives() {
    logs();
    if !have_tools() {
        return;
    }
    let dir = TempDir::new("srt-lossy");
    let file = dir.path("known.ts");
    generate(&file, Video::H264);
    let data = std::fs::read(&file).unwrap();
    let expected = media::ts::read_all(&data).unwrap().frames.len() as u64;

    let hub = Arc::new(Hub::default());
    let stream = hub.stream("lossy");
    let listener = SourceListener::bind(&srt_source("srt://127.0.0.1:1?mode=listener&latency=300", 0))
        .await
        .unwrap();
    let ours = listener.local_addr();
    tokio::spawn(listener.run(stream.clone()));
    let stats = Arc::new(RelayStats::default());
    let relay = relay(ours, 5, 0x5eed_0005, stats.clone()).await;

    let mut slt = tokio::process::Command::new("srt-live-transmit")
        .args(["-chunk:1316", "-loglevel:error", "file://con"])
        .arg(format!("srt://{relay}?latency=300"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = slt.stdin.take().unwrap();
    // the file in real time (2 s), then 1.5 s of null packets so that the
    // file's last packets are retransmitted if lost before the sender quits
    let chunks: Vec<&[u8]> = data.chunks(1316).collect();
    let pace = Duration::from_secs(2) / chunks.len() as u32;
    let write = async {
        for chunk in &chunks {
            stdin.write_all(chunk).await?;
            tokio::time::sleep(pace).await;
        }
        let mut null = [0xffu8; 188 * 7];
        for p in null.chunks_mut(188) {
            p[..4].copy_from_slice(&[0x47, 0x1f, 0xff, 0x10]);
        }
        for _ in 0..150 {
            stdin.write_all(&null).await?;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stdin.flush().await
    };
    timeout(Duration::from_secs(20), write)
        .await
        .expect("writing within 20 s")
        .expect("srt-live-transmit takes the file");
    assert!(
        stream.state() != State::Offline,
        "the stream is up while the sender is"
    );
    // srt-live-transmit does not quit at the end of its input: kill it; the
    // stream goes offline after DATA_IDLE_TIMEOUT, flushing the last frames
    drop(stdin);
    slt.start_kill().unwrap();
    let _ = timeout(Duration::from_secs(5), slt.wait()).await;
    wait_for(10, "the stream to go offline after the sender", || {
        stream.state() == State::Offline
    })
    .await;
    let s = stream.stats();
    let received = s.pushed + s.rejected;
    let dropped = stats.dropped.load(Ordering::Relaxed);
    let forwarded = stats.forwarded.load(Ordering::Relaxed);
    let data_dropped = stats.data_dropped.load(Ordering::Relaxed);
    eprintln!(
        "lossy relay: {dropped} datagrams dropped ({data_dropped} of them media), {forwarded} forwarded; \
         {} bytes of ts; frames {received} of {expected}",
        data.len()
    );
    assert!(dropped > 10, "the relay dropped packets: {dropped}");
    assert!(data_dropped > 0, "the relay dropped media packets");
    assert_eq!(received, expected, "every frame arrived despite the loss");
    assert!(
        stream.last_error().is_none(),
        "no continuity gaps: {:?}",
        stream.last_error()
    );
}

// ---- 6. killing the publisher; publishing again --------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_publisher_goes_offline_and_republishing_resumes() {
    logs();
    if !have_tools() {
        return;
    }
    let hub = Arc::new(Hub::default());
    let addr = shared(&hub, admission(&[("cam", "push://", None)]), None).await;
    let target = format!("srt://{addr}?streamid=publish:cam");
    let stream = hub.stream("cam");
    let (_ffmpeg, mut slt) = slt_pipeline(&target);
    wait_for(15, "cam to go live", || live(&stream)).await;
    let killed = tokio::time::Instant::now();
    slt.kill();
    wait_for(5, "cam to go offline within 5 s of the kill", || {
        stream.state() == State::Offline
    })
    .await;
    eprintln!("offline {:?} after the kill", killed.elapsed());
    let (_ffmpeg2, _slt2) = slt_pipeline(&target);
    wait_for(15, "cam to go live again", || live(&stream)).await;
    assert_flowing(&stream).await;
}

// ---- 7. encryption on the shared port ------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_port_encryption() {
    logs();
    if !have_tools() {
        return;
    }
    let rules = || admission(&[("a", "push://", None), ("b", "push://", None)]);
    // a port without a passphrase refuses callers that encrypt, and goes on
    let hub = Arc::new(Hub::default());
    let plain = shared(&hub, rules(), None).await;
    for pbkeylen in ["", "&pbkeylen=16", "&pbkeylen=32"] {
        let (_f, mut slt) = slt_pipeline(&format!(
            "srt://{plain}?streamid=publish:a&passphrase=some-passphrase{pbkeylen}"
        ));
        tokio::time::sleep(Duration::from_secs(2)).await;
        slt.kill();
        assert_eq!(hub.stream("a").state(), State::Offline, "{pbkeylen}");
    }
    let (_f, _slt) = slt_pipeline(&format!("srt://{plain}?streamid=publish:b"));
    wait_for(15, "b to go live on the plain port", || live(&hub.stream("b"))).await;

    // a port with a passphrase: the right one gets in, whatever the key length
    let hub = Arc::new(Hub::default());
    let secret = shared(&hub, rules(), Some("shared-secret-1")).await;
    let (_f1, _s1) = slt_pipeline(&format!(
        "srt://{secret}?streamid=publish:a&passphrase=shared-secret-1"
    ));
    let (_f2, _s2) = slt_pipeline(&format!(
        "srt://{secret}?streamid=publish:b&passphrase=shared-secret-1&pbkeylen=24"
    ));
    wait_for(15, "a and b to go live on the encrypted port", || {
        live(&hub.stream("a")) && live(&hub.stream("b"))
    })
    .await;
    let (_f3, mut s3) = slt_pipeline(&format!("srt://{secret}?streamid=publish:c"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    s3.kill();
    assert!(hub.get("c").is_none());
    assert_flowing(&hub.stream("a")).await;
}

// ---- 8. garbage and malicious handshakes ---------------------------------------

mod craft {
    //! Handshake datagrams built with srt-protocol's own types.

    use std::time::Duration;

    use bytes::BytesMut;
    use srt_protocol::options::{KeySize, PacketCount, PacketSize, SrtVersion};
    pub(super) use srt_protocol::packet::ShakeType;
    use srt_protocol::packet::{
        Auth, CipherType, ControlPacket, ControlTypes, HandshakeControlInfo, HandshakeVsInfo, HsV5Info,
        KeyFlags, KeyingMaterialMessage, Packet, PacketType, SeqNumber, SocketId, SrtControlPacket,
        SrtHandshake, SrtShakeFlags, TimeStamp,
    };

    pub(super) fn handshake(shake_type: ShakeType, cookie: i32, info: HsV5Info) -> Vec<u8> {
        let packet = Packet::Control(ControlPacket {
            timestamp: TimeStamp::from_micros(0),
            dest_sockid: SocketId(0),
            control_type: ControlTypes::Handshake(HandshakeControlInfo {
                init_seq_num: SeqNumber::new(1234).unwrap(),
                max_packet_size: PacketSize(1500),
                max_flow_size: PacketCount(8192),
                shake_type,
                socket_id: SocketId(0x5eed),
                syn_cookie: cookie,
                peer_addr: [127, 0, 0, 1].into(),
                info: HandshakeVsInfo::V5(info),
            }),
        });
        let mut buf = BytesMut::new();
        packet.serialize(&mut buf);
        buf.to_vec()
    }

    pub(super) fn conclusion(cookie: i32, streamid: &str, ext_km: Option<SrtControlPacket>) -> Vec<u8> {
        handshake(
            ShakeType::Conclusion,
            cookie,
            HsV5Info {
                key_size: KeySize::Unspecified,
                ext_hs: Some(SrtControlPacket::HandshakeRequest(SrtHandshake {
                    version: SrtVersion::CURRENT,
                    flags: SrtShakeFlags::SUPPORTED,
                    send_latency: Duration::from_millis(120),
                    recv_latency: Duration::from_millis(120),
                })),
                ext_km,
                ext_group: None,
                sid: Some(streamid.into()),
            },
        )
    }

    pub(super) fn km_response() -> SrtControlPacket {
        SrtControlPacket::KeyRefreshResponse(KeyingMaterialMessage {
            pt: PacketType::KeyingMaterial,
            key_flags: KeyFlags::EVEN,
            keki: 0,
            cipher: CipherType::Ctr,
            auth: Auth::None,
            salt: vec![7; 16],
            wrapped_keys: vec![9; 24],
        })
    }

    /// The cookie of a listener's induction response.
    pub(super) fn cookie(response: &[u8]) -> Option<i32> {
        match Packet::parse(&mut std::io::Cursor::new(response), false).ok()? {
            Packet::Control(ControlPacket {
                control_type: ControlTypes::Handshake(h),
                ..
            }) => Some(h.syn_cookie),
            _ => None,
        }
    }

    /// `packet` with its stream-id extension (type 5) retyped as `ty`.
    pub(super) fn retype_streamid(mut packet: Vec<u8>, ty: u8) -> Vec<u8> {
        let at = packet
            .windows(2)
            .rposition(|w| w == [0, 5])
            .expect("a stream id extension");
        packet[at + 1] = ty;
        packet
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_malicious_handshakes_do_not_disturb_a_live_stream() {
    logs();
    if !have_ffmpeg() {
        return;
    }
    let hub = Arc::new(Hub::default());
    let addr = shared(
        &hub,
        admission(&[("cam", "push://", None), ("junk", "push://", None)]),
        None,
    )
    .await;
    let _ffmpeg = ffmpeg_srt(&format!("srt://{addr}?streamid=publish:cam&pkt_size=1316"));
    let stream = hub.stream("cam");
    wait_for(15, "cam to go live", || live(&stream)).await;

    // random datagrams of every size, from many source ports
    let mut rng = XorShift(0xbad_5eed);
    for _ in 0..20 {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for _ in 0..100 {
            let len = (rng.next() % 1600) as usize;
            let mut junk: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if len > 0 && rng.chance(50) {
                junk[0] |= 0x80; // looks like a control packet
            }
            socket.send_to(&junk, addr).await.unwrap();
        }
    }

    // handshakes that panic srt-protocol when they reach it
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let induction = craft::handshake(craft::ShakeType::Induction, 0, Default::default());
    socket.send_to(&induction, addr).await.unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .expect("an induction response")
        .unwrap();
    let cookie = craft::cookie(&buf[..n]).expect("a cookie");
    let attacks = [
        // key material where a request is due ("expected no secrets")
        craft::conclusion(cookie, "publish:junk", Some(craft::km_response())),
        // a congestion-control extension ("Implement other kinds")
        craft::retype_streamid(craft::conclusion(cookie, "publish:junk", None), 6),
        // a packet-filter extension
        craft::retype_streamid(craft::conclusion(cookie, "publish:junk", None), 7),
        // a group extension shorter than its fields
        craft::retype_streamid(craft::conclusion(cookie, "", None), 8),
    ];
    for attack in &attacks {
        socket.send_to(attack, addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // an SRT publisher that sends no MPEG-TS is dropped
    let mut junk = timeout(
        Duration::from_secs(10),
        srt_tokio::SrtSocket::builder().call(addr, Some("publish:junk")),
    )
    .await
    .unwrap()
    .expect("junk is admitted");
    // random bytes at about 5 Mbps until the port gives up on them (5 s and 1 MiB)
    let junk_stream = hub.stream("junk");
    let sent = async {
        while !junk_stream
            .last_error()
            .is_some_and(|e| e.contains("not mpeg-ts"))
        {
            for _ in 0..4 {
                let data: Vec<u8> = (0..1316).map(|_| rng.next() as u8).collect();
                let _ = junk.try_send(std::time::Instant::now(), data.into());
            }
            tokio::time::sleep(Duration::from_millis(8)).await;
        }
    };
    timeout(Duration::from_secs(20), sent)
        .await
        .expect("junk dropped as not mpeg-ts within 20 s");
    wait_for(5, "junk to be offline", || junk_stream.state() == State::Offline).await;

    // the port still answers and cam never noticed
    assert_eq!(reject_code_for(addr, "publish:ghost").await, 2404);
    assert_flowing(&stream).await;
    assert!(stream.last_error().is_none(), "{:?}", stream.last_error());
}

// ---- 9. one caller at a time on a per-stream listener ---------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_stream_listener_takes_one_caller_at_a_time() {
    logs();
    if !have_ffmpeg() {
        return;
    }
    let hub = Arc::new(Hub::default());
    let stream = hub.stream("one");
    let listener = SourceListener::bind(&srt_source("srt://127.0.0.1:1?mode=listener", 0))
        .await
        .unwrap();
    let addr = listener.local_addr();
    tokio::spawn(listener.run(stream.clone()));
    let mut first = ffmpeg_srt(&format!("srt://{addr}?pkt_size=1316"));
    wait_for(15, "one to go live", || live(&stream)).await;
    assert_eq!(reject_code_for(addr, "anything").await, 2409, "busy");
    assert_flowing(&stream).await;
    first.kill();
    wait_for(5, "one to go offline", || stream.state() == State::Offline).await;
    let _second = ffmpeg_srt(&format!("srt://{addr}?pkt_size=1316"));
    wait_for(15, "one to go live with the next caller", || live(&stream)).await;
}

// ---- 10. rendezvous ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendezvous_with_srt_live_transmit() {
    logs();
    if !have_tools() {
        return;
    }
    // on one host each side needs its own port: `port=` is the local one
    let (theirs, ours) = (free_udp_port(), free_udp_port());
    let (_ffmpeg, _slt) = slt_pipeline(&format!("srt://127.0.0.1:{ours}?mode=rendezvous&port={theirs}"));
    let hub = Arc::new(Hub::default());
    let stream = hub.stream("meet");
    let task = tokio::spawn(run_source_forever(
        srt_source(&format!("srt://127.0.0.1:1?mode=rendezvous&port={ours}"), theirs),
        stream.clone(),
    ));
    wait_for(20, "meet to go live", || live(&stream)).await;
    assert_h264_aac(&stream);
    task.abort();
}
