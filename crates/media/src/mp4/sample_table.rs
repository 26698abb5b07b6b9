//! The sample table of a progressive track (`stbl`, ISO/IEC 14496-12 §8.5–8.7):
//! sizes (`stsz`/`stz2`), chunks (`stsc`, `stco`/`co64`), decode times
//! (`stts`), composition offsets (`ctts`) and sync samples (`stss`).

use super::boxes::{Cursor, Mp4Box};
use super::{Error, PAYLOAD_PER_FILE_BYTE, Result, SAMPLE_SLACK, SAMPLES_PER_FILE_BYTE, Warnings};

/// One sample of one track, before its bytes are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sample {
    /// Index into [`super::Movie`]'s tracks.
    pub(super) track: usize,
    /// Byte offset in the input.
    pub(super) offset: u64,
    /// Size in bytes.
    pub(super) size: u32,
    /// Decode time in media ticks, before the edit list shift.
    pub(super) dts: i64,
    /// Composition offset in media ticks.
    pub(super) cts: i64,
    /// Sync sample.
    pub(super) keyframe: bool,
}

/// How many more samples the input may declare (see [`SAMPLES_PER_FILE_BYTE`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Budget {
    left: u64,
    limit: u64,
}

/// Sample sizes: one for all, or a table.
enum Sizes {
    Constant(u32),
    Table(Vec<u32>),
}

/// Run-length table of (count, value), iterated one sample at a time.
struct Runs<T> {
    entries: Vec<(u32, T)>,
    index: usize,
    used: u32,
}

// === impl Budget ===

impl Budget {
    /// The budget for an input of `len` bytes.
    pub(super) fn for_input(len: usize) -> Self {
        let limit = (len as u64)
            .saturating_mul(SAMPLES_PER_FILE_BYTE)
            .saturating_add(SAMPLE_SLACK);
        Self { left: limit, limit }
    }

    /// Takes `count` samples from the budget, or fails naming the count field.
    pub(super) fn take(&mut self, count: u64, c: &Cursor<'_>, at: u64) -> Result<()> {
        if count > self.left {
            return Err(Error::TooMany {
                path: c.path_string(),
                offset: at,
                what: "sample",
                count,
                limit: self.left,
                reason: "samples allowed for the input size",
            });
        }
        self.left -= count;
        Ok(())
    }
}

// === impl Runs ===

impl<T: Copy> Runs<T> {
    fn new(entries: Vec<(u32, T)>) -> Self {
        Self {
            entries,
            index: 0,
            used: 0,
        }
    }

    /// The value for the next sample; `None` once the table is exhausted.
    fn next(&mut self) -> Option<T> {
        loop {
            let (count, value) = *self.entries.get(self.index)?;
            if self.used < count {
                self.used += 1;
                return Some(value);
            }
            self.index += 1;
            self.used = 0;
        }
    }

    fn last(&self) -> Option<T> {
        self.entries.last().map(|e| e.1)
    }
}

/// Builds the samples of a track from its `stbl`. Returns them with the
/// decode time after the last sample (where fragments continue).
pub(super) fn samples(
    stbl: &Mp4Box<'_>,
    track: usize,
    all_sync: bool,
    budget: &mut Budget,
    warnings: &mut Warnings,
) -> Result<(Vec<Sample>, i64)> {
    let (sizes, count) = match stbl.find(b"stsz")? {
        Some(b) => stsz(&b, budget)?,
        None => match stbl.find(b"stz2")? {
            Some(b) => stz2(&b, budget)?,
            None => return Err(missing(stbl, "stsz")),
        },
    };
    let mut stts = Runs::new(pairs(&stbl.require(b"stts")?, i64::from)?);
    let mut ctts = match stbl.find(b"ctts")? {
        // both versions read as signed, see the module docs
        Some(b) => Some(Runs::new(pairs(&b, |v| i64::from(v as i32))?)),
        None => None,
    };
    let stss = match stbl.find(b"stss")? {
        Some(b) if !all_sync => Some(stss(&b)?),
        _ => None,
    };
    let stsc_box = stbl.require(b"stsc")?;
    let stsc = stsc(&stsc_box)?;
    let chunks = chunk_offsets(stbl)?;
    if count == 0 {
        return Ok((Vec::new(), 0));
    }
    if let Sizes::Constant(size) = sizes {
        // no table backs these sizes: bound the payload they claim right away
        let limit = budget.limit.saturating_mul(PAYLOAD_PER_FILE_BYTE);
        if u64::from(size).saturating_mul(count as u64) > limit {
            return Err(stbl.invalid(format!("{count} samples of {size} bytes do not fit in the input")));
        }
    }
    let mut out = Vec::with_capacity(count);
    let mut dts = 0i64;
    let mut stts_short = false;
    let mut stsc_index = 0usize;
    for (i, &chunk_offset) in chunks.iter().enumerate() {
        if out.len() == count {
            break;
        }
        let chunk_number = i as u64 + 1;
        while stsc
            .get(stsc_index + 1)
            .is_some_and(|e| u64::from(e.0) <= chunk_number)
        {
            stsc_index += 1;
        }
        let per_chunk = stsc.get(stsc_index).map_or(0, |e| e.1);
        let mut offset = chunk_offset;
        for _ in 0..per_chunk {
            let index = out.len();
            if index == count {
                break;
            }
            let size = match &sizes {
                Sizes::Constant(s) => *s,
                Sizes::Table(t) => t.get(index).copied().unwrap_or(0),
            };
            let delta = stts.next().unwrap_or_else(|| {
                stts_short = true;
                stts.last().unwrap_or(0)
            });
            let cts = ctts.as_mut().and_then(|c| c.next()).unwrap_or(0);
            let keyframe = stss
                .as_ref()
                .is_none_or(|s| s.binary_search(&(index as u64 + 1)).is_ok());
            out.push(Sample {
                track,
                offset,
                size,
                dts,
                cts,
                keyframe,
            });
            offset = offset.saturating_add(u64::from(size));
            dts = dts.saturating_add(delta);
        }
    }
    if out.len() < count {
        return Err(stsc_box.invalid(format!(
            "{count} samples in 'stsz' but the chunks hold only {}",
            out.len()
        )));
    }
    if stts_short {
        warnings.push(Error::Ignored {
            path: stbl.path.to_string() + "/stts",
            offset: stbl.offset,
            reason: "fewer durations than samples, last duration repeated".into(),
        });
    }
    Ok((out, dts))
}

fn missing(parent: &Mp4Box<'_>, name: &str) -> Error {
    Error::MissingBox {
        name: name.into(),
        parent: parent.path.to_string(),
        offset: parent.offset,
    }
}

/// `stsz` (§8.7.3.2): returns the sizes and the sample count.
fn stsz(b: &Mp4Box<'_>, budget: &mut Budget) -> Result<(Sizes, usize)> {
    let (_, _, mut c) = b.full()?;
    let size = c.u32()?;
    let at = c.offset();
    let count = u64::from(c.u32()?);
    if size != 0 {
        budget.take(count, &c, at)?;
        // within the budget, which is far below usize::MAX
        return Ok((Sizes::Constant(size), count as usize));
    }
    let n = c.table("sample", count, 4)?;
    budget.take(count, &c, at)?;
    let mut t = Vec::with_capacity(n);
    for _ in 0..n {
        t.push(c.u32()?);
    }
    Ok((Sizes::Table(t), n))
}

/// `stz2` (§8.7.3.3): compact sample sizes of 4, 8 or 16 bits.
fn stz2(b: &Mp4Box<'_>, budget: &mut Budget) -> Result<(Sizes, usize)> {
    let (_, _, mut c) = b.full()?;
    c.skip(3)?;
    let field_size = c.u8()?;
    let at = c.offset();
    let count = u64::from(c.u32()?);
    let bytes_needed = match field_size {
        4 => count.div_ceil(2),
        8 => count,
        16 => count.saturating_mul(2),
        other => return Err(c.invalid(format!("field_size {other} is not 4, 8 or 16"))),
    };
    c.table("sample-size byte", bytes_needed, 1)?;
    budget.take(count, &c, at)?;
    // count <= bytes_needed * 2 <= 2 * box size
    let n = count as usize;
    let mut t = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        match field_size {
            4 => {
                let byte = c.u8()?;
                t.push(u32::from(byte >> 4));
                if i + 1 < n {
                    t.push(u32::from(byte & 0x0f));
                }
                i += 2;
            }
            8 => {
                t.push(u32::from(c.u8()?));
                i += 1;
            }
            _ => {
                t.push(u32::from(c.u16()?));
                i += 1;
            }
        }
    }
    Ok((Sizes::Table(t), n))
}

/// A table of `entry_count` pairs of u32 (`stts`, `ctts`).
fn pairs<T>(b: &Mp4Box<'_>, map: impl Fn(u32) -> T) -> Result<Vec<(u32, T)>> {
    let (_, _, mut c) = b.full()?;
    let count = u64::from(c.u32()?);
    let n = c.table("entry", count, 8)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let k = c.u32()?;
        let v = c.u32()?;
        out.push((k, map(v)));
    }
    Ok(out)
}

/// `stss` (§8.6.2): 1-based sync sample numbers, sorted.
fn stss(b: &Mp4Box<'_>) -> Result<Vec<u64>> {
    let (_, _, mut c) = b.full()?;
    let count = u64::from(c.u32()?);
    let n = c.table("entry", count, 4)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(u64::from(c.u32()?));
    }
    out.sort_unstable();
    Ok(out)
}

/// `stsc` (§8.7.4): (first_chunk, samples_per_chunk) runs.
fn stsc(b: &Mp4Box<'_>) -> Result<Vec<(u32, u32)>> {
    let (_, _, mut c) = b.full()?;
    let count = u64::from(c.u32()?);
    let n = c.table("entry", count, 12)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let first = c.u32()?;
        let per_chunk = c.u32()?;
        c.skip(4)?; // sample_description_index: only the first entry is read
        out.push((first, per_chunk));
    }
    Ok(out)
}

/// `stco` or `co64` (§8.7.5): chunk offsets.
fn chunk_offsets(stbl: &Mp4Box<'_>) -> Result<Vec<u64>> {
    let (b, wide) = match stbl.find(b"stco")? {
        Some(b) => (b, false),
        None => match stbl.find(b"co64")? {
            Some(b) => (b, true),
            None => return Err(missing(stbl, "stco")),
        },
    };
    let (_, _, mut c) = b.full()?;
    let count = u64::from(c.u32()?);
    let n = c.table("chunk", count, if wide { 8 } else { 4 })?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(if wide { c.u64()? } else { u64::from(c.u32()?) });
    }
    Ok(out)
}
