//! RTP (RFC 3550) packets and depacketizers: H.264 (RFC 6184), H.265 (RFC 7798), AAC (RFC 3640), Opus (RFC 7587).
//!
//! # Layers
//! - [`Packet`]: the fixed header, CSRCs, header extension and padding
//!   (RFC 3550 §5.1, §5.3.1); [`Packet::parse`] and [`Packet::write`].
//! - [`Reorderer`]: puts packets back in sequence-number order within a
//!   bounded window and reports lost, late and duplicate packets
//!   (16-bit sequence numbers with wrap-around, RFC 3550 §A.1).
//! - [`TimestampUnwrapper`]: 32-bit RTP timestamps to a monotonic `i64`.
//! - Depacketizers turn payloads into [`AccessUnit`]s in the canonical
//!   payload form of [`crate::Codec`]: [`H264Depacketizer`],
//!   [`H265Depacketizer`], [`AacDepacketizer`] and [`RawDepacketizer`]
//!   (Opus, and codecs this crate does not interpret), behind the
//!   [`Depacketizer`] enum. Each has `push(&Packet)` and `poll()`.
//! - Packetizers do the reverse for output: [`H264Packetizer`],
//!   [`H265Packetizer`], [`AacPacketizer`], [`OpusPacketizer`].
//! - [`Receiver`] chains them for one track: datagrams in, [`Event`]s with
//!   [`crate::Frame`]s out.
//!
//! # Errors
//! Depacketizer errors are not fatal: the depacketizer stays usable, and
//! the error says what was dropped (a NAL unit whose fragment was lost, an
//! aggregation unit with a lying length, ...). Access units completed
//! before the error are still queued.
//!
//! ```
//! use media::rtp::{H264Depacketizer, H264Packetizer, Packet, Sequencer};
//! // an IDR slice of 3000 bytes, length-prefixed
//! let mut au = vec![0, 0, 0x0b, 0xb8, 0x65];
//! au.resize(4 + 3000, 0xab);
//! let mut packetizer = H264Packetizer::new(Sequencer::new(0x1234, 96, 7), 1200).unwrap();
//! let packets = packetizer.packetize(&au, 90_000).unwrap();
//! assert_eq!(packets.len(), 3); // FU-A fragments
//! let mut depacketizer = H264Depacketizer::new(&[]);
//! for p in &packets {
//!     let wire = p.to_bytes().unwrap();
//!     depacketizer.push(&Packet::parse(&wire).unwrap()).unwrap();
//! }
//! let out = depacketizer.poll().unwrap();
//! assert_eq!(&out.data[..], &au[..]);
//! assert!(out.keyframe);
//! assert_eq!(out.timestamp, 90_000);
//! ```

use bytes::Bytes;

mod aac;
mod clock;
mod h264;
mod h265;
mod nal_unit;
mod packet;
mod raw;
mod receiver;
mod reorder;

pub use aac::{AacDepacketizer, AacPacketizer, AuHeaderConfig, MAX_AU_FIELD_BITS, MAX_HBR_AU_SIZE};
pub use clock::{DtsEstimator, MAX_REORDER_DEPTH, TimestampUnwrapper};
pub use h264::{H264Depacketizer, H264Packetizer};
pub use h265::{H265Depacketizer, H265Packetizer};
pub use packet::{Extension, MAX_CSRC, Packet, Sequencer};
pub use raw::{OpusPacketizer, RawDepacketizer};
pub use receiver::{
    DEFAULT_REORDER_DEPTH, DEFAULT_REORDER_WINDOW, Event, Receiver, ReceiverOptions, Warning,
};
pub use reorder::{MAX_REORDER_WINDOW, Reordered, Reorderer};

/// RTP version number carried in every packet (RFC 3550 §5.1).
pub const VERSION: u8 = 2;
/// Length of the fixed RTP header.
pub const HEADER_LEN: usize = 12;
/// Largest access unit a depacketizer reassembles (16 MiB); larger ones are
/// dropped with [`Error::FrameTooLarge`].
pub const MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;
/// Most access units taken from one RFC 3640 packet.
pub const MAX_AUS_PER_PACKET: usize = 1024;
/// Largest payload size packetizers accept (a UDP datagram less the RTP header).
pub const MAX_PAYLOAD_SIZE: usize = 65_507 - HEADER_LEN;
/// Smallest payload size packetizers accept (room for FU headers and some data).
pub const MIN_PAYLOAD_SIZE: usize = 16;

/// Errors of RTP parsing, writing, depacketizing and packetizing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The packet is shorter than a field it announces.
    #[error("rtp packet truncated: {what} at byte {offset} needs {needed} bytes, {len} in the packet")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Where it starts.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
        /// Packet length.
        len: usize,
    },
    /// The version field is not 2.
    #[error("rtp version {0} at byte 0 is not 2")]
    BadVersion(u8),
    /// The padding count (last byte) is zero or longer than the payload.
    #[error("rtp padding count {count} at byte {offset} exceeds the {available} payload bytes")]
    BadPadding {
        /// Offset of the count byte.
        offset: usize,
        /// The count.
        count: u8,
        /// Bytes between the header and the count byte, count byte included.
        available: usize,
    },
    /// A packet that cannot be written as it is.
    #[error("cannot write rtp packet: {0}")]
    Unwritable(&'static str),
    /// A payload that breaks its payload format.
    #[error("seq {seq}: {reason} at payload byte {offset}")]
    BadPayload {
        /// Sequence number of the packet.
        seq: u16,
        /// Offset in the payload.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// A NAL unit type or packetization this module does not handle.
    #[error("seq {seq}: unsupported {what} {value}")]
    Unsupported {
        /// Sequence number of the packet.
        seq: u16,
        /// What it is.
        what: &'static str,
        /// Its value.
        value: u32,
    },
    /// A fragmented unit was dropped: a fragment was lost or never finished.
    #[error("seq {seq}: dropped fragmented unit: {reason}")]
    FragmentDropped {
        /// Sequence number of the packet that revealed it.
        seq: u16,
        /// Why.
        reason: &'static str,
    },
    /// An access unit grew over [`MAX_FRAME_SIZE`] and was dropped.
    #[error("seq {seq}: access unit over {max} bytes dropped")]
    FrameTooLarge {
        /// Sequence number of the packet.
        seq: u16,
        /// The limit.
        max: usize,
    },
    /// A packetizer input that is not well-formed (length-prefixed NAL units).
    #[error("packetizer input: {0}")]
    BadInput(String),
    /// A packetizer was given a payload size below [`MIN_PAYLOAD_SIZE`].
    #[error("payload size {0} is below the minimum of {MIN_PAYLOAD_SIZE}")]
    PayloadSizeTooSmall(usize),
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One access unit out of a depacketizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    /// RTP timestamp (32-bit, wrapping; see [`TimestampUnwrapper`]).
    pub timestamp: u32,
    /// Canonical payload (see [`crate::Codec`]).
    pub data: Bytes,
    /// Random access point: an IDR/IRAP slice for video, always for audio.
    pub keyframe: bool,
    /// New decoder configuration (`avcC`/`hvcC` body) when this access unit
    /// carried in-band parameter sets that differ from the previous ones; it
    /// applies from this access unit on.
    pub config: Option<Bytes>,
}

/// How a track's payloads are carried: which depacketizer to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadFormat {
    /// H.264, RFC 6184 (packetization-mode 0 or 1).
    H264,
    /// H.265, RFC 7798 (no DONL: `sprop-max-don-diff` 0).
    H265,
    /// MPEG-4 audio, RFC 3640 `mpeg4-generic` with these AU headers.
    Aac(AuHeaderConfig),
    /// Opus, RFC 7587: one packet is one frame.
    Opus,
    /// Payloads passed through as they are, one packet per frame.
    Raw,
}

/// A depacketizer for any [`PayloadFormat`].
#[derive(Debug)]
pub enum Depacketizer {
    /// H.264.
    H264(H264Depacketizer),
    /// H.265.
    H265(H265Depacketizer),
    /// AAC.
    Aac(AacDepacketizer),
    /// Opus and pass-through formats.
    Raw(RawDepacketizer),
}

// === impl Depacketizer ===

impl Depacketizer {
    /// A depacketizer for `format`. `init` is the track's decoder
    /// configuration (`avcC`/`hvcC` body, AudioSpecificConfig), possibly
    /// empty; `clock_rate` is the RTP clock (used for AAC frame durations).
    pub fn new(format: &PayloadFormat, init: &[u8], clock_rate: u32) -> Self {
        match format {
            PayloadFormat::H264 => Self::H264(H264Depacketizer::new(init)),
            PayloadFormat::H265 => Self::H265(H265Depacketizer::new(init)),
            PayloadFormat::Aac(headers) => {
                let duration = headers.constant_duration.unwrap_or_else(|| {
                    // 1024 samples of the AudioSpecificConfig's rate, counted in the RTP clock
                    match crate::aac::AudioSpecificConfig::parse(init) {
                        Ok(c) if c.sample_rate > 0 && clock_rate > 0 => {
                            (u64::from(crate::aac::SAMPLES_PER_FRAME) * u64::from(clock_rate)
                                / u64::from(c.sample_rate))
                            .clamp(1, u64::from(u32::MAX)) as u32
                        }
                        _ => crate::aac::SAMPLES_PER_FRAME,
                    }
                });
                Self::Aac(AacDepacketizer::new(*headers, duration))
            }
            PayloadFormat::Opus | PayloadFormat::Raw => Self::Raw(RawDepacketizer::new()),
        }
    }

    /// Feeds one packet (in sequence order). See the module docs for errors.
    pub fn push(&mut self, packet: &Packet) -> Result<()> {
        match self {
            Self::H264(d) => d.push(packet),
            Self::H265(d) => d.push(packet),
            Self::Aac(d) => d.push(packet),
            Self::Raw(d) => d.push(packet),
        }
    }

    /// The next completed access unit.
    pub fn poll(&mut self) -> Option<AccessUnit> {
        match self {
            Self::H264(d) => d.poll(),
            Self::H265(d) => d.poll(),
            Self::Aac(d) => d.poll(),
            Self::Raw(d) => d.poll(),
        }
    }

    /// Completes the access unit in progress, if any (end of stream); an
    /// unfinished fragment is dropped.
    pub fn flush(&mut self) {
        match self {
            Self::H264(d) => d.flush(),
            Self::H265(d) => d.flush(),
            Self::Aac(d) => d.flush(),
            Self::Raw(_) => {}
        }
    }
}

#[cfg(test)]
mod tests;
