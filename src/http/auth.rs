//! `/auth`: NGINX's `auth_request` target. It verifies the token of the URI NGINX is about to
//! serve (`X-Original-URI`), with no storage access, so NGINX can check every request, even
//! one it answers from its own cache or from a static location.

use http::header::HeaderMap;
use hyper::{Response, StatusCode};

use super::ApiError;
use super::respond::{self, Body};
use crate::State;
use crate::audit::Access;

/// The header NGINX sends with the URI of the original request.
const ORIGINAL_URI: &str = "x-original-uri";
/// Sent by the shipped NGINX config: `auth_request` understands only 2xx, 401 and 403, so an
/// expired token is answered 401 there and turned back into 410 by `error_page`.
const NGINX_MODE: &str = "x-framegate-auth";
/// Seconds the checked token still has, capped by `--max-age`.
const MAX_AGE: &str = "x-framegate-max-age";

/// Answers 204 when the token in `X-Original-URI` grants its object, else 403 (or 410 when the
/// token is genuine but expired). What the token says of who asked goes into `access`.
pub fn check(state: &State, headers: &HeaderMap, now: u64, access: &mut Access) -> Result<Response<Body>, ApiError> {
    let uri = headers.get(ORIGINAL_URI).and_then(|v| v.to_str().ok()).ok_or_else(|| ApiError::bad_request("missing X-Original-URI"))?;
    let path = uri.split(['?', '#']).next().unwrap_or_default();
    // The token is the segment after the route's own: `/v1/{token}/…` or `/files/{token}/…`.
    access.token = path.split('/').nth(2).filter(|t| !t.is_empty()).map(str::to_owned);
    access.on_behalf_of = Some(match super::route::parse(path) {
        Ok(super::Route::Object { op, .. }) => op.name(),
        _ => "files",
    });
    let grant = match super::authorize(&state.keys, path, now) {
        Ok((key, grant)) => {
            access.granted(&grant, &key);
            grant
        }
        Err(e) if e.status == StatusCode::GONE && headers.contains_key(NGINX_MODE) => {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "token has expired"));
        }
        Err(e) => return Err(e),
    };
    let mut response = Response::new(respond::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    // What this request's token allows a cache to keep: NGINX passes it on to the browser
    // instead of the Cache-Control stored with a frame fetched under another token.
    headers.insert(MAX_AGE, http::HeaderValue::from(grant.remaining(now).min(state.max_age)));
    Ok(response)
}
