//! `/v1/{token}/{key}`: the stored bytes, streamed, with `Range`. DICOM objects are handed out
//! as the `--raw-dicom` policy says: de-identified (the default), as stored, or not at all.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use http::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::frame::indexed;
use super::respond::{self, Body, Caching};
use super::{ApiError, Ctx};
use crate::State;
use crate::deid::{Objects, Policy};
use crate::cache::{Deidentified, Kind, ObjectId, digest};
use crate::dicom::{DicomError, Indexed, blank_frame_metadata, blank_metadata, jpeg_header_end};
use crate::sniff::{self, FileKind};
use crate::store::{ByteStream, Store, StoreError};

/// Serves the object's bytes, whole or one range.
pub async fn serve(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let meta = ctx.state.store.head(&ctx.key).await?;
    let object = ObjectId { key: ctx.key.clone(), meta };
    let policy = ctx.policy();
    if policy.objects() == Objects::AsStored {
        return original(ctx, &object).await;
    }
    match kind(ctx, &object).await? {
        Kind::Image if policy.cleans_images() => cleaned_image(ctx, &object).await,
        Kind::Image => original(ctx, &object).await,
        Kind::Dicom => match policy.objects() {
            Objects::AsStored => original(ctx, &object).await,
            Objects::Deidentified | Objects::Refused => dicom(ctx, &object, &policy).await,
        },
        Kind::Other => Err(ApiError::new(StatusCode::FORBIDDEN, "only DICOM, JPEG and PNG objects are served raw")),
    }
}

/// What an object is, by its first bytes (not its name: a `.jpg` that is DICOM is DICOM).
async fn kind(ctx: &Ctx<'_>, object: &ObjectId) -> Result<Kind, ApiError> {
    let store = &ctx.state.store;
    let sniff = async {
        let head = store.read(&object.key, &object.meta, 0..object.meta.size.min(sniff::BYTES as u64)).await?;
        Ok::<_, StoreError>(match sniff::sniff(&head) {
            FileKind::Jpeg | FileKind::Png => Kind::Image,
            FileKind::Dicom => Kind::Dicom,
            FileKind::Zip | FileKind::Other => Kind::Other,
        })
    };
    if object.meta.size == 0 {
        return Ok(Kind::Other);
    }
    ctx.state.caches.kind(object, sniff).await.map_err(|e| ApiError::from(&*e))
}

async fn original(ctx: &Ctx<'_>, object: &ObjectId) -> Result<Response<Body>, ApiError> {
    // Raw DICOM holds patient data: browsers may keep it, shared caches may not.
    let caching = Caching { etag: format!("\"{}\"", object.meta.etag), max_age: ctx.max_age(), shared: false };
    let content_type = content_type(ctx.key.extension().as_deref());
    let store = &ctx.state.store;
    ranged(ctx, &caching, content_type, object.meta.size, |span| async move { Ok(into_body(store.stream(&object.key, &object.meta, span).await?)) }).await
}

/// A DICOM object as the policy hands it out, as data: its validator, its length, and any span
/// of its bytes. The raw route and WADO-RS instances both serve it.
pub struct DicomObject {
    /// Strong ETag, quoted: the stored version's, or one naming the de-identified representation.
    pub etag: String,
    /// Bytes of the whole representation.
    pub length: u64,
    object: ObjectId,
    /// The new header and where the original Pixel Data is, when de-identified.
    deid: Option<Arc<Deidentified>>,
}

impl DicomObject {
    /// The bytes `span` of the representation, streamed: a de-identified header from memory,
    /// then the original Pixel Data from the store, its frames cleaned as the policy said.
    pub async fn body(&self, store: &Arc<dyn Store>, span: Range<u64>) -> Result<Body, ApiError> {
        let object = &self.object;
        let Some(deid) = &self.deid else { return Ok(into_body(store.stream(&object.key, &object.meta, span).await?)) };
        if let Some((head, value)) = &deid.held_pixel {
            let (head, value) = (head.clone(), value.clone());
            return head_then_tail(&deid.header, span, |rest| async move { Ok(held_stream(head, value, rest)) }).await;
        }
        let pixel = deid.pixel.start;
        head_then_tail(&deid.header, span, |rest| pixel_stream(store, object, &deid.marked_frames, pixel + rest.start..pixel + rest.end)).await
    }
}

/// `object`, known to be DICOM, as `policy` hands it out: as stored, de-identified (the header
/// built once per version and policy), or refused.
pub async fn dicom_object(state: &State, policy: &Policy, object: &ObjectId) -> Result<DicomObject, ApiError> {
    let as_stored = || DicomObject { etag: format!("\"{}\"", object.meta.etag), length: object.meta.size, object: object.clone(), deid: None };
    match policy.objects() {
        Objects::AsStored => return Ok(as_stored()),
        Objects::Refused => return Err(ApiError::new(StatusCode::FORBIDDEN, "raw DICOM is not served here: use the frame routes")),
        Objects::Deidentified => {}
    }
    let build = async {
        let index = match indexed(state, object).await? {
            Indexed::Image(index) => index,
            // The whole object is its header: nothing follows it.
            Indexed::HeaderOnly(whole) => {
                let deid = policy.clone();
                let bytes = state
                    .pool
                    .run(move || {
                        let whole = whole.parse()?;
                        deid.header(&whole.meta, whole.obj, whole.ts).map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))
                    })
                    .await??;
                return Ok(Deidentified { header: Bytes::from(bytes), pixel: 0..0, marked_frames: Vec::new(), held_pixel: None });
            }
        };
        // A deflated object leaves inflated, in Explicit VR Little Endian (its held header's
        // syntax): its Pixel Data has no byte range in the stored object, but is held inflated.
        let held_pixel = index.inflated_pixel_data();
        let pixel = match (&held_pixel, index.pixel_data_element()) {
            (Some((head, value)), _) => 0..(head.len() + value.len()) as u64,
            (None, Some(pixel)) => pixel,
            (None, None) => return Err(DicomError::Truncated.into()),
        };
        let held = index.header().ok_or(DicomError::Truncated)?;
        let deid = policy.clone();
        let bytes = state
            .pool
            .run(move || {
                let header = held.parse()?;
                deid.header(&header.meta, header.obj, header.ts).map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))
            })
            .await??;
        let marked_frames = match index.encapsulated_frames() {
            Some(frames) if policy.cleans_frames(index.syntax().uid()) => frames.to_vec(),
            _ => Vec::new(),
        };
        Ok::<_, ApiError>(Deidentified { header: Bytes::from(bytes), pixel, marked_frames, held_pixel })
    };
    let fingerprint = policy.fingerprint();
    let deid: Arc<Deidentified> = state.caches.deidentified(object, &fingerprint, build).await?;
    // A different representation from the stored one: a different strong validator.
    let tag = digest(&[object.meta.etag.as_bytes(), fingerprint.as_bytes()]);
    let length = deid.header.len() as u64 + (deid.pixel.end - deid.pixel.start);
    Ok(DicomObject { etag: format!("\"d{}\"", &tag[..32]), length, object: object.clone(), deid: Some(deid) })
}

/// A DICOM object under a policy that does not hand it out as stored.
async fn dicom(ctx: &Ctx<'_>, object: &ObjectId, policy: &Policy) -> Result<Response<Body>, ApiError> {
    let dicom = dicom_object(ctx.state, policy, object).await?;
    // Patient data may be in it: browsers may keep it, shared caches may not.
    let caching = Caching { etag: dicom.etag.clone(), max_age: ctx.max_age(), shared: false };
    let store = &ctx.state.store;
    ranged(ctx, &caching, "application/dicom", dicom.length, |span| async move { dicom.body(store, span).await }).await
}

/// The body of `span` of a representation made of `head`, held in memory, then the bytes `tail`
/// streams; `tail` is asked for the range past `head`, counted from its end.
async fn head_then_tail<F, Fut>(head: &Bytes, span: Range<u64>, tail: F) -> Result<Body, ApiError>
where
    F: FnOnce(Range<u64>) -> Fut,
    Fut: Future<Output = Result<ByteStream, StoreError>>,
{
    let split = head.len() as u64;
    let first = (span.start < split).then(|| head.slice(span.start as usize..span.end.min(split) as usize));
    let first = stream::iter(first.map(Ok));
    Ok(if span.end > split {
        let rest = tail(span.start.max(split) - split..span.end - split).await?;
        into_body(Box::pin(first.chain(rest)))
    } else {
        into_body(Box::pin(first))
    })
}

/// The bytes `span` of a Pixel Data element held in memory as its header and its value.
fn held_stream(head: Bytes, value: Bytes, span: Range<u64>) -> ByteStream {
    let split = head.len() as u64;
    let part = |bytes: &Bytes, from: u64, to: u64| (from < to).then(|| bytes.slice(from as usize..to as usize));
    let first = part(&head, span.start.min(split), span.end.min(split));
    let second = part(&value, span.start.max(split) - split, span.end.max(split) - split);
    Box::pin(stream::iter(first.into_iter().chain(second).map(Ok)))
}

/// The stored Pixel Data bytes `span`, streamed; frames whose streams can carry text are read
/// one at a time and handed out with it blanked, at the same offsets.
async fn pixel_stream(store: &Arc<dyn Store>, object: &ObjectId, marked_frames: &[Range<u64>], span: Range<u64>) -> Result<ByteStream, StoreError> {
    if marked_frames.is_empty() {
        return store.stream(&object.key, &object.meta, span).await;
    }
    let (store, object) = (store.clone(), object.clone());
    let pieces = pieces(marked_frames, span);
    let chunks = stream::iter(pieces).then(move |(read, take, frame)| {
        let (store, object) = (store.clone(), object.clone());
        async move {
            let bytes = store.read(&object.key, &object.meta, read.clone()).await.map_err(std::io::Error::other)?;
            let cleaned = if frame { blank_frame_metadata(&bytes) } else { Cow::Borrowed(&bytes[..]) };
            let from = (take.start - read.start) as usize;
            Ok(Bytes::copy_from_slice(&cleaned[from..from + (take.end - take.start) as usize]))
        }
    });
    Ok(Box::pin(chunks))
}

/// Splits `span` into reads: each frame it touches is read whole (to find its segments) and
/// the part inside `span` taken; the bytes between frames (the Pixel Data header, the offset
/// table) are read as they are. Each piece says whether it is a frame.
fn pieces(frames: &[Range<u64>], span: Range<u64>) -> Vec<(Range<u64>, Range<u64>, bool)> {
    let mut out = Vec::new();
    let mut at = span.start;
    for frame in frames.iter().filter(|f| f.end > span.start && f.start < span.end) {
        if at < frame.start {
            out.push((at..frame.start, at..frame.start, false));
        }
        let take = at.max(frame.start)..span.end.min(frame.end);
        out.push((frame.clone(), take.clone(), true));
        at = take.end;
    }
    if at < span.end {
        out.push((at..span.end, at..span.end, false));
    }
    out
}

/// The most of a JPEG image read to find its first scan: its metadata segments come before it.
const JPEG_HEADER_LIMIT: u64 = 1 << 20;
/// The largest PNG cleaned: its text chunks may come after the pixels, so it is read whole.
const PNG_LIMIT: u64 = 64 << 20;

/// A JPEG or PNG image of a stack under `deidentify`: a JPEG's header, up to its first scan, is
/// read and sent with its comments and EXIF blanked, and the rest streamed as stored; a PNG is
/// read whole and sent without its text, EXIF and time chunks.
async fn cleaned_image(ctx: &Ctx<'_>, object: &ObjectId) -> Result<Response<Body>, ApiError> {
    let store = &ctx.state.store;
    let prefix = store.read(&object.key, &object.meta, 0..object.meta.size.min(JPEG_HEADER_LIMIT)).await?;
    if !prefix.starts_with(&[0xFF, 0xD8]) {
        return cleaned_png(ctx, object).await;
    }
    let scan = jpeg_header_end(&prefix).ok_or_else(|| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "JPEG header is malformed or larger than 1 MiB"))?;
    let header = Bytes::from(blank_metadata(&prefix[..scan]).into_owned());
    let tag = digest(&[object.meta.etag.as_bytes(), b"jpeg-blanked-1"]);
    let caching = Caching { etag: format!("\"j{}\"", &tag[..32]), max_age: ctx.max_age(), shared: false };
    let split = header.len() as u64;
    ranged(ctx, &caching, "image/jpeg", object.meta.size, |span| async move {
        head_then_tail(&header, span, |rest| store.stream(&object.key, &object.meta, split + rest.start..split + rest.end)).await
    })
    .await
}

/// A PNG without its metadata chunks (`deid::image::strip`), from memory.
async fn cleaned_png(ctx: &Ctx<'_>, object: &ObjectId) -> Result<Response<Body>, ApiError> {
    if object.meta.size > PNG_LIMIT {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "PNG images over 64 MiB are not served raw"));
    }
    let whole = ctx.state.store.read(&object.key, &object.meta, 0..object.meta.size).await?;
    let cleaned = ctx.state.pool.run(move || crate::deid::image::strip(&whole)).await?.map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("not a valid PNG: {e}")))?;
    let cleaned = Bytes::from(cleaned);
    let tag = digest(&[object.meta.etag.as_bytes(), b"png-stripped-1"]);
    let caching = Caching { etag: format!("\"p{}\"", &tag[..32]), max_age: ctx.max_age(), shared: false };
    ranged(ctx, &caching, "image/png", cleaned.len() as u64, |span| async move { Ok(respond::full(cleaned.slice(span.start as usize..span.end as usize))) }).await
}

/// Answers `If-None-Match`, `Range` and `If-Range` for a representation of `total` bytes whose
/// body for a span `body` makes.
pub async fn ranged<F, Fut>(ctx: &Ctx<'_>, caching: &Caching, content_type: &str, total: u64, body: F) -> Result<Response<Body>, ApiError>
where
    F: FnOnce(Range<u64>) -> Fut,
    Fut: Future<Output = Result<Body, ApiError>>,
{
    if caching.not_modified(ctx.headers) {
        return Ok(caching.not_modified_response());
    }
    let range = match requested_range(ctx, caching, total) {
        Ok(range) => range,
        Err(()) => {
            let mut response = respond::error(&ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable"));
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{total}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(response);
        }
    };
    let (status, span) = match range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r),
        None => (StatusCode::OK, 0..total),
    };
    let body = if ctx.head || span.is_empty() { respond::empty() } else { body(span.clone()).await? };
    let mut response = respond::ok(status, content_type, span.end - span.start, body, caching, ctx.head);
    let headers = response.headers_mut();
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{total}", span.start, span.end - 1))
    {
        headers.insert(header::CONTENT_RANGE, v);
    }
    Ok(response)
}

fn into_body(stream: crate::store::ByteStream) -> Body {
    use futures_util::TryStreamExt;
    use http_body_util::{BodyExt, StreamBody};
    StreamBody::new(stream.map_ok(hyper::body::Frame::data)).boxed_unsync()
}

fn content_type(extension: Option<&str>) -> &'static str {
    match extension {
        Some("dcm" | "dicom") => "application/dicom",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// The one range asked for, `None` for the whole object, `Err` when unsatisfiable.
/// Multiple ranges and stale `If-Range` fall back to the whole object, as RFC 9110 allows.
fn requested_range(ctx: &Ctx<'_>, caching: &Caching, size: u64) -> Result<Option<std::ops::Range<u64>>, ()> {
    let Some(value) = ctx.headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else { return Ok(None) };
    if let Some(if_range) = ctx.headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok())
        && if_range.trim() != caching.etag
    {
        return Ok(None);
    }
    parse_range(value, size)
}

/// Parses a single `bytes=` range against an object of `size` bytes.
pub fn parse_range(value: &str, size: u64) -> Result<Option<std::ops::Range<u64>>, ()> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let (first, last) = spec.split_once('-').ok_or(())?;
    let num = |s: &str| -> Result<u64, ()> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(());
        }
        s.parse().map_err(|_| ())
    };
    let range = if first.trim().is_empty() {
        // Suffix: the last N bytes.
        let n = num(last)?;
        if n == 0 {
            return Err(());
        }
        size.saturating_sub(n)..size
    } else {
        let start = num(first)?;
        let end = if last.trim().is_empty() { size } else { num(last)?.saturating_add(1).min(size) };
        if start >= size || end <= start {
            return Err(());
        }
        start..end
    };
    if range.is_empty() {
        return Err(());
    }
    Ok(Some(range))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-99", 1000), Ok(Some(0..100)));
        assert_eq!(parse_range("bytes=900-", 1000), Ok(Some(900..1000)));
        assert_eq!(parse_range("bytes=-100", 1000), Ok(Some(900..1000)));
        assert_eq!(parse_range("bytes=-5000", 1000), Ok(Some(0..1000)));
        assert_eq!(parse_range("bytes=990-5000", 1000), Ok(Some(990..1000)));
        assert_eq!(parse_range("bytes=1000-", 1000), Err(()));
        assert_eq!(parse_range("bytes=5-4", 1000), Err(()));
        assert_eq!(parse_range("bytes=-0", 1000), Err(()));
        assert_eq!(parse_range("bytes=x-", 1000), Err(()));
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), Ok(None));
        assert_eq!(parse_range("items=0-1", 1000), Ok(None));
        assert_eq!(parse_range("bytes=0-0", 0), Err(()));
    }
}
