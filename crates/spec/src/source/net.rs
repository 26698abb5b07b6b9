//! Network sources other than SRT: MPEG-TS over UDP/RTP, RTMP and HLS pull, RIST.

use std::collections::BTreeMap;
use std::fmt::{self, Write};
use std::net::IpAddr;

use super::SourceError;
use super::url::{self, Param};

/// `tsudp://` / `tsrtp://`: MPEG-TS received over UDP (optionally in RTP).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpSource {
    /// A multicast group to join, or the local address to bind; none: every local address.
    pub host: Option<IpAddr>,
    /// The UDP port.
    pub port: u16,
    /// `iface=`: the interface (name or address) to join the multicast group on.
    pub iface: Option<String>,
}

/// `rtmp://HOST[:PORT]/APP/STREAM` or `rtmps://...`: pull from an RTMP server.
/// The URL is kept as written apart from IPv6 brackets; nothing is percent-decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtmpSource {
    /// `rtmps://` (RTMP over TLS).
    pub tls: bool,
    /// Server host name or address (IPv6 without brackets).
    pub host: String,
    /// Server port; none: 1935 (443 with TLS).
    pub port: Option<u16>,
    /// The application: the first path element.
    pub app: String,
    /// The stream (play path): the rest of the path, query included.
    pub stream: String,
}

/// `http(s)://.../NAME.m3u8[?query]`: pull an HLS playlist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HlsSource {
    /// The playlist URL as written.
    pub url: String,
}

/// `rist://`: a RIST input (librist URL conventions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RistSource {
    /// Listener without a host or with `@` before it (librist's `rist://@HOST:PORT`),
    /// caller otherwise.
    pub mode: RistMode,
    /// The peer (caller) or the local address (listener).
    pub host: Option<String>,
    /// The UDP port.
    pub port: u16,
    /// librist URL parameters (`cname`, `secret`, `aes-type`, `buffer`, ...), as written.
    pub options: BTreeMap<String, String>,
}

/// RIST connection mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RistMode {
    /// Connect to the peer.
    Caller,
    /// Wait for the peer.
    Listener,
}

/// RIST parameters that carry secrets; [`crate::Source::redacted`] masks them.
const RIST_SECRETS: &[&str] = &["secret", "passphrase", "password", "key"];

fn split_query(rest: &str) -> (&str, Option<&str>) {
    match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    }
}

fn no_path(scheme: &'static str, auth: &str) -> Result<(), SourceError> {
    if auth.contains('/') {
        return Err(SourceError::Invalid {
            scheme,
            reason: format!("a {scheme} URL has no path"),
        });
    }
    Ok(())
}

fn opaque(scheme: &'static str, s: &str) -> Result<(), SourceError> {
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(SourceError::Invalid {
            scheme,
            reason: "whitespace or control character in the URL".into(),
        });
    }
    Ok(())
}

// === impl UdpSource ===

impl UdpSource {
    pub(crate) fn parse(scheme: &'static str, rest: &str, offset: usize) -> Result<Self, SourceError> {
        let (auth, query) = split_query(rest);
        no_path(scheme, auth)?;
        let (host, port) = url::host_port(scheme, auth)?;
        let host = match host {
            None => None,
            Some(h) => Some(h.parse::<IpAddr>().map_err(|_| SourceError::InvalidHost {
                scheme,
                host: h,
                reason: "must be an IP address (a multicast group or a local address)",
            })?),
        };
        let mut iface = None;
        let params = query.map_or(Ok(Vec::new()), |q| {
            url::parse_query(scheme, q, offset + auth.len() + 1)
        })?;
        for Param { key, value } in params {
            match (key, value) {
                ("iface", Some(v)) if !v.is_empty() => {
                    if iface.replace(v).is_some() {
                        return Err(SourceError::DuplicateParam {
                            scheme,
                            param: key.into(),
                        });
                    }
                }
                ("iface", _) => {
                    let reason = "needs an interface name or address".into();
                    return Err(SourceError::InvalidParam {
                        scheme,
                        param: key.into(),
                        reason,
                    });
                }
                _ => {
                    return Err(SourceError::UnknownParam {
                        scheme,
                        param: key.into(),
                    });
                }
            }
        }
        Ok(Self { host, port, iface })
    }

    /// Whether `host` is a multicast group.
    pub fn is_multicast(&self) -> bool {
        self.host.is_some_and(|h| h.is_multicast())
    }

    pub(crate) fn write(&self, f: &mut impl Write, scheme: &str) -> fmt::Result {
        write!(f, "{scheme}://")?;
        match self.host {
            Some(IpAddr::V6(h)) => write!(f, "[{h}]")?,
            Some(IpAddr::V4(h)) => write!(f, "{h}")?,
            None => {}
        }
        write!(f, ":{}", self.port)?;
        url::write_query(f, self.iface.as_deref().map(|i| ("iface", i)))
    }
}

// === impl RtmpSource ===

impl RtmpSource {
    pub(crate) fn parse(tls: bool, rest: &str) -> Result<Self, SourceError> {
        let scheme = if tls { "rtmps" } else { "rtmp" };
        opaque(scheme, rest)?;
        let (auth, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) = url::host_opt_port(scheme, auth)?;
        let (app, stream) = path.split_once('/').unwrap_or((path, ""));
        if app.is_empty() || stream.is_empty() {
            let reason = format!("expected {scheme}://HOST[:PORT]/APP/STREAM");
            return Err(SourceError::Invalid { scheme, reason });
        }
        Ok(Self {
            tls,
            host,
            port,
            app: app.to_owned(),
            stream: stream.to_owned(),
        })
    }

    /// The port to connect to.
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(if self.tls { 443 } else { 1935 })
    }

    pub(crate) fn write(&self, f: &mut impl Write, redact: bool) -> fmt::Result {
        f.write_str(if self.tls { "rtmps://" } else { "rtmp://" })?;
        url::write_host(f, &self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        // The play path is often a platform's stream key.
        let stream = if redact { url::MASK } else { &self.stream };
        write!(f, "/{}/{stream}", self.app)
    }
}

// === impl HlsSource ===

impl HlsSource {
    pub(crate) fn parse(url: &str, rest: &str) -> Result<Self, SourceError> {
        const S: &str = "http";
        opaque(S, url)?;
        let (no_frag, _) = rest.split_once('#').unwrap_or((rest, ""));
        let (before_query, _) = split_query(no_frag);
        let (auth, path) = before_query.split_once('/').unwrap_or((before_query, ""));
        let host = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
        url::host_opt_port(S, host)?;
        let ext = path.len().checked_sub(5).and_then(|i| path.get(i..));
        let is_m3u8 = ext.is_some_and(|e| e.eq_ignore_ascii_case(".m3u8"));
        if !is_m3u8 {
            let reason = "only HLS playlists (a path ending .m3u8) can be pulled over HTTP".into();
            return Err(SourceError::Invalid { scheme: S, reason });
        }
        Ok(Self { url: url.to_owned() })
    }

    pub(crate) fn write(&self, f: &mut impl Write, redact: bool) -> fmt::Result {
        if !redact {
            return f.write_str(&self.url);
        }
        let (scheme, rest) = self.url.split_once("://").unwrap_or(("http", &self.url));
        let (rest, query) = split_query(rest);
        let (auth, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = match auth.rsplit_once('@') {
            Some((_, h)) => format!("<redacted>@{h}"),
            None => auth.to_owned(),
        };
        write!(f, "{scheme}://{host}/{path}")?;
        if query.is_some() {
            f.write_str("?<redacted>")?;
        }
        Ok(())
    }
}

// === impl RistSource ===

impl RistSource {
    pub(crate) fn parse(rest: &str, offset: usize) -> Result<Self, SourceError> {
        const S: &str = "rist";
        let (auth, query) = split_query(rest);
        no_path(S, auth)?;
        let (at, auth_inner) = match auth.strip_prefix('@') {
            Some(a) => (true, a),
            None => (false, auth),
        };
        let (host, port) = url::host_port(S, auth_inner)?;
        let mode = if at || host.is_none() {
            RistMode::Listener
        } else {
            RistMode::Caller
        };
        let mut options = BTreeMap::new();
        let query_offset = offset + auth.len() + 1;
        let params = query.map_or(Ok(Vec::new()), |q| url::parse_query(S, q, query_offset))?;
        for Param { key, value } in params {
            if options
                .insert(key.to_owned(), value.unwrap_or_default())
                .is_some()
            {
                return Err(SourceError::DuplicateParam {
                    scheme: S,
                    param: key.into(),
                });
            }
        }
        Ok(Self {
            mode,
            host,
            port,
            options,
        })
    }

    pub(crate) fn write(&self, f: &mut impl Write, redact: bool) -> fmt::Result {
        f.write_str("rist://")?;
        if let Some(h) = &self.host {
            if self.mode == RistMode::Listener {
                f.write_char('@')?;
            }
            url::write_host(f, h)?;
        }
        write!(f, ":{}", self.port)?;
        let params = self.options.iter().map(|(k, v)| {
            let secret = redact && RIST_SECRETS.contains(&k.as_str());
            (k.as_str(), if secret { url::MASK } else { v.as_str() })
        });
        url::write_query(f, params)
    }
}
