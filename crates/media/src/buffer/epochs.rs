//! Track epochs of a [`StreamBuffer`](super::StreamBuffer): which tracks each
//! frame of the window belongs to.

use std::collections::VecDeque;

use crate::Track;

/// The epochs still referenced by the window, oldest first.
///
/// **Invariant:** never empty; starts and epochs strictly increase; the first
/// mark's start is at or before the window's first frame.
#[derive(Clone, Debug)]
pub(super) struct Epochs {
    marks: VecDeque<EpochMark>,
    current: u64,
}

/// Tracks of the frames from sequence number `start` on (until the next mark).
#[derive(Clone, Debug)]
pub(super) struct EpochMark {
    pub(super) epoch: u64,
    pub(super) start: u64,
    pub(super) tracks: Vec<Track>,
}

// === impl Epochs ===

impl Epochs {
    /// Epoch 0 with no tracks, from sequence number 0.
    pub(super) fn new() -> Self {
        Self {
            marks: VecDeque::from([EpochMark {
                epoch: 0,
                start: 0,
                tracks: Vec::new(),
            }]),
            current: 0,
        }
    }

    /// Number of the newest epoch.
    pub(super) fn current(&self) -> u64 {
        self.current
    }

    /// The newest epoch.
    pub(super) fn newest(&self) -> &EpochMark {
        // Never empty: `new` creates a mark and `begin` pushes one after popping.
        self.marks.back().expect("epochs are never empty")
    }

    /// Starts a new epoch with `tracks` for the frames from `start` on.
    /// `clear` forgets all older epochs (the window was cleared).
    pub(super) fn begin(&mut self, start: u64, tracks: Vec<Track>, clear: bool) {
        self.current += 1;
        if clear {
            self.marks.clear();
        }
        // A mark that no frame belongs to yet is simply replaced.
        if self.marks.back().is_some_and(|m| m.start >= start) {
            self.marks.pop_back();
        }
        self.marks.push_back(EpochMark {
            epoch: self.current,
            start,
            tracks,
        });
    }

    /// The epoch of the frame `seq` (the oldest one for frames before it).
    pub(super) fn at(&self, seq: u64) -> &EpochMark {
        // Few marks, and readers are near the newest one: scan from the back.
        let newest = self.newest();
        if newest.start <= seq {
            return newest;
        }
        let oldest = self.marks.front().unwrap_or(newest);
        self.marks.iter().rev().find(|m| m.start <= seq).unwrap_or(oldest)
    }

    /// Forgets epochs that no frame from `base` on belongs to.
    pub(super) fn prune(&mut self, base: u64) {
        while self.marks.len() > 1 && self.marks.get(1).is_some_and(|m| m.start <= base) {
            self.marks.pop_front();
        }
    }

    /// Whether the invariant holds for a window starting at `base`.
    pub(super) fn is_valid(&self, base: u64) -> bool {
        let ordered = (self.marks.iter().zip(self.marks.iter().skip(1)))
            .all(|(a, b)| a.start < b.start && a.epoch < b.epoch);
        ordered && self.marks.front().is_some_and(|m| m.start <= base) && self.newest().epoch == self.current
    }
}
