//! The MP4 reader against files written by ffmpeg, compared packet by packet
//! with ffprobe. Skips (with a message) when ffmpeg or ffprobe is missing.

use std::path::PathBuf;
use std::process::Command;

use media::{Codec, Frame, mp4};
use serde_json::Value;

const VIDEO: &str = "testsrc2=size=320x240:rate=25";
const AUDIO: &str = "sine=frequency=1000:sample_rate=48000";

/// One packet as ffprobe prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Packet {
    pts: i64,
    dts: i64,
    key: bool,
    size: usize,
}

struct Probe {
    /// Per stream: (track id, codec_name, packets).
    streams: Vec<(u32, String, Vec<Packet>)>,
}

/// True when ffmpeg, ffprobe and the given encoders are available; prints why not.
fn have_tools(encoders: &[&str]) -> bool {
    for tool in ["ffmpeg", "ffprobe"] {
        if Command::new(tool).arg("-version").output().is_err() {
            eprintln!("skipping: {tool} is not installed");
            return false;
        }
    }
    let list = Command::new("ffmpeg")
        .args(["-hide_banner", "-encoders"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for enc in encoders {
        if !list.split_whitespace().any(|w| w == *enc) {
            eprintln!("skipping: ffmpeg has no {enc} encoder");
            return false;
        }
    }
    true
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tributary-mp4read-{}-{name}", std::process::id()))
}

/// Runs ffmpeg with lavfi test sources and returns the written file.
fn generate(name: &str, args: &[&str]) -> (PathBuf, Vec<u8>) {
    let path = temp_path(name);
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .arg(&path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg failed for {name}");
    let data = std::fs::read(&path).expect("ffmpeg output");
    (path, data)
}

fn av_args<'a>(video: &[&'a str], audio: &[&'a str], tail: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["-f", "lavfi", "-i", VIDEO, "-f", "lavfi", "-i", AUDIO, "-t", "2"];
    v.extend(video);
    v.extend(audio);
    v.extend(tail);
    v
}

fn probe(path: &PathBuf) -> Probe {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_streams", "-show_packets", "-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(out.status.success());
    let json: Value = serde_json::from_slice(&out.stdout).expect("ffprobe json");
    let mut streams: Vec<(u32, String, Vec<Packet>)> = json["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|s| {
            let id = s["id"].as_str().expect("stream id");
            let id = u32::from_str_radix(id.trim_start_matches("0x"), 16).expect("hex id");
            (id, s["codec_name"].as_str().unwrap_or("").to_string(), Vec::new())
        })
        .collect();
    for p in json["packets"].as_array().expect("packets") {
        let index = p["stream_index"].as_u64().expect("index") as usize;
        let num = |k: &str| p[k].as_i64().unwrap_or_else(|| panic!("packet without {k}: {p}"));
        streams[index].2.push(Packet {
            pts: num("pts"),
            dts: num("dts"),
            key: p["flags"].as_str().unwrap_or("").contains('K'),
            size: p["size"].as_str().expect("size").parse().expect("size number"),
        });
    }
    Probe { streams }
}

fn packets(frames: &[Frame], track: u32) -> Vec<Packet> {
    frames
        .iter()
        .filter(|f| f.track == track)
        .map(|f| Packet {
            pts: f.pts.ticks(),
            dts: f.dts.ticks(),
            key: f.keyframe,
            size: f.data.len(),
        })
        .collect()
}

/// Reads `data` and compares every track with ffprobe. With `ffmpeg_shift`,
/// ffprobe's pts and dts of a track may both be ours plus a constant: on
/// fragmented files with negative composition offsets ffmpeg raises pts by
/// its `dts_shift` where this reader lowers dts (see the mp4 docs).
fn compare(path: &PathBuf, data: &[u8], ffmpeg_shift: bool) -> mp4::File {
    let file = mp4::read(data).expect("file reads");
    let probe = probe(path);
    let tracks = &file.demuxed.tracks;
    assert_eq!(tracks.len(), probe.streams.len(), "warnings: {:?}", file.warnings);
    for (track, (id, codec, expected)) in tracks.iter().zip(&probe.streams) {
        assert_eq!(track.id, *id);
        let name = match track.codec {
            Codec::H264 => "h264",
            Codec::H265 => "hevc",
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
    std::fs::remove_file(path).ok();
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

#[test]
fn h264_aac_progressive() {
    if !have_tools(&["libx264", "aac"]) {
        return;
    }
    let args = av_args(
        &["-c:v", "libx264", "-g", "25", "-bf", "2"],
        &["-c:a", "aac"],
        &["-f", "mp4"],
    );
    let (path, data) = generate("h264.mp4", &args);
    let file = compare(&path, &data, false);
    check_h264_aac(&file);
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
    if !have_tools(&["libx264", "aac"]) {
        return;
    }
    // moov before mdat, ctts version 1: ffprobe lowers dts like this reader
    let tail = ["-movflags", "+faststart+negative_cts_offsets", "-f", "mp4"];
    let args = av_args(
        &["-c:v", "libx264", "-g", "25", "-bf", "2"],
        &["-c:a", "aac"],
        &tail,
    );
    let (path, data) = generate("negcts.mp4", &args);
    let file = compare(&path, &data, false);
    check_h264_aac(&file);
    assert!(file.demuxed.frames.iter().all(|f| f.cts() >= 0));
}

#[test]
fn h264_aac_quicktime() {
    if !have_tools(&["libx264", "aac"]) {
        return;
    }
    // QuickTime sound description version 1 with esds inside 'wave'
    let args = av_args(
        &["-c:v", "libx264", "-g", "25", "-bf", "2"],
        &["-c:a", "aac"],
        &["-f", "mov"],
    );
    let (path, data) = generate("qt.mov", &args);
    let file = compare(&path, &data, false);
    check_h264_aac(&file);
}

#[test]
fn h265_aac_progressive() {
    if !have_tools(&["libx265", "aac"]) {
        return;
    }
    let video = [
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
    let args = av_args(&video, &["-c:a", "aac"], &["-f", "mp4"]);
    let (path, data) = generate("h265.mp4", &args);
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
    if !have_tools(&["libx264", "aac"]) {
        return;
    }
    let tail = [
        "-movflags",
        "+frag_keyframe+empty_moov+default_base_moof",
        "-f",
        "mp4",
    ];
    let args = av_args(
        &["-c:v", "libx264", "-g", "25", "-bf", "2"],
        &["-c:a", "aac"],
        &tail,
    );
    let (path, data) = generate("frag.mp4", &args);
    let file = compare(&path, &data, false);
    check_h264_aac(&file);
    // no edit list in ffmpeg's fragmented output: timestamps start at tfdt 0
    assert_eq!(first(&file, 1).dts.ticks(), 0);
}

#[test]
fn h264_aac_cmaf() {
    if !have_tools(&["libx264", "aac"]) {
        return;
    }
    let tail = [
        "-f",
        "mp4",
        "-movflags",
        "+cmaf+frag_keyframe+empty_moov+separate_moof+default_base_moof",
    ];
    let args = av_args(
        &["-c:v", "libx264", "-g", "25", "-bf", "2"],
        &["-c:a", "aac"],
        &tail,
    );
    let (path, data) = generate("cmaf.mp4", &args);
    let file = compare(&path, &data, true);
    check_h264_aac(&file);
    // trun version 1 with negative composition offsets (down to -512): the
    // first frame has pts 0 and dts 0 in the file, decode times are lowered
    // by 512 so that dts <= pts everywhere
    let v = first(&file, 1);
    assert_eq!((v.pts.ticks(), v.dts.ticks()), (0, -512));
    assert!(file.demuxed.frames.iter().all(|f| f.cts() >= 0));
}

#[test]
fn h264_aac_samples_in_moov_then_fragments() {
    if !have_tools(&["libx264", "aac"]) {
        return;
    }
    // without empty_moov, ffmpeg puts the first fragment's samples in moov and
    // later fragments use explicit base_data_offset
    let tail = ["-movflags", "+frag_keyframe", "-f", "mp4"];
    let args = av_args(
        &["-c:v", "libx264", "-g", "25", "-bf", "2"],
        &["-c:a", "aac"],
        &tail,
    );
    let (path, data) = generate("mixed.mp4", &args);
    let file = compare(&path, &data, false);
    check_h264_aac(&file);
}

#[test]
fn h265_aac_cmaf() {
    if !have_tools(&["libx265", "aac"]) {
        return;
    }
    let video = [
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
    let tail = [
        "-f",
        "mp4",
        "-movflags",
        "+cmaf+frag_keyframe+empty_moov+default_base_moof",
    ];
    let args = av_args(&video, &["-c:a", "aac"], &tail);
    let (path, data) = generate("h265-cmaf.mp4", &args);
    let file = compare(&path, &data, true);
    assert_eq!(file.demuxed.tracks[0].codec, Codec::H265);
}

#[test]
fn opus_progressive() {
    if !have_tools(&["libopus"]) {
        return;
    }
    let args = [
        "-f", "lavfi", "-i", AUDIO, "-t", "1", "-c:a", "libopus", "-f", "mp4",
    ];
    let (path, data) = generate("opus.mp4", &args);
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
    let tail = [
        "-movflags",
        "+frag_keyframe+empty_moov+default_base_moof",
        "-f",
        "mp4",
    ];
    let args = av_args(
        &["-c:v", "libx264", "-g", "25", "-bf", "2"],
        &["-c:a", "aac"],
        &tail,
    );
    let (path, data) = generate("split.mp4", &args);
    std::fs::remove_file(&path).ok();
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
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 8 <= data.len() {
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        if &data[pos + 4..pos + 8] == fourcc {
            out.push(pos);
        }
        if size < 8 {
            break;
        }
        pos += size;
    }
    out
}
