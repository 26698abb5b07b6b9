//! A reader of a live stream.

use std::sync::Arc;

use media::buffer::{Cursor, Read};
use media::{Frame, Track};
use tokio::sync::watch;

use crate::{LiveStream, State};

/// What a [`Subscriber`] gets next.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The frames that follow belong to these tracks (first event, and after
    /// every source restart or track change): (re)initialise the output.
    Tracks(Vec<Track>),
    /// The next frame.
    Frame(Frame),
    /// The reader fell out of the window and was moved to the newest
    /// keyframe; `lost` frames were never delivered to it.
    Skipped {
        /// Frames this reader will never see.
        lost: u64,
    },
    /// The publisher went away; more frames may come if one returns.
    Offline,
    /// The stream was removed: no more events.
    Closed,
}

/// One output's position in a live stream. Counts as a viewer while alive.
#[derive(Debug)]
pub struct Subscriber {
    stream: Arc<LiveStream>,
    cursor: Cursor,
    wake: watch::Receiver<u64>,
    offline_told: bool,
}

// === impl Subscriber ===

impl Subscriber {
    pub(crate) fn new(stream: Arc<LiveStream>) -> Self {
        let cursor = stream.buffer.read().cursor_at_live_edge();
        Self::at(stream, cursor)
    }

    pub(crate) fn from_oldest(stream: Arc<LiveStream>) -> Self {
        let cursor = stream.buffer.read().cursor_at_oldest_of_epoch();
        Self::at(stream, cursor)
    }

    fn at(stream: Arc<LiveStream>, cursor: Cursor) -> Self {
        let wake = stream.wake.subscribe();
        stream.viewer_joined();
        Self {
            stream,
            cursor,
            wake,
            offline_told: false,
        }
    }

    /// The stream being read.
    pub fn stream(&self) -> &Arc<LiveStream> {
        &self.stream
    }

    /// The next event without waiting, or `None` when caught up.
    pub fn try_next(&mut self) -> Option<Event> {
        if self.stream.is_closed() {
            return Some(Event::Closed);
        }
        let event = {
            let buffer = self.stream.buffer.read();
            match buffer.read(&mut self.cursor) {
                Read::Frame(f) => Some(Event::Frame(f.clone())),
                Read::Tracks { tracks, .. } => Some(Event::Tracks(tracks.to_vec())),
                Read::Skipped { lost, .. } => Some(Event::Skipped { lost }),
                Read::Pending => None,
            }
        };
        if event.is_some() {
            self.offline_told = false;
            return event;
        }
        if self.stream.state() == State::Offline && !self.offline_told {
            self.offline_told = true;
            return Some(Event::Offline);
        }
        None
    }

    /// The next event, waiting for the publisher when caught up.
    pub async fn next(&mut self) -> Event {
        loop {
            // mark the current value seen before looking, so a push between the
            // look and the wait still wakes us
            self.wake.borrow_and_update();
            if let Some(e) = self.try_next() {
                return e;
            }
            if self.wake.changed().await.is_err() {
                return Event::Closed;
            }
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stream.viewer_left();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use media::{Codec, Timestamp};

    use super::*;
    use crate::Hub;

    fn video(i: i64, key: bool) -> Frame {
        let t = Timestamp::new(i * 3600, 90_000);
        Frame::new(1, t, t, key, vec![i as u8; 10])
    }

    async fn next(s: &mut Subscriber) -> Event {
        tokio::time::timeout(Duration::from_secs(2), s.next())
            .await
            .expect("event within 2 s")
    }

    #[tokio::test]
    async fn subscriber_wakes_on_push_and_starts_at_keyframe() {
        let hub = Hub::default();
        let stream = hub.stream("cam");
        let publisher = stream.publish().unwrap();
        publisher.set_tracks(vec![Track::new(1, Codec::H264, 90_000)]);
        // relayed frames: compared whole, marks (none) included
        for i in 0..5 {
            publisher.push_marked(video(i, i % 3 == 0));
        }
        let mut sub = stream.subscribe();
        assert_eq!(stream.viewers(), 1);
        assert!(matches!(next(&mut sub).await, Event::Tracks(t) if t.len() == 1));
        // newest keyframe is frame 3
        assert_eq!(next(&mut sub).await, Event::Frame(video(3, true)));
        assert_eq!(next(&mut sub).await, Event::Frame(video(4, false)));
        let waiter = tokio::spawn(async move {
            let e = next(&mut sub).await;
            (e, sub)
        });
        tokio::task::yield_now().await;
        publisher.push_marked(video(5, false));
        let (e, _sub) = waiter.await.unwrap();
        assert_eq!(e, Event::Frame(video(5, false)));
        assert_eq!(stream.state(), State::Live);
    }

    #[tokio::test]
    async fn pushed_frames_are_marked_where_they_enter_and_relayed_ones_keep_their_marks() {
        let hub = Hub::default();
        let stream = hub.stream("cam");
        let publisher = stream.publish().unwrap();
        publisher.set_tracks(vec![media::sample::h264_track(1)]);
        for i in 0..60 {
            publisher.push(video(i, i % 25 == 0));
        }
        let mut sub = stream.subscribe_from_oldest();
        let mut marks = Vec::new();
        while let Some(e) = sub.try_next() {
            if let Event::Frame(f) = e {
                marks.push(f.mark);
            }
        }
        let segments: Vec<u64> = marks
            .iter()
            .filter_map(|m| m.and_then(|m| m.segment).map(|s| s.msn))
            .collect();
        assert_eq!(segments.len(), 2, "{marks:?}");
        assert_eq!(segments[1], segments[0] + 1);
        assert!(marks[0].is_some_and(|m| m.part.is_some()));

        let relay = Hub::default();
        let relayed = relay.stream("cam");
        let p = relayed.publish().unwrap();
        p.set_tracks(vec![media::sample::h264_track(1)]);
        let mut f = video(0, true);
        f.mark = Some(media::Mark {
            part: Some(7),
            ..Default::default()
        });
        p.push_marked(f.clone());
        let mut sub = relayed.subscribe_from_oldest();
        assert!(matches!(next(&mut sub).await, Event::Tracks(_)));
        assert_eq!(next(&mut sub).await, Event::Frame(f));
    }

    #[tokio::test]
    async fn dropping_the_publisher_reports_offline_and_frees_the_slot() {
        let hub = Hub::default();
        let stream = hub.stream("cam");
        let publisher = stream.publish().unwrap();
        assert!(matches!(stream.publish(), Err(crate::PublishError::Busy(_))));
        publisher.push(video(0, true));
        let mut sub = stream.subscribe();
        assert!(matches!(next(&mut sub).await, Event::Tracks(_)));
        assert!(matches!(next(&mut sub).await, Event::Frame(_)));
        drop(publisher);
        assert_eq!(next(&mut sub).await, Event::Offline);
        assert_eq!(stream.state(), State::Offline);
        let again = stream.publish().unwrap();
        again.push(video(10, true));
        // a new source is a new epoch
        assert!(matches!(
            next(&mut sub).await,
            Event::Skipped { .. } | Event::Tracks(_)
        ));
        hub.remove("cam");
        let mut seen_closed = false;
        for _ in 0..4 {
            if next(&mut sub).await == Event::Closed {
                seen_closed = true;
                break;
            }
        }
        assert!(seen_closed);
        drop(sub);
        assert_eq!(stream.viewers(), 0);
    }
}
