//! Video tag bodies: the legacy VIDEODATA header (FLV 10.1 §E.4.3.1, AVC
//! extension §E.4.3.1 AVCVIDEOPACKET) and the Enhanced RTMP v1 extended
//! header (`IsExHeader`, FourCC, PacketType).

use bytes::{BufMut, Bytes};

use super::{Error, Result};
use crate::Codec;

/// Legacy CodecID of AVC / H.264 (FLV 10.1 §E.4.3.1).
pub const CODEC_ID_AVC: u8 = 7;
/// Legacy CodecID 12 for HEVC: not in the Adobe spec, but widely used.
pub const CODEC_ID_HEVC: u8 = 12;
/// Enhanced RTMP FourCC of AVC.
pub const FOURCC_AVC: [u8; 4] = *b"avc1";
/// Enhanced RTMP FourCC of HEVC.
pub const FOURCC_HEVC: [u8; 4] = *b"hvc1";

/// Legacy frame type of a keyframe.
const FRAME_KEY: u8 = 1;
/// Legacy frame type of an inter frame.
const FRAME_INTER: u8 = 2;
/// Frame type of a video info / command frame.
const FRAME_COMMAND: u8 = 5;
/// `IsExHeader` bit of the first byte (Enhanced RTMP v1).
const EX_HEADER: u8 = 0x80;

/// Enhanced RTMP PacketType values.
mod packet_type {
    pub(super) const SEQUENCE_START: u8 = 0;
    pub(super) const CODED_FRAMES: u8 = 1;
    pub(super) const SEQUENCE_END: u8 = 2;
    pub(super) const CODED_FRAMES_X: u8 = 3;
    pub(super) const METADATA: u8 = 4;
    pub(super) const MPEG2TS_SEQUENCE_START: u8 = 5;
}

/// What a video tag body carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoPacket {
    /// AVC sequence header / SequenceStart: the `avcC` or `hvcC` body.
    SequenceHeader(Bytes),
    /// Coded frame data with NAL units as the stream frames them (length
    /// size from the decoder configuration).
    Frame {
        /// FrameType 1 (keyframe).
        keyframe: bool,
        /// CompositionTime in milliseconds (signed 24-bit); 0 for CodedFramesX.
        cts: i32,
        /// The NAL units.
        data: Bytes,
    },
    /// AVC end of sequence / SequenceEnd.
    EndOfSequence,
    /// Something a reader ignores: a video info / command frame, Enhanced
    /// RTMP Metadata or MPEG-2 TS sequence start.
    Ignored(&'static str),
}

/// A parsed video tag body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTag {
    /// [`Codec::H264`] or [`Codec::H265`].
    pub codec: Codec,
    /// True for the Enhanced RTMP header, false for the legacy one.
    pub enhanced: bool,
    /// The payload.
    pub packet: VideoPacket,
}

/// Parses a video tag body (the payload of an RTMP video message as well).
///
/// Legacy AVC (CodecID 7) and HEVC (CodecID 12), Enhanced RTMP `avc1` and
/// `hvc1`. Other codecs are [`Error::UnsupportedVideoCodec`] /
/// [`Error::UnsupportedFourCc`].
pub fn parse_video_body(body: &Bytes) -> Result<VideoTag> {
    let first = *body.first().ok_or(Error::TruncatedBody {
        what: "video header",
        offset: 0,
    })?;
    if first & EX_HEADER != 0 {
        parse_enhanced(first, body)
    } else {
        parse_legacy(first, body)
    }
}

/// The legacy header: FrameType, CodecID, AVCPacketType, CompositionTime.
fn parse_legacy(first: u8, body: &Bytes) -> Result<VideoTag> {
    let frame_type = first >> 4;
    let codec = match first & 0x0f {
        CODEC_ID_AVC => Codec::H264,
        CODEC_ID_HEVC => Codec::H265,
        id => return Err(Error::UnsupportedVideoCodec(id)),
    };
    let tag = |packet| VideoTag {
        codec: codec.clone(),
        enhanced: false,
        packet,
    };
    if frame_type == FRAME_COMMAND {
        return Ok(tag(VideoPacket::Ignored("video info/command frame")));
    }
    if body.len() < 5 {
        return Err(Error::TruncatedBody {
            what: "avc video packet header",
            offset: 1,
        });
    }
    let cts = si24(&body[2..5]);
    let packet = match body[1] {
        0 => VideoPacket::SequenceHeader(body.slice(5..)),
        1 => VideoPacket::Frame {
            keyframe: frame_type == FRAME_KEY,
            cts,
            data: body.slice(5..),
        },
        2 => VideoPacket::EndOfSequence,
        value => return Err(Error::UnsupportedPacketType { what: "video", value }),
    };
    Ok(tag(packet))
}

/// The Enhanced RTMP v1 header: IsExHeader, FrameType, PacketType, FourCC.
fn parse_enhanced(first: u8, body: &Bytes) -> Result<VideoTag> {
    let frame_type = (first >> 4) & 0x07;
    let packet_type = first & 0x0f;
    if body.len() < 5 {
        return Err(Error::TruncatedBody {
            what: "video fourcc",
            offset: 1,
        });
    }
    let fourcc = [body[1], body[2], body[3], body[4]];
    let codec = match fourcc {
        FOURCC_AVC => Codec::H264,
        FOURCC_HEVC => Codec::H265,
        _ => {
            return Err(Error::UnsupportedFourCc(
                String::from_utf8_lossy(&fourcc).into_owned(),
            ));
        }
    };
    let tag = |packet| VideoTag {
        codec: codec.clone(),
        enhanced: true,
        packet,
    };
    if frame_type == FRAME_COMMAND && packet_type != packet_type::METADATA {
        return Ok(tag(VideoPacket::Ignored("video command frame")));
    }
    let keyframe = frame_type == FRAME_KEY;
    let packet = match packet_type {
        packet_type::SEQUENCE_START => VideoPacket::SequenceHeader(body.slice(5..)),
        packet_type::CODED_FRAMES => {
            if body.len() < 8 {
                return Err(Error::TruncatedBody {
                    what: "composition time",
                    offset: 5,
                });
            }
            VideoPacket::Frame {
                keyframe,
                cts: si24(&body[5..8]),
                data: body.slice(8..),
            }
        }
        packet_type::CODED_FRAMES_X => VideoPacket::Frame {
            keyframe,
            cts: 0,
            data: body.slice(5..),
        },
        packet_type::SEQUENCE_END => VideoPacket::EndOfSequence,
        packet_type::METADATA => VideoPacket::Ignored("enhanced rtmp video metadata"),
        packet_type::MPEG2TS_SEQUENCE_START => VideoPacket::Ignored("mpeg-2 ts sequence start"),
        value => return Err(Error::UnsupportedPacketType { what: "video", value }),
    };
    Ok(tag(packet))
}

// === impl VideoTag ===

impl VideoTag {
    /// Writes the body: the legacy header (CodecID 7 or 12) or the Enhanced
    /// RTMP one (`avc1` / `hvc1`, CodedFrames with a composition time).
    /// [`VideoPacket::Ignored`] is written as a legacy video info frame or an
    /// empty Enhanced RTMP Metadata packet, both of which readers ignore.
    pub fn encode(&self, out: &mut impl BufMut) -> Result<()> {
        let (frame_type, data): (u8, &[u8]) = match &self.packet {
            VideoPacket::SequenceHeader(d) => (FRAME_KEY, d),
            VideoPacket::Frame { keyframe, data, .. } => {
                (if *keyframe { FRAME_KEY } else { FRAME_INTER }, data)
            }
            VideoPacket::EndOfSequence => (FRAME_KEY, &[]),
            VideoPacket::Ignored(_) => (FRAME_COMMAND, &[]),
        };
        let cts = match &self.packet {
            VideoPacket::Frame { cts, .. } => {
                if !(-(1 << 23)..(1 << 23)).contains(cts) {
                    return Err(Error::CtsOutOfRange(i64::from(*cts)));
                }
                Some(*cts)
            }
            _ => None,
        };
        let (codec_id, fourcc) = match self.codec {
            Codec::H264 => (CODEC_ID_AVC, FOURCC_AVC),
            Codec::H265 => (CODEC_ID_HEVC, FOURCC_HEVC),
            ref c => return Err(Error::UnsupportedCodec(c.clone())),
        };
        if self.enhanced {
            let packet_type = match &self.packet {
                VideoPacket::SequenceHeader(_) => packet_type::SEQUENCE_START,
                VideoPacket::Frame { .. } => packet_type::CODED_FRAMES,
                VideoPacket::EndOfSequence => packet_type::SEQUENCE_END,
                VideoPacket::Ignored(_) => packet_type::METADATA,
            };
            out.put_u8(EX_HEADER | (frame_type << 4) | packet_type);
            out.put_slice(&fourcc);
            if let Some(cts) = cts {
                out.put_uint(u64::from(cts as u32 & 0x00ff_ffff), 3);
            }
        } else {
            let avc_packet_type = match &self.packet {
                VideoPacket::SequenceHeader(_) => 0,
                VideoPacket::Frame { .. } => 1,
                VideoPacket::EndOfSequence => 2,
                VideoPacket::Ignored(_) => {
                    // a video info frame: one byte of command
                    out.put_u8((FRAME_COMMAND << 4) | codec_id);
                    out.put_u8(0);
                    return Ok(());
                }
            };
            out.put_u8((frame_type << 4) | codec_id);
            out.put_u8(avc_packet_type);
            out.put_uint(u64::from(cts.unwrap_or(0) as u32 & 0x00ff_ffff), 3);
        }
        out.put_slice(data);
        Ok(())
    }
}

/// Writes a video tag body in this crate's default flavour: H.264 as legacy
/// AVC (CodecID 7), H.265 as Enhanced RTMP `hvc1`. For RTMP video messages too.
pub fn video_body(codec: &Codec, packet: VideoPacket, out: &mut impl BufMut) -> Result<()> {
    VideoTag {
        codec: codec.clone(),
        enhanced: *codec == Codec::H265,
        packet,
    }
    .encode(out)
}

/// Signed 24-bit big-endian integer of the first three bytes (callers check the length).
fn si24(b: &[u8]) -> i32 {
    let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
    ((v << 8) as i32) >> 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_composition_time_is_sign_extended() {
        let body = Bytes::from_static(&[0x27, 1, 0xff, 0xff, 0xd8, 0, 0, 0, 1, 0x41]);
        let tag = parse_video_body(&body).unwrap();
        assert_eq!(
            tag.packet,
            VideoPacket::Frame {
                keyframe: false,
                cts: -40,
                data: Bytes::from_static(&[0, 0, 0, 1, 0x41])
            }
        );
        let mut out = Vec::new();
        tag.encode(&mut out).unwrap();
        assert_eq!(out, body);
    }

    #[test]
    fn enhanced_coded_frames_x_has_no_composition_time() {
        let body = Bytes::from_static(&[0x93, b'h', b'v', b'c', b'1', 0, 0, 0, 1, 0x26]);
        let tag = parse_video_body(&body).unwrap();
        assert_eq!(tag.codec, Codec::H265);
        assert!(tag.enhanced);
        assert_eq!(
            tag.packet,
            VideoPacket::Frame {
                keyframe: true,
                cts: 0,
                data: body.slice(5..)
            }
        );
    }

    #[test]
    fn enhanced_round_trip_with_cts() {
        let tag = VideoTag {
            codec: Codec::H265,
            enhanced: true,
            packet: VideoPacket::Frame {
                keyframe: false,
                cts: -(1 << 23),
                data: Bytes::from_static(&[0, 0, 0, 2, 2, 1]),
            },
        };
        let mut out = Vec::new();
        tag.encode(&mut out).unwrap();
        assert_eq!(&out[..5], b"\xa1hvc1");
        assert_eq!(parse_video_body(&Bytes::from(out)).unwrap(), tag);
    }

    #[test]
    fn unknown_codecs_and_truncation_are_errors() {
        let e = parse_video_body(&Bytes::from_static(&[0x12, 0, 0])).unwrap_err();
        assert_eq!(e, Error::UnsupportedVideoCodec(2));
        let e = parse_video_body(&Bytes::from_static(&[0x90, b'a', b'v', b'0', b'1'])).unwrap_err();
        assert_eq!(e, Error::UnsupportedFourCc("av01".into()));
        let e = parse_video_body(&Bytes::from_static(&[0x17, 1, 0])).unwrap_err();
        assert!(matches!(e, Error::TruncatedBody { offset: 1, .. }));
        let e = parse_video_body(&Bytes::from_static(&[0x91, b'h', b'v', b'c', b'1', 0])).unwrap_err();
        assert!(e.to_string().contains("byte 5"), "{e}");
        assert!(parse_video_body(&Bytes::new()).is_err());
    }
}
