//! Bounded HTTP(S) GETs for playlists and segments.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use media::hls::ByteRange;

/// Longest wait for a TCP (and TLS) connection.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An HTTP client. TLS is rustls with the webpki root certificates and the
/// process-wide default crypto provider when one is installed, `ring`
/// otherwise (reqwest picks it explicitly: no start-up call is needed, and
/// another crate enabling `aws-lc-rs` cannot make it panic).
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
}

/// A fetched resource.
#[derive(Debug)]
pub(crate) struct Body {
    /// The bytes (of the range, when one was asked for).
    pub(crate) data: Bytes,
    /// The URL after redirects: the base for the URIs inside a playlist.
    pub(crate) url: String,
}

// === impl Http ===

impl Http {
    pub(crate) fn new() -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("tributary/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| format!("cannot create the http client: {}", chain(&e)))?;
        Ok(Self { client })
    }

    /// GETs `url` (or the byte `range` of it) within `timeout`, refusing
    /// bodies over `limit` bytes. Errors name the URL and the HTTP status.
    pub(crate) async fn get(
        &self,
        url: &str,
        range: Option<ByteRange>,
        limit: usize,
        timeout: Duration,
    ) -> Result<Body, String> {
        match tokio::time::timeout(timeout, self.fetch(url, range, limit)).await {
            Ok(r) => r.map_err(|e| format!("GET {url}: {e}")),
            Err(_) => Err(format!("GET {url}: no complete response within {timeout:?}")),
        }
    }

    async fn fetch(&self, url: &str, range: Option<ByteRange>, limit: usize) -> Result<Body, String> {
        let mut request = self.client.get(url);
        if let Some(r) = range {
            let last = r
                .offset
                .checked_add(r.length)
                .and_then(|end| end.checked_sub(1))
                .filter(|_| r.length > 0)
                .ok_or_else(|| format!("bad byte range {}@{}", r.length, r.offset))?;
            request = request.header(reqwest::header::RANGE, format!("bytes={}-{last}", r.offset));
        }
        let mut response = request.send().await.map_err(|e| chain(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        let too_big = |n: u64| format!("body of {n} bytes or more, over the {limit} bytes accepted");
        if let Some(len) = response.content_length().filter(|n| *n > limit as u64) {
            return Err(too_big(len));
        }
        let final_url = response.url().to_string();
        let hint = response.content_length().unwrap_or(0).min(limit as u64) as usize;
        let mut body = BytesMut::with_capacity(hint);
        while let Some(chunk) = response.chunk().await.map_err(|e| chain(&e))? {
            if body.len() + chunk.len() > limit {
                return Err(too_big((body.len() + chunk.len()) as u64));
            }
            body.extend_from_slice(&chunk);
        }
        let mut data = body.freeze();
        if let Some(r) = range.filter(|_| status == reqwest::StatusCode::OK) {
            // the server ignored the Range header and sent the whole resource
            let start = usize::try_from(r.offset).unwrap_or(usize::MAX);
            let end = start.saturating_add(usize::try_from(r.length).unwrap_or(usize::MAX));
            if end > data.len() {
                return Err(format!(
                    "byte range {}@{} is past the end of the {} byte resource",
                    r.length,
                    r.offset,
                    data.len()
                ));
            }
            data = data.slice(start..end);
        }
        Ok(Body { data, url: final_url })
    }
}

/// An error with its sources: reqwest's own message is often just
/// "error sending request".
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
