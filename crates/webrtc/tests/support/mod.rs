//! A live stream and WHEP viewers in the test's own process, for the
//! congestion test and the fan-out benchmark.
//!
//! The stream is synthetic H.264 at 25 fps, about 2 Mbit/s (a 60 kB
//! keyframe every 2 s, 9 kB otherwise), with Opus audio at 50 packets/s.
//! A viewer is a str0m session with a UDP socket of its own: it does ICE,
//! DTLS and RTCP as a browser does (TWCC feedback and receiver reports go
//! back) and counts the frames it receives.

#![allow(dead_code, reason = "each test target uses part of the helpers")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hub::Hub;
use media::{Codec, Frame, Timestamp, Track, sample};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use webrtc::server::{Server, SessionId};

/// Bytes of the synthetic stream's video frames: keyframes, the others.
pub(crate) const KEYFRAME_BYTES: usize = 60_000;
pub(crate) const DELTA_BYTES: usize = 9_000;

/// Starts publishing the synthetic stream `name`; the task runs until aborted.
pub(crate) fn publish(hub: &Hub, name: &str) -> tokio::task::JoinHandle<()> {
    let publisher = hub.stream(name).publish().expect("a free stream");
    let mut audio = Track::new(2, Codec::Opus, 48_000);
    audio.init = webrtc::convert::dops(2);
    publisher.set_tracks(vec![sample::h264_track(1), audio]);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for i in 0i64.. {
            tick.tick().await;
            let a = Timestamp::new(i * 960, 48_000);
            publisher.push(Frame::new(2, a, a, true, vec![0xfc; 120]));
            if i % 2 == 0 {
                let n = i / 2;
                let key = n % 50 == 0;
                publisher.push(sample::h264_frame(
                    1,
                    n,
                    key,
                    if key { KEYFRAME_BYTES } else { DELTA_BYTES },
                ));
            }
        }
    })
}

/// What a viewer has seen.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    pub(crate) connected: AtomicBool,
    /// RTP packets (counted before decryption).
    pub(crate) rtp: AtomicU64,
    pub(crate) video_frames: AtomicU64,
    pub(crate) audio_frames: AtomicU64,
    /// Video frames that came after missing packets or are shorter than
    /// the stream's smallest frame.
    pub(crate) partial_video: AtomicU64,
    /// Set to have the viewer ask for a keyframe (PLI); cleared once asked.
    pub(crate) ask_keyframe: AtomicBool,
}

/// How a viewer takes RTP in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Intake {
    /// Decrypted and depacketized, with feedback to the sender.
    Full,
    /// Counted and dropped (lighter; the sender gets no feedback).
    CountOnly,
}

/// RTP (not RTCP) by RFC 7983's first byte and RFC 5761's payload types.
fn is_rtp(d: &[u8]) -> bool {
    d.len() > 1 && (128..=191).contains(&d[0]) && !(192..=223).contains(&d[1])
}

/// Offers to play `stream` and answers the session until the task is
/// aborted; `seen` counts what arrives. Returns the session id once the
/// offer is answered (through `id`).
pub(crate) async fn view(
    server: Arc<Server>,
    stream: String,
    intake: Intake,
    seen: Arc<Seen>,
    id: Option<tokio::sync::oneshot::Sender<SessionId>>,
) -> Result<(), String> {
    let (socket, local, mut rtc) = client(RtcConfig::new()).await?;
    let mut api = rtc.sdp_api();
    let video: Mid = api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
    api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
    let (offer, pending) = api.apply().ok_or("no offer")?;
    let (session, answer) = server
        .whep(&stream, &offer.to_sdp_string())
        .await
        .map_err(|e| e.to_string())?;
    if let Some(id) = id {
        let _ = id.send(session);
    }
    accept(&mut rtc, pending, &answer)?;
    let mut buf = vec![0u8; 2048];
    loop {
        let deadline = match poll(&mut rtc, &socket).await? {
            Polled::Deadline(t) => t,
            Polled::Event(Event::Connected) => {
                seen.connected.store(true, Ordering::Relaxed);
                continue;
            }
            Polled::Event(Event::IceConnectionStateChange(IceConnectionState::Disconnected)) => {
                return Err("disconnected".into());
            }
            Polled::Event(Event::MediaData(d)) => {
                let frames = if d.mid == video {
                    if !d.contiguous || d.data.len() < DELTA_BYTES {
                        seen.partial_video.fetch_add(1, Ordering::Relaxed);
                    }
                    &seen.video_frames
                } else {
                    &seen.audio_frames
                };
                frames.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Polled::Event(_) => continue,
        };
        if seen.connected.load(Ordering::Relaxed)
            && seen.ask_keyframe.load(Ordering::Relaxed)
            && let Some(mut w) = rtc.writer(video)
            && w.request_keyframe(None, KeyframeRequestKind::Pli).is_ok()
        {
            seen.ask_keyframe.store(false, Ordering::Relaxed);
            continue;
        }
        step(&mut rtc, &socket, local, &mut buf, deadline, |d| {
            if !is_rtp(d) {
                return true;
            }
            seen.rtp.fetch_add(1, Ordering::Relaxed);
            intake == Intake::Full
        })
        .await;
    }
}

/// Takes the server's answer to the session's offer.
fn accept(rtc: &mut Rtc, pending: SdpPendingOffer, answer: &str) -> Result<(), String> {
    let answer = SdpAnswer::from_sdp_string(answer).map_err(|e| e.to_string())?;
    rtc.sdp_api()
        .accept_answer(pending, answer)
        .map_err(|e| e.to_string())
}

/// What a session asks for next.
#[expect(clippy::large_enum_variant, reason = "one at a time, matched at once")]
enum Polled {
    /// Its timeout, at this time.
    Deadline(Instant),
    Event(Event),
}

/// The session's next deadline or event; the datagrams it has to send are
/// sent on the way.
async fn poll(rtc: &mut Rtc, socket: &tokio::net::UdpSocket) -> Result<Polled, String> {
    loop {
        match rtc.poll_output().map_err(|e| e.to_string())? {
            Output::Timeout(t) => return Ok(Polled::Deadline(t)),
            Output::Transmit(t) => {
                let _ = socket.send_to(&t.contents, t.destination).await;
            }
            Output::Event(e) => return Ok(Polled::Event(e)),
        }
    }
}

/// A UDP socket on loopback and a session (str0m's crypto) with it as its
/// host candidate.
async fn client(config: RtcConfig) -> Result<(tokio::net::UdpSocket, SocketAddr, Rtc), String> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let local: SocketAddr = socket.local_addr().map_err(|e| e.to_string())?;
    let mut rtc = config
        .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
        .build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp").map_err(|e| e.to_string())?);
    Ok((socket, local, rtc))
}

/// Gives the session the next datagram (those `take` accepts) or, at
/// `until`, its timeout.
async fn step(
    rtc: &mut Rtc,
    socket: &tokio::net::UdpSocket,
    local: SocketAddr,
    buf: &mut [u8],
    until: Instant,
    mut take: impl FnMut(&[u8]) -> bool,
) {
    tokio::select! {
        r = socket.recv_from(buf) => {
            let Ok((n, source)) = r else { return };
            if take(&buf[..n])
                && let Ok(r) = Receive::new(Protocol::Udp, source, local, &buf[..n])
            {
                let _ = rtc.handle_input(Input::Receive(Instant::now(), r));
            }
        }
        () = tokio::time::sleep(until.saturating_duration_since(Instant::now())) => {
            let _ = rtc.handle_input(Input::Timeout(Instant::now()));
        }
    }
}

/// What a WHIP publisher has seen.
#[derive(Debug, Default)]
pub(crate) struct Published {
    pub(crate) connected: AtomicBool,
    pub(crate) frames: AtomicU64,
    /// Keyframe requests (PLI/FIR) from the server.
    pub(crate) keyframe_requests: AtomicU64,
}

/// Publishes to `stream` over WHIP as a browser does: H.264 at 25 fps (a
/// keyframe with SPS and PPS every 50 frames), until the task is aborted.
pub(crate) async fn whip(server: Arc<Server>, stream: String, seen: Arc<Published>) -> Result<(), String> {
    let (socket, local, mut rtc) = client(RtcConfig::new().clear_codecs().enable_h264(true)).await?;
    let mut api = rtc.sdp_api();
    let video: Mid = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    let (offer, pending) = api.apply().ok_or("no offer")?;
    let (_, answer) = server
        .whip(&stream, &offer.to_sdp_string(), local.ip(), None)
        .await
        .map_err(|e| e.to_string())?;
    accept(&mut rtc, pending, &answer)?;
    let mut buf = vec![0u8; 2048];
    let started = Instant::now();
    let mut next_frame = started;
    let mut n: u64 = 0;
    loop {
        let deadline = match poll(&mut rtc, &socket).await? {
            Polled::Deadline(t) => t,
            Polled::Event(Event::Connected) => {
                seen.connected.store(true, Ordering::Relaxed);
                continue;
            }
            Polled::Event(Event::KeyframeRequest(_)) => {
                seen.keyframe_requests.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Polled::Event(_) => continue,
        };
        let now = Instant::now();
        if seen.connected.load(Ordering::Relaxed) && next_frame <= now {
            let mut frame = Vec::new();
            let key = n.is_multiple_of(50);
            if key {
                for unit in [sample::H264_SPS, sample::H264_PPS] {
                    frame.extend_from_slice(&[0, 0, 0, 1]);
                    frame.extend_from_slice(unit);
                }
            }
            frame.extend_from_slice(&[0, 0, 0, 1, if key { 0x65 } else { 0x41 }]);
            frame.resize(frame.len() + 2_000, 0x5a);
            let writer = rtc.writer(video).ok_or("no writer")?;
            let pt = writer
                .payload_params()
                .find(|p| p.spec().codec == str0m::format::Codec::H264)
                .map(|p| p.pt())
                .ok_or("no H.264")?;
            let time = MediaTime::from_90khz(n * 3600);
            writer.write(pt, now, time, frame).map_err(|e| e.to_string())?;
            seen.frames.fetch_add(1, Ordering::Relaxed);
            n += 1;
            next_frame += Duration::from_millis(40);
            continue;
        }
        let until = if seen.connected.load(Ordering::Relaxed) {
            deadline.min(next_frame)
        } else {
            deadline
        };
        step(&mut rtc, &socket, local, &mut buf, until, |_| true).await;
    }
}
