#![no_main]
//! Drives a `StreamBuffer` with an operation sequence decoded from the input and
//! checks its invariants and every reader's books after each operation.
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use media::buffer::{BufferConfig, Cursor, Error, Read, StreamBuffer};
use media::{Codec, Frame, Timestamp, Track};

const VIDEO: u32 = 1;
const AUDIO: u32 = 2;

struct Reader {
    cursor: Cursor,
    start: u64,
    read: u64,
    lost: u64,
    last: Option<u64>,
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }
}

fn tracks(variant: u8) -> Vec<Track> {
    let video = Track::new(VIDEO, Codec::H264, 90_000);
    let audio = Track::new(AUDIO, Codec::Aac, 48_000);
    match variant % 4 {
        0 => vec![video, audio],
        1 => vec![audio],
        2 => vec![video],
        _ => Vec::new(),
    }
}

fuzz_target!(|data: &[u8]| run(data));

fn run(data: &[u8]) {
    let mut input = Input(data);
    let config = BufferConfig {
        max_frames: u64::from(input.byte()),
        max_bytes: u64::from(input.byte()) * 256,
        max_duration: Duration::from_millis(u64::from(input.byte()) * 20),
        audio_gop: Duration::from_millis(u64::from(input.byte()) * 10),
    };
    let mut buf = StreamBuffer::new(config);
    let mut pushed: Vec<Frame> = Vec::new();
    let mut readers: Vec<Reader> = Vec::new();
    let mut clock_ms: i64 = 0;
    while !input.0.is_empty() {
        match input.byte() % 8 {
            op @ 0..=2 => {
                let size = usize::from(input.byte()) * if op == 2 { 4 } else { 16 };
                clock_ms += i64::from(input.byte());
                let frame = if op == 2 {
                    let dts = Timestamp::new(clock_ms * 48, 48_000);
                    Frame::new(AUDIO, dts, dts, true, vec![op; size])
                } else {
                    let dts = Timestamp::new(clock_ms * 90, 90_000);
                    Frame::new(VIDEO, dts, dts.add_ticks(3600), op == 0, vec![op; size])
                };
                match buf.push(frame.clone()) {
                    Ok(seq) => {
                        assert_eq!(seq, pushed.len() as u64, "sequence numbers are dense");
                        assert!(!buf.is_empty(), "window empty after an accepted push");
                        if frame.keyframe
                            && frame.track == VIDEO
                            && buf.tracks().iter().any(|t| t.id == VIDEO)
                        {
                            assert_eq!(buf.gop_starts().next_back(), Some(seq), "keyframe starts a gop");
                        }
                        pushed.push(frame);
                    }
                    Err(Error::WaitingForKeyframe { .. }) => assert!(buf.is_empty()),
                    Err(Error::GopFull { .. }) => {}
                }
            }
            3 => {
                let k = usize::from(input.byte());
                let n = input.byte() % 64;
                let k = k % readers.len().max(1);
                let Some(r) = readers.get_mut(k) else { continue };
                for _ in 0..n {
                    if !read_one(&buf, r, &pushed) {
                        break;
                    }
                }
            }
            op @ (4 | 5) => {
                let cursor = if op == 4 {
                    buf.cursor_at_live_edge()
                } else {
                    buf.cursor_at_oldest()
                };
                let pos = cursor.position();
                assert!(buf.gop_starts().any(|s| s == pos) || (buf.is_empty() && pos == buf.next_seq()));
                readers.push(Reader {
                    cursor,
                    start: pos,
                    read: 0,
                    lost: 0,
                    last: None,
                });
            }
            6 => buf.set_tracks(tracks(input.byte())),
            _ => match input.byte() {
                0 => buf.reset(),
                b => clock_ms += i64::from(b as i8) * 10,
            },
        }
        if let Err(what) = buf.check_invariants() {
            panic!("invariant broken: {what}");
        }
        assert_eq!(buf.next_seq(), pushed.len() as u64);
    }
    // A full drain reaches the end: every frame after a reader's start was read or lost.
    for r in &mut readers {
        while read_one(&buf, r, &pushed) {}
        assert_eq!(r.cursor.position(), buf.next_seq());
        assert_eq!(r.read + r.lost, buf.next_seq() - r.start);
    }
}

/// One read, checked against the model; false once the reader is caught up.
fn read_one(buf: &StreamBuffer, r: &mut Reader, pushed: &[Frame]) -> bool {
    let pos = r.cursor.position();
    match buf.read(&mut r.cursor) {
        Read::Frame(f) => {
            assert!(r.last.is_none_or(|l| l < pos), "frame out of order or duplicated");
            assert_eq!(Some(f), pushed.get(pos as usize), "wrong frame");
            r.last = Some(pos);
            r.read += 1;
        }
        Read::Tracks { epoch, tracks } => {
            assert_eq!(buf.tracks_at(pos), (epoch, tracks));
            assert_eq!(r.cursor.position(), pos);
        }
        Read::Pending => {
            assert_eq!(pos, buf.next_seq());
            return false;
        }
        Read::Skipped { lost, from, to } => {
            assert_eq!((from, to, to - from), (pos, r.cursor.position(), lost));
            assert_eq!(to, buf.gop_starts().next_back().unwrap_or(buf.next_seq()));
            r.lost += lost;
        }
    }
    assert_eq!(r.read + r.lost, r.cursor.position() - r.start, "books balance");
    true
}
