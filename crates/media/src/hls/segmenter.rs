//! Cutting a live stream into HLS segments and LL-HLS parts. Pure: frames
//! and wall-clock instants in, a [`Timeline`] out; no sockets, no clock.
//!
//! # Rules
//! - The segmenter decides no cut: segments and parts start and end where
//!   the lead track's frames say ([`crate::Mark`], decided once where the
//!   stream entered by a [`super::cutter::Cutter`]), with the marks' numbers,
//!   discontinuities and program date times. Every packager of a stream
//!   thus makes the same segments and parts under the same names, with the
//!   same bytes: TS segments are muxed afresh, CMAF fragment numbers follow
//!   part numbers, init segment ids derive from their bytes.
//! - The *lead* track is the selected video track, else the first audio
//!   track; other tracks' frames go into the part that is open when they
//!   arrive (or the next, when they arrive after a part's end).
//! - A segmenter starts at the first segment start it sees. When the marks'
//!   numbering jumps (lost frames, another source after failover), the next
//!   segment follows a discontinuity; older segments are dropped when the
//!   window's numbering would otherwise break, and marks going backwards are
//!   renumbered after the last name given: a name is never reused for other
//!   content.
//! - A new source, a track change or a jump in time closes the open part and
//!   segment at the last frame.
//! - Complete segments are kept while they fit the window (at least four
//!   target durations). A part's bytes are shared by the part and its
//!   segment and by every response that sends them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::{Frame, Timestamp, Track};
use bytes::{Bytes, BytesMut};

/// Segment container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// fMP4 (CMAF) parts and segments with an init segment: `/cmaf/`.
    Cmaf,
    /// MPEG-TS parts and segments: `/hls/`.
    Ts,
}

impl Format {
    /// File extension of parts and segments.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Cmaf => "m4s",
            Self::Ts => "ts",
        }
    }
}

/// Lengths of a timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// Segment target duration (`EXT-X-TARGETDURATION`), whole seconds.
    pub target_duration: Duration,
    /// Wanted part duration.
    pub part_duration: Duration,
    /// Media kept (the stream's DVR window); at least four target durations are kept.
    pub window: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            target_duration: Duration::from_secs(2),
            part_duration: Duration::from_millis(200),
            window: Duration::from_secs(30),
        }
    }
}

/// Bytes sent as a run of shared chunks.
#[derive(Debug, Clone, Default)]
pub struct Chunks {
    /// The chunks in order.
    pub chunks: Vec<Bytes>,
    /// Their total length.
    pub len: u64,
}

impl Chunks {
    fn push(&mut self, b: Bytes) {
        if !b.is_empty() {
            self.len += b.len() as u64;
            self.chunks.push(b);
        }
    }
}

/// A complete part.
#[derive(Debug)]
pub struct Part {
    /// Global part number (the `pN` file name), rising by one per part.
    pub seq: u64,
    /// Duration in seconds.
    pub duration: f64,
    /// Starts with a keyframe of the lead track.
    pub independent: bool,
    /// The part's bytes.
    pub data: Chunks,
}

/// A segment: complete, or the open one at the live end.
#[derive(Debug)]
pub struct Segment {
    /// Media sequence number (the `sN` file name).
    pub msn: u64,
    /// Its complete parts, in order; the segment's bytes are theirs.
    pub parts: Vec<Arc<Part>>,
    /// No more parts will be added.
    pub complete: bool,
    /// A discontinuity comes before it.
    pub discontinuity: bool,
    /// Its discontinuity sequence number: the discontinuities before and
    /// including it since the stream's numbering began.
    pub discontinuity_sequence: u64,
    /// The init segment its parts need (CMAF).
    pub init: u64,
    /// Wall-clock time of its first frame (`EXT-X-PROGRAM-DATE-TIME`).
    pub program_date_time: SystemTime,
    /// Sum of its parts' durations, in seconds.
    pub duration: f64,
    /// Starts with a lead keyframe.
    pub independent: bool,
    /// Wall-clock time it was completed.
    pub completed_at: Option<SystemTime>,
}

impl Segment {
    /// The segment's bytes (its parts' chunks, shared).
    pub fn data(&self) -> Chunks {
        let mut out = Chunks::default();
        for p in &self.parts {
            for c in &p.data.chunks {
                out.push(c.clone());
            }
        }
        out
    }
}

/// What viewers can be served: the segments in the window and their init segments.
#[derive(Debug)]
pub struct Timeline {
    /// Container of parts and segments.
    pub format: Format,
    /// `EXT-X-TARGETDURATION` in seconds.
    pub target_duration: u64,
    /// `PART-TARGET` in seconds, known once the lead frame interval is.
    pub part_target: Option<f64>,
    /// Segments in the window, oldest first; the last may be open.
    pub segments: VecDeque<Segment>,
    /// Init segments by id (CMAF), oldest first.
    pub inits: VecDeque<(u64, Bytes)>,
    /// `EXT-X-DISCONTINUITY-SEQUENCE`.
    pub discontinuity_sequence: u64,
    /// Number the next part will get.
    pub next_part: u64,
    /// Number the next segment will get.
    pub next_msn: u64,
    /// The source is sending frames (no publisher gone, no error).
    pub live: bool,
}

impl Timeline {
    /// The segment numbered `msn`.
    pub fn segment(&self, msn: u64) -> Option<&Segment> {
        let first = self.segments.front()?.msn;
        self.segments.get(usize::try_from(msn.checked_sub(first)?).ok()?)
    }

    /// The part numbered `seq`, if it is complete and in the window.
    pub fn part(&self, seq: u64) -> Option<&Arc<Part>> {
        let seg = self
            .segments
            .iter()
            .rev()
            .find(|s| s.parts.first().is_some_and(|p| p.seq <= seq))?;
        // numbers rise by one within a segment, with gaps only where parts were lost
        let i = seg.parts.binary_search_by_key(&seq, |p| p.seq).ok()?;
        seg.parts.get(i)
    }

    /// The init segment `id`.
    pub fn init(&self, id: u64) -> Option<&Bytes> {
        self.inits.iter().find(|(i, _)| *i == id).map(|(_, b)| b)
    }

    /// The last complete segment's number.
    pub fn last_complete_msn(&self) -> Option<u64> {
        self.segments.iter().rev().find(|s| s.complete).map(|s| s.msn)
    }

    /// True when the playlist holds segment `msn` complete, or part `part`
    /// of it, or a later one (RFC 8216bis §6.2.5.2: a part index past the
    /// segment's last part means the first part of the next segment).
    pub fn has(&self, msn: u64, part: Option<u64>) -> bool {
        match part {
            None => self.segments.iter().rev().any(|s| s.complete && s.msn >= msn),
            Some(p) => {
                self.segment(msn).is_some_and(|s| s.parts.len() as u64 > p)
                    || self
                        .segments
                        .iter()
                        .rev()
                        .any(|s| s.msn > msn && !s.parts.is_empty())
            }
        }
    }

    /// True when a part can be listed.
    pub fn has_media(&self) -> bool {
        self.part_target.is_some() && self.segments.iter().any(|s| !s.parts.is_empty())
    }

    /// Payload bytes held by the window's parts.
    pub fn bytes(&self) -> u64 {
        self.segments
            .iter()
            .flat_map(|s| s.parts.iter())
            .map(|p| p.data.len)
            .sum()
    }
}

/// Why a track set cannot be packaged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No video or audio track with a decoder configuration.
    #[error("no playable track (video or audio with a decoder configuration)")]
    NoTracks,
    /// The muxer refused the tracks or a frame.
    #[error("cannot package: {0}")]
    Mux(String),
}

enum Packer {
    Cmaf(Box<crate::fmp4::FragmentWriter>),
    Ts {
        muxer: Box<crate::ts::Muxer>,
        tracks: Vec<Track>,
    },
}

impl Packer {
    fn new(format: Format, tracks: &[Track]) -> Result<(Self, Bytes), Error> {
        match format {
            Format::Cmaf => {
                let writer =
                    crate::fmp4::FragmentWriter::new(tracks).map_err(|e| Error::Mux(e.to_string()))?;
                let mut init = BytesMut::new();
                writer.write_init(&mut init);
                Ok((Self::Cmaf(Box::new(writer)), init.freeze()))
            }
            Format::Ts => {
                let muxer = crate::ts::Muxer::new(tracks).map_err(|e| Error::Mux(e.to_string()))?;
                Ok((
                    Self::Ts {
                        muxer: Box::new(muxer),
                        tracks: tracks.to_vec(),
                    },
                    Bytes::new(),
                ))
            }
        }
    }

    /// A segment starts: its bytes must depend on its own frames only (TS
    /// continuity counters and tables start afresh; the first frame brings
    /// the PAT and PMT).
    fn segment_start(&mut self) {
        if let Self::Ts { muxer, tracks } = self
            && let Ok(m) = crate::ts::Muxer::new(tracks)
        {
            **muxer = m;
        }
    }

    /// Packs part `seq`; `next` holds the time after its last frame, per track.
    fn pack(&mut self, seq: u64, frames: &[Frame], next: &[(u32, Timestamp)]) -> Result<Chunks, Error> {
        let mut out = Chunks::default();
        match self {
            Self::Cmaf(writer) => {
                // the fragment number follows the part number: the same on every packager
                let seq = u32::try_from(seq & u64::from(u32::MAX)).unwrap_or(1).max(1);
                let f = writer
                    .fragment(seq, frames, next)
                    .map_err(|e| Error::Mux(e.to_string()))?;
                out.push(f.header);
                for p in f.payloads {
                    out.push(p);
                }
            }
            Self::Ts { muxer, .. } => {
                let mut buf =
                    BytesMut::with_capacity(frames.iter().map(|f| f.data.len() + 64).sum::<usize>() + 376);
                for f in frames {
                    // a frame the muxer refuses (unknown track) is left out of the part
                    let _ = muxer.mux_frame(f, &mut buf);
                }
                out.push(buf.freeze());
            }
        }
        Ok(out)
    }
}

/// Tracks a timeline packages: the chosen video track (or the first) and the first audio track.
pub fn select_tracks(tracks: &[Track], video: Option<u32>) -> Vec<Track> {
    let usable = |t: &&Track| t.has_config();
    let v = tracks
        .iter()
        .filter(usable)
        .filter(|t| t.codec.is_video())
        .find(|t| video.is_none_or(|id| t.id == id));
    let a = tracks.iter().filter(usable).find(|t| t.codec.is_audio());
    v.into_iter().chain(a).cloned().collect()
}

/// Builds a [`Timeline`] from a stream's events, following the cuts its
/// frames carry ([`crate::Mark`], decided by a [`super::cutter::Cutter`]).
pub struct Segmenter {
    config: Config,
    video: Option<u32>,
    timeline: Timeline,
    packer: Option<Packer>,
    tracks: Vec<u32>,
    lead: u32,
    /// The lead track's nominal frame interval (from its frame rate or sample rate).
    nominal: Option<f64>,
    /// One tick of the lead track, in seconds.
    tick: f64,
    /// The last lead frame interval, in seconds and in lead ticks.
    interval: Option<(f64, i64)>,
    last_lead: Option<Timestamp>,
    /// Frames of the open part (and other tracks' frames waiting for the next part).
    pending: Vec<Frame>,
    part: Option<OpenPart>,
    /// The last part ended at its last lead frame (`part_end`): frames
    /// waiting belong to the next part.
    between_parts: bool,
    segment_open: bool,
    /// The next segment follows a discontinuity of this segmenter's own
    /// (its run ended, or the marks' numbering jumped).
    discontinuity: bool,
    /// The init segment of the current run (CMAF) and its id.
    init: Option<(u64, Bytes)>,
    /// Added to the marks' numbers (segments, parts, discontinuities):
    /// non-zero only after the marks' numbering went backwards.
    offsets: Offsets,
}

#[derive(Debug, Clone, Copy, Default)]
struct Offsets {
    msn: i128,
    part: i128,
    discontinuity: i128,
}

#[derive(Debug, Clone, Copy)]
struct OpenPart {
    seq: u64,
    start: f64,
    independent: bool,
}

impl std::fmt::Debug for Segmenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segmenter")
            .field("config", &self.config)
            .field("video", &self.video)
            .field("timeline", &self.timeline)
            .finish_non_exhaustive()
    }
}

/// Most frames waiting for a part (when the lead track stops).
const MAX_PENDING: usize = 4096;

/// A lead-track gap outside `0..=MAX_GAP` seconds is a jump in time.
const MAX_GAP: f64 = 5.0;

fn offset(n: u64, by: i128) -> u64 {
    u64::try_from((i128::from(n) + by).max(0)).unwrap_or(u64::MAX)
}

/// The id of an init segment: derived from its bytes, so that every
/// packager of a stream names the same init segment alike (at most 2^53,
/// exact in every JSON number).
fn init_id(init: &[u8]) -> u64 {
    // FNV-1a
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in init {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h & ((1 << 53) - 1)
}

impl Segmenter {
    /// A segmenter; `video` picks the video track (the first when `None`).
    /// Segments and parts take their numbers from the frames' marks.
    pub fn new(format: Format, config: Config, video: Option<u32>) -> Self {
        Self {
            config,
            video,
            timeline: Timeline {
                format,
                target_duration: config.target_duration.as_secs().max(1),
                part_target: None,
                segments: VecDeque::new(),
                inits: VecDeque::new(),
                discontinuity_sequence: 0,
                next_part: 0,
                next_msn: 0,
                live: false,
            },
            packer: None,
            tracks: Vec::new(),
            lead: 0,
            nominal: None,
            tick: 0.0,
            interval: None,
            last_lead: None,
            pending: Vec::new(),
            part: None,
            between_parts: false,
            segment_open: false,
            discontinuity: false,
            init: None,
            offsets: Offsets::default(),
        }
    }

    /// What can be served now.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// The stream (re)declared its tracks: a new run begins.
    pub fn set_tracks(&mut self, tracks: &[Track]) -> Result<(), Error> {
        self.end_run();
        self.packer = None;
        // MPEG-TS leaves out what it cannot carry (Opus, VP8) rather than failing.
        let selected = match self.timeline.format {
            Format::Ts => select_tracks(&crate::ts::muxable(tracks.to_vec()), self.video),
            Format::Cmaf => select_tracks(tracks, self.video),
        };
        let lead = selected
            .iter()
            .find(|t| t.codec.is_video())
            .or_else(|| selected.first())
            .ok_or(Error::NoTracks)?;
        self.nominal = super::cutter::nominal_interval(lead);
        self.tick = 1.0 / f64::from(lead.timescale.max(1));
        let lead = lead.id;
        let (packer, init) = Packer::new(self.timeline.format, &selected)?;
        self.init = (self.timeline.format == Format::Cmaf).then(|| (init_id(&init), init));
        self.packer = Some(packer);
        self.tracks = selected.iter().map(|t| t.id).collect();
        self.lead = lead;
        self.timeline.live = true;
        Ok(())
    }

    /// The source went away: the open segment is closed.
    pub fn offline(&mut self) {
        self.end_run();
        self.timeline.live = false;
    }

    /// Frames were lost between the source and this segmenter: the next segment starts afresh.
    pub fn skipped(&mut self) {
        self.end_run();
    }

    fn end_run(&mut self) {
        // a last part the muxer refuses is dropped with its run
        let _ = self.close_part(None);
        self.close_segment(None);
        self.pending.clear();
        self.between_parts = false;
        self.last_lead = None;
    }

    /// Adds a frame arriving at wall-clock `now`; true when the timeline changed.
    pub fn push(&mut self, frame: &Frame, now: SystemTime) -> Result<bool, Error> {
        if self.packer.is_none() || !self.tracks.contains(&frame.track) {
            return Ok(false);
        }
        if frame.track != self.lead {
            // other tracks' frames go into the part open when they arrive,
            // or the next one when they come between two parts
            if self.pending.len() >= MAX_PENDING {
                self.pending.clear();
            }
            self.pending.push(frame.clone());
            return Ok(false);
        }
        let t = frame.dts.as_secs_f64();
        let mut changed = false;
        let mark = frame.mark.unwrap_or_default();
        if let Some(last) = self.last_lead {
            let gap = t - last.as_secs_f64();
            if !(0.0..=MAX_GAP).contains(&gap) {
                // time jumped: what is open ends at the last frame; the
                // marks start a segment again at the next keyframe
                changed |= self.close_part(None)?;
                self.close_segment(Some(now));
                self.pending.clear();
                self.between_parts = false;
            } else if gap > 0.0 {
                self.interval = Some((gap, frame.dts.ticks() - last.ticks()));
            }
        }
        self.last_lead = Some(frame.dts);
        if self.timeline.part_target.is_none() {
            self.timeline.part_target =
                super::cutter::part_target(self.config.part_duration, self.nominal, self.interval, self.tick);
        }
        if self.part.is_none() && !(mark.part.is_some() && self.between_parts) {
            // the frames waiting belong to a part this segmenter does not
            // follow (it joined later, or the run ended)
            self.pending.clear();
        }
        self.between_parts = false;
        if let Some(s) = mark.segment {
            self.close_part(Some(frame.dts))?;
            self.close_segment(Some(now));
            self.open_segment(&s, mark.part, frame.keyframe);
            changed = true;
        } else if mark.part.is_some() {
            changed |= self.close_part(Some(frame.dts))?;
        }
        if let Some(seq) = mark.part
            && self.segment_open
        {
            let seq = offset(seq, self.offsets.part);
            self.part = Some(OpenPart {
                seq,
                start: t,
                independent: frame.keyframe,
            });
            self.timeline.next_part = seq;
        }
        self.pending.push(frame.clone());
        if let Some(end) = mark.part_end {
            // what comes before the next lead frame belongs to the next part
            changed |= self.close_part(Some(Timestamp::new(end, frame.dts.timescale())))?;
            self.pending.clear();
            self.between_parts = true;
        }
        Ok(changed)
    }

    fn open_segment(&mut self, mark: &crate::SegmentMark, part: Option<u64>, independent: bool) {
        let last = self.timeline.segments.back();
        let expected = last.map(|s| (s.msn + 1, s.discontinuity_sequence));
        let mut msn = offset(mark.msn, self.offsets.msn);
        let mut discontinuity = mark.discontinuity || std::mem::take(&mut self.discontinuity);
        if let Some((next, ds)) = expected
            && msn != next
        {
            // the marks' numbering jumped (frames lost, another source):
            // go on with a discontinuity, never reusing a name
            discontinuity = true;
            let next_part = self.timeline.next_part;
            if mark.msn >= next && part.is_none_or(|p| p >= next_part) {
                // forwards: the marks' own numbers; the older segments go
                // (the window's numbering stays continuous)
                self.offsets.msn = 0;
                self.offsets.part = 0;
                self.timeline.segments.clear();
            } else {
                // backwards: renumber after the last names given
                self.offsets.msn = i128::from(next) - i128::from(mark.msn);
                if let Some(p) = part {
                    self.offsets.part = i128::from(next_part) - i128::from(p);
                }
            }
            msn = offset(mark.msn, self.offsets.msn);
            self.offsets.discontinuity = i128::from(ds + 1) - i128::from(mark.discontinuity_sequence);
        }
        let mut discontinuity_sequence = offset(mark.discontinuity_sequence, self.offsets.discontinuity);
        if let Some((_, ds)) = expected
            && discontinuity
            && discontinuity_sequence <= ds
        {
            // a discontinuity of this segmenter's own
            self.offsets.discontinuity += i128::from(ds + 1 - discontinuity_sequence);
            discontinuity_sequence = ds + 1;
        }
        let init = match &self.init {
            Some((id, bytes)) => {
                if !self.timeline.inits.iter().any(|(i, _)| i == id) {
                    self.timeline.inits.push_back((*id, bytes.clone()));
                }
                *id
            }
            None => 0,
        };
        if let Some(packer) = self.packer.as_mut() {
            packer.segment_start();
        }
        self.timeline.next_msn = msn + 1;
        self.timeline.segments.push_back(Segment {
            msn,
            parts: Vec::new(),
            complete: false,
            discontinuity,
            discontinuity_sequence,
            init,
            program_date_time: SystemTime::UNIX_EPOCH + Duration::from_millis(mark.program_date_time_ms),
            duration: 0.0,
            independent,
            completed_at: None,
        });
        self.segment_open = true;
        self.update_discontinuity_sequence();
    }

    /// Closes the open part, ending at `end` (the next lead frame's time),
    /// else one frame interval after its last lead frame.
    fn close_part(&mut self, end: Option<Timestamp>) -> Result<bool, Error> {
        let Some(part) = self.part else {
            return Ok(false);
        };
        let Some(packer) = self.packer.as_mut() else {
            return Ok(false);
        };
        let end = end.or_else(|| {
            let last = self.last_lead?;
            let ticks = self.interval.map_or(0, |i| i.1);
            Some(Timestamp::new(last.ticks() + ticks, last.timescale()))
        });
        let Some(end) = end else { return Ok(false) };
        let frames = std::mem::take(&mut self.pending);
        self.part = None;
        self.timeline.next_part = part.seq + 1;
        let data = packer.pack(part.seq, &frames, &[(self.lead, end)])?;
        let duration = (end.as_secs_f64() - part.start).max(0.0);
        let Some(seg) = self.timeline.segments.back_mut().filter(|s| !s.complete) else {
            return Ok(false);
        };
        seg.duration += duration;
        seg.parts.push(Arc::new(Part {
            seq: part.seq,
            duration,
            independent: part.independent,
            data,
        }));
        Ok(true)
    }

    fn close_segment(&mut self, now: Option<SystemTime>) {
        self.segment_open = false;
        let Some(seg) = self.timeline.segments.back_mut().filter(|s| !s.complete) else {
            return;
        };
        if seg.parts.is_empty() {
            let d = seg.discontinuity;
            self.timeline.segments.pop_back();
            self.discontinuity |= d;
            self.update_discontinuity_sequence();
            return;
        }
        seg.complete = true;
        seg.completed_at = now;
        self.evict();
    }

    /// Drops init segments that neither a segment in the window nor the current run uses.
    fn prune_inits(&mut self) {
        let segments = &self.timeline.segments;
        let current = self.init.as_ref().map(|(id, _)| *id);
        self.timeline
            .inits
            .retain(|(id, _)| Some(*id) == current || segments.iter().any(|s| s.init == *id));
    }

    /// `EXT-X-DISCONTINUITY-SEQUENCE`: the first segment's number (its own
    /// `EXT-X-DISCONTINUITY` is not written: nothing precedes it).
    fn update_discontinuity_sequence(&mut self) {
        if let Some(first) = self.timeline.segments.front() {
            self.timeline.discontinuity_sequence = first.discontinuity_sequence;
        }
    }

    fn evict(&mut self) {
        let keep = self
            .config
            .window
            .as_secs_f64()
            .max(4.0 * self.timeline.target_duration as f64);
        let mut total: f64 = self
            .timeline
            .segments
            .iter()
            .filter(|s| s.complete)
            .map(|s| s.duration)
            .sum();
        while self.timeline.segments.len() > 1 {
            let Some(front) = self.timeline.segments.front() else {
                break;
            };
            if !front.complete || total - front.duration < keep {
                break;
            }
            total -= front.duration;
            self.timeline.segments.pop_front();
        }
        self.update_discontinuity_sequence();
        self.prune_inits();
    }
}

#[cfg(test)]
mod tests;
