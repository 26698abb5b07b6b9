//! The FLV file header (FLV 10.1 §E.2), tags (§E.4.1) and the
//! PreviousTagSize fields between them (§E.3).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{Error, Result, Warning};

/// Length of the FLV file header without extensions (FLV 10.1 §E.2).
pub const HEADER_SIZE: usize = 9;
/// Largest accepted header DataOffset: a header may carry extra bytes, but not many.
pub const MAX_HEADER_SIZE: usize = 1024;
/// Length of a tag header (FLV 10.1 §E.4.1).
pub const TAG_HEADER_SIZE: usize = 11;
/// Default bound on a tag's DataSize. The field allows 16 MiB - 1; a tag
/// larger than this is refused before any buffering for it.
pub const MAX_TAG_DATA_SIZE: usize = 8 * 1024 * 1024;
/// Length of a PreviousTagSize field.
const PREV_SIZE_LEN: usize = 4;
/// The file signature.
const SIGNATURE: &[u8; 3] = b"FLV";

/// The FLV file header (FLV 10.1 §E.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    /// Version (1).
    pub version: u8,
    /// TypeFlagsAudio.
    pub has_audio: bool,
    /// TypeFlagsVideo.
    pub has_video: bool,
}

/// TagType of a tag (FLV 10.1 §E.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagType {
    /// 8: audio.
    Audio,
    /// 9: video.
    Video,
    /// 18: script data.
    Script,
    /// Any other value (5 bits).
    Other(u8),
}

/// One FLV tag (FLV 10.1 §E.4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// TagType.
    pub tag_type: TagType,
    /// The Filter bit: the body is encrypted.
    pub encrypted: bool,
    /// Timestamp and TimestampExtended: milliseconds, wrapping at 2^32.
    pub timestamp: u32,
    /// The tag body (DataSize bytes).
    pub body: Bytes,
    /// Byte offset of the tag header in the stream.
    pub offset: u64,
}

/// Incremental tag reader for an FLV byte stream (file or HTTP-FLV).
///
/// Feed bytes into a `BytesMut` and call [`TagReader::decode`] until it
/// returns `Ok(None)`; it consumes the file header and then one
/// `PreviousTagSize` plus tag at a time, never a partial tag. At the end of
/// the input call [`TagReader::finish`] to check the leftovers.
#[derive(Debug, Clone)]
pub struct TagReader {
    header: Option<FileHeader>,
    /// Stream offset of the first byte of the caller's buffer.
    position: u64,
    /// Size of the previous tag (0 before the first), which the next PreviousTagSize must equal.
    expected_prev: u32,
    max_tag_size: usize,
    warnings: Vec<Warning>,
}

// === impl FileHeader ===

impl FileHeader {
    /// Writes the 9-byte header (DataOffset 9); PreviousTagSize0 is not included.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_slice(SIGNATURE);
        out.put_u8(self.version);
        out.put_u8(if self.has_audio { 0x04 } else { 0 } | if self.has_video { 0x01 } else { 0 });
        out.put_u32(HEADER_SIZE as u32);
    }
}

// === impl TagType ===

impl TagType {
    /// The 5-bit TagType value.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Audio => 8,
            Self::Video => 9,
            Self::Script => 18,
            Self::Other(v) => v & 0x1f,
        }
    }

    /// From the 5-bit TagType value.
    pub fn from_u8(v: u8) -> Self {
        match v & 0x1f {
            8 => Self::Audio,
            9 => Self::Video,
            18 => Self::Script,
            v => Self::Other(v),
        }
    }
}

// === impl Tag ===

impl Tag {
    /// Writes the tag header and body, then its PreviousTagSize.
    pub fn encode(&self, out: &mut impl BufMut) -> Result<()> {
        write_tag_parts(self.tag_type, self.encrypted, self.timestamp, &[&self.body], out)
    }
}

/// Writes a tag whose body is the concatenation of `parts`, then its PreviousTagSize.
pub(super) fn write_tag_parts(
    tag_type: TagType,
    encrypted: bool,
    timestamp: u32,
    parts: &[&[u8]],
    out: &mut impl BufMut,
) -> Result<()> {
    let size: usize = parts.iter().map(|p| p.len()).sum();
    if size > 0x00ff_ffff {
        return Err(Error::BodyTooLarge(size));
    }
    out.put_u8(tag_type.to_u8() | if encrypted { 0x20 } else { 0 });
    out.put_uint(size as u64, 3);
    out.put_uint(u64::from(timestamp & 0x00ff_ffff), 3);
    out.put_u8((timestamp >> 24) as u8);
    out.put_uint(0, 3); // StreamID
    for p in parts {
        out.put_slice(p);
    }
    // size <= 2^24 - 1, so the sum fits u32
    out.put_u32((TAG_HEADER_SIZE + size) as u32);
    Ok(())
}

// === impl TagReader ===

impl Default for TagReader {
    fn default() -> Self {
        Self::new()
    }
}

impl TagReader {
    /// A reader expecting the file header first, with [`MAX_TAG_DATA_SIZE`].
    pub fn new() -> Self {
        Self {
            header: None,
            position: 0,
            expected_prev: 0,
            max_tag_size: MAX_TAG_DATA_SIZE,
            warnings: Vec::new(),
        }
    }

    /// Sets the largest accepted tag DataSize (at most 16 MiB - 1 is meaningful).
    pub fn with_max_tag_size(mut self, max: usize) -> Self {
        self.max_tag_size = max;
        self
    }

    /// The file header, once it has been read.
    pub fn header(&self) -> Option<FileHeader> {
        self.header
    }

    /// Stream offset of the next unread byte.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Drains the warnings collected so far (PreviousTagSize mismatches).
    pub fn take_warnings(&mut self) -> Vec<Warning> {
        std::mem::take(&mut self.warnings)
    }

    /// Decodes the file header (silently, on the first calls) and then the next
    /// tag. `Ok(None)` means more bytes are needed; only whole units are consumed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Tag>> {
        if self.header.is_none() && !self.decode_header(buf)? {
            return Ok(None);
        }
        self.decode_tag(buf)
    }

    /// Checks what is left in `buf` at the end of the input: nothing or the
    /// final PreviousTagSize is fine; anything else is a truncated tag.
    pub fn finish(&mut self, buf: &[u8]) -> Result<()> {
        if self.header.is_none() {
            if buf.is_empty() && self.position == 0 {
                return Err(Error::Empty);
            }
            check_signature(buf)?;
            return Err(Error::TruncatedHeader {
                needed: HEADER_SIZE,
                available: buf.len(),
            });
        }
        match buf.len() {
            PREV_SIZE_LEN => {
                self.check_prev(be_u32(buf));
                self.position += PREV_SIZE_LEN as u64;
                Ok(())
            }
            0..PREV_SIZE_LEN => {
                self.warnings.push(Warning {
                    offset: self.position,
                    error: Error::MissingPreviousTagSize {
                        offset: self.position,
                    },
                });
                Ok(())
            }
            n => {
                let tag = &buf[PREV_SIZE_LEN..];
                let needed = if tag.len() >= TAG_HEADER_SIZE {
                    TAG_HEADER_SIZE + be_u24(&tag[1..4]) as usize
                } else {
                    TAG_HEADER_SIZE
                };
                Err(Error::TruncatedTag {
                    offset: self.position + PREV_SIZE_LEN as u64,
                    needed,
                    available: n - PREV_SIZE_LEN,
                })
            }
        }
    }

    /// Reads the file header; true once it is consumed.
    fn decode_header(&mut self, buf: &mut BytesMut) -> Result<bool> {
        check_signature(buf)?;
        if buf.len() < HEADER_SIZE {
            return Ok(false);
        }
        let data_offset = be_u32(&buf[5..9]);
        let skip = data_offset as usize;
        if !(HEADER_SIZE..=MAX_HEADER_SIZE).contains(&skip) {
            return Err(Error::BadDataOffset {
                value: data_offset,
                max: MAX_HEADER_SIZE,
            });
        }
        if buf.len() < skip {
            return Ok(false);
        }
        self.header = Some(FileHeader {
            version: buf[3],
            has_audio: buf[4] & 0x04 != 0,
            has_video: buf[4] & 0x01 != 0,
        });
        buf.advance(skip);
        self.position += skip as u64;
        Ok(true)
    }

    /// Reads `PreviousTagSize` and the tag after it.
    fn decode_tag(&mut self, buf: &mut BytesMut) -> Result<Option<Tag>> {
        const FIXED: usize = PREV_SIZE_LEN + TAG_HEADER_SIZE;
        if buf.len() < FIXED {
            return Ok(None);
        }
        let offset = self.position + PREV_SIZE_LEN as u64;
        let h = &buf[PREV_SIZE_LEN..FIXED];
        let size = be_u24(&h[1..4]) as usize;
        if size > self.max_tag_size {
            return Err(Error::TagTooLarge {
                offset,
                size,
                max: self.max_tag_size,
            });
        }
        if buf.len() < FIXED + size {
            return Ok(None);
        }
        let timestamp = be_u24(&h[4..7]) | (u32::from(h[7]) << 24);
        let tag_type = TagType::from_u8(h[0]);
        let encrypted = h[0] & 0x20 != 0;
        self.check_prev(be_u32(&buf[..PREV_SIZE_LEN]));
        buf.advance(FIXED);
        let body = buf.split_to(size).freeze();
        self.position += (FIXED + size) as u64;
        // size <= 16 MiB - 1 (24-bit field)
        self.expected_prev = (TAG_HEADER_SIZE + size) as u32;
        Ok(Some(Tag {
            tag_type,
            encrypted,
            timestamp,
            body,
            offset,
        }))
    }

    /// Records a warning when a PreviousTagSize (at the current position) is wrong.
    fn check_prev(&mut self, found: u32) {
        if found != self.expected_prev {
            self.warnings.push(Warning {
                offset: self.position,
                error: Error::PreviousTagSize {
                    offset: self.position,
                    expected: self.expected_prev,
                    found,
                },
            });
        }
    }
}

/// Fails as soon as the available bytes differ from the signature.
fn check_signature(buf: &[u8]) -> Result<()> {
    let n = buf.len().min(SIGNATURE.len());
    if buf[..n] != SIGNATURE[..n] {
        return Err(Error::BadSignature);
    }
    Ok(())
}

/// Big-endian u24 of the first three bytes (callers check the length).
fn be_u24(b: &[u8]) -> u32 {
    (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2])
}

/// Big-endian u32 of the first four bytes (callers check the length).
fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
