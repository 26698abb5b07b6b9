//! Unit tests on small hand-built files.

use proptest::prelude::*;

use super::*;
use crate::Codec;

// --- a tiny MP4 writer for tests ---

fn bx(fourcc: &[u8; 4], parts: &[&[u8]]) -> Vec<u8> {
    let body: Vec<u8> = parts.concat();
    let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    out.extend(fourcc);
    out.extend(body);
    out
}

fn full(fourcc: &[u8; 4], version: u8, flags: u32, parts: &[&[u8]]) -> Vec<u8> {
    let mut vf = flags.to_be_bytes();
    vf[0] = version;
    let mut all: Vec<&[u8]> = vec![&vf];
    all.extend(parts);
    bx(fourcc, &all)
}

fn be32(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

fn u32s(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// AAC-LC, 48 kHz, mono.
const ASC: [u8; 2] = [0x11, 0x88];

fn mp4a(size_bytes: &[u8]) -> Vec<u8> {
    let dsi = [&[0x05u8][..], &[2], &ASC].concat();
    let dcd_body = [&[0x40u8, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..], &dsi].concat();
    let dcd = [&[0x04u8, dcd_body.len() as u8][..], &dcd_body].concat();
    let es_body = [&[0u8, 1, 0][..], &dcd].concat();
    // the ES_Descriptor size in the given encoding (to test 4-byte sizes)
    let mut es = vec![0x03];
    es.extend(size_bytes);
    *es.last_mut().unwrap() |= es_body.len() as u8;
    es.extend(es_body);
    let esds = full(b"esds", 0, 0, &[&es]);
    let mut fields = vec![0u8; 28];
    fields[7] = 1; // data_reference_index
    fields[17] = 1; // channelcount
    fields[19] = 16; // samplesize
    fields[24..26].copy_from_slice(&48_000u16.to_be_bytes());
    bx(b"mp4a", &[&fields, &esds])
}

fn avc1(length_size: u8) -> Vec<u8> {
    let avcc = [
        1,
        0x64,
        0,
        0x1f,
        0xfc | (length_size - 1),
        0xe1,
        0,
        4,
        0x67,
        0x64,
        0,
        0x1f,
        1,
        0,
        2,
        0x68,
        0xee,
    ];
    let mut fields = vec![0u8; 78];
    fields[7] = 1;
    fields[24..26].copy_from_slice(&320u16.to_be_bytes());
    fields[26..28].copy_from_slice(&240u16.to_be_bytes());
    bx(b"avc1", &[&fields, &bx(b"avcC", &[&avcc])])
}

/// What a test track looks like.
#[derive(Clone)]
struct Spec {
    id: u32,
    handler: [u8; 4],
    entry: Vec<u8>,
    timescale: u32,
    payloads: Vec<Vec<u8>>,
    delta: u32,
    ctts: Option<Vec<i32>>,
    stss: Option<Vec<u32>>,
    /// (segment_duration, media_time) entries.
    elst: Vec<(u32, i32)>,
    /// Write `stz2` (16-bit sizes) and `co64` instead of `stsz` and `stco`.
    compact: bool,
}

fn audio_spec() -> Spec {
    Spec {
        id: 2,
        handler: *b"soun",
        entry: mp4a(&[0x00]),
        timescale: 48_000,
        payloads: (0..4u8).map(|i| vec![0x21, i, i, i]).collect(),
        delta: 1024,
        ctts: None,
        stss: None,
        elst: vec![(1000, 1024)],
        compact: false,
    }
}

fn nal(len_size: usize, units: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for u in units {
        out.extend(&(u.len() as u32).to_be_bytes()[4 - len_size..]);
        out.extend(*u);
    }
    out
}

fn video_spec(length_size: u8) -> Spec {
    let ls = usize::from(length_size);
    Spec {
        id: 1,
        handler: *b"vide",
        entry: avc1(length_size),
        timescale: 12_800,
        payloads: vec![
            nal(ls, &[&[0x09, 0xf0], &[0x65, 1, 2, 3]]),
            nal(ls, &[&[0x41, 4]]),
            nal(ls, &[&[0x01, 5]]),
            nal(ls, &[&[0x41, 6, 7]]),
        ],
        delta: 512,
        // I P B P: composition offsets in decode order
        ctts: Some(vec![1024, 1536, 512, 1024]),
        stss: Some(vec![1]),
        elst: vec![(1000, 1024)],
        compact: false,
    }
}

fn trak(s: &Spec, chunk_offset: u32) -> Vec<u8> {
    let tkhd = full(b"tkhd", 0, 3, &[&[0; 8], &be32(s.id), &[0; 68]]);
    let mdhd = full(b"mdhd", 0, 0, &[&[0; 8], &be32(s.timescale), &[0; 8]]);
    let hdlr = full(b"hdlr", 0, 0, &[&[0; 4], &s.handler, &[0; 13]]);
    let n = s.payloads.len() as u32;
    let stsd = full(b"stsd", 0, 0, &[&be32(1), &s.entry]);
    let stts = full(b"stts", 0, 0, &[&u32s(&[1, n, s.delta])]);
    let sizes: Vec<u32> = s.payloads.iter().map(|p| p.len() as u32).collect();
    let (stsz, stco) = if s.compact {
        let sizes: Vec<u8> = sizes.iter().flat_map(|v| (*v as u16).to_be_bytes()).collect();
        (
            full(b"stz2", 0, 0, &[&[0, 0, 0, 16], &be32(n), &sizes]),
            full(b"co64", 0, 0, &[&be32(1), &u64::from(chunk_offset).to_be_bytes()]),
        )
    } else {
        (
            full(b"stsz", 0, 0, &[&u32s(&[0, n]), &u32s(&sizes)]),
            full(b"stco", 0, 0, &[&u32s(&[1, chunk_offset])]),
        )
    };
    let stsc = full(b"stsc", 0, 0, &[&u32s(&[1, 1, n, 1])]);
    let mut tables = vec![stsd, stts, stsz, stsc, stco];
    if let Some(c) = &s.ctts {
        let entries: Vec<u32> = c.iter().flat_map(|o| [1, *o as u32]).collect();
        tables.push(full(b"ctts", 1, 0, &[&be32(c.len() as u32), &u32s(&entries)]));
    }
    if let Some(k) = &s.stss {
        tables.push(full(b"stss", 0, 0, &[&be32(k.len() as u32), &u32s(k)]));
    }
    let tables: Vec<&[u8]> = tables.iter().map(|t| t.as_slice()).collect();
    let stbl = bx(b"stbl", &tables);
    let minf = bx(b"minf", &[&stbl]);
    let mdia = bx(b"mdia", &[&mdhd, &hdlr, &minf]);
    let mut parts = vec![tkhd];
    if !s.elst.is_empty() {
        let entries: Vec<u32> = s
            .elst
            .iter()
            .flat_map(|(d, t)| [*d, *t as u32, 0x0001_0000])
            .collect();
        let elst = full(b"elst", 0, 0, &[&be32(s.elst.len() as u32), &u32s(&entries)]);
        parts.push(bx(b"edts", &[&elst]));
    }
    parts.push(mdia);
    let parts: Vec<&[u8]> = parts.iter().map(|t| t.as_slice()).collect();
    bx(b"trak", &parts)
}

fn mvhd() -> Vec<u8> {
    full(b"mvhd", 0, 0, &[&[0; 8], &be32(1000), &[0; 84]])
}

/// ftyp, mdat (each track's samples in one chunk, tracks interleaved per
/// sample pair so that file order differs from track order), moov.
fn progressive(specs: &[Spec]) -> Vec<u8> {
    let ftyp = bx(b"ftyp", &[b"isom", &[0, 0, 2, 0], b"isom"]);
    let mut mdat_body = Vec::new();
    let mut offsets = Vec::new();
    for s in specs {
        offsets.push((ftyp.len() + 8 + mdat_body.len()) as u32);
        mdat_body.extend(s.payloads.concat());
    }
    let mdat = bx(b"mdat", &[&mdat_body]);
    let traks: Vec<Vec<u8>> = specs.iter().zip(&offsets).map(|(s, o)| trak(s, *o)).collect();
    let mut moov_parts = vec![mvhd()];
    moov_parts.extend(traks);
    let moov_parts: Vec<&[u8]> = moov_parts.iter().map(|t| t.as_slice()).collect();
    [ftyp, mdat, bx(b"moov", &moov_parts)].concat()
}

fn sample_file() -> Vec<u8> {
    progressive(&[video_spec(4), audio_spec()])
}

// --- progressive ---

#[test]
fn progressive_tracks_and_timestamps() {
    let file = read(&sample_file()).unwrap();
    assert!(file.warnings.is_empty(), "{:?}", file.warnings);
    let tracks = &file.demuxed.tracks;
    assert_eq!(tracks.len(), 2);
    assert_eq!(
        (tracks[0].id, tracks[0].codec.clone(), tracks[0].timescale),
        (1, Codec::H264, 12_800)
    );
    let v = tracks[0].video.as_ref().unwrap();
    assert_eq!((v.width, v.height), (320, 240));
    assert_eq!(
        (tracks[1].id, tracks[1].codec.clone(), tracks[1].timescale),
        (2, Codec::Aac, 48_000)
    );
    assert_eq!(&tracks[1].init[..], &ASC);
    let a = tracks[1].audio.as_ref().unwrap();
    assert_eq!((a.sample_rate, a.channels), (48_000, 1));

    let frames = &file.demuxed.frames;
    assert_eq!(frames.len(), 8);
    // file order: the video chunk comes first in mdat
    assert!(frames[..4].iter().all(|f| f.track == 1));
    let v: Vec<(i64, i64, bool)> = frames[..4]
        .iter()
        .map(|f| (f.dts.ticks(), f.pts.ticks(), f.keyframe))
        .collect();
    assert_eq!(
        v,
        vec![
            (-1024, 0, true),
            (-512, 1024, false),
            (0, 512, false),
            (512, 1536, false)
        ]
    );
    let a: Vec<(i64, i64, bool)> = frames[4..]
        .iter()
        .map(|f| (f.dts.ticks(), f.pts.ticks(), f.keyframe))
        .collect();
    assert_eq!(
        a,
        vec![
            (-1024, -1024, true),
            (0, 0, true),
            (1024, 1024, true),
            (2048, 2048, true)
        ]
    );
    assert_eq!(&frames[4].data[..], &[0x21, 0, 0, 0]);
    assert_eq!(&frames[0].data[..], &video_spec(4).payloads[0][..]);
}

#[test]
fn two_byte_nal_lengths_become_four() {
    let file = read_all(&progressive(&[video_spec(2)])).unwrap();
    let f = &file.frames[0];
    assert_eq!(&f.data[..], &nal(4, &[&[0x09, 0xf0], &[0x65, 1, 2, 3]])[..]);
}

#[test]
fn compact_sizes_and_64_bit_offsets() {
    let plain = read_all(&sample_file()).unwrap();
    let (mut v, mut a) = (video_spec(4), audio_spec());
    v.compact = true;
    a.compact = true;
    assert_eq!(read_all(&progressive(&[v, a])).unwrap(), plain);
}

#[test]
fn empty_edit_delays_the_track() {
    let mut s = audio_spec();
    // 500 ms empty (movie timescale 1000), then media from 0
    s.elst = vec![(500, -1), (1000, 0)];
    let file = read_all(&progressive(&[s])).unwrap();
    assert_eq!(file.frames[0].pts.ticks(), 24_000);
}

#[test]
fn negative_composition_offsets_lower_decode_times() {
    let mut v = video_spec(4);
    // CMAF style: first pts == first dts, B-frames below their dts
    v.ctts = Some(vec![0, 512, -512, 0]);
    v.elst.clear();
    let file = read_all(&progressive(&[v.clone()])).unwrap();
    let got: Vec<(i64, i64)> = file
        .frames
        .iter()
        .map(|f| (f.dts.ticks(), f.pts.ticks()))
        .collect();
    assert_eq!(got, vec![(-512, 0), (0, 1024), (512, 512), (1024, 1536)]);
    // the same in fragments
    let init = init_segment(std::slice::from_ref(&v));
    let data = [init, fragment(&[(&v, Some(0))], 1)].concat();
    let frames = read_all(&data).unwrap().frames;
    let got2: Vec<(i64, i64)> = frames.iter().map(|f| (f.dts.ticks(), f.pts.ticks())).collect();
    assert_eq!(got2, got);
}

#[test]
fn missing_stss_means_all_sync_and_audio_is_always_sync() {
    let mut v = video_spec(4);
    v.stss = None;
    let mut a = audio_spec();
    a.stss = Some(vec![3]);
    let file = read_all(&progressive(&[v, a])).unwrap();
    assert!(file.frames.iter().all(|f| f.keyframe));
}

#[test]
fn four_byte_descriptor_sizes() {
    let mut a = audio_spec();
    a.entry = mp4a(&[0x80, 0x80, 0x80, 0x00]);
    let file = read_all(&progressive(&[a])).unwrap();
    assert_eq!(&file.tracks[0].init[..], &ASC);
}

#[test]
fn unknown_sample_entry_skips_the_track() {
    let mut text = audio_spec();
    text.id = 3;
    text.entry = bx(b"tx3g", &[&[0; 40]]);
    let file = read(&progressive(&[video_spec(4), text])).unwrap();
    assert_eq!(file.demuxed.tracks.len(), 1);
    assert_eq!(file.demuxed.frames.len(), 4);
    assert_eq!(file.warnings.len(), 1);
    assert!(
        matches!(&file.warnings[0], Error::UnsupportedSampleEntry { track: 3, fourcc, .. } if fourcc == "tx3g"),
        "{:?}",
        file.warnings
    );
    assert!(
        file.warnings[0]
            .to_string()
            .contains("unsupported sample entry 'tx3g'")
    );
}

#[test]
fn other_handler_skips_the_track() {
    let mut hint = audio_spec();
    hint.handler = *b"hint";
    let file = read(&progressive(&[video_spec(4), hint])).unwrap();
    assert_eq!(file.demuxed.tracks.len(), 1);
    assert!(matches!(
        file.warnings[0],
        Error::UnsupportedHandler { track: 2, .. }
    ));
}

// --- errors ---

#[test]
fn truncated_file_is_an_error() {
    let data = sample_file();
    for cut in [1, 7, 8, 20, 40, data.len() / 2, data.len() - 1] {
        let err = read_all(&data[..cut]).unwrap_err();
        eprintln!("cut {cut}: {err}");
        assert!(!err.to_string().is_empty());
    }
    let moov = data.windows(4).position(|w| w == b"moov").unwrap() - 4;
    let err = read_all(&data[..data.len() - 1]).unwrap_err();
    assert_eq!(err.to_string(), format!("truncated box 'moov' at byte {moov}"));
}

#[test]
fn lying_box_size_names_the_path() {
    let mut data = sample_file();
    let stsz = data.windows(4).position(|w| w == b"stsz").unwrap() - 4;
    data[stsz..stsz + 4].copy_from_slice(&be32(10_000));
    let err = read_all(&data).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "box 'moov/trak/mdia/minf/stbl/stsz' at byte {stsz} claims 10000 bytes"
        )),
        "{msg}"
    );
}

#[test]
fn huge_sample_count_is_an_error_not_an_allocation() {
    // constant sample size: no table backs the count
    let mut data = sample_file();
    let stsz = data.windows(4).position(|w| w == b"stsz").unwrap() - 4;
    data[stsz + 12..stsz + 16].copy_from_slice(&be32(1));
    data[stsz + 16..stsz + 20].copy_from_slice(&be32(u32::MAX));
    let msg = read_all(&data).unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!(
            "moov/trak/mdia/minf/stbl/stsz at byte {}: sample count 4294967295 exceeds",
            stsz + 16
        )),
        "{msg}"
    );
    // a table that would not fit in its box
    data[stsz + 12..stsz + 16].copy_from_slice(&be32(0));
    let msg = read_all(&data).unwrap_err().to_string();
    assert!(
        msg.contains("sample count 4294967295 exceeds 4 (entries that fit in the box)"),
        "{msg}"
    );
}

#[test]
fn sample_outside_the_file_is_an_error() {
    let mut data = sample_file();
    let stco = data.windows(4).position(|w| w == b"stco").unwrap() - 4;
    data[stco + 16..stco + 20].copy_from_slice(&be32(1 << 30));
    let err = read_all(&data).unwrap_err();
    assert!(matches!(err, Error::SampleOutOfBounds { track: 1, .. }), "{err}");
}

#[test]
fn overlapping_samples_are_bounded() {
    // 4 samples of 1 MB in a file of a few hundred bytes
    let mut data = sample_file();
    let stsz = data.windows(4).position(|w| w == b"stsz").unwrap() - 4;
    data[stsz + 12..stsz + 16].copy_from_slice(&be32(1 << 20));
    let err = read_all(&data).unwrap_err();
    assert!(err.to_string().contains("do not fit in the input"), "{err}");
}

#[test]
fn no_moov_is_an_error() {
    let data = bx(b"ftyp", &[b"isom"]);
    assert_eq!(read_all(&data).unwrap_err(), Error::NoMovie { offset: 12 });
}

#[test]
fn broken_nal_framing_is_an_error() {
    let mut v = video_spec(4);
    v.payloads[1] = vec![0, 0, 0, 9, 1];
    let err = read_all(&progressive(&[v])).unwrap_err();
    assert!(matches!(err, Error::Nal { track: 1, .. }), "{err}");
}

// --- fragmented ---

fn trex(id: u32, duration: u32, size: u32, flags: u32) -> Vec<u8> {
    full(b"trex", 0, 0, &[&u32s(&[id, 1, duration, size, flags])])
}

/// An init segment: the tracks of `specs` without samples, plus mvex.
fn init_segment(specs: &[Spec]) -> Vec<u8> {
    let ftyp = bx(b"ftyp", &[b"iso6", &[0; 4]]);
    let mut parts = vec![mvhd()];
    for s in specs {
        let mut empty = s.clone();
        empty.payloads.clear();
        empty.ctts = None;
        empty.stss = None;
        parts.push(trak(&empty, 0));
    }
    let trexes: Vec<Vec<u8>> = specs
        .iter()
        .map(|s| trex(s.id, s.delta, 0, 0x0101_0000))
        .collect();
    let trexes: Vec<&[u8]> = trexes.iter().map(|t| t.as_slice()).collect();
    parts.push(bx(b"mvex", &trexes));
    let parts: Vec<&[u8]> = parts.iter().map(|t| t.as_slice()).collect();
    [ftyp, bx(b"moov", &parts)].concat()
}

/// One moof + mdat with one traf per (spec, tfdt); default-base-is-moof,
/// trun version 1 with sizes, flags and signed composition offsets.
fn fragment(specs: &[(&Spec, Option<u64>)], seq: u32) -> Vec<u8> {
    // two passes: the data offsets depend on the moof size
    let build = |moof_len: u32| {
        let mut trafs = Vec::new();
        let mut data_pos = moof_len + 8;
        for (s, tfdt) in specs {
            let tfhd = full(b"tfhd", 0, 0x02_0000, &[&be32(s.id)]);
            let mut entries = Vec::new();
            for (i, p) in s.payloads.iter().enumerate() {
                let key = s.stss.as_ref().is_none_or(|k| k.contains(&(i as u32 + 1)));
                let cts = s.ctts.as_ref().map_or(0, |c| c[i]);
                entries.extend(u32s(&[
                    p.len() as u32,
                    if key { 0x0200_0000 } else { 0x0101_0000 },
                    cts as u32,
                ]));
            }
            let trun = full(
                b"trun",
                1,
                0x001 | 0x200 | 0x400 | 0x800,
                &[&be32(s.payloads.len() as u32), &be32(data_pos), &entries],
            );
            data_pos += s.payloads.iter().map(|p| p.len() as u32).sum::<u32>();
            let mut parts = vec![tfhd];
            if let Some(t) = tfdt {
                parts.push(full(b"tfdt", 1, 0, &[&t.to_be_bytes()]));
            }
            parts.push(trun);
            let parts: Vec<&[u8]> = parts.iter().map(|t| t.as_slice()).collect();
            trafs.push(bx(b"traf", &parts));
        }
        let mut parts = vec![full(b"mfhd", 0, 0, &[&be32(seq)])];
        parts.extend(trafs);
        let parts: Vec<&[u8]> = parts.iter().map(|t| t.as_slice()).collect();
        bx(b"moof", &parts)
    };
    let moof = build(build(0).len() as u32);
    let payloads: Vec<u8> = specs.iter().flat_map(|(s, _)| s.payloads.concat()).collect();
    [moof, bx(b"mdat", &[&payloads])].concat()
}

fn fragmented_file() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (v, a) = (video_spec(4), audio_spec());
    let init = init_segment(&[v.clone(), a.clone()]);
    let f1 = fragment(&[(&v, Some(0)), (&a, Some(0))], 1);
    // second fragment: no tfdt, continues where the first ended
    let f2 = fragment(&[(&v, None), (&a, None)], 2);
    (init, f1, f2)
}

#[test]
fn fragmented_timestamps_flags_and_edit_shift() {
    let (init, f1, f2) = fragmented_file();
    let file = read(&[init, f1, f2].concat()).unwrap();
    assert!(file.warnings.is_empty(), "{:?}", file.warnings);
    let frames = &file.demuxed.frames;
    assert_eq!(frames.len(), 16);
    let video: Vec<(i64, i64, bool)> = frames
        .iter()
        .filter(|f| f.track == 1)
        .map(|f| (f.dts.ticks(), f.pts.ticks(), f.keyframe))
        .collect();
    assert_eq!(
        &video[..5],
        &[
            (-1024, 0, true),
            (-512, 1024, false),
            (0, 512, false),
            (512, 1536, false),
            (1024, 2048, true)
        ]
    );
    let audio: Vec<i64> = frames
        .iter()
        .filter(|f| f.track == 2)
        .map(|f| f.pts.ticks())
        .collect();
    assert_eq!(audio, (0..8).map(|i| i * 1024 - 1024).collect::<Vec<_>>());
    // file order: fragment by fragment, video before audio inside each
    let order: Vec<u32> = frames.iter().map(|f| f.track).collect();
    assert_eq!(order, [[1; 4], [2; 4], [1; 4], [2; 4]].concat());
}

#[test]
fn init_then_fragments_match_the_whole_file() {
    let (init, f1, f2) = fragmented_file();
    let whole = read_all(&[init.clone(), f1.clone(), f2.clone()].concat()).unwrap();
    let mut movie = Movie::parse(&init).unwrap();
    assert_eq!(movie.tracks(), whole.tracks);
    let mut frames = movie.read_fragment(&f1).unwrap();
    frames.extend(movie.read_fragment(&f2).unwrap());
    assert_eq!(frames, whole.frames);
}

#[test]
fn implicit_base_is_the_end_of_the_previous_traf() {
    let (v, a) = (video_spec(4), audio_spec());
    let init = init_segment(&[v.clone(), a.clone()]);
    let sizes = |s: &Spec| u32s(&s.payloads.iter().map(|p| p.len() as u32).collect::<Vec<_>>());
    let build = |moof_len: u32| {
        // no base flags in tfhd: the video run gives an offset from the moof,
        // the audio run has none and follows the video data
        let vtraf = bx(
            b"traf",
            &[
                &full(b"tfhd", 0, 0, &[&be32(1)]),
                &full(b"tfdt", 0, 0, &[&be32(0)]),
                &full(b"trun", 0, 0x201, &[&be32(4), &be32(moof_len + 8), &sizes(&v)]),
            ],
        );
        let atraf = bx(
            b"traf",
            &[
                &full(b"tfhd", 0, 0, &[&be32(2)]),
                &full(b"tfdt", 0, 0, &[&be32(0)]),
                &full(b"trun", 0, 0x200, &[&be32(4), &sizes(&a)]),
            ],
        );
        bx(b"moof", &[&vtraf, &atraf])
    };
    let moof = build(build(0).len() as u32);
    let mdat = bx(b"mdat", &[&v.payloads.concat(), &a.payloads.concat()]);
    let file = read_all(&[init, moof, mdat].concat()).unwrap();
    let got: Vec<Vec<u8>> = file.frames.iter().map(|f| f.data.to_vec()).collect();
    assert_eq!(got, [v.payloads, a.payloads].concat());
}

#[test]
fn moof_before_moov_is_an_error() {
    let (init, f1, _) = fragmented_file();
    let err = read_all(&[f1, init].concat()).unwrap_err();
    assert_eq!(err, Error::NoMovie { offset: 0 });
}

#[test]
fn trun_without_per_sample_fields_is_bounded() {
    let (init, _, _) = fragmented_file();
    let tfhd = full(b"tfhd", 0, 0x02_0000, &[&be32(1)]);
    let trun = full(b"trun", 0, 0, &[&be32(u32::MAX)]);
    let moof = bx(b"moof", &[&bx(b"traf", &[&tfhd, &trun])]);
    let err = read_all(&[init, moof].concat()).unwrap_err();
    assert!(
        err.to_string().contains("sample count 4294967295 exceeds"),
        "{err}"
    );
}

#[test]
fn fragment_of_unknown_track_is_a_warning() {
    let (init, _, _) = fragmented_file();
    let mut other = audio_spec();
    other.id = 9;
    let file = read(&[init, fragment(&[(&other, Some(0))], 1)].concat()).unwrap();
    assert!(file.demuxed.frames.is_empty());
    assert!(
        file.warnings[0].to_string().contains("unknown track 9"),
        "{:?}",
        file.warnings
    );
}

// --- never panic ---

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = read(&data);
        let _ = Movie::parse(&data).map(|mut m| m.read_fragment(&data));
    }

    #[test]
    fn mutated_progressive_file_never_panics(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut data = sample_file();
        for (at, byte) in edits {
            let i = at.index(data.len());
            data[i] = byte;
        }
        let _ = read(&data);
        let _ = read(&data[..cut.index(data.len())]);
    }

    #[test]
    fn mutated_fragmented_file_never_panics(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let (init, f1, f2) = fragmented_file();
        let mut data = [init, f1, f2].concat();
        for (at, byte) in edits {
            let i = at.index(data.len());
            data[i] = byte;
        }
        let _ = read(&data);
    }
}
