//! `info.json`: the viewer-facing description of one DICOM object.

use bytes::Bytes;
use hyper::Response;

use super::frame::current_index;
use super::respond::{self, Body, Caching};
use super::{ApiError, Ctx};
use crate::dicom::describe;

/// Serves `/-/info.json`.
pub async fn serve(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let (object, index) = current_index(ctx.state, &ctx.key).await?;
    let body = Bytes::from(serde_json::to_vec(&describe::info(&index)).unwrap_or_default());
    let etag = format!("\"i{}\"", &crate::cache::digest(&[object.key.as_str().as_bytes(), object.meta.etag.as_bytes(), &body])[..32]);
    let caching = Caching { etag, max_age: ctx.max_age(), shared: true };
    if caching.not_modified(ctx.headers) {
        return Ok(caching.not_modified_response());
    }
    Ok(respond::bytes("application/json", body, &caching, ctx.head))
}
