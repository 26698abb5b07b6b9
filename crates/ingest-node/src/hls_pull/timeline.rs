//! Keeping decode times increasing across segments, and pacing frames in
//! real time. Pure: time comes in as arguments.

use std::collections::HashMap;
use std::time::Duration;

use media::{Frame, Timestamp};
use tokio::time::Instant;

/// A segment whose first decode time is further than this from where the
/// previous one ended is re-timed even without `EXT-X-DISCONTINUITY`.
pub(crate) const JUMP_TOLERANCE: Duration = Duration::from_secs(1);

/// Gap assumed after a track's last frame when its frame spacing is not
/// known yet (one frame at 25 fps).
const DEFAULT_STEP_US: i64 = 40_000;

/// Maps the decode times of successive segments onto one increasing
/// timeline.
///
/// One offset applies to every track (so audio and video stay in sync). It
/// starts at zero: the source's own times go through. A segment after a
/// discontinuity (`EXT-X-DISCONTINUITY`, skipped segments, a new timeline),
/// or whose earliest decode time lands more than [`JUMP_TOLERANCE`] away
/// from where the previous segment ended (a 33-bit MPEG-TS wrap, a source
/// restart), gets a new offset that puts its earliest frame right after the
/// latest frame so far (one frame spacing later). A frame that would still
/// not increase its track's decode time is dropped.
#[derive(Debug, Default)]
pub(crate) struct Timeline {
    offset_us: i64,
    /// Per track: last output dts (its own ticks), its timescale, and the
    /// last spacing between two of its frames in microseconds.
    tracks: HashMap<u32, TrackEnd>,
}

#[derive(Debug, Clone, Copy)]
struct TrackEnd {
    dts: Timestamp,
    step_us: i64,
}

/// What [`Timeline::place`] did with a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Placed {
    /// The offset changed for this segment.
    pub(crate) retimed: bool,
    /// Frames dropped because their decode time did not increase.
    pub(crate) dropped: usize,
}

// === impl Timeline ===

impl Timeline {
    /// Shifts the frames of one segment onto the timeline, in place, and
    /// sorts them by decode time (stable, so each track keeps its order).
    pub(crate) fn place(&mut self, frames: &mut Vec<Frame>, discontinuity: bool) -> Placed {
        let mut placed = Placed::default();
        let Some(seg_min) = frames.iter().map(|f| us(f.dts)).min() else {
            return placed;
        };
        if let Some(end) = self.end_us() {
            let mapped = seg_min.saturating_add(self.offset_us);
            let tolerance = JUMP_TOLERANCE.as_micros() as i64;
            if discontinuity || mapped.saturating_sub(end).abs() > tolerance {
                self.offset_us = end.saturating_sub(seg_min);
                placed.retimed = true;
            }
        }
        frames.sort_by_key(|f| us(f.dts));
        let offset_us = self.offset_us;
        let before = frames.len();
        frames.retain_mut(|f| {
            let shift = |t: Timestamp| {
                t.add_ticks(
                    Timestamp::new(offset_us, 1_000_000)
                        .rescale(t.timescale())
                        .ticks(),
                )
            };
            f.dts = shift(f.dts);
            f.pts = shift(f.pts);
            match self.tracks.get_mut(&f.track) {
                Some(end) if f.dts.rescale(end.dts.timescale()).ticks() <= end.dts.ticks() => false,
                Some(end) => {
                    end.step_us = us(f.dts) - us(end.dts);
                    end.dts = f.dts;
                    true
                }
                None => {
                    self.tracks.insert(
                        f.track,
                        TrackEnd {
                            dts: f.dts,
                            step_us: DEFAULT_STEP_US,
                        },
                    );
                    true
                }
            }
        });
        placed.dropped = before - frames.len();
        placed
    }

    /// Where the next segment should start: the latest track end plus its
    /// frame spacing. `None` before the first frame.
    fn end_us(&self) -> Option<i64> {
        self.tracks
            .values()
            .map(|t| us(t.dts).saturating_add(t.step_us.max(1)))
            .max()
    }
}

fn us(t: Timestamp) -> i64 {
    t.rescale(1_000_000).ticks()
}

/// Maps decode times to wall-clock instants: each frame is due when its
/// decode time, counted from an anchor frame, has elapsed since the anchor
/// was set. The anchor is set by the first frame, and set again (the frame
/// is due now) when a frame would be more than [`Pacer::MAX_LATE`] late (the
/// source stalled: catch up with a short burst at most, then keep real time)
/// or more than [`Pacer::MAX_AHEAD`] ahead (a gap in the decode times).
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    anchor: Option<(Instant, i64)>,
}

// === impl Pacer ===

impl Pacer {
    /// Largest lateness caught up by pushing frames at once.
    pub(crate) const MAX_LATE: Duration = Duration::from_secs(1);
    /// Largest wait for one frame.
    pub(crate) const MAX_AHEAD: Duration = Duration::from_secs(5);

    /// When `frame` is due.
    pub(crate) fn due(&mut self, frame: &Frame, now: Instant) -> Instant {
        let dts = us(frame.dts);
        if let Some((at, anchor)) = self.anchor {
            let delta = dts.saturating_sub(anchor);
            let due = if delta >= 0 {
                at.checked_add(Duration::from_micros(delta.unsigned_abs()))
            } else {
                at.checked_sub(Duration::from_micros(delta.unsigned_abs()))
            };
            if let Some(due) = due.filter(|d| *d + Self::MAX_LATE >= now && *d <= now + Self::MAX_AHEAD) {
                return due;
            }
        }
        self.anchor = Some((now, dts));
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(track: u32, ms: i64, timescale: u32) -> Frame {
        let t = Timestamp::new(ms * i64::from(timescale) / 1000, timescale);
        Frame::new(track, t, t, true, vec![0u8])
    }

    fn dts_ms(frames: &[Frame]) -> Vec<(u32, i64)> {
        frames
            .iter()
            .map(|f| (f.track, f.dts.rescale(1000).ticks()))
            .collect()
    }

    #[test]
    fn continuous_segments_pass_through() {
        let mut t = Timeline::default();
        let mut a = vec![
            frame(1, 1000, 90_000),
            frame(2, 1010, 48_000),
            frame(1, 1040, 90_000),
        ];
        assert_eq!(t.place(&mut a, false), Placed::default());
        assert_eq!(dts_ms(&a), [(1, 1000), (2, 1010), (1, 1040)]);
        let mut b = vec![frame(1, 1080, 90_000), frame(2, 1031, 48_000)];
        assert_eq!(t.place(&mut b, false), Placed::default());
        // sorted by decode time
        assert_eq!(dts_ms(&b), [(2, 1031), (1, 1080)]);
    }

    #[test]
    fn discontinuity_and_jumps_are_retimed() {
        let mut t = Timeline::default();
        let mut a = vec![frame(1, 5000, 90_000), frame(1, 5040, 90_000)];
        t.place(&mut a, false);
        // the same segment again after a discontinuity continues after it
        let mut b = vec![frame(1, 5000, 90_000), frame(1, 5040, 90_000)];
        let placed = t.place(&mut b, true);
        assert!(placed.retimed);
        assert_eq!(dts_ms(&b), [(1, 5080), (1, 5120)]);
        // a wrap back to zero without a tag: retimed too
        let mut c = vec![frame(1, 0, 90_000), frame(1, 40, 90_000)];
        assert!(t.place(&mut c, false).retimed);
        assert_eq!(dts_ms(&c), [(1, 5160), (1, 5200)]);
        // a big jump forward as well
        let mut d = vec![frame(1, 100_000, 90_000)];
        assert!(t.place(&mut d, false).retimed);
        assert_eq!(dts_ms(&d), [(1, 5240)]);
    }

    #[test]
    fn overlapping_frames_are_dropped() {
        let mut t = Timeline::default();
        let mut a = vec![frame(1, 0, 1000), frame(1, 40, 1000), frame(1, 80, 1000)];
        t.place(&mut a, false);
        let mut b = vec![frame(1, 40, 1000), frame(1, 80, 1000), frame(1, 120, 1000)];
        let placed = t.place(&mut b, false);
        assert_eq!(placed.dropped, 2);
        assert_eq!(dts_ms(&b), [(1, 120)]);
    }

    #[test]
    fn pacer_keeps_real_time_and_reanchors() {
        let mut p = Pacer::default();
        let t0 = Instant::now();
        assert_eq!(p.due(&frame(1, 1000, 1000), t0), t0);
        assert_eq!(p.due(&frame(1, 1040, 1000), t0), t0 + Duration::from_millis(40));
        // slightly late: due stays in the past (catch up)
        let later = t0 + Duration::from_millis(500);
        assert_eq!(
            p.due(&frame(1, 1080, 1000), later),
            t0 + Duration::from_millis(80)
        );
        // very late: re-anchored to now
        let much_later = t0 + Duration::from_secs(10);
        assert_eq!(p.due(&frame(1, 1120, 1000), much_later), much_later);
        // far ahead: re-anchored
        assert_eq!(p.due(&frame(1, 100_000, 1000), much_later), much_later);
        assert_eq!(
            p.due(&frame(1, 100_040, 1000), much_later),
            much_later + Duration::from_millis(40)
        );
    }
}
