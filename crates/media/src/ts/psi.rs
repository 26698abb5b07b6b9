//! Program specific information (ISO/IEC 13818-1 §2.4.4): reassembly of
//! sections from packets, and the program association (PAT, §2.4.4.3) and
//! program map (PMT, §2.4.4.8) tables.

use bytes::BufMut;

use super::crc::crc32;
use super::packet::BODY_SIZE;
use super::{PACKET_SIZE, SYNC_BYTE};

/// Largest PSI section (`section_length` is at most 4093 for private
/// sections, 1021 for PAT/PMT; plus the 3 bytes before it).
pub(crate) const MAX_SECTION_SIZE: usize = 4096;

/// `table_id` of a program association section.
pub(crate) const TABLE_PAT: u8 = 0x00;
/// `table_id` of a program map section.
pub(crate) const TABLE_PMT: u8 = 0x02;

/// Reassembles PSI sections from the payloads of one PID (§2.4.4.1/§2.4.4.2:
/// `pointer_field`, sections spanning packets, several sections per packet).
#[derive(Debug, Default)]
pub(crate) struct SectionAssembler {
    buf: Vec<u8>,
    active: bool,
}

/// A program association table: the first program's PMT PID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pat {
    /// `program_number` of the first program (number 0, the network PID, is skipped).
    pub(crate) program_number: u16,
    /// `program_map_PID` of that program.
    pub(crate) pmt_pid: u16,
}

/// A program map table (§2.4.4.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pmt {
    /// `PCR_PID`.
    pub(crate) pcr_pid: u16,
    /// Elementary streams as (`stream_type`, `elementary_PID`), in table order.
    pub(crate) streams: Vec<(u8, u16)>,
}

// === impl SectionAssembler ===

impl SectionAssembler {
    /// Drops any partial section (after a continuity gap).
    pub(crate) fn reset(&mut self) {
        self.buf.clear();
        self.active = false;
    }

    /// Feeds one packet's payload; complete sections whose CRC checks are
    /// appended to `out` as `Ok`, broken ones as `Err` naming the fault.
    pub(crate) fn push(&mut self, pusi: bool, payload: &[u8], out: &mut Vec<Result<Vec<u8>, &'static str>>) {
        let mut data = payload;
        if pusi {
            let Some((&pointer, rest)) = data.split_first() else {
                self.reset();
                return;
            };
            let pointer = usize::from(pointer);
            if pointer > rest.len() {
                self.reset();
                out.push(Err("pointer_field points past the packet"));
                return;
            }
            if self.active {
                self.append(&rest[..pointer], out);
            }
            self.reset();
            self.active = true;
            data = &rest[pointer..];
        } else if !self.active {
            return;
        }
        self.append(data, out);
    }

    fn append(&mut self, data: &[u8], out: &mut Vec<Result<Vec<u8>, &'static str>>) {
        if !self.active {
            return;
        }
        self.buf.extend_from_slice(data);
        loop {
            match self.buf.first() {
                None => {
                    self.active = false;
                    return;
                }
                // stuffing after the last section of the packet
                Some(0xff) => return self.reset(),
                Some(_) => {}
            }
            if self.buf.len() < 3 {
                return;
            }
            let len = 3 + usize::from(u16::from_be_bytes([self.buf[1], self.buf[2]]) & 0x0fff);
            if len > MAX_SECTION_SIZE {
                out.push(Err("section_length exceeds 4093"));
                return self.reset();
            }
            if self.buf.len() < len {
                return;
            }
            let section: Vec<u8> = self.buf.drain(..len).collect();
            // only sections with section_syntax_indicator carry a CRC
            if section[1] & 0x80 != 0 && crc32(&section) != 0 {
                out.push(Err("section crc32 mismatch"));
            } else {
                out.push(Ok(section));
            }
        }
    }
}

/// The table body of a long-form section (after the 8-byte header, before
/// the CRC), when it is current (`current_next_indicator`) and of `table_id`.
fn body(section: &[u8], table_id: u8) -> Result<Option<&[u8]>, &'static str> {
    if section.first() != Some(&table_id) {
        return Ok(None);
    }
    if section.len() < 12 || section[1] & 0x80 == 0 {
        return Err("psi section too short or without section_syntax_indicator");
    }
    if section[5] & 1 == 0 {
        return Ok(None);
    }
    Ok(Some(&section[8..section.len() - 4]))
}

// === impl Pat ===

impl Pat {
    /// Parses a PAT section (CRC already checked). `Ok(None)` for other
    /// tables, not-yet-current tables and tables with no program.
    pub(crate) fn parse(section: &[u8]) -> Result<Option<Self>, &'static str> {
        let Some(body) = body(section, TABLE_PAT)? else {
            return Ok(None);
        };
        Ok(body
            .chunks_exact(4)
            .map(|e| Self {
                program_number: u16::from_be_bytes([e[0], e[1]]),
                pmt_pid: u16::from_be_bytes([e[2] & 0x1f, e[3]]),
            })
            .find(|p| p.program_number != 0))
    }

    /// Writes a PAT section with this one program (`transport_stream_id` 1, version 0).
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        let mut body = Vec::with_capacity(4);
        body.put_u16(self.program_number);
        body.put_u16(0xe000 | self.pmt_pid);
        write_section(TABLE_PAT, 1, &body, out);
    }
}

// === impl Pmt ===

impl Pmt {
    /// Parses a PMT section (CRC already checked). `Ok(None)` for other
    /// tables and not-yet-current tables.
    pub(crate) fn parse(section: &[u8]) -> Result<Option<Self>, &'static str> {
        let Some(body) = body(section, TABLE_PMT)? else {
            return Ok(None);
        };
        if body.len() < 4 {
            return Err("pmt shorter than its fixed fields");
        }
        let pcr_pid = u16::from_be_bytes([body[0] & 0x1f, body[1]]);
        let info_len = usize::from(u16::from_be_bytes([body[2], body[3]]) & 0x0fff);
        let mut pos = 4usize.saturating_add(info_len);
        let mut streams = Vec::new();
        while pos < body.len() {
            let e = body
                .get(pos..pos + 5)
                .ok_or("pmt elementary stream entry truncated")?;
            let es_info_len = usize::from(u16::from_be_bytes([e[3], e[4]]) & 0x0fff);
            streams.push((e[0], u16::from_be_bytes([e[1] & 0x1f, e[2]])));
            pos += 5 + es_info_len;
        }
        if pos > body.len() {
            return Err("pmt descriptors run past the section");
        }
        Ok(Some(Self { pcr_pid, streams }))
    }

    /// Writes a PMT section for `program_number` (version 0, no descriptors).
    pub(crate) fn write(&self, program_number: u16, out: &mut Vec<u8>) {
        let mut body = Vec::with_capacity(4 + 5 * self.streams.len());
        body.put_u16(0xe000 | self.pcr_pid);
        body.put_u16(0xf000);
        for &(stream_type, pid) in &self.streams {
            body.put_u8(stream_type);
            body.put_u16(0xe000 | pid);
            body.put_u16(0xf000);
        }
        write_section(TABLE_PMT, program_number, &body, out);
    }
}

/// Writes a long-form section: header with `table_id_extension`, version 0,
/// current, section 0 of 0, then `body` and the CRC.
fn write_section(table_id: u8, extension: u16, body: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.put_u8(table_id);
    // section_syntax_indicator, '0', reserved, section_length (5 header bytes + body + CRC)
    out.put_u16(0xb000 | ((5 + body.len() + 4) as u16 & 0x0fff));
    out.put_u16(extension);
    out.put_u8(0xc1); // reserved, version 0, current_next_indicator
    out.put_u8(0);
    out.put_u8(0);
    out.put_slice(body);
    let crc = crc32(&out[start..]);
    out.put_u32(crc);
}

/// Writes `section` (at most 183 bytes, the muxer's invariant) as one packet
/// on `pid`, with `pointer_field` 0 and 0xFF stuffing after it (§2.4.4.2).
pub(crate) fn write_section_packet(pid: u16, cc: u8, section: &[u8], out: &mut impl BufMut) {
    let section = &section[..section.len().min(BODY_SIZE - 1)];
    out.put_u8(SYNC_BYTE);
    out.put_u8(0x40 | ((pid >> 8) as u8 & 0x1f));
    out.put_u8(pid as u8);
    out.put_u8(0x10 | (cc & 0x0f));
    out.put_u8(0);
    out.put_slice(section);
    out.put_bytes(0xff, PACKET_SIZE - 5 - section.len());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ts::packet::Packet;
    use proptest::prelude::*;

    fn sections(asm: &mut SectionAssembler, pkt: &[u8]) -> Vec<Result<Vec<u8>, &'static str>> {
        let p = Packet::parse(pkt).unwrap();
        let mut out = Vec::new();
        asm.push(p.pusi, p.payload, &mut out);
        out
    }

    #[test]
    fn pat_and_pmt_round_trip() {
        let mut s = Vec::new();
        Pat {
            program_number: 1,
            pmt_pid: 0x1000,
        }
        .write(&mut s);
        let mut pkt = Vec::new();
        write_section_packet(0, 0, &s, &mut pkt);
        let got = sections(&mut SectionAssembler::default(), &pkt);
        assert_eq!(got.len(), 1);
        let pat = Pat::parse(got[0].as_ref().unwrap()).unwrap().unwrap();
        assert_eq!((pat.program_number, pat.pmt_pid), (1, 0x1000));

        let pmt = Pmt {
            pcr_pid: 0x100,
            streams: vec![(0x1b, 0x100), (0x0f, 0x101)],
        };
        let mut s = Vec::new();
        pmt.write(1, &mut s);
        assert_eq!(Pmt::parse(&s).unwrap(), Some(pmt));
    }

    #[test]
    fn corrupted_section_fails_crc() {
        let mut s = Vec::new();
        Pat {
            program_number: 1,
            pmt_pid: 0x1000,
        }
        .write(&mut s);
        s[9] ^= 1;
        let mut pkt = Vec::new();
        write_section_packet(0, 0, &s, &mut pkt);
        let got = sections(&mut SectionAssembler::default(), &pkt);
        assert_eq!(got, vec![Err("section crc32 mismatch")]);
    }

    #[test]
    fn section_spanning_two_packets() {
        let pmt = Pmt {
            pcr_pid: 0x100,
            streams: (0..50).map(|i| (0x1b, 0x100 + i)).collect(),
        };
        let mut s = Vec::new();
        pmt.write(1, &mut s);
        assert!(s.len() > BODY_SIZE);
        let mut asm = SectionAssembler::default();
        let mut out = Vec::new();
        let mut first = vec![0u8];
        first.extend_from_slice(&s[..150]);
        asm.push(true, &first, &mut out);
        assert!(out.is_empty());
        let mut second = s[150..].to_vec();
        second.extend_from_slice(&[0xff; 20]);
        asm.push(false, &second, &mut out);
        assert_eq!(Pmt::parse(out[0].as_ref().unwrap()).unwrap(), Some(pmt));
    }

    proptest! {
        #[test]
        fn arbitrary_payloads_never_panic(chunks in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..184)), 0..8)) {
            let mut asm = SectionAssembler::default();
            let mut out = Vec::new();
            for (pusi, data) in &chunks {
                asm.push(*pusi, data, &mut out);
            }
            for s in out.into_iter().flatten() {
                let _ = Pat::parse(&s);
                let _ = Pmt::parse(&s);
            }
        }
    }
}
