//! Building responses: bodies, error bodies, and the one place that decides cache headers.

use std::io;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::{Request, Response, StatusCode};

use super::error::ApiError;
use crate::State;
use crate::coding::Coding;

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
    /// `shared_max_age` bounds what a shared cache may keep (`s-maxage`): a shared copy outlives
    /// a deleted or replaced object by that long at most, while each browser keeps its own copy
    /// for its token's `max-age`.
    fn apply(&self, shared_max_age: u64, headers: &mut HeaderMap) {
        let value = if self.shared { format!("public, max-age={}, s-maxage={}", self.max_age, self.max_age.min(shared_max_age)) } else { format!("private, max-age={}", self.max_age) };
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(header::CACHE_CONTROL, v);
        }
        if let Ok(v) = HeaderValue::from_str(&self.etag) {
            headers.insert(header::ETAG, v);
        }
    }

    /// Keeps `self` with the response: [`finish`] writes the cache headers once, bounding the
    /// shared lifetime by the server's settings, which the operations do not see.
    fn attach(self, response: &mut Response<Body>) {
        response.extensions_mut().insert(self);
    }

    /// Whether `If-None-Match` in `headers` names this version.
    pub fn not_modified(&self, headers: &HeaderMap) -> bool {
        client_holds(headers, &self.etag)
    }

    /// 304 Not Modified with the validators.
    pub fn not_modified_response(&self) -> Response<Body> {
        let mut response = Response::new(empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        self.clone().attach(&mut response);
        response
    }
}

/// Whether `If-None-Match` in `headers` names the version `etag` (quoted) names.
pub fn client_holds(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|list| list.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag))
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
    caching.clone().attach(&mut response);
    response
}

/// A successful response whose length is not known before it is sent (chunked); the body is
/// dropped for HEAD.
pub fn streamed(content_type: &str, body: Body, caching: &Caching, head: bool) -> Response<Body> {
    let mut response = ok(StatusCode::OK, content_type, 0, body, caching, head);
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response
}

/// A successful response from bytes in memory.
pub fn bytes(content_type: &str, body: Bytes, caching: &Caching, head: bool) -> Response<Body> {
    let length = body.len() as u64;
    ok(StatusCode::OK, content_type, length, full(body), caching, head)
}

/// A successful response from bytes in memory already compressed in `coding`, which it names.
pub fn coded(content_type: &str, body: Bytes, coding: Coding, caching: &Caching, head: bool) -> Response<Body> {
    let mut response = bytes(content_type, body, caching, head);
    if let Some(name) = coding.name() {
        response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
    }
    response
}

/// A small uncached text answer.
pub fn text(body: String) -> Response<Body> {
    let mut response = Response::new(full(body));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The last step of every answer: the shared-cache lifetime `--shared-max-age` allows, and the
/// CORS headers where they belong.
pub fn finish<B>(state: &State, request: &Request<B>, response: &mut Response<Body>) {
    if let Some(caching) = response.extensions_mut().remove::<Caching>() {
        caching.apply(state.shared_max_age, response.headers_mut());
    }
    state.cors.apply(request, response);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::Settings;
    use crate::token::Keyring;

    fn cache_control(response: &Response<Body>) -> &str {
        response.headers()[header::CACHE_CONTROL].to_str().unwrap()
    }

    #[test]
    fn shared_caches_keep_an_answer_no_longer_than_the_shared_max_age() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(crate::store::fs::FsStore::new(dir.path()).unwrap());
        let keys = Keyring::parse("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n").unwrap();
        let state = State::new(keys, store, Settings { shared_max_age: 300, ..Default::default() });
        let request = Request::new(());
        let finished = |caching: Caching| {
            let mut response = bytes("image/jpeg", Bytes::from_static(b"x"), &caching, false);
            finish(&state, &request, &mut response);
            let mut not_modified = caching.not_modified_response();
            finish(&state, &request, &mut not_modified);
            assert_eq!(cache_control(&not_modified), cache_control(&response), "a 304 says what the 200 said");
            cache_control(&response).to_owned()
        };
        let etag = || "\"e\"".to_owned();
        assert_eq!(finished(Caching { etag: etag(), max_age: 3600, shared: true }), "public, max-age=3600, s-maxage=300");
        assert_eq!(finished(Caching { etag: etag(), max_age: 100, shared: true }), "public, max-age=100, s-maxage=100", "never beyond the token");
        assert_eq!(finished(Caching { etag: etag(), max_age: 3600, shared: false }), "private, max-age=3600");
        let mut refused = error(&ApiError::new(StatusCode::FORBIDDEN, "forbidden"));
        finish(&state, &request, &mut refused);
        assert_eq!(cache_control(&refused), "no-store");
    }
}
