use super::*;
use proptest::prelude::*;

#[test]
fn parses_lc_stereo_48k() {
    // what ffmpeg's aac encoder puts into MP4 for 48 kHz stereo
    let asc = AudioSpecificConfig::parse(&[0x11, 0x90]).unwrap();
    assert_eq!(
        asc,
        AudioSpecificConfig {
            object_type: 2,
            sample_rate: 48000,
            channels: 2
        }
    );
    assert_eq!(&asc.encode()[..], &[0x11, 0x90]);
}

#[test]
fn parses_escaped_object_type_and_explicit_rate() {
    let asc = AudioSpecificConfig {
        object_type: 42,
        sample_rate: 12345,
        channels: 1,
    };
    let bytes = asc.encode();
    assert_eq!(bytes.len(), 6); // 5 + 6 + 4 + 24 + 4 + 3 bits
    assert_eq!(AudioSpecificConfig::parse(&bytes).unwrap(), asc);
}

#[test]
fn object_type_31_is_not_representable_but_does_not_panic() {
    let asc = AudioSpecificConfig {
        object_type: 31,
        sample_rate: 44100,
        channels: 2,
    };
    assert_eq!(AudioSpecificConfig::parse(&asc.encode()).unwrap().object_type, 32);
}

#[test]
fn bad_audio_specific_configs() {
    assert!(matches!(AudioSpecificConfig::parse(&[]), Err(Error::Bits(_))));
    assert!(matches!(AudioSpecificConfig::parse(&[0x12]), Err(Error::Bits(_))));
    // frequency index 13 is reserved
    assert_eq!(
        AudioSpecificConfig::parse(&[0x16, 0x90]),
        Err(Error::BadFrequencyIndex(13))
    );
    // explicit rate cut off
    assert!(AudioSpecificConfig::parse(&[0x17, 0x80, 0x00]).is_err());
}

#[test]
fn parses_ffmpeg_adts_header() {
    // first header of `ffmpeg -f lavfi -i sine -c:a aac -f adts` at 48 kHz stereo
    let h = AdtsHeader::parse(&[0xff, 0xf1, 0x4c, 0x80, 0x2f, 0x9f, 0xfc], 0).unwrap();
    assert_eq!(h.config.object_type, 2);
    assert_eq!(h.config.sample_rate, 48000);
    assert_eq!(h.config.channels, 2);
    assert_eq!(h.header_len, 7);
    assert_eq!(h.frame_len, 0x17c);
    assert_eq!(h.raw_data_blocks, 1);
}

#[test]
fn bad_adts_headers() {
    let good = [0xff, 0xf1, 0x4c, 0x80, 0x2f, 0x9f, 0xfc];
    assert_eq!(
        AdtsHeader::parse(&good[..6], 100),
        Err(Error::Truncated {
            offset: 100,
            needed: 7,
            available: 6
        })
    );
    let mut bad = good;
    bad[1] = 0x71;
    assert_eq!(AdtsHeader::parse(&bad, 5), Err(Error::BadSync { offset: 5 }));
    assert!(Error::BadSync { offset: 5 }.to_string().contains("byte 5"));
    // an mp3 frame header (layer 3) is not adts
    assert_eq!(
        AdtsHeader::parse(&[0xff, 0xfb, 0x90, 0x64, 0, 0, 0], 0),
        Err(Error::BadSync { offset: 0 })
    );
    // frequency index 15 is not allowed in adts
    bad = good;
    bad[2] = 0x7c;
    assert_eq!(AdtsHeader::parse(&bad, 0), Err(Error::BadFrequencyIndex(15)));
    // frame length 3 is shorter than the header
    bad = good;
    bad[3] = 0x80;
    bad[4] = 0;
    bad[5] = 0x7f;
    assert_eq!(
        AdtsHeader::parse(&bad, 9),
        Err(Error::BadLength { offset: 9, length: 3 })
    );
    // with CRC the header is 9 bytes, so a length of 8 is too short
    bad = good;
    bad[1] = 0xf0;
    bad[4] = 0x01;
    bad[5] = 0x1f;
    assert_eq!(
        AdtsHeader::parse(&bad, 0),
        Err(Error::BadLength { offset: 0, length: 8 })
    );
}

#[test]
fn representable_configs() {
    let lc = AudioSpecificConfig {
        object_type: 2,
        sample_rate: 44100,
        channels: 1,
    };
    assert!(AdtsHeader::check_representable(&lc, 8184).is_ok());
    let err = AdtsHeader::check_representable(&lc, 8185).unwrap_err();
    assert!(err.to_string().contains("8185"), "{err}");
    for bad in [
        AudioSpecificConfig { object_type: 5, ..lc },
        AudioSpecificConfig {
            sample_rate: 44000,
            ..lc
        },
        AudioSpecificConfig { channels: 8, ..lc },
    ] {
        assert!(matches!(
            AdtsHeader::check_representable(&bad, 10),
            Err(Error::Unrepresentable(_))
        ));
    }
}

fn any_asc() -> impl Strategy<Value = AudioSpecificConfig> {
    let object_type = prop_oneof![1u8..31, 32u8..=95];
    let rate = prop_oneof![prop::sample::select(SAMPLE_RATES.to_vec()), 0u32..(1 << 24),];
    (object_type, rate, 0u8..16).prop_map(|(object_type, sample_rate, channels)| AudioSpecificConfig {
        object_type,
        sample_rate,
        channels,
    })
}

fn adts_asc() -> impl Strategy<Value = AudioSpecificConfig> {
    (1u8..=4, prop::sample::select(SAMPLE_RATES.to_vec()), 0u8..8).prop_map(
        |(object_type, sample_rate, channels)| AudioSpecificConfig {
            object_type,
            sample_rate,
            channels,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn audio_specific_config_round_trip(asc in any_asc()) {
        prop_assert_eq!(AudioSpecificConfig::parse(&asc.encode()).unwrap(), asc);
    }

    #[test]
    fn adts_header_round_trip(asc in adts_asc(), payload_len in 0usize..=(MAX_ADTS_FRAME_LEN - ADTS_HEADER_LEN)) {
        prop_assert!(AdtsHeader::check_representable(&asc, payload_len).is_ok());
        let mut out = Vec::new();
        AdtsHeader::write(&asc, payload_len, &mut out);
        prop_assert_eq!(out.len(), ADTS_HEADER_LEN);
        let h = AdtsHeader::parse(&out, 0).unwrap();
        prop_assert_eq!(h, AdtsHeader { config: asc, header_len: 7, frame_len: payload_len + 7, raw_data_blocks: 1 });
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..16), offset in any::<usize>()) {
        let _ = AudioSpecificConfig::parse(&data);
        if let Ok(h) = AdtsHeader::parse(&data, offset) {
            prop_assert!(h.frame_len >= h.header_len);
        }
    }
}
