//! Layout and serialisation of one `traf`: `tfhd`, `tfdt`, `trun`
//! (ISO/IEC 14496-12 §8.8.7, §8.8.12, §8.8.8).

use bytes::BufMut;

use super::boxes::{BOX_HEADER_LEN, FULL_BOX_HEADER_LEN, put_full_header, put_header};

/// `tfhd` flags (§8.8.7.1).
const TFHD_DEFAULT_DURATION: u32 = 0x00_0008;
const TFHD_DEFAULT_SIZE: u32 = 0x00_0010;
const TFHD_DEFAULT_FLAGS: u32 = 0x00_0020;
const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;

/// `trun` flags (§8.8.8.1).
const TRUN_DATA_OFFSET: u32 = 0x00_0001;
const TRUN_FIRST_SAMPLE_FLAGS: u32 = 0x00_0004;
const TRUN_DURATION: u32 = 0x00_0100;
const TRUN_SIZE: u32 = 0x00_0200;
const TRUN_FLAGS: u32 = 0x00_0400;
const TRUN_CTS: u32 = 0x00_0800;

/// Per-sample values of the fragment being written.
#[derive(Debug, Clone, Copy)]
pub(super) struct SampleRecord {
    pub(super) frame: usize,
    pub(super) duration: u32,
    pub(super) size: u32,
    pub(super) flags: u32,
    pub(super) cts: i32,
}

/// Layout of one `traf`.
#[derive(Debug, Clone, Copy)]
pub(super) struct TrafPlan {
    pub(super) track: usize,
    /// Range of this track's records in `samples`.
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) base_dts: u64,
    pub(super) default_duration: Option<u32>,
    pub(super) default_size: Option<u32>,
    pub(super) flags: FlagsLayout,
    pub(super) cts: bool,
    pub(super) payload_len: u64,
}

/// How sample flags are signalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FlagsLayout {
    /// All samples share `tfhd` default flags.
    Same(u32),
    /// The first sample differs (`first_sample_flags`), the rest share the default.
    First { first: u32, rest: u32 },
    /// Flags per sample.
    PerSample,
}

// === impl TrafPlan ===

impl TrafPlan {
    pub(super) fn new(
        track: usize,
        start: usize,
        samples: &[SampleRecord],
        base_dts: u64,
        payload_len: u64,
    ) -> Self {
        let records = samples.get(start..).unwrap_or_default();
        let same = |f: fn(&SampleRecord) -> u32, recs: &[SampleRecord]| {
            let first = recs.first().map(f)?;
            recs.iter().all(|r| f(r) == first).then_some(first)
        };
        let flags = match (same(|r| r.flags, records), records) {
            (Some(f), _) => FlagsLayout::Same(f),
            (None, [first, rest @ ..]) => match same(|r| r.flags, rest) {
                Some(f) => FlagsLayout::First {
                    first: first.flags,
                    rest: f,
                },
                None => FlagsLayout::PerSample,
            },
            (None, []) => FlagsLayout::PerSample,
        };
        Self {
            track,
            start,
            end: samples.len(),
            base_dts,
            default_duration: same(|r| r.duration, records),
            default_size: same(|r| r.size, records),
            flags,
            cts: records.iter().any(|r| r.cts != 0),
            payload_len,
        }
    }

    fn tfhd_len(&self) -> u64 {
        let defaults = [
            self.default_duration.is_some(),
            self.default_size.is_some(),
            self.flags != FlagsLayout::PerSample,
        ];
        (FULL_BOX_HEADER_LEN + 4 + 4 * defaults.iter().filter(|d| **d).count()) as u64
    }

    fn sample_len(&self) -> u64 {
        let fields = [
            self.default_duration.is_none(),
            self.default_size.is_none(),
            self.flags == FlagsLayout::PerSample,
            self.cts,
        ];
        4 * fields.iter().filter(|f| **f).count() as u64
    }

    fn trun_len(&self) -> u64 {
        let first_flags = matches!(self.flags, FlagsLayout::First { .. });
        let head = FULL_BOX_HEADER_LEN + 8 + if first_flags { 4 } else { 0 };
        head as u64 + self.sample_len() * (self.end - self.start) as u64
    }

    pub(super) fn traf_len(&self) -> u64 {
        BOX_HEADER_LEN as u64 + self.tfhd_len() + (FULL_BOX_HEADER_LEN + 8) as u64 + self.trun_len()
    }

    /// Writes `traf`: `tfhd`, `tfdt` (version 1) and `trun`. Lengths were
    /// checked by `FragmentWriter::plan` to fit their fields.
    pub(super) fn put(&self, mp4_id: u32, records: &[SampleRecord], data_offset: u64, out: &mut impl BufMut) {
        put_header(out, self.traf_len() as u32, b"traf");
        let mut tfhd_flags = TFHD_DEFAULT_BASE_IS_MOOF;
        let default_flags = match self.flags {
            FlagsLayout::Same(f) | FlagsLayout::First { rest: f, .. } => Some(f),
            FlagsLayout::PerSample => None,
        };
        for (present, bit) in [
            (self.default_duration.is_some(), TFHD_DEFAULT_DURATION),
            (self.default_size.is_some(), TFHD_DEFAULT_SIZE),
            (default_flags.is_some(), TFHD_DEFAULT_FLAGS),
        ] {
            if present {
                tfhd_flags |= bit;
            }
        }
        put_full_header(out, self.tfhd_len() as u32, b"tfhd", 0, tfhd_flags);
        out.put_u32(mp4_id);
        for v in [self.default_duration, self.default_size, default_flags]
            .into_iter()
            .flatten()
        {
            out.put_u32(v);
        }
        put_full_header(out, (FULL_BOX_HEADER_LEN + 8) as u32, b"tfdt", 1, 0);
        out.put_u64(self.base_dts);

        let mut trun_flags = TRUN_DATA_OFFSET;
        let per_sample = [
            (self.default_duration.is_none(), TRUN_DURATION),
            (self.default_size.is_none(), TRUN_SIZE),
            (self.flags == FlagsLayout::PerSample, TRUN_FLAGS),
            (self.cts, TRUN_CTS),
        ];
        for (present, bit) in per_sample {
            if present {
                trun_flags |= bit;
            }
        }
        if let FlagsLayout::First { .. } = self.flags {
            trun_flags |= TRUN_FIRST_SAMPLE_FLAGS;
        }
        // Version 1: signed composition offsets (§8.8.8.2).
        let version = u8::from(self.cts);
        put_full_header(out, self.trun_len() as u32, b"trun", version, trun_flags);
        out.put_u32(records.len() as u32);
        out.put_i32(data_offset as i32);
        if let FlagsLayout::First { first, .. } = self.flags {
            out.put_u32(first);
        }
        for r in records {
            if self.default_duration.is_none() {
                out.put_u32(r.duration);
            }
            if self.default_size.is_none() {
                out.put_u32(r.size);
            }
            if self.flags == FlagsLayout::PerSample {
                out.put_u32(r.flags);
            }
            if self.cts {
                out.put_i32(r.cts);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmp4::{SAMPLE_FLAGS_NON_SYNC as N, SAMPLE_FLAGS_SYNC as S};

    fn records(spec: &[(u32, u32, u32, i32)]) -> Vec<SampleRecord> {
        spec.iter()
            .enumerate()
            .map(|(frame, &(duration, size, flags, cts))| SampleRecord {
                frame,
                duration,
                size,
                flags,
                cts,
            })
            .collect()
    }

    #[test]
    fn layouts_pick_defaults_and_write_their_announced_length() {
        let cases = [
            (
                vec![(10, 5, S, 0), (10, 5, S, 0)],
                FlagsLayout::Same(S),
                8 + 28 + 20 + 20,
            ),
            (
                vec![(10, 5, S, 0), (10, 6, N, 0)],
                FlagsLayout::First { first: S, rest: N },
                8 + 24 + 20 + 32,
            ),
            (
                vec![(10, 5, S, 0), (11, 6, N, 0), (10, 6, S, -3)],
                FlagsLayout::PerSample,
                8 + 16 + 20 + 20 + 48,
            ),
            (vec![], FlagsLayout::PerSample, 8 + 16 + 20 + 20),
        ];
        for (spec, layout, len) in cases {
            let recs = records(&spec);
            let plan = TrafPlan::new(0, 0, &recs, 1234, 0);
            assert_eq!(plan.flags, layout);
            assert_eq!(plan.traf_len(), len);
            let mut out = Vec::new();
            plan.put(1, &recs, 100, &mut out);
            assert_eq!(out.len() as u64, len);
            assert_eq!(u32::from_be_bytes(out[..4].try_into().unwrap()) as u64, len);
        }
    }
}
