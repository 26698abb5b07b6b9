//! The HLS outputs in one process: blocking requests answered the moment
//! their part is complete, bounded waits, refusals of bad directives.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use edge_node::hls;
use http_body_util::BodyExt;
use hub::{Hub, Publisher};
use media::{Frame, Track};
use parking_lot::Mutex;
use tower::ServiceExt;

fn tracks() -> Vec<Track> {
    vec![media::sample::h264_track(1), media::sample::aac_track(2)]
}

/// Video frame `i` at 25 fps, a keyframe every second.
fn video(i: i64) -> Frame {
    media::sample::h264_frame(1, i, i % 25 == 0, 500)
}

/// A hub cutting its streams into 1 s segments.
fn hub() -> Arc<Hub> {
    let cuts = media::hls::cutter::CutConfig {
        target_duration: Duration::from_secs(1),
        ..Default::default()
    };
    Arc::new(Hub::with_cuts(Default::default(), cuts))
}

fn config() -> hls::Config {
    hls::Config {
        start_wait: Duration::from_millis(300),
        ..hls::Config::default()
    }
}

struct Live {
    app: axum::Router,
    publisher: Arc<Publisher>,
    /// When each video frame was pushed, by index.
    pushed: Arc<Mutex<Vec<Instant>>>,
}

/// A stream with 2 s of frames already in, and a task pushing more in real time until `frames`.
async fn live(frames: i64) -> Live {
    let hub = hub();
    let stream = hub.stream("cam");
    let publisher = Arc::new(stream.publish().unwrap());
    publisher.set_tracks(tracks());
    let pushed = Arc::new(Mutex::new(Vec::new()));
    for i in 0..50 {
        publisher.push(video(i));
        pushed.lock().push(Instant::now());
    }
    let (p, log) = (publisher.clone(), pushed.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(40));
        for i in 50..frames {
            tick.tick().await;
            p.push(video(i));
            log.lock().push(Instant::now());
        }
    });
    Live {
        app: edge_node::http::router_with(hub, config()),
        publisher,
        pushed,
    }
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, bytes::Bytes, Instant) {
    let r = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = r.status();
    let body = r.into_body().collect().await.unwrap().to_bytes();
    (status, body, Instant::now())
}

fn attr<'a>(playlist: &'a str, tag: &str) -> Vec<&'a str> {
    playlist
        .lines()
        .filter_map(|l| l.strip_prefix(tag))
        .filter_map(|rest| rest.split("URI=\"").nth(1))
        .filter_map(|u| u.split('"').next())
        .collect()
}

/// The video dts (90 kHz ticks) of the frames in a CMAF part, read with its init segment.
fn part_video_dts(init: &[u8], part: &[u8]) -> Vec<i64> {
    let mut file = init.to_vec();
    file.extend_from_slice(part);
    let got = media::mp4::read_all(&file).expect("init + part parse");
    got.frames
        .iter()
        .filter(|f| f.track == 1)
        .map(|f| f.dts.ticks())
        .collect()
}

#[tokio::test]
async fn the_hinted_part_and_the_blocking_reload_answer_within_50_ms_of_the_last_frame() {
    let live = live(400).await;
    let (status, body, _) = get(&live.app, "/cmaf/cam/index.m3u8").await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(body.to_vec()).unwrap();
    let init_uri = attr(&text, "#EXT-X-MAP:")[0].to_owned();
    let (_, init, _) = get(&live.app, &format!("/cmaf/cam/{init_uri}")).await;
    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        let (_, body, _) = get(&live.app, "/cmaf/cam/index.m3u8").await;
        let text = String::from_utf8(body.to_vec()).unwrap();
        let hint = attr(&text, "#EXT-X-PRELOAD-HINT:")[0].to_owned();
        // the next part: block on it as a player does
        let (status, part, done) = get(&live.app, &format!("/cmaf/cam/{hint}")).await;
        assert_eq!(status, StatusCode::OK, "{hint}");
        let dts = part_video_dts(&init, &part);
        let last = *dts.last().expect("video in the part");
        let index = usize::try_from(last / 3600).unwrap();
        let pushed_at = live.pushed.lock()[index];
        let waited = done.duration_since(pushed_at);
        worst = worst.max(waited);
        assert!(
            waited < Duration::from_millis(50),
            "part answered {waited:?} after its last frame was pushed"
        );
        // and no later frame made it in: the answer did not wait for the next one
        assert!(live.pushed.lock().len() <= index + 2);
    }
    // a blocking playlist reload for the next part
    for _ in 0..5 {
        let (_, body, _) = get(&live.app, "/cmaf/cam/index.m3u8").await;
        let text = String::from_utf8(body.to_vec()).unwrap();
        let summary = testkit::hls::check_media(&text).expect("valid playlist");
        let last = summary.segments.last().unwrap();
        let (msn, part) = if last.uri.is_none() {
            (last.msn, last.parts.len())
        } else {
            (last.msn + 1, 0)
        };
        let before = live.pushed.lock().len();
        let (status, body, done) = get(
            &live.app,
            &format!("/cmaf/cam/index.m3u8?_HLS_msn={msn}&_HLS_part={part}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let pushed = live.pushed.lock().clone();
        assert!(pushed.len() > before, "the reload blocked until new frames");
        let waited = done.duration_since(*pushed.last().unwrap());
        worst = worst.max(waited);
        assert!(
            waited < Duration::from_millis(50),
            "reload answered {waited:?} after the last frame"
        );
        let next = testkit::hls::check_media(std::str::from_utf8(&body).unwrap()).expect("valid playlist");
        let has = next
            .segments
            .iter()
            .any(|s| s.msn > msn || (s.msn == msn && s.parts.len() > part));
        assert!(has, "the reload holds segment {msn} part {part}");
    }
    println!("worst answer after the completing frame: {worst:?}");
    drop(live.publisher);
}

#[tokio::test]
async fn bad_directives_are_400_and_far_parts_404() {
    let live = live(200).await;
    let (status, _, _) = get(&live.app, "/hls/cam/index.m3u8").await;
    assert_eq!(status, StatusCode::OK);
    for q in [
        "_HLS_msn=-1",
        "_HLS_msn=18446744073709551616",
        "_HLS_part=1",
        "_HLS_msn=1&_HLS_part=x",
        "_HLS_skip=maybe",
        "_HLS_msn=99999999999999",
    ] {
        let t = Instant::now();
        let (status, body, _) = get(&live.app, &format!("/hls/cam/index.m3u8?{q}")).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{q}: {}",
            String::from_utf8_lossy(&body)
        );
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "{q} was refused at once"
        );
    }
    let (_, body, _) = get(&live.app, "/hls/cam/index.m3u8").await;
    let text = String::from_utf8(body.to_vec()).unwrap();
    let hint = attr(&text, "#EXT-X-PRELOAD-HINT:")[0];
    let n: u64 = hint
        .trim_start_matches('p')
        .trim_end_matches(".ts")
        .parse()
        .unwrap();
    for uri in [
        format!("/hls/cam/p{}.ts", n + 1000),
        "/hls/cam/s1.ts".to_owned(),
        "/hls/cam/p1.ts".to_owned(),
        "/hls/cam/init1.mp4".to_owned(),
        "/hls/cam/index.m3u".to_owned(),
        "/hls/nope/index.m3u8".to_owned(),
        "/cmaf/cam/v9x/index.m3u8".to_owned(),
    ] {
        let t = Instant::now();
        let (status, _, _) = get(&live.app, &uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "{uri} was answered at once"
        );
    }
}

#[tokio::test]
async fn waits_for_parts_that_never_come_are_bounded_and_many_waiters_are_released() {
    let hub = hub();
    let stream = hub.stream("cam");
    let publisher = stream.publish().unwrap();
    publisher.set_tracks(tracks());
    for i in 0..60 {
        publisher.push(video(i));
    }
    let app = edge_node::http::router_with(hub, config());
    let (_, body, _) = get(&app, "/cmaf/cam/index.m3u8").await;
    let text = String::from_utf8(body.to_vec()).unwrap();
    let summary = testkit::hls::check_media(&text).expect("valid playlist");
    let next_msn = summary.segments.last().unwrap().msn + 1;
    let hint = summary.preload_hint.clone().expect("a preload hint");
    // no more frames come: 1,000 blocked requests, all answered 503 after three target durations
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let app = app.clone();
        let uri = if i % 2 == 0 {
            format!("/cmaf/cam/index.m3u8?_HLS_msn={next_msn}&_HLS_part=0")
        } else {
            format!("/cmaf/cam/{hint}")
        };
        tasks.push(tokio::spawn(async move { get(&app, &uri).await.0 }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::SERVICE_UNAVAILABLE);
    }
    let took = start.elapsed();
    assert!(
        (Duration::from_secs(3)..Duration::from_secs(6)).contains(&took),
        "waits ended after {took:?}"
    );
    // the playlist still answers at once, and lists what there is
    let (status, _, _) = get(&app, "/cmaf/cam/index.m3u8").await;
    assert_eq!(status, StatusCode::OK);
    drop(publisher);
}

#[tokio::test]
async fn segments_parts_and_inits_are_immutable_playlists_are_not_and_head_works() {
    let live = live(200).await;
    let r = live
        .app
        .clone()
        .oneshot(Request::head("/cmaf/cam/index.m3u8").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-cache");
    assert_eq!(r.headers()["content-type"], "application/vnd.apple.mpegurl");
    let (_, body, _) = get(&live.app, "/cmaf/cam/index.m3u8").await;
    let text = String::from_utf8(body.to_vec()).unwrap();
    let summary = testkit::hls::check_media(&text).expect("valid playlist");
    let seg = summary.segments.iter().find_map(|s| s.uri.clone()).unwrap();
    let part = summary
        .segments
        .iter()
        .flat_map(|s| s.parts.iter())
        .next()
        .unwrap()
        .uri
        .clone();
    for uri in [seg, part, summary.map_uri.clone().unwrap()] {
        let r = live
            .app
            .clone()
            .oneshot(
                Request::get(format!("/cmaf/cam/{uri}"))
                    .header("origin", "https://player.example")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{uri}");
        let h = r.headers();
        assert!(
            h["cache-control"].to_str().unwrap().contains("immutable"),
            "{uri}"
        );
        assert_eq!(h["access-control-allow-origin"], "*");
        let len: usize = h["content-length"].to_str().unwrap().parse().unwrap();
        let body = r.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body.len(), len);
    }
}

#[tokio::test]
async fn several_video_tracks_make_a_multivariant_playlist_with_one_variant_each() {
    let hub = hub();
    let stream = hub.stream("multi");
    let publisher = stream.publish().unwrap();
    let mut t = tracks();
    let mut second = t[0].clone();
    second.id = 3;
    t.push(second);
    publisher.set_tracks(t);
    for i in 0..75 {
        publisher.push(video(i));
        let mut f = video(i);
        f.track = 3;
        publisher.push(f);
    }
    let app = edge_node::http::router_with(hub, config());
    for format in ["cmaf", "hls"] {
        let (status, body, _) = get(&app, &format!("/{format}/multi/index.m3u8")).await;
        assert_eq!(status, StatusCode::OK);
        let text = String::from_utf8(body.to_vec()).unwrap();
        let variants = testkit::hls::check_multivariant(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        assert_eq!(variants, vec!["v1/index.m3u8", "v3/index.m3u8"], "{text}");
        assert!(text.contains("CODECS=\"avc1.42c01e,mp4a.40.2\""), "{text}");
        for v in &variants {
            let (status, body, _) = get(&app, &format!("/{format}/multi/{v}")).await;
            assert_eq!(status, StatusCode::OK, "{v}");
            let text = String::from_utf8(body.to_vec()).unwrap();
            let media = testkit::hls::check_media(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
            let seg = media
                .segments
                .iter()
                .find_map(|s| s.uri.clone())
                .expect("a complete segment");
            let dir = v.trim_end_matches("index.m3u8");
            let (status, data, _) = get(&app, &format!("/{format}/multi/{dir}{seg}")).await;
            assert_eq!(status, StatusCode::OK);
            if format == "hls" {
                let got = media::ts::read_all(&data).unwrap();
                assert_eq!(got.tracks.iter().filter(|t| t.codec.is_video()).count(), 1);
                assert!(got.frames.len() >= 25);
            }
        }
    }
    drop(publisher);
}

/// Audio frame `i` of the AAC track (1024 samples at 48 kHz).
fn audio(i: i64) -> Frame {
    let t = media::Timestamp::new(i * 1024, 48_000);
    Frame::new(2, t, t, true, vec![0x21; 8])
}

/// An edge: its own hub, fed the frames an ingest marked, as the relay does.
fn edge(cuts: media::hls::cutter::CutConfig) -> (axum::Router, Publisher) {
    let hub = Arc::new(Hub::default());
    let publisher = hub.stream("cam").publish().unwrap();
    publisher.set_cut_config(cuts);
    publisher.set_tracks(tracks());
    (edge_node::http::router_with(hub, config()), publisher)
}

async fn playlist(app: &axum::Router, uri: &str) -> (String, testkit::hls::MediaSummary) {
    let (status, body, _) = get(app, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}");
    let text = String::from_utf8(body.to_vec()).unwrap();
    let summary = testkit::hls::check_media(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    (text, summary)
}

/// (segment or part name) of every segment and part listed, with the MSN.
fn names(s: &testkit::hls::MediaSummary) -> Vec<(u64, Option<String>, Vec<String>)> {
    s.segments
        .iter()
        .map(|g| {
            (
                g.msn,
                g.uri.clone(),
                g.parts.iter().map(|p| p.uri.clone()).collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn edges_fed_the_same_marked_frames_publish_the_same_playlists_and_parts() {
    // the ingest: its hub's cutter marks the frames it is given
    let ingest = hub();
    let stream = ingest.stream("cam");
    let publisher = stream.publish().unwrap();
    publisher.set_tracks(tracks());
    let mut sub = stream.subscribe_from_oldest();
    let mut a = 0i64;
    for i in 0..300 {
        while (a as f64 * 1024.0 / 48_000.0) < i as f64 / 25.0 {
            publisher.push(audio(a));
            a += 1;
        }
        publisher.push(video(i));
    }
    let mut frames = Vec::new();
    while let Some(event) = sub.try_next() {
        if let hub::Event::Frame(f) = event {
            frames.push(f);
        }
    }
    let starts: Vec<usize> = (0..frames.len())
        .filter(|&i| frames[i].mark.is_some_and(|m| m.segment.is_some()))
        .collect();
    assert!(starts.len() >= 10, "{} segments marked", starts.len());

    // edge A has the stream from its start; edge B joins five segments later
    let cuts = stream.cut_config();
    let (app_a, pub_a) = edge(cuts);
    let (app_b, pub_b) = edge(cuts);
    for (i, f) in frames.iter().enumerate() {
        pub_a.push_marked(f.clone());
        if i >= starts[5] {
            pub_b.push_marked(f.clone());
        }
    }
    for format in ["cmaf", "hls"] {
        let uri = format!("/{format}/cam/index.m3u8");
        let (text_a, a) = playlist(&app_a, &uri).await;
        let (text_b, b) = playlist(&app_b, &uri).await;
        assert_eq!(a.target_duration, 1, "{text_a}");
        assert_eq!(
            (a.target_duration, a.part_target),
            (b.target_duration, b.part_target)
        );
        // B lists from where it joined; A from the stream's start
        let joined = frames[starts[5]].mark.unwrap().segment.unwrap().msn;
        assert_eq!(b.media_sequence, joined, "{text_b}");
        assert_eq!(a.media_sequence, joined - 5, "{text_a}");
        assert_eq!(a.discontinuity_sequence, b.discontinuity_sequence);
        // the same segments and parts under the same names, the same live end
        let (na, nb) = (names(&a), names(&b));
        let shared = &na[na.len() - nb.len()..];
        assert_eq!(shared, &nb[..], "{text_a}\n{text_b}");
        assert_eq!(a.preload_hint, b.preload_hint);
        assert_eq!(a.map_uri, b.map_uri);
        for (sa, sb) in a.segments.iter().rev().zip(b.segments.iter().rev()) {
            assert_eq!(sa.program_date_time, sb.program_date_time);
            assert_eq!(sa.duration, sb.duration);
        }
        // the newest complete part is the same file on both
        let part = b
            .segments
            .iter()
            .flat_map(|s| &s.parts)
            .last()
            .unwrap()
            .uri
            .clone();
        let (sa, body_a, _) = get(&app_a, &format!("/{format}/cam/{part}")).await;
        let (sb, body_b, _) = get(&app_b, &format!("/{format}/cam/{part}")).await;
        assert_eq!((sa, sb), (StatusCode::OK, StatusCode::OK), "{part}");
        assert!(!body_a.is_empty());
        assert_eq!(body_a, body_b, "{format} {part}");
        // and so is every complete segment B has but its first
        for s in b.segments.iter().skip(1).filter_map(|s| s.uri.clone()) {
            let (_, body_a, _) = get(&app_a, &format!("/{format}/cam/{s}")).await;
            let (_, body_b, _) = get(&app_b, &format!("/{format}/cam/{s}")).await;
            assert_eq!(body_a, body_b, "{format} {s}");
        }
        if let Some(map) = &b.map_uri {
            let (_, init_a, _) = get(&app_a, &format!("/{format}/cam/{map}")).await;
            let (_, init_b, _) = get(&app_b, &format!("/{format}/cam/{map}")).await;
            assert_eq!(init_a, init_b);
        }
    }
    drop((pub_a, pub_b, publisher));
}
