//! The push engine over an in-process hub, with the recording target:
//! automatic pushes follow their streams, failures are retried per policy,
//! patterns run once per matching stream, manual pushes start and stop
//! through the engine, and no task outlives its push.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hub::Hub;
use ingest_node::push::engine::{Engine, PushSpecs};
use media::{Codec, Frame, Timestamp, Track};
use spec::{PushSpec, PushState, RetryPolicy, StreamPattern};
use testkit::TempDir;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// An AAC-LC 48 kHz stereo track (AudioSpecificConfig `11 90`).
fn aac_track() -> Track {
    let mut t = Track::new(1, Codec::Aac, 48_000);
    t.init = bytes::Bytes::from_static(&[0x11, 0x90]);
    t
}

/// Publishes AAC frames to `name` every 20 ms until aborted (which drops the publisher).
fn feed(hub: &Hub, name: &str) -> JoinHandle<()> {
    let stream = hub.stream(name);
    let publisher = stream.publish().expect("the stream is free");
    publisher.set_tracks(vec![aac_track()]);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for i in 0i64.. {
            tick.tick().await;
            let t = Timestamp::new(i * 960, 48_000);
            publisher.push(Frame::new(1, t, t, true, vec![0x21; 200]));
        }
    })
}

fn push(stream: &str, target: &str, auto_start: bool, retry: Option<RetryPolicy>) -> PushSpec {
    PushSpec {
        stream: StreamPattern::parse(stream).unwrap(),
        target: target.to_owned(),
        auto_start,
        retry,
        audio_override: None,
    }
}

fn specs(list: &[(&str, PushSpec)]) -> PushSpecs {
    Arc::new(
        list.iter()
            .map(|(n, s)| ((*n).to_owned(), s.clone()))
            .collect::<BTreeMap<_, _>>(),
    )
}

fn tasks() -> usize {
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
}

/// Waits (polling, at most `secs`) until `cond` holds; the time it took.
async fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

async fn wait_tasks(expected: usize, what: &str) {
    wait_for(5, &format!("{expected} tasks {what}"), || tasks() == expected).await;
}

fn state(engine: &Engine, name: &str) -> PushState {
    engine.status(name).expect("the push is known").state
}

/// The AAC frames of a recorded MPEG-TS file.
fn recorded_frames(path: &std::path::Path) -> usize {
    let data = std::fs::read(path).expect("the recording exists");
    assert!(
        !data.is_empty() && data.len().is_multiple_of(188),
        "{} bytes",
        data.len()
    );
    let demuxed = media::ts::read_all(&data).expect("the recording demuxes");
    assert!(demuxed.tracks.iter().any(|t| t.codec == Codec::Aac));
    demuxed.frames.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_push_follows_its_stream() {
    let dir = TempDir::new("push-engine-auto");
    let target = dir.path("$stream.ts");
    let file = dir.path("cam.ts");
    let hub = Arc::new(Hub::default());
    let (tx, rx) = watch::channel(specs(&[(
        "rec",
        push("cam", target.to_str().unwrap(), true, None),
    )]));
    let baseline = tasks();
    let engine = Engine::new(rx, hub.clone());
    wait_for(1, "the push to wait for its stream", || {
        engine
            .status("rec")
            .is_some_and(|s| s.state == PushState::Waiting)
    })
    .await;
    wait_tasks(baseline + 1, "with the engine alone").await;

    // live: the run starts within a second, then records
    let feeder = feed(&hub, "cam");
    let started = wait_for(2, "the push to start", || {
        state(&engine, "rec") != PushState::Waiting
    })
    .await;
    assert!(started < Duration::from_secs(1), "started after {started:?}");
    wait_for(3, "bytes recorded", || {
        let s = engine.status("rec").unwrap();
        s.state == PushState::Pushing && s.bytes > 0
    })
    .await;
    let per_stream = engine.stream_statuses("rec").unwrap();
    assert_eq!(per_stream.keys().collect::<Vec<_>>(), ["cam"]);
    assert_eq!(per_stream["cam"].state, PushState::Pushing);
    wait_tasks(baseline + 3, "with the engine, the feeder and the run").await;

    // the publisher goes away: the run ends, the push waits again
    feeder.abort();
    wait_for(2, "the push to wait again", || {
        state(&engine, "rec") == PushState::Waiting
    })
    .await;
    wait_tasks(baseline + 1, "after the stream ended").await;
    let first = recorded_frames(&file);
    assert!(first > 10, "{first} frames recorded");

    // the stream comes back: a new recording of the same name
    let feeder = feed(&hub, "cam");
    let restarted = wait_for(3, "the push to restart", || {
        state(&engine, "rec") == PushState::Pushing
    })
    .await;
    assert!(
        restarted < Duration::from_secs(2),
        "restarted after {restarted:?}"
    );

    // the stream is removed: the run ends at once
    hub.remove("cam");
    wait_for(2, "the push to wait after the removal", || {
        state(&engine, "rec") == PushState::Waiting && engine.stream_statuses("rec").unwrap().is_empty()
    })
    .await;
    feeder.abort();
    assert!(recorded_frames(&file) > 0);

    // deleting the spec forgets the push; dropping the engine ends its task
    tx.send_replace(specs(&[]));
    wait_for(1, "the push to be forgotten", || engine.status("rec").is_none()).await;
    drop(engine);
    wait_tasks(baseline, "after the engine was dropped").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_retried_per_policy() {
    let hub = Arc::new(Hub::default());
    let retry = RetryPolicy {
        interval_seconds: 1,
        limit: Some(2),
    };
    let (_tx, rx) = watch::channel(specs(&[
        ("retried", push("cam", "/proc/nope/x.ts", true, Some(retry))),
        ("once", push("cam", "/proc/nope/y.ts", true, None)),
    ]));
    let baseline = tasks();
    let engine = Engine::new(rx, hub.clone());
    let feeder = feed(&hub, "cam");

    // no retry policy: an error at the first failure
    wait_for(2, "the push without retries to fail", || {
        state(&engine, "once") == PushState::Error
    })
    .await;
    let status = engine.status("once").unwrap();
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("/proc/nope")),
        "{status:?}"
    );

    // interval 1 s, limit 2: three attempts, then an error after two intervals
    let start = Instant::now();
    let mut saw_retrying = false;
    wait_for(6, "the retried push to give up", || {
        let s = state(&engine, "retried");
        saw_retrying |= s == PushState::Retrying;
        s == PushState::Error
    })
    .await;
    let took = start.elapsed();
    assert!(saw_retrying, "the push was retrying between attempts");
    assert!(
        (Duration::from_millis(1500)..Duration::from_millis(2700)).contains(&took),
        "gave up after {took:?}: expected two 1 s intervals"
    );
    let status = engine.status("retried").unwrap();
    assert_eq!(status.bytes, 0);
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("/proc/nope/x.ts")),
        "{status:?}"
    );

    // the error stays while the stream is live; the failed runs' tasks are gone
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(state(&engine, "retried"), PushState::Error);
    wait_tasks(baseline + 2, "with the engine and the feeder").await;

    // starting the push again makes new attempts
    engine.start("retried").unwrap();
    wait_for(1, "a new attempt", || {
        state(&engine, "retried") == PushState::Retrying
    })
    .await;
    assert!(engine.start("nope").is_err());

    feeder.abort();
    drop(engine);
    wait_tasks(baseline, "after the engine was dropped").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_runs_once_per_matching_stream() {
    let dir = TempDir::new("push-engine-pattern");
    let target = dir.path("$stream.ts");
    let hub = Arc::new(Hub::default());
    let (_tx, rx) = watch::channel(specs(&[(
        "all",
        push("live+", target.to_str().unwrap(), true, None),
    )]));
    let baseline = tasks();
    let engine = Engine::new(rx, hub.clone());
    let feeders: Vec<_> = ["live", "live+a", "live+b", "other"]
        .iter()
        .map(|n| (*n, feed(&hub, n)))
        .collect();
    wait_for(3, "both children pushing", || {
        let s = engine.stream_statuses("all").unwrap();
        s.len() == 2 && s.values().all(|s| s.state == PushState::Pushing && s.bytes > 0)
    })
    .await;
    let per_stream = engine.stream_statuses("all").unwrap();
    assert_eq!(per_stream.keys().collect::<Vec<_>>(), ["live+a", "live+b"]);
    assert_eq!(
        engine.status("all").unwrap().bytes,
        per_stream.values().map(|s| s.bytes).sum::<u64>()
    );
    wait_tasks(baseline + 1 + 4 + 2, "with the engine, four feeders and two runs").await;

    // one child ends: its run goes, the other keeps pushing
    let mut feeders: BTreeMap<_, _> = feeders.into_iter().collect();
    feeders.remove("live+a").unwrap().abort();
    wait_for(3, "the ended child's run to go", || {
        engine.stream_statuses("all").unwrap().keys().collect::<Vec<_>>() == ["live+b"]
    })
    .await;
    assert_eq!(state(&engine, "all"), PushState::Pushing);
    assert!(recorded_frames(&dir.path("live+a.ts")) > 0);
    assert!(!dir.path("live.ts").exists() && !dir.path("other.ts").exists());
    wait_tasks(baseline + 1 + 3 + 1, "after one child ended").await;

    for (_, f) in feeders {
        f.abort();
    }
    wait_for(3, "every run to end", || {
        engine.stream_statuses("all").unwrap().is_empty()
    })
    .await;
    wait_tasks(baseline + 1, "with the engine alone").await;
    drop(engine);
    wait_tasks(baseline, "after the engine was dropped").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_push_starts_and_stops_and_spec_changes_stop_runs() {
    let dir = TempDir::new("push-engine-manual");
    let hub = Arc::new(Hub::default());
    let spec = push("cam", dir.path("a.ts").to_str().unwrap(), false, None);
    let (tx, rx) = watch::channel(specs(&[("man", spec.clone())]));
    let baseline = tasks();
    let engine = Engine::new(rx, hub.clone());
    let feeder = feed(&hub, "cam");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        state(&engine, "man"),
        PushState::Stopped,
        "a manual push waits for start"
    );
    assert!(engine.stream_statuses("man").unwrap().is_empty());

    engine.start("man").unwrap();
    wait_for(3, "the manual push to record", || {
        state(&engine, "man") == PushState::Pushing
    })
    .await;
    engine.stop("man").unwrap();
    assert_eq!(state(&engine, "man"), PushState::Stopped);
    wait_tasks(baseline + 2, "after the stop").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        state(&engine, "man"),
        PushState::Stopped,
        "a stopped push stays stopped"
    );

    // a changed spec replaces the runs of the old one
    engine.start("man").unwrap();
    wait_for(3, "the push to record again", || {
        state(&engine, "man") == PushState::Pushing
    })
    .await;
    let mut changed = spec.clone();
    changed.target = dir.path("b.ts").to_str().unwrap().to_owned();
    changed.auto_start = true;
    tx.send_replace(specs(&[("man", changed)]));
    wait_for(3, "the changed push to record", || {
        state(&engine, "man") == PushState::Pushing && dir.path("b.ts").exists()
    })
    .await;
    wait_tasks(baseline + 3, "with one run of the new spec").await;
    tx.send_replace(specs(&[]));
    wait_tasks(baseline + 2, "after the spec was deleted").await;
    assert!(engine.status("man").is_none());
    assert!(engine.start("man").is_err());

    feeder.abort();
    drop(engine);
    wait_tasks(baseline, "after the engine was dropped").await;
}
