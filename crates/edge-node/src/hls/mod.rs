//! HLS and LL-HLS outputs: `/cmaf/NAME/...` (fMP4 parts and segments) and
//! `/hls/NAME/...` (MPEG-TS parts and segments).
//!
//! Each (stream, format, video track) is packaged once, by one
//! [`Packager`] task that reads the stream like any other output and feeds a
//! [`segmenter::Segmenter`]; every viewer's requests are answered from its
//! [`segmenter::Timeline`], sharing the parts' bytes. The packager decides
//! no cut: segments and parts start and end where the frames' marks say
//! (decided once where the stream entered, see [`media::hls::cutter`]), so
//! every node serving a stream publishes the same playlists, names and parts. A packager starts on the
//! first request and stops after [`Config::idle_timeout`] without one.
//!
//! Requests that wait (blocking playlist reloads, the preload-hinted part,
//! the segment being written) wait on the packager's `watch` channel, at
//! most three target durations, and are answered 503 when that passes;
//! there are at most [`Config::max_waiting`] of them at once per process.

mod serve;

pub use media::hls::live_playlist as playlist;
pub use media::hls::segmenter;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use hub::{Event, Hub, LiveStream};
use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;
use tokio::time::Instant;

pub use segmenter::Format;
use segmenter::{Segmenter, Timeline};
pub use serve::serve;

/// Settings of the HLS outputs. Segment and part durations are the
/// stream's own ([`hub::LiveStream::cut_config`]): the cuts are decided
/// where the stream enters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// A packager with no request for this long stops (default 30 s).
    pub idle_timeout: Duration,
    /// How long a request for a stream that is not live waits for it (default 5 s).
    pub start_wait: Duration,
    /// Most requests waiting at once; more are answered 503 (default 20,000).
    pub max_waiting: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30),
            start_wait: Duration::from_secs(5),
            max_waiting: 20_000,
        }
    }
}

type Key = (String, Format, Option<u32>);

/// How long a packager waits for every track of a new track set to be described.
const UNDESCRIBED_WAIT: Duration = Duration::from_secs(3);

/// The HLS outputs of one node.
#[derive(Debug)]
pub struct Hls {
    hub: Arc<Hub>,
    config: Config,
    packagers: Mutex<HashMap<Key, Arc<Packager>>>,
    waiting: AtomicUsize,
    epoch: Instant,
}

impl Hls {
    /// HLS outputs over the streams of `hub`.
    pub fn new(hub: Arc<Hub>, config: Config) -> Arc<Self> {
        Arc::new(Self {
            hub,
            config,
            packagers: Mutex::new(HashMap::new()),
            waiting: AtomicUsize::new(0),
            epoch: Instant::now(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Packagers running now.
    pub fn packagers(&self) -> usize {
        self.packagers.lock().len()
    }

    /// Requests waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// The packager of `stream` in `format` for `video` (the first video
    /// track when `None`), started if needed.
    pub fn packager(
        self: &Arc<Self>,
        stream: &Arc<LiveStream>,
        format: Format,
        video: Option<u32>,
    ) -> Arc<Packager> {
        let key = (stream.name().to_owned(), format, video);
        let mut map = self.packagers.lock();
        if let Some(p) = map.get(&key)
            && Arc::ptr_eq(&p.stream, stream)
            && !p.stopped()
        {
            p.touch(self.now_ms());
            return p.clone();
        }
        let cuts = stream.cut_config();
        let config = segmenter::Config {
            target_duration: cuts.target_duration,
            part_duration: cuts.part_duration,
            window: stream.window(),
        };
        // segments and parts take the names the frames' marks give them
        let p = Arc::new(Packager {
            stream: stream.clone(),
            segmenter: RwLock::new(Segmenter::new(format, config, video)),
            changed: watch::channel(0).0,
            last_request: AtomicU64::new(self.now_ms()),
            stopped: std::sync::atomic::AtomicBool::new(false),
            caught_up: std::sync::atomic::AtomicBool::new(false),
        });
        map.insert(key.clone(), p.clone());
        drop(map);
        tokio::spawn(run(Arc::downgrade(self), key, p.clone()));
        p
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Counts a waiting request while the guard lives; `None` when too many wait.
    fn wait_slot(self: &Arc<Self>) -> Option<WaitSlot> {
        let n = self.waiting.fetch_add(1, Ordering::AcqRel);
        let slot = WaitSlot(self.clone());
        (n < self.config.max_waiting).then_some(slot)
    }
}

struct WaitSlot(Arc<Hls>);

impl Drop for WaitSlot {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One stream packaged in one format.
#[derive(Debug)]
pub struct Packager {
    stream: Arc<LiveStream>,
    segmenter: RwLock<Segmenter>,
    changed: watch::Sender<u64>,
    last_request: AtomicU64,
    stopped: std::sync::atomic::AtomicBool,
    /// The packager has read everything the stream had when it started.
    caught_up: std::sync::atomic::AtomicBool,
}

impl Packager {
    /// Runs `f` on the current timeline.
    pub fn with<T>(&self, f: impl FnOnce(&Timeline) -> T) -> T {
        f(self.segmenter.read().timeline())
    }

    /// Waits until `ready` holds of the timeline or `deadline` passes;
    /// returns whether it holds.
    pub async fn wait_until(&self, deadline: Instant, ready: impl Fn(&Timeline) -> bool) -> bool {
        self.wait_for(deadline, || self.with(&ready)).await
    }

    /// Waits until the packager is [`Packager::ready`] or `deadline` passes.
    pub async fn wait_ready(&self, deadline: Instant) -> bool {
        self.wait_for(deadline, || self.ready()).await
    }

    async fn wait_for(&self, deadline: Instant, ready: impl Fn() -> bool) -> bool {
        let mut rx = self.changed.subscribe();
        loop {
            rx.borrow_and_update();
            if ready() {
                return true;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return ready(),
            }
        }
    }

    /// True once the packager has read the stream's window and has a
    /// complete segment to list (players that ignore parts need one).
    pub fn ready(&self) -> bool {
        self.caught_up.load(Ordering::Acquire)
            && self.with(|t| t.has_media() && t.last_complete_msn().is_some())
    }

    fn touch(&self, now_ms: u64) {
        self.last_request.store(now_ms, Ordering::Relaxed);
    }

    fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    fn changed(&self) {
        self.changed.send_modify(|v| *v += 1);
    }
}

/// Feeds a packager from its stream until it idles or the stream ends.
async fn run(hls: std::sync::Weak<Hls>, key: Key, p: Arc<Packager>) {
    // the whole window: a new viewer gets a full playlist at once
    // counted as one viewer of its protocol per packager, not per HTTP client
    let protocol = match key.1 {
        Format::Cmaf => hub::Protocol::Cmaf,
        Format::Ts => hub::Protocol::Hls,
    };
    let mut sub = p.stream.subscribe_from_oldest_as(protocol);
    let name = p.stream.name().to_owned();
    tracing::debug!(stream = %name, format = ?key.1, "hls packager started");
    let mut pending_change = false;
    // frames of a track set the stream has already replaced (read from the
    // window's start) would only make a discontinuity at once: skip them
    let mut stale = false;
    // a track set with a track still undescribed (an audio track before its
    // first frame): wait for its description rather than package without it
    // and change the init segment a moment later
    let mut undescribed: Option<(Vec<media::Track>, Instant)> = None;
    loop {
        let event = match sub.try_next() {
            Some(e) => e,
            None => {
                // caught up with the stream: tell waiting requests
                if pending_change || !p.caught_up.load(Ordering::Relaxed) {
                    p.caught_up.store(true, Ordering::Release);
                    p.changed();
                    pending_change = false;
                }
                match tokio::time::timeout(Duration::from_secs(1), sub.next()).await {
                    Ok(e) => e,
                    Err(_) => {
                        let Some(hls) = hls.upgrade() else { break };
                        let idle = hls
                            .now_ms()
                            .saturating_sub(p.last_request.load(Ordering::Relaxed));
                        if idle > u64::try_from(hls.config.idle_timeout.as_millis()).unwrap_or(u64::MAX) {
                            break;
                        }
                        continue;
                    }
                }
            }
        };
        let changed = {
            let mut seg = p.segmenter.write();
            match event {
                Event::Tracks(tracks) => {
                    stale = tracks != p.stream.tracks();
                    undescribed = None;
                    if stale {
                        false
                    } else if tracks
                        .iter()
                        .any(|t| (t.codec.is_video() || t.codec.is_audio()) && !t.has_config())
                    {
                        undescribed = Some((tracks, Instant::now()));
                        seg.offline();
                        true
                    } else {
                        if let Err(e) = seg.set_tracks(&tracks) {
                            tracing::warn!(stream = %name, %e, "hls output cannot package these tracks");
                        }
                        true
                    }
                }
                Event::Frame(_) if stale => false,
                Event::Frame(_)
                    if undescribed
                        .as_ref()
                        .is_some_and(|(_, since)| since.elapsed() < UNDESCRIBED_WAIT) =>
                {
                    false
                }
                Event::Frame(frame) if undescribed.is_some() => {
                    if let Some((tracks, _)) = undescribed.take() {
                        tracing::info!(stream = %name, "packaging without the tracks still undescribed");
                        if let Err(e) = seg.set_tracks(&tracks) {
                            tracing::warn!(stream = %name, %e, "hls output cannot package these tracks");
                        }
                    }
                    seg.push(&frame, SystemTime::now()).unwrap_or(true)
                }
                Event::Frame(frame) => match seg.push(&frame, SystemTime::now()) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(stream = %name, %e, "hls part dropped");
                        seg.skipped();
                        true
                    }
                },
                Event::Skipped { lost } => {
                    tracing::debug!(stream = %name, lost, "hls packager fell behind");
                    seg.skipped();
                    true
                }
                Event::Offline => {
                    seg.offline();
                    true
                }
                Event::Closed => break,
            }
        };
        if changed && p.caught_up.load(Ordering::Relaxed) {
            p.changed();
        } else {
            pending_change |= changed;
        }
    }
    p.stopped.store(true, Ordering::Release);
    p.segmenter.write().offline();
    p.changed();
    if let Some(hls) = hls.upgrade() {
        let mut map = hls.packagers.lock();
        if map.get(&key).is_some_and(|q| Arc::ptr_eq(q, &p)) {
            map.remove(&key);
        }
    }
    tracing::debug!(stream = %name, "hls packager stopped");
}
