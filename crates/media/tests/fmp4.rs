//! Fragmented MP4 writer tests: structure (box walker), real peers (ffprobe
//! packet lists, ffmpeg decoding) and property tests.
//!
//! Input frames are built without any MP4 reader: ffmpeg writes Annex-B
//! H.264/H.265, ADTS AAC, Ogg Opus or IVF VP8, which are split here.

mod support;

use std::path::Path;

use bytes::Bytes;
use media::{Codec, Frame, Timestamp, Track, fmp4};
use proptest::prelude::*;
use support::{PacketInfo, be32, boxes, child};
use testkit::{
    SINE, TESTSRC, TempDir, decode, ffmpeg, ffprobe_packets, ffprobe_streams, have_encoder, have_ffmpeg,
    lavfi, stream_packets,
};

// ---------------------------------------------------------------------------
// Sample tables (boxes come from the support box walker)

/// Per-sample values read back from a `trun`.
#[derive(Debug, Clone, PartialEq)]
struct ParsedSample {
    track_id: u32,
    dts: u64,
    duration: u32,
    size: u32,
    flags: u32,
    cts: i32,
}

/// Checks the file layout (ftyp, moov, then moof/mdat pairs with increasing
/// sequence numbers, every trun's data inside its mdat and tiling it) and
/// returns the samples per fragment.
fn check_structure(file: &[u8]) -> Vec<Vec<ParsedSample>> {
    let top = boxes(file);
    assert_eq!(top.iter().map(|b| b.size).sum::<usize>(), file.len());
    assert_eq!(&top[0].kind, b"ftyp");
    assert_eq!(&top[1].kind, b"moov");
    let moov = top[1].body;
    for k in [b"mvhd", b"mvex"] {
        child(moov, k);
    }
    let trex_ids: Vec<u32> = boxes(child(moov, b"mvex"))
        .iter()
        .map(|b| be32(b.body, 4))
        .collect();
    assert_eq!((top.len() - 2) % 2, 0, "moof/mdat pairs");
    let mut fragments = Vec::new();
    for (n, pair) in top[2..].chunks(2).enumerate() {
        let (moof, mdat) = (&pair[0], &pair[1]);
        assert_eq!(&moof.kind, b"moof");
        assert_eq!(&mdat.kind, b"mdat");
        let mdat_body_start = mdat.start + (mdat.size - mdat.body.len());
        assert_eq!(be32(child(moof.body, b"mfhd"), 4), n as u32 + 1);
        let mut covered = mdat_body_start;
        let mut samples = Vec::new();
        for traf in boxes(moof.body).iter().filter(|b| &b.kind == b"traf") {
            let tfhd = child(traf.body, b"tfhd");
            let tf_flags = be32(tfhd, 0) & 0xff_ffff;
            assert_ne!(tf_flags & 0x02_0000, 0, "default-base-is-moof");
            let track_id = be32(tfhd, 4);
            assert!(trex_ids.contains(&track_id));
            let mut at = 8;
            let mut take = |present: bool| {
                present.then(|| {
                    let v = be32(tfhd, at);
                    at += 4;
                    v
                })
            };
            assert_eq!(tf_flags & 0x03, 0);
            let (def_dur, def_size, def_flags) = (
                take(tf_flags & 8 != 0),
                take(tf_flags & 0x10 != 0),
                take(tf_flags & 0x20 != 0),
            );
            let tfdt = child(traf.body, b"tfdt");
            assert_eq!(tfdt[0], 1, "tfdt version 1");
            let mut dts = u64::from_be_bytes(tfdt[4..12].try_into().unwrap());
            let trun = child(traf.body, b"trun");
            let tr_flags = be32(trun, 0) & 0xff_ffff;
            let count = be32(trun, 4) as usize;
            assert_ne!(tr_flags & 1, 0, "data offset present");
            let data_offset = be32(trun, 8) as i32 as usize;
            let mut at = 12;
            let mut next = || {
                let v = be32(trun, at);
                at += 4;
                v
            };
            let first_flags = (tr_flags & 4 != 0).then(&mut next);
            let data_start = moof.start + data_offset;
            assert_eq!(
                data_start, covered,
                "trun data follows the previous traf's in mdat"
            );
            for i in 0..count {
                let duration = if tr_flags & 0x100 != 0 {
                    next()
                } else {
                    def_dur.unwrap()
                };
                let size = if tr_flags & 0x200 != 0 {
                    next()
                } else {
                    def_size.unwrap()
                };
                let flags = if tr_flags & 0x400 != 0 {
                    next()
                } else if i == 0 && first_flags.is_some() {
                    first_flags.unwrap()
                } else {
                    def_flags.unwrap()
                };
                let cts = if tr_flags & 0x800 != 0 { next() as i32 } else { 0 };
                samples.push(ParsedSample {
                    track_id,
                    dts,
                    duration,
                    size,
                    flags,
                    cts,
                });
                dts += u64::from(duration);
                covered += size as usize;
            }
            assert_eq!(at, trun.len(), "trun fully consumed");
        }
        assert_eq!(covered, mdat.start + mdat.size, "samples tile the mdat body");
        fragments.push(samples);
    }
    fragments
}

// ---------------------------------------------------------------------------
// Real peers

/// Track `id` and canonical frames (dts = pts = i * 3600 at 90 kHz) from an
/// Annex-B H.264 or H.265 stream.
fn video_frames_from(codec: Codec, data: &[u8], id: u32) -> (Track, Vec<Frame>) {
    let aus = support::access_units(&codec, data);
    let track = support::track_from_parameter_sets(id, codec, 90_000, &aus[0]);
    let frames = support::frames_from_aus(&track, &aus, 3600, 0);
    (track, frames)
}

/// 4 s of 320x240 H.264 or H.265 at 25 fps, GOP 25, no B-frames, with
/// access unit delimiters: dts = pts = i * 3600.
fn video_input(dir: &TempDir, codec: Codec, id: u32) -> (Track, Vec<Frame>) {
    let (file, encode): (&str, &[&str]) = match codec {
        Codec::H264 => (
            "in.h264",
            &[
                "-c:v",
                "libx264",
                "-g",
                "25",
                "-bf",
                "0",
                "-bsf:v",
                "h264_metadata=aud=insert",
                "-f",
                "h264",
            ],
        ),
        _ => (
            "in.hevc",
            &[
                "-c:v",
                "libx265",
                "-g",
                "25",
                "-x265-params",
                "log-level=error:bframes=0",
                "-bsf:v",
                "hevc_metadata=aud=insert",
                "-f",
                "hevc",
            ],
        ),
    };
    let path = dir.path(file);
    let mut args = lavfi(&[TESTSRC], "4");
    args.extend(encode);
    ffmpeg(&args, &path);
    video_frames_from(codec, &std::fs::read(&path).unwrap(), id)
}

/// 4 s of 48 kHz AAC from ADTS: dts = pts = i * 1024 at 48 kHz.
fn aac_input(dir: &TempDir, id: u32) -> (Track, Vec<Frame>) {
    let path = dir.path("in.aac");
    let mut args = lavfi(&[SINE], "4");
    args.extend(["-ac", "2", "-c:a", "aac", "-f", "adts"]);
    ffmpeg(&args, &path);
    let data = Bytes::from(std::fs::read(&path).unwrap());
    let mut frames = Vec::new();
    let mut pos = 0;
    let mut config = None;
    while pos < data.len() {
        let h = media::aac::AdtsHeader::parse(&data[pos..], pos).unwrap();
        config = Some(h.config);
        let ts = Timestamp::new(frames.len() as i64 * 1024, 48_000);
        frames.push(Frame::new(
            id,
            ts,
            ts,
            true,
            data.slice(pos + h.header_len..pos + h.frame_len),
        ));
        pos += h.frame_len;
    }
    let mut track = Track::new(id, Codec::Aac, 48_000);
    track.init = config.unwrap().encode();
    (track, frames)
}

/// 4 s of Opus (20 ms packets) from Ogg, with a dOps built from OpusHead.
fn opus_input(dir: &TempDir, id: u32) -> (Track, Vec<Frame>) {
    let path = dir.path("in.ogg");
    let mut args = lavfi(&[SINE], "4");
    args.extend([
        "-ac",
        "2",
        "-c:a",
        "libopus",
        "-frame_duration",
        "20",
        "-f",
        "ogg",
    ]);
    ffmpeg(&args, &path);
    let data = std::fs::read(&path).unwrap();
    let mut packets: Vec<Vec<u8>> = Vec::new();
    let mut partial = Vec::new();
    let mut pos = 0;
    while pos + 27 <= data.len() {
        assert_eq!(&data[pos..pos + 4], b"OggS");
        let segments = data[pos + 26] as usize;
        let lacing = &data[pos + 27..pos + 27 + segments];
        let mut body = pos + 27 + segments;
        for &l in lacing {
            partial.extend_from_slice(&data[body..body + l as usize]);
            body += l as usize;
            if l < 255 {
                packets.push(std::mem::take(&mut partial));
            }
        }
        pos = body;
    }
    let head = &packets[0];
    assert_eq!(&head[..8], b"OpusHead");
    let mut dops = vec![0, head[9]];
    dops.extend_from_slice(&u16::from_le_bytes([head[10], head[11]]).to_be_bytes());
    dops.extend_from_slice(&u32::from_le_bytes(head[12..16].try_into().unwrap()).to_be_bytes());
    dops.extend_from_slice(&i16::from_le_bytes([head[16], head[17]]).to_be_bytes());
    dops.push(head[18]);
    let mut track = Track::new(id, Codec::Opus, 48_000);
    track.init = dops.into();
    let frames = packets[2..]
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let ts = Timestamp::new(i as i64 * 960, 48_000);
            Frame::new(id, ts, ts, true, p.clone())
        })
        .collect();
    (track, frames)
}

/// 4 s of 320x240 VP8 at 25 fps, a key frame every second and no hidden
/// (alt-ref) frames, from IVF: dts = pts = i * 3600, the size from the
/// first key frame.
fn vp8_input(dir: &TempDir, id: u32) -> (Track, Vec<Frame>) {
    let path = dir.path("in.ivf");
    let mut args = lavfi(&[TESTSRC], "4");
    args.extend([
        "-c:v",
        "libvpx",
        "-g",
        "25",
        "-auto-alt-ref",
        "0",
        "-lag-in-frames",
        "0",
        "-deadline",
        "realtime",
        "-f",
        "ivf",
    ]);
    ffmpeg(&args, &path);
    let data = Bytes::from(std::fs::read(&path).unwrap());
    assert_eq!(&data[..4], b"DKIF");
    let mut pos = usize::from(u16::from_le_bytes([data[6], data[7]]));
    let mut frames = Vec::new();
    while pos + 12 <= data.len() {
        let size = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let body = data.slice(pos + 12..pos + 12 + size);
        let ts = Timestamp::new(frames.len() as i64 * 3600, 90_000);
        frames.push(Frame::new(id, ts, ts, media::vp8::is_keyframe(&body), body));
        pos += 12 + size;
    }
    let mut track = Track::new(id, Codec::Vp8, 90_000);
    track.video = Some(media::vp8::video_info(&frames[0].data).unwrap());
    (track, frames)
}

/// What ffprobe should list for our frames, per stream in track order.
fn expected_packets(tracks: &[Track], frames: &[Frame]) -> Vec<Vec<PacketInfo>> {
    tracks
        .iter()
        .map(|t| {
            frames
                .iter()
                .filter(|f| f.track == t.id)
                .map(PacketInfo::from)
                .collect()
        })
        .collect()
}

/// ffprobe's packets of `path` per stream, for a file of `streams` streams.
fn probed_packets(path: &Path, streams: usize) -> Vec<Vec<PacketInfo>> {
    let packets = ffprobe_packets(path);
    assert!(
        packets.iter().all(|p| p.stream < streams),
        "ffprobe lists more than {streams} streams"
    );
    (0..streams)
        .map(|i| {
            stream_packets(&packets, i)
                .into_iter()
                .map(PacketInfo::from)
                .collect()
        })
        .collect()
}

/// Rebuilds `write_all`'s output from the streaming API, cutting at video
/// keyframes (or each second for audio only) as documented.
fn streamed(tracks: &[Track], frames: &[Frame], zero_copy: bool) -> Vec<u8> {
    let mut w = fmp4::FragmentWriter::new(tracks).unwrap();
    for t in tracks {
        let min = frames
            .iter()
            .filter(|f| f.track == t.id)
            .map(|f| f.dts.ticks())
            .min()
            .unwrap_or(0);
        if min < 0 {
            w.set_decode_shift(t.id, min.unsigned_abs()).unwrap();
        }
    }
    let cutter = tracks.iter().find(|t| t.codec.is_video()).unwrap_or(&tracks[0]);
    let video = cutter.codec.is_video();
    // Fragment of each cutter frame, and the times other tracks' frames are cut at.
    let mut bounds = Vec::new();
    let mut fragment_of = vec![0; frames.len()];
    let mut start = None;
    for (i, f) in frames.iter().enumerate().filter(|(_, f)| f.track == cutter.id) {
        let cut = match start {
            None => false,
            Some(_) if video => f.keyframe,
            Some(s) => f.dts.ticks() - s >= i64::from(cutter.timescale),
        };
        if cut {
            bounds.push(if video { f.pts } else { f.dts });
        }
        if cut || start.is_none() {
            start = Some(f.dts.ticks());
        }
        fragment_of[i] = bounds.len();
    }
    let secs = |t: Timestamp| t.ticks() as f64 / f64::from(t.timescale());
    let mut groups: Vec<Vec<&Frame>> = vec![Vec::new(); bounds.len() + 1];
    for (i, f) in frames.iter().enumerate() {
        let k = if f.track == cutter.id {
            fragment_of[i]
        } else {
            bounds.iter().filter(|b| secs(**b) <= secs(f.dts)).count()
        };
        groups[k].push(f);
    }
    let mut out = Vec::new();
    w.write_init(&mut out);
    for (k, group) in groups.iter().enumerate() {
        let next: Vec<(u32, Timestamp)> = tracks
            .iter()
            .filter_map(|t| {
                groups[k + 1..]
                    .iter()
                    .flatten()
                    .find(|f| f.track == t.id)
                    .map(|f| (t.id, f.dts))
            })
            .collect();
        if zero_copy {
            w.fragment(k as u32 + 1, group, &next).unwrap().write_to(&mut out);
        } else {
            w.write_fragment(k as u32 + 1, group, &next, &mut out).unwrap();
        }
    }
    out
}

/// Writes `tracks`/`frames`, then checks structure, ffprobe packets,
/// decoding, and the streaming API against `write_all`.
fn check_against_ffmpeg(name: &str, tracks: &[Track], frames: &[Frame]) -> Vec<u8> {
    check_against_ffmpeg_with(name, tracks, frames, true)
}

/// `strict_decode: false` tolerates the null muxer's complaint about frames
/// leaving the decoder with non-monotonic timestamps, which synthetic
/// reordering of a stream without B-frames causes.
fn check_against_ffmpeg_with(name: &str, tracks: &[Track], frames: &[Frame], strict_decode: bool) -> Vec<u8> {
    let dir = TempDir::new(&format!("fmp4-{name}"));
    let file = fmp4::write_all(tracks, frames).unwrap();
    let path = dir.path("out.mp4");
    std::fs::write(&path, &file).unwrap();

    let fragments = check_structure(&file);
    let samples: usize = fragments.iter().map(Vec::len).sum();
    assert_eq!(samples, frames.len());

    let got = probed_packets(&path, tracks.len());
    let want = expected_packets(tracks, frames);
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.len(), w.len(), "{name}: packet count");
        for (a, b) in g.iter().zip(w) {
            assert_eq!(a, b, "{name}");
        }
    }
    let errors = String::from_utf8_lossy(&decode(&path).stderr).into_owned();
    let errors: Vec<&str> = errors
        .lines()
        .filter(|l| strict_decode || !l.contains("non monotonically increasing dts to muxer"))
        .collect();
    assert!(errors.is_empty(), "{name}: ffmpeg decode errors: {errors:?}");
    assert_eq!(streamed(tracks, frames, false), file, "{name}: init + fragments");
    assert_eq!(
        streamed(tracks, frames, true),
        file,
        "{name}: zero-copy fragments"
    );
    file
}

/// Interleaves two tracks' frames by dts, as a demuxer would deliver them.
fn interleave(a: Vec<Frame>, b: Vec<Frame>) -> Vec<Frame> {
    let mut all: Vec<Frame> = a.into_iter().chain(b).collect();
    all.sort_by(|x, y| x.dts.as_secs_f64().total_cmp(&y.dts.as_secs_f64()));
    all
}

#[test]
fn h264_and_aac_match_ffprobe() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("fmp4-input-h264-aac");
    let (video, vf) = video_input(&dir, Codec::H264, 1);
    let (audio, af) = aac_input(&dir, 2);
    let frames = interleave(vf, af);
    let file = check_against_ffmpeg("h264-aac", &[video, audio], &frames);
    let fragments = check_structure(&file);
    assert_eq!(fragments.len(), 4, "one fragment per 1 s GOP");
    for samples in &fragments {
        assert_eq!(samples[0].flags, fmp4::SAMPLE_FLAGS_SYNC);
        assert!(samples.iter().any(|s| s.track_id == 2), "audio in every fragment");
    }
}

#[test]
fn h265_matches_ffprobe() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("fmp4-input-h265");
    let (video, frames) = video_input(&dir, Codec::H265, 1);
    let file = check_against_ffmpeg("h265", std::slice::from_ref(&video), &frames);
    let moov = boxes(&file)[1].body;
    let stsd = child(
        child(child(child(child(moov, b"trak"), b"mdia"), b"minf"), b"stbl"),
        b"stsd",
    );
    assert_eq!(&stsd[12..16], b"hvc1");
}

#[test]
fn aac_only_cuts_every_second() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("fmp4-input-aac");
    let (audio, frames) = aac_input(&dir, 7);
    let file = check_against_ffmpeg("aac", std::slice::from_ref(&audio), &frames);
    let fragments = check_structure(&file);
    assert!(
        (4..=5).contains(&fragments.len()),
        "{} fragments",
        fragments.len()
    );
    // All AAC frames share duration and flags: tfhd defaults, no per-sample fields but size.
    assert!(fragments[0].iter().all(|s| s.duration == 1024));
}

#[test]
fn opus_matches_ffprobe() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("fmp4-input-opus");
    let (audio, frames) = opus_input(&dir, 1);
    check_against_ffmpeg("opus", std::slice::from_ref(&audio), &frames);
}

#[test]
fn vp8_matches_ffprobe() {
    if !have_ffmpeg() || !have_encoder("libvpx") {
        return;
    }
    let dir = TempDir::new("fmp4-input-vp8");
    let (video, frames) = vp8_input(&dir, 1);
    assert_eq!(frames.iter().filter(|f| f.keyframe).count(), 4);
    let (audio, af) = opus_input(&dir, 2);
    let file = check_against_ffmpeg("vp8", &[video, audio], &interleave(frames, af));
    let moov = boxes(&file)[1].body;
    let stsd = child(
        child(child(child(child(moov, b"trak"), b"mdia"), b"minf"), b"stbl"),
        b"stsd",
    );
    assert_eq!(&stsd[12..16], b"vp08");
    let vp08 = &stsd[8..];
    let entry = &vp08[8..8 + 78]; // VisualSampleEntry fields before its boxes
    assert_eq!((be16(entry, 24), be16(entry, 26)), (320, 240));
    assert_eq!(&vp08[8 + 78 + 4..8 + 78 + 8], b"vpcC");

    let path = dir.path("vp8.mp4");
    std::fs::write(&path, &file).unwrap();
    let streams = ffprobe_streams(&path);
    assert_eq!(streams[0]["codec_name"], "vp8");
    assert_eq!(
        (streams[0]["width"].as_u64(), streams[0]["height"].as_u64()),
        (Some(320), Some(240))
    );
    assert_eq!(streams[1]["codec_name"], "opus");

    // and this crate's MP4 reader takes it back
    let read = media::mp4::read(&file).unwrap();
    assert_eq!(read.demuxed.tracks[0].codec, Codec::Vp8);
    let info = read.demuxed.tracks[0].video.clone().unwrap();
    assert_eq!((info.width, info.height), (320, 240));
    let back: Vec<&Frame> = read.demuxed.frames.iter().filter(|f| f.track == 1).collect();
    assert_eq!(back.len(), 100);
    assert!(back[0].keyframe && !back[1].keyframe);
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Real B-frames: libx264 with 2 B-frames into MPEG-TS, timestamps taken
/// from ffprobe on the TS, the elementary stream copied out of it. Times are
/// moved so the first pts is 0, which puts the first decode times below 0.
#[test]
fn real_b_frames_with_negative_dts_round_trip() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("fmp4-input-real-bframes");
    let ts = dir.path("in.ts");
    let es = dir.path("in.h264");
    let mut args = lavfi(&[TESTSRC], "4");
    args.extend(["-c:v", "libx264", "-g", "25", "-bf", "2", "-f", "mpegts"]);
    ffmpeg(&args, &ts);
    ffmpeg(
        &[
            "-i",
            ts.to_str().unwrap(),
            "-c:v",
            "copy",
            "-bsf:v",
            "h264_metadata=aud=insert",
            "-f",
            "h264",
        ],
        &es,
    );
    let times: Vec<PacketInfo> = ffprobe_packets(&ts).iter().map(PacketInfo::from).collect();
    let (track, mut frames) = video_frames_from(Codec::H264, &std::fs::read(&es).unwrap(), 1);
    assert_eq!(times.len(), frames.len());
    let base = times.iter().map(|p| p.pts).min().unwrap();
    for (f, p) in frames.iter_mut().zip(&times) {
        f.dts = Timestamp::new(p.dts - base, 90_000);
        f.pts = Timestamp::new(p.pts - base, 90_000);
        assert_eq!(f.keyframe, p.keyframe);
    }
    assert!(frames[0].dts.ticks() < 0);
    let (audio, af) = aac_input(&dir, 2);
    let file = check_against_ffmpeg("real-bframes", &[track, audio], &interleave(frames, af));
    let trak = child(boxes(&file)[1].body, b"trak");
    assert!(be32(child(child(trak, b"edts"), b"elst"), 12) > 0);
}

/// B-frame-like timing: decode order I P B B P B B ..., dts starting at
/// -2 frames, so the writer shifts decode times and writes an edit list.
#[test]
fn composition_offsets_and_negative_dts_round_trip() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("fmp4-input-bframes");
    let (video, mut vf) = video_input(&dir, Codec::H264, 1);
    let (audio, af) = aac_input(&dir, 2);
    for (i, f) in vf.iter_mut().enumerate() {
        // Display index within groups of three after frame 0: P shows two later, Bs one earlier.
        let i = i as i64;
        let display = match i {
            0 => 0,
            _ => match (i - 1) % 3 {
                0 => i + 2,
                _ => i - 1,
            },
        };
        f.dts = Timestamp::new((i - 2) * 3600, 90_000);
        f.pts = Timestamp::new(display * 3600, 90_000);
    }
    let frames = interleave(vf, af);
    let file = check_against_ffmpeg_with("bframes", &[video, audio], &frames, false);
    let fragments = check_structure(&file);
    assert!(fragments[0].iter().any(|s| s.cts != 0));
    assert_eq!(fragments[0][0].dts, 0, "tfdt is shifted to start at 0");
    let trak = child(boxes(&file)[1].body, b"trak");
    let elst = child(child(trak, b"edts"), b"elst");
    assert_eq!(be32(elst, 4), 1);
    assert_eq!(be32(elst, 12), 7200, "media_time = shift");
}

// ---------------------------------------------------------------------------
// Synthetic inputs

fn aac_track(id: u32) -> Track {
    let mut t = Track::new(id, Codec::Aac, 48_000);
    t.init = media::aac::AudioSpecificConfig {
        object_type: 2,
        sample_rate: 48_000,
        channels: 2,
    }
    .encode();
    t
}

fn avc_track(id: u32) -> Track {
    let sps: &[u8] = &[0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9];
    let pps: &[u8] = &[0x68, 0xeb, 0xe3, 0xcb];
    let mut t = Track::new(id, Codec::H264, 90_000);
    t.init = media::h264::AvcConfig::from_parameter_sets(&[sps], &[pps])
        .unwrap()
        .encode();
    t
}

fn frame(track: u32, dts: i64, pts: i64, key: bool, len: usize) -> Frame {
    Frame::new(
        track,
        Timestamp::new(dts, 90_000),
        Timestamp::new(pts, 90_000),
        key,
        vec![0xab; len],
    )
}

#[test]
fn errors_name_the_problem() {
    let other = Track::new(1, Codec::Other("vp8".into()), 90_000);
    assert!(matches!(
        fmp4::write_all(&[other], &[]),
        Err(fmp4::Error::UnsupportedCodec { track: 1, .. })
    ));
    let empty = Track::new(1, Codec::H264, 90_000);
    assert!(matches!(
        fmp4::write_all(&[empty], &[]),
        Err(fmp4::Error::MissingInit { track: 1, .. })
    ));
    let mut bad = Track::new(1, Codec::H264, 90_000);
    bad.init = Bytes::from_static(&[2, 0, 0]);
    assert!(matches!(
        fmp4::write_all(&[bad], &[]),
        Err(fmp4::Error::BadInit { track: 1, .. })
    ));
    let tracks = [avc_track(1)];
    let err = fmp4::write_all(&tracks, &[frame(1, 0, 0, true, 4), frame(9, 0, 0, true, 4)]).unwrap_err();
    assert_eq!(err, fmp4::Error::UnknownTrack { track: 9, frame: 1 });
    assert_eq!(err.to_string(), "frame 1 references unknown track 9");
    let err = fmp4::write_all(&tracks, &[frame(1, 10, 10, true, 4), frame(1, 5, 5, true, 4)]).unwrap_err();
    assert_eq!(err, fmp4::Error::DtsOutOfOrder { track: 1, frame: 1 });
    assert_eq!(
        fmp4::write_all(&[avc_track(1), avc_track(1)], &[]).unwrap_err(),
        fmp4::Error::DuplicateTrack(1)
    );
    let mut w = fmp4::FragmentWriter::new(&tracks).unwrap();
    let err = w
        .write_fragment(1, &[frame(1, -5, 0, true, 4)], &[], &mut Vec::new())
        .unwrap_err();
    assert!(matches!(err, fmp4::Error::NegativeDecodeTime { dts: -5, .. }));
}

#[test]
fn last_duration_comes_from_next_dts_or_repeats() {
    let tracks = [avc_track(1)];
    let mut w = fmp4::FragmentWriter::new(&tracks).unwrap();
    let frames = [frame(1, 0, 0, true, 10), frame(1, 3000, 3000, false, 20)];
    let mut out = Vec::new();
    w.write_init(&mut out);
    let init_len = out.len();
    w.write_fragment(1, &frames, &[(1, Timestamp::new(7000, 90_000))], &mut out)
        .unwrap();
    // Without next_dts the last duration repeats the previous one.
    w.write_fragment(
        2,
        &[frame(1, 7000, 7000, true, 5), frame(1, 9000, 9000, false, 5)],
        &[],
        &mut out,
    )
    .unwrap();
    // A lone frame repeats the last fragment's last duration.
    w.write_fragment(3, &[frame(1, 11000, 11000, false, 5)], &[], &mut out)
        .unwrap();
    let fragments = check_structure(&out);
    assert!(init_len > 0);
    let durations: Vec<Vec<u32>> = fragments
        .iter()
        .map(|f| f.iter().map(|s| s.duration).collect())
        .collect();
    assert_eq!(durations, [vec![3000, 4000], vec![2000, 2000], vec![2000]]);
    let flags: Vec<u32> = fragments[0].iter().map(|s| s.flags).collect();
    assert_eq!(flags, [fmp4::SAMPLE_FLAGS_SYNC, fmp4::SAMPLE_FLAGS_NON_SYNC]);
}

#[test]
fn track_id_zero_is_renumbered() {
    let tracks = [avc_track(0), aac_track(5)];
    let frames = [
        frame(0, 0, 0, true, 10),
        Frame::new(
            5,
            Timestamp::new(0, 48_000),
            Timestamp::new(0, 48_000),
            true,
            vec![1u8; 7],
        ),
    ];
    let file = fmp4::write_all(&tracks, &frames).unwrap();
    let fragments = check_structure(&file);
    let ids: Vec<u32> = fragments[0].iter().map(|s| s.track_id).collect();
    assert_eq!(ids, [1, 2]);
}

#[test]
fn init_segment_has_the_cmaf_header_boxes() {
    let mut init = Vec::new();
    fmp4::write_init(&[avc_track(1), aac_track(2)], &mut init).unwrap();
    let top = boxes(&init);
    let kinds: Vec<&[u8; 4]> = top.iter().map(|b| &b.kind).collect();
    assert_eq!(kinds, [b"ftyp", b"moov"]);
    assert_eq!(&top[0].body[..4], b"iso6");
    let moov = top[1].body;
    let traks: Vec<_> = boxes(moov).into_iter().filter(|b| &b.kind == b"trak").collect();
    assert_eq!(traks.len(), 2);
    for (trak, (handler, entry)) in traks.iter().zip([(b"vide", b"avc1"), (b"soun", b"mp4a")]) {
        let mdia = child(trak.body, b"mdia");
        assert_eq!(&child(mdia, b"hdlr")[8..12], handler);
        let stbl = child(child(mdia, b"minf"), b"stbl");
        assert_eq!(&child(stbl, b"stsd")[12..16], entry);
        for k in [b"stts", b"stsc", b"stsz", b"stco"] {
            child(stbl, k);
        }
    }
    assert_eq!(boxes(child(moov, b"mvex")).len(), 2);
}

// ---------------------------------------------------------------------------
// Properties

fn arbitrary_stream() -> impl Strategy<Value = (Vec<Track>, Vec<Frame>)> {
    let video = prop::collection::vec((0u32..5000, 0i64..8000, any::<bool>(), 0usize..300), 0..60);
    let audio = prop::collection::vec((0u32..3000, 0usize..50), 0..60);
    (video, audio, -20_000i64..20_000).prop_map(|(video, audio, start)| {
        let mut frames = Vec::new();
        let mut dts = start;
        for (step, cts, key, len) in video {
            frames.push(frame(1, dts, dts + cts, key, len));
            dts += i64::from(step);
        }
        let mut dts = 0;
        for (step, len) in audio {
            let ts = Timestamp::new(dts, 48_000);
            frames.push(Frame::new(2, ts, ts, true, vec![3u8; len]));
            dts += i64::from(step);
        }
        (vec![avc_track(1), aac_track(2)], interleave(frames, Vec::new()))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_frames_make_well_formed_files((tracks, frames) in arbitrary_stream()) {
        let file = fmp4::write_all(&tracks, &frames).unwrap();
        let fragments = check_structure(&file);
        let samples: usize = fragments.iter().map(Vec::len).sum();
        prop_assert_eq!(samples, frames.len());
        let payload: usize = frames.iter().map(|f| f.data.len()).sum();
        let sizes: usize = fragments.iter().flatten().map(|s| s.size as usize).sum();
        prop_assert_eq!(sizes, payload);
        // Per track, the samples read back are the frames: decode times
        // (tfdt plus durations, minus the shift), offsets, sizes, flags.
        for (id, mp4_id) in [(1u32, 1u32), (2, 2)] {
            let ours: Vec<&Frame> = frames.iter().filter(|f| f.track == id).collect();
            let theirs: Vec<&ParsedSample> = fragments.iter().flatten().filter(|s| s.track_id == mp4_id).collect();
            prop_assert_eq!(ours.len(), theirs.len());
            let shift = ours.iter().map(|f| f.dts.ticks()).min().unwrap_or(0).min(0);
            for (f, s) in ours.iter().zip(&theirs) {
                prop_assert_eq!(s.dts as i64 + shift, f.dts.ticks());
                prop_assert_eq!(i64::from(s.cts), f.pts.ticks() - f.dts.ticks());
                prop_assert_eq!(s.size as usize, f.data.len());
                let flags = if f.keyframe { fmp4::SAMPLE_FLAGS_SYNC } else { fmp4::SAMPLE_FLAGS_NON_SYNC };
                prop_assert_eq!(s.flags, flags);
            }
        }
    }

    #[test]
    fn hostile_frames_never_panic(
        raw in prop::collection::vec((0u32..4, any::<i64>(), any::<i64>(), any::<bool>(), 0usize..20), 0..30),
        timescale in any::<u32>(),
    ) {
        let frames: Vec<Frame> = raw
            .into_iter()
            .map(|(track, dts, pts, key, len)| {
                Frame::new(track, Timestamp::new(dts, timescale), Timestamp::new(pts, timescale), key, vec![0u8; len])
            })
            .collect();
        if let Ok(file) = fmp4::write_all(&[avc_track(1), aac_track(2)], &frames) {
            let top = boxes(&file);
            prop_assert_eq!(top.iter().map(|b| b.size).sum::<usize>(), file.len());
        }
    }
}
