//! The same behaviour checks run against the embedded store and a real etcd.

use std::sync::Arc;
use std::time::Duration;

use store::{Embedded, Etcd, EtcdOptions, LeaseId, StateStore, StoreError, Watch, WatchEvent, json, keys};
use tokio::time::{Instant, sleep, timeout};

const TTL: Duration = Duration::from_secs(2);
const WAIT: Duration = Duration::from_secs(15);

/// A throw-away etcd server (`testkit::etcd`) and a store connected to it.
struct EtcdProcess(testkit::etcd::Etcd);

impl EtcdProcess {
    /// Starts etcd, or prints why not and returns `None` when it is not installed.
    fn start() -> Option<Self> {
        testkit::etcd::Etcd::start("store").map(Self)
    }

    fn url(&self) -> String {
        self.0.url()
    }

    fn restart(&mut self) {
        self.0.restart();
    }

    /// A connected store, once etcd answers.
    async fn store(&self) -> Etcd {
        let options = EtcdOptions::new([self.url()]);
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(store) = Etcd::connect(options.clone()).await
                && store.get("probe").await.is_ok()
            {
                return store;
            }
            assert!(Instant::now() < deadline, "etcd did not come up");
            sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn next(watch: &mut Watch) -> WatchEvent {
    timeout(WAIT, watch.next())
        .await
        .expect("watch event in time")
        .expect("watch open")
}

fn put(key: &str, value: &[u8]) -> WatchEvent {
    WatchEvent::Put {
        key: key.to_owned(),
        value: value.to_vec(),
    }
}

fn del(key: &str) -> WatchEvent {
    WatchEvent::Delete { key: key.to_owned() }
}

async fn put_get_list_delete<S: StateStore>(store: &S) {
    assert_eq!(store.get("streams/a/spec").await.unwrap(), None);
    store.put("streams/a/spec", b"A".to_vec(), None).await.unwrap();
    store.put("streams/b/spec", b"B".to_vec(), None).await.unwrap();
    store.put("pushes/p/spec", b"P".to_vec(), None).await.unwrap();
    store.put("streams/a/spec", b"A2".to_vec(), None).await.unwrap();
    assert_eq!(store.get("streams/a/spec").await.unwrap(), Some(b"A2".to_vec()));
    let listed = store.list("streams/").await.unwrap();
    assert_eq!(
        listed,
        vec![
            ("streams/a/spec".to_owned(), b"A2".to_vec()),
            ("streams/b/spec".to_owned(), b"B".to_vec())
        ]
    );
    assert_eq!(store.list("").await.unwrap().len(), 3);
    assert!(store.delete("streams/a/spec").await.unwrap());
    assert!(!store.delete("streams/a/spec").await.unwrap());
    assert_eq!(store.get("streams/a/spec").await.unwrap(), None);
    assert_eq!(store.list("streams/").await.unwrap().len(), 1);
}

async fn wait_gone<S: StateStore>(store: &S, key: &str) {
    let deadline = Instant::now() + WAIT;
    while store.get(key).await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "{key} outlived its lease");
        sleep(Duration::from_millis(100)).await;
    }
}

async fn lease_expiry_removes_keys<S: StateStore>(store: &S) {
    let lease = store.grant_lease(TTL).await.unwrap();
    store
        .put("nodes/ingest/n1", b"n1".to_vec(), Some(lease))
        .await
        .unwrap();
    store.put("streams/a/spec", b"kept".to_vec(), None).await.unwrap();
    // Renewals hold the key past the first TTL.
    let start = Instant::now();
    while start.elapsed() < TTL + Duration::from_secs(1) {
        store.keep_alive(lease).await.unwrap();
        sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(store.get("nodes/ingest/n1").await.unwrap(), Some(b"n1".to_vec()));
    let stopped = Instant::now();
    wait_gone(store, "nodes/ingest/n1").await;
    assert!(
        stopped.elapsed() >= Duration::from_millis(900),
        "expired early: {:?}",
        stopped.elapsed()
    );
    assert_eq!(store.get("streams/a/spec").await.unwrap(), Some(b"kept".to_vec()));
    assert!(matches!(store.keep_alive(lease).await, Err(StoreError::LeaseNotFound(l)) if l == lease));

    // Revoking ends a lease at once.
    let lease = store.grant_lease(TTL).await.unwrap();
    store
        .put("nodes/edge/e1", b"e1".to_vec(), Some(lease))
        .await
        .unwrap();
    store.revoke(lease).await.unwrap();
    assert_eq!(store.get("nodes/edge/e1").await.unwrap(), None);
    store.revoke(lease).await.unwrap();
}

async fn claim_is_exclusive<S: StateStore>(store: Arc<S>) {
    let key = keys::owner_key("cam1");
    let (a, b) = (
        store.grant_lease(TTL).await.unwrap(),
        store.grant_lease(TTL).await.unwrap(),
    );
    let (won_a, won_b) = tokio::join!(
        store.claim(&key, b"a".to_vec(), a),
        store.claim(&key, b"b".to_vec(), b)
    );
    let (won_a, won_b) = (won_a.unwrap(), won_b.unwrap());
    assert!(won_a ^ won_b, "exactly one claim wins: a={won_a} b={won_b}");
    let (winner, loser, loser_value): (LeaseId, LeaseId, &[u8]) =
        if won_a { (a, b, b"b") } else { (b, a, b"a") };
    let expected: &[u8] = if won_a { b"a" } else { b"b" };
    assert_eq!(store.get(&key).await.unwrap().as_deref(), Some(expected));
    assert!(!store.claim(&key, loser_value.to_vec(), loser).await.unwrap());

    // The loser keeps its lease alive; the winner stops renewing and loses the key.
    let keeper = store::spawn_keep_alive(store.clone(), loser, TTL);
    let _ = winner;
    let deadline = Instant::now() + WAIT;
    while !store.claim(&key, loser_value.to_vec(), loser).await.unwrap() {
        assert!(Instant::now() < deadline, "owner key outlived the winner's lease");
        sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(store.get(&key).await.unwrap().as_deref(), Some(loser_value));
    // The keep-alive task holds the new owner's key past its TTL.
    sleep(TTL + Duration::from_secs(1)).await;
    assert_eq!(store.get(&key).await.unwrap().as_deref(), Some(loser_value));
    keeper.abort();
}

async fn watch_sees_changes<S: StateStore>(store: &S) {
    store.put("streams/a/spec", b"A".to_vec(), None).await.unwrap();
    store.put("pushes/p/spec", b"P".to_vec(), None).await.unwrap();
    let mut watch = store.watch("streams/").await.unwrap();
    assert_eq!(next(&mut watch).await, put("streams/a/spec", b"A"));

    store.put("pushes/q/spec", b"Q".to_vec(), None).await.unwrap();
    store.put("streams/b/spec", b"B".to_vec(), None).await.unwrap();
    assert_eq!(next(&mut watch).await, put("streams/b/spec", b"B"));
    store.delete("streams/a/spec").await.unwrap();
    assert_eq!(next(&mut watch).await, del("streams/a/spec"));

    let revoked = store.grant_lease(TTL).await.unwrap();
    store
        .put("streams/b/status", b"live".to_vec(), Some(revoked))
        .await
        .unwrap();
    assert_eq!(next(&mut watch).await, put("streams/b/status", b"live"));
    store.revoke(revoked).await.unwrap();
    assert_eq!(next(&mut watch).await, del("streams/b/status"));

    let expiring = store.grant_lease(TTL).await.unwrap();
    store
        .put("streams/b/owner", b"n1".to_vec(), Some(expiring))
        .await
        .unwrap();
    assert_eq!(next(&mut watch).await, put("streams/b/owner", b"n1"));
    assert_eq!(next(&mut watch).await, del("streams/b/owner"));
}

async fn json_values<S: StateStore>(store: &S) {
    let spec: spec::StreamSpec = serde_json::from_str(r#"{"source":"push://"}"#).unwrap();
    json::put_stream_spec(store, "cam1", &spec).await.unwrap();
    assert_eq!(json::stream_spec(store, "cam1").await.unwrap(), Some(spec));
    assert_eq!(json::stream_spec(store, "nope").await.unwrap(), None);
    store
        .put(&keys::stream_spec_key("bad"), b"{not json".to_vec(), None)
        .await
        .unwrap();
    let err = json::stream_spec(store, "bad").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { key, .. } if key == "streams/bad/spec"),
        "{err}"
    );
    assert!(err.to_string().contains("streams/bad/spec"));
}

macro_rules! suite {
    ($($test:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(std::sync::Arc::new(store::Embedded::new())).await;
                }
            )*
        }
        mod etcd {
            $(
                #[tokio::test]
                async fn $test() {
                    let Some(etcd) = super::EtcdProcess::start() else { return };
                    super::$test(std::sync::Arc::new(etcd.store().await)).await;
                }
            )*
        }
    };
}

async fn basic<S: StateStore>(store: Arc<S>) {
    put_get_list_delete(&*store).await;
}
async fn lease_expiry<S: StateStore>(store: Arc<S>) {
    lease_expiry_removes_keys(&*store).await;
}
async fn claim<S: StateStore>(store: Arc<S>) {
    claim_is_exclusive(store).await;
}
async fn watch<S: StateStore>(store: Arc<S>) {
    watch_sees_changes(&*store).await;
}
async fn json_helpers<S: StateStore>(store: Arc<S>) {
    json_values(&*store).await;
}

suite!(basic, lease_expiry, claim, watch, json_helpers);

#[tokio::test]
async fn etcd_prefix_isolates_stores() {
    let Some(etcd) = EtcdProcess::start() else { return };
    let default = etcd.store().await;
    assert_eq!(default.prefix(), "/tributary/");
    let url = etcd.url();
    let other = Etcd::connect(EtcdOptions::new([url]).with_prefix("/other/"))
        .await
        .unwrap();
    default.put("streams/a/spec", b"1".to_vec(), None).await.unwrap();
    assert_eq!(other.get("streams/a/spec").await.unwrap(), None);
    assert!(other.list("").await.unwrap().is_empty());
    assert_eq!(
        default.list("").await.unwrap(),
        vec![("streams/a/spec".to_owned(), b"1".to_vec())]
    );
}

#[tokio::test]
async fn etcd_watch_resumes_after_restart() {
    let Some(mut etcd) = EtcdProcess::start() else {
        return;
    };
    let store = etcd.store().await;
    store.put("streams/a/spec", b"A".to_vec(), None).await.unwrap();
    let mut watch = store.watch("streams/").await.unwrap();
    assert_eq!(next(&mut watch).await, put("streams/a/spec", b"A"));

    etcd.restart();
    // Requests fail while etcd is down and work again once it is back, on the same client.
    let deadline = Instant::now() + WAIT;
    while store.put("streams/b/spec", b"B".to_vec(), None).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "store did not recover after the restart"
        );
        sleep(Duration::from_millis(200)).await;
    }
    store.delete("streams/a/spec").await.unwrap();
    assert_eq!(next(&mut watch).await, put("streams/b/spec", b"B"));
    assert_eq!(next(&mut watch).await, del("streams/a/spec"));
    assert_eq!(
        store.list("streams/").await.unwrap(),
        vec![("streams/b/spec".to_owned(), b"B".to_vec())]
    );
    store.put("streams/c/spec", b"C".to_vec(), None).await.unwrap();
    assert_eq!(next(&mut watch).await, put("streams/c/spec", b"C"));
}

#[tokio::test]
async fn embedded_slow_watcher_resyncs() {
    let store = Embedded::new();
    let mut watch = store.watch("k/").await.unwrap();
    // Far more changes than the watch and event buffers hold, unread.
    for i in 0..3000 {
        store
            .put(&format!("k/{}", i % 10), i.to_string().into_bytes(), None)
            .await
            .unwrap();
    }
    store.delete("k/0").await.unwrap();
    tokio::task::yield_now().await;
    // Draining converges on the final contents.
    let mut state = std::collections::BTreeMap::new();
    while let Ok(Some(event)) = timeout(Duration::from_millis(500), watch.next()).await {
        match event {
            WatchEvent::Put { key, value } => state.insert(key, value),
            WatchEvent::Delete { key } => state.remove(&key),
        };
    }
    let expected: std::collections::BTreeMap<_, _> = store.list("k/").await.unwrap().into_iter().collect();
    assert_eq!(state, expected);
    assert_eq!(state.len(), 9);
}
