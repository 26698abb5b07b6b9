//! H.264 / AVC: NAL unit types, the `avcC` decoder configuration record
//! (ISO/IEC 14496-15 §5.3.3.1) and sequence parameter sets (ITU-T H.264 §7.3.2.1.1).

use bytes::{BufMut, Bytes, BytesMut};

use crate::nal::{Truncated, need, put_parameter_set, read_parameter_set};

mod sps;

#[cfg(test)]
pub(crate) use sps::sar_from_idc;
pub use sps::{Crop, Sps, Timing};
pub(crate) use sps::{chroma_subsampling, read_vui_start};

/// NAL unit type of an IDR slice.
pub const NAL_IDR: u8 = 5;
/// NAL unit type of supplemental enhancement information.
pub const NAL_SEI: u8 = 6;
/// NAL unit type of a sequence parameter set.
pub const NAL_SPS: u8 = 7;
/// NAL unit type of a picture parameter set.
pub const NAL_PPS: u8 = 8;
/// NAL unit type of an access unit delimiter.
pub const NAL_AUD: u8 = 9;

/// Errors of H.264 parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The `avcC` record is shorter than its fields say.
    #[error("avcC record truncated at byte {offset}")]
    TruncatedConfig {
        /// Byte offset where data ran out.
        offset: usize,
    },
    /// The `avcC` record has a version other than 1.
    #[error("avcC configurationVersion {0} is not 1")]
    BadConfigVersion(u8),
    /// No SPS was given where one is required.
    #[error("no sequence parameter set")]
    MissingSps,
    /// No PPS was given where one is required.
    #[error("no picture parameter set")]
    MissingPps,
    /// A parameter set is malformed.
    #[error("bad sequence parameter set: {0}")]
    BadSps(String),
    /// A bit read ran out of data.
    #[error(transparent)]
    Bits(#[from] crate::bits::Error),
}

/// Result of H.264 parsing.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Truncated> for Error {
    fn from(Truncated(offset): Truncated) -> Self {
        Self::TruncatedConfig { offset }
    }
}

/// The AVC decoder configuration record, `avcC` (ISO/IEC 14496-15 §5.3.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcConfig {
    /// `AVCProfileIndication`.
    pub profile: u8,
    /// `profile_compatibility`.
    pub compatibility: u8,
    /// `AVCLevelIndication`.
    pub level: u8,
    /// `lengthSizeMinusOne + 1`: 1, 2 or 4.
    pub length_size: u8,
    /// Sequence parameter sets (NAL units with header).
    pub sps: Vec<Bytes>,
    /// Picture parameter sets (NAL units with header).
    pub pps: Vec<Bytes>,
    /// Bytes after the PPS list (the High-profile chroma/bit-depth extension), kept verbatim.
    pub extension: Bytes,
}

/// NAL unit type of an H.264 NAL unit (first byte's low 5 bits).
pub fn nal_type(unit: &[u8]) -> u8 {
    unit.first().map_or(0, |b| b & 0x1f)
}

/// True when a canonical payload contains an IDR slice.
pub fn is_keyframe(payload: &[u8]) -> bool {
    crate::nal::iter_length_prefixed(payload, crate::nal::LENGTH_SIZE)
        .map_while(|u| u.ok())
        .any(|u| nal_type(u) == NAL_IDR)
}

// === impl AvcConfig ===

impl AvcConfig {
    /// Builds a record from parameter set NAL units.
    pub fn from_parameter_sets(sps: &[&[u8]], pps: &[&[u8]]) -> Result<Self> {
        let first = sps.first().ok_or(Error::MissingSps)?;
        if first.len() < 4 {
            return Err(Error::BadSps(format!(
                "sps of {} bytes is too short",
                first.len()
            )));
        }
        if pps.is_empty() {
            return Err(Error::MissingPps);
        }
        // ISO/IEC 14496-15 §5.3.3.1.2 (4th edition, as ffmpeg writes it):
        // records for profiles other than Baseline, Main and Extended carry
        // chroma_format and bit depths after the PPS list.
        let extension = match Sps::parse(first) {
            Ok(s) if !matches!(s.profile_idc, 66 | 77 | 88) => Bytes::copy_from_slice(&[
                0xfc | s.chroma_format_idc,
                0xf8 | (s.bit_depth_luma - 8),
                0xf8 | (s.bit_depth_chroma - 8),
                0, // numOfSequenceParameterSetExt
            ]),
            _ => Bytes::new(),
        };
        Ok(Self {
            profile: first[1],
            compatibility: first[2],
            level: first[3],
            length_size: 4,
            sps: sps.iter().map(|s| Bytes::copy_from_slice(s)).collect(),
            pps: pps.iter().map(|s| Bytes::copy_from_slice(s)).collect(),
            extension,
        })
    }

    /// Parses an `avcC` body.
    pub fn parse(data: &[u8]) -> Result<Self> {
        need(data, 0, 6)?;
        if data[0] != 1 {
            return Err(Error::BadConfigVersion(data[0]));
        }
        let length_size = (data[4] & 3) + 1;
        let mut pos = 6;
        let mut sps = Vec::new();
        for _ in 0..(data[5] & 0x1f) {
            sps.push(read_parameter_set(data, &mut pos)?);
        }
        need(data, pos, 1)?;
        let n_pps = data[pos];
        pos += 1;
        let mut pps = Vec::new();
        for _ in 0..n_pps {
            pps.push(read_parameter_set(data, &mut pos)?);
        }
        Ok(Self {
            profile: data[1],
            compatibility: data[2],
            level: data[3],
            length_size,
            sps,
            pps,
            extension: Bytes::copy_from_slice(&data[pos..]),
        })
    }

    /// Serialises the record as an `avcC` body.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(
            16 + self
                .sps
                .iter()
                .chain(&self.pps)
                .map(|p| p.len() + 2)
                .sum::<usize>(),
        );
        out.put_u8(1);
        out.put_u8(self.profile);
        out.put_u8(self.compatibility);
        out.put_u8(self.level);
        out.put_u8(0xfc | (self.length_size.clamp(1, 4) - 1));
        out.put_u8(0xe0 | (self.sps.len().min(31) as u8));
        for s in self.sps.iter().take(31) {
            put_parameter_set(&mut out, s);
        }
        out.put_u8(self.pps.len().min(255) as u8);
        for p in self.pps.iter().take(255) {
            put_parameter_set(&mut out, p);
        }
        out.put_slice(&self.extension);
        out.freeze()
    }
}

/// Video parameters (size, profile, level, frame rate) from an `avcC` body,
/// taken from its first SPS (see [`Sps::video_info`]).
pub fn video_info(avcc: &[u8]) -> Result<crate::VideoInfo> {
    let config = AvcConfig::parse(avcc)?;
    let sps = config.sps.first().ok_or(Error::MissingSps)?;
    Ok(Sps::parse(sps)?.video_info())
}

#[cfg(test)]
mod tests;
