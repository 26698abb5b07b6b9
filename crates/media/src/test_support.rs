//! Helpers shared by the unit tests of the H.264 and H.265 parameter set
//! parsers: test vectors, and the SPS fields that both codecs write alike.

use proptest::prelude::*;

use crate::bits::BitWriter;
use crate::h264::Crop;

/// The bytes of a hex string.
pub(crate) fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Cropping offsets of 0 to 3 units on each side, or none.
pub(crate) fn crop() -> impl Strategy<Value = Option<Crop>> {
    prop::option::of(
        (0u32..4, 0u32..4, 0u32..4, 0u32..4).prop_map(|(left, right, top, bottom)| Crop {
            left,
            right,
            top,
            bottom,
        }),
    )
}

/// An `aspect_ratio_idc` (0 to 16, or 255 with an explicit ratio) and the
/// explicit `sar_width` and `sar_height`, or none.
pub(crate) fn sar() -> impl Strategy<Value = Option<(u8, u16, u16)>> {
    prop::option::of((0u8..=17, any::<u16>(), any::<u16>()).prop_map(|(i, w, h)| {
        let idc = if i == 17 { 255 } else { i };
        (idc, w, h)
    }))
}

/// Writes a cropping flag and, when set, the four `ue(v)` offsets.
pub(crate) fn write_crop(w: &mut BitWriter, crop: Option<Crop>) {
    w.put(1, crop.is_some().into());
    if let Some(c) = crop {
        for v in [c.left, c.right, c.top, c.bottom] {
            w.ue(v);
        }
    }
}

/// Writes `aspect_ratio_info_present_flag` and, when set, the aspect ratio
/// fields of a VUI.
pub(crate) fn write_sar(w: &mut BitWriter, sar: Option<(u8, u16, u16)>) {
    w.put(1, sar.is_some().into());
    if let Some((idc, sw, sh)) = sar {
        w.put(8, idc.into());
        if idc == 255 {
            w.put(16, sw.into());
            w.put(16, sh.into());
        }
    }
}

/// The sample aspect ratio a parser reports for what [`write_sar`] wrote.
pub(crate) fn expected_sar(sar: Option<(u8, u16, u16)>) -> Option<(u16, u16)> {
    sar.and_then(|(idc, w, h)| {
        if idc == 255 {
            Some((w, h))
        } else {
            crate::h264::sar_from_idc(idc)
        }
    })
}
