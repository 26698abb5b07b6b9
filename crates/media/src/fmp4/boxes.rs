//! Box serialisation helpers (ISO/IEC 14496-12 §4.2).
//!
//! The init segment is small and written once per stream, so it is built in a
//! `Vec` with sizes patched in afterwards. Fragments never use these helpers:
//! their box sizes are computed up front so they can be written straight into
//! any [`bytes::BufMut`].

use bytes::BufMut;

/// Length of a box header: 32-bit size and four-character type.
pub(super) const BOX_HEADER_LEN: usize = 8;

/// Length of a full box header: box header, version and 24-bit flags.
pub(super) const FULL_BOX_HEADER_LEN: usize = 12;

/// Writes a box of type `fourcc` whose body `body` appends to `buf`, then
/// patches its size.
pub(super) fn boxed(buf: &mut Vec<u8>, fourcc: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.put_u32(0);
    buf.put_slice(fourcc);
    body(buf);
    // Init segments are bounded by MAX_TRACKS * (MAX_INIT_LEN + a few hundred
    // bytes), far below 4 GiB, so the size always fits.
    let size = u32::try_from(buf.len() - start).unwrap_or(u32::MAX);
    if let Some(slot) = buf.get_mut(start..start + 4) {
        slot.copy_from_slice(&size.to_be_bytes());
    }
}

/// Writes a full box (§4.2: version and flags after the header).
pub(super) fn full_boxed(
    buf: &mut Vec<u8>,
    fourcc: &[u8; 4],
    version: u8,
    flags: u32,
    body: impl FnOnce(&mut Vec<u8>),
) {
    boxed(buf, fourcc, |b| {
        b.put_u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
        body(b);
    });
}

/// Writes a box header of `size` bytes (header included).
pub(super) fn put_header(out: &mut impl BufMut, size: u32, fourcc: &[u8; 4]) {
    out.put_u32(size);
    out.put_slice(fourcc);
}

/// Writes a full box header of `size` bytes (header included).
pub(super) fn put_full_header(out: &mut impl BufMut, size: u32, fourcc: &[u8; 4], version: u8, flags: u32) {
    put_header(out, size, fourcc);
    out.put_u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
}

/// The unity transformation matrix of `mvhd` and `tkhd` (§8.2.2.3).
pub(super) fn put_unity_matrix(out: &mut impl BufMut) {
    for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        out.put_u32(v);
    }
}

/// Writes an MPEG-4 descriptor header (ISO/IEC 14496-1 §7.2.2.1) with the
/// length in the 4-byte expandable form, as most muxers do.
pub(super) fn put_descriptor_header(out: &mut impl BufMut, tag: u8, len: usize) {
    // Descriptor bodies here are bounded by MAX_INIT_LEN, well below 2^28.
    let len = u32::try_from(len).unwrap_or(u32::MAX).min((1 << 28) - 1);
    out.put_u8(tag);
    out.put_u8(0x80 | ((len >> 21) & 0x7f) as u8);
    out.put_u8(0x80 | ((len >> 14) & 0x7f) as u8);
    out.put_u8(0x80 | ((len >> 7) & 0x7f) as u8);
    out.put_u8((len & 0x7f) as u8);
}

/// Length of a descriptor header as [`put_descriptor_header`] writes it.
pub(super) const DESCRIPTOR_HEADER_LEN: usize = 5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_boxes_get_their_sizes() {
        let mut buf = Vec::new();
        boxed(&mut buf, b"moov", |b| {
            full_boxed(b, b"mvhd", 1, 0x123456, |b| b.put_u8(7));
        });
        assert_eq!(
            buf,
            [
                0, 0, 0, 21, b'm', b'o', b'o', b'v', 0, 0, 0, 13, b'm', b'v', b'h', b'd', 1, 0x12, 0x34,
                0x56, 7
            ]
        );
    }

    #[test]
    fn descriptor_length_is_expandable() {
        let mut buf = Vec::new();
        put_descriptor_header(&mut buf, 5, 200);
        assert_eq!(buf, [5, 0x80, 0x80, 0x81, 0x48]);
    }
}
