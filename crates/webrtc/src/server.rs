//! The WebRTC server: one UDP socket and run loops (four per core by
//! default), each owning its share of the sessions' `str0m::Rtc`s and
//! reading the hub once per played stream for its viewers.
//!
//! Loop 0 receives every datagram and hands it to the loop owning its
//! session (ICE checks name it by their username fragment; other
//! datagrams follow the source address of the checks). A loop waits on
//! its datagrams, on commands (new session, removal, keyframe requests
//! from other loops), on its played streams and on the earliest session
//! deadline; after each input it drains the affected sessions' outputs
//! (datagrams to send, events, their next deadline). It converts a frame
//! and cuts it into RTP payloads once, writes its first packet to every
//! viewer at once and the rest afterwards, in chunks between which newer
//! frames go first; a viewer that joins gets the current GOP at once.
//! Publishers (WHIP) feed a hub `Publisher` and are asked for a keyframe
//! every `keyframe_interval` and whenever a viewer of their stream asks
//! (PLI/FIR forwarded). NACKs are answered by str0m from its send buffer.
//! Viewers' bandwidth estimates (str0m's TWCC-based estimator, and REMB
//! from the receiver) hold a congested viewer's video back to keyframes
//! ([`Congestion`]).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hub::{Event as HubEvent, Hub, LiveStream, Protocol, Publisher, Subscriber, ViewerCount};
use media::Codec;
use parking_lot::Mutex;
use str0m::bwe::{Bitrate, BweKind};
use str0m::change::SdpOffer;
use str0m::format::Codec as RtcCodec;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid, Pt};
use str0m::net::{Protocol as NetProtocol, Receive};
use str0m::rtp::RtpWrite;
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::WatchStream;
use tokio_stream::{StreamExt, StreamMap};

use crate::convert::{Egress, Ingress, Kind, Outgoing, Packetizer, Payloads, Received};

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
    /// Run loops, each owning its share of the sessions (0: [`LOOPS_PER_CORE`]
    /// per core the process may use).
    pub loops: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8189)),
            public_ips: Vec::new(),
            connect_timeout: Duration::from_secs(15),
            keyframe_interval: Duration::from_secs(2),
            max_sessions: 10_000,
            loops: 0,
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
    /// A viewer's bandwidth estimate (bits per second), once known.
    pub estimate_bps: Option<u64>,
    /// A viewer's video is held back to keyframes (its estimate is below
    /// what the stream needs).
    pub limited: bool,
}

enum Command {
    Add(Box<Session>),
    Remove(SessionId, oneshot::Sender<bool>),
    /// A viewer of this stream on another loop asked for a keyframe.
    Keyframe(String),
    /// (To the receiving loop) the session of this local ICE username
    /// fragment ended on another loop.
    Forget(String),
}

/// Run loops per core by default. A frame's first packets go to a loop's
/// viewers one after the other, so fewer viewers per loop means an earlier
/// first packet for the last of them, and a loop that the system pauses
/// holds back fewer viewers. Measured at 100 viewers on 2 cores: p99 send
/// latency 1.5-2 ms with one loop per core, 0.25-0.75 ms with four, for
/// 0.31-0.45 % of a core per viewer against 0.32-0.37 %
/// (`bench/webrtc-fanout.sh`).
pub const LOOPS_PER_CORE: usize = 4;

/// A datagram the receiving loop hands to the loop of its session.
struct Datagram {
    source: SocketAddr,
    data: Vec<u8>,
}

/// How the run loops reach each other; loop 0 receives every datagram and
/// hands each to the loop owning its session.
struct Loops {
    commands: Vec<mpsc::Sender<Command>>,
    datagrams: Vec<mpsc::Sender<Datagram>>,
    /// Which loop owns the session of each local ICE username fragment.
    ufrags: Mutex<HashMap<String, usize>>,
}

impl Loops {
    /// The loop owning session `id`.
    fn of(&self, id: SessionId) -> usize {
        (id % self.commands.len() as u64) as usize
    }
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
    /// Frames converted for viewers: once per stream, whatever the number
    /// of its viewers.
    pub converted: AtomicU64,
    /// Video frames not sent to a viewer: waiting for a keyframe after
    /// joining or a gap, or held back while it is congested.
    pub dropped: AtomicU64,
    /// Viewers whose video is held back to keyframes now.
    pub congested: AtomicU64,
    /// Datagrams no session accepted.
    pub stray_datagrams: AtomicU64,
    /// Per viewer and frame: from the run loop taking the frame off the hub
    /// to the viewer's first RTP packet of it handed to the socket.
    pub send: Histogram,
    /// Per frame: from taking it off the hub to every viewer's packets
    /// handed to the socket (or to their sessions' pacers).
    pub fanout: Histogram,
}

/// Durations counted per bucket of [`SEND_BUCKETS`].
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; SEND_BUCKETS.len() + 1],
    sum_us: AtomicU64,
}

/// Upper bounds (seconds) of the send-latency buckets; the last bucket is
/// everything above.
pub const SEND_BUCKETS: [f64; 14] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.000_75, 0.001, 0.001_5, 0.002, 0.005, 0.01, 0.025, 0.1, 0.25, 1.0,
];

impl Histogram {
    fn record(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = SEND_BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(SEND_BUCKETS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The bucket counts (not cumulative) with their upper bounds,
    /// `f64::INFINITY` last.
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        SEND_BUCKETS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(&self.counts)
            .map(|(b, n)| (b, n.load(Ordering::Relaxed)))
            .collect()
    }

    /// The sum of the durations in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_us.load(Ordering::Relaxed) as f64 / 1e6
    }

    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::DescriptorEncoder,
        name: &str,
        help: &str,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::metrics::MetricType;
        let buckets = self.buckets();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
        metric.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            self.sum_seconds(),
            count,
            &buckets,
            None,
        )
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
        let gauge = encoder.encode_descriptor(
            "tributary_webrtc_congested_viewers",
            "WebRTC viewers whose video is held back to keyframes by their bandwidth estimate",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(i64::try_from(load(&s.congested)).unwrap_or(i64::MAX)).encode(gauge)?;
        for (name, help, v) in [
            (
                "tributary_webrtc_frames_sent",
                "Frames written to WebRTC viewers",
                &s.frames_out,
            ),
            (
                "tributary_webrtc_frames_converted",
                "Frames converted for WebRTC viewers (once per stream for all its viewers)",
                &s.converted,
            ),
            (
                "tributary_webrtc_frames_received",
                "Frames published by WebRTC publishers",
                &s.frames_in,
            ),
            (
                "tributary_webrtc_dropped_frames",
                "Video frames not sent to a viewer: waiting for a keyframe, or held back while congested",
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
        s.send.encode(
            &mut encoder,
            "tributary_webrtc_send_latency_seconds",
            "Per viewer and frame: from taking the frame off the hub to the viewer's first RTP packet of it handed to the socket",
        )?;
        s.fanout.encode(
            &mut encoder,
            "tributary_webrtc_fanout_seconds",
            "Per frame: from taking it off the hub to every viewer's packets handed to the socket",
        )
    }
}

/// The WebRTC server's handle.
pub struct Server {
    hub: Arc<Hub>,
    loops: Arc<Loops>,
    /// Dropped with the server: the loops stop.
    _stop: watch::Sender<()>,
    candidates: Vec<SocketAddr>,
    next_id: AtomicU64,
    info: Arc<Mutex<HashMap<SessionId, SessionInfo>>>,
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
    /// Binds the UDP port and starts the run loops, each on a thread of its
    /// own (so that they run side by side whatever else the runtime is
    /// doing); they stop with the server. `admit` decides who may publish
    /// (WHIP).
    pub async fn bind(config: Config, hub: Arc<Hub>, admit: Admit) -> std::io::Result<Arc<Self>> {
        let std_socket = std::net::UdpSocket::bind(config.listen)?;
        std_socket.set_nonblocking(true)?;
        // Sends go through a plain non-blocking clone of the socket, from
        // functions that need no runtime context; a full send buffer drops
        // the datagram (NACKs recover it) rather than blocking.
        let sender = std_socket.try_clone()?;
        let local = std_socket.local_addr()?;
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
        let n = match config.loops {
            0 => LOOPS_PER_CORE * std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let mut command_rxs = Vec::new();
        let mut datagram_rxs = Vec::new();
        let mut commands = Vec::new();
        let mut datagrams = Vec::new();
        for _ in 0..n {
            let (tx, rx) = mpsc::channel(1024);
            commands.push(tx);
            command_rxs.push(rx);
            let (tx, rx) = mpsc::channel(4096);
            datagrams.push(tx);
            datagram_rxs.push(rx);
        }
        let loops = Arc::new(Loops {
            commands,
            datagrams,
            ufrags: Mutex::new(HashMap::new()),
        });
        let info = Arc::new(Mutex::new(HashMap::new()));
        let stats = Arc::new(Stats::default());
        let (stop, stopped) = watch::channel(());
        let server = Arc::new(Self {
            hub,
            loops: loops.clone(),
            _stop: stop,
            candidates: candidates.clone(),
            next_id: AtomicU64::new(1),
            info: info.clone(),
            admit,
            config: config.clone(),
            stats: stats.clone(),
        });
        let mut socket = Some(std_socket);
        for (index, (command_rx, datagram_rx)) in command_rxs.into_iter().zip(datagram_rxs).enumerate() {
            let socket = socket.take();
            let mut run = RunLoop {
                index,
                socket: None,
                loops: loops.clone(),
                remote: HashMap::new(),
                shared: Shared {
                    socket: sender.try_clone()?,
                    info: info.clone(),
                    stats: stats.clone(),
                },
                destination: candidates[0],
                sessions: HashMap::new(),
                by_source: HashMap::new(),
                feeds: HashMap::new(),
                feed_of: HashMap::new(),
                feed_ids: Vec::new(),
                next_feed: 1,
                wakes: StreamMap::new(),
                rest: VecDeque::new(),
                config: config.clone(),
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let stopped = stopped.clone();
            std::thread::Builder::new()
                .name(format!("webrtc-loop-{index}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        // The port is registered with the loop's own runtime.
                        match socket.map(UdpSocket::from_std).transpose() {
                            Ok(socket) => run.socket = socket,
                            Err(e) => {
                                tracing::error!(error = %e, "webrtc: the port cannot be read");
                                return;
                            }
                        }
                        run.run(command_rx, datagram_rx, stopped).await;
                    });
                })?;
        }
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
        let commands = &self.loops.commands[self.loops.of(id)];
        if commands.send(Command::Remove(id, tx)).await.is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }

    /// A session; `bwe`: for a viewer, the bitrate its stream needs, to
    /// estimate the viewer's bandwidth against (publishers: none). Viewers'
    /// sessions take RTP packets cut once per stream (str0m's RTP mode);
    /// publishers' give depacketized frames.
    fn new_rtc(&self, now: Instant, bwe: Option<u64>) -> Result<Rtc, OfferError> {
        let mut config = RtcConfig::new().set_rtp_mode(bwe.is_some());
        if let Some(need) = bwe {
            config = config.enable_bwe(Some(start_bitrate(need)));
        }
        let mut rtc = config
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
        if let Some(need) = bwe {
            rtc.bwe().set_desired_bitrate(desired_bitrate(need));
        }
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
        let need = measured_need(&stream, |_| true);
        let accepted = self.accept(offer, Direction::SendOnly, "receive", Some(need))?;
        let role = Role::Whep(Whep {
            stream,
            video: accepted.video,
            audio: accepted.audio,
            feed: None,
            wait_keyframe: true,
            // Sequence numbers start at an arbitrary point (RFC 3550 5.1).
            seq: [seq_start(), seq_start()],
            sending: [false; 2],
            congestion: Congestion::default(),
            count: None,
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
        let accepted = self.accept(offer, Direction::RecvOnly, "send", None)?;
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
            keyframe_wanted: false,
            published: false,
        });
        self.add(name, accepted.rtc, accepted.started, role, accepted.answer)
            .await
    }

    /// Answers `offer` with a new session whose media go `ours` (this side's
    /// direction): the first video section with H.264 or VP8 (both payload
    /// types kept when offered, H.264 preferred) and the first Opus audio
    /// section, or a refusal naming what the offer must `verb`.
    fn accept(
        &self,
        offer: SdpOffer,
        ours: Direction,
        verb: &str,
        bwe: Option<u64>,
    ) -> Result<Accepted, OfferError> {
        let started = Instant::now();
        let mut rtc = self.new_rtc(started, bwe)?;
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
        mut rtc: Rtc,
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
                estimate_bps: None,
                limited: false,
            },
        );
        let ufrag = rtc.direct_api().local_ice_credentials().ufrag;
        let session = Session {
            id,
            rtc,
            started,
            connected: false,
            stream: name.to_owned(),
            deadline: started,
            role,
            ufrag: ufrag.clone(),
        };
        // Known before the answer goes out, so the client's first check
        // finds the session's loop.
        let index = self.loops.of(id);
        self.loops.ufrags.lock().insert(ufrag.clone(), index);
        if self.loops.commands[index]
            .send(Command::Add(Box::new(session)))
            .await
            .is_err()
        {
            self.info.lock().remove(&id);
            self.loops.ufrags.lock().remove(&ufrag);
            return Err(OfferError::Stopped);
        }
        Ok((id, answer))
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
    // The media's negotiated payload types (as `Writer::payload_params`
    // lists them; writers do not exist in RTP mode).
    let remote = rtc.media(mid)?.remote_pts().to_vec();
    let mut best: Option<(bool, Pt)> = None;
    for p in rtc
        .codec_config()
        .params()
        .iter()
        .filter(|p| remote.contains(&p.pt()))
    {
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

impl VideoPts {
    /// The payload type of `codec`, if the offer has it.
    fn of(&self, codec: &Codec) -> Option<Pt> {
        match codec {
            Codec::Vp8 => self.vp8,
            _ => self.h264,
        }
    }
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
    /// The local ICE username fragment (which loop owns the session).
    ufrag: String,
}

enum Role {
    Whep(Whep),
    Whip(Whip),
}

struct Whep {
    stream: Arc<LiveStream>,
    video: Option<(Mid, VideoPts)>,
    audio: Option<(Mid, Pt)>,
    /// The played stream this viewer is fed from, once connected.
    feed: Option<FeedId>,
    /// After joining or a gap: video waits for the next keyframe.
    wait_keyframe: bool,
    /// Next RTP sequence numbers, video and audio.
    seq: [u64; 2],
    /// The video and audio frames being fanned out go to this viewer
    /// (decided with their first packet, for the rest).
    sending: [bool; 2],
    congestion: Congestion,
    /// Counts this viewer on the stream while connected.
    count: Option<ViewerCount>,
}

struct Whip {
    publisher: Publisher,
    ingress: Ingress,
    video: Option<Mid>,
    audio: Option<Mid>,
    last_keyframe_request: Instant,
    /// A viewer asked for a keyframe too soon after the last request: it
    /// goes at the session's next deadline after [`VIEWER_KEYFRAME_GAP`].
    keyframe_wanted: bool,
    published: bool,
}

/// Viewers' keyframe requests reach a publisher at most this often.
const VIEWER_KEYFRAME_GAP: Duration = Duration::from_millis(500);

impl Whip {
    /// Asks the publisher for a keyframe (PLI) now.
    fn ask_keyframe(&mut self, rtc: &mut Rtc, now: Instant) {
        self.last_keyframe_request = now;
        self.keyframe_wanted = false;
        if let Some(mid) = self.video
            && let Some(mut writer) = rtc.writer(mid)
        {
            let _ = writer.request_keyframe(None, KeyframeRequestKind::Pli);
        }
    }
}

/// A viewer's congestion state from its bandwidth estimates: the sender's
/// own (TWCC feedback) and the receiver's (REMB). While the lower estimate
/// is below what the stream needs, only video keyframes are sent (audio
/// goes on); full video resumes once the estimate is a tenth above it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Congestion {
    /// The TWCC-based estimate, bits per second.
    pub twcc: Option<u64>,
    /// The receiver's REMB, bits per second.
    pub remb: Option<u64>,
    /// What the stream needs, bits per second (0: unknown).
    pub need: u64,
    /// Video held back to keyframes.
    pub limited: bool,
}

impl Congestion {
    /// The estimate decisions use: the lower of the two.
    pub fn estimate(&self) -> Option<u64> {
        match (self.twcc, self.remb) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Re-decides `limited`; true when it changed.
    pub fn update(&mut self) -> bool {
        let before = self.limited;
        match self.estimate() {
            None => {}
            Some(_) if self.need == 0 => self.limited = false,
            Some(e) if !self.limited => self.limited = e < self.need,
            Some(e) => self.limited = e < self.need + self.need / 10,
        }
        before != self.limited
    }
}

/// A stream read once for all its WebRTC viewers.
type FeedId = u64;

/// One played stream, read once for all its viewers.
struct Feed {
    stream: Arc<LiveStream>,
    sub: Subscriber,
    /// The stream was removed: nothing more to read.
    closed: bool,
    viewers: Vec<SessionId>,
    egress: Egress,
    packetizer: Packetizer,
    /// The stream's frames since its newest video keyframe, for viewers
    /// that join (they start at once, as other outputs' readers do).
    gop: Vec<(Outgoing, Payloads)>,
    gop_bytes: usize,
    /// The source has B-frames.
    reordered: bool,
    /// What the sent tracks need, bits per second.
    need: u64,
}

/// Media a stream's window must hold before its bitrate is taken as what
/// its viewers need: over a shorter window a keyframe makes the rate look
/// several times what it is, and viewers would be held back for nothing.
const NEED_WINDOW: Duration = Duration::from_secs(1);

/// A new viewer's catch-up is at most this many bytes of the current GOP.
const GOP_CACHE_BYTES: usize = 8 << 20;

impl Feed {
    fn note(&self) -> Option<String> {
        let warning = self.reordered.then_some(
            "the source has B-frames, which WebRTC players cannot show smoothly (encode without them, e.g. x264 -bf 0)",
        );
        match (&self.egress.note, warning) {
            (Some(n), Some(w)) => Some(format!("{n}; {w}")),
            (n, w) => n.clone().or(w.map(str::to_owned)),
        }
    }

    /// After new tracks or a gap: the cached GOP is dropped and viewers
    /// wait for the next keyframe.
    fn restart(&mut self, sessions: &mut HashMap<SessionId, Session>) {
        self.gop.clear();
        self.gop_bytes = 0;
        let has_video = self.egress.has_video();
        for id in &self.viewers {
            if let Some(Session {
                role: Role::Whep(w), ..
            }) = sessions.get_mut(id)
            {
                w.wait_keyframe = has_video;
            }
        }
    }

    /// The bitrate of the tracks that go out (0 while not known, which
    /// holds no viewer back).
    fn measure_need(&mut self) {
        let egress = &self.egress;
        self.need = measured_need(&self.stream, |t| egress.track_ids().any(|e| e == t));
    }
}

/// Datagrams or frames handled per wake-up of the loop before its per-pass
/// work (deadlines, removals), which is linear in the number of sessions.
const BATCH: usize = 1024;

/// Datagrams received or sessions' deadlines handled between two looks at
/// the streams (a new frame's first packets go out before the rest).
const LOOK_EVERY: usize = 4;

/// RTP packets of frames' rests written between two looks at the streams
/// (a newer frame's first packets go out before the rest of older ones).
const REST_CHUNK: usize = 32;

/// What is left of a frame after its first packet went to every viewer:
/// the other packets, to the viewers it went to.
struct Rest {
    feed: FeedId,
    frame: (Outgoing, Payloads),
    /// When the loop took it off the hub.
    read: Instant,
    viewers: Vec<SessionId>,
    /// Viewers before this one have had it.
    next: usize,
    keyframe_wanted: bool,
}

/// What the loop shares with the functions that drive sessions.
struct Shared {
    socket: std::net::UdpSocket,
    info: Arc<Mutex<HashMap<SessionId, SessionInfo>>>,
    stats: Arc<Stats>,
}

/// What driving a session asks of the loop.
#[derive(Default)]
struct Effects {
    /// A viewer asked for a keyframe.
    keyframe_wanted: bool,
    /// The session just connected.
    connected: bool,
    /// When its first datagram was handed to the socket.
    first_send: Option<Instant>,
}

struct RunLoop {
    index: usize,
    /// The port, on the loop that receives (loop 0).
    socket: Option<UdpSocket>,
    loops: Arc<Loops>,
    /// (Loop 0) the source addresses of other loops' sessions: the loop and
    /// the session's local ICE username fragment (forgotten with it).
    remote: HashMap<SocketAddr, (usize, String)>,
    shared: Shared,
    destination: SocketAddr,
    sessions: HashMap<SessionId, Session>,
    /// Which session a source address belongs to.
    by_source: HashMap<SocketAddr, SessionId>,
    feeds: HashMap<FeedId, Feed>,
    feed_of: HashMap<String, FeedId>,
    /// The keys of `feeds`, read in order without collecting them each pass.
    feed_ids: Vec<FeedId>,
    next_feed: FeedId,
    /// Wakes the loop when a played stream has something new.
    wakes: StreamMap<FeedId, WatchStream<u64>>,
    /// Frames whose first packets went out and whose rests did not yet, oldest first.
    rest: VecDeque<Rest>,
    config: Config,
}

impl RunLoop {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut datagrams: mpsc::Receiver<Datagram>,
        mut stopped: watch::Receiver<()>,
    ) {
        let mut buf = vec![0u8; 2048];
        loop {
            // New frames first (their first packets to every viewer), then
            // the rests of frames, looking at the streams between chunks.
            self.read_feeds();
            self.write_rest();
            let next = self
                .sessions
                .values()
                .map(|s| s.deadline)
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
            tokio::select! {
                biased;
                Some(_) = self.wakes.next() => {}
                r = recv_from(self.socket.as_ref(), &mut buf) => match r {
                    Ok((n, source)) => {
                        self.receive(source, &buf[..n]);
                        // Whatever else is waiting, before the per-pass work;
                        // new frames' first packets between datagrams.
                        for i in 1..BATCH {
                            let Some(Ok((n, source))) = self.socket.as_ref().map(|s| s.try_recv_from(&mut buf)) else {
                                break;
                            };
                            self.receive(source, &buf[..n]);
                            if i % LOOK_EVERY == 0 {
                                self.read_feeds();
                            }
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "webrtc socket receive"),
                },
                Some(d) = datagrams.recv() => {
                    self.receive_here(d.source, &d.data);
                    for i in 1..BATCH {
                        let Ok(d) = datagrams.try_recv() else { break };
                        self.receive_here(d.source, &d.data);
                        if i % LOOK_EVERY == 0 {
                            self.read_feeds();
                        }
                    }
                }
                c = commands.recv() => match c {
                    Some(Command::Add(session)) => {
                        let id = session.id;
                        self.sessions.insert(id, *session);
                        self.shared.stats.sessions.fetch_add(1, Ordering::Relaxed);
                        self.drive(id);
                    }
                    Some(Command::Keyframe(stream)) => self.ask_publisher(&stream),
                    Some(Command::Forget(ufrag)) => self.remote.retain(|_, (_, u)| *u != ufrag),
                    Some(Command::Remove(id, done)) => {
                        let found = self.end(id, "deleted");
                        let _ = done.send(found);
                    }
                    None => return,
                },
                () = tokio::time::sleep_until(next.into()) => {}
                _ = stopped.changed() => return,
            }
            self.timeouts();
        }
    }

    /// A datagram from the port (loop 0): to the loop owning its session.
    /// ICE checks name the session (its local username fragment); other
    /// datagrams follow the address its checks came from.
    fn receive(&mut self, source: SocketAddr, data: &[u8]) {
        let owner = if is_stun(data) {
            let message = str0m::ice::StunMessage::parse(data).ok();
            let ours = message
                .as_ref()
                .and_then(|m| m.split_username())
                .map(|(ours, _)| ours);
            let owner = ours.and_then(|u| Some((self.loops.ufrags.lock().get(u).copied()?, u)));
            match owner {
                Some((i, u)) if i != self.index => {
                    let known = self.remote.get(&source).is_some_and(|(j, v)| *j == i && v == u);
                    if !known {
                        self.remote.insert(source, (i, u.to_owned()));
                    }
                }
                Some(_) => {
                    self.remote.remove(&source);
                }
                None => {}
            }
            owner.map(|(i, _)| i)
        } else {
            self.remote.get(&source).map(|(i, _)| *i)
        };
        match owner {
            Some(i) if i != self.index => {
                let d = Datagram {
                    source,
                    data: data.to_vec(),
                };
                // A full queue drops the datagram, as a full socket would.
                if self.loops.datagrams[i].try_send(d).is_err() {
                    tracing::debug!(source = %source, "webrtc: a loop's queue is full");
                }
            }
            _ => self.receive_here(source, data),
        }
    }

    /// A datagram for one of this loop's sessions.
    fn receive_here(&mut self, source: SocketAddr, data: &[u8]) {
        let stats = &self.shared.stats;
        let Ok(receive) = Receive::new(NetProtocol::Udp, source, self.destination, data) else {
            stats.stray_datagrams.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let input = Input::Receive(Instant::now(), receive);
        let known = self
            .by_source
            .get(&source)
            .copied()
            .filter(|id| self.sessions.get(id).is_some_and(|s| s.rtc.accepts(&input)));
        let found = known.or_else(|| {
            let id = self
                .sessions
                .iter()
                .find(|(_, s)| s.rtc.accepts(&input))
                .map(|(id, _)| *id)?;
            self.by_source.insert(source, id);
            Some(id)
        });
        let Some(id) = found else {
            stats.stray_datagrams.fetch_add(1, Ordering::Relaxed);
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
        for (i, id) in due.into_iter().enumerate() {
            if let Some(s) = self.sessions.get_mut(&id) {
                let _ = s.rtc.handle_input(Input::Timeout(now));
                self.keyframe_requests(id, now);
                self.drive(id);
            }
            if i % LOOK_EVERY == LOOK_EVERY - 1 {
                self.read_feeds();
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

    /// Publishers are asked for a keyframe every `keyframe_interval`, and
    /// for the viewers' requests held back by [`VIEWER_KEYFRAME_GAP`].
    fn keyframe_requests(&mut self, id: SessionId, now: Instant) {
        let interval = self.config.keyframe_interval;
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let Role::Whip(w) = &mut s.role else { return };
        let since = now.duration_since(w.last_keyframe_request);
        if s.connected && (since >= interval || (w.keyframe_wanted && since > VIEWER_KEYFRAME_GAP)) {
            w.ask_keyframe(&mut s.rtc, now);
        }
    }

    fn end(&mut self, id: SessionId, why: &str) -> bool {
        let Some(mut s) = self.sessions.remove(&id) else {
            return false;
        };
        s.rtc.disconnect();
        self.loops.ufrags.lock().remove(&s.ufrag);
        self.by_source.retain(|_, v| *v != id);
        if self.index != 0 {
            let _ = self.loops.commands[0].try_send(Command::Forget(s.ufrag.clone()));
        }
        if let Role::Whep(w) = &s.role
            && let Some(feed_id) = w.feed
        {
            self.leave(feed_id, id);
        }
        self.shared.info.lock().remove(&id);
        let stats = &self.shared.stats;
        stats.sessions.fetch_sub(1, Ordering::Relaxed);
        if matches!(&s.role, Role::Whep(w) if w.congestion.limited) {
            stats.congested.fetch_sub(1, Ordering::Relaxed);
        }
        tracing::info!(session = id, stream = %s.stream, reason = why, "webrtc session ended");
        true
    }

    /// A connected viewer joins its played stream (read from the first
    /// viewer) and gets the current GOP at once.
    fn join(&mut self, id: SessionId) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let Role::Whep(w) = &mut s.role else { return };
        let feed_id = match self.feed_of.get(&s.stream) {
            Some(f) => *f,
            None => {
                let f = self.next_feed;
                self.next_feed += 1;
                let sub = w.stream.subscribe_uncounted();
                self.wakes.insert(f, sub.changes());
                self.feed_ids.push(f);
                self.feeds.insert(
                    f,
                    Feed {
                        stream: w.stream.clone(),
                        sub,
                        closed: false,
                        viewers: Vec::new(),
                        egress: Egress::default(),
                        packetizer: Packetizer::default(),
                        gop: Vec::new(),
                        gop_bytes: 0,
                        reordered: false,
                        need: 0,
                    },
                );
                self.feed_of.insert(s.stream.clone(), f);
                f
            }
        };
        let feed = self.feeds.get_mut(&feed_id).expect("feed just found or made");
        feed.viewers.push(id);
        w.feed = Some(feed_id);
        w.count = Some(w.stream.count_viewer(Protocol::WebRtc));
        w.wait_keyframe = feed.egress.has_video();
        set_need(id, &s.stream, w, &mut s.rtc, feed.need, &self.shared);
        if let Some(i) = self.shared.info.lock().get_mut(&id) {
            set_note(i, feed, w);
        }
        let need = feed.need;
        let gop = feed.gop.clone();
        let now = Instant::now();
        for frame in &gop {
            send_frame(s, frame, need, now, &self.shared, Part::All);
        }
        self.drive(id);
    }

    /// A viewer left: the stream is no longer read after its last viewer.
    fn leave(&mut self, feed_id: FeedId, id: SessionId) {
        let Some(feed) = self.feeds.get_mut(&feed_id) else {
            return;
        };
        feed.viewers.retain(|v| *v != id);
        if feed.viewers.is_empty() {
            self.feeds.remove(&feed_id);
            self.feed_ids.retain(|f| *f != feed_id);
            self.wakes.remove(&feed_id);
            self.rest.retain(|r| r.feed != feed_id);
            self.feed_of.retain(|_, f| *f != feed_id);
        }
    }

    /// Takes what the played streams have (at most a batch each): each
    /// frame's first packet goes to every viewer now, its rest is queued.
    fn read_feeds(&mut self) {
        if self.feeds.is_empty() {
            return;
        }
        // By index: reading a frame never adds or removes a feed.
        for i in 0..self.feed_ids.len() {
            let id = self.feed_ids[i];
            for _ in 0..BATCH {
                let Some(feed) = self.feeds.get_mut(&id).filter(|f| !f.closed) else {
                    break;
                };
                let Some(event) = feed.sub.try_next() else {
                    break;
                };
                self.on_feed(id, event, Instant::now());
            }
        }
    }

    fn on_feed(&mut self, feed_id: FeedId, event: HubEvent, read: Instant) {
        match event {
            HubEvent::Tracks(tracks) => {
                self.finish_rest(feed_id, None);
                let Some(feed) = self.feeds.get_mut(&feed_id) else {
                    return;
                };
                feed.egress = Egress::new(&tracks);
                if let Some(note) = &feed.egress.note {
                    tracing::info!(stream = %feed.stream.name(), "webrtc: {note}");
                }
                feed.restart(&mut self.sessions);
                feed.measure_need();
                refresh_notes(feed, &self.sessions, &self.shared.info);
            }
            HubEvent::Frame(frame) => {
                let Some(feed) = self.feeds.get_mut(&feed_id) else {
                    return;
                };
                let Some(out) = feed.egress.convert(&frame) else {
                    return;
                };
                self.shared.stats.converted.fetch_add(1, Ordering::Relaxed);
                let reordered = out.kind == Kind::Video && frame.pts != frame.dts;
                let payloads = feed.packetizer.packetize(&out);
                self.on_frame(feed_id, (out, payloads), reordered, read);
            }
            HubEvent::Skipped { .. } => {
                self.finish_rest(feed_id, None);
                if let Some(feed) = self.feeds.get_mut(&feed_id) {
                    feed.restart(&mut self.sessions);
                }
            }
            HubEvent::Offline => {}
            HubEvent::Closed => {
                if let Some(feed) = self.feeds.get_mut(&feed_id) {
                    feed.closed = true;
                }
                self.wakes.remove(&feed_id);
            }
        }
    }

    /// A converted frame: cached for joiners, its first packet written to
    /// every viewer, its rest queued.
    fn on_frame(&mut self, feed_id: FeedId, frame: (Outgoing, Payloads), reordered: bool, read: Instant) {
        // A viewer's packets of one kind go out in order: what is left of
        // the previous frame of this kind goes first.
        self.finish_rest(feed_id, Some(frame.0.kind));
        let Some(feed) = self.feeds.get_mut(&feed_id) else {
            return;
        };
        let out = &frame.0;
        if reordered && !feed.reordered {
            feed.reordered = true;
            tracing::info!(
                stream = %feed.stream.name(),
                "the source has B-frames; WebRTC players show them badly"
            );
            refresh_notes(feed, &self.sessions, &self.shared.info);
        }
        if out.kind == Kind::Video && out.keyframe {
            feed.gop.clear();
            feed.gop_bytes = 0;
            feed.measure_need();
        }
        let cached = out.keyframe || !feed.gop.is_empty() || !feed.egress.has_video();
        if cached && feed.gop_bytes + out.data.len() <= GOP_CACHE_BYTES {
            feed.gop_bytes += out.data.len();
            feed.gop.push(frame.clone());
        } else if !feed.egress.has_video() {
            feed.gop.clear();
            feed.gop_bytes = 0;
        }
        // Every viewer gets the frame's first packet before any gets the
        // rest, so the frame starts out to all of them at about the same
        // time rather than to the last after all the others' whole frames.
        // One thread: splitting a frame's viewers over a pool of threads
        // measured no better at the median and much worse in the tail when
        // the machine is busy (every frame waits for the slowest thread).
        let mut keyframe_wanted = false;
        for id in &feed.viewers {
            if let Some(s) = self.sessions.get_mut(id) {
                keyframe_wanted |=
                    send_frame(s, &frame, feed.need, read, &self.shared, Part::First).keyframe_wanted;
            }
        }
        self.rest.push_back(Rest {
            feed: feed_id,
            frame,
            read,
            viewers: feed.viewers.clone(),
            next: 0,
            keyframe_wanted,
        });
    }

    /// Writes the queued rests of frames, oldest first, in chunks; between
    /// chunks, newer frames' first packets go out.
    fn write_rest(&mut self) {
        while let Some(mut rest) = self.rest.pop_front() {
            if self.write_rest_of(&mut rest, REST_CHUNK) {
                self.rest_done(rest);
            } else {
                self.rest.push_front(rest);
            }
            self.read_feeds();
        }
    }

    /// Writes at once the queued rests of a feed's frames (of one kind).
    fn finish_rest(&mut self, feed_id: FeedId, kind: Option<Kind>) {
        while let Some(i) = self
            .rest
            .iter()
            .position(|r| r.feed == feed_id && kind.is_none_or(|k| r.frame.0.kind == k))
        {
            let Some(mut rest) = self.rest.remove(i) else {
                break;
            };
            self.write_rest_of(&mut rest, usize::MAX);
            self.rest_done(rest);
        }
    }

    /// Writes a frame's rest to its next viewers, until about `budget`
    /// packets are written; true when every viewer has it.
    fn write_rest_of(&mut self, rest: &mut Rest, budget: usize) -> bool {
        let Some(feed) = self.feeds.get(&rest.feed) else {
            rest.next = rest.viewers.len();
            return true;
        };
        let mut written = 0;
        while written < budget && rest.next < rest.viewers.len() {
            let id = rest.viewers[rest.next];
            rest.next += 1;
            if let Some(s) = self.sessions.get_mut(&id) {
                rest.keyframe_wanted |=
                    send_frame(s, &rest.frame, feed.need, rest.read, &self.shared, Part::Rest)
                        .keyframe_wanted;
                written += rest.frame.1.len().max(1);
            }
        }
        rest.next >= rest.viewers.len()
    }

    /// A frame is out to every viewer.
    fn rest_done(&mut self, rest: Rest) {
        self.shared.stats.fanout.record(rest.read.elapsed());
        if rest.keyframe_wanted
            && let Some(feed) = self.feeds.get(&rest.feed)
        {
            let stream = feed.stream.name().to_owned();
            self.forward_keyframe_request(&stream);
        }
    }

    /// Drains a session's outputs and acts on what they ask.
    fn drive(&mut self, id: SessionId) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let effects = drive(s, &self.shared, None);
        let stream = effects.keyframe_wanted.then(|| s.stream.clone());
        if effects.connected && matches!(s.role, Role::Whep(_)) {
            self.join(id);
        }
        if let Some(stream) = stream {
            self.forward_keyframe_request(&stream);
        }
    }

    /// A viewer asked for a keyframe: ask the stream's WebRTC publisher, if
    /// it has one here, on whichever loop (other sources cannot be asked).
    fn forward_keyframe_request(&mut self, stream: &str) {
        self.ask_publisher(stream);
        for (i, commands) in self.loops.commands.iter().enumerate() {
            if i != self.index {
                let _ = commands.try_send(Command::Keyframe(stream.to_owned()));
            }
        }
    }

    /// Asks this loop's WebRTC publisher of `stream`, if any, for a keyframe.
    fn ask_publisher(&mut self, stream: &str) {
        let now = Instant::now();
        for s in self.sessions.values_mut() {
            if s.stream != stream {
                continue;
            }
            if let Role::Whip(w) = &mut s.role {
                if now.duration_since(w.last_keyframe_request) > VIEWER_KEYFRAME_GAP {
                    w.ask_keyframe(&mut s.rtc, now);
                } else {
                    w.keyframe_wanted = true;
                }
            }
        }
    }
}

/// STUN, by RFC 7983's first byte.
fn is_stun(data: &[u8]) -> bool {
    data.first().is_some_and(|b| *b < 4)
}

/// Receives from the port, on the loop that has it (never, on the others).
async fn recv_from(socket: Option<&UdpSocket>, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    match socket {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
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

/// An arbitrary first RTP sequence number (below 2^15, so the first
/// packets are far from a wrap).
fn seq_start() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(Instant::now()) & 0x7fff
}

/// Which packets of a frame [`send_frame`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    /// All, then everything the session lets out.
    All,
    /// The first, then at most one datagram out; decides whether the
    /// viewer gets the frame.
    First,
    /// The rest, after [`Part::First`], then everything the session lets out.
    Rest,
}

/// Writes a frame's RTP packets (cut once per stream, shared) to one viewer
/// and sends what its session lets out.
fn send_frame(
    s: &mut Session,
    frame: &(Outgoing, Payloads),
    need: u64,
    read: Instant,
    shared: &Shared,
    part: Part,
) -> Effects {
    let (out, payloads) = frame;
    let Role::Whep(w) = &mut s.role else {
        return Effects::default();
    };
    let kind = usize::from(out.kind == Kind::Audio);
    if part == Part::Rest {
        if !std::mem::take(&mut w.sending[kind]) {
            return Effects::default();
        }
    } else if !admit_frame(s.id, &s.stream, w, &mut s.rtc, out, need, shared) {
        w.sending[kind] = false;
        return Effects::default();
    }
    let Some((mid, pt)) = target(w, out) else {
        w.sending[kind] = false;
        return Effects::default();
    };
    w.sending[kind] = part == Part::First;
    let range = match part {
        Part::All => 0..payloads.len(),
        Part::First => 0..payloads.len().min(1),
        Part::Rest => payloads.len().min(1)..payloads.len(),
    };
    // RTP times are 32 bits on the wire.
    let time = out.rtp_time as u32;
    if part != Part::Rest {
        shared.stats.frames_out.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(tx) = s.rtc.direct_api().stream_tx_by_mid(mid, None) {
        for i in range {
            let seq = w.seq[kind];
            w.seq[kind] += 1;
            let last = out.kind == Kind::Video && i + 1 == payloads.len();
            tx.write_rtp(
                RtpWrite::new(pt, seq.into(), time, read, payloads[i].clone())
                    .marker(last)
                    .nackable(true),
            );
        }
    }
    let effects = drive(s, shared, (part == Part::First).then_some(1));
    if part != Part::Rest
        && let Some(first) = effects.first_send
    {
        shared.stats.send.record(first.saturating_duration_since(read));
    }
    effects
}

/// Whether a viewer takes this frame: after joining or a gap, video waits
/// for a keyframe; while congested, only keyframes go.
fn admit_frame(
    id: SessionId,
    stream: &str,
    w: &mut Whep,
    rtc: &mut Rtc,
    out: &Outgoing,
    need: u64,
    shared: &Shared,
) -> bool {
    if out.kind == Kind::Video {
        if out.keyframe {
            set_need(id, stream, w, rtc, need, shared);
        }
        if w.wait_keyframe || w.congestion.limited {
            if !out.keyframe {
                shared.stats.dropped.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            w.wait_keyframe = false;
        }
    }
    true
}

/// A viewer's stream needs `need` bits per second (0: not known yet). Its
/// estimator probes a little above that; one started while the need was
/// not known starts over from above it (else it would hold the viewer
/// back until its probes caught up).
fn set_need(id: SessionId, stream: &str, w: &mut Whep, rtc: &mut Rtc, need: u64, shared: &Shared) {
    if w.congestion.need == need {
        return;
    }
    if need > 0 {
        if w.congestion.need == 0 {
            rtc.bwe().reset(start_bitrate(need));
            w.congestion.twcc = None;
        }
        rtc.bwe().set_desired_bitrate(desired_bitrate(need));
    }
    w.congestion.need = need;
    if w.congestion.update() {
        congestion_changed(id, stream, w.congestion, shared);
    }
}

/// Where a viewer's bandwidth estimate starts: above what its stream needs,
/// so that it is not held back before the first feedback.
fn start_bitrate(need: u64) -> Bitrate {
    Bitrate::bps((need * 3 / 2).max(1_000_000))
}

/// What a viewer's estimator probes up to (with padding while its
/// estimate is lower): half again its stream's rate, so that on a path with
/// room the estimate settles well above the rate (a viewer is held back
/// below it and recovers a tenth above it) and a congested viewer is seen
/// to recover.
fn desired_bitrate(need: u64) -> Bitrate {
    Bitrate::bps((need * 3 / 2).max(1_000_000))
}

/// The bitrate of a stream's tracks that `counted` picks, from its
/// counters; 0 (not known) until its window holds [`NEED_WINDOW`] of media.
fn measured_need(stream: &LiveStream, counted: impl Fn(u32) -> bool) -> u64 {
    if stream.stats().duration < NEED_WINDOW {
        return 0;
    }
    let rates = stream.track_bitrates();
    rates.iter().filter(|(t, _)| counted(**t)).map(|(_, r)| r).sum()
}

/// The media section and payload type a viewer's frame goes out with
/// (none for video in a codec its offer lacks: its note says so).
fn target(w: &Whep, out: &Outgoing) -> Option<(Mid, Pt)> {
    match out.kind {
        Kind::Video => w.video.and_then(|(mid, pts)| Some((mid, pts.of(&out.codec)?))),
        Kind::Audio => w.audio,
    }
}

/// A viewer's note: what its stream does not send, and the stream's video
/// codec when the viewer's offer lacks it.
fn set_note(info: &mut SessionInfo, feed: &Feed, w: &Whep) {
    info.note = feed.note();
    if let (Some(codec), Some((_, pts))) = (feed.egress.video_codec(), w.video)
        && pts.of(codec).is_none()
    {
        note_unoffered(info, codec);
    }
}

/// Sets the notes of a feed's viewers (after its tracks or notes changed).
fn refresh_notes(
    feed: &Feed,
    sessions: &HashMap<SessionId, Session>,
    info: &Mutex<HashMap<SessionId, SessionInfo>>,
) {
    let mut info = info.lock();
    for id in &feed.viewers {
        if let (
            Some(i),
            Some(Session {
                role: Role::Whep(w), ..
            }),
        ) = (info.get_mut(id), sessions.get(id))
        {
            set_note(i, feed, w);
        }
    }
}

/// Drains a session's outputs: datagrams out, events handled, next
/// deadline; with `limit`, stops after that many datagrams (the caller
/// drains the rest).
fn drive(s: &mut Session, shared: &Shared, limit: Option<usize>) -> Effects {
    let mut effects = Effects::default();
    let mut sent = 0;
    // Deadlines already due (the pacer releasing what was just written) are
    // handled here rather than on the loop's next pass; bounded, so a
    // session cannot hold the loop.
    let mut due_rounds = 0;
    loop {
        match s.rtc.poll_output() {
            Ok(Output::Timeout(t)) => {
                let now = Instant::now();
                if t <= now && due_rounds < 64 && s.rtc.is_alive() {
                    due_rounds += 1;
                    let _ = s.rtc.handle_input(Input::Timeout(now));
                    continue;
                }
                s.deadline = t;
                break;
            }
            Ok(Output::Transmit(t)) => {
                if effects.first_send.is_none() {
                    effects.first_send = Some(Instant::now());
                }
                if let Err(e) = shared.socket.send_to(&t.contents, t.destination)
                    && e.kind() != std::io::ErrorKind::WouldBlock
                {
                    tracing::debug!(session = s.id, error = %e, "webrtc send");
                }
                sent += 1;
                if limit.is_some_and(|l| sent >= l) {
                    break;
                }
            }
            Ok(Output::Event(e)) => on_event(s, e, shared, &mut effects),
            Err(e) => {
                tracing::debug!(session = s.id, error = %e, "webrtc session failed");
                s.rtc.disconnect();
                s.deadline = Instant::now();
                break;
            }
        }
    }
    effects
}

fn congestion_changed(id: SessionId, stream: &str, c: Congestion, shared: &Shared) {
    if let Some(i) = shared.info.lock().get_mut(&id) {
        i.estimate_bps = c.estimate();
        i.limited = c.limited;
    }
    let congested = &shared.stats.congested;
    if c.limited {
        congested.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            session = id,
            stream,
            estimate_bps = c.estimate(),
            need_bps = c.need,
            "webrtc viewer congested: video held back to keyframes"
        );
    } else {
        let _ = congested.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        tracing::info!(
            session = id,
            stream,
            estimate_bps = c.estimate(),
            "webrtc viewer recovered"
        );
    }
}

/// Handles one event of a session.
fn on_event(s: &mut Session, event: Event, shared: &Shared, effects: &mut Effects) {
    match event {
        Event::Connected => {
            s.connected = true;
            effects.connected = true;
            if let Some(i) = shared.info.lock().get_mut(&s.id) {
                i.state = "connected";
            }
            tracing::info!(session = s.id, stream = %s.stream, "webrtc session connected");
        }
        Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
            s.rtc.disconnect();
        }
        Event::EgressBitrateEstimate(kind) => {
            let Role::Whep(w) = &mut s.role else { return };
            match kind {
                BweKind::Twcc { estimate, .. } => w.congestion.twcc = Some(estimate.as_u64()),
                BweKind::Remb { estimate, .. } => w.congestion.remb = Some(estimate.as_u64()),
                _ => return,
            }
            if w.congestion.update() {
                congestion_changed(s.id, &s.stream, w.congestion, shared);
            } else if let Some(i) = shared.info.lock().get_mut(&s.id) {
                i.estimate_bps = w.congestion.estimate();
            }
        }
        Event::MediaData(data) => {
            let Role::Whip(w) = &mut s.role else { return };
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
            let stats = &shared.stats;
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
        }
        Event::KeyframeRequest(_) => {
            if matches!(s.role, Role::Whep(_)) {
                effects.keyframe_wanted = true;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::{Codec, Congestion, SessionInfo, note_unoffered};

    #[test]
    fn a_missing_video_codec_is_noted_once_after_other_notes() {
        let mut info = SessionInfo {
            role: "whep",
            stream: "cam".into(),
            state: "connected",
            note: None,
            estimate_bps: None,
            limited: false,
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

    fn with(twcc: Option<u64>, remb: Option<u64>, need: u64, limited: bool) -> Congestion {
        Congestion {
            twcc,
            remb,
            need,
            limited,
        }
    }

    #[test]
    fn a_viewer_is_limited_below_the_need_and_recovers_a_tenth_above() {
        let mut c = with(Some(3_000_000), None, 2_000_000, false);
        assert!(!c.update(), "3 Mbit/s carries a 2 Mbit/s stream");
        c.twcc = Some(1_500_000);
        assert!(c.update() && c.limited, "1.5 Mbit/s does not");
        c.twcc = Some(2_100_000);
        assert!(
            !c.update() && c.limited,
            "hysteresis: just above the need stays limited"
        );
        c.twcc = Some(2_200_000);
        assert!(c.update() && !c.limited, "a tenth above the need recovers");
    }

    #[test]
    fn the_lower_of_twcc_and_remb_decides() {
        let mut c = with(Some(10_000_000), Some(1_000_000), 2_000_000, false);
        assert_eq!(c.estimate(), Some(1_000_000));
        assert!(c.update() && c.limited);
        let mut c = with(None, Some(5_000_000), 2_000_000, true);
        assert!(c.update() && !c.limited);
    }

    #[test]
    fn no_estimate_or_no_known_need_never_limits() {
        let mut c = with(None, None, 2_000_000, false);
        assert!(!c.update() && !c.limited);
        let mut c = with(Some(10), None, 0, true);
        assert!(c.update() && !c.limited);
    }

    proptest::proptest! {
        #[test]
        fn limited_iff_below_need_from_a_fresh_state(e in 0u64..10_000_000, need in 1u64..10_000_000) {
            let mut c = with(Some(e), None, need, false);
            c.update();
            proptest::prop_assert_eq!(c.limited, e < need);
        }
    }
}
