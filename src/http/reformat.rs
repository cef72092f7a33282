//! `/-/reformat/{plane}/{n}.jpg|png`: image `n` of a plane's stack, cut through the series
//! under the prefix by [`crate::reformat`], windowed and encoded as a frame is, and cached.
//! The series' decoded samples are read once into a volume that holds its part of the render
//! memory budget for as long as the volume cache keeps it.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};
use hyper::Response;

use super::frame::{FrameAnswer, respond_frame};
use super::query::FrameQuery;
use super::respond::{self, Body};
use super::{ApiError, Ctx};
use crate::State;
use crate::cache::{Format, HeldVolume, PlaneKey, Rendered};
use crate::dicom::{Index, decode_frame};
use crate::key::ObjectKey;
use crate::pool::PoolError;
use crate::reformat::{Grid, Plane, ReformatError, View, Volume};
use crate::stack::Member;
use crate::store::ObjectMeta;
use crate::{encode, render};

/// Slices read at once while building a volume: as for stack.json's headers.
const CONCURRENCY: usize = 16;

/// One slice of the series: where it is stored, and its index.
type Slice = (ObjectKey, ObjectMeta, Arc<Index>);

/// Image `number` (from 1) of `plane` through the series under `prefix`, rendered as `query`
/// and `format` ask: from the cache, or rendered once. `held` says whether the client already
/// holds a version (by its ETag): that one is not rendered.
pub async fn reformat(state: &State, prefix: &ObjectKey, plane: Plane, number: u32, query: &FrameQuery, format: Format, held: impl Fn(&str) -> bool) -> Result<FrameAnswer, ApiError> {
    if query.params.overlays {
        return Err(ApiError::bad_request("overlays are not drawn on reformats"));
    }
    let (listed, version) = super::stack::listing(state, prefix).await?;
    let slices = series(state, prefix, listed).await?;
    let indexes: Vec<Arc<Index>> = slices.iter().map(|(_, _, index)| index.clone()).collect();
    let grid = Grid::of(&indexes)?;
    let view = grid.view(plane)?;
    if number > view.frames {
        return Err(ApiError::not_found(format!("image {number} is out of range: the {} plane has {}", plane.name(), view.frames)));
    }
    let key = PlaneKey::new(prefix.clone(), version.clone(), plane.name(), number, &query.params, query.quality, format);
    let etag = key.etag();
    if held(&etag) {
        return Ok(FrameAnswer { etag, rendered: None });
    }
    let render = async {
        let volume = volume(state, prefix, &version, &grid, slices).await?;
        let presentation = indexes[0].presentation().clone();
        let query = *query;
        // The plane's samples, its 8-bit picture and its encoding.
        let pixels = u64::from(view.columns) * u64::from(view.rows);
        let cost = view.bytes() + 2 * pixels;
        state.pool.run_sized(cost, move || render_plane(&view, &volume, number, &presentation, &query, format)).await?
    };
    let rendered = state.caches.plane(key, render).await?;
    Ok(FrameAnswer { etag, rendered: Some(rendered) })
}

/// Serves image `number` of `plane`: the HTTP shell over [`reformat`].
pub async fn serve(ctx: &Ctx<'_>, plane: Plane, number: u32, format: Format) -> Result<Response<Body>, ApiError> {
    let query = FrameQuery::parse(ctx.query)?;
    let answer = reformat(ctx.state, &ctx.key, plane, number, &query, format, |etag| respond::client_holds(ctx.headers, etag)).await?;
    Ok(respond_frame(ctx, answer, format))
}

/// The slices of the one DICOM series under `prefix`, in stack order.
async fn series(state: &State, prefix: &ObjectKey, listed: Vec<crate::store::Listed>) -> Result<Vec<Slice>, ApiError> {
    let members = super::stack::members(state, listed).await?;
    let mut series = crate::stack::series(prefix, members);
    if series.len() != 1 {
        return Err(ApiError::new(hyper::StatusCode::UNPROCESSABLE_ENTITY, format!("the prefix holds {} series: reformat one series' folder", series.len())));
    }
    series
        .pop()
        .unwrap_or_default()
        .into_iter()
        .map(|member| match member {
            Member::Dicom { key, meta, index } => Ok((key, meta, index)),
            Member::Image { .. } => Err(ReformatError::NotDicom.into()),
        })
        .collect()
}

/// The series' decoded volume: from the cache, or read and decoded once, holding its bytes of
/// the render memory budget from before the first read.
async fn volume(state: &State, prefix: &ObjectKey, version: &str, grid: &Grid, slices: Vec<Slice>) -> Result<Arc<HeldVolume>, ApiError> {
    let build = async {
        let memory = state.pool.hold(grid.bytes()).map_err(|e| match e {
            PoolError::TooLarge { needed_mb, budget_mb } => ReformatError::Memory { needed_mb, budget_mb }.into(),
            other => ApiError::from(other),
        })?;
        let decoded = stream::iter(slices)
            .map(|(key, meta, index)| async move {
                let bytes: Bytes = index.read_frame(state.store.as_ref(), &key, &meta, 0).await?.ok_or_else(|| ApiError::not_found("a slice has no frame"))?;
                state.pool.run(move || decode_frame(&index, 0, &bytes)).await?.map_err(ApiError::from)
            })
            .buffered(CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        let grid = grid.clone();
        // Finding the lowest sample reads every one: CPU work.
        let volume = state.pool.run(move || Volume::new(&grid, decoded)).await??;
        Ok::<_, ApiError>(HeldVolume { volume, _memory: memory })
    };
    Ok(state.caches.volume(prefix, version, build).await?)
}

/// Cut, window, encode: the CPU part, on the render pool.
fn render_plane(view: &View, volume: &HeldVolume, number: u32, presentation: &render::Presentation, query: &FrameQuery, format: Format) -> Result<Rendered, ApiError> {
    let pixels = view.sample(&volume.volume, number);
    let picture = render::render(&pixels, presentation, &query.params)?;
    let body = match format {
        Format::Jpeg => encode::jpeg(&picture, query.jpeg_quality())?,
        Format::Png => encode::png(&picture)?,
    };
    Ok(Rendered { body: Bytes::from(body), passthrough: false })
}
