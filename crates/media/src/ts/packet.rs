//! Transport stream packets (ISO/IEC 13818-1 §2.4.3.2) and their adaptation
//! field (§2.4.3.4): parsing and writing.

use bytes::BufMut;

use super::{PACKET_SIZE, SYNC_BYTE};

/// Bytes of a packet after its 4-byte header.
pub(crate) const BODY_SIZE: usize = PACKET_SIZE - 4;

/// A parsed transport packet, borrowing its payload (§2.4.3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Packet<'a> {
    /// `transport_error_indicator`.
    pub(crate) transport_error: bool,
    /// `payload_unit_start_indicator`.
    pub(crate) pusi: bool,
    /// `PID`.
    pub(crate) pid: u16,
    /// `transport_scrambling_control != 0`.
    pub(crate) scrambled: bool,
    /// `adaptation_field_control` says a payload follows.
    pub(crate) has_payload: bool,
    /// `continuity_counter`.
    pub(crate) cc: u8,
    /// Fields of the adaptation field (all unset when there is none).
    pub(crate) af: AdaptationField,
    /// The payload (empty when there is none).
    pub(crate) payload: &'a [u8],
}

/// The adaptation field fields the demuxer uses (§2.4.3.4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AdaptationField {
    /// `discontinuity_indicator`.
    pub(crate) discontinuity: bool,
    /// `random_access_indicator`.
    pub(crate) random_access: bool,
    /// `program_clock_reference` in 27 MHz units (`base * 300 + extension`).
    pub(crate) pcr: Option<u64>,
}

/// What to put in the header and adaptation field of a packet being written.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Header {
    /// `PID`.
    pub(crate) pid: u16,
    /// `payload_unit_start_indicator`.
    pub(crate) pusi: bool,
    /// `continuity_counter` (low 4 bits used).
    pub(crate) cc: u8,
    /// Set `random_access_indicator`.
    pub(crate) random_access: bool,
    /// `program_clock_reference_base` (90 kHz, wrapped to 33 bits), extension 0.
    pub(crate) pcr: Option<u64>,
}

// === impl Packet ===

impl<'a> Packet<'a> {
    /// Parses one packet. `data` must be exactly [`PACKET_SIZE`] bytes starting
    /// with the sync byte; the error names what is malformed.
    pub(crate) fn parse(data: &'a [u8]) -> Result<Self, &'static str> {
        if data.len() != PACKET_SIZE || data[0] != SYNC_BYTE {
            return Err("not a 188-byte packet starting with 0x47");
        }
        let afc = (data[3] >> 4) & 3;
        let mut pkt = Self {
            transport_error: data[1] & 0x80 != 0,
            pusi: data[1] & 0x40 != 0,
            pid: u16::from_be_bytes([data[1] & 0x1f, data[2]]),
            scrambled: data[3] & 0xc0 != 0,
            has_payload: afc & 1 != 0,
            cc: data[3] & 0x0f,
            af: AdaptationField::default(),
            payload: &[],
        };
        let mut pos = 4;
        if afc & 2 != 0 {
            let len = usize::from(data[4]);
            // with a payload the field leaves at least one byte for it
            let max = if pkt.has_payload {
                BODY_SIZE - 2
            } else {
                BODY_SIZE - 1
            };
            if len > max {
                return Err("adaptation_field_length exceeds the packet");
            }
            pkt.af = AdaptationField::parse(&data[5..5 + len]);
            pos = 5 + len;
        }
        if afc == 0 {
            return Err("reserved adaptation_field_control 00");
        }
        if pkt.has_payload {
            pkt.payload = &data[pos..];
        }
        Ok(pkt)
    }
}

// === impl AdaptationField ===

impl AdaptationField {
    /// Parses the bytes after `adaptation_field_length`.
    fn parse(af: &[u8]) -> Self {
        let Some(&flags) = af.first() else {
            return Self::default();
        };
        let pcr = match af.get(1..7) {
            Some(p) if flags & 0x10 != 0 => {
                let base = (u64::from(p[0]) << 25)
                    | (u64::from(p[1]) << 17)
                    | (u64::from(p[2]) << 9)
                    | (u64::from(p[3]) << 1)
                    | u64::from(p[4] >> 7);
                let ext = (u64::from(p[4] & 1) << 8) | u64::from(p[5]);
                Some(base * 300 + ext)
            }
            _ => None,
        };
        Self {
            discontinuity: flags & 0x80 != 0,
            random_access: flags & 0x40 != 0,
            pcr,
        }
    }
}

// === impl Header ===

impl Header {
    /// Bytes of adaptation field this header needs before any stuffing
    /// (length byte, flags, PCR), or 0 when it needs none.
    pub(crate) fn af_len(&self) -> usize {
        if self.random_access || self.pcr.is_some() {
            2 + if self.pcr.is_some() { 6 } else { 0 }
        } else {
            0
        }
    }

    /// Payload bytes that fit into a packet with this header.
    pub(crate) fn capacity(&self) -> usize {
        BODY_SIZE - self.af_len()
    }

    /// Writes a packet with only an adaptation field carrying the PCR (no
    /// payload, so the continuity counter is not advanced, §2.4.3.3).
    pub(crate) fn write_pcr_only(pid: u16, cc: u8, pcr: u64, out: &mut impl BufMut) {
        out.put_u8(SYNC_BYTE);
        out.put_u8((pid >> 8) as u8 & 0x1f);
        out.put_u8(pid as u8);
        out.put_u8(0x20 | (cc & 0x0f));
        out.put_u8((BODY_SIZE - 1) as u8);
        out.put_u8(0x10);
        put_pcr(pcr, out);
        out.put_bytes(0xff, BODY_SIZE - 8);
    }

    /// Writes one packet carrying `payload` (at most [`Self::capacity`] bytes,
    /// the caller's invariant; longer payloads are cut). A short payload is
    /// padded with adaptation field stuffing (§2.4.3.5).
    pub(crate) fn write(&self, payload: &[u8], out: &mut impl BufMut) {
        let payload = &payload[..payload.len().min(self.capacity())];
        let af_total = BODY_SIZE - payload.len();
        let afc: u8 = if af_total > 0 { 0x30 } else { 0x10 };
        out.put_u8(SYNC_BYTE);
        out.put_u8(if self.pusi { 0x40 } else { 0 } | ((self.pid >> 8) as u8 & 0x1f));
        out.put_u8(self.pid as u8);
        out.put_u8(afc | (self.cc & 0x0f));
        if af_total > 0 {
            out.put_u8((af_total - 1) as u8);
        }
        if af_total > 1 {
            let mut flags = 0;
            if self.random_access {
                flags |= 0x40;
            }
            if self.pcr.is_some() {
                flags |= 0x10;
            }
            out.put_u8(flags);
            let mut used = 2;
            if let Some(base) = self.pcr {
                put_pcr(base, out);
                used += 6;
            }
            out.put_bytes(0xff, af_total - used);
        }
        out.put_slice(payload);
    }
}

/// Writes a 6-byte `program_clock_reference` with this base (wrapped to 33
/// bits) and extension 0.
fn put_pcr(base: u64, out: &mut impl BufMut) {
    let base = base & super::pes::TS_MASK;
    out.put_u32((base >> 1) as u32);
    // last base bit, 6 reserved bits, extension 0
    out.put_u8(((base & 1) as u8) << 7 | 0x7e);
    out.put_u8(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_with_pcr_and_stuffing() {
        let h = Header {
            pid: 0x101,
            pusi: true,
            cc: 7,
            random_access: true,
            pcr: Some((1 << 33) - 1),
        };
        let mut out = Vec::new();
        h.write(&[1, 2, 3], &mut out);
        assert_eq!(out.len(), PACKET_SIZE);
        let p = Packet::parse(&out).unwrap();
        assert_eq!((p.pid, p.pusi, p.cc, p.has_payload), (0x101, true, 7, true));
        assert!(p.af.random_access && !p.af.discontinuity);
        assert_eq!(p.af.pcr, Some(((1 << 33) - 1) * 300));
        assert_eq!(p.payload, &[1, 2, 3]);
    }

    #[test]
    fn one_byte_of_stuffing_is_an_empty_adaptation_field() {
        let h = Header {
            pid: 0x100,
            ..Header::default()
        };
        let mut out = Vec::new();
        h.write(&[9; BODY_SIZE - 1], &mut out);
        assert_eq!(out.len(), PACKET_SIZE);
        assert_eq!(out[4], 0);
        let p = Packet::parse(&out).unwrap();
        assert_eq!(p.payload.len(), BODY_SIZE - 1);
        let mut full = Vec::new();
        h.write(&[9; BODY_SIZE], &mut full);
        assert_eq!(Packet::parse(&full).unwrap().payload.len(), BODY_SIZE);
    }

    #[test]
    fn pcr_only_packet() {
        let mut out = Vec::new();
        Header::write_pcr_only(0x100, 3, 12345, &mut out);
        assert_eq!(out.len(), PACKET_SIZE);
        let p = Packet::parse(&out).unwrap();
        assert!(!p.has_payload && p.payload.is_empty());
        assert_eq!(p.af.pcr, Some(12345 * 300));
    }

    #[test]
    fn oversized_adaptation_field_is_rejected() {
        let mut p = [0u8; PACKET_SIZE];
        p[0] = SYNC_BYTE;
        p[3] = 0x30;
        p[4] = 183;
        assert!(Packet::parse(&p).is_err());
        p[3] = 0x20;
        assert!(Packet::parse(&p).is_ok());
    }
}
