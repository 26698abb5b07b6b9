//! A reader of a live stream.

use std::sync::Arc;

use media::buffer::{Cursor, Read};
use media::{Frame, Track};
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;

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

/// The output protocol a [`Subscriber`] serves, for viewer counts by protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// HLS with MPEG-TS segments (`/hls/...`).
    Hls,
    /// LL-HLS with CMAF segments (`/cmaf/...`).
    Cmaf,
    /// MPEG-TS over HTTP (`/NAME.ts`).
    Ts,
    /// Fragmented MP4 over HTTP (`/NAME.mp4`).
    Mp4,
    /// Fragmented MP4 over a WebSocket.
    WsMp4,
    /// SRT playback.
    Srt,
    /// WebRTC playback (WHEP).
    WebRtc,
    /// A push to another server (RTMP, SRT, UDP, RIST, CMAF, file).
    Push,
    /// The QUIC relay to an edge node.
    Relay,
    /// Anything else (readers made with [`LiveStream::subscribe`]).
    Other,
}

impl Protocol {
    /// Every protocol, in label order of [`Protocol::index`].
    pub const ALL: [Self; 10] = [
        Self::Hls,
        Self::Cmaf,
        Self::Ts,
        Self::Mp4,
        Self::WsMp4,
        Self::Srt,
        Self::WebRtc,
        Self::Push,
        Self::Relay,
        Self::Other,
    ];

    /// The label metrics and the API use: `hls`, `cmaf`, `ts`, `mp4`,
    /// `ws-mp4`, `srt`, `webrtc`, `push`, `relay`, `other`.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Hls => "hls",
            Self::Cmaf => "cmaf",
            Self::Ts => "ts",
            Self::Mp4 => "mp4",
            Self::WsMp4 => "ws-mp4",
            Self::Srt => "srt",
            Self::WebRtc => "webrtc",
            Self::Push => "push",
            Self::Relay => "relay",
            Self::Other => "other",
        }
    }

    /// Position in [`Protocol::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// One output's position in a live stream. Counts as a viewer of its
/// [`Protocol`] while alive.
#[derive(Debug)]
pub struct Subscriber {
    stream: Arc<LiveStream>,
    cursor: Cursor,
    wake: watch::Receiver<u64>,
    offline_told: bool,
    protocol: Protocol,
    counted: bool,
}

// === impl Subscriber ===

impl Subscriber {
    pub(crate) fn new(stream: Arc<LiveStream>, protocol: Protocol) -> Self {
        let cursor = stream.buffer.read().cursor_at_live_edge();
        Self::at(stream, cursor, protocol)
    }

    pub(crate) fn from_oldest(stream: Arc<LiveStream>, protocol: Protocol) -> Self {
        let cursor = stream.buffer.read().cursor_at_oldest_of_epoch();
        Self::at(stream, cursor, protocol)
    }

    fn at(stream: Arc<LiveStream>, cursor: Cursor, protocol: Protocol) -> Self {
        let wake = stream.wake.subscribe();
        stream.viewer_joined(protocol);
        Self {
            stream,
            cursor,
            wake,
            offline_told: false,
            protocol,
            counted: true,
        }
    }

    /// Stops counting this reader as a viewer.
    pub(crate) fn uncount(&mut self) {
        if self.counted {
            self.counted = false;
            self.stream.viewer_left(self.protocol);
        }
    }

    /// The protocol this reader is counted under.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Counts this reader under `protocol` from now on (e.g. an MP4 reader
    /// whose request turned out to be a WebSocket upgrade).
    pub fn set_protocol(&mut self, protocol: Protocol) {
        if protocol != self.protocol && self.counted {
            self.stream.viewer_joined(protocol);
            self.stream.viewer_left(self.protocol);
            self.protocol = protocol;
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

    /// Yields each time the stream may have new events for this reader, for
    /// a task that reads several streams with [`Subscriber::try_next`]
    /// (it may yield when there is nothing new; it never misses a push made
    /// after it was taken).
    pub fn changes(&self) -> WatchStream<u64> {
        WatchStream::from_changes(self.wake.clone())
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
        if self.counted {
            self.stream.viewer_left(self.protocol);
        }
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

    #[test]
    fn viewers_are_counted_by_protocol() {
        let hub = Hub::default();
        let stream = hub.stream("cam");
        let a = stream.subscribe_as(Protocol::Ts);
        let mut b = stream.subscribe_from_oldest_as(Protocol::Cmaf);
        let c = stream.subscribe();
        assert_eq!(c.protocol(), Protocol::Other);
        assert_eq!(stream.viewers(), 3);
        let by = stream.viewers_by_protocol();
        assert_eq!(by.get(&Protocol::Ts), Some(&1));
        assert_eq!(by.get(&Protocol::Cmaf), Some(&1));
        assert_eq!(by.get(&Protocol::Other), Some(&1));
        assert_eq!(by.len(), 3, "protocols without viewers are left out: {by:?}");
        b.set_protocol(Protocol::Hls);
        let by = stream.viewers_by_protocol();
        assert_eq!(by.get(&Protocol::Cmaf), None);
        assert_eq!(by.get(&Protocol::Hls), Some(&1));
        drop((a, b, c));
        assert!(stream.viewers_by_protocol().is_empty());
        assert_eq!(stream.viewers(), 0);
    }

    #[test]
    fn a_shared_reader_counts_its_viewers_by_guard() {
        let hub = Hub::default();
        let stream = hub.stream("cam");
        let shared = stream.subscribe_uncounted();
        assert_eq!(stream.viewers(), 0, "the shared reader is no viewer");
        let one = stream.count_viewer(Protocol::WebRtc);
        let two = stream.count_viewer(Protocol::WebRtc);
        assert_eq!(stream.viewers_by_protocol().get(&Protocol::WebRtc), Some(&2));
        drop(one);
        assert_eq!(stream.viewers(), 1);
        drop((shared, two));
        assert_eq!(stream.viewers(), 0);
        assert!(stream.viewers_by_protocol().is_empty());
    }
}
