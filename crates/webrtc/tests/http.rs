//! The WHEP/WHIP HTTP face and session lifetimes, without a browser: offers
//! made by a str0m client, bad offers, unknown sessions, and sessions whose
//! ICE never completes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use hub::Hub;
use media::sample;
use str0m::media::{Direction, MediaKind};
use str0m::{Rtc, RtcConfig};
use tower::ServiceExt;
use webrtc::server::{Config, Server};

/// An SDP offer from a str0m client: `kinds` with `direction`, codecs as
/// given, and always VP9 (which the server does not take).
fn offer(kinds: &[MediaKind], direction: Direction, h264: bool, opus: bool) -> String {
    offer_with(kinds, direction, h264, false, opus)
}

/// [`offer`] with VP8 as the only video codec the server takes.
fn vp8_offer(kinds: &[MediaKind], direction: Direction) -> String {
    offer_with(kinds, direction, false, true, true)
}

fn offer_with(kinds: &[MediaKind], direction: Direction, h264: bool, vp8: bool, opus: bool) -> String {
    let mut config = RtcConfig::new()
        .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
        .clear_codecs()
        .enable_vp9(true)
        .enable_vp8(vp8);
    if h264 {
        config = config.enable_h264(true);
    }
    config = config.enable_opus(opus, false);
    if !opus {
        config = config.enable_pcmu(true, false);
    }
    let mut client: Rtc = config.build(Instant::now());
    let mut change = client.sdp_api();
    for kind in kinds {
        change.add_media(*kind, direction, None, None, None);
    }
    let (offer, _pending) = change.apply().expect("an offer");
    offer.to_sdp_string()
}

async fn server(connect_timeout: Duration) -> (Arc<Server>, Arc<Hub>) {
    let hub = Arc::new(Hub::default());
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        connect_timeout,
        ..Config::default()
    };
    let admit: webrtc::server::Admit = Arc::new(|name, _, key| match (name, key) {
        ("open", _) => Ok(()),
        ("keyed", Some("s3cret")) => Ok(()),
        _ => Err("wrong key".into()),
    });
    let server = Server::bind(config, hub.clone(), admit).await.unwrap();
    (server, hub)
}

fn live(hub: &Hub, name: &str) -> hub::Publisher {
    let p = hub.stream(name).publish().unwrap();
    p.set_tracks(vec![sample::h264_track(1)]);
    p.push(sample::h264_frame(1, 0, true, 100));
    p
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    content_type: Option<&str>,
    body: String,
) -> (StatusCode, String, Option<String>) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let location = resp
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned(), location)
}

const SDP: Option<&str> = Some("application/sdp");

#[tokio::test]
async fn offers_are_answered_or_refused_with_a_reason() {
    let (server, hub) = server(Duration::from_secs(15)).await;
    let _publisher = live(&hub, "cam");
    let app = webrtc::http::router(server.clone());
    let good = offer(
        &[MediaKind::Video, MediaKind::Audio],
        Direction::RecvOnly,
        true,
        true,
    );

    let (status, answer, location) = call(&app, "POST", "/whep/cam", SDP, good.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert!(answer.starts_with("v=0"), "{answer}");
    assert!(answer.contains("a=ice-lite"), "the server is ICE-lite");
    assert!(answer.contains("H264"), "{answer}");
    let candidate = format!(
        " {} {} typ host",
        server.candidates()[0].ip(),
        server.candidates()[0].port()
    );
    assert!(
        answer.contains(&candidate),
        "host candidate {candidate} in {answer}"
    );
    let location = location.expect("Location");
    assert!(location.starts_with("/whep/cam/"), "{location}");
    let (status, body, _) = call(&app, "GET", &location, None, String::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"state\":\"new\""), "{body}");
    let (status, ..) = call(
        &app,
        "PATCH",
        &location,
        Some("application/trickle-ice-sdpfrag"),
        "a=end-of-candidates\r\n".into(),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, ..) = call(&app, "DELETE", &location, None, String::new()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, ..) = call(&app, "DELETE", &location, None, String::new()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a session ends once");

    let cases = [
        (
            "/whep/cam",
            Some("text/plain"),
            good.clone(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/sdp",
        ),
        (
            "/whep/cam",
            SDP,
            "not an sdp".to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid SDP",
        ),
        (
            "/whep/cam",
            SDP,
            "v=0\r\n".repeat(20_000),
            StatusCode::PAYLOAD_TOO_LARGE,
            "64 KiB",
        ),
        (
            "/whep/nope",
            SDP,
            good.clone(),
            StatusCode::NOT_FOUND,
            "no stream",
        ),
        (
            "/whep/cam",
            SDP,
            offer(
                &[MediaKind::Video, MediaKind::Audio],
                Direction::RecvOnly,
                false,
                false,
            ),
            StatusCode::BAD_REQUEST,
            "no common codec",
        ),
        (
            "/whip/keyed",
            SDP,
            offer(&[MediaKind::Video], Direction::SendOnly, true, true),
            StatusCode::FORBIDDEN,
            "wrong key",
        ),
        (
            "/whip/open",
            SDP,
            offer(&[MediaKind::Video], Direction::SendOnly, false, false),
            StatusCode::BAD_REQUEST,
            "no common codec: the offer must send H.264 or VP8 video or Opus audio",
        ),
    ];
    for (uri, ct, body, want, says) in cases {
        let (status, text, location) = call(&app, "POST", uri, ct, body).await;
        assert_eq!(status, want, "{uri}: {text}");
        assert!(text.contains(says), "{uri}: {text}");
        assert!(location.is_none());
    }
    assert!(server.session(1).is_none());
    assert_eq!(
        server.stats.sessions.load(std::sync::atomic::Ordering::Relaxed),
        0
    );

    // A publisher takes the stream; a second one is refused.
    let publish = offer(
        &[MediaKind::Video, MediaKind::Audio],
        Direction::SendOnly,
        true,
        true,
    );
    let (status, _, location) = call(&app, "POST", "/whip/open", SDP, publish.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, text, _) = call(&app, "POST", "/whip/open", SDP, publish).await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    let (status, ..) = call(&app, "DELETE", &location.unwrap(), None, String::new()).await;
    assert_eq!(status, StatusCode::OK);

    // VP8 alone is taken for publishing and for playing (an H.264 stream's
    // viewer without H.264 is answered; its note says what is not sent).
    let (status, answer, location) = call(
        &app,
        "POST",
        "/whip/open",
        SDP,
        vp8_offer(&[MediaKind::Video], Direction::SendOnly),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert!(
        answer.contains("VP8/90000") && !answer.contains("VP9"),
        "{answer}"
    );
    let (status, ..) = call(&app, "DELETE", &location.unwrap(), None, String::new()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer, _) = call(
        &app,
        "POST",
        "/whep/cam",
        SDP,
        vp8_offer(&[MediaKind::Video], Direction::RecvOnly),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert!(answer.contains("VP8/90000"), "{answer}");

    // Offering both, H.264 comes first in the answer, so a publisher sends it.
    let both = offer_with(&[MediaKind::Video], Direction::SendOnly, true, true, false);
    let (status, answer, _) = call(&app, "POST", "/whip/open", SDP, both).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let h264 = answer.find("H264/90000").expect("H.264 answered");
    let vp8 = answer.find("VP8/90000").expect("VP8 answered");
    assert!(h264 < vp8, "{answer}");
}

#[tokio::test]
async fn floods_of_requests_for_unknown_sessions_get_404_and_change_nothing() {
    let (server, hub) = server(Duration::from_secs(15)).await;
    let _publisher = live(&hub, "cam");
    let app = webrtc::http::router(server.clone());
    for i in 0..500 {
        for (method, uri) in [
            ("DELETE", format!("/whep/cam/{i}")),
            ("PATCH", format!("/whep/cam/{i}")),
            ("DELETE", format!("/whip/cam/x{i}")),
            ("GET", format!("/whep/other/{i}")),
        ] {
            let (status, ..) = call(&app, method, &uri, SDP, String::new()).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}");
        }
    }
    // Still answering offers.
    let good = offer(&[MediaKind::Video], Direction::RecvOnly, true, true);
    let (status, ..) = call(&app, "POST", "/whep/cam", SDP, good).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_session_whose_ice_never_completes_is_released() {
    let (server, hub) = server(Duration::from_millis(800)).await;
    let _publisher = live(&hub, "cam");
    let app = webrtc::http::router(server.clone());
    let mut ids = Vec::new();
    for _ in 0..5 {
        let good = offer(&[MediaKind::Video], Direction::RecvOnly, true, true);
        let (status, _, location) = call(&app, "POST", "/whep/cam", SDP, good).await;
        assert_eq!(status, StatusCode::CREATED);
        ids.push(
            location
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap(),
        );
    }
    let whip = offer(&[MediaKind::Video], Direction::SendOnly, true, true);
    let (status, ..) = call(&app, "POST", "/whip/open", SDP, whip).await;
    assert_eq!(status, StatusCode::CREATED);
    for id in &ids {
        assert!(server.session(*id).is_some(), "session {id} exists");
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for id in ids {
        assert!(server.session(id).is_none(), "session {id} released");
    }
    assert_eq!(
        server.stats.sessions.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    // The publisher's claim on the stream went with its session.
    assert!(hub.stream("open").publish().is_ok(), "the stream is free again");
}

#[tokio::test]
async fn garbage_datagrams_are_counted_and_ignored() {
    let (server, hub) = server(Duration::from_secs(15)).await;
    let _publisher = live(&hub, "cam");
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..200u32 {
        let junk: Vec<u8> = (0..(i % 90 + 1)).map(|b| (b * 7 + i) as u8).collect();
        socket.send_to(&junk, server.candidates()[0]).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stray = server
        .stats
        .stray_datagrams
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(stray >= 190, "{stray} stray datagrams counted");
    let app = webrtc::http::router(server.clone());
    let good = offer(&[MediaKind::Video], Direction::RecvOnly, true, true);
    let (status, ..) = call(&app, "POST", "/whep/cam", SDP, good).await;
    assert_eq!(status, StatusCode::CREATED, "still serving");
}

#[tokio::test]
async fn a_dropped_server_stops_its_loops_and_frees_its_port() {
    let (server, _hub) = server(Duration::from_secs(5)).await;
    let port = server.candidates()[0];
    assert!(
        std::net::UdpSocket::bind(port).is_err(),
        "the port is held while the server lives"
    );
    drop(server);
    // Every loop holds a handle of the socket: the port is free once all
    // have stopped.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::UdpSocket::bind(port).is_err() {
        assert!(
            Instant::now() < deadline,
            "port {port} still held 5 s after the server was dropped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
