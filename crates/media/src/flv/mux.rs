//! Writing FLV: header, onMetaData, sequence headers and frames as tags.
//!
//! Each `write_*` function appends whole tags, each followed by its
//! PreviousTagSize, so their outputs can be concatenated after
//! [`write_header`] in any order that keeps timestamps monotonic.

use bytes::BufMut;

use super::tag::write_tag_parts;
use super::{
    AudioPacket, AudioTag, Error, FileHeader, Metadata, Result, TIMESCALE, TagType, VideoPacket,
    audio::AAC_SOUND_HEADER,
};
use crate::{Codec, Frame, Track};

/// Writes the file header (version 1, DataOffset 9) and PreviousTagSize0.
pub fn write_header(has_audio: bool, has_video: bool, out: &mut impl BufMut) {
    FileHeader {
        version: 1,
        has_audio,
        has_video,
    }
    .encode(out);
    out.put_u32(0);
}

/// Writes one tag (header, body, PreviousTagSize).
pub fn write_tag(tag_type: TagType, ts_ms: u32, body: &[u8], out: &mut impl BufMut) -> Result<()> {
    write_tag_parts(tag_type, false, ts_ms, &[body], out)
}

/// Writes an `onMetaData` script data tag at timestamp 0.
pub fn write_metadata(meta: &Metadata, out: &mut impl BufMut) -> Result<()> {
    let mut body = Vec::with_capacity(256);
    meta.encode(&mut body);
    write_tag(TagType::Script, 0, &body, out)
}

/// Writes the sequence header tags (AVC sequence header / SequenceStart,
/// AAC AudioSpecificConfig) of all tracks at timestamp 0.
pub fn write_sequence_headers(tracks: &[Track], out: &mut impl BufMut) -> Result<()> {
    for t in tracks {
        write_sequence_header(t, 0, out)?;
    }
    Ok(())
}

/// Writes the sequence header tag of one track.
///
/// The NAL length size in an `avcC` / `hvcC` is set to 4, since frames are
/// written in canonical form.
pub fn write_sequence_header(track: &Track, ts_ms: u32, out: &mut impl BufMut) -> Result<()> {
    if track.init.is_empty() {
        return Err(Error::MissingInit(track.id));
    }
    let bad = |e: &dyn std::fmt::Display| Error::BadConfig(e.to_string());
    let mut init = track.init.to_vec();
    match track.codec {
        Codec::H264 => {
            crate::h264::AvcConfig::parse(&init).map_err(|e| bad(&e))?;
            // lengthSizeMinusOne: the low two bits of byte 4 (ISO/IEC 14496-15 §5.3.3.1)
            init[4] |= 3;
        }
        Codec::H265 => {
            crate::h265::HevcConfig::parse(&init).map_err(|e| bad(&e))?;
            // lengthSizeMinusOne: the low two bits of byte 21 (ISO/IEC 14496-15 §8.3.3.1)
            init[21] |= 3;
        }
        Codec::Aac => {
            crate::aac::AudioSpecificConfig::parse(&init).map_err(|e| bad(&e))?;
            let mut body = Vec::with_capacity(init.len() + 2);
            super::audio_body(AudioPacket::SequenceHeader(init.into()), &mut body);
            return write_tag(TagType::Audio, ts_ms, &body, out);
        }
        ref c => return Err(Error::UnsupportedCodec(c.clone())),
    }
    let mut body = Vec::with_capacity(init.len() + 8);
    super::video_body(&track.codec, VideoPacket::SequenceHeader(init.into()), &mut body)?;
    write_tag(TagType::Video, ts_ms, &body, out)
}

/// Writes an end-of-sequence tag for a video track.
pub fn write_end_of_sequence(track: &Track, ts_ms: u32, out: &mut impl BufMut) -> Result<()> {
    let mut body = Vec::with_capacity(8);
    super::video_body(&track.codec, VideoPacket::EndOfSequence, &mut body)?;
    write_tag(TagType::Video, ts_ms, &body, out)
}

/// Writes one frame of `track` as a tag; timestamps are rescaled to
/// milliseconds and the decode time must not be negative. Times past
/// 2^32 ms wrap, as in FLV.
pub fn write_frame(track: &Track, frame: &Frame, out: &mut impl BufMut) -> Result<()> {
    write_frame_shifted(track, frame, 0, out)
}

/// [`write_frame`] with `shift_ms` added to both timestamps.
fn write_frame_shifted(track: &Track, frame: &Frame, shift_ms: i64, out: &mut impl BufMut) -> Result<()> {
    let dts = frame.dts.rescale(TIMESCALE).ticks().saturating_add(shift_ms);
    let pts = frame.pts.rescale(TIMESCALE).ticks().saturating_add(shift_ms);
    if dts < 0 {
        return Err(Error::NegativeTimestamp(dts));
    }
    let ts = (dts & 0xffff_ffff) as u32;
    let cts = pts.saturating_sub(dts);
    let cts = i32::try_from(cts).map_err(|_| Error::CtsOutOfRange(cts))?;
    let mut header = Vec::with_capacity(8);
    let tag_type = match track.codec {
        Codec::H264 | Codec::H265 => {
            let packet = VideoPacket::Frame {
                keyframe: frame.keyframe,
                cts,
                data: bytes::Bytes::new(),
            };
            super::video_body(&track.codec, packet, &mut header)?;
            TagType::Video
        }
        Codec::Aac => {
            AudioTag {
                sound_header: AAC_SOUND_HEADER,
                packet: AudioPacket::Frame(bytes::Bytes::new()),
            }
            .encode(&mut header);
            TagType::Audio
        }
        ref c => return Err(Error::UnsupportedCodec(c.clone())),
    };
    write_tag_parts(tag_type, false, ts, &[&header, &frame.data], out)
}

/// Writes a whole FLV file: header, `onMetaData`, sequence headers, the
/// frames in the given order, and an end-of-sequence tag for video.
///
/// At most one video track (H.264 or H.265) and one audio track (AAC). If
/// the first decode times are negative, all timestamps are shifted so that
/// the earliest one is 0.
pub fn write_all(tracks: &[Track], frames: &[Frame]) -> Result<Vec<u8>> {
    let video: Vec<&Track> = tracks.iter().filter(|t| t.codec.is_video()).collect();
    let audio: Vec<&Track> = tracks.iter().filter(|t| t.codec.is_audio()).collect();
    if video.len() > 1 || audio.len() > 1 {
        return Err(Error::TooManyTracks);
    }
    if let Some(t) = tracks
        .iter()
        .find(|t| !matches!(t.codec, Codec::H264 | Codec::H265 | Codec::Aac))
    {
        return Err(Error::UnsupportedCodec(t.codec.clone()));
    }
    let min_dts = frames
        .iter()
        .map(|f| f.dts.rescale(TIMESCALE).ticks())
        .min()
        .unwrap_or(0);
    let shift = if min_dts < 0 { min_dts.saturating_neg() } else { 0 };
    let payload: usize = frames.iter().map(|f| f.data.len() + 24).sum();
    let mut out = Vec::with_capacity(payload + 1024);
    write_header(!audio.is_empty(), !video.is_empty(), &mut out);
    write_metadata(&metadata(tracks, frames, shift), &mut out)?;
    write_sequence_headers(tracks, &mut out)?;
    let mut last_video = 0;
    for f in frames {
        let track = tracks
            .iter()
            .find(|t| t.id == f.track)
            .ok_or(Error::UnknownTrack(f.track))?;
        write_frame_shifted(track, f, shift, &mut out)?;
        if track.codec.is_video() {
            last_video = f.dts.rescale(TIMESCALE).ticks().saturating_add(shift);
        }
    }
    if let Some(v) = video.first() {
        write_end_of_sequence(v, (last_video & 0xffff_ffff) as u32, &mut out)?;
    }
    Ok(out)
}

/// `onMetaData` for a file of these tracks and frames.
fn metadata(tracks: &[Track], frames: &[Frame], shift: i64) -> Metadata {
    let end = frames
        .iter()
        .map(|f| f.pts.rescale(TIMESCALE).ticks().saturating_add(shift))
        .max()
        .unwrap_or(0);
    let mut meta = Metadata {
        duration: Some(end.max(0) as f64 / f64::from(TIMESCALE)),
        ..Metadata::default()
    };
    for t in tracks {
        match t.codec {
            Codec::H264 => meta.videocodecid = Some(f64::from(super::CODEC_ID_AVC)),
            // Enhanced RTMP: the FourCC as a number
            Codec::H265 => meta.videocodecid = Some(f64::from(u32::from_be_bytes(super::FOURCC_HEVC))),
            Codec::Aac => meta.audiocodecid = Some(f64::from(super::SOUND_FORMAT_AAC)),
            _ => {}
        }
        if let Some(v) = &t.video {
            meta.width = Some(f64::from(v.width));
            meta.height = Some(f64::from(v.height));
            meta.framerate = v.fps;
        }
        if let Some(a) = &t.audio {
            meta.audiosamplerate = Some(f64::from(a.sample_rate));
            meta.stereo = Some(a.channels >= 2);
        }
    }
    meta
}
