//! Cutting a live stream into HLS segments and LL-HLS parts. Pure: frames
//! and wall-clock instants in, a [`Timeline`] out; no sockets, no clock.
//!
//! # Rules
//! - The *lead* track (the selected video track, else the first audio
//!   track) decides every cut; other tracks' frames go into the part that is
//!   open when they arrive.
//! - A part is closed as soon as its last lead frame is in, by predicting
//!   the next frame's time from the frame interval: a blocked request for it
//!   is answered without waiting for the following frame. Parts last a whole
//!   number of frame intervals, as close to the configured part duration as
//!   fits; that length becomes the playlist's `PART-TARGET` and never
//!   changes while the timeline lives.
//! - A segment starts at a lead keyframe and ends at the first keyframe at
//!   least the target duration in (or earlier, when waiting for the next
//!   keyframe would overshoot the target by more than half a second). With
//!   no keyframe in time, a segment is cut at a non-keyframe so that every
//!   `EXTINF` rounds to at most the target duration.
//! - A new source, a track change or a jump in time closes the segment and
//!   marks the next one as a discontinuity; with CMAF a new init segment is
//!   made when the tracks changed.
//! - Complete segments are kept while they fit the window (at least four
//!   target durations); the discontinuity sequence counts the discontinuities
//!   that left it. A part's bytes are shared by the part and its segment and
//!   by every response that sends them.

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
        // parts are numbered consecutively across segments
        let seg = self
            .segments
            .iter()
            .rev()
            .find(|s| s.parts.first().is_some_and(|p| p.seq <= seq))?;
        let first = seg.parts.first()?.seq;
        seg.parts.get(usize::try_from(seq - first).ok()?)
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
    Cmaf {
        writer: Box<crate::fmp4::FragmentWriter>,
        seq: u32,
    },
    Ts(Box<crate::ts::Muxer>),
}

impl Packer {
    fn new(format: Format, tracks: &[Track]) -> Result<(Self, Bytes), Error> {
        match format {
            Format::Cmaf => {
                let writer =
                    crate::fmp4::FragmentWriter::new(tracks).map_err(|e| Error::Mux(e.to_string()))?;
                let mut init = BytesMut::new();
                writer.write_init(&mut init);
                Ok((
                    Self::Cmaf {
                        writer: Box::new(writer),
                        seq: 0,
                    },
                    init.freeze(),
                ))
            }
            Format::Ts => {
                let muxer = crate::ts::Muxer::new(tracks).map_err(|e| Error::Mux(e.to_string()))?;
                Ok((Self::Ts(Box::new(muxer)), Bytes::new()))
            }
        }
    }

    /// Packs one part; `segment_start` asks for stream headers first (TS).
    fn pack(
        &mut self,
        frames: &[Frame],
        next: &[(u32, Timestamp)],
        segment_start: bool,
    ) -> Result<Chunks, Error> {
        let mut out = Chunks::default();
        match self {
            Self::Cmaf { writer, seq } => {
                *seq = seq.wrapping_add(1).max(1);
                let f = writer
                    .fragment(*seq, frames, next)
                    .map_err(|e| Error::Mux(e.to_string()))?;
                out.push(f.header);
                for p in f.payloads {
                    out.push(p);
                }
            }
            Self::Ts(muxer) => {
                let mut buf =
                    BytesMut::with_capacity(frames.iter().map(|f| f.data.len() + 64).sum::<usize>() + 376);
                if segment_start {
                    muxer.write_psi(&mut buf);
                }
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
    let usable = |t: &&Track| !t.init.is_empty();
    let v = tracks
        .iter()
        .filter(usable)
        .filter(|t| t.codec.is_video())
        .find(|t| video.is_none_or(|id| t.id == id));
    let a = tracks.iter().filter(usable).find(|t| t.codec.is_audio());
    v.into_iter().chain(a).cloned().collect()
}

/// Builds a [`Timeline`] from a stream's events.
pub struct Segmenter {
    config: Config,
    video: Option<u32>,
    timeline: Timeline,
    packer: Option<Packer>,
    tracks: Vec<u32>,
    lead: u32,
    /// Lead frame interval in seconds, and the same in lead ticks.
    interval: Option<(f64, i64)>,
    /// The lead track's nominal frame interval (from its frame rate or sample rate).
    nominal: Option<f64>,
    /// One tick of the lead track, in seconds.
    tick: f64,
    last_lead: Option<Timestamp>,
    last_key: Option<f64>,
    gop: Option<f64>,
    /// Frames of the open part.
    pending: Vec<Frame>,
    part_start: Option<f64>,
    part_independent: bool,
    segment_start: Option<f64>,
    discontinuity: bool,
    init_id: u64,
    /// (media seconds, wall clock) of the first frame of the current run.
    anchor: Option<(f64, SystemTime)>,
    /// An anchor for the next run, from [`Segmenter::set_clock`].
    clock: Option<(f64, SystemTime)>,
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

const EPS: f64 = 1e-3;

impl Segmenter {
    /// A segmenter numbering segments from `first_msn` and parts from
    /// `first_part`; `video` picks the video track (the first when `None`).
    pub fn new(format: Format, config: Config, video: Option<u32>, first_msn: u64, first_part: u64) -> Self {
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
                next_part: first_part,
                next_msn: first_msn,
                live: false,
            },
            packer: None,
            tracks: Vec::new(),
            lead: 0,
            interval: None,
            nominal: None,
            tick: 0.0,
            last_lead: None,
            last_key: None,
            gop: None,
            pending: Vec::new(),
            part_start: None,
            part_independent: false,
            segment_start: None,
            discontinuity: false,
            init_id: first_msn,
            anchor: None,
            clock: None,
        }
    }

    /// Maps media time `media` (seconds) of the current run to wall-clock
    /// `wall`, for `EXT-X-PROGRAM-DATE-TIME` of frames that arrived before
    /// the segmenter saw them (a window read from its start).
    pub fn set_clock(&mut self, media: f64, wall: SystemTime) {
        self.clock = Some((media, wall));
    }

    /// What can be served now.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// The stream (re)declared its tracks: a new run begins.
    pub fn set_tracks(&mut self, tracks: &[Track]) -> Result<(), Error> {
        self.end_run();
        self.packer = None;
        let selected = select_tracks(tracks, self.video);
        let mut lead = selected
            .iter()
            .find(|t| t.codec.is_video())
            .or_else(|| selected.first())
            .ok_or(Error::NoTracks)?
            .clone();
        if lead.video.is_none() && lead.audio.is_none() {
            lead.describe();
        }
        self.nominal = match (&lead.video, &lead.audio, lead.codec) {
            (Some(v), _, _) => v.fps.filter(|f| (1.0..=240.0).contains(f)).map(|f| 1.0 / f),
            (_, Some(a), crate::Codec::Aac) if a.sample_rate > 0 => Some(1024.0 / f64::from(a.sample_rate)),
            (_, Some(a), crate::Codec::Opus) if a.sample_rate > 0 => Some(0.02),
            _ => None,
        };
        self.tick = 1.0 / f64::from(lead.timescale.max(1));
        let lead = lead.id;
        let (packer, init) = Packer::new(self.timeline.format, &selected)?;
        self.init_id = self.init_id.max(self.timeline.next_msn);
        if self.timeline.format == Format::Cmaf {
            // no segment used the previous run's init if the id did not move on
            self.timeline.inits.retain(|(id, _)| *id != self.init_id);
            self.timeline.inits.push_back((self.init_id, init));
        }
        self.prune_inits();
        self.packer = Some(packer);
        self.tracks = selected.iter().map(|t| t.id).collect();
        self.anchor = self.clock.take();
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
        self.last_lead = None;
        self.last_key = None;
        self.anchor = None;
        if !self.timeline.segments.is_empty() {
            self.discontinuity = true;
        }
    }

    /// Adds a frame arriving at wall-clock `now`; true when the timeline changed.
    pub fn push(&mut self, frame: &Frame, now: SystemTime) -> Result<bool, Error> {
        if self.packer.is_none() || !self.tracks.contains(&frame.track) {
            return Ok(false);
        }
        if frame.track != self.lead {
            if self.segment_start.is_some() {
                self.pending.push(frame.clone());
            }
            return Ok(false);
        }
        let t = frame.dts.as_secs_f64();
        let mut changed = false;
        if let Some(last) = self.last_lead {
            let gap = t - last.as_secs_f64();
            if !(0.0..=5.0).contains(&gap) {
                // time jumped: start over at the next keyframe
                self.close_part(None)?;
                self.close_segment(Some(now));
                self.pending.clear();
                self.last_key = None;
                self.anchor = None;
                self.discontinuity = true;
                changed = true;
            } else if gap > 0.0 {
                self.interval = Some((gap, frame.dts.ticks() - last.ticks()));
            }
        }
        self.last_lead = Some(frame.dts);
        if frame.keyframe {
            if let Some(k) = self.last_key
                && t > k
            {
                self.gop = Some(t - k);
            }
            self.last_key = Some(t);
        }
        if self.timeline.part_target.is_none()
            && let Some(iv) = self.nominal.or(self.interval.map(|i| i.0))
        {
            let want = self.config.part_duration.as_secs_f64();
            let n = ((want + EPS) / iv).floor().max(1.0);
            // coarse timestamps (milliseconds) jitter by a tick: allow one; printed with 3 decimals
            let slack = if self.tick >= 1e-4 { self.tick } else { 0.0 };
            self.timeline.part_target = Some(((n * iv + slack) * 1000.0 - 1e-6).ceil() / 1000.0);
        }
        match self.segment_start {
            None => {
                if !frame.keyframe {
                    return Ok(changed);
                }
                self.open_segment(t, now, true);
                changed = true;
            }
            Some(start) => {
                let target = self.timeline.target_duration as f64;
                let so_far = t - start;
                let iv = self.interval.map_or(0.0, |i| i.0);
                let overshoot = |next: f64| so_far + next > target + 0.45;
                let key_cut = frame.keyframe
                    && (so_far >= target - EPS
                        || (so_far >= target / 2.0 && self.gop.is_some_and(overshoot)));
                let forced = so_far < target + EPS && overshoot(iv) && !frame.keyframe && so_far > 0.0;
                if key_cut || forced || so_far >= target + 0.45 {
                    self.close_part(Some(frame.dts))?;
                    self.close_segment(Some(now));
                    self.open_segment(t, now, frame.keyframe);
                    changed = true;
                } else if let (Some(ps), Some(pt)) = (self.part_start, self.timeline.part_target)
                    && t - ps + iv / 2.0 > pt
                {
                    changed |= self.close_part(Some(frame.dts))?;
                }
            }
        }
        if self.part_start.is_none() {
            self.part_start = Some(t);
            self.part_independent = frame.keyframe;
        }
        self.pending.push(frame.clone());
        if let (Some(ps), Some(pt), Some((iv, ticks))) =
            (self.part_start, self.timeline.part_target, self.interval)
            && t + 1.5 * iv - ps > pt
        {
            let next = Timestamp::new(frame.dts.ticks() + ticks, frame.dts.timescale());
            changed |= self.close_part(Some(next))?;
        }
        Ok(changed)
    }

    fn open_segment(&mut self, t: f64, now: SystemTime, independent: bool) {
        let (anchor_t, anchor_wall) = *self.anchor.get_or_insert((t, now));
        let pdt = if t >= anchor_t {
            anchor_wall + Duration::from_secs_f64(t - anchor_t)
        } else {
            anchor_wall
                .checked_sub(Duration::from_secs_f64(anchor_t - t))
                .unwrap_or(anchor_wall)
        };
        let msn = self.timeline.next_msn;
        self.timeline.next_msn += 1;
        self.timeline.segments.push_back(Segment {
            msn,
            parts: Vec::new(),
            complete: false,
            discontinuity: std::mem::take(&mut self.discontinuity),
            init: self.init_id,
            program_date_time: pdt,
            duration: 0.0,
            independent,
            completed_at: None,
        });
        self.segment_start = Some(t);
    }

    /// Closes the open part, ending at `end` (the next lead frame's time),
    /// else one frame interval after its last lead frame.
    fn close_part(&mut self, end: Option<Timestamp>) -> Result<bool, Error> {
        let Some(start) = self.part_start else {
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
        self.part_start = None;
        let segment_start = self
            .timeline
            .segments
            .back()
            .is_some_and(|s| s.parts.is_empty() && !s.complete);
        let data = packer.pack(&frames, &[(self.lead, end)], segment_start)?;
        let duration = (end.as_secs_f64() - start).max(0.0);
        let Some(seg) = self.timeline.segments.back_mut().filter(|s| !s.complete) else {
            return Ok(false);
        };
        let seq = self.timeline.next_part;
        self.timeline.next_part += 1;
        seg.duration += duration;
        seg.parts.push(Arc::new(Part {
            seq,
            duration,
            independent: self.part_independent,
            data,
        }));
        Ok(true)
    }

    fn close_segment(&mut self, now: Option<SystemTime>) {
        self.segment_start = None;
        let Some(seg) = self.timeline.segments.back_mut().filter(|s| !s.complete) else {
            return;
        };
        if seg.parts.is_empty() {
            let d = seg.discontinuity;
            self.timeline.segments.pop_back();
            self.timeline.next_msn -= 1;
            self.discontinuity |= d;
            return;
        }
        seg.complete = true;
        seg.completed_at = now;
        self.evict();
    }

    /// Drops init segments that neither a segment in the window nor the current run uses.
    fn prune_inits(&mut self) {
        let (segments, current) = (&self.timeline.segments, self.init_id);
        self.timeline
            .inits
            .retain(|(id, _)| *id == current || segments.iter().any(|s| s.init == *id));
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
            if let Some(gone) = self.timeline.segments.pop_front()
                && gone.discontinuity
            {
                self.timeline.discontinuity_sequence += 1;
            }
        }
        self.prune_inits();
    }
}

#[cfg(test)]
mod tests;
