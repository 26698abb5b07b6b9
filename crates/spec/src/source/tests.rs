use std::net::IpAddr;

use proptest::prelude::*;

use super::*;
use crate::Redacted;

fn ok(s: &str) -> Source {
    Source::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn err(s: &str) -> String {
    Source::parse(s).unwrap_err().to_string()
}

#[test]
fn push() {
    assert_eq!(ok("push://"), Source::Push(PushSource::default()));
    let Source::Push(p) = ok("push://10.0.0.0/8, 192.168.1.5,2001:db8::/32,[::1],") else {
        panic!()
    };
    assert_eq!(p.allow.len(), 4);
    assert!(p.allows("10.9.9.9".parse().unwrap()) && p.allows("::1".parse().unwrap()));
    assert!(!p.allows("192.168.1.6".parse().unwrap()));
    assert!(PushSource::default().allows("1.2.3.4".parse().unwrap()));
    assert_eq!(
        Source::Push(p).to_string(),
        "push://10.0.0.0/8,192.168.1.5,2001:db8::/32,::1"
    );
    assert_eq!(
        err("push://10.0.0.0/8,camera.local"),
        "push: allow-list entry 1 \"camera.local\": \"camera.local\" is not an IPv4 or IPv6 address"
    );
    assert!(err("push://10.0.0.0/40").contains("entry 0"));
    assert!(ok("PUSH://").is_push());
}

#[test]
fn udp() {
    let Source::TsUdp(u) = ok("tsudp://239.1.2.3:5000?iface=eth0") else {
        panic!()
    };
    assert_eq!(u.host, Some("239.1.2.3".parse().unwrap()));
    assert_eq!(
        (u.port, u.iface.as_deref(), u.is_multicast()),
        (5000, Some("eth0"), true)
    );
    let Source::TsUdp(any) = ok("tsudp://:5000") else {
        panic!()
    };
    assert_eq!((any.host, any.is_multicast()), (None, false));
    let Source::TsRtp(v6) = ok("tsrtp://[ff02::1]:5004") else {
        panic!()
    };
    assert!(v6.is_multicast());
    assert_eq!(Source::TsRtp(v6).to_string(), "tsrtp://[ff02::1]:5004");
    assert!(err("tsudp://group.example:5000").contains("must be an IP address"));
    assert_eq!(err("tsudp://:5000?ttl=3"), "tsudp: unknown parameter \"ttl\"");
    assert!(err("tsudp://:5000?iface").contains("iface: needs an interface"));
    assert!(err("tsudp://:5000?iface=a&iface=b").contains("given twice"));
    assert!(err("tsudp://:5000/x").contains("no path"));
    assert!(err("tsudp://239.0.0.1").contains("missing port"));
}

#[test]
fn sdp_and_files() {
    assert_eq!(
        ok("sdp:/srv/cam.sdp"),
        Source::Sdp(SdpSource {
            path: "/srv/cam.sdp".into()
        })
    );
    assert_eq!(ok("sdp:/srv/cam.sdp").to_string(), "sdp:/srv/cam.sdp");
    assert!(err("sdp:").contains("no path"));
    let f = |path: &str, format, looping| {
        Source::File(FileSource {
            path: path.into(),
            format,
            looping,
        })
    };
    assert_eq!(ok("/v/a.ts"), f("/v/a.ts", FileFormat::Ts, false));
    assert_eq!(ok("clip.FLV"), f("clip.FLV", FileFormat::Flv, false));
    assert_eq!(ok("/v/a.mp4?loop"), f("/v/a.mp4", FileFormat::Mp4, true));
    assert_eq!(ok("/v/a.aac?loop=true"), f("/v/a.aac", FileFormat::Aac, true));
    assert_eq!(ok("/v/a.aac?loop=0"), f("/v/a.aac", FileFormat::Aac, false));
    assert_eq!(ok("file:///v/a.mp4?loop"), f("/v/a.mp4", FileFormat::Mp4, true));
    assert_eq!(ok("/v/what?.mp4"), f("/v/what?.mp4", FileFormat::Mp4, false));
    assert_eq!(ok("/v/a.mp4?loop").to_string(), "/v/a.mp4?loop");
    // Paths that would read as URLs keep their file:// prefix.
    for s in ["file://srt://h:1/x.ts", "file://sdp:x.ts", "file://file://x.ts"] {
        assert_eq!(ok(s).to_string(), s);
        assert_eq!(ok(&ok(s).to_string()), ok(s));
    }
    assert_eq!(
        err("/v/a.mkv"),
        "not a source URL nor a .ts, .flv, .mp4 or .aac file"
    );
    assert_eq!(
        err("/v/.mp4"),
        "not a source URL nor a .ts, .flv, .mp4 or .aac file"
    );
    assert_eq!(err("/v/a.mp4?speed=2"), "file: unknown parameter \"speed\"");
    assert!(err("/v/a.mp4?loop=maybe").contains("parameter loop: expected"));
    assert!(err("/v/a.mp4?loop&loop").contains("given twice"));
}

#[test]
fn rtmp() {
    let Source::Rtmp(r) = ok("rtmp://origin.example/live/cam1?token=x") else {
        panic!()
    };
    assert_eq!(
        (r.host.as_str(), r.port, r.app.as_str()),
        ("origin.example", None, "live")
    );
    assert_eq!((r.stream.as_str(), r.port_or_default()), ("cam1?token=x", 1935));
    assert_eq!(
        Source::Rtmp(r.clone()).to_string(),
        "rtmp://origin.example/live/cam1?token=x"
    );
    assert_eq!(
        Source::Rtmp(r).redacted().to_string(),
        "rtmp://origin.example/live/<redacted>"
    );
    let Source::Rtmp(s) = ok("rtmps://[::1]:8443/app/inst/key") else {
        panic!()
    };
    assert_eq!(
        (s.tls, s.port_or_default(), s.stream.as_str()),
        (true, 8443, "inst/key")
    );
    assert!(err("rtmp://host/live").contains("expected rtmp://HOST[:PORT]/APP/STREAM"));
    assert!(err("rtmp://host").contains("APP/STREAM"));
    assert!(err("rtmp:///live/x").contains("invalid host"));
    assert!(err("rtmp://h/live/a b").contains("whitespace"));
}

#[test]
fn hls() {
    let url = "https://user:pw@cdn.example:8443/live/index.m3u8?token=abc";
    assert_eq!(ok(url), Source::Hls(HlsSource { url: url.into() }));
    assert_eq!(ok(url).to_string(), url);
    assert_eq!(
        ok(url).redacted().to_string(),
        "https://<redacted>@cdn.example:8443/live/index.m3u8?<redacted>"
    );
    ok("http://10.0.0.1/a/b/playlist.M3U8");
    assert!(err("http://h/video.mp4").contains("only HLS playlists"));
    assert!(err("http:///x.m3u8").contains("invalid host"));
    assert!(err("http://h/é").contains("only HLS"));
}

#[test]
fn rist() {
    let Source::Rist(c) = ok("rist://10.0.0.1:8193?cname=x&secret=s3cr3t") else {
        panic!()
    };
    assert_eq!((c.mode, c.port), (RistMode::Caller, 8193));
    assert_eq!(
        Source::Rist(c.clone()).redacted().to_string(),
        "rist://10.0.0.1:8193?cname=x&secret=<redacted>"
    );
    let Source::Rist(l) = ok("rist://@[::]:8193") else {
        panic!()
    };
    assert_eq!((l.mode, l.host.as_deref()), (RistMode::Listener, Some("::")));
    assert_eq!(Source::Rist(l).to_string(), "rist://@[::]:8193");
    let Source::Rist(l) = ok("rist://:8193") else {
        panic!()
    };
    assert_eq!((l.mode, l.host), (RistMode::Listener, None));
    assert!(err("rist://h:1?a=1&a=2").contains("given twice"));
}

#[test]
fn general_errors() {
    assert_eq!(err(""), "the source is empty");
    assert!(err(&"a".repeat(SOURCE_MAX + 1)).contains("bytes long"));
    assert!(err("ftp://x/y.ts").starts_with("unsupported scheme \"ftp\""));
    // Not a scheme: a file path that happens to contain "://".
    assert!(matches!(ok("/a://b.ts"), Source::File(_)));
    assert_eq!(
        err("srt://:1?a%=1"),
        "srt: invalid parameter name \"a%\" at byte 9"
    );
}

// === property tests ===

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z0-9]{1,5}){0,2}",
        any::<u32>().prop_map(|v| std::net::Ipv4Addr::from(v).to_string()),
        any::<u128>().prop_map(|v| std::net::Ipv6Addr::from(v).to_string()),
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9]{0,8}", "\\PC{1,12}", "[#&%= ?+,:!]{1,6}"]
}

fn srt_source() -> impl Strategy<Value = SrtSource> {
    let mode = prop_oneof![
        Just(SrtMode::Listener),
        Just(SrtMode::Caller),
        Just(SrtMode::Rendezvous)
    ];
    let pbkeylen = proptest::option::of(prop_oneof![Just(16u8), Just(24), Just(32)]);
    let other = prop::collection::btree_map("x[a-z_]{0,8}", value(), 0..4);
    let passphrase = proptest::option::of("[ -~]{10,79}");
    (
        mode,
        proptest::option::of(host()),
        1u16..,
        any::<Option<u32>>(),
        passphrase,
        proptest::option::of(value()),
        pbkeylen,
        other,
    )
        .prop_map(
            |(mode, host, port, latency, passphrase, streamid, pbkeylen, other)| {
                let host = if mode == SrtMode::Listener {
                    host
                } else {
                    host.or(Some("h".into()))
                };
                let passphrase = passphrase.map(Redacted::new);
                SrtSource {
                    mode,
                    host,
                    port,
                    options: SrtOptions {
                        latency,
                        passphrase,
                        pbkeylen,
                        streamid,
                        other,
                    },
                }
            },
        )
}

fn udp_source() -> impl Strategy<Value = UdpSource> {
    // An empty iface is refused by the parser.
    (
        proptest::option::of(ip()),
        1u16..,
        proptest::option::of(value().prop_filter("non-empty", |v| !v.is_empty())),
    )
        .prop_map(|(host, port, iface)| UdpSource { host, port, iface })
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|v| IpAddr::V4(v.into())),
        any::<u128>().prop_map(|v| IpAddr::V6(v.into()))
    ]
}

fn source() -> impl Strategy<Value = Source> {
    let cidr =
        (ip(), 0u8..=128).prop_map(|(a, p)| Cidr::new(a, p.min(if a.is_ipv4() { 32 } else { 128 })).unwrap());
    let format = prop_oneof![Just("ts"), Just("flv"), Just("mp4"), Just("aac"), Just("MP4")];
    prop_oneof![
        prop::collection::vec(cidr, 0..4).prop_map(|allow| Source::Push(PushSource { allow })),
        srt_source().prop_map(Source::Srt),
        udp_source().prop_map(Source::TsUdp),
        udp_source().prop_map(Source::TsRtp),
        "[^\0]{1,20}".prop_map(|path| Source::Sdp(SdpSource { path })),
        ("/?[a-zA-Z0-9_ ./-]{0,20}[a-z]", format, any::<bool>()).prop_map(|(p, ext, looping)| {
            let path = format!("{p}.{ext}");
            let format = FileFormat::of(&path).unwrap();
            Source::File(FileSource {
                path,
                format,
                looping,
            })
        }),
        (
            any::<bool>(),
            host(),
            proptest::option::of(1u16..),
            "[a-z]{1,5}",
            "[a-zA-Z0-9/?=&_-]{1,20}"
        )
            .prop_map(|(tls, host, port, app, stream)| Source::Rtmp(RtmpSource {
                tls,
                host,
                port,
                app,
                stream
            })),
        (
            any::<bool>(),
            proptest::option::of(host()),
            1u16..,
            prop::collection::btree_map("[a-z-]{1,6}", value(), 0..3)
        )
            .prop_map(|(at, host, port, options)| {
                let mode = if at || host.is_none() {
                    RistMode::Listener
                } else {
                    RistMode::Caller
                };
                Source::Rist(RistSource {
                    mode,
                    host,
                    port,
                    options,
                })
            }),
        ("https?", host(), "[a-z/]{0,10}", "(\\?[a-z=&]{0,8})?").prop_map(|(s, h, p, q)| {
            let mut url = format!("{s}://");
            url::write_host(&mut url, &h).unwrap();
            Source::Hls(HlsSource {
                url: format!("{url}/{p}x.m3u8{q}"),
            })
        }),
    ]
}

proptest! {
    #[test]
    fn display_parse_round_trip(src in source()) {
        let shown = src.to_string();
        prop_assert_eq!(Source::parse(&shown).map_err(|e| e.to_string()), Ok(src.clone()), "{}", shown);
        // The redacted form never panics and never shows a passphrase.
        let safe = src.redacted().to_string();
        if let Source::Srt(s) = &src && let Some(p) = &s.options.passphrase {
            let leaked = safe.contains(&format!("passphrase={}", p.expose()));
            prop_assert!(!leaked);
        }
    }

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        let _ = Source::parse(&s);
    }

    #[test]
    fn url_like_strings_never_panic(
        scheme in "(push|srt|tsudp|tsrtp|rtmp|rtmps|http|https|rist|file|sdp)",
        rest in "[\\[\\]:@/?&=%#,.a-z0-9é]{0,40}",
    ) {
        let _ = Source::parse(&format!("{scheme}://{rest}"));
        let _ = Source::parse(&format!("{scheme}:{rest}"));
    }
}
