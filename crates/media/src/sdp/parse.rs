//! The SDP line parser (RFC 8866 §5).

use std::net::IpAddr;

use super::{
    Address, AddressType, Attribute, Bandwidth, Connection, Direction, Error, Fmtp, MAX_LINE_LEN, MAX_LINES,
    MAX_MEDIA, MAX_SDP_LEN, MediaDescription, MediaKind, Origin, Result, RtpMap, SessionDescription, Timing,
};

/// Parses a whole session description.
pub(super) fn parse(text: &str) -> Result<SessionDescription> {
    if text.len() > MAX_SDP_LEN {
        return Err(Error::TooLarge {
            len: text.len(),
            max: MAX_SDP_LEN,
        });
    }
    let mut seen_version = false;
    let (mut seen_origin, mut seen_name) = (false, false);
    let placeholder = Origin {
        username: String::new(),
        session_id: String::new(),
        session_version: String::new(),
        address: Address::Ip(IpAddr::from([0, 0, 0, 0])),
    };
    let mut sd = SessionDescription::new(placeholder, "");
    for (index, raw) in text.split('\n').enumerate() {
        let line = index + 1;
        if line > MAX_LINES {
            return Err(Error::TooManyLines { max: MAX_LINES });
        }
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.len() > MAX_LINE_LEN {
            return Err(Error::LineTooLong {
                line,
                len: raw.len(),
                max: MAX_LINE_LEN,
            });
        }
        if raw.is_empty() {
            continue;
        }
        if raw.contains('\r') {
            return Err(syntax(line, "carriage return inside a line"));
        }
        let (kind, value) = split_type(raw, line)?;
        if !seen_version {
            if kind != 'v' {
                return Err(syntax(line, "the first line must be v=0"));
            }
            if value != "0" {
                return Err(bad(line, "protocol version", value));
            }
            seen_version = true;
            continue;
        }
        let in_media = !sd.media.is_empty();
        match kind {
            'v' => return Err(syntax(line, "a second v= line")),
            'o' if in_media => return Err(syntax(line, "o= inside a media description")),
            'o' => {
                sd.origin = parse_origin(value, line)?;
                seen_origin = true;
            }
            's' if in_media => return Err(syntax(line, "s= inside a media description")),
            's' => {
                sd.name = value.to_string();
                seen_name = true;
            }
            'm' => {
                if sd.media.len() >= MAX_MEDIA {
                    return Err(Error::TooManyMedia { line, max: MAX_MEDIA });
                }
                sd.media.push(parse_media(value, line)?);
            }
            'i' => match sd.media.last_mut() {
                Some(m) => m.info = Some(value.to_string()),
                None => sd.info = Some(value.to_string()),
            },
            'c' => {
                let c = parse_connection(value, line)?;
                let slot = match sd.media.last_mut() {
                    Some(m) => &mut m.connection,
                    None => &mut sd.connection,
                };
                // several c= lines (layered multicast): the first is kept
                slot.get_or_insert(c);
            }
            'b' => {
                let b = parse_bandwidth(value, line)?;
                match sd.media.last_mut() {
                    Some(m) => m.bandwidths.push(b),
                    None => sd.bandwidths.push(b),
                }
            }
            't' if in_media => return Err(syntax(line, "t= inside a media description")),
            't' => sd.times.push(parse_timing(value, line)?),
            'a' => parse_attribute(&mut sd, value, line)?,
            // u=, e=, p=, k=, r=, z= and unknown types carry nothing we use
            _ => {}
        }
    }
    if !seen_version {
        return Err(Error::Missing("v="));
    }
    if !seen_origin {
        return Err(Error::Missing("o="));
    }
    if !seen_name {
        return Err(Error::Missing("s="));
    }
    if sd.times.is_empty() {
        sd.times.push(Timing::default()); // as if `t=0 0`
    }
    Ok(sd)
}

fn syntax(line: usize, reason: &str) -> Error {
    Error::Syntax {
        line,
        reason: reason.to_string(),
    }
}

fn bad(line: usize, field: &'static str, value: &str) -> Error {
    Error::BadField {
        line,
        field,
        value: value.chars().take(64).collect(),
    }
}

/// Splits `<type>=<value>`; the type is one lower-case letter (§5).
fn split_type(raw: &str, line: usize) -> Result<(char, &str)> {
    let bytes = raw.as_bytes();
    match bytes {
        [t, b'=', ..] if t.is_ascii_lowercase() => Ok((char::from(*t), &raw[2..])),
        _ => Err(syntax(line, "expected <type>=<value>")),
    }
}

fn number<T: std::str::FromStr>(text: &str, line: usize, field: &'static str) -> Result<T> {
    // FromStr for integers accepts a leading '+'; SDP numbers are plain digits
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(line, field, text));
    }
    text.parse().map_err(|_| bad(line, field, text))
}

fn parse_origin(value: &str, line: usize) -> Result<Origin> {
    let fields: Vec<&str> = value.split_ascii_whitespace().collect();
    let [
        username,
        session_id,
        session_version,
        net_type,
        addr_type,
        address,
    ] = fields[..]
    else {
        return Err(syntax(line, "o= needs 6 fields"));
    };
    if net_type != "IN" {
        return Err(bad(line, "network type", net_type));
    }
    Ok(Origin {
        username: username.to_string(),
        session_id: session_id.to_string(),
        session_version: session_version.to_string(),
        address: parse_address(addr_type, address, line)?,
    })
}

fn parse_address(addr_type: &str, address: &str, line: usize) -> Result<Address> {
    let kind = match addr_type {
        "IP4" => AddressType::Ip4,
        "IP6" => AddressType::Ip6,
        _ => return Err(bad(line, "address type", addr_type)),
    };
    if address.is_empty() {
        return Err(bad(line, "address", address));
    }
    match address.parse::<IpAddr>() {
        Ok(ip) => {
            let matches = matches!(
                (kind, ip),
                (AddressType::Ip4, IpAddr::V4(_)) | (AddressType::Ip6, IpAddr::V6(_))
            );
            if !matches {
                return Err(bad(line, "address for its address type", address));
            }
            Ok(Address::Ip(ip))
        }
        Err(_) => Ok(Address::Name {
            kind,
            name: address.to_string(),
        }),
    }
}

/// `IN IP4 <addr>[/<ttl>[/<count>]]` or `IN IP6 <addr>[/<count>]` (§5.7).
fn parse_connection(value: &str, line: usize) -> Result<Connection> {
    let fields: Vec<&str> = value.split_ascii_whitespace().collect();
    let [net_type, addr_type, spec] = fields[..] else {
        return Err(syntax(line, "c= needs 3 fields"));
    };
    if net_type != "IN" {
        return Err(bad(line, "network type", net_type));
    }
    let mut parts = spec.split('/');
    let address = parse_address(addr_type, parts.next().unwrap_or_default(), line)?;
    let rest: Vec<&str> = parts.collect();
    let (ttl, count) = match (address.kind(), &rest[..]) {
        (_, []) => (None, None),
        (AddressType::Ip4, [ttl]) => (Some(number(ttl, line, "ttl")?), None),
        (AddressType::Ip4, [ttl, count]) => (
            Some(number(ttl, line, "ttl")?),
            Some(number(count, line, "address count")?),
        ),
        (AddressType::Ip6, [count]) => (None, Some(number(count, line, "address count")?)),
        _ => return Err(bad(line, "connection address", spec)),
    };
    Ok(Connection { address, ttl, count })
}

fn parse_bandwidth(value: &str, line: usize) -> Result<Bandwidth> {
    let (kind, amount) = value
        .split_once(':')
        .ok_or_else(|| syntax(line, "b= needs <bwtype>:<bandwidth>"))?;
    if kind.is_empty() || kind.contains(char::is_whitespace) {
        return Err(bad(line, "bandwidth type", kind));
    }
    Ok(Bandwidth {
        kind: kind.to_string(),
        value: number(amount, line, "bandwidth")?,
    })
}

fn parse_timing(value: &str, line: usize) -> Result<Timing> {
    let fields: Vec<&str> = value.split_ascii_whitespace().collect();
    let [start, stop] = fields[..] else {
        return Err(syntax(line, "t= needs 2 fields"));
    };
    Ok(Timing {
        start: number(start, line, "start time")?,
        stop: number(stop, line, "stop time")?,
    })
}

/// `<media> <port>[/<number of ports>] <proto> <fmt> ...` (§5.14).
fn parse_media(value: &str, line: usize) -> Result<MediaDescription> {
    let fields: Vec<&str> = value.split_ascii_whitespace().collect();
    let [kind, port, proto, formats @ ..] = &fields[..] else {
        return Err(syntax(line, "m= needs <media> <port> <proto> <fmt>"));
    };
    if formats.is_empty() {
        return Err(syntax(line, "m= lists no format"));
    }
    let (port, port_count) = match port.split_once('/') {
        Some((p, n)) => (number(p, line, "port")?, Some(number(n, line, "port count")?)),
        None => (number(port, line, "port")?, None),
    };
    let mut m = MediaDescription::new(
        MediaKind::from_name(kind),
        port,
        *proto,
        formats.iter().map(|f| f.to_string()).collect(),
    );
    m.port_count = port_count;
    if m.is_rtp() {
        for f in formats {
            payload_type(f, line)?;
        }
    }
    Ok(m)
}

fn payload_type(text: &str, line: usize) -> Result<u8> {
    match number::<u8>(text, line, "payload type") {
        Ok(pt) if pt <= 127 => Ok(pt),
        _ => Err(bad(line, "payload type", text)),
    }
}

/// `a=<name>[:<value>]` (§5.13), with rtpmap, fmtp, control and direction given their fields.
fn parse_attribute(sd: &mut SessionDescription, value: &str, line: usize) -> Result<()> {
    let (name, value) = match value.split_once(':') {
        Some((n, v)) => (n, Some(v)),
        None => (value, None),
    };
    if name.is_empty() {
        return Err(syntax(line, "a= without a name"));
    }
    if let (None, Some(direction)) = (value, Direction::from_name(name)) {
        match sd.media.last_mut() {
            Some(m) => m.direction = Some(direction),
            None => sd.direction = Some(direction),
        }
        return Ok(());
    }
    let Some(m) = sd.media.last_mut() else {
        match (name, value) {
            ("control", Some(v)) if sd.control.is_none() => sd.control = Some(v.to_string()),
            _ => sd.attributes.push(attribute(name, value)),
        }
        return Ok(());
    };
    match (name, value) {
        ("rtpmap", Some(v)) => {
            let (pt, map) = parse_rtpmap(v, line)?;
            m.rtpmap.entry(pt).or_insert(map);
        }
        ("fmtp", Some(v)) => {
            let (fmt, params) = v.split_once(' ').unwrap_or((v, ""));
            match fmt.parse::<u8>() {
                Ok(pt) if pt <= 127 && fmt.bytes().all(|b| b.is_ascii_digit()) => {
                    m.fmtp.entry(pt).or_insert_with(|| parse_fmtp(params));
                }
                // fmtp of a non-RTP format: keep it as written
                _ => m.attributes.push(attribute(name, value)),
            }
        }
        ("control", Some(v)) if m.control.is_none() => m.control = Some(v.to_string()),
        _ => m.attributes.push(attribute(name, value)),
    }
    Ok(())
}

fn attribute(name: &str, value: Option<&str>) -> Attribute {
    Attribute {
        name: name.to_string(),
        value: value.map(str::to_string),
    }
}

/// `<payload type> <encoding name>/<clock rate>[/<encoding parameters>]` (§6.6).
fn parse_rtpmap(value: &str, line: usize) -> Result<(u8, RtpMap)> {
    let (pt, encoding) = value
        .split_once(' ')
        .ok_or_else(|| syntax(line, "rtpmap needs <payload type> <encoding>/<clock rate>"))?;
    let pt = payload_type(pt, line)?;
    let mut parts = encoding.trim().split('/');
    let name = parts.next().unwrap_or_default();
    if name.is_empty() {
        return Err(bad(line, "encoding name", encoding));
    }
    let clock_rate = number(parts.next().unwrap_or_default(), line, "clock rate")?;
    let channels = parts.next().map(|c| number(c, line, "channels")).transpose()?;
    if parts.next().is_some() {
        return Err(bad(line, "rtpmap encoding", encoding));
    }
    Ok((
        pt,
        RtpMap {
            encoding: name.to_string(),
            clock_rate,
            channels,
        },
    ))
}

/// `key=value` pairs separated by `;`, surrounding spaces ignored (§6.15).
fn parse_fmtp(params: &str) -> Fmtp {
    Fmtp {
        params: params
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
                None => (p.to_string(), String::new()),
            })
            .collect(),
    }
}
