//! `srt://` sources after MistServer's (and srt-live-transmit's) conventions.
//!
//! - `srt://:PORT` listens on every address; `srt://HOST:PORT` calls HOST.
//! - `?mode=` overrides: `listener`/`server`, `caller`/`client`,
//!   `rendezvous` (and MistServer's spelling `rendezvouz`). `srt://HOST:PORT?mode=listener`
//!   listens on HOST's address; caller and rendezvous need a host.
//! - Every other parameter is an SRT socket option named as libsrt names it,
//!   `SRTO_` stripped and lowercased (`SRTO_LATENCY` → `latency`). Known ones are
//!   typed and checked; the rest are kept as strings in [`SrtOptions::other`].

use std::collections::BTreeMap;
use std::fmt::{self, Write};

use super::SourceError;
use super::url::{self, Param};
use crate::Redacted;

/// Passphrase length bounds (libsrt `SRTO_PASSPHRASE`).
pub const PASSPHRASE_LEN: std::ops::RangeInclusive<usize> = 10..=79;
/// Longest streamid (libsrt `SRTO_STREAMID`).
pub const STREAMID_MAX: usize = 512;

/// An SRT input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrtSource {
    /// Who connects to whom.
    pub mode: SrtMode,
    /// The peer to call (caller, rendezvous) or the local address to bind (listener).
    /// IPv6 addresses are stored without brackets.
    pub host: Option<String>,
    /// The peer's port (caller) or the local port (listener, rendezvous).
    pub port: u16,
    /// SRT socket options.
    pub options: SrtOptions,
}

/// SRT connection mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SrtMode {
    /// Wait for a caller.
    Listener,
    /// Connect to a listener.
    Caller,
    /// Both sides connect to each other at once.
    Rendezvous,
}

/// SRT socket options from the URL's query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SrtOptions {
    /// `latency`: receiver buffer latency in milliseconds.
    pub latency: Option<u32>,
    /// `passphrase`: encryption passphrase, 10 to 79 characters.
    pub passphrase: Option<Redacted<String>>,
    /// `pbkeylen`: AES key length in bytes, 16, 24 or 32.
    pub pbkeylen: Option<u8>,
    /// `streamid`: sent by a caller to select a stream (at most 512 bytes).
    pub streamid: Option<String>,
    /// Every other option, keyed by its lowercase name without `SRTO_`.
    pub other: BTreeMap<String, String>,
}

// === impl SrtSource ===

impl SrtSource {
    /// Parses what follows `srt://`; `offset` is its byte position in the source.
    pub(crate) fn parse_rest(rest: &str, offset: usize) -> Result<Self, SourceError> {
        const S: &str = "srt";
        let (auth, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        if auth.contains('/') {
            return Err(SourceError::Invalid {
                scheme: S,
                reason: "an SRT URL has no path".into(),
            });
        }
        let (host, port) = url::host_port(S, auth)?;
        let mut mode = None;
        let mut options = SrtOptions::default();
        let params = match query {
            Some(q) => url::parse_query(S, q, offset + auth.len() + 1)?,
            None => Vec::new(),
        };
        for Param { key, value } in params {
            let name = key.to_ascii_lowercase();
            let name = name.strip_prefix("srto_").unwrap_or(&name).to_owned();
            let invalid = |reason: String| SourceError::InvalidParam {
                scheme: S,
                param: name.clone(),
                reason,
            };
            let value = value.ok_or_else(|| invalid("needs a value".into()))?;
            let duplicate = || SourceError::DuplicateParam {
                scheme: S,
                param: name.clone(),
            };
            match name.as_str() {
                "mode" => {
                    let m = SrtMode::parse(&value).ok_or_else(|| {
                        invalid(format!("unknown mode {value:?} (listener, caller or rendezvous)"))
                    })?;
                    if mode.replace(m).is_some() {
                        return Err(duplicate());
                    }
                }
                "latency" => {
                    let ms = value
                        .parse()
                        .map_err(|_| invalid(format!("{value:?} is not milliseconds")))?;
                    if options.latency.replace(ms).is_some() {
                        return Err(duplicate());
                    }
                }
                "passphrase" => {
                    let len = value.chars().count();
                    if !PASSPHRASE_LEN.contains(&len) {
                        // Never echo the passphrase itself.
                        return Err(invalid(format!("must be 10 to 79 characters, not {len}")));
                    }
                    if options.passphrase.replace(Redacted::new(value)).is_some() {
                        return Err(duplicate());
                    }
                }
                "pbkeylen" => {
                    let n = value.parse().ok().filter(|n| matches!(n, 16 | 24 | 32));
                    let n = n.ok_or_else(|| invalid(format!("{value:?} is not 16, 24 or 32")))?;
                    if options.pbkeylen.replace(n).is_some() {
                        return Err(duplicate());
                    }
                }
                "streamid" => {
                    if value.len() > STREAMID_MAX {
                        return Err(invalid(format!("longer than {STREAMID_MAX} bytes")));
                    }
                    if options.streamid.replace(value).is_some() {
                        return Err(duplicate());
                    }
                }
                _ => {
                    if options.other.insert(name.clone(), value).is_some() {
                        return Err(duplicate());
                    }
                }
            }
        }
        let mode = mode.unwrap_or(if host.is_some() {
            SrtMode::Caller
        } else {
            SrtMode::Listener
        });
        if host.is_none() && mode != SrtMode::Listener {
            return Err(SourceError::MissingHost {
                scheme: S,
                mode: mode.as_str(),
            });
        }
        Ok(Self {
            mode,
            host,
            port,
            options,
        })
    }

    /// The mode a URL without `?mode=` would get: caller with a host, listener without.
    pub fn implied_mode(&self) -> SrtMode {
        if self.host.is_some() {
            SrtMode::Caller
        } else {
            SrtMode::Listener
        }
    }

    /// Writes the canonical URL; with `redact`, secrets are masked.
    pub(crate) fn write(&self, f: &mut impl Write, redact: bool) -> fmt::Result {
        f.write_str("srt://")?;
        if let Some(h) = &self.host {
            url::write_host(f, h)?;
        }
        write!(f, ":{}", self.port)?;
        let o = &self.options;
        let mode = (self.mode != self.implied_mode()).then(|| self.mode.as_str().to_owned());
        let latency = o.latency.map(|l| l.to_string());
        let pbkeylen = o.pbkeylen.map(|l| l.to_string());
        let mask = |v: &str| {
            if redact {
                url::MASK.to_owned()
            } else {
                v.to_owned()
            }
        };
        let passphrase = o.passphrase.as_ref().map(|p| mask(p.expose()));
        let streamid = o.streamid.as_deref().map(mask);
        let known = [
            ("mode", &mode),
            ("latency", &latency),
            ("passphrase", &passphrase),
            ("pbkeylen", &pbkeylen),
            ("streamid", &streamid),
        ];
        let known = known
            .into_iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)));
        let other = o.other.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        url::write_query(f, known.chain(other))
    }
}

// === impl SrtMode ===

impl SrtMode {
    /// Parses a `mode=` value, aliases included, ignoring ASCII case.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "listener" | "server" => Some(Self::Listener),
            "caller" | "client" => Some(Self::Caller),
            "rendezvous" | "rendezvouz" => Some(Self::Rendezvous),
            _ => None,
        }
    }

    /// The canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Listener => "listener",
            Self::Caller => "caller",
            Self::Rendezvous => "rendezvous",
        }
    }
}

impl fmt::Display for SrtMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Source;

    fn srt(s: &str) -> SrtSource {
        match Source::parse(s) {
            Ok(Source::Srt(x)) => x,
            other => panic!("{s}: {other:?}"),
        }
    }

    fn err(s: &str) -> String {
        Source::parse(s).unwrap_err().to_string()
    }

    #[test]
    fn host_implies_mode() {
        let l = srt("srt://:9000");
        assert_eq!(
            (l.mode, l.host.as_deref(), l.port),
            (SrtMode::Listener, None, 9000)
        );
        let c = srt("srt://relay.example:9000");
        assert_eq!(
            (c.mode, c.host.as_deref()),
            (SrtMode::Caller, Some("relay.example"))
        );
        let v6 = srt("srt://[2001:db8::1]:9000");
        assert_eq!(v6.host.as_deref(), Some("2001:db8::1"));
        assert_eq!(Source::Srt(v6).to_string(), "srt://[2001:db8::1]:9000");
    }

    #[test]
    fn mode_override_and_aliases() {
        for (m, want) in [
            ("listener", SrtMode::Listener),
            ("server", SrtMode::Listener),
            ("caller", SrtMode::Caller),
            ("client", SrtMode::Caller),
            ("rendezvous", SrtMode::Rendezvous),
            ("rendezvouz", SrtMode::Rendezvous),
            ("LISTENER", SrtMode::Listener),
        ] {
            assert_eq!(srt(&format!("srt://10.0.0.1:9000?mode={m}")).mode, want, "{m}");
        }
        let bound = srt("srt://127.0.0.1:9000?mode=server");
        assert_eq!(
            Source::Srt(bound).to_string(),
            "srt://127.0.0.1:9000?mode=listener"
        );
        assert_eq!(Source::Srt(srt("srt://h:1?mode=client")).to_string(), "srt://h:1");
        assert_eq!(Source::Srt(srt("srt://:1?mode=listener")).to_string(), "srt://:1");
        assert_eq!(
            err("srt://:9000?mode=caller"),
            "srt: caller mode needs a host (srt://HOST:PORT)"
        );
        assert!(err("srt://:9000?mode=rendezvouz").contains("rendezvous mode needs a host"));
        assert!(err("srt://h:1?mode=push").contains("unknown mode \"push\""));
        assert!(err("srt://h:1?mode=caller&mode=caller").contains("\"mode\" given twice"));
    }

    #[test]
    fn options() {
        let s = srt(
            "srt://:9000?SRTO_LATENCY=200&passphrase=0123456789&pbkeylen=32&streamid=%23!::r=cam,m=publish&SRTO_PacketFilter=fec,cols:10&tlpktdrop=0",
        );
        assert_eq!(s.options.latency, Some(200));
        assert_eq!(s.options.passphrase.as_ref().unwrap().expose(), "0123456789");
        assert_eq!(s.options.pbkeylen, Some(32));
        assert_eq!(s.options.streamid.as_deref(), Some("#!::r=cam,m=publish"));
        assert_eq!(s.options.other["packetfilter"], "fec,cols:10");
        assert_eq!(s.options.other["tlpktdrop"], "0");
        let shown = Source::Srt(s.clone()).to_string();
        assert_eq!(
            shown,
            "srt://:9000?latency=200&passphrase=0123456789&pbkeylen=32&streamid=%23!::r=cam,m=publish&packetfilter=fec,cols:10&tlpktdrop=0"
        );
        assert_eq!(srt(&shown), s);
        let safe = Source::Srt(s.clone()).redacted().to_string();
        assert!(!safe.contains("0123456789") && !safe.contains("r=cam"), "{safe}");
        assert!(!format!("{s:?}").contains("0123456789"));
    }

    #[test]
    fn option_errors_name_the_option() {
        assert_eq!(
            err("srt://:1?latency=fast"),
            "srt: parameter latency: \"fast\" is not milliseconds"
        );
        let e = err("srt://:1?passphrase=short");
        assert_eq!(e, "srt: parameter passphrase: must be 10 to 79 characters, not 5");
        assert!(err("srt://:1?pbkeylen=8").contains("\"8\" is not 16, 24 or 32"));
        assert!(err("srt://:1?latency").contains("latency: needs a value"));
        // An explicitly empty value is a value (found by fuzzing).
        let empty = srt("srt://:1?foo=");
        assert_eq!(Source::Srt(empty.clone()).to_string(), "srt://:1?foo=");
        assert_eq!(srt(&Source::Srt(empty.clone()).to_string()), empty);
        assert!(err(&format!("srt://:1?streamid={}", "x".repeat(513))).contains("longer than 512"));
        assert!(err("srt://:1?latency=1&SRTO_LATENCY=2").contains("given twice"));
        assert!(err("srt://:1?x=1&X=2").contains("\"x\" given twice"));
        assert_eq!(
            err("srt://:1?streamid=a%zz"),
            "srt: bad percent-escape at byte 19"
        );
        assert!(err("srt://:1/path").contains("no path"));
        assert!(err("srt://h").contains("missing port"));
        assert!(err("srt://h:99999").contains("invalid port \"99999\""));
    }
}
