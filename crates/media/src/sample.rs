//! Small, valid decoder configurations for examples, tests and benchmarks:
//! an H.264 track (Constrained Baseline, 640x480), a VP8 track and an
//! AAC-LC track (48 kHz stereo), with frames whose payloads are canonical.
//!
//! ```
//! let mut video = media::sample::h264_track(1);
//! video.describe();
//! assert_eq!(video.video.unwrap().width, 640);
//! let frame = media::sample::h264_frame(1, 25, true, 100);
//! assert_eq!((frame.data.len(), frame.dts.as_secs_f64()), (104, 1.0));
//! ```

use crate::{Codec, Frame, Timestamp, Track, VideoInfo, aac, h264};

/// Sequence parameter set of [`h264_track`] (Constrained Baseline, level 3.0, 640x480).
pub const H264_SPS: &[u8] = &[
    0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x3d, 0xa1, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03,
    0x00, 0x32, 0x0f, 0x16, 0x2e, 0x48,
];

/// Picture parameter set of [`h264_track`].
pub const H264_PPS: &[u8] = &[0x68, 0xcb, 0x83, 0xcb, 0x20];

/// An H.264 track `id` at 90 kHz whose `init` is the `avcC` of [`H264_SPS`] and [`H264_PPS`].
pub fn h264_track(id: u32) -> Track {
    let mut t = Track::new(id, Codec::H264, 90_000);
    if let Ok(config) = h264::AvcConfig::from_parameter_sets(&[H264_SPS], &[H264_PPS]) {
        t.init = config.encode();
    }
    t
}

/// An AAC-LC track `id`, 48 kHz stereo.
pub fn aac_track(id: u32) -> Track {
    let mut t = Track::new(id, Codec::Aac, 48_000);
    t.init = aac::AudioSpecificConfig {
        object_type: 2,
        sample_rate: 48_000,
        channels: 2,
    }
    .encode();
    t
}

/// Video frame `index` of track `track` at 25 fps (90 kHz), one NAL unit of
/// `len` bytes: an IDR slice when `keyframe`, else a non-IDR slice.
pub fn h264_frame(track: u32, index: i64, keyframe: bool, len: usize) -> Frame {
    let mut data = vec![0x5a; len + 4];
    data[..4].copy_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    if let Some(b) = data.get_mut(4) {
        *b = if keyframe { 0x65 } else { 0x41 };
    }
    let t = Timestamp::new(index * 3600, 90_000);
    Frame::new(track, t, t, keyframe, data)
}

/// A VP8 track `id` at 90 kHz of `width` x `height` (VP8 tracks have no init data).
pub fn vp8_track(id: u32, width: u32, height: u32) -> Track {
    let mut t = Track::new(id, Codec::Vp8, 90_000);
    t.video = Some(VideoInfo {
        width,
        height,
        profile: Some("0".into()),
        ..VideoInfo::default()
    });
    t
}

/// VP8 frame `index` of track `track` at 25 fps (90 kHz), `len` bytes (at
/// least the 10 bytes of a key frame header): a key frame of `width` x
/// `height` when `keyframe`, else an interframe.
pub fn vp8_frame(track: u32, index: i64, keyframe: bool, (width, height): (u16, u16), len: usize) -> Frame {
    let mut data = vec![0x5a; len.max(10)];
    // frame tag: key frame bit, version 0, shown, first partition of `len` bytes
    let tag = (u32::try_from(len).unwrap_or(0) & 0x7ffff) << 5 | 1 << 4 | u32::from(!keyframe);
    data[..3].copy_from_slice(&tag.to_le_bytes()[..3]);
    if keyframe {
        data[3..6].copy_from_slice(&crate::vp8::START_CODE);
        data[6..8].copy_from_slice(&(width & 0x3fff).to_le_bytes());
        data[8..10].copy_from_slice(&(height & 0x3fff).to_le_bytes());
    }
    let t = Timestamp::new(index * 3600, 90_000);
    Frame::new(track, t, t, keyframe, data)
}
