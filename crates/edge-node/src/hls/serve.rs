//! HTTP answers of the HLS outputs.
//!
//! | file (relative to `/cmaf/NAME/` or `/hls/NAME/`) | answer |
//! |---|---|
//! | `index.m3u8` | media playlist; multivariant when the stream has several video tracks |
//! | `v{TRACK}/index.m3u8` and files below it | the variant of that video track |
//! | `init{ID}.mp4` | CMAF init segment |
//! | `s{MSN}.m4s`, `s{MSN}.ts` | segment; the one being written is answered when complete |
//! | `p{N}.m4s`, `p{N}.ts` | part; the next one (the preload hint) is answered when complete |
//!
//! Playlists take `_HLS_msn`, `_HLS_part` and `_HLS_skip` (RFC 8216bis
//! §6.2.5). Bad directives get 400; waits are bounded by three target
//! durations, then 503 with `Retry-After`. Parts, segments and init
//! segments are immutable and cacheable; playlists are not.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hub::{LiveStream, State};
use media::hls::request::Directives;
use tokio::time::Instant;

use super::playlist::{self, Variant};
use super::segmenter::{Chunks, Format, Timeline};
use super::{Hls, Packager};

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const IMMUTABLE: &str = "public, max-age=86400, immutable";

/// Answers `GET /{cmaf,hls}/NAME/FILE?QUERY`.
pub async fn serve(hls: Arc<Hls>, format: Format, name: &str, file: &str, query: Option<&str>) -> Response {
    let Some(stream) = hls.hub.get(name) else {
        return text(StatusCode::NOT_FOUND, "no such stream");
    };
    let (video, file) = match file.split_once('/') {
        Some((v, rest)) => match v.strip_prefix('v').and_then(|n| n.parse::<u32>().ok()) {
            Some(id) => (Some(id), rest),
            None => return text(StatusCode::NOT_FOUND, "no such file"),
        },
        None => (None, file),
    };
    let Some(request) = Request::parse(format, file) else {
        return text(StatusCode::NOT_FOUND, "no such file");
    };
    let directives = match query.map(Directives::parse).transpose() {
        Ok(d) => d.unwrap_or_default(),
        Err(e) => return text(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if !has_media(&hls, &stream) && !stream.wait_live(hls.config.start_wait).await {
        return unavailable("stream is not live yet");
    }
    if request == Request::Playlist && video.is_none() {
        let videos: Vec<media::Track> = stream
            .tracks()
            .into_iter()
            .filter(|t| t.codec.is_video() && t.has_config())
            .collect();
        if videos.len() > 1 {
            return multivariant(&stream, &videos);
        }
    }
    let packager = hls.packager(&stream, format, video);
    let target = stream.cut_config().target_duration.max(Duration::from_secs(1));
    let deadline = Instant::now() + 3 * target;
    // the first part of a new packager
    if !packager.ready() {
        let Some(_slot) = hls.wait_slot() else {
            return unavailable("too many waiting requests");
        };
        if !packager.wait_ready(deadline).await {
            return unavailable("no media yet");
        }
    }
    match request {
        Request::Playlist => playlist(&hls, &packager, directives, deadline).await,
        Request::Init(id) => match packager.with(|t| t.init(id).cloned()) {
            Some(b) => media(
                format,
                true,
                Chunks {
                    len: b.len() as u64,
                    chunks: vec![b],
                },
            ),
            None => text(StatusCode::NOT_FOUND, "no such init segment"),
        },
        Request::Segment(msn) => {
            let ready = |t: &Timeline| t.segment(msn).is_some_and(|s| s.complete);
            let future = packager.with(|t| {
                let open = t.segments.back().filter(|s| !s.complete).map(|s| s.msn);
                msn == t.next_msn || Some(msn) == open
            });
            if future && !packager.with(ready) {
                let Some(_slot) = hls.wait_slot() else {
                    return unavailable("too many waiting requests");
                };
                if !packager.wait_until(deadline, ready).await {
                    return unavailable("segment not complete in time");
                }
            }
            match packager.with(|t| t.segment(msn).filter(|s| s.complete).map(|s| s.data())) {
                Some(data) => media(format, false, data),
                None => text(StatusCode::NOT_FOUND, "no such segment"),
            }
        }
        Request::Part(seq) => {
            let ready = |t: &Timeline| t.part(seq).is_some();
            // the hinted part and the one after it may be waited for
            let soon = packager.with(|t| seq >= t.next_part && seq <= t.next_part + 1);
            if soon && !packager.with(ready) {
                let Some(_slot) = hls.wait_slot() else {
                    return unavailable("too many waiting requests");
                };
                if !packager.wait_until(deadline, ready).await {
                    return unavailable("part not complete in time");
                }
            }
            match packager.with(|t| t.part(seq).map(|p| p.data.clone())) {
                Some(data) => media(format, false, data),
                None => text(StatusCode::NOT_FOUND, "no such part"),
            }
        }
    }
}

async fn playlist(hls: &Arc<Hls>, packager: &Packager, d: Directives, deadline: Instant) -> Response {
    if let Some(msn) = d.msn {
        // §6.2.5.2: more than two past the last segment is a client error
        let last = packager.with(|t| t.next_msn.saturating_sub(1));
        if msn > last + 2 {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("_HLS_msn={msn} is more than two segments past the last ({last})"),
            );
        }
        if !packager.with(|t| t.has(msn, d.part)) {
            let Some(_slot) = hls.wait_slot() else {
                return unavailable("too many waiting requests");
            };
            if !packager.wait_until(deadline, |t| t.has(msn, d.part)).await {
                return unavailable("the requested segment or part did not come in time");
            }
        }
    }
    let body = packager.with(|t| playlist::media(t, d.skip));
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PLAYLIST_TYPE));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn multivariant(stream: &LiveStream, videos: &[media::Track]) -> Response {
    let tracks = stream.tracks();
    let rates = stream.track_bitrates();
    let audio = super::segmenter::select_tracks(&tracks, None)
        .into_iter()
        .find(|t| t.codec.is_audio());
    let variants: Vec<Variant> = videos
        .iter()
        .map(|v| {
            let mut with_audio = vec![v];
            with_audio.extend(audio.iter());
            let bandwidth = with_audio
                .iter()
                .map(|t| rates.get(&t.id).copied().unwrap_or(1_000_000))
                .sum::<u64>()
                * 11
                / 10;
            let codecs: Option<Vec<String>> = with_audio.iter().map(|t| playlist::codec_string(t)).collect();
            Variant {
                uri: format!("v{}/index.m3u8", v.id),
                bandwidth,
                resolution: v.video.as_ref().map(|i| (i.width, i.height)),
                codecs: codecs.map(|c| c.join(",")),
            }
        })
        .collect();
    let mut r = playlist::multivariant(&variants).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PLAYLIST_TYPE));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// True when a packager of the stream has media: it keeps serving it while the source is away.
fn has_media(hls: &Hls, stream: &LiveStream) -> bool {
    stream.state() != State::Live
        && hls
            .packagers
            .lock()
            .iter()
            .any(|((n, _, _), p)| n == stream.name() && p.with(|t| !t.segments.is_empty()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    Playlist,
    Init(u64),
    Segment(u64),
    Part(u64),
}

impl Request {
    fn parse(format: Format, file: &str) -> Option<Self> {
        if file == "index.m3u8" {
            return Some(Self::Playlist);
        }
        let number = |s: &str| {
            (!s.is_empty() && s.len() <= 20)
                .then(|| s.parse::<u64>().ok())
                .flatten()
        };
        if format == Format::Cmaf
            && let Some(id) = file.strip_prefix("init").and_then(|r| r.strip_suffix(".mp4"))
        {
            return number(id).map(Self::Init);
        }
        let stem = file.strip_suffix(format.extension())?.strip_suffix('.')?;
        if let Some(n) = stem.strip_prefix('s') {
            return number(n).map(Self::Segment);
        }
        stem.strip_prefix('p').and_then(number).map(Self::Part)
    }
}

fn media(format: Format, init: bool, data: Chunks) -> Response {
    let mut r = Response::new(Body::new(ChunksBody {
        remaining: data.len,
        chunks: data.chunks.into_iter(),
    }));
    let h = r.headers_mut();
    let kind = match (format, init) {
        (Format::Ts, false) => "video/mp2t",
        _ => "video/mp4",
    };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    r
}

fn text(status: StatusCode, reason: &str) -> Response {
    let mut r = (status, format!("{reason}\n")).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn unavailable(reason: &str) -> Response {
    let mut r = text(StatusCode::SERVICE_UNAVAILABLE, reason);
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// A response body sending shared chunks, with an exact length.
struct ChunksBody {
    chunks: std::vec::IntoIter<Bytes>,
    remaining: u64,
}

impl http_body::Body for ChunksBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let Some(chunk) = self.chunks.next() else {
            return Poll::Ready(None);
        };
        self.remaining -= chunk.len() as u64;
        Poll::Ready(Some(Ok(http_body::Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_parsed() {
        assert_eq!(
            Request::parse(Format::Cmaf, "index.m3u8"),
            Some(Request::Playlist)
        );
        assert_eq!(
            Request::parse(Format::Cmaf, "init17.mp4"),
            Some(Request::Init(17))
        );
        assert_eq!(Request::parse(Format::Cmaf, "s5.m4s"), Some(Request::Segment(5)));
        assert_eq!(Request::parse(Format::Cmaf, "p123.m4s"), Some(Request::Part(123)));
        assert_eq!(Request::parse(Format::Ts, "s5.ts"), Some(Request::Segment(5)));
        assert_eq!(Request::parse(Format::Ts, "p9.ts"), Some(Request::Part(9)));
        for bad in [
            "s5.ts",
            "init.mp4",
            "s.m4s",
            "p-1.m4s",
            "s99999999999999999999999.m4s",
            "x.m4s",
            "index.m3u",
        ] {
            assert_eq!(Request::parse(Format::Cmaf, bad), None, "{bad}");
        }
        assert_eq!(Request::parse(Format::Ts, "init1.mp4"), None);
    }
}
