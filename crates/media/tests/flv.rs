//! FLV against real peers: files written by ffmpeg are read like ffprobe
//! reads them, and files we write are read by ffprobe/ffmpeg like we wrote them.
//!
//! Sizes: for AVC and AAC in FLV, ffprobe reports the tag body minus the
//! codec header (5 bytes for AVC: frame type/codec id, AVCPacketType,
//! CompositionTime; 2 bytes for AAC: sound header, AACPacketType). ffmpeg
//! writes 4-byte NAL lengths, so that is exactly our canonical payload size.
//! Sequence headers and the AVC end-of-sequence tag are not packets in ffprobe.

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::BytesMut;
use media::{Codec, Frame, Timestamp, Track, flv, h265, nal};

/// A scratch directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("tributary-flv-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn have_tools() -> bool {
    let ok = |bin: &str| {
        Command::new(bin)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ok("ffmpeg") && ok("ffprobe") {
        true
    } else {
        eprintln!("skipping: ffmpeg/ffprobe not installed");
        false
    }
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// (codec_type, pts, dts, keyframe, size) per packet, in file order.
type Packet = (String, i64, i64, bool, usize);

fn ffprobe_packets(file: &Path) -> Vec<Packet> {
    let out = run(Command::new("ffprobe")
        .args(["-v", "error", "-show_packets", "-of", "json"])
        .arg(file));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["packets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["codec_type"].as_str().unwrap().to_owned(),
                p["pts"].as_i64().unwrap(),
                p["dts"].as_i64().unwrap(),
                p["flags"].as_str().unwrap().contains('K'),
                p["size"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

fn our_packets(frames: &[Frame]) -> Vec<Packet> {
    frames
        .iter()
        .map(|f| {
            let kind = if f.track == flv::VIDEO_TRACK_ID {
                "video"
            } else {
                "audio"
            };
            (
                kind.to_owned(),
                f.pts.ticks(),
                f.dts.ticks(),
                f.keyframe,
                f.data.len(),
            )
        })
        .collect()
}

fn track_summary(tracks: &[Track]) -> Vec<(u32, Codec, u32, bytes::Bytes)> {
    tracks
        .iter()
        .map(|t| (t.id, t.codec.clone(), t.timescale, t.init.clone()))
        .collect()
}

#[test]
fn h264_aac_from_ffmpeg() {
    if !have_tools() {
        return;
    }
    let dir = TempDir::new("h264");
    let theirs = dir.path("theirs.flv");
    run(Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=1000:sample_rate=48000",
            "-t",
            "2",
        ])
        .args([
            "-c:v", "libx264", "-g", "25", "-bf", "2", "-c:a", "aac", "-f", "flv",
        ])
        .arg(&theirs));
    let data = std::fs::read(&theirs).unwrap();

    // (a) our reading matches ffprobe's packets
    let contents = flv::read_file(&data).unwrap();
    assert!(contents.warnings.is_empty(), "{:?}", contents.warnings);
    let demuxed = contents.demuxed;
    let meta = contents.metadata.unwrap();
    assert_eq!((meta.width, meta.height), (Some(320.0), Some(240.0)));
    assert_eq!(meta.framerate, Some(25.0));
    let codecs: Vec<_> = demuxed
        .tracks
        .iter()
        .map(|t| (t.id, t.codec.clone(), t.timescale))
        .collect();
    assert_eq!(codecs, [(1, Codec::H264, 1000), (2, Codec::Aac, 1000)]);
    let audio = demuxed.tracks[1].audio.as_ref().unwrap();
    assert_eq!((audio.sample_rate, audio.channels), (48000, 1));
    let probed = ffprobe_packets(&theirs);
    assert_eq!(probed.len(), 145);
    assert_eq!(our_packets(&demuxed.frames), probed);
    assert!(
        demuxed.frames.iter().any(|f| f.cts() > 0),
        "b-frames give composition offsets"
    );
    for f in demuxed.frames.iter().filter(|f| f.track == 1) {
        assert_eq!(
            f.keyframe,
            media::h264::is_keyframe(&f.data),
            "frame type 1 is an idr frame"
        );
    }

    // (b) read -> write -> read is lossless
    let ours = flv::write_all(&demuxed.tracks, &demuxed.frames).unwrap();
    let again = flv::read_all(&ours).unwrap();
    assert_eq!(again.frames, demuxed.frames);
    assert_eq!(track_summary(&again.tracks), track_summary(&demuxed.tracks));

    // (c) ffprobe reads our file as we wrote it, ffmpeg decodes it without errors
    let ours_path = dir.path("ours.flv");
    std::fs::write(&ours_path, &ours).unwrap();
    assert_eq!(ffprobe_packets(&ours_path), our_packets(&demuxed.frames));
    let decode = run(Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&ours_path)
        .args(["-f", "null", "-"]));
    assert!(
        decode.stderr.is_empty(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&decode.stderr)
    );
}

/// Groups Annex-B NAL units into access units (H.265 §7.4.2.4.4): a new one
/// starts at a parameter set, AUD or prefix SEI, or at a slice with
/// `first_slice_segment_in_pic_flag`, once the current one has a slice.
fn hevc_access_units(annexb: &[u8]) -> Vec<Vec<&[u8]>> {
    let mut aus: Vec<Vec<&[u8]>> = Vec::new();
    let mut has_slice = false;
    for unit in nal::split_annexb(annexb) {
        let t = h265::nal_type(unit);
        let is_slice = t < 32;
        let starts = match t {
            32..=35 | 39 => true,
            _ => is_slice && unit.get(2).is_some_and(|b| b & 0x80 != 0),
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

#[test]
fn h265_through_our_writer() {
    if !have_tools() {
        return;
    }
    let dir = TempDir::new("h265");
    let raw = dir.path("in.hevc");
    run(Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-t",
            "2",
        ])
        .args([
            "-c:v",
            "libx265",
            "-x265-params",
            "log-level=error:bframes=0:keyint=25",
        ])
        .args(["-f", "hevc"])
        .arg(&raw));
    let annexb = std::fs::read(&raw).unwrap();
    let aus = hevc_access_units(&annexb);
    assert_eq!(aus.len(), 50);
    let first = |t: u8| -> Vec<&[u8]> {
        aus[0]
            .iter()
            .copied()
            .filter(|u| h265::nal_type(u) == t)
            .collect()
    };
    let config = h265::HevcConfig::from_parameter_sets(&first(32), &first(33), &first(34)).unwrap();
    let mut track = Track::new(flv::VIDEO_TRACK_ID, Codec::H265, 1000);
    track.init = config.encode();
    let frames: Vec<Frame> = aus
        .iter()
        .enumerate()
        .map(|(i, au)| {
            let data = nal::join_length_prefixed(au.iter().copied());
            let dts = Timestamp::new(i as i64 * 40, 1000);
            // constant composition offset, so that CodedFrames carries a non-zero cts
            Frame::new(1, dts, dts.add_ticks(80), h265::is_keyframe(&data), data)
        })
        .collect();
    assert_eq!(frames.iter().filter(|f| f.keyframe).count(), 2);

    let file = flv::write_all(std::slice::from_ref(&track), &frames).unwrap();
    // the video tags use the Enhanced RTMP header with FourCC hvc1
    let mut buf = BytesMut::from(&file[..]);
    let mut reader = flv::TagReader::new();
    while let Some(tag) = reader.decode(&mut buf).unwrap() {
        if tag.tag_type == flv::TagType::Video {
            assert_eq!(tag.body[0] & 0x80, 0x80);
            assert_eq!(&tag.body[1..5], b"hvc1");
        }
    }
    reader.finish(&buf).unwrap();

    let contents = flv::read_file(&file).unwrap();
    assert!(contents.warnings.is_empty(), "{:?}", contents.warnings);
    assert_eq!(contents.demuxed.frames, frames);
    assert_eq!(track_summary(&contents.demuxed.tracks), track_summary(&[track]));
    let again =
        flv::read_all(&flv::write_all(&contents.demuxed.tracks, &contents.demuxed.frames).unwrap()).unwrap();
    assert_eq!(again, contents.demuxed);

    // the payloads we read back decode: turn them into Annex-B and let ffmpeg count frames
    let mut out = BytesMut::new();
    for f in &contents.demuxed.frames {
        nal::length_prefixed_to_annexb(&f.data, &mut out).unwrap();
    }
    let back = dir.path("back.hevc");
    std::fs::write(&back, &out).unwrap();
    let probe = run(Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(&back));
    assert!(
        probe.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "50");
}
