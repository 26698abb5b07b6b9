//! Self-check of a [`StreamBuffer`]'s internal invariants, for tests and fuzzing.

use super::StreamBuffer;

// === impl StreamBuffer ===

impl StreamBuffer {
    /// Verifies the internal invariants, in O(gops + marks); for tests and
    /// fuzzing. Returns what is broken.
    pub fn check_invariants(&self) -> std::result::Result<(), &'static str> {
        let check = |ok: bool, what: &'static str| if ok { Ok(()) } else { Err(what) };
        check(
            self.gops.is_empty() == self.frames.is_empty(),
            "gops empty iff frames empty",
        )?;
        check(
            self.gops.front().is_none_or(|g| g.start == self.base),
            "window starts at a gop",
        )?;
        let mut expect = self.base;
        let (mut bytes, mut closed) = (0, 0);
        for (i, g) in self.gops.iter().enumerate() {
            check(
                g.start == expect && g.frames > 0,
                "gops are contiguous and non-empty",
            )?;
            check(
                self.get(g.start).is_some_and(|f| f.keyframe),
                "gops start at keyframes",
            )?;
            expect += g.frames;
            bytes += g.bytes;
            if i + 1 < self.gops.len() {
                closed += g.duration_us;
            }
        }
        check(expect == self.next_seq(), "gops cover the window")?;
        check(bytes == self.bytes, "byte count")?;
        check(closed == self.closed_us, "duration count")?;
        check(self.gops.len() <= 2 || !self.over_limits(), "eviction ran")?;
        let max_gop = self.config.max_frames.max(1);
        check(self.gops.iter().all(|g| g.frames <= max_gop), "gop frame bound")?;
        check(
            self.epochs.is_valid(self.base),
            "epochs cover the window in order",
        )
    }
}
