//! VP8: the frame tag and key frame header (RFC 6386 §9.1), and the `vpcC`
//! decoder configuration of the ISO VP codec binding ("VP Codec ISO Media
//! File Format Binding" §2.2).
//!
//! A VP8 frame payload is one compressed frame as RFC 6386 §9 describes it:
//! a 3-byte little-endian frame tag (bit 0 is 0 for a key frame), and for key
//! frames the start code `9d 01 2a` then two 16-bit little-endian fields of
//! a 14-bit dimension and a 2-bit scale.
//!
//! ```
//! let key = [0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
//! assert!(media::vp8::is_keyframe(&key));
//! let header = media::vp8::KeyframeHeader::parse(&key).unwrap();
//! assert_eq!((header.width, header.height), (640, 480));
//! ```

use bytes::{BufMut, Bytes, BytesMut};

/// The start code of a key frame, after the frame tag.
pub const START_CODE: [u8; 3] = [0x9d, 0x01, 0x2a];

/// Errors of VP8 header parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The frame is shorter than its header.
    #[error("vp8 frame of {0} bytes is shorter than its header")]
    Truncated(usize),
    /// The frame is an interframe, which has no dimensions.
    #[error("not a vp8 key frame")]
    NotKeyframe,
    /// The key frame's start code is not `9d 01 2a`.
    #[error("bad vp8 start code {0:02x?}")]
    BadStartCode([u8; 3]),
    /// The key frame says its width or height is zero.
    #[error("vp8 key frame of {width}x{height}")]
    ZeroSize {
        /// The width field.
        width: u16,
        /// The height field.
        height: u16,
    },
}

/// Result of VP8 parsing.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The frame tag and dimensions of a VP8 key frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyframeHeader {
    /// `version` (0 to 3 are defined: reconstruction and loop filter variants).
    pub version: u8,
    /// `show_frame`.
    pub show_frame: bool,
    /// `first_part_size`: bytes of the first partition.
    pub first_part_size: u32,
    /// Width in pixels (14 bits).
    pub width: u16,
    /// Horizontal upscaling code (2 bits).
    pub horizontal_scale: u8,
    /// Height in pixels (14 bits).
    pub height: u16,
    /// Vertical upscaling code (2 bits).
    pub vertical_scale: u8,
}

/// True when `frame` is a VP8 key frame (bit 0 of the frame tag is 0). An
/// empty payload is not.
pub fn is_keyframe(frame: &[u8]) -> bool {
    frame.first().is_some_and(|b| b & 1 == 0)
}

// === impl KeyframeHeader ===

impl KeyframeHeader {
    /// Bytes of a key frame's tag, start code and dimensions.
    pub const LEN: usize = 10;

    /// Parses the start of a key frame.
    pub fn parse(frame: &[u8]) -> Result<Self> {
        let Some(head) = frame.get(..Self::LEN) else {
            return Err(if is_keyframe(frame) || frame.is_empty() {
                Error::Truncated(frame.len())
            } else {
                Error::NotKeyframe
            });
        };
        if !is_keyframe(head) {
            return Err(Error::NotKeyframe);
        }
        let tag = u32::from(head[0]) | u32::from(head[1]) << 8 | u32::from(head[2]) << 16;
        let start = [head[3], head[4], head[5]];
        if start != START_CODE {
            return Err(Error::BadStartCode(start));
        }
        let horizontal = u16::from_le_bytes([head[6], head[7]]);
        let vertical = u16::from_le_bytes([head[8], head[9]]);
        let header = Self {
            version: ((tag >> 1) & 7) as u8,
            show_frame: (tag >> 4) & 1 == 1,
            first_part_size: tag >> 5,
            width: horizontal & 0x3fff,
            horizontal_scale: (horizontal >> 14) as u8,
            height: vertical & 0x3fff,
            vertical_scale: (vertical >> 14) as u8,
        };
        if header.width == 0 || header.height == 0 {
            return Err(Error::ZeroSize {
                width: header.width,
                height: header.height,
            });
        }
        Ok(header)
    }

    /// The track's video parameters: its size (VP8 signals no frame rate,
    /// and has a single profile per `version`).
    pub fn video_info(&self) -> crate::VideoInfo {
        crate::VideoInfo {
            width: u32::from(self.width),
            height: u32::from(self.height),
            fps: None,
            profile: Some(self.version.to_string()),
            level: None,
        }
    }
}

/// Video parameters of a VP8 track from one of its key frames.
pub fn video_info(frame: &[u8]) -> Result<crate::VideoInfo> {
    KeyframeHeader::parse(frame).map(|h| h.video_info())
}

/// The body of a `vpcC` box (version 1, flags 0) for a VP8 track: profile
/// 0, level 10, 8-bit 4:2:0 (chroma sited with luma), limited range,
/// unspecified colour primaries, transfer and matrix, no initialization data.
pub fn vpcc() -> Bytes {
    let mut b = BytesMut::with_capacity(12);
    b.put_u32(1 << 24); // version 1, flags 0
    b.put_u8(0); // profile
    b.put_u8(10); // level
    b.put_u8(8 << 4 | 1 << 1); // bitDepth 8, chromaSubsampling 1, videoFullRangeFlag 0
    b.put_u8(2); // colourPrimaries: unspecified
    b.put_u8(2); // transferCharacteristics: unspecified
    b.put_u8(2); // matrixCoefficients: unspecified
    b.put_u16(0); // codecInitializationDataSize
    b.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A key frame header: version 0, shown, first partition of `part` bytes.
    fn key(width: u16, height: u16, part: u32) -> Vec<u8> {
        let tag = (part << 5) | 1 << 4;
        let mut out = tag.to_le_bytes()[..3].to_vec();
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(&width.to_le_bytes());
        out.extend_from_slice(&height.to_le_bytes());
        out.extend_from_slice(&[0; 16]);
        out
    }

    #[test]
    fn key_frame_header_gives_size_and_tag_fields() {
        let frame = key(1280, 720, 4321);
        assert!(is_keyframe(&frame));
        let h = KeyframeHeader::parse(&frame).unwrap();
        assert_eq!(
            h,
            KeyframeHeader {
                version: 0,
                show_frame: true,
                first_part_size: 4321,
                width: 1280,
                horizontal_scale: 0,
                height: 720,
                vertical_scale: 0,
            }
        );
        let info = video_info(&frame).unwrap();
        assert_eq!((info.width, info.height, info.fps), (1280, 720, None));
    }

    #[test]
    fn scale_bits_are_not_part_of_the_size() {
        let mut frame = key(320, 240, 10);
        frame[7] |= 0x80; // horizontal scale 2
        frame[9] |= 0x40; // vertical scale 1
        let h = KeyframeHeader::parse(&frame).unwrap();
        assert_eq!((h.width, h.height), (320, 240));
        assert_eq!((h.horizontal_scale, h.vertical_scale), (2, 1));
    }

    #[test]
    fn interframes_and_damaged_headers_are_errors() {
        let mut inter = key(640, 480, 10);
        inter[0] |= 1;
        assert!(!is_keyframe(&inter));
        assert_eq!(KeyframeHeader::parse(&inter), Err(Error::NotKeyframe));
        assert_eq!(KeyframeHeader::parse(&[0x01]), Err(Error::NotKeyframe));
        assert!(!is_keyframe(&[]));
        assert_eq!(KeyframeHeader::parse(&[]), Err(Error::Truncated(0)));
        assert_eq!(
            KeyframeHeader::parse(&key(640, 480, 1)[..9]),
            Err(Error::Truncated(9))
        );

        let mut bad = key(640, 480, 10);
        bad[4] = 0x02;
        assert_eq!(
            KeyframeHeader::parse(&bad),
            Err(Error::BadStartCode([0x9d, 0x02, 0x2a]))
        );
        assert_eq!(
            KeyframeHeader::parse(&key(0, 480, 10)),
            Err(Error::ZeroSize {
                width: 0,
                height: 480
            })
        );
    }

    #[test]
    fn vpcc_is_version_1_profile_0_8_bit_420() {
        assert_eq!(&vpcc()[..], &[1, 0, 0, 0, 0, 10, 0x82, 2, 2, 2, 0, 0]);
    }

    #[test]
    fn sample_frames_parse() {
        let key = crate::sample::vp8_frame(1, 0, true, (640, 360), 100);
        assert_eq!(key.data.len(), 100);
        let info = video_info(&key.data).unwrap();
        assert_eq!((info.width, info.height), (640, 360));
        let inter = crate::sample::vp8_frame(1, 1, false, (640, 360), 50);
        assert!(!is_keyframe(&inter.data));
        assert_eq!(inter.pts.ticks(), 3600);
    }

    #[test]
    fn vp8_tracks_need_no_init_but_mpeg_ts_leaves_them_out() {
        let vp8 = crate::sample::vp8_track(1, 640, 360);
        assert!(vp8.init.is_empty() && vp8.has_config() && vp8.codec.is_video());
        assert!(!crate::Track::new(2, crate::Codec::Aac, 48_000).has_config());
        let muxable = crate::ts::muxable(vec![vp8, crate::sample::aac_track(2)]);
        assert_eq!(muxable.len(), 1);
        assert_eq!(muxable[0].codec, crate::Codec::Aac);
        assert!(crate::ts::Muxer::new(&[crate::sample::vp8_track(1, 640, 360)]).is_err());
    }

    #[test]
    fn flv_refuses_vp8_tracks() {
        let vp8 = crate::sample::vp8_track(1, 640, 360);
        let mut out = Vec::new();
        assert!(crate::flv::write_sequence_header(&vp8, 0, &mut out).is_err());
        let frame = crate::sample::vp8_frame(1, 0, true, (640, 360), 100);
        assert!(crate::flv::write_frame(&vp8, &frame, &mut out).is_err());
    }

    #[test]
    fn vp8_track_survives_describe() {
        let mut t = crate::sample::vp8_track(1, 320, 240);
        t.describe();
        assert_eq!(t.video.map(|v| (v.width, v.height)), Some((320, 240)));
        assert_eq!(crate::Codec::Vp8.name(), "vp8");
        assert_eq!(serde_json::to_string(&crate::Codec::Vp8).unwrap(), "\"vp8\"");
    }

    proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..32)) {
            if let Ok(h) = KeyframeHeader::parse(&data) {
                prop_assert!(is_keyframe(&data));
                prop_assert!(h.width > 0 && h.width < 1 << 14);
                prop_assert!(h.height > 0 && h.height < 1 << 14);
            }
        }

        #[test]
        fn any_size_round_trips(width in 1u16..(1 << 14), height in 1u16..(1 << 14), part in 0u32..(1 << 19)) {
            let h = KeyframeHeader::parse(&key(width, height, part)).unwrap();
            prop_assert_eq!((h.width, h.height, h.first_part_size), (width, height, part));
        }
    }
}
