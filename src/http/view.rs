//! `/-/view`: the built-in viewer, one HTML page embedded in the binary. It reads `stack.json`
//! beside itself, so it needs no configuration and no storage access of its own.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use hyper::Response;

use super::respond::{self, Body, Caching};
use super::{ApiError, Ctx};

const PAGE: &str = include_str!("viewer.html");

/// The page's ETag: a digest of its bytes, so a new build is never shadowed by an old copy.
static ETAG: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| format!("\"v{}\"", &crate::cache::digest(&[PAGE.as_bytes()])[..16]));

/// The page may run only its own inline script and fetch only from where it came from; it never
/// sends its URL (which holds the token) as a referrer.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors *";

/// Serves the viewer page.
pub fn serve(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let caching = Caching { etag: ETAG.clone(), max_age: ctx.max_age(), shared: false };
    if caching.not_modified(ctx.headers) {
        return Ok(caching.not_modified_response());
    }
    let mut response = respond::bytes("text/html; charset=utf-8", Bytes::from_static(PAGE.as_bytes()), &caching, ctx.head);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(response)
}
