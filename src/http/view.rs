//! `/-/view`: the built-in viewer, one HTML page embedded in the binary. It reads `stack.json`
//! beside itself, so it needs no configuration and no storage access of its own.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use hyper::Response;

use super::respond::{self, Body, Caching};
use super::{ApiError, Ctx};

/// The viewer's script, one file per concern (src/http/viewer/), in the order they build on each
/// other. They share one scope, as one inline script: the page keeps its single request and its
/// CSP, and needs no bundler.
const SCRIPT: &str = concat!(
    include_str!("viewer/state.js"),
    include_str!("viewer/stack.js"),
    include_str!("viewer/load.js"),
    include_str!("viewer/readahead.js"),
    include_str!("viewer/fill.js"),
    include_str!("viewer/show.js"),
    include_str!("viewer/draw.js"),
    include_str!("viewer/annotate.js"),
    include_str!("viewer/overlay.js"),
    include_str!("viewer/window.js"),
    include_str!("viewer/transform.js"),
    include_str!("viewer/input.js"),
    include_str!("viewer/fullimage.js"),
    include_str!("viewer/cine.js"),
    include_str!("viewer/series.js"),
    include_str!("viewer/plane.js"),
);

/// The page: its markup with the style sheet and the script inlined, assembled once.
static PAGE: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| include_str!("viewer/page.html").replacen("{style}", include_str!("viewer/viewer.css"), 1).replacen("{script}", SCRIPT, 1));

/// The page's ETag: a digest of its bytes, so a new build is never shadowed by an old copy.
static ETAG: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| format!("\"v{}\"", &crate::cache::digest(&[PAGE.as_bytes()])[..16]));

/// The page may run only its own inline script and fetch only from where it came from; it never
/// sends its URL (which holds the token) as a referrer. Who may frame it comes from the settings.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' blob:; base-uri 'none'; form-action 'none'";

/// The policy with `frame_ancestors` as the sources allowed to embed the page. Sources that
/// cannot be a header (set in code, not checked by the command line) let no one embed it.
fn csp(frame_ancestors: &str) -> HeaderValue {
    let policy = |sources: &str| HeaderValue::from_str(&format!("{CSP}; frame-ancestors {sources}"));
    policy(frame_ancestors).or_else(|_| policy("'none'")).unwrap_or(HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"))
}

/// Serves the viewer page.
pub fn serve(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let caching = Caching { etag: ETAG.clone(), max_age: ctx.max_age(), shared: false };
    if caching.not_modified(ctx.headers) {
        return Ok(caching.not_modified_response());
    }
    let mut response = respond::bytes("text/html; charset=utf-8", Bytes::from_static(PAGE.as_bytes()), &caching, ctx.head);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, csp(&ctx.state.frame_ancestors));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(response)
}

/// The page a person sees when the viewer link itself is refused: expired (410) or not valid
/// (403). It tells an embedding page through `postMessage`, as the viewer does.
const REFUSED: &str = include_str!("refused.html");

/// Answers a refused `/-/view` with [`REFUSED`] and the error's status, never cached.
pub fn refused(state: &crate::State, e: &ApiError) -> Response<Body> {
    let (code, text) = match e.status.as_u16() {
        410 => ("expired", "This link has expired. Ask for a new link to keep viewing."),
        _ => ("forbidden", "This link does not give access to these images."),
    };
    let page = REFUSED.replace("{code}", code).replace("{status}", e.status.as_str()).replace("{text}", text);
    let mut response = Response::new(respond::full(page));
    *response.status_mut() = e.status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::CONTENT_SECURITY_POLICY, csp(&state.frame_ancestors));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::key::ObjectKey;
    use crate::token::{Grant, Keyring};
    use crate::{Settings, State};

    /// The CSP of the viewer served by a server with these settings.
    fn served_csp(settings: Settings) -> String {
        let keys = Keyring::parse("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(crate::store::fs::FsStore::new(dir.path()).unwrap());
        let state = State::new(keys, store, settings);
        let headers = http::HeaderMap::new();
        let grant = Grant { kid: "k1".into(), expires: 2_000_000_000, depth: 1, purpose: crate::token::Purpose::View };
        let ctx = Ctx { state: &state, key: ObjectKey::parse_plain("ct").unwrap(), grant, now: 1_900_000_000, head: false, headers: &headers, query: None };
        let response = serve(&ctx).unwrap();
        response.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned()
    }

    #[test]
    fn only_the_configured_embedders_may_frame_the_viewer() {
        let csp = served_csp(Settings::default());
        assert!(csp.ends_with("; frame-ancestors 'self'"), "{csp}");
        assert!(!csp.contains('*'), "{csp}");
        let csp = served_csp(Settings { frame_ancestors: vec!["'self'".into(), "https://portal.example".into()], ..Default::default() });
        assert!(csp.ends_with("; frame-ancestors 'self' https://portal.example"), "{csp}");
        assert!(csp.contains("connect-src 'self'"));
        let csp = served_csp(Settings { frame_ancestors: vec!["https://a.example\n".into()], ..Default::default() });
        assert!(csp.ends_with("; frame-ancestors 'none'"), "a list that cannot be a header lets no one embed: {csp}");
    }
}
