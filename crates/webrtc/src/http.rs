//! WHEP and WHIP over HTTP (RFC 9725 style): `POST` an SDP offer, get the
//! answer with `201 Created` and the session's URL in `Location`; `DELETE`
//! that URL to end the session; `PATCH` (trickle ICE) is accepted and not
//! needed: the server is ICE-lite and learns the client's addresses from its
//! connectivity checks; `GET` shows the session's state.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};

use crate::server::{OfferError, Server, SessionId};

/// Largest SDP offer accepted.
pub const OFFER_MAX: usize = 64 * 1024;

/// The WHEP and WHIP routes. The router must be served with
/// `into_make_service_with_connect_info::<SocketAddr>()` for WHIP's peer
/// address checks; without it publishers are checked as 0.0.0.0.
pub fn router(server: Arc<Server>) -> Router {
    Router::new()
        .route("/whep/{name}", post(whep))
        .route("/whip/{name}", post(whip))
        .route("/whep/{name}/{id}", delete(end).patch(patch).get(show))
        .route("/whip/{name}/{id}", delete(end).patch(patch).get(show))
        .layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(tower_http::cors::Any)
                .allow_methods([
                    Method::POST,
                    Method::PATCH,
                    Method::DELETE,
                    Method::GET,
                    Method::OPTIONS,
                ])
                .allow_headers(tower_http::cors::Any)
                .expose_headers([header::LOCATION, header::ETAG]),
        )
        .with_state(server)
}

fn text(status: StatusCode, message: impl Into<String>) -> Response {
    let mut r = (status, format!("{}\n", message.into())).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn is_sdp(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/sdp"))
        })
}

fn offer_text(headers: &HeaderMap, body: &Bytes) -> Result<String, (StatusCode, &'static str)> {
    if !is_sdp(headers) {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the offer must be sent as Content-Type: application/sdp",
        ));
    }
    if body.len() > OFFER_MAX {
        return Err((StatusCode::PAYLOAD_TOO_LARGE, "the offer is larger than 64 KiB"));
    }
    String::from_utf8(body.to_vec()).map_err(|_| (StatusCode::BAD_REQUEST, "the offer is not UTF-8 text"))
}

fn refused(e: &OfferError) -> Response {
    let status = match e {
        OfferError::BadSdp(_) | OfferError::Rejected(_) => StatusCode::BAD_REQUEST,
        OfferError::NoStream(_) => StatusCode::NOT_FOUND,
        OfferError::Offline(_) | OfferError::Full | OfferError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
        OfferError::Refused(_) => StatusCode::FORBIDDEN,
        OfferError::Busy(_) => StatusCode::CONFLICT,
    };
    text(status, e.to_string())
}

fn created(kind: &str, name: &str, id: SessionId, answer: String) -> Response {
    let mut r = (StatusCode::CREATED, answer).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/sdp"));
    if let Ok(v) = HeaderValue::from_str(&format!("/{kind}/{name}/{id}")) {
        h.insert(header::LOCATION, v);
    }
    r
}

async fn whep(
    State(server): State<Arc<Server>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let offer = match offer_text(&headers, &body) {
        Ok(o) => o,
        Err((status, why)) => return text(status, why),
    };
    match server.whep(&name, &offer).await {
        Ok((id, answer)) => created("whep", &name, id, answer),
        Err(e) => {
            tracing::info!(stream = %name, error = %e, "WHEP offer refused");
            refused(&e)
        }
    }
}

async fn whip(State(server): State<Arc<Server>>, Path(name): Path<String>, request: Request) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let Ok(body) = axum::body::to_bytes(body, OFFER_MAX + 1).await else {
        return text(StatusCode::BAD_REQUEST, "the offer could not be read");
    };
    let offer = match offer_text(&headers, &body) {
        Ok(o) => o,
        Err((status, why)) => return text(status, why),
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let peer = peer.map_or(std::net::IpAddr::from([0, 0, 0, 0]), |p| p.ip());
    match server.whip(&name, &offer, peer, token).await {
        Ok((id, answer)) => created("whip", &name, id, answer),
        Err(e) => {
            tracing::info!(stream = %name, %peer, error = %e, "WHIP offer refused");
            refused(&e)
        }
    }
}

fn session_of(server: &Server, name: &str, id: &str) -> Option<SessionId> {
    let id: SessionId = id.parse().ok()?;
    server.session(id).filter(|s| s.stream == name).map(|_| id)
}

async fn end(State(server): State<Arc<Server>>, Path((name, id)): Path<(String, String)>) -> Response {
    match session_of(&server, &name, &id) {
        Some(id) if server.remove(id).await => StatusCode::OK.into_response(),
        _ => text(StatusCode::NOT_FOUND, "no such session"),
    }
}

async fn patch(State(server): State<Arc<Server>>, Path((name, id)): Path<(String, String)>) -> Response {
    match session_of(&server, &name, &id) {
        // ICE-lite: the client's candidates are learned from its checks.
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => text(StatusCode::NOT_FOUND, "no such session"),
    }
}

async fn show(State(server): State<Arc<Server>>, Path((name, id)): Path<(String, String)>) -> Response {
    let Some(info) = session_of(&server, &name, &id).and_then(|id| server.session(id)) else {
        return text(StatusCode::NOT_FOUND, "no such session");
    };
    axum::Json(serde_json::json!({
        "role": info.role,
        "stream": info.stream,
        "state": info.state,
        "note": info.note,
        "estimateBps": info.estimate_bps,
        "videoLimited": info.limited,
    }))
    .into_response()
}
