//! SMPTE 2022-1 (Pro-MPEG Code of Practice #3 release 2) forward error
//! correction for RTP streams: an [`Encoder`] and a recovery function,
//! [`recover`].
//!
//! # Matrix
//! Media packets, in sequence order, fill a matrix of `L` columns and `D`
//! rows row by row ([`Shape`]). A **column** FEC packet protects the `D`
//! packets of one column (sequence numbers `SNBase + i * L`); a **row** FEC
//! packet protects `L` consecutive packets (`SNBase + i`). Column FEC fixes
//! a burst of up to `L` consecutive losses; row FEC fixes one loss per row;
//! together, used iteratively, they fix more. Limits (SMPTE 2022-1 §5): `L`
//! 1 to 20, `D` 4 to 20, `L × D` at most 100, and `L` at least 4 when row
//! FEC is sent.
//!
//! # Packets
//! An FEC packet is an RTP packet (payload type [`PAYLOAD_TYPE`] by
//! convention, SSRC 0, its own sequence numbers per direction, the timestamp
//! of the packet at `SNBase`) whose payload is the 16-byte [`Header`]
//! followed by the XOR of the protected packets' bytes after their 12-byte
//! fixed RTP header (CSRCs, extension, payload and padding, shorter ones
//! padded with zeros). As in RFC 2733, the P, X and CC bits of the FEC
//! packet's RTP header and its marker bit carry the XOR of those of the
//! protected packets (all zero for an SMPTE 2022-2 stream); the header
//! carries the XOR of their lengths, payload types and timestamps.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      SNBase low bits          |        Length recovery        |
//! |E| PT recovery |                    Mask                       |
//! |                          TS recovery                          |
//! |N|D|type |index|    Offset     |      NA       |SNBase ext bits|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The encoder emits each FEC packet as soon as the last packet it protects
//! has been pushed. A gap in the media sequence numbers starts a new matrix
//! (the FEC of the unfinished one is dropped).
//!
//! # Recovery
//! [`recover`] takes the received media packets and FEC packets (column and
//! row, any order) and rebuilds every missing media packet that some FEC
//! packet can rebuild, repeating until nothing more can be done: a packet
//! rebuilt from a row may complete a column, and the reverse. The SSRC,
//! which FEC does not protect, is taken from another packet of the group.
//! Unusable FEC packets (truncated, not XOR, inconsistent with the media)
//! are reported, never fatal.
//!
//! ```
//! use media::fec::{Encoder, Mode, Shape, recover};
//! use media::rtp::Packet;
//! let mut enc = Encoder::new(Shape::new(4, 4).unwrap(), Mode::ColumnAndRow, 0, 0).unwrap();
//! let mut media = Vec::new();
//! let mut fec = Vec::new();
//! for seq in 0..16u16 {
//!     let p = Packet::new(33, seq, 3000 * u32::from(seq), 7, false, vec![seq as u8; 1316].into());
//!     let wire = p.to_bytes().unwrap();
//!     let out = enc.push(&wire).unwrap();
//!     fec.extend(out.column.into_iter().chain(out.row));
//!     media.push(wire);
//! }
//! assert_eq!(fec.len(), 8);
//! let lost = media.remove(5);
//! let back = recover(&media, &fec);
//! assert_eq!(back.packets, vec![lost]);
//! ```

use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};

use crate::rtp::HEADER_LEN as RTP_HEADER_LEN;

/// Payload type of FEC packets by convention (SMPTE 2022-1 uses a dynamic one; 96 is usual).
pub const PAYLOAD_TYPE: u8 = 96;
/// Length of the FEC header after the RTP header.
pub const HEADER_LEN: usize = 16;
/// Column FEC goes to the media port plus this.
pub const COLUMN_PORT_OFFSET: u16 = 2;
/// Row FEC goes to the media port plus this.
pub const ROW_PORT_OFFSET: u16 = 4;
/// Most columns (`L`).
pub const MAX_COLUMNS: u32 = 20;
/// Fewest columns (`L`) when row FEC is sent.
pub const MIN_COLUMNS_WITH_ROWS: u32 = 4;
/// Fewest rows (`D`).
pub const MIN_ROWS: u32 = 4;
/// Most rows (`D`).
pub const MAX_ROWS: u32 = 20;
/// Most packets in one matrix (`L × D`).
pub const MAX_MATRIX: u32 = 100;
/// Longest protected area (bytes after the fixed RTP header) of a media
/// packet: an FEC packet carrying it must fit a UDP datagram.
pub const MAX_PROTECTED_LEN: usize = 65_507 - RTP_HEADER_LEN - HEADER_LEN;

/// Errors of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A matrix shape outside the SMPTE 2022-1 limits.
    #[error("fec matrix of {columns} columns x {rows} rows: {reason}")]
    BadShape {
        /// `L`.
        columns: u32,
        /// `D`.
        rows: u32,
        /// Which limit it breaks.
        reason: &'static str,
    },
    /// A packet shorter than a field it must have.
    #[error("{what} truncated: needs {needed} bytes at byte {offset}, {len} in the packet")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Where it starts.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
        /// Packet length.
        len: usize,
    },
    /// A packet whose content cannot be used.
    #[error("{what}: {reason} at byte {offset}")]
    BadPacket {
        /// Which packet (media or fec).
        what: &'static str,
        /// Offset of the offending field.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// An FEC packet that does not match the media packets it protects.
    #[error("fec packet seq {seq}: {reason}")]
    Inconsistent {
        /// RTP sequence number of the FEC packet.
        seq: u16,
        /// What did not match.
        reason: &'static str,
    },
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The FEC matrix: `L` columns by `D` rows, within the SMPTE 2022-1 limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    columns: u8,
    rows: u8,
}

/// Which FEC packets an [`Encoder`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Column FEC only.
    Column,
    /// Column and row FEC.
    ColumnAndRow,
}

/// What an FEC packet protects (the header's `D` bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `D = 0`: packets `L` apart.
    Column,
    /// `D = 1`: consecutive packets.
    Row,
}

/// The 16-byte FEC header (SMPTE 2022-1 §7, RFC 2733 §3.2 extended).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Low 16 bits of the first protected sequence number.
    pub sn_base: u16,
    /// XOR of the protected areas' lengths.
    pub length_recovery: u16,
    /// `E`: set (the header has the SMPTE 2022-1 extension fields).
    pub extension: bool,
    /// XOR of the payload types (7 bits).
    pub pt_recovery: u8,
    /// 24-bit mask, 0 in SMPTE 2022-1.
    pub mask: u32,
    /// XOR of the timestamps.
    pub ts_recovery: u32,
    /// `N` (reserved for a further extension), clear.
    pub n: bool,
    /// Column or row.
    pub direction: Direction,
    /// FEC type (3 bits): 0 is XOR, the only one defined.
    pub fec_type: u8,
    /// Index (3 bits), 0 for XOR.
    pub index: u8,
    /// Distance between protected sequence numbers: `L` for columns, 1 for rows.
    pub offset: u8,
    /// Number of protected packets: `D` for columns, `L` for rows.
    pub na: u8,
    /// SNBase extension bits, 0 for 16-bit sequence numbers.
    pub sn_base_ext: u8,
}

/// A parsed FEC packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FecPacket {
    /// XOR of the protected packets' P, X and CC bits (low 6 bits of byte 0).
    pub bits_recovery: u8,
    /// XOR of the protected packets' marker bits.
    pub marker_recovery: bool,
    /// RTP payload type of the FEC packet itself.
    pub payload_type: u8,
    /// RTP sequence number of the FEC packet (its own numbering).
    pub sequence: u16,
    /// RTP timestamp of the FEC packet.
    pub timestamp: u32,
    /// RTP SSRC of the FEC packet.
    pub ssrc: u32,
    /// The FEC header.
    pub header: Header,
    /// XOR of the protected areas.
    pub payload: Bytes,
}

/// The FEC packets made by one [`Encoder::push`], as datagrams.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Emitted {
    /// A column FEC packet (for the media port + [`COLUMN_PORT_OFFSET`]).
    pub column: Option<Bytes>,
    /// A row FEC packet (for the media port + [`ROW_PORT_OFFSET`]).
    pub row: Option<Bytes>,
}

/// Makes column and row FEC packets for an RTP stream (see the module docs).
#[derive(Debug, Clone)]
pub struct Encoder {
    shape: Shape,
    mode: Mode,
    column_seq: u16,
    row_seq: u16,
    /// Sequence number expected next; `None` before the first packet.
    expected: Option<u16>,
    /// Position of the next packet in the matrix, `0..L*D`.
    position: usize,
    row: Accumulator,
    columns: Vec<Accumulator>,
}

/// XOR state of one FEC packet in progress.
#[derive(Debug, Clone, Default)]
struct Accumulator {
    sn_base: u16,
    timestamp: u32,
    bits: u8,
    marker: bool,
    pt: u8,
    ts: u32,
    len: u16,
    area: Vec<u8>,
}

/// What [`recover`] rebuilt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The rebuilt media packets (whole datagrams), in the order they were rebuilt.
    pub packets: Vec<Bytes>,
    /// Why some FEC or media packets were not used.
    pub errors: Vec<Error>,
}

// === impl Shape ===

impl Shape {
    /// A matrix of `columns` (`L`) by `rows` (`D`): `L` 1 to 20, `D` 4 to
    /// 20, `L × D` at most 100.
    pub fn new(columns: u32, rows: u32) -> Result<Self> {
        let bad = |reason| {
            Err(Error::BadShape {
                columns,
                rows,
                reason,
            })
        };
        if !(1..=MAX_COLUMNS).contains(&columns) {
            return bad("columns (L) must be 1 to 20");
        }
        if !(MIN_ROWS..=MAX_ROWS).contains(&rows) {
            return bad("rows (D) must be 4 to 20");
        }
        if columns * rows > MAX_MATRIX {
            return bad("columns x rows (L x D) must be at most 100");
        }
        Ok(Self {
            columns: columns as u8,
            rows: rows as u8,
        })
    }

    /// `L`.
    pub fn columns(self) -> u32 {
        u32::from(self.columns)
    }

    /// `D`.
    pub fn rows(self) -> u32 {
        u32::from(self.rows)
    }
}

// === impl Header ===

impl Header {
    /// Parses the 16 bytes at the start of `data`.
    pub fn parse(data: &[u8]) -> Result<Self> {
        if data.len() < HEADER_LEN {
            return Err(Error::Truncated {
                what: "fec header",
                offset: 0,
                needed: HEADER_LEN,
                len: data.len(),
            });
        }
        Ok(Self {
            sn_base: u16::from_be_bytes([data[0], data[1]]),
            length_recovery: u16::from_be_bytes([data[2], data[3]]),
            extension: data[4] & 0x80 != 0,
            pt_recovery: data[4] & 0x7f,
            mask: u32::from_be_bytes([0, data[5], data[6], data[7]]),
            ts_recovery: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
            n: data[12] & 0x80 != 0,
            direction: if data[12] & 0x40 != 0 {
                Direction::Row
            } else {
                Direction::Column
            },
            fec_type: (data[12] >> 3) & 0x07,
            index: data[12] & 0x07,
            offset: data[13],
            na: data[14],
            sn_base_ext: data[15],
        })
    }

    /// Writes the 16 bytes (fields wider than theirs are masked).
    pub fn write(&self, out: &mut impl BufMut) {
        out.put_u16(self.sn_base);
        out.put_u16(self.length_recovery);
        out.put_u8(u8::from(self.extension) << 7 | (self.pt_recovery & 0x7f));
        out.put_slice(&(self.mask & 0x00ff_ffff).to_be_bytes()[1..]);
        out.put_u32(self.ts_recovery);
        let d = u8::from(self.direction == Direction::Row);
        out.put_u8(u8::from(self.n) << 7 | d << 6 | (self.fec_type & 0x07) << 3 | (self.index & 0x07));
        out.put_u8(self.offset);
        out.put_u8(self.na);
        out.put_u8(self.sn_base_ext);
    }

    /// The sequence numbers this header protects: `sn_base + i * offset`
    /// for `i` in `0..na`.
    pub fn protected(&self) -> impl Iterator<Item = u16> + use<> {
        let (base, offset) = (self.sn_base, u16::from(self.offset));
        (0..u16::from(self.na)).map(move |i| base.wrapping_add(i.wrapping_mul(offset)))
    }
}

// === impl FecPacket ===

impl FecPacket {
    /// Parses an FEC datagram: a 12-byte RTP header (no CSRC list or
    /// extension is read: its P, X and CC bits are recovery bits), the FEC
    /// header, the payload.
    pub fn parse(data: &[u8]) -> Result<Self> {
        if data.len() < RTP_HEADER_LEN + HEADER_LEN {
            return Err(Error::Truncated {
                what: "fec packet",
                offset: 0,
                needed: RTP_HEADER_LEN + HEADER_LEN,
                len: data.len(),
            });
        }
        if data[0] >> 6 != 2 {
            return Err(Error::BadPacket {
                what: "fec packet",
                offset: 0,
                reason: "rtp version is not 2",
            });
        }
        let header = Header::parse(&data[RTP_HEADER_LEN..])?;
        Ok(Self {
            bits_recovery: data[0] & 0x3f,
            marker_recovery: data[1] & 0x80 != 0,
            payload_type: data[1] & 0x7f,
            sequence: u16::from_be_bytes([data[2], data[3]]),
            timestamp: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
            ssrc: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
            header,
            payload: Bytes::copy_from_slice(&data[RTP_HEADER_LEN + HEADER_LEN..]),
        })
    }

    /// The datagram.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(RTP_HEADER_LEN + HEADER_LEN + self.payload.len());
        out.put_u8(0x80 | (self.bits_recovery & 0x3f));
        out.put_u8(u8::from(self.marker_recovery) << 7 | (self.payload_type & 0x7f));
        out.put_u16(self.sequence);
        out.put_u32(self.timestamp);
        out.put_u32(self.ssrc);
        self.header.write(&mut out);
        out.put_slice(&self.payload);
        out.freeze()
    }
}

// === impl Accumulator ===

impl Accumulator {
    /// Starts over with `media` (a checked datagram) as the first packet.
    fn start(&mut self, media: &[u8]) {
        self.sn_base = u16::from_be_bytes([media[2], media[3]]);
        self.timestamp = u32::from_be_bytes([media[4], media[5], media[6], media[7]]);
        self.bits = 0;
        self.marker = false;
        self.pt = 0;
        self.ts = 0;
        self.len = 0;
        self.area.clear();
        self.add(media);
    }

    fn add(&mut self, media: &[u8]) {
        self.bits ^= media[0] & 0x3f;
        self.marker ^= media[1] & 0x80 != 0;
        self.pt ^= media[1] & 0x7f;
        self.ts ^= u32::from_be_bytes([media[4], media[5], media[6], media[7]]);
        let area = &media[RTP_HEADER_LEN..];
        self.len ^= area.len() as u16;
        xor_into(&mut self.area, area);
    }

    fn packet(&self, direction: Direction, shape: Shape, sequence: u16) -> Bytes {
        let (offset, na) = match direction {
            Direction::Column => (shape.columns, shape.rows),
            Direction::Row => (1, shape.columns),
        };
        FecPacket {
            bits_recovery: self.bits,
            marker_recovery: self.marker,
            payload_type: PAYLOAD_TYPE,
            sequence,
            timestamp: self.timestamp,
            ssrc: 0,
            header: Header {
                sn_base: self.sn_base,
                length_recovery: self.len,
                extension: true,
                pt_recovery: self.pt,
                mask: 0,
                ts_recovery: self.ts,
                n: false,
                direction,
                fec_type: 0,
                index: 0,
                offset,
                na,
                sn_base_ext: 0,
            },
            payload: Bytes::copy_from_slice(&self.area),
        }
        .to_bytes()
    }
}

/// `acc ^= data`, `acc` grown with zeros to `data`'s length first.
fn xor_into(acc: &mut Vec<u8>, data: &[u8]) {
    if acc.len() < data.len() {
        acc.resize(data.len(), 0);
    }
    for (a, b) in acc.iter_mut().zip(data) {
        *a ^= b;
    }
}

// === impl Encoder ===

impl Encoder {
    /// An encoder for `shape`; its column and row FEC packets are numbered
    /// from `column_seq` and `row_seq`. Row FEC needs at least
    /// [`MIN_COLUMNS_WITH_ROWS`] columns.
    pub fn new(shape: Shape, mode: Mode, column_seq: u16, row_seq: u16) -> Result<Self> {
        if mode == Mode::ColumnAndRow && shape.columns() < MIN_COLUMNS_WITH_ROWS {
            return Err(Error::BadShape {
                columns: shape.columns(),
                rows: shape.rows(),
                reason: "columns (L) must be at least 4 with row fec",
            });
        }
        Ok(Self {
            shape,
            mode,
            column_seq,
            row_seq,
            expected: None,
            position: 0,
            row: Accumulator::default(),
            columns: vec![Accumulator::default(); usize::from(shape.columns)],
        })
    }

    /// The matrix shape.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// Takes the next media packet (a whole RTP datagram) and returns the
    /// FEC packets it completes. Fails, changing nothing, on a datagram that
    /// is not RTP version 2 or whose protected area is over
    /// [`MAX_PROTECTED_LEN`].
    pub fn push(&mut self, media: &[u8]) -> Result<Emitted> {
        check_media(media)?;
        let seq = u16::from_be_bytes([media[2], media[3]]);
        if self.expected.is_some_and(|e| e != seq) {
            self.position = 0;
        }
        self.expected = Some(seq.wrapping_add(1));
        let l = usize::from(self.shape.columns);
        let d = usize::from(self.shape.rows);
        let (row, col) = (self.position / l, self.position % l);
        let mut out = Emitted::default();
        if col == 0 {
            self.row.start(media);
        } else {
            self.row.add(media);
        }
        if row == 0 {
            self.columns[col].start(media);
        } else {
            self.columns[col].add(media);
        }
        if col == l - 1 && self.mode == Mode::ColumnAndRow {
            out.row = Some(self.row.packet(Direction::Row, self.shape, self.row_seq));
            self.row_seq = self.row_seq.wrapping_add(1);
        }
        if row == d - 1 {
            out.column = Some(self.columns[col].packet(Direction::Column, self.shape, self.column_seq));
            self.column_seq = self.column_seq.wrapping_add(1);
        }
        self.position = (self.position + 1) % (l * d);
        Ok(out)
    }
}

/// Checks that `media` can be protected: RTP version 2, a fixed header,
/// a protected area of at most [`MAX_PROTECTED_LEN`] bytes.
fn check_media(media: &[u8]) -> Result<()> {
    if media.len() < RTP_HEADER_LEN {
        return Err(Error::Truncated {
            what: "media packet",
            offset: 0,
            needed: RTP_HEADER_LEN,
            len: media.len(),
        });
    }
    if media[0] >> 6 != 2 {
        return Err(Error::BadPacket {
            what: "media packet",
            offset: 0,
            reason: "rtp version is not 2",
        });
    }
    if media.len() - RTP_HEADER_LEN > MAX_PROTECTED_LEN {
        return Err(Error::BadPacket {
            what: "media packet",
            offset: RTP_HEADER_LEN,
            reason: "payload too long to protect",
        });
    }
    Ok(())
}

// === recovery ===

/// Rebuilds the media packets missing from `media` that the FEC packets in
/// `fec` can rebuild (see the module docs). `media` and `fec` are whole
/// datagrams, in any order; a media sequence number seen twice keeps its
/// first packet. Packets already in `media` are never returned.
pub fn recover(media: &[impl AsRef<[u8]>], fec: &[impl AsRef<[u8]>]) -> Recovery {
    let mut out = Recovery::default();
    let mut known: HashMap<u16, Bytes> = HashMap::with_capacity(media.len());
    let mut fallback_ssrc = None;
    for m in media {
        let m = m.as_ref();
        if let Err(e) = check_media(m) {
            out.errors.push(e);
            continue;
        }
        let seq = u16::from_be_bytes([m[2], m[3]]);
        fallback_ssrc.get_or_insert_with(|| u32::from_be_bytes([m[8], m[9], m[10], m[11]]));
        known.entry(seq).or_insert_with(|| Bytes::copy_from_slice(m));
    }
    let mut packets = Vec::with_capacity(fec.len());
    for f in fec {
        match FecPacket::parse(f.as_ref()) {
            Ok(p) if p.header.fec_type != 0 => out.errors.push(Error::Inconsistent {
                seq: p.sequence,
                reason: "fec type is not xor",
            }),
            Ok(p) if p.header.offset == 0 || p.header.na == 0 => out.errors.push(Error::Inconsistent {
                seq: p.sequence,
                reason: "offset or na is 0",
            }),
            Ok(p) => packets.push(p),
            Err(e) => out.errors.push(e),
        }
    }
    // missing[i]: how many packets FEC packet i lacks; waiting: who lacks a seq
    let mut missing = vec![0usize; packets.len()];
    let mut waiting: HashMap<u16, Vec<usize>> = HashMap::new();
    let mut ready = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        for seq in p.header.protected() {
            if !known.contains_key(&seq) {
                missing[i] += 1;
                waiting.entry(seq).or_default().push(i);
            }
        }
        if missing[i] == 1 {
            ready.push(i);
        }
    }
    while let Some(i) = ready.pop() {
        let p = &packets[i];
        let Some(seq) = p.header.protected().find(|s| !known.contains_key(s)) else {
            continue;
        };
        match rebuild(p, seq, &known, fallback_ssrc) {
            Ok(packet) => {
                known.insert(seq, packet.clone());
                out.packets.push(packet);
                for &j in waiting.get(&seq).map_or(&[][..], Vec::as_slice) {
                    missing[j] -= 1;
                    if missing[j] == 1 {
                        ready.push(j);
                    }
                }
            }
            Err(e) => out.errors.push(e),
        }
    }
    out
}

/// The media packet `seq` from FEC packet `p` and the other packets it protects (all in `known`).
fn rebuild(
    p: &FecPacket,
    seq: u16,
    known: &HashMap<u16, Bytes>,
    fallback_ssrc: Option<u32>,
) -> Result<Bytes> {
    let inconsistent = |reason| Error::Inconsistent {
        seq: p.sequence,
        reason,
    };
    let mut bits = p.bits_recovery;
    let mut marker = p.marker_recovery;
    let mut pt = p.header.pt_recovery;
    let mut ts = p.header.ts_recovery;
    let mut len = p.header.length_recovery;
    let mut area = p.payload.to_vec();
    let mut ssrc = None;
    for other in p.header.protected().filter(|&s| s != seq) {
        let m = known
            .get(&other)
            .ok_or_else(|| inconsistent("a protected packet is missing"))?;
        if m.len() - RTP_HEADER_LEN > area.len() {
            return Err(inconsistent("a protected packet is longer than the fec payload"));
        }
        bits ^= m[0] & 0x3f;
        marker ^= m[1] & 0x80 != 0;
        pt ^= m[1] & 0x7f;
        ts ^= u32::from_be_bytes([m[4], m[5], m[6], m[7]]);
        len ^= (m.len() - RTP_HEADER_LEN) as u16;
        xor_into(&mut area, &m[RTP_HEADER_LEN..]);
        ssrc.get_or_insert_with(|| u32::from_be_bytes([m[8], m[9], m[10], m[11]]));
    }
    let len = usize::from(len);
    if len > area.len() {
        return Err(inconsistent("recovered length exceeds the fec payload"));
    }
    let mut out = BytesMut::with_capacity(RTP_HEADER_LEN + len);
    out.put_u8(0x80 | bits);
    out.put_u8(u8::from(marker) << 7 | (pt & 0x7f));
    out.put_u16(seq);
    out.put_u32(ts);
    out.put_u32(ssrc.or(fallback_ssrc).unwrap_or(0));
    out.put_slice(&area[..len]);
    Ok(out.freeze())
}

#[cfg(test)]
mod tests;
