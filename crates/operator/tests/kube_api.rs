//! The operator's requests to the Kubernetes API, against kube's mock
//! service: finalizer patches on a new and a deleted resource, status patches
//! holding only what changed, and Events.

use std::sync::Arc;

use http::{Method, Request, Response};
use kube::api::DynamicObject;
use kube::client::Body;
use kube::runtime::events::{Recorder, Reporter};
use operator::controller::{self, api_resource};
use operator::decide::FINALIZER;
use operator::reconcile::{Kind, Reconciler, Settings};
use serde_json::{Value, json};
use spec::node::NodeInfo;
use store::{Embedded, StateStore, keys};
use tower_test::mock::{Handle, pair};

type Mock = Handle<Request<Body>, Response<Body>>;

fn client() -> (kube::Client, Mock) {
    let (service, handle) = pair::<Request<Body>, Response<Body>>();
    (kube::Client::new(service, "default"), handle)
}

fn recorder(client: &kube::Client) -> Recorder {
    Recorder::new(
        client.clone(),
        Reporter {
            controller: controller::MANAGER.into(),
            instance: Some("op-0".into()),
        },
    )
}

fn stream(spec: Value, finalizers: &[&str], deleting: bool, status: Option<Value>) -> DynamicObject {
    let mut obj = json!({
        "apiVersion": "tributary.dev/v1alpha1",
        "kind": "Stream",
        "metadata": {
            "name": "cam",
            "namespace": "media",
            "uid": "5d1c3c1e-0000-4000-8000-000000000001",
            "resourceVersion": "41",
            "generation": 3,
            "finalizers": finalizers,
            "creationTimestamp": "2026-11-26T08:00:00Z"
        },
        "spec": spec
    });
    if deleting {
        obj["metadata"]["deletionTimestamp"] = json!("2026-11-26T09:00:00Z");
    }
    if let Some(s) = status {
        obj["status"] = s;
    }
    serde_json::from_value(obj).unwrap()
}

/// Receives one request, checks method and path, answers `answer`, returns
/// the request's query and JSON body.
async fn expect(handle: &mut Mock, method: Method, path: &str, answer: Value) -> (String, String, Value) {
    let (request, send) = handle.next_request().await.expect("a request");
    assert_eq!(request.method(), method, "{}", request.uri());
    assert_eq!(request.uri().path(), path);
    let query = request.uri().query().unwrap_or_default().to_owned();
    let content_type = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = request.into_body().collect_bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    send.send_response(
        Response::builder()
            .body(Body::from(serde_json::to_vec(&answer).unwrap()))
            .unwrap(),
    );
    (query, content_type, body)
}

const PATH: &str = "/apis/tributary.dev/v1alpha1/namespaces/media/streams/cam";

#[tokio::test]
async fn new_resource_gets_the_finalizer_then_status_and_an_event() {
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
    let reconciler = Reconciler::new(store.clone(), Settings::default());
    let resource = api_resource(Kind::Stream);
    let (client, mut handle) = client();
    let rec = recorder(&client);

    // Created: the finalizer is added with the resourceVersion guard.
    let created = stream(json!({"source": "srt://:9000"}), &[], false, None);
    let r = controller::to_resource(&created).unwrap();
    let outcome = reconciler.reconcile(Kind::Stream, &r, None).await;
    let server = tokio::spawn(async move {
        let (_, ct, body) = expect(&mut handle, Method::PATCH, PATH, json!({})).await;
        assert_eq!(ct, "application/merge-patch+json");
        assert_eq!(
            body,
            json!({"metadata": {"finalizers": [FINALIZER], "resourceVersion": "41"}})
        );
        handle
    });
    controller::apply(&client, &resource, &rec, &created, &outcome)
        .await
        .unwrap();
    let mut handle = server.await.unwrap();

    // Updated (finalizer present): status patch on the subresource, then an Event.
    let marked = stream(json!({"source": "srt://:9000"}), &[FINALIZER], false, None);
    let r = controller::to_resource(&marked).unwrap();
    let outcome = reconciler.reconcile(Kind::Stream, &r, None).await;
    let first_status = outcome.status.clone().unwrap();
    let server = tokio::spawn(async move {
        let (query, ct, body) =
            expect(&mut handle, Method::PATCH, &format!("{PATH}/status"), json!({})).await;
        assert_eq!(ct, "application/merge-patch+json");
        assert!(query.contains("fieldManager=tributary-operator"), "{query}");
        assert_eq!(
            body["metadata"]["resourceVersion"], "41",
            "guarded by the version diffed against"
        );
        let status = &body["status"];
        assert_eq!(status["state"], "booting");
        assert_eq!(status["node"], "ingest-0");
        assert_eq!(status["observedGeneration"], 3);
        let types: Vec<_> = status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].clone())
            .collect();
        assert_eq!(types, [json!("Assigned"), json!("Ready"), json!("Live")]);

        let (_, _, event) = expect(
            &mut handle,
            Method::POST,
            "/apis/events.k8s.io/v1/namespaces/media/events",
            json!({}),
        )
        .await;
        assert_eq!(event["reason"], "Assigned");
        assert_eq!(event["type"], "Normal");
        assert_eq!(event["note"], "assigned to ingest node ingest-0");
        assert_eq!(event["regarding"]["kind"], "Stream");
        assert_eq!(event["regarding"]["name"], "cam");
        assert_eq!(event["regarding"]["uid"], "5d1c3c1e-0000-4000-8000-000000000001");
        assert_eq!(event["reportingController"], "tributary-operator");
        assert_eq!(event["reportingInstance"], "op-0");
        handle
    });
    controller::apply(&client, &resource, &rec, &marked, &outcome)
        .await
        .unwrap();
    let mut handle = server.await.unwrap();

    // The stream goes live: the patch carries only what changed, and `lastError`
    // that the node no longer reports is removed with null.
    store
        .put(&keys::owner_key("cam"), b"ingest-0".to_vec(), None)
        .await
        .unwrap();
    store
        .put(
            &keys::stream_status_key("cam"),
            serde_json::to_vec(
                &json!({"state": "live", "node": "ingest-0", "viewersByProtocol": {"srt": 2}}),
            )
            .unwrap(),
            None,
        )
        .await
        .unwrap();
    let mut with_error = first_status.clone();
    with_error["lastError"] = json!("old failure");
    let live = stream(
        json!({"source": "srt://:9000"}),
        &[FINALIZER],
        false,
        Some(with_error),
    );
    let outcome = reconciler
        .reconcile(Kind::Stream, &controller::to_resource(&live).unwrap(), None)
        .await;
    let server = tokio::spawn(async move {
        let (_, _, body) = expect(&mut handle, Method::PATCH, &format!("{PATH}/status"), json!({})).await;
        let status = body["status"].as_object().unwrap();
        assert_eq!(status["state"], "live");
        assert_eq!(status["lastError"], Value::Null);
        assert_eq!(status["viewers"], 2);
        assert!(
            !status.contains_key("node"),
            "unchanged fields are left out: {status:?}"
        );
        let (_, _, event) = expect(
            &mut handle,
            Method::POST,
            "/apis/events.k8s.io/v1/namespaces/media/events",
            json!({}),
        )
        .await;
        assert_eq!(event["reason"], "Live");
        handle
    });
    controller::apply(&client, &resource, &rec, &live, &outcome)
        .await
        .unwrap();
    let mut handle = server.await.unwrap();

    // Deleted: the store is cleaned and the finalizer removed, other finalizers kept.
    let deleted = stream(
        json!({"source": "srt://:9000"}),
        &["example.com/keep", FINALIZER],
        true,
        None,
    );
    let outcome = reconciler
        .reconcile(Kind::Stream, &controller::to_resource(&deleted).unwrap(), None)
        .await;
    assert!(store.get(&keys::stream_spec_key("cam")).await.unwrap().is_none());
    let server = tokio::spawn(async move {
        let (_, _, body) = expect(&mut handle, Method::PATCH, PATH, json!({})).await;
        assert_eq!(
            body,
            json!({"metadata": {"finalizers": ["example.com/keep"], "resourceVersion": "41"}})
        );
        handle
    });
    controller::apply(&client, &resource, &rec, &deleted, &outcome)
        .await
        .unwrap();
    let mut handle = server.await.unwrap();
    drop(client);
    drop(rec);
    assert!(handle.next_request().await.is_none(), "no further request");
}

#[tokio::test]
async fn api_errors_are_returned_for_a_retry() {
    let (client, mut handle) = client();
    let rec = recorder(&client);
    let obj = stream(json!({"source": "push://"}), &[], false, None);
    let outcome = operator::reconcile::Outcome {
        finalizers: Some(vec![FINALIZER.into()]),
        ..Default::default()
    };
    let server = tokio::spawn(async move {
        let (request, send) = handle.next_request().await.unwrap();
        assert_eq!(request.method(), Method::PATCH);
        let conflict = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "message": "the object has been modified", "reason": "Conflict", "code": 409});
        send.send_response(
            Response::builder()
                .status(409)
                .body(Body::from(serde_json::to_vec(&conflict).unwrap()))
                .unwrap(),
        );
    });
    let err = controller::apply(&client, &api_resource(Kind::Stream), &rec, &obj, &outcome)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("modified"), "{err}");
    server.await.unwrap();
    assert_eq!(controller::backoff(1), std::time::Duration::from_millis(500));
    assert_eq!(controller::backoff(3), std::time::Duration::from_secs(2));
    assert_eq!(controller::backoff(40), std::time::Duration::from_secs(60));
}
