//! The REST API under `/api/v1`, JSON bodies of the one spec type (camelCase).
//!
//! | method and path | what |
//! |---|---|
//! | `GET /api/v1/streams` | every stream: `[{name, spec, status}]` |
//! | `GET /api/v1/streams/NAME` | one stream: `{name, spec, status}` |
//! | `PUT /api/v1/streams/NAME` | create or replace (body: `StreamSpec`) |
//! | `DELETE /api/v1/streams/NAME` | delete (204) |
//! | `GET /api/v1/pushes` | every push: `[{name, spec, status, streams}]` |
//! | `GET /api/v1/pushes/NAME` | one push: `{name, spec, status, streams}` (`streams`: per matching stream) |
//! | `PUT /api/v1/pushes/NAME` | create or replace (body: `PushSpec`) |
//! | `DELETE /api/v1/pushes/NAME` | delete (204); its runs stop |
//! | `POST /api/v1/pushes/NAME/start`, `.../stop` | start or stop a push; answers `{name, spec, status, streams}` |
//!
//! | `GET /api/v1/nodes` | every node: `[{id, role, info}]` |
//! | `GET /api/v1/sessions` | viewers per stream: `[{stream, viewers, byProtocol}]` |
//!
//! Errors are `{"error": "..."}` with 400 (bad name or spec), 401 (missing
//! or wrong token, see [`router_with_token`]), 404 (no such stream or push),
//! 500 (could not save) or 503 (this node runs no pushes).

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use spec::{PushSpec, StreamSpec};

use crate::{ApiError, Service};

/// The API router without a token; merge it into the node's HTTP router.
pub fn router(service: Arc<Service>) -> Router {
    router_with_token(service, None)
}

/// The API router; with a token, every route answers 401 (and
/// `WWW-Authenticate: Bearer`) to requests without `Authorization: Bearer TOKEN`.
pub fn router_with_token(service: Arc<Service>, token: Option<crate::ApiToken>) -> Router {
    Router::new()
        .route("/api/v1/nodes", get(list_nodes))
        .route("/api/v1/sessions", get(list_sessions))
        .route("/api/v1/streams", get(list))
        .route("/api/v1/streams/{name}", get(get_one).put(put).delete(delete))
        .route("/api/v1/pushes", get(list_pushes))
        .route(
            "/api/v1/pushes/{name}",
            get(get_push).put(put_push).delete(delete_push),
        )
        .route("/api/v1/pushes/{name}/start", post(start_push))
        .route("/api/v1/pushes/{name}/stop", post(stop_push))
        .with_state(service)
        .layer(axum::middleware::from_fn_with_state(token, crate::auth::require))
}

async fn list_nodes(State(s): State<Arc<Service>>) -> Response {
    s.list_nodes().await.map(Json).into_response_or_error()
}

async fn list_sessions(State(s): State<Arc<Service>>) -> Response {
    Json(s.list_sessions()).into_response()
}

async fn list(State(s): State<Arc<Service>>) -> Response {
    Json(s.list_streams()).into_response()
}

async fn get_one(State(s): State<Arc<Service>>, Path(name): Path<String>) -> Response {
    s.get_stream(&name).map(Json).into_response_or_error()
}

async fn put(
    State(s): State<Arc<Service>>,
    Path(name): Path<String>,
    body: Result<Json<StreamSpec>, JsonRejection>,
) -> Response {
    let spec = match body {
        Ok(Json(spec)) => spec,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.body_text()),
    };
    s.put_stream(&name, spec).map(Json).into_response_or_error()
}

async fn delete(State(s): State<Arc<Service>>, Path(name): Path<String>) -> Response {
    s.delete_stream(&name)
        .map(|()| StatusCode::NO_CONTENT)
        .into_response_or_error()
}

async fn list_pushes(State(s): State<Arc<Service>>) -> Response {
    Json(s.list_pushes()).into_response()
}

async fn get_push(State(s): State<Arc<Service>>, Path(name): Path<String>) -> Response {
    s.get_push(&name).map(Json).into_response_or_error()
}

async fn put_push(
    State(s): State<Arc<Service>>,
    Path(name): Path<String>,
    body: Result<Json<PushSpec>, JsonRejection>,
) -> Response {
    let spec = match body {
        Ok(Json(spec)) => spec,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.body_text()),
    };
    s.put_push(&name, spec).map(Json).into_response_or_error()
}

async fn delete_push(State(s): State<Arc<Service>>, Path(name): Path<String>) -> Response {
    s.delete_push(&name)
        .map(|()| StatusCode::NO_CONTENT)
        .into_response_or_error()
}

async fn start_push(State(s): State<Arc<Service>>, Path(name): Path<String>) -> Response {
    s.start_push(&name).map(Json).into_response_or_error()
}

async fn stop_push(State(s): State<Arc<Service>>, Path(name): Path<String>) -> Response {
    s.stop_push(&name).map(Json).into_response_or_error()
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::NotFound(_) | Self::NoPush(_) => StatusCode::NOT_FOUND,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Persist(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        error(status, &self.to_string())
    }
}

trait IntoResponseOrError {
    fn into_response_or_error(self) -> Response;
}

impl<T: IntoResponse> IntoResponseOrError for Result<T, ApiError> {
    fn into_response_or_error(self) -> Response {
        match self {
            Ok(v) => v.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn call(app: &Router, method: &str, uri: &str, body: &str) -> (StatusCode, serde_json::Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap();
        let r = app.clone().oneshot(req).await.unwrap();
        let status = r.status();
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    #[tokio::test]
    async fn create_read_list_delete() {
        let saved = Arc::new(parking_lot::Mutex::new(0usize));
        let counter = saved.clone();
        let persist: crate::Persist = Box::new(move |specs| {
            *counter.lock() = specs.len();
            Ok(())
        });
        let hub = Arc::new(hub::Hub::default());
        let app = router(Arc::new(Service::new(
            hub.clone(),
            Default::default(),
            Some(persist),
            "node-1",
        )));

        let (s, v) = call(
            &app,
            "PUT",
            "/api/v1/streams/cam1",
            r#"{"source":"push://","alwaysOn":false}"#,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["name"], "cam1");
        assert_eq!(v["spec"]["source"], "push://");
        assert_eq!(v["spec"]["dvrWindowSeconds"], 30);
        assert_eq!(v["status"]["state"], "waiting");
        assert_eq!(*saved.lock(), 1);
        assert!(hub.get("cam1").is_some(), "defined streams exist in the hub");

        let (s, v) = call(&app, "GET", "/api/v1/streams", "").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v.as_array().unwrap().len(), 1);

        let (s, _) = call(&app, "DELETE", "/api/v1/streams/cam1", "").await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        assert_eq!(*saved.lock(), 0);
        let (s, v) = call(&app, "GET", "/api/v1/streams/cam1", "").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert!(v["error"].as_str().unwrap().contains("cam1"));
    }

    #[tokio::test]
    async fn a_token_guards_every_route() {
        let hub = Arc::new(hub::Hub::default());
        let service = Arc::new(Service::new(hub, Default::default(), None, "n"));
        let app = router_with_token(service, crate::ApiToken::new("s3cret"));
        for (auth, expect) in [
            (None, StatusCode::UNAUTHORIZED),
            (Some("Bearer guess"), StatusCode::UNAUTHORIZED),
            (Some("s3cret"), StatusCode::UNAUTHORIZED),
            (Some("Bearer s3cret"), StatusCode::OK),
        ] {
            for uri in [
                "/api/v1/streams",
                "/api/v1/pushes",
                "/api/v1/nodes",
                "/api/v1/sessions",
            ] {
                let mut req = Request::builder().uri(uri);
                if let Some(a) = auth {
                    req = req.header("authorization", a);
                }
                let r = app
                    .clone()
                    .oneshot(req.body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                assert_eq!(r.status(), expect, "{uri} {auth:?}");
                if expect == StatusCode::UNAUTHORIZED {
                    let challenge = r.headers().get("www-authenticate").unwrap().to_str().unwrap();
                    assert!(challenge.starts_with("Bearer"), "{challenge}");
                }
            }
        }
    }

    #[tokio::test]
    async fn nodes_and_sessions_are_listed() {
        let hub = Arc::new(hub::Hub::default());
        let app = router(Arc::new(Service::new(
            hub.clone(),
            Default::default(),
            None,
            "n1",
        )));
        let _viewer = hub.stream("cam").subscribe_as(hub::Protocol::Mp4);
        let (s, v) = call(&app, "GET", "/api/v1/nodes", "").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v[0]["id"], "n1");
        assert_eq!(v[0]["role"], "standalone");
        assert_eq!(v[0]["info"]["streams"], 1);
        let (s, v) = call(&app, "GET", "/api/v1/sessions", "").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v[0]["stream"], "cam");
        assert_eq!(v[0]["byProtocol"]["mp4"], 1, "{v}");
    }

    #[tokio::test]
    async fn bad_requests_are_400_with_a_reason() {
        let hub = Arc::new(hub::Hub::default());
        let app = router(Arc::new(Service::new(hub, Default::default(), None, "n")));
        for (uri, body, expect) in [
            ("/api/v1/streams/bad%20name", r#"{"source":"push://"}"#, "name"),
            ("/api/v1/streams/ok", r#"{"source":"gopher://x"}"#, "gopher"),
            ("/api/v1/streams/ok", r#"{"source":"push://","bogus":1}"#, "bogus"),
            ("/api/v1/streams/ok", "not json", "JSON"),
            ("/api/v1/streams/cam+1", r#"{"source":"push://"}"#, "wildcard"),
        ] {
            let (s, v) = call(&app, "PUT", uri, body).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{uri} {body}: {v}");
            let msg = v["error"].as_str().unwrap_or_default().to_owned();
            assert!(
                msg.to_lowercase().contains(&expect.to_lowercase()),
                "{uri} {body}: {msg}"
            );
        }
    }
}

#[cfg(test)]
mod push_tests {
    use std::collections::BTreeMap;

    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use parking_lot::Mutex;
    use spec::{PushState, PushStatus};
    use tower::ServiceExt;

    use super::*;

    /// A runner that records starts and stops and reports `pushing` once started.
    #[derive(Default)]
    struct FakeRunner {
        started: Mutex<BTreeMap<String, bool>>,
    }

    impl crate::PushRunner for FakeRunner {
        fn status(&self, name: &str) -> Option<PushStatus> {
            let on = self.started.lock().get(name).copied().unwrap_or(false);
            Some(PushStatus {
                state: if on {
                    PushState::Pushing
                } else {
                    PushState::Stopped
                },
                bytes: if on { 1000 } else { 0 },
                ..Default::default()
            })
        }

        fn stream_statuses(&self, name: &str) -> BTreeMap<String, PushStatus> {
            self.status(name)
                .filter(|s| s.state == PushState::Pushing)
                .map(|s| BTreeMap::from([("cam".to_owned(), s)]))
                .unwrap_or_default()
        }

        fn start(&self, name: &str) -> Result<(), String> {
            self.started.lock().insert(name.to_owned(), true);
            Ok(())
        }

        fn stop(&self, name: &str) -> Result<(), String> {
            self.started.lock().insert(name.to_owned(), false);
            Ok(())
        }
    }

    async fn call(app: &Router, method: &str, uri: &str, body: &str) -> (StatusCode, serde_json::Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap();
        let r = app.clone().oneshot(req).await.unwrap();
        let status = r.status();
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    fn app(saved: Arc<Mutex<Vec<String>>>, runner: bool) -> Router {
        let persist: crate::PersistPushes = Box::new(move |specs| {
            *saved.lock() = specs.keys().cloned().collect();
            Ok(())
        });
        let hub = Arc::new(hub::Hub::default());
        let service = Service::new(hub, Default::default(), None, "node-1")
            .with_pushes(Default::default(), Some(persist));
        if runner {
            service.set_push_runner(Arc::new(FakeRunner::default()));
        }
        router(Arc::new(service))
    }

    #[tokio::test]
    async fn create_start_stop_list_delete() {
        let saved = Arc::new(Mutex::new(Vec::new()));
        let app = app(saved.clone(), true);
        let (s, v) = call(
            &app,
            "PUT",
            "/api/v1/pushes/rec",
            r#"{"stream":"cam","target":"/rec/$stream.ts","retry":{"intervalSeconds":2}}"#,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["name"], "rec");
        assert_eq!(v["spec"]["target"], "/rec/$stream.ts");
        assert_eq!(v["spec"]["autoStart"], false);
        assert_eq!(v["spec"]["retry"]["intervalSeconds"], 2);
        assert_eq!(v["status"]["state"], "stopped");
        assert!(v.get("streams").is_none(), "{v}");
        assert_eq!(*saved.lock(), ["rec"]);

        let (s, v) = call(&app, "POST", "/api/v1/pushes/rec/start", "").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["status"]["state"], "pushing");
        assert_eq!(v["status"]["node"], "node-1");
        assert_eq!(v["streams"]["cam"]["bytes"], 1000);
        let (s, v) = call(&app, "GET", "/api/v1/pushes", "").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v.as_array().unwrap().len(), 1);
        assert_eq!(v[0]["status"]["state"], "pushing");
        let (s, v) = call(&app, "POST", "/api/v1/pushes/rec/stop", "").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["status"]["state"], "stopped");

        let (s, _) = call(&app, "DELETE", "/api/v1/pushes/rec", "").await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        assert!(saved.lock().is_empty());
        for (method, uri) in [
            ("GET", "/api/v1/pushes/rec"),
            ("DELETE", "/api/v1/pushes/rec"),
            ("POST", "/api/v1/pushes/rec/start"),
        ] {
            let (s, v) = call(&app, method, uri, "").await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{method} {uri}");
            assert_eq!(v["error"], "no push named \"rec\"");
        }
    }

    #[tokio::test]
    async fn bad_pushes_are_400_with_a_reason_and_no_runner_is_503() {
        let saved = Arc::new(Mutex::new(Vec::new()));
        let app = app(saved.clone(), false);
        for (uri, body, expect) in [
            (
                "/api/v1/pushes/bad%20name",
                r#"{"stream":"cam","target":"/x.ts"}"#,
                "name",
            ),
            (
                "/api/v1/pushes/p+1",
                r#"{"stream":"cam","target":"/x.ts"}"#,
                "'+'",
            ),
            (
                "/api/v1/pushes/p",
                r#"{"stream":"cam","target":"ftp://x"}"#,
                "ftp",
            ),
            ("/api/v1/pushes/p", r#"{"stream":"cam","target":"/x.mp4"}"#, ".ts"),
            (
                "/api/v1/pushes/p",
                r#"{"stream":"a/b","target":"/x.ts"}"#,
                "stream",
            ),
            (
                "/api/v1/pushes/p",
                r#"{"stream":"cam","target":"/x.ts","bogus":1}"#,
                "bogus",
            ),
            (
                "/api/v1/pushes/p",
                r#"{"stream":"cam","target":"/x.ts","retry":{"intervalSeconds":0}}"#,
                "intervalSeconds",
            ),
            ("/api/v1/pushes/p", "not json", "JSON"),
        ] {
            let (s, v) = call(&app, "PUT", uri, body).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{uri} {body}: {v}");
            let msg = v["error"].as_str().unwrap_or_default().to_owned();
            assert!(
                msg.to_lowercase().contains(&expect.to_lowercase()),
                "{uri} {body}: {msg}"
            );
        }
        assert!(saved.lock().is_empty(), "nothing invalid is saved");
        let (s, _) = call(
            &app,
            "PUT",
            "/api/v1/pushes/p",
            r#"{"stream":"cam+","target":"/x.ts"}"#,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let (s, v) = call(&app, "POST", "/api/v1/pushes/p/start", "").await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    }
}
