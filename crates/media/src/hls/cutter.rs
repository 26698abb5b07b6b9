//! Where HLS segments and parts begin and end, decided once per stream where
//! it enters the system; the decisions travel with the frames as
//! [`crate::Mark`]s so that every packager of the stream agrees.

use std::time::Duration;

/// Segment and part durations a stream is cut to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CutConfig {
    /// Target segment duration (`EXT-X-TARGETDURATION`, whole seconds).
    pub target_duration: Duration,
    /// Wanted part duration; parts are whole frames, as close to this as fits.
    pub part_duration: Duration,
}

impl Default for CutConfig {
    fn default() -> Self {
        Self {
            target_duration: Duration::from_secs(2),
            part_duration: Duration::from_millis(200),
        }
    }
}

use std::time::SystemTime;

use crate::{Codec, Frame, Mark, SegmentMark, Timestamp, Track};

/// Tolerance of duration comparisons, in seconds.
const EPS: f64 = 1e-3;

/// A lead-track gap outside `0..=MAX_GAP` seconds is a jump in time.
const MAX_GAP: f64 = 5.0;

/// Decides where a stream's segments and parts begin and end.
///
/// Pure: frames, track sets and wall-clock instants in, [`Mark`]s out.
///
/// # Rules
/// - Every video track leads a variant of its own and is cut on its own;
///   with no video track, the first audio track leads. Frames of other
///   tracks are never marked: packagers put them into the part that is
///   open when they arrive.
/// - A part is closed as soon as its last lead frame is in, by predicting
///   the next frame's time from the frame interval (`part_end`): a blocked
///   request for it is answered without waiting for the following frame.
///   Parts last a whole number of frame intervals, as close to the wanted
///   part duration as fits ([`part_target`]).
/// - A segment starts at a lead keyframe and ends at the first keyframe at
///   least the target duration in (or earlier, when waiting for the next
///   keyframe would overshoot the target by more than half a second). With
///   no keyframe in time, a segment is cut at a non-keyframe so that every
///   `EXTINF` rounds to at most the target duration.
/// - A new track set, the source going offline or a jump in time ends the
///   run; the next segment (at the next keyframe) follows a discontinuity.
/// - Segment and part numbers start from the wall clock when the cutter is
///   made (seconds and milliseconds since the Unix epoch), so a restarted
///   ingest never reuses a name, and rise by one per segment and part.
///   `EXT-X-PROGRAM-DATE-TIME` follows the media time from the run's first
///   segment, which is stamped with the wall clock of its arrival.
#[derive(Debug, Clone)]
pub struct Cutter {
    config: CutConfig,
    leads: Vec<Lead>,
    /// Numbers a lead that starts now begins with: above every number used.
    floor_msn: u64,
    floor_part: u64,
    floor_discontinuity: u64,
    /// A segment was marked: a later run follows a discontinuity.
    started: bool,
}

/// The cutting state of one lead track.
#[derive(Debug, Clone)]
struct Lead {
    track: u32,
    /// The nominal frame interval (from the frame rate or sample rate), in seconds.
    nominal: Option<f64>,
    /// One tick of the track, in seconds.
    tick: f64,
    /// The last frame interval, in seconds and in ticks.
    interval: Option<(f64, i64)>,
    part_target: Option<f64>,
    last: Option<Timestamp>,
    last_key: Option<f64>,
    gop: Option<f64>,
    part_start: Option<f64>,
    segment_start: Option<f64>,
    discontinuity: bool,
    /// (media seconds, wall clock) of the run's first segment.
    anchor: Option<(f64, SystemTime)>,
    next_msn: u64,
    next_part: u64,
    discontinuity_sequence: u64,
}

impl Cutter {
    /// A cutter made at wall-clock `now`, numbering from it.
    pub fn new(config: CutConfig, now: SystemTime) -> Self {
        let since = now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        Self {
            config,
            leads: Vec::new(),
            floor_msn: since.as_secs(),
            floor_part: u64::try_from(since.as_millis()).unwrap_or(u64::MAX),
            floor_discontinuity: 0,
            started: false,
        }
    }

    /// The segment and part durations cut to.
    pub fn config(&self) -> CutConfig {
        self.config
    }

    /// Changes the durations; numbering goes on.
    pub fn set_config(&mut self, config: CutConfig) {
        self.config = config;
        for lead in &mut self.leads {
            lead.part_target = None;
        }
    }

    /// The stream (re)declared its tracks: a new run begins for every lead track.
    pub fn set_tracks(&mut self, tracks: &[Track]) {
        self.offline();
        let mut leads: Vec<&Track> = tracks.iter().filter(|t| t.codec.is_video()).collect();
        if leads.is_empty() {
            let audio = || tracks.iter().filter(|t| t.codec.is_audio());
            leads.extend(audio().find(|t| !t.init.is_empty()).or_else(|| audio().next()));
        }
        let old = std::mem::take(&mut self.leads);
        for track in leads {
            let mut lead = match old.iter().find(|l| l.track == track.id) {
                Some(l) => l.clone(),
                None => Lead {
                    track: track.id,
                    nominal: None,
                    tick: 0.0,
                    interval: None,
                    part_target: None,
                    last: None,
                    last_key: None,
                    gop: None,
                    part_start: None,
                    segment_start: None,
                    discontinuity: self.started,
                    anchor: None,
                    next_msn: self.floor_msn,
                    next_part: self.floor_part,
                    discontinuity_sequence: self.floor_discontinuity,
                },
            };
            lead.nominal = nominal_interval(track);
            lead.tick = 1.0 / f64::from(track.timescale.max(1));
            self.leads.push(lead);
        }
    }

    /// The source went away: every open segment ends.
    pub fn offline(&mut self) {
        let started = self.started;
        for lead in &mut self.leads {
            lead.end_run(started);
        }
    }

    /// The mark of `frame`, arriving at wall-clock `now`: `None` for frames
    /// of other tracks and frames inside a part.
    pub fn push(&mut self, frame: &Frame, now: SystemTime) -> Option<Mark> {
        let config = self.config;
        let started = self.started;
        let lead = self.leads.iter_mut().find(|l| l.track == frame.track)?;
        let mark = lead.push(frame, now, config, started)?;
        if let Some(s) = mark.segment {
            self.started = true;
            self.floor_msn = self.floor_msn.max(s.msn + 1);
            self.floor_discontinuity = self.floor_discontinuity.max(s.discontinuity_sequence);
        }
        if let Some(p) = mark.part {
            self.floor_part = self.floor_part.max(p + 1);
        }
        Some(mark)
    }
}

impl Lead {
    fn end_run(&mut self, started: bool) {
        self.part_start = None;
        self.segment_start = None;
        self.last = None;
        self.last_key = None;
        self.anchor = None;
        self.discontinuity |= started;
    }

    fn push(&mut self, frame: &Frame, now: SystemTime, config: CutConfig, started: bool) -> Option<Mark> {
        let t = frame.dts.as_secs_f64();
        if let Some(last) = self.last {
            let gap = t - last.as_secs_f64();
            if !(0.0..=MAX_GAP).contains(&gap) {
                // time jumped: start over at the next keyframe
                self.end_run(started);
            } else if gap > 0.0 {
                self.interval = Some((gap, frame.dts.ticks() - last.ticks()));
            }
        }
        self.last = Some(frame.dts);
        if frame.keyframe {
            if let Some(k) = self.last_key
                && t > k
            {
                self.gop = Some(t - k);
            }
            self.last_key = Some(t);
        }
        if self.part_target.is_none() {
            self.part_target = part_target(config.part_duration, self.nominal, self.interval, self.tick);
        }
        let mut mark = Mark::default();
        match self.segment_start {
            None => {
                if !frame.keyframe {
                    return None;
                }
                mark.segment = Some(self.open_segment(t, now));
            }
            Some(start) => {
                let target = target_secs(config) as f64;
                let so_far = t - start;
                let iv = self.interval.map_or(0.0, |i| i.0);
                let overshoot = |next: f64| so_far + next > target + 0.45;
                let key_cut = frame.keyframe
                    && (so_far >= target - EPS
                        || (so_far >= target / 2.0 && self.gop.is_some_and(overshoot)));
                let forced = so_far < target + EPS && overshoot(iv) && !frame.keyframe && so_far > 0.0;
                if key_cut || forced || so_far >= target + 0.45 {
                    self.part_start = None;
                    mark.segment = Some(self.open_segment(t, now));
                } else if let (Some(ps), Some(pt)) = (self.part_start, self.part_target)
                    && t - ps + iv / 2.0 > pt
                {
                    self.part_start = None;
                }
            }
        }
        if self.part_start.is_none() {
            self.part_start = Some(t);
            mark.part = Some(self.next_part);
            self.next_part += 1;
        }
        if let (Some(ps), Some(pt), Some((iv, ticks))) = (self.part_start, self.part_target, self.interval)
            && t + 1.5 * iv - ps > pt
        {
            mark.part_end = Some(frame.dts.ticks().saturating_add(ticks));
            self.part_start = None;
        }
        (mark != Mark::default()).then_some(mark)
    }

    fn open_segment(&mut self, t: f64, now: SystemTime) -> SegmentMark {
        let (anchor_t, anchor_wall) = *self.anchor.get_or_insert((t, now));
        let pdt = if t >= anchor_t {
            anchor_wall + Duration::from_secs_f64(t - anchor_t)
        } else {
            anchor_wall
                .checked_sub(Duration::from_secs_f64(anchor_t - t))
                .unwrap_or(anchor_wall)
        };
        let discontinuity = std::mem::take(&mut self.discontinuity);
        if discontinuity {
            self.discontinuity_sequence += 1;
        }
        let msn = self.next_msn;
        self.next_msn += 1;
        self.segment_start = Some(t);
        SegmentMark {
            msn,
            discontinuity,
            discontinuity_sequence: self.discontinuity_sequence,
            program_date_time_ms: pdt
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        }
    }
}

/// `EXT-X-TARGETDURATION` of `config`: whole seconds, at least one.
pub fn target_secs(config: CutConfig) -> u64 {
    config.target_duration.as_secs().max(1)
}

/// The nominal frame interval of a lead track in seconds, from its frame
/// rate (video) or sample rate (audio), when known.
pub fn nominal_interval(track: &Track) -> Option<f64> {
    let mut described;
    let track = if track.video.is_none() && track.audio.is_none() {
        described = track.clone();
        described.describe();
        &described
    } else {
        track
    };
    match (&track.video, &track.audio, &track.codec) {
        (Some(v), _, _) => v.fps.filter(|f| (1.0..=240.0).contains(f)).map(|f| 1.0 / f),
        (_, Some(a), Codec::Aac) if a.sample_rate > 0 => Some(1024.0 / f64::from(a.sample_rate)),
        (_, Some(a), Codec::Opus) if a.sample_rate > 0 => Some(0.02),
        _ => None,
    }
}

/// `PART-TARGET` in seconds (three decimals) for parts of `part_duration`
/// made of whole frames of the nominal interval (else the measured one, in
/// seconds and ticks); `tick` is one tick of the lead track in seconds.
pub fn part_target(
    part_duration: Duration,
    nominal: Option<f64>,
    interval: Option<(f64, i64)>,
    tick: f64,
) -> Option<f64> {
    let iv = nominal.or(interval.map(|i| i.0))?;
    let want = part_duration.as_secs_f64();
    let n = ((want + EPS) / iv).floor().max(1.0);
    // coarse timestamps (milliseconds) jitter by a tick: allow one; printed with 3 decimals
    let slack = if tick >= 1e-4 { tick } else { 0.0 };
    Some(((n * iv + slack) * 1000.0 - 1e-6).ceil() / 1000.0)
}
