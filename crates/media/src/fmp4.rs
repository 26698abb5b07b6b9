//! Fragmented MP4 / CMAF writing: init segments and `moof`/`mdat` fragments
//! (ISO/IEC 14496-12 §8.8, ISO/IEC 23000-19).
//!
//! Serves LL-HLS parts, progressive `/NAME.mp4` streaming and MP4 over
//! WebSocket. The init segment ([`write_init`], [`FragmentWriter::write_init`])
//! holds `ftyp` (brands `iso6`, `cmfc`, `mp41`, `isom`) and `moov` with one
//! `trak` per track and `mvex`/`trex`; sample tables are empty. Each fragment
//! ([`FragmentWriter::write_fragment`], [`FragmentWriter::fragment`]) is a
//! `moof` with one `traf` per track (`tfhd` with default-base-is-moof, `tfdt`
//! version 1, one `trun`) followed by one `mdat`.
//!
//! Sample entries: `avc1` + `avcC`, `hvc1` + `hvcC` (parameter sets in the
//! record, in-band copies in the frames are kept), `mp4a` + `esds`, `Opus` +
//! `dOps`. The NAL length size in `avcC`/`hvcC` is rewritten to 4 to match
//! the canonical frame payloads.
//!
//! ```
//! use media::{Codec, Frame, Timestamp, Track, fmp4};
//! let mut track = Track::new(1, Codec::Aac, 48_000);
//! track.init = media::aac::AudioSpecificConfig { object_type: 2, sample_rate: 48_000, channels: 2 }.encode();
//! let frames: Vec<Frame> = (0..3)
//!     .map(|i| Frame::new(1, Timestamp::new(i * 1024, 48_000), Timestamp::new(i * 1024, 48_000), true, vec![0u8; 10]))
//!     .collect();
//! let file = fmp4::write_all(&[track], &frames)?;
//! assert_eq!(&file[4..8], b"ftyp");
//! # Ok::<(), fmp4::Error>(())
//! ```

mod boxes;
mod file;
mod fragment;
mod init;
mod traf;

pub use file::write_all;
pub use fragment::{Fragment, FragmentWriter};

use bytes::BufMut;

use crate::Track;

/// Most tracks a writer accepts.
pub const MAX_TRACKS: usize = 64;

/// Largest decoder configuration (`avcC`, `hvcC`, AudioSpecificConfig, `dOps` body) accepted.
pub const MAX_INIT_LEN: usize = 1 << 20;

/// Sample flags of a sync sample (§8.8.3.1): `sample_depends_on` = 2 (does
/// not depend on others), `sample_is_non_sync_sample` = 0.
pub const SAMPLE_FLAGS_SYNC: u32 = 0x0200_0000;

/// Sample flags of a non-sync sample: `sample_depends_on` = 1,
/// `sample_is_non_sync_sample` = 1.
pub const SAMPLE_FLAGS_NON_SYNC: u32 = 0x0101_0000;

/// Errors of fragmented MP4 writing. Frame positions are indices into the
/// `frames` slice passed in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The track's codec cannot be put in MP4 by this writer.
    #[error("track {track}: codec {codec:?} is not supported in mp4")]
    UnsupportedCodec {
        /// [`Track::id`].
        track: u32,
        /// Codec name.
        codec: String,
    },
    /// The track has no decoder configuration.
    #[error("track {track}: {codec} needs decoder config (track init is empty)")]
    MissingInit {
        /// [`Track::id`].
        track: u32,
        /// Codec name.
        codec: String,
    },
    /// The decoder configuration does not parse.
    #[error("track {track}: bad decoder config: {reason}")]
    BadInit {
        /// [`Track::id`].
        track: u32,
        /// What was wrong.
        reason: String,
    },
    /// Two tracks share an id.
    #[error("duplicate track id {0}")]
    DuplicateTrack(u32),
    /// More than [`MAX_TRACKS`] tracks.
    #[error("{0} tracks exceed the limit of {MAX_TRACKS}")]
    TooManyTracks(usize),
    /// A frame names a track that is not in the track list.
    #[error("frame {frame} references unknown track {track}")]
    UnknownTrack {
        /// The frame's track id.
        track: u32,
        /// Index of the frame.
        frame: usize,
    },
    /// A track id given to [`FragmentWriter::set_decode_shift`] is not in the track list.
    #[error("no track with id {0}")]
    NoSuchTrack(u32),
    /// A frame's dts is below the previous frame's of the same track.
    #[error("track {track}: dts of frame {frame} goes backwards")]
    DtsOutOfOrder {
        /// [`Track::id`].
        track: u32,
        /// Index of the frame.
        frame: usize,
    },
    /// A decode time stays negative after the decode shift.
    #[error("track {track}: dts {dts} of frame {frame} is negative after a shift of {shift}")]
    NegativeDecodeTime {
        /// [`Track::id`].
        track: u32,
        /// Index of the frame.
        frame: usize,
        /// The dts in track ticks.
        dts: i64,
        /// The decode shift in effect.
        shift: u64,
    },
    /// The gap to the next frame does not fit a 32-bit sample duration.
    #[error("track {track}: duration {duration} of frame {frame} does not fit 32 bits")]
    DurationTooLong {
        /// [`Track::id`].
        track: u32,
        /// Index of the frame.
        frame: usize,
        /// The duration in track ticks.
        duration: i64,
    },
    /// `pts - dts` does not fit a signed 32-bit composition offset.
    #[error("track {track}: composition offset {offset} of frame {frame} does not fit 32 bits")]
    CompositionOffsetTooLarge {
        /// [`Track::id`].
        track: u32,
        /// Index of the frame.
        frame: usize,
        /// `pts - dts` in track ticks.
        offset: i64,
    },
    /// A frame payload of 4 GiB or more.
    #[error("track {track}: frame {frame} of {size} bytes is too large for mp4")]
    FrameTooLarge {
        /// [`Track::id`].
        track: u32,
        /// Index of the frame.
        frame: usize,
        /// Payload length.
        size: usize,
    },
    /// A fragment too large for 32-bit `moof` sizes or `trun` data offsets.
    #[error("fragment of {size} bytes is too large")]
    FragmentTooLarge {
        /// Size in bytes (payload, or whole fragment).
        size: u64,
    },
}

/// Result of fragmented MP4 writing.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Writes the init segment (`ftyp` + `moov`) for `tracks`, without edit
/// lists. Use [`FragmentWriter`] to write edit lists for decode time shifts.
///
/// Errors: see [`FragmentWriter::new`].
pub fn write_init(tracks: &[Track], out: &mut impl BufMut) -> Result<()> {
    FragmentWriter::new(tracks)?.write_init(out);
    Ok(())
}
