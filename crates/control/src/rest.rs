//! The REST API under `/api/v1`, JSON bodies of the one spec type (camelCase).
//!
//! | method and path | what |
//! |---|---|
//! | `GET /api/v1/streams` | every stream: `[{name, spec, status}]` |
//! | `GET /api/v1/streams/NAME` | one stream: `{name, spec, status}` |
//! | `PUT /api/v1/streams/NAME` | create or replace (body: `StreamSpec`) |
//! | `DELETE /api/v1/streams/NAME` | delete (204) |
//!
//! Errors are `{"error": "..."}` with 400 (bad name or spec), 404 (no such
//! stream) or 500 (could not save).

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use spec::StreamSpec;

use crate::{ApiError, Service};

/// The API router; merge it into the node's HTTP router.
pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/api/v1/streams", get(list))
        .route("/api/v1/streams/{name}", get(get_one).put(put).delete(delete))
        .with_state(service)
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

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
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
