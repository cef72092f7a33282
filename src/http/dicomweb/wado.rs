//! WADO-RS retrieval: frames as stored or decoded, rendered frames through the frame route,
//! instances through the raw route's `--raw-dicom` policy, and bulk data by tag path.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use http::header::{self, HeaderValue};
use http_body_util::{BodyExt, StreamBody};
use hyper::{Response, StatusCode};

use super::catalog::{self, Instance};
use super::{Scope, truncated};
use crate::cache::{Format, digest};
use super::parts;
use crate::http::{frame, raw};
use crate::http::query::FrameQuery;
use crate::dicom::index::Swap;
use crate::dicom::{Index, Layout};
use crate::http::respond::{self, Body, Caching};
use crate::http::{ApiError, Ctx};

/// Frames one request may ask for.
pub const MAX_FRAMES: usize = 64;
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";

/// The codec media types of PS3.18 Table 8.7.3-2 and the transfer syntaxes stored so.
const CODECS: &[(&str, &[&str])] = &[
    ("image/jpeg", &["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"]),
    ("image/jls", &["1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"]),
    ("image/jp2", &["1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"]),
    ("image/jphc", &["1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203"]),
];

/// The instance a scope names, in the request's catalog.
async fn find(ctx: &Ctx<'_>, scope: Scope<'_>) -> Result<Arc<Instance>, ApiError> {
    let catalog = catalog::catalog(ctx).await?;
    let (Some(study), Some(series), Some(sop)) = (scope.study, scope.series, scope.sop) else {
        return Err(ApiError::not_found("no such instance"));
    };
    Ok(catalog.instance(study, series, sop)?.clone())
}

/// One media range of an `Accept` header.
#[derive(Debug, Clone, PartialEq)]
struct MediaRange {
    /// `type/subtype`, lower case.
    media: String,
    /// `type=` of a multipart range, unquoted.
    inner: Option<String>,
    /// `transfer-syntax=`.
    syntax: Option<String>,
    q: f32,
}

fn media_ranges(accept: Option<&str>) -> Vec<MediaRange> {
    let Some(accept) = accept else { return vec![MediaRange { media: "*/*".into(), inner: None, syntax: None, q: 1.0 }] };
    let mut out: Vec<MediaRange> = accept
        .split(',')
        .filter(|r| !r.trim().is_empty())
        .map(|range| {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut out = MediaRange { media, inner: None, syntax: None, q: 1.0 };
            for param in parts {
                let (name, value) = param.split_once('=').unwrap_or((param, ""));
                let value = value.trim().trim_matches('"');
                match name.trim().to_ascii_lowercase().as_str() {
                    "type" => out.inner = Some(value.to_ascii_lowercase()),
                    "transfer-syntax" => out.syntax = Some(value.to_owned()),
                    "q" => out.q = value.parse().unwrap_or(0.0),
                    _ => {}
                }
            }
            out
        })
        .filter(|r| r.q > 0.0)
        .collect();
    out.sort_by(|a, b| b.q.total_cmp(&a.q));
    out
}

/// How frames are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Answer {
    /// In a `multipart/related` body, rather than as the body itself.
    multipart: bool,
    /// The media type of each frame.
    media: &'static str,
    /// Each frame as stored (native, or its fragments) rather than decoded to explicit VR
    /// little endian.
    stored: bool,
}

/// The first range of `accept` that the stored syntax `ts` can answer.
fn negotiate(accept: Option<&str>, ts: &str, native: bool) -> Result<Answer, ApiError> {
    let codec = CODECS.iter().find(|(_, syntaxes)| syntaxes.contains(&ts)).map(|(media, _)| *media);
    for range in media_ranges(accept) {
        let (multipart, media) = match range.media.as_str() {
            // dicomweb-client asks for `type="*/*"` by default.
            "multipart/related" => (true, range.inner.clone().filter(|t| t != "*/*").unwrap_or_else(|| "application/octet-stream".into())),
            "*/*" | "multipart/*" => (true, "application/octet-stream".into()),
            other => (false, other.to_owned()),
        };
        let syntax = range.syntax.as_deref();
        match media.as_str() {
            "application/octet-stream" | "application/*" => {
                let stored = match syntax {
                    Some("*") => true,
                    // The default, explicit VR little endian: native data already is that.
                    None | Some(EXPLICIT_LE) => native,
                    Some(s) => s == ts,
                };
                let decoded = matches!(syntax, None | Some(EXPLICIT_LE));
                if stored || decoded {
                    return Ok(Answer { multipart, media: "application/octet-stream", stored });
                }
            }
            m => {
                if let Some(codec) = codec.filter(|c| *c == m || (m == "image/*"))
                    && syntax.is_none_or(|s| s == "*" || s == ts)
                {
                    return Ok(Answer { multipart, media: codec, stored: true });
                }
            }
        }
    }
    Err(ApiError::new(
        StatusCode::NOT_ACCEPTABLE,
        format!("frames are stored as {ts}: ask for application/octet-stream with transfer-syntax=* or {EXPLICIT_LE}{}", codec.map(|c| format!(", or {c}")).unwrap_or_default()),
    ))
}

/// Parses `1,3,5` into frame numbers from 1, each at most `count`.
fn frame_list(list: &str, count: u32) -> Result<Vec<u32>, ApiError> {
    let numbers: Vec<u32> = list
        .split(',')
        .map(|n| n.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| ApiError::bad_request(format!("frame numbers must be whole numbers from 1, not {:?}", truncated(list)))))
        .collect::<Result<_, _>>()?;
    if numbers.len() > MAX_FRAMES {
        return Err(ApiError::bad_request(format!("at most {MAX_FRAMES} frames can be asked for at once")));
    }
    if let Some(n) = numbers.iter().find(|n| **n > count) {
        return Err(ApiError::not_found(format!("frame {n} is out of range: the object has {count}")));
    }
    // A frame asked for twice would be made and sent twice: a cheap request for a large answer.
    let mut seen = std::collections::HashSet::with_capacity(numbers.len());
    if let Some(n) = numbers.iter().find(|n| !seen.insert(**n)) {
        return Err(ApiError::bad_request(format!("frame {n} is asked for more than once")));
    }
    Ok(numbers)
}

/// The syntax native frames are sent in: little endian as stored, or as explicit little
/// endian when they were big endian or deflated and so turned.
fn native_syntax(index: &Index) -> &'static str {
    match index.transfer_syntax.uid() {
        IMPLICIT_LE => IMPLICIT_LE,
        _ => EXPLICIT_LE,
    }
}

/// WADO-RS frames: `multipart/related` or a single part, as the `Accept` header says. The
/// first frame is made before the answer begins, so that what fails for the object (a codec
/// this build lacks, a busy server) is its status; the rest are made as the body is sent.
pub async fn frames(ctx: &Ctx<'_>, scope: Scope<'_>, list: &str) -> Result<Response<Body>, ApiError> {
    let instance = find(ctx, scope).await?;
    let numbers = frame_list(list, instance.frames)?;
    let index = frame::index_of(ctx.state, &instance.object).await?;
    let native = !index.transfer_syntax.is_encapsulated_pixel_data();
    let accept = ctx.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let answer = negotiate(accept, index.transfer_syntax.uid(), native)?;
    if !answer.multipart && numbers.len() > 1 {
        return Err(ApiError::new(StatusCode::NOT_ACCEPTABLE, "one part holds one frame: ask for multipart/related to get several"));
    }
    let syntax = match (native, answer.stored) {
        (true, _) => native_syntax(&index),
        (false, true) => index.transfer_syntax.uid(),
        (false, false) => EXPLICIT_LE,
    };
    let policy = super::policy_tag(ctx);
    let tag = digest(&[instance.object.key.as_str().as_bytes(), instance.object.meta.etag.as_bytes(), policy.as_bytes(), list.as_bytes(), format!("{answer:?}").as_bytes()]);
    let caching = Caching { etag: format!("\"r{}\"", &tag[..32]), max_age: ctx.max_age(), shared: false };
    if caching.not_modified(ctx.headers) {
        return Ok(caching.not_modified_response());
    }
    let state = ctx.state;
    let blank = ctx.policy().cleans_frames(index.transfer_syntax.uid());
    let maker = parts::Frames { store: state.store.clone(), pool: state.pool.clone(), object: instance.object.clone(), index, blank, stored: answer.stored };
    let first = maker.part(numbers[0] - 1).await?;
    let part_type = format!("{}; transfer-syntax={syntax}", answer.media);
    let (content_type, body) = if answer.multipart {
        let boundary = format!("framegate-{}", &tag[32..56]);
        let rest = stream::iter(numbers.into_iter().skip(1)).then(move |n| {
            let maker = maker.clone();
            async move { maker.part(n - 1).await }
        });
        let content_type = format!("multipart/related; type=\"{}\"; transfer-syntax={syntax}; boundary={boundary}", answer.media);
        (content_type, parts::multipart(first, rest.boxed(), &boundary, &part_type))
    } else {
        (part_type, parts::single(first))
    };
    Ok(respond::streamed(&content_type, body, &caching, ctx.head))
}

/// Rendered and thumbnail: the frame route's render path and cache, with the DICOMweb query
/// parameters it shares (`window`, `viewport`, `quality`). A thumbnail fits 128 × 128 unless a
/// viewport says otherwise.
pub async fn rendered(ctx: &Ctx<'_>, scope: Scope<'_>, frame: Option<&str>, thumbnail: bool) -> Result<Response<Body>, ApiError> {
    let instance = find(ctx, scope).await?;
    let number = match frame {
        None => 1,
        Some(list) => match frame_list(list, instance.frames)?.as_slice() {
            [one] => *one,
            _ => return Err(ApiError::bad_request("a rendered answer holds one frame")),
        },
    };
    let mut kept: Vec<&str> = Vec::new();
    for pair in ctx.query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let name = pair.split_once('=').map_or(pair, |(n, _)| n);
        match name {
            "window" | "viewport" | "quality" => kept.push(pair),
            // Said by clients that cannot set headers; the Accept header decides the same.
            "accept" | "charset" => {}
            other => return Err(ApiError::bad_request(format!("unsupported rendering parameter {:?} (supported: window, viewport, quality)", truncated(other)))),
        }
    }
    let mut query = kept.join("&");
    if thumbnail && !kept.iter().any(|p| p.starts_with("viewport=")) {
        query.push_str(if query.is_empty() { "viewport=128,128" } else { "&viewport=128,128" });
    }
    let accept = ctx.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("image/jpeg");
    let format = media_ranges(Some(accept))
        .iter()
        .find_map(|r| match r.media.as_str() {
            "image/jpeg" | "image/*" | "*/*" => Some(Format::Jpeg),
            "image/png" => Some(Format::Png),
            _ => None,
        })
        .ok_or_else(|| ApiError::new(StatusCode::NOT_ACCEPTABLE, "rendered frames are image/jpeg or image/png"))?;
    let query = FrameQuery::parse(Some(query.as_str()).filter(|q| !q.is_empty()))?;
    let answer = frame::frame(ctx.state, &instance.object.key, number, &query, format, |etag| respond::client_holds(ctx.headers, etag)).await?;
    let mut response = frame::respond_frame(ctx, answer, format);
    // The Accept header chose the format: a shared cache must not hand one client's PNG to
    // another who asked for JPEG.
    response.headers_mut().append(header::VARY, HeaderValue::from_static("Accept"));
    Ok(response)
}

/// WADO-RS instance: the object under the raw route's `--raw-dicom` policy, in a one-part
/// `multipart/related` body unless `application/dicom` alone is asked for.
pub async fn instance(ctx: &Ctx<'_>, scope: Scope<'_>) -> Result<Response<Body>, ApiError> {
    let instance = find(ctx, scope).await?;
    let accept = ctx.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let multipart = media_ranges(accept)
        .iter()
        .find_map(|r| match (r.media.as_str(), r.inner.as_deref()) {
            ("application/dicom", _) => Some(false),
            ("multipart/related", None | Some("application/dicom")) | ("*/*" | "multipart/*", _) => Some(true),
            _ => None,
        })
        .ok_or_else(|| ApiError::new(StatusCode::NOT_ACCEPTABLE, "instances are application/dicom, alone or in multipart/related"))?;
    let dicom = raw::dicom_object(ctx.state, &ctx.policy(), &instance.object).await?;
    // Patient data may be in it: browsers may keep it, shared caches may not.
    let caching = Caching { etag: dicom.etag.clone(), max_age: ctx.max_age(), shared: false };
    let store = &ctx.state.store;
    let response = raw::ranged(ctx, &caching, "application/dicom", dicom.length, |span| async move { dicom.body(store, span).await }).await?;
    Ok(if multipart { in_one_part(ctx, response, "application/dicom", &instance) } else { response })
}

/// A whole (200) answer as the one part of a `multipart/related` body, streamed; partial and
/// other answers are left as they are.
fn in_one_part(ctx: &Ctx<'_>, response: Response<Body>, part_type: &str, instance: &Instance) -> Response<Body> {
    if response.status() != StatusCode::OK {
        return response;
    }
    let (mut head, body) = response.into_parts();
    // Another representation than the part alone: another validator.
    if let Some(caching) = head.extensions.get_mut::<Caching>() {
        caching.etag = format!("{}-m\"", caching.etag.trim_end_matches('"'));
        if let Ok(v) = HeaderValue::from_str(&caching.etag) {
            head.headers.insert(header::ETAG, v);
        }
    }
    head.headers.append(header::VARY, HeaderValue::from_static("Accept"));
    let boundary = format!("framegate-{}", &digest(&[instance.object.meta.etag.as_bytes()])[..24]);
    let opening = Bytes::from(format!("--{boundary}\r\nContent-Type: {part_type}\r\n\r\n"));
    let closing = Bytes::from(format!("\r\n--{boundary}--\r\n"));
    let length = head.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let total = length + opening.len() as u64 + closing.len() as u64;
    head.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(total));
    head.headers.remove(header::ACCEPT_RANGES);
    if let Ok(v) = HeaderValue::from_str(&format!("multipart/related; type=\"{part_type}\"; boundary={boundary}")) {
        head.headers.insert(header::CONTENT_TYPE, v);
    }
    let body = if ctx.head {
        respond::empty()
    } else {
        let chunks = stream::once(async move { Ok::<_, std::io::Error>(hyper::body::Frame::data(opening)) })
            .chain(body.into_data_stream().map(|c| c.map(hyper::body::Frame::data)))
            .chain(stream::once(async move { Ok(hyper::body::Frame::data(closing)) }));
        StreamBody::new(chunks).boxed_unsync()
    };
    Response::from_parts(head, body)
}

/// A bulk data value by tag path: the stored native Pixel Data (ranges allowed), or a long
/// binary value of the header as metadata shows it. Nothing under `--raw-dicom deny`.
pub async fn bulk(ctx: &Ctx<'_>, scope: Scope<'_>, tag_path: &str) -> Result<Response<Body>, ApiError> {
    if !ctx.policy().serves_bulk() {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "bulk data is not served here: use the frames"));
    }
    let instance = find(ctx, scope).await?;
    let accept = ctx.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let multipart = media_ranges(accept)
        .iter()
        .find_map(|r| match (r.media.as_str(), r.inner.as_deref()) {
            ("application/octet-stream", _) => Some(false),
            ("multipart/related", None | Some("application/octet-stream" | "*/*")) | ("*/*" | "multipart/*", _) => Some(true),
            _ => None,
        })
        .ok_or_else(|| ApiError::new(StatusCode::NOT_ACCEPTABLE, "bulk data is application/octet-stream, alone or in multipart/related"))?;
    let response = bulk_value(ctx, &instance, tag_path).await?;
    Ok(if multipart { in_one_part(ctx, response, "application/octet-stream", &instance) } else { response })
}

async fn bulk_value(ctx: &Ctx<'_>, instance: &Instance, tag_path: &str) -> Result<Response<Body>, ApiError> {
    let caching = Caching {
        etag: format!("\"b{}\"", &digest(&[instance.object.meta.etag.as_bytes(), super::policy_tag(ctx).as_bytes(), tag_path.as_bytes()])[..32]),
        max_age: ctx.max_age(),
        shared: false,
    };
    if tag_path.eq_ignore_ascii_case("7FE00010") {
        let index = frame::index_of(ctx.state, &instance.object).await?;
        let Layout::Native { offset, swap, .. } = index.layout else {
            return Err(ApiError::new(StatusCode::NOT_ACCEPTABLE, "the pixel data of this object is served by its frames"));
        };
        let (store, object) = (&ctx.state.store, &instance.object);
        let length = index.pixel_end - offset;
        return raw::ranged(ctx, &caching, "application/octet-stream", length, |span| async move {
            let stream = match swap {
                Swap::None => store.stream(&object.key, &object.meta, offset + span.start..offset + span.end).await?,
                // Big-endian data leaves little endian, as PS3.18 8.7.1 asks of bulk data.
                swap => swapped(store.clone(), object.clone(), offset, length, swap, span),
            };
            Ok(into_body(stream))
        })
        .await;
    }
    let missing = || ApiError::not_found(format!("no bulk data at {:?}", truncated(tag_path)));
    let state = ctx.state;
    let index = frame::index_of(state, &instance.object).await?;
    let header = index.header.clone().ok_or_else(missing)?;
    let policy = ctx.policy();
    let shown = state.pool.run(move || header.parse().map(|h| policy.shown(h.obj))).await??;
    let value = super::json::value_at(&shown, tag_path).ok_or_else(missing)?;
    let total = value.len() as u64;
    raw::ranged(ctx, &caching, "application/octet-stream", total, |span| async move {
        Ok(respond::full(value.slice(span.start as usize..span.end as usize)))
    })
    .await
}

/// About the bytes read at once when big-endian Pixel Data is put in little-endian order (cut to
/// whole samples).
const SWAP_CHUNK: u64 = 1 << 20;

/// `span` of a native Pixel Data value of `length` bytes at `offset`, stored big endian, in
/// little-endian order: read a chunk at a time from whole samples, so memory stays bounded.
fn swapped(store: Arc<dyn crate::store::Store>, object: crate::cache::ObjectId, offset: u64, length: u64, swap: Swap, span: std::ops::Range<u64>) -> crate::store::ByteStream {
    let unit = swap.unit();
    let size = SWAP_CHUNK / unit * unit;
    let first = span.start / size * size;
    let chunks = (first..span.end).step_by(size as usize).map(move |at| at..(at + size).min(length));
    Box::pin(stream::iter(chunks).then(move |chunk| {
        let (store, object) = (store.clone(), object.clone());
        async move {
            // Whole samples: a value whose length is no multiple of the unit ends on a part.
            let end = chunk.end.div_ceil(unit) * unit;
            let read = offset + chunk.start..(offset + end).min(offset + length);
            let mut bytes = store.read(&object.key, &object.meta, read).await.map_err(std::io::Error::other)?.to_vec();
            bytes.resize((end - chunk.start) as usize, 0);
            swap.apply(&mut bytes);
            let keep = span.start.max(chunk.start) - chunk.start..span.end.min(chunk.end) - chunk.start;
            Ok(Bytes::from(bytes).slice(keep.start as usize..keep.end as usize))
        }
    }))
}

fn into_body(stream: crate::store::ByteStream) -> Body {
    use futures_util::TryStreamExt;
    StreamBody::new(stream.map_ok(hyper::body::Frame::data)).boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;

    const JPEG: &str = "1.2.840.10008.1.2.4.50";

    #[test]
    fn accept_headers_choose_how_frames_are_sent() {
        let any = Some("multipart/related; type=\"application/octet-stream\"; transfer-syntax=*");
        assert_eq!(negotiate(any, JPEG, false).unwrap(), Answer { multipart: true, media: "application/octet-stream", stored: true });
        assert_eq!(negotiate(None, JPEG, false).unwrap(), Answer { multipart: true, media: "application/octet-stream", stored: false });
        assert!(negotiate(None, EXPLICIT_LE, true).unwrap().stored);
        assert_eq!(negotiate(Some("multipart/related; type=image/jpeg"), JPEG, false).unwrap().media, "image/jpeg");
        assert_eq!(negotiate(Some("multipart/related; type=\"*/*\""), JPEG, false).unwrap(), negotiate(None, JPEG, false).unwrap());
        assert_eq!(negotiate(Some("image/jpeg"), JPEG, false).unwrap(), Answer { multipart: false, media: "image/jpeg", stored: true });
        assert_eq!(negotiate(Some("image/jp2"), JPEG, false).unwrap_err().status, StatusCode::NOT_ACCEPTABLE);
        assert_eq!(negotiate(Some("image/jpeg"), EXPLICIT_LE, true).unwrap_err().status, StatusCode::NOT_ACCEPTABLE);
        assert_eq!(negotiate(Some("application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.90"), JPEG, false).unwrap_err().status, StatusCode::NOT_ACCEPTABLE);
        assert_eq!(negotiate(Some("image/jp2;q=0.5, application/octet-stream"), JPEG, false).unwrap(), Answer { multipart: false, media: "application/octet-stream", stored: false });
    }

    #[test]
    fn frame_lists_are_bounded() {
        assert_eq!(frame_list("1,3,2", 3).unwrap(), [1, 3, 2]);
        assert_eq!(frame_list("0", 3).unwrap_err().status, StatusCode::BAD_REQUEST);
        assert_eq!(frame_list("4", 3).unwrap_err().status, StatusCode::NOT_FOUND);
        assert_eq!(frame_list(&vec!["1"; MAX_FRAMES + 1].join(","), 3).unwrap_err().status, StatusCode::BAD_REQUEST);
        assert_eq!(frame_list("1,2,1", 3).unwrap_err().message, "frame 1 is asked for more than once");
    }
}
