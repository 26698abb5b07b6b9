//! What the [`Demuxer`](super::Demuxer) reports: tracks, frames and
//! non-fatal warnings.

use crate::{Frame, Track};

/// One output of the [`Demuxer`](super::Demuxer), drained with
/// [`Demuxer::poll_event`](super::Demuxer::poll_event).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The program's tracks were found or changed: a new PMT, or a track's
    /// `init` became known or changed (new parameter sets, new AAC
    /// configuration). Carries the full current list in PMT order. It comes
    /// before the first frame that needs the new `init`.
    Tracks(Vec<Track>),
    /// A complete frame (see the module docs for timestamps and payloads).
    Frame(Frame),
    /// Something was wrong and was skipped; demuxing goes on.
    Warning(Warning),
}

/// A non-fatal problem in the stream. Offsets are byte offsets from the
/// start of everything fed to the demuxer; "pes at byte N" is the offset of
/// the packet that started the PES.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Warning {
    /// Bytes that are not part of a packet were skipped while looking for sync.
    #[error("skipped {len} bytes without packet sync at byte {offset}")]
    Skipped {
        /// Offset of the first skipped byte.
        offset: u64,
        /// Number of bytes skipped.
        len: u64,
    },
    /// The input ended inside a packet.
    #[error("truncated packet at byte {offset}: {len} of 188 bytes")]
    TruncatedPacket {
        /// Offset of the packet.
        offset: u64,
        /// Bytes present.
        len: usize,
    },
    /// A packet was dropped (malformed, transport error, scrambled).
    #[error("dropped packet at byte {offset}: {reason}")]
    BadPacket {
        /// Offset of the packet.
        offset: u64,
        /// What was wrong.
        reason: &'static str,
    },
    /// A `continuity_counter` skipped values: packets were lost. The PES or
    /// section in progress on that PID was dropped.
    #[error("continuity gap on pid {pid:#x} at byte {offset}: expected counter {expected}, found {found}")]
    ContinuityGap {
        /// Offset of the packet after the gap.
        offset: u64,
        /// PID of the packet.
        pid: u16,
        /// The counter that should have come.
        expected: u8,
        /// The counter that came.
        found: u8,
    },
    /// A PAT or PMT section was malformed or failed its CRC and was ignored.
    #[error("bad psi section on pid {pid:#x} at byte {offset}: {reason}")]
    BadSection {
        /// Offset of the packet that completed the section.
        offset: u64,
        /// PID of the section.
        pid: u16,
        /// What was wrong.
        reason: &'static str,
    },
    /// The PMT lists a stream this demuxer does not read; its packets are skipped.
    #[error(
        "skipping pid {pid:#x} (pmt at byte {offset}): unsupported stream type {stream_type:#04x} ({name})"
    )]
    UnsupportedStream {
        /// Offset of the packet that completed the PMT.
        offset: u64,
        /// PID of the stream.
        pid: u16,
        /// Its `stream_type`.
        stream_type: u8,
        /// What the stream type is, if known.
        name: &'static str,
    },
    /// A PES packet was malformed and dropped.
    #[error("dropped pes on pid {pid:#x} at byte {offset}: {reason}")]
    BadPes {
        /// Offset of the PES's first packet.
        offset: u64,
        /// PID of the stream.
        pid: u16,
        /// What was wrong.
        reason: &'static str,
    },
    /// An ADTS frame in an AAC PES was malformed; the rest of that PES was dropped.
    #[error("bad adts frame on pid {pid:#x} in pes at byte {offset}: {error}")]
    BadAdts {
        /// Offset of the PES's first packet.
        offset: u64,
        /// PID of the stream.
        pid: u16,
        /// The ADTS error (its offset is within the PES payload).
        error: crate::aac::Error,
    },
    /// In-band parameter sets could not be turned into a decoder
    /// configuration; the track's `init` was left as it was.
    #[error("bad parameter sets on pid {pid:#x} in pes at byte {offset}: {reason}")]
    BadParameterSets {
        /// Offset of the PES's first packet.
        offset: u64,
        /// PID of the stream.
        pid: u16,
        /// The codec module's error.
        reason: String,
    },
}
