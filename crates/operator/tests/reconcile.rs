//! The reconciler against the embedded store: what it writes to the store
//! and what it asks to change on the resource, step by step.

use std::sync::Arc;

use operator::decide::{FINALIZER, PublicUrls};
use operator::reconcile::{Kind, Outcome, Reconciler, Resource, Settings};
use serde_json::json;
use spec::node::{NodeInfo, NodeLoad};
use spec::{StreamSpec, StreamState, StreamStatus};
use store::{Embedded, StateStore, keys};

fn resource(name: &str, spec: serde_json::Value) -> Resource {
    Resource {
        namespace: "media".into(),
        name: name.into(),
        generation: Some(1),
        spec,
        ..Resource::default()
    }
}

async fn put_node(store: &Embedded, id: &str, role: &str, cpu: f64, viewers: &[(&str, u64)]) {
    let info = NodeInfo {
        id: id.into(),
        role: role.into(),
        load: NodeLoad {
            cpu,
            cores: 2,
            stream_viewers: viewers.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect(),
            ..NodeLoad::default()
        },
        ..NodeInfo::default()
    };
    store
        .put(
            &keys::node_key(role, id),
            serde_json::to_vec(&info).unwrap(),
            None,
        )
        .await
        .unwrap();
}

async fn get(store: &Embedded, key: &str) -> Option<String> {
    store
        .get(key)
        .await
        .unwrap()
        .map(|v| String::from_utf8(v).unwrap())
}

/// Applies an outcome to the resource as the API server would.
fn applied(mut r: Resource, o: &Outcome) -> Resource {
    if let Some(f) = &o.finalizers {
        r.finalizers = f.clone();
    }
    if let Some(s) = &o.status {
        r.status = Some(s.clone());
    }
    r
}

fn status(r: &Resource) -> StreamStatus {
    serde_json::from_value(r.status.clone().unwrap()).unwrap()
}

fn condition<'a>(s: &'a StreamStatus, kind: &str) -> &'a spec::Condition {
    s.conditions.iter().find(|c| c.kind == kind).unwrap()
}

#[tokio::test]
async fn a_pull_stream_is_assigned_goes_live_fails_over_and_is_cleaned_up() {
    let store = Arc::new(Embedded::new());
    put_node(&store, "ingest-a", "ingest", 1.2, &[]).await;
    put_node(&store, "ingest-b", "ingest", 0.1, &[]).await;
    let settings = Settings {
        urls: PublicUrls {
            http: Some("http://live.test".into()),
            ..PublicUrls::default()
        },
        ..Settings::default()
    };
    let rec = Reconciler::new(store.clone(), settings);
    let mut r = resource("cam", json!({"source": "srt://:9000", "alwaysOn": true}));

    // First the finalizer, and nothing in the store yet.
    let o = rec.reconcile(Kind::Stream, &r, None).await;
    assert_eq!(o.finalizers, Some(vec![FINALIZER.to_owned()]));
    assert!(o.status.is_none() && o.events.is_empty());
    assert!(get(&store, &keys::stream_spec_key("cam")).await.is_none());
    r = applied(r, &o);

    // Then the spec and the assignment to the least-loaded ingest.
    let o = rec.reconcile(Kind::Stream, &r, None).await;
    assert!(o.error.is_none(), "{o:?}");
    let spec: StreamSpec =
        serde_json::from_str(&get(&store, &keys::stream_spec_key("cam")).await.unwrap()).unwrap();
    assert_eq!(spec.source, "srt://:9000");
    assert!(spec.always_on);
    assert_eq!(
        get(&store, &keys::assignment_key("cam")).await.as_deref(),
        Some("ingest-b")
    );
    assert_eq!(
        o.events.iter().map(|e| e.reason.as_str()).collect::<Vec<_>>(),
        ["Assigned"]
    );
    r = applied(r, &o);
    let s = status(&r);
    assert_eq!(s.state, StreamState::Booting);
    assert_eq!(s.node.as_deref(), Some("ingest-b"));
    assert_eq!(condition(&s, "Assigned").reason, "Assigned");
    assert_eq!(condition(&s, "Ready").status, spec::ConditionStatus::True);
    assert_eq!(s.playback["hls"], "http://live.test/hls/cam/index.m3u8");

    // Nothing changed: no status write, no event.
    let o = rec.reconcile(Kind::Stream, &r, None).await;
    assert_eq!(o, Outcome::default());

    // The node owns it and reports it live; edges report viewers.
    store
        .put(&keys::owner_key("cam"), b"ingest-b".to_vec(), None)
        .await
        .unwrap();
    let live = StreamStatus {
        state: StreamState::Live,
        node: Some("ingest-b".into()),
        ..StreamStatus::default()
    };
    store
        .put(
            &keys::stream_status_key("cam"),
            serde_json::to_vec(&live).unwrap(),
            None,
        )
        .await
        .unwrap();
    put_node(&store, "edge-1", "edge", 0.3, &[("cam", 4), ("other", 9)]).await;
    put_node(&store, "edge-2", "edge", 0.3, &[("cam", 3)]).await;
    let o = rec.reconcile(Kind::Stream, &r, None).await;
    r = applied(r, &o);
    let s = status(&r);
    assert_eq!(s.state, StreamState::Live);
    assert_eq!(s.viewers, 7);
    assert_eq!(condition(&s, "Live").status, spec::ConditionStatus::True);
    assert!(o.events.iter().any(|e| e.reason == "Live"), "{:?}", o.events);

    // The node's lease ends: owner, status and node entry vanish; failover.
    for key in [
        keys::owner_key("cam"),
        keys::stream_status_key("cam"),
        keys::node_key("ingest", "ingest-b"),
    ] {
        store.delete(&key).await.unwrap();
    }
    let o = rec.reconcile(Kind::Stream, &r, None).await;
    assert_eq!(
        get(&store, &keys::assignment_key("cam")).await.as_deref(),
        Some("ingest-a")
    );
    assert!(
        o.events
            .iter()
            .any(|e| e.reason == "Failover" && e.warning && e.note.contains("ingest-b"))
    );
    r = applied(r, &o);
    let s = status(&r);
    assert_eq!(condition(&s, "Assigned").reason, "Failover");
    assert_eq!(condition(&s, "Live").status, spec::ConditionStatus::False);

    // Deleted: the store is cleaned, then the finalizer goes.
    r.deleting = true;
    let o = rec.reconcile(Kind::Stream, &r, None).await;
    assert_eq!(o.finalizers, Some(vec![]));
    assert!(get(&store, &keys::stream_spec_key("cam")).await.is_none());
    assert!(get(&store, &keys::assignment_key("cam")).await.is_none());
    r = applied(r, &o);
    assert_eq!(rec.reconcile(Kind::Stream, &r, None).await, Outcome::default());
}

#[tokio::test]
async fn push_fed_streams_need_no_assignment_and_invalid_ones_touch_nothing() {
    let store = Arc::new(Embedded::new());
    let rec = Reconciler::new(store.clone(), Settings::default());
    store
        .put(&keys::assignment_key("live"), b"old".to_vec(), None)
        .await
        .unwrap();
    let mut r = resource("live", json!({"source": "push://"}));
    r.finalizers = vec![FINALIZER.into()];
    let o = rec.reconcile(Kind::Stream, &r, None).await;
    assert!(
        get(&store, &keys::assignment_key("live")).await.is_none(),
        "stale assignment removed"
    );
    let s = status(&applied(r, &o));
    assert_eq!(s.state, StreamState::Waiting);
    assert_eq!(condition(&s, "Assigned").reason, "PushFed");

    // No ingest node: a pull stream waits with a clear condition.
    let mut r = resource("pulled", json!({"source": "rtmp://example.test/app/key"}));
    r.finalizers = vec![FINALIZER.into()];
    let o = rec.reconcile(Kind::Stream, &r, None).await;
    let s = status(&applied(r, &o));
    assert_eq!(condition(&s, "Ready").reason, "NoIngestNode");
    assert!(
        o.events.iter().any(|e| e.warning && e.reason == "NoIngestNode"),
        "{:?}",
        o.events
    );

    for (name, spec, reason) in [
        ("bad", json!({"source": "gopher://x"}), "InvalidSpec"),
        (
            "neg",
            json!({"source": "push://", "dvrWindowSeconds": -5}),
            "InvalidSpec",
        ),
        ("unk", json!({"source": "push://", "extra": 1}), "InvalidSpec"),
        (
            "Bad_Name.with.a.very.long.name.that.goes.on.and.on.and.on.and.on.x",
            json!({"source": "push://"}),
            "InvalidName",
        ),
    ] {
        let mut r = resource(name, spec);
        r.finalizers = vec![FINALIZER.into()];
        let o = rec.reconcile(Kind::Stream, &r, None).await;
        assert!(o.error.is_none());
        let s = status(&applied(r.clone(), &o));
        assert_eq!(s.state, StreamState::Error, "{name}");
        assert_eq!(
            condition(&s, "Ready").reason,
            reason,
            "{name}: {:?}",
            s.conditions
        );
        assert!(get(&store, &keys::stream_spec_key(name)).await.is_none());
        // Deleting an invalid resource succeeds without touching the store.
        r.deleting = true;
        assert_eq!(
            rec.reconcile(Kind::Stream, &r, None).await.finalizers,
            Some(vec![])
        );
    }

    // A name held by another namespace: reported, and its spec left alone.
    store
        .put(
            &keys::stream_spec_key("shared"),
            br#"{"source":"push://"}"#.to_vec(),
            None,
        )
        .await
        .unwrap();
    let mut r = resource("shared", json!({"source": "srt://:9100"}));
    r.finalizers = vec![FINALIZER.into()];
    let o = rec.reconcile(Kind::Stream, &r, Some("first")).await;
    let s = status(&applied(r.clone(), &o));
    assert_eq!(condition(&s, "Ready").reason, "NameConflict");
    assert!(condition(&s, "Ready").message.contains("\"first\""));
    r.deleting = true;
    rec.reconcile(Kind::Stream, &r, Some("first")).await;
    assert!(get(&store, &keys::stream_spec_key("shared")).await.is_some());
}

#[tokio::test]
async fn pushes_are_written_and_removed() {
    let store = Arc::new(Embedded::new());
    let rec = Reconciler::new(store.clone(), Settings::default());
    let mut r = resource(
        "rec",
        json!({"stream": "cam", "target": "/var/rec/cam.ts", "autoStart": true}),
    );
    r.finalizers = vec![FINALIZER.into()];
    let o = rec.reconcile(Kind::Push, &r, None).await;
    let spec: spec::PushSpec =
        serde_json::from_str(&get(&store, &keys::push_spec_key("rec")).await.unwrap()).unwrap();
    assert_eq!(spec.target, "/var/rec/cam.ts");
    let s: spec::PushStatus = serde_json::from_value(o.status.unwrap()).unwrap();
    assert_eq!(s.state, spec::PushState::Waiting);
    r.deleting = true;
    assert_eq!(rec.reconcile(Kind::Push, &r, None).await.finalizers, Some(vec![]));
    assert!(get(&store, &keys::push_spec_key("rec")).await.is_none());
}

/// A store that fails every call while `down` is set.
struct Flaky {
    inner: Embedded,
    down: std::sync::atomic::AtomicBool,
}

impl Flaky {
    fn check(&self) -> store::Result<()> {
        if self.down.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(store::StoreError::InvalidKey("the store is down".into()));
        }
        Ok(())
    }
}

impl StateStore for Flaky {
    async fn get(&self, key: &str) -> store::Result<Option<Vec<u8>>> {
        self.check()?;
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: Vec<u8>, lease: Option<store::LeaseId>) -> store::Result<()> {
        self.check()?;
        self.inner.put(key, value, lease).await
    }
    async fn delete(&self, key: &str) -> store::Result<bool> {
        self.check()?;
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> store::Result<Vec<(String, Vec<u8>)>> {
        self.check()?;
        self.inner.list(prefix).await
    }
    async fn grant_lease(&self, ttl: std::time::Duration) -> store::Result<store::LeaseId> {
        self.inner.grant_lease(ttl).await
    }
    async fn keep_alive(&self, lease: store::LeaseId) -> store::Result<()> {
        self.inner.keep_alive(lease).await
    }
    async fn revoke(&self, lease: store::LeaseId) -> store::Result<()> {
        self.inner.revoke(lease).await
    }
    async fn claim(&self, key: &str, value: Vec<u8>, lease: store::LeaseId) -> store::Result<bool> {
        self.check()?;
        self.inner.claim(key, value, lease).await
    }
    async fn watch(&self, prefix: &str) -> store::Result<store::Watch> {
        self.inner.watch(prefix).await
    }
}

#[tokio::test]
async fn a_store_outage_keeps_what_the_resource_said_and_asks_for_a_retry() {
    let store = Arc::new(Flaky {
        inner: Embedded::new(),
        down: false.into(),
    });
    put_node(&store.inner, "ingest-a", "ingest", 0.1, &[]).await;
    let rec = Reconciler::new(store.clone(), Settings::default());
    let mut r = resource("cam", json!({"source": "srt://:9000"}));
    r.finalizers = vec![FINALIZER.into()];
    let o = rec.reconcile(Kind::Stream, &r, None).await;
    r = applied(r, &o);
    store
        .inner
        .put(&keys::owner_key("cam"), b"ingest-a".to_vec(), None)
        .await
        .unwrap();
    let live = StreamStatus {
        state: StreamState::Live,
        node: Some("ingest-a".into()),
        ..StreamStatus::default()
    };
    store
        .inner
        .put(
            &keys::stream_status_key("cam"),
            serde_json::to_vec(&live).unwrap(),
            None,
        )
        .await
        .unwrap();
    r = applied(r.clone(), &rec.reconcile(Kind::Stream, &r, None).await);
    assert_eq!(status(&r).state, StreamState::Live);

    store.down.store(true, std::sync::atomic::Ordering::Relaxed);
    r.generation = Some(2);
    let o = rec.reconcile(Kind::Stream, &r, None).await;
    assert!(o.error.as_deref().is_some_and(|e| e.contains("down")), "{o:?}");
    let s = status(&applied(r.clone(), &o));
    assert_eq!(
        (s.state, s.node.as_deref()),
        (StreamState::Live, Some("ingest-a"))
    );
    assert_eq!(condition(&s, "Ready").reason, "StoreUnavailable");
    assert_eq!(condition(&s, "Assigned").reason, "Assigned");
    assert_eq!(s.observed_generation, Some(1), "generation 2 is not applied");
    assert!(
        o.events
            .iter()
            .all(|e| e.reason != "Assigned" && e.reason != "PushFed"),
        "{:?}",
        o.events
    );

    // A deletion during the outage keeps the finalizer until the store answers.
    let mut gone = r.clone();
    gone.deleting = true;
    let o = rec.reconcile(Kind::Stream, &gone, None).await;
    assert!(o.error.is_some() && o.finalizers.is_none(), "{o:?}");

    store.down.store(false, std::sync::atomic::Ordering::Relaxed);
    let s = status(&applied(r.clone(), &rec.reconcile(Kind::Stream, &r, None).await));
    assert_eq!(condition(&s, "Ready").status, spec::ConditionStatus::True);
    assert_eq!(s.observed_generation, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn streams_placed_at_once_spread_over_the_ingests() {
    let store = Arc::new(Embedded::new());
    put_node(&store, "ingest-a", "ingest", 0.1, &[]).await;
    put_node(&store, "ingest-b", "ingest", 0.1, &[]).await;
    let rec = Arc::new(Reconciler::new(store.clone(), Settings::default()));
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let rec = rec.clone();
            tokio::spawn(async move {
                let mut r = resource(&format!("s{i}"), json!({"source": "srt://:9000"}));
                r.finalizers = vec![FINALIZER.into()];
                rec.reconcile(Kind::Stream, &r, None).await
            })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().error.is_none());
    }
    let mut on = std::collections::BTreeMap::<String, u32>::new();
    for i in 0..6 {
        *on.entry(
            get(&store, &keys::assignment_key(&format!("s{i}")))
                .await
                .unwrap(),
        )
        .or_default() += 1;
    }
    assert_eq!(on.get("ingest-a"), Some(&3), "{on:?}");
    assert_eq!(on.get("ingest-b"), Some(&3), "{on:?}");
}
