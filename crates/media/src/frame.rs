//! The frame and track model shared by every container and protocol.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A point in media time: `ticks` counted in units of `1 / timescale` seconds.
///
/// Never a bare integer: containers use different clocks (MPEG-TS 90 kHz and
/// 33-bit wrapping, FLV milliseconds, MP4 per-track timescales). Ticks are
/// signed because MP4 edit lists can put the first decode times below zero.
/// Wrap-around of 33-bit MPEG-TS clocks is unwrapped by the TS demuxer, so a
/// `Timestamp` is monotonic within a track.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Timestamp {
    ticks: i64,
    timescale: u32,
}

/// Codec of a track.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// H.264 / AVC. Frame payloads are length-prefixed NAL units (4-byte lengths).
    H264,
    /// H.265 / HEVC. Frame payloads are length-prefixed NAL units (4-byte lengths).
    H265,
    /// VP8. Frame payloads are single compressed frames (RFC 6386 §9); a
    /// key frame has bit 0 of its first byte clear.
    Vp8,
    /// AAC. Frame payloads are raw access units (no ADTS header).
    Aac,
    /// Opus. Frame payloads are Opus packets.
    Opus,
    /// A codec this crate does not interpret; payloads are passed through.
    Other(String),
}

/// Video parameters of a track, from its parameter sets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VideoInfo {
    /// Luma width in pixels after cropping.
    pub width: u32,
    /// Luma height in pixels after cropping.
    pub height: u32,
    /// Frames per second, when the bitstream signals it.
    pub fps: Option<f64>,
    /// Profile name or number as the codec spells it (e.g. "High", "Main").
    pub profile: Option<String>,
    /// Level, e.g. 3.1 for H.264 level_idc 31.
    pub level: Option<f64>,
}

/// Audio parameters of a track.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioInfo {
    /// Samples per second.
    pub sample_rate: u32,
    /// Number of channels.
    pub channels: u8,
}

/// One elementary stream of a media stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    /// Identifier, unique within the stream. Containers map their own ids
    /// (PID, track_ID, FLV tag type) onto it.
    pub id: u32,
    /// Codec of the payloads.
    pub codec: Codec,
    /// Clock of this track's timestamps (ticks per second).
    pub timescale: u32,
    /// Decoder configuration in its MP4 form: `avcC` body for H.264, `hvcC`
    /// body for H.265, AudioSpecificConfig for AAC, `dOps` body for Opus.
    /// Empty when not yet known, and always for VP8 (whose frames carry
    /// their own configuration).
    pub init: Bytes,
    /// Video parameters, for video tracks whose init data is known (for VP8,
    /// set by whoever saw a key frame).
    pub video: Option<VideoInfo>,
    /// Audio parameters, for audio tracks.
    pub audio: Option<AudioInfo>,
}

/// One access unit of one track.
///
/// The payload is reference-counted: cloning a frame never copies its bytes,
/// so one ingested frame is shared by every viewer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// [`Track::id`] of the track this frame belongs to.
    pub track: u32,
    /// Decode timestamp.
    pub dts: Timestamp,
    /// Presentation timestamp (same timescale as `dts`).
    pub pts: Timestamp,
    /// True for a random access point (IDR/IRAP for video; every audio frame).
    pub keyframe: bool,
    /// Payload in the codec's canonical form (see [`Codec`]).
    pub data: Bytes,
    /// Where HLS packagers cut at this frame; `None` for frames inside a part.
    pub mark: Option<Mark>,
}

/// Where HLS packagers cut the stream at one lead-track frame.
///
/// Segment and part boundaries are decided once, where the stream enters the
/// system (the ingest's hub), and travel with the frames (over the relay
/// too), so that every packager of the stream on every node names and numbers
/// its segments and parts alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Mark {
    /// Set when this frame starts a segment (and so also a part).
    pub segment: Option<SegmentMark>,
    /// Set when this frame starts a part: the part's sequence number.
    pub part: Option<u64>,
    /// Set when the open part ends right after this frame: the part's end
    /// (the next lead frame's predicted time), in ticks of this frame's `dts`.
    pub part_end: Option<i64>,
}

/// The start of an HLS segment, as decided where the stream entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentMark {
    /// Media sequence number of the segment.
    pub msn: u64,
    /// The segment follows a discontinuity (source restart, time jump).
    pub discontinuity: bool,
    /// Discontinuities before and including this segment since the stream's numbering began.
    pub discontinuity_sequence: u64,
    /// Wall clock of the segment's first frame, in milliseconds since the
    /// Unix epoch (`EXT-X-PROGRAM-DATE-TIME`).
    pub program_date_time_ms: u64,
}

// === impl Timestamp ===

impl Timestamp {
    /// A timestamp of `ticks` at `timescale` ticks per second.
    ///
    /// A zero timescale is treated as 1 so that arithmetic never divides by zero.
    pub const fn new(ticks: i64, timescale: u32) -> Self {
        let timescale = if timescale == 0 { 1 } else { timescale };
        Self { ticks, timescale }
    }

    /// Tick count.
    pub const fn ticks(self) -> i64 {
        self.ticks
    }

    /// Ticks per second.
    pub const fn timescale(self) -> u32 {
        self.timescale
    }

    /// The same instant in another timescale, rounded to the nearest tick.
    pub fn rescale(self, timescale: u32) -> Self {
        let timescale = timescale.max(1);
        if timescale == self.timescale {
            return self;
        }
        let num = i128::from(self.ticks) * i128::from(timescale);
        let den = i128::from(self.timescale);
        let half = den / 2;
        let q = if num >= 0 {
            (num + half) / den
        } else {
            (num - half) / den
        };
        Self::new(q.clamp(i64::MIN.into(), i64::MAX.into()) as i64, timescale)
    }

    /// Seconds as a float, for display.
    pub fn as_secs_f64(self) -> f64 {
        self.ticks as f64 / f64::from(self.timescale)
    }

    /// This timestamp plus `ticks` of its own timescale (saturating).
    pub const fn add_ticks(self, ticks: i64) -> Self {
        Self {
            ticks: self.ticks.saturating_add(ticks),
            timescale: self.timescale,
        }
    }
}

// === impl Codec ===

impl Codec {
    /// True for video codecs.
    pub fn is_video(&self) -> bool {
        matches!(self, Self::H264 | Self::H265 | Self::Vp8)
    }

    /// True for audio codecs.
    pub fn is_audio(&self) -> bool {
        matches!(self, Self::Aac | Self::Opus)
    }

    /// Short lower-case name, as printed by `tributary analyse`.
    pub fn name(&self) -> &str {
        match self {
            Self::H264 => "h264",
            Self::H265 => "h265",
            Self::Vp8 => "vp8",
            Self::Aac => "aac",
            Self::Opus => "opus",
            Self::Other(s) => s,
        }
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

// === impl Track ===

impl Track {
    /// A track with no init data yet.
    pub fn new(id: u32, codec: Codec, timescale: u32) -> Self {
        Self {
            id,
            codec,
            timescale,
            init: Bytes::new(),
            video: None,
            audio: None,
        }
    }

    /// True when a muxer can describe the track: its init data is known, or
    /// its codec needs none (VP8 frames carry their own configuration).
    pub fn has_config(&self) -> bool {
        !self.init.is_empty() || self.codec == Codec::Vp8
    }

    /// Fills [`Track::video`] or [`Track::audio`] from the init data. Init data
    /// that does not parse leaves them unset (the track is still usable).
    /// VP8 tracks keep their video parameters (they come from key frames).
    pub fn describe(&mut self) {
        match self.codec {
            Codec::H264 => self.video = crate::h264::video_info(&self.init).ok(),
            Codec::H265 => self.video = crate::h265::video_info(&self.init).ok(),
            Codec::Vp8 => {}
            Codec::Aac => {
                self.audio = crate::aac::AudioSpecificConfig::parse(&self.init)
                    .ok()
                    .map(|c| AudioInfo {
                        sample_rate: c.sample_rate,
                        channels: c.channels,
                    })
            }
            Codec::Opus => {
                // dOps: Version, OutputChannelCount, ...; Opus always decodes at 48 kHz (RFC 7845 §5.1)
                self.audio = self.init.get(1).map(|&channels| AudioInfo {
                    sample_rate: 48_000,
                    channels,
                })
            }
            Codec::Other(_) => {}
        }
    }
}

// === impl Frame ===

impl Frame {
    /// A frame from its parts.
    pub fn new(track: u32, dts: Timestamp, pts: Timestamp, keyframe: bool, data: impl Into<Bytes>) -> Self {
        Self {
            track,
            dts,
            pts,
            keyframe,
            data: data.into(),
            mark: None,
        }
    }

    /// Composition offset `pts - dts` in ticks of the dts timescale.
    pub fn cts(&self) -> i64 {
        self.pts.rescale(self.dts.timescale()).ticks() - self.dts.ticks()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rescale_rounds_to_nearest() {
        assert_eq!(Timestamp::new(1, 3).rescale(1000).ticks(), 333);
        assert_eq!(Timestamp::new(2, 3).rescale(1000).ticks(), 667);
        assert_eq!(Timestamp::new(-2, 3).rescale(1000).ticks(), -667);
        assert_eq!(Timestamp::new(90_000, 90_000).rescale(1000).ticks(), 1000);
    }

    proptest! {
        #[test]
        fn rescale_to_finer_and_back_is_identity(t in -(1i64 << 40)..(1i64 << 40), k in 1u32..1000) {
            let ts = Timestamp::new(t, 1000);
            prop_assert_eq!(ts.rescale(1000 * k).rescale(1000), ts);
        }
    }
}
