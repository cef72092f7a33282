//! CORS for the portal and apps on other origins: an allow-list, off by default.

use http::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};

use super::respond::{self, Body};

/// Response headers a cross-origin viewer may read.
const EXPOSED: &str = "Content-Length, Content-Range, Accept-Ranges, ETag, X-Framegate-Transcode";
/// Request headers a cross-origin viewer may send.
const ALLOWED_HEADERS: &str = "Range, If-None-Match, If-Range";
/// How long a browser may keep a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// Origins allowed to read responses (`https://portal.example.org`); empty turns CORS off.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    origins: Vec<String>,
}

impl Cors {
    /// An allow-list of exact origins; `*` allows any origin.
    pub fn new(origins: impl IntoIterator<Item = String>) -> Self {
        Cors { origins: origins.into_iter().map(|o| o.trim().trim_end_matches('/').to_owned()).filter(|o| !o.is_empty()).collect() }
    }

    fn allowed<'a>(&self, headers: &'a HeaderMap) -> Option<&'a HeaderValue> {
        let origin = headers.get(header::ORIGIN)?;
        let text = origin.to_str().ok()?;
        self.origins.iter().any(|o| o == "*" || o == text).then_some(origin)
    }

    /// Adds the CORS headers for an allowed origin to `response`.
    pub fn apply(&self, request: &HeaderMap, response: &mut Response<Body>) {
        if self.origins.is_empty() {
            return;
        }
        let headers = response.headers_mut();
        // Caches must keep answers for different origins apart.
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = self.allowed(request) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED));
        }
    }

    /// The answer to a preflight `OPTIONS`, or `None` when this is not one CORS handles.
    pub fn preflight(&self, request: &HeaderMap) -> Option<Response<Body>> {
        if self.origins.is_empty() || !request.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
            return None;
        }
        let mut response = Response::new(respond::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        if self.allowed(request).is_some() {
            let headers = response.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, HEAD"));
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOWED_HEADERS));
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(PREFLIGHT_MAX_AGE));
        }
        self.apply(request, &mut response);
        Some(response)
    }
}
