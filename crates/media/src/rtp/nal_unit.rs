//! Access unit assembly shared by the H.264 and H.265 depacketizers: NAL
//! units are appended in canonical form (4-byte lengths); fragmented units
//! are reassembled in place.

use std::collections::VecDeque;
use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};

use super::{
    AccessUnit, Error, MAX_FRAME_SIZE, MAX_PAYLOAD_SIZE, MIN_PAYLOAD_SIZE, Packet, Result, Sequencer,
};
use crate::nal::LENGTH_SIZE;

/// Builds access units from NAL units. An access unit ends when the RTP
/// timestamp changes, at a packet with the marker bit, or at [`finish`](Self::finish).
///
/// Problems (a dropped fragment, an oversized access unit) are recorded and
/// handed out once per packet by [`take_error`](Self::take_error); the first
/// one of a packet wins.
#[derive(Debug, Default)]
pub(super) struct NalAssembler {
    buf: BytesMut,
    timestamp: Option<u32>,
    keyframe: bool,
    config: Option<Bytes>,
    /// Offset in `buf` of the length prefix of the unit being reassembled.
    fragment: Option<usize>,
    /// Fragments are ignored until the next start fragment (one was lost).
    skip_fragments: bool,
    /// The access unit outgrew [`MAX_FRAME_SIZE`]; the rest of it is ignored.
    oversized: bool,
    last_seq: Option<u16>,
    error: Option<Error>,
    ready: VecDeque<AccessUnit>,
}

// === impl NalAssembler ===

impl NalAssembler {
    /// Handles sequence gaps and timestamp changes before a packet's payload.
    pub(super) fn begin_packet(&mut self, p: &Packet) {
        let seq = p.sequence;
        let gap = self.last_seq.is_some_and(|last| seq != last.wrapping_add(1));
        self.last_seq = Some(seq);
        if gap {
            self.drop_fragment(seq, "a packet with a fragment was lost");
        }
        if self.timestamp.is_some_and(|t| t != p.timestamp) {
            self.drop_fragment(seq, "the timestamp changed before its last fragment");
            self.finish();
        }
        self.timestamp = Some(p.timestamp);
    }

    /// Ends the access unit at a packet with the marker bit.
    pub(super) fn end_packet(&mut self, p: &Packet) {
        if p.marker {
            self.drop_fragment(p.sequence, "the access unit ended before its last fragment");
            self.finish();
        }
    }

    /// Records a problem of the current packet (the first one is kept).
    pub(super) fn note(&mut self, error: Error) {
        self.error.get_or_insert(error);
    }

    /// The first problem recorded since the last call.
    pub(super) fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }

    /// Appends a whole NAL unit.
    pub(super) fn push_nal(&mut self, nal: &[u8], seq: u16) {
        if self.reserve(nal.len() + LENGTH_SIZE, seq) {
            self.buf.put_u32(nal.len() as u32);
            self.buf.put_slice(nal);
        }
    }

    /// Handles a fragmentation unit: `header` is the reconstructed NAL unit
    /// header, `body` the fragment. On the end fragment, returns where the
    /// completed NAL unit (header included) is in the access unit.
    pub(super) fn fragment(
        &mut self,
        header: &[u8],
        body: &[u8],
        start: bool,
        end: bool,
        seq: u16,
    ) -> Option<Range<usize>> {
        if start {
            self.drop_fragment(seq, "a new unit started before its last fragment");
            self.skip_fragments = false;
            if !self.reserve(LENGTH_SIZE + header.len(), seq) {
                return None;
            }
            self.fragment = Some(self.buf.len());
            self.buf.put_u32(0); // patched when the unit ends
            self.buf.put_slice(header);
        } else if self.fragment.is_none() {
            if !self.skip_fragments && !self.oversized {
                self.skip_fragments = true;
                self.note(Error::FragmentDropped {
                    seq,
                    reason: "a continuation fragment without its start",
                });
            }
            return None;
        }
        if !self.reserve(body.len(), seq) {
            return None;
        }
        self.buf.put_slice(body);
        let start = self.fragment.filter(|_| end)?;
        self.fragment = None;
        let len = self.buf.len() - start - LENGTH_SIZE;
        self.buf[start..start + LENGTH_SIZE].copy_from_slice(&(len as u32).to_be_bytes());
        Some(start + LENGTH_SIZE..self.buf.len())
    }

    /// Bytes of the access unit in progress (for a range from [`fragment`](Self::fragment)).
    pub(super) fn bytes(&self, range: Range<usize>) -> &[u8] {
        self.buf.get(range).unwrap_or_default()
    }

    /// Marks the access unit in progress as a random access point.
    pub(super) fn mark_keyframe(&mut self) {
        self.keyframe = true;
    }

    /// Attaches a new decoder configuration to the access unit in progress.
    pub(super) fn set_config(&mut self, config: Bytes) {
        self.config = Some(config);
    }

    /// Completes the access unit in progress (an unfinished fragment is dropped).
    pub(super) fn finish(&mut self) {
        if let Some(start) = self.fragment.take() {
            self.buf.truncate(start);
            self.skip_fragments = true;
        }
        let data = self.buf.split().freeze();
        let keyframe = std::mem::take(&mut self.keyframe);
        let config = self.config.take();
        let oversized = std::mem::take(&mut self.oversized);
        match self.timestamp.take() {
            Some(timestamp) if !data.is_empty() && !oversized => self.ready.push_back(AccessUnit {
                timestamp,
                data,
                keyframe,
                config,
            }),
            // keep a configuration change whose access unit was lost
            _ => self.config = config,
        }
    }

    /// The next completed access unit.
    pub(super) fn poll(&mut self) -> Option<AccessUnit> {
        self.ready.pop_front()
    }

    /// Drops the fragmented unit in progress, recording why.
    fn drop_fragment(&mut self, seq: u16, reason: &'static str) {
        if let Some(start) = self.fragment.take() {
            self.buf.truncate(start);
            self.skip_fragments = true;
            self.note(Error::FragmentDropped { seq, reason });
        }
    }

    /// Makes room for `additional` bytes; false (and the access unit is
    /// dropped) when it would grow over [`MAX_FRAME_SIZE`].
    fn reserve(&mut self, additional: usize, seq: u16) -> bool {
        if self.oversized {
            return false;
        }
        if self.buf.len().saturating_add(additional) > MAX_FRAME_SIZE {
            self.buf.clear();
            self.fragment = None;
            self.oversized = true;
            self.note(Error::FrameTooLarge {
                seq,
                max: MAX_FRAME_SIZE,
            });
            return false;
        }
        true
    }
}

/// The NAL unit syntax of a codec, as its RTP payload format uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NalSyntax {
    /// RFC 6184: 1-byte NAL header, STAP-A 24, FU-A 28.
    H264,
    /// RFC 7798: 2-byte NAL header, AP 48, FU 49.
    H265,
}

// === impl NalSyntax ===

impl NalSyntax {
    fn header_len(self) -> usize {
        match self {
            Self::H264 => 1,
            Self::H265 => 2,
        }
    }

    fn nal_type(self, nal: &[u8]) -> u8 {
        match self {
            Self::H264 => crate::h264::nal_type(nal),
            Self::H265 => crate::h265::nal_type(nal),
        }
    }

    /// NAL unit types the payload format uses for its own packet types.
    fn is_reserved(self, nal_type: u8) -> bool {
        match self {
            Self::H264 => nal_type == 0 || nal_type >= 24,
            Self::H265 => nal_type >= 48,
        }
    }

    /// Payload header of an aggregation packet (RFC 6184 §5.7.1, RFC 7798 §4.4.2).
    fn aggregation_header(self, units: &[&[u8]]) -> Vec<u8> {
        match self {
            Self::H264 => {
                let f = units.iter().fold(0, |a, u| a | (u[0] & 0x80));
                let nri = units.iter().map(|u| u[0] & 0x60).max().unwrap_or(0);
                vec![f | nri | 24]
            }
            Self::H265 => {
                let f = units.iter().fold(0, |a, u| a | (u[0] & 0x80));
                let layer = units
                    .iter()
                    .map(|u| ((u[0] & 1) << 5) | (u[1] >> 3))
                    .min()
                    .unwrap_or(0);
                let tid = units.iter().map(|u| u[1] & 7).min().unwrap_or(0);
                vec![f | (48 << 1) | (layer >> 5), ((layer & 0x1f) << 3) | tid]
            }
        }
    }

    /// Payload header and FU header type bits of a fragmentation unit
    /// (RFC 6184 §5.8, RFC 7798 §4.4.3).
    fn fragment_header(self, nal: &[u8]) -> (Vec<u8>, u8) {
        match self {
            Self::H264 => (vec![(nal[0] & 0xe0) | 28], nal[0] & 0x1f),
            Self::H265 => (vec![(nal[0] & 0x81) | (49 << 1), nal[1]], (nal[0] >> 1) & 0x3f),
        }
    }
}

/// The packetizer behind [`super::H264Packetizer`] and
/// [`super::H265Packetizer`]: numbering, payload size and aggregation, with
/// the codec's NAL unit syntax.
#[derive(Debug, Clone)]
pub(super) struct NalPacketizer {
    syntax: NalSyntax,
    sequencer: Sequencer,
    max_payload: usize,
    aggregate: bool,
}

// === impl NalPacketizer ===

impl NalPacketizer {
    /// A packetizer writing payloads of at most `max_payload` bytes, numbered by `sequencer`.
    pub(super) fn new(syntax: NalSyntax, sequencer: Sequencer, max_payload: usize) -> Result<Self> {
        if max_payload < MIN_PAYLOAD_SIZE {
            return Err(Error::PayloadSizeTooSmall(max_payload));
        }
        Ok(Self {
            syntax,
            sequencer,
            max_payload: max_payload.min(MAX_PAYLOAD_SIZE),
            aggregate: true,
        })
    }

    /// Turns aggregation packets on (the default) or off.
    pub(super) fn set_aggregation(&mut self, aggregate: bool) {
        self.aggregate = aggregate;
    }

    pub(super) fn sequencer(&self) -> &Sequencer {
        &self.sequencer
    }

    /// The packets of one access unit (canonical payload), all with
    /// `timestamp`; the last has the marker bit.
    pub(super) fn packetize(&mut self, au: &[u8], timestamp: u32) -> Result<Vec<Packet>> {
        let payloads = packetize_nals(self.syntax, au, self.max_payload, self.aggregate)?;
        let last = payloads.len().saturating_sub(1);
        Ok(payloads
            .into_iter()
            .enumerate()
            .map(|(i, p)| self.sequencer.packet(timestamp, i == last, p))
            .collect())
    }
}

/// Splits a canonical access unit into RTP payloads of at most `max_payload`
/// bytes: single NAL unit packets, aggregation packets (when `aggregate`) for
/// runs of small units, fragmentation units for large ones. Returns the
/// payloads; the last one carries the marker bit.
fn packetize_nals(syntax: NalSyntax, au: &[u8], max_payload: usize, aggregate: bool) -> Result<Vec<Bytes>> {
    let header_len = syntax.header_len();
    let mut nals = Vec::new();
    for unit in crate::nal::iter_length_prefixed(au, LENGTH_SIZE) {
        let unit = unit.map_err(|e| Error::BadInput(e.to_string()))?;
        if unit.len() < header_len {
            return Err(Error::BadInput(format!(
                "nal unit of {} bytes has no header",
                unit.len()
            )));
        }
        let t = syntax.nal_type(unit);
        if syntax.is_reserved(t) {
            return Err(Error::BadInput(format!(
                "nal unit type {t} is reserved for rtp packet types"
            )));
        }
        nals.push(unit);
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < nals.len() {
        let nal = nals[i];
        if nal.len() > max_payload {
            let (header, fu_type) = syntax.fragment_header(nal);
            let chunk = max_payload - header.len() - 1;
            let body = &nal[header_len..];
            let count = body.len().div_ceil(chunk);
            for (n, piece) in body.chunks(chunk).enumerate() {
                let mut p = BytesMut::with_capacity(header.len() + 1 + piece.len());
                p.put_slice(&header);
                let start = if n == 0 { 0x80 } else { 0 };
                let end = if n + 1 == count { 0x40 } else { 0 };
                p.put_u8(start | end | fu_type);
                p.put_slice(piece);
                out.push(p.freeze());
            }
            i += 1;
            continue;
        }
        // how many units from i fit into one aggregation packet
        let mut size = header_len;
        let mut n = 0;
        while aggregate && i + n < nals.len() && size + 2 + nals[i + n].len() <= max_payload {
            size += 2 + nals[i + n].len();
            n += 1;
        }
        if n < 2 {
            out.push(Bytes::copy_from_slice(nal));
            i += 1;
            continue;
        }
        let units = &nals[i..i + n];
        let mut p = BytesMut::with_capacity(size);
        p.put_slice(&syntax.aggregation_header(units));
        for u in units {
            p.put_u16(u.len() as u16);
            p.put_slice(u);
        }
        out.push(p.freeze());
        i += n;
    }
    Ok(out)
}
