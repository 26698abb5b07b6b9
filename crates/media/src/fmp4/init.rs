//! The init segment: `ftyp` and `moov` (ISO/IEC 14496-12 §8.2-8.8, CMAF
//! header ISO/IEC 23000-19 §7.3.1), with the sample entries of each codec.

use bytes::BufMut;

use super::boxes::{DESCRIPTOR_HEADER_LEN, boxed, full_boxed, put_descriptor_header, put_unity_matrix};
use super::{Error, MAX_INIT_LEN, MAX_TRACKS, Result};
use crate::{Codec, Track};

/// Movie timescale of `mvhd` (the edit list counts in it).
const MOVIE_TIMESCALE: u32 = 1000;

/// `ftyp` brands: major brand, then the compatible brands.
const MAJOR_BRAND: &[u8; 4] = b"iso6";
const COMPATIBLE_BRANDS: [&[u8; 4]; 4] = [b"iso6", b"cmfc", b"mp41", b"isom"];

/// A track validated for writing, with its sample entry prebuilt.
#[derive(Debug, Clone)]
pub(super) struct TrackSetup {
    /// [`Track::id`], as frames name it.
    pub(super) id: u32,
    /// `track_ID` in the file.
    pub(super) mp4_id: u32,
    /// Media timescale (`mdhd`), the clock of the track's frames.
    pub(super) timescale: u32,
    /// Visual track size in pixels; `None` for audio.
    pub(super) size: Option<(u32, u32)>,
    /// The complete sample entry box for `stsd`.
    pub(super) sample_entry: Vec<u8>,
    /// Duration assumed for a lone sample when nothing better is known.
    pub(super) default_duration: u32,
}

// === impl TrackSetup ===

impl TrackSetup {
    /// Validates `tracks` and builds their sample entries.
    ///
    /// `track_ID` is [`Track::id`] unless some id is 0, which MP4 forbids
    /// (§8.3.2.3); then tracks are numbered 1, 2, ... in order.
    pub(super) fn all(tracks: &[Track]) -> Result<Vec<Self>> {
        if tracks.len() > MAX_TRACKS {
            return Err(Error::TooManyTracks(tracks.len()));
        }
        for (i, t) in tracks.iter().enumerate() {
            if tracks[..i].iter().any(|u| u.id == t.id) {
                return Err(Error::DuplicateTrack(t.id));
            }
        }
        let renumber = tracks.iter().any(|t| t.id == 0);
        tracks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                // MAX_TRACKS keeps i + 1 far inside u32.
                let mp4_id = if renumber { i as u32 + 1 } else { t.id };
                Self::new(t, mp4_id)
            })
            .collect()
    }

    fn new(track: &Track, mp4_id: u32) -> Result<Self> {
        let id = track.id;
        let timescale = track.timescale.max(1);
        if let Codec::Other(name) = &track.codec {
            return Err(Error::UnsupportedCodec {
                track: id,
                codec: name.clone(),
            });
        }
        // VP8 frames carry their own configuration; the rest need `init`.
        if track.init.is_empty() && track.codec != Codec::Vp8 {
            return Err(Error::MissingInit {
                track: id,
                codec: track.codec.to_string(),
            });
        }
        if track.init.len() > MAX_INIT_LEN {
            return Err(Error::BadInit {
                track: id,
                reason: format!(
                    "{} bytes of decoder config exceed {MAX_INIT_LEN}",
                    track.init.len()
                ),
            });
        }
        let bad = |reason: String| Error::BadInit { track: id, reason };
        let mut sample_entry = Vec::with_capacity(track.init.len() + 128);
        let (size, default_duration) = match &track.codec {
            Codec::H264 | Codec::H265 => {
                let (entry, config, record, video) = if track.codec == Codec::H264 {
                    let mut c = crate::h264::AvcConfig::parse(&track.init).map_err(|e| bad(e.to_string()))?;
                    // Canonical payloads carry 4-byte NAL lengths whatever the source used.
                    c.length_size = 4;
                    let video = track
                        .video
                        .clone()
                        .or_else(|| crate::h264::video_info(&track.init).ok());
                    (b"avc1", b"avcC", c.encode(), video)
                } else {
                    let mut c =
                        crate::h265::HevcConfig::parse(&track.init).map_err(|e| bad(e.to_string()))?;
                    c.length_size = 4;
                    let video = track
                        .video
                        .clone()
                        .or_else(|| crate::h265::video_info(&track.init).ok());
                    (b"hvc1", b"hvcC", c.encode(), video)
                };
                let (w, h) = video.as_ref().map_or((0, 0), |v| (v.width, v.height));
                visual_entry(&mut sample_entry, entry, (w, h), config, &record);
                let fps = video.and_then(|v| v.fps).filter(|f| *f >= 1.0).unwrap_or(25.0);
                (Some((w, h)), (f64::from(timescale) / fps).round() as u32)
            }
            Codec::Vp8 => {
                // vp08 with vpcC (VP codec ISO media binding §2.2-2.3); the
                // size comes from a key frame, when one was seen.
                let video = track.video.as_ref();
                let (w, h) = video.map_or((0, 0), |v| (v.width, v.height));
                visual_entry(&mut sample_entry, b"vp08", (w, h), b"vpcC", &crate::vp8::vpcc());
                let fps = video.and_then(|v| v.fps).filter(|f| *f >= 1.0).unwrap_or(25.0);
                (Some((w, h)), (f64::from(timescale) / fps).round() as u32)
            }
            Codec::Aac => {
                let asc =
                    crate::aac::AudioSpecificConfig::parse(&track.init).map_err(|e| bad(e.to_string()))?;
                let (rate, channels) = match &track.audio {
                    Some(a) if a.sample_rate > 0 => (a.sample_rate, a.channels),
                    _ => (asc.sample_rate, asc.channels),
                };
                // channelConfiguration 0 means "in a program config element": say stereo.
                let channels = if channels == 0 { 2 } else { channels };
                mp4a_entry(&mut sample_entry, rate, channels, &track.init);
                let rate = u64::from(rate.max(1));
                let duration = u64::from(crate::aac::SAMPLES_PER_FRAME) * u64::from(timescale) / rate;
                (None, u32::try_from(duration).unwrap_or(u32::MAX))
            }
            Codec::Opus => {
                // dOps (Opus in ISOBMFF §4.3.2): Version 0, OutputChannelCount, ... 11 bytes minimum.
                if track.init.len() < 11 || track.init[0] != 0 {
                    return Err(bad("dOps body must be at least 11 bytes with version 0".into()));
                }
                audio_entry(&mut sample_entry, b"Opus", 48_000, track.init[1], |b| {
                    boxed(b, b"dOps", |b| b.put_slice(&track.init));
                });
                (None, timescale / 50)
            }
            Codec::Other(name) => {
                return Err(Error::UnsupportedCodec {
                    track: id,
                    codec: name.clone(),
                });
            } // rejected above; kept for exhaustiveness
        };
        Ok(Self {
            id,
            mp4_id,
            timescale,
            size,
            sample_entry,
            default_duration: default_duration.max(1),
        })
    }
}

/// Writes `ftyp` and `moov` for `tracks`; `shifts[i]` is the decode time
/// shift of track `i`, written as an edit list when non-zero.
pub(super) fn write(tracks: &[TrackSetup], shifts: &[u64], out: &mut impl BufMut) {
    let mut buf = Vec::with_capacity(1024 + tracks.iter().map(|t| t.sample_entry.len() + 600).sum::<usize>());
    boxed(&mut buf, b"ftyp", |b| {
        b.put_slice(MAJOR_BRAND);
        b.put_u32(0);
        for brand in COMPATIBLE_BRANDS {
            b.put_slice(brand);
        }
    });
    boxed(&mut buf, b"moov", |b| {
        full_boxed(b, b"mvhd", 0, 0, |b| {
            b.put_u32(0); // creation_time
            b.put_u32(0); // modification_time
            b.put_u32(MOVIE_TIMESCALE);
            b.put_u32(0); // duration: unknown, fragmented
            b.put_u32(0x0001_0000); // rate 1.0
            b.put_u16(0x0100); // volume 1.0
            b.put_bytes(0, 10);
            put_unity_matrix(b);
            b.put_bytes(0, 24); // pre_defined
            let next = tracks.iter().map(|t| t.mp4_id).max().unwrap_or(0);
            b.put_u32(next.saturating_add(1));
        });
        for (i, t) in tracks.iter().enumerate() {
            trak(b, t, shifts.get(i).copied().unwrap_or(0));
        }
        boxed(b, b"mvex", |b| {
            for t in tracks {
                full_boxed(b, b"trex", 0, 0, |b| {
                    b.put_u32(t.mp4_id);
                    b.put_u32(1); // default_sample_description_index
                    b.put_u32(0); // default_sample_duration
                    b.put_u32(0); // default_sample_size
                    b.put_u32(0); // default_sample_flags
                });
            }
        });
    });
    out.put_slice(&buf);
}

/// `trak` (§8.3.1) with `tkhd`, the optional edit list and `mdia`.
fn trak(b: &mut Vec<u8>, t: &TrackSetup, shift: u64) {
    boxed(b, b"trak", |b| {
        // flags: track_enabled | track_in_movie
        full_boxed(b, b"tkhd", 0, 3, |b| {
            b.put_u32(0);
            b.put_u32(0);
            b.put_u32(t.mp4_id);
            b.put_u32(0); // reserved
            b.put_u32(0); // duration
            b.put_bytes(0, 8);
            b.put_u16(0); // layer
            b.put_u16(0); // alternate_group
            b.put_u16(if t.size.is_some() { 0 } else { 0x0100 }); // volume
            b.put_u16(0);
            put_unity_matrix(b);
            let (w, h) = t.size.unwrap_or((0, 0));
            b.put_u32(w.min(0xffff) << 16);
            b.put_u32(h.min(0xffff) << 16);
        });
        if shift > 0 {
            edts(b, shift);
        }
        boxed(b, b"mdia", |b| mdia(b, t));
    });
}

/// An edit list (§8.6.6) of one edit starting at media time `shift`, so that
/// presentation times are the decode times minus `shift` (plus composition
/// offsets). `segment_duration` is 0: the duration of a fragmented file is
/// not known when the init segment is written; readers (ffmpeg, MSE) take
/// only `media_time` from a single edit.
fn edts(b: &mut Vec<u8>, shift: u64) {
    boxed(b, b"edts", |b| match i32::try_from(shift) {
        Ok(media_time) => full_boxed(b, b"elst", 0, 0, |b| {
            b.put_u32(1);
            b.put_u32(0); // segment_duration
            b.put_i32(media_time);
            b.put_u32(0x0001_0000); // media_rate 1.0
        }),
        Err(_) => full_boxed(b, b"elst", 1, 0, |b| {
            b.put_u32(1);
            b.put_u64(0);
            b.put_i64(i64::try_from(shift).unwrap_or(i64::MAX));
            b.put_u32(0x0001_0000);
        }),
    });
}

/// `mdia` (§8.4): `mdhd`, `hdlr`, `minf`.
fn mdia(b: &mut Vec<u8>, t: &TrackSetup) {
    full_boxed(b, b"mdhd", 0, 0, |b| {
        b.put_u32(0);
        b.put_u32(0);
        b.put_u32(t.timescale);
        b.put_u32(0); // duration
        b.put_u16(0x55c4); // language "und"
        b.put_u16(0);
    });
    let (handler, name): (&[u8; 4], &[u8]) = match t.size {
        Some(_) => (b"vide", b"VideoHandler\0"),
        None => (b"soun", b"SoundHandler\0"),
    };
    full_boxed(b, b"hdlr", 0, 0, |b| {
        b.put_u32(0);
        b.put_slice(handler);
        b.put_bytes(0, 12);
        b.put_slice(name);
    });
    boxed(b, b"minf", |b| {
        match t.size {
            Some(_) => full_boxed(b, b"vmhd", 0, 1, |b| b.put_bytes(0, 8)),
            None => full_boxed(b, b"smhd", 0, 0, |b| b.put_u32(0)),
        }
        boxed(b, b"dinf", |b| {
            full_boxed(b, b"dref", 0, 0, |b| {
                b.put_u32(1);
                full_boxed(b, b"url ", 0, 1, |_| {}); // self-contained
            });
        });
        boxed(b, b"stbl", |b| {
            full_boxed(b, b"stsd", 0, 0, |b| {
                b.put_u32(1);
                b.put_slice(&t.sample_entry);
            });
            full_boxed(b, b"stts", 0, 0, |b| b.put_u32(0));
            full_boxed(b, b"stsc", 0, 0, |b| b.put_u32(0));
            full_boxed(b, b"stsz", 0, 0, |b| b.put_u64(0));
            full_boxed(b, b"stco", 0, 0, |b| b.put_u32(0));
        });
    });
}

/// A VisualSampleEntry (§12.1.3) with its decoder configuration box.
fn visual_entry(b: &mut Vec<u8>, fourcc: &[u8; 4], (w, h): (u32, u32), config: &[u8; 4], record: &[u8]) {
    boxed(b, fourcc, |b| {
        b.put_bytes(0, 6);
        b.put_u16(1); // data_reference_index
        b.put_bytes(0, 16); // pre_defined, reserved
        b.put_u16(w.min(0xffff) as u16);
        b.put_u16(h.min(0xffff) as u16);
        b.put_u32(0x0048_0000); // 72 dpi
        b.put_u32(0x0048_0000);
        b.put_u32(0);
        b.put_u16(1); // frame_count
        b.put_bytes(0, 32); // compressorname
        b.put_u16(0x0018); // depth
        b.put_i16(-1);
        boxed(b, config, |b| b.put_slice(record));
    });
}

/// An AudioSampleEntry (§12.2.3) followed by codec boxes from `extra`.
fn audio_entry(b: &mut Vec<u8>, fourcc: &[u8; 4], rate: u32, channels: u8, extra: impl FnOnce(&mut Vec<u8>)) {
    boxed(b, fourcc, |b| {
        b.put_bytes(0, 6);
        b.put_u16(1); // data_reference_index
        b.put_bytes(0, 8);
        b.put_u16(u16::from(channels));
        b.put_u16(16); // samplesize
        b.put_u32(0); // pre_defined, reserved
        // 16.16 fixed point; rates above 65535 do not fit and are written as 0.
        b.put_u32(if rate <= 0xffff { rate << 16 } else { 0 });
        extra(b);
    });
}

/// `mp4a` with `esds` (ISO/IEC 14496-14 §5.6): ES_Descriptor,
/// DecoderConfigDescriptor (AAC, audio stream) and the AudioSpecificConfig.
fn mp4a_entry(b: &mut Vec<u8>, rate: u32, channels: u8, asc: &[u8]) {
    audio_entry(b, b"mp4a", rate, channels, |b| {
        full_boxed(b, b"esds", 0, 0, |b| {
            let dsi = DESCRIPTOR_HEADER_LEN + asc.len();
            let dcd = DESCRIPTOR_HEADER_LEN + 13 + dsi;
            let sl = DESCRIPTOR_HEADER_LEN + 1;
            put_descriptor_header(b, 0x03, 3 + dcd + sl); // ES_DescrTag
            b.put_u16(0); // ES_ID: 0 in files (ISO/IEC 14496-14 §3.1.2)
            b.put_u8(0); // no dependsOn, URL or OCR stream
            put_descriptor_header(b, 0x04, 13 + dsi); // DecoderConfigDescrTag
            b.put_u8(0x40); // objectTypeIndication: MPEG-4 audio
            b.put_u8((0x05 << 2) | 1); // streamType audio, upStream 0, reserved 1
            b.put_bytes(0, 3); // bufferSizeDB
            b.put_u32(0); // maxBitrate
            b.put_u32(0); // avgBitrate
            put_descriptor_header(b, 0x05, asc.len()); // DecSpecificInfoTag
            b.put_slice(asc);
            put_descriptor_header(b, 0x06, 1); // SLConfigDescrTag
            b.put_u8(0x02); // predefined: reserved for MP4 files
        });
    });
}
