//! The WebRTC server: one UDP socket, one run loop owning every session's
//! `str0m::Rtc`, and per-viewer feed tasks that read the hub.
//!
//! The loop waits on the socket, on commands (new session, removal), on
//! media from the feeds and on the earliest session deadline; after each
//! input it drains the affected session's outputs (datagrams to send,
//! events, its next deadline). Viewers (WHEP) get frames converted once per
//! stream; publishers (WHIP) feed a hub `Publisher` and are asked for a
//! keyframe every `keyframe_interval` and whenever a viewer of their stream
//! asks (PLI/FIR forwarded). NACKs are answered by str0m from its send
//! buffer; TWCC feedback is negotiated and handled by str0m.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use hub::{Event as HubEvent, Hub, LiveStream, Protocol, Publisher};
use media::Codec;
use parking_lot::Mutex;
use str0m::change::SdpOffer;
use str0m::format::Codec as RtcCodec;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid, Pt};
use str0m::net::{Protocol as NetProtocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::convert::{Egress, Ingress, Kind, Outgoing, Received, SharedConversions};

/// Settings of the WebRTC server.
#[derive(Clone, Debug)]
pub struct Config {
    /// The UDP port every session shares.
    pub listen: SocketAddr,
    /// Addresses announced as host candidates (for NAT or Kubernetes nodes,
    /// the public ones). Empty: the listen address, or 127.0.0.1 when it is
    /// unspecified.
    pub public_ips: Vec<IpAddr>,
    /// A session whose ICE and DTLS have not completed by then is dropped.
    pub connect_timeout: Duration,
    /// Publishers are asked for a keyframe this often (HLS segments need them).
    pub keyframe_interval: Duration,
    /// At most this many sessions at once.
    pub max_sessions: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8189)),
            public_ips: Vec::new(),
            connect_timeout: Duration::from_secs(15),
            keyframe_interval: Duration::from_secs(2),
            max_sessions: 10_000,
        }
    }
}

/// Why an offer was refused.
#[derive(Debug, thiserror::Error)]
pub enum OfferError {
    /// The SDP does not parse.
    #[error("invalid SDP: {0}")]
    BadSdp(String),
    /// The offer cannot be answered (e.g. no common codec).
    #[error("{0}")]
    Rejected(String),
    /// The stream is unknown.
    #[error("no stream named {0:?}")]
    NoStream(String),
    /// The stream is not live (after waiting for an on-demand start).
    #[error("stream {0:?} is not live")]
    Offline(String),
    /// Publishing is not allowed.
    #[error("publishing refused: {0}")]
    Refused(String),
    /// The stream already has a publisher.
    #[error("stream {0:?} already has a publisher")]
    Busy(String),
    /// Too many sessions.
    #[error("too many WebRTC sessions")]
    Full,
    /// The server stopped.
    #[error("the WebRTC server stopped")]
    Stopped,
}

/// Who may publish: `(stream, peer address, bearer token)` to `Ok` or a reason.
pub type Admit = Arc<dyn Fn(&str, IpAddr, Option<&str>) -> Result<(), String> + Send + Sync>;

/// A session's id (in its URL).
pub type SessionId = u64;

/// A session as the HTTP API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// `whep` or `whip`.
    pub role: &'static str,
    /// The stream.
    pub stream: String,
    /// `new`, `connected`, `closed`.
    pub state: &'static str,
    /// What is not sent (e.g. AAC audio), if anything.
    pub note: Option<String>,
}

/// A frame for a session, with when its feed read it from the hub.
pub type Media = (SessionId, Outgoing, Instant);

enum Command {
    Add(Box<Session>),
    Remove(SessionId, oneshot::Sender<bool>),
}

/// Counters of the server.
#[derive(Debug, Default)]
pub struct Stats {
    /// Sessions now.
    pub sessions: AtomicU64,
    /// Frames written to viewers.
    pub frames_out: AtomicU64,
    /// Frames published by WHIP sessions.
    pub frames_in: AtomicU64,
    /// Frames dropped because a viewer's queue was full.
    pub dropped: AtomicU64,
    /// Datagrams no session accepted.
    pub stray_datagrams: AtomicU64,
    /// Time from a viewer's feed reading a frame from the hub to its RTP
    /// packets handed to the socket, as counts per bucket of [`SEND_BUCKETS`].
    pub send_latency: [AtomicU64; SEND_BUCKETS.len() + 1],
    /// Sum of those times in microseconds.
    pub send_latency_sum_us: AtomicU64,
}

/// Upper bounds (seconds) of the send-latency buckets; the last bucket is
/// everything above.
pub const SEND_BUCKETS: [f64; 10] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1, 1.0,
];

impl Stats {
    fn record_send(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = SEND_BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(SEND_BUCKETS.len());
        self.send_latency[i].fetch_add(1, Ordering::Relaxed);
        self.send_latency_sum_us.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The send-latency bucket counts (not cumulative) with their upper
    /// bounds, `f64::INFINITY` last.
    pub fn send_latency_buckets(&self) -> Vec<(f64, u64)> {
        SEND_BUCKETS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(&self.send_latency)
            .map(|(b, n)| (b, n.load(Ordering::Relaxed)))
            .collect()
    }
}

/// The counters as Prometheus metrics, `tributary_webrtc_*`.
#[derive(Debug)]
pub struct Collector(pub Arc<Stats>);

impl prometheus_client::collector::Collector for Collector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::MetricType;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        let s = &self.0;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let gauge = encoder.encode_descriptor(
            "tributary_webrtc_sessions",
            "WebRTC sessions (WHEP and WHIP)",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(i64::try_from(load(&s.sessions)).unwrap_or(i64::MAX)).encode(gauge)?;
        for (name, help, v) in [
            (
                "tributary_webrtc_frames_sent",
                "Frames written to WebRTC viewers",
                &s.frames_out,
            ),
            (
                "tributary_webrtc_frames_received",
                "Frames published by WebRTC publishers",
                &s.frames_in,
            ),
            (
                "tributary_webrtc_dropped_frames",
                "Frames dropped because a viewer's queue was full",
                &s.dropped,
            ),
            (
                "tributary_webrtc_stray_datagrams",
                "Datagrams on the WebRTC port no session accepted",
                &s.stray_datagrams,
            ),
        ] {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(load(v)).encode(metric)?;
        }
        let buckets = s.send_latency_buckets();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = load(&s.send_latency_sum_us) as f64 / 1e6;
        let mut metric = encoder.encode_descriptor(
            "tributary_webrtc_send_latency_seconds",
            "Time from a viewer's feed reading a frame to its RTP packets handed to the socket",
            None,
            MetricType::Histogram,
        )?;
        let finite: Vec<(f64, u64)> = buckets.into_iter().collect();
        metric.encode_histogram::<prometheus_client::encoding::NoLabelSet>(sum, count, &finite, None)
    }
}

/// The WebRTC server's handle.
pub struct Server {
    hub: Arc<Hub>,
    commands: mpsc::Sender<Command>,
    candidates: Vec<SocketAddr>,
    next_id: AtomicU64,
    info: Arc<Mutex<HashMap<SessionId, SessionInfo>>>,
    conversions: Mutex<HashMap<String, Weak<SharedConversions>>>,
    admit: Admit,
    config: Config,
    /// Counters.
    pub stats: Arc<Stats>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("candidates", &self.candidates)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds the UDP port and starts the run loop. `admit` decides who may
    /// publish (WHIP).
    pub async fn bind(config: Config, hub: Arc<Hub>, admit: Admit) -> std::io::Result<Arc<Self>> {
        let socket = UdpSocket::bind(config.listen).await?;
        let local = socket.local_addr()?;
        let ips = if config.public_ips.is_empty() {
            vec![if local.ip().is_unspecified() {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                local.ip()
            }]
        } else {
            config.public_ips.clone()
        };
        let candidates: Vec<SocketAddr> = ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, local.port()))
            .collect();
        tracing::info!(addr = %local, candidates = ?candidates, "webrtc listening");
        let (commands, command_rx) = mpsc::channel(256);
        let (media, media_rx) = mpsc::channel(4096);
        let info = Arc::new(Mutex::new(HashMap::new()));
        let stats = Arc::new(Stats::default());
        let server = Arc::new(Self {
            hub,
            commands,
            candidates: candidates.clone(),
            next_id: AtomicU64::new(1),
            info: info.clone(),
            conversions: Mutex::new(HashMap::new()),
            admit,
            config: config.clone(),
            stats: stats.clone(),
        });
        let run = RunLoop {
            socket,
            destination: candidates[0],
            sessions: HashMap::new(),
            info,
            stats,
            media,
            config,
        };
        tokio::spawn(run.run(command_rx, media_rx));
        Ok(server)
    }

    /// The host candidates sessions announce.
    pub fn candidates(&self) -> &[SocketAddr] {
        &self.candidates
    }

    /// A session's state, if it exists.
    pub fn session(&self, id: SessionId) -> Option<SessionInfo> {
        self.info.lock().get(&id).cloned()
    }

    /// Ends a session; false when there is none.
    pub async fn remove(&self, id: SessionId) -> bool {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Remove(id, tx)).await.is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }

    fn new_rtc(&self, now: Instant) -> Result<Rtc, OfferError> {
        let mut rtc = RtcConfig::new()
            .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
            .set_ice_lite(true)
            // About 2 s of a 2 Mbit/s stream for NACK retransmissions (the
            // default keeps 1000 packets per session).
            .set_send_buffer_video(400)
            .clear_codecs()
            // H.264 before VP8: answers list it first, so publishers that
            // offer both send H.264.
            .enable_h264(true)
            .enable_vp8(true)
            .enable_opus(true, false)
            .build(now);
        for addr in &self.candidates {
            let c = Candidate::host(*addr, "udp")
                .map_err(|e| OfferError::Rejected(format!("candidate {addr}: {e}")))?;
            rtc.add_local_candidate(c);
        }
        Ok(rtc)
    }

    fn check_capacity(&self) -> Result<(), OfferError> {
        if self.info.lock().len() >= self.config.max_sessions {
            return Err(OfferError::Full);
        }
        Ok(())
    }

    /// Answers a WHEP offer for stream `name`: the answer SDP and the session id.
    pub async fn whep(&self, name: &str, offer: &str) -> Result<(SessionId, String), OfferError> {
        self.check_capacity()?;
        let stream = self
            .hub
            .get(name)
            .ok_or_else(|| OfferError::NoStream(name.to_owned()))?;
        let offer = SdpOffer::from_sdp_string(offer).map_err(|e| OfferError::BadSdp(e.to_string()))?;
        if !stream.wait_live(Duration::from_secs(5)).await {
            return Err(OfferError::Offline(name.to_owned()));
        }
        let accepted = self.accept(offer, Direction::SendOnly, "receive")?;
        let role = Role::Whep(Whep {
            stream,
            video: accepted.video,
            audio: accepted.audio,
            conversions: self.conversions_of(name),
            feed: None,
        });
        self.add(name, accepted.rtc, accepted.started, role, accepted.answer)
            .await
    }

    /// Answers a WHIP offer publishing to stream `name`.
    pub async fn whip(
        &self,
        name: &str,
        offer: &str,
        peer: IpAddr,
        token: Option<&str>,
    ) -> Result<(SessionId, String), OfferError> {
        self.check_capacity()?;
        (self.admit)(name, peer, token).map_err(OfferError::Refused)?;
        let offer = SdpOffer::from_sdp_string(offer).map_err(|e| OfferError::BadSdp(e.to_string()))?;
        let accepted = self.accept(offer, Direction::RecvOnly, "send")?;
        let publisher = self
            .hub
            .stream(name)
            .publish()
            .map_err(|_| OfferError::Busy(name.to_owned()))?;
        let (video, audio) = (accepted.video.map(|(m, _)| m), accepted.audio.map(|(m, _)| m));
        let role = Role::Whip(Whip {
            publisher,
            ingress: Ingress::new(video.is_some(), audio.map(|_| 2)),
            video,
            audio,
            last_keyframe_request: accepted.started,
            published: false,
        });
        self.add(name, accepted.rtc, accepted.started, role, accepted.answer)
            .await
    }

    /// Answers `offer` with a new session whose media go `ours` (this side's
    /// direction): the first video section with H.264 or VP8 (both payload
    /// types kept when offered, H.264 preferred) and the first Opus audio
    /// section, or a refusal naming what the offer must `verb`.
    fn accept(&self, offer: SdpOffer, ours: Direction, verb: &str) -> Result<Accepted, OfferError> {
        let started = Instant::now();
        let mut rtc = self.new_rtc(started)?;
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| OfferError::Rejected(format!("the offer cannot be answered: {e}")))?
            .to_sdp_string();
        let mut video = None;
        let mut audio = None;
        for (mid, kind, direction) in answered_media(&rtc, &answer) {
            if direction != ours && direction != Direction::SendRecv {
                continue;
            }
            match kind {
                MediaKind::Video if video.is_none() => {
                    let pts = VideoPts {
                        h264: pick_pt(&mut rtc, mid, RtcCodec::H264),
                        vp8: pick_pt(&mut rtc, mid, RtcCodec::Vp8),
                    };
                    video = (pts.h264.is_some() || pts.vp8.is_some()).then_some((mid, pts));
                }
                MediaKind::Audio if audio.is_none() => {
                    audio = pick_pt(&mut rtc, mid, RtcCodec::Opus).map(|pt| (mid, pt))
                }
                _ => {}
            }
        }
        if video.is_none() && audio.is_none() {
            return Err(OfferError::Rejected(format!(
                "no common codec: the offer must {verb} H.264 or VP8 video or Opus audio"
            )));
        }
        Ok(Accepted {
            rtc,
            answer,
            started,
            video,
            audio,
        })
    }

    /// Hands a new session to the run loop.
    async fn add(
        &self,
        name: &str,
        rtc: Rtc,
        started: Instant,
        role: Role,
        answer: String,
    ) -> Result<(SessionId, String), OfferError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let kind = match role {
            Role::Whep(_) => "whep",
            Role::Whip(_) => "whip",
        };
        self.info.lock().insert(
            id,
            SessionInfo {
                role: kind,
                stream: name.to_owned(),
                state: "new",
                note: None,
            },
        );
        let session = Session {
            id,
            rtc,
            started,
            connected: false,
            stream: name.to_owned(),
            deadline: started,
            role,
        };
        if self.commands.send(Command::Add(Box::new(session))).await.is_err() {
            self.info.lock().remove(&id);
            return Err(OfferError::Stopped);
        }
        Ok((id, answer))
    }

    fn conversions_of(&self, name: &str) -> Arc<SharedConversions> {
        let mut map = self.conversions.lock();
        map.retain(|_, w| w.strong_count() > 0);
        if let Some(c) = map.get(name).and_then(Weak::upgrade) {
            return c;
        }
        let c = Arc::new(SharedConversions::default());
        map.insert(name.to_owned(), Arc::downgrade(&c));
        c
    }
}

/// The media sections of an accepted offer (their mids, read from the
/// answer: str0m announces them as events only once media can flow), with
/// kind and this side's direction.
fn answered_media(rtc: &Rtc, answer: &str) -> Vec<(Mid, MediaKind, Direction)> {
    let out: Vec<_> = answer
        .lines()
        .filter_map(|l| l.strip_prefix("a=mid:"))
        .filter_map(|m| {
            let mid = Mid::from(m.trim());
            rtc.media(mid).map(|media| (mid, media.kind(), media.direction()))
        })
        .collect();
    tracing::debug!(media = ?out, "media of the offer");
    out
}

/// The payload type of `codec` negotiated for `mid` (for H.264, packetization
/// mode 1 preferred).
fn pick_pt(rtc: &mut Rtc, mid: Mid, codec: RtcCodec) -> Option<Pt> {
    let writer = rtc.writer(mid)?;
    let mut best: Option<(bool, Pt)> = None;
    for p in writer.payload_params() {
        let spec = p.spec();
        tracing::debug!(%mid, ?spec, "negotiated payload");
        if spec.codec != codec {
            continue;
        }
        let preferred = codec != RtcCodec::H264 || spec.format.packetization_mode == Some(1);
        if best.is_none_or(|(b, _)| preferred && !b) {
            best = Some((preferred, p.pt()));
        }
    }
    best.map(|(_, pt)| pt)
}

/// The payload types of a video section, per codec the offer has.
#[derive(Clone, Copy, Debug)]
struct VideoPts {
    h264: Option<Pt>,
    vp8: Option<Pt>,
}

/// An answered offer.
struct Accepted {
    rtc: Rtc,
    answer: String,
    started: Instant,
    video: Option<(Mid, VideoPts)>,
    audio: Option<(Mid, Pt)>,
}

struct Session {
    id: SessionId,
    rtc: Rtc,
    started: Instant,
    connected: bool,
    stream: String,
    deadline: Instant,
    role: Role,
}

enum Role {
    Whep(Whep),
    Whip(Whip),
}

struct Whep {
    stream: Arc<LiveStream>,
    video: Option<(Mid, VideoPts)>,
    audio: Option<(Mid, Pt)>,
    conversions: Arc<SharedConversions>,
    feed: Option<tokio::task::JoinHandle<()>>,
}

struct Whip {
    publisher: Publisher,
    ingress: Ingress,
    video: Option<Mid>,
    audio: Option<Mid>,
    last_keyframe_request: Instant,
    published: bool,
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Role::Whep(w) = &self.role
            && let Some(feed) = &w.feed
        {
            feed.abort();
        }
    }
}

/// Datagrams or frames handled per wake-up of the loop before its per-pass
/// work (deadlines, removals), which is linear in the number of sessions.
const BATCH: usize = 1024;

struct RunLoop {
    socket: UdpSocket,
    destination: SocketAddr,
    sessions: HashMap<SessionId, Session>,
    info: Arc<Mutex<HashMap<SessionId, SessionInfo>>>,
    stats: Arc<Stats>,
    media: mpsc::Sender<Media>,
    config: Config,
}

impl RunLoop {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>, mut media: mpsc::Receiver<Media>) {
        let mut buf = vec![0u8; 2048];
        loop {
            let next = self
                .sessions
                .values()
                .map(|s| s.deadline)
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
            tokio::select! {
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok((n, source)) => {
                        self.receive(source, &buf[..n]);
                        // Whatever else is waiting, before the per-pass work.
                        for _ in 0..BATCH {
                            match self.socket.try_recv_from(&mut buf) {
                                Ok((n, source)) => self.receive(source, &buf[..n]),
                                Err(_) => break,
                            }
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "webrtc socket receive"),
                },
                c = commands.recv() => match c {
                    Some(Command::Add(session)) => {
                        let id = session.id;
                        self.sessions.insert(id, *session);
                        self.stats.sessions.store(self.sessions.len() as u64, Ordering::Relaxed);
                        self.drive(id);
                    }
                    Some(Command::Remove(id, done)) => {
                        let found = self.end(id, "deleted");
                        let _ = done.send(found);
                    }
                    None => return,
                },
                m = media.recv() => if let Some((id, out, read)) = m {
                    self.write(id, &out);
                    self.stats.record_send(read.elapsed());
                    for _ in 0..BATCH {
                        let Ok((id, out, read)) = media.try_recv() else { break };
                        self.write(id, &out);
                        self.stats.record_send(read.elapsed());
                    }
                },
                () = tokio::time::sleep_until(next.into()) => {}
            }
            self.timeouts();
        }
    }

    fn receive(&mut self, source: SocketAddr, data: &[u8]) {
        let Ok(receive) = Receive::new(NetProtocol::Udp, source, self.destination, data) else {
            self.stats.stray_datagrams.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let input = Input::Receive(Instant::now(), receive);
        let Some(id) = self
            .sessions
            .iter()
            .find(|(_, s)| s.rtc.accepts(&input))
            .map(|(id, _)| *id)
        else {
            self.stats.stray_datagrams.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let session = self.sessions.get_mut(&id).expect("found above");
        if let Err(e) = session.rtc.handle_input(input) {
            tracing::debug!(session = id, error = %e, "webrtc input refused");
        }
        self.drive(id);
    }

    fn timeouts(&mut self) {
        let now = Instant::now();
        let due: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(s) = self.sessions.get_mut(&id) {
                let _ = s.rtc.handle_input(Input::Timeout(now));
                self.keyframe_requests(id, now);
                self.drive(id);
            }
        }
        let dead: Vec<(SessionId, &'static str)> = self
            .sessions
            .values()
            .filter_map(|s| {
                if !s.rtc.is_alive() {
                    Some((s.id, "closed"))
                } else if !s.connected && now.duration_since(s.started) > self.config.connect_timeout {
                    Some((s.id, "ICE and DTLS did not complete in time"))
                } else {
                    None
                }
            })
            .collect();
        for (id, why) in dead {
            self.end(id, why);
        }
    }

    /// Publishers are asked for a keyframe every `keyframe_interval`.
    fn keyframe_requests(&mut self, id: SessionId, now: Instant) {
        let interval = self.config.keyframe_interval;
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let Role::Whip(w) = &mut s.role else { return };
        if !s.connected || now.duration_since(w.last_keyframe_request) < interval {
            return;
        }
        w.last_keyframe_request = now;
        if let Some(mid) = w.video
            && let Some(mut writer) = s.rtc.writer(mid)
        {
            let _ = writer.request_keyframe(None, KeyframeRequestKind::Pli);
        }
    }

    fn end(&mut self, id: SessionId, why: &str) -> bool {
        let Some(mut s) = self.sessions.remove(&id) else {
            return false;
        };
        s.rtc.disconnect();
        self.info.lock().remove(&id);
        self.stats
            .sessions
            .store(self.sessions.len() as u64, Ordering::Relaxed);
        tracing::info!(session = id, stream = %s.stream, reason = why, "webrtc session ended");
        true
    }

    fn write(&mut self, id: SessionId, out: &Outgoing) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let Role::Whep(w) = &s.role else { return };
        let target = match out.kind {
            Kind::Video => w.video.and_then(|(mid, pts)| {
                let pt = if out.codec == Codec::Vp8 {
                    pts.vp8
                } else {
                    pts.h264
                };
                if pt.is_none()
                    && let Some(i) = self.info.lock().get_mut(&id)
                {
                    note_unoffered(i, &out.codec);
                }
                Some((mid, pt?))
            }),
            Kind::Audio => w.audio,
        };
        let Some((mid, pt)) = target else { return };
        let clock = match out.kind {
            Kind::Video => str0m::media::Frequency::NINETY_KHZ,
            Kind::Audio => str0m::media::Frequency::FORTY_EIGHT_KHZ,
        };
        if let Some(writer) = s.rtc.writer(mid) {
            let time = str0m::media::MediaTime::new(out.rtp_time, clock);
            match writer.write(pt, Instant::now(), time, out.data.clone()) {
                Ok(()) => {
                    self.stats.frames_out.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => tracing::debug!(session = id, error = %e, "webrtc write"),
            }
        }
        self.drive(id);
    }

    /// Drains a session's outputs: datagrams out, events handled, next deadline.
    fn drive(&mut self, id: SessionId) {
        let mut forward_pli: Option<String> = None;
        {
            let Some(s) = self.sessions.get_mut(&id) else {
                return;
            };
            loop {
                match s.rtc.poll_output() {
                    Ok(Output::Timeout(t)) => {
                        s.deadline = t;
                        break;
                    }
                    Ok(Output::Transmit(t)) => {
                        if let Err(e) = self.socket.try_send_to(&t.contents, t.destination)
                            && e.kind() != std::io::ErrorKind::WouldBlock
                        {
                            tracing::debug!(session = id, error = %e, "webrtc send");
                        }
                    }
                    Ok(Output::Event(e)) => {
                        if let Some(stream) = on_event(s, e, &self.info, &self.stats, &self.media) {
                            forward_pli = Some(stream);
                        }
                    }
                    Err(e) => {
                        tracing::debug!(session = id, error = %e, "webrtc session failed");
                        s.rtc.disconnect();
                        s.deadline = Instant::now();
                        break;
                    }
                }
            }
        }
        if let Some(stream) = forward_pli {
            self.forward_keyframe_request(&stream);
        }
    }

    /// A viewer asked for a keyframe: ask the stream's WebRTC publisher, if
    /// it has one here (other sources cannot be asked).
    fn forward_keyframe_request(&mut self, stream: &str) {
        let now = Instant::now();
        for s in self.sessions.values_mut() {
            if s.stream != stream {
                continue;
            }
            if let Role::Whip(w) = &mut s.role
                && let Some(mid) = w.video
                && now.duration_since(w.last_keyframe_request) > Duration::from_millis(500)
            {
                w.last_keyframe_request = now;
                if let Some(mut writer) = s.rtc.writer(mid) {
                    let _ = writer.request_keyframe(None, KeyframeRequestKind::Pli);
                }
            }
        }
    }
}

/// Says in a viewer's note (once) that its offer lacks the stream's video codec.
fn note_unoffered(info: &mut SessionInfo, codec: &Codec) {
    let name = if *codec == Codec::Vp8 { "VP8" } else { "H.264" };
    let missing = format!("not sent: {name} video (the viewer's offer has no {name})");
    match &mut info.note {
        Some(n) if n.contains(&missing) => {}
        Some(n) => *n = format!("{n}; {missing}"),
        None => info.note = Some(missing),
    }
}

/// Handles one event of a session; returns the stream whose publisher a
/// viewer asked for a keyframe.
fn on_event(
    s: &mut Session,
    event: Event,
    info: &Arc<Mutex<HashMap<SessionId, SessionInfo>>>,
    stats: &Arc<Stats>,
    media: &mpsc::Sender<Media>,
) -> Option<String> {
    match event {
        Event::Connected => {
            s.connected = true;
            if let Some(i) = info.lock().get_mut(&s.id) {
                i.state = "connected";
            }
            tracing::info!(session = s.id, stream = %s.stream, "webrtc session connected");
            if let Role::Whep(w) = &mut s.role {
                w.feed = Some(tokio::spawn(feed(
                    s.id,
                    w.stream.clone(),
                    w.conversions.clone(),
                    media.clone(),
                    info.clone(),
                    stats.clone(),
                )));
            }
            None
        }
        Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
            s.rtc.disconnect();
            None
        }
        Event::MediaData(data) => {
            let Role::Whip(w) = &mut s.role else { return None };
            let since = data.network_time.saturating_duration_since(s.started);
            let received = if Some(data.mid) == w.video && data.params.spec().codec == RtcCodec::Vp8 {
                w.ingress.vp8(&data.data, data.time.numer(), since)
            } else if Some(data.mid) == w.video {
                w.ingress.video(&data.data, data.time.numer(), since)
            } else if Some(data.mid) == w.audio {
                w.ingress.audio(&data.data, data.time.numer(), since)
            } else {
                Received::Nothing
            };
            match received {
                Received::Tracks(tracks, frame) => {
                    w.publisher.set_tracks(tracks);
                    w.published = true;
                    w.publisher.push(frame);
                    stats.frames_in.fetch_add(1, Ordering::Relaxed);
                }
                Received::Frame(frame) if w.published || w.video.is_none() => {
                    if !w.published {
                        w.publisher.set_tracks(w.ingress.tracks());
                        w.published = true;
                    }
                    w.publisher.push(frame);
                    stats.frames_in.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
            None
        }
        Event::KeyframeRequest(_) => matches!(s.role, Role::Whep(_)).then(|| s.stream.clone()),
        Event::RtpPacket(_) | Event::StreamPaused(_) => None,
        _ => None,
    }
}

/// Reads the stream for one viewer and sends converted frames into the run loop.
async fn feed(
    id: SessionId,
    stream: Arc<LiveStream>,
    conversions: Arc<SharedConversions>,
    media: mpsc::Sender<Media>,
    info: Arc<Mutex<HashMap<SessionId, SessionInfo>>>,
    stats: Arc<Stats>,
) {
    let mut sub = stream.subscribe_as(Protocol::WebRtc);
    let mut egress = Egress::default();
    // After a drop, wait for the next video keyframe so the decoder recovers cleanly.
    let mut wait_keyframe = true;
    let mut reordered = false;
    loop {
        match sub.next().await {
            HubEvent::Tracks(tracks) => {
                egress = Egress::new(&tracks);
                if let Some(note) = &egress.note {
                    tracing::info!(session = id, "{note}");
                }
                if let Some(i) = info.lock().get_mut(&id) {
                    i.note = egress.note.clone();
                }
                wait_keyframe = egress.has_video();
            }
            HubEvent::Frame(frame) => {
                let Some(out) = conversions.get(&egress, &frame) else {
                    continue;
                };
                if out.kind == Kind::Video && frame.pts != frame.dts && !reordered {
                    // Browsers' WebRTC decoders take frames in decode order
                    // without reordering: a source with B-frames plays badly
                    // (the viewer keeps asking for keyframes). Said once, in
                    // the session's note.
                    reordered = true;
                    tracing::info!(
                        session = id,
                        "the source has B-frames; WebRTC players show them badly"
                    );
                    if let Some(i) = info.lock().get_mut(&id) {
                        let warning = "the source has B-frames, which WebRTC players cannot show smoothly (encode without them, e.g. x264 -bf 0)";
                        i.note = Some(match i.note.take() {
                            Some(n) => format!("{n}; {warning}"),
                            None => warning.to_owned(),
                        });
                    }
                }
                if wait_keyframe && out.kind == Kind::Video {
                    if !out.keyframe {
                        continue;
                    }
                    wait_keyframe = false;
                }
                match media.try_send((id, out, Instant::now())) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        stats.dropped.fetch_add(1, Ordering::Relaxed);
                        wait_keyframe = egress.has_video();
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
            HubEvent::Skipped { .. } => wait_keyframe = egress.has_video(),
            HubEvent::Offline => {}
            HubEvent::Closed => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_video_codec_is_noted_once_after_other_notes() {
        let mut info = SessionInfo {
            role: "whep",
            stream: "cam".into(),
            state: "connected",
            note: None,
        };
        note_unoffered(&mut info, &Codec::Vp8);
        assert_eq!(
            info.note.as_deref(),
            Some("not sent: VP8 video (the viewer's offer has no VP8)")
        );
        info.note = Some("not sent: AAC audio".into());
        note_unoffered(&mut info, &Codec::H264);
        note_unoffered(&mut info, &Codec::H264);
        assert_eq!(
            info.note.as_deref(),
            Some("not sent: AAC audio; not sent: H.264 video (the viewer's offer has no H.264)")
        );
    }
}
