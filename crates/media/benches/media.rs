//! Throughput of the container code on a synthetic 5 Mbps-style stream:
//! 25 fps H.264-like video (about 20 kB per frame, a 100 kB keyframe every
//! 50 frames) and 48 kHz AAC-like audio (about 400 B per frame).
//!
//! Prints MB/s of TS demuxing and muxing, and fMP4 muxing (criterion's
//! `thrpt` line, in bytes of container output or input).

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use media::{Codec, Frame, Timestamp, Track, aac, h264};

/// A plausible SPS/PPS pair for 1280x720 High profile, so track init parses.
const SPS: &[u8] = &[
    0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10,
    0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x83, 0x19, 0x60,
];
const PPS: &[u8] = &[0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0];

fn payload(len: usize, seed: u32, nal_header: u8) -> Bytes {
    // xorshift noise: no start-code-like runs of zeros, like entropy-coded slices
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    let mut body = Vec::with_capacity(len + 4);
    body.extend_from_slice(&(len as u32).to_be_bytes());
    body.push(nal_header);
    for _ in 1..len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        body.push((x as u8) | 0x10);
    }
    Bytes::from(body)
}

fn stream(seconds: u32) -> (Vec<Track>, Vec<Frame>) {
    let mut video = Track::new(1, Codec::H264, 90_000);
    video.init = h264::AvcConfig::from_parameter_sets(&[SPS], &[PPS])
        .expect("valid parameter sets")
        .encode();
    video.describe();
    let mut audio = Track::new(2, Codec::Aac, 48_000);
    audio.init = aac::AudioSpecificConfig {
        object_type: 2,
        sample_rate: 48_000,
        channels: 2,
    }
    .encode();
    audio.describe();
    let mut frames = Vec::new();
    let mut next_audio = 0i64;
    for i in 0..(25 * seconds) {
        let key = i % 50 == 0;
        let dts = i64::from(i) * 3600;
        let len = if key {
            100_000
        } else {
            18_000 + (i as usize * 37) % 4000
        };
        let v = payload(len, i, if key { 0x65 } else { 0x41 });
        frames.push(Frame::new(
            1,
            Timestamp::new(dts, 90_000),
            Timestamp::new(dts + 7200, 90_000),
            key,
            v,
        ));
        while next_audio * 90_000 / 48_000 <= dts {
            let a = payload(380 + (next_audio as usize / 1024 % 40), next_audio as u32, 0x21).slice(4..);
            let t = Timestamp::new(next_audio, 48_000);
            frames.push(Frame::new(2, t, t, true, a));
            next_audio += 1024;
        }
    }
    (vec![video, audio], frames)
}

fn containers(c: &mut Criterion) {
    let (tracks, frames) = stream(20);
    let ts = media::ts::write_all(&tracks, &frames).expect("synthetic stream muxes");
    let payload_bytes: usize = frames.iter().map(|f| f.data.len()).sum();

    let mut g = c.benchmark_group("ts");
    g.throughput(Throughput::Bytes(ts.len() as u64));
    g.bench_function("demux", |b| {
        b.iter(|| media::ts::read_all(black_box(&ts)).expect("own output demuxes"))
    });
    g.bench_function("mux", |b| {
        b.iter(|| media::ts::write_all(&tracks, black_box(&frames)).expect("muxes"))
    });
    g.finish();

    let mut g = c.benchmark_group("fmp4");
    g.throughput(Throughput::Bytes(payload_bytes as u64));
    g.bench_function("mux", |b| {
        b.iter(|| media::fmp4::write_all(&tracks, black_box(&frames)).expect("muxes"))
    });
    // one fragment per 2 s GOP, as live outputs cut them: copying into a warm buffer, and gathering
    let gops: Vec<&[Frame]> = frames.chunk_by(|_, b| !(b.keyframe && b.track == 1)).collect();
    let mut writer = media::fmp4::FragmentWriter::new(&tracks).expect("valid tracks");
    let mut out = Vec::with_capacity(ts.len());
    g.bench_function("write_fragment", |b| {
        b.iter(|| {
            out.clear();
            for (seq, gop) in gops.iter().enumerate() {
                writer
                    .write_fragment(seq as u32 + 1, gop, &[], &mut out)
                    .expect("muxes");
            }
        })
    });
    g.bench_function("fragment_zero_copy", |b| {
        b.iter(|| {
            for (seq, gop) in gops.iter().enumerate() {
                black_box(writer.fragment(seq as u32 + 1, gop, &[]).expect("muxes"));
            }
        })
    });
    g.finish();

    let flv = media::flv::write_all(&tracks, &frames).expect("muxes");
    let mut g = c.benchmark_group("flv");
    g.throughput(Throughput::Bytes(flv.len() as u64));
    g.bench_function("demux", |b| {
        b.iter(|| media::flv::read_all(black_box(&flv)).expect("demuxes"))
    });
    g.finish();
}

criterion_group!(benches, containers);
criterion_main!(benches);
