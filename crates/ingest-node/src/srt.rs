//! SRT: MPEG-TS carried over SRT into a live stream, and out of it.
//!
//! Two ways in:
//!
//! - **The shared port** ([`serve_shared`], default [`DEFAULT_PORT`]): one UDP
//!   port for every stream. A caller's `streamid` names the stream and the
//!   direction (`publish:NAME`, `#!::r=NAME,m=publish`; see
//!   [`spec::streamid`]); publishers are checked by
//!   [`Admission`](crate::admission::Admission) and refused ones are
//!   rejected *in the handshake*, so the caller sees an SRT reject code (see
//!   [`reject_code`]). The same port serves players (below).
//! - **Per-stream sources** ([`run_source`], [`run_source_forever`]) after
//!   MistServer's conventions ([`SrtSource`]): `srt://:PORT` listens and takes
//!   one caller at a time (others get `SRT_REJX_CONFLICT`, 2409),
//!   `srt://HOST:PORT` calls, `?mode=rendezvous` meets the peer half-way.
//!   Options: `latency` (ms), `passphrase` + `pbkeylen` (AES-128/192/256),
//!   `streamid` (sent by a caller), and `rcvlatency`, `peerlatency`,
//!   `conntimeo`, `peeridletimeo` (ms), `port` and `adapter` (local port and
//!   address of a caller or rendezvous). Others are ignored (logged at debug).
//!
//! Ways out (MPEG-TS from the stream's newest keyframe on, 1316-byte
//! payloads of 7 TS packets, muxed per connection from the shared frames):
//!
//! - **Playing from the shared port**: streamid `NAME`, `request:NAME` or
//!   `#!::r=NAME,m=request`. The stream must exist in the hub (else
//!   `SRT_REJX_NOTFOUND`, 2404); publish keys guard publishing only. A
//!   stream that is not live is asked to start (on-demand inputs); an
//!   output ends when its stream is removed or stays offline for 10 s.
//! - **Pushes** ([`crate::push::srt`]): `srt://HOST:PORT` calls,
//!   `srt://:PORT` listens and gives the stream to every caller,
//!   `?mode=rendezvous` meets the peer (options as for sources).
//!
//! A viewer never holds anything back: payloads enter its SRT send buffer
//! at the stream's pace and SRT drops what the peer cannot take in time.
//! Senders keep 8192 packets for retransmission (libsrt's default;
//! srt-protocol's 32 stall on the first keyframe burst). Callers that send
//! run our own handshake loop (`caller.rs`) because srt-protocol's caller
//! stamps its conclusion handshake with the listener's clock, which makes a
//! libsrt receiver drop every retransmitted packet as too late.
//!
//! Each publishing connection runs in its own task: packets (usually 7 TS packets, 1316
//! bytes) go through a [`media::ts::Demuxer`] whose tracks and frames feed
//! the stream's [`hub::Publisher`]. The publisher is held only while the
//! peer is connected: a peer that closes, goes silent for
//! [`DATA_IDLE_TIMEOUT`] or sends no MPEG-TS is dropped, and the stream goes
//! offline. Peer trouble is logged at warn with the peer address and
//! recorded with [`hub::LiveStream::set_error`]; it never touches other
//! streams.
//!
//! **Encryption.** A listener with a passphrase accepts only callers with
//! the same passphrase (`SRT_REJ_BADSECRET` 1010 otherwise) and refuses
//! unencrypted callers (`SRT_REJ_UNSECURE` 1011); a listener without one
//! refuses callers that encrypt (1011). A listener uses the key length the
//! caller announces (its own `pbkeylen` is not used: srt-protocol cannot
//! negotiate another one); callers and rendezvous use their `pbkeylen`.
//!
//! **The SRT protocol** comes from the `srt-tokio` 0.4.4 family (unmaintained
//! since 2024). Source callers and rendezvous (sources and pushes) use
//! `srt-tokio` sockets. Listeners and push callers drive its sans-IO core,
//! `srt-protocol`, from loops of their own (`listener.rs`, `caller.rs`): srt-tokio's listener task panics on some handshakes
//! (one crafted datagram, or a caller that merely encrypts when the port has
//! no passphrase), taking every connection of the port with it.

mod caller;
mod listener;
mod options;
mod output;
pub(crate) mod push;
mod session;
mod shared;
mod source;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use srt_protocol::packet::{RejectReason, ServerRejectReason};

pub use options::OptionError;
pub use shared::{SharedListener, SharedSrtConfig, serve_shared};
pub use source::{RETRY_MAX, RETRY_MIN, SourceListener, run_source, run_source_forever};

#[doc(no_inline)]
pub use spec::source::SrtSource;

use crate::admission::PublishRefusal;

/// The shared SRT port (UDP).
pub const DEFAULT_PORT: u16 = 8889;

/// A connected peer that delivers no data for this long is dropped and its
/// stream goes offline (SRT's own peer-idle timeout is 5 s; a live MPEG-TS
/// source never pauses that long).
pub const DATA_IDLE_TIMEOUT: Duration = Duration::from_secs(3);

/// Receive buffer asked of the kernel for SRT sockets: about 3 s of a
/// 10 Mbps stream (the kernel may grant less).
const UDP_RECV_BUFFER: usize = 4 << 20;

/// The SRT reject code a refused publisher sees, from the SRT access-control
/// guidelines (`SRT_REJX_*`).
pub fn reject_code(refusal: &PublishRefusal) -> RejectReason {
    use spec::access::Refusal;
    let code = match refusal {
        PublishRefusal::BadName(_) => ServerRejectReason::BadRequest,
        PublishRefusal::Undefined(_) => ServerRejectReason::Notfound,
        PublishRefusal::Refused(Refusal::WrongKey | Refusal::MissingKey) => ServerRejectReason::Unauthorized,
        PublishRefusal::Refused(_) => ServerRejectReason::Forbidden,
        PublishRefusal::Busy(_) => ServerRejectReason::Conflict,
    };
    RejectReason::Server(code)
}

/// A non-blocking UDP socket bound to `addr`.
fn udp_socket(addr: SocketAddr) -> io::Result<tokio::net::UdpSocket> {
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    let _ = socket.set_recv_buffer_size(UDP_RECV_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    tokio::net::UdpSocket::from_std(socket.into())
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use spec::access::Refusal;

    use super::*;

    #[test]
    fn reject_codes() {
        let code = |r: PublishRefusal| i32::from(reject_code(&r));
        assert_eq!(code(PublishRefusal::BadName("x".into())), 2400);
        assert_eq!(code(PublishRefusal::Undefined("x".into())), 2404);
        assert_eq!(code(PublishRefusal::Refused(Refusal::WrongKey)), 2401);
        assert_eq!(code(PublishRefusal::Refused(Refusal::MissingKey)), 2401);
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            code(PublishRefusal::Refused(Refusal::AddressNotAllowed { peer })),
            2403
        );
        assert_eq!(code(PublishRefusal::Refused(Refusal::NotPushSource)), 2403);
        assert_eq!(code(PublishRefusal::Busy("x".into())), 2409);
    }
}
