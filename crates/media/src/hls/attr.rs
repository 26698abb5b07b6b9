//! Attribute lists (RFC 8216 §4.2): `NAME=VALUE,NAME="quoted",...`.
//!
//! Values are kept as written (quoted or not) and typed on access, since the
//! type of a value is given by the tag that carries it, not by its spelling.

use std::time::Duration;

/// Most attributes accepted in one list.
pub const MAX_ATTRIBUTES: usize = 64;

/// One attribute value as written: a quoted string (without its quotes) or
/// the unquoted text up to the next comma.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// `"..."`: a quoted-string (§4.2), quotes removed.
    Quoted(&'a str),
    /// Anything else: decimal-integer, hexadecimal-sequence,
    /// decimal-floating-point, enumerated-string or decimal-resolution.
    Unquoted(&'a str),
}

/// A parsed attribute list, in written order. Names are unique.
///
/// ```
/// use media::hls::attr::AttributeList;
/// let list = AttributeList::parse(r#"BANDWIDTH=1280000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2""#).unwrap();
/// assert_eq!(list.decimal_integer("BANDWIDTH").unwrap(), Some(1_280_000));
/// assert_eq!(list.resolution("RESOLUTION").unwrap(), Some((640, 360)));
/// assert_eq!(list.quoted("CODECS").unwrap(), Some("avc1.4d401e,mp4a.40.2"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttributeList<'a> {
    attrs: Vec<(&'a str, Value<'a>)>,
}

// === impl Value ===

impl<'a> Value<'a> {
    /// The text of the value (without quotes).
    pub fn as_str(&self) -> &'a str {
        match self {
            Self::Quoted(s) | Self::Unquoted(s) => s,
        }
    }
}

// === impl AttributeList ===

impl<'a> AttributeList<'a> {
    /// Parses `NAME=VALUE` pairs separated by commas (§4.2). Names are
    /// `[A-Z0-9-]+`; quoted strings run to the next `"` and may hold commas;
    /// unquoted values run to the next comma and must not be empty.
    /// Whitespace around pairs is tolerated. The error is a reason without
    /// a position (the caller knows the line).
    pub fn parse(text: &'a str) -> Result<Self, String> {
        let mut attrs: Vec<(&'a str, Value<'a>)> = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            let Some((name, after)) = rest.split_once('=') else {
                return Err(format!("attribute {:?} has no '='", clip(rest)));
            };
            let name = name.trim();
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(format!("bad attribute name {:?}", clip(name)));
            }
            let after = after.trim_start();
            let (value, tail) = if let Some(q) = after.strip_prefix('"') {
                let Some(end) = q.find('"') else {
                    return Err(format!("attribute {name}: unterminated quoted string"));
                };
                let (inner, tail) = q.split_at(end);
                // tail starts with the closing quote
                (Value::Quoted(inner), tail.get(1..).unwrap_or(""))
            } else {
                let end = after.find(',').unwrap_or(after.len());
                let (v, tail) = after.split_at(end);
                let v = v.trim_end();
                if v.is_empty() {
                    return Err(format!("attribute {name} has an empty value"));
                }
                (Value::Unquoted(v), tail)
            };
            if attrs.iter().any(|(n, _)| *n == name) {
                return Err(format!("attribute {name} is given twice"));
            }
            if attrs.len() >= MAX_ATTRIBUTES {
                return Err(format!("more than {MAX_ATTRIBUTES} attributes"));
            }
            attrs.push((name, value));
            let tail = tail.trim_start();
            rest = match tail.strip_prefix(',') {
                Some(t) => t.trim_start(),
                None if tail.is_empty() => tail,
                None => {
                    return Err(format!(
                        "attribute {name}: unexpected {:?} after the value",
                        clip(tail)
                    ));
                }
            };
        }
        Ok(Self { attrs })
    }

    /// The raw value of `name`.
    pub fn get(&self, name: &str) -> Option<Value<'a>> {
        self.attrs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    /// All pairs, in written order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Value<'a>)> + '_ {
        self.attrs.iter().copied()
    }

    /// A quoted-string attribute.
    pub fn quoted(&self, name: &str) -> Result<Option<&'a str>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Quoted(s)) => Ok(Some(s)),
            Some(Value::Unquoted(s)) => Err(format!("{name}={} must be a quoted string", clip(s))),
        }
    }

    /// An enumerated-string attribute (unquoted; quotes are tolerated).
    pub fn enumerated(&self, name: &str) -> Option<&'a str> {
        self.get(name).map(|v| v.as_str())
    }

    /// A decimal-integer attribute (0 to 2^64-1).
    pub fn decimal_integer(&self, name: &str) -> Result<Option<u64>, String> {
        self.unquoted(name)?
            .map(|s| decimal_integer(s).ok_or_else(|| format!("{name}={} is not a decimal integer", clip(s))))
            .transpose()
    }

    /// A non-negative decimal-floating-point attribute, as a duration in seconds
    /// (exact to the microsecond, see [`decimal_duration`]).
    pub fn duration(&self, name: &str) -> Result<Option<Duration>, String> {
        self.unquoted(name)?
            .map(|s| {
                decimal_duration(s).ok_or_else(|| format!("{name}={} is not a duration in seconds", clip(s)))
            })
            .transpose()
    }

    /// A signed-decimal-floating-point attribute.
    pub fn float(&self, name: &str) -> Result<Option<f64>, String> {
        self.unquoted(name)?
            .map(|s| {
                let ok = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-');
                ok.then(|| s.parse::<f64>().ok())
                    .flatten()
                    .filter(|f| f.is_finite())
                    .ok_or_else(|| format!("{name}={} is not a decimal number", clip(s)))
            })
            .transpose()
    }

    /// A hexadecimal-sequence attribute (`0x...` or `0X...`), as bytes; an
    /// odd number of digits is read as if a leading zero were there.
    pub fn hex(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        self.unquoted(name)?
            .map(|s| hex(s).ok_or_else(|| format!("{name}={} is not a hexadecimal sequence", clip(s))))
            .transpose()
    }

    /// A decimal-resolution attribute (`WIDTHxHEIGHT`).
    pub fn resolution(&self, name: &str) -> Result<Option<(u32, u32)>, String> {
        self.unquoted(name)?
            .map(|s| {
                s.split_once(['x', 'X'])
                    .and_then(|(w, h)| Some((decimal_u32(w)?, decimal_u32(h)?)))
                    .ok_or_else(|| format!("{name}={} is not a resolution WIDTHxHEIGHT", clip(s)))
            })
            .transpose()
    }

    /// A `YES`/`NO` attribute (absent is `NO`).
    pub fn yes_no(&self, name: &str) -> Result<bool, String> {
        match self.enumerated(name) {
            None | Some("NO") => Ok(false),
            Some("YES") => Ok(true),
            Some(other) => Err(format!("{name}={} must be YES or NO", clip(other))),
        }
    }

    fn unquoted(&self, name: &str) -> Result<Option<&'a str>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Unquoted(s)) => Ok(Some(s)),
            Some(Value::Quoted(s)) => Err(format!("{name}=\"{}\" must not be quoted", clip(s))),
        }
    }
}

/// A decimal-integer (§4.2): digits only, at most 2^64-1.
pub fn decimal_integer(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn decimal_u32(s: &str) -> Option<u32> {
    decimal_integer(s).and_then(|v| u32::try_from(v).ok())
}

/// A non-negative decimal-integer or decimal-floating-point number of
/// seconds (§4.2: `[0-9]+` optionally followed by `.` and digits), exact to
/// the microsecond: further digits are rounded to the nearest microsecond.
/// No sign, exponent or spaces. `None` when malformed or over 2^64 µs.
pub fn decimal_duration(s: &str) -> Option<Duration> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut micros: u64 = 0;
    let digits = frac.as_bytes();
    for i in 0..6 {
        micros = micros * 10 + digits.get(i).map_or(0, |d| u64::from(d - b'0'));
    }
    if digits.get(6).is_some_and(|d| *d >= b'5') {
        micros += 1;
    }
    let total = secs.checked_mul(1_000_000)?.checked_add(micros)?;
    Some(Duration::from_micros(total))
}

/// Writes a duration as decimal seconds, with as many fractional digits as
/// needed down to microseconds (`4`, `4.5`, `0.000001`); sub-microsecond
/// parts are dropped. [`decimal_duration`] reads it back exactly.
pub fn format_duration(d: Duration) -> String {
    let micros = d.as_micros();
    let (secs, frac) = (micros / 1_000_000, micros % 1_000_000);
    if frac == 0 {
        return secs.to_string();
    }
    let frac = format!("{frac:06}");
    format!("{secs}.{}", frac.trim_end_matches('0'))
}

fn hex(s: &str) -> Option<Vec<u8>> {
    let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let padded;
    let digits = if digits.len() % 2 == 1 {
        padded = format!("0{digits}");
        padded.as_str()
    } else {
        digits
    };
    (0..digits.len() / 2)
        .map(|i| {
            digits
                .get(2 * i..2 * i + 2)
                .and_then(|p| u8::from_str_radix(p, 16).ok())
        })
        .collect()
}

/// At most 40 characters of `s`, for error messages.
pub(super) fn clip(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_value_type() {
        let l = AttributeList::parse(
            r#"BANDWIDTH=1000,IV=0x0a0B,RESOLUTION=1920x1080,NAME="a, b",TYPE=AUDIO,X=-1.5,DURATION=2.002"#,
        )
        .unwrap();
        assert_eq!(l.decimal_integer("BANDWIDTH").unwrap(), Some(1000));
        assert_eq!(l.hex("IV").unwrap(), Some(vec![0x0a, 0x0b]));
        assert_eq!(l.resolution("RESOLUTION").unwrap(), Some((1920, 1080)));
        assert_eq!(l.quoted("NAME").unwrap(), Some("a, b"));
        assert_eq!(l.enumerated("TYPE"), Some("AUDIO"));
        assert_eq!(l.float("X").unwrap(), Some(-1.5));
        assert_eq!(
            l.duration("DURATION").unwrap(),
            Some(Duration::from_micros(2_002_000))
        );
        assert_eq!(l.get("MISSING"), None);
        assert_eq!(l.hex("MISSING").unwrap(), None);
    }

    #[test]
    fn rejects_malformed_lists() {
        for bad in ["A", "a=1", "A=", "A=1,A=2", r#"A="open"#, r#"A="x"y"#, "=1"] {
            assert!(AttributeList::parse(bad).is_err(), "{bad}");
        }
        let l = AttributeList::parse(r#"A="1",B=x,C=0xZZ"#).unwrap();
        assert!(l.decimal_integer("A").is_err());
        assert!(l.quoted("B").is_err());
        assert!(l.hex("C").is_err());
        assert!(l.resolution("B").is_err());
        assert!(l.yes_no("B").is_err());
        assert!(AttributeList::parse("").unwrap().iter().next().is_none());
        let long = (0..=MAX_ATTRIBUTES)
            .map(|i| format!("A{i}=1"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(AttributeList::parse(&long).is_err());
    }

    #[test]
    fn decimal_durations_are_exact() {
        assert_eq!(decimal_duration("10"), Some(Duration::from_secs(10)));
        assert_eq!(decimal_duration("4.000000"), Some(Duration::from_secs(4)));
        assert_eq!(decimal_duration("0.0333333"), Some(Duration::from_micros(33_333)));
        assert_eq!(decimal_duration("9.9999996"), Some(Duration::from_secs(10)));
        assert_eq!(decimal_duration(".5"), Some(Duration::from_millis(500)));
        assert_eq!(decimal_duration("5."), Some(Duration::from_secs(5)));
        for bad in ["", ".", "-1", "1e3", " 1", "1.2.3", "99999999999999999999"] {
            assert_eq!(decimal_duration(bad), None, "{bad}");
        }
        assert_eq!(format_duration(Duration::from_micros(4_500_000)), "4.5");
        assert_eq!(format_duration(Duration::from_micros(1)), "0.000001");
        assert_eq!(format_duration(Duration::from_secs(6)), "6");
    }

    #[test]
    fn hex_sequences() {
        assert_eq!(hex("0xABC"), Some(vec![0x0a, 0xbc]));
        assert_eq!(hex("0x"), None);
        assert_eq!(hex("ab"), None);
    }
}
