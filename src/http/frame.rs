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
use crate::dicom::{Index, LoadError, browser_ready_jpeg, decode_frame};
use crate::{encode, render};

/// How often a request starts over when the object changes under it.
const ATTEMPTS: usize = 2;

/// The current version of the object and its index, built once per version.
pub async fn load_index(ctx: &Ctx<'_>) -> Result<(ObjectId, Arc<Index>), ApiError> {
    let meta = ctx.state.store.head(&ctx.key).await?;
    let object = ObjectId { key: ctx.key.clone(), meta };
    let index = index_of(ctx.state, &object).await?;
    Ok((object, index))
}

/// The index of one object version, from the cache or built once.
pub async fn index_of(state: &State, object: &ObjectId) -> Result<Arc<Index>, Arc<LoadError>> {
    state.caches.index(object, Index::load(state.store.as_ref(), &object.key, &object.meta, &state.limits, &state.pool)).await
}

/// Serves frame `number` (from 1).
pub async fn serve(ctx: &Ctx<'_>, number: u32, format: Format) -> Result<Response<Body>, ApiError> {
    let query = FrameQuery::parse(ctx.query)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match serve_once(ctx, number, format, &query).await {
            Err(e) if e.stale && attempt < ATTEMPTS => continue,
            other => return other,
        }
    }
}

async fn serve_once(ctx: &Ctx<'_>, number: u32, format: Format, query: &FrameQuery) -> Result<Response<Body>, ApiError> {
    let (object, index) = load_index(ctx).await?;
    let count = index.frame_count();
    let out_of_range = || ApiError::not_found(format!("frame {number} is out of range: the object has {count}"));
    let n = number.checked_sub(1).filter(|n| *n < count).ok_or_else(out_of_range)?;
    let key = FrameKey::new(object.clone(), number, &query.params, query.quality, format);
    let caching = Caching { etag: key.etag(), max_age: ctx.max_age(), shared: true };
    if caching.not_modified(ctx.headers) {
        return Ok(caching.not_modified_response());
    }
    let state = ctx.state;
    let render = async {
        let bytes = index.read_frame(state.store.as_ref(), &object.key, &object.meta, n).await?.ok_or_else(out_of_range)?;
        let (index, query) = (index.clone(), *query);
        let cost = index.render_cost(bytes.len() as u64);
        state.pool.run_sized(cost, move || render_frame(&index, n, &bytes, &query, format)).await?
    };
    let rendered = match state.caches.frame(key, render).await {
        Ok(rendered) => rendered,
        Err(e) => {
            if e.stale {
                state.caches.forget(&object).await;
            }
            return Err(e.into());
        }
    };
    let mut response = respond::bytes(format.content_type(), rendered.body, &caching, ctx.head);
    let transcode = if rendered.passthrough { "passthrough" } else { "rendered" };
    response.headers_mut().insert("x-framegate-transcode", hyper::header::HeaderValue::from_static(transcode));
    Ok(response)
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
    let picture = render::render(&pixels, &index.presentation, &query.params)?;
    let body = match format {
        Format::Jpeg => encode::jpeg(&picture, query.jpeg_quality())?,
        Format::Png => encode::png(&picture)?,
    };
    Ok(Rendered { body: Bytes::from(body), passthrough: false })
}
