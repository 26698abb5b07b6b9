use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::{Codec, Frame, Timestamp, Track};

fn avc_track() -> Track {
    let sps = [0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9];
    let pps = [0x68, 0xeb, 0xe3, 0xcb];
    let mut t = Track::new(VIDEO_TRACK_ID, Codec::H264, 1000);
    t.init = crate::h264::AvcConfig::from_parameter_sets(&[&sps], &[&pps])
        .unwrap()
        .encode();
    t
}

fn hevc_track() -> Track {
    let mut header = [0u8; 22];
    header[0] = 1;
    header[1] = 1;
    header[21] = 0x0f;
    let unit = |t: u8, n: usize| {
        Bytes::from(
            std::iter::once(t << 1)
                .chain([1])
                .chain(std::iter::repeat_n(0xaa, n))
                .collect::<Vec<_>>(),
        )
    };
    let cfg = crate::h265::HevcConfig {
        header,
        length_size: 4,
        arrays: vec![
            crate::h265::NalArray {
                complete: true,
                nal_type: 32,
                units: vec![unit(32, 20)],
            },
            crate::h265::NalArray {
                complete: true,
                nal_type: 33,
                units: vec![unit(33, 30)],
            },
            crate::h265::NalArray {
                complete: true,
                nal_type: 34,
                units: vec![unit(34, 5)],
            },
        ],
    };
    let mut t = Track::new(VIDEO_TRACK_ID, Codec::H265, 1000);
    t.init = cfg.encode();
    t
}

fn aac_track() -> Track {
    let mut t = Track::new(AUDIO_TRACK_ID, Codec::Aac, 1000);
    t.init = crate::aac::AudioSpecificConfig {
        object_type: 2,
        sample_rate: 48000,
        channels: 2,
    }
    .encode();
    t.describe();
    t
}

fn video_frame(dts: i64, cts: i64, key: bool) -> Frame {
    let data = crate::nal::join_length_prefixed([&[0x65u8, 1, 2, 3][..], &[0x06, 5][..]]);
    Frame::new(
        1,
        Timestamp::new(dts, 1000),
        Timestamp::new(dts + cts, 1000),
        key,
        data,
    )
}

#[test]
fn empty_and_bad_signature() {
    assert_eq!(read_all(&[]).unwrap_err(), Error::Empty);
    let e = read_all(b"GIF89a").unwrap_err();
    assert_eq!(e, Error::BadSignature);
    assert_eq!(e.to_string(), "not an flv file: signature at byte 0");
    assert_eq!(
        read_all(b"FL").unwrap_err(),
        Error::TruncatedHeader {
            needed: 9,
            available: 2
        }
    );
    let mut bad_offset = Vec::new();
    write_header(true, true, &mut bad_offset);
    bad_offset[8] = 3;
    assert!(matches!(
        read_all(&bad_offset),
        Err(Error::BadDataOffset { value: 3, .. })
    ));
}

#[test]
fn header_only_file_has_no_tracks() {
    let mut f = Vec::new();
    write_header(false, false, &mut f);
    let c = read_file(&f).unwrap();
    assert_eq!(c.demuxed, Default::default());
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn extended_timestamp_byte_gives_32_bits() {
    let mut out = Vec::new();
    write_tag(TagType::Script, 0x1234_5678, &[5], &mut out).unwrap();
    // TagType, DataSize(3), Timestamp(3) = 0x345678, TimestampExtended = 0x12, StreamID(3)
    assert_eq!(&out[..11], &[18, 0, 0, 1, 0x34, 0x56, 0x78, 0x12, 0, 0, 0]);
    let mut file = Vec::new();
    write_header(false, false, &mut file);
    file.extend_from_slice(&out);
    let mut buf = BytesMut::from(&file[..]);
    let mut r = TagReader::new();
    let tag = r.decode(&mut buf).unwrap().unwrap();
    assert_eq!(tag.timestamp, 0x1234_5678);
    assert_eq!(tag.offset, 13);
    assert_eq!(&tag.body[..], &[5]);
    r.finish(&buf).unwrap();
    assert!(r.take_warnings().is_empty());
}

#[test]
fn frame_timestamps_above_2_pow_24_round_trip() {
    let tracks = [avc_track()];
    let frames = vec![
        video_frame(0x00ff_fff0, 80, true),
        video_frame(0x0100_0010, -40, false),
        video_frame(0xffff_ffd8, 0, false),
        video_frame(0x1_0000_0000, 40, false),
    ];
    let back = read_all(&write_all(&tracks, &frames).unwrap()).unwrap();
    assert_eq!(back.frames, frames);
}

#[test]
fn negative_composition_time_round_trips() {
    let tracks = [avc_track()];
    let frames = vec![video_frame(100, -100, true), video_frame(140, -8_000_000, false)];
    let back = read_all(&write_all(&tracks, &frames).unwrap()).unwrap();
    assert_eq!(back.frames, frames);
    let too_far = [video_frame(100, 9_000_000, true)];
    assert_eq!(
        write_all(&tracks, &too_far).unwrap_err(),
        Error::CtsOutOfRange(9_000_000)
    );
}

#[test]
fn negative_dts_is_shifted_by_write_all() {
    let tracks = [avc_track()];
    let frames = vec![video_frame(-80, 80, true), video_frame(-40, 120, false)];
    let back = read_all(&write_all(&tracks, &frames).unwrap()).unwrap();
    assert_eq!(back.frames[0].dts.ticks(), 0);
    assert_eq!(back.frames[1].pts.ticks(), 160);
    let mut out = Vec::new();
    assert_eq!(
        write_frame(&tracks[0], &frames[0], &mut out).unwrap_err(),
        Error::NegativeTimestamp(-80)
    );
}

#[test]
fn truncated_tags_report_their_offset() {
    let tracks = [avc_track(), aac_track()];
    let frames = vec![video_frame(0, 0, true)];
    let file = write_all(&tracks, &frames).unwrap();
    // the last tag is the end of sequence (5 body bytes) at file.len() - 4 - 16
    let eos = (file.len() - 20) as u64;
    let e = read_all(&file[..file.len() - 6]).unwrap_err();
    assert_eq!(
        e,
        Error::TruncatedTag {
            offset: eos,
            needed: 16,
            available: 14
        }
    );
    assert!(e.to_string().contains(&format!("byte {eos}")), "{e}");
    // cut inside the tag header
    let e = read_all(&file[..file.len() - 15]).unwrap_err();
    assert!(matches!(e, Error::TruncatedTag { offset, needed: 11, available: 5 } if offset == eos));
    // missing final PreviousTagSize: a warning only
    let c = read_file(&file[..file.len() - 4]).unwrap();
    assert_eq!(c.demuxed.frames, frames);
    assert!(matches!(
        c.warnings[..],
        [Warning {
            error: Error::MissingPreviousTagSize { .. },
            ..
        }]
    ));
}

#[test]
fn tag_size_limit_is_enforced_before_buffering() {
    let mut file = Vec::new();
    write_header(false, true, &mut file);
    file.extend_from_slice(&[9, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0]);
    let e = read_all(&file).unwrap_err();
    assert_eq!(
        e,
        Error::TagTooLarge {
            offset: 13,
            size: 0xff_ffff,
            max: MAX_TAG_DATA_SIZE
        }
    );
    assert!(e.to_string().contains("byte 13"));
}

#[test]
fn previous_tag_size_mismatch_is_a_warning() {
    let tracks = [aac_track()];
    let frames = vec![Frame::new(
        2,
        Timestamp::new(0, 1000),
        Timestamp::new(0, 1000),
        true,
        vec![1, 2],
    )];
    let mut file = write_all(&tracks, &frames).unwrap();
    let n = file.len();
    file[n - 1] ^= 0xff;
    let c = read_file(&file).unwrap();
    assert_eq!(c.demuxed.frames, frames);
    assert_eq!(c.warnings.len(), 1);
    assert!(matches!(c.warnings[0].error, Error::PreviousTagSize { offset, .. } if offset == (n - 4) as u64));
}

#[test]
fn unknown_codecs_are_skipped_with_warnings() {
    let mut file = Vec::new();
    write_header(true, true, &mut file);
    write_tag(TagType::Audio, 0, &[0x2f, 0xff, 0xfb], &mut file).unwrap(); // mp3
    write_tag(TagType::Video, 0, &[0x14, 0, 0, 0], &mut file).unwrap(); // vp6
    write_tag(TagType::Other(7), 0, &[], &mut file).unwrap();
    let c = read_file(&file).unwrap();
    assert!(c.demuxed.tracks.is_empty());
    let errors: Vec<Error> = c.warnings.into_iter().map(|w| w.error).collect();
    assert_eq!(
        errors,
        [
            Error::UnsupportedSoundFormat(2),
            Error::UnsupportedVideoCodec(4),
            Error::UnknownTagType(7)
        ]
    );
}

#[test]
fn legacy_hevc_codec_id_12_is_read() {
    let t = hevc_track();
    let mut file = Vec::new();
    write_header(false, true, &mut file);
    let mut body = vec![0x1c, 0, 0, 0, 0];
    body.extend_from_slice(&t.init);
    write_tag(TagType::Video, 0, &body, &mut file).unwrap();
    let mut body = vec![0x1c, 1, 0, 0, 40, 0, 0, 0, 2, 0x26, 1];
    write_tag(TagType::Video, 0, &body, &mut file).unwrap();
    body[0] = 0x2c;
    write_tag(TagType::Video, 40, &body, &mut file).unwrap();
    let d = read_all(&file).unwrap();
    assert_eq!(d.tracks[0].codec, Codec::H265);
    assert_eq!(d.frames.len(), 2);
    assert!(d.frames[0].keyframe && !d.frames[1].keyframe);
    assert_eq!(d.frames[1].pts.ticks(), 80);
}

#[test]
fn short_length_prefixes_become_canonical() {
    let mut t = avc_track();
    let mut init = t.init.to_vec();
    init[4] = 0xfd; // lengthSizeMinusOne = 1
    t.init = init.into();
    let mut file = Vec::new();
    write_header(false, true, &mut file);
    let mut body = vec![0x17, 0, 0, 0, 0];
    body.extend_from_slice(&t.init);
    write_tag(TagType::Video, 0, &body, &mut file).unwrap();
    write_tag(
        TagType::Video,
        0,
        &[0x17, 1, 0, 0, 0, 0, 2, 0x65, 9, 0, 1, 0x06],
        &mut file,
    )
    .unwrap();
    let d = read_all(&file).unwrap();
    assert_eq!(d.tracks[0].init, t.init, "init is kept as found");
    assert_eq!(&d.frames[0].data[..], &[0, 0, 0, 2, 0x65, 9, 0, 0, 0, 1, 0x06]);
    // written back with 4-byte lengths, and an avcC saying so
    let again = read_all(&write_all(&d.tracks, &d.frames).unwrap()).unwrap();
    assert_eq!(again.frames, d.frames);
    assert_eq!(again.tracks[0].init[4], 0xff);
}

#[test]
fn incremental_reading_matches_read_all() {
    let tracks = [hevc_track(), aac_track()];
    let frames: Vec<Frame> = (0..10)
        .flat_map(|i| {
            let a = Frame::new(
                2,
                Timestamp::new(i * 21, 1000),
                Timestamp::new(i * 21, 1000),
                true,
                vec![i as u8; 7],
            );
            let mut v = video_frame(i * 40, 80, i == 0);
            v.track = 1;
            [v, a]
        })
        .collect();
    let file = write_all(&tracks, &frames).unwrap();
    let whole = read_all(&file).unwrap();
    assert_eq!(whole.frames, frames);
    for chunk in [1, 7, 100] {
        let mut r = TagReader::new();
        let mut d = Demuxer::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in file.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(tag) = r.decode(&mut buf).unwrap() {
                if let Ok(Some(Event::Frame(f))) = d.handle_tag(&tag) {
                    got.push(f);
                }
            }
        }
        r.finish(&buf).unwrap();
        assert_eq!(got, frames);
        assert_eq!(r.position(), file.len() as u64);
    }
}

#[test]
fn metadata_is_written_and_read() {
    let mut v = avc_track();
    v.video = Some(crate::VideoInfo {
        width: 320,
        height: 240,
        fps: Some(25.0),
        ..Default::default()
    });
    let file = write_all(&[v, aac_track()], &[video_frame(0, 40, true)]).unwrap();
    let m = read_file(&file).unwrap().metadata.unwrap();
    assert_eq!(
        (m.width, m.height, m.framerate),
        (Some(320.0), Some(240.0), Some(25.0))
    );
    assert_eq!((m.videocodecid, m.audiocodecid), (Some(7.0), Some(10.0)));
    assert_eq!(
        (m.duration, m.audiosamplerate, m.stereo),
        (Some(0.04), Some(48000.0), Some(true))
    );
}

#[test]
fn writer_refuses_what_flv_cannot_carry() {
    let opus = Track::new(2, Codec::Opus, 48000);
    assert_eq!(
        write_all(&[opus], &[]).unwrap_err(),
        Error::UnsupportedCodec(Codec::Opus)
    );
    assert_eq!(
        write_all(&[avc_track(), hevc_track()], &[]).unwrap_err(),
        Error::TooManyTracks
    );
    let no_init = Track::new(1, Codec::H264, 1000);
    assert_eq!(write_all(&[no_init], &[]).unwrap_err(), Error::MissingInit(1));
    let mut stray = video_frame(0, 0, true);
    stray.track = 9;
    assert_eq!(
        write_all(&[avc_track()], &[stray]).unwrap_err(),
        Error::UnknownTrack(9)
    );
}

/// Synthetic streams: one optional video track (H.264 or H.265), one optional
/// AAC track, frames with increasing decode times and arbitrary composition offsets.
fn stream() -> impl Strategy<Value = (Vec<Track>, Vec<Frame>)> {
    let frame = (
        any::<bool>(),
        0i64..200,
        -500i64..1000,
        any::<bool>(),
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..40), 1..4),
    );
    (
        0u8..3,
        any::<bool>(),
        proptest::collection::vec(frame, 0..40),
        0i64..(1 << 32) - 10_000,
    )
        .prop_map(|(video, audio, raw, start)| {
            let mut tracks = Vec::new();
            match video {
                1 => tracks.push(avc_track()),
                2 => tracks.push(hevc_track()),
                _ => {}
            }
            if audio {
                tracks.push(aac_track());
            }
            let mut frames = Vec::new();
            let mut dts = start;
            for (is_video, step, cts, key, units) in raw {
                dts += step;
                let ts = Timestamp::new(dts, 1000);
                if is_video && video > 0 {
                    let data = crate::nal::join_length_prefixed(units.iter().map(|u| u.as_slice()));
                    frames.push(Frame::new(1, ts, Timestamp::new(dts + cts, 1000), key, data));
                } else if audio {
                    frames.push(Frame::new(2, ts, ts, true, units.concat()));
                }
            }
            (tracks, frames)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn write_read_round_trip((tracks, frames) in stream()) {
        let file = write_all(&tracks, &frames).unwrap();
        let c = read_file(&file).unwrap();
        prop_assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        prop_assert_eq!(&c.demuxed.frames, &frames);
        let got: Vec<(u32, Codec, Bytes)> = c.demuxed.tracks.iter().map(|t| (t.id, t.codec.clone(), t.init.clone())).collect();
        let want: Vec<(u32, Codec, Bytes)> = tracks.iter().map(|t| (t.id, t.codec.clone(), t.init.clone())).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = read_file(&data);
        let _ = parse_video_body(&Bytes::from(data.clone()));
        let _ = parse_audio_body(&Bytes::from(data.clone()));
        let _ = Metadata::parse(&data);
    }

    #[test]
    fn arbitrary_tag_bodies_never_panic(
        tags in proptest::collection::vec((0u8..3, any::<u32>(), proptest::collection::vec(any::<u8>(), 0..60)), 0..20),
        prefix in 0u8..3,
    ) {
        // valid framing, garbage bodies (with a plausible first byte) to reach the body parsers
        let mut file = Vec::new();
        write_header(true, true, &mut file);
        for (kind, ts, mut body) in tags {
            let t = [TagType::Audio, TagType::Video, TagType::Script][usize::from(kind)];
            if let Some(b) = body.first_mut() {
                *b = match (kind, prefix) {
                    (0, 0) => 0xaf,
                    (1, 0) => 0x17,
                    (1, 1) => 0x90 | (*b & 0x0f),
                    (2, _) => 2,
                    _ => *b,
                };
            }
            write_tag(t, ts, &body, &mut file).unwrap();
        }
        let _ = read_file(&file).unwrap();
    }
}
