//! `/-/frames/{n}.jpg|png`: one frame, read by range, decoded, windowed and encoded, then
//! cached; or, when the stored frame is already the JPEG asked for, sent as it is.

use std::sync::Arc;

use bytes::Bytes;
use hyper::Response;

use super::query::FrameQuery;
use super::respond::{self, Body, Caching};
use super::{ApiError, Ctx};
use crate::cache::{Format, FrameKey, ObjectId, Rendered};
use crate::State;
use crate::key::ObjectKey;
use crate::dicom::{Index, Indexed, LoadError, browser_ready_jpeg, decode_frame};
use crate::{encode, render};

/// How often a request starts over when the object changes under it.
const ATTEMPTS: usize = 2;

/// The current version of the object under `key` and its index, built once per version.
pub async fn current_index(state: &State, key: &ObjectKey) -> Result<(ObjectId, Arc<Index>), ApiError> {
    let meta = state.store.head(key).await?;
    let object = ObjectId { key: key.clone(), meta };
    let index = index_of(state, &object).await?;
    Ok((object, index))
}

/// The index of one object version, from the cache or built once; an object without Pixel
/// Data has no frames, and is the frame routes' `DicomError::NoPixelData`.
pub async fn index_of(state: &State, object: &ObjectId) -> Result<Arc<Index>, Arc<LoadError>> {
    let indexed = indexed(state, object).await?;
    indexed.image().cloned().map_err(|e| Arc::new(LoadError::Dicom(e)))
}

/// One object version as indexed, image or not, from the cache or built once: what the routes
/// that show headers (DICOMweb's catalog, the de-identified object) read.
pub async fn indexed(state: &State, object: &ObjectId) -> Result<Indexed, Arc<LoadError>> {
    state.caches.index(object, Indexed::load(state.store.as_ref(), &object.key, &object.meta, &state.limits, &state.pool)).await
}

/// A frame as the frame routes answer it: its validator, and the frame unless the client
/// already holds that version.
pub struct FrameAnswer {
    /// Strong ETag of the rendered frame.
    pub etag: String,
    /// The frame; `None` when `held` said the client has it.
    pub rendered: Option<Rendered>,
}

/// Frame `number` (from 1) of the object under `key`, at its current version, rendered as
/// `query` and `format` ask: from the cache, or rendered once however many ask at the same
/// time, and started over once when the object changes meanwhile. `held` says whether the
/// client already holds a version (by its ETag): that one is not rendered. The frame route and
/// DICOMweb's rendered resources both answer with it.
pub async fn frame(state: &State, key: &ObjectKey, number: u32, query: &FrameQuery, format: Format, held: impl Fn(&str) -> bool) -> Result<FrameAnswer, ApiError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match frame_once(state, key, number, query, format, &held).await {
            Err(e) if e.stale && attempt < ATTEMPTS => continue,
            other => return other,
        }
    }
}

async fn frame_once(state: &State, key: &ObjectKey, number: u32, query: &FrameQuery, format: Format, held: &impl Fn(&str) -> bool) -> Result<FrameAnswer, ApiError> {
    let (object, index) = current_index(state, key).await?;
    let count = index.frame_count();
    let out_of_range = || ApiError::not_found(format!("frame {number} is out of range: the object has {count}"));
    let n = number.checked_sub(1).filter(|n| *n < count).ok_or_else(out_of_range)?;
    let frame_key = FrameKey::new(object.clone(), number, &query.params, query.quality, format);
    let etag = frame_key.etag();
    if held(&etag) {
        return Ok(FrameAnswer { etag, rendered: None });
    }
    let render = async {
        let bytes = index.read_frame(state.store.as_ref(), &object.key, &object.meta, n).await?.ok_or_else(out_of_range)?;
        let (index, query) = (index.clone(), *query);
        let cost = index.render_cost(bytes.len() as u64);
        state.pool.run_sized(cost, move || render_frame(&index, n, &bytes, &query, format)).await?
    };
    match state.caches.frame(frame_key, render).await {
        Ok(rendered) => Ok(FrameAnswer { etag, rendered: Some(rendered) }),
        Err(e) => {
            if e.stale {
                state.caches.forget(&object).await;
            }
            Err(e.into())
        }
    }
}

/// Serves frame `number` (from 1): the HTTP shell over [`frame`].
pub async fn serve(ctx: &Ctx<'_>, number: u32, format: Format) -> Result<Response<Body>, ApiError> {
    let query = FrameQuery::parse(ctx.query)?;
    let answer = frame(ctx.state, &ctx.key, number, &query, format, |etag| respond::client_holds(ctx.headers, etag)).await?;
    Ok(respond_frame(ctx, answer, format))
}

/// How a rendered frame may be kept: by the browser for the token's life, by shared caches too.
fn caching(ctx: &Ctx<'_>, etag: &str) -> Caching {
    Caching { etag: etag.to_owned(), max_age: ctx.max_age(), shared: true }
}

/// The response for a frame answer: 304 when the client holds it, else the frame, saying
/// whether it was passed through as stored.
pub fn respond_frame(ctx: &Ctx<'_>, answer: FrameAnswer, format: Format) -> Response<Body> {
    let caching = caching(ctx, &answer.etag);
    let Some(rendered) = answer.rendered else { return caching.not_modified_response() };
    let mut response = respond::bytes(format.content_type(), rendered.body, &caching, ctx.head);
    let transcode = if rendered.passthrough { "passthrough" } else { "rendered" };
    response.headers_mut().insert("x-framegate-transcode", hyper::header::HeaderValue::from_static(transcode));
    response
}

/// Decode, window, encode: the CPU part, run on the render pool. A stored JPEG that already is
/// what an unchanged request would get is sent as it is: re-encoding would only lose detail.
pub fn render_frame(index: &Index, n: u32, bytes: &Bytes, query: &FrameQuery, format: Format) -> Result<Rendered, ApiError> {
    if format == Format::Jpeg
        && query.is_unchanged()
        && let Some(jpeg) = browser_ready_jpeg(index, bytes)
    {
        return Ok(Rendered { body: Bytes::from(jpeg), passthrough: true });
    }
    let pixels = decode_frame(index, n, bytes)?;
    let picture = render::render(&pixels, index.presentation(), &query.params)?;
    let body = match format {
        Format::Jpeg => encode::jpeg(&picture, query.jpeg_quality())?,
        Format::Png => encode::png(&picture)?,
    };
    Ok(Rendered { body: Bytes::from(body), passthrough: false })
}
