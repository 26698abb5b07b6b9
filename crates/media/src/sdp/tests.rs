use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;
use crate::Codec;
use crate::rtp::{AuHeaderConfig, PayloadFormat};

/// What `ffmpeg -c:v libx264 -flags:v +global_header -f rtp ... -sdp_file` writes (ffmpeg 5.1).
const FFMPEG_H264: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
a=tool:libavformat LIBAVFORMAT_VERSION\r\nm=video 45000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
a=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z2QADazZQUH7ARAAAAMAEAAAAwMg8UKZYA==,aOvjyyLA; profile-level-id=64000D\r\n";

const FFMPEG_H265: &str = "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=No Name\nc=IN IP4 127.0.0.1\nt=0 0\n\
a=tool:libavformat LIBAVFORMAT_VERSION\nm=video 45000 RTP/AVP 96\na=rtpmap:96 H265/90000\n\
a=fmtp:96 sprop-vps=QAEMAf//AWAAAAMAkAAAAwAAAwA8lZgJ; sprop-sps=QgEBAWAAAAMAkAAAAwAAAwA8oAoIDxZZWaSTK8BaAgAAAwACAAADADIQ; sprop-pps=RAHBcrRiQA==\n";

const FFMPEG_AAC: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
a=tool:libavformat LIBAVFORMAT_VERSION\r\nm=audio 45000 RTP/AVP 97\r\nb=AS:69\r\n\
a=rtpmap:97 MPEG4-GENERIC/48000/1\r\n\
a=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3; config=118856E500\r\n";

/// `ffmpeg ... -c:a libopus -f rtp rtp://239.1.2.3:45000?ttl=5 -sdp_file`.
const FFMPEG_OPUS_MULTICAST: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 239.1.2.3/5\r\n\
t=0 0\r\na=tool:libavformat LIBAVFORMAT_VERSION\r\nm=audio 45000 RTP/AVP 97\r\nb=AS:96\r\n\
a=rtpmap:97 opus/48000/2\r\na=fmtp:97 sprop-stereo=1\r\n";

#[test]
fn parses_ffmpeg_h264() {
    let sd = SessionDescription::parse(FFMPEG_H264).unwrap();
    assert_eq!(sd.name, "No Name");
    assert_eq!(sd.origin.address, Address::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert_eq!(sd.attributes[0].name, "tool");
    let m = &sd.media[0];
    assert_eq!(
        (m.kind.clone(), m.port, m.proto.as_str()),
        (MediaKind::Video, 45000, "RTP/AVP")
    );
    assert_eq!(m.payload_types(), [96]);
    assert_eq!(m.rtpmap[&96].encoding, "H264");
    assert_eq!(m.fmtp[&96].get("Packetization-Mode"), Some("1"));
    let tracks = Source::from_session(&sd).unwrap();
    let t = &tracks[0];
    assert_eq!(
        (t.codec.clone(), t.clock_rate, t.payload_type, t.port),
        (Codec::H264, 90_000, 96, 45000)
    );
    let config = crate::h264::AvcConfig::parse(&t.init).unwrap();
    assert_eq!((config.profile, config.level), (0x64, 0x0d));
    let info = t.track(1).video.unwrap();
    assert_eq!((info.width, info.height), (320, 240));
}

#[test]
fn parses_ffmpeg_h265_with_bare_lf() {
    let sd = SessionDescription::parse(FFMPEG_H265).unwrap();
    let t = &Source::from_session(&sd).unwrap()[0];
    assert_eq!(t.format, PayloadFormat::H265);
    let config = crate::h265::HevcConfig::parse(&t.init).unwrap();
    assert_eq!(config.arrays.len(), 3);
    let info = t.track(1).video.unwrap();
    assert_eq!((info.width, info.height), (320, 240));
}

#[test]
fn parses_ffmpeg_aac() {
    let sd = SessionDescription::parse(FFMPEG_AAC).unwrap();
    assert_eq!(
        sd.media[0].bandwidths,
        [Bandwidth {
            kind: "AS".into(),
            value: 69
        }]
    );
    let t = &Source::from_session(&sd).unwrap()[0];
    assert_eq!(t.codec, Codec::Aac);
    assert_eq!(t.format, PayloadFormat::Aac(AuHeaderConfig::AAC_HBR));
    assert_eq!(&t.init[..], &[0x11, 0x88, 0x56, 0xe5, 0x00]);
    assert_eq!(t.channels, Some(1));
    let audio = t.track(1).audio.unwrap();
    assert_eq!((audio.sample_rate, audio.channels), (48_000, 1));
}

#[test]
fn parses_ffmpeg_opus_multicast() {
    let sd = SessionDescription::parse(FFMPEG_OPUS_MULTICAST).unwrap();
    let c = sd.connection.as_ref().unwrap();
    assert!(c.is_multicast());
    assert_eq!(c.ttl, Some(5));
    let t = &Source::from_session(&sd).unwrap()[0];
    assert_eq!(t.connection.as_ref(), Some(c));
    assert_eq!(t.codec, Codec::Opus);
    assert_eq!(&t.init[..], &[0, 2, 0x01, 0x38, 0, 0, 0xbb, 0x80, 0, 0, 0]);
    let audio = t.track(1).audio.unwrap();
    assert_eq!((audio.sample_rate, audio.channels), (48_000, 2));
}

#[test]
fn connection_forms() {
    let c = |text: &str| {
        let sdp = format!("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=x\nc={text}\nm=video 1 RTP/AVP 96\n");
        SessionDescription::parse(&sdp).map(|s| s.connection.unwrap())
    };
    let v4 = c("IN IP4 233.252.0.1/127/3").unwrap();
    assert_eq!((v4.ttl, v4.count), (Some(127), Some(3)));
    let v6 = c("IN IP6 ff15::101/3").unwrap();
    assert_eq!(v6.address, Address::Ip(IpAddr::V6("ff15::101".parse().unwrap())));
    assert_eq!((v6.ttl, v6.count), (None, Some(3)));
    assert!(v6.is_multicast());
    let name = c("IN IP4 media.example.com").unwrap();
    assert_eq!(
        name.address,
        Address::Name {
            kind: AddressType::Ip4,
            name: "media.example.com".into()
        }
    );
    assert!(!name.is_multicast());
    assert_eq!(
        c("IN IP4 ::1").unwrap_err(),
        Error::BadField {
            line: 4,
            field: "address for its address type",
            value: "::1".into()
        }
    );
    assert!(matches!(
        c("IN IP6 ff15::1/3/2"),
        Err(Error::BadField { line: 4, .. })
    ));
    assert!(matches!(
        c("IN IP4 224.2.1.1/300"),
        Err(Error::BadField {
            line: 4,
            field: "ttl",
            ..
        })
    ));
    assert!(matches!(
        c("ATM NSAP 47"),
        Err(Error::BadField {
            line: 4,
            field: "network type",
            ..
        })
    ));
}

#[test]
fn media_level_connection_overrides_the_session() {
    let sdp = "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=x\nc=IN IP4 239.0.0.1/1\nt=0 0\n\
               m=video 5000 RTP/AVP 96\nc=IN IP4 239.0.0.2/2\na=rtpmap:96 H264/90000\n\
               m=audio 5002 RTP/AVP 0\n";
    let sd = SessionDescription::parse(sdp).unwrap();
    let tracks = Source::from_session(&sd).unwrap();
    assert_eq!(tracks[0].connection.as_ref().unwrap().ttl, Some(2));
    assert_eq!(tracks[1].connection.as_ref().unwrap().ttl, Some(1));
    // static payload type 0: PCMU, passed through
    assert_eq!(tracks[1].codec, Codec::Other("pcmu".into()));
    assert_eq!(
        (tracks[1].clock_rate, tracks[1].format.clone()),
        (8000, PayloadFormat::Raw)
    );
}

#[test]
fn parse_errors_name_the_line() {
    let err = |text: &str| SessionDescription::parse(text).unwrap_err();
    assert_eq!(err(""), Error::Missing("v="));
    assert!(matches!(
        err("o=- 1 1 IN IP4 1.2.3.4\n"),
        Error::Syntax { line: 1, .. }
    ));
    assert!(matches!(
        err("v=1\n"),
        Error::BadField {
            line: 1,
            field: "protocol version",
            ..
        }
    ));
    assert_eq!(err("v=0\ns=x\n"), Error::Missing("o="));
    assert_eq!(err("v=0\no=- 1 1 IN IP4 1.2.3.4\n"), Error::Missing("s="));
    let head = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=x\r\n";
    assert!(matches!(
        err(&format!("{head}m=video 99999 RTP/AVP 96\r\n")),
        Error::BadField {
            line: 4,
            field: "port",
            ..
        }
    ));
    assert!(matches!(
        err(&format!("{head}m=video 5 RTP/AVP 128\r\n")),
        Error::BadField {
            line: 4,
            field: "payload type",
            ..
        }
    ));
    assert!(matches!(
        err(&format!("{head}m=video 5 RTP/AVP\r\n")),
        Error::Syntax { line: 4, .. }
    ));
    assert!(matches!(
        err(&format!("{head}m=video 5 RTP/AVP 96\r\na=rtpmap:96 H264\r\n")),
        Error::BadField {
            line: 5,
            field: "clock rate",
            ..
        }
    ));
    assert!(matches!(
        err(&format!("{head}\r\nbogus\r\n")),
        Error::Syntax { line: 5, .. }
    ));
    assert!(matches!(
        err(&format!("{head}i=a\rb\r\n")),
        Error::Syntax { line: 4, .. }
    ));
    assert!(matches!(
        err(&format!("{head}t=0\r\n")),
        Error::Syntax { line: 4, .. }
    ));
    assert!(matches!(
        err(&format!("{head}b=AS:+5\r\n")),
        Error::BadField {
            line: 4,
            field: "bandwidth",
            ..
        }
    ));
    assert!(matches!(
        err(&format!(
            "{head}m=video 5 RTP/AVP 96\r\no=- 1 1 IN IP4 1.2.3.4\r\n"
        )),
        Error::Syntax { line: 5, .. }
    ));
    let long = format!("{head}a=x:{}\r\n", "y".repeat(MAX_LINE_LEN));
    assert!(matches!(err(&long), Error::LineTooLong { line: 4, .. }));
    let many = format!("{head}{}", "a=x\n".repeat(MAX_LINES));
    assert_eq!(err(&many), Error::TooManyLines { max: MAX_LINES });
    let media = format!("{head}{}", "m=video 5 RTP/AVP 96\n".repeat(MAX_MEDIA + 1));
    assert!(matches!(err(&media), Error::TooManyMedia { line, .. } if line == 4 + MAX_MEDIA));
    assert_eq!(
        SessionDescription::parse_bytes(&[b'v', b'=', 0xff]),
        Err(Error::NotUtf8 { offset: 2 })
    );
}

fn session_with(media: &str) -> SessionDescription {
    SessionDescription::parse(&format!(
        "v=0\no=- 1 1 IN IP4 1.2.3.4\ns=x\nc=IN IP4 1.2.3.4\n{media}"
    ))
    .unwrap()
}

#[test]
fn source_errors_name_the_media() {
    let err = |media: &str| {
        Source::from_session(&session_with(media))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err("m=video 5004 RTP/AVP 96\n"),
        "media 0 (video port 5004): no rtpmap for payload types [\"96\"]"
    );
    assert_eq!(
        err("m=video 5004 RTP/AVP 96\na=rtpmap:96 H264/90000\na=fmtp:96 packetization-mode=2\n"),
        "media 0 (video port 5004): payload type 96: interleaved packetization-mode 2 is not supported"
    );
    assert_eq!(
        err(
            "m=video 5004 RTP/AVP 96\na=rtpmap:96 H264/90000\na=fmtp:96 sprop-parameter-sets=Z2Q*,aOvjyyLA\n"
        ),
        "media 0 (video port 5004): payload type 96: sprop-parameter-sets: base64: invalid character 0x2a at byte 3"
    );
    assert!(
        err("m=video 5004 RTP/AVP 96\na=rtpmap:96 H265/90000\na=fmtp:96 sprop-max-don-diff=2\n")
            .contains("sprop-max-don-diff 2")
    );
    assert!(
        err("m=audio 5004 RTP/AVP 97\na=rtpmap:97 mpeg4-generic/48000/2\na=fmtp:97 mode=AAC-hbr\n")
            .contains("without config")
    );
    assert!(
        err("m=audio 5004 RTP/AVP 97\na=rtpmap:97 mpeg4-generic/48000/2\na=fmtp:97 mode=AAC-hbr;config=1G\n")
            .contains("not hex")
    );
    assert!(err("m=audio 5004 RTP/AVP 97\na=rtpmap:97 mpeg4-generic/48000/2\na=fmtp:97 mode=AAC-hbr;config=1190;sizelength=40\n").contains("sizelength=40"));
    assert!(err("m=audio 5004 RTP/AVP 97\na=rtpmap:97 opus/0/2\n").contains("clock rate 0"));
    assert!(err("m=application 9 UDP/BFCP *\n").contains("not rtp"));
}

#[test]
fn source_picks_a_supported_payload_type_and_skips_disabled_media() {
    let sd = session_with(
        "m=audio 0 RTP/AVP 0\nm=audio 5004 RTP/AVP 0 101 97\na=rtpmap:101 telephone-event/8000\n\
         a=rtpmap:97 mpeg4-generic/44100/2\na=fmtp:97 streamtype=5; mode=AAC-lbr; config=1210; constantDuration=1024\n",
    );
    let tracks = Source::from_session(&sd).unwrap();
    assert_eq!(tracks.len(), 1);
    assert_eq!((tracks[0].media, tracks[0].payload_type), (1, 97));
    let mut lbr = AuHeaderConfig::AAC_LBR;
    lbr.constant_duration = Some(1024);
    assert_eq!(tracks[0].format, PayloadFormat::Aac(lbr));
    let opus =
        session_with("m=audio 5004 RTP/AVP 111\na=rtpmap:111 OPUS/48000/2\na=fmtp:111 sprop-stereo=0\n");
    assert_eq!(Source::from_session(&opus).unwrap()[0].init[1], 1);
    let no_sprop = session_with("m=video 5004 RTP/AVP 96\na=rtpmap:96 H264/90000\n");
    assert!(Source::from_session(&no_sprop).unwrap()[0].init.is_empty());
}

#[test]
fn writes_what_it_parses() {
    for text in [FFMPEG_H264, FFMPEG_H265, FFMPEG_AAC, FFMPEG_OPUS_MULTICAST] {
        let sd = SessionDescription::parse(text).unwrap();
        let written = sd.to_string();
        assert!(written.ends_with("\r\n") && written.starts_with("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\n"));
        assert_eq!(SessionDescription::parse(&written).unwrap(), sd);
    }
    let written = SessionDescription::parse(FFMPEG_H264).unwrap().to_string();
    assert!(written.contains("a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z2QADazZQUH7ARAAAAMAEAAAAwMg8UKZYA==,aOvjyyLA;profile-level-id=64000D\r\n"));
    let mut sd = SessionDescription::new(
        Origin {
            username: "-".into(),
            session_id: "1".into(),
            session_version: "1".into(),
            address: Address::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        },
        "live\r\nx",
    );
    sd.connection = Some(Connection {
        address: Address::Ip(IpAddr::V4(Ipv4Addr::new(239, 0, 0, 1))),
        ttl: None,
        count: Some(2),
    });
    assert_eq!(
        sd.to_string(),
        "v=0\r\no=- 1 1 IN IP6 ::1\r\ns=livex\r\nc=IN IP4 239.0.0.1/0/2\r\nt=0 0\r\n"
    );
}

#[test]
fn media_for_track_reads_back_as_the_same_track() {
    for text in [FFMPEG_H264, FFMPEG_H265, FFMPEG_AAC, FFMPEG_OPUS_MULTICAST] {
        let original = Source::from_session(&SessionDescription::parse(text).unwrap())
            .unwrap()
            .remove(0);
        let media = media_for_track(&original.track(1), 5004, 96).unwrap();
        let mut sd = SessionDescription::new(
            Origin {
                username: "-".into(),
                session_id: "1".into(),
                session_version: "1".into(),
                address: Address::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            },
            "tributary",
        );
        sd.connection = Some(Connection::new(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        sd.media.push(media);
        let text = sd.to_string();
        let back = Source::from_session(&SessionDescription::parse(&text).unwrap())
            .unwrap()
            .remove(0);
        assert_eq!(
            (
                back.codec,
                back.clock_rate,
                back.init,
                back.format,
                back.payload_type
            ),
            (
                original.codec,
                original.clock_rate,
                original.init,
                original.format,
                96
            ),
            "{text}"
        );
    }
    let mut other = crate::Track::new(1, Codec::Other("pcmu".into()), 8000);
    assert!(media_for_track(&other, 5004, 0).is_err());
    other.codec = Codec::H264;
    assert!(media_for_track(&other, 5004, 96).is_err());
}

// --- property tests ---

fn token() -> impl Strategy<Value = String> {
    "[!-~]{1,10}"
}

fn name_token() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,8}".prop_filter("modelled attribute", |n| {
        !matches!(
            n.as_str(),
            "rtpmap" | "fmtp" | "control" | "sendrecv" | "sendonly" | "recvonly" | "inactive"
        )
    })
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,16}"
}

fn arb_address() -> impl Strategy<Value = Address> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| Address::Ip(IpAddr::from(b))),
        any::<[u8; 16]>().prop_map(|b| Address::Ip(IpAddr::from(b))),
        ("[a-z][a-z0-9.-]{0,12}", any::<bool>()).prop_map(|(name, v6)| Address::Name {
            kind: if v6 { AddressType::Ip6 } else { AddressType::Ip4 },
            name,
        }),
    ]
}

fn arb_connection() -> impl Strategy<Value = Connection> {
    (
        arb_address(),
        any::<u8>(),
        proptest::option::of(1u32..1000),
        any::<bool>(),
    )
        .prop_map(|(address, ttl, count, with_ttl)| match address.kind() {
            AddressType::Ip4 => Connection {
                address,
                ttl: (with_ttl || count.is_some()).then_some(ttl),
                count,
            },
            AddressType::Ip6 => Connection {
                address,
                ttl: None,
                count,
            },
        })
}

fn arb_direction() -> impl Strategy<Value = Option<Direction>> {
    proptest::option::of(prop_oneof![
        Just(Direction::SendRecv),
        Just(Direction::SendOnly),
        Just(Direction::RecvOnly),
        Just(Direction::Inactive),
    ])
}

fn arb_attributes() -> impl Strategy<Value = Vec<Attribute>> {
    proptest::collection::vec(
        (name_token(), proptest::option::of(text())).prop_map(|(name, value)| Attribute { name, value }),
        0..3,
    )
}

fn arb_bandwidths() -> impl Strategy<Value = Vec<Bandwidth>> {
    proptest::collection::vec(
        ("[A-Z][A-Z-]{0,4}", any::<u64>()).prop_map(|(kind, value)| Bandwidth { kind, value }),
        0..2,
    )
}

fn arb_media() -> impl Strategy<Value = MediaDescription> {
    let kind = prop_oneof![
        Just(MediaKind::Video),
        Just(MediaKind::Audio),
        "[a-z]{1,8}".prop_map(|k| MediaKind::from_name(&k)),
    ];
    let rtpmap = proptest::collection::btree_map(
        0u8..128,
        (
            "[A-Za-z0-9-]{1,12}",
            any::<u32>(),
            proptest::option::of(any::<u16>()),
        )
            .prop_map(|(encoding, clock_rate, channels)| RtpMap {
                encoding,
                clock_rate,
                channels,
            }),
        0..3,
    );
    let fmtp = proptest::collection::btree_map(
        0u8..128,
        proptest::collection::vec(("[a-zA-Z][a-zA-Z0-9-]{0,8}", "[A-Za-z0-9=,+/]{0,12}"), 0..4)
            .prop_map(|params| Fmtp { params }),
        0..3,
    );
    (
        (
            kind,
            any::<u16>(),
            proptest::option::of(any::<u16>()),
            proptest::collection::vec(0u8..128, 1..4),
        ),
        (
            proptest::option::of(text()),
            proptest::option::of(arb_connection()),
            arb_bandwidths(),
        ),
        (
            rtpmap,
            fmtp,
            proptest::option::of("[a-zA-Z0-9:/=._-]{1,20}"),
            arb_direction(),
            arb_attributes(),
        ),
    )
        .prop_map(
            |(
                (kind, port, port_count, pts),
                (info, connection, bandwidths),
                (rtpmap, fmtp, control, direction, attributes),
            )| {
                let mut m =
                    MediaDescription::new(kind, port, "RTP/AVP", pts.iter().map(u8::to_string).collect());
                m.port_count = port_count;
                m.info = info;
                m.connection = connection;
                m.bandwidths = bandwidths;
                m.rtpmap = rtpmap;
                m.fmtp = fmtp;
                m.control = control;
                m.direction = direction;
                m.attributes = attributes;
                m
            },
        )
}

fn arb_session() -> impl Strategy<Value = SessionDescription> {
    (
        (
            token(),
            "[0-9]{1,20}",
            "[0-9]{1,20}",
            arb_address(),
            text(),
            proptest::option::of(text()),
        ),
        (
            proptest::option::of(arb_connection()),
            arb_bandwidths(),
            proptest::collection::vec((any::<u64>(), any::<u64>()), 1..3),
        ),
        (
            proptest::option::of("[a-z*]{1,5}"),
            arb_direction(),
            arb_attributes(),
        ),
        proptest::collection::vec(arb_media(), 0..4),
    )
        .prop_map(
            |(
                (user, id, version, address, name, info),
                (connection, bandwidths, times),
                (control, direction, attributes),
                media,
            )| {
                let mut sd = SessionDescription::new(
                    Origin {
                        username: user,
                        session_id: id,
                        session_version: version,
                        address,
                    },
                    name,
                );
                sd.info = info;
                sd.connection = connection;
                sd.bandwidths = bandwidths;
                sd.times = times
                    .into_iter()
                    .map(|(start, stop)| Timing { start, stop })
                    .collect();
                sd.control = control;
                sd.direction = direction;
                sd.attributes = attributes;
                sd.media = media;
                sd
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn write_parse_round_trip(sd in arb_session()) {
        let text = sd.to_string();
        prop_assert_eq!(SessionDescription::parse(&text).unwrap(), sd);
    }

    #[test]
    fn arbitrary_text_never_panics(
        head in "(v=0\n)?(o=- 1 1 IN IP[46] [0-9a-f:.]{1,12}\n|o=[!-~ ]{0,30}\n)?(s=\\PC{0,5}\n)?",
        lines in "([a-z]=[!-~ /:]{0,30}\r?\n|\\PC{0,10}\n){0,12}",
    ) {
        let text = format!("{head}{lines}");
        if let Ok(sd) = SessionDescription::parse(&text) {
            let _ = Source::from_session(&sd);
            prop_assert_eq!(SessionDescription::parse(&sd.to_string()).unwrap(), sd);
        }
    }

    /// Mutations of a real SDP: parsing and deriving tracks never panic.
    #[test]
    fn mutated_ffmpeg_sdp_never_panics(cut in 0usize..400, byte: u8, at in 0usize..400) {
        let mut data = FFMPEG_AAC.as_bytes().to_vec();
        if at < data.len() {
            data[at] = byte;
        }
        data.truncate(cut.max(1));
        if let Ok(sd) = SessionDescription::parse_bytes(&data) {
            let _ = Source::from_session(&sd);
        }
    }
}

#[test]
fn fmtp_lookup_is_case_insensitive_and_keeps_order() {
    let sd = session_with("m=video 5 RTP/AVP 96\na=fmtp:96 A=1; b ;;c=x=y\n");
    let f = &sd.media[0].fmtp[&96];
    assert_eq!(
        f.params,
        [
            ("A".into(), "1".into()),
            ("b".into(), String::new()),
            ("c".into(), "x=y".into())
        ]
    );
    assert_eq!(f.get("a"), Some("1"));
    assert_eq!(f.get("B"), Some(""));
}
