use std::time::{Duration, SystemTime};

use crate::{Codec, Frame, Timestamp, Track};

use super::*;
use crate::hls::cutter::{CutConfig, Cutter};

/// A cutter (where the stream enters) feeding a segmenter (a packager).
struct Pipe {
    cutter: Cutter,
    seg: Segmenter,
}

/// The cutter's creation time: numbering starts at MSN 100 and part 100000.
const MADE: Duration = Duration::from_secs(100);

impl Pipe {
    fn new(format: Format, config: Config) -> Self {
        let cuts = CutConfig {
            target_duration: config.target_duration,
            part_duration: config.part_duration,
        };
        Self {
            cutter: Cutter::new(cuts, SystemTime::UNIX_EPOCH + MADE),
            seg: Segmenter::new(format, config, None),
        }
    }

    fn set_tracks(&mut self, tracks: &[Track]) -> Result<(), Error> {
        self.cutter.set_tracks(tracks);
        self.seg.set_tracks(tracks)
    }

    fn offline(&mut self) {
        self.cutter.offline();
        self.seg.offline();
    }

    fn push(&mut self, frame: &Frame, now: SystemTime) -> Result<bool, Error> {
        let mut frame = frame.clone();
        frame.mark = self.cutter.push(&frame, now);
        self.seg.push(&frame, now)
    }

    fn timeline(&self) -> &Timeline {
        self.seg.timeline()
    }
}

fn tracks() -> Vec<Track> {
    let mut v = Track::new(1, Codec::H264, 90_000);
    // avcC of a 64x64 High profile stream
    v.init = Bytes::from_static(&[
        1, 0x64, 0, 0x0a, 0xff, 0xe1, 0, 0x19, 0x67, 0x64, 0, 0x0a, 0xac, 0xd9, 0x44, 0x26, 0xc0, 0x44, 0, 0,
        3, 0, 4, 0, 0, 3, 0, 0xc8, 0x3c, 0x48, 0x96, 0x58, 1, 0, 6, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0,
    ]);
    let mut a = Track::new(2, Codec::Aac, 48_000);
    a.init = crate::aac::AudioSpecificConfig {
        object_type: 2,
        sample_rate: 48_000,
        channels: 2,
    }
    .encode();
    vec![v, a]
}

fn video(i: i64, gop: i64) -> Frame {
    // 25 fps
    let t = Timestamp::new(i * 3600, 90_000);
    Frame::new(1, t, t, i % gop == 0, vec![0, 0, 0, 2, 0x65, i as u8])
}

fn audio(i: i64) -> Frame {
    let t = Timestamp::new(i * 1024, 48_000);
    Frame::new(2, t, t, true, vec![0x21; 8])
}

/// Feeds 25 fps video frames `from..from + frames` with a keyframe every
/// `gop` frames, and the audio frames up to them, interleaved by time.
fn feed(seg: &mut Pipe, from: i64, frames: i64, gop: i64, t0: SystemTime) -> usize {
    let mut changes = 0;
    let mut a = (from as f64 / 25.0 * 48_000.0 / 1024.0).ceil() as i64;
    for i in from..from + frames {
        let vt = i as f64 / 25.0;
        while (a as f64 * 1024.0 / 48_000.0) < vt {
            seg.push(&audio(a), t0).unwrap();
            a += 1;
        }
        let now = t0 + Duration::from_secs_f64(vt);
        if seg.push(&video(i, gop), now).unwrap() {
            changes += 1;
        }
    }
    changes
}

fn segmenter(format: Format) -> Pipe {
    let mut s = Pipe::new(format, Config::default());
    s.set_tracks(&tracks()).unwrap();
    s
}

#[test]
fn parts_are_whole_frames_and_segments_start_on_keyframes() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let mut s = segmenter(Format::Cmaf);
    feed(&mut s, 0, 250, 25, t0); // 10 s, 1 s GOP
    let tl = s.timeline();
    assert_eq!(tl.part_target, Some(0.2));
    assert_eq!(tl.target_duration, 2);
    let complete: Vec<_> = tl.segments.iter().filter(|s| s.complete).collect();
    assert_eq!(
        complete.len(),
        4,
        "{:?}",
        tl.segments.iter().map(|s| s.duration).collect::<Vec<_>>()
    );
    for seg in &complete {
        assert!((seg.duration - 2.0).abs() < 1e-6, "segment of {}", seg.duration);
        assert_eq!(seg.parts.len(), 10);
        assert!(seg.independent && seg.parts[0].independent);
        assert!(seg.parts.iter().all(|p| (p.duration - 0.2).abs() < 1e-6));
    }
    // numbering is continuous across segments
    let seqs: Vec<u64> = tl
        .segments
        .iter()
        .flat_map(|s| s.parts.iter().map(|p| p.seq))
        .collect();
    assert_eq!(seqs.first(), Some(&100_000));
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(tl.next_part, seqs.last().unwrap() + 1);
    let msns: Vec<u64> = tl.segments.iter().map(|s| s.msn).collect();
    assert_eq!(msns, vec![100, 101, 102, 103, 104]);
    // program date times follow media time
    let d = complete[1]
        .program_date_time
        .duration_since(complete[0].program_date_time)
        .unwrap();
    assert!((d.as_secs_f64() - 2.0).abs() < 1e-3);
    // the init segment and the segments make a fragmented mp4 holding every video frame
    let mut file = tl.init(complete[0].init).unwrap().to_vec();
    for seg in &complete {
        for c in &seg.data().chunks {
            file.extend_from_slice(c);
        }
    }
    let got = crate::mp4::read_all(&file).unwrap();
    let v = got.frames.iter().filter(|f| f.track == 1).count();
    assert_eq!(v, 200);
}

#[test]
fn a_part_is_complete_when_its_last_frame_arrives() {
    let t0 = SystemTime::UNIX_EPOCH;
    let mut s = segmenter(Format::Ts);
    feed(&mut s, 0, 10, 25, t0);
    let before = s.timeline().next_part;
    // frames 10..15 make the next 200 ms part; it closes on frame 14, not on 15
    for i in 10..14 {
        s.push(&video(i, 25), t0).unwrap();
        assert_eq!(s.timeline().next_part, before, "closed early at {i}");
    }
    assert!(s.push(&video(14, 25), t0).unwrap());
    assert_eq!(s.timeline().next_part, before + 1);
    assert!(s.timeline().part(before).is_some());
}

#[test]
fn long_gops_force_cuts_within_the_target() {
    let mut s = segmenter(Format::Ts);
    feed(&mut s, 0, 500, 100, SystemTime::UNIX_EPOCH); // 4 s GOP
    let complete: Vec<_> = s.timeline().segments.iter().filter(|s| s.complete).collect();
    assert!(complete.len() >= 6);
    for seg in complete {
        assert!(seg.duration.round() <= 2.0, "segment of {}", seg.duration);
        let sum: f64 = seg.parts.iter().map(|p| p.duration).sum();
        assert!((sum - seg.duration).abs() < 1e-6);
    }
}

#[test]
fn restart_is_a_discontinuity_with_a_new_init_and_the_window_is_bounded() {
    let t0 = SystemTime::UNIX_EPOCH;
    let config = Config {
        window: Duration::from_secs(10),
        ..Config::default()
    };
    let mut s = Pipe::new(Format::Cmaf, config);
    s.set_tracks(&tracks()).unwrap();
    feed(&mut s, 0, 150, 25, t0);
    s.offline();
    assert!(!s.timeline().live);
    assert!(s.timeline().segments.iter().all(|s| s.complete));
    // the new source has mono audio
    let mut mono = tracks();
    mono[1].init = crate::aac::AudioSpecificConfig {
        object_type: 2,
        sample_rate: 48_000,
        channels: 1,
    }
    .encode();
    s.set_tracks(&mono).unwrap();
    // and starts its clock at zero again
    feed(&mut s, 0, 100, 25, t0);
    let tl = s.timeline();
    let disc: Vec<_> = tl.segments.iter().filter(|s| s.discontinuity).collect();
    assert_eq!(disc.len(), 1);
    assert_ne!(disc[0].init, tl.segments[0].init);
    assert_eq!(tl.inits.len(), 2);
    // the same tracks again: the same init segment, under the same name
    let first_init = tl.segments[0].init;
    s.offline();
    s.set_tracks(&tracks()).unwrap();
    feed(&mut s, 0, 100, 25, t0);
    let tl = s.timeline();
    assert_eq!(tl.segments.iter().filter(|s| s.discontinuity).count(), 2);
    assert_eq!(tl.segments.back().unwrap().init, first_init);
    // run a long time: the window holds 10 s and the discontinuity left it
    feed(&mut s, 100, 1000, 25, t0);
    let tl = s.timeline();
    let kept: f64 = tl
        .segments
        .iter()
        .filter(|s| s.complete)
        .map(|s| s.duration)
        .sum();
    assert!((10.0..=12.5).contains(&kept), "kept {kept} s");
    assert_eq!(tl.discontinuity_sequence, 2);
    assert_eq!(tl.inits.len(), 1);
}

#[test]
fn blocking_conditions_follow_rfc_rules() {
    let mut s = segmenter(Format::Ts);
    feed(&mut s, 0, 60, 25, SystemTime::UNIX_EPOCH); // 2.4 s: one complete segment and two parts
    let tl = s.timeline();
    assert!(tl.has(100, None));
    assert!(!tl.has(101, None));
    assert!(tl.has(101, Some(1)));
    assert!(!tl.has(101, Some(2)));
    // a part index past the end of a complete segment means part 0 of the next
    assert!(tl.has(100, Some(40)));
    assert!(!tl.has(102, Some(0)));
}

#[test]
fn frames_before_the_first_keyframe_and_unselected_tracks_are_left_out() {
    let mut s = segmenter(Format::Ts);
    for i in 1..25 {
        assert!(!s.push(&video(i, 25), SystemTime::UNIX_EPOCH).unwrap());
    }
    assert!(s.timeline().segments.is_empty());
    let other = Frame::new(9, Timestamp::new(0, 1000), Timestamp::new(0, 1000), true, vec![1]);
    assert!(!s.push(&other, SystemTime::UNIX_EPOCH).unwrap());
    let mut none = Segmenter::new(Format::Cmaf, Config::default(), None);
    assert_eq!(
        none.set_tracks(&[Track::new(1, Codec::H264, 90_000)]),
        Err(Error::NoTracks)
    );
}

#[test]
fn ts_packages_without_vp8_and_cmaf_with_it() {
    let tracks = [crate::sample::vp8_track(1, 320, 240), crate::sample::aac_track(2)];
    let mut ts = Segmenter::new(Format::Ts, Config::default(), None);
    ts.set_tracks(&tracks).unwrap();
    assert_eq!(ts.tracks, vec![2], "MPEG-TS leaves VP8 out");
    let mut cmaf = Segmenter::new(Format::Cmaf, Config::default(), None);
    cmaf.set_tracks(&tracks).unwrap();
    assert_eq!(cmaf.tracks, vec![1, 2]);
    assert_eq!(cmaf.lead, 1);
    let init = cmaf.init.as_ref().map(|(_, b)| b.clone()).unwrap();
    assert!(init.windows(4).any(|w| w == b"vp08"));
    assert!(init.windows(4).any(|w| w == b"vpcC"));
    let only_vp8 = [crate::sample::vp8_track(1, 320, 240)];
    assert_eq!(ts.set_tracks(&only_vp8), Err(Error::NoTracks));
}

mod props {
    use proptest::prelude::*;

    use super::*;

    /// (track, dts step in ms, keyframe) of arbitrary frames: jumps back and forward included.
    fn frames() -> impl Strategy<Value = Vec<(bool, i64, bool)>> {
        prop::collection::vec((any::<bool>(), -500i64..3000, prop::bool::weighted(0.1)), 0..600)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_timing_keeps_the_timeline_consistent(steps in frames(), ts in any::<bool>()) {
            let format = if ts { Format::Ts } else { Format::Cmaf };
            let config = Config { window: Duration::from_secs(8), ..Config::default() };
            let mut s = Pipe::new(format, config);
            s.set_tracks(&tracks()).unwrap();
            let (mut v, mut a) = (0i64, 0i64);
            for (i, (is_video, step, key)) in steps.into_iter().enumerate() {
                let f = if is_video {
                    v += step;
                    let t = Timestamp::new(v * 90, 90_000);
                    Frame::new(1, t, t, key || i == 0, vec![0, 0, 0, 1, 0x41])
                } else {
                    a += step.abs();
                    let t = Timestamp::new(a * 48, 48_000);
                    Frame::new(2, t, t, true, vec![0x21; 4])
                };
                let _ = s.push(&f, SystemTime::UNIX_EPOCH);
                if i % 97 == 0 {
                    s.offline();
                    s.set_tracks(&tracks()).unwrap();
                }
            }
            let tl = s.timeline();
            let seqs: Vec<u64> = tl.segments.iter().flat_map(|s| s.parts.iter().map(|p| p.seq)).collect();
            prop_assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
            let msns: Vec<u64> = tl.segments.iter().map(|s| s.msn).collect();
            prop_assert!(msns.windows(2).all(|w| w[1] == w[0] + 1));
            for seg in &tl.segments {
                prop_assert!(seg.complete || seg.msn == *msns.last().unwrap());
                let sum: f64 = seg.parts.iter().map(|p| p.duration).sum();
                prop_assert!((sum - seg.duration).abs() < 1e-6);
                prop_assert!(seg.duration >= 0.0);
            }
            // init segments: the ones the window uses, plus the current one
            prop_assert!(tl.inits.len() <= tl.segments.len() + 1);
            if format == Format::Cmaf {
                for seg in &tl.segments {
                    prop_assert!(tl.init(seg.init).is_some());
                }
            }
        }
    }
}

/// Frames of `seconds` of 25 fps video (a keyframe every `gop` frames) and
/// AAC audio, interleaved by time, marked by one cutter as where the stream
/// entered; a jump forward in time after `jump_at` seconds.
fn marked(seconds: i64, gop: i64, jump_at: i64) -> Vec<(Frame, SystemTime)> {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut cutter = Cutter::new(CutConfig::default(), t0);
    cutter.set_tracks(&tracks());
    let mut out = Vec::new();
    let mut a = 0i64;
    let shift = |f: Frame, by: i64| {
        let (dts, pts) = (
            f.dts.add_ticks(by * f.dts.timescale() as i64),
            f.pts.add_ticks(by * f.pts.timescale() as i64),
        );
        Frame { dts, pts, ..f }
    };
    for i in 0..seconds * 25 {
        let jump = if i >= jump_at * 25 { 60 } else { 0 };
        let vt = i as f64 / 25.0;
        let now = t0 + Duration::from_secs_f64(vt + jump as f64);
        while (a as f64 * 1024.0 / 48_000.0) < vt {
            let mut f = shift(audio(a), jump);
            f.mark = cutter.push(&f, now);
            out.push((f, now));
            a += 1;
        }
        let mut f = shift(video(i, gop), jump);
        f.mark = cutter.push(&f, now);
        out.push((f, now));
    }
    out
}

/// The playlist's lines from segment `msn`'s `EXT-X-PROGRAM-DATE-TIME` on,
/// leaving out `EXT-X-MAP` (written before the first segment listed only).
fn lines_from(playlist: &str, pdt_of: &str) -> Vec<String> {
    playlist
        .lines()
        .skip_while(|l| *l != pdt_of)
        .filter(|l| !l.starts_with("#EXT-X-MAP"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn packagers_starting_apart_agree_on_every_segment_they_share() {
    for format in [Format::Cmaf, Format::Ts] {
        for gop in [25, 60, 100] {
            let frames = marked(24, gop, 9);
            let starts: Vec<usize> = (0..frames.len())
                .filter(|&i| frames[i].0.mark.is_some_and(|m| m.segment.is_some()))
                .collect();
            assert!(starts.len() > 8, "{} segments", starts.len());
            let mut a = Segmenter::new(format, Config::default(), None);
            let mut b = Segmenter::new(format, Config::default(), None);
            a.set_tracks(&tracks()).unwrap();
            b.set_tracks(&tracks()).unwrap();
            // the second packager starts four segments later, a few frames
            // before a segment's first frame (frames of other tracks that
            // arrived before it go into its first part)
            for (i, (f, now)) in frames.iter().enumerate() {
                a.push(f, *now).unwrap();
                if i + 3 >= starts[4] {
                    b.push(f, *now).unwrap();
                }
            }
            let (ta, tb) = (a.timeline(), b.timeline());
            let first = tb.segments.front().unwrap();
            assert_eq!(
                Some(first.msn),
                frames[starts[4]].0.mark.unwrap().segment.map(|s| s.msn)
            );
            assert_eq!((ta.next_msn, ta.next_part), (tb.next_msn, tb.next_part));
            assert_eq!(
                (ta.target_duration, ta.part_target),
                (tb.target_duration, tb.part_target)
            );
            assert!(
                ta.segments.iter().any(|s| s.discontinuity),
                "the jump is a discontinuity"
            );
            let mut shared = 0;
            for sb in &tb.segments {
                let sa = ta.segment(sb.msn).unwrap();
                assert_eq!(
                    (
                        sa.complete,
                        sa.init,
                        sa.program_date_time,
                        sa.discontinuity_sequence
                    ),
                    (
                        sb.complete,
                        sb.init,
                        sb.program_date_time,
                        sb.discontinuity_sequence
                    )
                );
                assert!((sa.duration - sb.duration).abs() < 1e-9);
                assert_eq!(sa.parts.len(), sb.parts.len(), "msn {}", sb.msn);
                for (pa, pb) in sa.parts.iter().zip(&sb.parts) {
                    assert_eq!((pa.seq, pa.independent), (pb.seq, pb.independent));
                    assert!((pa.duration - pb.duration).abs() < 1e-9);
                    assert_eq!(
                        pa.data.chunks.concat(),
                        pb.data.chunks.concat(),
                        "part {}",
                        pa.seq
                    );
                }
                if format == Format::Cmaf {
                    assert_eq!(ta.init(sa.init), tb.init(sb.init));
                }
                shared += 1;
            }
            assert!(shared >= 4, "{shared} segments shared");
            let (pa, pb) = (
                super::super::live_playlist::media(ta, false),
                super::super::live_playlist::media(tb, false),
            );
            let pdt = pb
                .lines()
                .find(|l| l.starts_with("#EXT-X-PROGRAM-DATE-TIME"))
                .unwrap();
            let (la, lb) = (lines_from(&pa, pdt), lines_from(&pb, pdt));
            assert!(lb.len() > 10);
            assert_eq!(la, lb, "format {format:?}, gop {gop}\n{pa}\n{pb}");
        }
    }
}
