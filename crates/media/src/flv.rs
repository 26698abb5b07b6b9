//! FLV tag reading and writing (Adobe FLV 10.1, Enhanced RTMP v1 for HEVC).
//!
//! An FLV file is a 9-byte header (FLV 10.1 §E.2) followed by
//! `PreviousTagSize0` and tags, each followed by its own `PreviousTagSize`
//! (§E.3). A tag (§E.4.1) has an 11-byte header (type, 24-bit data size,
//! 24-bit timestamp plus an 8-bit extension giving 32-bit milliseconds, a
//! stream id that is always 0) and a body: audio (§E.4.2), video (§E.4.3) or
//! script data (§E.4.4, AMF0).
//!
//! The layers, each usable on its own:
//!
//! - [`TagReader`] cuts tags out of a byte stream (`Result<Option<Tag>>`,
//!   consuming only whole tags) and checks `PreviousTagSize` (a mismatch is a
//!   [`Warning`], not an error).
//! - [`parse_video_body`] / [`parse_audio_body`] decode tag bodies into
//!   [`VideoTag`] / [`AudioTag`] without any state; RTMP video and audio
//!   messages carry exactly these bodies.
//! - [`Demuxer`] turns bodies into [`Event`]s: tracks (when a sequence header
//!   arrives), canonical [`Frame`](crate::Frame)s, metadata. Video is track
//!   [`VIDEO_TRACK_ID`], audio [`AUDIO_TRACK_ID`], both with timescale 1000.
//! - Writing: [`write_header`], [`write_metadata`], [`write_sequence_headers`],
//!   [`write_frame`], and the body builders [`video_body`] / [`audio_body`]
//!   (for RTMP). H.264 is written as legacy AVC (codec id 7) with 4-byte NAL
//!   lengths, H.265 as Enhanced RTMP `hvc1`, AAC as sound format 10.
//!
//! Codecs read: legacy AVC (codec id 7), legacy HEVC (codec id 12, a common
//! non-standard extension), Enhanced RTMP `avc1` / `hvc1`, AAC. Other codecs
//! are skipped with a warning.
//!
//! ```
//! use media::{flv, Codec, Frame, Timestamp, Track};
//! let mut track = Track::new(flv::AUDIO_TRACK_ID, Codec::Aac, 1000);
//! track.init = bytes::Bytes::from_static(&[0x12, 0x10]); // AAC-LC, 44.1 kHz, stereo
//! let frame = Frame::new(2, Timestamp::new(23, 1000), Timestamp::new(23, 1000), true, vec![1, 2, 3]);
//! let file = flv::write_all(&[track], &[frame.clone()]).unwrap();
//! let back = flv::read_all(&file).unwrap();
//! assert_eq!(back.frames, vec![frame]);
//! ```

mod amf;
mod audio;
mod demux;
mod mux;
mod tag;
mod video;

pub use amf::{MAX_AMF_DEPTH, Metadata};
pub use audio::{AAC_SOUND_HEADER, AudioPacket, AudioTag, SOUND_FORMAT_AAC, audio_body, parse_audio_body};
pub use demux::{Demuxer, Event};
pub use mux::{
    write_all, write_end_of_sequence, write_frame, write_header, write_metadata, write_sequence_header,
    write_sequence_headers, write_tag,
};
pub use tag::{
    FileHeader, HEADER_SIZE, MAX_HEADER_SIZE, MAX_TAG_DATA_SIZE, TAG_HEADER_SIZE, Tag, TagReader, TagType,
};
pub use video::{
    CODEC_ID_AVC, CODEC_ID_HEVC, FOURCC_AVC, FOURCC_HEVC, VideoPacket, VideoTag, parse_video_body, video_body,
};

use crate::container::Demuxed;

/// [`crate::Track::id`] of the video track.
pub const VIDEO_TRACK_ID: u32 = 1;
/// [`crate::Track::id`] of the audio track.
pub const AUDIO_TRACK_ID: u32 = 2;
/// Timescale of FLV timestamps (milliseconds).
pub const TIMESCALE: u32 = 1000;

/// Errors of FLV reading and writing.
///
/// Errors returned by [`TagReader`] and [`read_all`] are fatal. Errors from
/// the body parsers and from [`Demuxer`] mean that one tag is skipped; they
/// are collected as [`Warning`]s by [`read_file`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The input is empty.
    #[error("empty input: not an flv file")]
    Empty,
    /// The input does not start with `FLV`.
    #[error("not an flv file: signature at byte 0")]
    BadSignature,
    /// The header's DataOffset is below 9 or above [`MAX_HEADER_SIZE`].
    #[error("flv header data offset {value} at byte 5 is out of range 9..={max}")]
    BadDataOffset {
        /// The DataOffset field.
        value: u32,
        /// The largest accepted value.
        max: usize,
    },
    /// The file header is cut off.
    #[error("truncated flv header: {available} of {needed} bytes")]
    TruncatedHeader {
        /// Header length.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// A tag is cut off at the end of the input.
    #[error("truncated tag at byte {offset}: needs {needed} bytes, {available} available")]
    TruncatedTag {
        /// Byte offset of the tag header.
        offset: u64,
        /// Bytes the tag needs (header and data).
        needed: usize,
        /// Bytes present from the tag header on.
        available: usize,
    },
    /// A tag's DataSize exceeds the reader's limit.
    #[error("tag at byte {offset} has data size {size}, above the limit of {max} bytes")]
    TagTooLarge {
        /// Byte offset of the tag header.
        offset: u64,
        /// The DataSize field.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A PreviousTagSize does not match the preceding tag (a warning only).
    #[error("previous tag size at byte {offset} is {found}, expected {expected}")]
    PreviousTagSize {
        /// Byte offset of the PreviousTagSize field.
        offset: u64,
        /// The size of the preceding tag.
        expected: u32,
        /// The field's value.
        found: u32,
    },
    /// The trailing PreviousTagSize after the last tag is missing or cut off (a warning only).
    #[error("missing previous tag size after the last tag at byte {offset}")]
    MissingPreviousTagSize {
        /// Byte offset where the field should be.
        offset: u64,
    },
    /// A tag body is shorter than its fields.
    #[error("truncated {what} at byte {offset} of the tag body")]
    TruncatedBody {
        /// The field that is cut off.
        what: &'static str,
        /// Offset inside the body.
        offset: usize,
    },
    /// An encrypted tag (Filter bit set), which is not supported.
    #[error("encrypted tag (filter bit set) is not supported")]
    Encrypted,
    /// A tag type other than audio (8), video (9) or script data (18).
    #[error("unknown tag type {0}")]
    UnknownTagType(u8),
    /// A legacy video codec id other than AVC (7) and HEVC (12).
    #[error("unsupported video codec id {0}")]
    UnsupportedVideoCodec(u8),
    /// An Enhanced RTMP FourCC other than `avc1` and `hvc1`.
    #[error("unsupported video fourcc {0:?}")]
    UnsupportedFourCc(String),
    /// A sound format other than AAC (10).
    #[error("unsupported sound format {0}")]
    UnsupportedSoundFormat(u8),
    /// An AVCPacketType / PacketType / AACPacketType this reader does not know.
    #[error("unsupported {what} packet type {value}")]
    UnsupportedPacketType {
        /// `video` or `audio`.
        what: &'static str,
        /// The packet type.
        value: u8,
    },
    /// A media frame arrived before its track's sequence header.
    #[error("frame of track {track} before its sequence header")]
    NoSequenceHeader {
        /// [`crate::Track::id`] of the track.
        track: u32,
    },
    /// A sequence header that does not parse.
    #[error("bad decoder configuration: {0}")]
    BadConfig(String),
    /// A video frame whose NAL length prefixes do not add up.
    #[error("bad nal framing: {0}")]
    BadNal(#[from] crate::nal::Error),
    /// A video frame without data.
    #[error("empty video frame")]
    EmptyFrame,
    /// Malformed AMF0 script data.
    #[error("bad amf0 {what} at byte {offset} of the script data")]
    Amf {
        /// What was malformed.
        what: &'static str,
        /// Offset inside the script body.
        offset: usize,
    },
    /// AMF0 values nested deeper than [`MAX_AMF_DEPTH`].
    #[error("amf0 values nested deeper than {MAX_AMF_DEPTH} at byte {offset} of the script data")]
    AmfTooDeep {
        /// Offset inside the script body.
        offset: usize,
    },
    /// A track whose codec FLV cannot carry (writing).
    #[error("codec {0} cannot be written to flv")]
    UnsupportedCodec(crate::Codec),
    /// A track without decoder configuration (writing).
    #[error("track {0} has no decoder configuration")]
    MissingInit(u32),
    /// A frame of a track that was not declared (writing).
    #[error("frame of unknown track {0}")]
    UnknownTrack(u32),
    /// A decode timestamp below zero (writing).
    #[error("negative decode timestamp {0} ms")]
    NegativeTimestamp(i64),
    /// A composition offset outside the signed 24-bit range (writing).
    #[error("composition offset {0} ms does not fit 24 bits")]
    CtsOutOfRange(i64),
    /// More than one video or one audio track (writing).
    #[error("flv carries at most one video and one audio track")]
    TooManyTracks,
    /// A tag body longer than the 24-bit DataSize field (writing).
    #[error("tag body of {0} bytes does not fit the 24-bit data size")]
    BodyTooLarge(usize),
}

/// Result of FLV reading and writing.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A non-fatal problem: something was skipped or did not match, reading went on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("at byte {offset}: {error}")]
pub struct Warning {
    /// Byte offset in the stream (of the tag header for tag-level problems).
    pub offset: u64,
    /// What was wrong.
    pub error: Error,
}

/// Everything [`read_file`] found in a file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileContents {
    /// Tracks and frames.
    pub demuxed: Demuxed,
    /// The first `onMetaData`, if any.
    pub metadata: Option<Metadata>,
    /// Non-fatal problems, in file order.
    pub warnings: Vec<Warning>,
}

/// Reads a whole FLV file: tracks in the order their sequence headers
/// appear, frames in file order.
///
/// A track keeps the first decoder configuration seen; a later, different
/// one is reported as a warning by [`read_file`].
pub fn read_all(data: &[u8]) -> Result<Demuxed> {
    read_file(data).map(|c| c.demuxed)
}

/// Like [`read_all`], but also returns the metadata and the warnings.
pub fn read_file(data: &[u8]) -> Result<FileContents> {
    if data.is_empty() {
        return Err(Error::Empty);
    }
    let mut buf = bytes::BytesMut::from(data);
    let mut reader = TagReader::new();
    let mut demuxer = Demuxer::new();
    let mut out = FileContents::default();
    while let Some(tag) = reader.decode(&mut buf)? {
        out.warnings.extend(reader.take_warnings());
        match demuxer.handle_tag(&tag) {
            Ok(None) => {}
            Ok(Some(Event::Frame(f))) => out.demuxed.frames.push(f),
            Ok(Some(Event::Track(t))) => match out.demuxed.tracks.iter().find(|o| o.id == t.id) {
                None => out.demuxed.tracks.push(t),
                Some(_) => out.warnings.push(Warning {
                    offset: tag.offset,
                    error: Error::BadConfig(format!(
                        "track {} changed its decoder configuration; the first one is kept",
                        t.id
                    )),
                }),
            },
            Ok(Some(Event::Metadata(m))) => {
                out.metadata.get_or_insert(m);
            }
            Ok(Some(Event::EndOfSequence { .. })) => {}
            Err(error) => out.warnings.push(Warning {
                offset: tag.offset,
                error,
            }),
        }
    }
    reader.finish(&buf)?;
    out.warnings.extend(reader.take_warnings());
    Ok(out)
}

#[cfg(test)]
mod tests;
