//! The media outputs of the HTTP port.
//!
//! | path | what |
//! |---|---|
//! | `GET /NAME.ts` | endless MPEG-TS from the live edge, starting on a keyframe |
//! | `GET /NAME.mp4` | endless fragmented MP4; upgraded to a WebSocket, WS/MP4 (see [`crate::mp4_out`]) |
//! | `GET /cmaf/NAME/index.m3u8` | LL-HLS with fMP4 (CMAF) parts, see [`crate::hls`] |
//! | `GET /hls/NAME/index.m3u8` | LL-HLS with MPEG-TS parts |
//!
//! Unknown streams get 404. A stream that exists but is not live is asked
//! to start (on-demand inputs) and the request waits up to
//! [`hls::Config::start_wait`] for it; then 503 with `Retry-After`. Every
//! answer allows any origin (CORS), and `HEAD` works wherever `GET` does.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hub::Hub;
use tower_http::cors::{Any, CorsLayer};

use crate::hls::{self, Format, Hls};

#[derive(Clone)]
struct Edge {
    hub: Arc<Hub>,
    hls: Arc<Hls>,
}

/// The outputs' router with default HLS settings; merge it into the node's HTTP router.
pub fn router(hub: Arc<Hub>) -> Router {
    router_with(hub, hls::Config::default())
}

/// The outputs' router.
pub fn router_with(hub: Arc<Hub>, config: hls::Config) -> Router {
    let hls = Hls::new(hub.clone(), config);
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
        .allow_headers(Any)
        .expose_headers(Any);
    Router::new()
        .route("/cmaf/{name}/{*file}", get(cmaf))
        .route("/hls/{name}/{*file}", get(ts_hls))
        .route("/{file}", get(media_file))
        .layer(cors)
        .with_state(Edge { hub, hls })
}

async fn cmaf(
    State(e): State<Edge>,
    Path((name, file)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    hls::serve(e.hls, Format::Cmaf, &name, &file, q.as_deref()).await
}

async fn ts_hls(
    State(e): State<Edge>,
    Path((name, file)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    hls::serve(e.hls, Format::Ts, &name, &file, q.as_deref()).await
}

async fn media_file(
    State(e): State<Edge>,
    Path(file): Path<String>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some((name, ext)) = file.rsplit_once('.') else {
        return not_found();
    };
    let Some(stream) = e.hub.get(name) else {
        return not_found();
    };
    match ext {
        "ts" => {
            if !stream.wait_live(e.hls.config().start_wait).await {
                return offline();
            }
            let body = Body::from_stream(crate::ts_out::stream(stream.subscribe()));
            let mut r = body.into_response();
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp2t"));
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache, no-store"),
            );
            r
        }
        "mp4" => {
            if !stream.wait_live(e.hls.config().start_wait).await {
                return offline();
            }
            crate::mp4_out::handle(stream, ws.ok()).await
        }
        _ => not_found(),
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such stream\n").into_response()
}

fn offline() -> Response {
    let mut r = (StatusCode::SERVICE_UNAVAILABLE, "stream is not live yet\n").into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    r
}

#[cfg(test)]
mod tests {
    use axum::http::Request;
    use http_body_util::BodyExt;
    use media::{Codec, Frame, Timestamp, Track};
    use tower::ServiceExt;

    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn unknown_stream_is_404_and_offline_is_503() {
        let hub = Arc::new(Hub::default());
        hub.stream("idle");
        let config = hls::Config {
            start_wait: Duration::from_millis(200),
            ..hls::Config::default()
        };
        let app = router_with(hub, config);
        let r = app
            .clone()
            .oneshot(Request::get("/nope.ts").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = app
            .oneshot(Request::get("/idle.ts").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
    }

    #[tokio::test]
    async fn live_stream_is_served_as_ts_from_a_keyframe() {
        let hub = Arc::new(Hub::default());
        let stream = hub.stream("cam");
        let publisher = stream.publish().unwrap();
        let mut track = Track::new(1, Codec::Aac, 48_000);
        track.init = media::aac::AudioSpecificConfig {
            object_type: 2,
            sample_rate: 48_000,
            channels: 2,
        }
        .encode();
        publisher.set_tracks(vec![track]);
        for i in 0..3 {
            let t = Timestamp::new(i * 1024, 48_000);
            publisher.push(Frame::new(1, t, t, true, vec![0x21; 100]));
        }
        let r = router(hub)
            .oneshot(Request::get("/cam.ts").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "video/mp2t");
        let mut body = r.into_body();
        let mut got = Vec::new();
        while got.len() < 188 * 3 {
            let frame = tokio::time::timeout(std::time::Duration::from_secs(2), body.frame())
                .await
                .expect("data within 2 s")
                .expect("body continues")
                .expect("no body error");
            got.extend_from_slice(frame.data_ref().expect("data frame"));
        }
        assert_eq!(got[0], 0x47);
        let mut demux = media::ts::Demuxer::new();
        demux.feed(&got[..got.len() - got.len() % 188]);
        demux.finish();
        let mut frames = 0;
        while let Some(e) = demux.poll_event() {
            if let media::ts::Event::Frame(f) = e {
                assert_eq!(f.data.len(), 100);
                frames += 1;
            }
        }
        assert!(frames >= 1, "demuxed {frames} frames from our output");
    }
}
