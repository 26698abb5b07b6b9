//! Every container against real peers, through the format-independent
//! `media::container` API:
//!
//! - round trips are exact: demux -> our mux -> demux gives the same tracks and
//!   frames (timestamps, flags, payload bytes);
//! - ffprobe reads the files our muxers wrote as the same packets (count, pts,
//!   dts, keyframe flags, sizes) that our demuxer read in.
//!
//! Samples are H.264+AAC and H.265+AAC made by ffmpeg from `testsrc2`/`sine`.
//! ffmpeg 5.1 cannot put HEVC in FLV, so the H.265 FLV file is made by our
//! own muxer from the frames of ffmpeg's H.265 MP4.

mod support;

use media::container::{Demuxed, Format, demux, mux};
use media::{Codec, Frame, Track};
use support::frames_of;
use testkit::{TempDir, Video, ffprobe_packets, generate, have_ffmpeg, stream_packets};

/// Size ffprobe reports for a frame of ours in `format`: ADTS-framed AAC
/// (in TS and raw ADTS) carries a 7-byte header that our raw payloads do not.
fn container_size(format: Format, track: &Track, frame: &Frame) -> usize {
    match (format, &track.codec) {
        (Format::Ts | Format::Adts, Codec::Aac) => frame.data.len() + media::aac::ADTS_HEADER_LEN,
        _ => frame.data.len(),
    }
}

/// Asserts that two demuxed files hold the same media, tracks matched by order.
fn assert_same_media(what: &str, a: &Demuxed, b: &Demuxed) {
    assert_eq!(a.tracks.len(), b.tracks.len(), "{what}: track count");
    for (ta, tb) in a.tracks.iter().zip(&b.tracks) {
        assert_eq!(ta.codec, tb.codec, "{what}: codec");
        assert_eq!(ta.timescale, tb.timescale, "{what}: timescale of {}", ta.codec);
        assert_eq!(ta.video, tb.video, "{what}: video info");
        assert_eq!(ta.audio, tb.audio, "{what}: audio info");
        let (fa, fb) = (frames_of(a, ta.id), frames_of(b, tb.id));
        assert_eq!(fa.len(), fb.len(), "{what}: {} frame count", ta.codec);
        for (i, (x, y)) in fa.iter().zip(&fb).enumerate() {
            assert_eq!(x.dts, y.dts, "{what}: {} frame {i} dts", ta.codec);
            assert_eq!(x.pts, y.pts, "{what}: {} frame {i} pts", ta.codec);
            assert_eq!(x.keyframe, y.keyframe, "{what}: {} frame {i} keyframe", ta.codec);
            assert!(x.data == y.data, "{what}: {} frame {i} payload differs", ta.codec);
        }
    }
}

/// How strictly packet sizes are compared.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sizes {
    /// Exact: files written by our muxers (4-byte start codes in TS).
    Exact,
    /// Not compared for TS video: ffmpeg's TS files mix 3- and 4-byte start
    /// codes, while our payloads count 4 bytes of length per NAL unit.
    SourceFile,
}

/// Asserts that ffprobe lists exactly our frames for `file`.
fn assert_ffprobe_agrees(what: &str, format: Format, file: &std::path::Path, ours: &Demuxed, sizes: Sizes) {
    let packets = ffprobe_packets(file);
    for (index, track) in ours.tracks.iter().enumerate() {
        let theirs = stream_packets(&packets, index);
        let mine = frames_of(ours, track.id);
        assert_eq!(theirs.len(), mine.len(), "{what}: {} packet count", track.codec);
        for (i, (p, f)) in theirs.iter().zip(&mine).enumerate() {
            let ctx = format!("{what}: {} packet {i}", track.codec);
            let size = container_size(format, track, f);
            match (format, &track.codec, sizes) {
                (Format::Ts, Codec::H264 | Codec::H265, Sizes::SourceFile) => {}
                // ffmpeg 5.1's HEVC parser in TS reports the first packet one byte
                // larger and the last one byte smaller than the PES payloads hold
                (Format::Ts, Codec::H265, Sizes::Exact) if i == 0 || i + 1 == mine.len() => {
                    assert!(p.size.abs_diff(size) <= 1, "{ctx}: size {} vs {size}", p.size)
                }
                _ => assert_eq!(p.size, size, "{ctx}: size"),
            }
            assert_eq!(p.keyframe, f.keyframe, "{ctx}: keyframe");
            if format == Format::Adts {
                // raw ADTS has no timestamps: ffprobe counts samples in its own timebase
                let t = p.pts_time.unwrap();
                assert!(
                    (t - f.pts.as_secs_f64()).abs() < 1e-4,
                    "{ctx}: pts_time {t} vs {:?}",
                    f.pts
                );
            } else {
                assert_eq!(p.pts, Some(f.pts.ticks()), "{ctx}: pts");
                assert_eq!(p.dts, Some(f.dts.ticks()), "{ctx}: dts");
            }
        }
    }
}

/// Demuxes `file`, checks ffprobe agrees with our reading, re-muxes, checks the
/// round trip and ffprobe's reading of our file. Returns what was read.
fn check_file(dir: &TempDir, file: &str, format: Format) -> Demuxed {
    let path = dir.path(file);
    let data = std::fs::read(&path).unwrap();
    assert_eq!(Format::detect(&data), Some(format), "{file}: format detection");
    let first = demux(format, &data).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert!(!first.frames.is_empty(), "{file}: no frames");
    // MP4 is written fragmented, which ffprobe reads with the same timestamps.
    assert_ffprobe_agrees(
        &format!("ffmpeg's {file}"),
        format,
        &path,
        &first,
        Sizes::SourceFile,
    );

    let ours = mux(format, &first.tracks, &first.frames).unwrap_or_else(|e| panic!("{file}: mux: {e}"));
    let ours_path = dir.path(&format!("ours-{file}"));
    std::fs::write(&ours_path, &ours).unwrap();
    let second = demux(format, &ours).unwrap_or_else(|e| panic!("our {file}: {e}"));
    assert_same_media(&format!("{file} round trip"), &first, &second);
    assert_ffprobe_agrees(&format!("our {file}"), format, &ours_path, &first, Sizes::Exact);
    first
}

fn check_all(video: Video, name: &str) {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new(&format!("containers-{name}"));
    let mut from_mp4 = None;
    for format in [Format::Ts, Format::Mp4, Format::Flv, Format::Adts] {
        let file = format!("{name}.{}", format.extension());
        match (format, video) {
            (Format::Flv, Video::H265) => {
                // ffmpeg 5.1 cannot write HEVC in FLV: use our muxer on its MP4's frames
                let d: &Demuxed = from_mp4.as_ref().unwrap();
                let flv = mux(Format::Flv, &d.tracks, &d.frames).unwrap();
                std::fs::write(dir.path(&file), flv).unwrap();
                let back = demux(Format::Flv, &std::fs::read(dir.path(&file)).unwrap()).unwrap();
                assert_eq!(back.tracks[0].codec, Codec::H265);
                let ours = mux(Format::Flv, &back.tracks, &back.frames).unwrap();
                assert_same_media("h265 flv round trip", &back, &demux(Format::Flv, &ours).unwrap());
                assert_eq!(back.frames.len(), d.frames.len());
                continue;
            }
            (Format::Adts, Video::H265) => continue, // audio-only: once is enough
            (Format::Adts, _) => generate(&dir.path(&file), Video::None),
            _ => generate(&dir.path(&file), video),
        }
        let d = check_file(&dir, &file, format);
        if format == Format::Mp4 {
            from_mp4 = Some(d);
        }
    }
}

#[test]
fn h264_aac_in_every_container() {
    check_all(Video::H264, "h264");
}

#[test]
fn h265_aac_in_every_container() {
    check_all(Video::H265, "h265");
}

#[test]
fn tracks_describe_the_samples() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("containers-describe");
    let path = dir.path("d.ts");
    generate(&path, Video::H264);
    let d = demux(Format::Ts, &std::fs::read(&path).unwrap()).unwrap();
    let v = d
        .tracks
        .iter()
        .find(|t| t.codec == Codec::H264)
        .unwrap()
        .video
        .clone()
        .unwrap();
    assert_eq!((v.width, v.height), (320, 240));
    assert_eq!(v.fps, Some(25.0));
    let a = d
        .tracks
        .iter()
        .find(|t| t.codec == Codec::Aac)
        .unwrap()
        .audio
        .clone()
        .unwrap();
    assert_eq!((a.sample_rate, a.channels), (48000, 2));
}
