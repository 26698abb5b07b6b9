//! AMF0 values for RTMP command messages (Adobe Action Message Format AMF0).
//!
//! FLV script data (`onMetaData`) is read by [`crate::flv::Metadata`], which
//! walks AMF0 without building values; commands need the values themselves
//! (the `connect` command object, the `publish` arguments), so this module
//! decodes into [`Value`] trees. Nesting is bounded by
//! [`crate::flv::MAX_AMF_DEPTH`]; every value takes at least one input byte,
//! so the size of a tree is bounded by the size of its input.

use bytes::BufMut;

use super::{Error, Result};
use crate::flv::MAX_AMF_DEPTH;

/// AMF0 type markers (AMF0 §2.1).
mod marker {
    pub(super) const NUMBER: u8 = 0x00;
    pub(super) const BOOLEAN: u8 = 0x01;
    pub(super) const STRING: u8 = 0x02;
    pub(super) const OBJECT: u8 = 0x03;
    pub(super) const NULL: u8 = 0x05;
    pub(super) const UNDEFINED: u8 = 0x06;
    pub(super) const ECMA_ARRAY: u8 = 0x08;
    pub(super) const OBJECT_END: u8 = 0x09;
    pub(super) const STRICT_ARRAY: u8 = 0x0a;
    pub(super) const DATE: u8 = 0x0b;
    pub(super) const LONG_STRING: u8 = 0x0c;
    pub(super) const UNSUPPORTED: u8 = 0x0d;
    pub(super) const XML_DOCUMENT: u8 = 0x0f;
    pub(super) const TYPED_OBJECT: u8 = 0x10;
}

/// One AMF0 value (AMF0 §2.2 to §2.18).
///
/// Long strings (§2.14) and XML documents (§2.17) decode as [`Value::String`],
/// typed objects (§2.18) as [`Value::Object`] (the class name is dropped),
/// `unsupported` (§2.15) as [`Value::Undefined`]. References (§2.9) and
/// movie clips are refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A double (§2.2).
    Number(f64),
    /// A boolean (§2.3).
    Boolean(bool),
    /// A string (§2.4, §2.14); invalid UTF-8 is replaced.
    String(String),
    /// An anonymous object (§2.5): properties in order.
    Object(Vec<(String, Self)>),
    /// `null` (§2.7).
    Null,
    /// `undefined` (§2.8).
    Undefined,
    /// An ECMA (associative) array (§2.10): properties in order.
    EcmaArray(Vec<(String, Self)>),
    /// A strict array (§2.12).
    StrictArray(Vec<Self>),
    /// A date (§2.13): milliseconds since the epoch and a time zone (reserved, 0).
    Date {
        /// Milliseconds since 1970-01-01 UTC.
        millis: f64,
        /// Time zone offset in minutes (should be 0).
        timezone: i16,
    },
}

/// A read position in AMF0 data.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

// === impl Value ===

impl Value {
    /// A string value.
    pub fn string(s: impl Into<String>) -> Self {
        Self::String(s.into())
    }

    /// An object from `(name, value)` pairs.
    pub fn object<K: Into<String>>(props: impl IntoIterator<Item = (K, Self)>) -> Self {
        Self::Object(props.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Self::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The first property `name` of an object or ECMA array.
    pub fn property(&self, name: &str) -> Option<&Self> {
        match self {
            Self::Object(p) | Self::EcmaArray(p) => p.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Writes the value. Strings longer than 65535 bytes become long strings;
    /// property names are cut to 65535 bytes.
    pub fn encode(&self, out: &mut impl BufMut) {
        match self {
            Self::Number(n) => {
                out.put_u8(marker::NUMBER);
                out.put_f64(*n);
            }
            Self::Boolean(b) => {
                out.put_u8(marker::BOOLEAN);
                out.put_u8(u8::from(*b));
            }
            Self::String(s) => match u16::try_from(s.len()) {
                Ok(n) => {
                    out.put_u8(marker::STRING);
                    out.put_u16(n);
                    out.put_slice(s.as_bytes());
                }
                Err(_) => {
                    // cut at u32::MAX: a longer string cannot be in memory on 32-bit anyway
                    let b = &s.as_bytes()[..s.len().min(u32::MAX as usize)];
                    out.put_u8(marker::LONG_STRING);
                    out.put_u32(b.len() as u32);
                    out.put_slice(b);
                }
            },
            Self::Object(props) => {
                out.put_u8(marker::OBJECT);
                put_properties(out, props);
            }
            Self::Null => out.put_u8(marker::NULL),
            Self::Undefined => out.put_u8(marker::UNDEFINED),
            Self::EcmaArray(props) => {
                out.put_u8(marker::ECMA_ARRAY);
                out.put_u32(u32::try_from(props.len()).unwrap_or(u32::MAX));
                put_properties(out, props);
            }
            Self::StrictArray(values) => {
                out.put_u8(marker::STRICT_ARRAY);
                out.put_u32(u32::try_from(values.len()).unwrap_or(u32::MAX));
                for v in values.iter().take(u32::MAX as usize) {
                    v.encode(out);
                }
            }
            Self::Date { millis, timezone } => {
                out.put_u8(marker::DATE);
                out.put_f64(*millis);
                out.put_i16(*timezone);
            }
        }
    }
}

/// Decodes values up to the end of `data`.
pub fn decode_all(data: &[u8]) -> Result<Vec<Value>> {
    let mut r = Reader { data, pos: 0 };
    let mut values = Vec::new();
    while r.pos < data.len() {
        values.push(r.value(0)?);
    }
    Ok(values)
}

/// Writes values one after the other.
pub fn encode_all(values: &[Value], out: &mut impl BufMut) {
    for v in values {
        v.encode(out);
    }
}

fn put_properties(out: &mut impl BufMut, props: &[(String, Value)]) {
    for (k, v) in props {
        let k = &k.as_bytes()[..k.len().min(u16::MAX as usize)];
        out.put_u16(k.len() as u16);
        out.put_slice(k);
        v.encode(out);
    }
    out.put_slice(&[0, 0, marker::OBJECT_END]);
}

// === impl Reader ===

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.data.len());
        let end = end.ok_or(Error::Amf {
            what,
            offset: self.pos,
        })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn string(&mut self, len: usize, what: &'static str) -> Result<String> {
        Ok(String::from_utf8_lossy(self.take(len, what)?).into_owned())
    }

    fn value(&mut self, depth: usize) -> Result<Value> {
        if depth > MAX_AMF_DEPTH {
            return Err(Error::AmfTooDeep { offset: self.pos });
        }
        let at = self.pos;
        let [m] = self.array("type marker")?;
        Ok(match m {
            marker::NUMBER => Value::Number(f64::from_be_bytes(self.array("number")?)),
            marker::BOOLEAN => Value::Boolean(self.array::<1>("boolean")?[0] != 0),
            marker::STRING => {
                let n = u16::from_be_bytes(self.array("string length")?);
                Value::String(self.string(usize::from(n), "string")?)
            }
            marker::LONG_STRING | marker::XML_DOCUMENT => {
                let n = u32::from_be_bytes(self.array("long string length")?);
                Value::String(self.string(n as usize, "long string")?)
            }
            marker::OBJECT => Value::Object(self.properties(depth + 1)?),
            marker::TYPED_OBJECT => {
                let n = u16::from_be_bytes(self.array("class name length")?);
                self.take(usize::from(n), "class name")?;
                Value::Object(self.properties(depth + 1)?)
            }
            marker::ECMA_ARRAY => {
                // the count is a hint only (AMF0 §2.10): read up to the end marker
                self.take(4, "ecma array count")?;
                Value::EcmaArray(self.properties(depth + 1)?)
            }
            marker::STRICT_ARRAY => {
                let n = u32::from_be_bytes(self.array("strict array count")?);
                // no allocation from the count: each value takes at least one byte
                let mut values = Vec::new();
                for _ in 0..n {
                    values.push(self.value(depth + 1)?);
                }
                Value::StrictArray(values)
            }
            marker::DATE => Value::Date {
                millis: f64::from_be_bytes(self.array("date")?),
                timezone: i16::from_be_bytes(self.array("date time zone")?),
            },
            marker::NULL => Value::Null,
            marker::UNDEFINED | marker::UNSUPPORTED => Value::Undefined,
            _ => {
                return Err(Error::Amf {
                    what: "type marker",
                    offset: at,
                });
            }
        })
    }

    /// Name/value pairs up to the object end marker (§2.5, §2.11).
    fn properties(&mut self, depth: usize) -> Result<Vec<(String, Value)>> {
        let mut props = Vec::new();
        loop {
            let n = u16::from_be_bytes(self.array("property name length")?);
            if n == 0 && self.data.get(self.pos) == Some(&marker::OBJECT_END) {
                self.pos += 1;
                return Ok(props);
            }
            let key = self.string(usize::from(n), "property name")?;
            let v = self.value(depth)?;
            props.push((key, v));
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            (-1e12f64..1e12).prop_map(Value::Number),
            any::<bool>().prop_map(Value::Boolean),
            ".{0,12}".prop_map(Value::String),
            Just(Value::Null),
            Just(Value::Undefined),
            ((-1e12f64..1e12), any::<i16>()).prop_map(|(millis, timezone)| Value::Date { millis, timezone }),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            let props = prop::collection::vec(("[a-zA-Z]{1,8}", inner.clone()), 0..4);
            prop_oneof![
                props.clone().prop_map(Value::Object),
                props.prop_map(Value::EcmaArray),
                prop::collection::vec(inner, 0..4).prop_map(Value::StrictArray),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn round_trip(values in prop::collection::vec(value(), 0..4)) {
            let mut out = Vec::new();
            encode_all(&values, &mut out);
            prop_assert_eq!(decode_all(&out).unwrap(), values);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_all(&data);
        }
    }

    #[test]
    fn connect_command_object() {
        // what ffmpeg sends: "connect", 1, {app: "live", type: "nonprivate", ...}
        let v = vec![
            Value::string("connect"),
            Value::Number(1.0),
            Value::object([
                ("app", Value::string("live")),
                ("tcUrl", Value::string("rtmp://h/live")),
            ]),
        ];
        let mut out = Vec::new();
        encode_all(&v, &mut out);
        assert_eq!(&out[..10], b"\x02\x00\x07connect");
        let back = decode_all(&out).unwrap();
        assert_eq!(back[2].property("app").and_then(Value::as_str), Some("live"));
        assert_eq!(back[1].as_number(), Some(1.0));
    }

    #[test]
    fn long_string_and_errors() {
        let s = "x".repeat(70_000);
        let mut out = Vec::new();
        Value::string(s.clone()).encode(&mut out);
        assert_eq!(out[0], marker::LONG_STRING);
        assert_eq!(decode_all(&out).unwrap(), vec![Value::String(s)]);
        // cut string, unknown marker, reference, huge strict array count
        assert_eq!(
            decode_all(&[2, 0, 5, b'a']),
            Err(Error::Amf {
                what: "string",
                offset: 3
            })
        );
        assert_eq!(
            decode_all(&[0x42]),
            Err(Error::Amf {
                what: "type marker",
                offset: 0
            })
        );
        assert!(decode_all(&[0x07, 0, 1]).is_err());
        assert!(decode_all(&[0x0a, 0xff, 0xff, 0xff, 0xff, 5]).is_err());
        let mut deep = Vec::new();
        for _ in 0..100 {
            deep.extend_from_slice(&[marker::STRICT_ARRAY, 0, 0, 0, 1]);
        }
        assert!(matches!(decode_all(&deep), Err(Error::AmfTooDeep { .. })));
    }
}
