//! MPEG-TS demuxer and muxer against real ffmpeg/ffprobe output.
//!
//! Skipped (with a message) when ffmpeg or ffprobe is not installed.

mod support;

use std::path::Path;

use media::container::Demuxed;
use media::{Codec, Frame, ts};
use support::{PacketInfo, frames_of};
use testkit::{SINE, TESTSRC, TempDir, decode, ffmpeg, have_ffmpeg, lavfi, stream_id};

fn generate(dir: &TempDir, video_codec: &str) -> Vec<u8> {
    let path = dir.path("in.ts");
    let mut args = lavfi(&[TESTSRC, SINE], "2");
    args.extend(["-c:v", video_codec, "-g", "25", "-bf", "2"]);
    if video_codec == "libx265" {
        args.extend(["-x265-params", "log-level=error"]);
    }
    args.extend(["-c:a", "aac", "-f", "mpegts"]);
    ffmpeg(&args, &path);
    std::fs::read(&path).unwrap()
}

/// ffprobe's packets per PID, in file order.
fn probe(path: &Path) -> Vec<(u32, Vec<PacketInfo>)> {
    support::probe_streams(path)
        .into_iter()
        .map(|(stream, packets)| (stream_id(&stream), packets))
        .collect()
}

fn nal_count(f: &Frame) -> usize {
    media::nal::iter_length_prefixed(&f.data, 4).count()
}

/// Our frames of each track against ffprobe's packets of the same PID.
///
/// Sizes: ffprobe reports AAC packets with their 7-byte ADTS header, video
/// packets in Annex-B form. `exact_video_sizes`: our output uses 4-byte
/// start codes only, so Annex-B sizes equal our length-prefixed sizes;
/// ffmpeg's own files use some 3-byte start codes (x264/x265 write them
/// before SEI and slices of keyframes), so there ours are larger by one byte
/// per such unit. ffmpeg 5.1's HEVC parser splits access units at the
/// `00 00 01` inside the next unit's 4-byte start code, so it reports the
/// first H.265 packet one byte larger and the last one byte smaller.
fn compare_with_probe(d: &Demuxed, probed: &[(u32, Vec<PacketInfo>)], exact_video_sizes: bool) -> usize {
    assert_eq!(d.tracks.len(), probed.len(), "track count");
    let mut short_start_codes = 0;
    for (track, (pid, packets)) in d.tracks.iter().zip(probed) {
        assert_eq!(track.id, *pid, "tracks in pmt order");
        let ours = frames_of(d, track.id);
        assert_eq!(ours.len(), packets.len(), "frame count of pid {pid:#x}");
        let last = ours.len().saturating_sub(1);
        for (i, (f, p)) in ours.iter().zip(packets).enumerate() {
            let at = format!("pid {pid:#x} frame {i}");
            let parser_shift = match (&track.codec, i) {
                (Codec::H265, 0) => 1,
                (Codec::H265, i) if i == last => -1,
                _ => 0,
            };
            let probe_size = p.size as i64 - parser_shift;
            assert_eq!(f.pts.ticks(), p.pts, "pts of {at}");
            assert_eq!(f.dts.ticks(), p.dts, "dts of {at}");
            assert_eq!(f.keyframe, p.keyframe, "keyframe flag of {at}");
            if track.codec == Codec::Aac {
                assert_eq!(f.data.len() + 7, p.size, "size of {at}");
            } else if exact_video_sizes {
                assert_eq!(f.data.len() as i64, probe_size, "size of {at}");
            } else {
                let extra = f.data.len() as i64 - probe_size;
                assert!(
                    (0..=nal_count(f) as i64).contains(&extra),
                    "size of {at}: ours {} ffprobe {}",
                    f.data.len(),
                    p.size
                );
                short_start_codes += extra as usize;
            }
        }
    }
    short_start_codes
}

fn check_file(name: &str, video_codec: &str, codec: Codec) {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new(&format!("ts-{name}"));
    let input = generate(&dir, video_codec);

    // (a) our demuxer against ffprobe on ffmpeg's file
    let (demuxed, warnings) = ts::read_all_with_warnings(&input).unwrap();
    assert!(warnings.is_empty(), "warnings on ffmpeg's file: {warnings:?}");
    assert_eq!(demuxed.tracks.len(), 2);
    assert_eq!(demuxed.tracks[0].codec, codec);
    assert_eq!(demuxed.tracks[1].codec, Codec::Aac);
    assert!(
        demuxed
            .tracks
            .iter()
            .all(|t| !t.init.is_empty() && t.timescale == 90_000)
    );
    assert_eq!(
        demuxed.tracks[1]
            .audio
            .as_ref()
            .map(|a| (a.sample_rate, a.channels)),
        Some((48_000, 1))
    );
    let short = compare_with_probe(&demuxed, &probe(&dir.path("in.ts")), false);
    eprintln!("{name}: {short} nal units of ffmpeg's file had 3-byte start codes");

    // the incremental demuxer gives the same result whatever the chunking
    for step in [1usize, 187, 189, 4096] {
        let mut d = ts::Demuxer::new();
        for chunk in input.chunks(step) {
            d.feed(chunk);
        }
        d.finish();
        let mut frames = Vec::new();
        while let Some(e) = d.poll_event() {
            if let ts::Event::Frame(f) = e {
                frames.push(f);
            }
        }
        assert_eq!(frames, demuxed.frames, "chunks of {step}");
    }

    // (b) round trip through our muxer
    let output = ts::write_all(&demuxed.tracks, &demuxed.frames).unwrap();
    let again = ts::read_all(&output).unwrap();
    assert_eq!(again.tracks.len(), demuxed.tracks.len());
    for (a, b) in demuxed.tracks.iter().zip(&again.tracks) {
        assert_eq!(a.codec, b.codec);
        assert_eq!(a.init, b.init);
        let (fa, fb) = (frames_of(&demuxed, a.id), frames_of(&again, b.id));
        assert_eq!(fa.len(), fb.len());
        for (x, y) in fa.iter().zip(&fb) {
            assert_eq!(
                (x.pts, x.dts, x.keyframe, &x.data),
                (y.pts, y.dts, y.keyframe, &y.data)
            );
        }
    }

    // (c) ffprobe and ffmpeg on our output
    let out_path = dir.path("out.ts");
    std::fs::write(&out_path, &output).unwrap();
    compare_with_probe(&again, &probe(&out_path), true);
    let decode = decode(&out_path);
    assert_eq!(
        String::from_utf8_lossy(&decode.stderr),
        "",
        "ffmpeg decode errors"
    );
    assert!(decode.stdout.is_empty());
}

#[test]
fn h264_aac_matches_ffprobe_and_round_trips() {
    check_file("h264", "libx264", Codec::H264);
}

#[test]
fn h265_aac_matches_ffprobe_and_round_trips() {
    check_file("h265", "libx265", Codec::H265);
}
