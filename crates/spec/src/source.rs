//! [`Source`]: a stream's `source` string parsed after MistServer's conventions.
//!
//! | source | variant |
//! |---|---|
//! | `push://`, `push://CIDR,CIDR,...` | [`Source::Push`]: accept pushes (from those networks only) |
//! | `srt://:PORT`, `srt://HOST:PORT?mode=..&latency=..` | [`Source::Srt`] ([`srt`] module) |
//! | `tsudp://[HOST]:PORT?iface=..` | [`Source::TsUdp`]: MPEG-TS over UDP, HOST a multicast group or local address |
//! | `tsrtp://[HOST]:PORT?iface=..` | [`Source::TsRtp`]: the same in RTP |
//! | `sdp:PATH` | [`Source::Sdp`]: RTP described by an SDP file |
//! | `rtmp://HOST[:PORT]/APP/STREAM`, `rtmps://...` | [`Source::Rtmp`]: RTMP pull |
//! | `http(s)://.../*.m3u8` | [`Source::Hls`]: HLS pull |
//! | `rist://HOST:PORT` (caller), `rist://:PORT` or `rist://@HOST:PORT` (listener) | [`Source::Rist`] |
//! | `PATH.ts`, `.flv`, `.mp4`, `.aac`, optionally `file://` before and `?loop` after | [`Source::File`]: video on demand |
//!
//! Parsing is strict: unknown schemes, parameters a source does not take, and
//! repeated parameters are errors that name the scheme, the parameter and,
//! for bad escapes, the byte position. [`Source`]'s `Display` writes the
//! canonical form, which parses back to an equal value; use
//! [`Source::redacted`] in logs.

use std::fmt::{self, Write};

use crate::{Cidr, CidrError};

mod file;
mod net;
pub mod srt;
pub(crate) mod url;

pub use file::{FileFormat, FileSource, SdpSource};
pub use net::{HlsSource, RistMode, RistSource, RtmpSource, UdpSource};
pub use srt::{SrtMode, SrtOptions, SrtSource};

/// Longest source string in bytes.
pub const SOURCE_MAX: usize = 4096;

/// A parsed stream source; see the [module docs](self).
///
/// ```
/// use spec::{Source, source::SrtMode};
/// let Source::Srt(s) = Source::parse("srt://:9000?SRTO_LATENCY=200").unwrap() else { panic!() };
/// assert_eq!((s.mode, s.port, s.options.latency), (SrtMode::Listener, 9000, Some(200)));
/// assert_eq!(Source::Srt(s).to_string(), "srt://:9000?latency=200");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Accept pushes (RTMP, SRT, WHIP).
    Push(PushSource),
    /// SRT listener, caller or rendezvous.
    Srt(SrtSource),
    /// MPEG-TS over UDP.
    TsUdp(UdpSource),
    /// MPEG-TS in RTP over UDP.
    TsRtp(UdpSource),
    /// RTP streams described by an SDP file.
    Sdp(SdpSource),
    /// Pull from an RTMP server.
    Rtmp(RtmpSource),
    /// Pull an HLS playlist.
    Hls(HlsSource),
    /// RIST caller or listener.
    Rist(RistSource),
    /// Video on demand from a file.
    File(FileSource),
}

/// `push://`: who may publish. An empty list allows everyone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushSource {
    /// Networks publishers must come from; empty: anyone.
    pub allow: Vec<Cidr>,
}

/// Why a source string does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// Empty string.
    #[error("the source is empty")]
    Empty,
    /// Longer than [`SOURCE_MAX`].
    #[error("the source is {0} bytes long (at most {SOURCE_MAX})")]
    TooLong(usize),
    /// A `SCHEME://` this crate does not know.
    #[error(
        "unsupported scheme {0:?} (push, srt, tsudp, tsrtp, sdp, rtmp, rtmps, http, https, rist, or a file path)"
    )]
    UnknownScheme(String),
    /// Not a URL and not a file with a known extension.
    #[error("not a source URL nor a .ts, .flv, .mp4 or .aac file")]
    UnknownFile,
    /// `HOST:PORT` without the port.
    #[error("{scheme}: missing port (write {scheme}://HOST:PORT or {scheme}://:PORT)")]
    MissingPort {
        /// The scheme.
        scheme: &'static str,
    },
    /// A port that is not 1 to 65535.
    #[error("{scheme}: invalid port {text:?} (1 to 65535)")]
    InvalidPort {
        /// The scheme.
        scheme: &'static str,
        /// The port as written.
        text: String,
    },
    /// A bad host.
    #[error("{scheme}: invalid host {host:?}: {reason}")]
    InvalidHost {
        /// The scheme.
        scheme: &'static str,
        /// The host as written.
        host: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Caller or rendezvous without a host.
    #[error("{scheme}: {mode} mode needs a host ({scheme}://HOST:PORT)")]
    MissingHost {
        /// The scheme.
        scheme: &'static str,
        /// The mode.
        mode: &'static str,
    },
    /// A bad entry in `push://`'s allow list.
    #[error("push: allow-list entry {index} {text:?}: {error}")]
    Cidr {
        /// Index of the entry, from 0.
        index: usize,
        /// The entry as written.
        text: String,
        /// What is wrong.
        error: CidrError,
    },
    /// `%` not followed by two hex digits.
    #[error("{scheme}: bad percent-escape at byte {position}")]
    PercentEscape {
        /// The scheme.
        scheme: &'static str,
        /// Byte position of the `%` in the source string.
        position: usize,
    },
    /// A percent-decoded value that is not UTF-8.
    #[error("{scheme}: parameter {param:?} is not UTF-8 once percent-decoded")]
    NotUtf8 {
        /// The scheme.
        scheme: &'static str,
        /// The parameter.
        param: String,
    },
    /// A parameter name with characters outside `A-Z a-z 0-9 _ - .`.
    #[error("{scheme}: invalid parameter name {name:?} at byte {position}")]
    InvalidParamName {
        /// The scheme.
        scheme: &'static str,
        /// The name as written.
        name: String,
        /// Byte position of the parameter in the source string.
        position: usize,
    },
    /// More than 64 parameters.
    #[error("{scheme}: too many parameters")]
    TooManyParams {
        /// The scheme.
        scheme: &'static str,
    },
    /// A parameter this source does not take.
    #[error("{scheme}: unknown parameter {param:?}")]
    UnknownParam {
        /// The scheme.
        scheme: &'static str,
        /// The parameter.
        param: String,
    },
    /// A parameter given twice.
    #[error("{scheme}: parameter {param:?} given twice")]
    DuplicateParam {
        /// The scheme.
        scheme: &'static str,
        /// The parameter.
        param: String,
    },
    /// A parameter with a bad value. The reason never contains a secret.
    #[error("{scheme}: parameter {param}: {reason}")]
    InvalidParam {
        /// The scheme.
        scheme: &'static str,
        /// The parameter.
        param: String,
        /// What is wrong.
        reason: String,
    },
    /// Anything else wrong with a source of this scheme.
    #[error("{scheme}: {reason}")]
    Invalid {
        /// The scheme.
        scheme: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// [`Source::redacted`]: the canonical string with secrets masked.
#[derive(Clone, Copy, Debug)]
pub struct RedactedSource<'a>(&'a Source);

// === impl Source ===

impl Source {
    /// Parses a source string; see the [module docs](self).
    pub fn parse(s: &str) -> Result<Self, SourceError> {
        if s.is_empty() {
            return Err(SourceError::Empty);
        }
        if s.len() > SOURCE_MAX {
            return Err(SourceError::TooLong(s.len()));
        }
        if let Some(path) = s.strip_prefix("sdp:") {
            return SdpSource::parse(path).map(Self::Sdp);
        }
        let Some((scheme, rest)) = s.split_once("://").filter(|(sc, _)| is_scheme(sc)) else {
            return FileSource::parse(s, 0).map(Self::File);
        };
        let offset = scheme.len() + 3;
        match scheme.to_ascii_lowercase().as_str() {
            "push" => PushSource::parse(rest).map(Self::Push),
            "srt" => SrtSource::parse_rest(rest, offset).map(Self::Srt),
            "tsudp" => UdpSource::parse("tsudp", rest, offset).map(Self::TsUdp),
            "tsrtp" => UdpSource::parse("tsrtp", rest, offset).map(Self::TsRtp),
            "rtmp" => RtmpSource::parse(false, rest).map(Self::Rtmp),
            "rtmps" => RtmpSource::parse(true, rest).map(Self::Rtmp),
            "http" | "https" => HlsSource::parse(s, rest).map(Self::Hls),
            "rist" => RistSource::parse(rest, offset).map(Self::Rist),
            "file" => FileSource::parse(rest, offset).map(Self::File),
            _ => Err(SourceError::UnknownScheme(scheme.to_owned())),
        }
    }

    /// Whether this stream takes pushes rather than pulling or reading.
    pub fn is_push(&self) -> bool {
        matches!(self, Self::Push(_))
    }

    /// Displays the source with secrets (passphrases, stream keys, URL
    /// credentials and queries) masked: the form to log.
    pub fn redacted(&self) -> RedactedSource<'_> {
        RedactedSource(self)
    }

    fn write(&self, f: &mut impl Write, redact: bool) -> fmt::Result {
        match self {
            Self::Push(p) => p.write(f),
            Self::Srt(s) => s.write(f, redact),
            Self::TsUdp(u) => u.write(f, "tsudp"),
            Self::TsRtp(u) => u.write(f, "tsrtp"),
            Self::Sdp(s) => write!(f, "sdp:{}", s.path),
            Self::Rtmp(r) => r.write(f, redact),
            Self::Hls(h) => h.write(f, redact),
            Self::Rist(r) => r.write(f, redact),
            Self::File(x) => x.write(f),
        }
    }
}

/// RFC 3986 scheme syntax: a letter, then letters, digits, `+ - .`.
fn is_scheme(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, false)
    }
}

impl std::str::FromStr for Source {
    type Err = SourceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for RedactedSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write(f, true)
    }
}

// === impl PushSource ===

impl PushSource {
    fn parse(rest: &str) -> Result<Self, SourceError> {
        let mut allow = Vec::new();
        for (index, text) in rest.split(',').enumerate() {
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let cidr = Cidr::parse(text).map_err(|error| SourceError::Cidr {
                index,
                text: text.to_owned(),
                error,
            })?;
            allow.push(cidr);
        }
        Ok(Self { allow })
    }

    /// Whether `peer` may publish: the list is empty or a network in it contains `peer`.
    pub fn allows(&self, peer: std::net::IpAddr) -> bool {
        self.allow.is_empty() || self.allow.iter().any(|c| c.contains(peer))
    }

    fn write(&self, f: &mut impl Write) -> fmt::Result {
        f.write_str("push://")?;
        for (i, c) in self.allow.iter().enumerate() {
            if i > 0 {
                f.write_char(',')?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
