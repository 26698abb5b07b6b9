//! SDP (RFC 8866) session descriptions for RTP sources, as `ffmpeg -sdp_file` writes them.
//!
//! # Parsing
//! [`SessionDescription::parse`] reads the text of an SDP file:
//!
//! - **Lines** (§5): `<type>=<value>`, ended by CRLF or a bare LF. Blank
//!   lines are skipped. Input is bounded by [`MAX_SDP_LEN`], [`MAX_LINES`]
//!   and [`MAX_LINE_LEN`]; errors name the 1-based line number.
//! - **Session level**: `v=0` must come first; `o=` and `s=` are required.
//!   `i=`, `c=`, `b=`, `t=` and `a=` are kept; `u=`, `e=`, `p=`, `k=`, `r=`,
//!   `z=` and unknown types are ignored (§5: "unknown types... ignored").
//!   A missing `t=` reads as `t=0 0`.
//! - **Media level** (§5.14): each `m=` line starts a [`MediaDescription`];
//!   `a=rtpmap` (§6.6), `a=fmtp` (§6.15), `a=control` (RFC 7826 §22.15) and
//!   the direction attributes (§6.7) get their own fields, every other
//!   attribute is kept in order. At most [`MAX_MEDIA`] media descriptions.
//! - **Connection** (§5.7): `c=IN IP4 <addr>[/<ttl>[/<count>]]` and
//!   `c=IN IP6 <addr>[/<count>]`, multicast included; a media-level `c=`
//!   overrides the session-level one.
//!
//! # Writing
//! [`SessionDescription`] implements `Display`, writing CRLF-terminated
//! lines in the order of §5; parsing the written text gives back the same
//! value.
//!
//! [`media_for_track`] builds the media description that sends a track
//! (for RTP output).
//!
//! # RTP sources
//! [`Source::from_session`] turns each media description into an
//! [`RtpTrackConfig`]: where to listen, the payload type and codec, and the
//! decoder configuration built from the format parameters (see [`source`]'s
//! docs for each codec). [`Source`] then runs one [`crate::rtp::Receiver`]
//! per track.
//!
//! ```
//! use media::sdp::{SessionDescription, Source};
//! let text = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 239.1.2.3/5\r\nt=0 0\r\n\
//!             m=audio 5004 RTP/AVP 97\r\na=rtpmap:97 opus/48000/2\r\n";
//! let sdp = SessionDescription::parse(text).unwrap();
//! assert_eq!(sdp.media[0].port, 5004);
//! let tracks = Source::from_session(&sdp).unwrap();
//! assert_eq!(tracks[0].codec, media::Codec::Opus);
//! assert_eq!(tracks[0].connection.as_ref().unwrap().ttl, Some(5));
//! assert_eq!(SessionDescription::parse(&sdp.to_string()).unwrap(), sdp);
//! ```

use std::collections::BTreeMap;
use std::net::IpAddr;

pub mod base64;
mod describe;
mod parse;
pub mod source;
mod write;

pub use describe::{VIDEO_CLOCK_RATE, media_for_track};
pub use source::{RtpTrackConfig, Source};

/// Largest SDP accepted (64 KiB).
pub const MAX_SDP_LEN: usize = 64 * 1024;
/// Most lines accepted.
pub const MAX_LINES: usize = 2048;
/// Longest line accepted, in bytes (parameter sets in `a=fmtp` can be long).
pub const MAX_LINE_LEN: usize = 8 * 1024;
/// Most media descriptions (`m=` lines) accepted.
pub const MAX_MEDIA: usize = 64;

/// Errors of SDP parsing and of deriving RTP tracks from it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input is larger than [`MAX_SDP_LEN`].
    #[error("sdp of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input is not UTF-8.
    #[error("sdp is not utf-8 at byte {offset}")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// More lines than [`MAX_LINES`].
    #[error("sdp has more than {max} lines")]
    TooManyLines {
        /// The limit.
        max: usize,
    },
    /// A line longer than [`MAX_LINE_LEN`].
    #[error("line {line}: {len} bytes exceeds the limit of {max} bytes")]
    LineTooLong {
        /// 1-based line number.
        line: usize,
        /// Line length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A line that is not `<type>=<value>` or is out of place.
    #[error("line {line}: {reason}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        reason: String,
    },
    /// A field of a line does not parse.
    #[error("line {line}: bad {field} {value:?}")]
    BadField {
        /// 1-based line number.
        line: usize,
        /// Which field.
        field: &'static str,
        /// Its text.
        value: String,
    },
    /// A required line is absent.
    #[error("missing {0} line")]
    Missing(&'static str),
    /// More media descriptions than [`MAX_MEDIA`].
    #[error("line {line}: more than {max} media descriptions")]
    TooManyMedia {
        /// 1-based line number of the `m=` line over the limit.
        line: usize,
        /// The limit.
        max: usize,
    },
    /// A media description cannot become an RTP track (see [`Source::from_session`]).
    #[error("media {media} ({kind} port {port}): {reason}")]
    Media {
        /// Index in [`SessionDescription::media`] (0-based).
        media: usize,
        /// The media kind.
        kind: String,
        /// The media port.
        port: u16,
        /// What was wrong.
        reason: String,
    },
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A session description (RFC 8866 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=` (§5.2).
    pub origin: Origin,
    /// `s=` (§5.3); `-` or a single space when there is no name.
    pub name: String,
    /// `i=` (§5.4).
    pub info: Option<String>,
    /// Session-level `c=` (§5.7), the default for every media description.
    pub connection: Option<Connection>,
    /// Session-level `b=` lines (§5.8).
    pub bandwidths: Vec<Bandwidth>,
    /// `t=` lines (§5.9); written as `t=0 0` when empty, and parsed as
    /// `t=0 0` when absent.
    pub times: Vec<Timing>,
    /// Session-level `a=control` (RFC 7826 §22.15).
    pub control: Option<String>,
    /// Session-level direction attribute (§6.7).
    pub direction: Option<Direction>,
    /// Other session-level attributes, in order (e.g. `tool`).
    pub attributes: Vec<Attribute>,
    /// Media descriptions, in order.
    pub media: Vec<MediaDescription>,
}

/// `o=<username> <sess-id> <sess-version> IN <addrtype> <unicast-address>` (§5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// User name, `-` when none.
    pub username: String,
    /// Session id (digits, kept as text: any length is allowed).
    pub session_id: String,
    /// Session version (digits, kept as text).
    pub session_version: String,
    /// Address of the originating host.
    pub address: Address,
}

/// An address of a `c=` or `o=` line: a literal IP address, or a name to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// An IPv4 (`IP4`) or IPv6 (`IP6`) literal.
    Ip(IpAddr),
    /// A host name, with the address type it was given with.
    Name {
        /// The address type.
        kind: AddressType,
        /// The name.
        name: String,
    },
}

/// `<addrtype>` of a `c=` or `o=` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressType {
    /// `IP4`.
    Ip4,
    /// `IP6`.
    Ip6,
}

/// `c=IN <addrtype> <connection-address>` (§5.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The (often multicast) address.
    pub address: Address,
    /// Multicast TTL, IPv4 only (`/ttl`).
    pub ttl: Option<u8>,
    /// Number of consecutive multicast addresses (`/count`), when more than one.
    pub count: Option<u32>,
}

/// `b=<bwtype>:<bandwidth>` (§5.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bandwidth {
    /// Type, e.g. `AS` or `CT`.
    pub kind: String,
    /// Value in kilobits per second (for `AS`/`CT`).
    pub value: u64,
}

/// `t=<start-time> <stop-time>` (§5.9), NTP seconds; `0 0` is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timing {
    /// Start time.
    pub start: u64,
    /// Stop time.
    pub stop: u64,
}

/// `a=<name>[:<value>]` (§5.13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Attribute name.
    pub name: String,
    /// Value after the colon, if any.
    pub value: Option<String>,
}

/// Direction attributes (§6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `a=sendrecv`.
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

/// `<media>` of an `m=` line (§5.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaKind {
    /// `video`.
    Video,
    /// `audio`.
    Audio,
    /// Any other token (`application`, `text`, ...).
    Other(String),
}

/// A media description: an `m=` line and the lines after it (§5.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// Media type.
    pub kind: MediaKind,
    /// Transport port (RTP; RTCP is on `port + 1` unless `a=rtcp` says otherwise).
    pub port: u16,
    /// `<port>/<number of ports>`, when given.
    pub port_count: Option<u16>,
    /// Transport protocol, e.g. `RTP/AVP`.
    pub proto: String,
    /// Media formats; for RTP protocols, payload type numbers (see
    /// [`MediaDescription::payload_types`]).
    pub formats: Vec<String>,
    /// `i=`.
    pub info: Option<String>,
    /// Media-level `c=`, overriding the session's.
    pub connection: Option<Connection>,
    /// Media-level `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `a=rtpmap` by payload type (§6.6).
    pub rtpmap: BTreeMap<u8, RtpMap>,
    /// `a=fmtp` by payload type (§6.15).
    pub fmtp: BTreeMap<u8, Fmtp>,
    /// `a=control` (RTSP track URL).
    pub control: Option<String>,
    /// Direction attribute.
    pub direction: Option<Direction>,
    /// Other attributes, in order.
    pub attributes: Vec<Attribute>,
}

/// `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]` (§6.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// Encoding name as written (compare case-insensitively).
    pub encoding: String,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Encoding parameters: the channel count for audio.
    pub channels: Option<u16>,
}

/// `a=fmtp:<payload type> <parameters>` (§6.15): `key=value` pairs separated by `;`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fmtp {
    /// Parameters in order; a parameter without `=` has an empty value.
    pub params: Vec<(String, String)>,
}

// === impl SessionDescription ===

impl SessionDescription {
    /// A session with an origin and name and nothing else.
    pub fn new(origin: Origin, name: impl Into<String>) -> Self {
        Self {
            origin,
            name: name.into(),
            info: None,
            connection: None,
            bandwidths: Vec::new(),
            times: Vec::new(),
            control: None,
            direction: None,
            attributes: Vec::new(),
            media: Vec::new(),
        }
    }

    /// Parses SDP text (see the module docs).
    pub fn parse(text: &str) -> Result<Self> {
        parse::parse(text)
    }

    /// Parses SDP bytes, which must be UTF-8.
    pub fn parse_bytes(data: &[u8]) -> Result<Self> {
        if data.len() > MAX_SDP_LEN {
            return Err(Error::TooLarge {
                len: data.len(),
                max: MAX_SDP_LEN,
            });
        }
        let text = std::str::from_utf8(data).map_err(|e| Error::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        parse::parse(text)
    }

    /// The connection that applies to media description `index`: its own, else the session's.
    pub fn connection_of(&self, index: usize) -> Option<&Connection> {
        self.media
            .get(index)
            .and_then(|m| m.connection.as_ref())
            .or(self.connection.as_ref())
    }
}

impl std::str::FromStr for SessionDescription {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

// === impl Address ===

impl Address {
    /// The address type to write in `c=`/`o=` lines.
    pub fn kind(&self) -> AddressType {
        match self {
            Self::Ip(IpAddr::V4(_)) => AddressType::Ip4,
            Self::Ip(IpAddr::V6(_)) => AddressType::Ip6,
            Self::Name { kind, .. } => *kind,
        }
    }

    /// The IP address, when the address is a literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Self::Ip(ip) => Some(*ip),
            Self::Name { .. } => None,
        }
    }
}

// === impl Connection ===

impl Connection {
    /// A unicast connection to `ip`.
    pub fn new(ip: IpAddr) -> Self {
        Self {
            address: Address::Ip(ip),
            ttl: None,
            count: None,
        }
    }

    /// True when the address is an IP multicast group.
    pub fn is_multicast(&self) -> bool {
        self.address.ip().is_some_and(|ip| ip.is_multicast())
    }
}

// === impl Direction ===

impl Direction {
    /// The attribute name.
    pub fn name(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "sendrecv" => Some(Self::SendRecv),
            "sendonly" => Some(Self::SendOnly),
            "recvonly" => Some(Self::RecvOnly),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }
}

// === impl MediaKind ===

impl MediaKind {
    /// The token of the `m=` line.
    pub fn name(&self) -> &str {
        match self {
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Other(s) => s,
        }
    }

    fn from_name(name: &str) -> Self {
        match name {
            "video" => Self::Video,
            "audio" => Self::Audio,
            _ => Self::Other(name.to_string()),
        }
    }
}

// === impl MediaDescription ===

impl MediaDescription {
    /// A media description with no attributes.
    pub fn new(kind: MediaKind, port: u16, proto: impl Into<String>, formats: Vec<String>) -> Self {
        Self {
            kind,
            port,
            port_count: None,
            proto: proto.into(),
            formats,
            info: None,
            connection: None,
            bandwidths: Vec::new(),
            rtpmap: BTreeMap::new(),
            fmtp: BTreeMap::new(),
            control: None,
            direction: None,
            attributes: Vec::new(),
        }
    }

    /// True for RTP transports (`RTP/AVP`, `RTP/SAVP`, `RTP/AVPF`, `UDP/TLS/RTP/SAVPF`, ...).
    pub fn is_rtp(&self) -> bool {
        self.proto.split('/').any(|p| p == "RTP")
    }

    /// The formats as RTP payload type numbers (formats that are not numbers
    /// up to 127 are left out; the parser rejects them for RTP transports).
    pub fn payload_types(&self) -> Vec<u8> {
        self.formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .filter(|&pt| pt <= 127)
            .collect()
    }

    /// The first attribute named `name` among [`MediaDescription::attributes`].
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }
}

// === impl Fmtp ===

impl Fmtp {
    /// The value of parameter `key`, compared case-insensitively (RFC 6184
    /// §8.1 and RFC 3640 §4.1 define parameter names as case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests;
