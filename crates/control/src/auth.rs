//! The API's bearer token: one configured secret guards the REST API
//! (`/api/...`) and every gRPC call of the control service. Without a token
//! the API is open.
//!
//! Tokens are compared in constant time (`subtle`): how long a comparison
//! takes tells nothing about how much of a guess was right (only whether its
//! length was).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

/// The secret API clients must present as `Authorization: Bearer TOKEN`.
#[derive(Clone)]
pub struct ApiToken(Arc<str>);

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(***)")
    }
}

// === impl ApiToken ===

impl ApiToken {
    /// The token `secret`; `None` when it is empty (an open API).
    pub fn new(secret: &str) -> Option<Self> {
        let secret = secret.trim();
        (!secret.is_empty()).then(|| Self(secret.into()))
    }

    /// True when `presented` is the token (constant-time comparison).
    pub fn matches(&self, presented: &str) -> bool {
        bool::from(self.0.as_bytes().ct_eq(presented.as_bytes()))
    }

    /// True when an `Authorization` header value carries the token as
    /// `Bearer TOKEN` (scheme case-insensitive).
    pub fn allows(&self, authorization: Option<&[u8]>) -> bool {
        authorization
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(bearer)
            .is_some_and(|t| self.matches(t))
    }
}

/// The token of an `Authorization: Bearer TOKEN` value.
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// `401` with `WWW-Authenticate: Bearer` unless the request carries the token.
/// Use with `axum::middleware::from_fn_with_state(token, auth::require)`.
pub async fn require(State(token): State<Option<ApiToken>>, request: Request, next: Next) -> Response {
    let Some(token) = token else {
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    if token.allows(presented) {
        return next.run(request).await;
    }
    let why = if presented.is_some() {
        "the API token is wrong"
    } else {
        "the API needs a token: send Authorization: Bearer TOKEN"
    };
    let mut r = (
        StatusCode::UNAUTHORIZED,
        axum::Json(serde_json::json!({ "error": why })),
    )
        .into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"tributary\""),
    );
    r
}

/// A tonic interceptor refusing calls without the token with `UNAUTHENTICATED`.
#[derive(Clone, Debug)]
pub struct GrpcAuth(pub Option<ApiToken>);

impl tonic::service::Interceptor for GrpcAuth {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let Some(token) = &self.0 else {
            return Ok(request);
        };
        let presented = request.metadata().get("authorization").map(|v| v.as_bytes());
        if token.allows(presented) {
            Ok(request)
        } else if presented.is_some() {
            Err(tonic::Status::unauthenticated("the API token is wrong"))
        } else {
            Err(tonic::Status::unauthenticated(
                "the API needs a token: send authorization: Bearer TOKEN",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_exactly() {
        assert!(ApiToken::new("  ").is_none());
        let t = ApiToken::new("s3cret").unwrap();
        assert!(t.matches("s3cret"));
        assert!(!t.matches("s3cre"));
        assert!(!t.matches("s3cret2"));
        assert!(!t.matches(""));
        assert!(t.allows(Some(b"Bearer s3cret")));
        assert!(t.allows(Some(b"bearer  s3cret ")));
        assert!(!t.allows(Some(b"Basic s3cret")));
        assert!(!t.allows(Some(b"s3cret")));
        assert!(!t.allows(None));
        assert_eq!(format!("{t:?}"), "ApiToken(***)");
    }
}
