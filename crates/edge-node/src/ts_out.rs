//! Endless MPEG-TS from a subscriber.

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use hub::{Event, Subscriber};
use media::ts::Muxer;

/// How long an output waits for a publisher to come back before ending.
const OFFLINE_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Keeps a viewer's timestamps increasing when the source restarts (or an
/// edge's upstream moves to another ingest): a new run whose time goes back,
/// or jumps far ahead, is shifted to start just after the last timestamp
/// sent, so players see one continuous stream. A run that carries on the
/// same clock (tracks re-announced) is left alone.
#[derive(Debug, Default)]
struct Rebase {
    /// Newest decode or presentation time sent, in seconds, after shifting.
    last: Option<f64>,
    /// Shift of the current run, in seconds.
    shift: f64,
    /// A new run began: the shift is set by its first frame.
    pending: bool,
}

/// Gap left between the last frame of a run and the first of the next.
const REBASE_GAP: f64 = 0.1;
/// A new run starting this far after the last frame sent is shifted back too.
const REBASE_JUMP: f64 = 5.0;

impl Rebase {
    fn new_run(&mut self) {
        self.pending = self.last.is_some();
    }

    fn apply(&mut self, frame: &mut media::Frame) {
        let dts = frame.dts.as_secs_f64();
        if self.pending {
            self.pending = false;
            let carry_on = |l: f64| dts + self.shift > l && dts + self.shift < l + REBASE_JUMP;
            self.shift = match self.last {
                Some(l) if !carry_on(l) => l + REBASE_GAP - dts,
                _ => self.shift,
            };
        }
        if self.shift != 0.0 {
            let shift = |t: media::Timestamp| {
                let ticks = (self.shift * f64::from(t.timescale())).round() as i64;
                t.add_ticks(ticks)
            };
            frame.dts = shift(frame.dts);
            frame.pts = shift(frame.pts);
        }
        let sent = frame.dts.as_secs_f64().max(frame.pts.as_secs_f64());
        self.last = Some(self.last.map_or(sent, |l| l.max(sent)));
    }
}

/// The MPEG-TS bytes of a live stream from the subscriber's position on,
/// one chunk per frame. Ends when the stream is removed or stays offline.
pub fn stream(mut sub: Subscriber) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    if sub.protocol() == hub::Protocol::Other {
        sub.set_protocol(hub::Protocol::Ts);
    }
    let state = (
        sub,
        None::<Muxer>,
        BytesMut::with_capacity(64 * 1024),
        Rebase::default(),
    );
    futures_util::stream::unfold(state, |(mut sub, mut muxer, mut out, mut rebase)| async move {
        loop {
            let event = match tokio::time::timeout(OFFLINE_GRACE, sub.next()).await {
                Ok(e) => e,
                Err(_) if sub.stream().state() == hub::State::Offline => return None,
                Err(_) => continue,
            };
            match event {
                Event::Tracks(tracks) => match Muxer::new(&media::ts::muxable(tracks)) {
                    Ok(m) => {
                        muxer = Some(m);
                        rebase.new_run();
                    }
                    Err(e) => {
                        tracing::warn!(stream = sub.stream().name(), %e, "cannot mux these tracks as mpeg-ts");
                        return None;
                    }
                },
                Event::Frame(mut frame) => {
                    let Some(m) = muxer.as_mut() else { continue };
                    rebase.apply(&mut frame);
                    if let Err(e) = m.mux_frame(&frame, &mut out) {
                        tracing::debug!(stream = sub.stream().name(), %e, "frame skipped");
                        continue;
                    }
                    let chunk = out.split().freeze();
                    return Some((Ok(chunk), (sub, muxer, out, rebase)));
                }
                Event::Skipped { lost } => {
                    tracing::debug!(stream = sub.stream().name(), lost, "slow ts viewer skipped ahead");
                }
                Event::Offline => {}
                Event::Closed => return None,
            }
        }
    })
}

#[cfg(test)]
mod rebase_tests {
    use super::*;
    use media::{Frame, Timestamp};

    fn frame(track: u32, ms: i64, scale: u32) -> Frame {
        let t = Timestamp::new(ms * i64::from(scale) / 1000, scale);
        Frame::new(track, t, t, true, vec![0u8])
    }

    #[test]
    fn a_new_run_continues_after_the_last_frame_sent() {
        let mut r = Rebase::default();
        r.new_run();
        for ms in [10_000, 10_040, 10_080] {
            let mut f = frame(1, ms, 90_000);
            r.apply(&mut f);
            assert_eq!(f.dts.ticks(), ms * 90, "the first run is not shifted");
        }
        // the source restarts with timestamps from zero, on another timescale
        r.new_run();
        let mut f = frame(1, 0, 1000);
        r.apply(&mut f);
        assert_eq!(f.dts.ticks(), 10_180);
        let mut g = frame(2, 20, 48_000);
        r.apply(&mut g);
        assert_eq!(g.dts.ticks(), 10_200 * 48, "every track moves by the same shift");
        assert_eq!(g.pts, g.dts);
        // tracks re-announced on the same clock: no new shift
        r.new_run();
        let mut h = frame(1, 60, 1000);
        r.apply(&mut h);
        assert_eq!(h.dts.ticks(), 10_240);
    }
}
