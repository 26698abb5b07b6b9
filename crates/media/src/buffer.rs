//! The live frame buffer: a bounded window of frames indexed by GOP, read by many cursors.
//!
//! One [`StreamBuffer`] holds the recent frames of every track of one live
//! stream, in ingest order. Each accepted frame gets a sequence number (`u64`),
//! its position; sequence numbers grow by one per frame and are never reused,
//! not even across [`StreamBuffer::reset`].
//!
//! **Invariant:** the window is empty or starts at a GOP start (a keyframe of the
//! GOP track), and the newest GOP is never evicted. Frames arriving before the
//! first GOP start are refused ([`Error::WaitingForKeyframe`]).
//!
//! The buffer is pure: it never reads a clock. Time is media time, from frame
//! decode timestamps. It has no locks and no notifications either: a node wraps
//! it in a lock and wakes its readers (e.g. with `tokio::sync::watch`) after
//! each [`push`](StreamBuffer::push). [`read`](StreamBuffer::read) takes `&self`,
//! so readers can share a read lock, and costs O(1): the window is a `VecDeque`
//! whose front has a known sequence number, so finding a frame is a subtraction.
//!
//! ```
//! use media::buffer::{BufferConfig, Read, StreamBuffer};
//! use media::{Codec, Frame, Timestamp, Track};
//!
//! let mut buf = StreamBuffer::new(BufferConfig::default());
//! buf.set_tracks(vec![Track::new(1, Codec::H264, 90_000)]);
//! let frame = |n: i64, key: bool| {
//!     Frame::new(1, Timestamp::new(n * 3600, 90_000), Timestamp::new(n * 3600, 90_000), key, vec![0u8; 8])
//! };
//! assert!(buf.push(frame(0, false)).is_err()); // no keyframe yet
//! assert_eq!(buf.push(frame(1, true)), Ok(0));
//! assert_eq!(buf.push(frame(2, false)), Ok(1));
//!
//! let mut cursor = buf.cursor_at_live_edge();
//! assert!(matches!(buf.read(&mut cursor), Read::Tracks { epoch: 1, .. }));
//! assert!(matches!(buf.read(&mut cursor), Read::Frame(f) if f.keyframe));
//! assert!(matches!(buf.read(&mut cursor), Read::Frame(f) if !f.keyframe));
//! assert!(matches!(buf.read(&mut cursor), Read::Pending));
//! ```

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;

use crate::{Frame, Track};

mod epochs;
mod gop;
mod invariants;

use epochs::Epochs;
use gop::Gop;
pub use gop::GopInfo;

/// Error of [`StreamBuffer::push`]: why a frame was refused. The buffer is
/// unchanged and the frame got no sequence number.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No GOP is open yet (the stream started or was reset) and this frame does
    /// not start one: it could not be decoded by any reader.
    #[error("frame on track {track} dropped: waiting for the first keyframe")]
    WaitingForKeyframe {
        /// Track of the refused frame.
        track: u32,
    },
    /// The open GOP already holds [`BufferConfig::max_frames`] frames or
    /// [`BufferConfig::max_bytes`] bytes; frames are refused until the next
    /// keyframe, which bounds memory when a source stops sending keyframes.
    #[error(
        "frame on track {track} dropped: gop at sequence {gop_start} is full ({frames} frames, {bytes} bytes)"
    )]
    GopFull {
        /// Track of the refused frame.
        track: u32,
        /// Sequence number of the full GOP's first frame.
        gop_start: u64,
        /// Frames in the full GOP.
        frames: u64,
        /// Payload bytes in the full GOP.
        bytes: u64,
    },
}

/// Result of buffer operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Limits of a [`StreamBuffer`] window.
///
/// Whole GOPs are evicted from the front while the window is over any limit,
/// but the newest complete GOP and the open GOP are always kept. A GOP may not
/// grow past `max_frames` frames or (after its first frame) `max_bytes` bytes:
/// further frames are refused until the next keyframe ([`Error::GopFull`]). So
/// the window stays within twice those limits, plus one oversized keyframe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufferConfig {
    /// Longest span of media time (by frame dts) to keep. Default 30 s.
    pub max_duration: Duration,
    /// Most payload bytes to keep. Default 128 MiB.
    pub max_bytes: u64,
    /// Most frames to keep. Default 32768.
    pub max_frames: u64,
    /// GOP length for streams without a video track, where every frame is a
    /// keyframe: frames are grouped into GOPs of about this length so that the
    /// GOP index stays small. Default 1 s.
    pub audio_gop: Duration,
}

/// A reader's position in a [`StreamBuffer`]: the sequence number of the next
/// frame to read, plus the track epoch the reader was last told about.
///
/// Cursors are plain values: one per reader, any number per buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    next: u64,
    epoch: Option<u64>,
}

/// Outcome of [`StreamBuffer::read`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Read<'a> {
    /// The next frame; the cursor moved past it. Its sequence number is
    /// `cursor.position() - 1`. Clone it to keep it: that only bumps a refcount.
    Frame(&'a Frame),
    /// The frames from here on belong to a new track epoch (or this is the
    /// reader's first read): (re)initialise from `tracks`. The cursor did not
    /// move; the next read returns the frame.
    Tracks {
        /// Epoch of the following frames, see [`StreamBuffer::epoch`].
        epoch: u64,
        /// Tracks of the following frames.
        tracks: &'a [Track],
    },
    /// The reader is caught up: wait for the next push.
    Pending,
    /// The cursor's position was evicted (the reader was too slow) or reset:
    /// it has been moved to the live edge, the newest GOP start. The reader
    /// must restart decoding from the next frame.
    Skipped {
        /// Frames between the old and the new position that the reader will never see.
        lost: u64,
        /// The cursor's old position.
        from: u64,
        /// The cursor's new position.
        to: u64,
    },
}

/// Counters of a [`StreamBuffer`], for metrics and the admin API.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Frames in the window.
    pub frames: u64,
    /// Payload bytes in the window.
    pub bytes: u64,
    /// Media time spanned by the window.
    pub duration: Duration,
    /// GOPs in the window.
    pub gops: u64,
    /// Sequence number of the oldest frame in the window.
    pub first_seq: u64,
    /// Sequence number the next accepted frame will get.
    pub next_seq: u64,
    /// Current track epoch.
    pub epoch: u64,
    /// Frames accepted since creation.
    pub pushed: u64,
    /// Frames refused since creation.
    pub rejected: u64,
    /// Frames evicted (or cleared by reset) since creation.
    pub evicted: u64,
}

/// The live window of one stream. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct StreamBuffer {
    config: BufferConfig,
    /// Frames of the window; `frames[i]` has sequence number `base + i`.
    frames: VecDeque<Frame>,
    base: u64,
    /// GOP index; `gops[0].start == base` whenever the window is not empty.
    gops: VecDeque<Gop>,
    bytes: u64,
    /// Sum of `duration_us` of all GOPs but the last.
    closed_us: u64,
    /// Track epochs still referenced by the window.
    epochs: Epochs,
    /// Track whose keyframes start GOPs; `None`: group by `audio_gop`.
    gop_track: Option<u32>,
    max_duration_us: u64,
    audio_gop_us: u64,
    pushed: u64,
    rejected: u64,
    evicted: u64,
}

// === impl BufferConfig ===

impl Default for BufferConfig {
    fn default() -> Self {
        Self {
            max_duration: Duration::from_secs(30),
            max_bytes: 128 << 20,
            max_frames: 32_768,
            audio_gop: Duration::from_secs(1),
        }
    }
}

// === impl Cursor ===

impl Cursor {
    /// Sequence number of the next frame this cursor reads.
    pub const fn position(&self) -> u64 {
        self.next
    }

    /// Track epoch the reader was last told about by [`Read::Tracks`], if any.
    pub const fn epoch(&self) -> Option<u64> {
        self.epoch
    }

    const fn at(next: u64) -> Self {
        Self { next, epoch: None }
    }
}

// === impl StreamBuffer ===

impl StreamBuffer {
    /// An empty buffer with no tracks, at epoch 0.
    pub fn new(config: BufferConfig) -> Self {
        let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Self {
            max_duration_us: us(config.max_duration),
            audio_gop_us: us(config.audio_gop),
            config,
            frames: VecDeque::new(),
            base: 0,
            gops: VecDeque::new(),
            bytes: 0,
            closed_us: 0,
            epochs: Epochs::new(),
            gop_track: None,
            pushed: 0,
            rejected: 0,
            evicted: 0,
        }
    }

    /// The limits this buffer was created with.
    pub fn config(&self) -> &BufferConfig {
        &self.config
    }

    /// Changes the longest span of media time kept (a stream's DVR window).
    /// A shorter window takes effect as the next frames are pushed.
    pub fn set_max_duration(&mut self, max: Duration) {
        self.config.max_duration = max;
        self.max_duration_us = u64::try_from(max.as_micros()).unwrap_or(u64::MAX);
    }

    /// Declares the stream's tracks. When they differ from the current ones
    /// the epoch is bumped and frames pushed from now on belong to the new
    /// epoch; readers learn about it through [`Read::Tracks`] when they reach
    /// the first such frame. The window is kept.
    ///
    /// The first video track becomes the GOP track: only its keyframes start
    /// GOPs. Without one, frames are grouped by [`BufferConfig::audio_gop`]
    /// until some track pushes a non-keyframe, which makes it the GOP track.
    pub fn set_tracks(&mut self, tracks: Vec<Track>) {
        if tracks == self.tracks() {
            return;
        }
        self.gop_track = tracks.iter().find(|t| t.codec.is_video()).map(|t| t.id);
        self.epochs.begin(self.next_seq(), tracks, false);
    }

    /// The source restarted: clears the window, bumps the epoch and waits for
    /// a keyframe again. Tracks are kept (declare new ones with
    /// [`set_tracks`](Self::set_tracks)). Sequence numbers continue, so every
    /// existing cursor gets [`Read::Skipped`] on its next read.
    pub fn reset(&mut self) {
        self.evicted += self.frames.len() as u64;
        self.base += self.frames.len() as u64;
        self.frames.clear();
        self.gops.clear();
        self.bytes = 0;
        self.closed_us = 0;
        let tracks = self.tracks().to_vec();
        self.gop_track = tracks.iter().find(|t| t.codec.is_video()).map(|t| t.id);
        self.epochs.begin(self.next_seq(), tracks, true);
    }

    /// Appends a frame, evicts old GOPs as the limits require, and returns the
    /// frame's sequence number.
    ///
    /// # Errors
    /// The frame is refused (and the buffer unchanged) when no GOP is open and
    /// it does not start one, or when the open GOP is full; see [`Error`].
    pub fn push(&mut self, frame: Frame) -> Result<u64> {
        let us = frame.dts.rescale(1_000_000).ticks();
        let size = frame.data.len() as u64;
        if !frame.keyframe && self.gop_track.is_none() {
            // A track with dependent frames: GOPs must follow its keyframes.
            self.gop_track = Some(frame.track);
        }
        let seq = self.next_seq();
        if self.starts_gop(&frame, us) {
            if let Some(last) = self.gops.back_mut() {
                last.close(us);
                self.closed_us += last.duration_us;
            }
            self.gops.push_back(Gop::new(seq, frame.dts, us));
        } else if let Err(e) = self.check_room(&frame, size) {
            self.rejected += 1;
            return Err(e);
        }
        // The branch above ensures a GOP is open.
        let gop = self.gops.back_mut().expect("a gop is open");
        gop.add(size, us);
        self.frames.push_back(frame);
        self.bytes += size;
        self.pushed += 1;
        self.evict();
        Ok(seq)
    }

    /// A cursor at the live edge: the newest GOP start (the newest keyframe of
    /// the video track), or the next frame to come when the window is empty.
    pub fn cursor_at_live_edge(&self) -> Cursor {
        Cursor::at(self.live_edge())
    }

    /// A cursor at the oldest frame of the window (a GOP start).
    pub fn cursor_at_oldest(&self) -> Cursor {
        Cursor::at(self.base)
    }

    /// A cursor at the oldest GOP start of the current track epoch: the
    /// longest run a reader can take without a track change (falls back to
    /// the live edge when no GOP of the epoch is in the window).
    pub fn cursor_at_oldest_of_epoch(&self) -> Cursor {
        let epoch = self.epoch();
        let start = self
            .gop_starts()
            .find(|s| self.tracks_at(*s).0 == epoch)
            .unwrap_or_else(|| self.live_edge());
        Cursor::at(start)
    }

    /// A cursor at `seq`, if `seq` is in the window or is the next sequence
    /// number. Positions inside a GOP are allowed: the caller decides where
    /// decoding can start (use [`gop_at`](Self::gop_at) to find GOP starts).
    pub fn cursor_at(&self, seq: u64) -> Option<Cursor> {
        (self.base..=self.next_seq())
            .contains(&seq)
            .then_some(Cursor::at(seq))
    }

    /// Reads at `cursor` and advances it. O(1) per frame.
    ///
    /// The first read of a new cursor, and the first read at a frame of a newer
    /// epoch, return [`Read::Tracks`]; a cursor whose position was evicted gets
    /// [`Read::Skipped`] and is moved to the live edge.
    pub fn read<'a>(&'a self, cursor: &mut Cursor) -> Read<'a> {
        let next_seq = self.next_seq();
        if cursor.next < self.base || cursor.next > next_seq {
            // Evicted, or a cursor from the future (another buffer): jump to the edge.
            let (from, to) = (cursor.next, self.live_edge());
            cursor.next = to;
            return Read::Skipped {
                lost: to.saturating_sub(from),
                from,
                to,
            };
        }
        if cursor.next == next_seq {
            return Read::Pending;
        }
        let mark = self.epochs.at(cursor.next);
        if cursor.epoch != Some(mark.epoch) {
            cursor.epoch = Some(mark.epoch);
            return Read::Tracks {
                epoch: mark.epoch,
                tracks: &mark.tracks,
            };
        }
        // In range: base <= next < next_seq = base + frames.len().
        let frame = &self.frames[(cursor.next - self.base) as usize];
        cursor.next += 1;
        Read::Frame(frame)
    }

    /// How many frames `cursor` is behind the newest frame.
    pub fn behind(&self, cursor: &Cursor) -> u64 {
        self.next_seq().saturating_sub(cursor.next)
    }

    /// The frame with sequence number `seq`, if it is in the window.
    pub fn get(&self, seq: u64) -> Option<&Frame> {
        let i = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        self.frames.get(i)
    }

    /// Frames of the window with their sequence numbers, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (u64, &Frame)> + '_ {
        let base = self.base;
        self.frames
            .iter()
            .enumerate()
            .map(move |(i, f)| (base + i as u64, f))
    }

    /// The GOPs of the window, oldest first; the last one is still open.
    pub fn gops(&self) -> impl DoubleEndedIterator<Item = GopInfo> + '_ {
        let last = self.gops.len().saturating_sub(1);
        self.gops.iter().enumerate().map(move |(i, g)| g.info(i < last))
    }

    /// Sequence numbers of the GOP starts in the window, oldest first.
    pub fn gop_starts(&self) -> impl DoubleEndedIterator<Item = u64> + '_ {
        self.gops.iter().map(|g| g.start)
    }

    /// The GOP holding the frame `seq`, if it is in the window. O(log gops).
    pub fn gop_at(&self, seq: u64) -> Option<GopInfo> {
        if !(self.base..self.next_seq()).contains(&seq) {
            return None;
        }
        let i = self.gops.partition_point(|g| g.start <= seq).checked_sub(1)?;
        Some(self.gops.get(i)?.info(i + 1 < self.gops.len()))
    }

    /// Current tracks, as last set by [`set_tracks`](Self::set_tracks).
    pub fn tracks(&self) -> &[Track] {
        &self.epochs.newest().tracks
    }

    /// Current track epoch: bumped by every track change and every reset.
    pub fn epoch(&self) -> u64 {
        self.epochs.current()
    }

    /// Tracks and epoch of the frame `seq` (which may predate a track change).
    pub fn tracks_at(&self, seq: u64) -> (u64, &[Track]) {
        let mark = self.epochs.at(seq);
        (mark.epoch, &mark.tracks)
    }

    /// Sequence number of the oldest frame in the window (or of the next frame
    /// when the window is empty).
    pub fn first_seq(&self) -> u64 {
        self.base
    }

    /// Sequence number the next accepted frame will get.
    pub fn next_seq(&self) -> u64 {
        self.base + self.frames.len() as u64
    }

    /// Number of frames in the window.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True when the window holds no frame.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Media time spanned by the window: from the oldest GOP start to the
    /// newest frame, not counting backward timestamp jumps.
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.duration_us())
    }

    /// Counters, for metrics.
    pub fn stats(&self) -> Stats {
        Stats {
            frames: self.frames.len() as u64,
            bytes: self.bytes,
            duration: self.duration(),
            gops: self.gops.len() as u64,
            first_seq: self.base,
            next_seq: self.next_seq(),
            epoch: self.epochs.current(),
            pushed: self.pushed,
            rejected: self.rejected,
            evicted: self.evicted,
        }
    }

    fn live_edge(&self) -> u64 {
        self.gops.back().map_or_else(|| self.next_seq(), |g| g.start)
    }

    fn starts_gop(&self, frame: &Frame, us: i64) -> bool {
        if !frame.keyframe {
            return false;
        }
        match (self.gop_track, self.gops.back()) {
            (Some(track), _) => frame.track == track,
            (None, None) => true,
            // Both directions: a backward jump must not keep one GOP open forever.
            (None, Some(gop)) => us.abs_diff(gop.start_us) >= self.audio_gop_us,
        }
    }

    /// Whether a frame that does not start a GOP can join the open one.
    fn check_room(&self, frame: &Frame, size: u64) -> Result<()> {
        let Some(gop) = self.gops.back() else {
            return Err(Error::WaitingForKeyframe { track: frame.track });
        };
        if gop.frames >= self.config.max_frames || gop.bytes.saturating_add(size) > self.config.max_bytes {
            return Err(Error::GopFull {
                track: frame.track,
                gop_start: gop.start,
                frames: gop.frames,
                bytes: gop.bytes,
            });
        }
        Ok(())
    }

    fn duration_us(&self) -> u64 {
        let open = self.gops.back().map_or(0, Gop::open_duration_us);
        self.closed_us.saturating_add(open)
    }

    fn over_limits(&self) -> bool {
        self.frames.len() as u64 > self.config.max_frames
            || self.bytes > self.config.max_bytes
            || self.duration_us() > self.max_duration_us
    }

    /// Evicts whole GOPs from the front, keeping the newest complete and the open one.
    fn evict(&mut self) {
        while self.gops.len() > 2 && self.over_limits() {
            let Some(gop) = self.gops.pop_front() else { break };
            let n = usize::try_from(gop.frames)
                .unwrap_or(usize::MAX)
                .min(self.frames.len());
            self.frames.drain(..n);
            self.base += n as u64;
            self.evicted += n as u64;
            self.bytes -= gop.bytes;
            self.closed_us -= gop.duration_us;
        }
        self.epochs.prune(self.base);
    }
}

#[cfg(test)]
mod tests;
