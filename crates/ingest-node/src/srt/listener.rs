//! A multiplexing SRT listener: srt-protocol's sans-IO `MultiplexListener`
//! (handshakes, cookies, access control) and `DuplexConnection` (one per
//! caller: ARQ, TSBPD, decryption) driven by our own tokio loop.
//!
//! srt-tokio's `SrtListener` wraps the same state machines, but in a task of
//! its own that dies with every panic of srt-protocol; and some are one
//! datagram away: a caller that encrypts with the default key length
//! reaching a listener without a passphrase (an "expected no secrets"
//! unimplemented-panic), a handshake extension other than the stream id, key
//! material where a request is due. It also waits when one connection's
//! queue is full, stalling every other caller of the port. This loop:
//!
//! - parses each datagram itself, under `catch_unwind`, and drops the ones
//!   that would reach a panic (see [`screen`]);
//! - tells the gate whether the caller encrypts, so that a listener without
//!   a passphrase refuses it (`SRT_REJ_UNSECURE`) instead of panicking, and
//!   accepts with the key length the caller announced (a different one is
//!   another `unimplemented!`);
//! - hands packets to connections without waiting (a full queue drops the
//!   packet: SRT retransmits it);
//! - forgets handshakes that never complete after [`PENDING_TIMEOUT`]
//!   (srt-protocol keeps them forever);
//! - runs each connection in a task of its own: a panic there ends that
//!   connection only.

use std::collections::HashMap;
use std::io::{self, Cursor};
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use hub::{LiveStream, Publisher};
use srt_protocol::connection::{Connection, DuplexConnection};
use srt_protocol::listener::{
    AccessControlRequest, AccessControlResponse, Action, Input, MultiplexListener, ResultOf, SessionId,
};
use srt_protocol::options::SocketOptions;
use srt_protocol::packet::{
    ControlPacket, ControlTypes, HandshakeControlInfo, HandshakeVsInfo, Packet, RejectReason, ShakeType,
    SrtControlPacket,
};
use srt_protocol::settings::{ConnInitSettings, KeySettings};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::output::{self, Play};
use super::session::{End, Feed};
use super::{DATA_IDLE_TIMEOUT, udp_socket};

/// A handshake that has not completed after this long is forgotten.
pub(super) const PENDING_TIMEOUT: Duration = Duration::from_secs(10);

/// Packets queued for one connection; more are dropped (and retransmitted).
const CONNECTION_QUEUE: usize = 1024;

/// How often the loop looks for forgotten handshakes.
const TICK: Duration = Duration::from_millis(500);

/// A caller let in: what it does and the key to accept it with.
#[derive(Debug)]
pub(super) struct Admitted {
    pub role: Role,
    pub keys: Option<KeySettings>,
}

/// What an admitted caller does.
#[derive(Debug)]
pub(super) enum Role {
    /// Publishes: its data feeds this publisher.
    Publish(Publisher),
    /// Plays a stream.
    Play(Play),
}

impl Role {
    /// The stream published or played.
    pub(super) fn stream(&self) -> &Arc<LiveStream> {
        match self {
            Self::Publish(p) => p.stream(),
            Self::Play(p) => p.subscriber.stream(),
        }
    }
}

/// Decides who may connect.
pub(super) trait Gate: Send + 'static {
    /// Decides on a caller whose handshake is complete; `encrypts` tells
    /// whether it sent key material. A refusal is logged and recorded by the
    /// gate; the returned reason goes back to the caller.
    fn decide(&mut self, request: &AccessControlRequest, encrypts: bool) -> Result<Admitted, RejectReason>;
}

/// A bound listener socket.
#[derive(Debug)]
pub(super) struct Listener {
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    options: SocketOptions,
}

impl Listener {
    /// Binds `addr`; `options` apply to every connection (encryption is the
    /// gate's business and is ignored here).
    pub(super) fn bind(addr: SocketAddr, mut options: SocketOptions) -> io::Result<Self> {
        let socket = udp_socket(addr)?;
        let local = socket.local_addr()?;
        options.encryption = Default::default();
        Ok(Self {
            socket: Arc::new(socket),
            local,
            options,
        })
    }

    pub(super) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Serves callers until the socket fails. Dropping the future ends every
    /// connection.
    pub(super) async fn run(self, gate: impl Gate) -> io::Result<()> {
        let settings = ConnInitSettings::from(self.options);
        let mut state = Loop {
            listener: MultiplexListener::new(Instant::now(), self.local, settings),
            socket: self.socket,
            is_v6: self.local.is_ipv6(),
            gate,
            admitted: HashMap::new(),
            open: HashMap::new(),
            pending: HashMap::new(),
            connections: JoinSet::new(),
            stale: Vec::new(),
            encrypts: false,
            send_buf: BytesMut::with_capacity(1500),
        };
        state.run().await
    }
}

/// What the state machine asked for, detached from its borrow.
enum Step {
    Send((Packet, SocketAddr)),
    Request(SessionId, AccessControlRequest),
    Reject(SessionId, Option<(Packet, SocketAddr)>),
    Open(SessionId, Box<(Option<(Packet, SocketAddr)>, Connection)>),
    Delegate(SessionId, (Packet, SocketAddr)),
    Drop(SessionId),
    Stats,
    Wait,
    Close,
}

impl From<Action<'_>> for Step {
    fn from(action: Action<'_>) -> Self {
        match action {
            Action::SendPacket(p) => Self::Send(p),
            Action::RequestAccess(id, r) => Self::Request(id, r),
            Action::RejectConnection(id, p) => Self::Reject(id, p),
            Action::OpenConnection(id, c) => Self::Open(id, c),
            Action::DelegatePacket(id, p) => Self::Delegate(id, p),
            Action::DropConnection(id) => Self::Drop(id),
            Action::UpdateStatistics(_) => Self::Stats,
            Action::WaitForInput => Self::Wait,
            Action::Close => Self::Close,
        }
    }
}

struct Loop<G> {
    listener: MultiplexListener,
    socket: Arc<UdpSocket>,
    is_v6: bool,
    gate: G,
    /// Accepted by the gate, connection not open yet.
    admitted: HashMap<SessionId, Admitted>,
    /// Open connections: their packet queues.
    open: HashMap<SessionId, mpsc::Sender<(Packet, SocketAddr)>>,
    /// Handshakes in progress: when each peer was last heard.
    pending: HashMap<SessionId, Instant>,
    connections: JoinSet<SessionId>,
    /// Handshakes found stale, to forget.
    stale: Vec<SessionId>,
    /// The packet being handled carries key material.
    encrypts: bool,
    send_buf: BytesMut,
}

impl<G: Gate> Loop<G> {
    async fn run(&mut self) -> io::Result<()> {
        let mut buf = vec![0u8; 65_536];
        let mut tick = tokio::time::interval(TICK);
        let mut input = Input::Timer;
        loop {
            let session = match &input {
                Input::Packet(Ok((_, from))) => Some(SessionId(*from)),
                Input::AccessResponse(Some((id, _))) => Some(*id),
                _ => None,
            };
            let listener = &mut self.listener;
            let step = catch_unwind(AssertUnwindSafe(|| {
                Step::from(listener.handle_input(Instant::now(), input))
            }));
            let step = match step {
                Ok(step) => step,
                Err(_) => {
                    // not one we know of (those are screened out): forget the session
                    tracing::error!(peer = ?session.map(|s| s.0), "srt-protocol panicked; session dropped");
                    input = match session {
                        Some(id) => self.forget(id),
                        None => Input::Timer,
                    };
                    continue;
                }
            };
            input = match step {
                Step::Send(packet) => {
                    let to = packet.1;
                    match self.send(packet).await {
                        Ok(()) => Input::Success(ResultOf::SendPacket(to)),
                        Err(_) => Input::Failure(ResultOf::SendPacket(to)),
                    }
                }
                Step::Request(id, request) => {
                    let response = match self.gate.decide(&request, self.encrypts) {
                        Ok(admitted) => {
                            let keys = admitted.keys.clone();
                            self.admitted.insert(id, admitted);
                            AccessControlResponse::Accepted(keys)
                        }
                        Err(reason) => AccessControlResponse::Rejected(reason),
                    };
                    Input::AccessResponse(Some((id, response)))
                }
                Step::Reject(id, packet) => {
                    if let Some(admitted) = self.admitted.remove(&id) {
                        refused_after_acceptance(id, &admitted, packet.as_ref());
                    }
                    if let Some(packet) = packet {
                        let _ = self.send(packet).await;
                    }
                    self.pending.remove(&id);
                    Input::Success(ResultOf::RejectConnection(id))
                }
                Step::Open(id, opened) => {
                    let (packet, connection) = *opened;
                    if let Some(packet) = packet {
                        let _ = self.send(packet).await;
                    }
                    self.pending.remove(&id);
                    match self.admitted.remove(&id) {
                        Some(admitted) => {
                            self.open_connection(id, connection, admitted.role);
                            Input::Success(ResultOf::OpenConnection(id))
                        }
                        // access control is always on: nothing opens unadmitted
                        None => Input::Failure(ResultOf::OpenConnection(id)),
                    }
                }
                Step::Delegate(id, packet) => match self.delegate(id, packet) {
                    Ok(()) => Input::Success(ResultOf::DelegatePacket(id)),
                    Err(()) => {
                        self.open.remove(&id);
                        Input::Failure(ResultOf::DelegatePacket(id))
                    }
                },
                Step::Drop(id) => {
                    self.open.remove(&id);
                    self.admitted.remove(&id);
                    self.pending.remove(&id);
                    Input::Success(ResultOf::DropConnection(id))
                }
                Step::Stats => Input::Success(ResultOf::UpdateStatistics),
                Step::Close => return Ok(()),
                Step::Wait => {
                    self.encrypts = false;
                    if let Some(input) = self.forget_stale() {
                        input
                    } else {
                        tokio::select! {
                            received = self.socket.recv_from(&mut buf) => match received {
                                Ok((n, from)) => self.packet(&buf[..n], from).unwrap_or(Input::Timer),
                                // ICMP errors of earlier sends surface here on some systems
                                Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset) => Input::Timer,
                                Err(e) => return Err(e),
                            },
                            _ = tick.tick() => self.sweep(),
                            Some(done) = self.connections.join_next(), if !self.connections.is_empty() => match done {
                                Ok(id) => self.forget(id),
                                Err(e) => {
                                    tracing::error!(%e, "srt connection task failed");
                                    Input::Timer
                                }
                            },
                        }
                    }
                }
            };
        }
    }

    /// Queues a packet for its connection without waiting: a full queue
    /// drops it (SRT retransmits); `Err` when the connection is gone.
    fn delegate(&self, id: SessionId, packet: (Packet, SocketAddr)) -> Result<(), ()> {
        let queue = self.open.get(&id).ok_or(())?;
        match queue.try_send(packet) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::trace!(peer = %id.0, "srt connection queue full: packet dropped");
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(()),
        }
    }

    /// One datagram: parsed and screened, or `None` to drop it.
    fn packet(&mut self, data: &[u8], from: SocketAddr) -> Option<Input> {
        let is_v6 = self.is_v6;
        let packet = match catch_unwind(|| Packet::parse(&mut Cursor::new(data), is_v6)) {
            Ok(Ok(packet)) => packet,
            Ok(Err(e)) => {
                tracing::debug!(peer = %from, %e, "srt: datagram dropped");
                return None;
            }
            Err(_) => {
                tracing::warn!(peer = %from, len = data.len(), "srt: malformed datagram dropped (parser panicked)");
                return None;
            }
        };
        match screen(&packet) {
            Ok(encrypts) => self.encrypts = encrypts,
            Err(why) => {
                tracing::warn!(peer = %from, why, "srt: handshake dropped");
                return None;
            }
        }
        let id = SessionId(from);
        if !self.open.contains_key(&id) {
            self.pending.insert(id, Instant::now());
        }
        Some(Input::Packet(Ok((packet, from))))
    }

    /// Lists the handshakes that have not completed in time; they are
    /// forgotten one input at a time (see [`forget_stale`](Self::forget_stale)).
    fn sweep(&mut self) -> Input {
        let now = Instant::now();
        self.stale.extend(
            self.pending
                .iter()
                .filter(|(_, seen)| now.duration_since(**seen) > PENDING_TIMEOUT)
                .map(|(id, _)| *id),
        );
        Input::Timer
    }

    /// Forgets the next listed handshake that is still stale.
    fn forget_stale(&mut self) -> Option<Input> {
        while let Some(id) = self.stale.pop() {
            let stale = self
                .pending
                .get(&id)
                .is_some_and(|seen| seen.elapsed() > PENDING_TIMEOUT);
            if stale {
                tracing::debug!(peer = %id.0, "srt: unfinished handshake forgotten");
                return Some(self.forget(id));
            }
        }
        None
    }

    /// Removes a session here and in the state machine.
    fn forget(&mut self, id: SessionId) -> Input {
        self.open.remove(&id);
        self.admitted.remove(&id);
        self.pending.remove(&id);
        Input::Success(ResultOf::DropConnection(id))
    }

    fn open_connection(&mut self, id: SessionId, connection: Connection, role: Role) {
        let (queue, packets) = mpsc::channel(CONNECTION_QUEUE);
        self.open.insert(id, queue);
        let span = tracing::info_span!("conn", proto = "srt", peer = %id.0, stream = role.stream().name());
        let socket = self.socket.clone();
        self.connections.spawn(
            async move {
                match role {
                    Role::Publish(publisher) => drive(connection, packets, socket, publisher, id.0).await,
                    Role::Play(play) => drop(output::play(connection, packets, socket, play).await),
                }
                id
            }
            .instrument(span),
        );
    }

    async fn send(&mut self, (packet, to): (Packet, SocketAddr)) -> io::Result<()> {
        self.send_buf.clear();
        packet.serialize(&mut self.send_buf);
        self.socket.send_to(&self.send_buf, to).await.map(drop)
    }
}

/// Whether a handshake may go on to srt-protocol, and whether it carries
/// key material (a caller that encrypts). Key material that is not a
/// request would hit an `unimplemented!` in srt-protocol: dropped.
pub(super) fn screen(packet: &Packet) -> Result<bool, &'static str> {
    let Packet::Control(ControlPacket {
        control_type:
            ControlTypes::Handshake(HandshakeControlInfo {
                info: HandshakeVsInfo::V5(info),
                ..
            }),
        ..
    }) = packet
    else {
        return Ok(false);
    };
    match &info.ext_km {
        None => Ok(false),
        Some(SrtControlPacket::KeyRefreshRequest(_)) => Ok(true),
        Some(_) => Err("key material that is not a request"),
    }
}

/// srt-protocol refused a caller the gate had let in: a wrong passphrase
/// (`SRT_REJ_BADSECRET`), or none while the listener has one (`SRT_REJ_UNSECURE`).
fn refused_after_acceptance(id: SessionId, admitted: &Admitted, packet: Option<&(Packet, SocketAddr)>) {
    let reason = packet.and_then(|(p, _)| match p {
        Packet::Control(ControlPacket {
            control_type:
                ControlTypes::Handshake(HandshakeControlInfo {
                    shake_type: ShakeType::Rejection(reason),
                    ..
                }),
            ..
        }) => Some(*reason),
        _ => None,
    });
    let (text, code) = match reason {
        Some(r) => (r.to_string(), i32::from(r)),
        None => ("handshake failed".to_owned(), 0),
    };
    let stream = admitted.role.stream();
    tracing::warn!(peer = %id.0, stream = stream.name(), reason = %text, code, "srt connection refused");
    stream.set_error(format!("srt connection from {} refused: {text}", id.0.ip()));
}

/// Drives one connection: packets in from the listener's queue, data out to
/// the publisher, until the peer leaves, goes quiet or proves not to send
/// MPEG-TS.
async fn drive(
    connection: Connection,
    mut packets: mpsc::Receiver<(Packet, SocketAddr)>,
    socket: Arc<UdpSocket>,
    publisher: Publisher,
    peer: SocketAddr,
) {
    let mut conn = DuplexConnection::new(connection);
    let mut feed = Feed::new(publisher, peer);
    let mut buf = BytesMut::with_capacity(1500);
    let mut last_data = Instant::now();
    tracing::info!("srt publisher connected");
    let end = 'run: loop {
        let now = Instant::now();
        if !conn.is_open() {
            break End::Closed;
        }
        while let Some((packet, to)) = conn.next_packet(now) {
            buf.clear();
            packet.serialize(&mut buf);
            let _ = socket.send_to(&buf, to).await;
        }
        while let Some((_, data)) = conn.next_data(now) {
            last_data = now;
            if !feed.feed(&data) {
                break 'run End::NotTs;
            }
        }
        let idle_at = last_data + DATA_IDLE_TIMEOUT;
        if now >= idle_at {
            break End::Idle;
        }
        let wake = conn.check_timers(now).min(idle_at);
        tokio::select! {
            _ = tokio::time::sleep_until(wake.into()) => {}
            packet = packets.recv() => match packet {
                Some(packet) => conn.handle_packet_input(Instant::now(), Ok(packet)),
                // the listener is gone
                None => break End::Closed,
            },
        }
    };
    if conn.is_open() {
        // tell the peer we are done (best effort)
        let now = Instant::now();
        conn.on_peer_idle_timeout(now);
        while let Some((packet, to)) = conn.next_packet(now) {
            buf.clear();
            packet.serialize(&mut buf);
            let _ = socket.send_to(&buf, to).await;
        }
    }
    let stats = conn.statistics();
    tracing::info!(
        lost = stats.rx_loss_data,
        retransmitted = stats.rx_retransmit_data,
        too_late = stats.rx_dropped_data,
        naks = stats.tx_nak,
        "srt link"
    );
    if stats.rx_dropped_data > 0 {
        let stream = feed.stream();
        tracing::warn!(
            too_late = stats.rx_dropped_data,
            "srt: packets arrived too late and were skipped (latency too low for this link?)"
        );
        stream.set_error(format!(
            "srt from {peer}: {} packets arrived too late and were skipped",
            stats.rx_dropped_data
        ));
    }
    feed.end(&end);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use srt_protocol::options::{KeySize, SrtVersion};
    use srt_protocol::packet::{
        HsV5Info, KeyingMaterialMessage, PacketType, SeqNumber, SocketId, SrtHandshake, SrtShakeFlags,
        TimeStamp,
    };

    use super::*;

    fn handshake(ext_km: Option<SrtControlPacket>) -> Packet {
        Packet::Control(ControlPacket {
            timestamp: TimeStamp::from_micros(0),
            dest_sockid: SocketId(0),
            control_type: ControlTypes::Handshake(HandshakeControlInfo {
                init_seq_num: SeqNumber::new(1).unwrap(),
                max_packet_size: srt_protocol::options::PacketSize(1500),
                max_flow_size: srt_protocol::options::PacketCount(8192),
                shake_type: ShakeType::Conclusion,
                socket_id: SocketId(7),
                syn_cookie: 0,
                peer_addr: [127, 0, 0, 1].into(),
                info: HandshakeVsInfo::V5(HsV5Info {
                    key_size: KeySize::Unspecified,
                    ext_hs: Some(SrtControlPacket::HandshakeRequest(SrtHandshake {
                        version: SrtVersion::CURRENT,
                        flags: SrtShakeFlags::SUPPORTED,
                        send_latency: Duration::from_millis(120),
                        recv_latency: Duration::from_millis(120),
                    })),
                    ext_km,
                    ext_group: None,
                    sid: None,
                }),
            }),
        })
    }

    fn km() -> KeyingMaterialMessage {
        KeyingMaterialMessage {
            pt: PacketType::KeyingMaterial,
            key_flags: srt_protocol::packet::KeyFlags::EVEN,
            keki: 0,
            cipher: srt_protocol::packet::CipherType::Ctr,
            auth: srt_protocol::packet::Auth::None,
            salt: vec![0; 16],
            wrapped_keys: vec![0; 24],
        }
    }

    #[test]
    fn screening() {
        assert_eq!(screen(&handshake(None)), Ok(false));
        assert_eq!(
            screen(&handshake(Some(SrtControlPacket::KeyRefreshRequest(km())))),
            Ok(true)
        );
        assert!(screen(&handshake(Some(SrtControlPacket::KeyRefreshResponse(km())))).is_err());
    }
}
