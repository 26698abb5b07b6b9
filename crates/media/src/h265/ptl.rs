//! `profile_tier_level()` (ITU-T H.265 §7.3.3) and the video parameter set
//! (§7.3.2.1) as far as its timing information.

use super::{Error, NAL_VPS, Result, Timing};
use crate::bits::BitReader;

/// Largest `*_max_sub_layers_minus1` (§7.4.3.1, §7.4.3.2.1).
pub(super) const MAX_SUB_LAYERS_MINUS1: u8 = 6;
/// Largest `vps_num_layer_sets_minus1` (§7.4.3.1).
const MAX_LAYER_SETS_MINUS1: u32 = 1023;

/// `profile_tier_level( 1, maxNumSubLayersMinus1 )`, ITU-T H.265 §7.3.3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileTierLevel {
    /// `general_profile_space`.
    pub general_profile_space: u8,
    /// `general_tier_flag` (true: High tier).
    pub general_tier_flag: bool,
    /// `general_profile_idc` (1 Main, 2 Main 10, 3 Main Still Picture, 4 range extensions, ...).
    pub general_profile_idc: u8,
    /// `general_profile_compatibility_flag[ 32 ]`, flag 0 in the most significant bit.
    pub general_profile_compatibility_flags: u32,
    /// The 48 bits from `general_progressive_source_flag` to
    /// `general_inbld_flag`/reserved bit, as they appear in the bitstream.
    pub general_constraint_flags: u64,
    /// `general_level_idc` (level × 30).
    pub general_level_idc: u8,
    /// Per sub-layer profile and level, for sub-layers 0 to `maxNumSubLayersMinus1 - 1`.
    pub sub_layers: Vec<SubLayer>,
}

/// Profile and level of one sub-layer, when signalled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubLayer {
    /// `sub_layer_profile_idc`, when `sub_layer_profile_present_flag` is set.
    pub profile_idc: Option<u8>,
    /// `sub_layer_level_idc`, when `sub_layer_level_present_flag` is set.
    pub level_idc: Option<u8>,
}

/// A video parameter set, ITU-T H.265 §7.3.2.1, up to its timing information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vps {
    /// `vps_video_parameter_set_id`.
    pub vps_video_parameter_set_id: u8,
    /// `vps_max_sub_layers_minus1 + 1`.
    pub max_sub_layers: u8,
    /// `profile_tier_level( 1, vps_max_sub_layers_minus1 )`.
    pub profile_tier_level: ProfileTierLevel,
    /// `vps_timing_info_present_flag` and its fields.
    pub timing: Option<Timing>,
}

// === impl ProfileTierLevel ===

impl ProfileTierLevel {
    /// Reads `profile_tier_level( 1, max_sub_layers_minus1 )`.
    pub(super) fn read(r: &mut BitReader<'_>, max_sub_layers_minus1: u8) -> Result<Self> {
        let general_profile_space = r.u8(2)?;
        let general_tier_flag = r.bit()?;
        let general_profile_idc = r.u8(5)?;
        let general_profile_compatibility_flags = r.u32(32)?;
        let general_constraint_flags = r.bits(48)?;
        let general_level_idc = r.u8(8)?;
        let n = usize::from(max_sub_layers_minus1.min(MAX_SUB_LAYERS_MINUS1));
        let mut present = Vec::with_capacity(n);
        for _ in 0..n {
            present.push((r.bit()?, r.bit()?));
        }
        if n > 0 {
            r.skip(2 * (8 - n))?; // reserved_zero_2bits
        }
        let mut sub_layers = Vec::with_capacity(n);
        for (profile_present, level_present) in present {
            let mut sub = SubLayer::default();
            if profile_present {
                r.skip(3)?; // sub_layer_profile_space, sub_layer_tier_flag
                sub.profile_idc = Some(r.u8(5)?);
                r.skip(32 + 48)?; // compatibility flags, constraint flags
            }
            if level_present {
                sub.level_idc = Some(r.u8(8)?);
            }
            sub_layers.push(sub);
        }
        Ok(Self {
            general_profile_space,
            general_tier_flag,
            general_profile_idc,
            general_profile_compatibility_flags,
            general_constraint_flags,
            general_level_idc,
            sub_layers,
        })
    }

    /// The profile: `general_profile_idc`, or when that is 0 the first
    /// `general_profile_compatibility_flag[ j ]` set (§7.4.4).
    pub fn profile(&self) -> u8 {
        if self.general_profile_idc != 0 {
            return self.general_profile_idc;
        }
        (1..32u8)
            .find(|j| self.general_profile_compatibility_flags & (1 << (31 - j)) != 0)
            .unwrap_or(0)
    }

    /// Profile name as Annex A (and ffprobe) spell it: "Main", "Main 10",
    /// "Main Still Picture", "Rext"; the number for others.
    pub fn profile_name(&self) -> String {
        match self.profile() {
            1 => "Main".into(),
            2 => "Main 10".into(),
            3 => "Main Still Picture".into(),
            4 => "Rext".into(),
            n => n.to_string(),
        }
    }

    /// Level as a number: `general_level_idc / 30` (e.g. 3.1 for 93).
    pub fn level(&self) -> f64 {
        f64::from(self.general_level_idc) / 30.0
    }
}

// === impl Vps ===

impl Vps {
    /// Parses a VPS NAL unit (with its 2-byte header and emulation prevention).
    pub fn parse(nal: &[u8]) -> Result<Self> {
        Self::parse_rbsp(nal).map_err(|e| match e {
            Error::BadSps(why) => Error::BadVps(why),
            e => e,
        })
    }

    fn parse_rbsp(nal: &[u8]) -> Result<Self> {
        let rbsp = super::sps::rbsp_of(nal, NAL_VPS, "vps")?;
        let mut r = BitReader::new(&rbsp);
        let vps_video_parameter_set_id = r.u8(4)?;
        r.skip(2 + 6)?; // base layer flags, vps_max_layers_minus1
        let max_sub_layers_minus1 = r.u8(3)?;
        if max_sub_layers_minus1 > MAX_SUB_LAYERS_MINUS1 {
            return Err(Error::BadSps(format!(
                "vps_max_sub_layers_minus1 {max_sub_layers_minus1} exceeds {MAX_SUB_LAYERS_MINUS1}"
            )));
        }
        r.skip(1 + 16)?; // vps_temporal_id_nesting_flag, vps_reserved_0xffff_16bits
        let profile_tier_level = ProfileTierLevel::read(&mut r, max_sub_layers_minus1)?;
        let all = r.bit()?; // vps_sub_layer_ordering_info_present_flag
        let first = if all { 0 } else { max_sub_layers_minus1 };
        for _ in first..=max_sub_layers_minus1 {
            r.ue()?;
            r.ue()?;
            r.ue()?;
        }
        let max_layer_id = r.u32(6)?;
        let num_layer_sets_minus1 = r.ue()?;
        if num_layer_sets_minus1 > MAX_LAYER_SETS_MINUS1 {
            return Err(Error::BadSps(format!(
                "vps_num_layer_sets_minus1 {num_layer_sets_minus1} exceeds {MAX_LAYER_SETS_MINUS1}"
            )));
        }
        // layer_id_included_flag[ i ][ j ]; both factors are bounded above
        r.skip(num_layer_sets_minus1 as usize * (max_layer_id as usize + 1))?;
        let timing = if r.bit()? {
            Some(Timing::read(&mut r)?)
        } else {
            None
        };
        Ok(Self {
            vps_video_parameter_set_id,
            max_sub_layers: max_sub_layers_minus1 + 1,
            profile_tier_level,
            timing,
        })
    }

    /// Pictures per second from the VPS timing (`time_scale / num_units_in_tick`).
    pub fn fps(&self) -> Option<f64> {
        super::sps::fps_of(self.timing)
    }
}
