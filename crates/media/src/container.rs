//! Whole-file helpers over the container modules: format detection, and
//! demuxing or muxing a complete file in memory.

use crate::{Frame, Track};

/// A container format with a demuxer and a muxer in this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// MPEG transport stream.
    Ts,
    /// Flash video.
    Flv,
    /// MP4 (read: progressive or fragmented; write: fragmented).
    Mp4,
    /// Raw AAC in ADTS frames.
    Adts,
}

/// The tracks and frames of a whole file, frames in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Demuxed {
    /// Tracks, in the order the container declares them.
    pub tracks: Vec<Track>,
    /// Frames, in file (decode) order.
    pub frames: Vec<Frame>,
}
