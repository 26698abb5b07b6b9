use super::*;
use crate::bits::BitWriter;
use crate::test_support::{crop, expected_sar, hex, sar, write_crop, write_sar};
use proptest::prelude::*;

/// SPS of libx264 320x240 at 25 fps, High profile, level 1.3.
const X264_320X240: &str = "6764000dacd94141fb011000000300100000030320f1429960";
/// SPS of libx264 1280x720 at 30 fps, `-profile:v main`, level 3.1.
const X264_720P_MAIN: &str = "674d401feca02802dd8088000003000800000301e078c18cb0";

#[test]
fn parses_x264_high_sps() {
    let sps = Sps::parse(&hex(X264_320X240)).unwrap();
    assert_eq!((sps.width, sps.height), (320, 240));
    assert_eq!(sps.profile_idc, 100);
    assert_eq!(sps.profile_name(), "High");
    assert_eq!(sps.level_idc, 13);
    assert_eq!(sps.chroma_format_idc, 1);
    assert_eq!((sps.bit_depth_luma, sps.bit_depth_chroma), (8, 8));
    assert!(sps.frame_mbs_only);
    assert_eq!(sps.fps, Some(25.0));
    assert_eq!(sps.sar, Some((1, 1)));
}

#[test]
fn parses_x264_main_sps() {
    let sps = Sps::parse(&hex(X264_720P_MAIN)).unwrap();
    assert_eq!((sps.width, sps.height), (1280, 720));
    assert_eq!(sps.profile_name(), "Main");
    assert!(sps.constraint_set(1));
    let info = sps.video_info();
    assert_eq!(info.fps, Some(30.0));
    assert_eq!(info.level, Some(3.1));
}

#[test]
fn video_info_from_avcc() {
    let sps = hex(X264_320X240);
    let config = AvcConfig::from_parameter_sets(&[&sps], &[&[0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0]]).unwrap();
    // High profile records carry the chroma/bit-depth extension
    assert_eq!(&config.extension[..], &[0xfd, 0xf8, 0xf8, 0]);
    let info = video_info(&config.encode()).unwrap();
    assert_eq!((info.width, info.height), (320, 240));
    assert_eq!(info.profile.as_deref(), Some("High"));
    assert_eq!(info.level, Some(1.3));
    assert_eq!(info.fps, Some(25.0));
}

#[test]
fn video_info_errors() {
    assert!(matches!(
        video_info(&[]),
        Err(Error::TruncatedConfig { offset: 0 })
    ));
    // a valid record with no SPS
    let empty = [1, 100, 0, 13, 0xff, 0xe0, 0];
    assert_eq!(video_info(&empty), Err(Error::MissingSps));
}

#[test]
fn rejects_bad_sps() {
    assert!(Sps::parse(&[]).is_err());
    // a PPS is not an SPS
    let err = Sps::parse(&[0x68, 0xeb]).unwrap_err();
    assert!(err.to_string().contains("not an sps"), "{err}");
    // cut off inside the fixed header
    assert!(matches!(Sps::parse(&[0x67, 0x64]), Err(Error::Bits(_))));
    // every truncation of a real SPS before its VUI is an error, never a panic
    let full = hex(X264_320X240);
    for n in 0..9 {
        assert!(Sps::parse(&full[..n]).is_err(), "{n} bytes");
    }
}

#[test]
fn truncated_vui_keeps_the_picture_size() {
    // the x264 SPS's VUI starts in byte 9; cut inside the timing info
    let full = hex(X264_320X240);
    let sps = Sps::parse(&full[..16]).unwrap();
    assert_eq!((sps.width, sps.height), (320, 240));
    assert_eq!(sps.fps, None);
}

#[test]
fn profile_names() {
    let mut sps = Sps::parse(&hex(X264_320X240)).unwrap();
    for (idc, flags, name) in [
        (66, 0x40, "Constrained Baseline"),
        (66, 0, "Baseline"),
        (88, 0, "Extended"),
        (110, 0x10, "High 10 Intra"),
        (122, 0, "High 4:2:2"),
        (244, 0, "High 4:4:4 Predictive"),
        (7, 0, "7"),
    ] {
        sps.profile_idc = idc;
        sps.constraint_flags = flags;
        assert_eq!(sps.profile_name(), name);
    }
}

/// Everything the test SPS writer can vary.
#[derive(Debug, Clone)]
struct Spec {
    profile_idc: u8,
    constraint_flags: u8,
    level_idc: u8,
    sps_id: u32,
    chroma_format_idc: u8,
    separate_colour_plane: bool,
    depth_luma_minus8: u32,
    depth_chroma_minus8: u32,
    /// `Some(lists)`: scaling matrix present; each list present with these deltas.
    scaling: Option<Vec<Option<Vec<i32>>>>,
    log2_max_frame_num_minus4: u32,
    poc_type: u32,
    poc_lsb_minus4: u32,
    poc_cycle: Vec<i32>,
    max_num_ref_frames: u32,
    width_mbs: u32,
    height_map_units: u32,
    frame_mbs_only: bool,
    mbaff: bool,
    crop: Option<Crop>,
    sar_idc: Option<(u8, u16, u16)>,
    timing: Option<(u32, u32, bool)>,
}

impl Spec {
    fn write(&self) -> Vec<u8> {
        let mut w = BitWriter::new();
        w.put(8, self.profile_idc.into());
        w.put(8, self.constraint_flags.into());
        w.put(8, self.level_idc.into());
        w.ue(self.sps_id);
        if sps::HIGH_PROFILES.contains(&self.profile_idc) {
            w.ue(self.chroma_format_idc.into());
            if self.chroma_format_idc == 3 {
                w.put(1, self.separate_colour_plane.into());
            }
            w.ue(self.depth_luma_minus8);
            w.ue(self.depth_chroma_minus8);
            w.put(1, 0);
            w.put(1, self.scaling.is_some().into());
            if let Some(lists) = &self.scaling {
                let n = if self.chroma_format_idc == 3 { 12 } else { 8 };
                for (i, list) in lists.iter().take(n).enumerate() {
                    w.put(1, list.is_some().into());
                    if let Some(deltas) = list {
                        let size = if i < 6 { 16 } else { 64 };
                        let (mut last, mut next) = (8i32, 8i32);
                        for j in 0..size {
                            if next != 0 {
                                let d = deltas[j % deltas.len()];
                                w.se(d);
                                next = (last + d).rem_euclid(256);
                            }
                            if next != 0 {
                                last = next;
                            }
                        }
                    }
                }
            }
        }
        w.ue(self.log2_max_frame_num_minus4);
        w.ue(self.poc_type);
        match self.poc_type {
            0 => w.ue(self.poc_lsb_minus4),
            1 => {
                w.put(1, 1);
                w.se(-3);
                w.se(7);
                w.ue(self.poc_cycle.len() as u32);
                for v in &self.poc_cycle {
                    w.se(*v);
                }
            }
            _ => {}
        }
        w.ue(self.max_num_ref_frames);
        w.put(1, 0);
        w.ue(self.width_mbs - 1);
        w.ue(self.height_map_units - 1);
        w.put(1, self.frame_mbs_only.into());
        if !self.frame_mbs_only {
            w.put(1, self.mbaff.into());
        }
        w.put(1, 1);
        write_crop(&mut w, self.crop);
        let vui = self.sar_idc.is_some() || self.timing.is_some();
        w.put(1, vui.into());
        if vui {
            write_sar(&mut w, self.sar_idc);
            w.put(1, 1); // overscan info
            w.put(1, 0);
            w.put(1, 1); // video signal type with colour description
            w.put(4, 0b1010);
            w.put(1, 1);
            w.put(24, 0x010101);
            w.put(1, 1); // chroma loc
            w.ue(1);
            w.ue(2);
            w.put(1, self.timing.is_some().into());
            if let Some((n, s, f)) = self.timing {
                w.put(32, n.into());
                w.put(32, s.into());
                w.put(1, f.into());
            }
            w.put(1, 0); // nal hrd
            w.put(1, 0); // vcl hrd
            w.put(1, 0); // pic_struct_present_flag
            w.put(1, 0); // bitstream_restriction_flag
        }
        w.put(1, 1); // rbsp_stop_one_bit
        let mut nal = vec![0x67];
        nal.extend(crate::nal::escape_rbsp(&w.finish()));
        nal
    }

    fn expected_size(&self) -> (u32, u32) {
        let chroma = if !sps::HIGH_PROFILES.contains(&self.profile_idc) {
            1
        } else if self.separate_colour_plane && self.chroma_format_idc == 3 {
            0
        } else {
            self.chroma_format_idc
        };
        let (sub_w, sub_h) = match chroma {
            0 => (1, 1),
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        let field = if self.frame_mbs_only { 1 } else { 2 };
        let c = self.crop.unwrap_or_default();
        (
            self.width_mbs * 16 - sub_w * (c.left + c.right),
            field * self.height_map_units * 16 - sub_h * field * (c.top + c.bottom),
        )
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    let profile = prop::sample::select(vec![66u8, 77, 88, 100, 110, 122, 244, 44, 118]);
    let deltas = prop::collection::vec(-20i32..20, 1..8);
    let scaling = prop::option::of(prop::collection::vec(prop::option::of(deltas), 12));
    let timing = prop::option::of((any::<u32>(), any::<u32>(), any::<bool>()));
    (
        (
            profile,
            any::<u8>(),
            any::<u8>(),
            0u32..=31,
            0u8..=3,
            any::<bool>(),
            0u32..=6,
            0u32..=6,
        ),
        (
            scaling,
            0u32..=12,
            0u32..=2,
            0u32..=12,
            prop::collection::vec(any::<i32>().prop_map(|v| v >> 2), 0..6),
        ),
        (
            0u32..20,
            1u32..300,
            1u32..300,
            any::<bool>(),
            any::<bool>(),
            crop(),
            sar(),
            timing,
        ),
    )
        .prop_map(|(a, b, c)| Spec {
            profile_idc: a.0,
            constraint_flags: a.1,
            level_idc: a.2,
            sps_id: a.3,
            chroma_format_idc: a.4,
            separate_colour_plane: a.5,
            depth_luma_minus8: a.6,
            depth_chroma_minus8: a.7,
            scaling: b.0,
            log2_max_frame_num_minus4: b.1,
            poc_type: b.2,
            poc_lsb_minus4: b.3,
            poc_cycle: b.4,
            max_num_ref_frames: c.0,
            width_mbs: c.1,
            height_map_units: c.2,
            frame_mbs_only: c.3,
            mbaff: c.4,
            crop: c.5,
            sar_idc: c.6,
            timing: c.7,
        })
}

fn avc_config() -> impl Strategy<Value = AvcConfig> {
    let unit = prop::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from);
    (
        any::<(u8, u8, u8)>(),
        prop::sample::select(vec![1u8, 2, 4]),
        prop::collection::vec(unit.clone(), 0..4),
        prop::collection::vec(unit, 0..4),
        prop::collection::vec(any::<u8>(), 0..6),
    )
        .prop_map(
            |((profile, compatibility, level), length_size, sps, pps, ext)| AvcConfig {
                profile,
                compatibility,
                level,
                length_size,
                sps,
                pps,
                extension: Bytes::from(ext),
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn written_sps_parses_back(spec in spec()) {
        let nal = spec.write();
        let sps = Sps::parse(&nal).unwrap();
        let high = sps::HIGH_PROFILES.contains(&spec.profile_idc);
        prop_assert_eq!(sps.profile_idc, spec.profile_idc);
        prop_assert_eq!(sps.constraint_flags, spec.constraint_flags);
        prop_assert_eq!(sps.level_idc, spec.level_idc);
        prop_assert_eq!(sps.seq_parameter_set_id, spec.sps_id);
        prop_assert_eq!(sps.chroma_format_idc, if high { spec.chroma_format_idc } else { 1 });
        if high {
            prop_assert_eq!(u32::from(sps.bit_depth_luma), spec.depth_luma_minus8 + 8);
            prop_assert_eq!(u32::from(sps.bit_depth_chroma), spec.depth_chroma_minus8 + 8);
            prop_assert_eq!(sps.scaling_matrix_present, spec.scaling.is_some());
        }
        prop_assert_eq!(u32::from(sps.log2_max_frame_num), spec.log2_max_frame_num_minus4 + 4);
        prop_assert_eq!(u32::from(sps.pic_order_cnt_type), spec.poc_type);
        prop_assert_eq!(sps.max_num_ref_frames, spec.max_num_ref_frames);
        prop_assert_eq!(sps.pic_width_in_mbs, spec.width_mbs);
        prop_assert_eq!(sps.pic_height_in_map_units, spec.height_map_units);
        prop_assert_eq!(sps.frame_mbs_only, spec.frame_mbs_only);
        prop_assert_eq!(sps.mb_adaptive_frame_field, !spec.frame_mbs_only && spec.mbaff);
        prop_assert_eq!(sps.crop, spec.crop.unwrap_or_default());
        prop_assert_eq!((sps.width, sps.height), spec.expected_size());
        prop_assert_eq!(sps.sar, expected_sar(spec.sar_idc));
        let timing = spec.timing.map(|(n, s, f)| Timing { num_units_in_tick: n, time_scale: s, fixed: f });
        prop_assert_eq!(sps.timing, timing);
        let fps = spec.timing.and_then(|(n, s, _)| (n > 0 && s > 0).then(|| f64::from(s) / (2.0 * f64::from(n))));
        prop_assert_eq!(sps.fps, fps);
    }

    #[test]
    fn avcc_round_trip(config in avc_config()) {
        let parsed = AvcConfig::parse(&config.encode()).unwrap();
        prop_assert_eq!(parsed, config);
    }

    #[test]
    fn arbitrary_bytes_never_panic(mut data in prop::collection::vec(any::<u8>(), 0..80)) {
        let _ = video_info(&data);
        let _ = AvcConfig::parse(&data);
        if let Some(b) = data.first_mut() {
            *b = 0x67;
        }
        let _ = Sps::parse(&data);
    }

    #[test]
    fn corrupted_real_sps_never_panics(pos in 1usize..25, byte in any::<u8>(), cut in 0usize..26) {
        let mut data = hex(X264_320X240);
        data[pos] = byte;
        data.truncate(cut.max(1));
        let _ = Sps::parse(&data);
    }
}
