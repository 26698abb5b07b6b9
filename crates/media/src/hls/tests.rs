use std::time::Duration;

use proptest::prelude::*;

use super::*;

fn media(text: &str) -> MediaPlaylist {
    match parse(text).unwrap() {
        Playlist::Media(p) => p,
        other => panic!("not a media playlist: {other:?}"),
    }
}

fn multivariant(text: &str) -> MultivariantPlaylist {
    match parse(text).unwrap() {
        Playlist::Multivariant(p) => p,
        other => panic!("not a multivariant playlist: {other:?}"),
    }
}

#[test]
fn ffmpeg_live_ts_playlist() {
    let p = media(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:12\n\
         #EXTINF:1.000000,\nindex12.ts\n#EXTINF:1.000000,\nindex13.ts\n#EXTINF:0.960000,\nindex14.ts\n",
    );
    assert_eq!(p.version, Some(3));
    assert_eq!(p.target_duration, Duration::from_secs(1));
    assert_eq!(p.media_sequence, 12);
    assert!(p.is_live());
    assert_eq!(p.next_sequence(), 15);
    let seqs: Vec<u64> = p.segments.iter().map(|s| s.sequence).collect();
    assert_eq!(seqs, [12, 13, 14]);
    assert_eq!(p.segments[2].duration, Duration::from_millis(960));
    assert_eq!(p.segments[2].uri, "index14.ts");
    assert_eq!(p.duration(), Duration::from_millis(2960));
    assert!(p.segments.iter().all(|s| s.map.is_none() && !s.discontinuity));
}

#[test]
fn fmp4_vod_playlist_with_map_and_byteranges() {
    let p = media(
        "\u{feff}#EXTM3U\r\n#EXT-X-VERSION:7\r\n#EXT-X-TARGETDURATION:4\r\n#EXT-X-PLAYLIST-TYPE:VOD\r\n\
         #EXT-X-MAP:URI=\"init.mp4\",BYTERANGE=\"720@0\"\r\n#EXTINF:4.0,first\r\n#EXT-X-BYTERANGE:1000@720\r\n\
         all.mp4\r\n#EXTINF:4.0,\r\n#EXT-X-BYTERANGE:500\r\nall.mp4\r\n# a comment\r\n\r\n\
         #EXT-X-DISCONTINUITY\r\n#EXT-X-PROGRAM-DATE-TIME:2026-01-02T03:04:05.678Z\r\n\
         #EXT-X-KEY:METHOD=NONE\r\n#EXT-X-MAP:URI=\"init2.mp4\"\r\n#EXTINF:2.5,t, with comma\r\nother.mp4\r\n\
         #EXT-X-ENDLIST\r\n",
    );
    assert!(!p.is_live());
    assert_eq!(p.playlist_type, Some(PlaylistType::Vod));
    let s = &p.segments;
    let init = Map {
        uri: "init.mp4".into(),
        byte_range: Some(ByteRange {
            length: 720,
            offset: 0,
        }),
    };
    assert_eq!(s[0].map.as_ref(), Some(&init));
    assert_eq!(s[0].title, "first");
    assert_eq!(
        s[0].byte_range,
        Some(ByteRange {
            length: 1000,
            offset: 720
        })
    );
    assert_eq!(
        s[1].byte_range,
        Some(ByteRange {
            length: 500,
            offset: 1720
        })
    );
    assert_eq!(s[1].map.as_ref(), Some(&init));
    assert!(s[2].discontinuity);
    assert_eq!(
        s[2].program_date_time.as_deref(),
        Some("2026-01-02T03:04:05.678Z")
    );
    assert_eq!(s[2].map.as_ref().map(|m| m.uri.as_str()), Some("init2.mp4"));
    assert_eq!(s[2].title, "t, with comma");
    assert_eq!(s[2].duration, Duration::from_millis(2500));
}

#[test]
fn ll_hls_playlist_is_tolerated() {
    // RFC 8216bis Appendix, abridged
    let p = media(
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-VERSION:6\n\
         #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.0,CAN-SKIP-UNTIL=12.0\n\
         #EXT-X-PART-INF:PART-TARGET=0.33334\n#EXT-X-MEDIA-SEQUENCE:266\n\
         #EXT-X-PROGRAM-DATE-TIME:2019-02-14T02:13:36.106Z\n#EXT-X-MAP:URI=\"init.mp4\"\n\
         #EXTINF:4.00008,\nfileSequence266.mp4\n\
         #EXT-X-PART:DURATION=0.33334,URI=\"filePart267.0.mp4\",INDEPENDENT=YES\n\
         #EXT-X-PART:DURATION=0.33334,URI=\"filePart267.1.mp4\"\n\
         #EXTINF:4.00008,\nfileSequence267.mp4\n\
         #EXT-X-PART:DURATION=0.33334,URI=\"filePart268.0.mp4\"\n\
         #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"filePart268.1.mp4\"\n\
         #EXT-X-RENDITION-REPORT:URI=\"../1M/waitForMSN.php\",LAST-MSN=273,LAST-PART=2\n",
    );
    let c = p.server_control.as_ref().unwrap();
    assert!(c.can_block_reload);
    assert_eq!(c.part_hold_back, Some(Duration::from_secs(1)));
    assert_eq!(c.can_skip_until, Some(Duration::from_secs(12)));
    assert_eq!(p.part_target, Some(Duration::from_micros(333_340)));
    assert_eq!(p.segments.len(), 2);
    assert_eq!(p.segments[1].sequence, 267);
}

#[test]
fn multivariant_playlist() {
    let p = multivariant(
        "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n\
         #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aac\",NAME=\"English\",LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES,URI=\"en/index.m3u8\"\n\
         #EXT-X-STREAM-INF:BANDWIDTH=1280000,AVERAGE-BANDWIDTH=1000000,RESOLUTION=640x360,CODECS=\"avc1.4d401e,mp4a.40.2\",AUDIO=\"aac\"\n\
         low/index.m3u8\n\
         #EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=86000,URI=\"low/iframe.m3u8\"\n\
         #EXT-X-STREAM-INF:BANDWIDTH=7680000,RESOLUTION=1920x1080\nhttp://cdn.example/hi/index.m3u8\n\
         #EXT-X-STREAM-INF:BANDWIDTH=2560000\nmid/index.m3u8\n",
    );
    assert!(p.independent_segments);
    assert_eq!(p.variants.len(), 3);
    let v = &p.variants[0];
    assert_eq!(v.bandwidth, 1_280_000);
    assert_eq!(v.average_bandwidth, Some(1_000_000));
    assert_eq!(v.resolution, Some((640, 360)));
    assert_eq!(v.codecs.as_deref(), Some("avc1.4d401e,mp4a.40.2"));
    assert_eq!(v.audio.as_deref(), Some("aac"));
    assert_eq!(p.best_variant().unwrap().uri, "http://cdn.example/hi/index.m3u8");
    let r = &p.renditions[0];
    assert_eq!(r.media_type, MediaType::Audio);
    assert_eq!((r.group_id.as_str(), r.name.as_str()), ("aac", "English"));
    assert!(r.default && r.autoselect);
    assert_eq!(r.uri.as_deref(), Some("en/index.m3u8"));
}

#[test]
fn errors_name_the_line() {
    let cases: &[(&str, &str)] = &[
        ("", "line 1: not a playlist"),
        ("<html>\n", "line 1: not a playlist"),
        (
            "#EXTM3U\n#EXT-X-TARGETDURATION:x\n",
            "line 2: EXT-X-TARGETDURATION",
        ),
        (
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\nseg.ts\n",
            "line 3: uri \"seg.ts\" without #EXTINF",
        ),
        (
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n\n#EXTINF:abc,\nseg.ts\n",
            "line 4: EXTINF",
        ),
        (
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n",
            "line 3: EXTINF is not followed by a uri",
        ),
        (
            "#EXTM3U\n#EXTINF:2,\na.ts\n",
            "line 4: end of playlist without #EXT-X-TARGETDURATION",
        ),
        (
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-KEY:METHOD=AES-128,URI=\"k\"\n#EXTINF:2,\na.ts\n",
            "line 3: encrypted segments (EXT-X-KEY METHOD=AES-128) are not supported",
        ),
        (
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n",
            "line 3: EXT-X-STREAM-INF cannot appear in a media playlist",
        ),
        (
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n#EXTINF:2,\n",
            "line 4: EXTINF cannot appear in a multivariant playlist",
        ),
        (
            "#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=1x1\na.m3u8\n",
            "line 2: EXT-X-STREAM-INF: no BANDWIDTH",
        ),
        (
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n",
            "line 2: EXT-X-STREAM-INF is not followed by a uri",
        ),
        (
            "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO\n",
            "line 2: EXT-X-MEDIA: no GROUP-ID",
        ),
        (
            "#EXTM3U\n#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI=\"i.m3u8\"\n",
            "line 3: end of playlist without #EXT-X-STREAM-INF",
        ),
        (
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n#EXT-X-BYTERANGE:10\na.ts\n",
            "line 4: EXT-X-BYTERANGE: no offset",
        ),
        (
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:BYTERANGE=\"1@0\"\n",
            "line 3: EXT-X-MAP: no URI",
        ),
        (
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:LIVE\n",
            "line 3: EXT-X-PLAYLIST-TYPE",
        ),
    ];
    for (text, want) in cases {
        let err = parse(text).unwrap_err().to_string();
        assert!(err.starts_with(want), "{text:?}: {err}");
    }
    let long = format!("#EXTM3U\n#{}\n", "x".repeat(MAX_LINE_LENGTH));
    assert!(matches!(parse(&long), Err(Error::LineTooLong { line: 2, .. })));
    let many = "#EXTM3U\n".to_owned() + &"\n".repeat(MAX_LINES);
    assert!(matches!(parse(&many), Err(Error::TooManyLines { .. })));
    let big = vec![b'#'; MAX_PLAYLIST_SIZE + 1];
    assert!(matches!(parse_bytes(&big), Err(Error::TooLarge { .. })));
    assert_eq!(
        parse_bytes(b"#EXTM3U\n\xff\n"),
        Err(Error::NotUtf8 { line: 2, offset: 8 })
    );
}

#[test]
fn empty_live_playlist_is_valid() {
    let p = media("#EXTM3U\n#EXT-X-TARGETDURATION:6\n");
    assert!(p.segments.is_empty());
    assert_eq!(p.next_sequence(), 0);
    // rounded up when written as a decimal
    assert_eq!(
        media("#EXTM3U\n#EXT-X-TARGETDURATION:5.2\n").target_duration,
        Duration::from_secs(6)
    );
}

fn arb_text() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9/._-]{0,20}"
}

fn arb_duration() -> impl Strategy<Value = Duration> {
    (0u64..100_000_000).prop_map(Duration::from_micros)
}

fn arb_range() -> impl Strategy<Value = Option<ByteRange>> {
    proptest::option::of(
        (0u64..1 << 40, 0u64..1 << 40).prop_map(|(length, offset)| ByteRange { length, offset }),
    )
}

fn arb_segment() -> impl Strategy<Value = (Segment, Option<Map>)> {
    let seg = (
        arb_duration(),
        "([!-~]([ -~]{0,10}[!-~])?)?",
        arb_text(),
        any::<bool>(),
        arb_range(),
        proptest::option::of("20[0-9]{2}-01-01T00:00:0[0-9]Z"),
        any::<bool>(),
    );
    let map =
        proptest::option::of((arb_text(), arb_range()).prop_map(|(uri, byte_range)| Map { uri, byte_range }));
    (seg, map).prop_map(
        |((duration, title, uri, discontinuity, byte_range, pdt, gap), map)| {
            let s = Segment {
                sequence: 0,
                duration,
                title,
                uri,
                discontinuity,
                byte_range,
                map: None,
                program_date_time: pdt,
                gap,
            };
            (s, map)
        },
    )
}

fn arb_media() -> impl Strategy<Value = MediaPlaylist> {
    let control = proptest::option::of(
        (
            proptest::option::of(arb_duration()),
            any::<bool>(),
            proptest::option::of(arb_duration()),
            proptest::option::of(arb_duration()),
            any::<bool>(),
        )
            .prop_map(|(a, b, c, d, e)| ServerControl {
                can_skip_until: a,
                can_skip_dateranges: b,
                hold_back: c,
                part_hold_back: d,
                can_block_reload: e,
            }),
    );
    let header = (
        proptest::option::of(1u32..12),
        0u64..100,
        any::<u64>(),
        0u64..1000,
        proptest::option::of(prop_oneof![Just(PlaylistType::Event), Just(PlaylistType::Vod)]),
        any::<[bool; 3]>(),
        control,
        proptest::option::of(arb_duration()),
    );
    (header, proptest::collection::vec(arb_segment(), 0..12)).prop_map(|(h, segs)| {
        let (version, target, media_sequence, disc, playlist_type, flags, server_control, part_target) = h;
        let mut map: Option<Map> = None;
        let segments = segs
            .into_iter()
            .enumerate()
            .map(|(i, (mut s, m))| {
                // a map, once given, applies to every later segment
                if m.is_some() {
                    map = m;
                }
                s.map = map.clone();
                s.sequence = media_sequence.saturating_add(i as u64);
                s
            })
            .collect();
        MediaPlaylist {
            version,
            target_duration: Duration::from_secs(target),
            media_sequence,
            discontinuity_sequence: disc,
            playlist_type,
            end_list: flags[0],
            independent_segments: flags[1],
            i_frames_only: flags[2],
            server_control,
            part_target,
            segments,
        }
    })
}

fn arb_multivariant() -> impl Strategy<Value = MultivariantPlaylist> {
    let q = || proptest::option::of("[a-zA-Z0-9., -]{1,16}");
    let variant = (
        arb_text(),
        any::<u64>(),
        proptest::option::of(any::<u64>()),
        proptest::option::of((any::<u32>(), any::<u32>())),
        q(),
        q(),
        q(),
    )
        .prop_map(
            |(uri, bandwidth, average_bandwidth, resolution, codecs, audio, video)| Variant {
                uri,
                bandwidth,
                average_bandwidth,
                resolution,
                codecs,
                audio,
                video,
            },
        );
    let media_type = prop_oneof![
        Just(MediaType::Audio),
        Just(MediaType::Video),
        Just(MediaType::Subtitles),
        Just(MediaType::ClosedCaptions)
    ];
    let rendition = (
        media_type,
        "[a-z]{1,8}",
        "[A-Za-z ]{1,8}",
        proptest::option::of(arb_text()),
        q(),
        any::<[bool; 2]>(),
        q(),
    )
        .prop_map(
            |(media_type, group_id, name, uri, language, flags, channels)| Rendition {
                media_type,
                group_id,
                name,
                uri,
                language,
                default: flags[0],
                autoselect: flags[1],
                channels,
            },
        );
    (
        proptest::option::of(1u32..12),
        any::<bool>(),
        proptest::collection::vec(variant, 1..6),
        proptest::collection::vec(rendition, 0..4),
    )
        .prop_map(
            |(version, independent_segments, variants, renditions)| MultivariantPlaylist {
                version,
                independent_segments,
                variants,
                renditions,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn media_playlist_round_trips(p in arb_media()) {
        let text = p.to_string();
        prop_assert_eq!(parse(&text), Ok(Playlist::Media(p)), "{}", text);
    }

    #[test]
    fn multivariant_playlist_round_trips(p in arb_multivariant()) {
        let text = p.to_string();
        prop_assert_eq!(parse(&text), Ok(Playlist::Multivariant(p)), "{}", text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "(#EXTM3U\n)?([ -~]{0,60}\n){0,20}") {
        let _ = parse(&text);
    }

    #[test]
    fn arbitrary_tag_lines_never_panic(
        lines in proptest::collection::vec(
            ("#EXT(INF|-X-[A-Z-]{1,20}):?", "[ -~]{0,40}").prop_map(|(t, v)| format!("{t}{v}")),
            0..20,
        )
    ) {
        let text = format!("#EXTM3U\n{}\n", lines.join("\n"));
        if let Err(e) = parse(&text) {
            prop_assert!(e.to_string().starts_with("line "), "{}", e);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_bytes(&data);
    }

    #[test]
    fn resolve_never_panics(base in "[ -~]{0,40}", r in "[ -~]{0,40}") {
        if let Some(u) = resolve(&format!("http://h/{base}"), &r) {
            prop_assert!(u.contains(':'));
        }
    }
}
