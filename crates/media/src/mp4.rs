//! MP4 reading: progressive (`moov`/`stbl`) and fragmented (`moof`/`traf`)
//! files (ISO/IEC 14496-12, ISO/IEC 14496-15 for the AVC/HEVC sample entries,
//! ISO/IEC 14496-14 for `esds`).
//!
//! [`read_all`] demuxes a whole file held in memory: the sample tables of
//! `moov` (progressive files, or the first fragment of a file written with
//! samples in `moov`) and every `moof` + `mdat` (fragmented files, CMAF).
//! Frames come out in file order: all samples of all tracks sorted by their
//! byte offset. [`Movie`] reads an init segment and then fragments one by one.
//!
//! # Timestamps
//!
//! Decode times come from `stts` (or `tfdt` plus sample durations),
//! composition offsets from `ctts` (or `trun`). Both versions of the offsets
//! are read as signed 32-bit numbers, as ffmpeg does (a version-0 offset of
//! 2^31 or more is nonsense in practice). The track's edit list (`elst`,
//! §8.6.6) is then applied as a shift: with `media_time` the start of the
//! first non-empty edit and `empty` the total duration of the empty edits
//! before it (rescaled from the movie to the media timescale),
//!
//! ```text
//! dts = decode_time - media_time + empty
//! pts = decode_time + composition_offset - media_time + empty
//! ```
//!
//! Composition offsets may be negative (`ctts`/`trun` version 1, as in
//! CMAF). So that every frame has `dts <= pts`, decode times of a track are
//! then lowered by its largest negative offset (the `dts_shift`); pts are
//! left alone. [`read_all`] takes that largest offset over the whole file;
//! [`Movie::read_fragment`] over the fragments read so far (a later, larger
//! one lowers later decode times further).
//!
//! For progressive files written by ffmpeg this reproduces ffprobe's pts
//! and dts exactly: H.264 with B-frames gets `media_time` = 2 frames, so the
//! first video pts is 0 and the first dts negative; AAC gets `media_time` =
//! 1024 (the encoder delay), so the first audio pts and dts are -1024; Opus
//! gets its pre-skip (312). Only the offset of the first edit is applied;
//! edits that cut or repeat media are not. ffprobe differs on fragmented
//! files with negative offsets (ffmpeg's `+cmaf` output): it raises pts by
//! the `dts_shift` instead of lowering dts, so both its pts and dts are ours
//! plus that shift (512 ticks for x264 with 2 B-frames at 12800 Hz).
//!
//! # Limits
//!
//! Nothing is allocated from a count before it is checked: table entry
//! counts against the bytes of their box, sample counts against
//! [`SAMPLES_PER_FILE_BYTE`] times the file size, the summed sample sizes
//! against [`PAYLOAD_PER_FILE_BYTE`] times the file size, and box nesting
//! against a fixed depth. Child boxes must fit in their parents.

mod boxes;
mod fragment;
mod moov;
mod sample_entry;
mod sample_table;

use bytes::Bytes;

use crate::container::Demuxed;
use crate::{Frame, Timestamp, Track};
use boxes::Children;
use moov::TrackState;
use sample_table::{Budget, Sample};

/// Largest number of samples accepted per byte of input: a sample table
/// claiming more samples than the file has bytes is an error, not an
/// allocation (plus [`SAMPLE_SLACK`] for tiny files).
pub const SAMPLES_PER_FILE_BYTE: u64 = 1;

/// Samples accepted on top of the size-proportional limit.
pub const SAMPLE_SLACK: u64 = 64;

/// Largest sum of sample sizes accepted per byte of input. Samples of a valid
/// file do not overlap, so their sizes add up to less than the file; a little
/// sharing is tolerated, a sample table pointing a million samples at the same
/// megabyte is not.
pub const PAYLOAD_PER_FILE_BYTE: u64 = 2;

/// Most warnings kept; later ones are dropped.
pub const MAX_WARNINGS: usize = 64;

/// Errors of MP4 reading. Also used for warnings (see [`File::warnings`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A box or field runs past the end of its parent or of the file.
    #[error("truncated box '{path}' at byte {offset}")]
    Truncated {
        /// Box path from the file root, e.g. `moov/trak/mdia`.
        path: String,
        /// Byte offset of the box, or of the field that was cut off.
        offset: u64,
    },
    /// A child box claims more bytes than its parent has left.
    #[error("box '{path}' at byte {offset} claims {size} bytes but only {available} remain in its parent")]
    BadSize {
        /// Box path.
        path: String,
        /// Byte offset of the box.
        offset: u64,
        /// Claimed size.
        size: u64,
        /// Bytes left in the parent.
        available: u64,
    },
    /// Boxes nested deeper than the reader follows.
    #[error("box '{path}' at byte {offset} is nested deeper than {limit} levels")]
    TooDeep {
        /// Box path.
        path: String,
        /// Byte offset of the box.
        offset: u64,
        /// The depth limit.
        limit: usize,
    },
    /// A count larger than the data can back.
    #[error("{path} at byte {offset}: {what} count {count} exceeds {limit} ({reason})")]
    TooMany {
        /// Box path.
        path: String,
        /// Byte offset of the count field.
        offset: u64,
        /// What is counted ("sample", "entry", ...).
        what: &'static str,
        /// The claimed count.
        count: u64,
        /// The limit it exceeds.
        limit: u64,
        /// Where the limit comes from.
        reason: &'static str,
    },
    /// A field has a value the reader cannot use.
    #[error("{path} at byte {offset}: {reason}")]
    Invalid {
        /// Box path.
        path: String,
        /// Byte offset of the box or field.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A required box is absent.
    #[error("missing box '{name}' in '{parent}' at byte {offset}")]
    MissingBox {
        /// Type of the missing box.
        name: String,
        /// Path of the box that should contain it.
        parent: String,
        /// Byte offset of that box.
        offset: u64,
    },
    /// The file has no `moov` box (or a `moof` comes before it).
    #[error("no 'moov' box before byte {offset}")]
    NoMovie {
        /// Where the reader stopped looking.
        offset: u64,
    },
    /// A sample's bytes lie outside the input.
    #[error("track {track} sample at byte {offset} ({size} bytes) lies outside the {len}-byte input")]
    SampleOutOfBounds {
        /// Track id.
        track: u32,
        /// Claimed byte offset.
        offset: u64,
        /// Claimed size.
        size: u32,
        /// Input length.
        len: u64,
    },
    /// A video sample's NAL unit framing is broken.
    #[error("track {track} sample at byte {offset}: {source}")]
    Nal {
        /// Track id.
        track: u32,
        /// Byte offset of the sample.
        offset: u64,
        /// The framing error (offsets inside the sample).
        source: crate::nal::Error,
    },
    /// Warning: a track whose sample entry this crate does not read was skipped.
    #[error("track {track}: unsupported sample entry '{fourcc}' at byte {offset}, track skipped")]
    UnsupportedSampleEntry {
        /// Track id.
        track: u32,
        /// Sample entry type.
        fourcc: String,
        /// Byte offset of the sample entry.
        offset: u64,
    },
    /// Warning: a track whose decoder configuration is unusable was skipped.
    #[error("track {track}: bad decoder configuration in '{path}' at byte {offset}: {reason}, track skipped")]
    BadDecoderConfig {
        /// Track id.
        track: u32,
        /// Box path of the configuration.
        path: String,
        /// Byte offset of the box.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// Warning: a track that is neither video nor audio was skipped.
    #[error("track {track}: handler '{handler}' at byte {offset} is neither video nor audio, track skipped")]
    UnsupportedHandler {
        /// Track id.
        track: u32,
        /// `handler_type`.
        handler: String,
        /// Byte offset of the `hdlr` box.
        offset: u64,
    },
    /// Warning: something was ignored or repaired.
    #[error("{path} at byte {offset}: {reason}")]
    Ignored {
        /// Box path.
        path: String,
        /// Byte offset.
        offset: u64,
        /// What was ignored and why.
        reason: String,
    },
}

/// Result of MP4 reading.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A demuxed file with the warnings collected while reading it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct File {
    /// Tracks (declaration order) and frames (file order).
    pub demuxed: Demuxed,
    /// Things that were skipped: unsupported tracks, ignored boxes.
    /// At most [`MAX_WARNINGS`].
    pub warnings: Vec<Error>,
}

/// The tracks of a `moov` box, ready to read fragments.
///
/// ```no_run
/// # fn demo(init: &[u8], segments: &[Vec<u8>]) -> media::mp4::Result<()> {
/// let mut movie = media::mp4::Movie::parse(init)?;
/// for segment in segments {
///     for frame in movie.read_fragment(segment)? {
///         println!("{} {:?}", frame.track, frame.pts);
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Movie {
    tracks: Vec<TrackState>,
    /// Track ids of skipped tracks, whose fragments are ignored silently.
    skipped: Vec<u32>,
    warnings: Warnings,
}

/// Warnings with a cap.
#[derive(Debug, Clone, Default)]
struct Warnings(Vec<Error>);

/// Reads a whole MP4 file: its tracks and all its frames.
pub fn read_all(data: &[u8]) -> Result<Demuxed> {
    read(data).map(|f| f.demuxed)
}

/// Reads a whole MP4 file, also returning warnings.
pub fn read(data: &[u8]) -> Result<File> {
    read_bytes(Bytes::copy_from_slice(data))
}

/// Reads a whole MP4 file without copying payloads: frame data of H.264/H.265
/// (with 4-byte NAL lengths), AAC and Opus tracks are slices of `data`, so
/// they keep the whole buffer alive.
pub fn read_bytes(data: Bytes) -> Result<File> {
    let mut budget = Budget::for_input(data.len());
    let mut movie: Option<Movie> = None;
    let mut samples = Vec::new();
    for b in Children::top_level(&data, 0) {
        let b = b?;
        match &b.fourcc {
            b"moov" => {
                if let Some(m) = &mut movie {
                    m.warnings.push(Error::Ignored {
                        path: b.path.to_string(),
                        offset: b.offset,
                        reason: "second 'moov' box ignored".into(),
                    });
                } else {
                    let (m, progressive) = Movie::from_moov(&b, &mut budget)?;
                    samples.extend(progressive);
                    movie = Some(m);
                }
            }
            b"moof" => {
                let m = movie.as_mut().ok_or(Error::NoMovie { offset: b.offset })?;
                fragment::parse_moof(m, &b, &mut budget, &mut samples)?;
            }
            _ => {}
        }
    }
    let mut movie = movie.ok_or(Error::NoMovie {
        offset: data.len() as u64,
    })?;
    let frames = movie.frames(&data, samples)?;
    Ok(File {
        demuxed: Demuxed {
            tracks: movie.tracks(),
            frames,
        },
        warnings: movie.warnings.0,
    })
}

// === impl Movie ===

impl Movie {
    /// Reads the `moov` box of an init segment (or of a whole file; samples
    /// in its sample tables are not returned, use [`read`] for those).
    pub fn parse(init: &[u8]) -> Result<Self> {
        let mut budget = Budget::for_input(init.len());
        for b in Children::top_level(init, 0) {
            let b = b?;
            if &b.fourcc == b"moov" {
                return Self::from_moov(&b, &mut budget).map(|(m, _)| m);
            }
        }
        Err(Error::NoMovie {
            offset: init.len() as u64,
        })
    }

    /// The tracks this reader outputs, in declaration order.
    pub fn tracks(&self) -> Vec<Track> {
        self.tracks.iter().map(|t| t.track.clone()).collect()
    }

    /// Warnings collected so far (skipped tracks, ignored boxes).
    pub fn warnings(&self) -> &[Error] {
        &self.warnings.0
    }

    /// Reads the frames of one or more `moof` + `mdat` pairs (a media
    /// segment; `styp`, `sidx` and other boxes are skipped). Byte offsets
    /// in the fragments (`base_data_offset`) are relative to the start of
    /// `data`. A fragment without `tfdt` continues where the previous one of
    /// its track ended.
    pub fn read_fragment(&mut self, data: &[u8]) -> Result<Vec<Frame>> {
        let data = Bytes::copy_from_slice(data);
        let mut budget = Budget::for_input(data.len());
        let mut samples = Vec::new();
        for b in Children::top_level(&data, 0) {
            let b = b?;
            if &b.fourcc == b"moof" {
                fragment::parse_moof(self, &b, &mut budget, &mut samples)?;
            }
        }
        self.frames(&data, samples)
    }

    fn from_moov(moov: &boxes::Mp4Box<'_>, budget: &mut Budget) -> Result<(Self, Vec<Sample>)> {
        let mut warnings = Warnings::default();
        let parsed = moov::parse(moov, budget, &mut warnings)?;
        Ok((
            Self {
                tracks: parsed.tracks,
                skipped: parsed.skipped,
                warnings,
            },
            parsed.samples,
        ))
    }

    /// Turns samples into frames, in file order.
    fn frames(&mut self, data: &Bytes, mut samples: Vec<Sample>) -> Result<Vec<Frame>> {
        let len = data.len() as u64;
        let total: u64 = samples.iter().map(|s| u64::from(s.size)).sum();
        let limit = len.saturating_mul(PAYLOAD_PER_FILE_BYTE);
        if total > limit {
            return Err(Error::TooMany {
                path: "file".into(),
                offset: 0,
                what: "payload byte",
                count: total,
                limit,
                reason: "sample sizes add up to more than the input can hold",
            });
        }
        for s in &samples {
            // sample indices come from this movie's own tracks
            let t = &mut self.tracks[s.track];
            t.dts_shift = t.dts_shift.max(s.cts.saturating_neg());
        }
        samples.sort_by_key(|s| s.offset);
        samples.iter().map(|s| self.frame(data, s)).collect()
    }

    fn frame(&self, data: &Bytes, s: &Sample) -> Result<Frame> {
        // sample indices come from this movie's own tracks
        let t = &self.tracks[s.track];
        let id = t.track.id;
        let out_of_bounds = || Error::SampleOutOfBounds {
            track: id,
            offset: s.offset,
            size: s.size,
            len: data.len() as u64,
        };
        let start = usize::try_from(s.offset).map_err(|_| out_of_bounds())?;
        let end = start
            .checked_add(s.size as usize)
            .filter(|e| *e <= data.len())
            .ok_or_else(out_of_bounds)?;
        let raw = data.slice(start..end);
        let payload = match t.length_size {
            Some(n) if n == crate::nal::LENGTH_SIZE => {
                for unit in crate::nal::iter_length_prefixed(&raw, n) {
                    unit.map_err(|source| Error::Nal {
                        track: id,
                        offset: s.offset,
                        source,
                    })?;
                }
                raw
            }
            Some(n) => crate::nal::to_canonical(&raw, n).map_err(|source| Error::Nal {
                track: id,
                offset: s.offset,
                source,
            })?,
            None => raw,
        };
        let ts = t.track.timescale;
        let dts = s.dts.saturating_sub(t.shift).saturating_sub(t.dts_shift);
        let pts = s.dts.saturating_add(s.cts).saturating_sub(t.shift);
        Ok(Frame {
            mark: None,
            track: id,
            dts: Timestamp::new(dts, ts),
            pts: Timestamp::new(pts, ts),
            keyframe: s.keyframe,
            data: payload,
        })
    }
}

// === impl Warnings ===

impl Warnings {
    fn push(&mut self, e: Error) {
        if self.0.len() < MAX_WARNINGS {
            self.0.push(e);
        }
    }
}

#[cfg(test)]
mod tests;
