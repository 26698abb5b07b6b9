//! The incremental demuxer: packet sync, continuity, PSI and dispatch of
//! elementary stream packets (ISO/IEC 13818-1 §2.4).

use std::collections::VecDeque;

use super::event::{Event, Warning};
use super::packet::Packet;
use super::psi::{Pat, Pmt, SectionAssembler};
use super::stream::{Completed, Stream, codec_of};
use super::{PACKET_SIZE, SYNC_BYTE};
use crate::Track;

/// PID of the program association table.
const PID_PAT: u16 = 0;
/// PID of null packets.
const PID_NULL: u16 = 0x1fff;
/// Bytes taken from the caller per round of [`Demuxer::feed`], bounding the
/// internal buffer however large the caller's chunk is.
const FEED_STEP: usize = 64 * 1024;

/// Incremental MPEG-TS demuxer: push bytes with [`feed`](Self::feed) in
/// chunks of any size (not aligned to packets), drain [`Event`]s with
/// [`poll_event`](Self::poll_event), and call [`finish`](Self::finish) at the
/// end of the input to flush the last PES of each track.
///
/// Memory is bounded: at most one packet plus 64 KiB of unparsed input, one
/// PES per track of at most [`MAX_PES_SIZE`](super::MAX_PES_SIZE) bytes, one
/// PSI section of at most 4 KiB per PSI PID, and the events not yet drained.
///
/// ```
/// let mut demuxer = media::ts::Demuxer::new();
/// demuxer.feed(&[0x47, 0x40, 0x00]); // any chunking
/// demuxer.finish();
/// while let Some(event) = demuxer.poll_event() {
///     println!("{event:?}");
/// }
/// ```
#[derive(Debug)]
pub struct Demuxer {
    /// Unparsed input; `pending[0]` is at stream offset `pending_offset`.
    pending: Vec<u8>,
    pending_offset: u64,
    synced: bool,
    ever_synced: bool,
    /// Offset where unsynced bytes began, while hunting for sync.
    lost_at: Option<u64>,
    pmt_pid: Option<u16>,
    pat_asm: SectionAssembler,
    pmt_asm: SectionAssembler,
    last_pmt: Option<Pmt>,
    streams: Vec<Stream>,
    /// Last `continuity_counter` per PID, 0xff when none yet.
    cc: Vec<u8>,
    events: VecDeque<Event>,
    finished: bool,
}

impl Default for Demuxer {
    fn default() -> Self {
        Self::new()
    }
}

// === impl Demuxer ===

impl Demuxer {
    /// A demuxer at the start of a stream.
    pub fn new() -> Self {
        Self {
            pending: Vec::new(),
            pending_offset: 0,
            synced: false,
            ever_synced: false,
            lost_at: None,
            pmt_pid: None,
            pat_asm: SectionAssembler::default(),
            pmt_asm: SectionAssembler::default(),
            last_pmt: None,
            streams: Vec::new(),
            cc: vec![0xff; 8192],
            events: VecDeque::new(),
            finished: false,
        }
    }

    /// Takes the next chunk of the stream. Complete packets are parsed at
    /// once; events become available through [`poll_event`](Self::poll_event).
    /// Bytes fed after [`finish`](Self::finish) are ignored.
    pub fn feed(&mut self, data: &[u8]) {
        if self.finished {
            return;
        }
        for chunk in data.chunks(FEED_STEP) {
            self.pending.extend_from_slice(chunk);
            self.parse_pending(false);
        }
    }

    /// Ends the stream: parses what is left, reports a truncated last
    /// packet, and completes the PES in progress of every track (a PES with
    /// `PES_packet_length` 0 has no other end). Idempotent.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.parse_pending(true);
        let offset = self.pending_offset;
        let len = self.pending.len();
        let end = offset + len as u64;
        if self.synced && len > 0 {
            self.warn(Warning::TruncatedPacket { offset, len });
        } else if !self.synced {
            let at = self.lost_at.unwrap_or(offset);
            if end > at {
                self.warn(Warning::Skipped {
                    offset: at,
                    len: end - at,
                });
            }
        }
        self.pending_offset += len as u64;
        self.pending = Vec::new();
        let mut done = Completed::default();
        for s in &mut self.streams {
            s.flush(&mut self.events, &mut done);
        }
        self.emit(done);
        self.finished = true;
    }

    /// The next event, in stream order.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The current tracks, in PMT order.
    pub fn tracks(&self) -> Vec<Track> {
        self.streams.iter().map(|s| s.track.clone()).collect()
    }

    /// True once packet sync was found.
    pub fn has_synced(&self) -> bool {
        self.ever_synced
    }

    /// True once a PMT was read.
    pub fn has_program(&self) -> bool {
        self.last_pmt.is_some()
    }

    /// Parses as many packets of `pending` as possible and drops the bytes
    /// used. At the end of input (`last`) a packet that ends exactly at the
    /// end of data is accepted without a following sync byte.
    fn parse_pending(&mut self, last: bool) {
        let mut pos = 0usize;
        loop {
            let rest = &self.pending[pos..];
            let offset = self.pending_offset + pos as u64;
            if self.synced {
                if rest.len() < PACKET_SIZE {
                    break;
                }
                if rest[0] == SYNC_BYTE {
                    let pkt: [u8; PACKET_SIZE] = match rest[..PACKET_SIZE].try_into() {
                        Ok(p) => p,
                        Err(_) => break, // length checked above
                    };
                    self.packet(&pkt, offset);
                    pos += PACKET_SIZE;
                    continue;
                }
                self.synced = false;
                self.lost_at = Some(offset);
            }
            self.lost_at.get_or_insert(offset);
            match find_sync(rest, last) {
                Ok(i) => {
                    let at = offset + i as u64;
                    let lost = self.lost_at.take().unwrap_or(at);
                    if at > lost {
                        self.events.push_back(Event::Warning(Warning::Skipped {
                            offset: lost,
                            len: at - lost,
                        }));
                    }
                    pos += i;
                    self.synced = true;
                    self.ever_synced = true;
                }
                Err(i) => {
                    pos += i;
                    break;
                }
            }
        }
        self.pending.drain(..pos);
        self.pending_offset += pos as u64;
    }

    fn packet(&mut self, data: &[u8], offset: u64) {
        let pkt = match Packet::parse(data) {
            Ok(p) => p,
            Err(reason) => return self.warn(Warning::BadPacket { offset, reason }),
        };
        if pkt.transport_error {
            return self.warn(Warning::BadPacket {
                offset,
                reason: "transport_error_indicator set",
            });
        }
        let pid = pkt.pid;
        let stream = self.streams.iter().position(|s| s.track.id == u32::from(pid));
        if pid == PID_NULL || !(pid == PID_PAT || Some(pid) == self.pmt_pid || stream.is_some()) {
            return;
        }
        if pkt.has_payload {
            let last = std::mem::replace(&mut self.cc[usize::from(pid)], pkt.cc);
            if last != 0xff && !pkt.af.discontinuity {
                if pkt.cc == last {
                    return; // a duplicate packet (§2.4.3.3) is sent at most once more
                }
                let expected = (last + 1) & 0x0f;
                if pkt.cc != expected {
                    self.warn(Warning::ContinuityGap {
                        offset,
                        pid,
                        expected,
                        found: pkt.cc,
                    });
                    match stream {
                        Some(i) => self.streams[i].drop_pes(),
                        None if pid == PID_PAT => self.pat_asm.reset(),
                        None => self.pmt_asm.reset(),
                    }
                }
            }
        }
        if pkt.scrambled {
            return self.warn(Warning::BadPacket {
                offset,
                reason: "scrambled payload",
            });
        }
        if let Some(i) = stream {
            let mut done = Completed::default();
            self.streams[i].push(&pkt, offset, &mut self.events, &mut done);
            self.emit(done);
        } else {
            self.psi(&pkt, offset);
        }
    }

    fn psi(&mut self, pkt: &Packet<'_>, offset: u64) {
        let mut sections = Vec::new();
        let is_pat = pkt.pid == PID_PAT;
        let asm = if is_pat {
            &mut self.pat_asm
        } else {
            &mut self.pmt_asm
        };
        asm.push(pkt.pusi, pkt.payload, &mut sections);
        for section in sections {
            let result = section.and_then(|s| {
                if is_pat {
                    Pat::parse(&s).map(|p| p.map(|p| self.pat(p)))
                } else {
                    Pmt::parse(&s).map(|p| p.map(|p| self.pmt(p, offset)))
                }
            });
            if let Err(reason) = result {
                self.warn(Warning::BadSection {
                    offset,
                    pid: pkt.pid,
                    reason,
                });
            }
        }
    }

    fn pat(&mut self, pat: Pat) {
        if pat.pmt_pid == PID_PAT || pat.pmt_pid == PID_NULL || self.pmt_pid == Some(pat.pmt_pid) {
            return;
        }
        self.pmt_pid = Some(pat.pmt_pid);
        self.pmt_asm.reset();
        self.last_pmt = None;
    }

    /// Applies a PMT: keeps streams whose PID and type are unchanged,
    /// completes and drops the others, and reports the new track list.
    fn pmt(&mut self, pmt: Pmt, offset: u64) {
        if self.last_pmt.as_ref() == Some(&pmt) {
            return;
        }
        let before = self.tracks();
        let mut old = std::mem::take(&mut self.streams);
        for &(stream_type, pid) in &pmt.streams {
            if pid == PID_PAT
                || pid == PID_NULL
                || Some(pid) == self.pmt_pid
                || self.streams.iter().any(|s| s.track.id == u32::from(pid))
            {
                continue;
            }
            if let Some(i) = old
                .iter()
                .position(|s| s.track.id == u32::from(pid) && s.stream_type == stream_type)
            {
                self.streams.push(old.remove(i));
                continue;
            }
            match codec_of(stream_type) {
                Ok(codec) => {
                    self.cc[usize::from(pid)] = 0xff;
                    self.streams.push(Stream::new(pid, stream_type, codec));
                }
                Err(name) => self.warn(Warning::UnsupportedStream {
                    offset,
                    pid,
                    stream_type,
                    name,
                }),
            }
        }
        let mut done = Completed::default();
        for s in &mut old {
            s.flush(&mut self.events, &mut done);
        }
        self.events.extend(done.frames.into_iter().map(Event::Frame));
        self.last_pmt = Some(pmt);
        let after = self.tracks();
        if after != before {
            self.events.push_back(Event::Tracks(after));
        }
    }

    /// Queues the frames of one packet, after the track list if an `init` changed.
    fn emit(&mut self, done: Completed) {
        if done.init_changed {
            self.events.push_back(Event::Tracks(self.tracks()));
        }
        self.events.extend(done.frames.into_iter().map(Event::Frame));
    }

    fn warn(&mut self, w: Warning) {
        self.events.push_back(Event::Warning(w));
    }
}

/// Finds the first packet start in `data`: a sync byte with another one
/// [`PACKET_SIZE`] bytes later. `Err(n)`: none yet, the first `n` bytes can
/// never start a packet. At the end of input (`last`) a sync byte exactly
/// one packet before the end also counts.
fn find_sync(data: &[u8], last: bool) -> Result<usize, usize> {
    let mut from = 0;
    while let Some(i) = data[from..]
        .iter()
        .position(|&b| b == SYNC_BYTE)
        .map(|i| i + from)
    {
        match data.get(i + PACKET_SIZE) {
            Some(&SYNC_BYTE) => return Ok(i),
            Some(_) => from = i + 1,
            None if last && i + PACKET_SIZE == data.len() => return Ok(i),
            None => return Err(i),
        }
    }
    Err(data.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_sync_needs_a_second_sync_byte() {
        let mut data = vec![0u8; 3 * PACKET_SIZE];
        data[5] = SYNC_BYTE;
        data[7] = SYNC_BYTE;
        data[7 + PACKET_SIZE] = SYNC_BYTE;
        assert_eq!(find_sync(&data, false), Ok(7));
        assert_eq!(find_sync(&data[..100], false), Err(5));
        assert_eq!(find_sync(&data[..10], false), Err(5));
        assert_eq!(find_sync(&[1, 2, 3], false), Err(3));
        assert_eq!(find_sync(&data[7 + PACKET_SIZE..][..PACKET_SIZE], true), Ok(0));
    }
}
