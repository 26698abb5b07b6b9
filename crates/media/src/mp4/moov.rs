//! The movie box (`moov`, ISO/IEC 14496-12 §8.2): movie header, tracks
//! (`trak`: `tkhd`, `edts/elst`, `mdia`: `mdhd`, `hdlr`, `minf/stbl`) and the
//! fragment defaults of `mvex/trex`.

use super::boxes::{Mp4Box, fourcc_str};
use super::sample_entry::{self, Entry};
use super::sample_table::{self, Budget, Sample};
use super::{Error, Result, Warnings};
use crate::Track;

/// A track the reader outputs, with what it needs to read its samples.
#[derive(Debug, Clone)]
pub(super) struct TrackState {
    /// The public description.
    pub(super) track: Track,
    /// NAL unit length size for AVC/HEVC samples; `None` for audio.
    pub(super) length_size: Option<usize>,
    /// Edit list shift in media ticks, subtracted from every timestamp.
    pub(super) shift: i64,
    /// Largest negative composition offset seen so far (as a positive
    /// number), subtracted from decode times so that `dts <= pts`.
    pub(super) dts_shift: i64,
    /// Fragment defaults from `trex`.
    pub(super) trex: Trex,
    /// Decode time after the last sample read so far (where the next
    /// fragment without `tfdt` starts).
    pub(super) next_dts: i64,
}

/// Track extends defaults (`trex`, §8.8.3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Trex {
    /// `default_sample_duration`.
    pub(super) duration: u32,
    /// `default_sample_size`.
    pub(super) size: u32,
    /// `default_sample_flags`.
    pub(super) flags: u32,
}

/// Everything read from `moov`.
pub(super) struct Parsed {
    pub(super) tracks: Vec<TrackState>,
    pub(super) skipped: Vec<u32>,
    pub(super) timescale: u32,
    /// Samples of the progressive sample tables.
    pub(super) samples: Vec<Sample>,
}

/// Reads `moov`.
pub(super) fn parse(moov: &Mp4Box<'_>, budget: &mut Budget, warnings: &mut Warnings) -> Result<Parsed> {
    let timescale = match moov.find(b"mvhd")? {
        Some(mvhd) => {
            let (version, _, mut c) = mvhd.full()?;
            c.skip(if version == 1 { 16 } else { 8 })?;
            c.u32()?
        }
        None => 0,
    };
    let mut out = Parsed {
        tracks: Vec::new(),
        skipped: Vec::new(),
        timescale,
        samples: Vec::new(),
    };
    for trak in moov.children() {
        let trak = trak?;
        if &trak.fourcc == b"trak" {
            parse_trak(&trak, &mut out, budget, warnings)?;
        }
    }
    if let Some(mvex) = moov.find(b"mvex")? {
        for trex in mvex.children() {
            let trex = trex?;
            if &trex.fourcc != b"trex" {
                continue;
            }
            let (_, _, mut c) = trex.full()?;
            let id = c.u32()?;
            c.skip(4)?; // default_sample_description_index
            let defaults = Trex {
                duration: c.u32()?,
                size: c.u32()?,
                flags: c.u32()?,
            };
            if let Some(t) = out.tracks.iter_mut().find(|t| t.track.id == id) {
                t.trex = defaults;
            }
        }
    }
    Ok(out)
}

fn parse_trak(
    trak: &Mp4Box<'_>,
    out: &mut Parsed,
    budget: &mut Budget,
    warnings: &mut Warnings,
) -> Result<()> {
    let tkhd = trak.require(b"tkhd")?;
    let (version, _, mut c) = tkhd.full()?;
    c.skip(if version == 1 { 16 } else { 8 })?;
    let id = c.u32()?;
    if out.skipped.contains(&id) || out.tracks.iter().any(|t| t.track.id == id) {
        warnings.push(tkhd.invalid(format!("duplicate track id {id}, track skipped")));
        return Ok(());
    }
    let mdia = trak.require(b"mdia")?;
    let mdhd = mdia.require(b"mdhd")?;
    let (version, _, mut c) = mdhd.full()?;
    c.skip(if version == 1 { 16 } else { 8 })?;
    let timescale = c.u32()?;
    if timescale == 0 {
        return Err(mdhd.invalid("timescale 0"));
    }
    let hdlr = mdia.require(b"hdlr")?;
    let (_, _, mut c) = hdlr.full()?;
    c.skip(4)?; // pre_defined
    let handler = c.bytes(4)?;
    if handler != b"vide" && handler != b"soun" {
        let mut h = [0u8; 4];
        h.copy_from_slice(handler);
        out.skipped.push(id);
        warnings.push(Error::UnsupportedHandler {
            track: id,
            handler: fourcc_str(h),
            offset: hdlr.offset,
        });
        return Ok(());
    }
    let stbl = mdia.require(b"minf")?.require(b"stbl")?;
    let entry = match sample_entry::parse_stsd(&stbl.require(b"stsd")?, id, warnings)? {
        Ok(e) => e,
        Err(warning) => {
            out.skipped.push(id);
            warnings.push(warning);
            return Ok(());
        }
    };
    let shift = edit_shift(trak, out.timescale, timescale, warnings)?;
    let index = out.tracks.len();
    let (samples, next_dts) = sample_table::samples(&stbl, index, entry.codec.is_audio(), budget, warnings)?;
    out.samples.extend(samples);
    out.tracks
        .push(track_state(id, timescale, &entry, shift, next_dts));
    Ok(())
}

fn track_state(id: u32, timescale: u32, entry: &Entry, shift: i64, next_dts: i64) -> TrackState {
    let mut track = Track::new(id, entry.codec.clone(), timescale);
    track.init = entry.init.clone();
    sample_entry::describe(&mut track, entry);
    TrackState {
        track,
        length_size: entry.length_size,
        shift,
        dts_shift: 0,
        trex: Trex::default(),
        next_dts,
    }
}

/// The edit list shift (§8.6.6): `media_time` of the first non-empty edit
/// minus the empty edits before it, in media ticks. See the module docs.
fn edit_shift(trak: &Mp4Box<'_>, movie_ts: u32, media_ts: u32, warnings: &mut Warnings) -> Result<i64> {
    let Some(elst) = trak
        .find(b"edts")?
        .map(|e| e.find(b"elst"))
        .transpose()?
        .flatten()
    else {
        return Ok(0);
    };
    let (version, _, mut c) = elst.full()?;
    let count = u64::from(c.u32()?);
    let n = c.table("entry", count, if version == 1 { 20 } else { 12 })?;
    let mut empty = 0u64;
    for _ in 0..n {
        let (duration, media_time) = if version == 1 {
            (c.u64()?, c.i64()?)
        } else {
            (u64::from(c.u32()?), i64::from(c.i32()?))
        };
        c.skip(4)?; // media_rate
        match media_time {
            -1 => empty = empty.saturating_add(duration),
            t if t < 0 => {
                warnings.push(Error::Ignored {
                    path: elst.path.to_string(),
                    offset: elst.offset,
                    reason: format!("media_time {t} is invalid, edit list ignored"),
                });
                return Ok(0);
            }
            t => {
                let empty = if movie_ts == 0 {
                    0
                } else {
                    let v = i128::from(empty) * i128::from(media_ts) / i128::from(movie_ts);
                    i64::try_from(v).unwrap_or(i64::MAX)
                };
                return Ok(t.saturating_sub(empty));
            }
        }
    }
    Ok(0)
}
