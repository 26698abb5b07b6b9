//! The operator's reconcile loop against a real cluster without Kubernetes:
//! a real etcd, two ingest processes and an edge. `Stream` resources are
//! handed to the reconciler the way the controller hands them over, and the
//! outcome (finalizers, status) is applied to them as the API server would.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use operator::decide::{FINALIZER, Note, PublicUrls};
use operator::reconcile::{Kind, Outcome, Reconciler, Resource, Settings};
use spec::{ConditionStatus, StreamState, StreamStatus};
use store::{Etcd, EtcdOptions, StateStore, keys};
use support::cluster::{Node, TTL};
use support::play;
use testkit::{TempDir, Video, have_ffmpeg};

/// Reconciles `r` until `done` holds for its status, as the controller's
/// resync would; returns the events of all those reconciles.
async fn reconcile_until(
    rec: &Reconciler<Etcd>,
    r: &mut Resource,
    secs: u64,
    what: &str,
    done: impl Fn(&StreamStatus) -> bool,
) -> Vec<Note> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut events = Vec::new();
    loop {
        let outcome = rec.reconcile(Kind::Stream, r, None).await;
        apply(r, &outcome);
        events.extend(outcome.events.iter().cloned());
        if let Some(s) = status(r)
            && done(&s)
        {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; status: {:?}, last outcome: {outcome:?}",
            r.status
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn apply(r: &mut Resource, o: &Outcome) {
    if let Some(f) = &o.finalizers {
        r.finalizers = f.clone();
    }
    if let Some(s) = &o.status {
        r.status = Some(s.clone());
    }
}

fn status(r: &Resource) -> Option<StreamStatus> {
    r.status.clone().map(|s| serde_json::from_value(s).unwrap())
}

fn condition(s: &StreamStatus, kind: &str) -> (ConditionStatus, String) {
    let c = s.conditions.iter().find(|c| c.kind == kind).unwrap();
    (c.status, c.reason.clone())
}

async fn assignment(store: &Etcd, name: &str) -> Option<String> {
    store
        .get(&keys::assignment_key(name))
        .await
        .unwrap()
        .map(|v| String::from_utf8(v).unwrap())
}

#[test]
fn a_stream_resource_goes_live_on_an_ingest_fails_over_and_is_cleaned_up() {
    if !have_ffmpeg() {
        return;
    }
    let Some(mut etcd) = testkit::etcd::Etcd::start("operator") else {
        return;
    };
    let dir = TempDir::new("operator-e2e");
    let file = dir.path("loop.ts");
    testkit::generate(&file, Video::H264);

    let mut ingests = [
        Node::ingest("ingest-a", &etcd.url()),
        Node::ingest("ingest-b", &etcd.url()),
    ];
    let edge = Node::edge("edge-1", &etcd.url());

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = Arc::new(Etcd::connect(EtcdOptions::new([etcd.url()])).await.unwrap());
        let settings = Settings {
            urls: PublicUrls {
                http: Some(format!("http://{}", edge.http)),
                ..PublicUrls::default()
            },
            ..Settings::default()
        };
        let rec = Reconciler::new(store.clone(), settings);
        let mut r = Resource {
            namespace: "media".into(),
            name: "vod".into(),
            generation: Some(1),
            spec: serde_json::json!({
                "source": format!("{}?loop", file.display()),
                "alwaysOn": true,
            }),
            ..Resource::default()
        };

        // The finalizer first; then the stream is placed and goes live.
        let o = rec.reconcile(Kind::Stream, &r, None).await;
        assert_eq!(o.finalizers, Some(vec![FINALIZER.to_owned()]));
        apply(&mut r, &o);
        let started = Instant::now();
        let events = reconcile_until(&rec, &mut r, 30, "the stream live", |s| {
            s.state == StreamState::Live
        })
        .await;
        assert!(events.iter().any(|e| e.reason == "Assigned"), "{events:?}");
        println!(
            "live {:.1} s after the first reconcile",
            started.elapsed().as_secs_f64()
        );
        let s = status(&r).unwrap();
        let first = assignment(&store, "vod").await.expect("assigned");
        assert_eq!(
            s.node.as_deref(),
            Some(first.as_str()),
            "status names the owning ingest"
        );
        assert_eq!(condition(&s, "Live"), (ConditionStatus::True, "Live".into()));
        assert_eq!(condition(&s, "Ready").0, ConditionStatus::True);
        assert!(s.tracks.iter().any(|t| t.codec == "h264"), "{:?}", s.tracks);
        assert_eq!(s.playback["ts"], format!("http://{}/vod.ts", edge.http));
        let (owner, other) = if first == "ingest-a" { (0, 1) } else { (1, 0) };
        assert_eq!(ingests[owner].stream("vod")["status"]["state"], "live");
        assert_ne!(
            ingests[other].stream_state("vod").as_deref(),
            Some("live"),
            "a pull stream runs on its assigned node only"
        );

        // A Push resource records the stream on the node that holds it; its
        // status comes back from that node.
        let recording = dir.path("rec.ts");
        let mut push = Resource {
            namespace: "media".into(),
            name: "rec".into(),
            generation: Some(1),
            finalizers: vec![FINALIZER.into()],
            spec: serde_json::json!({"stream": "vod", "target": recording.display().to_string(), "autoStart": true}),
            ..Resource::default()
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let push_status = loop {
            let o = rec.reconcile(Kind::Push, &push, None).await;
            apply(&mut push, &o);
            let s: spec::PushStatus = serde_json::from_value(push.status.clone().unwrap()).unwrap();
            if s.state == spec::PushState::Pushing && s.bytes > 0 {
                break s;
            }
            assert!(Instant::now() < deadline, "push status: {s:?}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        assert_eq!(push_status.node.as_deref(), Some(first.as_str()));
        assert!(std::fs::metadata(&recording).unwrap().len() > 0);
        push.deleting = true;
        let o = rec.reconcile(Kind::Push, &push, None).await;
        assert_eq!(o.finalizers, Some(vec![]));
        assert!(store.get(&keys::push_spec_key("rec")).await.unwrap().is_none());

        // Viewers on the edge play it and show up in the status.
        let player = play(s.playback["ts"].clone(), 4);
        reconcile_until(&rec, &mut r, 15, "a viewer counted", |s| s.viewers >= 1).await;
        let (ok, errors, decoded) = player.join().unwrap();
        assert!(ok && decoded >= 3.5, "edge playback: {decoded} s, {errors}");

        // The owning ingest dies: its lease ends and the stream is reassigned.
        ingests[owner].kill();
        let killed = Instant::now();
        let events = reconcile_until(&rec, &mut r, 30, "failover to the other ingest", |s| {
            s.state == StreamState::Live && s.node.as_deref() == Some(ingests[other].id.as_str())
        })
        .await;
        println!(
            "live again on {} {:.1} s after the kill",
            ingests[other].id,
            killed.elapsed().as_secs_f64()
        );
        assert_eq!(
            assignment(&store, "vod").await.as_deref(),
            Some(ingests[other].id.as_str())
        );
        assert!(
            events
                .iter()
                .any(|e| e.reason == "Failover" && e.warning && e.note.contains(&first)),
            "{events:?}"
        );

        // etcd goes away: the reconcile reports it and asks for a retry.
        etcd.kill();
        let o = rec.reconcile(Kind::Stream, &r, None).await;
        assert!(o.error.is_some(), "{o:?}");
        apply(&mut r, &o);
        let s = status(&r).unwrap();
        assert_eq!(
            condition(&s, "Ready"),
            (ConditionStatus::False, "StoreUnavailable".into())
        );
        etcd.restart();
        reconcile_until(&rec, &mut r, 30, "ready again after etcd returns", |s| {
            condition(s, "Ready").0 == ConditionStatus::True
        })
        .await;

        // Deleted: the spec and assignment go; the ingest stops the input
        // and its ownership and status vanish with it.
        r.deleting = true;
        let o = rec.reconcile(Kind::Stream, &r, None).await;
        assert_eq!(o.finalizers, Some(vec![]), "{o:?}");
        let deadline = Instant::now() + Duration::from_secs(10 + TTL);
        loop {
            let left = store.list("streams/vod/").await.unwrap();
            if left.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "keys left in etcd: {:?}",
                left.iter().map(|(k, _)| k).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert_ne!(ingests[other].stream_state("vod").as_deref(), Some("live"));
    });
}

/// The operator process with an API server and etcd that do not answer: it
/// keeps running (no crash loop), says why it is not ready, and stops
/// cleanly on SIGTERM.
#[test]
#[expect(
    clippy::disallowed_methods,
    reason = "a synchronous test thread waiting for a child process"
)]
fn the_operator_waits_for_etcd_and_the_api_instead_of_exiting() {
    let dir = TempDir::new("operator-process");
    let kubeconfig = dir.path("kubeconfig");
    let api = testkit::free_tcp_port();
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"http://127.0.0.1:{api}\"}}\n\
             contexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\nusers:\n- name: u\n  user: {{}}\n"
        ),
    )
    .unwrap();
    let http = format!("127.0.0.1:{}", testkit::free_tcp_port());
    let etcd = format!("http://127.0.0.1:{}", testkit::free_tcp_port());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["operator", "--etcd", &etcd, "--http-listen", &http])
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = |path: &str| format!("http://{http}{path}");
    support::wait_for(10, "the operator's /healthz", || {
        support::request("GET", &url("/healthz"), None).is_some_and(|(s, _)| s == 200)
    });
    let (status, body) = support::request("GET", &url("/readyz"), None).unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("etcd") || body.contains("connect"), "{body}");
    let (_, metrics) = support::request("GET", &url("/metrics"), None).unwrap();
    assert!(metrics.contains("tributary_operator_leader 0"), "{metrics}");
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still running after 3 s without etcd or API"
    );
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
}
