//! Building responses: bodies, error bodies, and the one place that decides cache headers.

use std::io;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::{Response, StatusCode};

use super::error::ApiError;

/// Every response body: in memory or streamed from the store.
pub type Body = UnsyncBoxBody<Bytes, io::Error>;

/// A body from bytes held in memory.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed_unsync()
}

/// No body.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// What a 503 tells the client: overload is brief, come back in a second.
const RETRY_AFTER_SECONDS: &str = "1";

/// `{"error": "..."}` with the error's status; never cached.
pub fn error(e: &ApiError) -> Response<Body> {
    let body = serde_json::to_vec(&serde_json::json!({ "error": e.message })).unwrap_or_default();
    let mut response = Response::new(full(body));
    *response.status_mut() = e.status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if e.status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    }
    response
}

/// Who may keep a response, and for how long.
#[derive(Debug, Clone)]
pub struct Caching {
    /// Strong ETag, quoted.
    pub etag: String,
    /// Seconds, never beyond the token's remaining life.
    pub max_age: u64,
    /// Shared caches (NGINX) may keep it; otherwise only the browser.
    pub shared: bool,
}

impl Caching {
    fn apply(&self, headers: &mut HeaderMap) {
        let scope = if self.shared { "public" } else { "private" };
        if let Ok(v) = HeaderValue::from_str(&format!("{scope}, max-age={}", self.max_age)) {
            headers.insert(header::CACHE_CONTROL, v);
        }
        if let Ok(v) = HeaderValue::from_str(&self.etag) {
            headers.insert(header::ETAG, v);
        }
    }

    /// Whether `If-None-Match` in `headers` names this version.
    pub fn not_modified(&self, headers: &HeaderMap) -> bool {
        headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).any(|list| {
            list.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == self.etag)
        })
    }

    /// 304 Not Modified with the validators.
    pub fn not_modified_response(&self) -> Response<Body> {
        let mut response = Response::new(empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        self.apply(response.headers_mut());
        response
    }
}

/// A successful response with a known length; the body is dropped for HEAD.
pub fn ok(status: StatusCode, content_type: &str, length: u64, body: Body, caching: &Caching, head: bool) -> Response<Body> {
    let mut response = Response::new(if head { empty() } else { body });
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    caching.apply(headers);
    response
}

/// A successful response from bytes in memory.
pub fn bytes(content_type: &str, body: Bytes, caching: &Caching, head: bool) -> Response<Body> {
    let length = body.len() as u64;
    ok(StatusCode::OK, content_type, length, full(body), caching, head)
}

/// A small uncached text answer.
pub fn text(body: String) -> Response<Body> {
    let mut response = Response::new(full(body));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
