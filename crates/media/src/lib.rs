//! Tributary's media core: the frame and track model, codec parameter parsing,
//! container demuxers and muxers, and the live frame buffer.
//!
//! **Invariant:** this crate performs no IO. It never opens sockets or files,
//! never reads a clock (callers pass time in), never spawns tasks and never
//! reads environment variables. Every parser takes bytes and returns values or
//! an error; bad input is an error, never a panic.
//!
//! | spec | what | module |
//! |---|---|---|
//! | ITU-T H.264 / ISO/IEC 14496-10 | SPS, NAL units | [`h264`], [`nal`] |
//! | ITU-T H.265 / ISO/IEC 23008-2 | VPS/SPS, NAL units | [`h265`], [`nal`] |
//! | ISO/IEC 14496-15 | `avcC`, `hvcC`, length-prefixed NAL units | [`h264`], [`h265`] |
//! | RFC 6386, VP codec ISO media binding | VP8 key frame header, `vpcC` | [`vp8`] |
//! | ISO/IEC 14496-3 | AudioSpecificConfig, ADTS | [`aac`] |
//! | ISO/IEC 13818-1 (H.222.0) | MPEG transport stream | [`ts`] |
//! | Adobe FLV 10.1, Enhanced RTMP v1 | FLV tags | [`flv`] |
//! | ISO/IEC 14496-12, ISO/IEC 23000-19 (CMAF) | MP4 reading, fragmented MP4 writing | [`mp4`], [`fmp4`] |
//!
//! ```
//! use media::{Codec, Frame, Timestamp};
//! let f = Frame::new(1, Timestamp::new(3000, 90_000), Timestamp::new(6000, 90_000), true, vec![0u8; 4]);
//! assert_eq!(f.pts.rescale(1000).ticks(), 67);
//! assert!(Codec::H264.is_video());
//! ```
#![deny(missing_docs)]
#![deny(clippy::mod_module_files)]

pub mod aac;
pub mod adts;
pub mod bits;
pub mod buffer;
pub mod container;
pub mod fec;
pub mod flv;
pub mod fmp4;
mod frame;
pub mod h264;
pub mod h265;
pub mod hls;
pub mod mp4;
pub mod nal;
pub mod rtmp;
pub mod rtp;
pub mod sample;
pub mod sdp;
#[cfg(test)]
mod test_support;
pub mod ts;
pub mod vp8;

pub use frame::{AudioInfo, Codec, Frame, Mark, SegmentMark, Timestamp, Track, VideoInfo};
