//! Movie fragments: `moof` + `mdat` (ISO/IEC 14496-12 §8.8, CMAF fragments
//! ISO/IEC 23000-19 §7.3.2).
//!
//! All box sizes are computed before anything is written, so a fragment goes
//! straight into any [`BufMut`] without patching, or is returned as a header
//! plus the frames' own payload [`Bytes`] for gathered writes.

use std::borrow::Borrow;

use bytes::{BufMut, Bytes, BytesMut};

use super::boxes::{BOX_HEADER_LEN, FULL_BOX_HEADER_LEN, put_full_header, put_header};
use super::init::{self, TrackSetup};
use super::traf::{SampleRecord, TrafPlan};
use super::{Error, Result, SAMPLE_FLAGS_NON_SYNC, SAMPLE_FLAGS_SYNC};
use crate::{Frame, Timestamp, Track};

/// Writes an init segment and then fragments for a fixed set of tracks.
///
/// Keeps per-track state between fragments (the last sample duration, the
/// decode time shift) and scratch buffers, so writing a fragment does not
/// allocate per sample. Frames of a fragment are grouped by track: `mdat`
/// holds each track's samples contiguously in track order, one `traf` with
/// one `trun` per track that has frames.
#[derive(Debug, Clone)]
pub struct FragmentWriter {
    tracks: Vec<TrackSetup>,
    shifts: Vec<u64>,
    last_duration: Vec<Option<u32>>,
    samples: Vec<SampleRecord>,
    plans: Vec<TrafPlan>,
}

/// One written fragment: the `moof` box and `mdat` header, then the sample
/// payloads that make up the `mdat` body, shared with the input frames.
///
/// Write `header` and then every payload, in order (e.g. as one vectored
/// write); [`Fragment::write_to`] copies them into one buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fragment {
    /// `moof` and the `mdat` box header.
    pub header: Bytes,
    /// `mdat` body: the sample payloads in file order.
    pub payloads: Vec<Bytes>,
}

// === impl FragmentWriter ===

impl FragmentWriter {
    /// A writer for `tracks`: validates codecs and decoder configs.
    ///
    /// Errors for [`crate::Codec::Other`], an empty or unparsable
    /// [`Track::init`], duplicate track ids and too many tracks.
    pub fn new(tracks: &[Track]) -> Result<Self> {
        let tracks = TrackSetup::all(tracks)?;
        let n = tracks.len();
        Ok(Self {
            tracks,
            shifts: vec![0; n],
            last_duration: vec![None; n],
            samples: Vec::new(),
            plans: Vec::with_capacity(n),
        })
    }

    /// Shifts the decode times of `track` by `shift` ticks: fragments carry
    /// `dts + shift` and the init segment an edit list starting at media time
    /// `shift`, so players present the original times. Needed when decode
    /// times start below zero (B-frames after an MP4 edit list). Set it before
    /// [`FragmentWriter::write_init`].
    pub fn set_decode_shift(&mut self, track: u32, shift: u64) -> Result<()> {
        let i = self.index(track).ok_or(Error::NoSuchTrack(track))?;
        if let Some(s) = self.shifts.get_mut(i) {
            *s = shift;
        }
        Ok(())
    }

    /// Writes the init segment (`ftyp` + `moov`).
    pub fn write_init(&self, out: &mut impl BufMut) {
        init::write(&self.tracks, &self.shifts, out);
    }

    /// Writes fragment number `seq` (`mfhd` sequence_number, counting from 1)
    /// with `frames` into `out`, copying each payload once.
    ///
    /// `frames` may mix tracks; within a track they must be in decode order.
    /// A sample's duration is the next frame's dts minus its own. For each
    /// track's last frame, `next_dts` gives the dts of that track's following
    /// frame (`(track id, dts)`) when the caller knows it, as a live LL-HLS
    /// packager does when it cuts a part. Otherwise the previous duration is
    /// repeated: from this fragment, else from the last fragment, else a codec
    /// default (1024 samples for AAC, 20 ms for Opus, one frame at the
    /// signalled frame rate or 25 fps for video).
    ///
    /// Errors (checked before anything is written, so `out` is untouched):
    /// frames of unknown tracks, a dts going backwards within a track, a dts
    /// still negative after the decode shift, values too large for their MP4
    /// fields. `out` must be able to grow (`Vec<u8>`, `BytesMut`): a fixed
    /// `&mut [u8]` that is too small panics inside [`BufMut`].
    ///
    /// Returns the number of bytes written.
    pub fn write_fragment<F: Borrow<Frame>>(
        &mut self,
        seq: u32,
        frames: &[F],
        next_dts: &[(u32, Timestamp)],
        out: &mut impl BufMut,
    ) -> Result<usize> {
        let len = self.plan(frames, next_dts)?;
        self.put_header(seq, len, out);
        for plan in &self.plans {
            for rec in self.samples.get(plan.start..plan.end).unwrap_or_default() {
                if let Some(f) = frames.get(rec.frame) {
                    out.put_slice(&f.borrow().data);
                }
            }
        }
        self.commit();
        Ok(len.total)
    }

    /// Like [`FragmentWriter::write_fragment`], but only the header is written;
    /// the payloads are returned shared with `frames`, not copied.
    pub fn fragment<F: Borrow<Frame>>(
        &mut self,
        seq: u32,
        frames: &[F],
        next_dts: &[(u32, Timestamp)],
    ) -> Result<Fragment> {
        let len = self.plan(frames, next_dts)?;
        let mut header = BytesMut::with_capacity(len.header);
        self.put_header(seq, len, &mut header);
        let mut payloads = Vec::with_capacity(self.samples.len());
        for plan in &self.plans {
            for rec in self.samples.get(plan.start..plan.end).unwrap_or_default() {
                if let Some(f) = frames.get(rec.frame) {
                    payloads.push(f.borrow().data.clone());
                }
            }
        }
        self.commit();
        Ok(Fragment {
            header: header.freeze(),
            payloads,
        })
    }

    /// Index of the track with [`Track::id`] `id`.
    pub(super) fn index(&self, id: u32) -> Option<usize> {
        self.tracks.iter().position(|t| t.id == id)
    }

    /// Timescale of the track at index `t` (1 when out of range).
    pub(super) fn timescale(&self, t: usize) -> u32 {
        self.tracks.get(t).map_or(1, |s| s.timescale)
    }

    /// Computes sample records and `traf` layouts for `frames`, checking
    /// everything that can fail before any byte is written.
    fn plan<F: Borrow<Frame>>(&mut self, frames: &[F], next_dts: &[(u32, Timestamp)]) -> Result<Lengths> {
        self.samples.clear();
        self.plans.clear();
        for (i, f) in frames.iter().enumerate() {
            let track = f.borrow().track;
            if self.index(track).is_none() {
                return Err(Error::UnknownTrack { track, frame: i });
            }
        }
        for t in 0..self.tracks.len() {
            if let Some(plan) = self.plan_track(t, frames, next_dts)? {
                self.plans.push(plan);
            }
        }
        let trafs: u64 = self.plans.iter().map(TrafPlan::traf_len).sum();
        let payload: u64 = self.plans.iter().map(|p| p.payload_len).sum();
        let moof = (BOX_HEADER_LEN + FULL_BOX_HEADER_LEN + 4) as u64 + trafs;
        let large = payload + BOX_HEADER_LEN as u64 > u64::from(u32::MAX);
        let mdat_header = if large { 16 } else { BOX_HEADER_LEN } as u64;
        let too_large = || Error::FragmentTooLarge {
            size: moof + mdat_header + payload,
        };
        // data_offset is a signed 32-bit offset from the start of moof.
        let mut offset = moof + mdat_header;
        for plan in &self.plans {
            i32::try_from(offset).map_err(|_| too_large())?;
            offset += plan.payload_len;
        }
        let moof = u32::try_from(moof).map_err(|_| too_large())?;
        let total = usize::try_from(u64::from(moof) + mdat_header + payload).map_err(|_| too_large())?;
        Ok(Lengths {
            moof,
            mdat_header: mdat_header as usize,
            header: moof as usize + mdat_header as usize,
            payload,
            total,
        })
    }

    /// Records the samples of track `t` and its `traf` layout; `None` when the
    /// fragment has no frames of it.
    fn plan_track<F: Borrow<Frame>>(
        &mut self,
        t: usize,
        frames: &[F],
        next_dts: &[(u32, Timestamp)],
    ) -> Result<Option<TrafPlan>> {
        let Some(setup) = self.tracks.get(t) else {
            return Ok(None);
        };
        let (id, timescale) = (setup.id, setup.timescale);
        let shift = self.shifts.get(t).copied().unwrap_or(0);
        let fallback = self
            .last_duration
            .get(t)
            .copied()
            .flatten()
            .unwrap_or(setup.default_duration);
        let next = next_dts
            .iter()
            .find(|(track, _)| *track == id)
            .map(|(_, dts)| dts.rescale(timescale).ticks());
        let start = self.samples.len();
        let mut iter = frames
            .iter()
            .map(Borrow::borrow)
            .enumerate()
            .filter(|(_, f)| f.track == id)
            .peekable();
        let Some(&(first_index, first)) = iter.peek() else {
            return Ok(None);
        };
        let first_dts = first.dts.rescale(timescale).ticks();
        let base_dts = first_dts
            .checked_add_unsigned(shift)
            .and_then(|d| u64::try_from(d).ok())
            .ok_or(Error::NegativeDecodeTime {
                track: id,
                frame: first_index,
                dts: first_dts,
                shift,
            })?;
        let mut prev_duration = None;
        let mut payload_len = 0u64;
        while let Some((i, f)) = iter.next() {
            let dts = f.dts.rescale(timescale).ticks();
            let following = match iter.peek() {
                Some(&(j, g)) => Some((j, g.dts.rescale(timescale).ticks())),
                None => next.map(|n| (i, n)),
            };
            let duration = match following {
                Some((j, n)) => {
                    let d = n.saturating_sub(dts);
                    if d < 0 {
                        return Err(Error::DtsOutOfOrder { track: id, frame: j });
                    }
                    u32::try_from(d).map_err(|_| Error::DurationTooLong {
                        track: id,
                        frame: i,
                        duration: d,
                    })?
                }
                None => prev_duration.unwrap_or(fallback),
            };
            prev_duration = Some(duration);
            let cts = f.pts.rescale(timescale).ticks().saturating_sub(dts);
            let cts = i32::try_from(cts).map_err(|_| Error::CompositionOffsetTooLarge {
                track: id,
                frame: i,
                offset: cts,
            })?;
            let size = u32::try_from(f.data.len()).map_err(|_| Error::FrameTooLarge {
                track: id,
                frame: i,
                size: f.data.len(),
            })?;
            payload_len += u64::from(size);
            let flags = if f.keyframe {
                SAMPLE_FLAGS_SYNC
            } else {
                SAMPLE_FLAGS_NON_SYNC
            };
            self.samples.push(SampleRecord {
                frame: i,
                duration,
                size,
                flags,
                cts,
            });
        }
        if u32::try_from(self.samples.len() - start).is_err() {
            return Err(Error::FragmentTooLarge { size: payload_len });
        }
        Ok(Some(TrafPlan::new(
            t,
            start,
            &self.samples,
            base_dts,
            payload_len,
        )))
    }

    /// Writes `moof` and the `mdat` header for the planned fragment.
    fn put_header(&self, seq: u32, len: Lengths, out: &mut impl BufMut) {
        put_header(out, len.moof, b"moof");
        put_full_header(out, 16, b"mfhd", 0, 0);
        out.put_u32(seq);
        let mut data_offset = len.header as u64;
        for plan in &self.plans {
            let mp4_id = self.tracks.get(plan.track).map_or(0, |t| t.mp4_id);
            let records = self.samples.get(plan.start..plan.end).unwrap_or_default();
            plan.put(mp4_id, records, data_offset, out);
            data_offset += plan.payload_len;
        }
        let mdat_size = len.payload + len.mdat_header as u64;
        match u32::try_from(mdat_size) {
            Ok(size) if len.mdat_header == BOX_HEADER_LEN => put_header(out, size, b"mdat"),
            _ => {
                put_header(out, 1, b"mdat");
                out.put_u64(mdat_size);
            }
        }
    }

    /// Keeps each written track's last sample duration for the next fragment.
    fn commit(&mut self) {
        for plan in &self.plans {
            let last = plan.end.checked_sub(1).and_then(|i| self.samples.get(i));
            if let (Some(slot), Some(rec)) = (self.last_duration.get_mut(plan.track), last) {
                *slot = Some(rec.duration);
            }
        }
    }
}

/// Sizes of the fragment being written.
#[derive(Debug, Clone, Copy)]
struct Lengths {
    moof: u32,
    mdat_header: usize,
    /// `moof` plus the `mdat` header.
    header: usize,
    payload: u64,
    total: usize,
}

// === impl Fragment ===

impl Fragment {
    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.header.len() + self.payloads.iter().map(Bytes::len).sum::<usize>()
    }

    /// True when there is nothing to write (never for a written fragment).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The chunks to write, in order: header, then payloads.
    pub fn chunks(&self) -> impl Iterator<Item = &Bytes> {
        std::iter::once(&self.header).chain(&self.payloads)
    }

    /// Copies the fragment into `out`.
    pub fn write_to(&self, out: &mut impl BufMut) {
        for chunk in self.chunks() {
            out.put_slice(chunk);
        }
    }
}
