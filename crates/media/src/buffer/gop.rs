//! The GOP index of a [`StreamBuffer`](super::StreamBuffer).

use std::time::Duration;

use crate::Timestamp;

/// A group of pictures in the window, as returned by
/// [`StreamBuffer::gops`](super::StreamBuffer::gops).
///
/// A GOP starts at a keyframe of the stream's GOP track (the first video track)
/// and runs until the next one; for streams without video it is a run of about
/// [`BufferConfig::audio_gop`](super::BufferConfig::audio_gop) of audio frames.
/// It holds the frames of every track pushed in that span, in ingest order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GopInfo {
    /// Sequence number of the GOP's first frame (its keyframe).
    pub start: u64,
    /// Sequence number one past the GOP's last frame.
    pub end: u64,
    /// Decode timestamp of the first frame.
    pub dts: Timestamp,
    /// Media-time length: up to the next GOP's start for complete GOPs, up to the
    /// newest frame for the open one.
    pub duration: Duration,
    /// Payload bytes of all frames in the GOP.
    pub bytes: u64,
    /// False for the newest GOP, which is still growing.
    pub complete: bool,
}

/// Book-keeping for one GOP of the window.
#[derive(Clone, Debug)]
pub(super) struct Gop {
    /// Sequence number of the first frame.
    pub(super) start: u64,
    /// Dts of the first frame.
    pub(super) dts: Timestamp,
    /// Dts of the first frame in microseconds.
    pub(super) start_us: i64,
    /// Largest dts of any frame in the GOP, in microseconds (at least `start_us`).
    pub(super) end_us: i64,
    /// Number of frames.
    pub(super) frames: u64,
    /// Payload bytes.
    pub(super) bytes: u64,
    /// Length in microseconds, fixed when the next GOP opens (0 while open).
    pub(super) duration_us: u64,
}

// === impl Gop ===

impl Gop {
    /// A GOP holding no frames yet, starting at `start` with dts `dts`.
    pub(super) fn new(start: u64, dts: Timestamp, start_us: i64) -> Self {
        Self {
            start,
            dts,
            start_us,
            end_us: start_us,
            frames: 0,
            bytes: 0,
            duration_us: 0,
        }
    }

    /// Accounts one more frame of `bytes` payload bytes at `us` microseconds.
    pub(super) fn add(&mut self, bytes: u64, us: i64) {
        self.frames += 1;
        self.bytes += bytes;
        self.end_us = self.end_us.max(us);
    }

    /// Length of the GOP if it stays open: from its start to its newest frame.
    pub(super) fn open_duration_us(&self) -> u64 {
        self.end_us.saturating_sub(self.start_us).max(0).unsigned_abs()
    }

    /// Fixes the GOP's duration now that the next GOP starts at `next_us`.
    ///
    /// Normally that is the distance between the two GOP starts. When time
    /// went backwards (a source restart nobody reported with `reset`), the
    /// distance is meaningless and the GOP's own span is used instead, so a
    /// timestamp jump never makes the window look empty or endless.
    pub(super) fn close(&mut self, next_us: i64) {
        self.duration_us = if next_us >= self.start_us {
            next_us.saturating_sub(self.start_us).unsigned_abs()
        } else {
            self.open_duration_us()
        };
    }

    /// Public view, `end` being the sequence number one past the last frame.
    pub(super) fn info(&self, complete: bool) -> GopInfo {
        let us = if complete {
            self.duration_us
        } else {
            self.open_duration_us()
        };
        GopInfo {
            start: self.start,
            end: self.start + self.frames,
            dts: self.dts,
            duration: Duration::from_micros(us),
            bytes: self.bytes,
            complete,
        }
    }
}
