//! Endless fragmented MP4 over HTTP (`/NAME.mp4`) and over WebSocket (WS/MP4).
//!
//! Both outputs send the same bytes: an init segment (`ftyp` + `moov`) once the
//! stream's tracks are known, then one `moof` + `mdat` fragment per video
//! frame (holding the audio frames that arrived before it), or, for streams
//! without video, one fragment per ~100 ms of audio. Fragment sequence numbers
//! count from 1. Output starts at a keyframe (a [`Subscriber`] starts at the
//! newest one).
//!
//! Over HTTP every fragment is yielded as its header followed by the frames'
//! own payload [`Bytes`]: payloads are shared with the stream's buffer, never
//! copied per viewer. Over WebSocket each fragment is one binary message (the
//! init segment is the first), which has to be contiguous, so it is gathered
//! into one buffer.
//!
//! # Time
//!
//! Decode times in MP4 must be non-negative and rise within each track. The
//! output keeps one time origin for all tracks so that audio and video stay in
//! sync: the smallest decode time among the first frames of every track (the
//! output waits briefly, up to 1 s of media, for each track's first frame,
//! and for a late-described track's decoder configuration before writing the
//! init segment). After a discontinuity (the viewer was moved ahead, or the
//! publisher restarted, announced by `Skipped` or a repeated `Tracks` event)
//! the origin is chosen again so that output time continues where it stopped.
//! A frame that would still go backwards in time is dropped.
//!
//! # Track changes
//!
//! An MP4 cannot change its `moov` midway. When the stream announces tracks
//! that differ from the ones in the init segment (another id, codec,
//! timescale or decoder configuration, a track added or removed), the output
//! ends; the viewer reconnects for the new tracks. Tracks that cannot be put
//! in MP4 (unknown codecs) are left out.
//!
//! # Calling from a router
//!
//! In axum 0.8 `Option<WebSocketUpgrade>` is not an extractor (the upgrade
//! does not implement `OptionalFromRequestParts`), but
//! `Result<WebSocketUpgrade, WebSocketUpgradeRejection>` is: a plain GET gets
//! the rejection, so pass `.ok()` to [`handle`].
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
//! use axum::extract::{Path, State};
//! use axum::response::{IntoResponse, Response};
//!
//! async fn media_file(
//!     State(hub): State<Arc<hub::Hub>>,
//!     Path(file): Path<String>,
//!     ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
//! ) -> Response {
//!     match file.rsplit_once('.').and_then(|(name, _)| hub.get(name)) {
//!         Some(stream) => edge_node::mp4_out::handle(stream, ws.ok()).await,
//!         None => axum::http::StatusCode::NOT_FOUND.into_response(),
//!     }
//! }
//! let app: axum::Router = axum::Router::new()
//!     .route("/{file}", axum::routing::get(media_file))
//!     .with_state(Arc::new(hub::Hub::default()));
//! ```

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use hub::{Event, LiveStream, Subscriber};
use media::fmp4::{Fragment, FragmentWriter};
use media::{Frame, Timestamp, Track};

/// How long an output waits for a publisher to come back before ending.
const OFFLINE_GRACE: Duration = Duration::from_secs(10);

/// Fragment length of streams without video.
const AUDIO_FRAGMENT: Duration = Duration::from_millis(100);

/// Longest span of frames held back for one fragment, whatever the tracks.
const MAX_FRAGMENT: Duration = Duration::from_secs(1);

/// Most frames held back for one fragment.
const MAX_FRAGMENT_FRAMES: usize = 512;

/// Longest span of frames gathered before choosing the time origin: how long
/// the output waits for every track's first frame (and, before the init
/// segment, for decoder configurations still missing).
const GATHER_SPAN: Duration = Duration::from_secs(1);

/// Most frames gathered before choosing the time origin.
const GATHER_FRAMES: usize = 512;

/// How long a WebSocket send may stay blocked before the viewer is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// The timescale of time origins: nanoseconds.
const NANOS: u32 = 1_000_000_000;

/// The HTTP or WebSocket response for a viewer of `stream`: a WebSocket
/// session when `ws` is an upgrade request, else `200` with an endless
/// `video/mp4` body. The router answers unknown and offline streams itself.
pub async fn handle(stream: Arc<LiveStream>, ws: Option<WebSocketUpgrade>) -> Response {
    let protocol = if ws.is_some() {
        hub::Protocol::WsMp4
    } else {
        hub::Protocol::Mp4
    };
    let sub = stream.subscribe_as(protocol);
    if let Some(ws) = ws {
        return ws.on_upgrade(move |socket| websocket(socket, sub));
    }
    let mut r = Body::from_stream(self::stream(sub)).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store"),
    );
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    r
}

/// The fragmented MP4 bytes of a live stream from the subscriber's position
/// on: the init segment, then each fragment as its header followed by the
/// frame payloads (shared, not copied). Ends when the stream is removed, stays
/// offline for 10 s, or changes its tracks.
pub fn stream(sub: Subscriber) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let state = (sub, Packager::default(), VecDeque::<Bytes>::new(), false);
    futures_util::stream::unfold(
        state,
        |(mut sub, mut packager, mut queue, mut ended)| async move {
            let mut chunks = Vec::new();
            loop {
                if let Some(b) = queue.pop_front() {
                    return Some((Ok(b), (sub, packager, queue, ended)));
                }
                if ended {
                    return None;
                }
                let Some(event) = next_event(&mut sub).await else {
                    tracing::debug!(
                        stream = sub.stream().name(),
                        "mp4 output ends: stream stayed offline"
                    );
                    return None;
                };
                ended = !packager.on_event(event, &mut chunks).proceed(sub.stream().name());
                for chunk in chunks.drain(..) {
                    match chunk {
                        Chunk::Init(b) => queue.push_back(b),
                        Chunk::Fragment(f) => {
                            queue.push_back(f.header);
                            queue.extend(f.payloads);
                        }
                    }
                }
            }
        },
    )
}

/// Serves a live stream over a WebSocket: the init segment as the first
/// binary message, then one binary message per fragment. Ends when the peer
/// closes or goes away, or when [`stream`] would end. Each send is awaited,
/// so a peer that does not read holds one message in memory while its
/// subscriber skips ahead in the stream.
pub async fn websocket(mut socket: WebSocket, mut sub: Subscriber) {
    let name = sub.stream().name().to_owned();
    let mut packager = Packager::default();
    let mut chunks = Vec::new();
    loop {
        let event = tokio::select! {
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None => return,
                Some(Err(e)) => {
                    tracing::debug!(stream = name, %e, "ws/mp4 viewer went away");
                    return;
                }
                // pings are answered by the socket; other messages mean nothing here
                Some(Ok(_)) => continue,
            },
            event = next_event(&mut sub) => event,
        };
        let Some(event) = event else {
            tracing::debug!(stream = name, "ws/mp4 output ends: stream stayed offline");
            break;
        };
        let go_on = packager.on_event(event, &mut chunks).proceed(&name);
        for chunk in chunks.drain(..) {
            let data = match chunk {
                Chunk::Init(b) => b,
                Chunk::Fragment(f) => {
                    let mut buf = BytesMut::with_capacity(f.len());
                    f.write_to(&mut buf);
                    buf.freeze()
                }
            };
            match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Binary(data))).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::debug!(stream = name, %e, "ws/mp4 viewer went away");
                    return;
                }
                Err(_) => {
                    tracing::info!(stream = name, "ws/mp4 viewer stopped reading; dropped");
                    return;
                }
            }
        }
        if !go_on {
            break;
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

/// The subscriber's next event; `None` once the stream stayed offline for
/// [`OFFLINE_GRACE`].
async fn next_event(sub: &mut Subscriber) -> Option<Event> {
    loop {
        match tokio::time::timeout(OFFLINE_GRACE, sub.next()).await {
            Ok(e) => return Some(e),
            Err(_) if sub.stream().state() == hub::State::Offline => return None,
            Err(_) => continue,
        }
    }
}

/// The tracks that can be muxed now: a track whose decoder configuration is
/// not known yet is left out until the stream announces it complete, and so
/// is a track of a codec MP4 output does not carry.
fn muxable(tracks: &[Track]) -> Vec<Track> {
    tracks
        .iter()
        .filter(|t| t.has_config() && (t.codec.is_video() || t.codec.is_audio()))
        .cloned()
        .collect()
}

/// Audio and video tracks whose decoder configuration is still unknown.
fn undescribed(tracks: &[Track]) -> usize {
    tracks
        .iter()
        .filter(|t| !t.has_config() && (t.codec.is_video() || t.codec.is_audio()))
        .count()
}

/// True when two tracks would get the same entry in `moov`: same id, codec,
/// timescale and decoder configuration.
fn same_setup(a: &Track, b: &Track) -> bool {
    a.id == b.id && a.codec == b.codec && a.timescale == b.timescale && a.init == b.init
}

/// True when an output whose init segment holds `current` can go on after
/// the stream announced `announced`: the muxable tracks are the same set.
fn tracks_unchanged(current: &[Track], announced: &[Track]) -> bool {
    let next = muxable(announced);
    next.len() == current.len() && current.iter().all(|c| next.iter().any(|n| same_setup(c, n)))
}

/// Tracks as `id:codec`, for logs.
fn list(tracks: &[Track]) -> String {
    let names: Vec<String> = tracks.iter().map(|t| format!("{}:{}", t.id, t.codec)).collect();
    names.join(", ")
}

/// `t` in nanoseconds.
fn nanos(t: Timestamp) -> i64 {
    t.rescale(NANOS).ticks()
}

/// The time origin of frames gathered at a start or after a discontinuity,
/// in nanoseconds of input time: the earliest decode time among them, which
/// is the smallest of the tracks' first decode times. Output time `resume`
/// (nanoseconds) is where this origin lands.
fn origin(frames: &[Frame], resume: i64) -> Option<i64> {
    frames.iter().map(|f| nanos(f.dts)).min().map(|m| m - resume)
}

/// `t` moved back by `offset` nanoseconds, in its own timescale.
fn shift(t: Timestamp, offset: i64) -> Timestamp {
    t.add_ticks(-Timestamp::new(offset, NANOS).rescale(t.timescale()).ticks())
}

/// One piece of output.
#[derive(Debug)]
enum Chunk {
    /// The init segment.
    Init(Bytes),
    /// One fragment.
    Fragment(Fragment),
}

/// Whether the output goes on after an event.
#[derive(Debug, PartialEq)]
enum Flow {
    Continue,
    /// The output ends; the reason is logged (`None`: the stream was removed).
    End(Option<String>),
}

impl Flow {
    /// Logs why the output ends; true when it goes on.
    fn proceed(self, stream: &str) -> bool {
        match self {
            Self::Continue => true,
            Self::End(None) => false,
            Self::End(Some(reason)) => {
                tracing::info!(stream, reason, "mp4 output ends");
                false
            }
        }
    }
}

/// What the output knows of one written track.
#[derive(Debug, Clone, Copy)]
struct Written {
    /// Output decode time of its last frame, in nanoseconds.
    dts: i64,
    /// Gap between its last two frames, in nanoseconds.
    step: i64,
}

/// Turns hub events into an init segment and fragments; pure (no I/O, no clock).
#[derive(Debug)]
struct Packager {
    /// Tracks as last announced by the stream.
    announced: Vec<Track>,
    /// The writer and the tracks of the init segment, once written.
    writer: Option<(FragmentWriter, Vec<Track>)>,
    /// Frames waiting for the time origin: at the start and after a discontinuity.
    gathered: Vec<Frame>,
    /// True while frames are being gathered.
    gathering: bool,
    /// Frames of the next fragment, in output time.
    pending: Vec<Frame>,
    /// Input time minus output time, in nanoseconds.
    offset: i64,
    /// Per track id, its last written frame.
    written: Vec<(u32, Written)>,
    /// The init segment has a video track: fragments are cut at video frames.
    has_video: bool,
    /// Sequence number of the next fragment.
    seq: u32,
}

impl Default for Packager {
    fn default() -> Self {
        Self {
            announced: Vec::new(),
            writer: None,
            gathered: Vec::new(),
            gathering: true,
            pending: Vec::new(),
            offset: 0,
            written: Vec::new(),
            has_video: false,
            seq: 1,
        }
    }
}

impl Packager {
    /// Handles one event, appending output to `out`.
    fn on_event(&mut self, event: Event, out: &mut Vec<Chunk>) -> Flow {
        match event {
            Event::Tracks(tracks) => return self.on_tracks(tracks, out),
            Event::Frame(frame) => return self.on_frame(frame, out),
            Event::Skipped { .. } => {
                // moved to a newer keyframe: what was gathered before start is stale
                self.flush(out);
                self.gathered.clear();
                self.gathering = true;
            }
            Event::Offline => self.flush(out),
            Event::Closed => {
                self.flush(out);
                return Flow::End(None);
            }
        }
        Flow::Continue
    }

    fn on_tracks(&mut self, tracks: Vec<Track>, out: &mut Vec<Chunk>) -> Flow {
        match &self.writer {
            Some((_, current)) => {
                if !tracks_unchanged(current, &tracks) {
                    let reason = format!(
                        "tracks changed from [{}] to [{}] (or their decoder configuration did); \
                         an mp4 cannot change its moov",
                        list(current),
                        list(&tracks)
                    );
                    self.flush(out);
                    return Flow::End(Some(reason));
                }
                // same tracks, new epoch: the source may have restarted its clock
                self.flush(out);
                self.gathering = true;
            }
            None => {
                // not started: keep what was gathered for tracks that did not change
                let next = muxable(&tracks);
                let old = muxable(&self.announced);
                self.gathered.retain(|f| {
                    let same = |list: &[Track]| list.iter().find(|t| t.id == f.track).cloned();
                    matches!((same(&old), same(&next)), (Some(a), Some(b)) if same_setup(&a, &b))
                });
            }
        }
        self.announced = tracks;
        self.try_start(out)
    }

    fn on_frame(&mut self, frame: Frame, out: &mut Vec<Chunk>) -> Flow {
        if !self.gathering {
            self.push(frame, out);
            return Flow::Continue;
        }
        let tracks = match &self.writer {
            Some((_, t)) => t,
            None => &self.announced,
        };
        let Some(track) = tracks.iter().find(|t| t.id == frame.track) else {
            return Flow::Continue;
        };
        if self.writer.is_none() && !track.has_config() {
            return Flow::Continue;
        }
        // before the init segment, decoding starts at each video track's keyframe
        let started = self.writer.is_some() || self.gathered.iter().any(|f| f.track == frame.track);
        if !started && track.codec.is_video() && !frame.keyframe {
            return Flow::Continue;
        }
        self.gathered.push(frame);
        self.try_start(out)
    }

    /// Ends gathering when every track has a frame (and, before the init
    /// segment, every track is described), or when enough was gathered.
    fn try_start(&mut self, out: &mut Vec<Chunk>) -> Flow {
        if !self.gathering || self.gathered.is_empty() {
            return Flow::Continue;
        }
        let full = self.gathered.len() >= GATHER_FRAMES || span(&self.gathered) >= GATHER_SPAN;
        let (tracks, waiting) = match &self.writer {
            Some((_, t)) => (t.clone(), 0),
            None => (muxable(&self.announced), undescribed(&self.announced)),
        };
        let complete = waiting == 0
            && tracks
                .iter()
                .all(|t| self.gathered.iter().any(|f| f.track == t.id));
        if !complete && !full {
            return Flow::Continue;
        }
        if self.writer.is_none() {
            if tracks.is_empty() {
                return Flow::End(Some("no track can be put in mp4".into()));
            }
            let writer = match FragmentWriter::new(&tracks) {
                Ok(w) => w,
                Err(e) => return Flow::End(Some(format!("cannot write these tracks as mp4: {e}"))),
            };
            if !complete {
                tracing::debug!(waiting, "mp4 output starts without tracks that sent nothing yet");
            }
            let mut init = BytesMut::with_capacity(1024);
            writer.write_init(&mut init);
            out.push(Chunk::Init(init.freeze()));
            self.has_video = tracks.iter().any(|t| t.codec.is_video());
            self.writer = Some((writer, tracks));
        }
        let resume = self
            .written
            .iter()
            .map(|(_, w)| w.dts + w.step)
            .max()
            .unwrap_or(0);
        let gathered = std::mem::take(&mut self.gathered);
        self.offset = origin(&gathered, resume).unwrap_or(0);
        self.gathering = false;
        for f in gathered {
            self.push(f, out);
        }
        Flow::Continue
    }

    /// Adds a frame to the next fragment (in output time); writes the
    /// fragment when the frame completes it.
    fn push(&mut self, frame: Frame, out: &mut Vec<Chunk>) {
        let Some((_, tracks)) = &self.writer else { return };
        let Some(track) = tracks.iter().find(|t| t.id == frame.track) else {
            return;
        };
        let is_video = track.codec.is_video();
        let frame = Frame {
            dts: shift(frame.dts, self.offset),
            pts: shift(frame.pts, self.offset),
            ..frame
        };
        let dts = nanos(frame.dts);
        let slot = self.written.iter().position(|(id, _)| *id == frame.track);
        let last = slot.and_then(|i| self.written.get(i)).map(|(_, w)| *w);
        if frame.dts.ticks() < 0 || last.is_some_and(|w| dts < w.dts) {
            tracing::debug!(track = frame.track, dts, "frame before the output's time dropped");
            return;
        }
        let written = Written {
            dts,
            step: last.map_or(0, |w| if dts > w.dts { dts - w.dts } else { w.step }),
        };
        match slot.and_then(|i| self.written.get_mut(i)) {
            Some((_, w)) => *w = written,
            None => self.written.push((frame.track, written)),
        }
        self.pending.push(frame);
        let span = span(&self.pending);
        let cut = if self.has_video {
            is_video
        } else {
            span >= AUDIO_FRAGMENT
        };
        if cut || span >= MAX_FRAGMENT || self.pending.len() >= MAX_FRAGMENT_FRAMES {
            self.flush(out);
        }
    }

    /// Writes the pending frames as one fragment.
    fn flush(&mut self, out: &mut Vec<Chunk>) {
        let Some((writer, _)) = &mut self.writer else {
            return;
        };
        if self.pending.is_empty() {
            return;
        }
        match writer.fragment(self.seq, &self.pending, &[]) {
            Ok(f) => {
                self.seq = self.seq.wrapping_add(1);
                out.push(Chunk::Fragment(f));
            }
            Err(e) => tracing::warn!(%e, frames = self.pending.len(), "mp4 fragment dropped"),
        }
        self.pending.clear();
    }
}

/// Decode time from the earliest to the latest of `frames`.
fn span(frames: &[Frame]) -> Duration {
    let times = frames.iter().map(|f| nanos(f.dts));
    let (Some(min), Some(max)) = (times.clone().min(), times.max()) else {
        return Duration::ZERO;
    };
    Duration::from_nanos(u64::try_from(max - min).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use media::{Codec, aac};

    use super::*;

    fn video_track() -> Track {
        media::sample::h264_track(1)
    }

    fn audio_track() -> Track {
        media::sample::aac_track(2)
    }

    /// Video frame `i` at 25 fps starting at `start` seconds; key every 25.
    fn video(i: i64, start: i64) -> Frame {
        let len = 100 + i as usize;
        let mut data = vec![0x5au8; len + 4];
        data[..4].copy_from_slice(&(len as u32).to_be_bytes());
        data[4] = if i % 25 == 0 { 0x65 } else { 0x41 };
        let t = Timestamp::new(start * 90_000 + i * 3600, 90_000);
        Frame::new(1, t, t, i % 25 == 0, data)
    }

    /// AAC frame `i` starting at `start` seconds.
    fn audio(i: i64, start: i64) -> Frame {
        let t = Timestamp::new(start * 48_000 + i * 1024, 48_000);
        Frame::new(2, t, t, true, vec![0x21; 50 + i as usize % 7])
    }

    /// A/V interleaved as a muxer would: audio of the same time first.
    fn av(frames: i64, start: i64) -> Vec<Frame> {
        let mut v: Vec<Frame> = (0..frames).map(|i| video(i, start)).collect();
        // audio slightly ahead of the first video frame
        v.extend((0..frames * 40 / 21).map(|i| {
            let mut a = audio(i, start);
            a.dts = a.dts.add_ticks(-960);
            a.pts = a.dts;
            a
        }));
        v.sort_by_key(|f| nanos(f.dts));
        v
    }

    fn run(p: &mut Packager, events: impl IntoIterator<Item = Event>) -> (Vec<Chunk>, Flow) {
        let mut out = Vec::new();
        for e in events {
            let flow = p.on_event(e, &mut out);
            if flow != Flow::Continue {
                return (out, flow);
            }
        }
        (out, Flow::Continue)
    }

    /// Concatenates chunks and reads them back as an MP4 file.
    fn read(chunks: &[Chunk]) -> media::container::Demuxed {
        let mut file = BytesMut::new();
        for c in chunks {
            match c {
                Chunk::Init(b) => file.extend_from_slice(b),
                Chunk::Fragment(f) => f.write_to(&mut file),
            }
        }
        media::mp4::read_all(&file).unwrap()
    }

    fn seq_of(f: &Fragment) -> u32 {
        // moof header (8), mfhd full box header (12), then sequence_number
        assert_eq!(&f.header[4..8], b"moof");
        u32::from_be_bytes(f.header[20..24].try_into().unwrap())
    }

    #[test]
    fn origin_is_the_earliest_first_dts_over_tracks() {
        let frames = vec![
            Frame::new(
                1,
                Timestamp::new(900_000, 90_000),
                Timestamp::new(900_000, 90_000),
                true,
                vec![],
            ),
            Frame::new(
                2,
                Timestamp::new(479_040, 48_000),
                Timestamp::new(479_040, 48_000),
                true,
                vec![],
            ),
        ];
        // audio at 9.98 s is earlier than video at 10 s
        assert_eq!(origin(&frames, 0), Some(9_980_000_000));
        assert_eq!(shift(frames[1].dts, 9_980_000_000).ticks(), 0);
        assert_eq!(shift(frames[0].dts, 9_980_000_000).ticks(), 1800);
        // resuming at 2 s of output time
        let o = origin(&frames, 2_000_000_000).unwrap();
        assert_eq!(shift(frames[1].dts, o), Timestamp::new(96_000, 48_000));
        assert_eq!(origin(&[], 0), None);
    }

    #[test]
    fn track_change_decision() {
        let current = vec![video_track(), audio_track()];
        let mut described = audio_track();
        described.describe();
        // order and derived info do not matter
        assert!(tracks_unchanged(&current, &[described, video_track()]));
        // a track without config or of another codec is not in the moov anyway
        let mut data = Track::new(3, Codec::Other("klv".into()), 90_000);
        data.init = Bytes::from_static(b"x");
        assert!(tracks_unchanged(&current, &[video_track(), audio_track(), data]));
        let mut other = audio_track();
        other.init = aac::AudioSpecificConfig {
            object_type: 2,
            sample_rate: 44_100,
            channels: 2,
        }
        .encode();
        assert!(!tracks_unchanged(&current, &[video_track(), other]));
        assert!(!tracks_unchanged(&current, &[video_track()]));
        let mut renumbered = audio_track();
        renumbered.id = 3;
        assert!(!tracks_unchanged(&current, &[video_track(), renumbered]));
    }

    #[test]
    fn one_fragment_per_video_frame_from_time_zero() {
        let fed = av(50, 100);
        let mut p = Packager::default();
        let events = std::iter::once(Event::Tracks(vec![video_track(), audio_track()]))
            .chain(fed.iter().cloned().map(Event::Frame));
        let (out, flow) = run(&mut p, events);
        assert_eq!(flow, Flow::Continue);
        assert!(matches!(&out[0], Chunk::Init(b) if &b[4..8] == b"ftyp"));
        let seqs: Vec<u32> = out[1..]
            .iter()
            .map(|c| match c {
                Chunk::Fragment(f) => seq_of(f),
                Chunk::Init(_) => panic!("second init segment"),
            })
            .collect();
        assert_eq!(
            seqs,
            (1..=50).collect::<Vec<u32>>(),
            "one fragment per video frame"
        );
        let got = read(&out);
        // every fed frame comes out, payload untouched
        let fed_v: Vec<&Frame> = fed.iter().filter(|f| f.track == 1).collect();
        let got_v: Vec<&Frame> = got.frames.iter().filter(|f| f.track == 1).collect();
        assert_eq!(got_v.len(), fed_v.len());
        for (g, f) in got_v.iter().zip(&fed_v) {
            assert_eq!(g.data, f.data);
            assert_eq!(g.keyframe, f.keyframe);
        }
        // audio starts 960 ticks of 48 kHz (20 ms) before video: origin 0 on the audio
        let first_audio = got.frames.iter().find(|f| f.track == 2).unwrap();
        assert_eq!(first_audio.dts.ticks(), 0);
        assert_eq!(got_v[0].dts.rescale(1000).ticks(), 20);
    }

    #[test]
    fn restarted_clock_continues_and_other_tracks_end_the_output() {
        let mut p = Packager::default();
        let tracks = vec![video_track(), audio_track()];
        let events = std::iter::once(Event::Tracks(tracks.clone()))
            .chain(av(30, 50).into_iter().map(Event::Frame))
            // publisher restarts: same tracks, clock back at 0
            .chain(std::iter::once(Event::Tracks(tracks.clone())))
            .chain(av(30, 0).into_iter().map(Event::Frame));
        let (out, flow) = run(&mut p, events);
        assert_eq!(flow, Flow::Continue);
        let got = read(&out);
        for track in [1, 2] {
            let dts: Vec<i64> = got
                .frames
                .iter()
                .filter(|f| f.track == track)
                .map(|f| f.dts.ticks())
                .collect();
            assert!(dts.len() > 50, "track {track}: {} frames", dts.len());
            assert!(
                dts.windows(2).all(|w| w[0] < w[1]),
                "track {track} dts rise: {dts:?}"
            );
            // no gap of more than 100 ms at the restart
            let scale = if track == 1 { 90_000 } else { 48_000 };
            assert!(dts.windows(2).all(|w| w[1] - w[0] < scale / 10));
        }
        let (_, flow) = run(&mut p, [Event::Tracks(vec![video_track()])]);
        assert!(matches!(flow, Flow::End(Some(r)) if r.contains("tracks changed")));
    }

    #[test]
    fn late_described_audio_is_waited_for() {
        let mut p = Packager::default();
        let mut bare = audio_track();
        bare.init = Bytes::new();
        let fed = av(10, 0);
        let mut events = vec![Event::Tracks(vec![video_track(), bare])];
        // first the video keyframe, then the audio track is described
        events.push(Event::Frame(fed[1].clone()));
        assert_eq!(fed[1].track, 1);
        events.push(Event::Tracks(vec![video_track(), audio_track()]));
        events.extend(fed[2..].iter().cloned().map(Event::Frame));
        let (out, flow) = run(&mut p, events);
        assert_eq!(flow, Flow::Continue);
        let got = read(&out);
        assert_eq!(got.tracks.len(), 2);
        assert!(got.frames.iter().any(|f| f.track == 2));
        assert!(got.frames[0].keyframe);
    }

    #[test]
    fn audio_only_fragments_are_about_100_ms() {
        let mut p = Packager::default();
        let events = std::iter::once(Event::Tracks(vec![audio_track()]))
            .chain((0..100).map(|i| Event::Frame(audio(i, 3))))
            .chain([Event::Closed]);
        let (out, flow) = run(&mut p, events);
        assert_eq!(flow, Flow::End(None));
        let sizes: Vec<usize> = out
            .iter()
            .filter_map(|c| match c {
                Chunk::Fragment(f) => Some(f.payloads.len()),
                Chunk::Init(_) => None,
            })
            .collect();
        // 1024 samples at 48 kHz are 21.3 ms: five frames span 85 ms, six 107 ms
        assert!(sizes[..sizes.len() - 1].iter().all(|&n| n == 6), "{sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), 100);
        assert_eq!(read(&out).frames.len(), 100);
    }

    #[test]
    fn payloads_are_shared_not_copied() {
        let mut p = Packager::default();
        let frame = audio(0, 0);
        let events = [
            Event::Tracks(vec![audio_track()]),
            Event::Frame(frame.clone()),
            Event::Closed,
        ];
        let (out, _) = run(&mut p, events);
        let Some(Chunk::Fragment(f)) = out.last() else {
            panic!("no fragment: {out:?}")
        };
        assert_eq!(f.payloads[0].as_ptr(), frame.data.as_ptr());
    }
}
