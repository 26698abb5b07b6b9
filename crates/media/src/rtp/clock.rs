//! RTP clocks: unwrapping 32-bit timestamps and deriving decode timestamps.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Largest reorder depth a [`DtsEstimator`] uses.
pub const MAX_REORDER_DEPTH: usize = 16;

/// Unwraps 32-bit RTP timestamps (RFC 3550 §5.1) into a monotonic `i64`.
///
/// Each timestamp is mapped to the value congruent to it modulo 2^32 that is
/// nearest to the previous result (the first is taken as is). A stream that
/// crosses 2^32 (every 13.25 hours at 90 kHz) keeps counting up; timestamps
/// that go back a little (B-frames in decode order) go back a little.
///
/// ```
/// use media::rtp::TimestampUnwrapper;
/// let mut u = TimestampUnwrapper::new();
/// assert_eq!(u.extend(u32::MAX - 10), 4_294_967_285);
/// assert_eq!(u.extend(20), 4_294_967_316);
/// assert_eq!(u.extend(u32::MAX), 4_294_967_295);
/// ```
#[derive(Debug, Clone, Default)]
pub struct TimestampUnwrapper {
    last: Option<i64>,
}

/// Derives monotonic decode timestamps from presentation timestamps of
/// video frames in decode order, as RTP carries only the presentation time.
///
/// With a reorder depth `D` (frames a decoder holds before output, e.g.
/// 2 for x264's B-pyramid), the decoder outputs, after decoding frame `k`,
/// the `(k - D)`-th smallest presentation time; that value is final by then
/// and is frame `k`'s decode time. It is never above the frame's
/// presentation time and never decreases. The first `D` frames get
/// `first_pts - (2D - k) * frame_duration`: twice the depth, because the
/// first frame may be an anchor whose leading B-frames (up to `D` frames
/// earlier) follow it, as when a receiver joins mid-stream. Nothing is
/// delayed.
///
/// A stream reordering deeper than `D` gets its decode times clamped to
/// stay strictly increasing, which can put them above the presentation time.
///
/// ```
/// use media::rtp::DtsEstimator;
/// // I0 P3 B1 B2 in decode order, one frame = 10 ticks
/// let mut d = DtsEstimator::new(1, 10);
/// let dts: Vec<i64> = [0, 30, 10, 20].into_iter().map(|pts| d.dts(pts)).collect();
/// assert_eq!(dts, [-20, 0, 10, 20]);
/// ```
#[derive(Debug, Clone)]
pub struct DtsEstimator {
    depth: usize,
    frame_duration: i64,
    held: BinaryHeap<Reverse<i64>>,
    count: usize,
    first_pts: Option<i64>,
    last_dts: Option<i64>,
}

// === impl TimestampUnwrapper ===

impl TimestampUnwrapper {
    /// An unwrapper that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The unwrapped value of `timestamp`.
    pub fn extend(&mut self, timestamp: u32) -> i64 {
        let value = match self.last {
            None => i64::from(timestamp),
            Some(last) => last.saturating_add(i64::from(timestamp.wrapping_sub(last as u32) as i32)),
        };
        self.last = Some(value);
        value
    }

    /// The last value returned.
    pub fn last(&self) -> Option<i64> {
        self.last
    }
}

// === impl DtsEstimator ===

impl DtsEstimator {
    /// An estimator for reorder depth `depth` (clamped to
    /// [`MAX_REORDER_DEPTH`]) and a nominal frame duration in ticks.
    pub fn new(depth: usize, frame_duration: i64) -> Self {
        let depth = depth.min(MAX_REORDER_DEPTH);
        Self {
            depth,
            frame_duration: frame_duration.max(1),
            held: BinaryHeap::with_capacity(depth + 1),
            count: 0,
            first_pts: None,
            last_dts: None,
        }
    }

    /// The reorder depth in use.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The decode time of the next frame (in decode order), given its presentation time.
    pub fn dts(&mut self, pts: i64) -> i64 {
        self.held.push(Reverse(pts));
        let candidate = if self.held.len() > self.depth {
            self.held.pop().map_or(pts, |Reverse(p)| p)
        } else {
            let first = *self.first_pts.get_or_insert(pts);
            let ahead = (2 * self.depth).saturating_sub(self.count) as i64;
            first.saturating_sub(ahead.saturating_mul(self.frame_duration))
        };
        self.count = self.count.saturating_add(1);
        let dts = match self.last_dts {
            Some(last) if candidate <= last => last.saturating_add(1),
            _ => candidate,
        };
        self.last_dts = Some(dts);
        dts
    }

    /// Starts over (a new sender), keeping decode times increasing past the last one.
    pub fn reset(&mut self) {
        self.held.clear();
        self.count = 0;
        self.first_pts = None;
    }
}
