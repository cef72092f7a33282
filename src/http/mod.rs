//! HTTP: routes, the per-request pipeline, and logging of each answer.
//!
//! Each object request is the same pipeline of named steps: parse the path, verify the token
//! (before any storage access), then the operation.

mod auth;
mod client;
mod cors;
mod dicomweb;
mod error;
mod frame;
mod info;
mod raw;
mod reformat;
mod region;
pub mod respond;
pub mod query;
mod route;
mod stack;
mod upload;
mod view;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderMap, HeaderValue};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

pub use client::TrustedProxies;
pub use cors::Cors;
pub use dicomweb::Caches as DicomWebCaches;
pub use error::ApiError;
pub use respond::Body;
pub use route::{Op, Route};
pub use upload::{UploadSettings, Uploads};

use crate::State;
use crate::audit::Access;
use crate::key::ObjectKey;
use crate::metrics::{HttpLabels, RouteLabel};
use crate::token::{Grant, Keyring, Purpose};

/// What every operation gets: the verified request.
pub struct Ctx<'a> {
    /// Shared server state.
    pub state: &'a State,
    /// The object key or prefix.
    pub key: ObjectKey,
    /// What the token grants.
    pub grant: Grant,
    /// Unix seconds when the request arrived.
    pub now: u64,
    /// HEAD: headers only.
    pub head: bool,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// Raw query string.
    pub query: Option<&'a str>,
}

impl Ctx<'_> {
    /// Cache lifetime: the configured maximum, cut to the token's remaining life.
    pub fn max_age(&self) -> u64 {
        self.grant.remaining(self.now).min(self.state.max_age)
    }

    /// The privacy policy as this request's token sees it.
    pub fn policy(&self) -> crate::deid::Policy {
        self.state.policy.for_token(&self.key.prefix(self.grant.depth).unwrap_or_default())
    }
}

/// The NGINX static route of the shipped config, `/files/{token}/{key}`: the stored bytes
/// unchanged, so only a token made for it opens it.
const FILES_ROUTE: &str = "/files/";

/// Parses an object path and verifies its token for that route, touching no storage: what
/// `/auth` answers, and what the token property tests drive a million times.
pub fn authorize(keys: &Keyring, path: &str, now: u64) -> Result<(ObjectKey, Grant), ApiError> {
    let (token, key, purpose) = match path.strip_prefix(FILES_ROUTE) {
        Some(rest) => {
            let (token, key) = rest.split_once('/').ok_or_else(|| ApiError::bad_request("missing object key"))?;
            (token.to_owned(), ObjectKey::from_url_segments(key.split('/'))?, Purpose::Files)
        }
        None => match route::parse(path)? {
            Route::Object { token, key, .. } => (token, key, Purpose::View),
            _ => return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden")),
        },
    };
    let grant = keys.verify(&token, &key, purpose, now)?;
    Ok((key, grant))
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Answers one request. Never fails: every error becomes its response here.
pub async fn handle(state: Arc<State>, peer: SocketAddr, req: Request<Incoming>) -> Result<Response<Body>, std::convert::Infallible> {
    let started = Instant::now();
    let mut route_name = "unknown";
    let mut access = Access::default();
    // The body is taken apart from the rest: only the upload route reads one.
    let (parts, body) = req.into_parts();
    let req = Request::from_parts(parts, ());
    let result = dispatch(&state, &req, body, &mut route_name, &mut access).await;
    let mut response = match result {
        Ok(response) => response,
        Err(e) => {
            if let Some(cause) = &e.cause {
                tracing::warn!(route = route_name, status = e.status.as_u16(), cause = %cause, "request failed");
            }
            respond::error(&e)
        }
    };
    respond::finish(&state, &req, &mut response);
    let status = response.status().as_u16();
    if let Some(auditor) = &state.audit {
        response = response.map(|body| auditor.watch(&access, route_name, status, body));
    }
    state.metrics.http_requests.get_or_create(&HttpLabels { route: route_name, status }).inc();
    state.metrics.http_seconds.get_or_create(&RouteLabel { route: route_name }).observe(started.elapsed().as_secs_f64());
    // The path is never logged: it holds the token's signature and keys that may name people.
    tracing::info!(
        route = route_name,
        method = %req.method(),
        status,
        kid = %access.kid,
        client = %client::address(&state.trusted_proxies, peer, req.headers()),
        ms = started.elapsed().as_secs_f64() * 1000.0,
    );
    Ok(response)
}

/// Answers the metrics listener: `/metrics` and `/healthz`, nothing else.
pub async fn handle_metrics(state: Arc<State>, _peer: SocketAddr, req: Request<Incoming>) -> Result<Response<Body>, std::convert::Infallible> {
    Ok(match req.uri().path() {
        "/metrics" => respond::text(state.metrics.encode()),
        "/healthz" => respond::text("ok\n".into()),
        _ => respond::error(&ApiError::not_found("no such route")),
    })
}

async fn dispatch(state: &State, req: &Request<()>, body: Incoming, route_name: &mut &'static str, access: &mut Access) -> Result<Response<Body>, ApiError> {
    if req.method() == Method::OPTIONS
        && let Some(preflight) = state.cors.preflight(req.headers())
    {
        *route_name = "preflight";
        return Ok(preflight);
    }
    let route = route::parse(req.uri().path());
    let upload = matches!(route, Ok(Route::Object { op: Op::Upload, .. }));
    let head = match (req.method(), upload) {
        (&Method::GET, false) => false,
        (&Method::HEAD, false) => true,
        (&Method::POST, true) => false,
        (_, upload) => {
            let allowed = if upload { "POST" } else { "GET, HEAD" };
            let mut e = respond::error(&ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("only {allowed} allowed here")));
            e.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allowed));
            return Ok(e);
        }
    };
    match route? {
        Route::Health => {
            *route_name = "health";
            Ok(respond::text("ok\n".into()))
        }
        Route::Metrics if state.server.metrics_elsewhere => Err(ApiError::not_found("no such route")),
        Route::Metrics => {
            *route_name = "metrics";
            Ok(respond::text(state.metrics.encode()))
        }
        Route::Auth => {
            *route_name = "auth";
            auth::check(state, req.headers(), unix_now(), access)
        }
        Route::Object { token, key, op } => {
            *route_name = op.name();
            let now = unix_now();
            let purpose = if op == Op::Upload { Purpose::Upload } else { Purpose::View };
            access.token = Some(token.clone());
            let grant = match state.keys.verify(&token, &key, purpose, now) {
                Ok(grant) => grant,
                // A person opened the link: they get a page that says what happened, not JSON.
                Err(e) if op == Op::View => return Ok(view::refused(state, &e.into())),
                Err(e) => return Err(e.into()),
            };
            access.granted(&grant, &key);
            let ctx = Ctx { state, key, grant, now, head, headers: req.headers(), query: req.uri().query() };
            match op {
                Op::Raw => raw::serve(&ctx).await,
                Op::Frame(n, format) => frame::serve(&ctx, n, format).await,
                Op::Reformat(plane, n, format) => reformat::serve(&ctx, plane, n, format).await,
                Op::Region(n) => region::serve(&ctx, n).await,
                Op::Info => info::serve(&ctx).await,
                Op::Stack => stack::serve(&ctx).await,
                Op::View => view::serve(&ctx),
                Op::DicomWeb => dicomweb::serve(&ctx, req.uri().path()).await,
                Op::Upload => upload::serve(&ctx, body).await,
            }
        }
    }
}
