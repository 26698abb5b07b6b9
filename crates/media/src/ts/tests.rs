//! Unit and property tests of the whole module: synthetic streams through
//! the muxer and demuxer, damaged streams, errors.

use bytes::Bytes;
use proptest::prelude::*;

use super::packet::{BODY_SIZE, Header};
use super::pes::{TS_WRAP, write_header};
use super::psi::{Pat, Pmt, write_section_packet};
use super::*;
use crate::aac::{AdtsHeader, AudioSpecificConfig};
use crate::h264::AvcConfig;
use crate::{Codec, Frame, Timestamp, Track, nal};

const SPS: &[u8] = &[0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50];
const PPS: &[u8] = &[0x68, 0xeb, 0xe3, 0xcb];

fn avc_track(id: u32) -> Track {
    let mut t = Track::new(id, Codec::H264, 90_000);
    t.init = AvcConfig::from_parameter_sets(&[SPS], &[PPS]).unwrap().encode();
    t
}

fn aac_config(sample_rate: u32) -> AudioSpecificConfig {
    AudioSpecificConfig {
        object_type: 2,
        sample_rate,
        channels: 2,
    }
}

fn aac_track(id: u32, sample_rate: u32) -> Track {
    let mut t = Track::new(id, Codec::Aac, sample_rate);
    t.init = aac_config(sample_rate).encode();
    t
}

/// Slice-like NAL body without zero bytes (so no start code emulation).
fn body(header: u8, len: usize, seed: usize) -> Vec<u8> {
    std::iter::once(header)
        .chain((0..len).map(|i| 1 + ((i * 7 + seed) % 250) as u8))
        .collect()
}

fn video_frame(track: u32, dts: i64, pts: i64, key: bool, size: usize, with_ps: bool) -> Frame {
    let slice = body(if key { 0x65 } else { 0x41 }, size, dts as usize);
    let units: Vec<&[u8]> = if key && with_ps {
        vec![SPS, PPS, &slice]
    } else {
        vec![&slice]
    };
    Frame::new(
        track,
        Timestamp::new(dts, 90_000),
        Timestamp::new(pts, 90_000),
        key,
        nal::join_length_prefixed(units),
    )
}

fn audio_frame(track: u32, t: i64, timescale: u32, size: usize) -> Frame {
    let ts = Timestamp::new(t, timescale);
    Frame::new(track, ts, ts, true, body(0x21, size, t as usize))
}

fn events(data: &[u8], step: usize) -> Vec<Event> {
    let mut d = Demuxer::new();
    for chunk in data.chunks(step.max(1)) {
        d.feed(chunk);
    }
    d.finish();
    std::iter::from_fn(|| d.poll_event()).collect()
}

fn warnings(data: &[u8]) -> Vec<Warning> {
    events(data, 1000)
        .into_iter()
        .filter_map(|e| match e {
            Event::Warning(w) => Some(w),
            _ => None,
        })
        .collect()
}

/// A short H.264 + AAC stream: 10 video frames (two GOPs, B-frame order), 20 audio frames.
fn sample() -> (Vec<Track>, Vec<Frame>) {
    let tracks = vec![avc_track(1), aac_track(2, 48_000)];
    let mut frames = Vec::new();
    for i in 0..10i64 {
        let key = i % 5 == 0;
        frames.push(video_frame(
            1,
            i * 3600,
            i * 3600 + 7200,
            key,
            300 + 97 * i as usize,
            true,
        ));
        for j in 0..2 {
            let n = 2 * i + j;
            frames.push(audio_frame(2, n * 1024, 48_000, 100 + n as usize));
        }
    }
    (tracks, frames)
}

/// Our frames of a track, rescaled to 90 kHz, for comparison with demuxed ones.
fn at_90k(frames: &[Frame], track: u32) -> Vec<(i64, i64, bool, Bytes)> {
    frames
        .iter()
        .filter(|f| f.track == track)
        .map(|f| {
            (
                f.dts.rescale(90_000).ticks(),
                f.pts.rescale(90_000).ticks(),
                f.keyframe,
                f.data.clone(),
            )
        })
        .collect()
}

#[test]
fn synthetic_round_trip() {
    let (tracks, frames) = sample();
    let data = write_all(&tracks, &frames).unwrap();
    assert_eq!(data.len() % PACKET_SIZE, 0);
    let (back, warnings) = read_all_with_warnings(&data).unwrap();
    assert_eq!(warnings, vec![]);
    assert_eq!(back.tracks.len(), 2);
    assert_eq!((back.tracks[0].id, back.tracks[1].id), (0x100, 0x101));
    assert_eq!(back.tracks[0].init, tracks[0].init);
    assert_eq!(back.tracks[1].init, tracks[1].init);
    assert_eq!(back.tracks[1].audio.as_ref().map(|a| a.sample_rate), Some(48_000));
    assert_eq!(at_90k(&back.frames, 0x100), at_90k(&frames, 1));
    assert_eq!(at_90k(&back.frames, 0x101), at_90k(&frames, 2));
}

#[test]
fn tracks_event_comes_before_the_first_frame_that_needs_it() {
    let (tracks, frames) = sample();
    let data = write_all(&tracks, &frames).unwrap();
    let evs = events(&data, 188);
    let first_tracks = evs.iter().position(|e| matches!(e, Event::Tracks(_))).unwrap();
    let first_frame = evs.iter().position(|e| matches!(e, Event::Frame(_))).unwrap();
    assert!(first_tracks < first_frame);
    // PMT (no init yet), then one update per track as its init appears
    let updates: Vec<&Vec<Track>> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Tracks(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(updates.len(), 3);
    assert!(updates[0].iter().all(|t| t.init.is_empty()));
    assert!(updates[2].iter().all(|t| !t.init.is_empty()));
}

#[test]
fn keyframe_without_parameter_sets_gets_them_from_init() {
    let frame = video_frame(1, 0, 0, true, 50, false);
    let data = write_all(&[avc_track(1)], std::slice::from_ref(&frame)).unwrap();
    let back = read_all(&data).unwrap();
    let units: Vec<&[u8]> = nal::iter_length_prefixed(&back.frames[0].data, 4)
        .map(Result::unwrap)
        .collect();
    assert_eq!(units.len(), 3);
    assert_eq!((units[0], units[1]), (SPS, PPS));
    assert_eq!(back.tracks[0].init, avc_track(1).init);
    // an access unit delimiter stays first
    let aud: &[u8] = &[0x09, 0xf0];
    let slice = body(0x65, 20, 0);
    let with_aud = Frame::new(
        1,
        Timestamp::new(0, 90_000),
        Timestamp::new(0, 90_000),
        true,
        nal::join_length_prefixed([aud, &slice]),
    );
    let data = write_all(&[avc_track(1)], &[with_aud]).unwrap();
    let back = read_all(&data).unwrap();
    let units: Vec<&[u8]> = nal::iter_length_prefixed(&back.frames[0].data, 4)
        .map(Result::unwrap)
        .collect();
    assert_eq!(units, vec![aud, SPS, PPS, &slice[..]]);
}

#[test]
fn large_video_frame_uses_unbounded_pes_and_continuity_wraps() {
    // 100 kB: PES_packet_length 0, and ~540 packets, so the counter wraps many times
    let frames = vec![
        video_frame(1, 0, 0, true, 100_000, true),
        video_frame(1, 3600, 3600, false, 10, true),
    ];
    let data = write_all(&[avc_track(1)], &frames).unwrap();
    // packets: PAT, PMT, then the PES: PUSI, adaptation field with RAI and PCR, PES_packet_length 0
    let first = &data[2 * PACKET_SIZE..][..PACKET_SIZE];
    assert_eq!(&first[..6], &[0x47, 0x41, 0x00, 0x30, 7, 0x50]);
    assert_eq!(&first[12..18], &[0, 0, 1, 0xe0, 0, 0]);
    let (back, warnings) = read_all_with_warnings(&data).unwrap();
    assert_eq!(warnings, vec![]);
    assert_eq!(at_90k(&back.frames, 0x100), at_90k(&frames, 1));
}

#[test]
fn continuity_gap_drops_the_pes_and_warns() {
    let (tracks, frames) = sample();
    let data = write_all(&tracks, &frames).unwrap();
    // drop the second packet of the first video PES (packets: PAT, PMT, video 0, video 0,
    // audio 0, audio 1, video 1 ...): the gap shows at video 1, now the 6th packet
    let cut = 3 * PACKET_SIZE;
    let mut damaged = data[..cut].to_vec();
    damaged.extend_from_slice(&data[cut + PACKET_SIZE..]);
    let (back, warnings) = read_all_with_warnings(&damaged).unwrap();
    assert_eq!(
        warnings,
        vec![Warning::ContinuityGap {
            offset: 5 * 188,
            pid: 0x100,
            expected: 1,
            found: 2,
        }]
    );
    assert!(warnings[0].to_string().contains("at byte 940"));
    let expected = at_90k(&frames, 1);
    assert_eq!(at_90k(&back.frames, 0x100), expected[1..]);
    assert_eq!(at_90k(&back.frames, 0x101), at_90k(&frames, 2));
}

#[test]
fn duplicate_packet_is_ignored() {
    let (tracks, frames) = sample();
    let data = write_all(&tracks, &frames).unwrap();
    let at = 3 * PACKET_SIZE;
    let mut dup = data[..at].to_vec();
    dup.extend_from_slice(&data[at - PACKET_SIZE..]);
    let (back, warnings) = read_all_with_warnings(&dup).unwrap();
    assert_eq!(warnings, vec![]);
    assert_eq!(at_90k(&back.frames, 0x100), at_90k(&frames, 1));
}

#[test]
fn pts_wrap_around_is_unwrapped_monotonically() {
    let start = TS_WRAP - 3 * 3600;
    let frames: Vec<Frame> = (0..8)
        .map(|i| video_frame(1, start + i * 3600, start + i * 3600 + 3600, i == 0, 40, true))
        .collect();
    let data = write_all(&[avc_track(1)], &frames).unwrap();
    let back = read_all(&data).unwrap();
    // the muxer wrote 33-bit values; the demuxer counts on past 2^33
    assert_eq!(at_90k(&back.frames, 0x100), at_90k(&frames, 1));
    assert!(back.frames.last().unwrap().dts.ticks() > TS_WRAP);
}

#[test]
fn resync_after_garbage() {
    let (tracks, frames) = sample();
    let data = write_all(&tracks, &frames).unwrap();
    // garbage before the stream and between two packets, with stray sync bytes
    let garbage: Vec<u8> = (0..300u32)
        .map(|i| if i % 50 == 3 { 0x47 } else { (i * 31 % 256) as u8 })
        .collect();
    let mid = 10 * PACKET_SIZE;
    let mut damaged = garbage[..100].to_vec();
    damaged.extend_from_slice(&data[..mid]);
    damaged.extend_from_slice(&garbage);
    damaged.extend_from_slice(&data[mid..]);
    for step in [1, 100, 188, 5000] {
        let frames_out: Vec<Frame> = events(&damaged, step)
            .into_iter()
            .filter_map(|e| match e {
                Event::Frame(f) => Some(f),
                _ => None,
            })
            .collect();
        assert_eq!(frames_out, read_all(&data).unwrap().frames, "chunks of {step}");
    }
    assert_eq!(
        warnings(&damaged),
        vec![
            Warning::Skipped { offset: 0, len: 100 },
            Warning::Skipped {
                offset: 100 + mid as u64,
                len: 300
            }
        ]
    );
}

#[test]
fn truncated_final_packet_is_an_error_with_offset() {
    let (tracks, frames) = sample();
    let data = write_all(&tracks, &frames).unwrap();
    let cut = &data[..data.len() - 50];
    let offset = (data.len() - PACKET_SIZE) as u64;
    let err = read_all(cut).unwrap_err();
    assert_eq!(err, Error::TruncatedPacket { offset, len: 138 });
    assert_eq!(
        err.to_string(),
        format!("truncated packet at byte {offset}: 138 of 188 bytes")
    );
}

#[test]
fn whole_file_errors() {
    assert_eq!(read_all(&[]), Err(Error::Empty));
    let garbage = vec![0x11u8; 1000];
    assert_eq!(read_all(&garbage), Err(Error::NoSync { offset: 0, end: 1000 }));
    assert!(read_all(&garbage).unwrap_err().to_string().contains("byte 1000"));
    // null packets only
    let mut nulls = Vec::new();
    for cc in 0..3 {
        Header {
            pid: 0x1fff,
            cc,
            ..Header::default()
        }
        .write(&[0xff; BODY_SIZE], &mut nulls);
    }
    assert_eq!(read_all(&nulls), Err(Error::NoProgram { len: 3 * 188 }));
}

/// PAT + PMT listing `streams`.
fn psi(streams: Vec<(u8, u16)>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut s = Vec::new();
    Pat {
        program_number: 1,
        pmt_pid: 0x1000,
    }
    .write(&mut s);
    write_section_packet(0, 0, &s, &mut out);
    s.clear();
    Pmt {
        pcr_pid: 0x100,
        streams,
    }
    .write(1, &mut s);
    write_section_packet(0x1000, 0, &s, &mut out);
    out
}

#[test]
fn unsupported_streams_are_skipped_with_a_warning() {
    let data = psi(vec![(0x11, 0x100), (0x03, 0x101)]);
    assert_eq!(read_all(&data), Err(Error::NoTracks { skipped: 2 }));
    let w = warnings(&data);
    assert_eq!(
        w[0],
        Warning::UnsupportedStream {
            offset: 188,
            pid: 0x100,
            stream_type: 0x11,
            name: "aac latm"
        }
    );
    assert!(w[0].to_string().contains("aac latm"));
}

#[test]
fn bad_crc_is_a_warning() {
    let mut data = psi(vec![(0x1b, 0x100)]);
    data[188 + 12] ^= 0x40; // inside the PMT section
    assert_eq!(read_all(&data), Err(Error::NoProgram { len: 376 }));
    assert_eq!(
        warnings(&data),
        vec![Warning::BadSection {
            offset: 188,
            pid: 0x1000,
            reason: "section crc32 mismatch"
        }]
    );
}

/// One AAC PES holding several ADTS frames, in packets on PID 0x100.
fn aac_pes(sample_rate: u32, sizes: &[usize], pts: u64) -> Vec<u8> {
    let mut payload = Vec::new();
    for (i, &n) in sizes.iter().enumerate() {
        AdtsHeader::write(&aac_config(sample_rate), n, &mut payload);
        payload.extend(body(0x21, n - 1, i));
    }
    let mut pes = Vec::new();
    write_header(0xc0, pts, None, payload.len(), &mut pes);
    pes.extend(payload);
    let mut out = Vec::new();
    for (i, chunk) in pes.chunks(BODY_SIZE).enumerate() {
        Header {
            pid: 0x100,
            pusi: i == 0,
            cc: i as u8,
            ..Header::default()
        }
        .write(chunk, &mut out);
    }
    out
}

#[test]
fn several_adts_frames_in_one_pes() {
    let mut data = psi(vec![(0x0f, 0x100)]);
    data.extend(aac_pes(44_100, &[200, 300, 250], 1000));
    let back = read_all(&data).unwrap();
    let pts: Vec<i64> = back.frames.iter().map(|f| f.pts.ticks()).collect();
    // 1024 samples at 44.1 kHz = 2089.8 ticks, rounded per frame from the PES pts
    assert_eq!(pts, vec![1000, 3090, 5180]);
    let sizes: Vec<usize> = back.frames.iter().map(|f| f.data.len()).collect();
    assert_eq!(sizes, vec![200, 300, 250]);
    assert!(back.frames.iter().all(|f| f.keyframe && f.dts == f.pts));
}

#[test]
fn pes_with_length_is_emitted_before_finish() {
    let mut data = psi(vec![(0x0f, 0x100)]);
    data.extend(aac_pes(48_000, &[400], 0));
    let mut d = Demuxer::new();
    d.feed(&data);
    let got: Vec<Event> = std::iter::from_fn(|| d.poll_event()).collect();
    assert!(got.iter().any(|e| matches!(e, Event::Frame(_))), "{got:?}");
}

#[test]
fn psi_and_pcr_are_repeated() {
    let tracks = vec![avc_track(1), aac_track(2, 48_000)];
    let frames: Vec<Frame> = (0..50).map(|i| audio_frame(2, i * 1024, 48_000, 10)).collect();
    let data = write_all(&tracks, &frames).unwrap();
    let pats = data
        .chunks(PACKET_SIZE)
        .filter(|p| p[1] & 0x1f == 0 && p[2] == 0)
        .count();
    // 50 frames of 21.3 ms = 1.07 s: a PAT every 100 ms
    assert!((10..=12).contains(&pats), "{pats} PATs");
    // PCR is on the video PID even with no video frames: PCR-only packets every 100 ms
    let has_pcr = |p: &[u8]| p[3] & 0x20 != 0 && p[4] > 0 && p[5] & 0x10 != 0;
    let pcr_pids: Vec<u16> = data
        .chunks(PACKET_SIZE)
        .filter(|p| has_pcr(p))
        .map(|p| u16::from_be_bytes([p[1] & 0x1f, p[2]]))
        .collect();
    assert_eq!(pcr_pids.len(), pats);
    assert!(pcr_pids.iter().all(|&pid| pid == 0x100));
    assert_eq!(read_all(&data).unwrap().frames.len(), 50);
    let data = write_all(&[aac_track(2, 48_000)], &frames).unwrap();
    let pcrs = data
        .chunks(PACKET_SIZE)
        .filter(|p| p[3] & 0x20 != 0 && p[5] & 0x10 != 0)
        .count();
    assert_eq!(pcrs, 50);
}

#[test]
fn muxer_errors() {
    let opus = Track::new(1, Codec::Opus, 48_000);
    assert!(matches!(
        Muxer::new(&[opus]),
        Err(Error::UnsupportedCodec { track: 1, .. })
    ));
    assert_eq!(
        Muxer::new(&[avc_track(1), avc_track(1)]).unwrap_err(),
        Error::DuplicateTrack(1)
    );
    let no_init = Track::new(3, Codec::Aac, 48_000);
    assert!(matches!(
        Muxer::new(&[no_init]),
        Err(Error::BadInit { track: 3, .. })
    ));
    let mut m = Muxer::new(&[avc_track(1), aac_track(2, 48_000)]).unwrap();
    let mut out = Vec::new();
    let err = m.mux_frame(&audio_frame(9, 0, 48_000, 10), &mut out).unwrap_err();
    assert_eq!(err, Error::UnknownTrack { track: 9, dts: 0 });
    let bad = Frame::new(
        1,
        Timestamp::new(5, 90_000),
        Timestamp::new(5, 90_000),
        false,
        vec![0, 0, 0, 9, 1],
    );
    assert!(matches!(
        m.mux_frame(&bad, &mut out),
        Err(Error::BadPayload { track: 1, dts: 5, .. })
    ));
    let big = audio_frame(2, 0, 48_000, 9000);
    assert!(matches!(
        m.mux_frame(&big, &mut out),
        Err(Error::AacFrameTooLarge { .. })
    ));
    assert!(out.is_empty(), "nothing written on error");
}

/// Synthetic frames: per entry (video?, keyframe?, size, duration, cts).
fn synthetic_frames(spec: &[(bool, bool, usize, i64, i64)], start: i64) -> Vec<Frame> {
    let (mut vt, mut at) = (start, start * 48_000 / 90_000);
    spec.iter()
        .enumerate()
        .map(|(i, &(video, key, size, dur, cts))| {
            if video {
                let f = video_frame(1, vt, vt + cts, key || i == 0, size, true);
                vt += dur;
                f
            } else {
                let f = audio_frame(2, at, 48_000, size.min(8000));
                at += dur;
                f
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn mux_demux_round_trip(
        spec in proptest::collection::vec((any::<bool>(), any::<bool>(), 1usize..3000, 1i64..6000, 0i64..20_000), 1..30),
        start in 0i64..(1 << 34),
    ) {
        let tracks = vec![avc_track(1), aac_track(2, 48_000)];
        let frames = synthetic_frames(&spec, start);
        let data = write_all(&tracks, &frames).unwrap();
        let back = read_all(&data).unwrap();
        // the demuxer starts counting from the first 33-bit value it sees
        let base = |fs: Vec<(i64, i64, bool, Bytes)>| -> Vec<(i64, i64, bool, Bytes)> {
            let off = fs.first().map_or(0, |f| f.0 - f.0.rem_euclid(TS_WRAP));
            fs.into_iter().map(|(d, p, k, b)| (d - off, p - off, k, b)).collect()
        };
        prop_assert_eq!(at_90k(&back.frames, 0x100), base(at_90k(&frames, 1)));
        prop_assert_eq!(at_90k(&back.frames, 0x101), base(at_90k(&frames, 2)));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2000), split in 0usize..2000) {
        let _ = read_all(&data);
        let mut d = Demuxer::new();
        let (a, b) = data.split_at(split.min(data.len()));
        d.feed(a);
        d.feed(b);
        d.finish();
        while d.poll_event().is_some() {}
    }

    #[test]
    fn damaged_streams_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..40), cut in any::<usize>()) {
        let (tracks, frames) = sample();
        let mut data = write_all(&tracks, &frames).unwrap();
        for (at, v) in flips {
            let n = data.len();
            data[at % n] = v;
        }
        let cut = cut % (data.len() + 1);
        let _ = read_all(&data[..cut]);
        let _ = events(&data, 1 + cut % 400);
    }
}
