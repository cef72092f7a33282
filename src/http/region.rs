//! `/-/frames/{n}/region?shape=…`: the modality values under a point, rectangle or ellipse of
//! one frame, as JSON, for the viewer's value probe and ROI statistics. Only numbers leave:
//! the values, the pixel count and area, and the unit.

use bytes::Bytes;
use hyper::Response;
use percent_encoding::percent_decode_str;
use serde_json::json;

use super::frame::current_index;
use super::query::number;
use super::respond::{self, Body, Caching};
use super::{ApiError, Ctx};
use crate::State;
use crate::dicom::decode_frame;
use crate::key::ObjectKey;
use crate::render::region::{self, Shape, Stats};

/// What a region query answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// The values' statistics.
    pub stats: Stats,
    /// The pixels' area in mm², when the object states its pixel spacing.
    pub area_mm2: Option<f64>,
    /// The values' unit: `HU` for CT values through a rescale; `None` when the object does not
    /// say.
    pub unit: Option<&'static str>,
}

/// The statistics of `shape` on frame `number` (from 1) of the object under `key`, at its
/// current version.
pub async fn region(state: &State, key: &ObjectKey, number: u32, shape: Shape) -> Result<Region, ApiError> {
    let (object, index) = current_index(state, key).await?;
    let count = index.frame_count();
    let out_of_range = || ApiError::not_found(format!("frame {number} is out of range: the object has {count}"));
    let n = number.checked_sub(1).filter(|n| *n < count).ok_or_else(out_of_range)?;
    let bytes = index.read_frame(state.store.as_ref(), &object.key, &object.meta, n).await?.ok_or_else(out_of_range)?;
    let cost = index.render_cost(bytes.len() as u64);
    let job = index.clone();
    let stats = state
        .pool
        .run_sized(cost, move || -> Result<Stats, ApiError> {
            let pixels = decode_frame(&job, n, &bytes)?;
            Ok(region::stats(&pixels, job.presentation(), shape)?)
        })
        .await??;
    let geometry = index.geometry();
    let area_mm2 = geometry.pixel_spacing.or(geometry.region_spacing).map(|[rows, columns]| stats.count as f64 * rows * columns);
    // Rescaled CT values are Hounsfield units (PS3.3 C.8.2.1.1.1); a Modality LUT names its own.
    let hounsfield = geometry.modality.as_deref() == Some("CT") && index.presentation().modality_lut.is_none();
    Ok(Region { stats, area_mm2, unit: hounsfield.then_some("HU") })
}

/// Serves a region query: the HTTP shell over [`region`].
pub async fn serve(ctx: &Ctx<'_>, number: u32) -> Result<Response<Body>, ApiError> {
    let shape = parse(ctx.query)?;
    let answer = region(ctx.state, &ctx.key, number, shape).await?;
    let s = answer.stats;
    let body = json!({
        "count": s.count, "mean": s.mean, "sd": s.sd, "min": s.min, "max": s.max,
        "area_mm2": answer.area_mm2, "unit": answer.unit,
    });
    let body = Bytes::from(body.to_string());
    let etag = format!("\"r{}\"", &crate::cache::digest(&[ctx.key.as_str().as_bytes(), &body])[..32]);
    let caching = Caching { etag, max_age: ctx.max_age(), shared: true };
    if caching.not_modified(ctx.headers) {
        return Ok(caching.not_modified_response());
    }
    Ok(respond::bytes("application/json", body, &caching, ctx.head))
}

/// `shape=point&x=&y=`, or `shape=rect|ellipse&x0=&y0=&x1=&y1=`, in image pixel coordinates.
fn parse(query: Option<&str>) -> Result<Shape, ApiError> {
    const NAMES: [&str; 7] = ["shape", "x", "y", "x0", "y0", "x1", "y1"];
    let mut values: [Option<String>; 7] = Default::default();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let at = NAMES.iter().position(|n| *n == name).ok_or_else(|| ApiError::bad_request("unknown query parameter (allowed: shape, x, y, x0, y0, x1, y1)"))?;
        let value = percent_decode_str(value).decode_utf8().map_err(|_| ApiError::bad_request("query is not valid UTF-8"))?;
        if values[at].replace(value.into_owned()).is_some() {
            return Err(ApiError::bad_request("query parameter given twice"));
        }
    }
    let [shape, rest @ ..] = values;
    let [x, y, x0, y0, x1, y1] = rest.map(|v| v.map(|v| number(&v).ok_or_else(|| ApiError::bad_request(format!("coordinate {v:?} is not a number")))).transpose());
    let (x, y, x0, y0, x1, y1) = (x?, y?, x0?, y0?, x1?, y1?);
    let corners = || match (x0, y0, x1, y1, x, y) {
        (Some(x0), Some(y0), Some(x1), Some(y1), None, None) => Ok((x0, y0, x1, y1)),
        _ => Err(ApiError::bad_request("a rect or ellipse needs x0, y0, x1 and y1")),
    };
    match shape.as_deref() {
        Some("point") => match (x, y, x0, y0, x1, y1) {
            (Some(x), Some(y), None, None, None, None) => Ok(Shape::Point { x, y }),
            _ => Err(ApiError::bad_request("a point needs x and y")),
        },
        Some("rect") => corners().map(|(x0, y0, x1, y1)| Shape::Rect { x0, y0, x1, y1 }),
        Some("ellipse") => corners().map(|(x0, y0, x1, y1)| Shape::Ellipse { x0, y0, x1, y1 }),
        _ => Err(ApiError::bad_request("shape must be point, rect or ellipse")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_shape() {
        assert_eq!(parse(Some("shape=point&x=1.5&y=2")).unwrap(), Shape::Point { x: 1.5, y: 2.0 });
        assert_eq!(parse(Some("x0=1&y0=2&x1=3&y1=-4&shape=rect")).unwrap(), Shape::Rect { x0: 1.0, y0: 2.0, x1: 3.0, y1: -4.0 });
        assert_eq!(parse(Some("shape=ellipse&x0=0&y0=0&x1=8&y1=4")).unwrap(), Shape::Ellipse { x0: 0.0, y0: 0.0, x1: 8.0, y1: 4.0 });
    }

    #[test]
    fn refuses_what_names_no_region() {
        for bad in [
            "",
            "shape=circle&x=1&y=1",
            "shape=point&x=1",
            "shape=point&x=1&y=1&x0=2",
            "shape=rect&x0=1&y0=1&x1=2",
            "shape=rect&x0=1&y0=1&x1=2&y1=2&x=1",
            "shape=point&x=NaN&y=1",
            "shape=point&x=1e400&y=1",
            "shape=point&x=1&y=1&x=2",
            "shape=point&x=1&y=1&z=2",
        ] {
            assert_eq!(parse(Some(bad)).unwrap_err().status.as_u16(), 400, "{bad}");
        }
    }
}
