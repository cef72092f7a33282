//! The access log: one JSON line for each request that presented a token, apart from the
//! operational log, for the compliance question "who saw case X, and when".
//!
//! A line names the token by a hash (SHA-256 of the token, its first 16 bytes in hex), never the
//! token itself: whoever issued a link can compute its hash and find every use of it, while the
//! log opens nothing. The token's scope, a key prefix that may name a person, is written as a
//! keyed hash under the pseudonym secret, so lines of one scope group together without saying
//! which it is. Bytes are counted as the body leaves, and the line is written when it has left
//! (or the client went away), so it says what was really sent.

use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing_subscriber::fmt::MakeWriter;

use crate::deid::Pseudonyms;
use crate::logs::BatchWriter;
use crate::token::Purpose;

/// A response body, as the HTTP layer hands it over.
type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

/// Where access lines go.
#[derive(Clone)]
pub struct AuditLog {
    writer: BatchWriter,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditLog(..)")
    }
}

impl AuditLog {
    /// Access lines written through `writer` (see [`crate::logs::batched`]).
    pub fn new(writer: BatchWriter) -> Self {
        AuditLog { writer }
    }
}

/// What a request's token said of who asked, learnt as the request is dispatched.
#[derive(Debug, Default, Clone)]
pub struct Access {
    /// The token as presented, verified or not.
    pub token: Option<String>,
    /// The key id that signed it, once verified.
    pub kid: String,
    /// What it opens, once verified.
    pub purpose: Option<Purpose>,
    /// The key prefix it opens, once verified.
    pub scope: Option<String>,
    /// For `/auth`: the operation of the URI NGINX is about to serve.
    pub on_behalf_of: Option<&'static str>,
}

impl Access {
    /// What a verified token grants, on `key`.
    pub fn granted(&mut self, grant: &crate::token::Grant, key: &crate::key::ObjectKey) {
        self.kid.clone_from(&grant.kid);
        self.purpose = Some(grant.purpose);
        self.scope = key.prefix(grant.depth);
    }
}

/// One line of the access log.
#[derive(Debug, Serialize)]
struct Line<'a> {
    /// Unix seconds, to the millisecond.
    ts: f64,
    kid: &'a str,
    token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    purpose: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    route: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    nginx: Option<&'static str>,
    status: u16,
    bytes: u64,
    /// Whether the whole body left; `false` when the client went away first.
    complete: bool,
}

/// The access log as a server writes it: its sink and the secret its scope hashes are keyed by.
#[derive(Clone, Debug)]
pub struct Auditor {
    log: AuditLog,
    ids: Pseudonyms,
}

impl Auditor {
    pub fn new(log: AuditLog, ids: Pseudonyms) -> Self {
        Auditor { log, ids }
    }

    /// `body` counted as it leaves, with the line of `access` written when it has.
    pub fn watch(&self, access: &Access, route: &'static str, status: u16, body: Body) -> Body {
        let Some(token) = &access.token else { return body };
        let pending = Pending {
            auditor: self.clone(),
            ts: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| (d.as_millis() as f64) / 1000.0),
            kid: access.kid.clone(),
            token: token_id(token),
            purpose: access.purpose.map(Purpose::as_str),
            scope: access.scope.as_deref().map(|s| self.ids.audit_id(s)),
            route,
            nginx: access.on_behalf_of,
            status,
        };
        http_body_util::BodyExt::boxed_unsync(Counted { body, bytes: 0, done: false, pending: Some(pending) })
    }
}

/// The hash a token is named by in the access log.
pub fn token_id(token: &str) -> String {
    hex::encode(&Sha256::digest(token.as_bytes())[..16])
}

/// A line waiting for its body to leave.
struct Pending {
    auditor: Auditor,
    ts: f64,
    kid: String,
    token: String,
    purpose: Option<&'static str>,
    scope: Option<String>,
    route: &'static str,
    nginx: Option<&'static str>,
    status: u16,
}

impl Pending {
    fn write(self, bytes: u64, complete: bool) {
        let line = Line {
            ts: self.ts,
            kid: &self.kid,
            token: self.token,
            purpose: self.purpose,
            scope: self.scope,
            route: self.route,
            nginx: self.nginx,
            status: self.status,
            bytes,
            complete,
        };
        if let Ok(mut json) = serde_json::to_vec(&line) {
            json.push(b'\n');
            // The batch writer never blocks: a stalled output drops lines and says how many.
            let _ = self.auditor.log.writer.make_writer().write_all(&json);
        }
    }
}

/// A body that counts what leaves and writes its line at the end, or when dropped unfinished.
struct Counted {
    body: Body,
    bytes: u64,
    done: bool,
    pending: Option<Pending>,
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => self.bytes += frame.data_ref().map_or(0, |d| d.len() as u64),
            Poll::Ready(None) => self.done = true,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Some(pending) = self.pending.take() {
            let complete = self.done || self.body.is_end_stream();
            pending.write(self.bytes, complete);
        }
    }
}
