//! `POST /v1/{token}/{prefix}/-/upload`: one DICOM file, image or ZIP archive, de-identified
//! into the serving store under the token's prefix by the same pipeline as `framegate ingest`,
//! answered with its manifest. Only a token made for uploads opens it.
//!
//! The body is spooled to an unnamed temporary file as it arrives (a ZIP archive is read from
//! its directory, at its end), never held in memory; the file has no name on disk and is gone
//! when the request ends, the process dies included. Each object appears in the store only when
//! whole, so a failed upload leaves nothing half-written.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Response, StatusCode};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::respond::{self, Body};
use super::{ApiError, Ctx};
use crate::ingest::{self, Destination, Source};

/// Bounds on uploads.
#[derive(Debug, Clone)]
pub struct UploadSettings {
    /// Largest body, in bytes.
    pub max_bytes: u64,
    /// Uploads at once; more are answered 503.
    pub concurrent: usize,
    /// The least an upload must average, in bytes a second, once `grace` has passed; 0 turns
    /// the check off. A client that trickles a byte now and then is never silent for long, and
    /// would otherwise hold one of the few slots for as long as it likes.
    pub min_rate: u64,
    /// How long an upload may take before its average is held to `min_rate`: time for a slow
    /// start, and the whole of a small upload.
    pub grace: Duration,
    /// How uploaded objects are de-identified and checked.
    pub options: ingest::Options,
}

impl Default for UploadSettings {
    fn default() -> Self {
        UploadSettings { max_bytes: 2 << 30, concurrent: 2, min_rate: 32 << 10, grace: Duration::from_secs(30), options: ingest::Options::default() }
    }
}

/// Uploads being received or ingested, bounded.
pub struct Uploads {
    settings: UploadSettings,
    slots: Arc<tokio::sync::Semaphore>,
}

impl Uploads {
    /// Uploads being received or ingested now, each holding a slot.
    pub fn in_progress(&self) -> usize {
        self.settings.concurrent.max(1).saturating_sub(self.slots.available_permits())
    }

    pub fn new(settings: UploadSettings) -> Self {
        let slots = Arc::new(tokio::sync::Semaphore::new(settings.concurrent.max(1)));
        Uploads { settings, slots }
    }
}

/// Set when the request that started an ingest is dropped (its client hung up), so the ingest
/// begins no further entry.
#[derive(Default)]
struct HungUp(AtomicBool);

impl ingest::Progress for HungUp {
    fn cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Raises [`HungUp`] when dropped with the request.
struct OnDrop(Arc<HungUp>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.0.store(true, Ordering::Relaxed);
    }
}

/// Receives, ingests, and answers the manifest: 200 when every file went in, 422 when any was
/// refused or failed (the manifest says which and why).
pub async fn serve(ctx: &Ctx<'_>, body: Incoming) -> Result<Response<Body>, ApiError> {
    let uploads = &ctx.state.uploads;
    let max = uploads.settings.max_bytes;
    let slot = uploads.slots.clone().try_acquire_owned().map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "too many uploads at once: retry shortly"))?;
    let declared = ctx.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    let (file, size, digest) = spool(body, &uploads.settings).await?;
    if size == 0 {
        return Err(ApiError::bad_request("the upload is empty"));
    }
    let destination = Destination { store: ctx.state.store.clone(), prefix: ctx.key.segments().to_vec(), label: ctx.key.as_str() };
    // Named by its content: an image's stack is told by its name and size, and two different
    // pictures of one size must not land on one key.
    let source = Source::File { file: Arc::new(file), name: format!("upload-{digest}") };
    let hung_up = Arc::new(HungUp::default());
    let _on_drop = OnDrop(hung_up.clone());
    // Stored objects carry the server's pseudonyms, whatever scope answers carry: the store is
    // shared by every reader.
    let (pseudonyms, options) = (ctx.state.policy.pseudonyms().clone(), uploads.settings.options.clone());
    // The ingest runs as a task of its own holding the slot: a client that hangs up stops it
    // taking further entries, and the slot is free only once it has stopped.
    let ingesting = tokio::spawn(async move {
        let manifest = ingest::run(vec![source], destination, pseudonyms, options, hung_up).await;
        drop(slot);
        manifest
    });
    let failed = |cause: String| ApiError::internal(StatusCode::INTERNAL_SERVER_ERROR, "the upload could not be ingested", cause);
    let manifest = ingesting.await.map_err(|e| failed(ingest::stopped(&e).into()))?.map_err(|e| failed(e.to_string()))?;
    let nothing_in = manifest.totals.written + manifest.totals.unchanged == 0;
    let status = if manifest.totals.failed > 0 || nothing_in { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| ApiError::internal(StatusCode::INTERNAL_SERVER_ERROR, "cannot write the manifest", e))?;
    let mut response = Response::new(respond::full(Bytes::from(json)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// How long an upload may send nothing before it is cut: a client that stalls would otherwise
/// hold one of the few upload slots.
const IDLE: Duration = Duration::from_secs(60);

fn too_large(max: u64) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("uploads are limited to {} MiB", max >> 20))
}

fn too_slow(min_rate: u64) -> ApiError {
    ApiError::new(StatusCode::REQUEST_TIMEOUT, format!("the upload is too slow: it must average at least {} KiB/s", (min_rate >> 10).max(1)))
}

/// When the next bytes must have come, after `size` bytes since `started`: within [`IDLE`] of
/// now, and before the average falls under the minimum rate; and whether it is the rate that
/// sets it.
fn next_deadline(started: Instant, size: u64, settings: &UploadSettings) -> (Instant, bool) {
    let idle = Instant::now() + IDLE;
    if settings.min_rate == 0 {
        return (idle, false);
    }
    let earned = Duration::from_secs_f64(size as f64 / settings.min_rate as f64).max(settings.grace);
    let slow = started + earned;
    if slow < idle { (slow, true) } else { (idle, false) }
}

/// Writes the body to an unnamed temporary file, refusing it once it passes the size limit,
/// sends nothing for [`IDLE`] or averages less than the minimum rate; answers the file, its
/// size and the hex SHA-256 of its bytes.
async fn spool(mut body: Incoming, settings: &UploadSettings) -> Result<(std::fs::File, u64, String), ApiError> {
    let max = settings.max_bytes;
    let started = Instant::now();
    let spool_failed = |e: std::io::Error| ApiError::internal(StatusCode::INTERNAL_SERVER_ERROR, "cannot receive the upload", e);
    let file = tokio::task::spawn_blocking(tempfile::tempfile).await.map_err(|e| spool_failed(std::io::Error::other(e)))?.map_err(spool_failed)?;
    let mut writer = tokio::fs::File::from_std(file.try_clone().map_err(spool_failed)?);
    let mut size = 0u64;
    let mut hash = Sha256::new();
    loop {
        let (deadline, by_rate) = next_deadline(started, size, settings);
        let next = tokio::time::timeout_at(deadline, body.frame())
            .await
            .map_err(|_| if by_rate { too_slow(settings.min_rate) } else { ApiError::new(StatusCode::REQUEST_TIMEOUT, "the upload stalled") })?;
        let Some(frame) = next else { break };
        let frame = frame.map_err(|_| ApiError::bad_request("the upload was cut off"))?;
        let Ok(data) = frame.into_data() else { continue };
        size += data.len() as u64;
        if size > max {
            return Err(too_large(max));
        }
        hash.update(&data);
        writer.write_all(&data).await.map_err(spool_failed)?;
    }
    writer.flush().await.map_err(spool_failed)?;
    Ok((file, size, hex::encode(hash.finalize())))
}
