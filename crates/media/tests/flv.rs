//! FLV against real peers: files written by ffmpeg are read like ffprobe
//! reads them, and files we write are read by ffprobe/ffmpeg like we wrote them.
//!
//! Sizes: for AVC and AAC in FLV, ffprobe reports the tag body minus the
//! codec header (5 bytes for AVC: frame type/codec id, AVCPacketType,
//! CompositionTime; 2 bytes for AAC: sound header, AACPacketType). ffmpeg
//! writes 4-byte NAL lengths, so that is exactly our canonical payload size.
//! Sequence headers and the AVC end-of-sequence tag are not packets in ffprobe.

mod support;

use std::path::Path;
use std::process::Command;

use bytes::BytesMut;
use media::{Codec, Frame, Track, flv, nal};
use support::PacketInfo;
use testkit::{SINE, TESTSRC, TempDir, decode, ffmpeg, have_ffmpeg, lavfi, run};

/// (codec_type, timing, keyframe and size) per packet, in file order.
type Packet = (String, PacketInfo);

fn ffprobe_packets(file: &Path) -> Vec<Packet> {
    testkit::ffprobe_packets(file)
        .iter()
        .map(|p| (p.codec_type.clone(), PacketInfo::from(p)))
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
            (kind.to_owned(), PacketInfo::from(f))
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
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("flv-h264");
    let theirs = dir.path("theirs.flv");
    let mut args = lavfi(&[TESTSRC, SINE], "2");
    args.extend([
        "-c:v", "libx264", "-g", "25", "-bf", "2", "-c:a", "aac", "-f", "flv",
    ]);
    ffmpeg(&args, &theirs);
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
    let decode = decode(&ours_path);
    assert!(
        decode.stderr.is_empty(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&decode.stderr)
    );
}

#[test]
fn h265_through_our_writer() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("flv-h265");
    let raw = dir.path("in.hevc");
    let mut args = lavfi(&[TESTSRC], "2");
    args.extend([
        "-c:v",
        "libx265",
        "-x265-params",
        "log-level=error:bframes=0:keyint=25",
        "-f",
        "hevc",
    ]);
    ffmpeg(&args, &raw);
    let annexb = std::fs::read(&raw).unwrap();
    let aus = support::access_units(&Codec::H265, &annexb);
    assert_eq!(aus.len(), 50);
    let track = support::track_from_parameter_sets(flv::VIDEO_TRACK_ID, Codec::H265, 1000, &aus[0]);
    // constant composition offset, so that CodedFrames carries a non-zero cts
    let frames = support::frames_from_aus(&track, &aus, 40, 80);
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
