//! The whole operator (leader election, controllers, reconciler, store)
//! against a small in-memory Kubernetes API behind kube's mock service: it
//! wins the Lease, adds its finalizer to a new Stream, writes the spec and
//! assignment to the store, patches the status, emits an Event, and releases
//! the Lease on shutdown.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use operator::controller::{self, Metrics};
use operator::decide::FINALIZER;
use operator::reconcile::Settings;
use operator::runtime::{self, Options};
use parking_lot::Mutex;
use serde_json::{Value, json};
use spec::node::NodeInfo;
use store::{Embedded, StateStore, keys};
use tokio::sync::watch;
use tower_test::mock::{Handle, pair};

const STREAMS: &str = "/apis/tributary.dev/v1alpha1/streams";
const PUSHES: &str = "/apis/tributary.dev/v1alpha1/pushes";
const STREAM: &str = "/apis/tributary.dev/v1alpha1/namespaces/media/streams/cam";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/ops/leases";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/media/events";

/// What the fake API server holds and saw.
#[derive(Default)]
struct Api {
    lease: Option<Value>,
    stream: Value,
    version: u64,
    pending: VecDeque<Value>,
    log: Vec<(Method, String, Value)>,
}

impl Api {
    fn bump(&mut self) -> String {
        self.version += 1;
        self.version.to_string()
    }
}

fn reply(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

fn not_found() -> Response<Body> {
    reply(
        StatusCode::NOT_FOUND,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}),
    )
}

fn conflict(reason: &str) -> Response<Body> {
    reply(
        StatusCode::CONFLICT,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": 409, "message": "the object has been modified"}),
    )
}

/// Serves requests until the client goes away.
async fn serve(mut handle: Handle<Request<Body>, Response<Body>>, api: Arc<Mutex<Api>>) {
    while let Some((request, send)) = handle.next_request().await {
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let query = request.uri().query().unwrap_or_default().to_owned();
        let bytes = request.into_body().collect_bytes().await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let api = api.clone();
        // Watches are long-polls: answered from their own task.
        if method == Method::GET && query.contains("watch=true") {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let events: Vec<Value> = if path == STREAMS {
                    api.lock().pending.drain(..).collect()
                } else {
                    Vec::new()
                };
                let mut out = Vec::new();
                for e in events {
                    out.extend(serde_json::to_vec(&json!({"type": "MODIFIED", "object": e})).unwrap());
                    out.push(b'\n');
                }
                send.send_response(Response::builder().body(Body::from(out)).unwrap());
            });
            continue;
        }
        let mut api = api.lock();
        api.log.push((method.clone(), path.clone(), body.clone()));
        let response = match (method.clone(), path.as_str()) {
            (Method::GET, p) if p == format!("{LEASES}/tributary-operator") => match &api.lease {
                Some(l) => reply(StatusCode::OK, l),
                None => not_found(),
            },
            (Method::POST, LEASES) if api.lease.is_some() => conflict("AlreadyExists"),
            (Method::PUT, p)
                if p == format!("{LEASES}/tributary-operator")
                    && api.lease.as_ref().map(|l| &l["metadata"]["resourceVersion"])
                        != Some(&body["metadata"]["resourceVersion"]) =>
            {
                conflict("Conflict")
            }
            (Method::POST, LEASES) => {
                let mut lease = body.clone();
                lease["metadata"]["resourceVersion"] = json!(api.bump());
                api.lease = Some(lease.clone());
                reply(StatusCode::CREATED, &lease)
            }
            (Method::PUT, p) if p == format!("{LEASES}/tributary-operator") => {
                let mut lease = body.clone();
                lease["metadata"]["resourceVersion"] = json!(api.bump());
                api.lease = Some(lease.clone());
                reply(StatusCode::OK, &lease)
            }
            (Method::GET, STREAMS) => {
                let version = api.version.to_string();
                let items = vec![api.stream.clone()];
                reply(
                    StatusCode::OK,
                    &json!({"apiVersion": "tributary.dev/v1alpha1", "kind": "StreamList", "metadata": {"resourceVersion": version}, "items": items}),
                )
            }
            (Method::GET, PUSHES) => reply(
                StatusCode::OK,
                &json!({"apiVersion": "tributary.dev/v1alpha1", "kind": "PushList", "metadata": {"resourceVersion": "1"}, "items": []}),
            ),
            (Method::PATCH, STREAM) => {
                let version = api.bump();
                api.stream["metadata"]["finalizers"] = body["metadata"]["finalizers"].clone();
                api.stream["metadata"]["resourceVersion"] = json!(version);
                let obj = api.stream.clone();
                api.pending.push_back(obj.clone());
                reply(StatusCode::OK, &obj)
            }
            (Method::PATCH, p) if p == format!("{STREAM}/status") => {
                let version = api.bump();
                let mut status = api.stream.get("status").cloned().unwrap_or(json!({}));
                merge(&mut status, &body["status"]);
                api.stream["status"] = status;
                api.stream["metadata"]["resourceVersion"] = json!(version);
                let obj = api.stream.clone();
                api.pending.push_back(obj.clone());
                reply(StatusCode::OK, &obj)
            }
            (Method::POST, EVENTS) => reply(StatusCode::CREATED, &body),
            _ => not_found(),
        };
        send.send_response(response);
    }
}

/// RFC 7386 merge.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let t = target.as_object_mut().unwrap();
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

async fn wait(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn options(identity: &str) -> Options {
    Options {
        controller: controller::Config {
            watch_namespace: None,
            resync: Duration::from_secs(1),
            instance: identity.into(),
        },
        leader: operator::leader::Config {
            namespace: "ops".into(),
            name: "tributary-operator".into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            retry_period: Duration::from_secs(2),
        },
        settings: Settings::default(),
    }
}

fn new_api() -> Arc<Mutex<Api>> {
    Arc::new(Mutex::new(Api {
        version: 10,
        stream: json!({
            "apiVersion": "tributary.dev/v1alpha1",
            "kind": "Stream",
            "metadata": {"name": "cam", "namespace": "media", "uid": "u-1", "resourceVersion": "10",
                         "generation": 1, "creationTimestamp": "2026-11-26T08:00:00Z"},
            "spec": {"source": "srt://:9000"}
        }),
        ..Api::default()
    }))
}

/// An operator replica on its own client to the shared fake API.
struct Replica {
    leading: watch::Receiver<bool>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    server: tokio::task::JoinHandle<()>,
}

fn replica(identity: &str, api: &Arc<Mutex<Api>>, store: &Arc<Embedded>) -> Replica {
    let (service, handle) = pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let server = tokio::spawn(serve(handle, api.clone()));
    let (leading_tx, leading) = watch::channel(false);
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(runtime::run(
        client,
        store.clone(),
        options(identity),
        Metrics::default(),
        leading_tx,
        async move {
            let _ = stop_rx.await;
        },
    ));
    Replica {
        leading,
        stop,
        task,
        server,
    }
}

impl Replica {
    async fn stop(self) {
        self.stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the operator stops")
            .unwrap();
        assert!(!*self.leading.borrow());
        self.server.abort();
    }
}

#[tokio::test]
async fn of_two_replicas_one_leads_and_the_other_takes_over_when_it_stops() {
    let store = Arc::new(Embedded::new());
    let api = new_api();
    let a = replica("op-a", &api, &store);
    let b = replica("op-b", &api, &store);
    wait("a leader", || *a.leading.borrow() || *b.leading.borrow()).await;
    for _ in 0..40 {
        assert!(!(*a.leading.borrow() && *b.leading.borrow()), "both lead");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (leader, standby) = if *a.leading.borrow() { (a, b) } else { (b, a) };
    assert!(!*standby.leading.borrow());
    let holder = api.lock().lease.as_ref().unwrap()["spec"]["holderIdentity"].clone();
    leader.stop().await;
    // The released Lease is taken at once, not after its duration.
    wait("the standby to take over", || *standby.leading.borrow()).await;
    assert_ne!(
        api.lock().lease.as_ref().unwrap()["spec"]["holderIdentity"],
        holder
    );
    assert_eq!(api.lock().lease.as_ref().unwrap()["spec"]["leaseTransitions"], 1);
    standby.stop().await;
}

#[tokio::test]
async fn the_operator_leads_reconciles_a_new_stream_and_releases_its_lease() {
    let store = Arc::new(Embedded::new());
    let ingest = NodeInfo {
        id: "ingest-0".into(),
        role: "ingest".into(),
        ..NodeInfo::default()
    };
    store
        .put(
            &keys::node_key("ingest", "ingest-0"),
            serde_json::to_vec(&ingest).unwrap(),
            None,
        )
        .await
        .unwrap();

    let api = new_api();
    let op = replica("op-0", &api, &store);
    let leading = op.leading.clone();
    wait("leadership", || *leading.borrow()).await;
    assert_eq!(
        api.lock().lease.as_ref().unwrap()["spec"]["holderIdentity"],
        "op-0"
    );

    wait("the status patch", || {
        api.lock().stream["status"]["state"].as_str() == Some("booting")
    })
    .await;
    {
        let api = api.lock();
        assert_eq!(api.stream["metadata"]["finalizers"], json!([FINALIZER]));
        assert_eq!(api.stream["status"]["node"], "ingest-0");
        let reasons: Vec<_> = api.stream["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["type"].as_str().unwrap().to_owned(),
                    c["reason"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert!(
            reasons.contains(&("Assigned".into(), "Assigned".into())),
            "{reasons:?}"
        );
        // The finalizer came before anything was written for the stream.
        let first_patch = api
            .log
            .iter()
            .position(|(m, p, _)| m == Method::PATCH && p == STREAM)
            .unwrap();
        let first_status = api
            .log
            .iter()
            .position(|(_, p, _)| p.ends_with("/status"))
            .unwrap();
        assert!(first_patch < first_status);
    }
    wait("the Assigned event", || {
        api.lock()
            .log
            .iter()
            .any(|(m, p, b)| *m == Method::POST && p == EVENTS && b["reason"] == "Assigned")
    })
    .await;
    let spec = store.get(&keys::stream_spec_key("cam")).await.unwrap().unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&spec).unwrap()["source"],
        "srt://:9000"
    );
    assert_eq!(
        store.get(&keys::assignment_key("cam")).await.unwrap().as_deref(),
        Some(&b"ingest-0"[..])
    );

    // A resync with nothing changed writes nothing more.
    let patches = || {
        api.lock()
            .log
            .iter()
            .filter(|(m, p, _)| *m == Method::PATCH && p.starts_with(STREAM))
            .count()
    };
    let before = patches();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(patches(), before, "no writes while nothing changes");

    // The node reports the stream live, then only its bitrate moves: the
    // status goes live once and is not rewritten for every new rate.
    store
        .put(&keys::owner_key("cam"), b"ingest-0".to_vec(), None)
        .await
        .unwrap();
    let report = |bitrate: u64| {
        serde_json::to_vec(&json!({"state": "live", "node": "ingest-0",
            "tracks": [{"id": 1, "codec": "h264", "bitrate": bitrate}]}))
        .unwrap()
    };
    store
        .put(&keys::stream_status_key("cam"), report(1_000_000), None)
        .await
        .unwrap();
    wait("the live status", || {
        api.lock().stream["status"]["state"] == "live"
    })
    .await;
    let live_patches = patches();
    for i in 0..15u64 {
        store
            .put(
                &keys::stream_status_key("cam"),
                report(1_000_000 + i * 1000),
                None,
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        patches(),
        live_patches,
        "rates alone are not written within the refresh period"
    );

    // Shutdown: leadership ends and the Lease is released.
    op.stop().await;
    let lease = api.lock().lease.clone().unwrap();
    assert!(
        lease["spec"]["holderIdentity"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "released: {lease}"
    );
}
