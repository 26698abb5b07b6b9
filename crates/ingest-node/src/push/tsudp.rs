//! MPEG-TS over UDP: `tsudp://HOST:PORT` sends bare TS, 7 packets (1316
//! bytes) per datagram; `tsrtp://HOST:PORT` wraps each datagram in RTP
//! (RFC 2250: payload type 33, 90 kHz timestamps from the wall clock).
//!
//! Options (query string): `ttl=N` (multicast TTL, default 1), `iface=ADDR`
//! (IPv4 address of the interface multicast leaves by; for unicast, the
//! address sent from), and for `tsrtp://` only, `fec=prompeg` with
//! `rows=D&columns=L` (default 8 rows x 4 columns): SMPTE 2022-1 column FEC
//! to port + 2 and row FEC to port + 4 ([`media::fec`]). FEC refuses
//! `tsudp://` (it protects RTP packets) and shapes outside the SMPTE 2022-1
//! limits, as [`PushError::BadTarget`].
//!
//! Datagrams leave as frames come (the hub delivers in real time); whole TS
//! packets left over wait for the next frame. With RTP, the last datagram
//! is filled up with null packets so that every datagram has the same size.
//! The push ends when the stream is removed or stays offline for
//! [`OFFLINE_GRACE`].
//!
//! The URL, socket and subscription helpers here are shared with
//! [`super::rtp`].

use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use hub::{Event, State, Subscriber};
use media::fec::{self, Encoder, Mode, Shape};
use media::ts::Muxer;
use tokio::net::UdpSocket;

use super::{Job, PushError};

/// How long a push waits for an offline stream's publisher to come back before ending.
pub const OFFLINE_GRACE: Duration = Duration::from_secs(10);
/// TS packets per datagram.
pub const PACKETS_PER_DATAGRAM: usize = 7;
/// Bytes of TS per datagram (7 packets).
pub const DATAGRAM_TS_LEN: usize = PACKETS_PER_DATAGRAM * media::ts::PACKET_SIZE;
/// RTP payload type of MPEG-TS (RFC 3551).
pub const TS_PAYLOAD_TYPE: u8 = 33;
/// FEC rows (`D`) when only `fec=prompeg` is given.
pub const DEFAULT_FEC_ROWS: u32 = 8;
/// FEC columns (`L`) when only `fec=prompeg` is given.
pub const DEFAULT_FEC_COLUMNS: u32 = 4;
/// Multicast TTL when `ttl` is not given.
pub const DEFAULT_TTL: u32 = 1;

/// A `SCHEME://HOST:PORT?k=v&...` target, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UdpTarget {
    /// Host name or IP literal (without brackets).
    pub(crate) host: String,
    pub(crate) port: u16,
    /// Query parameters in order; a key without `=` has an empty value.
    pub(crate) params: Vec<(String, String)>,
    /// `ttl` (multicast TTL or IPv6 hops).
    pub(crate) ttl: u32,
    /// `iface`.
    pub(crate) iface: Option<Ipv4Addr>,
}

/// Options of a TS push.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Config {
    udp: UdpTarget,
    rtp: bool,
    fec: Option<Shape>,
}

// === helpers shared with push::rtp ===

/// Splits `target`, which must use `scheme`; query keys other than `ttl`,
/// `iface` and `extra` are refused.
pub(crate) fn parse_target(target: &str, scheme: &str, extra: &[&str]) -> Result<UdpTarget, PushError> {
    let bad = |reason: String| PushError::BadTarget(format!("{target}: {reason}"));
    let rest = target
        .split_once("://")
        .filter(|(s, _)| s.eq_ignore_ascii_case(scheme))
        .map(|(_, rest)| rest)
        .ok_or_else(|| bad(format!("not a {scheme}:// url")))?;
    let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| bad("needs HOST:PORT".into()))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || host.contains(['/', '@', '[', ']']) {
        return Err(bad(format!("bad host {host:?}")));
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| bad(format!("bad port {port:?} (1 to 65535)")))?;
    let mut out = UdpTarget {
        host: host.to_string(),
        port,
        params: Vec::new(),
        ttl: DEFAULT_TTL,
        iface: None,
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "ttl" => {
                out.ttl = v
                    .parse()
                    .ok()
                    .filter(|&t| t <= 255)
                    .ok_or_else(|| bad(format!("bad ttl {v:?} (0 to 255)")))?;
            }
            "iface" => {
                out.iface = Some(
                    v.parse()
                        .map_err(|_| bad(format!("bad iface {v:?} (an IPv4 address)")))?,
                );
            }
            k if extra.contains(&k) => {}
            k => {
                let mut known = vec!["ttl", "iface"];
                known.extend(extra);
                return Err(bad(format!("unknown option {k:?} (known: {})", known.join(", "))));
            }
        }
        out.params.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

impl UdpTarget {
    /// The last value of query parameter `key`.
    pub(crate) fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The destination address (host resolved, IPv4 preferred).
    pub(crate) async fn resolve(&self) -> Result<SocketAddr, PushError> {
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, self.port));
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|e| PushError::Failed(format!("cannot resolve {}: {e}", self.host)))?
            .collect();
        addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or(addrs.first())
            .copied()
            .ok_or_else(|| PushError::Failed(format!("{} has no address", self.host)))
    }

    /// An unconnected socket for sending to `dest` (ICMP errors from a
    /// receiver not listening yet are not reported), with the multicast
    /// TTL and interface set.
    pub(crate) fn socket(&self, dest: SocketAddr) -> io::Result<UdpSocket> {
        let domain = if dest.is_ipv4() {
            socket2::Domain::IPV4
        } else {
            socket2::Domain::IPV6
        };
        let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
        let _ = socket.set_send_buffer_size(1 << 20);
        let bind: SocketAddr = match (dest.ip(), self.iface) {
            (IpAddr::V4(group), iface) if group.is_multicast() => {
                socket.set_multicast_ttl_v4(self.ttl)?;
                if let Some(iface) = iface {
                    socket.set_multicast_if_v4(&iface)?;
                }
                (Ipv4Addr::UNSPECIFIED, 0).into()
            }
            (IpAddr::V6(group), _) if group.is_multicast() => {
                socket.set_multicast_hops_v6(self.ttl)?;
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            }
            (IpAddr::V4(_), Some(iface)) => (iface, 0).into(),
            (IpAddr::V4(_), None) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            (IpAddr::V6(_), _) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        socket.bind(&bind.into())?;
        socket.set_nonblocking(true)?;
        UdpSocket::from_std(socket.into())
    }
}

/// The next event of `sub`; `None` once the stream is removed or has been
/// offline for [`OFFLINE_GRACE`].
pub(crate) async fn next_event(sub: &mut Subscriber) -> Option<Event> {
    loop {
        match tokio::time::timeout(OFFLINE_GRACE, sub.next()).await {
            Ok(Event::Closed) => return None,
            Ok(e) => return Some(e),
            Err(_) if sub.stream().state() == State::Offline => return None,
            Err(_) => {}
        }
    }
}

/// A random 32-bit value (SSRCs, initial sequence numbers, timestamp offsets).
pub(crate) fn random_u32() -> u32 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() as u32
}

/// Sends one datagram, counting its bytes.
pub(crate) async fn send(
    socket: &UdpSocket,
    to: SocketAddr,
    data: &[u8],
    job: &Job,
) -> Result<(), PushError> {
    let n = socket.send_to(data, to).await?;
    job.bytes.fetch_add(n as u64, Ordering::Relaxed);
    Ok(())
}

// === impl Config ===

impl Config {
    fn parse(target: &str) -> Result<Self, PushError> {
        let scheme = target.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        let rtp = match scheme.as_deref() {
            Some("tsudp") => false,
            Some("tsrtp") => true,
            _ => {
                return Err(PushError::BadTarget(format!(
                    "{target}: not a tsudp:// or tsrtp:// url"
                )));
            }
        };
        let udp = parse_target(
            target,
            if rtp { "tsrtp" } else { "tsudp" },
            &["fec", "rows", "columns"],
        )?;
        let bad = |reason: String| PushError::BadTarget(format!("{target}: {reason}"));
        let number = |key: &str, default: u32| match udp.param(key) {
            None => Ok(default),
            Some(v) => v.parse::<u32>().map_err(|_| bad(format!("bad {key} {v:?}"))),
        };
        let fec = match udp.param("fec") {
            None if udp.param("rows").is_some() || udp.param("columns").is_some() => {
                return Err(bad("rows and columns need fec=prompeg".into()));
            }
            None => None,
            Some(f) if !f.eq_ignore_ascii_case("prompeg") => {
                return Err(bad(format!("unknown fec {f:?} (use fec=prompeg)")));
            }
            Some(_) if !rtp => {
                return Err(bad(
                    "fec=prompeg protects RTP packets: use tsrtp:// (tsudp:// sends bare TS)".into(),
                ));
            }
            Some(_) => {
                let (rows, columns) = (
                    number("rows", DEFAULT_FEC_ROWS)?,
                    number("columns", DEFAULT_FEC_COLUMNS)?,
                );
                let shape = Shape::new(columns, rows).map_err(|e| bad(e.to_string()))?;
                // row FEC is always sent: check its limit now
                Encoder::new(shape, Mode::ColumnAndRow, 0, 0).map_err(|e| bad(e.to_string()))?;
                if udp.port > u16::MAX - fec::ROW_PORT_OFFSET {
                    return Err(bad(format!(
                        "port {} leaves no room for fec on port + 4",
                        udp.port
                    )));
                }
                Some(shape)
            }
        };
        Ok(Self { udp, rtp, fec })
    }
}

/// RTP state of a `tsrtp://` push.
struct Rtp {
    sequencer: media::rtp::Sequencer,
    /// Timestamp offset and the clock it counts from.
    ts_base: u32,
    start: Instant,
    /// The FEC encoder, column and row destinations.
    fec: Option<(Encoder, SocketAddr, SocketAddr)>,
}

/// Where the datagrams go.
struct Sender<'a> {
    job: &'a Job,
    socket: UdpSocket,
    dest: SocketAddr,
    rtp: Option<Rtp>,
    wire: BytesMut,
}

impl Sender<'_> {
    /// Sends one datagram of TS (whole packets).
    async fn send(&mut self, ts: &[u8]) -> Result<(), PushError> {
        let Some(rtp) = self.rtp.as_mut() else {
            return send(&self.socket, self.dest, ts, self.job).await;
        };
        let elapsed = rtp.start.elapsed().as_micros() * 9 / 100;
        let timestamp = rtp.ts_base.wrapping_add(elapsed as u32);
        let packet = rtp
            .sequencer
            .packet(timestamp, false, bytes::Bytes::copy_from_slice(ts));
        self.wire.clear();
        packet
            .write(&mut self.wire)
            .map_err(|e| PushError::Failed(e.to_string()))?;
        send(&self.socket, self.dest, &self.wire, self.job).await?;
        if let Some((encoder, column_to, row_to)) = rtp.fec.as_mut() {
            let out = encoder
                .push(&self.wire)
                .map_err(|e| PushError::Failed(e.to_string()))?;
            if let Some(c) = out.column {
                send(&self.socket, *column_to, &c, self.job).await?;
            }
            if let Some(r) = out.row {
                send(&self.socket, *row_to, &r, self.job).await?;
            }
        }
        Ok(())
    }
}

/// The MPEG-TS of a stream in datagram-sized chunks ([`DATAGRAM_TS_LEN`]):
/// the mux loop every TS push (UDP, RTP, RIST) shares.
pub(crate) struct TsChunks {
    push: String,
    muxer: Option<Muxer>,
    pending: BytesMut,
}

impl TsChunks {
    /// Chunks for the push called `push` (named in logs).
    pub(crate) fn new(push: &str) -> Self {
        Self {
            push: push.to_owned(),
            muxer: None,
            pending: BytesMut::with_capacity(64 * 1024),
        }
    }

    /// Takes one subscriber event; returns the whole chunks now ready (a
    /// multiple of [`DATAGRAM_TS_LEN`] bytes, possibly empty).
    pub(crate) fn event(&mut self, event: Event) -> Result<BytesMut, PushError> {
        match event {
            Event::Tracks(tracks) => {
                let m = Muxer::new(&media::ts::muxable(tracks))
                    .map_err(|e| PushError::Failed(format!("cannot mux these tracks as mpeg-ts: {e}")))?;
                self.muxer = Some(m);
            }
            Event::Frame(frame) => {
                if let Some(m) = self.muxer.as_mut()
                    && let Err(e) = m.mux_frame(&frame, &mut self.pending)
                {
                    tracing::debug!(push = self.push, %e, "frame skipped");
                }
            }
            Event::Skipped { lost } => tracing::debug!(push = self.push, lost, "push skipped ahead"),
            Event::Offline | Event::Closed => {}
        }
        let whole = self.pending.len() - self.pending.len() % DATAGRAM_TS_LEN;
        Ok(self.pending.split_to(whole))
    }

    /// What is left at the end: less than one chunk.
    pub(crate) fn rest(&mut self) -> BytesMut {
        self.pending.split()
    }
}

/// A TS null packet (PID 0x1fff), to fill the last RTP datagram.
fn null_packet(out: &mut BytesMut) {
    out.put_slice(&[0x47, 0x1f, 0xff, 0x10]);
    out.put_bytes(0xff, media::ts::PACKET_SIZE - 4);
}

/// Runs a `tsudp://` or `tsrtp://` push (see the module docs).
pub async fn run(job: &Job) -> Result<(), PushError> {
    let config = Config::parse(&job.target)?;
    let dest = config.udp.resolve().await?;
    let socket = config.udp.socket(dest)?;
    let rtp = config.rtp.then(|| {
        let r = random_u32();
        Rtp {
            sequencer: media::rtp::Sequencer::new(random_u32(), TS_PAYLOAD_TYPE, r as u16),
            ts_base: random_u32(),
            start: Instant::now(),
            fec: config.fec.map(|shape| {
                let encoder = Encoder::new(shape, Mode::ColumnAndRow, (r >> 16) as u16, (r >> 4) as u16)
                    .expect("shape checked by Config::parse");
                let port = |offset| SocketAddr::new(dest.ip(), dest.port() + offset);
                (encoder, port(fec::COLUMN_PORT_OFFSET), port(fec::ROW_PORT_OFFSET))
            }),
        }
    });
    tracing::info!(push = job.name, stream = job.stream.name(), %dest, rtp = config.rtp, fec = ?config.fec, "ts/udp push started");
    let mut sender = Sender {
        job,
        socket,
        dest,
        rtp,
        wire: BytesMut::with_capacity(2048),
    };
    let mut sub = job.stream.subscribe();
    let mut ts = TsChunks::new(&job.name);
    while let Some(event) = next_event(&mut sub).await {
        let ready = ts.event(event)?;
        for chunk in ready.chunks(DATAGRAM_TS_LEN) {
            sender.send(chunk).await?;
        }
    }
    let mut rest = ts.rest();
    if !rest.is_empty() {
        if sender.rtp.is_some() {
            while rest.len() < DATAGRAM_TS_LEN {
                null_packet(&mut rest);
            }
        }
        sender.send(&rest).await?;
    }
    tracing::info!(
        push = job.name,
        stream = job.stream.name(),
        "ts/udp push: the stream ended"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(target: &str) -> String {
        match Config::parse(target) {
            Err(PushError::BadTarget(e)) => e,
            other => panic!("{target}: {other:?}"),
        }
    }

    #[test]
    fn targets() {
        let c = Config::parse("tsrtp://239.1.2.3:5000?ttl=4&iface=10.0.0.1&fec=prompeg").unwrap();
        assert!(c.rtp);
        assert_eq!(
            (c.udp.host.as_str(), c.udp.port, c.udp.ttl),
            ("239.1.2.3", 5000, 4)
        );
        assert_eq!(c.udp.iface, Some(Ipv4Addr::new(10, 0, 0, 1)));
        let shape = c.fec.unwrap();
        assert_eq!((shape.columns(), shape.rows()), (4, 8));
        let c = Config::parse("TSUDP://[::1]:6000").unwrap();
        assert!(!c.rtp && c.fec.is_none());
        assert_eq!((c.udp.host.as_str(), c.udp.ttl), ("::1", 1));
        let c = Config::parse("tsrtp://h:1?fec=prompeg&rows=5&columns=20").unwrap();
        assert_eq!(c.fec.unwrap().columns(), 20);
        for (bad, msg) in [
            ("tsudp://h:1?fec=prompeg", "use tsrtp://"),
            ("tsrtp://h:1?fec=prompeg&rows=2", "rows (D) must be 4 to 20"),
            (
                "tsrtp://h:1?fec=prompeg&columns=50",
                "columns (L) must be 1 to 20",
            ),
            ("tsrtp://h:1?fec=prompeg&rows=20&columns=10", "at most 100"),
            ("tsrtp://h:1?fec=prompeg&columns=2", "at least 4 with row fec"),
            ("tsrtp://h:1?fec=raptor", "unknown fec"),
            ("tsrtp://h:1?rows=4", "need fec=prompeg"),
            ("tsrtp://h:65533?fec=prompeg", "no room for fec"),
            ("tsudp://h", "HOST:PORT"),
            ("tsudp://h:0", "bad port"),
            ("tsudp://:5", "bad host"),
            ("tsudp://h:5?ttl=300", "bad ttl"),
            ("tsudp://h:5?iface=eth0", "bad iface"),
            ("tsudp://h:5?pkt_size=1316", "unknown option \"pkt_size\""),
            ("srt://h:5", "not a tsudp:// or tsrtp://"),
        ] {
            let e = err(bad);
            assert!(e.contains(msg), "{bad}: {e}");
        }
    }
}
