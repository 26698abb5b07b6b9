//! MPEG transport stream demuxer and muxer (ISO/IEC 13818-1 / ITU-T H.222.0).
//!
//! # Demuxing
//! [`Demuxer`] is incremental: feed it byte chunks of any size and drain
//! [`Event`]s; [`read_all`] does the same for a whole file.
//!
//! - **Packets** (§2.4.3.2): 188 bytes starting with 0x47. Sync is found (and
//!   found again after garbage) at the first 0x47 that repeats 188 bytes
//!   later; skipped bytes are reported as [`Warning::Skipped`].
//! - **Continuity** (§2.4.3.3): a gap in a PID's `continuity_counter` drops
//!   the PES or section in progress on that PID and is reported as
//!   [`Warning::ContinuityGap`]; one duplicate packet is ignored, and the
//!   `discontinuity_indicator` suspends the check.
//! - **Program** (§2.4.4): the first program of the PAT is read; PAT and PMT
//!   sections are checked with their CRC-32 ([`crc32`]).
//! - **Streams** (Table 2-34): `stream_type` 0x1b (H.264), 0x24 (H.265) and
//!   0x0f (AAC in ADTS) become tracks; every other stream type (including
//!   0x11 AAC LATM) is **skipped** with a [`Warning::UnsupportedStream`],
//!   not passed through as `Codec::Other`.
//! - **Tracks**: `id` is the PID, the timescale 90 kHz. `init` is built from
//!   the first in-band parameter sets (`avcC` from SPS/PPS, `hvcC` from
//!   VPS/SPS/PPS) or the first ADTS header (AudioSpecificConfig), and rebuilt
//!   when they change; [`Event::Tracks`] reports each change before the frame
//!   that carries it.
//! - **PES** (§2.4.3.6): a PES completes as soon as its `PES_packet_length`
//!   bytes are in, or, with length 0 (unbounded, video), at the next
//!   `payload_unit_start_indicator` on its PID or at [`Demuxer::finish`].
//!   A PES is bounded by [`MAX_PES_SIZE`].
//! - **Timestamps**: the 33-bit PTS/DTS are unwrapped per track into a
//!   monotonic `i64`: each DTS is mapped to the value congruent to it modulo
//!   2^33 that is nearest to the track's previous DTS (the first is taken as
//!   is), and each PTS to the value nearest to its own DTS. A stream crossing
//!   2^33 (every 26.5 hours) therefore keeps counting up past 2^33. A PES
//!   without DTS has `dts = pts`; one without PTS continues from the
//!   previous PES of its track.
//! - **Video frames**: one per PES; the Annex-B payload becomes 4-byte
//!   length-prefixed NAL units, all units kept. Keyframe: the access unit has
//!   an IDR (H.264) / IRAP (H.265) slice, or its first packet has the
//!   `random_access_indicator`.
//! - **AAC frames**: one per ADTS frame of the PES, header stripped; the
//!   i-th frame is stamped `pts + round(i * 1024 * 90000 / sample_rate)`
//!   (rounded to the nearest tick, so 44.1 kHz frames may be 1 tick off an
//!   exact sample count). An ADTS frame cut by the end of its PES is dropped
//!   with a warning. Always keyframes.
//!
//! # Muxing
//! [`Muxer`] writes a PAT, a PMT on PID 0x1000 and one PID per track from
//! 0x100 in track order; see its docs for the details.
//!
//! ```
//! use media::{Codec, Frame, Timestamp, Track};
//! let mut track = Track::new(1, Codec::Aac, 48_000);
//! track.init = media::aac::AudioSpecificConfig { object_type: 2, sample_rate: 48_000, channels: 2 }.encode();
//! let frame = Frame::new(1, Timestamp::new(0, 48_000), Timestamp::new(0, 48_000), true, vec![0x21, 0x10, 0x04]);
//! let ts = media::ts::write_all(&[track], &[frame]).unwrap();
//! let back = media::ts::read_all(&ts).unwrap();
//! assert_eq!(back.tracks[0].id, 0x100);
//! assert_eq!(&back.frames[0].data[..], &[0x21, 0x10, 0x04]);
//! ```

mod crc;
mod demux;
mod event;
mod mux;
mod packet;
mod pes;
mod psi;
mod stream;

pub use crc::crc32;
pub use demux::Demuxer;
pub use event::{Event, Warning};
pub use mux::{FIRST_PID, MAX_TRACKS, Muxer, PMT_PID};

use crate::container::Demuxed;
use crate::{Frame, Track};

/// Size of a transport packet.
pub const PACKET_SIZE: usize = 188;
/// First byte of every transport packet.
pub const SYNC_BYTE: u8 = 0x47;
/// Clock of every TS timestamp: 90 kHz (PTS, DTS, PCR base).
pub const TIMESCALE: u32 = 90_000;
/// Largest PES the demuxer reassembles (16 MiB); larger ones are dropped
/// with a warning.
pub const MAX_PES_SIZE: usize = 16 * 1024 * 1024;

/// Errors of reading or writing a whole transport stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input has no bytes.
    #[error("empty input")]
    Empty,
    /// No 0x47 repeating every 188 bytes anywhere.
    #[error("no sync byte (0x47 every 188 bytes) found from byte {offset} to byte {end}")]
    NoSync {
        /// Where the search started.
        offset: u64,
        /// End of the input.
        end: u64,
    },
    /// The input ends inside a packet.
    #[error("truncated packet at byte {offset}: {len} of 188 bytes")]
    TruncatedPacket {
        /// Offset of the packet.
        offset: u64,
        /// Bytes present.
        len: usize,
    },
    /// No PAT pointing to a PMT, or no PMT, in the whole input.
    #[error("no program association and program map table found in {len} bytes")]
    NoProgram {
        /// Length of the input.
        len: u64,
    },
    /// The program has no stream this module reads.
    #[error("the program map table lists no supported stream ({skipped} skipped)")]
    NoTracks {
        /// Streams skipped as unsupported.
        skipped: usize,
    },
    /// A frame names a track that was not given to the muxer.
    #[error("frame at dts {dts} names unknown track {track}")]
    UnknownTrack {
        /// The frame's track id.
        track: u32,
        /// The frame's dts ticks.
        dts: i64,
    },
    /// Two tracks given to the muxer share an id.
    #[error("track id {0} is given twice")]
    DuplicateTrack(u32),
    /// More tracks than one PMT packet holds.
    #[error("{0} tracks, at most 32 can be muxed")]
    TooManyTracks(usize),
    /// A track codec that cannot be carried in TS by this muxer.
    #[error("track {track}: codec {codec} cannot be muxed into mpeg-ts")]
    UnsupportedCodec {
        /// The track id.
        track: u32,
        /// The codec name.
        codec: String,
    },
    /// A track's `init` is missing or malformed.
    #[error("track {track}: bad init data: {reason}")]
    BadInit {
        /// The track id.
        track: u32,
        /// What was wrong.
        reason: String,
    },
    /// A video frame's payload is not well-formed length-prefixed NAL units.
    #[error("track {track}, frame at dts {dts}: {source}")]
    BadPayload {
        /// The track id.
        track: u32,
        /// The frame's dts ticks.
        dts: i64,
        /// The framing error (offset within the payload).
        source: crate::nal::Error,
    },
    /// An AAC frame too large for an ADTS header (8184 bytes).
    #[error("track {track}, frame at dts {dts}: aac frame of {len} bytes does not fit adts")]
    AacFrameTooLarge {
        /// The track id.
        track: u32,
        /// The frame's dts ticks.
        dts: i64,
        /// The frame size.
        len: usize,
    },
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Demuxes a whole transport stream (see the module docs). Warnings are
/// dropped; use [`read_all_with_warnings`] to see them.
pub fn read_all(data: &[u8]) -> Result<Demuxed> {
    read_all_with_warnings(data).map(|(d, _)| d)
}

/// [`read_all`], also returning the non-fatal warnings in stream order.
pub fn read_all_with_warnings(data: &[u8]) -> Result<(Demuxed, Vec<Warning>)> {
    if data.is_empty() {
        return Err(Error::Empty);
    }
    let mut demuxer = Demuxer::new();
    demuxer.feed(data);
    demuxer.finish();
    let mut out = Demuxed::default();
    let mut warnings = Vec::new();
    while let Some(event) = demuxer.poll_event() {
        match event {
            Event::Tracks(tracks) => {
                for t in tracks {
                    match out.tracks.iter_mut().find(|o| o.id == t.id) {
                        Some(o) => *o = t,
                        None => out.tracks.push(t),
                    }
                }
            }
            Event::Frame(f) => out.frames.push(f),
            Event::Warning(w) => warnings.push(w),
        }
    }
    let len = data.len() as u64;
    if !demuxer.has_synced() {
        return Err(Error::NoSync { offset: 0, end: len });
    }
    if let Some(&Warning::TruncatedPacket { offset, len }) = warnings
        .iter()
        .find(|w| matches!(w, Warning::TruncatedPacket { .. }))
    {
        return Err(Error::TruncatedPacket { offset, len });
    }
    if !demuxer.has_program() {
        return Err(Error::NoProgram { len });
    }
    if out.tracks.is_empty() {
        let skipped = warnings
            .iter()
            .filter(|w| matches!(w, Warning::UnsupportedStream { .. }))
            .count();
        return Err(Error::NoTracks { skipped });
    }
    Ok((out, warnings))
}

/// Muxes tracks and frames (in decode order) into a transport stream with
/// [`Muxer`].
pub fn write_all(tracks: &[Track], frames: &[Frame]) -> Result<Vec<u8>> {
    let mut muxer = Muxer::new(tracks)?;
    let total: usize = frames.iter().map(|f| f.data.len()).sum();
    let mut out = Vec::with_capacity(total + total / 8 + 4 * PACKET_SIZE);
    if frames.is_empty() {
        muxer.write_psi(&mut out);
    }
    for f in frames {
        muxer.mux_frame(f, &mut out)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

/// The tracks an MPEG-TS output carries now: H.264, H.265 and AAC whose
/// decoder configuration is known. Other tracks (Opus and VP8 from WebRTC
/// publishers, unknown codecs) are left out rather than failing the output,
/// and a track whose configuration is not known yet (an AAC track before its
/// first frame) joins when the stream announces it complete.
pub fn muxable(tracks: Vec<crate::Track>) -> Vec<crate::Track> {
    tracks
        .into_iter()
        .filter(|t| {
            matches!(
                t.codec,
                crate::Codec::H264 | crate::Codec::H265 | crate::Codec::Aac
            ) && !t.init.is_empty()
        })
        .collect()
}
