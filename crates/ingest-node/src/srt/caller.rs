//! An SRT caller for sending: srt-protocol's sans-IO handshake (`Connect`)
//! and connection driven by our own loop, with one correction on the wire.
//!
//! **The handshake timestamp.** srt-protocol's caller copies the
//! listener's induction timestamp (the listener's own clock, which may have
//! been running for hours) into its conclusion handshake. A libsrt receiver
//! takes the conclusion's timestamp as the sender's clock to derive when
//! each packet is due (TSBPD): it then believes every packet is that much
//! older than it is, plays it at once, and drops any packet that has to be
//! retransmitted as too late. (That is the loss srt-tokio's caller shows
//! when it sends to libsrt through a lossy link.) The conclusion leaves
//! here stamped with our own clock: the time since the connection's
//! start, which srt-protocol sets when it sends the first conclusion.

use std::hash::BuildHasher;
use std::io::{self, Cursor};
use std::net::SocketAddr;
use std::panic::catch_unwind;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use srt_protocol::connection::Connection;
use srt_protocol::options::SocketOptions;
use srt_protocol::packet::{
    ControlPacket, ControlTypes, HandshakeControlInfo, Packet, SeqNumber, ShakeType, TimeStamp,
};
use srt_protocol::protocol::pending_connection::ConnectionResult;
use srt_protocol::protocol::pending_connection::connect::Connect;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::udp_socket;

/// Packets queued from the socket to the connection; more are dropped.
const QUEUE: usize = 1024;

/// How often a handshake packet is repeated until answered.
const HANDSHAKE_REPEAT: Duration = Duration::from_millis(100);

/// A connected caller: its socket, the packets the peer sends, and the
/// connection to drive (see [`super::output::play`]).
#[derive(Debug)]
pub(super) struct Called {
    pub socket: Arc<UdpSocket>,
    pub packets: mpsc::Receiver<(Packet, SocketAddr)>,
    pub connection: Connection,
    /// The task reading the socket; keep it while the connection runs.
    pub reader: Reader,
}

/// The task reading a caller's socket; aborted when dropped.
#[derive(Debug)]
pub(super) struct Reader(JoinHandle<()>);

impl Drop for Reader {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Calls `remote` from `local` with `options` (their `connect.timeout`
/// bounds the handshake). The error of a refusal carries srt-protocol's
/// `ConnectionReject`.
pub(super) async fn call(
    remote: SocketAddr,
    local: SocketAddr,
    options: SocketOptions,
    streamid: Option<&str>,
) -> io::Result<Called> {
    let socket = Arc::new(udp_socket(local)?);
    let (queue, mut packets) = mpsc::channel(QUEUE);
    let reader = Reader(tokio::spawn(read(socket.clone(), remote, queue)));
    let timeout = options.connect.timeout;
    let mut connect = Connect::new(
        remote,
        local.ip(),
        options.into(),
        streamid.map(str::to_owned),
        initial_sequence_number(),
    );
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut tick = tokio::time::interval(HANDSHAKE_REPEAT);
    // when the first conclusion went out: the connection's time zero
    let mut concluding: Option<Instant> = None;
    let mut buf = BytesMut::with_capacity(1500);
    loop {
        let result = tokio::select! {
            _ = tick.tick() => connect.handle_tick(Instant::now()),
            packet = packets.recv() => match packet {
                Some(packet) => connect.handle_packet(Ok(packet), Instant::now()),
                None => return Err(io::Error::other("the socket failed")),
            },
            _ = tokio::time::sleep_until(deadline) => {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer (connection timed out)"));
            }
        };
        match result {
            ConnectionResult::SendPacket(mut packet) => {
                if is_conclusion(&packet.0) {
                    let zero = *concluding.get_or_insert_with(Instant::now);
                    restamp(&mut packet.0, zero.elapsed());
                }
                send(&socket, &mut buf, packet).await?;
            }
            ConnectionResult::Connected(packet, connection) => {
                if let Some(packet) = packet {
                    send(&socket, &mut buf, packet).await?;
                }
                tracing::debug!(%remote, handshake = ?started.elapsed(), "srt caller connected");
                return Ok(Called {
                    socket,
                    packets,
                    connection,
                    reader,
                });
            }
            ConnectionResult::Reject(packet, reason) => {
                if let Some(packet) = packet {
                    let _ = send(&socket, &mut buf, packet).await;
                }
                return Err(io::Error::new(io::ErrorKind::ConnectionRefused, reason));
            }
            ConnectionResult::Failure(e) => return Err(e),
            ConnectionResult::NotHandled(e) => tracing::debug!(%remote, %e, "srt caller: packet ignored"),
            ConnectionResult::NoAction | ConnectionResult::RequestAccess(_) => {}
        }
    }
}

/// Reads datagrams from `remote` into `queue` until the queue closes or
/// the socket fails. Datagrams that do not parse are dropped, as are
/// packets the queue has no room for (SRT retransmits them).
async fn read(socket: Arc<UdpSocket>, remote: SocketAddr, queue: mpsc::Sender<(Packet, SocketAddr)>) {
    let mut buf = vec![0u8; 65_536];
    let is_v6 = remote.is_ipv6();
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            // ICMP errors of earlier sends (nobody listening yet)
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
                ) =>
            {
                continue;
            }
            Err(e) => {
                tracing::warn!(%remote, %e, "srt caller: socket failed");
                return;
            }
        };
        if from != remote {
            continue;
        }
        let data = &buf[..n];
        let packet = match catch_unwind(|| Packet::parse(&mut Cursor::new(data), is_v6)) {
            Ok(Ok(packet)) => packet,
            Ok(Err(e)) => {
                tracing::debug!(peer = %from, %e, "srt: datagram dropped");
                continue;
            }
            Err(_) => {
                tracing::warn!(peer = %from, len = n, "srt: malformed datagram dropped (parser panicked)");
                continue;
            }
        };
        match queue.try_send((packet, from)) {
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

fn is_conclusion(packet: &Packet) -> bool {
    matches!(
        packet,
        Packet::Control(ControlPacket {
            control_type: ControlTypes::Handshake(HandshakeControlInfo {
                shake_type: ShakeType::Conclusion,
                ..
            }),
            ..
        })
    )
}

/// Sets a control packet's timestamp to `since_start` of our clock.
fn restamp(packet: &mut Packet, since_start: Duration) {
    if let Packet::Control(control) = packet {
        let micros = u32::try_from(since_start.as_micros()).unwrap_or(u32::MAX);
        control.timestamp = TimeStamp::from_micros(micros);
    }
}

async fn send(socket: &UdpSocket, buf: &mut BytesMut, (packet, to): (Packet, SocketAddr)) -> io::Result<()> {
    buf.clear();
    packet.serialize(buf);
    socket.send_to(buf, to).await.map(drop)
}

/// A random initial sequence number (31 bits).
fn initial_sequence_number() -> SeqNumber {
    let random = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    SeqNumber::new_truncate((random as u32) & 0x7fff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restamping() {
        let mut packet = Packet::Control(ControlPacket {
            timestamp: TimeStamp::from_micros(123_456_789),
            dest_sockid: srt_protocol::packet::SocketId(0),
            control_type: ControlTypes::Handshake(HandshakeControlInfo {
                init_seq_num: SeqNumber::new(1).unwrap(),
                max_packet_size: srt_protocol::options::PacketSize(1500),
                max_flow_size: srt_protocol::options::PacketCount(8192),
                shake_type: ShakeType::Conclusion,
                socket_id: srt_protocol::packet::SocketId(7),
                syn_cookie: 0,
                peer_addr: [127, 0, 0, 1].into(),
                info: srt_protocol::packet::HandshakeVsInfo::V5(Default::default()),
            }),
        });
        assert!(is_conclusion(&packet));
        restamp(&mut packet, Duration::from_micros(250));
        let Packet::Control(control) = &packet else {
            unreachable!()
        };
        assert_eq!(control.timestamp, TimeStamp::from_micros(250));
    }
}
