//! One live stream: its buffer, state and publisher slot.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use std::time::SystemTime;

use media::buffer::{BufferConfig, StreamBuffer};
use media::hls::cutter::{CutConfig, Cutter};
use media::{Frame, Track};
use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use crate::{Protocol, Subscriber};

/// Whether a stream has a source right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No publisher.
    Offline,
    /// A publisher is connected but no keyframe has arrived yet.
    Booting,
    /// Frames are flowing.
    Live,
}

/// Why a publisher could not take a stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// Another publisher holds the stream.
    #[error("stream {0} already has a publisher")]
    Busy(String),
    /// The stream was removed.
    #[error("stream {0} was removed")]
    Closed(String),
}

/// A stream shared by one publisher and any number of subscribers.
#[derive(Debug)]
pub struct LiveStream {
    name: String,
    pub(crate) buffer: RwLock<StreamBuffer>,
    /// Carries the buffer's next sequence number; bumped on every change
    /// readers must see (frames, tracks, state).
    pub(crate) wake: watch::Sender<u64>,
    publisher: Mutex<Option<u64>>,
    next_publisher: AtomicU64,
    state: RwLock<State>,
    last_error: RwLock<Option<String>>,
    closed: AtomicBool,
    demand: tokio::sync::Notify,
    viewers: AtomicU64,
    /// Subscribers by [`Protocol::index`].
    viewers_by: [AtomicU64; Protocol::ALL.len()],
    bytes_in: AtomicU64,
    /// The DVR window in milliseconds: how much media the buffer and the
    /// outputs' segment lists keep.
    window_ms: AtomicU64,
    /// How HLS packagers cut the stream.
    cuts: RwLock<CutConfig>,
    /// Decides the cuts of frames pushed here (not of relayed ones).
    cutter: Mutex<Cutter>,
}

/// The right to feed a stream. Dropping it marks the stream offline.
#[derive(Debug)]
pub struct Publisher {
    stream: Arc<LiveStream>,
    id: u64,
}

// === impl LiveStream ===

impl LiveStream {
    pub(crate) fn new(name: &str, config: BufferConfig, cuts: CutConfig) -> Self {
        Self {
            name: name.to_owned(),
            buffer: RwLock::new(StreamBuffer::new(config.clone())),
            wake: watch::channel(0).0,
            publisher: Mutex::new(None),
            next_publisher: AtomicU64::new(1),
            state: RwLock::new(State::Offline),
            last_error: RwLock::new(None),
            closed: AtomicBool::new(false),
            demand: tokio::sync::Notify::new(),
            viewers: AtomicU64::new(0),
            viewers_by: Default::default(),
            bytes_in: AtomicU64::new(0),
            window_ms: AtomicU64::new(u64::try_from(config.max_duration.as_millis()).unwrap_or(u64::MAX)),
            cuts: RwLock::new(cuts),
            // numbering starts from the clock: a restarted node never reuses a name
            cutter: Mutex::new(Cutter::new(cuts, SystemTime::now())),
        }
    }

    /// The stream's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes the publisher slot; fails while another publisher holds it.
    pub fn publish(self: &Arc<Self>) -> Result<Publisher, PublishError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(PublishError::Closed(self.name.clone()));
        }
        let mut slot = self.publisher.lock();
        if slot.is_some() {
            return Err(PublishError::Busy(self.name.clone()));
        }
        let id = self.next_publisher.fetch_add(1, Ordering::Relaxed);
        *slot = Some(id);
        drop(slot);
        // a new source starts a new epoch: readers re-initialise
        self.buffer.write().reset();
        *self.state.write() = State::Booting;
        self.bump();
        Ok(Publisher {
            stream: self.clone(),
            id,
        })
    }

    /// A reader starting at the newest keyframe, counted as [`Protocol::Other`].
    pub fn subscribe(self: &Arc<Self>) -> Subscriber {
        self.subscribe_as(Protocol::Other)
    }

    /// A reader starting at the newest keyframe, counted under `protocol`.
    pub fn subscribe_as(self: &Arc<Self>, protocol: Protocol) -> Subscriber {
        Subscriber::new(self.clone(), protocol)
    }

    /// A reader starting at the oldest keyframe in the window that has the
    /// current tracks (the whole DVR window since the last track change).
    pub fn subscribe_from_oldest(self: &Arc<Self>) -> Subscriber {
        self.subscribe_from_oldest_as(Protocol::Other)
    }

    /// [`LiveStream::subscribe_from_oldest`], counted under `protocol`.
    pub fn subscribe_from_oldest_as(self: &Arc<Self>, protocol: Protocol) -> Subscriber {
        Subscriber::from_oldest(self.clone(), protocol)
    }

    /// Counts one viewer under `protocol` for as long as the guard lives,
    /// for outputs that read the stream once for many viewers.
    pub fn count_viewer(self: &Arc<Self>, protocol: Protocol) -> ViewerCount {
        self.viewer_joined(protocol);
        ViewerCount {
            stream: self.clone(),
            protocol,
        }
    }

    /// A reader starting at the newest keyframe that counts as no viewer:
    /// the output counts its viewers with [`LiveStream::count_viewer`].
    pub fn subscribe_uncounted(self: &Arc<Self>) -> Subscriber {
        let mut sub = Subscriber::new(self.clone(), Protocol::Other);
        sub.uncount();
        sub
    }

    /// Subscribers right now by protocol (protocols without any left out).
    pub fn viewers_by_protocol(&self) -> std::collections::BTreeMap<Protocol, u64> {
        Protocol::ALL
            .into_iter()
            .map(|p| (p, self.viewers_by[p.index()].load(Ordering::Relaxed)))
            .filter(|&(_, n)| n > 0)
            .collect()
    }

    /// Media time of the newest frame in the window.
    pub fn newest_dts(&self) -> Option<media::Timestamp> {
        self.buffer.read().iter().next_back().map(|(_, f)| f.dts)
    }

    /// Current state.
    pub fn state(&self) -> State {
        *self.state.read()
    }

    /// The tracks of the current epoch.
    pub fn tracks(&self) -> Vec<Track> {
        self.buffer.read().tracks().to_vec()
    }

    /// Buffer counters.
    pub fn stats(&self) -> media::buffer::Stats {
        self.buffer.read().stats()
    }

    /// Bits per second of each track over the buffered window, by track id
    /// (tracks with less than two frames in the window are left out).
    pub fn track_bitrates(&self) -> std::collections::BTreeMap<u32, u64> {
        // (bytes, first dts, last dts) per track
        let mut spans: std::collections::BTreeMap<u32, (u64, media::Timestamp, media::Timestamp)> =
            std::collections::BTreeMap::new();
        for (_, f) in self.buffer.read().iter() {
            let e = spans.entry(f.track).or_insert((0, f.dts, f.dts));
            e.0 += f.data.len() as u64;
            e.2 = f.dts;
        }
        spans
            .into_iter()
            .filter_map(|(id, (bytes, first, last))| {
                let secs = last.as_secs_f64() - first.as_secs_f64();
                (secs > 0.0).then(|| (id, (bytes as f64 * 8.0 / secs) as u64))
            })
            .collect()
    }

    /// The last error an input or output reported for this stream.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.read().clone()
    }

    /// Records an error for the stream's status.
    pub fn set_error(&self, error: impl Into<String>) {
        *self.last_error.write() = Some(error.into());
    }

    /// Asks an on-demand input to start: outputs call this when a viewer
    /// wants a stream that is not live.
    pub fn request(&self) {
        self.demand.notify_one();
    }

    /// Asks an on-demand input to start when the stream is not live, and
    /// waits up to `wait` for it to be; true once live, false on timeout or
    /// when the stream is removed.
    pub async fn wait_live(&self, wait: std::time::Duration) -> bool {
        if self.state() == State::Live {
            return true;
        }
        self.request();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if self.state() == State::Live {
                return true;
            }
            if tokio::time::Instant::now() >= deadline || self.is_closed() {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Waits until an output calls [`LiveStream::request`] (a request made
    /// before the wait is not lost).
    pub async fn requested(&self) {
        self.demand.notified().await;
    }

    /// How HLS packagers cut this stream into segments and parts.
    pub fn cut_config(&self) -> CutConfig {
        *self.cuts.read()
    }

    /// Sets the DVR window: the span of media the buffer keeps, which also
    /// bounds the segments HLS outputs keep.
    pub fn set_window(&self, window: std::time::Duration) {
        self.buffer.write().set_max_duration(window);
        self.window_ms.store(
            u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The DVR window.
    pub fn window(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.window_ms.load(Ordering::Relaxed))
    }

    /// Subscribers right now.
    pub fn viewers(&self) -> u64 {
        self.viewers.load(Ordering::Relaxed)
    }

    /// Payload bytes accepted since creation.
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in.load(Ordering::Relaxed)
    }

    /// True once the stream was removed from its hub.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn viewer_joined(&self, protocol: Protocol) {
        self.viewers_by[protocol.index()].fetch_add(1, Ordering::Relaxed);
        self.viewers.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn viewer_left(&self, protocol: Protocol) {
        self.viewers.fetch_sub(1, Ordering::Relaxed);
        self.viewers_by[protocol.index()].fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        *self.state.write() = State::Offline;
        self.bump();
    }

    fn bump(&self) {
        let next = self.buffer.read().next_seq();
        self.wake_readers(next);
    }

    /// Wakes every subscriber; `next` is the buffer's next sequence number.
    fn wake_readers(&self, next: u64) {
        // send_modify always notifies, even when the sequence number is unchanged
        self.wake.send_modify(|v| *v = next);
    }

    fn release(&self, id: u64) {
        let mut slot = self.publisher.lock();
        if *slot == Some(id) {
            *slot = None;
            drop(slot);
            *self.state.write() = State::Offline;
            self.bump();
        }
    }
}

// === impl Publisher ===

impl Publisher {
    /// The stream this publisher feeds.
    pub fn stream(&self) -> &Arc<LiveStream> {
        &self.stream
    }

    /// Declares the tracks of the frames that follow.
    pub fn set_tracks(&self, tracks: Vec<Track>) {
        // the buffer ignores a track set it has: so does the cutter (no new run)
        if self.stream.buffer.read().tracks() != tracks.as_slice() {
            self.stream.cutter.lock().set_tracks(&tracks);
        }
        self.stream.buffer.write().set_tracks(tracks);
        self.stream.bump();
    }

    /// Adds a frame relayed from another node, keeping the cut mark it carries.
    pub fn push_marked(&self, frame: Frame) {
        self.buffer(frame);
    }

    /// Sets how the stream is cut into HLS segments and parts (relayed
    /// streams take the setting of the node the stream entered).
    pub fn set_cut_config(&self, config: CutConfig) {
        *self.stream.cuts.write() = config;
        self.stream.cutter.lock().set_config(config);
    }

    /// Adds a frame entering the system here: the stream's cutter marks
    /// where HLS segments and parts start and end. Frames before the first
    /// keyframe are refused by the buffer (readers could not decode them);
    /// that is not an error here.
    pub fn push(&self, mut frame: Frame) {
        frame.mark = self.stream.cutter.lock().push(&frame, SystemTime::now());
        self.buffer(frame);
    }

    fn buffer(&self, frame: Frame) {
        let len = frame.data.len() as u64;
        let pushed = self.stream.buffer.write().push(frame);
        if let Ok(seq) = pushed {
            self.stream.bytes_in.fetch_add(len, Ordering::Relaxed);
            if *self.stream.state.read() != State::Live {
                *self.stream.state.write() = State::Live;
            }
            // the frame's own sequence number tells the next one: no second buffer lock per frame
            self.stream.wake_readers(seq + 1);
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stream.cutter.lock().offline();
        self.stream.release(self.id);
    }
}

/// One viewer counted under a protocol while alive
/// ([`LiveStream::count_viewer`]).
#[derive(Debug)]
pub struct ViewerCount {
    stream: Arc<LiveStream>,
    protocol: Protocol,
}

impl Drop for ViewerCount {
    fn drop(&mut self) {
        self.stream.viewer_left(self.protocol);
    }
}
