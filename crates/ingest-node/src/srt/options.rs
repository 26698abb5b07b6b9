//! From a source's SRT options (libsrt names, see [`spec::source::srt`]) to
//! srt-tokio socket options, and the encryption decision of a listener.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use spec::source::SrtOptions;
use srt_protocol::access::RejectReason;
use srt_protocol::options::{ByteCount, KeySize, Passphrase, SocketOptions};
use srt_protocol::packet::CoreRejectReason;
use srt_protocol::settings::KeySettings;

use super::UDP_RECV_BUFFER;

/// Largest latency accepted, in milliseconds: beyond a minute the receive
/// buffer, not the latency, would be the limit.
pub(super) const MAX_LATENCY_MS: u64 = 60_000;

/// Largest connect or idle timeout accepted, in milliseconds.
const MAX_TIMEOUT_MS: u64 = 600_000;

/// An SRT option that srt-tokio cannot take. Messages never hold secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    /// The passphrase is not 10 to 79 bytes long.
    #[error("passphrase must be 10 to 79 bytes long, not {0}")]
    Passphrase(usize),
    /// `pbkeylen` is not 16, 24 or 32.
    #[error("pbkeylen must be 16, 24 or 32, not {0}")]
    KeyLength(u8),
    /// A duration option is not a number of milliseconds in range.
    #[error("{name}={value:?}: expected milliseconds up to {max}")]
    Millis {
        /// Option name.
        name: &'static str,
        /// Given value.
        value: String,
        /// Largest value accepted.
        max: u64,
    },
    /// `port` is not a port number.
    #[error("port={0:?}: not a port number")]
    Port(String),
    /// `adapter` is not an IP address.
    #[error("adapter={0:?}: not an IP address")]
    Adapter(String),
}

/// Options parsed once for a per-stream source.
#[derive(Debug, Clone)]
pub(super) struct Parsed {
    /// srt-tokio socket options (encryption included for caller and rendezvous).
    pub socket: SocketOptions,
    /// The passphrase, for a listener's per-caller decision.
    pub passphrase: Option<Passphrase>,
    /// `port`: local port of a caller or rendezvous.
    pub local_port: Option<u16>,
    /// `adapter`: local address of a caller or rendezvous.
    pub adapter: Option<IpAddr>,
}

/// Parses `options`.
pub(super) fn parse(options: &SrtOptions) -> Result<Parsed, OptionError> {
    let mut socket = base(Duration::from_millis(120));
    if let Some(ms) = options.latency {
        let latency = millis("latency", &ms.to_string(), MAX_LATENCY_MS)?;
        socket.receiver.latency = latency;
        socket.sender.peer_latency = latency;
    }
    let passphrase = options
        .passphrase
        .as_ref()
        .map(|p| passphrase(p.expose()))
        .transpose()?;
    let key_size = match options.pbkeylen {
        None => KeySize::Unspecified,
        Some(16) => KeySize::AES128,
        Some(24) => KeySize::AES192,
        Some(32) => KeySize::AES256,
        Some(n) => return Err(OptionError::KeyLength(n)),
    };
    if let Some(p) = &passphrase {
        socket.encryption.passphrase = Some(p.clone());
        socket.encryption.key_size = key_size;
    }
    let mut local_port = None;
    let mut adapter = None;
    for (name, value) in &options.other {
        match name.as_str() {
            "rcvlatency" => socket.receiver.latency = millis("rcvlatency", value, MAX_LATENCY_MS)?,
            "peerlatency" => socket.sender.peer_latency = millis("peerlatency", value, MAX_LATENCY_MS)?,
            "conntimeo" => socket.connect.timeout = millis("conntimeo", value, MAX_TIMEOUT_MS)?,
            "peeridletimeo" => {
                socket.session.peer_idle_timeout = millis("peeridletimeo", value, MAX_TIMEOUT_MS)?
            }
            "port" => local_port = Some(value.parse().map_err(|_| OptionError::Port(value.clone()))?),
            "adapter" => adapter = Some(value.parse().map_err(|_| OptionError::Adapter(value.clone()))?),
            _ => tracing::debug!(option = %name, "srt option ignored"),
        }
    }
    Ok(Parsed {
        socket,
        passphrase,
        local_port,
        adapter,
    })
}

/// Packets a sender keeps for (re)transmission: libsrt's default
/// (`SRTO_SNDBUF`, 8192 buffers). srt-protocol's default is 32 packets, and
/// when a burst (the keyframe an output starts with) overflows it, its send
/// buffer drops packets it has not sent yet and never sends again.
const SEND_BUFFER_PACKETS: u64 = 8192;

/// Socket options every SRT socket of this module starts from.
pub(super) fn base(latency: Duration) -> SocketOptions {
    let mut o = SocketOptions::default();
    o.receiver.latency = latency;
    o.sender.peer_latency = latency;
    o.connect.udp_recv_buffer_size = ByteCount(UDP_RECV_BUFFER as u64);
    let packet = o.session.max_segment_size.0 - srt_protocol::packet::Packet::HEADER_SIZE.0;
    o.sender.buffer_size = ByteCount(SEND_BUFFER_PACKETS * packet);
    o
}

/// A passphrase srt-tokio accepts.
pub(super) fn passphrase(p: &str) -> Result<Passphrase, OptionError> {
    Passphrase::try_from(p.to_owned()).map_err(|_| OptionError::Passphrase(p.len()))
}

fn millis(name: &'static str, value: &str, max: u64) -> Result<Duration, OptionError> {
    let bad = || OptionError::Millis {
        name,
        value: value.to_owned(),
        max,
    };
    let ms: u64 = value.parse().map_err(|_| bad())?;
    if ms > max {
        return Err(bad());
    }
    Ok(Duration::from_millis(ms))
}

/// The local address of a caller or rendezvous socket talking to `remote`.
pub(super) fn local_for(remote_is_v6: bool, adapter: Option<IpAddr>, port: u16) -> SocketAddr {
    let ip = adapter.unwrap_or(if remote_is_v6 {
        IpAddr::from([0u16; 8])
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    });
    SocketAddr::new(ip, port)
}

/// What a listener with `passphrase` answers a caller that announced the
/// key length `announced` and `encrypts` (sent key material): the key
/// settings to accept with, or the reject reason and why.
///
/// srt-protocol panics when the accepted key length differs from the
/// announced one, or when a caller that encrypts is accepted without a
/// passphrase; this decision avoids both.
pub(super) fn key_decision(
    passphrase: Option<&Passphrase>,
    announced: KeySize,
    encrypts: bool,
) -> Result<Option<KeySettings>, (RejectReason, &'static str)> {
    let unsecure = RejectReason::Core(CoreRejectReason::Unsecure);
    match (passphrase, encrypts) {
        (None, false) => Ok(None),
        (None, true) => Err((
            unsecure,
            "the caller encrypts and this listener has no passphrase",
        )),
        (Some(_), false) => Err((
            unsecure,
            "this listener needs a passphrase and the caller does not encrypt",
        )),
        (Some(p), true) => Ok(Some(KeySettings {
            key_size: announced,
            passphrase: p.clone(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use spec::Source;

    use super::*;

    fn opts(url: &str) -> SrtOptions {
        match Source::parse(url) {
            Ok(Source::Srt(s)) => s.options,
            other => panic!("{url}: {other:?}"),
        }
    }

    #[test]
    fn options() {
        let p = parse(&opts(
            "srt://h:1?latency=300&passphrase=0123456789ab&pbkeylen=32&conntimeo=500&port=7000&adapter=127.0.0.1&oheadbw=5",
        ))
        .unwrap();
        assert_eq!(p.socket.receiver.latency, Duration::from_millis(300));
        assert_eq!(p.socket.sender.peer_latency, Duration::from_millis(300));
        assert_eq!(p.socket.encryption.key_size, KeySize::AES256);
        assert!(p.socket.encryption.passphrase.is_some() && p.passphrase.is_some());
        assert_eq!(p.socket.connect.timeout, Duration::from_millis(500));
        assert_eq!(p.local_port, Some(7000));
        assert_eq!(p.adapter, Some("127.0.0.1".parse().unwrap()));
        let plain = parse(&opts("srt://:1")).unwrap();
        assert!(plain.passphrase.is_none() && plain.socket.encryption.passphrase.is_none());
        assert_eq!(plain.socket.receiver.latency, Duration::from_millis(120));
        let settings = srt_protocol::settings::ConnInitSettings::from(plain.socket);
        assert_eq!(settings.send_buffer_size.0, SEND_BUFFER_PACKETS);
    }

    #[test]
    fn option_errors() {
        let err = |u: &str| parse(&opts(u)).unwrap_err().to_string();
        assert_eq!(
            err("srt://:1?latency=70000"),
            "latency=\"70000\": expected milliseconds up to 60000"
        );
        assert!(err("srt://:1?conntimeo=soon").contains("conntimeo"));
        assert!(err("srt://:1?port=http").contains("port"));
        assert!(err("srt://:1?adapter=eth0").contains("adapter"));
        // multi-byte characters: 10 characters, 20 bytes is fine; 40 characters, 80 bytes is not
        assert!(parse(&opts(&format!("srt://:1?passphrase={}", "é".repeat(10)))).is_ok());
        let e = err(&format!("srt://:1?passphrase={}", "é".repeat(40)));
        assert!(e.contains("80") && !e.contains('é'), "{e}");
    }

    #[test]
    fn key_decisions() {
        let p = passphrase("0123456789ab").unwrap();
        let unsecure = RejectReason::Core(CoreRejectReason::Unsecure);
        assert_eq!(key_decision(None, KeySize::Unspecified, false), Ok(None));
        assert_eq!(key_decision(None, KeySize::AES128, true).unwrap_err().0, unsecure);
        assert_eq!(
            key_decision(None, KeySize::Unspecified, true).unwrap_err().0,
            unsecure
        );
        assert_eq!(
            key_decision(Some(&p), KeySize::Unspecified, false).unwrap_err().0,
            unsecure
        );
        let k = key_decision(Some(&p), KeySize::AES256, true).unwrap().unwrap();
        assert_eq!(k.key_size, KeySize::AES256);
        let k = key_decision(Some(&p), KeySize::Unspecified, true)
            .unwrap()
            .unwrap();
        assert_eq!(k.key_size, KeySize::Unspecified);
    }

    #[test]
    fn local_addresses() {
        assert_eq!(local_for(false, None, 0).to_string(), "0.0.0.0:0");
        assert_eq!(local_for(true, None, 9).to_string(), "[::]:9");
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        assert_eq!(local_for(false, Some(a), 5).to_string(), "127.0.0.2:5");
    }
}
