//! The MP4 reader against files written by ffmpeg, compared packet by packet
//! with ffprobe. Skips (with a message) when ffmpeg or ffprobe is missing.

mod support;

use std::path::{Path, PathBuf};

use media::{Codec, Frame, mp4};
use support::{PacketInfo, boxes};
use testkit::{SINE, TESTSRC, TempDir, ffmpeg, have_encoder, have_ffmpeg, lavfi, stream_id};

struct Probe {
    /// Per stream: (track id, codec_name, packets).
    streams: Vec<(u32, String, Vec<PacketInfo>)>,
}

/// True when ffmpeg, ffprobe and the given encoders are available; prints why not.
fn have_tools(encoders: &[&str]) -> bool {
    have_ffmpeg() && encoders.iter().all(|e| have_encoder(e))
}

/// Runs ffmpeg with lavfi test sources and returns the scratch directory,
/// and the path and bytes of the written file.
fn generate(name: &str, args: &[&str]) -> (TempDir, PathBuf, Vec<u8>) {
    let dir = TempDir::new(&format!("mp4read-{name}"));
    let path = dir.path(name);
    ffmpeg(args, &path);
    let data = std::fs::read(&path).expect("ffmpeg output");
    (dir, path, data)
}

/// H.264 with GOP 25 and 2 B-frames.
const X264: &[&str] = &["-c:v", "libx264", "-g", "25", "-bf", "2"];
/// H.265 with GOP 25 and 2 B-frames, as `hvc1`.
const X265: &[&str] = &[
    "-c:v",
    "libx265",
    "-x265-params",
    "log-level=error",
    "-g",
    "25",
    "-bf",
    "2",
    "-tag:v",
    "hvc1",
];
const AAC: &[&str] = &["-c:a", "aac"];

fn av_args<'a>(video: &[&'a str], audio: &[&'a str], tail: &[&'a str]) -> Vec<&'a str> {
    let mut v = lavfi(&[TESTSRC, SINE], "2");
    v.extend(video);
    v.extend(audio);
    v.extend(tail);
    v
}

fn probe(path: &Path) -> Probe {
    let streams = support::probe_streams(path)
        .into_iter()
        .map(|(s, packets)| {
            let codec = s["codec_name"].as_str().unwrap_or("").to_string();
            (stream_id(&s), codec, packets)
        })
        .collect();
    Probe { streams }
}

fn packets(frames: &[Frame], track: u32) -> Vec<PacketInfo> {
    frames
        .iter()
        .filter(|f| f.track == track)
        .map(PacketInfo::from)
        .collect()
}

fn compare(path: &Path, data: &[u8], ffmpeg_shift: bool) -> mp4::File {
    let file = mp4::read(data).expect("file reads");
    let probe = probe(path);
    let tracks = &file.demuxed.tracks;
    assert_eq!(tracks.len(), probe.streams.len(), "warnings: {:?}", file.warnings);
    for (track, (id, codec, expected)) in tracks.iter().zip(&probe.streams) {
        assert_eq!(track.id, *id);
        let name = match track.codec {
            Codec::H264 => "h264",
            Codec::H265 => "hevc",
            Codec::Vp8 => "vp8",
            Codec::Aac => "aac",
            Codec::Opus => "opus",
            Codec::Other(_) => "other",
        };
        assert_eq!(name, codec);
        let mut got = packets(&file.demuxed.frames, track.id);
        assert_eq!(got.len(), expected.len(), "track {id} frame count");
        assert!(got.len() >= 40, "track {id}: only {} frames", got.len());
        if ffmpeg_shift {
            let shift = expected[0].dts - got[0].dts;
            assert!(shift >= 0, "track {id}: ffprobe dts below ours");
            for p in &mut got {
                p.pts += shift;
                p.dts += shift;
            }
        }
        for (i, (g, e)) in got.iter().zip(expected).enumerate() {
            assert_eq!(g, e, "track {id} packet {i}");
        }
    }
    // file order: offsets only grow, so each track's frames keep decode order
    assert!(!file.demuxed.frames.is_empty());
    file
}

fn check_h264_aac(file: &mp4::File) {
    let [video, audio] = &file.demuxed.tracks[..] else {
        panic!("two tracks expected: {:?}", file.demuxed.tracks);
    };
    assert_eq!(video.codec, Codec::H264);
    assert_eq!(video.timescale, 12_800);
    let avcc = media::h264::AvcConfig::parse(&video.init).expect("avcC");
    assert_eq!(avcc.length_size, 4);
    assert!(!avcc.sps.is_empty() && !avcc.pps.is_empty());
    let info = video.video.as_ref().expect("video info");
    assert_eq!((info.width, info.height), (320, 240));
    check_aac(audio);
}

fn check_aac(audio: &media::Track) {
    assert_eq!(audio.codec, Codec::Aac);
    assert_eq!(audio.timescale, 48_000);
    let asc = media::aac::AudioSpecificConfig::parse(&audio.init).expect("asc");
    assert_eq!((asc.object_type, asc.sample_rate, asc.channels), (2, 48_000, 1));
    let info = audio.audio.as_ref().expect("audio info");
    assert_eq!((info.sample_rate, info.channels), (48_000, 1));
}

fn first(file: &mp4::File, track: u32) -> &Frame {
    file.demuxed
        .frames
        .iter()
        .find(|f| f.track == track)
        .expect("a frame")
}

/// Movie flags of ffmpeg's fragmented output: moof/mdat pairs after an empty moov.
const FRAGMENTED: &[&str] = &[
    "-movflags",
    "+frag_keyframe+empty_moov+default_base_moof",
    "-f",
    "mp4",
];

/// Generates `name` from H.264 and AAC with the muxer arguments `tail`,
/// compares our reading with ffprobe's (see [`compare`]) and checks the
/// tracks; `None` when an encoder is missing and the test skips.
fn h264_aac(name: &str, tail: &[&str], ffmpeg_shift: bool) -> Option<mp4::File> {
    if !have_tools(&["libx264", "aac"]) {
        return None;
    }
    let (_dir, path, data) = generate(name, &av_args(X264, AAC, tail));
    let file = compare(&path, &data, ffmpeg_shift);
    check_h264_aac(&file);
    Some(file)
}

#[test]
fn h264_aac_progressive() {
    let Some(file) = h264_aac("h264.mp4", &["-f", "mp4"], false) else {
        return;
    };
    // the edit list: first video pts 0 despite B-frames, AAC priming -1024
    let v = first(&file, 1);
    assert_eq!((v.pts.ticks(), v.dts.ticks(), v.keyframe), (0, -1024, true));
    assert_eq!(first(&file, 2).pts.ticks(), -1024);
    assert_eq!(
        file.demuxed
            .frames
            .iter()
            .filter(|f| f.track == 1 && f.keyframe)
            .count(),
        2
    );
    // every payload is canonical length-prefixed NAL units
    for f in file.demuxed.frames.iter().filter(|f| f.track == 1) {
        assert!(media::nal::iter_length_prefixed(&f.data, 4).all(|u| u.is_ok()));
    }
    assert!(file.warnings.is_empty(), "{:?}", file.warnings);
}

#[test]
fn h264_aac_faststart_negative_cts() {
    // moov before mdat, ctts version 1: ffprobe lowers dts like this reader
    let tail = ["-movflags", "+faststart+negative_cts_offsets", "-f", "mp4"];
    let Some(file) = h264_aac("negcts.mp4", &tail, false) else {
        return;
    };
    assert!(file.demuxed.frames.iter().all(|f| f.cts() >= 0));
}

#[test]
fn h264_aac_quicktime() {
    // QuickTime sound description version 1 with esds inside 'wave'
    h264_aac("qt.mov", &["-f", "mov"], false);
}

#[test]
fn h265_aac_progressive() {
    if !have_tools(&["libx265", "aac"]) {
        return;
    }
    let args = av_args(X265, AAC, &["-f", "mp4"]);
    let (_dir, path, data) = generate("h265.mp4", &args);
    let file = compare(&path, &data, false);
    let video = &file.demuxed.tracks[0];
    assert_eq!(video.codec, Codec::H265);
    let hvcc = media::h265::HevcConfig::parse(&video.init).expect("hvcC");
    assert_eq!(hvcc.length_size, 4);
    let info = video.video.as_ref().expect("video info");
    assert_eq!((info.width, info.height), (320, 240));
    check_aac(&file.demuxed.tracks[1]);
    assert!(media::h265::is_keyframe(&first(&file, 1).data));
}

#[test]
fn h264_aac_fragmented() {
    let Some(file) = h264_aac("frag.mp4", FRAGMENTED, false) else {
        return;
    };
    // no edit list in ffmpeg's fragmented output: timestamps start at tfdt 0
    assert_eq!(first(&file, 1).dts.ticks(), 0);
}

#[test]
fn h264_aac_cmaf() {
    let tail = [
        "-f",
        "mp4",
        "-movflags",
        "+cmaf+frag_keyframe+empty_moov+separate_moof+default_base_moof",
    ];
    let Some(file) = h264_aac("cmaf.mp4", &tail, true) else {
        return;
    };
    // trun version 1 with negative composition offsets (down to -512): the
    // first frame has pts 0 and dts 0 in the file, decode times are lowered
    // by 512 so that dts <= pts everywhere
    let v = first(&file, 1);
    assert_eq!((v.pts.ticks(), v.dts.ticks()), (0, -512));
    assert!(file.demuxed.frames.iter().all(|f| f.cts() >= 0));
}

#[test]
fn h264_aac_samples_in_moov_then_fragments() {
    // without empty_moov, ffmpeg puts the first fragment's samples in moov and
    // later fragments use explicit base_data_offset
    h264_aac("mixed.mp4", &["-movflags", "+frag_keyframe", "-f", "mp4"], false);
}

#[test]
fn h265_aac_cmaf() {
    if !have_tools(&["libx265", "aac"]) {
        return;
    }
    let tail = [
        "-f",
        "mp4",
        "-movflags",
        "+cmaf+frag_keyframe+empty_moov+default_base_moof",
    ];
    let args = av_args(X265, AAC, &tail);
    let (_dir, path, data) = generate("h265-cmaf.mp4", &args);
    let file = compare(&path, &data, true);
    assert_eq!(file.demuxed.tracks[0].codec, Codec::H265);
}

#[test]
fn opus_progressive() {
    if !have_tools(&["libopus"]) {
        return;
    }
    let mut args = lavfi(&[SINE], "1");
    args.extend(["-c:a", "libopus", "-f", "mp4"]);
    let (_dir, path, data) = generate("opus.mp4", &args);
    let file = compare(&path, &data, false);
    let track = &file.demuxed.tracks[0];
    assert_eq!((track.codec.clone(), track.timescale), (Codec::Opus, 48_000));
    let info = track.audio.as_ref().expect("audio info");
    assert_eq!((info.sample_rate, info.channels), (48_000, 1));
    // pre-skip 312 is written as the edit list's media_time
    assert_eq!(first(&file, 1).pts.ticks(), -312);
}

#[test]
fn init_and_fragments_read_separately() {
    if !have_tools(&["libx264", "aac"]) {
        return;
    }
    let (_dir, _, data) = generate("split.mp4", &av_args(X264, AAC, FRAGMENTED));
    let whole = mp4::read_all(&data).expect("whole file");
    // split at the first moof: init segment, then one segment per moof+mdat
    let moofs = top_level(&data, b"moof");
    let mut movie = mp4::Movie::parse(&data[..moofs[0]]).expect("init");
    assert_eq!(movie.tracks(), whole.tracks);
    let mut frames = Vec::new();
    let mut bounds = moofs.clone();
    bounds.push(top_level(&data, b"mfra").first().copied().unwrap_or(data.len()));
    for w in bounds.windows(2) {
        frames.extend(movie.read_fragment(&data[w[0]..w[1]]).expect("fragment"));
    }
    assert_eq!(frames, whole.frames);
}

/// Offsets of the top-level boxes of type `fourcc`.
fn top_level(data: &[u8], fourcc: &[u8; 4]) -> Vec<usize> {
    boxes(data)
        .iter()
        .filter(|b| &b.kind == fourcc)
        .map(|b| b.start)
        .collect()
}
