use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::{Codec, Timestamp};

const VIDEO: u32 = 1;
const AUDIO: u32 = 2;

fn video(n: i64, key: bool, size: usize) -> Frame {
    let dts = Timestamp::new(n * 3600, 90_000);
    Frame::new(VIDEO, dts, dts.add_ticks(7200), key, vec![0u8; size])
}

fn audio(n: i64) -> Frame {
    let dts = Timestamp::new(n * 1024, 48_000);
    Frame::new(AUDIO, dts, dts, true, vec![1u8; 400])
}

fn av_tracks() -> Vec<Track> {
    vec![
        Track::new(VIDEO, Codec::H264, 90_000),
        Track::new(AUDIO, Codec::Aac, 48_000),
    ]
}

/// Pushes `frames` video frames (keyframe every `gop`) with interleaved audio
/// (about 47 frames per 25 video frames), starting at video frame `from`.
fn push_av(buf: &mut StreamBuffer, from: i64, frames: i64, gop: i64) {
    let mut a = from * 47 / 25;
    for n in from..from + frames {
        buf.push(video(n, n % gop == 0, 2000)).ok();
        while a * 25 < (n + 1) * 47 {
            buf.push(audio(a)).ok();
            a += 1;
        }
    }
}

/// Reads until `Pending`; returns (sequence numbers read, frames lost).
fn drain(buf: &StreamBuffer, cursor: &mut Cursor) -> (Vec<u64>, u64) {
    let (mut seqs, mut lost) = (Vec::new(), 0);
    loop {
        match buf.read(cursor) {
            Read::Frame(_) => seqs.push(cursor.position() - 1),
            Read::Tracks { .. } => {}
            Read::Skipped { lost: l, .. } => lost += l,
            Read::Pending => return (seqs, lost),
        }
    }
}

fn av_buffer(config: BufferConfig) -> StreamBuffer {
    let mut buf = StreamBuffer::new(config);
    buf.set_tracks(av_tracks());
    buf
}

#[test]
fn new_reader_starts_at_newest_keyframe() {
    let mut buf = av_buffer(BufferConfig::default());
    push_av(&mut buf, 0, 125, 50);
    let newest_key = buf
        .iter()
        .rfind(|(_, f)| f.track == VIDEO && f.keyframe)
        .unwrap()
        .0;
    assert_eq!(buf.gop_starts().next_back(), Some(newest_key));
    let mut cursor = buf.cursor_at_live_edge();
    assert_eq!(cursor.position(), newest_key);
    assert_eq!(buf.tracks(), &av_tracks()[..]);
    match buf.read(&mut cursor) {
        Read::Tracks { epoch, tracks } => assert_eq!((epoch, tracks), (1, &av_tracks()[..])),
        other => panic!("expected tracks, got {other:?}"),
    }
    match buf.read(&mut cursor) {
        Read::Frame(f) => assert!(f.keyframe && f.track == VIDEO && f.dts.ticks() == 100 * 3600),
        other => panic!("expected the keyframe, got {other:?}"),
    }
    let (seqs, lost) = drain(&buf, &mut cursor);
    assert_eq!(lost, 0);
    assert_eq!(seqs, (newest_key + 1..buf.next_seq()).collect::<Vec<_>>());
    // The oldest cursor starts at a GOP start too.
    assert_eq!(Some(buf.cursor_at_oldest().position()), buf.gop_starts().next());
}

#[test]
fn frames_before_the_first_keyframe_are_refused() {
    let mut buf = av_buffer(BufferConfig::default());
    assert_eq!(
        buf.push(audio(0)),
        Err(Error::WaitingForKeyframe { track: AUDIO })
    );
    assert_eq!(
        buf.push(video(0, false, 10)),
        Err(Error::WaitingForKeyframe { track: VIDEO })
    );
    assert!(buf.is_empty());
    assert_eq!(buf.cursor_at_live_edge().position(), 0);
    assert_eq!(buf.push(video(1, true, 10)), Ok(0));
    assert_eq!(buf.push(audio(1)), Ok(1));
    assert_eq!(buf.stats().rejected, 2);
}

#[test]
fn slow_reader_is_moved_to_live_edge_and_told_what_it_lost() {
    let config = BufferConfig {
        max_duration: Duration::from_secs(4),
        ..BufferConfig::default()
    };
    let mut buf = av_buffer(config);
    push_av(&mut buf, 0, 50, 50);
    let mut slow = buf.cursor_at_oldest();
    let start = slow.position();
    let mut read = 0;
    for _ in 0..4 {
        if let Read::Frame(_) = buf.read(&mut slow) {
            read += 1;
        }
    }
    assert_eq!(read, 3); // one Tracks, three frames
    let old = slow.position();
    push_av(&mut buf, 50, 250, 50); // 12 s at 25 fps: the first GOP is long gone
    assert!(buf.first_seq() > old);
    let edge = buf.gop_starts().next_back().unwrap();
    assert_eq!(
        buf.read(&mut slow),
        Read::Skipped {
            lost: edge - old,
            from: old,
            to: edge
        }
    );
    assert_eq!(slow.position(), edge);
    let (seqs, lost) = drain(&buf, &mut slow);
    assert_eq!(lost, 0);
    assert_eq!(seqs.first(), Some(&edge));
    assert_eq!(read + (edge - old) + seqs.len() as u64, buf.next_seq() - start);
}

#[test]
fn eviction_keeps_newest_complete_gop_and_open_gop() {
    // Tiny limits: every limit is exceeded all the time.
    for config in [
        BufferConfig {
            max_duration: Duration::from_millis(1),
            ..BufferConfig::default()
        },
        BufferConfig {
            max_bytes: 1,
            ..BufferConfig::default()
        },
    ] {
        let mut buf = av_buffer(config);
        push_av(&mut buf, 0, 30, 10);
        buf.check_invariants().unwrap();
        let starts: Vec<u64> = buf.gop_starts().collect();
        assert_eq!(starts.len(), 2);
        let newest_key = buf
            .iter()
            .rfind(|(_, f)| f.keyframe && f.track == VIDEO)
            .unwrap()
            .0;
        assert_eq!(starts[1], newest_key);
        assert_eq!(buf.get(starts[0]).map(|f| f.dts.ticks()), Some(10 * 3600));
        assert!(!buf.gops().next().unwrap().complete || buf.gops().count() == 2);
    }
}

#[test]
fn eviction_by_duration_keeps_about_max_duration() {
    let mut buf = av_buffer(BufferConfig {
        max_duration: Duration::from_millis(10_500),
        ..BufferConfig::default()
    });
    push_av(&mut buf, 0, 25 * 60, 50); // one minute, GOPs of 2 s
    let d = buf.duration();
    assert!(
        d <= Duration::from_millis(10_500) && d > Duration::from_secs(8),
        "{d:?}"
    );
    let stats = buf.stats();
    assert_eq!(stats.gops, 5);
    assert_eq!(stats.pushed, stats.frames + stats.evicted);
    let gops: Vec<GopInfo> = buf.gops().collect();
    assert!(
        gops[..4]
            .iter()
            .all(|g| g.complete && g.duration == Duration::from_secs(2))
    );
    assert!(!gops[4].complete);
}

#[test]
fn eviction_by_frames() {
    let mut buf = av_buffer(BufferConfig {
        max_frames: 200,
        ..BufferConfig::default()
    });
    push_av(&mut buf, 0, 500, 25); // GOPs of 25 video + ~47 audio frames
    assert!(buf.len() <= 200 && buf.len() > 200 - 80, "{}", buf.len());
    buf.check_invariants().unwrap();
}

#[test]
fn audio_only_streams_are_grouped_by_duration() {
    let mut buf = StreamBuffer::new(BufferConfig::default());
    buf.set_tracks(vec![Track::new(AUDIO, Codec::Aac, 48_000)]);
    for n in 0..235 {
        buf.push(audio(n)).unwrap(); // 235 * 1024 / 48000 = 5.01 s
    }
    let gops: Vec<GopInfo> = buf.gops().collect();
    // 1 s / (1024 / 48000 s) = 46.875: a new GOP every 47 frames.
    assert_eq!(buf.gop_starts().collect::<Vec<_>>(), vec![0, 47, 94, 141, 188]);
    assert!(gops[..4].iter().all(|g| g.end - g.start == 47
        && g.duration.abs_diff(Duration::from_micros(1_002_667)) <= Duration::from_micros(1)));
    assert_eq!(buf.cursor_at_live_edge().position(), 188);
    assert_eq!(buf.gop_at(100).map(|g| g.start), Some(94));
    assert_eq!(buf.gop_at(235), None);
}

#[test]
fn undeclared_video_track_is_detected_by_its_non_keyframes() {
    let mut buf = StreamBuffer::new(BufferConfig::default());
    buf.push(video(0, true, 10)).unwrap();
    buf.push(video(1, false, 10)).unwrap();
    for n in 2..60 {
        buf.push(audio(n)).unwrap(); // audio keyframes no longer start GOPs
    }
    buf.push(video(50, true, 10)).unwrap();
    assert_eq!(buf.gop_starts().collect::<Vec<_>>(), vec![0, 60]);
}

#[test]
fn full_gop_refuses_frames_until_next_keyframe() {
    let mut buf = av_buffer(BufferConfig {
        max_frames: 10,
        ..BufferConfig::default()
    });
    buf.push(video(0, true, 10)).unwrap();
    for n in 1..10 {
        buf.push(video(n, false, 10)).unwrap();
    }
    assert!(matches!(
        buf.push(video(10, false, 10)),
        Err(Error::GopFull {
            gop_start: 0,
            frames: 10,
            ..
        })
    ));
    assert!(buf.push(audio(20)).is_err());
    assert_eq!(buf.push(video(11, true, 10)), Ok(10));
    buf.check_invariants().unwrap();
}

#[test]
fn epoch_bumps_on_track_change_and_reset() {
    let mut buf = StreamBuffer::new(BufferConfig::default());
    assert_eq!(buf.epoch(), 0);
    buf.set_tracks(av_tracks());
    assert_eq!(buf.epoch(), 1);
    buf.set_tracks(av_tracks());
    assert_eq!(buf.epoch(), 1, "same tracks: no bump");
    push_av(&mut buf, 0, 20, 10);
    let mut reader = buf.cursor_at_oldest();
    assert!(matches!(buf.read(&mut reader), Read::Tracks { epoch: 1, .. }));
    let boundary = buf.next_seq();
    let mut changed = av_tracks();
    changed[0].init = bytes::Bytes::from_static(b"new sps");
    buf.set_tracks(changed.clone());
    assert_eq!(buf.epoch(), 2);
    push_av(&mut buf, 20, 20, 10);
    assert_eq!(buf.tracks_at(boundary - 1).0, 1);
    assert_eq!(buf.tracks_at(boundary), (2, &changed[..]));
    // The reader is told exactly at the boundary.
    let mut seen = Vec::new();
    loop {
        match buf.read(&mut reader) {
            Read::Tracks { epoch, tracks } => {
                assert_eq!((reader.position(), epoch, tracks), (boundary, 2, &changed[..]));
                seen.push(epoch);
            }
            Read::Frame(_) => {}
            Read::Pending => break,
            Read::Skipped { .. } => panic!("nothing was evicted"),
        }
    }
    assert_eq!(seen, vec![2]);

    let before = buf.next_seq();
    buf.reset();
    assert_eq!(buf.epoch(), 3);
    assert!(buf.is_empty());
    assert_eq!(buf.tracks(), &changed[..]);
    assert_eq!(
        buf.push(audio(0)),
        Err(Error::WaitingForKeyframe { track: AUDIO })
    );
    assert_eq!(buf.push(video(0, true, 10)), Ok(before));
    // A caught-up reader is not skipped (it lost nothing) but learns the new epoch.
    assert!(matches!(buf.read(&mut reader), Read::Tracks { epoch: 3, .. }));
    assert!(matches!(buf.read(&mut reader), Read::Frame(f) if f.keyframe));
}

#[test]
fn reset_skips_lagging_readers() {
    let mut buf = av_buffer(BufferConfig::default());
    push_av(&mut buf, 0, 20, 10);
    let mut reader = buf.cursor_at_oldest();
    let next = buf.next_seq();
    buf.reset();
    assert_eq!(
        buf.read(&mut reader),
        Read::Skipped {
            lost: next,
            from: 0,
            to: next
        }
    );
    assert_eq!(buf.read(&mut reader), Read::Pending);
}

#[test]
fn backward_timestamp_jump_does_not_break_duration() {
    let mut buf = av_buffer(BufferConfig {
        max_duration: Duration::from_secs(10),
        ..BufferConfig::default()
    });
    push_av(&mut buf, 1000, 100, 50);
    push_av(&mut buf, 0, 100, 50); // the source restarted its clock
    buf.check_invariants().unwrap();
    assert!(buf.duration() < Duration::from_secs(10), "{:?}", buf.duration());
    assert_eq!(buf.stats().gops, 4);
}

#[test]
fn lookups_by_sequence_number() {
    let mut buf = av_buffer(BufferConfig::default());
    push_av(&mut buf, 0, 30, 10);
    let starts: Vec<u64> = buf.gop_starts().collect();
    assert_eq!(starts.len(), 3);
    let g = buf.gop_at(starts[1] + 1).unwrap();
    assert_eq!((g.start, g.end, g.complete), (starts[1], starts[2], true));
    assert_eq!(g.dts, Timestamp::new(10 * 3600, 90_000));
    let last = buf.gop_at(buf.next_seq() - 1).unwrap();
    assert_eq!(
        (last.start, last.end, last.complete),
        (starts[2], buf.next_seq(), false)
    );
    assert!(buf.get(buf.next_seq()).is_none());
    assert!(buf.cursor_at(buf.next_seq() + 1).is_none());
    let mut c = buf.cursor_at(starts[2]).unwrap();
    buf.read(&mut c);
    assert_eq!(buf.read(&mut c), Read::Frame(buf.get(starts[2]).unwrap()));
    assert_eq!(buf.behind(&c), buf.next_seq() - starts[2] - 1);
}

#[test]
fn buffer_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<StreamBuffer>();
    check::<Cursor>();
}

// --- property tests ---

#[derive(Clone, Debug)]
enum Op {
    Video { key: bool, size: u16, dt: u8 },
    Audio { size: u16, dt: u8 },
    Jump(i16),
    NewReader { live: bool },
    Read { reader: usize, n: u8 },
    SetTracks(u8),
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        30 => (prop::bool::weighted(0.1), 0u16..4000, 0u8..80).prop_map(|(key, size, dt)| Op::Video { key, size, dt }),
        30 => (0u16..800, 0u8..40).prop_map(|(size, dt)| Op::Audio { size, dt }),
        1 => any::<i16>().prop_map(Op::Jump),
        4 => any::<bool>().prop_map(|live| Op::NewReader { live }),
        20 => (any::<usize>(), 0u8..40).prop_map(|(reader, n)| Op::Read { reader, n }),
        2 => (0u8..3).prop_map(Op::SetTracks),
        1 => Just(Op::Reset),
    ]
}

fn tracks_variant(v: u8) -> Vec<Track> {
    match v {
        0 => av_tracks(),
        1 => vec![Track::new(AUDIO, Codec::Aac, 48_000)],
        _ => vec![Track::new(VIDEO, Codec::H265, 90_000)],
    }
}

struct Reader {
    cursor: Cursor,
    start: u64,
    read: u64,
    lost: u64,
    last: Option<u64>,
}

/// A model of what was pushed, and the readers' books.
struct Model {
    pushed: Vec<Frame>,
    readers: Vec<Reader>,
    /// Newest video keyframe pushed while a video track is declared.
    last_key: Option<u64>,
    declared_video: bool,
    clock_ms: i64,
}

impl Model {
    fn push(&mut self, buf: &mut StreamBuffer, frame: Frame) {
        let is_key = frame.keyframe && frame.track == VIDEO;
        match buf.push(frame.clone()) {
            Ok(seq) => {
                assert_eq!(seq, self.pushed.len() as u64);
                self.pushed.push(frame);
                assert!(!buf.is_empty());
                if is_key && self.declared_video {
                    self.last_key = Some(seq);
                }
            }
            Err(Error::WaitingForKeyframe { .. }) => assert!(buf.is_empty()),
            Err(Error::GopFull { .. }) => {}
        }
    }

    fn read(&mut self, buf: &StreamBuffer, k: usize, n: u8) {
        let Some(r) = self.readers.get_mut(k) else { return };
        for _ in 0..n {
            let pos = r.cursor.position();
            match buf.read(&mut r.cursor) {
                Read::Frame(f) => {
                    assert!(r.last.is_none_or(|l| l < pos), "out of order or duplicated");
                    assert_eq!(f, &self.pushed[pos as usize]);
                    r.last = Some(pos);
                    r.read += 1;
                }
                Read::Tracks { epoch, tracks } => {
                    assert_eq!(buf.tracks_at(pos), (epoch, tracks));
                    assert_eq!(r.cursor.position(), pos);
                }
                Read::Pending => assert_eq!(pos, buf.next_seq()),
                Read::Skipped { lost, from, to } => {
                    assert_eq!((from, to, to - from), (pos, r.cursor.position(), lost));
                    assert_eq!(to, buf.gop_starts().next_back().unwrap_or(buf.next_seq()));
                    r.lost += lost;
                }
            }
            assert_eq!(r.read + r.lost, r.cursor.position() - r.start);
        }
    }

    fn check(&self, buf: &StreamBuffer) {
        buf.check_invariants().unwrap();
        assert_eq!(buf.next_seq(), self.pushed.len() as u64);
        if let Some(key) = self.last_key {
            assert_eq!(
                buf.gop_starts().next_back(),
                Some(key),
                "newest keyframe's gop was evicted"
            );
            assert!(buf.get(key).is_some_and(|f| f.keyframe));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn arbitrary_operations_keep_invariants(ops in prop::collection::vec(op(), 1..300)) {
        let mut buf = StreamBuffer::new(BufferConfig {
            max_duration: Duration::from_secs(2),
            max_bytes: 40_000,
            max_frames: 60,
            audio_gop: Duration::from_millis(200),
        });
        let mut m = Model { pushed: Vec::new(), readers: Vec::new(), last_key: None, declared_video: false, clock_ms: 0 };
        for op in ops {
            match op {
                Op::Video { key, size, dt } => {
                    m.clock_ms += i64::from(dt);
                    let dts = Timestamp::new(m.clock_ms * 90, 90_000);
                    m.push(&mut buf, Frame::new(VIDEO, dts, dts, key, vec![0u8; size.into()]));
                }
                Op::Audio { size, dt } => {
                    m.clock_ms += i64::from(dt);
                    let dts = Timestamp::new(m.clock_ms * 48, 48_000);
                    m.push(&mut buf, Frame::new(AUDIO, dts, dts, true, vec![0u8; size.into()]));
                }
                Op::Jump(ms) => m.clock_ms += i64::from(ms),
                Op::NewReader { live } => {
                    let cursor = if live { buf.cursor_at_live_edge() } else { buf.cursor_at_oldest() };
                    let pos = cursor.position();
                    prop_assert!(buf.gop_starts().any(|s| s == pos) || (buf.is_empty() && pos == buf.next_seq()));
                    m.readers.push(Reader { cursor, start: cursor.position(), read: 0, lost: 0, last: None });
                }
                Op::Read { reader, n } => {
                    let k = reader % m.readers.len().max(1);
                    m.read(&buf, k, n);
                }
                Op::SetTracks(v) => {
                    let tracks = tracks_variant(v);
                    if tracks[..] != *buf.tracks() {
                        m.last_key = None;
                    }
                    m.declared_video = tracks.iter().any(|t| t.codec.is_video());
                    buf.set_tracks(tracks);
                }
                Op::Reset => {
                    buf.reset();
                    m.last_key = None;
                }
            }
            m.check(&buf);
        }
        // Drain everyone: every frame pushed after a reader's start was read or lost.
        for k in 0..m.readers.len() {
            m.read(&buf, k, u8::MAX);
            let r = &m.readers[k];
            prop_assert_eq!(r.cursor.position(), buf.next_seq(), "a full drain reaches the end");
            prop_assert_eq!(r.read + r.lost, buf.next_seq() - r.start);
        }
    }
}

#[test]
fn oldest_of_epoch_skips_gops_from_before_a_track_change() {
    let mut buf = StreamBuffer::new(BufferConfig::default());
    buf.set_tracks(vec![Track::new(VIDEO, Codec::H264, 90_000)]);
    for n in 0..30 {
        buf.push(video(n, n % 25 == 0, 100)).unwrap();
    }
    assert_eq!(buf.cursor_at_oldest_of_epoch(), buf.cursor_at_oldest());
    // the audio track becomes known mid-GOP: the next GOP is the first whole one with it
    buf.set_tracks(av_tracks());
    push_av(&mut buf, 30, 40, 25);
    let mut c = buf.cursor_at_oldest_of_epoch();
    let first = loop {
        match buf.read(&mut c) {
            Read::Frame(f) => break f.clone(),
            Read::Tracks { tracks, .. } => assert_eq!(tracks.len(), 2),
            other => panic!("{other:?}"),
        }
    };
    assert!(
        first.keyframe && first.dts == Timestamp::new(50 * 3600, 90_000),
        "{first:?}"
    );
}
