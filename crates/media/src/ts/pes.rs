//! PES packets (ISO/IEC 13818-1 §2.4.3.6/§2.4.3.7): header parsing and
//! writing, and the 33-bit PTS/DTS clock with its wrap-around.

use bytes::BufMut;

/// Mask of a 33-bit PTS/DTS/PCR base value.
pub(crate) const TS_MASK: u64 = (1 << 33) - 1;
/// Period of the 33-bit 90 kHz clock (about 26.5 hours).
pub(crate) const TS_WRAP: i64 = 1 << 33;

/// A parsed PES packet, borrowing its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pes<'a> {
    /// `stream_id`.
    pub(crate) stream_id: u8,
    /// Raw 33-bit `PTS`.
    pub(crate) pts: Option<u64>,
    /// Raw 33-bit `DTS`.
    pub(crate) dts: Option<u64>,
    /// `PES_packet_data_byte`s.
    pub(crate) payload: &'a [u8],
}

// === impl Pes ===

impl<'a> Pes<'a> {
    /// Parses a complete PES packet. Bytes after a non-zero
    /// `PES_packet_length` are ignored; the error names what is malformed.
    pub(crate) fn parse(buf: &'a [u8]) -> Result<Self, &'static str> {
        if buf.len() < 6 {
            return Err("pes packet shorter than its 6-byte start");
        }
        if buf[..3] != [0, 0, 1] {
            return Err("pes packet without packet_start_code_prefix");
        }
        let stream_id = buf[3];
        let declared = usize::from(u16::from_be_bytes([buf[4], buf[5]]));
        let data = if declared == 0 {
            buf
        } else {
            buf.get(..6 + declared)
                .ok_or("pes packet shorter than its PES_packet_length")?
        };
        // §2.4.3.7, Table 2-22: these stream ids carry no optional header
        if matches!(stream_id, 0xbc | 0xbe | 0xbf | 0xf0 | 0xf1 | 0xf2 | 0xf8 | 0xff) {
            return Ok(Self {
                stream_id,
                pts: None,
                dts: None,
                payload: &data[6..],
            });
        }
        if data.len() < 9 || data[6] & 0xc0 != 0x80 {
            return Err("pes optional header missing or without its '10' marker");
        }
        let header_len = usize::from(data[8]);
        let payload = data
            .get(9 + header_len..)
            .ok_or("pes header_data_length exceeds the packet")?;
        let fields = &data[9..9 + header_len];
        let (pts, dts) = match data[7] >> 6 {
            2 => (Some(read_ts(fields, 0)?), None),
            3 => (Some(read_ts(fields, 0)?), Some(read_ts(fields, 5)?)),
            _ => (None, None),
        };
        Ok(Self {
            stream_id,
            pts,
            dts,
            payload,
        })
    }
}

/// Reads a 5-byte PTS/DTS field at `at` (marker bits are not checked).
fn read_ts(fields: &[u8], at: usize) -> Result<u64, &'static str> {
    let b = fields
        .get(at..at + 5)
        .ok_or("pes header_data_length too short for its PTS/DTS")?;
    Ok((u64::from(b[0] >> 1 & 7) << 30)
        | (u64::from(b[1]) << 22)
        | (u64::from(b[2] >> 1) << 15)
        | (u64::from(b[3]) << 7)
        | u64::from(b[4] >> 1))
}

/// Writes a 5-byte PTS/DTS field with 4-bit `prefix` (§2.4.3.7); the value
/// is wrapped to 33 bits.
fn write_ts(prefix: u8, ts: u64, out: &mut impl BufMut) {
    let ts = ts & TS_MASK;
    out.put_u8(prefix << 4 | ((ts >> 29) as u8 & 0x0e) | 1);
    out.put_u16((((ts >> 14) & 0xfffe) | 1) as u16);
    out.put_u16((((ts << 1) & 0xfffe) | 1) as u16);
}

/// Length of the PES header [`write_header`] writes.
pub(crate) fn header_len(with_dts: bool) -> usize {
    if with_dts { 19 } else { 14 }
}

/// Writes a PES header with PTS (and DTS when given) for `payload_len` bytes
/// of payload. `PES_packet_length` is 0 ("unbounded", allowed for video
/// only, §2.4.3.7) when the packet would not fit 16 bits.
pub(crate) fn write_header(
    stream_id: u8,
    pts: u64,
    dts: Option<u64>,
    payload_len: usize,
    out: &mut impl BufMut,
) {
    let optional = header_len(dts.is_some()) - 6;
    let length = u16::try_from(optional + payload_len).unwrap_or(0);
    out.put_slice(&[0, 0, 1, stream_id]);
    out.put_u16(length);
    // '10', not scrambled, data_alignment_indicator (payload starts with an access unit)
    out.put_u8(0x84);
    match dts {
        Some(dts) => {
            out.put_u8(0xc0);
            out.put_u8(10);
            write_ts(0b0011, pts, out);
            write_ts(0b0001, dts, out);
        }
        None => {
            out.put_u8(0x80);
            out.put_u8(5);
            write_ts(0b0010, pts, out);
        }
    }
}

/// Unwraps a raw 33-bit timestamp into the value congruent to it modulo
/// 2^33 that is nearest to `reference` (an already unwrapped timestamp of the
/// same track). Without a reference the raw value is taken as is.
///
/// A stream that wraps from 2^33 - 1 to 0 thus keeps counting upwards; a
/// jump of more than 2^32 ticks (13.3 hours) in either direction cannot be
/// told from a wrap and is read as the shorter way round.
pub(crate) fn unwrap_ts(raw: u64, reference: Option<i64>) -> i64 {
    let raw = (raw & TS_MASK) as i64;
    let Some(r) = reference else {
        return raw;
    };
    let mut cand = r.saturating_sub(r.rem_euclid(TS_WRAP)).saturating_add(raw);
    let half = TS_WRAP / 2;
    if cand.saturating_sub(r) > half {
        cand = cand.saturating_sub(TS_WRAP);
    } else if r.saturating_sub(cand) > half {
        cand = cand.saturating_add(TS_WRAP);
    }
    cand
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_round_trip() {
        let mut out = Vec::new();
        write_header(0xe0, TS_MASK, Some(12345), 3, &mut out);
        out.extend_from_slice(&[7, 8, 9]);
        let pes = Pes::parse(&out).unwrap();
        assert_eq!(pes.stream_id, 0xe0);
        assert_eq!(pes.pts, Some(TS_MASK));
        assert_eq!(pes.dts, Some(12345));
        assert_eq!(pes.payload, &[7, 8, 9]);
        assert_eq!(out.len(), header_len(true) + 3);
    }

    #[test]
    fn unbounded_length_when_too_long() {
        let mut out = Vec::new();
        write_header(0xe0, 1, None, 70_000, &mut out);
        assert_eq!(&out[4..6], &[0, 0]);
    }

    #[test]
    fn truncated_and_lying_headers_are_errors() {
        assert!(Pes::parse(&[0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5, 0x21]).is_err());
        assert!(Pes::parse(&[0, 0, 1, 0xe0, 0, 9, 0x80, 0x00, 0]).is_err());
        assert!(Pes::parse(&[0, 0, 2, 0xe0, 0, 0]).is_err());
        let p = Pes::parse(&[0, 0, 1, 0xbe, 0, 2, 0xff, 0xff, 0xff]).unwrap();
        assert_eq!(p.payload, &[0xff, 0xff]);
    }

    #[test]
    fn pts_wrap_is_unwrapped_upwards() {
        let before = unwrap_ts(TS_MASK - 10, None);
        assert_eq!(before, TS_WRAP - 11);
        let after = unwrap_ts(5, Some(before));
        assert_eq!(after, TS_WRAP + 5);
        // a B-frame pts slightly below the reference across the wrap
        assert_eq!(unwrap_ts(TS_MASK, Some(after)), TS_WRAP - 1);
        // and far later, a second wrap
        assert_eq!(unwrap_ts(3, Some(2 * TS_WRAP - 4)), 2 * TS_WRAP + 3);
    }

    proptest! {
        #[test]
        fn unwrap_is_monotonic_for_small_steps(start in 0u64..(1 << 33), steps in proptest::collection::vec(0i64..(1 << 31), 1..50)) {
            let mut truth = start as i64;
            let mut last = unwrap_ts(start, None);
            prop_assert_eq!(last, truth);
            for s in steps {
                truth += s;
                let got = unwrap_ts(truth as u64 & TS_MASK, Some(last));
                prop_assert_eq!(got, truth);
                last = got;
            }
        }

        #[test]
        fn ts_field_round_trip(ts in 0u64..(1 << 33)) {
            let mut out = Vec::new();
            write_ts(2, ts, &mut out);
            prop_assert_eq!(read_ts(&out, 0).unwrap(), ts);
        }

        #[test]
        fn arbitrary_pes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Pes::parse(&data);
        }
    }
}
