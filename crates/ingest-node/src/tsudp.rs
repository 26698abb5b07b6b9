//! MPEG-TS over UDP, unicast or multicast (`tsudp://[GROUP]:PORT`), bare or
//! wrapped in RTP (`tsrtp://`, RFC 2250: the RTP header is dropped, the TS
//! demuxer's continuity counters notice lost packets).
//!
//! The socket is bound for the stream's lifetime. The first datagram takes
//! the stream's publisher slot; a source silent for
//! [`crate::SOURCE_IDLE_TIMEOUT`] releases it (the stream goes offline) and
//! the next datagram takes it again, as a new source.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use hub::{LiveStream, Publisher};
use media::ts::{Demuxer, Event};
use tokio::net::UdpSocket;

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Local port, and address (unspecified for all interfaces).
    pub bind: SocketAddr,
    /// Multicast group to join, if any.
    pub group: Option<IpAddr>,
    /// Interface address for the multicast join (IPv4); unspecified lets the kernel choose.
    pub iface: Option<Ipv4Addr>,
    /// Each datagram is an RTP packet carrying TS packets.
    pub rtp: bool,
}

/// Largest datagram accepted (a UDP payload cannot be larger).
const MAX_DATAGRAM: usize = 65_536;

/// Receive buffer asked of the kernel: about 3 s of a 10 Mbps stream.
const RECV_BUFFER: usize = 4 << 20;

/// Binds the socket (joining the group when configured).
pub fn bind(config: &Config) -> io::Result<UdpSocket> {
    let domain = if config.bind.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    // several receivers of one multicast group may share the port
    socket.set_reuse_address(true)?;
    let _ = socket.set_recv_buffer_size(RECV_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&config.bind.into())?;
    match config.group {
        Some(IpAddr::V4(group)) => {
            socket.join_multicast_v4(&group, &config.iface.unwrap_or(Ipv4Addr::UNSPECIFIED))?
        }
        Some(IpAddr::V6(group)) => socket.join_multicast_v6(&group, 0)?,
        None => {}
    }
    UdpSocket::from_std(socket.into())
}

/// Receives until the socket fails; feeds `stream`. With `rtp`, each
/// datagram's RTP header is dropped first.
pub async fn run(socket: UdpSocket, stream: Arc<LiveStream>, rtp: bool) -> io::Result<()> {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut source: Option<(Publisher, Demuxer, SocketAddr)> = None;
    loop {
        let received = tokio::time::timeout(crate::SOURCE_IDLE_TIMEOUT, socket.recv_from(&mut buf)).await;
        let (n, peer) = match received {
            Ok(r) => r?,
            Err(_) => {
                if let Some((publisher, mut demux, peer)) = source.take() {
                    demux.finish();
                    drain(&mut demux, &publisher, "ts/udp input");
                    tracing::info!(stream = stream.name(), %peer, "ts/udp source went silent");
                }
                continue;
            }
        };
        if source.is_none() {
            match stream.publish() {
                Ok(p) => {
                    tracing::info!(stream = stream.name(), %peer, "ts/udp source started");
                    source = Some((p, Demuxer::new(), peer));
                }
                Err(e) => {
                    tracing::debug!(stream = stream.name(), %peer, %e, "ts/udp datagram dropped");
                    continue;
                }
            }
        }
        if let Some((publisher, demux, _)) = source.as_mut() {
            if rtp {
                match media::rtp::Packet::parse(&buf[..n]) {
                    Ok(packet) => demux.feed(&packet.payload),
                    Err(e) => tracing::debug!(stream = stream.name(), %peer, %e, "not an rtp packet"),
                }
            } else {
                demux.feed(&buf[..n]);
            }
            drain(demux, publisher, "ts/udp input");
        }
    }
}

/// Hands what the demuxer found to the publisher; warnings become the
/// stream's last error. `what` names the input in logs.
pub(crate) fn drain(demux: &mut Demuxer, publisher: &Publisher, what: &'static str) {
    while let Some(event) = demux.poll_event() {
        match event {
            Event::Tracks(tracks) => publisher.set_tracks(tracks),
            Event::Frame(frame) => publisher.push(frame),
            Event::Warning(w) => {
                tracing::debug!(stream = publisher.stream().name(), %w, "{what}");
                publisher.stream().set_error(w.to_string());
            }
        }
    }
}
