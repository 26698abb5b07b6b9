//! Box headers and bounded byte cursors (ISO/IEC 14496-12 §4.2).
//!
//! A box is `size: u32, type: [u8; 4]`, followed by `largesize: u64` when
//! `size == 1`; `size == 0` means "to the end of the enclosing box (or file)".
//! Every child box must fit in its parent. Boxes remember their path from the
//! file root (`moov/trak/mdia/...`) and their absolute byte offset, so that
//! errors can name both.

use std::fmt;

use super::{Error, Result};

/// Deepest box nesting the reader follows. The reader only descends into
/// boxes it knows (the deepest is `moov/trak/mdia/minf/stbl/stsd/avc1/avcC`,
/// 8 levels), so this is a safety net rather than a tuning knob.
pub(super) const MAX_DEPTH: usize = 12;

/// The chain of box types from the file root to a box.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Path {
    items: [[u8; 4]; MAX_DEPTH],
    len: usize,
}

/// One box: its type, where it is, and its body (the bytes after the header).
#[derive(Clone, Copy, Debug)]
pub(super) struct Mp4Box<'a> {
    /// Four-character code.
    pub(super) fourcc: [u8; 4],
    /// Path including this box.
    pub(super) path: Path,
    /// Offset of the box header, relative to the start of the parsed buffer.
    pub(super) offset: u64,
    /// Offset of the body.
    pub(super) body_offset: u64,
    /// The body.
    pub(super) body: &'a [u8],
}

/// Iterator over the boxes packed in a byte range.
pub(super) struct Children<'a> {
    data: &'a [u8],
    base: u64,
    pos: usize,
    parent: Path,
    failed: bool,
    /// At the top level, a truncated `mdat` is clamped to the bytes present
    /// (its samples are bounds-checked one by one later).
    top_level: bool,
}

/// A bounds-checked reader over a box body. Reads past the end are
/// `Error::Truncated` naming the box and the offset of the missing byte.
pub(super) struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    base: u64,
    path: Path,
}

/// Prints a four-character code, escaping non-printable bytes.
pub(super) fn fourcc_str(fourcc: [u8; 4]) -> String {
    fourcc
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

// === impl Path ===

impl Path {
    /// The file root (empty path).
    pub(super) const ROOT: Self = Self {
        items: [[0; 4]; MAX_DEPTH],
        len: 0,
    };

    /// The path of a child box, or `None` when that would exceed [`MAX_DEPTH`].
    pub(super) fn child(self, fourcc: [u8; 4]) -> Option<Self> {
        let mut out = self;
        *out.items.get_mut(self.len)? = fourcc;
        out.len += 1;
        Some(out)
    }

    /// Number of boxes on the path.
    pub(super) fn depth(&self) -> usize {
        self.len
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.items.iter().take(self.len).enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            f.write_str(&fourcc_str(*item))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Path({self})")
    }
}

// === impl Mp4Box ===

impl<'a> Mp4Box<'a> {
    /// The boxes inside this box's body.
    pub(super) fn children(&self) -> Children<'a> {
        Children::new(self.body, self.body_offset, self.path)
    }

    /// The boxes inside this box's body after skipping `skip` bytes of fields
    /// (sample entries and `stsd` have fields before their child boxes).
    pub(super) fn children_after(&self, skip: usize) -> Result<Children<'a>> {
        let rest = self
            .body
            .get(skip..)
            .ok_or_else(|| self.truncated(self.body.len()))?;
        Ok(Children::new(rest, self.body_offset + skip as u64, self.path))
    }

    /// A cursor over the whole body.
    pub(super) fn cursor(&self) -> Cursor<'a> {
        Cursor {
            data: self.body,
            pos: 0,
            base: self.body_offset,
            path: self.path,
        }
    }

    /// Reads the FullBox header: returns (version, flags, cursor after them).
    pub(super) fn full(&self) -> Result<(u8, u32, Cursor<'a>)> {
        let mut c = self.cursor();
        let version = c.u8()?;
        let flags = c.u24()?;
        Ok((version, flags, c))
    }

    /// The first child of type `fourcc`, if any.
    pub(super) fn find(&self, fourcc: &[u8; 4]) -> Result<Option<Self>> {
        for child in self.children() {
            let child = child?;
            if &child.fourcc == fourcc {
                return Ok(Some(child));
            }
        }
        Ok(None)
    }

    /// The first child of type `fourcc`, or `Error::MissingBox`.
    pub(super) fn require(&self, fourcc: &[u8; 4]) -> Result<Self> {
        self.find(fourcc)?.ok_or_else(|| Error::MissingBox {
            name: fourcc_str(*fourcc),
            parent: self.path.to_string(),
            offset: self.offset,
        })
    }

    /// An `Error::Invalid` about this box.
    pub(super) fn invalid(&self, reason: impl Into<String>) -> Error {
        Error::Invalid {
            path: self.path.to_string(),
            offset: self.offset,
            reason: reason.into(),
        }
    }

    fn truncated(&self, at: usize) -> Error {
        Error::Truncated {
            path: self.path.to_string(),
            offset: self.body_offset + at as u64,
        }
    }
}

// === impl Children ===

impl<'a> Children<'a> {
    /// Boxes packed in `data`, whose first byte is at offset `base`, inside `parent`.
    pub(super) fn new(data: &'a [u8], base: u64, parent: Path) -> Self {
        Self {
            data,
            base,
            pos: 0,
            parent,
            failed: false,
            top_level: false,
        }
    }

    /// The top-level boxes of a file.
    pub(super) fn top_level(data: &'a [u8], base: u64) -> Self {
        Self {
            top_level: true,
            ..Self::new(data, base, Path::ROOT)
        }
    }

    fn next_box(&mut self) -> Result<Option<Mp4Box<'a>>> {
        let rest = &self.data[self.pos.min(self.data.len())..];
        if rest.is_empty() {
            return Ok(None);
        }
        let offset = self.base + self.pos as u64;
        let parent = self.parent;
        let path_of = |fourcc: [u8; 4]| {
            parent.child(fourcc).ok_or_else(|| Error::TooDeep {
                path: format!("{parent}/{}", fourcc_str(fourcc)),
                offset,
                limit: MAX_DEPTH,
            })
        };
        if rest.len() < 8 {
            if self.top_level {
                // a few stray bytes after the last top-level box: ignored
                return Ok(None);
            }
            return Err(Error::Truncated {
                path: parent.to_string(),
                offset,
            });
        }
        let size32 = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let fourcc = [rest[4], rest[5], rest[6], rest[7]];
        let path = path_of(fourcc)?;
        let (header_len, size) = match size32 {
            0 => (8usize, rest.len() as u64),
            1 => {
                let large = rest.get(8..16).ok_or(Error::Truncated {
                    path: path.to_string(),
                    offset: offset + 8,
                })?;
                let mut b = [0u8; 8];
                b.copy_from_slice(large);
                (16, u64::from_be_bytes(b))
            }
            n => (8, u64::from(n)),
        };
        if size < header_len as u64 {
            return Err(Error::Invalid {
                path: path.to_string(),
                offset,
                reason: format!("box size {size} is smaller than its {header_len}-byte header"),
            });
        }
        let available = rest.len() as u64;
        let size = if size > available {
            if self.top_level && &fourcc == b"mdat" {
                available
            } else if parent.depth() == 0 {
                return Err(Error::Truncated {
                    path: path.to_string(),
                    offset,
                });
            } else {
                return Err(Error::BadSize {
                    path: path.to_string(),
                    offset,
                    size,
                    available,
                });
            }
        } else {
            size
        };
        // size <= rest.len(), so it fits in usize
        let size = size as usize;
        self.pos += size;
        Ok(Some(Mp4Box {
            fourcc,
            path,
            offset,
            body_offset: offset + header_len as u64,
            body: &rest[header_len..size],
        }))
    }
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<Mp4Box<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.next_box() {
            Ok(b) => b.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

// === impl Cursor ===

impl<'a> Cursor<'a> {
    /// Absolute offset of the next byte.
    pub(super) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Bytes left.
    pub(super) fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// The next `n` bytes.
    pub(super) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.data.len());
        let end = end.ok_or_else(|| Error::Truncated {
            path: self.path.to_string(),
            offset: self.base + self.data.len() as u64,
        })?;
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// A cursor over the next `n` bytes (which this cursor skips).
    pub(super) fn sub(&mut self, n: usize) -> Result<Self> {
        let base = self.offset();
        let data = self.bytes(n)?;
        Ok(Cursor {
            data,
            pos: 0,
            base,
            path: self.path,
        })
    }

    /// Skips `n` bytes.
    pub(super) fn skip(&mut self, n: usize) -> Result<()> {
        self.bytes(n).map(|_| ())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    /// One byte.
    pub(super) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    /// Big-endian u16.
    pub(super) fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Big-endian 24-bit unsigned.
    pub(super) fn u24(&mut self) -> Result<u32> {
        let [a, b, c] = self.array()?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }

    /// Big-endian u32.
    pub(super) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Big-endian i32.
    pub(super) fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    /// Big-endian u64.
    pub(super) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Big-endian i64.
    pub(super) fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// A u32 for version 0 or a u64 for version 1 (the usual FullBox pattern).
    pub(super) fn u32_or_u64(&mut self, version: u8) -> Result<u64> {
        if version == 1 {
            self.u64()
        } else {
            self.u32().map(u64::from)
        }
    }

    /// Checks that a table of `count` entries of `entry_size` bytes fits in
    /// the rest of the body, before anything is allocated for it. Returns the
    /// count as `usize`.
    pub(super) fn table(&self, what: &'static str, count: u64, entry_size: usize) -> Result<usize> {
        let fits = (self.remaining() / entry_size.max(1)) as u64;
        if count > fits {
            return Err(Error::TooMany {
                path: self.path.to_string(),
                offset: self.offset(),
                what,
                count,
                limit: fits,
                reason: "entries that fit in the box",
            });
        }
        // count <= remaining bytes, so it fits in usize
        Ok(count as usize)
    }

    /// The path of the box being read, for errors.
    pub(super) fn path_string(&self) -> String {
        self.path.to_string()
    }

    /// An `Error::Invalid` at the current position.
    pub(super) fn invalid(&self, reason: impl Into<String>) -> Error {
        Error::Invalid {
            path: self.path.to_string(),
            offset: self.offset(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxes(data: &[u8]) -> Vec<Result<([u8; 4], u64, usize)>> {
        Children::new(data, 0, Path::ROOT)
            .map(|r| r.map(|b| (b.fourcc, b.offset, b.body.len())))
            .collect()
    }

    #[test]
    fn sizes_zero_one_and_plain() {
        let mut data = vec![0, 0, 0, 9, b'a', b'b', b'c', b'd', 7];
        data.extend([0, 0, 0, 1, b'l', b'a', b'r', b'g', 0, 0, 0, 0, 0, 0, 0, 17, 1]);
        data.extend([0, 0, 0, 0, b'r', b'e', b's', b't', 1, 2, 3]);
        let got: Vec<_> = boxes(&data).into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(got, vec![(*b"abcd", 0, 1), (*b"larg", 9, 1), (*b"rest", 26, 3)]);
    }

    #[test]
    fn lying_size_names_the_box() {
        let data = [
            0, 0, 0, 8, b'o', b'u', b't', b'r', 0, 0, 0, 99, b'm', b'o', b'o', b'v',
        ];
        let parent = Path::ROOT.child(*b"outr").unwrap();
        let err = Children::new(&data[8..], 8, parent).next().unwrap().unwrap_err();
        assert_eq!(
            err.to_string(),
            "box 'outr/moov' at byte 8 claims 99 bytes but only 8 remain in its parent"
        );
        let err = boxes(&data[8..]).remove(0).unwrap_err();
        assert_eq!(err.to_string(), "truncated box 'moov' at byte 0");
    }

    #[test]
    fn undersized_box_is_an_error() {
        let data = [0, 0, 0, 4, b'f', b'r', b'e', b'e'];
        assert!(boxes(&data)[0].is_err());
        let data = [0, 0, 0, 1, b'f', b'r', b'e', b'e', 0, 0, 0, 0, 0, 0, 0, 8];
        assert!(boxes(&data)[0].is_err());
    }

    #[test]
    fn depth_is_bounded() {
        let mut p = Path::ROOT;
        for _ in 0..MAX_DEPTH {
            p = p.child(*b"abcd").unwrap();
        }
        assert!(p.child(*b"abcd").is_none());
        let data = [0, 0, 0, 8, b'd', b'e', b'e', b'p'];
        let err = Children::new(&data, 0, p).next().unwrap().unwrap_err();
        assert!(matches!(err, Error::TooDeep { .. }), "{err}");
    }

    #[test]
    fn cursor_reports_truncation_offset() {
        let data = [0, 0, 0, 12, b's', b't', b's', b'z', 1, 2, 3, 4];
        let b = Children::new(&data, 100, Path::ROOT).next().unwrap().unwrap();
        let mut c = b.cursor();
        assert_eq!(c.u16().unwrap(), 0x0102);
        let err = c.u32().unwrap_err();
        assert_eq!(err.to_string(), "truncated box 'stsz' at byte 112");
    }
}
