//! CMAF push against a receiving HTTP server in the test: init segment,
//! segments and playlist arrive and decode; POST with DELETE of old
//! segments; targets that answer 500, refuse connections or never answer.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use bytes::Bytes;
use hub::{Hub, LiveStream, Publisher};
use ingest_node::push::{Job, PushError, cmaf};
use media::container::Demuxed;
use support::{feed_looped, job, ts_sample};
use testkit::{TempDir, have_ffmpeg};

mod support;

/// A request the receiver got: method, path, Content-Type, body length.
type Request = (Method, String, Option<String>, usize);

/// What the receiving server holds.
#[derive(Default)]
struct Store {
    /// Bodies by path, as last PUT or POSTed (DELETE removes them).
    files: HashMap<String, Bytes>,
    /// Every request, in order.
    requests: Vec<Request>,
}

type Shared = Arc<Mutex<Store>>;

async fn receive(
    State(store): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let path = uri.path().to_owned();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut s = store.lock().unwrap();
    s.requests
        .push((method.clone(), path.clone(), content_type, body.len()));
    match method {
        Method::PUT | Method::POST => {
            s.files.insert(path, body);
            StatusCode::CREATED
        }
        Method::DELETE => {
            if s.files.remove(&path).is_some() {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::NOT_FOUND
            }
        }
        _ => StatusCode::METHOD_NOT_ALLOWED,
    }
}

/// Starts a receiving server; its port and store.
async fn receiver() -> (u16, Shared) {
    let store = Shared::default();
    let app = Router::new().fallback(receive).with_state(store.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, store)
}

fn start(job: &Job) -> tokio::task::JoinHandle<Result<(), PushError>> {
    let job = job.clone();
    tokio::spawn(async move { cmaf::run(&job).await })
}

/// A published stream with the sample's tracks.
fn publish(hub: &Hub, name: &str, file: &Demuxed) -> (Arc<LiveStream>, Publisher) {
    let stream = hub.stream(name);
    let publisher = stream.publish().unwrap();
    publisher.set_tracks(file.tracks.clone());
    (stream, publisher)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_and_playlist_arrive_and_decode() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("push-cmaf");
    let file = ts_sample(&dir, "4");
    let (port, store) = receiver().await;
    let hub = Hub::default();
    let (stream, publisher) = publish(&hub, "cam", &file);
    let job = job(&stream, &format!("http://127.0.0.1:{port}/ingest/$stream"));
    let push = start(&job);
    tokio::time::sleep(Duration::from_millis(200)).await;
    feed_looped(&publisher, &file, 7.0).await;
    drop(publisher);
    hub.remove("cam");
    tokio::time::timeout(Duration::from_secs(10), push)
        .await
        .expect("the push ends with the stream")
        .unwrap()
        .unwrap();

    let s = store.lock().unwrap();
    for (method, path, content_type, _) in &s.requests {
        assert_eq!(*method, Method::PUT, "{path}");
        let want = if path.ends_with(".m3u8") {
            cmaf::PLAYLIST_TYPE
        } else {
            cmaf::MP4_TYPE
        };
        assert_eq!(content_type.as_deref(), Some(want), "{path}");
    }
    let sent: usize = s.requests.iter().map(|r| r.3).sum();
    assert_eq!(job.bytes.load(Ordering::Relaxed), sent as u64);
    let inits = s.requests.iter().filter(|r| r.1.ends_with(".mp4")).count();
    assert_eq!(inits, 1, "one init segment, sent once");

    let text = std::str::from_utf8(&s.files["/ingest/cam/index.m3u8"]).unwrap();
    let summary = testkit::hls::check_media(text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    assert!(summary.ended, "{text}");
    assert!(summary.segments.len() >= 3, "{text}");
    assert!(summary.part_target.is_none());
    // every segment was uploaded before the playlist listing it
    let order = |path: &str| s.requests.iter().position(|r| r.1 == path).unwrap();
    let first_playlist = order("/ingest/cam/index.m3u8");
    let first_segment = format!("/ingest/cam/{}", summary.segments[0].uri.as_ref().unwrap());
    assert!(order(&first_segment) < first_playlist);

    let map = summary.map_uri.clone().expect("EXT-X-MAP");
    let mut mp4 = s.files[&format!("/ingest/cam/{map}")].to_vec();
    let mut listed = 0.0;
    for seg in &summary.segments {
        let uri = seg.uri.as_ref().expect("complete segments only");
        mp4.extend_from_slice(&s.files[&format!("/ingest/cam/{uri}")]);
        listed += seg.duration.unwrap();
    }
    assert!((5.0..=8.0).contains(&listed), "{listed} s listed of 7 s sent");
    let out = dir.path("pushed.mp4");
    std::fs::write(&out, &mp4).unwrap();
    let decoded = testkit::decode(&out);
    assert!(
        decoded.stderr.is_empty(),
        "decode errors: {}",
        String::from_utf8_lossy(&decoded.stderr)
    );
    let codecs: Vec<String> = testkit::ffprobe_streams(&out)
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(codecs, ["h264", "aac"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_with_delete_keeps_only_the_window() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("push-cmaf-delete");
    let file = ts_sample(&dir, "4");
    let (port, store) = receiver().await;
    let hub = Hub::default();
    let (stream, publisher) = publish(&hub, "cam", &file);
    let job = job(
        &stream,
        &format!("http://127.0.0.1:{port}/in/?method=POST&segment=1&window=4&delete=1&token=abc"),
    );
    let push = start(&job);
    tokio::time::sleep(Duration::from_millis(200)).await;
    feed_looped(&publisher, &file, 10.0).await;
    drop(publisher);
    hub.remove("cam");
    tokio::time::timeout(Duration::from_secs(10), push)
        .await
        .expect("the push ends with the stream")
        .unwrap()
        .unwrap();

    let s = store.lock().unwrap();
    let uploads: Vec<&Request> = s.requests.iter().filter(|r| r.0 != Method::DELETE).collect();
    assert!(uploads.iter().all(|r| r.0 == Method::POST));
    let deleted: Vec<&str> = s
        .requests
        .iter()
        .filter(|r| r.0 == Method::DELETE)
        .map(|r| r.1.as_str())
        .collect();
    assert!(!deleted.is_empty(), "old segments are deleted");
    assert!(deleted.iter().all(|p| p.ends_with(".m4s")), "{deleted:?}");
    let text = std::str::from_utf8(&s.files["/in/index.m3u8"]).unwrap();
    let summary = testkit::hls::check_media(text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    assert_eq!(summary.target_duration, 1);
    let listed: Vec<String> = summary
        .segments
        .iter()
        .map(|seg| format!("/in/{}", seg.uri.as_ref().unwrap()))
        .collect();
    for path in &listed {
        assert!(
            s.files.contains_key(path),
            "{path} listed but not on the receiver"
        );
    }
    let held = s.files.keys().filter(|p| p.ends_with(".m4s")).count();
    assert!(
        held <= listed.len() + cmaf::DELETE_LAG as usize,
        "{held} segments held, {} listed",
        listed.len()
    );
    assert!(deleted.iter().all(|p| !listed.iter().any(|l| l == p)));
}

/// Feeds the stream until the push ends (at most `secs`); its result and how long it ran.
async fn run_against(target: &str, secs: f64) -> (Result<(), PushError>, Duration) {
    let dir = TempDir::new("push-cmaf-bad");
    let file = ts_sample(&dir, "2");
    let hub = Hub::default();
    let (stream, publisher) = publish(&hub, "bad", &file);
    let job = job(&stream, target);
    let began = tokio::time::Instant::now();
    let mut push = start(&job);
    let result = tokio::select! {
        r = &mut push => r.unwrap(),
        () = feed_looped(&publisher, &file, secs) => panic!("{target}: the push still runs after {secs} s"),
    };
    (result, began.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_fails_the_push_with_the_status() {
    if !have_ffmpeg() {
        return;
    }
    let app = Router::new().fallback(|| async { StatusCode::INTERNAL_SERVER_ERROR });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (result, _) = run_against(&format!("http://127.0.0.1:{port}/x/"), 8.0).await;
    let Err(PushError::Failed(msg)) = result else {
        panic!("expected a failure, got {result:?}")
    };
    assert!(msg.contains("500"), "{msg}");
    assert!(
        msg.contains(&format!("PUT http://127.0.0.1:{port}/x/init")),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_fails_the_push_quickly() {
    if !have_ffmpeg() {
        return;
    }
    let port = testkit::free_tcp_port();
    let (result, took) = run_against(&format!("http://127.0.0.1:{port}/x/"), 8.0).await;
    assert!(matches!(result, Err(PushError::Failed(_))), "{result:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_target_fails_after_the_timeout() {
    if !have_ffmpeg() {
        return;
    }
    // accepts connections and never answers
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let (result, took) = run_against(&format!("http://127.0.0.1:{port}/x/?timeout=1"), 10.0).await;
    let Err(PushError::Failed(msg)) = result else {
        panic!("expected a failure, got {result:?}")
    };
    assert!(msg.contains("no response within 1s"), "{msg}");
    // two tries of 1 s each and the pause between them
    assert!(took >= Duration::from_secs(2), "took {took:?}");
    assert!(took < Duration::from_secs(6), "took {took:?}");
}
