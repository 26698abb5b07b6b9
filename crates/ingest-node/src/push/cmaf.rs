//! CMAF push ("CMAF ingest"): a stream cut into fMP4 segments and uploaded
//! over HTTP(S) to `http(s)://HOST[:PORT]/PATH/`, a base URL (the trailing
//! slash is optional; `$stream` in it becomes the stream's name).
//!
//! A [`Segmenter`] in [`Format::Cmaf`] cuts the stream as the edge's
//! `/cmaf/` output does; each upload goes under the base URL:
//! - `init{ID}.mp4` once per init segment, as soon as the tracks are known
//!   (a new track set makes a new one);
//! - `s{MSN}.m4s` as soon as the segment is complete;
//! - `index.m3u8` after each segment: an ordinary live media playlist
//!   (`EXT-X-MAP`, `EXT-X-PROGRAM-DATE-TIME`, `EXTINF`; no LL-HLS parts or
//!   hints, which a receiver that only stores files cannot serve), with
//!   `EXT-X-ENDLIST` once the stream ends.
//!
//! Init segments and segments are sent as `video/mp4`, the playlist as
//! `application/vnd.apple.mpegurl`. One HTTP client (keep-alive) serves the
//! whole run. Each request has its own timeout; a failed upload (no answer,
//! a refused connection, a status other than 2xx) is tried once more, then
//! the push fails with the method, URL and status or reason.
//!
//! Options (query string, removed from the URL; any other parameters, such
//! as an ingest token, are kept on every upload URL):
//! - `method=PUT|POST`: the upload method (default PUT);
//! - `timeout=SECS`: the timeout of each request (default 10 s);
//! - `segment=SECS`: the segment target duration, whole seconds 1 to 10
//!   (default 2);
//! - `window=SECS`: the media the playlist lists (default 30 s, at least
//!   four segment durations);
//! - `delete=1`: segments that left the playlist (two segments later, so
//!   players still reading an older playlist can finish) and init segments
//!   no longer needed are removed from the receiver with DELETE; a failed
//!   DELETE is logged, not fatal.
//!
//! The push ends when the stream is removed or stays offline for
//! [`super::tsudp::OFFLINE_GRACE`].

use std::collections::VecDeque;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use hub::Event;
use media::hls::cutter::{CutConfig, Cutter};
use media::hls::live_playlist::date_time;
use media::hls::segmenter::{self, Chunks, Format, Segmenter, Timeline};
use reqwest::{Method, StatusCode, Url};
use tokio::time::Instant;

use super::tsudp::next_event;
use super::{Job, PushError};

/// Request timeout when `timeout` is not given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Segment target duration when `segment` is not given.
pub const DEFAULT_SEGMENT: Duration = Duration::from_secs(2);
/// Media listed in the playlist when `window` is not given.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(30);
/// Pause before the second try of a failed upload.
pub const RETRY_DELAY: Duration = Duration::from_millis(500);
/// Segments a removed segment stays on the receiver after leaving the playlist.
pub const DELETE_LAG: u64 = 2;
/// The media playlist's name under the base URL.
pub const PLAYLIST: &str = "index.m3u8";
/// Content-Type of init segments and segments.
pub const MP4_TYPE: &str = "video/mp4";
/// Content-Type of the playlist.
pub const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";

/// How long the segmenter waits for every track of a new track set to be described.
const UNDESCRIBED_WAIT: Duration = Duration::from_secs(3);

/// A CMAF push target, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The base URL, its path ending in `/`, without query.
    pub base: Url,
    /// Query parameters kept on every upload URL (not options of this push).
    pub query: Option<String>,
    /// Upload method: PUT or POST.
    pub method: Method,
    /// Timeout of each request.
    pub timeout: Duration,
    /// Segment target duration.
    pub segment: Duration,
    /// Media listed in the playlist.
    pub window: Duration,
    /// Remove segments that left the playlist with DELETE.
    pub delete: bool,
}

impl Target {
    /// Parses `target` for the stream `stream` (`$stream` in it is replaced).
    pub fn parse(target: &str, stream: &str) -> Result<Self, PushError> {
        let bad = |why: String| PushError::BadTarget(format!("{target}: {why}"));
        let mut base = Url::parse(&target.replace("$stream", stream)).map_err(|e| bad(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none_or(str::is_empty) {
            return Err(bad(
                "a CMAF push needs an http:// or https:// URL with a host".into()
            ));
        }
        let mut out = Self {
            base: base.clone(),
            query: None,
            method: Method::PUT,
            timeout: DEFAULT_TIMEOUT,
            segment: DEFAULT_SEGMENT,
            window: DEFAULT_WINDOW,
            delete: false,
        };
        let secs = |key: &str, v: &str, range: std::ops::RangeInclusive<f64>| {
            v.parse::<f64>()
                .ok()
                .filter(|s| range.contains(s))
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    bad(format!(
                        "{key}={v}: seconds from {} to {}",
                        range.start(),
                        range.end()
                    ))
                })
        };
        let pairs: Vec<(String, String)> = base.query_pairs().into_owned().collect();
        let mut kept = base.clone();
        kept.set_query(None);
        for (k, v) in pairs {
            match k.as_str() {
                "method" => {
                    out.method = match v.to_ascii_uppercase().as_str() {
                        "PUT" => Method::PUT,
                        "POST" => Method::POST,
                        _ => return Err(bad(format!("method={v}: PUT or POST"))),
                    }
                }
                "timeout" => out.timeout = secs("timeout", &v, 0.1..=300.0)?,
                "segment" => {
                    let s = v.parse::<u64>().ok().filter(|s| (1..=10).contains(s));
                    out.segment = Duration::from_secs(
                        s.ok_or_else(|| bad(format!("segment={v}: whole seconds from 1 to 10")))?,
                    );
                }
                "window" => out.window = secs("window", &v, 1.0..=86_400.0)?,
                "delete" => {
                    out.delete = match v.as_str() {
                        "1" | "true" | "yes" | "" => true,
                        "0" | "false" | "no" => false,
                        _ => return Err(bad(format!("delete={v}: 1 or 0"))),
                    }
                }
                _ => {
                    kept.query_pairs_mut().append_pair(&k, &v);
                }
            }
        }
        out.query = kept.query().filter(|q| !q.is_empty()).map(str::to_owned);
        base.set_query(None);
        base.set_fragment(None);
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        out.base = base;
        Ok(out)
    }

    /// The URL of `name` under the base URL.
    pub fn url(&self, name: &str) -> Url {
        let mut url = self.base.join(name).unwrap_or_else(|_| self.base.clone());
        url.set_query(self.query.as_deref());
        url
    }
}

/// Pushes the job's stream as CMAF segments to the HTTP(S) base URL its target names.
pub async fn run(job: &Job) -> Result<(), PushError> {
    let target = Target::parse(&job.target, job.stream.name())?;
    if job.audio_override.is_some() {
        tracing::warn!(
            push = job.name,
            "CMAF pushes keep the stream's own audio: audioOverride ignored"
        );
    }
    let client = reqwest::Client::builder()
        .connect_timeout(target.timeout)
        .user_agent(concat!("tributary/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| PushError::Failed(format!("cannot create the http client: {}", chain(&e))))?;
    tracing::info!(push = job.name, stream = job.stream.name(), url = %target.base, "CMAF push");
    let cuts = job.stream.cut_config();
    let config = segmenter::Config {
        target_duration: target.segment,
        part_duration: cuts.part_duration,
        window: target.window,
    };
    // the stream's own cuts (marked where it entered), unless the target
    // asks for other segments: then this push cuts them itself, numbering
    // from the clock so that a new run never reuses a file name
    let mut cutter = (target.segment != cuts.target_duration).then(|| {
        let cuts = CutConfig {
            target_duration: target.segment,
            ..cuts
        };
        Cutter::new(cuts, SystemTime::now())
    });
    let mut seg = Segmenter::new(Format::Cmaf, config, None);
    let mut up = Uploader {
        client,
        target,
        job,
        inits: Vec::new(),
        segments: VecDeque::new(),
        last_msn: None,
        listed: false,
    };
    let name = job.stream.name();
    let mut sub = job.stream.subscribe();
    // a track set with a track still undescribed (an audio track before its
    // first frame): wait for its description rather than cut without it
    let mut undescribed: Option<(Vec<media::Track>, Instant)> = None;
    while let Some(event) = next_event(&mut sub).await {
        if let Some(c) = cutter.as_mut() {
            match &event {
                Event::Tracks(tracks) => c.set_tracks(tracks),
                Event::Skipped { .. } | Event::Offline => c.offline(),
                Event::Frame(_) | Event::Closed => {}
            }
        }
        let changed = match event {
            Event::Tracks(tracks) => {
                if tracks
                    .iter()
                    .any(|t| (t.codec.is_video() || t.codec.is_audio()) && !t.has_config())
                {
                    undescribed = Some((tracks, Instant::now()));
                    seg.offline();
                } else {
                    undescribed = None;
                    set_tracks(&mut seg, &tracks, job);
                }
                true
            }
            Event::Frame(_)
                if undescribed
                    .as_ref()
                    .is_some_and(|(_, since)| since.elapsed() < UNDESCRIBED_WAIT) =>
            {
                false
            }
            Event::Frame(mut frame) => {
                if let Some(c) = cutter.as_mut() {
                    frame.mark = c.push(&frame, SystemTime::now());
                }
                if let Some((tracks, _)) = undescribed.take() {
                    tracing::info!(
                        push = job.name,
                        stream = name,
                        "cutting without the tracks still undescribed"
                    );
                    set_tracks(&mut seg, &tracks, job);
                }
                match seg.push(&frame, SystemTime::now()) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(push = job.name, %e, "CMAF part dropped");
                        seg.skipped();
                        true
                    }
                }
            }
            Event::Skipped { lost } => {
                tracing::debug!(push = job.name, lost, "CMAF push fell behind and skipped ahead");
                seg.skipped();
                true
            }
            Event::Offline => {
                seg.offline();
                true
            }
            Event::Closed => break,
        };
        if changed {
            up.sync(seg.timeline(), false).await?;
        }
    }
    seg.offline();
    up.sync(seg.timeline(), true).await?;
    tracing::info!(
        push = job.name,
        bytes = job.bytes.load(Ordering::Relaxed),
        "CMAF push ended"
    );
    Ok(())
}

fn set_tracks(seg: &mut Segmenter, tracks: &[media::Track], job: &Job) {
    if let Err(e) = seg.set_tracks(tracks) {
        tracing::warn!(push = job.name, %e, "CMAF push cannot package these tracks");
    }
}

/// What has been sent to the receiver.
struct Uploader<'a> {
    client: reqwest::Client,
    target: Target,
    job: &'a Job,
    /// Init segments on the receiver.
    inits: Vec<u64>,
    /// Segments on the receiver, oldest first, with their init segment.
    segments: VecDeque<(u64, u64)>,
    /// The newest segment uploaded.
    last_msn: Option<u64>,
    /// The playlist lists every uploaded segment.
    listed: bool,
}

impl Uploader<'_> {
    /// Uploads what the timeline has that the receiver has not: new init
    /// segments, complete segments, then the playlist (final when `ended`).
    async fn sync(&mut self, tl: &Timeline, ended: bool) -> Result<(), PushError> {
        for (id, init) in &tl.inits {
            if !self.inits.contains(id) {
                self.upload(&format!("init{id}.mp4"), MP4_TYPE, init.clone())
                    .await?;
                self.inits.push(*id);
            }
        }
        for s in &tl.segments {
            if !s.complete || self.last_msn.is_some_and(|m| s.msn <= m) {
                continue;
            }
            let body = concat(&s.data());
            self.upload(&format!("s{}.{}", s.msn, tl.format.extension()), MP4_TYPE, body)
                .await?;
            self.last_msn = Some(s.msn);
            self.segments.push_back((s.msn, s.init));
            self.listed = false;
        }
        if (!self.listed || ended) && tl.last_complete_msn().is_some() {
            let text = playlist(tl, ended);
            self.upload(PLAYLIST, PLAYLIST_TYPE, Bytes::from(text)).await?;
            self.listed = true;
            if self.target.delete {
                self.delete_old(tl).await;
            }
        }
        Ok(())
    }

    /// Removes segments that left the playlist [`DELETE_LAG`] segments ago,
    /// and init segments no remaining segment or the current run uses.
    async fn delete_old(&mut self, tl: &Timeline) {
        let Some(first) = tl.segments.iter().find(|s| s.complete).map(|s| s.msn) else {
            return;
        };
        while let Some(&(msn, _)) = self.segments.front() {
            if msn + DELETE_LAG >= first {
                break;
            }
            self.segments.pop_front();
            self.delete(&format!("s{msn}.{}", tl.format.extension())).await;
        }
        let unused: Vec<u64> = self
            .inits
            .iter()
            .copied()
            .filter(|id| tl.init(*id).is_none() && !self.segments.iter().any(|(_, i)| i == id))
            .collect();
        for id in unused {
            self.inits.retain(|i| *i != id);
            self.delete(&format!("init{id}.mp4")).await;
        }
    }

    async fn delete(&self, name: &str) {
        let url = self.target.url(name);
        if let Err(e) = self.send(Method::DELETE, &url, None).await {
            tracing::warn!(push = self.job.name, %url, e, "DELETE failed");
        }
    }

    /// Uploads `body` as `name`, trying twice; counts its bytes once sent.
    async fn upload(&self, name: &str, content_type: &'static str, body: Bytes) -> Result<(), PushError> {
        let url = self.target.url(name);
        let method = &self.target.method;
        let mut error = String::new();
        for attempt in 0..2 {
            if attempt > 0 {
                tracing::debug!(push = self.job.name, %method, %url, error, "upload failed, trying again");
                tokio::time::sleep(RETRY_DELAY).await;
            }
            match self
                .send(method.clone(), &url, Some((content_type, body.clone())))
                .await
            {
                Ok(()) => {
                    self.job.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                    return Ok(());
                }
                Err(e) => error = e,
            }
        }
        Err(PushError::Failed(format!("{method} {url}: {error}")))
    }

    /// One request; Err with the status or the reason it failed.
    async fn send(
        &self,
        method: Method,
        url: &Url,
        body: Option<(&'static str, Bytes)>,
    ) -> Result<(), String> {
        let timeout = self.target.timeout;
        let mut request = self.client.request(method, url.clone()).timeout(timeout);
        if let Some((content_type, body)) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body);
        }
        let failed = |e: reqwest::Error| {
            if e.is_timeout() {
                format!("no response within {timeout:?}")
            } else {
                chain(&e)
            }
        };
        let response = request.send().await.map_err(failed)?;
        let status = response.status();
        // read the body so the connection can be used again
        let _ = response.bytes().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(status_text(status))
        }
    }
}

fn status_text(status: StatusCode) -> String {
    format!("HTTP {status}")
}

/// The bytes of `data` in one buffer.
fn concat(data: &Chunks) -> Bytes {
    if let [one] = data.chunks.as_slice() {
        return one.clone();
    }
    let mut out = BytesMut::with_capacity(usize::try_from(data.len).unwrap_or(0));
    for c in &data.chunks {
        out.extend_from_slice(c);
    }
    out.freeze()
}

/// A live media playlist of the timeline's complete segments (no parts),
/// ended with `EXT-X-ENDLIST` when `ended`.
pub fn playlist(tl: &Timeline, ended: bool) -> String {
    let ext = tl.format.extension();
    let complete = || tl.segments.iter().filter(|s| s.complete && !s.parts.is_empty());
    // every EXTINF rounded must be at most the target duration
    let longest = complete().map(|s| s.duration.round() as u64).max().unwrap_or(0);
    let target = tl.target_duration.max(longest).max(1);
    let first = complete().next().map_or(tl.next_msn, |s| s.msn);
    let mut out = String::with_capacity(192 + tl.segments.len() * 96);
    out.push_str("#EXTM3U\n#EXT-X-VERSION:7\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{first}");
    let _ = writeln!(out, "#EXT-X-DISCONTINUITY-SEQUENCE:{}", tl.discontinuity_sequence);
    let mut map = None;
    for (i, s) in complete().enumerate() {
        if s.discontinuity && i > 0 {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if tl.format == Format::Cmaf && map != Some(s.init) {
            let _ = writeln!(out, "#EXT-X-MAP:URI=\"init{}.mp4\"", s.init);
            map = Some(s.init);
        }
        let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", date_time(s.program_date_time));
        let _ = writeln!(out, "#EXTINF:{:.5},\ns{}.{ext}", s.duration, s.msn);
    }
    if ended {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out
}

/// An error and its sources, `: `-separated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_options() {
        let t = Target::parse("http://cdn.example:8080/live/$stream", "cam").unwrap();
        assert_eq!(t.base.as_str(), "http://cdn.example:8080/live/cam/");
        assert_eq!(t.method, Method::PUT);
        assert_eq!(t.timeout, DEFAULT_TIMEOUT);
        assert_eq!(t.segment, DEFAULT_SEGMENT);
        assert!(!t.delete);
        assert_eq!(
            t.url("s5.m4s").as_str(),
            "http://cdn.example:8080/live/cam/s5.m4s"
        );

        let t = Target::parse(
            "https://cdn.example/in/?method=post&timeout=1.5&token=a%20b&segment=4&window=60&delete=1",
            "cam",
        )
        .unwrap();
        assert_eq!(t.method, Method::POST);
        assert_eq!(t.timeout, Duration::from_millis(1500));
        assert_eq!(t.segment, Duration::from_secs(4));
        assert_eq!(t.window, Duration::from_secs(60));
        assert!(t.delete);
        assert_eq!(
            t.url(PLAYLIST).as_str(),
            "https://cdn.example/in/index.m3u8?token=a+b"
        );

        for bad in [
            "ftp://cdn.example/x/",
            "http://:8080/x/",
            "http://cdn.example/?method=GET",
            "http://cdn.example/?timeout=0",
            "http://cdn.example/?segment=1.5",
            "http://cdn.example/?delete=maybe",
            "not a url",
        ] {
            assert!(
                matches!(Target::parse(bad, "cam"), Err(PushError::BadTarget(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn playlist_lists_complete_segments_and_ends() {
        let mut seg = Segmenter::new(Format::Cmaf, segmenter::Config::default(), None);
        // numbering from MSN 100
        let mut cutter = Cutter::new(
            CutConfig::default(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(100),
        );
        let mut video = media::Track::new(1, media::Codec::H264, 90_000);
        // avcC of a 64x64 High profile stream
        video.init = Bytes::from_static(&[
            1, 0x64, 0, 0x0a, 0xff, 0xe1, 0, 0x19, 0x67, 0x64, 0, 0x0a, 0xac, 0xd9, 0x44, 0x26, 0xc0, 0x44,
            0, 0, 3, 0, 4, 0, 0, 3, 0, 0xc8, 0x3c, 0x48, 0x96, 0x58, 1, 0, 6, 0x68, 0xeb, 0xe3, 0xcb, 0x22,
            0xc0,
        ]);
        cutter.set_tracks(std::slice::from_ref(&video));
        seg.set_tracks(&[video]).unwrap();
        let t0 = SystemTime::UNIX_EPOCH;
        for i in 0..130i64 {
            let ts = media::Timestamp::new(i * 3600, 90_000);
            let mut frame = media::Frame::new(1, ts, ts, i % 25 == 0, vec![0, 0, 0, 2, 0x65, i as u8]);
            frame.mark = cutter.push(&frame, t0);
            seg.push(&frame, t0 + Duration::from_millis(i as u64 * 40))
                .unwrap();
        }
        let text = playlist(seg.timeline(), false);
        assert!(text.starts_with("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n"));
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:100\n"));
        assert!(text.contains("#EXT-X-MAP:URI=\"init"));
        assert!(text.contains("#EXTINF:2.00000,\ns100.m4s\n"));
        assert!(text.contains("s101.m4s\n"));
        assert!(
            !text.contains("s102.m4s"),
            "the open segment is not listed: {text}"
        );
        assert!(!text.contains("#EXT-X-PART"));
        assert!(!text.contains("ENDLIST"));
        seg.offline();
        let text = playlist(seg.timeline(), true);
        assert!(text.contains("s102.m4s\n#EXT-X-ENDLIST\n"), "{text}");
    }
}
