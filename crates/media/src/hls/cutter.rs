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
