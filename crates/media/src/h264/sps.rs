//! H.264 sequence parameter set (ITU-T H.264 §7.3.2.1.1) and the timing part
//! of its VUI (Annex E.1.1).

use super::{Error, NAL_SPS, Result, nal_type};
use crate::bits::BitReader;

/// Largest `seq_parameter_set_id` (§7.4.2.1.1).
const MAX_SPS_ID: u32 = 31;
/// Largest `num_ref_frames_in_pic_order_cnt_cycle` (§7.4.2.1.1).
const MAX_POC_CYCLE: u32 = 255;
/// Largest `log2_max_frame_num_minus4` and `log2_max_pic_order_cnt_lsb_minus4` (§7.4.2.1.1).
const MAX_LOG2_MINUS4: u32 = 12;
/// Largest `bit_depth_*_minus8` (§7.4.2.1.1).
const MAX_BIT_DEPTH_MINUS8: u32 = 6;
/// Largest picture dimension in macroblocks we accept: 2^16 luma samples
/// (far above level 6.2's 139264 macroblocks per frame).
const MAX_DIMENSION_MBS: u32 = 4096;
/// `aspect_ratio_idc` value that signals an explicit SAR (Table E-1).
const EXTENDED_SAR: u8 = 255;

/// Profiles whose SPS carries chroma format, bit depths and scaling
/// matrices (the `if( profile_idc = = 100 || ...)` list of §7.3.2.1.1).
pub(super) const HIGH_PROFILES: [u8; 13] = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135];

/// A sequence parameter set, ITU-T H.264 §7.3.2.1.1.
///
/// Fields keep the spec's names where they are raw syntax elements; derived
/// values (`width`, `height`, `fps`) are computed as §7.4.2.1.1 and Annex E say.
#[derive(Debug, Clone, PartialEq)]
pub struct Sps {
    /// `profile_idc` (Annex A: 66 Baseline, 77 Main, 100 High, ...).
    pub profile_idc: u8,
    /// `constraint_set0_flag` .. `constraint_set5_flag` in the six high bits,
    /// and the two reserved bits, as the byte appears in the bitstream.
    pub constraint_flags: u8,
    /// `level_idc` (level × 10; 9 or 11 with constraint_set3 means level 1b).
    pub level_idc: u8,
    /// `seq_parameter_set_id`.
    pub seq_parameter_set_id: u32,
    /// `chroma_format_idc`: 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4. Inferred 1
    /// for profiles without the field.
    pub chroma_format_idc: u8,
    /// `separate_colour_plane_flag`.
    pub separate_colour_plane: bool,
    /// Luma bit depth (`bit_depth_luma_minus8 + 8`).
    pub bit_depth_luma: u8,
    /// Chroma bit depth (`bit_depth_chroma_minus8 + 8`).
    pub bit_depth_chroma: u8,
    /// `seq_scaling_matrix_present_flag`.
    pub scaling_matrix_present: bool,
    /// `log2_max_frame_num_minus4 + 4`.
    pub log2_max_frame_num: u8,
    /// `pic_order_cnt_type` (0, 1 or 2).
    pub pic_order_cnt_type: u8,
    /// `log2_max_pic_order_cnt_lsb_minus4 + 4` (only for `pic_order_cnt_type` 0).
    pub log2_max_pic_order_cnt_lsb: Option<u8>,
    /// `max_num_ref_frames`.
    pub max_num_ref_frames: u32,
    /// `pic_width_in_mbs_minus1 + 1`.
    pub pic_width_in_mbs: u32,
    /// `pic_height_in_map_units_minus1 + 1`.
    pub pic_height_in_map_units: u32,
    /// `frame_mbs_only_flag`: no field (interlaced) coding.
    pub frame_mbs_only: bool,
    /// `mb_adaptive_frame_field_flag`.
    pub mb_adaptive_frame_field: bool,
    /// `frame_crop_{left,right,top,bottom}_offset`, in crop units (§7.4.2.1.1).
    pub crop: Crop,
    /// Luma width in pixels after cropping.
    pub width: u32,
    /// Luma height in pixels after cropping.
    pub height: u32,
    /// Sample aspect ratio (`sar_width`, `sar_height`) from the VUI, if signalled.
    pub sar: Option<(u16, u16)>,
    /// VUI timing (`timing_info_present_flag`), if signalled.
    pub timing: Option<Timing>,
    /// Frames per second: `time_scale / (2 * num_units_in_tick)` (Annex E, eq. C-1
    /// with one frame = two field ticks), when the VUI signals timing.
    pub fps: Option<f64>,
}

/// Cropping rectangle offsets of an SPS, in the spec's crop units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Crop {
    /// Left offset.
    pub left: u32,
    /// Right offset.
    pub right: u32,
    /// Top offset.
    pub top: u32,
    /// Bottom offset.
    pub bottom: u32,
}

/// VUI timing information (H.264 §E.1.1, H.265 §E.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// `num_units_in_tick`.
    pub num_units_in_tick: u32,
    /// `time_scale`.
    pub time_scale: u32,
    /// `fixed_frame_rate_flag` (H.264) / `vui_poc_proportional_to_timing_flag` (H.265).
    pub fixed: bool,
}

// === impl Crop ===

impl Crop {
    /// Reads the four `ue(v)` offsets: left, right, top, bottom.
    pub(crate) fn read(r: &mut BitReader<'_>) -> crate::bits::Result<Self> {
        Ok(Self {
            left: r.ue()?,
            right: r.ue()?,
            top: r.ue()?,
            bottom: r.ue()?,
        })
    }

    /// Luma samples cut off horizontally and vertically when an offset unit
    /// is `unit_x` by `unit_y` luma samples.
    pub(crate) fn cut(&self, unit_x: u32, unit_y: u32) -> (u64, u64) {
        let cut = |a: u32, b: u32, unit: u32| u64::from(unit) * (u64::from(a) + u64::from(b));
        (
            cut(self.left, self.right, unit_x),
            cut(self.top, self.bottom, unit_y),
        )
    }
}

/// `SubWidthC` and `SubHeightC` of a chroma format (Table 6-1, the same in
/// H.264 and H.265); 1 and 1 for monochrome and 4:4:4.
pub(crate) fn chroma_subsampling(chroma_format_idc: u8) -> (u32, u32) {
    match chroma_format_idc {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    }
}

// === impl Timing ===

impl Timing {
    /// Reads `num_units_in_tick`, `time_scale` and the flag after them
    /// (H.264 §E.1.1; H.265 §7.3.2.1 and §E.2.1).
    pub(crate) fn read(r: &mut BitReader<'_>) -> crate::bits::Result<Self> {
        Ok(Self {
            num_units_in_tick: r.u32(32)?,
            time_scale: r.u32(32)?,
            fixed: r.bit()?,
        })
    }
}

/// The VUI fields we keep.
#[derive(Debug, Default)]
struct Vui {
    sar: Option<(u16, u16)>,
    timing: Option<Timing>,
}

// === impl Sps ===

impl Sps {
    /// Parses an SPS NAL unit, including its 1-byte NAL header, with
    /// emulation-prevention bytes still in place.
    ///
    /// A VUI that is cut off or malformed does not fail the parse: the SPS
    /// fields are what decoders need, so the VUI fields are then `None`.
    pub fn parse(nal: &[u8]) -> Result<Self> {
        match nal.first() {
            None => return Err(Error::BadSps("empty nal unit".into())),
            Some(_) if nal_type(nal) != NAL_SPS => {
                return Err(Error::BadSps(format!(
                    "nal unit type {} is not an sps ({NAL_SPS})",
                    nal_type(nal)
                )));
            }
            Some(_) => {}
        }
        let rbsp = crate::nal::unescape_rbsp(&nal[1..]);
        let mut r = BitReader::new(&rbsp);
        let profile_idc = r.u8(8)?;
        let constraint_flags = r.u8(8)?;
        let level_idc = r.u8(8)?;
        let seq_parameter_set_id = bounded(&mut r, "seq_parameter_set_id", MAX_SPS_ID)?;

        let mut chroma_format_idc = 1;
        let mut separate_colour_plane = false;
        let mut bit_depth_luma = 8;
        let mut bit_depth_chroma = 8;
        let mut scaling_matrix_present = false;
        if HIGH_PROFILES.contains(&profile_idc) {
            chroma_format_idc = bounded(&mut r, "chroma_format_idc", 3)? as u8;
            if chroma_format_idc == 3 {
                separate_colour_plane = r.bit()?;
            }
            bit_depth_luma = 8 + bounded(&mut r, "bit_depth_luma_minus8", MAX_BIT_DEPTH_MINUS8)? as u8;
            bit_depth_chroma = 8 + bounded(&mut r, "bit_depth_chroma_minus8", MAX_BIT_DEPTH_MINUS8)? as u8;
            r.skip(1)?; // qpprime_y_zero_transform_bypass_flag
            scaling_matrix_present = r.bit()?;
            if scaling_matrix_present {
                let lists = if chroma_format_idc == 3 { 12 } else { 8 };
                for i in 0..lists {
                    if r.bit()? {
                        skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                    }
                }
            }
        }

        let log2_max_frame_num = 4 + bounded(&mut r, "log2_max_frame_num_minus4", MAX_LOG2_MINUS4)? as u8;
        let pic_order_cnt_type = bounded(&mut r, "pic_order_cnt_type", 2)? as u8;
        let mut log2_max_pic_order_cnt_lsb = None;
        match pic_order_cnt_type {
            0 => {
                let v = bounded(&mut r, "log2_max_pic_order_cnt_lsb_minus4", MAX_LOG2_MINUS4)?;
                log2_max_pic_order_cnt_lsb = Some(4 + v as u8);
            }
            1 => {
                r.skip(1)?; // delta_pic_order_always_zero_flag
                r.se()?; // offset_for_non_ref_pic
                r.se()?; // offset_for_top_to_bottom_field
                let n = bounded(&mut r, "num_ref_frames_in_pic_order_cnt_cycle", MAX_POC_CYCLE)?;
                for _ in 0..n {
                    r.se()?; // offset_for_ref_frame[i]
                }
            }
            _ => {}
        }
        let max_num_ref_frames = r.ue()?;
        r.skip(1)?; // gaps_in_frame_num_value_allowed_flag
        let pic_width_in_mbs = 1 + bounded(&mut r, "pic_width_in_mbs_minus1", MAX_DIMENSION_MBS - 1)?;
        let pic_height_in_map_units =
            1 + bounded(&mut r, "pic_height_in_map_units_minus1", MAX_DIMENSION_MBS - 1)?;
        let frame_mbs_only = r.bit()?;
        let mb_adaptive_frame_field = !frame_mbs_only && r.bit()?;
        r.skip(1)?; // direct_8x8_inference_flag
        let crop = if r.bit()? {
            Crop::read(&mut r)?
        } else {
            Crop::default()
        };
        let vui = if r.bit()? {
            parse_vui(&mut r).unwrap_or_default()
        } else {
            Vui::default()
        };

        // §7.4.2.1.1: ChromaArrayType, CropUnitX/Y (eqs. 7-19 to 7-22):
        // SubWidthC and SubHeightC times the field factor, 1 for monochrome
        let chroma_array_type = if separate_colour_plane {
            0
        } else {
            chroma_format_idc
        };
        let field_factor = if frame_mbs_only { 1 } else { 2 };
        let (sub_w, sub_h) = chroma_subsampling(chroma_array_type);
        let full_w = pic_width_in_mbs * 16;
        let full_h = field_factor * pic_height_in_map_units * 16;
        let (cut_w, cut_h) = crop.cut(sub_w, sub_h * field_factor);
        if cut_w >= u64::from(full_w) || cut_h >= u64::from(full_h) {
            return Err(Error::BadSps(format!(
                "cropping {cut_w}x{cut_h} leaves nothing of the {full_w}x{full_h} picture"
            )));
        }
        let fps = vui.timing.and_then(|t| {
            (t.num_units_in_tick > 0 && t.time_scale > 0)
                .then(|| f64::from(t.time_scale) / (2.0 * f64::from(t.num_units_in_tick)))
        });
        Ok(Self {
            profile_idc,
            constraint_flags,
            level_idc,
            seq_parameter_set_id,
            chroma_format_idc,
            separate_colour_plane,
            bit_depth_luma,
            bit_depth_chroma,
            scaling_matrix_present,
            log2_max_frame_num,
            pic_order_cnt_type,
            log2_max_pic_order_cnt_lsb,
            max_num_ref_frames,
            pic_width_in_mbs,
            pic_height_in_map_units,
            frame_mbs_only,
            mb_adaptive_frame_field,
            crop,
            width: full_w - cut_w as u32,
            height: full_h - cut_h as u32,
            sar: vui.sar,
            timing: vui.timing,
            fps,
        })
    }

    /// `constraint_setN_flag` for N in 0..=5.
    pub fn constraint_set(&self, n: u8) -> bool {
        n <= 5 && self.constraint_flags & (0x80 >> n) != 0
    }

    /// Profile name as Annex A (and ffprobe) spell it, e.g. "Constrained
    /// Baseline", "Main", "High", "High 10 Intra"; the number for others.
    pub fn profile_name(&self) -> String {
        let intra = self.constraint_set(3);
        let name = match self.profile_idc {
            66 if self.constraint_set(1) => "Constrained Baseline",
            66 => "Baseline",
            77 => "Main",
            88 => "Extended",
            100 => "High",
            110 if intra => "High 10 Intra",
            110 => "High 10",
            122 if intra => "High 4:2:2 Intra",
            122 => "High 4:2:2",
            244 if intra => "High 4:4:4 Intra",
            244 => "High 4:4:4 Predictive",
            44 => "CAVLC 4:4:4 Intra",
            83 => "Scalable Baseline",
            86 => "Scalable High",
            118 => "Multiview High",
            128 => "Stereo High",
            134 => "MFC High",
            135 => "MFC Depth High",
            138 => "Multiview Depth High",
            139 => "Enhanced Multiview Depth High",
            n => return n.to_string(),
        };
        name.to_string()
    }

    /// Video parameters for a [`crate::Track`]: level is `level_idc / 10`.
    pub fn video_info(&self) -> crate::VideoInfo {
        crate::VideoInfo {
            width: self.width,
            height: self.height,
            fps: self.fps,
            profile: Some(self.profile_name()),
            level: Some(f64::from(self.level_idc) / 10.0),
        }
    }
}

/// Reads a `ue(v)` and checks it against the spec's upper bound.
fn bounded(r: &mut BitReader<'_>, name: &str, max: u32) -> Result<u32> {
    r.ue_at_most(name, max, Error::BadSps)
}

/// Skips a `scaling_list()` (§7.3.2.1.1.1): only the delta syntax matters.
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<()> {
    let (mut last, mut next) = (8i32, 8i32);
    for _ in 0..size {
        if next != 0 {
            let delta = r.se()?;
            next = (last + delta).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

/// Parses `vui_parameters()` (§E.1.1) up to the timing information.
fn parse_vui(r: &mut BitReader<'_>) -> Result<Vui> {
    let sar = read_vui_start(r)?;
    let timing = if r.bit()? { Some(Timing::read(r)?) } else { None };
    Ok(Vui { sar, timing })
}

/// Reads the start of `vui_parameters()`, alike in H.264 (§E.1.1) and H.265
/// (§E.2.1): the sample aspect ratio, then the overscan, video signal type
/// and chroma sample location fields, which are skipped.
pub(crate) fn read_vui_start(r: &mut BitReader<'_>) -> crate::bits::Result<Option<(u16, u16)>> {
    let mut sar = None;
    if r.bit()? {
        // aspect_ratio_info_present_flag
        let idc = r.u8(8)?;
        sar = if idc == EXTENDED_SAR {
            Some((r.bits(16)? as u16, r.bits(16)? as u16))
        } else {
            sar_from_idc(idc)
        };
    }
    if r.bit()? {
        r.skip(1)?; // overscan_appropriate_flag
    }
    if r.bit()? {
        // video_signal_type_present_flag: video_format, video_full_range_flag
        r.skip(4)?;
        if r.bit()? {
            r.skip(24)?; // colour_primaries, transfer_characteristics, matrix_coefficients
        }
    }
    if r.bit()? {
        r.ue()?; // chroma_sample_loc_type_top_field
        r.ue()?; // chroma_sample_loc_type_bottom_field
    }
    Ok(sar)
}

/// Sample aspect ratio of a table `aspect_ratio_idc` (Table E-1; same in H.265).
pub(crate) fn sar_from_idc(idc: u8) -> Option<(u16, u16)> {
    const TABLE: [(u16, u16); 17] = [
        (0, 0),
        (1, 1),
        (12, 11),
        (10, 11),
        (16, 11),
        (40, 33),
        (24, 11),
        (20, 11),
        (32, 11),
        (80, 33),
        (18, 11),
        (15, 11),
        (64, 33),
        (160, 99),
        (4, 3),
        (3, 2),
        (2, 1),
    ];
    TABLE.get(usize::from(idc)).copied().filter(|&(w, _)| w != 0)
}
