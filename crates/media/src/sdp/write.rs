//! Writing a session description as SDP text (RFC 8866 §5, field order of §5).
//!
//! Lines end with CRLF. Text fields are written as they are, except that CR
//! and LF (which would end the line) are left out.

use std::fmt::{self, Display, Formatter, Write};

use super::{
    Address, AddressType, Attribute, Bandwidth, Connection, Direction, MediaDescription, SessionDescription,
};

/// Writes `text` without CR and LF.
struct Clean<'a>(&'a str);

impl Display for Clean<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for c in self.0.chars().filter(|c| !matches!(c, '\r' | '\n')) {
            f.write_char(c)?;
        }
        Ok(())
    }
}

impl Display for AddressType {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ip4 => "IP4",
            Self::Ip6 => "IP6",
        })
    }
}

impl Display for Address {
    /// `<addrtype> <address>`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(ip) => write!(f, "{} {ip}", self.kind()),
            Self::Name { kind, name } => write!(f, "{kind} {}", Clean(name)),
        }
    }
}

impl Display for Connection {
    /// The value of a `c=` line. An IPv4 count without a TTL is written with TTL 0.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "IN {}", self.address)?;
        match self.address.kind() {
            AddressType::Ip4 => {
                if self.ttl.is_some() || self.count.is_some() {
                    write!(f, "/{}", self.ttl.unwrap_or(0))?;
                }
                if let Some(count) = self.count {
                    write!(f, "/{count}")?;
                }
            }
            AddressType::Ip6 => {
                if let Some(count) = self.count {
                    write!(f, "/{count}")?;
                }
            }
        }
        Ok(())
    }
}

impl Display for Direction {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn bandwidths(f: &mut Formatter<'_>, list: &[Bandwidth]) -> fmt::Result {
    for b in list {
        write!(f, "b={}:{}\r\n", Clean(&b.kind), b.value)?;
    }
    Ok(())
}

fn attributes(f: &mut Formatter<'_>, list: &[Attribute]) -> fmt::Result {
    for a in list {
        match &a.value {
            Some(v) => write!(f, "a={}:{}\r\n", Clean(&a.name), Clean(v))?,
            None => write!(f, "a={}\r\n", Clean(&a.name))?,
        }
    }
    Ok(())
}

impl Display for SessionDescription {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        f.write_str("v=0\r\n")?;
        write!(
            f,
            "o={} {} {} IN {}\r\n",
            Clean(&o.username),
            Clean(&o.session_id),
            Clean(&o.session_version),
            o.address
        )?;
        write!(f, "s={}\r\n", Clean(&self.name))?;
        if let Some(i) = &self.info {
            write!(f, "i={}\r\n", Clean(i))?;
        }
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        bandwidths(f, &self.bandwidths)?;
        if self.times.is_empty() {
            f.write_str("t=0 0\r\n")?;
        }
        for t in &self.times {
            write!(f, "t={} {}\r\n", t.start, t.stop)?;
        }
        if let Some(c) = &self.control {
            write!(f, "a=control:{}\r\n", Clean(c))?;
        }
        if let Some(d) = self.direction {
            write!(f, "a={d}\r\n")?;
        }
        attributes(f, &self.attributes)?;
        for m in &self.media {
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

impl Display for MediaDescription {
    /// The `m=` line and the lines of its media section, CRLF-terminated.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "m={} {}", Clean(self.kind.name()), self.port)?;
        if let Some(n) = self.port_count {
            write!(f, "/{n}")?;
        }
        write!(f, " {}", Clean(&self.proto))?;
        for fmt in &self.formats {
            write!(f, " {}", Clean(fmt))?;
        }
        f.write_str("\r\n")?;
        if let Some(i) = &self.info {
            write!(f, "i={}\r\n", Clean(i))?;
        }
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        bandwidths(f, &self.bandwidths)?;
        for (pt, map) in &self.rtpmap {
            write!(f, "a=rtpmap:{pt} {}/{}", Clean(&map.encoding), map.clock_rate)?;
            if let Some(ch) = map.channels {
                write!(f, "/{ch}")?;
            }
            f.write_str("\r\n")?;
        }
        for (pt, fmtp) in &self.fmtp {
            write!(f, "a=fmtp:{pt} ")?;
            for (i, (k, v)) in fmtp.params.iter().enumerate() {
                if i > 0 {
                    // no space after the separator, so a written line is never longer than the parsed one
                    f.write_str(";")?;
                }
                if v.is_empty() && !k.is_empty() {
                    write!(f, "{}", Clean(k))?;
                } else {
                    write!(f, "{}={}", Clean(k), Clean(v))?;
                }
            }
            f.write_str("\r\n")?;
        }
        if let Some(c) = &self.control {
            write!(f, "a=control:{}\r\n", Clean(c))?;
        }
        if let Some(d) = self.direction {
            write!(f, "a={d}\r\n")?;
        }
        attributes(f, &self.attributes)
    }
}
