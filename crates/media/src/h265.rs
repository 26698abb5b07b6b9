//! H.265 / HEVC: NAL unit types, the `hvcC` decoder configuration record
//! (ISO/IEC 14496-15 §8.3.3.1) and sequence parameter sets (ITU-T H.265 §7.3.2.2).

use bytes::{BufMut, Bytes, BytesMut};

use crate::nal::{Truncated, need, put_parameter_set, read_parameter_set};

mod ptl;
mod sps;

pub use crate::h264::{Crop, Timing};
pub use ptl::{ProfileTierLevel, SubLayer, Vps};
pub use sps::Sps;

/// NAL unit type of a video parameter set.
pub const NAL_VPS: u8 = 32;
/// NAL unit type of a sequence parameter set.
pub const NAL_SPS: u8 = 33;
/// NAL unit type of a picture parameter set.
pub const NAL_PPS: u8 = 34;
/// NAL unit type of an access unit delimiter.
pub const NAL_AUD: u8 = 35;

/// Errors of H.265 parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The `hvcC` record is shorter than its fields say.
    #[error("hvcC record truncated at byte {offset}")]
    TruncatedConfig {
        /// Byte offset where data ran out.
        offset: usize,
    },
    /// No VPS, SPS or PPS was given where one is required.
    #[error("missing {0} parameter set")]
    MissingParameterSet(&'static str),
    /// A parameter set is malformed.
    #[error("bad sequence parameter set: {0}")]
    BadSps(String),
    /// A video parameter set is malformed.
    #[error("bad video parameter set: {0}")]
    BadVps(String),
    /// A bit read ran out of data.
    #[error(transparent)]
    Bits(#[from] crate::bits::Error),
}

/// Result of H.265 parsing.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Truncated> for Error {
    fn from(Truncated(offset): Truncated) -> Self {
        Self::TruncatedConfig { offset }
    }
}

/// One array of the `hvcC` record: NAL units of one type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NalArray {
    /// `array_completeness`.
    pub complete: bool,
    /// `NAL_unit_type`.
    pub nal_type: u8,
    /// The NAL units, with their 2-byte headers.
    pub units: Vec<Bytes>,
}

/// The HEVC decoder configuration record, `hvcC` (ISO/IEC 14496-15 §8.3.3.1).
///
/// The 22 fixed bytes before the arrays are kept verbatim in `header`, apart
/// from the length size, which has its own field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcConfig {
    /// The fixed part of the record (22 bytes), verbatim.
    pub header: [u8; 22],
    /// `lengthSizeMinusOne + 1`.
    pub length_size: u8,
    /// Parameter set arrays.
    pub arrays: Vec<NalArray>,
}

/// NAL unit type of an H.265 NAL unit (bits 1..7 of the first byte).
pub fn nal_type(unit: &[u8]) -> u8 {
    unit.first().map_or(0, |b| (b >> 1) & 0x3f)
}

/// True for IRAP pictures (BLA, IDR, CRA: types 16 to 23).
pub fn is_irap(nal_type: u8) -> bool {
    (16..=23).contains(&nal_type)
}

/// True when a canonical payload contains an IRAP slice.
pub fn is_keyframe(payload: &[u8]) -> bool {
    crate::nal::iter_length_prefixed(payload, crate::nal::LENGTH_SIZE)
        .map_while(|u| u.ok())
        .any(|u| is_irap(nal_type(u)))
}

// === impl HevcConfig ===

impl HevcConfig {
    /// Builds a record from parameter set NAL units. The profile, tier and
    /// level fields are copied from the SPS's `profile_tier_level`.
    pub fn from_parameter_sets(vps: &[&[u8]], sps: &[&[u8]], pps: &[&[u8]]) -> Result<Self> {
        let first = sps.first().ok_or(Error::MissingParameterSet("sps"))?;
        if vps.is_empty() {
            return Err(Error::MissingParameterSet("vps"));
        }
        if pps.is_empty() {
            return Err(Error::MissingParameterSet("pps"));
        }
        let rbsp = crate::nal::unescape_rbsp(first);
        // 2-byte NAL header, 1 byte of ids/sub-layers, then 12 bytes of general profile_tier_level
        if rbsp.len() < 15 {
            return Err(Error::BadSps(format!("sps of {} bytes is too short", rbsp.len())));
        }
        let max_sub_layers = ((rbsp[2] >> 1) & 7) + 1;
        let temporal_id_nested = rbsp[2] & 1;
        let mut header = [0u8; 22];
        header[0] = 1;
        header[1..13].copy_from_slice(&rbsp[3..15]);
        header[13] = 0xf0; // min_spatial_segmentation_idc = 0
        header[14] = 0x00;
        header[15] = 0xfc; // parallelismType = 0
        let (chroma, luma_depth, chroma_depth) = crate::h265::sps_format(first).unwrap_or((1, 8, 8));
        header[16] = 0xfc | (chroma & 3);
        header[17] = 0xf8 | (luma_depth.saturating_sub(8) & 7);
        header[18] = 0xf8 | (chroma_depth.saturating_sub(8) & 7);
        header[19] = 0; // avgFrameRate
        header[20] = 0;
        header[21] = (max_sub_layers << 3) | (temporal_id_nested << 2) | 3;
        let array = |nal_type, units: &[&[u8]]| NalArray {
            complete: true,
            nal_type,
            units: units.iter().map(|u| Bytes::copy_from_slice(u)).collect(),
        };
        Ok(Self {
            header,
            length_size: 4,
            arrays: vec![array(NAL_VPS, vps), array(NAL_SPS, sps), array(NAL_PPS, pps)],
        })
    }

    /// Parses an `hvcC` body.
    pub fn parse(data: &[u8]) -> Result<Self> {
        need(data, 0, 23)?;
        let mut header = [0u8; 22];
        header.copy_from_slice(&data[..22]);
        let length_size = (header[21] & 3) + 1;
        let n_arrays = data[22];
        let mut pos = 23;
        let mut arrays = Vec::new();
        for _ in 0..n_arrays {
            need(data, pos, 3)?;
            let complete = data[pos] & 0x80 != 0;
            let nal_type = data[pos] & 0x3f;
            let n = u16::from_be_bytes([data[pos + 1], data[pos + 2]]);
            pos += 3;
            let mut units = Vec::new();
            for _ in 0..n {
                units.push(read_parameter_set(data, &mut pos)?);
            }
            arrays.push(NalArray {
                complete,
                nal_type,
                units,
            });
        }
        Ok(Self {
            header,
            length_size,
            arrays,
        })
    }

    /// Serialises the record as an `hvcC` body.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(64);
        let mut header = self.header;
        header[21] = (header[21] & !3) | (self.length_size.clamp(1, 4) - 1);
        out.put_slice(&header);
        out.put_u8(self.arrays.len().min(255) as u8);
        for a in self.arrays.iter().take(255) {
            out.put_u8(if a.complete { 0x80 } else { 0 } | (a.nal_type & 0x3f));
            out.put_u16(a.units.len().min(u16::MAX as usize) as u16);
            for u in a.units.iter().take(u16::MAX as usize) {
                put_parameter_set(&mut out, u);
            }
        }
        out.freeze()
    }

    /// The parameter set NAL units of one type.
    pub fn units(&self, nal_type: u8) -> impl Iterator<Item = &Bytes> {
        self.arrays
            .iter()
            .filter(move |a| a.nal_type == nal_type)
            .flat_map(|a| a.units.iter())
    }
}

/// Chroma format and bit depths (`chroma_format_idc`, luma bits, chroma bits) of an SPS NAL unit.
pub fn sps_format(sps: &[u8]) -> Result<(u8, u8, u8)> {
    let sps = Sps::parse(sps)?;
    Ok((sps.chroma_format_idc, sps.bit_depth_luma, sps.bit_depth_chroma))
}

/// Video parameters (size, profile, level, frame rate) from an `hvcC` body,
/// taken from its first SPS (see [`Sps::video_info`]). Without VUI timing
/// in the SPS, the frame rate comes from the VPS timing, else from the
/// record's `avgFrameRate`.
pub fn video_info(hvcc: &[u8]) -> Result<crate::VideoInfo> {
    let config = HevcConfig::parse(hvcc)?;
    let sps = config
        .units(NAL_SPS)
        .next()
        .ok_or(Error::MissingParameterSet("sps"))?;
    let mut info = Sps::parse(sps)?.video_info();
    if info.fps.is_none() {
        let avg_frame_rate = u16::from_be_bytes([config.header[19], config.header[20]]);
        info.fps = config
            .units(NAL_VPS)
            .find_map(|v| Vps::parse(v).ok()?.fps())
            .or_else(|| (avg_frame_rate > 0).then(|| f64::from(avg_frame_rate) / 256.0));
    }
    Ok(info)
}

#[cfg(test)]
mod tests;
