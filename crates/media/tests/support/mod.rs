//! Test helpers that need `media` types, shared by the integration tests
//! (`mod support;`). Helpers that need only ffmpeg, ffprobe and the file
//! system live in `testkit`.

// Each test binary compiles this module and uses a part of it.
#![allow(dead_code)]

use std::path::Path;

use media::container::Demuxed;
use media::{Codec, Frame, Timestamp, Track, h264, h265};
use serde_json::Value;

// ---------------------------------------------------------------------------
// Annex-B streams

/// NAL unit type of an H.264 or H.265 unit.
pub(crate) fn nal_type(codec: &Codec, unit: &[u8]) -> u8 {
    match codec {
        Codec::H264 => h264::nal_type(unit),
        Codec::H265 => h265::nal_type(unit),
        other => panic!("{other} has no nal units"),
    }
}

/// Groups the NAL units of an Annex-B H.264 or H.265 stream into access
/// units (H.264 §7.4.1.2.3, H.265 §7.4.2.4.4): a new one starts at an access
/// unit delimiter, a parameter set or a prefix SEI, or at the first slice of
/// a picture, once the current one has a slice.
pub(crate) fn access_units<'a>(codec: &Codec, annexb: &'a [u8]) -> Vec<Vec<&'a [u8]>> {
    let mut aus: Vec<Vec<&[u8]>> = Vec::new();
    let mut has_slice = false;
    for unit in media::nal::split_annexb(annexb) {
        let t = nal_type(codec, unit);
        // first_mb_in_slice == 0 (H.264) and first_slice_segment_in_pic_flag
        // (H.265) are the first bit after the NAL header
        let first_slice_bit = |header: usize| unit.get(header).is_some_and(|b| b & 0x80 != 0);
        let (is_slice, starts) = match codec {
            Codec::H264 => {
                let is_slice = (1..=5).contains(&t);
                let starts = match t {
                    6..=9 | 14..=18 => true,
                    1 | 2 | 5 => first_slice_bit(1),
                    _ => false,
                };
                (is_slice, starts)
            }
            _ => {
                let is_slice = t < 32;
                let starts = match t {
                    32..=35 | 39 => true,
                    _ => is_slice && first_slice_bit(2),
                };
                (is_slice, starts)
            }
        };
        if aus.is_empty() || (has_slice && starts) {
            aus.push(Vec::new());
            has_slice = false;
        }
        has_slice |= is_slice;
        aus.last_mut().unwrap().push(unit);
    }
    aus
}

/// The units of NAL type `t` among `units`.
pub(crate) fn units_of_type<'a>(codec: &Codec, units: &[&'a [u8]], t: u8) -> Vec<&'a [u8]> {
    units
        .iter()
        .copied()
        .filter(|u| nal_type(codec, u) == t)
        .collect()
}

/// A video track whose decoder configuration (`avcC`, `hvcC`) is built from
/// the parameter sets among `units`.
pub(crate) fn track_from_parameter_sets(id: u32, codec: Codec, timescale: u32, units: &[&[u8]]) -> Track {
    let of_type = |t| units_of_type(&codec, units, t);
    let init = match codec {
        Codec::H264 => h264::AvcConfig::from_parameter_sets(&of_type(h264::NAL_SPS), &of_type(h264::NAL_PPS))
            .unwrap()
            .encode(),
        Codec::H265 => h265::HevcConfig::from_parameter_sets(
            &of_type(h265::NAL_VPS),
            &of_type(h265::NAL_SPS),
            &of_type(h265::NAL_PPS),
        )
        .unwrap()
        .encode(),
        ref other => panic!("{other} has no parameter sets"),
    };
    let mut track = Track::new(id, codec, timescale);
    track.init = init;
    track
}

/// Canonical frames of `track` from access units: frame `i` decodes at
/// `i * frame_ticks` and shows `cts` ticks later, in the track's timescale;
/// keyframes are the units with an IDR (H.264) or IRAP (H.265) slice.
pub(crate) fn frames_from_aus(track: &Track, aus: &[Vec<&[u8]>], frame_ticks: i64, cts: i64) -> Vec<Frame> {
    aus.iter()
        .enumerate()
        .map(|(i, au)| {
            let data = media::nal::join_length_prefixed(au.iter().copied());
            let key = match track.codec {
                Codec::H264 => h264::is_keyframe(&data),
                _ => h265::is_keyframe(&data),
            };
            let dts = Timestamp::new(i as i64 * frame_ticks, track.timescale);
            Frame::new(track.id, dts, dts.add_ticks(cts), key, data)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Our frames against ffprobe's packets

/// What the tests compare of a packet: ffprobe's or one of our frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PacketInfo {
    pub(crate) pts: i64,
    pub(crate) dts: i64,
    pub(crate) keyframe: bool,
    pub(crate) size: usize,
}

impl From<&testkit::Packet> for PacketInfo {
    fn from(p: &testkit::Packet) -> Self {
        Self {
            pts: p.pts.unwrap_or_else(|| panic!("packet without pts: {p:?}")),
            dts: p.dts.unwrap_or_else(|| panic!("packet without dts: {p:?}")),
            keyframe: p.keyframe,
            size: p.size,
        }
    }
}

impl From<&Frame> for PacketInfo {
    fn from(f: &Frame) -> Self {
        Self {
            pts: f.pts.ticks(),
            dts: f.dts.ticks(),
            keyframe: f.keyframe,
            size: f.data.len(),
        }
    }
}

/// ffprobe's streams of `file` (`-show_streams`), each with its packets.
pub(crate) fn probe_streams(file: &Path) -> Vec<(Value, Vec<PacketInfo>)> {
    let (streams, packets) = testkit::ffprobe_streams_and_packets(file);
    streams
        .into_iter()
        .enumerate()
        .map(|(i, stream)| {
            let of_stream = testkit::stream_packets(&packets, i);
            (stream, of_stream.into_iter().map(PacketInfo::from).collect())
        })
        .collect()
}

/// The frames of one track, in file order.
pub(crate) fn frames_of(d: &Demuxed, track: u32) -> Vec<&Frame> {
    d.frames.iter().filter(|f| f.track == track).collect()
}

// ---------------------------------------------------------------------------
// MP4 boxes

/// One box: type, offset of its header in the parent slice, and body.
#[derive(Debug)]
pub(crate) struct Mp4Box<'a> {
    pub(crate) kind: [u8; 4],
    pub(crate) start: usize,
    pub(crate) size: usize,
    pub(crate) body: &'a [u8],
}

/// Splits `data` into boxes; panics on malformed sizes.
pub(crate) fn boxes(data: &[u8]) -> Vec<Mp4Box<'_>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        assert!(pos + 8 <= data.len(), "box header cut at {pos}");
        let mut size = be32(data, pos) as usize;
        let kind: [u8; 4] = data[pos + 4..pos + 8].try_into().unwrap();
        let mut header = 8;
        if size == 1 {
            size = u64::from_be_bytes(data[pos + 8..pos + 16].try_into().unwrap()) as usize;
            header = 16;
        }
        assert!(
            size >= header && pos + size <= data.len(),
            "bad box size {size} at {pos}"
        );
        out.push(Mp4Box {
            kind,
            start: pos,
            size,
            body: &data[pos + header..pos + size],
        });
        pos += size;
    }
    out
}

/// The body of the first child box of type `kind`; panics when there is none.
pub(crate) fn child<'a>(parent: &'a [u8], kind: &[u8; 4]) -> &'a [u8] {
    boxes(parent)
        .into_iter()
        .find(|b| &b.kind == kind)
        .unwrap_or_else(|| panic!("no {} box", String::from_utf8_lossy(kind)))
        .body
}

/// The big-endian `u32` at byte `at`.
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}
