//! MPEG-TS demuxer and muxer against real ffmpeg/ffprobe output.
//!
//! Skipped (with a message) when ffmpeg or ffprobe is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use media::container::Demuxed;
use media::{Codec, Frame, ts};

/// One packet as ffprobe lists it.
#[derive(Debug, Clone, PartialEq)]
struct Probed {
    pts: i64,
    dts: i64,
    size: usize,
    key: bool,
}

fn tools_available() -> bool {
    let ok = |bin: &str| {
        Command::new(bin)
            .arg("-version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if ok("ffmpeg") && ok("ffprobe") {
        true
    } else {
        eprintln!("skipping: ffmpeg/ffprobe not installed");
        false
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("media-ts-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn generate(dir: &Path, video_codec: &str) -> Vec<u8> {
    let path = dir.join("in.ts");
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000"])
        .args(["-t", "2", "-c:v", video_codec, "-g", "25", "-bf", "2"]);
    if video_codec == "libx265" {
        cmd.args(["-x265-params", "log-level=error"]);
    }
    cmd.args(["-c:a", "aac", "-f", "mpegts"]).arg(&path);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&path).unwrap()
}

/// ffprobe's packets per PID, in file order.
fn probe(path: &Path) -> Vec<(u32, Vec<Probed>)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_streams", "-show_packets", "-of", "json"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut streams: Vec<(u32, Vec<Probed>)> = json["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let id = s["id"].as_str().unwrap();
            (
                u32::from_str_radix(id.trim_start_matches("0x"), 16).unwrap(),
                Vec::new(),
            )
        })
        .collect();
    for p in json["packets"].as_array().unwrap() {
        let index = p["stream_index"].as_u64().unwrap() as usize;
        streams[index].1.push(Probed {
            pts: p["pts"].as_i64().unwrap(),
            dts: p["dts"].as_i64().unwrap(),
            size: p["size"].as_str().unwrap().parse().unwrap(),
            key: p["flags"].as_str().unwrap().starts_with('K'),
        });
    }
    streams
}

fn frames_of(d: &Demuxed, track: u32) -> Vec<&Frame> {
    d.frames.iter().filter(|f| f.track == track).collect()
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
fn compare_with_probe(d: &Demuxed, probed: &[(u32, Vec<Probed>)], exact_video_sizes: bool) -> usize {
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
            assert_eq!(f.keyframe, p.key, "keyframe flag of {at}");
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
    if !tools_available() {
        return;
    }
    let dir = temp_dir(name);
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
    let short = compare_with_probe(&demuxed, &probe(&dir.join("in.ts")), false);
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
    let out_path = dir.join("out.ts");
    std::fs::write(&out_path, &output).unwrap();
    compare_with_probe(&again, &probe(&out_path), true);
    let decode = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&out_path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(decode.status.success());
    assert_eq!(
        String::from_utf8_lossy(&decode.stderr),
        "",
        "ffmpeg decode errors"
    );
    assert!(decode.stdout.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn h264_aac_matches_ffprobe_and_round_trips() {
    check_file("h264", "libx264", Codec::H264);
}

#[test]
fn h265_aac_matches_ffprobe_and_round_trips() {
    check_file("h265", "libx265", Codec::H265);
}
