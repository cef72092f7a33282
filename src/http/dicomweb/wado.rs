//! WADO-RS retrieval: frames as stored or decoded, rendered frames through the frame route,
//! instances through the raw route's `--raw-dicom` policy, and bulk data by tag path.

use dicom_dictionary_std::uids;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use http::header::{self, HeaderValue};
use http_body_util::{BodyExt, StreamBody};
use hyper::{Response, StatusCode};

use super::catalog::{self, Instance};
use super::{Scope, truncated};
use crate::cache::{Format, digest};
use crate::coding::Coding;
use super::parts;
use crate::http::{frame, raw};
use crate::http::query::FrameQuery;
use crate::dicom::index::Swap;
use crate::dicom::{Index, Indexed};
use crate::http::respond::{self, Body, Caching};
use crate::http::{ApiError, Ctx};

/// Frames one request may ask for.
pub const MAX_FRAMES: usize = 64;
const EXPLICIT_LE: &str = uids::EXPLICIT_VR_LITTLE_ENDIAN;
const IMPLICIT_LE: &str = uids::IMPLICIT_VR_LITTLE_ENDIAN;

/// The codec media types of PS3.18 Table 8.7.3-2 and the transfer syntaxes stored so.
const CODECS: &[(&str, &[&str])] = &[
    ("image/jpeg", &[uids::JPEG_BASELINE8_BIT, uids::JPEG_EXTENDED12_BIT, uids::JPEG_LOSSLESS, uids::JPEG_LOSSLESS_SV1]),
    ("image/jls", &[uids::JPEGLS_LOSSLESS, uids::JPEGLS_NEAR_LOSSLESS]),
    ("image/jp2", &[uids::JPEG2000_LOSSLESS, uids::JPEG2000]),
    ("image/jphc", &[uids::HTJ2K_LOSSLESS, uids::HTJ2K_LOSSLESS_RPCL, uids::HTJ2K]),
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
    /// Each frame made an HTJ2K codestream here, labelled with this syntax: asked for by a
    /// client, of frames stored in another syntax.
    htj2k: Option<&'static str>,
}

/// The HTJ2K syntaxes: a reversible RPCL codestream is valid under each of them.
const HTJ2K_SYNTAXES: [&str; 3] = [uids::HTJ2K_LOSSLESS, uids::HTJ2K_LOSSLESS_RPCL, uids::HTJ2K];

impl Answer {
    fn new(multipart: bool, media: &'static str, stored: bool) -> Self {
        Answer { multipart, media, stored, htj2k: None }
    }

    /// Whether each part is samples, which compress, rather than a codestream, which does not.
    fn is_samples(&self, native: bool) -> bool {
        (native || !self.stored) && self.htj2k.is_none()
    }
}

/// Syntaxes whose frames lose nothing when decoded: native data and the lossless codecs. Their
/// samples are what an HTJ2K made here codes; a lossy frame would only grow in HTJ2K.
const LOSSLESS: [&str; 10] = [
    IMPLICIT_LE,
    EXPLICIT_LE,
    // Explicit VR Big Endian, retired (dicom-rs marks its constant deprecated).
    "1.2.840.10008.1.2.2",
    uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    uids::RLE_LOSSLESS,
    uids::JPEG_LOSSLESS,
    uids::JPEG_LOSSLESS_SV1,
    uids::JPEGLS_LOSSLESS,
    uids::JPEG2000_LOSSLESS,
    uids::HTJ2K_LOSSLESS,
];

/// The first range of `accept` that the stored syntax `ts` can answer. HTJ2K is made of grey
/// frames stored otherwise, when asked for; of lossy ones only when nothing else asked for fits.
/// Colour frames are not made HTJ2K: their metadata names a colour model (YBR) that a decoder
/// would apply again to the codestream's RGB.
fn negotiate(accept: Option<&str>, ts: &str, native: bool, grey: bool) -> Result<Answer, ApiError> {
    let ranges = media_ranges(accept);
    let first_pass = ranges.iter().find_map(|range| answer_to(range, ts, native, grey && LOSSLESS.contains(&ts)));
    if let Some(answer) = first_pass.or_else(|| ranges.iter().find_map(|range| answer_to(range, ts, native, grey))) {
        return Ok(answer);
    }
    let codec = CODECS.iter().find(|(_, syntaxes)| syntaxes.contains(&ts)).map(|(media, _)| *media);
    Err(ApiError::new(
        StatusCode::NOT_ACCEPTABLE,
        format!("frames are stored as {ts}: ask for application/octet-stream with transfer-syntax=* or {EXPLICIT_LE}{}", codec.map(|c| format!(", or {c}")).unwrap_or_default()),
    ))
}

/// What one media range asks of frames stored as `ts`, if they can be sent so; HTJ2K made here
/// only when `transcode` allows it.
fn answer_to(range: &MediaRange, ts: &str, native: bool, transcode: bool) -> Option<Answer> {
    let codec = CODECS.iter().find(|(_, syntaxes)| syntaxes.contains(&ts)).map(|(media, _)| *media);
    let (multipart, media) = match range.media.as_str() {
        // dicomweb-client asks for `type="*/*"` by default.
        "multipart/related" => (true, range.inner.clone().filter(|t| t != "*/*").unwrap_or_else(|| "application/octet-stream".into())),
        "*/*" | "multipart/*" => (true, "application/octet-stream".into()),
        other => (false, other.to_owned()),
    };
    let syntax = range.syntax.as_deref();
    let htj2k = |asked: Option<&str>| HTJ2K_SYNTAXES.iter().copied().find(|s| Some(*s) == asked).filter(|s| *s != ts && transcode);
    match media.as_str() {
        "application/octet-stream" | "application/*" if htj2k(syntax).is_some() => Some(Answer { htj2k: htj2k(syntax), ..Answer::new(multipart, "application/octet-stream", false) }),
        "image/jphc" if transcode && codec != Some("image/jphc") && syntax.is_none_or(|s| s == "*" || htj2k(Some(s)).is_some()) => {
            Some(Answer { htj2k: Some(htj2k(syntax).unwrap_or(uids::HTJ2K_LOSSLESS_RPCL)), ..Answer::new(multipart, "image/jphc", false) })
        }
        "application/octet-stream" | "application/*" => {
            let stored = match syntax {
                Some("*") => true,
                // The default, explicit VR little endian: native data already is that.
                None | Some(EXPLICIT_LE) => native,
                Some(s) => s == ts,
            };
            let decoded = matches!(syntax, None | Some(EXPLICIT_LE));
            (stored || decoded).then(|| Answer::new(multipart, "application/octet-stream", stored))
        }
        m => codec.filter(|c| *c == m || m == "image/*").filter(|_| syntax.is_none_or(|s| s == "*" || s == ts)).map(|codec| Answer::new(multipart, codec, true)),
    }
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
    match index.syntax().uid() {
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
    let native = !index.syntax().is_encapsulated_pixel_data();
    let accept = ctx.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let answer = negotiate(accept, index.syntax().uid(), native, index.image().samples_per_pixel == 1)?;
    if !answer.multipart && numbers.len() > 1 {
        return Err(ApiError::new(StatusCode::NOT_ACCEPTABLE, "one part holds one frame: ask for multipart/related to get several"));
    }
    let syntax = match (answer.htj2k, native, answer.stored) {
        (Some(htj2k), ..) => htj2k,
        (None, true, _) => native_syntax(&index),
        (None, false, true) => index.syntax().uid(),
        (None, false, false) => EXPLICIT_LE,
    };
    let policy = super::policy_tag(ctx);
    let tag = digest(&[instance.object.key.as_str().as_bytes(), instance.object.meta.etag.as_bytes(), policy.as_bytes(), list.as_bytes(), format!("{answer:?}").as_bytes()]);
    // Samples compress (a CT slice to about half or less); compressed streams do not, and are
    // never compressed again. One frame is what viewers ask for at a time, and is compressed
    // once and kept; a longer list is streamed as it is made, and sent as it is: compressing it
    // would mean holding the whole list, or compressing it again for every request.
    let coding = if numbers.len() == 1 && answer.is_samples(native) { super::coding(ctx) } else { Coding::Identity };
    // A one-frame answer that costs work to make (compressed, HTJ2K) is made once and kept.
    let kept = numbers.len() == 1 && (coding != Coding::Identity || answer.htj2k.is_some());
    let caching = Caching { etag: format!("\"r{}{}\"", &tag[..32], coding.etag_suffix()), max_age: ctx.max_age(), shared: false };
    let mut response = if caching.not_modified(ctx.headers) {
        caching.not_modified_response()
    } else {
        let state = ctx.state;
        let blank = ctx.policy().cleans_frames(index.syntax().uid());
        let maker =
            parts::Frames { store: state.store.clone(), pool: state.pool.clone(), object: instance.object.clone(), index, blank, stored: answer.stored, htj2k: answer.htj2k.is_some() };
        let part_type = format!("{}; transfer-syntax={syntax}", answer.media);
        let boundary = format!("framegate-{}", &tag[32..56]);
        let content_type = if answer.multipart { format!("multipart/related; type=\"{}\"; transfer-syntax={syntax}; boundary={boundary}", answer.media) } else { part_type.clone() };
        if kept {
            let framing = answer.multipart.then(|| parts::Framing::new(&boundary, &part_type));
            let build = async {
                let first = maker.part(numbers[0] - 1).await?;
                if coding == Coding::Identity {
                    Ok(parts::whole(first, framing.as_ref()))
                } else {
                    {
                        let metrics = state.metrics.clone();
                        state.pool.run(move || parts::compressed(&metrics, first, framing.as_ref(), coding)).await?
                    }
                }
            };
            let body = state.dicomweb.bodies.try_get_with(caching.etag.clone(), build).await?;
            if coding != Coding::Identity {
                respond::coded(&content_type, body, coding, &caching, ctx.head)
            } else if !answer.multipart {
                // One part alone honours Range: Cornerstone3D reads the first bytes of an HTJ2K
                // codestream to draw a lower resolution before the rest arrives.
                let length = body.len() as u64;
                raw::ranged(ctx, &caching, &content_type, length, |span| async move { Ok(respond::full(body.slice(span.start as usize..span.end as usize))) }).await?
            } else {
                respond::bytes(&content_type, body, &caching, ctx.head)
            }
        } else if !answer.multipart {
            let first = maker.part(numbers[0] - 1).await?;
            let length = first.bytes.len() as u64;
            raw::ranged(ctx, &caching, &content_type, length, |span| async move { Ok(parts::single(first, span)) }).await?
        } else {
            let first = maker.part(numbers[0] - 1).await?;
            let rest = stream::iter(numbers.into_iter().skip(1)).then(move |n| {
                let maker = maker.clone();
                async move { maker.part(n - 1).await }
            });
            let body = parts::multipart(first, rest.boxed(), parts::Framing::new(&boundary, &part_type));
            respond::streamed(&content_type, body, &caching, ctx.head)
        }
    };
    // Accept chose the form and Accept-Encoding the coding: caches keep each apart.
    response.headers_mut().append(header::VARY, HeaderValue::from_static("Accept, Accept-Encoding"));
    Ok(response)
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
    let OnePart { content_type, opening, closing } = OnePart::new(part_type, instance);
    let length = head.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let total = length + opening.len() as u64 + closing.len() as u64;
    head.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(total));
    head.headers.remove(header::ACCEPT_RANGES);
    if let Ok(v) = HeaderValue::from_str(&content_type) {
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

/// What makes one value the one part of a `multipart/related` body.
struct OnePart {
    content_type: String,
    opening: Bytes,
    closing: Bytes,
}

impl OnePart {
    /// For a part of `part_type` from `instance`: the boundary follows the object's version.
    fn new(part_type: &str, instance: &Instance) -> Self {
        let boundary = format!("framegate-{}", &digest(&[instance.object.meta.etag.as_bytes()])[..24]);
        OnePart {
            content_type: format!("multipart/related; type=\"{part_type}\"; boundary={boundary}"),
            opening: Bytes::from(format!("--{boundary}\r\nContent-Type: {part_type}\r\n\r\n")),
            closing: Bytes::from(format!("\r\n--{boundary}--\r\n")),
        }
    }
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
    // A range is of the stored bytes, which a client asking for one reads as they are.
    let coding = if ctx.headers.contains_key(header::RANGE) { Coding::Identity } else { super::coding(ctx) };
    let coded = if coding == Coding::Identity { None } else { coded_bulk(ctx, &instance, tag_path, multipart, coding).await? };
    let mut response = match coded {
        Some(response) => response,
        None => {
            let response = bulk_value(ctx, &instance, tag_path).await?;
            if multipart { in_one_part(ctx, response, "application/octet-stream", &instance) } else { response }
        }
    };
    // Accept chose one part or none, and Accept-Encoding the coding: caches keep each apart.
    response.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept, Accept-Encoding"));
    Ok(response)
}

/// Native Pixel Data values larger than this are sent as stored, streamed and uncompressed:
/// compressing means holding the value whole (a multi-frame value can be gigabytes), where a
/// viewer reads large objects by their frames, which are compressed one at a time.
const MAX_CODED_BULK: u64 = 16 << 20;

/// Bulk data compressed in `coding`, whole (framed in its one part when `multipart`), once and
/// kept with the finished answers; `None` for a Pixel Data value too large to hold, or not
/// native, which the plain path answers.
async fn coded_bulk(ctx: &Ctx<'_>, instance: &Instance, tag_path: &str, multipart: bool, coding: Coding) -> Result<Option<Response<Body>>, ApiError> {
    let pixels = tag_path.eq_ignore_ascii_case("7FE00010");
    let state = ctx.state;
    let mut length = 0;
    if pixels {
        // An object without Pixel Data, and a deflated one held inflated, are the plain path's.
        let Indexed::Image(index) = frame::indexed(state, &instance.object).await? else { return Ok(None) };
        let Some((value, _)) = index.native_pixel_data() else { return Ok(None) };
        length = value.end - value.start;
        if length > MAX_CODED_BULK {
            return Ok(None);
        }
    }
    let caching = Caching {
        etag: format!("{}{}{}\"", bulk_etag(ctx, instance, tag_path).trim_end_matches('"'), if multipart { "-m" } else { "" }, coding.etag_suffix()),
        max_age: ctx.max_age(),
        shared: false,
    };
    if caching.not_modified(ctx.headers) {
        return Ok(Some(caching.not_modified_response()));
    }
    let one_part = OnePart::new("application/octet-stream", instance);
    let build = async {
        // The value, its framing and its compressed form, held against the pool's budget.
        let _held = state.pool.hold(2 * length)?;
        let value = if pixels { native_pixel_value(ctx, instance).await? } else { header_value(ctx, instance, tag_path).await? };
        let framing = multipart.then(|| (one_part.opening.clone(), one_part.closing.clone()));
        let metrics = state.metrics.clone();
        state
            .pool
            .run(move || match framing {
                Some((opening, closing)) => super::compressed(&metrics, coding, &[&opening[..], &value[..], &closing[..]].concat()),
                None => super::compressed(&metrics, coding, &value),
            })
            .await?
    };
    let body = state.dicomweb.bodies.try_get_with(caching.etag.clone(), build).await?;
    let content_type = if multipart { one_part.content_type.as_str() } else { "application/octet-stream" };
    Ok(Some(respond::coded(content_type, body, coding, &caching, ctx.head)))
}

/// The validator of a bulk data value as stored: the object's version, the policy, the path.
fn bulk_etag(ctx: &Ctx<'_>, instance: &Instance, tag_path: &str) -> String {
    format!("\"b{}\"", &digest(&[instance.object.meta.etag.as_bytes(), super::policy_tag(ctx).as_bytes(), tag_path.as_bytes()])[..32])
}

/// The whole native Pixel Data value, little endian.
async fn native_pixel_value(ctx: &Ctx<'_>, instance: &Instance) -> Result<Bytes, ApiError> {
    let index = frame::index_of(ctx.state, &instance.object).await?;
    let Some((value, swap)) = index.native_pixel_data() else {
        return Err(ApiError::new(StatusCode::NOT_ACCEPTABLE, "the pixel data of this object is served by its frames"));
    };
    let bytes = ctx.state.store.read(&instance.object.key, &instance.object.meta, value).await?;
    Ok(match swap {
        Swap::None => bytes,
        swap => {
            let mut bytes = bytes.to_vec();
            swap.apply(&mut bytes);
            Bytes::from(bytes)
        }
    })
}

/// A long binary value of the header as metadata shows it, by tag path.
async fn header_value(ctx: &Ctx<'_>, instance: &Instance, tag_path: &str) -> Result<Bytes, ApiError> {
    let missing = || ApiError::not_found(format!("no bulk data at {:?}", truncated(tag_path)));
    let state = ctx.state;
    let policy = ctx.policy();
    // An image's header, or the whole data set of an object without Pixel Data (a waveform's
    // samples, an encapsulated document).
    let shown = match frame::indexed(state, &instance.object).await? {
        Indexed::Image(index) => {
            let header = index.header().ok_or_else(missing)?;
            state.pool.run(move || header.parse().map(|h| policy.shown(h.obj))).await??
        }
        Indexed::HeaderOnly(whole) => state.pool.run(move || whole.parse().map(|w| policy.shown(w.obj))).await??,
    };
    super::json::value_at(&shown, tag_path).ok_or_else(missing)
}

async fn bulk_value(ctx: &Ctx<'_>, instance: &Instance, tag_path: &str) -> Result<Response<Body>, ApiError> {
    let caching = Caching { etag: bulk_etag(ctx, instance, tag_path), max_age: ctx.max_age(), shared: false };
    let missing = || ApiError::not_found(format!("no bulk data at {:?}", truncated(tag_path)));
    if tag_path.eq_ignore_ascii_case("7FE00010") {
        // An object without Pixel Data has no such bulk data: its metadata names none.
        let Indexed::Image(index) = frame::indexed(ctx.state, &instance.object).await? else { return Err(missing()) };
        // A deflated object's value, inflated: little endian, held.
        if let Some((_, held)) = index.inflated_pixel_data() {
            let length = held.len() as u64;
            return raw::ranged(ctx, &caching, "application/octet-stream", length, |span| async move { Ok(respond::full(held.slice(span.start as usize..span.end as usize))) }).await;
        }
        let Some((value, swap)) = index.native_pixel_data() else {
            return Err(ApiError::new(StatusCode::NOT_ACCEPTABLE, "the pixel data of this object is served by its frames"));
        };
        let (store, object) = (&ctx.state.store, &instance.object);
        let (offset, length) = (value.start, value.end - value.start);
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
    let value = header_value(ctx, instance, tag_path).await?;
    let total = value.len() as u64;
    raw::ranged(ctx, &caching, "application/octet-stream", total, |span| async move { Ok(respond::full(value.slice(span.start as usize..span.end as usize))) }).await
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
        assert_eq!(negotiate(any, JPEG, false, true).unwrap(), Answer::new(true, "application/octet-stream", true));
        assert_eq!(negotiate(None, JPEG, false, true).unwrap(), Answer::new(true, "application/octet-stream", false));
        assert!(negotiate(None, EXPLICIT_LE, true, true).unwrap().stored);
        assert_eq!(negotiate(Some("multipart/related; type=image/jpeg"), JPEG, false, true).unwrap().media, "image/jpeg");
        assert_eq!(negotiate(Some("multipart/related; type=\"*/*\""), JPEG, false, true).unwrap(), negotiate(None, JPEG, false, true).unwrap());
        assert_eq!(negotiate(Some("image/jpeg"), JPEG, false, true).unwrap(), Answer::new(false, "image/jpeg", true));
        assert_eq!(negotiate(Some("image/jp2"), JPEG, false, true).unwrap_err().status, StatusCode::NOT_ACCEPTABLE);
        assert_eq!(negotiate(Some("image/jpeg"), EXPLICIT_LE, true, true).unwrap_err().status, StatusCode::NOT_ACCEPTABLE);
        assert_eq!(negotiate(Some("application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.90"), JPEG, false, true).unwrap_err().status, StatusCode::NOT_ACCEPTABLE);
        assert_eq!(negotiate(Some("image/jp2;q=0.5, application/octet-stream"), JPEG, false, true).unwrap(), Answer::new(false, "application/octet-stream", false));
        // HTJ2K of frames stored otherwise is made here; of frames stored so, it is the stored stream.
        let rpcl = "multipart/related; type=\"application/octet-stream\"; transfer-syntax=1.2.840.10008.1.2.4.202";
        assert_eq!(negotiate(Some(rpcl), EXPLICIT_LE, true, true).unwrap().htj2k, Some(uids::HTJ2K_LOSSLESS_RPCL));
        assert_eq!(negotiate(Some(rpcl), uids::HTJ2K_LOSSLESS_RPCL, false, true).unwrap(), Answer::new(true, "application/octet-stream", true));
        assert_eq!(negotiate(Some("multipart/related; type=image/jphc"), JPEG, false, true).unwrap().htj2k, Some(uids::HTJ2K_LOSSLESS_RPCL));
        // A lossy frame would only grow in HTJ2K: a client that also takes the stored bytes gets them.
        let either = format!("{rpcl}, multipart/related; type=\"application/octet-stream\"; transfer-syntax=*; q=0.9");
        assert_eq!(negotiate(Some(&either), JPEG, false, true).unwrap(), Answer::new(true, "application/octet-stream", true));
        assert_eq!(negotiate(Some(&either), EXPLICIT_LE, true, true).unwrap().htj2k, Some(uids::HTJ2K_LOSSLESS_RPCL));
        // Colour frames are never made HTJ2K: the stored bytes, or nothing.
        assert_eq!(negotiate(Some(&either), EXPLICIT_LE, true, false).unwrap(), Answer::new(true, "application/octet-stream", true));
        assert_eq!(negotiate(Some(rpcl), EXPLICIT_LE, true, false).unwrap_err().status, StatusCode::NOT_ACCEPTABLE);
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
