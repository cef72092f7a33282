//! `/-/frames/{n}.jpg`: one frame, read by range, decoded, windowed and encoded, then cached.

use std::sync::Arc;

use bytes::Bytes;
use hyper::Response;

use super::query::FrameQuery;
use super::respond::{self, Body, Caching};
use super::{ApiError, Ctx};
use crate::cache::{Format, FrameKey, ObjectId};
use crate::State;
use crate::dicom::{Index, LoadError, decode_frame};
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
    state.caches.index(object, Index::load(state.store.as_ref(), &object.key, &object.meta, &state.limits)).await
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
    let range = number
        .checked_sub(1)
        .and_then(|n| index.frame_range(n))
        .ok_or_else(|| ApiError::not_found(format!("frame {number} is out of range: the object has {count}")))?;
    let key = FrameKey::new(object.clone(), number, &query.params, query.quality, format);
    let caching = Caching { etag: key.etag(), max_age: ctx.max_age(), shared: true };
    if caching.not_modified(ctx.headers) {
        return Ok(caching.not_modified_response());
    }
    let state = ctx.state;
    let render = async {
        let bytes = state.store.read(&object.key, &object.meta, range).await?;
        let (index, query) = (index.clone(), *query);
        state.pool.run(move || render_frame(&index, &bytes, &query)).await?
    };
    let body = match state.caches.frame(key, render).await {
        Ok(body) => body,
        Err(e) => {
            if e.stale {
                state.caches.forget(&object).await;
            }
            return Err(e.into());
        }
    };
    Ok(respond::bytes(format.content_type(), body, &caching, ctx.head))
}

/// Decode, window, encode: the CPU part, run on the render pool.
pub fn render_frame(index: &Index, bytes: &[u8], query: &FrameQuery) -> Result<Bytes, ApiError> {
    let pixels = decode_frame(index, bytes)?;
    let picture = render::render(&pixels, &index.presentation, &query.params)?;
    Ok(Bytes::from(encode::jpeg(&picture, query.quality)?))
}
