//! Movie fragments (`moof`, ISO/IEC 14496-12 §8.8): track fragments (`traf`)
//! with their header (`tfhd`), base decode time (`tfdt`) and runs (`trun`).

use super::boxes::Mp4Box;
use super::sample_table::{Budget, Sample};
use super::{Error, Movie, Result};

/// `tfhd` flags (§8.8.7.1).
const TFHD_BASE_DATA_OFFSET: u32 = 0x01;
const TFHD_SAMPLE_DESCRIPTION_INDEX: u32 = 0x02;
const TFHD_DEFAULT_DURATION: u32 = 0x08;
const TFHD_DEFAULT_SIZE: u32 = 0x10;
const TFHD_DEFAULT_FLAGS: u32 = 0x20;
const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;

/// `trun` flags (§8.8.8.1).
const TRUN_DATA_OFFSET: u32 = 0x001;
const TRUN_FIRST_SAMPLE_FLAGS: u32 = 0x004;
const TRUN_DURATION: u32 = 0x100;
const TRUN_SIZE: u32 = 0x200;
const TRUN_FLAGS: u32 = 0x400;
const TRUN_COMPOSITION_OFFSET: u32 = 0x800;

/// `sample_is_non_sync_sample` in the sample flags (§8.8.3.1).
const SAMPLE_IS_NON_SYNC: u32 = 0x0001_0000;

/// Defaults and position of one track fragment.
struct Traf {
    /// Index of the track in the movie, `None` for a track not output.
    track: Option<usize>,
    audio: bool,
    duration: u32,
    size: u32,
    flags: u32,
    /// Decode time of the next sample.
    dts: i64,
    /// Byte offset of the next sample's data.
    pos: u64,
    base: u64,
}

/// Reads the samples of one `moof` into `out`. Data offsets are relative to
/// the input the `moof` box was found in.
pub(super) fn parse_moof(
    movie: &mut Movie,
    moof: &Mp4Box<'_>,
    budget: &mut Budget,
    out: &mut Vec<Sample>,
) -> Result<()> {
    // without base_data_offset or default-base-is-moof, the first traf's
    // base is the moof, a later one's the end of the previous traf's data
    let mut implicit_base = moof.offset;
    for traf in moof.children() {
        let traf = traf?;
        if &traf.fourcc != b"traf" {
            continue;
        }
        implicit_base = parse_traf(movie, moof, &traf, implicit_base, budget, out)?;
    }
    Ok(())
}

/// Reads one `traf`; returns the end of its data.
fn parse_traf(
    movie: &mut Movie,
    moof: &Mp4Box<'_>,
    traf: &Mp4Box<'_>,
    implicit_base: u64,
    budget: &mut Budget,
    out: &mut Vec<Sample>,
) -> Result<u64> {
    let mut t = tfhd(movie, moof, &traf.require(b"tfhd")?, implicit_base)?;
    if let Some(tfdt) = traf.find(b"tfdt")? {
        let (version, _, mut c) = tfdt.full()?;
        let time = c.u32_or_u64(version)?;
        t.dts = i64::try_from(time)
            .map_err(|_| tfdt.invalid(format!("baseMediaDecodeTime {time} is too large")))?;
    }
    let mut first = true;
    for trun in traf.children() {
        let trun = trun?;
        if &trun.fourcc == b"trun" {
            parse_trun(&trun, &mut t, first, budget, out)?;
            first = false;
        }
    }
    if let Some(i) = t.track {
        // indices come from the movie's own track list
        movie.tracks[i].next_dts = t.dts;
    }
    Ok(t.pos)
}

/// Reads `tfhd` and sets up the traf's defaults.
fn tfhd(movie: &mut Movie, moof: &Mp4Box<'_>, tfhd: &Mp4Box<'_>, implicit_base: u64) -> Result<Traf> {
    let (_, flags, mut c) = tfhd.full()?;
    let id = c.u32()?;
    let track = movie.tracks.iter().position(|t| t.track.id == id);
    if track.is_none() && !movie.skipped.contains(&id) {
        movie.warnings.push(Error::Ignored {
            path: tfhd.path.to_string(),
            offset: tfhd.offset,
            reason: format!("fragment of unknown track {id} ignored"),
        });
    }
    let state = track.map(|i| &movie.tracks[i]);
    let trex = state.map(|s| s.trex).unwrap_or_default();
    let base = if flags & TFHD_BASE_DATA_OFFSET != 0 {
        c.u64()?
    } else if flags & TFHD_DEFAULT_BASE_IS_MOOF != 0 {
        moof.offset
    } else {
        implicit_base
    };
    if flags & TFHD_SAMPLE_DESCRIPTION_INDEX != 0 {
        c.skip(4)?;
    }
    let mut field =
        |bit: u32, default: u32| -> Result<u32> { if flags & bit != 0 { c.u32() } else { Ok(default) } };
    let duration = field(TFHD_DEFAULT_DURATION, trex.duration)?;
    let size = field(TFHD_DEFAULT_SIZE, trex.size)?;
    let flags = field(TFHD_DEFAULT_FLAGS, trex.flags)?;
    Ok(Traf {
        track,
        audio: state.is_some_and(|s| s.track.codec.is_audio()),
        duration,
        size,
        flags,
        dts: state.map_or(0, |s| s.next_dts),
        pos: base,
        base,
    })
}

/// Reads one `trun`, appending its samples.
fn parse_trun(
    trun: &Mp4Box<'_>,
    t: &mut Traf,
    first: bool,
    budget: &mut Budget,
    out: &mut Vec<Sample>,
) -> Result<()> {
    let (_, flags, mut c) = trun.full()?;
    let at = c.offset();
    let count = u64::from(c.u32()?);
    if flags & TRUN_DATA_OFFSET != 0 {
        let data_offset = i64::from(c.i32()?);
        let pos = i128::from(t.base) + i128::from(data_offset);
        t.pos = u64::try_from(pos).map_err(|_| {
            trun.invalid(format!(
                "data_offset {data_offset} points before the start of the input"
            ))
        })?;
    } else if first {
        t.pos = t.base;
    }
    let first_flags = if flags & TRUN_FIRST_SAMPLE_FLAGS != 0 {
        Some(c.u32()?)
    } else {
        None
    };
    let per_sample = [TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_COMPOSITION_OFFSET]
        .iter()
        .filter(|f| flags & **f != 0)
        .count()
        * 4;
    if per_sample > 0 {
        c.table("sample", count, per_sample)?;
    }
    budget.take(count, &c, at)?;
    if t.track.is_some() {
        // within the budget, which is proportional to the input size
        out.reserve(count as usize);
    }
    for i in 0..count {
        let mut field =
            |bit: u32, default: u32| -> Result<u32> { if flags & bit != 0 { c.u32() } else { Ok(default) } };
        let duration = field(TRUN_DURATION, t.duration)?;
        let size = field(TRUN_SIZE, t.size)?;
        let default_flags = match (i, first_flags) {
            (0, Some(f)) => f,
            _ => t.flags,
        };
        let sample_flags = field(TRUN_FLAGS, default_flags)?;
        // version 0 offsets are read as signed too, like ffmpeg (module docs)
        let cts = field(TRUN_COMPOSITION_OFFSET, 0)? as i32;
        if let Some(track) = t.track {
            out.push(Sample {
                track,
                offset: t.pos,
                size,
                dts: t.dts,
                cts: i64::from(cts),
                keyframe: t.audio || sample_flags & SAMPLE_IS_NON_SYNC == 0,
            });
        }
        t.pos = t.pos.saturating_add(u64::from(size));
        t.dts = t.dts.saturating_add(i64::from(duration));
    }
    Ok(())
}
