use super::*;
use crate::bits::BitWriter;
use crate::test_support::{crop, expected_sar, hex, sar, write_crop, write_sar};
use proptest::prelude::*;

/// VPS, SPS and PPS of libx265 320x240 at 25 fps (Main, level 2).
const X265_VPS: &str = "40010c01ffff01600000030090000003000003003c959809";
const X265_SPS: &str = "42010101600000030090000003000003003ca00a080f165959a4932bc05a020000030002000003003210";
const X265_PPS: &str = "4401c172b46240";

#[test]
fn parses_x265_sps() {
    let sps = Sps::parse(&hex(X265_SPS)).unwrap();
    assert_eq!((sps.width, sps.height), (320, 240));
    assert_eq!(sps.profile_tier_level.general_profile_idc, 1);
    assert_eq!(sps.profile_tier_level.profile_name(), "Main");
    assert_eq!(sps.profile_tier_level.general_level_idc, 60);
    assert_eq!(
        (sps.chroma_format_idc, sps.bit_depth_luma, sps.bit_depth_chroma),
        (1, 8, 8)
    );
    assert_eq!(sps.fps, Some(25.0));
    assert_eq!(sps_format(&hex(X265_SPS)).unwrap(), (1, 8, 8));
}

#[test]
fn parses_x265_vps() {
    let vps = Vps::parse(&hex(X265_VPS)).unwrap();
    assert_eq!(vps.max_sub_layers, 1);
    assert_eq!(vps.profile_tier_level.general_level_idc, 60);
    // x265 puts timing only into the SPS VUI
    assert_eq!(vps.timing, None);
    assert_eq!(vps_with_timing().fps(), Some(25.0));
}

/// A VPS with two sub-layers and timing info (50 / 2).
fn vps_with_timing_nal() -> Vec<u8> {
    let mut w = BitWriter::new();
    w.put(4, 3); // vps_video_parameter_set_id
    w.put(2, 3);
    w.put(6, 0);
    w.put(3, 1); // vps_max_sub_layers_minus1
    w.put(1, 1);
    w.put(16, 0xffff);
    w.put(8, 0x01);
    w.put(32, 0x6000_0000);
    w.put(48, 0x9000_0000_0000);
    w.put(8, 93);
    w.put(2, 0b01); // sub-layer 0: level only
    w.put(14, 0);
    w.put(8, 90);
    w.put(1, 1);
    for _ in 0..2 {
        w.ue(3);
        w.ue(1);
        w.ue(0);
    }
    w.put(6, 2); // vps_max_layer_id
    w.ue(2); // vps_num_layer_sets_minus1
    w.put(6, 0b101010);
    w.put(1, 1);
    w.put(32, 2);
    w.put(32, 50);
    w.put(1, 0);
    w.put(1, 1);
    let mut nal = vec![0x40, 0x01];
    nal.extend(crate::nal::escape_rbsp(&w.finish()));
    nal
}

fn vps_with_timing() -> Vps {
    let vps = Vps::parse(&vps_with_timing_nal()).unwrap();
    assert_eq!(vps.vps_video_parameter_set_id, 3);
    assert_eq!(vps.max_sub_layers, 2);
    assert_eq!(vps.profile_tier_level.general_level_idc, 93);
    assert_eq!(
        vps.profile_tier_level.sub_layers,
        vec![SubLayer {
            profile_idc: None,
            level_idc: Some(90)
        }]
    );
    vps
}

#[test]
fn video_info_from_hvcc() {
    let (vps, sps, pps) = (hex(X265_VPS), hex(X265_SPS), hex(X265_PPS));
    let config = HevcConfig::from_parameter_sets(&[&vps], &[&sps], &[&pps]).unwrap();
    assert_eq!(config.header[16..19], [0xfd, 0xf8, 0xf8]);
    let info = video_info(&config.encode()).unwrap();
    assert_eq!((info.width, info.height), (320, 240));
    assert_eq!(info.profile.as_deref(), Some("Main"));
    assert_eq!(info.level, Some(2.0));
    assert_eq!(info.fps, Some(25.0));
}

#[test]
fn fps_falls_back_to_vps_then_avg_frame_rate() {
    // the x265 SPS cut before its VUI timing still parses, without fps
    let sps = hex(X265_SPS);
    let cut = &sps[..sps.len() - 10];
    assert_eq!(Sps::parse(cut).unwrap().fps, None);
    let (vps, pps) = (vps_with_timing_nal(), hex(X265_PPS));
    let mut config = HevcConfig::from_parameter_sets(&[&vps], &[cut], &[&pps]).unwrap();
    assert_eq!(video_info(&config.encode()).unwrap().fps, Some(25.0));
    config.arrays.retain(|a| a.nal_type != NAL_VPS);
    assert_eq!(video_info(&config.encode()).unwrap().fps, None);
    config.header[19..21].copy_from_slice(&(50u16 * 256 / 2).to_be_bytes());
    assert_eq!(video_info(&config.encode()).unwrap().fps, Some(25.0));
}

#[test]
fn errors() {
    assert!(Sps::parse(&[]).is_err());
    assert!(Sps::parse(&[0x42]).is_err());
    let err = Sps::parse(&hex(X265_VPS)).unwrap_err();
    assert!(err.to_string().contains("not a sps"), "{err}");
    let err = Vps::parse(&hex(X265_SPS)).unwrap_err();
    assert!(
        matches!(&err, Error::BadVps(why) if why.contains("not a vps")),
        "{err}"
    );
    assert!(matches!(
        video_info(&[1, 2]),
        Err(Error::TruncatedConfig { offset: 0 })
    ));
    let mut empty = [0u8; 23];
    empty[0] = 1;
    assert_eq!(video_info(&empty), Err(Error::MissingParameterSet("sps")));
    let full = hex(X265_SPS);
    for n in 0..20 {
        assert!(Sps::parse(&full[..n]).is_err(), "{n} bytes");
    }
}

#[test]
fn profile_from_compatibility_flags() {
    let mut ptl = Sps::parse(&hex(X265_SPS)).unwrap().profile_tier_level;
    ptl.general_profile_idc = 0;
    ptl.general_profile_compatibility_flags = 1 << (31 - 2);
    assert_eq!(ptl.profile_name(), "Main 10");
    ptl.general_profile_idc = 9;
    assert_eq!(ptl.profile_name(), "9");
}

/// One `st_ref_pic_set()` to write.
#[derive(Debug, Clone)]
enum Rps {
    /// Explicit: `delta_poc_s0_minus1` and `delta_poc_s1_minus1` values.
    Explicit(Vec<u32>, Vec<u32>),
    /// Inter prediction from the previous set: sign, abs_delta_rps_minus1,
    /// and (used_by_curr_pic_flag, use_delta_flag) pairs (as many as needed are taken).
    Inter(bool, u32, Vec<(bool, bool)>),
}

/// Everything the test SPS writer can vary.
#[derive(Debug, Clone)]
struct Spec {
    vps_id: u8,
    sub_layers: Vec<(Option<u8>, Option<u8>)>,
    nesting: bool,
    ptl: (u8, bool, u8, u32, u64, u8),
    sps_id: u32,
    chroma: u8,
    separate: bool,
    size: (u32, u32),
    window: Option<Crop>,
    depths: (u32, u32),
    poc_lsb_minus4: u32,
    ordering_all: bool,
    scaling: Option<Option<Vec<bool>>>,
    pcm: bool,
    rps: Vec<Rps>,
    long_term: Option<Vec<(u32, bool)>>,
    mvp: bool,
    smoothing: bool,
    sar_idc: Option<(u8, u16, u16)>,
    field_seq: bool,
    display_window: bool,
    timing: Option<(u32, u32, bool)>,
}

impl Spec {
    fn write(&self) -> Vec<u8> {
        let mut w = BitWriter::new();
        w.put(4, self.vps_id.into());
        w.put(3, self.sub_layers.len() as u64);
        w.put(1, self.nesting.into());
        let (space, tier, idc, compat, constraints, level) = self.ptl;
        w.put(2, space.into());
        w.put(1, tier.into());
        w.put(5, idc.into());
        w.put(32, compat.into());
        w.put(48, constraints);
        w.put(8, level.into());
        for (p, l) in &self.sub_layers {
            w.put(1, p.is_some().into());
            w.put(1, l.is_some().into());
        }
        if !self.sub_layers.is_empty() {
            w.put(2 * (8 - self.sub_layers.len() as u32), 0);
        }
        for (p, l) in &self.sub_layers {
            if let Some(p) = p {
                w.put(3, 0b101);
                w.put(5, (*p).into());
                w.put(32, 0x4000_0000);
                w.put(48, 0xb000_0000_0000);
            }
            if let Some(l) = l {
                w.put(8, (*l).into());
            }
        }
        w.ue(self.sps_id);
        w.ue(self.chroma.into());
        if self.chroma == 3 {
            w.put(1, self.separate.into());
        }
        w.ue(self.size.0);
        w.ue(self.size.1);
        write_crop(&mut w, self.window);
        w.ue(self.depths.0);
        w.ue(self.depths.1);
        w.ue(self.poc_lsb_minus4);
        w.put(1, self.ordering_all.into());
        let n = if self.ordering_all {
            self.sub_layers.len() + 1
        } else {
            1
        };
        for i in 0..n {
            w.ue(4 + i as u32);
            w.ue(2);
            w.ue(0);
        }
        w.ue(0); // log2_min_luma_coding_block_size_minus3
        w.ue(3);
        w.ue(0);
        w.ue(3);
        w.ue(4);
        w.ue(4);
        w.put(1, self.scaling.is_some().into());
        if let Some(data) = &self.scaling {
            w.put(1, data.is_some().into());
            if let Some(modes) = data {
                let mut k = 0;
                for size_id in 0..4u32 {
                    for _ in (0..6).step_by(if size_id == 3 { 3 } else { 1 }) {
                        let explicit = modes[k % modes.len()];
                        k += 1;
                        w.put(1, explicit.into());
                        if !explicit {
                            w.ue(k as u32 % 3);
                        } else {
                            if size_id > 1 {
                                w.se(-3);
                            }
                            for c in 0..64.min(1 << (4 + 2 * size_id)) {
                                w.se(c % 5 - 2);
                            }
                        }
                    }
                }
            }
        }
        w.put(2, 0b11);
        w.put(1, self.pcm.into());
        if self.pcm {
            w.put(8, 0x77);
            w.ue(0);
            w.ue(1);
            w.put(1, 1);
        }
        self.write_rps(&mut w);
        w.put(1, self.long_term.is_some().into());
        if let Some(lt) = &self.long_term {
            w.ue(lt.len() as u32);
            for (lsb, used) in lt {
                w.put(self.poc_lsb_minus4 + 4, (*lsb).into());
                w.put(1, (*used).into());
            }
        }
        w.put(1, self.mvp.into());
        w.put(1, self.smoothing.into());
        w.put(1, 1); // vui_parameters_present_flag
        write_sar(&mut w, self.sar_idc);
        w.put(1, 1); // overscan
        w.put(1, 1);
        w.put(1, 1); // video signal type, colour description
        w.put(4, 0b0101);
        w.put(1, 1);
        w.put(24, 0x010101);
        w.put(1, 1); // chroma loc
        w.ue(0);
        w.ue(3);
        w.put(1, 0);
        w.put(1, self.field_seq.into());
        w.put(1, 1);
        w.put(1, self.display_window.into());
        if self.display_window {
            for v in [1, 2, 3, 4] {
                w.ue(v);
            }
        }
        w.put(1, self.timing.is_some().into());
        if let Some((n, s, f)) = self.timing {
            w.put(32, n.into());
            w.put(32, s.into());
            w.put(1, f.into());
            if f {
                w.ue(0);
            }
            w.put(1, 0); // hrd
        }
        w.put(1, 0); // bitstream_restriction_flag
        w.put(1, 0); // sps_extension_present_flag
        w.put(1, 1); // rbsp_stop_one_bit
        let mut nal = vec![0x42, 0x01];
        nal.extend(crate::nal::escape_rbsp(&w.finish()));
        nal
    }

    /// Writes the short-term sets, modelling their delta POCs as a sorted
    /// set of values (independently of the parser's eqs. 7-61/7-62).
    fn write_rps(&self, w: &mut BitWriter) {
        w.ue(self.rps.len() as u32);
        let mut prev: Vec<i64> = Vec::new();
        for (i, rps) in self.rps.iter().enumerate() {
            match rps {
                Rps::Inter(sign, abs_minus1, flags) if i > 0 => {
                    w.put(1, 1);
                    w.put(1, (*sign).into());
                    w.ue(*abs_minus1);
                    let delta = if *sign { -1 } else { 1 } * (i64::from(*abs_minus1) + 1);
                    let mut next = Vec::new();
                    for (j, old) in prev.iter().map(Some).chain([None]).enumerate() {
                        let (used, use_delta) = flags[j % flags.len()];
                        w.put(1, used.into());
                        if !used {
                            w.put(1, use_delta.into());
                        }
                        let d = old.map_or(delta, |o| o + delta);
                        if (used || use_delta) && d != 0 {
                            next.push(d);
                        }
                    }
                    next.sort_by_key(|d| (*d > 0, d.abs()));
                    prev = next;
                }
                other => {
                    let (neg, pos) = match other {
                        Rps::Explicit(n, p) => (n.clone(), p.clone()),
                        Rps::Inter(..) => (vec![0], vec![]),
                    };
                    if i > 0 {
                        w.put(1, 0);
                    }
                    w.ue(neg.len() as u32);
                    w.ue(pos.len() as u32);
                    prev.clear();
                    let mut poc = 0;
                    for d in neg {
                        w.ue(d);
                        w.put(1, 1);
                        poc -= i64::from(d) + 1;
                        prev.push(poc);
                    }
                    poc = 0;
                    for d in pos {
                        w.ue(d);
                        w.put(1, 0);
                        poc += i64::from(d) + 1;
                        prev.push(poc);
                    }
                }
            }
        }
    }

    fn expected_size(&self) -> (u32, u32) {
        let (sw, sh) = match self.chroma {
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        let c = self.window.unwrap_or_default();
        (
            self.size.0 - sw * (c.left + c.right),
            self.size.1 - sh * (c.top + c.bottom),
        )
    }
}

fn rps() -> impl Strategy<Value = Rps> {
    prop_oneof![
        (
            prop::collection::vec(0u32..5, 0..5),
            prop::collection::vec(0u32..5, 0..5)
        )
            .prop_map(|(n, p)| Rps::Explicit(n, p)),
        (
            any::<bool>(),
            0u32..6,
            prop::collection::vec(any::<(bool, bool)>(), 1..10)
        )
            .prop_map(|(s, a, f)| Rps::Inter(s, a, f)),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    let sub_layer = (
        prop::option::of(any::<u8>().prop_map(|v| v & 31)),
        prop::option::of(any::<u8>()),
    );
    let ptl = (
        0u8..4,
        any::<bool>(),
        0u8..32,
        any::<u32>(),
        any::<u64>().prop_map(|v| v >> 16),
        any::<u8>(),
    );
    (
        (
            0u8..16,
            prop::collection::vec(sub_layer, 0..=6),
            any::<bool>(),
            ptl,
            0u32..=15,
            0u8..=3,
            any::<bool>(),
        ),
        (
            (17u32..2000, 17u32..2000),
            crop(),
            (0u32..=8, 0u32..=8),
            0u32..=12,
            any::<bool>(),
        ),
        (
            prop::option::of(prop::option::of(prop::collection::vec(any::<bool>(), 1..20))),
            any::<bool>(),
            prop::collection::vec(rps(), 0..8),
            prop::option::of(prop::collection::vec(
                (any::<u16>().prop_map(u32::from), any::<bool>()),
                0..5,
            )),
        ),
        (
            any::<bool>(),
            any::<bool>(),
            sar(),
            any::<bool>(),
            any::<bool>(),
            prop::option::of(any::<(u32, u32, bool)>()),
        ),
    )
        .prop_map(|(a, b, c, d)| Spec {
            vps_id: a.0,
            sub_layers: a.1,
            nesting: a.2,
            ptl: a.3,
            sps_id: a.4,
            chroma: a.5,
            separate: a.6,
            size: b.0,
            window: b.1,
            depths: b.2,
            poc_lsb_minus4: b.3,
            ordering_all: b.4,
            scaling: c.0,
            pcm: c.1,
            rps: c.2,
            long_term: c.3,
            mvp: d.0,
            smoothing: d.1,
            sar_idc: d.2,
            field_seq: d.3,
            display_window: d.4,
            timing: d.5,
        })
        .prop_map(|mut s| {
            // long-term lsb values must fit log2_max_pic_order_cnt_lsb bits
            let bits = s.poc_lsb_minus4 + 4;
            if let Some(lt) = &mut s.long_term {
                for (lsb, _) in lt.iter_mut() {
                    *lsb &= (1 << bits) - 1;
                }
            }
            s
        })
}

fn hevc_config() -> impl Strategy<Value = HevcConfig> {
    let unit = prop::collection::vec(any::<u8>(), 0..30).prop_map(Bytes::from);
    let array = (any::<bool>(), 0u8..64, prop::collection::vec(unit, 0..3)).prop_map(
        |(complete, nal_type, units)| NalArray {
            complete,
            nal_type,
            units,
        },
    );
    (
        prop::collection::vec(any::<u8>(), 22),
        prop::sample::select(vec![1u8, 2, 4]),
        prop::collection::vec(array, 0..4),
    )
        .prop_map(|(h, length_size, arrays)| {
            let mut header = [0u8; 22];
            header.copy_from_slice(&h);
            header[21] = (header[21] & !3) | (length_size - 1);
            HevcConfig {
                header,
                length_size,
                arrays,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn written_sps_parses_back(spec in spec()) {
        let sps = Sps::parse(&spec.write()).unwrap();
        let ptl = &sps.profile_tier_level;
        prop_assert_eq!(sps.sps_video_parameter_set_id, spec.vps_id);
        prop_assert_eq!(usize::from(sps.max_sub_layers), spec.sub_layers.len() + 1);
        prop_assert_eq!(sps.temporal_id_nesting, spec.nesting);
        prop_assert_eq!(
            (ptl.general_profile_space, ptl.general_tier_flag, ptl.general_profile_idc,
             ptl.general_profile_compatibility_flags, ptl.general_constraint_flags, ptl.general_level_idc),
            spec.ptl
        );
        let subs: Vec<(Option<u8>, Option<u8>)> = ptl.sub_layers.iter().map(|s| (s.profile_idc, s.level_idc)).collect();
        prop_assert_eq!(subs, spec.sub_layers.clone());
        prop_assert_eq!(sps.sps_seq_parameter_set_id, spec.sps_id);
        prop_assert_eq!(sps.chroma_format_idc, spec.chroma);
        prop_assert_eq!(sps.separate_colour_plane, spec.chroma == 3 && spec.separate);
        prop_assert_eq!((sps.pic_width_in_luma_samples, sps.pic_height_in_luma_samples), spec.size);
        prop_assert_eq!(sps.conformance_window, spec.window.unwrap_or_default());
        prop_assert_eq!((sps.width, sps.height), spec.expected_size());
        prop_assert_eq!((u32::from(sps.bit_depth_luma), u32::from(sps.bit_depth_chroma)), (spec.depths.0 + 8, spec.depths.1 + 8));
        prop_assert_eq!(u32::from(sps.log2_max_pic_order_cnt_lsb), spec.poc_lsb_minus4 + 4);
        prop_assert_eq!(sps.num_short_term_ref_pic_sets as usize, spec.rps.len());
        prop_assert_eq!(sps.num_long_term_ref_pics as usize, spec.long_term.as_ref().map_or(0, Vec::len));
        // these follow the reference picture sets: right only if every set was read exactly
        prop_assert_eq!((sps.temporal_mvp, sps.strong_intra_smoothing), (spec.mvp, spec.smoothing));
        prop_assert_eq!(sps.sar, expected_sar(spec.sar_idc));
        prop_assert_eq!(sps.field_seq, spec.field_seq);
        let timing = spec.timing.map(|(n, s, f)| Timing { num_units_in_tick: n, time_scale: s, fixed: f });
        prop_assert_eq!(sps.timing, timing);
        let fps = spec.timing.and_then(|(n, s, _)| (n > 0 && s > 0).then(|| f64::from(s) / f64::from(n)));
        prop_assert_eq!(sps.fps, fps);
    }

    #[test]
    fn hvcc_round_trip(config in hevc_config()) {
        let parsed = HevcConfig::parse(&config.encode()).unwrap();
        prop_assert_eq!(parsed, config);
    }

    #[test]
    fn arbitrary_bytes_never_panic(mut data in prop::collection::vec(any::<u8>(), 0..100)) {
        let _ = video_info(&data);
        let _ = HevcConfig::parse(&data);
        let _ = Vps::parse(&data);
        if data.len() >= 2 {
            data[0] = 0x42;
            data[1] = 0x01;
        }
        let _ = Sps::parse(&data);
        let _ = sps_format(&data);
    }

    #[test]
    fn corrupted_real_sps_never_panics(pos in 2usize..42, byte in any::<u8>(), cut in 0usize..43) {
        let mut data = hex(X265_SPS);
        data[pos] = byte;
        data.truncate(cut.max(2));
        let _ = Sps::parse(&data);
    }
}
