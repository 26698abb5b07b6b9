//! Codec parameter parsing and raw AAC (ADTS) files against real ffmpeg
//! output, checked with ffprobe.
//!
//! Findings these tests pin down:
//! - ffprobe's packet `size` for raw ADTS input includes the 7-byte header:
//!   it equals our frame payload length + 7 (ffmpeg writes no CRC).
//! - ffmpeg's adts muxer writes `adts_buffer_fullness` 0x7ff, as we do, so
//!   `write_all(read_all(file))` reproduces its files byte for byte.
//! - ffprobe reports H.264 `level` as `level_idc` and H.265 `level` as
//!   `general_level_idc`, i.e. our level ×10 and ×30.

use media::{adts, h264, h265, nal};
use serde_json::Value;
use testkit::{TempDir, ffmpeg, ffprobe_packets, ffprobe_streams, have_ffmpeg, lavfi};

/// "30000/1001" -> 29.97...
fn ratio(s: &str) -> f64 {
    let (n, d) = s.split_once('/').unwrap();
    n.parse::<f64>().unwrap() / d.parse::<f64>().unwrap()
}

/// Expected (chroma_format_idc, bit depth) of an ffprobe pix_fmt.
fn pix_fmt(s: &str) -> (u8, u8) {
    let depth = if s.contains("p10") { 10 } else { 8 };
    let chroma = if s.starts_with("yuv444") {
        3
    } else if s.starts_with("yuv422") {
        2
    } else {
        1
    };
    (chroma, depth)
}

/// One encoder run: `size`, `rate`, then extra ffmpeg output arguments.
struct VideoCase {
    name: &'static str,
    size: &'static str,
    rate: &'static str,
    args: &'static [&'static str],
}

/// Encodes a few frames to a raw Annex-B stream and returns its NAL units and
/// ffprobe's view of the stream.
fn encode(dir: &TempDir, case: &VideoCase, format: &str) -> (Vec<u8>, Value) {
    let out = dir.path(&format!("{}.{format}", case.name));
    let src = format!("testsrc2=size={}:rate={}", case.size, case.rate);
    let mut args = vec!["-f", "lavfi", "-i", &src, "-frames:v", "3"];
    args.extend(case.args);
    args.extend(["-f", format]);
    ffmpeg(&args, &out);
    let stream = ffprobe_streams(&out).swap_remove(0);
    (std::fs::read(&out).unwrap(), stream)
}

fn first_unit(data: &[u8], pred: impl Fn(&[u8]) -> bool) -> &[u8] {
    nal::split_annexb(data)
        .find(|u| pred(u))
        .expect("parameter set in stream")
}

fn check_video_info(case: &str, info: &media::VideoInfo, stream: &Value, level_scale: f64) {
    assert_eq!(
        u64::from(info.width),
        stream["width"].as_u64().unwrap(),
        "{case} width"
    );
    assert_eq!(
        u64::from(info.height),
        stream["height"].as_u64().unwrap(),
        "{case} height"
    );
    let fps = info.fps.expect("fps signalled");
    let want = ratio(stream["r_frame_rate"].as_str().unwrap());
    assert!((fps - want).abs() < 1e-6, "{case}: fps {fps}, ffprobe {want}");
    assert_eq!(
        info.profile.as_deref(),
        stream["profile"].as_str(),
        "{case} profile"
    );
    let level = (info.level.unwrap() * level_scale).round();
    assert_eq!(level, stream["level"].as_f64().unwrap(), "{case} level");
}

#[test]
fn h264_sps_matches_ffprobe() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("codecs-h264");
    let cases = [
        VideoCase {
            name: "qvga25",
            size: "320x240",
            rate: "25",
            args: &["-c:v", "libx264", "-g", "25", "-bf", "2"],
        },
        VideoCase {
            name: "hd30main",
            size: "1280x720",
            rate: "30",
            args: &["-c:v", "libx264", "-profile:v", "main"],
        },
        // odd macroblock count: frame cropping with 4:2:2 crop units, NTSC rate
        VideoCase {
            name: "crop422",
            size: "330x186",
            rate: "30000/1001",
            args: &["-c:v", "libx264", "-pix_fmt", "yuv422p"],
        },
        // field coding: frame_mbs_only_flag 0, map units are field macroblock pairs
        VideoCase {
            name: "interlaced",
            size: "320x240",
            rate: "25",
            args: &["-c:v", "libx264", "-x264-params", "interlaced=1"],
        },
        VideoCase {
            name: "high10",
            size: "320x240",
            rate: "25",
            args: &["-c:v", "libx264", "-pix_fmt", "yuv420p10le"],
        },
    ];
    for case in &cases {
        let (data, stream) = encode(&dir, case, "h264");
        let sps = first_unit(&data, |u| h264::nal_type(u) == h264::NAL_SPS);
        let pps = first_unit(&data, |u| h264::nal_type(u) == h264::NAL_PPS);
        let parsed = h264::Sps::parse(sps).unwrap();
        let (chroma, depth) = pix_fmt(stream["pix_fmt"].as_str().unwrap());
        assert_eq!(
            (parsed.chroma_format_idc, parsed.bit_depth_luma),
            (chroma, depth),
            "{}",
            case.name
        );
        assert_eq!(parsed.frame_mbs_only, case.name != "interlaced");
        check_video_info(case.name, &parsed.video_info(), &stream, 10.0);
        // the same through an avcC record
        let avcc = h264::AvcConfig::from_parameter_sets(&[sps], &[pps])
            .unwrap()
            .encode();
        assert_eq!(h264::video_info(&avcc).unwrap(), parsed.video_info());
    }
}

#[test]
fn h265_sps_matches_ffprobe() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("codecs-h265");
    const X265: &[&str] = &["-c:v", "libx265", "-x265-params", "log-level=error"];
    let cases = [
        VideoCase {
            name: "qvga25",
            size: "320x240",
            rate: "25",
            args: X265,
        },
        // conformance window in chroma units, Main 10, 24 fps
        VideoCase {
            name: "crop10bit",
            size: "330x186",
            rate: "24",
            args: &[
                "-c:v",
                "libx265",
                "-x265-params",
                "log-level=error",
                "-pix_fmt",
                "yuv420p10le",
            ],
        },
        VideoCase {
            name: "hd30",
            size: "1280x720",
            rate: "30000/1001",
            args: X265,
        },
    ];
    for case in &cases {
        let (data, stream) = encode(&dir, case, "hevc");
        let unit = |t| first_unit(&data, move |u| h265::nal_type(u) == t);
        let (vps, sps, pps) = (unit(h265::NAL_VPS), unit(h265::NAL_SPS), unit(h265::NAL_PPS));
        let parsed = h265::Sps::parse(sps).unwrap();
        let (chroma, depth) = pix_fmt(stream["pix_fmt"].as_str().unwrap());
        assert_eq!(
            h265::sps_format(sps).unwrap(),
            (chroma, depth, depth),
            "{}",
            case.name
        );
        check_video_info(case.name, &parsed.video_info(), &stream, 30.0);
        let hvcc = h265::HevcConfig::from_parameter_sets(&[vps], &[sps], &[pps])
            .unwrap()
            .encode();
        assert_eq!(h265::video_info(&hvcc).unwrap(), parsed.video_info());
        h265::Vps::parse(vps).unwrap();
    }
}

/// Encodes a 1-second sine to ADTS and checks our demuxer and muxer against
/// ffprobe and the file itself.
fn check_adts(test: &str, rate: u32, channels: u8) {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new(&format!("codecs-{test}"));
    let file = dir.path("sine.aac");
    let src = format!("sine=frequency=1000:sample_rate={rate}");
    let ch = channels.to_string();
    let mut args = lavfi(&[&src], "1");
    args.extend(["-ac", &ch, "-c:a", "aac", "-f", "adts"]);
    ffmpeg(&args, &file);
    let data = std::fs::read(&file).unwrap();
    let demuxed = adts::read_all(&data).unwrap();

    let track = &demuxed.tracks[0];
    assert_eq!((track.id, track.timescale), (adts::TRACK_ID, rate));
    let audio = track.audio.as_ref().unwrap();
    assert_eq!((audio.sample_rate, audio.channels), (rate, channels));
    let asc = media::aac::AudioSpecificConfig::parse(&track.init).unwrap();
    assert_eq!(
        (asc.object_type, asc.sample_rate, asc.channels),
        (2, rate, channels)
    );

    let packets = ffprobe_packets(&file);
    assert_eq!(demuxed.frames.len(), packets.len());
    for (i, (frame, packet)) in demuxed.frames.iter().zip(&packets).enumerate() {
        assert_eq!(
            frame.data.len() + 7,
            packet.size,
            "frame {i}: ffprobe counts the adts header"
        );
        let pts = packet.pts_time.unwrap();
        assert!((frame.pts.as_secs_f64() - pts).abs() < 1e-5, "frame {i} at {pts}");
        assert_eq!(frame.dts.ticks(), i as i64 * 1024);
        assert!(frame.keyframe);
    }
    let written = adts::write_all(&demuxed.tracks, &demuxed.frames).unwrap();
    assert!(written == data, "write_all does not reproduce ffmpeg's file");

    // the same stream with an ID3v2 tag in front demuxes to the same frames
    let tagged = dir.path("tagged.aac");
    ffmpeg(
        &[
            "-i",
            file.to_str().unwrap(),
            "-c",
            "copy",
            "-metadata",
            "title=tributary",
            "-write_id3v2",
            "1",
            "-f",
            "adts",
        ],
        &tagged,
    );
    let tagged = std::fs::read(&tagged).unwrap();
    assert!(tagged.starts_with(b"ID3"));
    assert_eq!(adts::read_all(&tagged).unwrap(), demuxed);

    // a cut-off last frame is an error naming where that frame starts
    let last = data.len() - demuxed.frames.last().unwrap().data.len() - 7;
    let err = adts::read_all(&data[..data.len() - 1]).unwrap_err();
    assert!(err.to_string().contains(&format!("at byte {last}")), "{err}");
}

#[test]
fn adts_48k_stereo_matches_ffprobe() {
    check_adts("adts_48k_stereo", 48000, 2);
}

#[test]
fn adts_44k_mono_matches_ffprobe() {
    check_adts("adts_44k_mono", 44100, 1);
}
