//! Script data (FLV 10.1 §E.4.4): just enough AMF0 (Adobe AMF0 spec §2) to
//! read and write `onMetaData`, and to skip anything else safely.

use bytes::BufMut;

use super::{Error, Result};

/// Deepest nesting of AMF0 objects and arrays that is followed; deeper data is an error.
pub const MAX_AMF_DEPTH: usize = 16;

/// AMF0 type markers (AMF0 §2.1).
mod marker {
    pub(super) const NUMBER: u8 = 0;
    pub(super) const BOOLEAN: u8 = 1;
    pub(super) const STRING: u8 = 2;
    pub(super) const OBJECT: u8 = 3;
    pub(super) const NULL: u8 = 5;
    pub(super) const UNDEFINED: u8 = 6;
    pub(super) const REFERENCE: u8 = 7;
    pub(super) const ECMA_ARRAY: u8 = 8;
    pub(super) const OBJECT_END: u8 = 9;
    pub(super) const STRICT_ARRAY: u8 = 10;
    pub(super) const DATE: u8 = 11;
    pub(super) const LONG_STRING: u8 = 12;
    pub(super) const UNSUPPORTED: u8 = 13;
    pub(super) const XML_DOCUMENT: u8 = 15;
    pub(super) const TYPED_OBJECT: u8 = 16;
}

/// The fields of `onMetaData` (FLV 10.1 §E.5) that this crate reads or writes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    /// `duration` in seconds.
    pub duration: Option<f64>,
    /// `width` in pixels.
    pub width: Option<f64>,
    /// `height` in pixels.
    pub height: Option<f64>,
    /// `framerate` in frames per second.
    pub framerate: Option<f64>,
    /// `videocodecid`: 7 for AVC, or a FourCC as a number (Enhanced RTMP).
    pub videocodecid: Option<f64>,
    /// `audiocodecid`: 10 for AAC.
    pub audiocodecid: Option<f64>,
    /// `audiosamplerate` in Hz.
    pub audiosamplerate: Option<f64>,
    /// `stereo`.
    pub stereo: Option<bool>,
    /// `encoder`.
    pub encoder: Option<String>,
}

/// A scalar AMF0 value; containers and exotic types are skipped.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Value<'a> {
    Number(f64),
    Bool(bool),
    Str(&'a [u8]),
    Other,
}

/// A read position in script data.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

// === impl Metadata ===

impl Metadata {
    /// Parses a script data body. `Ok(None)` for script data other than
    /// `onMetaData` (also accepted behind RTMP's `@setDataFrame`).
    pub fn parse(body: &[u8]) -> Result<Option<Self>> {
        let mut c = Cursor { data: body, pos: 0 };
        let mut name = c.value(0)?;
        if name == Value::Str(b"@setDataFrame") {
            name = c.value(0)?;
        }
        if name != Value::Str(b"onMetaData") {
            return Ok(None);
        }
        let mut meta = Self::default();
        if c.pos >= body.len() {
            return Ok(Some(meta));
        }
        let at = c.pos;
        let props = |key: &[u8], v: Value<'_>| meta.set(key, v);
        match c.u8("type marker")? {
            marker::ECMA_ARRAY => {
                c.take(4, "ecma array count")?;
                c.properties(1, props)?;
            }
            marker::OBJECT => c.properties(1, props)?,
            _ => {
                c.pos = at;
                c.value(0)?;
            }
        }
        Ok(Some(meta))
    }

    /// Writes a script data body: the string `onMetaData` and an ECMA array
    /// of the fields that are set.
    pub fn encode(&self, out: &mut impl BufMut) {
        put_string(out, "onMetaData");
        let numbers = [
            ("duration", self.duration),
            ("width", self.width),
            ("height", self.height),
            ("framerate", self.framerate),
            ("videocodecid", self.videocodecid),
            ("audiocodecid", self.audiocodecid),
            ("audiosamplerate", self.audiosamplerate),
        ];
        let count = numbers.iter().filter(|(_, v)| v.is_some()).count()
            + usize::from(self.stereo.is_some())
            + usize::from(self.encoder.is_some());
        out.put_u8(marker::ECMA_ARRAY);
        out.put_u32(count as u32);
        for (key, v) in numbers {
            if let Some(v) = v {
                put_key(out, key);
                out.put_u8(marker::NUMBER);
                out.put_f64(v);
            }
        }
        if let Some(s) = self.stereo {
            put_key(out, "stereo");
            out.put_u8(marker::BOOLEAN);
            out.put_u8(u8::from(s));
        }
        if let Some(e) = &self.encoder {
            put_key(out, "encoder");
            put_string(out, e);
        }
        out.put_slice(&[0, 0, marker::OBJECT_END]);
    }

    fn set(&mut self, key: &[u8], v: Value<'_>) {
        let num = match v {
            Value::Number(n) => Some(n),
            _ => None,
        };
        match key {
            b"duration" => self.duration = num,
            b"width" => self.width = num,
            b"height" => self.height = num,
            b"framerate" => self.framerate = num,
            b"videocodecid" => self.videocodecid = num,
            b"audiocodecid" => self.audiocodecid = num,
            b"audiosamplerate" => self.audiosamplerate = num,
            b"stereo" => {
                if let Value::Bool(b) = v {
                    self.stereo = Some(b);
                }
            }
            b"encoder" => {
                if let Value::Str(s) = v {
                    self.encoder = Some(String::from_utf8_lossy(s).into_owned());
                }
            }
            _ => {}
        }
    }
}

/// Writes an AMF0 property name (UTF-8 without a type marker); names are short literals.
fn put_key(out: &mut impl BufMut, key: &str) {
    out.put_u16(key.len() as u16);
    out.put_slice(key.as_bytes());
}

/// Writes an AMF0 string value, cut to 65535 bytes.
fn put_string(out: &mut impl BufMut, s: &str) {
    let b = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.put_u8(marker::STRING);
    out.put_u16(b.len() as u16);
    out.put_slice(b);
}

// === impl Cursor ===

impl<'a> Cursor<'a> {
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

    fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<usize> {
        let b = self.take(2, what)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    fn u32(&mut self, what: &'static str) -> Result<usize> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    /// Reads one value; containers are walked (up to [`MAX_AMF_DEPTH`]) and reported as `Other`.
    fn value(&mut self, depth: usize) -> Result<Value<'a>> {
        if depth > MAX_AMF_DEPTH {
            return Err(Error::AmfTooDeep { offset: self.pos });
        }
        let at = self.pos;
        Ok(match self.u8("type marker")? {
            marker::NUMBER => {
                let b = self.take(8, "number")?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::Number(f64::from_be_bytes(a))
            }
            marker::BOOLEAN => Value::Bool(self.u8("boolean")? != 0),
            marker::STRING => {
                let n = self.u16("string length")?;
                Value::Str(self.take(n, "string")?)
            }
            marker::LONG_STRING | marker::XML_DOCUMENT => {
                let n = self.u32("long string length")?;
                Value::Str(self.take(n, "long string")?)
            }
            marker::OBJECT => {
                self.properties(depth + 1, |_, _| {})?;
                Value::Other
            }
            marker::TYPED_OBJECT => {
                let n = self.u16("class name length")?;
                self.take(n, "class name")?;
                self.properties(depth + 1, |_, _| {})?;
                Value::Other
            }
            marker::ECMA_ARRAY => {
                self.take(4, "ecma array count")?;
                self.properties(depth + 1, |_, _| {})?;
                Value::Other
            }
            marker::STRICT_ARRAY => {
                let n = self.u32("strict array count")?;
                // every value takes at least one byte, so `n` is bounded by the data left
                for _ in 0..n {
                    self.value(depth + 1)?;
                }
                Value::Other
            }
            marker::DATE => {
                self.take(10, "date")?;
                Value::Other
            }
            marker::REFERENCE => {
                self.take(2, "reference")?;
                Value::Other
            }
            marker::NULL | marker::UNDEFINED | marker::UNSUPPORTED => Value::Other,
            _ => {
                return Err(Error::Amf {
                    what: "type marker",
                    offset: at,
                });
            }
        })
    }

    /// Reads name/value pairs up to the object end marker (or the end of the data).
    fn properties(&mut self, depth: usize, mut visit: impl FnMut(&[u8], Value<'a>)) -> Result<()> {
        while self.pos < self.data.len() {
            let n = self.u16("property name length")?;
            let key = self.take(n, "property name")?;
            if key.is_empty() && self.data.get(self.pos) == Some(&marker::OBJECT_END) {
                self.pos += 1;
                return Ok(());
            }
            let v = self.value(depth)?;
            visit(key, v);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trip() {
        let meta = Metadata {
            duration: Some(2.0),
            width: Some(320.0),
            height: Some(240.0),
            framerate: Some(25.0),
            videocodecid: Some(7.0),
            audiocodecid: Some(10.0),
            audiosamplerate: Some(48000.0),
            stereo: Some(false),
            encoder: Some("tributary".into()),
        };
        let mut out = Vec::new();
        meta.encode(&mut out);
        assert_eq!(Metadata::parse(&out).unwrap(), Some(meta));
    }

    #[test]
    fn other_script_data_is_ignored() {
        let mut out = Vec::new();
        put_string(&mut out, "onCuePoint");
        out.push(marker::NULL);
        assert_eq!(Metadata::parse(&out).unwrap(), None);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut out = Vec::new();
        put_string(&mut out, "onMetaData");
        out.push(marker::OBJECT);
        for _ in 0..100 {
            put_key(&mut out, "a");
            out.push(marker::OBJECT);
        }
        assert!(matches!(Metadata::parse(&out), Err(Error::AmfTooDeep { .. })));
        // a huge strict array count with no data is an error, not a long loop
        let mut out = Vec::new();
        put_string(&mut out, "onMetaData");
        out.extend([marker::STRICT_ARRAY, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            Metadata::parse(&out),
            Err(Error::Amf { offset: 18, .. })
        ));
    }
}
