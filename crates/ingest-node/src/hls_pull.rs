//! HLS pull (`http(s)://.../index.m3u8`): a live or VOD HLS stream played
//! into a live stream at real time.
//!
//! - **Playlist** (RFC 8216 §6.3): the URL may name a multivariant playlist;
//!   then the variant with the highest `BANDWIDTH` is pulled (renditions in
//!   separate playlists, e.g. an `EXT-X-MEDIA` audio group with its own URI,
//!   are not merged in). A live playlist is reloaded every target duration
//!   after the previous load started, or half of it when nothing was new
//!   (§6.3.4). Encrypted playlists are refused.
//! - **Start**: [`LIVE_EDGE_SEGMENTS`] segments from the end of a live
//!   playlist, from the first segment of a VOD or ended (`EXT-X-ENDLIST`) one.
//! - **Segments** are downloaded once each, in media sequence order, by a
//!   fetcher that runs ahead of the player by at most [`QUEUE_SEGMENTS`]
//!   segments. MPEG-TS segments go through [`media::ts::Demuxer`] (one per
//!   segment; each should start with a PAT and PMT, §3.2); fMP4 segments
//!   through [`media::mp4::Movie`] built from the `EXT-X-MAP` section
//!   (downloaded again only when the map changes); a segment without a map
//!   that starts with `ftyp`/`moov` is read as self-initializing. `EXT-X-GAP`
//!   segments are not loaded. A segment that cannot be downloaded or
//!   demuxed is skipped with a warning and the stream's last error; after
//!   [`MAX_SEGMENT_FAILURES`] in a row the input gives up.
//! - **Timestamps** continue across segments; after `EXT-X-DISCONTINUITY`,
//!   skipped segments or a jump, the next segment is re-timed to follow the
//!   previous one (`Timeline` in `hls_pull/timeline.rs`).
//! - **Pacing**: frames are pushed when their decode time is due, as a file
//!   source does, so viewers get the stream at live speed about
//!   `LIVE_EDGE_SEGMENTS` segments behind the origin.
//! - **Ends**: `Ok` once an ended playlist has been played out; `Err` when the
//!   playlist cannot be fetched or parsed at the start, cannot be reloaded
//!   for [`stall_limit`], or stops changing for as long (the supervisor
//!   retries). Every request has a timeout and a size limit.

mod http;
mod segment;
mod timeline;

use std::sync::Arc;
use std::time::Duration;

use hub::{LiveStream, Publisher};
use media::Track;
use media::hls::{self, MediaPlaylist, Playlist};
use tokio::sync::mpsc;
use tokio::time::Instant;

use self::http::Http;
use self::segment::{Downloaded, Fmp4State, Init};
use self::timeline::{Pacer, Timeline};

/// How many segments from the end of a live playlist playing starts.
pub const LIVE_EDGE_SEGMENTS: usize = 3;
/// Segments downloaded ahead of the one playing.
pub const QUEUE_SEGMENTS: usize = 4;
/// Largest media segment accepted (about 10 s at 50 Mbps).
pub const MAX_SEGMENT_SIZE: usize = 64 * 1024 * 1024;
/// Largest initialization section accepted.
pub const MAX_INIT_SIZE: usize = 1024 * 1024;
/// Timeout of a playlist request.
pub const PLAYLIST_TIMEOUT: Duration = Duration::from_secs(10);
/// Segments in a row that may fail before the input gives up.
pub const MAX_SEGMENT_FAILURES: usize = 10;

/// Shortest and longest wait between playlist reloads, whatever the
/// target duration says.
const RELOAD_BOUNDS: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(15));

/// How long a live playlist may fail to reload, or stay unchanged, before
/// the input gives up: three target durations, at least 10 s.
pub fn stall_limit(target_duration: Duration) -> Duration {
    (target_duration * 3).max(Duration::from_secs(10))
}

/// Timeout of a segment download: three target durations, at least 10 s.
fn segment_timeout(target_duration: Duration) -> Duration {
    (target_duration * 3).max(Duration::from_secs(10))
}

/// Pulls the HLS stream at `source_url` into `stream` until an ended
/// playlist has been played out (`Ok`) or the source fails (`Err`, with a
/// message naming the URL and the HTTP status or the playlist line).
pub async fn run(source_url: String, stream: Arc<LiveStream>) -> Result<(), String> {
    let http = Http::new()?;
    let (url, playlist) = load_media_playlist(&http, &source_url).await?;
    if playlist.i_frames_only {
        return Err(format!("{url}: an I-frame-only playlist cannot be played"));
    }
    let publisher = stream.publish().map_err(|e| e.to_string())?;
    tracing::info!(
        stream = stream.name(),
        %url,
        live = playlist.is_live(),
        target_duration = ?playlist.target_duration,
        "hls pull started"
    );
    let (tx, rx) = mpsc::channel(QUEUE_SEGMENTS);
    let fetcher = Fetcher {
        http,
        url,
        stream: stream.clone(),
        init: None,
        failures: 0,
        missed: false,
    };
    tokio::try_join!(fetcher.run(playlist, tx), play(rx, &publisher))?;
    tracing::info!(stream = stream.name(), url = %source_url, "hls pull ended: playlist played out");
    Ok(())
}

/// Loads `url`; for a multivariant playlist, the media playlist of its
/// highest-bandwidth variant. Returns the media playlist's final URL.
async fn load_media_playlist(http: &Http, url: &str) -> Result<(String, MediaPlaylist), String> {
    let (base, playlist) = load(http, url).await?;
    let variants = match playlist {
        Playlist::Media(p) => return Ok((base, p)),
        Playlist::Multivariant(m) => m,
    };
    let variant = variants
        .best_variant()
        .ok_or_else(|| format!("{base}: multivariant playlist without variants"))?;
    let variant_url = hls::resolve(&base, &variant.uri)
        .ok_or_else(|| format!("{base}: cannot resolve variant uri {:?}", variant.uri))?;
    tracing::info!(
        %url,
        variant = %variant_url,
        bandwidth = variant.bandwidth,
        resolution = ?variant.resolution,
        codecs = ?variant.codecs,
        "hls pull: chose the highest-bandwidth variant"
    );
    match load(http, &variant_url).await? {
        (base, Playlist::Media(p)) => Ok((base, p)),
        (base, Playlist::Multivariant(_)) => Err(format!("{base}: variant playlist is itself multivariant")),
    }
}

/// Fetches and parses one playlist; returns its final URL with it.
async fn load(http: &Http, url: &str) -> Result<(String, Playlist), String> {
    let body = http
        .get(url, None, hls::MAX_PLAYLIST_SIZE, PLAYLIST_TIMEOUT)
        .await?;
    let playlist = hls::parse_bytes(&body.data).map_err(|e| format!("{}: {e}", body.url))?;
    Ok((body.url, playlist))
}

/// Downloads new segments and hands them to the player.
struct Fetcher {
    http: Http,
    /// The media playlist's URL.
    url: String,
    stream: Arc<LiveStream>,
    /// The last initialization section downloaded.
    init: Option<Arc<Init>>,
    /// Segment failures in a row.
    failures: usize,
    /// Segments were missed since the last one queued: the next one starts
    /// a new timeline.
    missed: bool,
}

impl Fetcher {
    /// Follows the playlist until it ends (`Ok`, once everything is queued)
    /// or fails.
    async fn run(mut self, mut playlist: MediaPlaylist, tx: mpsc::Sender<Downloaded>) -> Result<(), String> {
        let mut next: Option<u64> = None;
        let mut loaded_at = Instant::now();
        let mut changed_at = loaded_at;
        let mut last_good_load = loaded_at;
        let mut got_new = true;
        loop {
            let start = self.start_point(&playlist, next);
            for seg in playlist.segments.iter().filter(|s| s.sequence >= start) {
                next = Some(seg.sequence + 1);
                if seg.gap {
                    tracing::debug!(
                        stream = self.stream.name(),
                        sequence = seg.sequence,
                        "gap segment skipped"
                    );
                    self.missed = true;
                    continue;
                }
                let Some(downloaded) = self.download(&playlist, seg).await? else {
                    self.missed = true;
                    continue;
                };
                self.missed = false;
                if tx.send(downloaded).await.is_err() {
                    return Ok(()); // the player has gone
                }
            }
            if !playlist.is_live() {
                return Ok(());
            }
            // RFC 8216 §6.3.4: wait from when the last load started
            let target = playlist.target_duration;
            let wait = if got_new { target } else { target / 2 };
            tokio::time::sleep_until(loaded_at + wait.clamp(RELOAD_BOUNDS.0, RELOAD_BOUNDS.1)).await;
            loaded_at = Instant::now();
            let before = playlist.next_sequence();
            match load(&self.http, &self.url).await {
                Ok((_, Playlist::Media(p))) => {
                    playlist = p;
                    last_good_load = loaded_at;
                }
                Ok((base, Playlist::Multivariant(_))) => {
                    self.reload_failed(
                        format!("{base}: became a multivariant playlist"),
                        last_good_load,
                        target,
                    )?;
                }
                Err(e) => self.reload_failed(e, last_good_load, target)?,
            }
            got_new = playlist.next_sequence() != before;
            if got_new || !playlist.is_live() {
                changed_at = loaded_at;
            } else if loaded_at.duration_since(changed_at) > stall_limit(target) {
                return Err(format!(
                    "{}: live playlist has not changed for {:?}",
                    self.url,
                    loaded_at.duration_since(changed_at)
                ));
            }
        }
    }

    /// The first sequence number to fetch (noting when segments were missed).
    fn start_point(&mut self, playlist: &MediaPlaylist, next: Option<u64>) -> u64 {
        let edge = if playlist.is_live() {
            let back = playlist.segments.len().saturating_sub(LIVE_EDGE_SEGMENTS);
            playlist.media_sequence.saturating_add(back as u64)
        } else {
            playlist.media_sequence
        };
        match next {
            None => edge,
            Some(n) if n < playlist.media_sequence => {
                tracing::warn!(
                    stream = self.stream.name(),
                    missed = playlist.media_sequence - n,
                    "hls pull fell behind: segments left the playlist before they were fetched"
                );
                self.missed = true;
                playlist.media_sequence
            }
            Some(n) if n > playlist.next_sequence() => {
                tracing::warn!(
                    stream = self.stream.name(),
                    expected = n,
                    found = playlist.next_sequence(),
                    "hls playlist went back in sequence numbers (source restarted?): starting at its live edge"
                );
                self.missed = true;
                edge
            }
            Some(n) => n,
        }
    }

    /// A reload failed: fine for a while (the old playlist stays), an error
    /// after [`stall_limit`].
    fn reload_failed(&self, error: String, last_good: Instant, target: Duration) -> Result<(), String> {
        if last_good.elapsed() > stall_limit(target) {
            return Err(error);
        }
        tracing::warn!(stream = self.stream.name(), %error, "hls playlist reload failed");
        self.stream.set_error(error);
        Ok(())
    }

    /// Downloads a segment (and its map when new). A failure is logged and
    /// skipped (`None`) until too many come in a row.
    async fn download(
        &mut self,
        playlist: &MediaPlaylist,
        seg: &hls::Segment,
    ) -> Result<Option<Downloaded>, String> {
        let timeout = segment_timeout(playlist.target_duration);
        let result = async {
            let init = match &seg.map {
                Some(map) => Some(self.init(map, timeout).await?),
                None => None,
            };
            let url = hls::resolve(&self.url, &seg.uri)
                .ok_or_else(|| format!("cannot resolve segment uri {:?}", seg.uri))?;
            let body = self
                .http
                .get(&url, seg.byte_range, MAX_SEGMENT_SIZE, timeout)
                .await?;
            Ok::<_, String>(Downloaded {
                sequence: seg.sequence,
                discontinuity: seg.discontinuity || self.missed,
                data: body.data,
                init,
            })
        }
        .await;
        match result {
            Ok(d) => {
                self.failures = 0;
                Ok(Some(d))
            }
            Err(e) => {
                self.failures += 1;
                let e = format!("segment {}: {e}", seg.sequence);
                if self.failures >= MAX_SEGMENT_FAILURES {
                    return Err(format!(
                        "{} segments in a row failed, the last: {e}",
                        self.failures
                    ));
                }
                tracing::warn!(stream = self.stream.name(), error = %e, "hls segment skipped");
                self.stream.set_error(e);
                Ok(None)
            }
        }
    }

    /// The initialization section of `map`, downloaded when it changed.
    async fn init(&mut self, map: &hls::Map, timeout: Duration) -> Result<Arc<Init>, String> {
        let url = hls::resolve(&self.url, &map.uri)
            .ok_or_else(|| format!("cannot resolve map uri {:?}", map.uri))?;
        let key = match map.byte_range {
            Some(r) => format!("{url} bytes {}@{}", r.length, r.offset),
            None => url.clone(),
        };
        if let Some(init) = self.init.as_ref().filter(|i| i.key == key) {
            return Ok(init.clone());
        }
        let body = self
            .http
            .get(&url, map.byte_range, MAX_INIT_SIZE, timeout)
            .await?;
        let init = Arc::new(Init { key, data: body.data });
        self.init = Some(init.clone());
        Ok(init)
    }
}

/// Demuxes queued segments and pushes their frames at real time.
async fn play(mut rx: mpsc::Receiver<Downloaded>, publisher: &Publisher) -> Result<(), String> {
    let stream = publisher.stream();
    let mut timeline = Timeline::default();
    let mut pacer = Pacer::default();
    let mut fmp4 = Some(Fmp4State::default());
    let mut tracks: Vec<Track> = Vec::new();
    while let Some(seg) = rx.recv().await {
        let sequence = seg.sequence;
        let discontinuity = seg.discontinuity;
        let mut state = fmp4.take().unwrap_or_default();
        let (state, result) = tokio::task::spawn_blocking(move || {
            let r = segment::demux(&seg, &mut state);
            (state, r)
        })
        .await
        .map_err(|e| format!("segment demuxer task failed: {e}"))?;
        fmp4 = Some(state);
        let mut demuxed = match result {
            Ok(d) if !d.frames.is_empty() => d,
            Ok(_) => {
                warn_segment(stream, sequence, "no frames in the segment".into());
                continue;
            }
            Err(e) => {
                warn_segment(stream, sequence, e);
                continue;
            }
        };
        if let (n, Some(first)) = &demuxed.warnings {
            tracing::debug!(stream = stream.name(), sequence, warnings = n, %first, "hls segment demuxed with warnings");
        }
        let placed = timeline.place(&mut demuxed.frames, discontinuity);
        if placed.retimed {
            tracing::debug!(
                stream = stream.name(),
                sequence,
                discontinuity,
                "hls segment re-timed"
            );
        }
        if placed.dropped > 0 {
            tracing::debug!(
                stream = stream.name(),
                sequence,
                dropped = placed.dropped,
                "frames without increasing dts dropped"
            );
        }
        tracks = merge_tracks(&tracks, demuxed.tracks);
        publisher.set_tracks(tracks.clone());
        tracing::debug!(
            stream = stream.name(),
            sequence,
            frames = demuxed.frames.len(),
            "hls segment playing"
        );
        for frame in demuxed.frames {
            tokio::time::sleep_until(pacer.due(&frame, Instant::now())).await;
            publisher.push(frame);
        }
    }
    Ok(())
}

fn warn_segment(stream: &LiveStream, sequence: u64, error: String) {
    tracing::warn!(stream = stream.name(), sequence, %error, "hls segment skipped");
    stream.set_error(format!("segment {sequence}: {error}"));
}

/// The tracks of a new segment, keeping the known decoder configuration of
/// a track whose `init` is not known in this segment.
fn merge_tracks(old: &[Track], new: Vec<Track>) -> Vec<Track> {
    new.into_iter()
        .map(|t| {
            if !t.init.is_empty() {
                return t;
            }
            old.iter()
                .find(|o| o.id == t.id && o.codec == t.codec && !o.init.is_empty())
                .cloned()
                .unwrap_or(t)
        })
        .collect()
}
