//! NAL unit framing shared by H.264 and H.265: Annex-B byte streams (start
//! codes, as in MPEG-TS) and length-prefixed units (as in MP4, FLV, and the
//! canonical [`crate::Frame`] payload, with 4-byte lengths).

use bytes::{BufMut, Bytes, BytesMut};

/// Length of the NAL size prefix in canonical frame payloads.
pub const LENGTH_SIZE: usize = 4;

/// Errors of NAL framing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A length prefix points past the end of the payload.
    #[error("nal unit at byte {offset} claims {length} bytes but only {available} remain")]
    LyingLength {
        /// Byte offset of the length prefix.
        offset: usize,
        /// The claimed length.
        length: usize,
        /// Bytes left after the prefix.
        available: usize,
    },
    /// A length prefix is cut off at the end of the payload.
    #[error("truncated nal length prefix at byte {offset}")]
    TruncatedPrefix {
        /// Byte offset of the prefix.
        offset: usize,
    },
    /// A NAL unit is too large for the prefix size.
    #[error("nal unit of {0} bytes does not fit its length prefix")]
    TooLarge(usize),
    /// Unsupported length prefix size (valid are 1, 2 and 4).
    #[error("unsupported nal length size {0}")]
    BadLengthSize(usize),
}

/// Result of NAL framing.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Iterates over the NAL units of an Annex-B byte stream (3- or 4-byte start
/// codes). Bytes before the first start code are skipped. Trailing zero bytes
/// of a unit (`trailing_zero_8bits`) are not part of it.
pub fn split_annexb(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut pos = find_start_code(data, 0).map(|(_, end)| end);
    std::iter::from_fn(move || {
        let start = pos?;
        let (unit_end, next) = match find_start_code(data, start) {
            Some((sc, end)) => (sc, Some(end)),
            None => (data.len(), None),
        };
        pos = next;
        let mut end = unit_end;
        while end > start && data[end - 1] == 0 {
            end -= 1;
        }
        Some(&data[start..end])
    })
    .filter(|u| !u.is_empty())
}

/// Finds the next `00 00 01` at or after `from`: returns (its start, the index after it).
fn find_start_code(data: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i + 3 <= data.len() {
        if data[i + 2] > 1 {
            i += 3;
        } else if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            return Some((i, i + 3));
        } else {
            i += 1;
        }
    }
    None
}

/// Converts an Annex-B access unit into canonical length-prefixed form.
pub fn annexb_to_length_prefixed(data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + 16);
    for unit in split_annexb(data) {
        // A single NAL unit cannot exceed the input, which is far below 4 GiB
        // for anything a caller holds in memory.
        out.put_u32(unit.len() as u32);
        out.put_slice(unit);
    }
    out.freeze()
}

/// Appends the NAL units of a canonical (4-byte length-prefixed) payload to
/// `out` as Annex-B with 4-byte start codes. The output is then exactly as
/// long as the input.
pub fn length_prefixed_to_annexb(data: &[u8], out: &mut impl BufMut) -> Result<()> {
    for unit in iter_length_prefixed(data, LENGTH_SIZE) {
        out.put_slice(&[0, 0, 0, 1]);
        out.put_slice(unit?);
    }
    Ok(())
}

/// Iterates over length-prefixed NAL units with `length_size`-byte prefixes.
pub fn iter_length_prefixed(data: &[u8], length_size: usize) -> impl Iterator<Item = Result<&[u8]>> {
    let mut pos = 0usize;
    let mut failed = !matches!(length_size, 1 | 2 | 4);
    let mut first = failed;
    std::iter::from_fn(move || {
        if first {
            first = false;
            return Some(Err(Error::BadLengthSize(length_size)));
        }
        if failed || pos >= data.len() {
            return None;
        }
        if pos + length_size > data.len() {
            failed = true;
            return Some(Err(Error::TruncatedPrefix { offset: pos }));
        }
        let len = data[pos..pos + length_size]
            .iter()
            .fold(0usize, |a, b| (a << 8) | usize::from(*b));
        let available = data.len() - pos - length_size;
        if len > available {
            failed = true;
            return Some(Err(Error::LyingLength {
                offset: pos,
                length: len,
                available,
            }));
        }
        let unit = &data[pos + length_size..pos + length_size + len];
        pos += length_size + len;
        Some(Ok(unit))
    })
}

/// Re-frames length-prefixed units with `length_size`-byte prefixes into the
/// canonical 4-byte form.
pub fn to_canonical(data: &[u8], length_size: usize) -> Result<Bytes> {
    if length_size == LENGTH_SIZE {
        // validate, then share the input as is
        for unit in iter_length_prefixed(data, LENGTH_SIZE) {
            unit?;
        }
        return Ok(Bytes::copy_from_slice(data));
    }
    let mut out = BytesMut::with_capacity(data.len() + 16);
    for unit in iter_length_prefixed(data, length_size) {
        let unit = unit?;
        out.put_u32(unit.len() as u32);
        out.put_slice(unit);
    }
    Ok(out.freeze())
}

/// Builds a canonical payload from NAL units.
pub fn join_length_prefixed<'a>(units: impl IntoIterator<Item = &'a [u8]>) -> Bytes {
    let mut out = BytesMut::new();
    for u in units {
        out.put_u32(u.len() as u32);
        out.put_slice(u);
    }
    out.freeze()
}

/// A decoder configuration record (`avcC`, `hvcC`) ends before a field:
/// the byte offset where data ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Truncated(pub(crate) usize);

/// Checks that a decoder configuration record has `n` bytes at `offset`.
pub(crate) fn need(record: &[u8], offset: usize, n: usize) -> Result<(), Truncated> {
    if offset + n > record.len() {
        Err(Truncated(offset))
    } else {
        Ok(())
    }
}

/// Reads a parameter set of a decoder configuration record at `*pos`: a
/// 16-bit length, then the NAL unit; moves `pos` past it.
pub(crate) fn read_parameter_set(record: &[u8], pos: &mut usize) -> Result<Bytes, Truncated> {
    let at = *pos;
    need(record, at, 2)?;
    let len = usize::from(u16::from_be_bytes([record[at], record[at + 1]]));
    need(record, at + 2, len)?;
    *pos = at + 2 + len;
    Ok(Bytes::copy_from_slice(&record[at + 2..at + 2 + len]))
}

/// Writes a parameter set into a decoder configuration record: a 16-bit
/// length, then the NAL unit (cut at 65535 bytes).
pub(crate) fn put_parameter_set(out: &mut impl BufMut, unit: &[u8]) {
    let len = unit.len().min(u16::MAX as usize);
    out.put_u16(len as u16);
    out.put_slice(&unit[..len]);
}

/// Removes emulation-prevention bytes (`00 00 03` -> `00 00`), giving the RBSP
/// of a NAL unit (H.264 §7.4.1).
pub fn unescape_rbsp(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut zeros = 0;
    for &b in data {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Inserts emulation-prevention bytes into an RBSP (inverse of [`unescape_rbsp`]).
pub fn escape_rbsp(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 64);
    let mut zeros = 0;
    for &b in data {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_three_and_four_byte_start_codes() {
        let data = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5, 0,
        ];
        let units: Vec<&[u8]> = split_annexb(&data).collect();
        assert_eq!(units, vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4, 5][..]]);
    }

    #[test]
    fn lying_length_is_reported_with_offset() {
        let data = [0, 0, 0, 2, 9, 9, 0, 0, 0, 9, 1];
        let err = iter_length_prefixed(&data, 4).find_map(|r| r.err()).unwrap();
        assert_eq!(
            err,
            Error::LyingLength {
                offset: 6,
                length: 9,
                available: 1
            }
        );
        assert!(err.to_string().contains("byte 6"));
    }

    fn nal_units() -> impl Strategy<Value = Vec<Vec<u8>>> {
        // a NAL unit starts with a non-zero header byte and has escaped content
        proptest::collection::vec(
            (1u8..=255, proptest::collection::vec(any::<u8>(), 0..40)).prop_map(|(h, body)| {
                let mut u = vec![h];
                u.extend(escape_rbsp(&body));
                if u.last() == Some(&0) {
                    u.push(0x80);
                }
                u
            }),
            1..8,
        )
    }

    proptest! {
        #[test]
        fn annexb_round_trip(units in nal_units()) {
            let canon = join_length_prefixed(units.iter().map(|u| u.as_slice()));
            let mut annexb = BytesMut::new();
            length_prefixed_to_annexb(&canon, &mut annexb).unwrap();
            prop_assert_eq!(annexb.len(), canon.len());
            prop_assert_eq!(annexb_to_length_prefixed(&annexb), canon);
        }

        #[test]
        fn rbsp_escape_round_trip(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let escaped = escape_rbsp(&data);
            prop_assert!(split_annexb(&escaped).next().is_none() || !escaped.windows(3).any(|w| w == [0, 0, 1]));
            prop_assert_eq!(unescape_rbsp(&escaped), data);
        }

        #[test]
        fn arbitrary_input_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200), ls in 0usize..6) {
            let _ = split_annexb(&data).count();
            let _ = iter_length_prefixed(&data, ls).count();
            let _ = to_canonical(&data, ls);
        }
    }
}
