//! H.265 sequence parameter set (ITU-T H.265 §7.3.2.2.1) and the timing part
//! of its VUI (§E.2.1).

use super::ptl::{MAX_SUB_LAYERS_MINUS1, ProfileTierLevel};
use super::{Crop, Error, NAL_SPS, Result, Timing, nal_type};
use crate::bits::BitReader;
use crate::h264::{chroma_subsampling, read_vui_start};

/// Largest `sps_seq_parameter_set_id` (§7.4.3.2.1).
const MAX_SPS_ID: u32 = 15;
/// Largest `bit_depth_*_minus8` (§7.4.3.2.1).
const MAX_BIT_DEPTH_MINUS8: u32 = 8;
/// Largest `log2_max_pic_order_cnt_lsb_minus4` (§7.4.3.2.1).
const MAX_LOG2_POC_LSB_MINUS4: u32 = 12;
/// Largest picture dimension in luma samples we accept (level 6.2 allows 16888).
const MAX_DIMENSION: u32 = 1 << 16;
/// Largest `num_short_term_ref_pic_sets` (§7.4.3.2.1).
const MAX_SHORT_TERM_REF_PIC_SETS: u32 = 64;
/// Largest `num_long_term_ref_pics_sps` (§7.4.3.2.1).
const MAX_LONG_TERM_REF_PICS: u32 = 32;
/// Most pictures one short-term reference picture set may list: the spec
/// bounds it by the DPB size (at most 16); we allow some slack.
const MAX_DELTA_POCS: usize = 32;

/// A sequence parameter set, ITU-T H.265 §7.3.2.2.1, up to its VUI timing.
///
/// Fields keep the spec's names where they are raw syntax elements; derived
/// values (`width`, `height`, `fps`) are computed as §7.4.3.2.1 and Annex E say.
#[derive(Debug, Clone, PartialEq)]
pub struct Sps {
    /// `sps_video_parameter_set_id`.
    pub sps_video_parameter_set_id: u8,
    /// `sps_max_sub_layers_minus1 + 1`.
    pub max_sub_layers: u8,
    /// `sps_temporal_id_nesting_flag`.
    pub temporal_id_nesting: bool,
    /// `profile_tier_level( 1, sps_max_sub_layers_minus1 )`.
    pub profile_tier_level: ProfileTierLevel,
    /// `sps_seq_parameter_set_id`.
    pub sps_seq_parameter_set_id: u32,
    /// `chroma_format_idc`: 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4.
    pub chroma_format_idc: u8,
    /// `separate_colour_plane_flag`.
    pub separate_colour_plane: bool,
    /// `pic_width_in_luma_samples`.
    pub pic_width_in_luma_samples: u32,
    /// `pic_height_in_luma_samples`.
    pub pic_height_in_luma_samples: u32,
    /// `conf_win_{left,right,top,bottom}_offset`, in chroma sample units.
    pub conformance_window: Crop,
    /// Luma bit depth (`bit_depth_luma_minus8 + 8`).
    pub bit_depth_luma: u8,
    /// Chroma bit depth (`bit_depth_chroma_minus8 + 8`).
    pub bit_depth_chroma: u8,
    /// `log2_max_pic_order_cnt_lsb_minus4 + 4`.
    pub log2_max_pic_order_cnt_lsb: u8,
    /// `log2_min_luma_coding_block_size_minus3 + 3`.
    pub log2_min_luma_coding_block_size: u32,
    /// `log2_diff_max_min_luma_coding_block_size`.
    pub log2_diff_max_min_luma_coding_block_size: u32,
    /// `num_short_term_ref_pic_sets`.
    pub num_short_term_ref_pic_sets: u32,
    /// `num_long_term_ref_pics_sps` (0 when long-term pictures are off).
    pub num_long_term_ref_pics: u32,
    /// `sps_temporal_mvp_enabled_flag`.
    pub temporal_mvp: bool,
    /// `strong_intra_smoothing_enabled_flag`.
    pub strong_intra_smoothing: bool,
    /// Luma width in pixels after the conformance window.
    pub width: u32,
    /// Luma height in pixels after the conformance window.
    pub height: u32,
    /// Sample aspect ratio (`sar_width`, `sar_height`) from the VUI, if signalled.
    pub sar: Option<(u16, u16)>,
    /// `field_seq_flag` of the VUI: pictures are fields.
    pub field_seq: bool,
    /// VUI timing (`vui_timing_info_present_flag`), if signalled.
    pub timing: Option<Timing>,
    /// Pictures per second, `vui_time_scale / vui_num_units_in_tick`.
    pub fps: Option<f64>,
}

/// The VUI fields we keep.
#[derive(Debug, Default)]
struct Vui {
    sar: Option<(u16, u16)>,
    field_seq: bool,
    timing: Option<Timing>,
}

/// The delta POCs of a short-term reference picture set (§7.4.8):
/// `DeltaPocS0` (negative, closest first) and `DeltaPocS1` (positive).
#[derive(Debug, Clone, Default)]
struct RefPicSet {
    negative: Vec<i64>,
    positive: Vec<i64>,
}

// === impl Sps ===

impl Sps {
    /// Parses an SPS NAL unit, including its 2-byte NAL header, with
    /// emulation-prevention bytes still in place.
    ///
    /// A VUI that is cut off or malformed does not fail the parse; its
    /// fields are then `None`.
    pub fn parse(nal: &[u8]) -> Result<Self> {
        let rbsp = rbsp_of(nal, NAL_SPS, "sps")?;
        let mut r = BitReader::new(&rbsp);
        let sps_video_parameter_set_id = r.u8(4)?;
        let max_sub_layers_minus1 = r.u8(3)?;
        if max_sub_layers_minus1 > MAX_SUB_LAYERS_MINUS1 {
            return Err(Error::BadSps(format!(
                "sps_max_sub_layers_minus1 {max_sub_layers_minus1} exceeds {MAX_SUB_LAYERS_MINUS1}"
            )));
        }
        let temporal_id_nesting = r.bit()?;
        let profile_tier_level = ProfileTierLevel::read(&mut r, max_sub_layers_minus1)?;
        let sps_seq_parameter_set_id = bounded(&mut r, "sps_seq_parameter_set_id", MAX_SPS_ID)?;
        let chroma_format_idc = bounded(&mut r, "chroma_format_idc", 3)? as u8;
        let separate_colour_plane = chroma_format_idc == 3 && r.bit()?;
        let pic_width_in_luma_samples = bounded(&mut r, "pic_width_in_luma_samples", MAX_DIMENSION)?;
        let pic_height_in_luma_samples = bounded(&mut r, "pic_height_in_luma_samples", MAX_DIMENSION)?;
        let conformance_window = if r.bit()? {
            Crop::read(&mut r)?
        } else {
            Crop::default()
        };
        let bit_depth_luma = 8 + bounded(&mut r, "bit_depth_luma_minus8", MAX_BIT_DEPTH_MINUS8)? as u8;
        let bit_depth_chroma = 8 + bounded(&mut r, "bit_depth_chroma_minus8", MAX_BIT_DEPTH_MINUS8)? as u8;
        let log2_max_pic_order_cnt_lsb = 4 + bounded(
            &mut r,
            "log2_max_pic_order_cnt_lsb_minus4",
            MAX_LOG2_POC_LSB_MINUS4,
        )? as u8;
        let all_sub_layers = r.bit()?; // sps_sub_layer_ordering_info_present_flag
        let first = if all_sub_layers { 0 } else { max_sub_layers_minus1 };
        for _ in first..=max_sub_layers_minus1 {
            r.ue()?; // sps_max_dec_pic_buffering_minus1
            r.ue()?; // sps_max_num_reorder_pics
            r.ue()?; // sps_max_latency_increase_plus1
        }
        let log2_min_luma_coding_block_size = r.ue()?.saturating_add(3);
        let log2_diff_max_min_luma_coding_block_size = r.ue()?;
        r.ue()?; // log2_min_luma_transform_block_size_minus2
        r.ue()?; // log2_diff_max_min_luma_transform_block_size
        r.ue()?; // max_transform_hierarchy_depth_inter
        r.ue()?; // max_transform_hierarchy_depth_intra
        if r.bit()? && r.bit()? {
            // scaling_list_enabled_flag && sps_scaling_list_data_present_flag
            skip_scaling_list_data(&mut r)?;
        }
        r.skip(2)?; // amp_enabled_flag, sample_adaptive_offset_enabled_flag
        if r.bit()? {
            // pcm_enabled_flag: two 4-bit depths, two ue(v) sizes, loop filter flag
            r.skip(8)?;
            r.ue()?;
            r.ue()?;
            r.skip(1)?;
        }
        let num_short_term_ref_pic_sets =
            bounded(&mut r, "num_short_term_ref_pic_sets", MAX_SHORT_TERM_REF_PIC_SETS)?;
        let mut sets: Vec<RefPicSet> = Vec::with_capacity(num_short_term_ref_pic_sets as usize);
        for _ in 0..num_short_term_ref_pic_sets {
            let set = read_st_ref_pic_set(&mut r, sets.last())?;
            sets.push(set);
        }
        let mut num_long_term_ref_pics = 0;
        if r.bit()? {
            num_long_term_ref_pics = bounded(&mut r, "num_long_term_ref_pics_sps", MAX_LONG_TERM_REF_PICS)?;
            // lt_ref_pic_poc_lsb_sps u(v) and used_by_curr_pic_lt_sps_flag, each
            let each = usize::from(log2_max_pic_order_cnt_lsb) + 1;
            r.skip(num_long_term_ref_pics as usize * each)?;
        }
        let temporal_mvp = r.bit()?;
        let strong_intra_smoothing = r.bit()?;
        let vui = if r.bit()? {
            parse_vui(&mut r).unwrap_or_default()
        } else {
            Vui::default()
        };

        // §7.4.3.2.1: SubWidthC and SubHeightC (Table 6-1) scale the window
        let (sub_w, sub_h) = chroma_subsampling(chroma_format_idc);
        let (cut_w, cut_h) = conformance_window.cut(sub_w, sub_h);
        if cut_w >= u64::from(pic_width_in_luma_samples) || cut_h >= u64::from(pic_height_in_luma_samples) {
            return Err(Error::BadSps(format!(
                "conformance window {cut_w}x{cut_h} leaves nothing of the \
                 {pic_width_in_luma_samples}x{pic_height_in_luma_samples} picture"
            )));
        }
        Ok(Self {
            sps_video_parameter_set_id,
            max_sub_layers: max_sub_layers_minus1 + 1,
            temporal_id_nesting,
            profile_tier_level,
            sps_seq_parameter_set_id,
            chroma_format_idc,
            separate_colour_plane,
            pic_width_in_luma_samples,
            pic_height_in_luma_samples,
            conformance_window,
            bit_depth_luma,
            bit_depth_chroma,
            log2_max_pic_order_cnt_lsb,
            log2_min_luma_coding_block_size,
            log2_diff_max_min_luma_coding_block_size,
            num_short_term_ref_pic_sets,
            num_long_term_ref_pics,
            temporal_mvp,
            strong_intra_smoothing,
            width: pic_width_in_luma_samples - cut_w as u32,
            height: pic_height_in_luma_samples - cut_h as u32,
            sar: vui.sar,
            field_seq: vui.field_seq,
            fps: fps_of(vui.timing),
            timing: vui.timing,
        })
    }

    /// Video parameters for a [`crate::Track`]: profile name and
    /// `general_level_idc / 30` from the profile_tier_level.
    pub fn video_info(&self) -> crate::VideoInfo {
        crate::VideoInfo {
            width: self.width,
            height: self.height,
            fps: self.fps,
            profile: Some(self.profile_tier_level.profile_name()),
            level: Some(self.profile_tier_level.level()),
        }
    }
}

/// Checks the NAL header of a parameter set and returns its RBSP (without
/// the 2-byte header and emulation-prevention bytes).
pub(super) fn rbsp_of(nal: &[u8], want: u8, what: &str) -> Result<Vec<u8>> {
    if nal.len() < 2 {
        return Err(Error::BadSps(format!(
            "{what} nal unit of {} bytes is too short",
            nal.len()
        )));
    }
    if nal_type(nal) != want {
        return Err(Error::BadSps(format!(
            "nal unit type {} is not a {what} ({want})",
            nal_type(nal)
        )));
    }
    Ok(crate::nal::unescape_rbsp(&nal[2..]))
}

/// `time_scale / num_units_in_tick`, when both are non-zero.
pub(super) fn fps_of(timing: Option<Timing>) -> Option<f64> {
    let t = timing?;
    (t.num_units_in_tick > 0 && t.time_scale > 0)
        .then(|| f64::from(t.time_scale) / f64::from(t.num_units_in_tick))
}

/// Reads a `ue(v)` and checks it against the spec's upper bound.
fn bounded(r: &mut BitReader<'_>, name: &str, max: u32) -> Result<u32> {
    r.ue_at_most(name, max, Error::BadSps)
}

/// Skips `scaling_list_data()` (§7.3.4).
fn skip_scaling_list_data(r: &mut BitReader<'_>) -> Result<()> {
    for size_id in 0..4u32 {
        let step = if size_id == 3 { 3 } else { 1 };
        for _ in (0..6).step_by(step) {
            if !r.bit()? {
                r.ue()?; // scaling_list_pred_matrix_id_delta
            } else {
                let coefs = 64.min(1 << (4 + (size_id << 1)));
                if size_id > 1 {
                    r.se()?; // scaling_list_dc_coef_minus8
                }
                for _ in 0..coefs {
                    r.se()?; // scaling_list_delta_coef
                }
            }
        }
    }
    Ok(())
}

/// Reads `st_ref_pic_set( stRpsIdx )` (§7.3.7) of an SPS, deriving its
/// delta POCs (eqs. 7-61 and 7-62) because a later set may predict from it.
/// `previous` is set `stRpsIdx - 1` (in an SPS `delta_idx_minus1` is 0).
fn read_st_ref_pic_set(r: &mut BitReader<'_>, previous: Option<&RefPicSet>) -> Result<RefPicSet> {
    let inter = match previous {
        Some(p) if r.bit()? => p,
        _ => return read_explicit_ref_pic_set(r),
    };
    let negative_sign = r.bit()?;
    let abs = i64::from(r.ue()?) + 1;
    let delta_rps = if negative_sign { -abs } else { abs };
    let (n_neg, n_pos) = (inter.negative.len(), inter.positive.len());
    let mut use_delta = Vec::with_capacity(n_neg + n_pos + 1);
    for _ in 0..=n_neg + n_pos {
        let used_by_curr_pic = r.bit()?;
        use_delta.push(used_by_curr_pic || r.bit()?);
    }
    let mut set = RefPicSet::default();
    for (j, d) in inter.positive.iter().enumerate().rev() {
        if d + delta_rps < 0 && use_delta[n_neg + j] {
            set.negative.push(d + delta_rps);
        }
    }
    if delta_rps < 0 && use_delta[n_neg + n_pos] {
        set.negative.push(delta_rps);
    }
    for (j, d) in inter.negative.iter().enumerate() {
        if d + delta_rps < 0 && use_delta[j] {
            set.negative.push(d + delta_rps);
        }
    }
    for (j, d) in inter.negative.iter().enumerate().rev() {
        if d + delta_rps > 0 && use_delta[j] {
            set.positive.push(d + delta_rps);
        }
    }
    if delta_rps > 0 && use_delta[n_neg + n_pos] {
        set.positive.push(delta_rps);
    }
    for (j, d) in inter.positive.iter().enumerate() {
        if d + delta_rps > 0 && use_delta[n_neg + j] {
            set.positive.push(d + delta_rps);
        }
    }
    if set.negative.len() + set.positive.len() > MAX_DELTA_POCS {
        return Err(Error::BadSps(format!(
            "short-term reference picture set lists more than {MAX_DELTA_POCS} pictures"
        )));
    }
    Ok(set)
}

/// The explicit branch of `st_ref_pic_set()`: counts and POC deltas.
fn read_explicit_ref_pic_set(r: &mut BitReader<'_>) -> Result<RefPicSet> {
    let num_negative = bounded(r, "num_negative_pics", MAX_DELTA_POCS as u32)?;
    let num_positive = bounded(r, "num_positive_pics", MAX_DELTA_POCS as u32 - num_negative)?;
    let mut set = RefPicSet::default();
    let mut poc = 0i64;
    for _ in 0..num_negative {
        poc -= i64::from(r.ue()?) + 1; // delta_poc_s0_minus1
        r.skip(1)?; // used_by_curr_pic_s0_flag
        set.negative.push(poc);
    }
    poc = 0;
    for _ in 0..num_positive {
        poc += i64::from(r.ue()?) + 1; // delta_poc_s1_minus1
        r.skip(1)?; // used_by_curr_pic_s1_flag
        set.positive.push(poc);
    }
    Ok(set)
}

/// Parses `vui_parameters()` (§E.2.1) up to the timing information.
fn parse_vui(r: &mut BitReader<'_>) -> Result<Vui> {
    let sar = read_vui_start(r)?;
    r.skip(1)?; // neutral_chroma_indication_flag
    let field_seq = r.bit()?;
    r.skip(1)?; // frame_field_info_present_flag
    if r.bit()? {
        // default_display_window_flag
        for _ in 0..4 {
            r.ue()?;
        }
    }
    let timing = if r.bit()? { Some(Timing::read(r)?) } else { None };
    Ok(Vui {
        sar,
        field_seq,
        timing,
    })
}
