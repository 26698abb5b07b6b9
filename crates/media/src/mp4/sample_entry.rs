//! Sample descriptions (`stsd`, ISO/IEC 14496-12 §8.5.2): visual and audio
//! sample entries and the decoder configurations inside them: `avcC`
//! (ISO/IEC 14496-15 §5.3.3), `hvcC` (ISO/IEC 14496-15 §8.3.3), `esds`
//! (ISO/IEC 14496-14 §3.1.2, descriptors from ISO/IEC 14496-1 §7.2.6) and
//! `dOps` (Opus in ISO BMFF §4.3.2).

use bytes::Bytes;

use super::boxes::{Cursor, Mp4Box, fourcc_str};
use super::{Error, Result, Warnings};
use crate::{AudioInfo, Codec, Track, VideoInfo};

/// Bytes of a VisualSampleEntry before its child boxes (§12.1.3).
const VISUAL_ENTRY_LEN: usize = 78;
/// Bytes of an AudioSampleEntry before its child boxes (§12.2.3).
const AUDIO_ENTRY_LEN: usize = 28;
/// Extra bytes of a QuickTime sound description version 1 and 2.
const QT_SOUND_V1_EXTRA: usize = 16;
const QT_SOUND_V2_EXTRA: usize = 36;

/// ES_Descriptor tag (ISO/IEC 14496-1 §7.2.6.5).
const ES_DESCR_TAG: u8 = 0x03;
/// DecoderConfigDescriptor tag (§7.2.6.6).
const DECODER_CONFIG_TAG: u8 = 0x04;
/// DecoderSpecificInfo tag (§7.2.6.7).
const DECODER_SPECIFIC_TAG: u8 = 0x05;

/// What a track's first sample entry says.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) codec: Codec,
    /// Decoder configuration in [`Track::init`] form.
    pub(super) init: Bytes,
    /// NAL unit length size of AVC/HEVC samples.
    pub(super) length_size: Option<usize>,
    /// Width and height from a visual sample entry.
    pub(super) size: Option<(u16, u16)>,
    /// Channel count and sample rate from an audio sample entry.
    pub(super) sound: Option<(u16, u32)>,
}

/// Reads the first sample entry of `stsd`. The outer error is a broken file;
/// the inner one a track this crate cannot read (a warning).
pub(super) fn parse_stsd(
    stsd: &Mp4Box<'_>,
    track: u32,
    warnings: &mut Warnings,
) -> Result<Result<Entry, Error>> {
    let (_, _, mut c) = stsd.full()?;
    let count = c.u32()?;
    let Some(entry) = stsd.children_after(8)?.next().transpose()? else {
        return Ok(Err(stsd.invalid("no sample entry, track skipped")));
    };
    if count > 1 {
        warnings.push(Error::Ignored {
            path: stsd.path.to_string(),
            offset: stsd.offset,
            reason: format!("track {track}: {count} sample descriptions, only the first is used"),
        });
    }
    match &entry.fourcc {
        b"avc1" | b"avc3" => visual(&entry, track, b"avcC", Codec::H264),
        b"hvc1" | b"hev1" => visual(&entry, track, b"hvcC", Codec::H265),
        b"vp08" => vp08(&entry),
        b"mp4a" => mp4a(&entry, track),
        b"Opus" => opus(&entry, track),
        _ => Ok(Err(Error::UnsupportedSampleEntry {
            track,
            fourcc: fourcc_str(entry.fourcc),
            offset: entry.offset,
        })),
    }
}

fn bad_config(b: &Mp4Box<'_>, track: u32, reason: impl ToString) -> Error {
    Error::BadDecoderConfig {
        track,
        path: b.path.to_string(),
        offset: b.offset,
        reason: reason.to_string(),
    }
}

fn visual(entry: &Mp4Box<'_>, track: u32, config: &[u8; 4], codec: Codec) -> Result<Result<Entry, Error>> {
    let mut c = entry.cursor();
    c.skip(24)?; // reserved, data_reference_index, pre_defined, reserved
    let width = c.u16()?;
    let height = c.u16()?;
    c.skip(VISUAL_ENTRY_LEN - 28)?;
    let mut found = None;
    for child in entry.children_after(VISUAL_ENTRY_LEN)? {
        let child = child?;
        if &child.fourcc == config {
            found = Some(child);
            break;
        }
    }
    let Some(cfg) = found else {
        return Ok(Err(Error::MissingBox {
            name: fourcc_str(*config),
            parent: entry.path.to_string(),
            offset: entry.offset,
        }));
    };
    let length_size = match codec {
        Codec::H264 => crate::h264::AvcConfig::parse(cfg.body)
            .map(|c| c.length_size)
            .map_err(|e| e.to_string()),
        _ => crate::h265::HevcConfig::parse(cfg.body)
            .map(|c| c.length_size)
            .map_err(|e| e.to_string()),
    };
    let length_size = match length_size {
        Ok(n) if n != 3 => usize::from(n),
        Ok(n) => return Ok(Err(bad_config(&cfg, track, format!("nal length size {n}")))),
        Err(e) => return Ok(Err(bad_config(&cfg, track, e))),
    };
    Ok(Ok(Entry {
        codec,
        init: Bytes::copy_from_slice(cfg.body),
        length_size: Some(length_size),
        size: Some((width, height)),
        sound: None,
    }))
}

/// A `vp08` entry: VP8 frames carry their own configuration, so only the
/// size is read (the `vpcC` box adds nothing a VP8 decoder needs).
fn vp08(entry: &Mp4Box<'_>) -> Result<Result<Entry, Error>> {
    let mut c = entry.cursor();
    c.skip(24)?; // reserved, data_reference_index, pre_defined, reserved
    let width = c.u16()?;
    let height = c.u16()?;
    Ok(Ok(Entry {
        codec: Codec::Vp8,
        init: Bytes::new(),
        length_size: None,
        size: Some((width, height)),
        sound: None,
    }))
}

/// Reads the AudioSampleEntry fields; returns (channels, rate, child offset).
fn audio_fields(entry: &Mp4Box<'_>) -> Result<(u16, u32, usize)> {
    let mut c = entry.cursor();
    c.skip(8)?; // reserved, data_reference_index
    let qt_version = c.u16()?;
    c.skip(6)?;
    let channels = c.u16()?;
    c.skip(6)?; // samplesize, pre_defined, reserved
    let rate = c.u32()? >> 16;
    let extra = match qt_version {
        1 => QT_SOUND_V1_EXTRA,
        2 => QT_SOUND_V2_EXTRA,
        _ => 0,
    };
    Ok((channels, rate, AUDIO_ENTRY_LEN + extra))
}

fn mp4a(entry: &Mp4Box<'_>, track: u32) -> Result<Result<Entry, Error>> {
    let (channels, rate, skip) = audio_fields(entry)?;
    let mut esds = None;
    for child in entry.children_after(skip)? {
        let child = child?;
        if &child.fourcc == b"esds" {
            esds = Some(child);
            break;
        }
        // QuickTime sound descriptions (version 1) wrap esds in 'wave'
        let wrapped = if &child.fourcc == b"wave" {
            child.find(b"esds")?
        } else {
            None
        };
        if wrapped.is_some() {
            esds = wrapped;
            break;
        }
    }
    let Some(esds) = esds else {
        return Ok(Err(Error::MissingBox {
            name: "esds".into(),
            parent: entry.path.to_string(),
            offset: entry.offset,
        }));
    };
    let (_, _, mut c) = esds.full()?;
    let (object_type, asc) = match es_descriptor(&mut c) {
        Ok(v) => v,
        Err(e) => return Ok(Err(bad_config(&esds, track, e))),
    };
    // 0x40: MPEG-4 audio; 0x66..=0x68: MPEG-2 AAC main, LC, SSR (ISO/IEC 14496-1 Table 5)
    if !matches!(object_type, 0x40 | 0x66..=0x68) {
        return Ok(Err(Error::UnsupportedSampleEntry {
            track,
            fourcc: format!("mp4a.{object_type:02x}"),
            offset: entry.offset,
        }));
    }
    let Some(asc) = asc else {
        return Ok(Err(bad_config(&esds, track, "no DecoderSpecificInfo")));
    };
    if let Err(e) = crate::aac::AudioSpecificConfig::parse(asc) {
        return Ok(Err(bad_config(&esds, track, e)));
    }
    Ok(Ok(Entry {
        codec: Codec::Aac,
        init: Bytes::copy_from_slice(asc),
        length_size: None,
        size: None,
        sound: Some((channels, rate)),
    }))
}

/// Reads an expandable descriptor header (ISO/IEC 14496-1 §8.3.3): a tag and
/// a size of 1 to 4 bytes of 7 bits each. Returns the tag and a cursor over
/// the body (clamped to the bytes present: some writers overstate sizes).
fn descriptor<'a>(c: &mut Cursor<'a>) -> Result<(u8, Cursor<'a>)> {
    let tag = c.u8()?;
    let mut len = 0usize;
    for _ in 0..4 {
        let b = c.u8()?;
        len = (len << 7) | usize::from(b & 0x7f);
        if b & 0x80 == 0 {
            break;
        }
    }
    let len = len.min(c.remaining());
    Ok((tag, c.sub(len)?))
}

/// Finds the DecoderConfigDescriptor: returns objectTypeIndication and the
/// DecoderSpecificInfo bytes.
fn es_descriptor<'a>(c: &mut Cursor<'a>) -> Result<(u8, Option<&'a [u8]>)> {
    let (tag, mut es) = descriptor(c)?;
    let mut config = if tag == ES_DESCR_TAG {
        es.skip(2)?; // ES_ID
        let flags = es.u8()?;
        if flags & 0x80 != 0 {
            es.skip(2)?; // dependsOn_ES_ID
        }
        if flags & 0x40 != 0 {
            let url_len = es.u8()?;
            es.skip(usize::from(url_len))?;
        }
        if flags & 0x20 != 0 {
            es.skip(2)?; // OCR_ES_Id
        }
        loop {
            let (tag, body) = descriptor(&mut es)?;
            if tag == DECODER_CONFIG_TAG {
                break body;
            }
        }
    } else if tag == DECODER_CONFIG_TAG {
        es
    } else {
        return Err(c.invalid(format!("descriptor tag {tag:#04x} is not an ES_Descriptor")));
    };
    let object_type = config.u8()?;
    config.skip(12)?; // streamType, bufferSizeDB, maxBitrate, avgBitrate
    while config.remaining() > 0 {
        let (tag, mut body) = descriptor(&mut config)?;
        if tag == DECODER_SPECIFIC_TAG {
            let n = body.remaining();
            return Ok((object_type, Some(body.bytes(n)?)));
        }
    }
    Ok((object_type, None))
}

fn opus(entry: &Mp4Box<'_>, track: u32) -> Result<Result<Entry, Error>> {
    let (channels, rate, skip) = audio_fields(entry)?;
    for child in entry.children_after(skip)? {
        let child = child?;
        if &child.fourcc == b"dOps" {
            // Version, OutputChannelCount, PreSkip, InputSampleRate, OutputGain, ChannelMappingFamily
            if child.body.len() < 11 {
                return Ok(Err(bad_config(&child, track, "dOps shorter than 11 bytes")));
            }
            return Ok(Ok(Entry {
                codec: Codec::Opus,
                init: Bytes::copy_from_slice(child.body),
                length_size: None,
                size: None,
                sound: Some((channels, rate)),
            }));
        }
    }
    Ok(Err(Error::MissingBox {
        name: "dOps".into(),
        parent: entry.path.to_string(),
        offset: entry.offset,
    }))
}

/// Fills [`Track::video`] / [`Track::audio`] from the decoder configuration,
/// falling back to the sample entry's own width/height or channels/rate
/// when the configuration does not say.
pub(super) fn describe(track: &mut Track, entry: &Entry) {
    track.describe();
    if track.codec.is_video() && track.video.is_none() {
        track.video = entry.size.map(|(w, h)| VideoInfo {
            width: u32::from(w),
            height: u32::from(h),
            ..VideoInfo::default()
        });
    }
    if track.codec.is_audio() && track.audio.as_ref().is_none_or(|a| a.channels == 0) {
        track.audio = sound_info(entry);
    }
}

fn sound_info(entry: &Entry) -> Option<AudioInfo> {
    entry.sound.map(|(channels, rate)| AudioInfo {
        sample_rate: rate,
        channels: u8::try_from(channels).unwrap_or(u8::MAX),
    })
}
