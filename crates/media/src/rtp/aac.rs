//! MPEG-4 audio over RTP, RFC 3640 `mpeg4-generic` (AAC-hbr, AAC-lbr and
//! other AU-header layouts).

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};

use super::{
    AccessUnit, Error, MAX_AUS_PER_PACKET, MAX_FRAME_SIZE, MAX_PAYLOAD_SIZE, MIN_PAYLOAD_SIZE, Packet,
    Result, Sequencer,
};
use crate::bits::BitReader;

/// Widest AU-header field accepted, in bits.
pub const MAX_AU_FIELD_BITS: u8 = 32;
/// Largest AU the AAC-hbr packetizer writes (13-bit AU-size).
pub const MAX_HBR_AU_SIZE: usize = (1 << 13) - 1;

/// The AU-header layout of an RFC 3640 stream, from its format parameters
/// (§4.1: `sizeLength`, `indexLength`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuHeaderConfig {
    /// `sizeLength`: bits of AU-size (0: no size field).
    pub size_length: u8,
    /// `indexLength`: bits of AU-Index (first AU-header).
    pub index_length: u8,
    /// `indexDeltaLength`: bits of AU-Index-delta (later AU-headers).
    pub index_delta_length: u8,
    /// `CTSDeltaLength`: bits of CTS-delta (with its flag when non-zero).
    pub cts_delta_length: u8,
    /// `DTSDeltaLength`: bits of DTS-delta (with its flag when non-zero).
    pub dts_delta_length: u8,
    /// `randomAccessIndication`: a RAP-flag is present.
    pub random_access_indication: bool,
    /// `streamStateIndication`: bits of Stream-state.
    pub stream_state_indication: u8,
    /// `auxiliaryDataSizeLength`: bits of the auxiliary section's size.
    pub auxiliary_data_size_length: u8,
    /// `constantSize`: the size of every AU, when there is no AU-size field.
    pub constant_size: Option<u32>,
    /// `constantDuration`: ticks per AU; by default 1024 samples.
    pub constant_duration: Option<u32>,
}

/// Reassembles AAC access units from RFC 3640 payloads (§3.2).
///
/// - The AU Header Section (16-bit AU-headers-length, then one AU-header per
///   AU), the Auxiliary Section (skipped) and the Access Unit Data Section
///   are read per the [`AuHeaderConfig`]; several AUs per packet.
/// - Timestamps: the first AU has the packet's timestamp; each next one is
///   `(AU-Index-delta + 1)` frame durations later (1024 samples, or
///   `constantDuration`). Interleaved streams are emitted in packet order.
/// - A fragmented AU (one AU-header whose AU-size is larger than the data,
///   continued in packets with the same timestamp, marker bit on the last)
///   is reassembled; a lost fragment drops the AU ([`Error::FragmentDropped`]).
/// - Every AU is a keyframe.
#[derive(Debug)]
pub struct AacDepacketizer {
    headers: AuHeaderConfig,
    frame_duration: u32,
    fragment: Option<Fragment>,
    /// Timestamp of a fragmented AU that was dropped: its other fragments are ignored.
    dropped: Option<u32>,
    last_seq: Option<u16>,
    ready: VecDeque<AccessUnit>,
}

#[derive(Debug)]
struct Fragment {
    timestamp: u32,
    size: usize,
    data: BytesMut,
}

/// Packs AAC access units into RFC 3640 AAC-hbr packets ([`AuHeaderConfig::AAC_HBR`]):
/// as many consecutive AUs per packet as fit, an AU larger than a packet in
/// fragments.
#[derive(Debug, Clone)]
pub struct AacPacketizer {
    sequencer: Sequencer,
    max_payload: usize,
    frame_duration: u32,
}

// === impl AuHeaderConfig ===

impl AuHeaderConfig {
    /// `mode=AAC-hbr` (§3.3.6): sizeLength 13, indexLength 3, indexDeltaLength 3.
    pub const AAC_HBR: Self = Self::sizes(13, 3, 3);
    /// `mode=AAC-lbr` (§3.3.5): sizeLength 6, indexLength 2, indexDeltaLength 2.
    pub const AAC_LBR: Self = Self::sizes(6, 2, 2);

    /// A layout with only AU-size, AU-Index and AU-Index-delta fields.
    pub const fn sizes(size_length: u8, index_length: u8, index_delta_length: u8) -> Self {
        Self {
            size_length,
            index_length,
            index_delta_length,
            cts_delta_length: 0,
            dts_delta_length: 0,
            random_access_indication: false,
            stream_state_indication: 0,
            auxiliary_data_size_length: 0,
            constant_size: None,
            constant_duration: None,
        }
    }

    /// True when packets start with an AU Header Section (§3.2.1).
    pub fn has_au_headers(&self) -> bool {
        self.size_length > 0
            || self.index_length > 0
            || self.index_delta_length > 0
            || self.cts_delta_length > 0
            || self.dts_delta_length > 0
            || self.random_access_indication
            || self.stream_state_indication > 0
    }

    /// True when every field fits [`MAX_AU_FIELD_BITS`].
    pub fn is_valid(&self) -> bool {
        [
            self.size_length,
            self.index_length,
            self.index_delta_length,
            self.cts_delta_length,
            self.dts_delta_length,
            self.stream_state_indication,
            self.auxiliary_data_size_length,
        ]
        .iter()
        .all(|&b| b <= MAX_AU_FIELD_BITS)
    }
}

// === impl AacDepacketizer ===

impl AacDepacketizer {
    /// A depacketizer for `headers`, stamping AUs `frame_duration` ticks apart.
    pub fn new(headers: AuHeaderConfig, frame_duration: u32) -> Self {
        Self {
            headers,
            frame_duration,
            fragment: None,
            dropped: None,
            last_seq: None,
            ready: VecDeque::new(),
        }
    }

    /// Feeds one packet, in sequence order.
    pub fn push(&mut self, p: &Packet) -> Result<()> {
        let seq = p.sequence;
        let gap = self.last_seq.is_some_and(|last| seq != last.wrapping_add(1));
        self.last_seq = Some(seq);
        let mut error = None;
        if let Some(f) = self.fragment.take_if(|f| gap || f.timestamp != p.timestamp) {
            self.dropped = Some(f.timestamp);
            error = Some(Error::FragmentDropped {
                seq,
                reason: if gap {
                    "a packet with a fragment was lost"
                } else {
                    "the timestamp changed before the last fragment"
                },
            });
        }
        if self.dropped.is_some_and(|t| t != p.timestamp) {
            self.dropped = None;
        }
        match self.payload(p) {
            Err(e) => Err(error.unwrap_or(e)),
            Ok(()) => error.map_or(Ok(()), Err),
        }
    }

    /// The next access unit.
    pub fn poll(&mut self) -> Option<AccessUnit> {
        self.ready.pop_front()
    }

    /// Drops an unfinished fragmented AU (end of stream).
    pub fn flush(&mut self) {
        self.fragment = None;
    }

    fn payload(&mut self, p: &Packet) -> Result<()> {
        let data = &p.payload[..];
        let seq = p.sequence;
        let bad = |offset, reason| Error::BadPayload { seq, offset, reason };
        let h = self.headers;
        // (AU size, AU-Index or AU-Index-delta) per AU
        let mut aus: Vec<(usize, u32)> = Vec::new();
        let mut pos = 0;
        if h.has_au_headers() {
            let Some(len) = data.get(..2) else {
                return Err(bad(0, "au-headers-length cut off"));
            };
            let bits = usize::from(u16::from_be_bytes([len[0], len[1]]));
            let Some(section) = data.get(2..2 + bits.div_ceil(8)) else {
                return Err(bad(2, "au header section past the payload"));
            };
            let mut r = BitReader::new(section);
            while r.position() < bits {
                if aus.len() >= MAX_AUS_PER_PACKET {
                    return Err(bad(2, "too many au headers"));
                }
                let field = |r: &mut BitReader<'_>, n: u8| r.u32(u32::from(n));
                let header = (|| {
                    let size = match h.size_length {
                        0 => h.constant_size.unwrap_or(0),
                        n => field(&mut r, n)?,
                    };
                    let index_bits = if aus.is_empty() {
                        h.index_length
                    } else {
                        h.index_delta_length
                    };
                    let index = field(&mut r, index_bits)?;
                    for delta in [h.cts_delta_length, h.dts_delta_length] {
                        if delta > 0 && r.bit()? {
                            field(&mut r, delta)?;
                        }
                    }
                    if h.random_access_indication {
                        r.bit()?;
                    }
                    field(&mut r, h.stream_state_indication)?;
                    Ok::<_, crate::bits::Error>((size as usize, index))
                })();
                let header = header.map_err(|_| bad(2 + r.position() / 8, "au header cut off"))?;
                if r.position() > bits {
                    return Err(bad(2 + r.position() / 8, "au header past au-headers-length"));
                }
                aus.push(header);
            }
            pos = 2 + section.len();
        }
        if h.auxiliary_data_size_length > 0 {
            let rest = data.get(pos..).unwrap_or_default();
            let mut r = BitReader::new(rest);
            let size = r
                .u32(u32::from(h.auxiliary_data_size_length))
                .map_err(|_| bad(pos, "auxiliary data size cut off"))?;
            let skip = (usize::from(h.auxiliary_data_size_length) + size as usize).div_ceil(8);
            if skip > rest.len() {
                return Err(bad(pos, "auxiliary section past the payload"));
            }
            pos += skip;
        }
        let body = p.payload.slice(pos.min(data.len())..);
        if !h.has_au_headers() {
            let size = h.constant_size.map_or(body.len(), |s| s as usize).max(1);
            aus = (0..body.len().div_ceil(size).min(MAX_AUS_PER_PACKET))
                .map(|_| (size, 0))
                .collect();
        }
        if self.fragment.is_some() {
            return self.continue_fragment(p, &body, aus.first().map(|a| a.0));
        }
        let mut offset = 0usize;
        let mut frames = 0u32;
        for (i, &(size, delta)) in aus.iter().enumerate() {
            if i > 0 {
                frames = frames.wrapping_add(delta.wrapping_add(1));
            }
            let timestamp = p.timestamp.wrapping_add(frames.wrapping_mul(self.frame_duration));
            let available = body.len() - offset;
            if size > available && aus.len() == 1 && h.size_length > 0 {
                return self.start_fragment(p, timestamp, size, &body);
            }
            if size > available {
                // the last AU of a payload without AU-size may be short
                if h.has_au_headers() {
                    return Err(bad(pos + offset, "au size past the payload"));
                }
            }
            let end = offset + size.min(available);
            if end > offset {
                self.emit(timestamp, body.slice(offset..end));
            }
            offset = end;
        }
        Ok(())
    }

    fn start_fragment(&mut self, p: &Packet, timestamp: u32, size: usize, body: &Bytes) -> Result<()> {
        let seq = p.sequence;
        if self.dropped == Some(p.timestamp) {
            return Ok(()); // a later fragment of an AU already dropped
        }
        if size > MAX_FRAME_SIZE {
            return Err(Error::FrameTooLarge {
                seq,
                max: MAX_FRAME_SIZE,
            });
        }
        if p.marker {
            self.dropped = Some(p.timestamp);
            return Err(Error::BadPayload {
                seq,
                offset: 0,
                reason: "au size past the payload in a final packet",
            });
        }
        let mut data = BytesMut::with_capacity(size);
        data.put_slice(body);
        self.fragment = Some(Fragment {
            timestamp,
            size,
            data,
        });
        Ok(())
    }

    fn continue_fragment(&mut self, p: &Packet, body: &[u8], size: Option<usize>) -> Result<()> {
        let Some(mut f) = self.fragment.take() else {
            return Ok(());
        };
        let fail = |reason| Error::FragmentDropped {
            seq: p.sequence,
            reason,
        };
        if size.is_some_and(|s| s != f.size) {
            self.dropped = Some(f.timestamp);
            return Err(fail("au size differs between fragments"));
        }
        if f.data.len() + body.len() > f.size {
            self.dropped = Some(f.timestamp);
            return Err(fail("fragments exceed the au size"));
        }
        f.data.put_slice(body);
        if f.data.len() == f.size {
            self.emit(f.timestamp, f.data.freeze());
        } else if p.marker {
            self.dropped = Some(f.timestamp);
            return Err(fail("the last fragment came before the au was complete"));
        } else {
            self.fragment = Some(f);
        }
        Ok(())
    }

    fn emit(&mut self, timestamp: u32, data: Bytes) {
        self.ready.push_back(AccessUnit {
            timestamp,
            data,
            keyframe: true,
            config: None,
        });
    }
}

// === impl AacPacketizer ===

impl AacPacketizer {
    /// A packetizer writing payloads of at most `max_payload` bytes; AUs are
    /// `frame_duration` ticks apart (1024 when the clock is the sample rate).
    pub fn new(sequencer: Sequencer, max_payload: usize, frame_duration: u32) -> Result<Self> {
        if max_payload < MIN_PAYLOAD_SIZE {
            return Err(Error::PayloadSizeTooSmall(max_payload));
        }
        Ok(Self {
            sequencer,
            max_payload: max_payload.min(MAX_PAYLOAD_SIZE),
            frame_duration,
        })
    }

    /// The sequencer (next sequence number, SSRC, payload type).
    pub fn sequencer(&self) -> &Sequencer {
        &self.sequencer
    }

    /// Packets for consecutive AUs, the first at `timestamp`. Every packet
    /// has the marker bit except the non-final fragments of a large AU.
    pub fn packetize(&mut self, aus: &[&[u8]], timestamp: u32) -> Result<Vec<Packet>> {
        if let Some(au) = aus.iter().find(|a| a.is_empty() || a.len() > MAX_HBR_AU_SIZE) {
            return Err(Error::BadInput(format!(
                "aac access unit of {} bytes (1 to {MAX_HBR_AU_SIZE} allowed)",
                au.len()
            )));
        }
        let mut out = Vec::new();
        let mut i = 0;
        while i < aus.len() {
            let ts = timestamp.wrapping_add((i as u32).wrapping_mul(self.frame_duration));
            let mut n = 0;
            let mut size = 2;
            while i + n < aus.len() && size + 2 + aus[i + n].len() <= self.max_payload && n < 8191 / 16 {
                size += 2 + aus[i + n].len();
                n += 1;
            }
            if n == 0 {
                // one AU over several packets; every AU-header carries the whole size
                let au = aus[i];
                let chunks: Vec<&[u8]> = au.chunks(self.max_payload - 4).collect();
                for (k, chunk) in chunks.iter().enumerate() {
                    let mut p = BytesMut::with_capacity(4 + chunk.len());
                    p.put_u16(16);
                    p.put_u16((au.len() as u16) << 3);
                    p.put_slice(chunk);
                    out.push(self.sequencer.packet(ts, k + 1 == chunks.len(), p.freeze()));
                }
                i += 1;
                continue;
            }
            let mut p = BytesMut::with_capacity(size);
            p.put_u16((16 * n) as u16);
            for au in &aus[i..i + n] {
                p.put_u16((au.len() as u16) << 3); // AU-Index(-delta) 0: consecutive
            }
            for au in &aus[i..i + n] {
                p.put_slice(au);
            }
            out.push(self.sequencer.packet(ts, true, p.freeze()));
            i += n;
        }
        Ok(out)
    }
}
