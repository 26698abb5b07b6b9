use super::*;
use bytes::Bytes;
use proptest::prelude::*;

const LC_48K_STEREO: AudioSpecificConfig = AudioSpecificConfig {
    object_type: 2,
    sample_rate: 48000,
    channels: 2,
};

fn track(config: &AudioSpecificConfig) -> Track {
    let mut t = Track::new(TRACK_ID, Codec::Aac, config.sample_rate);
    t.init = config.encode();
    t.audio = Some(AudioInfo {
        sample_rate: config.sample_rate,
        channels: config.channels,
    });
    t
}

fn frames(payloads: &[Vec<u8>], rate: u32) -> Vec<Frame> {
    payloads
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let ts = Timestamp::new(i as i64 * 1024, rate);
            Frame::new(TRACK_ID, ts, ts, true, p.clone())
        })
        .collect()
}

fn stream(payloads: &[Vec<u8>]) -> Vec<u8> {
    write_all(&[track(&LC_48K_STEREO)], &frames(payloads, 48000)).unwrap()
}

fn sample_payloads() -> Vec<Vec<u8>> {
    vec![vec![1, 2, 3], vec![], vec![9; 300], vec![0xff; 20]]
}

#[test]
fn write_then_read() {
    let payloads = sample_payloads();
    let data = stream(&payloads);
    assert_eq!(data.len(), payloads.iter().map(|p| p.len() + 7).sum::<usize>());
    let demuxed = read_all(&data).unwrap();
    assert_eq!(demuxed.tracks, vec![track(&LC_48K_STEREO)]);
    assert_eq!(demuxed.frames, frames(&payloads, 48000));
    assert_eq!(write_all(&demuxed.tracks, &demuxed.frames).unwrap(), data);
}

#[test]
fn skips_id3v2_at_start_and_id3v1_at_end() {
    let payloads = sample_payloads();
    let mut data = b"ID3\x04\x00\x00\x00\x00\x01\x02".to_vec(); // 130-byte body
    data.extend([0u8; 130]);
    data.extend(stream(&payloads));
    data.extend(b"TAG");
    data.extend([b' '; 125]);
    let demuxed = read_all(&data).unwrap();
    assert_eq!(demuxed.frames, frames(&payloads, 48000));
}

#[test]
fn skips_id3v2_with_footer() {
    let mut data = b"ID3\x04\x00\x10\x00\x00\x00\x05".to_vec();
    data.extend([0u8; 5]);
    data.extend(b"3DI\x04\x00\x10\x00\x00\x00\x05");
    data.extend(stream(&[vec![7]]));
    assert_eq!(read_all(&data).unwrap().frames.len(), 1);
}

#[test]
fn strips_crc() {
    // protection_absent = 0: a 9-byte header with a CRC word
    let mut data = vec![0xff, 0xf0, 0x4c, 0x80, 0x01, 0x7f, 0xfc, 0xab, 0xcd];
    data.extend([5, 6, 7]);
    data[4] = 0x01;
    data[5] = (12 << 5) as u8 | 0x1f;
    let demuxed = read_all(&data).unwrap();
    assert_eq!(&demuxed.frames[0].data[..], &[5, 6, 7]);
}

#[test]
fn truncated_final_frame_names_its_offset() {
    let data = stream(&sample_payloads());
    let last = data.len() - (20 + 7);
    let err = read_all(&data[..data.len() - 1]).unwrap_err();
    assert_eq!(
        err,
        Error::Truncated {
            what: "adts frame",
            offset: last as u64,
            needed: 27,
            available: 26
        }
    );
    assert!(err.to_string().contains(&format!("at byte {last}")), "{err}");
    // cut inside the header
    let err = read_all(&data[..last + 3]).unwrap_err();
    assert!(matches!(err, Error::Truncated { offset, needed: 7, available: 3, .. } if offset == last as u64));
}

#[test]
fn truncated_id3_tag() {
    let err = read_all(b"ID3\x04\x00\x00\x00\x00\x01\x00abc").unwrap_err();
    assert_eq!(
        err,
        Error::Truncated {
            what: "id3 tag",
            offset: 0,
            needed: 138,
            available: 13
        }
    );
    assert!(matches!(
        read_all(b"ID"),
        Err(Error::Truncated { what: "id3 tag", .. })
    ));
    assert_eq!(
        read_all(b"ID3\x04\x00\x00\x80\x00\x00\x00"),
        Err(Error::BadTag { offset: 0 })
    );
}

#[test]
fn garbage_names_its_offset() {
    let mut data = stream(&sample_payloads());
    let at = 3 + 7; // after the first frame
    data[at] = 0x00;
    let err = read_all(&data).unwrap_err();
    assert_eq!(err, Error::NoSync { offset: at as u64 });
    assert_eq!(err.to_string(), format!("no adts sync word at byte {at}"));
    assert_eq!(read_all(b"hello world"), Err(Error::NoSync { offset: 0 }));
    assert_eq!(read_all(b""), Err(Error::NoFrames(0)));
}

#[test]
fn bad_headers() {
    let mut data = stream(&[vec![1, 2, 3]]);
    data[2] = (data[2] & !0x3c) | (13 << 2); // reserved frequency index
    assert!(matches!(read_all(&data), Err(Error::BadHeader { offset: 0, .. })));
    let mut data = stream(&[vec![1, 2, 3]]);
    data[6] |= 1; // two raw data blocks
    assert_eq!(
        read_all(&data),
        Err(Error::MultipleBlocks { offset: 0, blocks: 2 })
    );
    let mut data = stream(&[vec![1, 2, 3], vec![4]]);
    data[10 + 3] &= 0x3f; // second frame: mono
    data[10 + 3] |= 0x40;
    let err = read_all(&data).unwrap_err();
    assert!(matches!(err, Error::ConfigChange { offset: 10, .. }), "{err}");
}

#[test]
fn reader_resyncs_after_garbage() {
    let good = stream(&sample_payloads());
    let mut r = Reader::new();
    r.push(&good[..10]);
    r.push(b"junk\xff\x00");
    r.push(&good[10..]);
    assert!(matches!(r.poll(), Ok(Some(Event::Track(_)))));
    assert!(matches!(r.poll(), Ok(Some(Event::Frame(_)))));
    assert_eq!(r.poll(), Err(Error::NoSync { offset: 10 }));
    // "\xff\x00" is no sync word either: skipped in one go
    assert_eq!(r.resync(), 6);
    let mut n = 1;
    while let Some(Event::Frame(f)) = r.poll().unwrap() {
        assert_eq!(f.dts.ticks(), n * 1024);
        n += 1;
    }
    assert_eq!(n, 4);
    assert_eq!(r.frame_count(), 4);
    assert_eq!(r.offset(), good.len() as u64 + 6);
    r.finish().unwrap();
}

#[test]
fn write_errors() {
    let f = frames(&[vec![1]], 48000);
    assert_eq!(write_all(&[], &f), Err(Error::NoAacTrack));
    let mut opus = track(&LC_48K_STEREO);
    opus.codec = Codec::Opus;
    assert_eq!(write_all(&[opus], &f), Err(Error::NoAacTrack));
    let mut t = track(&LC_48K_STEREO);
    t.init = Bytes::new();
    assert!(matches!(write_all(&[t], &f), Err(Error::BadConfig(_))));
    let he = AudioSpecificConfig {
        object_type: 5,
        ..LC_48K_STEREO
    };
    assert!(matches!(write_all(&[track(&he)], &f), Err(Error::BadConfig(_))));
    let big = frames(&[vec![1], vec![0; 9000]], 48000);
    let err = write_all(&[track(&LC_48K_STEREO)], &big).unwrap_err();
    assert!(matches!(err, Error::BadFrame { index: 1, .. }), "{err}");
    // frames of other tracks are left out
    let mut mixed = frames(&[vec![1], vec![2]], 48000);
    mixed[0].track = 7;
    assert_eq!(write_all(&[track(&LC_48K_STEREO)], &mixed).unwrap().len(), 8);
}

fn payloads() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..400), 1..12)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip(
        payloads in payloads(),
        object_type in 1u8..=4,
        rate in prop::sample::select(aac::SAMPLE_RATES.to_vec()),
        channels in 0u8..8,
    ) {
        let config = AudioSpecificConfig { object_type, sample_rate: rate, channels };
        let data = write_all(&[track(&config)], &frames(&payloads, rate)).unwrap();
        let demuxed = read_all(&data).unwrap();
        prop_assert_eq!(&demuxed.tracks, &vec![track(&config)]);
        prop_assert_eq!(&demuxed.frames, &frames(&payloads, rate));
        prop_assert_eq!(write_all(&demuxed.tracks, &demuxed.frames).unwrap(), data);
    }

    #[test]
    fn reader_matches_read_all_for_any_chunking(payloads in payloads(), chunks in prop::collection::vec(1usize..500, 1..40)) {
        let data = stream(&payloads);
        let whole = read_all(&data).unwrap();
        let mut r = Reader::new();
        let mut got = Demuxed::default();
        let mut pos = 0;
        for c in chunks.iter().cycle() {
            if pos >= data.len() {
                break;
            }
            let end = (pos + c).min(data.len());
            r.push(&data[pos..end]);
            pos = end;
            while let Some(e) = r.poll().unwrap() {
                match e {
                    Event::Track(t) => got.tracks.push(t),
                    Event::Frame(f) => got.frames.push(f),
                }
            }
        }
        r.finish().unwrap();
        prop_assert_eq!(got, whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = read_all(&data);
        let mut r = Reader::new();
        r.push(&data);
        for _ in 0..400 {
            match r.poll() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => if r.resync() == 0 { break },
            }
        }
        let _ = r.finish();
    }

    #[test]
    fn corrupted_stream_never_panics(pos in 0usize..400, byte in any::<u8>(), cut in 0usize..400) {
        let mut data = stream(&sample_payloads());
        let n = data.len();
        data[pos % n] = byte;
        data.truncate(cut.min(n));
        let _ = read_all(&data);
    }
}
