use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::nal::join_length_prefixed;

fn packet(seq: u16, ts: u32, marker: bool, payload: &[u8]) -> Packet {
    Packet::new(96, seq, ts, 0x1234_5678, marker, Bytes::copy_from_slice(payload))
}

fn drain(d: &mut Depacketizer) -> Vec<AccessUnit> {
    std::iter::from_fn(|| d.poll()).collect()
}

fn feed(d: &mut Depacketizer, packets: &[Packet]) -> Vec<Error> {
    packets.iter().filter_map(|p| d.push(p).err()).collect()
}

// --- packets ---

#[test]
fn parses_a_header_with_csrc_extension_and_padding() {
    let wire = [
        0xb1, 0xe0, 0x12, 0x34, // V=2 P X CC=1, M, PT 96, seq
        0, 0, 0x03, 0xe8, // timestamp 1000
        0xde, 0xad, 0xbe, 0xef, // ssrc
        0, 0, 0, 7, // csrc
        0xbe, 0xde, 0, 1, 1, 2, 3, 4, // extension, 1 word
        0xaa, 0xbb, // payload
        0, 0, 3, // padding
    ];
    let p = Packet::parse(&wire).unwrap();
    assert!(p.marker);
    assert_eq!(
        (p.payload_type, p.sequence, p.timestamp, p.ssrc),
        (96, 0x1234, 1000, 0xdead_beef)
    );
    assert_eq!(p.csrc, [7]);
    assert_eq!(p.extension.as_ref().unwrap().profile, 0xbede);
    assert_eq!(&p.extension.as_ref().unwrap().data[..], &[1, 2, 3, 4]);
    assert_eq!(&p.payload[..], &[0xaa, 0xbb]);
    assert_eq!(p.padding, 3);
    assert_eq!(&p.to_bytes().unwrap()[..], &wire[..]);
    assert_eq!(p.len(), wire.len());
}

#[test]
fn packet_errors_name_the_field_and_offset() {
    assert_eq!(
        Packet::parse(&[0x80, 0, 0]),
        Err(Error::Truncated {
            what: "fixed header",
            offset: 0,
            needed: 12,
            len: 3
        })
    );
    assert_eq!(Packet::parse(&[0x40; 12]), Err(Error::BadVersion(1)));
    let mut csrc = vec![0x82, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    csrc.extend([0; 4]);
    assert!(matches!(
        Packet::parse(&csrc),
        Err(Error::Truncated {
            what: "csrc list",
            offset: 12,
            needed: 8,
            ..
        })
    ));
    let ext = [0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0];
    assert!(matches!(
        Packet::parse(&ext),
        Err(Error::Truncated {
            what: "header extension data",
            offset: 16,
            ..
        })
    ));
    let pad = [0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 5];
    assert_eq!(
        Packet::parse(&pad),
        Err(Error::BadPadding {
            offset: 13,
            count: 5,
            available: 2
        })
    );
    let zero_pad = [0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    assert!(matches!(
        Packet::parse(&zero_pad),
        Err(Error::BadPadding { count: 0, .. })
    ));
}

#[test]
fn unwritable_packets_are_refused() {
    let mut p = packet(1, 2, false, b"x");
    p.csrc = vec![0; 16];
    assert_eq!(
        p.to_bytes(),
        Err(Error::Unwritable("more than 15 csrc identifiers"))
    );
    p.csrc.clear();
    p.extension = Some(Extension {
        profile: 1,
        data: Bytes::from_static(&[1, 2, 3]),
    });
    assert!(p.to_bytes().is_err());
    p.extension = None;
    p.payload_type = 128;
    assert!(p.to_bytes().is_err());
}

fn arb_packet() -> impl Strategy<Value = Packet> {
    (
        any::<bool>(),
        0u8..128,
        any::<u16>(),
        any::<u32>(),
        any::<u32>(),
        proptest::collection::vec(any::<u32>(), 0..=15),
        proptest::option::of((
            any::<u16>(),
            proptest::collection::vec(any::<u8>(), 0..4).prop_map(|w| w.len()),
        )),
        any::<u8>(),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(
            |(marker, pt, seq, ts, ssrc, csrc, ext, padding, payload)| Packet {
                marker,
                payload_type: pt,
                sequence: seq,
                timestamp: ts,
                ssrc,
                csrc,
                extension: ext.map(|(profile, words)| Extension {
                    profile,
                    data: Bytes::from(vec![0x5a; 4 * words]),
                }),
                padding,
                payload: Bytes::from(payload),
            },
        )
}

// --- reordering and clocks ---

fn reordered<T>(r: &mut Reorderer<T>) -> Vec<Reordered<T>> {
    std::iter::from_fn(|| r.poll()).collect()
}

#[test]
fn reorderer_reports_loss_when_the_window_fills() {
    let mut r = Reorderer::new(3);
    r.push(10, 10);
    r.push(12, 12);
    r.push(13, 13);
    assert_eq!(reordered(&mut r), [Reordered::Packet(10)]);
    r.push(14, 14); // 14 - 11 >= 3: give up on 11
    assert_eq!(
        reordered(&mut r),
        [
            Reordered::Lost { first: 11, count: 1 },
            Reordered::Packet(12),
            Reordered::Packet(13),
            Reordered::Packet(14)
        ]
    );
    r.push(11, 11);
    r.push(14, 14);
    assert_eq!(
        reordered(&mut r),
        [
            Reordered::Dropped { seq: 11, late: true },
            Reordered::Dropped { seq: 14, late: true }
        ]
    );
    r.push(16, 16);
    r.push(16, 16);
    assert_eq!(reordered(&mut r), [Reordered::Dropped { seq: 16, late: false }]);
    r.skip_gap();
    assert_eq!(
        reordered(&mut r),
        [Reordered::Lost { first: 15, count: 1 }, Reordered::Packet(16)]
    );
}

#[test]
fn reorderer_restarts_after_two_consecutive_far_packets() {
    let mut r = Reorderer::new(8);
    r.push(100, 'a');
    r.push(40_000, 'x'); // a stray packet
    r.push(101, 'b');
    assert_eq!(
        reordered(&mut r),
        [
            Reordered::Packet('a'),
            Reordered::Jump { seq: 40_000 },
            Reordered::Packet('b')
        ]
    );
    r.push(30_000, 'c');
    r.push(30_001, 'd');
    assert_eq!(
        reordered(&mut r),
        [
            Reordered::Jump { seq: 30_000 },
            Reordered::Restart { seq: 30_000 },
            Reordered::Packet('c'),
            Reordered::Packet('d')
        ]
    );
}

#[test]
fn window_zero_releases_at_once() {
    let mut r = Reorderer::new(0);
    r.push(1, 1);
    r.push(3, 3);
    r.push(2, 2);
    assert_eq!(
        reordered(&mut r),
        [
            Reordered::Packet(1),
            Reordered::Lost { first: 2, count: 1 },
            Reordered::Packet(3),
            Reordered::Dropped { seq: 2, late: true }
        ]
    );
}

proptest! {
    #[test]
    fn packet_write_parse_round_trip(p in arb_packet()) {
        let wire = p.to_bytes().unwrap();
        prop_assert_eq!(wire.len(), p.len());
        prop_assert_eq!(Packet::parse(&wire).unwrap(), p);
    }

    #[test]
    fn packet_parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(p) = Packet::parse(&data) {
            // the padding's content is not kept, only its length
            let wire = p.to_bytes().unwrap();
            prop_assert_eq!(wire.len(), data.len());
            prop_assert_eq!(Packet::parse(&wire).unwrap(), p);
        }
    }

    /// Any shuffle that moves packets less than the window gives them all back in order.
    #[test]
    fn reorderer_undoes_bounded_shuffles(start: u16, jitter in proptest::collection::vec(0usize..8, 1..300)) {
        let n = jitter.len();
        // each packet is sent at most 8 places away from its own; the first
        // one received starts the sequence, so packet 0 goes first
        let mut jitter = jitter;
        jitter[0] = 0;
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| (i + jitter[i], i));
        let mut r = Reorderer::new(16);
        let mut out = Vec::new();
        for i in order {
            r.push(start.wrapping_add(i as u16), i);
            out.extend(reordered(&mut r));
        }
        r.flush();
        out.extend(reordered(&mut r));
        prop_assert_eq!(out, (0..n).map(Reordered::Packet).collect::<Vec<_>>());
    }

    /// Arbitrary sequence numbers: nothing panics, at most `window` packets are held,
    /// and every packet comes out once or is reported dropped.
    #[test]
    fn reorderer_accounts_for_every_packet(seqs in proptest::collection::vec(any::<u16>(), 0..200), window in 0usize..40) {
        let mut r = Reorderer::new(window);
        let mut released = 0;
        let mut dropped = 0;
        for (i, s) in seqs.iter().enumerate() {
            r.push(*s, i);
            prop_assert!(r.held() <= window.max(1));
            for o in reordered(&mut r) {
                match o {
                    Reordered::Packet(_) => released += 1,
                    Reordered::Dropped { .. } | Reordered::Jump { .. } => dropped += 1,
                    _ => {}
                }
            }
        }
        r.flush();
        released += reordered(&mut r).into_iter().filter(|o| matches!(o, Reordered::Packet(_))).count();
        // a Jump packet that later starts a restart is released, so it is counted twice
        prop_assert!(released + dropped >= seqs.len());
        prop_assert!(released <= seqs.len());
    }

    #[test]
    fn unwrapped_timestamps_follow_small_steps(start: u32, steps in proptest::collection::vec(-3000i64..100_000, 1..200)) {
        let mut u = TimestampUnwrapper::new();
        let mut expected = i64::from(start);
        prop_assert_eq!(u.extend(start), expected);
        for s in steps {
            expected += s;
            prop_assert_eq!(u.extend(expected as u32), expected);
        }
    }

    /// Decode-order frame sequences with B-pyramids no deeper than the
    /// estimator's depth get increasing decode times no later than their
    /// presentation times.
    #[test]
    fn dts_estimates_are_monotonic_and_not_after_pts(gops in proptest::collection::vec((0usize..4, 1usize..6), 1..20)) {
        // each mini-GOP: an anchor `b + 1` frames ahead, then `b` B-frames in order
        let mut pts_in_decode_order = Vec::new();
        let mut base = 0i64;
        for (b, repeat) in gops {
            for _ in 0..repeat {
                pts_in_decode_order.push(base + (b as i64 + 1) * 10);
                for k in 1..=b {
                    pts_in_decode_order.push(base + k as i64 * 10);
                }
                base += (b as i64 + 1) * 10;
            }
        }
        let mut d = DtsEstimator::new(3, 10);
        let mut last = i64::MIN;
        for pts in pts_in_decode_order {
            let dts = d.dts(pts);
            prop_assert!(dts > last);
            prop_assert!(dts <= pts, "dts {} pts {}", dts, pts);
            last = dts;
        }
    }
}

// --- H.264 ---

const SPS: &[u8] = &[
    0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00,
    0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60,
];
const PPS: &[u8] = &[0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0];

#[test]
fn h264_single_stap_a_and_fu_a() {
    let mut d = Depacketizer::new(&PayloadFormat::H264, &[], 90_000);
    let mut stap = vec![24];
    for u in [SPS, PPS] {
        stap.extend((u.len() as u16).to_be_bytes());
        stap.extend(u);
    }
    let packets = [
        packet(1, 3000, false, &[0x09, 0xf0]),       // AUD
        packet(2, 3000, false, &stap),               // SPS + PPS
        packet(3, 3000, false, &[0x7c, 0x85, 1, 2]), // FU-A start, IDR
        packet(4, 3000, false, &[0x7c, 0x05, 3]),
        packet(5, 3000, true, &[0x7c, 0x45, 4]), // end
        packet(6, 6000, true, &[0x41, 9, 9]),    // non-IDR slice
    ];
    assert!(feed(&mut d, &packets).is_empty());
    let aus = drain(&mut d);
    assert_eq!(aus.len(), 2);
    let idr = [0x65, 1, 2, 3, 4];
    assert_eq!(
        aus[0].data,
        join_length_prefixed([&[0x09, 0xf0][..], SPS, PPS, &idr])
    );
    assert!(aus[0].keyframe);
    assert_eq!(aus[0].timestamp, 3000);
    let config = aus[0].config.as_ref().expect("in-band parameter sets");
    assert_eq!(crate::h264::video_info(config).unwrap().width, 320);
    assert_eq!(aus[1].data, join_length_prefixed([&[0x41, 9, 9][..]]));
    assert!(!aus[1].keyframe && aus[1].config.is_none());
}

#[test]
fn h264_lost_fragment_drops_only_that_nal_unit() {
    let mut d = Depacketizer::new(&PayloadFormat::H264, &[], 90_000);
    let packets = [
        packet(1, 0, false, &[0x06, 5, 5]), // SEI
        packet(2, 0, false, &[0x7c, 0x85, 1]),
        // seq 3 lost
        packet(4, 0, false, &[0x7c, 0x05, 3]),
        packet(5, 0, false, &[0x7c, 0x45, 4]),
        packet(6, 0, true, &[0x41, 7]),
    ];
    let errors = feed(&mut d, &packets);
    assert_eq!(
        errors,
        [Error::FragmentDropped {
            seq: 4,
            reason: "a packet with a fragment was lost"
        }]
    );
    let aus = drain(&mut d);
    assert_eq!(aus.len(), 1);
    assert_eq!(aus[0].data, join_length_prefixed([&[0x06, 5, 5][..], &[0x41, 7]]));
    assert!(!aus[0].keyframe);
}

#[test]
fn h264_timestamp_change_ends_an_access_unit_without_marker() {
    let mut d = Depacketizer::new(&PayloadFormat::H264, &[], 90_000);
    feed(
        &mut d,
        &[
            packet(1, 0, false, &[0x65, 1]),
            packet(2, 3000, false, &[0x41, 2]),
            packet(3, 6000, false, &[0x7c, 0x85, 3]),
        ],
    );
    let aus = drain(&mut d);
    assert_eq!(aus.iter().map(|a| a.timestamp).collect::<Vec<_>>(), [0, 3000]);
    // the unfinished fragment is dropped at flush; the AU is then empty
    d.flush();
    assert!(drain(&mut d).is_empty());
}

#[test]
fn h264_bad_payloads_are_errors() {
    let mut d = Depacketizer::new(&PayloadFormat::H264, &[], 90_000);
    let err = |d: &mut Depacketizer, p: &[u8]| d.push(&packet(1, 0, false, p)).unwrap_err();
    assert!(matches!(err(&mut d, &[]), Error::BadPayload { offset: 0, .. }));
    assert!(matches!(
        err(&mut d, &[24, 0, 5, 1]),
        Error::BadPayload {
            offset: 1,
            reason: "stap-a unit size is zero or past the payload",
            ..
        }
    ));
    assert!(matches!(
        err(&mut d, &[26, 0]),
        Error::Unsupported { value: 26, .. }
    ));
    assert!(matches!(
        err(&mut d, &[0x1f]),
        Error::Unsupported { value: 31, .. }
    ));
    assert!(matches!(
        err(&mut d, &[0x7c, 0x05, 1]),
        Error::FragmentDropped {
            reason: "a continuation fragment without its start",
            ..
        }
    ));
}

#[test]
fn h264_same_parameter_sets_as_the_sdp_are_no_change() {
    let init = crate::h264::AvcConfig::from_parameter_sets(&[SPS], &[PPS])
        .unwrap()
        .encode();
    let mut d = H264Depacketizer::new(&init);
    let mut stap = vec![24];
    for u in [SPS, PPS] {
        stap.extend((u.len() as u16).to_be_bytes());
        stap.extend(u);
    }
    d.push(&packet(1, 0, true, &stap)).unwrap();
    assert_eq!(d.poll().unwrap().config, None);
    assert_eq!(d.config(), Some(&init));
}

fn arb_nal_units(types: std::ops::Range<u8>, header: usize) -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(
        (types, proptest::collection::vec(any::<u8>(), 0..3000)).prop_map(move |(t, mut body)| {
            let mut unit = if header == 1 {
                vec![0x60 | t]
            } else {
                vec![t << 1, 1]
            };
            unit.append(&mut body);
            unit
        }),
        1..8,
    )
}

fn round_trip(
    format: PayloadFormat,
    units: &[Vec<u8>],
    max_payload: usize,
    aggregate: bool,
) -> Result<(), TestCaseError> {
    let au = join_length_prefixed(units.iter().map(|u| &u[..]));
    let seq = Sequencer::new(1, 96, 65_530);
    let packets = match format {
        PayloadFormat::H264 => H264Packetizer::new(seq, max_payload)
            .unwrap()
            .with_aggregation(aggregate)
            .packetize(&au, 1234)
            .unwrap(),
        _ => H265Packetizer::new(seq, max_payload)
            .unwrap()
            .with_aggregation(aggregate)
            .packetize(&au, 1234)
            .unwrap(),
    };
    prop_assert!(packets.iter().all(|p| p.payload.len() <= max_payload));
    prop_assert!(packets.last().unwrap().marker);
    let mut d = Depacketizer::new(&format, &[], 90_000);
    for p in &packets {
        d.push(&Packet::parse(&p.to_bytes().unwrap()).unwrap()).unwrap();
    }
    let aus = drain(&mut d);
    prop_assert_eq!(aus.len(), 1);
    prop_assert_eq!(&aus[0].data, &au);
    prop_assert_eq!(aus[0].timestamp, 1234);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn h264_packetize_depacketize_round_trip(units in arb_nal_units(1..24, 1), mtu in 16usize..1500, aggregate: bool) {
        round_trip(PayloadFormat::H264, &units, mtu, aggregate)?;
    }

    #[test]
    fn h265_packetize_depacketize_round_trip(units in arb_nal_units(0..48, 2), mtu in 16usize..1500, aggregate: bool) {
        round_trip(PayloadFormat::H265, &units, mtu, aggregate)?;
    }

    #[test]
    fn depacketizers_never_panic(payloads in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..40), any::<bool>(), 0u32..3), 0..30)) {
        let formats = [
            PayloadFormat::H264,
            PayloadFormat::H265,
            PayloadFormat::Aac(AuHeaderConfig::AAC_HBR),
            PayloadFormat::Aac(AuHeaderConfig {
                cts_delta_length: 3,
                dts_delta_length: 2,
                random_access_indication: true,
                stream_state_indication: 2,
                auxiliary_data_size_length: 4,
                ..AuHeaderConfig::AAC_LBR
            }),
            PayloadFormat::Aac(AuHeaderConfig { constant_size: Some(3), ..AuHeaderConfig::sizes(0, 0, 0) }),
            PayloadFormat::Opus,
        ];
        for format in formats {
            let mut d = Depacketizer::new(&format, &[], 90_000);
            for (i, (payload, marker, ts)) in payloads.iter().enumerate() {
                let _ = d.push(&packet(i as u16, *ts, *marker, payload));
                for au in drain(&mut d) {
                    prop_assert!(!au.data.is_empty());
                    if matches!(format, PayloadFormat::H264 | PayloadFormat::H265) {
                        prop_assert!(crate::nal::iter_length_prefixed(&au.data, 4).all(|u| u.is_ok()));
                    }
                }
            }
            d.flush();
        }
    }
}

#[test]
fn packetizers_refuse_bad_input() {
    let seq = Sequencer::new(1, 96, 0);
    assert_eq!(
        H264Packetizer::new(seq.clone(), 10).unwrap_err(),
        Error::PayloadSizeTooSmall(10)
    );
    let mut p = H264Packetizer::new(seq.clone(), 100).unwrap();
    assert!(p.packetize(&[0, 0, 0, 5, 1], 0).is_err()); // lying length
    assert!(p.packetize(&join_length_prefixed([&[0x18, 1][..]]), 0).is_err()); // type 24
    let mut p = H265Packetizer::new(seq.clone(), 100).unwrap();
    assert!(p.packetize(&join_length_prefixed([&[0x60, 1][..]]), 0).is_err()); // type 48
    let mut a = AacPacketizer::new(seq.clone(), 100, 1024).unwrap();
    assert!(a.packetize(&[&[]], 0).is_err());
    assert!(a.packetize(&[&[0; 9000]], 0).is_err());
    let mut o = OpusPacketizer::new(seq, 100).unwrap();
    assert!(o.packetize(&[0; 101], 0).is_err());
}

#[test]
fn h265_aggregation_header_takes_the_lowest_layer_and_tid() {
    let units = [vec![0x40, 0x0b, 1], vec![0x42, 0x02, 2]]; // VPS layer 1 tid 3, SPS layer 0 tid 2
    let au = join_length_prefixed(units.iter().map(|u| &u[..]));
    let mut p = H265Packetizer::new(Sequencer::new(1, 96, 0), 100).unwrap();
    let packets = p.packetize(&au, 0).unwrap();
    assert_eq!(packets.len(), 1);
    assert_eq!(&packets[0].payload[..2], &[48 << 1, 0x02]);
}

// --- AAC ---

#[test]
fn aac_hbr_several_aus_per_packet() {
    let mut d = Depacketizer::new(
        &PayloadFormat::Aac(AuHeaderConfig::AAC_HBR),
        &[0x11, 0x90],
        48_000,
    );
    // AU-headers-length 32 bits; sizes 3 and 2, index 0 and delta 0
    let payload = [0, 32, 0, 3 << 3, 0, 2 << 3, 1, 2, 3, 4, 5];
    d.push(&packet(1, u32::MAX - 100, true, &payload)).unwrap();
    let aus = drain(&mut d);
    assert_eq!(aus.len(), 2);
    assert_eq!(&aus[0].data[..], &[1, 2, 3]);
    assert_eq!(&aus[1].data[..], &[4, 5]);
    assert_eq!(aus[0].timestamp, u32::MAX - 100);
    assert_eq!(aus[1].timestamp, (u32::MAX - 100).wrapping_add(1024));
    assert!(aus.iter().all(|a| a.keyframe));
}

#[test]
fn aac_index_delta_skips_frames() {
    let mut d = AacDepacketizer::new(AuHeaderConfig::AAC_HBR, 1024);
    // second AU with AU-Index-delta 2: three frames later
    let payload = [0, 32, 0, 1 << 3, 0, (1 << 3) | 2, 7, 8];
    d.push(&packet(1, 0, true, &payload)).unwrap();
    let ts: Vec<u32> = std::iter::from_fn(|| d.poll()).map(|a| a.timestamp).collect();
    assert_eq!(ts, [0, 3 * 1024]);
}

#[test]
fn aac_fragments_reassemble_and_a_lost_one_drops_the_au() {
    let hdr = |size: u16| [0u8, 16, (size >> 5) as u8, (size << 3) as u8];
    let frag = |seq, marker, body: &[u8]| {
        let mut p = hdr(6).to_vec();
        p.extend(body);
        packet(seq, 500, marker, &p)
    };
    let mut d = AacDepacketizer::new(AuHeaderConfig::AAC_HBR, 1024);
    for p in [
        frag(1, false, &[1, 2]),
        frag(2, false, &[3, 4]),
        frag(3, true, &[5, 6]),
    ] {
        d.push(&p).unwrap();
    }
    let au = d.poll().unwrap();
    assert_eq!((&au.data[..], au.timestamp), (&[1, 2, 3, 4, 5, 6][..], 500));
    // lose the middle fragment
    d.push(&frag(4, false, &[1, 2])).unwrap();
    assert!(matches!(
        d.push(&frag(6, true, &[5, 6])),
        Err(Error::FragmentDropped { seq: 6, .. })
    ));
    assert_eq!(d.poll(), None);
    // a final packet that is too short
    let mut short = hdr(6).to_vec();
    short.extend([1, 2]);
    assert!(d.push(&packet(7, 9000, true, &short)).is_err());
}

#[test]
fn aac_header_errors_name_the_offset() {
    let mut d = AacDepacketizer::new(AuHeaderConfig::AAC_HBR, 1024);
    assert!(matches!(
        d.push(&packet(1, 0, true, &[0])),
        Err(Error::BadPayload { offset: 0, .. })
    ));
    assert!(matches!(
        d.push(&packet(2, 0, true, &[0, 32, 0])),
        Err(Error::BadPayload {
            offset: 2,
            reason: "au header section past the payload",
            ..
        })
    ));
    assert!(matches!(
        d.push(&packet(3, 0, true, &[0, 32, 0, 8, 0, 8, 1])),
        Err(Error::BadPayload {
            reason: "au size past the payload",
            ..
        })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn aac_packetize_depacketize_round_trip(
        aus in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..3000), 1..12),
        mtu in 16usize..1500,
        start: u32,
    ) {
        let refs: Vec<&[u8]> = aus.iter().map(|a| &a[..]).collect();
        let mut p = AacPacketizer::new(Sequencer::new(1, 97, 7), mtu, 1024).unwrap();
        let packets = p.packetize(&refs, start).unwrap();
        prop_assert!(packets.iter().all(|p| p.payload.len() <= mtu));
        let mut d = AacDepacketizer::new(AuHeaderConfig::AAC_HBR, 1024);
        for p in &packets {
            d.push(p).unwrap();
        }
        let out: Vec<AccessUnit> = std::iter::from_fn(|| d.poll()).collect();
        prop_assert_eq!(out.len(), aus.len());
        for (i, (o, a)) in out.iter().zip(&aus).enumerate() {
            prop_assert_eq!(&o.data[..], &a[..]);
            prop_assert_eq!(o.timestamp, start.wrapping_add(1024 * i as u32));
        }
    }

    #[test]
    fn opus_packetize_depacketize_round_trip(frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..400), 1..20)) {
        let mut p = OpusPacketizer::new(Sequencer::new(1, 111, 0), 1200).unwrap();
        let mut d = RawDepacketizer::new();
        for (i, f) in frames.iter().enumerate() {
            d.push(&p.packetize(f, 960 * i as u32).unwrap()).unwrap();
            let au = d.poll().unwrap();
            prop_assert_eq!(&au.data[..], &f[..]);
            prop_assert_eq!(au.timestamp, 960 * i as u32);
        }
    }
}

// --- receiver ---

fn h264_config() -> crate::sdp::RtpTrackConfig {
    let sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=video 5004 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n";
    let sd = crate::sdp::SessionDescription::parse(sdp).unwrap();
    crate::sdp::Source::from_session(&sd).unwrap().remove(0)
}

fn events(r: &mut Receiver) -> Vec<Event> {
    std::iter::from_fn(|| r.poll_event()).collect()
}

#[test]
fn receiver_reorders_and_reports_the_track_before_its_first_frame() {
    let mut r = Receiver::new(&h264_config(), 1, ReceiverOptions::default());
    let mut stap = vec![24];
    for u in [SPS, PPS] {
        stap.extend((u.len() as u16).to_be_bytes());
        stap.extend(u);
    }
    let mut wire: Vec<Bytes> = [
        packet(100, 10_000, false, &stap),
        packet(101, 10_000, true, &[0x65, 1]),
        packet(102, 13_600, true, &[0x41, 2]),
        packet(103, 250, true, &[0x01, 3]), // a B-frame: pts goes back
    ]
    .iter()
    .map(|p| p.to_bytes().unwrap())
    .collect();
    wire.swap(1, 2);
    for w in &wire {
        r.handle_datagram(w);
    }
    r.handle_datagram(&[1, 2, 3]);
    let mut other = packet(104, 0, true, &[1]);
    other.payload_type = 97;
    r.handle_packet(other);
    r.finish();
    let ev = events(&mut r);
    assert!(matches!(&ev[0], Event::Track(t) if t.init.is_empty()));
    assert!(matches!(&ev[1], Event::Track(t) if t.video.as_ref().is_some_and(|v| v.width == 320)));
    let frames: Vec<&crate::Frame> = ev
        .iter()
        .filter_map(|e| if let Event::Frame(f) = e { Some(f) } else { None })
        .collect();
    assert_eq!(
        frames.iter().map(|f| f.pts.ticks()).collect::<Vec<_>>(),
        [0, 3600, -9750]
    );
    assert!(frames[0].keyframe);
    let warnings: Vec<&Warning> = ev
        .iter()
        .filter_map(|e| if let Event::Warning(w) = e { Some(w) } else { None })
        .collect();
    assert!(matches!(warnings[0], Warning::BadPacket(Error::Truncated { .. })));
    assert!(matches!(
        warnings[1],
        Warning::PayloadType { payload_type: 97, .. }
    ));
}

#[test]
fn receiver_continues_the_timeline_after_an_ssrc_change() {
    let mut config = h264_config();
    config.format = PayloadFormat::Opus;
    config.codec = crate::Codec::Opus;
    config.clock_rate = 48_000;
    let mut r = Receiver::new(&config, 1, ReceiverOptions::default());
    for (seq, ts) in [(1u16, 1000u32), (2, 1960)] {
        r.handle_packet(packet(seq, ts, false, &[1]));
    }
    let mut other = packet(9000, 77, false, &[2]);
    other.ssrc = 42;
    r.handle_packet(other);
    r.finish();
    let ev = events(&mut r);
    let pts: Vec<i64> = ev
        .iter()
        .filter_map(|e| {
            if let Event::Frame(f) = e {
                Some(f.pts.ticks())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(pts, [0, 960, 1920]);
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::Warning(Warning::SsrcChanged { to: 42, .. })))
    );
}
