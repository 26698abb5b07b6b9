//! The small URL toolkit the source parsers share: authority (`HOST:PORT`)
//! splitting, query parameters, and percent-decoding and -encoding.
//!
//! Deliberately narrower than RFC 3986: `+` is a literal plus (stream names
//! use it), never a space; only query values are percent-decoded.

use std::fmt::{self, Write};
use std::net::Ipv6Addr;

use super::SourceError;

/// Most query parameters in one source.
pub(crate) const PARAMS_MAX: usize = 64;
/// What secrets are replaced by in redacted output.
pub(crate) const MASK: &str = "<redacted>";
/// Longest host name.
const HOST_MAX: usize = 253;

/// One `key[=value]` query parameter; the value is percent-decoded.
#[derive(Debug)]
pub(crate) struct Param<'a> {
    pub(crate) key: &'a str,
    pub(crate) value: Option<String>,
}

/// Splits `HOST:PORT`, `[IPV6]:PORT` or `:PORT`. The port is required.
pub(crate) fn host_port(scheme: &'static str, auth: &str) -> Result<(Option<String>, u16), SourceError> {
    let (host, port) = match auth.rfind(':') {
        Some(i) if !auth[i..].contains(']') => (&auth[..i], &auth[i + 1..]),
        _ => return Err(SourceError::MissingPort { scheme }),
    };
    let port = parse_port(scheme, port)?;
    if host.is_empty() {
        return Ok((None, port));
    }
    Ok((Some(parse_host(scheme, host)?), port))
}

/// Splits `HOST[:PORT]` with the port optional.
pub(crate) fn host_opt_port(scheme: &'static str, auth: &str) -> Result<(String, Option<u16>), SourceError> {
    match auth.rfind(':') {
        Some(i) if !auth[i..].contains(']') => {
            let (host, port) = (&auth[..i], &auth[i + 1..]);
            Ok((parse_host(scheme, host)?, Some(parse_port(scheme, port)?)))
        }
        _ => Ok((parse_host(scheme, auth)?, None)),
    }
}

fn parse_port(scheme: &'static str, text: &str) -> Result<u16, SourceError> {
    text.parse::<u16>()
        .ok()
        .filter(|p| *p != 0 && text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| SourceError::InvalidPort {
            scheme,
            text: text.to_owned(),
        })
}

/// A host name, an IPv4 address or a bracketed IPv6 address (returned without brackets).
pub(crate) fn parse_host(scheme: &'static str, host: &str) -> Result<String, SourceError> {
    let bad = |reason| SourceError::InvalidHost {
        scheme,
        host: host.to_owned(),
        reason,
    };
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or_else(|| bad("missing ']'"))?;
        inner
            .parse::<Ipv6Addr>()
            .map_err(|_| bad("not an IPv6 address"))?;
        return Ok(inner.to_owned());
    }
    if host.is_empty() {
        return Err(bad("empty"));
    }
    if host.len() > HOST_MAX {
        return Err(bad("longer than 253 characters"));
    }
    if host.contains(':') {
        return Err(bad("an IPv6 address needs brackets"));
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(bad("only A-Z a-z 0-9 . - _ are allowed"));
    }
    Ok(host.to_owned())
}

/// Writes a host, bracketing IPv6 addresses.
pub(crate) fn write_host(f: &mut impl Write, host: &str) -> fmt::Result {
    if host.contains(':') {
        write!(f, "[{host}]")
    } else {
        f.write_str(host)
    }
}

/// Splits `query` (without the `?`) into parameters. `offset` is the byte
/// position of the query in the whole source string, for error positions.
pub(crate) fn parse_query<'a>(
    scheme: &'static str,
    query: &'a str,
    offset: usize,
) -> Result<Vec<Param<'a>>, SourceError> {
    let mut params = Vec::new();
    let mut start = offset;
    for segment in query.split('&') {
        let here = start;
        start += segment.len() + 1;
        if segment.is_empty() {
            continue;
        }
        if params.len() == PARAMS_MAX {
            return Err(SourceError::TooManyParams { scheme });
        }
        let (key, value) = match segment.split_once('=') {
            Some((k, v)) => (k, Some(percent_decode(scheme, k, v, here + k.len() + 1)?)),
            None => (segment, None),
        };
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(SourceError::InvalidParamName {
                scheme,
                name: key.to_owned(),
                position: here,
            });
        }
        params.push(Param { key, value });
    }
    Ok(params)
}

/// Decodes `%XX` escapes; `position` is where `text` starts in the source.
pub(crate) fn percent_decode(
    scheme: &'static str,
    param: &str,
    text: &str,
    position: usize,
) -> Result<String, SourceError> {
    decode(text).map_err(|e| match e {
        DecodeError::Escape(i) => SourceError::PercentEscape {
            scheme,
            position: position + i,
        },
        DecodeError::NotUtf8 => SourceError::NotUtf8 {
            scheme,
            param: param.to_owned(),
        },
    })
}

/// Why [`decode`] failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// `%` at this byte offset is not followed by two hex digits.
    Escape(usize),
    /// The decoded bytes are not UTF-8.
    NotUtf8,
}

/// Decodes `%XX` escapes (`+` stays a plus).
pub(crate) fn decode(text: &str) -> Result<String, DecodeError> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
            let byte = hex.and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
            out.push(byte.ok_or(DecodeError::Escape(i))?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| DecodeError::NotUtf8)
}

/// Writes `value` percent-encoding everything but `A-Z a-z 0-9` and `-._~!$'()*+,;:@/?=[]`.
pub(crate) fn percent_encode(f: &mut impl Write, value: &str) -> fmt::Result {
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$'()*+,;:@/?=[]".contains(&b) {
            f.write_char(char::from(b))?;
        } else {
            write!(f, "%{b:02X}")?;
        }
    }
    Ok(())
}

/// Writes `?k=v&k2=v2` (values percent-encoded; `k=` for an empty value).
pub(crate) fn write_query<'a>(
    f: &mut impl Write,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> fmt::Result {
    for (i, (key, value)) in params.into_iter().enumerate() {
        f.write_char(if i == 0 { '?' } else { '&' })?;
        f.write_str(key)?;
        if value == MASK {
            // Redacted output: keep the mask readable (decoding it is a no-op anyway).
            write!(f, "={MASK}")?;
        } else {
            f.write_char('=')?;
            percent_encode(f, value)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn authority() {
        assert_eq!(host_port("srt", ":9000").unwrap(), (None, 9000));
        assert_eq!(
            host_port("srt", "h.example:1").unwrap(),
            (Some("h.example".into()), 1)
        );
        assert_eq!(host_port("srt", "[::1]:5").unwrap(), (Some("::1".into()), 5));
        assert!(matches!(
            host_port("srt", "[::1]"),
            Err(SourceError::MissingPort { .. })
        ));
        assert!(matches!(
            host_port("srt", "h"),
            Err(SourceError::MissingPort { .. })
        ));
        assert!(matches!(
            host_port("srt", "h:0"),
            Err(SourceError::InvalidPort { .. })
        ));
        assert!(matches!(
            host_port("srt", "h:+1"),
            Err(SourceError::InvalidPort { .. })
        ));
        assert!(matches!(
            host_port("srt", "h:65536"),
            Err(SourceError::InvalidPort { .. })
        ));
        assert!(matches!(
            host_port("srt", "::1:5"),
            Err(SourceError::InvalidHost { .. })
        ));
        assert!(matches!(
            host_port("srt", "[::1:5"),
            Err(SourceError::InvalidHost { .. })
        ));
        assert!(matches!(
            host_port("srt", "a b:5"),
            Err(SourceError::InvalidHost { .. })
        ));
        assert_eq!(host_opt_port("rtmp", "h").unwrap(), ("h".into(), None));
        assert_eq!(host_opt_port("rtmp", "[::1]").unwrap(), ("::1".into(), None));
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("srt", "k", "a%20b+c%2f", 0).unwrap(), "a b+c/");
        assert_eq!(percent_decode("srt", "k", "%C3%A9", 0).unwrap(), "é");
        for (bad, pos) in [("abc%", 13), ("a%g0", 11), ("%+1", 10), ("%é", 10)] {
            match percent_decode("srt", "k", bad, 10) {
                Err(SourceError::PercentEscape { position, .. }) => assert_eq!(position, pos, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert!(matches!(
            percent_decode("srt", "k", "%ff", 0),
            Err(SourceError::NotUtf8 { .. })
        ));
    }

    #[test]
    fn query() {
        let p = parse_query("srt", "a=1&&b&c=x%26y", 0).unwrap();
        let kv: Vec<_> = p.iter().map(|p| (p.key, p.value.as_deref())).collect();
        assert_eq!(kv, [("a", Some("1")), ("b", None), ("c", Some("x&y"))]);
        match parse_query("srt", "a=1&b c=2", 7) {
            Err(SourceError::InvalidParamName { position, .. }) => assert_eq!(position, 11),
            other => panic!("{other:?}"),
        }
        let many = vec!["a=1"; PARAMS_MAX + 1].join("&");
        assert!(matches!(
            parse_query("srt", &many, 0),
            Err(SourceError::TooManyParams { .. })
        ));
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(s in any::<String>()) {
            let mut enc = String::new();
            percent_encode(&mut enc, &s).unwrap();
            prop_assert!(!enc.contains('&') && !enc.contains('#') && !enc.contains(' '));
            prop_assert_eq!(percent_decode("srt", "k", &enc, 0).unwrap(), s);
        }
    }
}
