//! `/v1/{token}/{key}`: the stored bytes as they are, streamed, with `Range`.

use http::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::respond::{self, Body, Caching};
use super::{ApiError, Ctx};

/// Serves the object's bytes, whole or one range.
pub async fn serve(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let store = &ctx.state.store;
    let meta = store.head(&ctx.key).await?;
    // Raw DICOM holds patient data: browsers may keep it, shared caches may not.
    let caching = Caching { etag: format!("\"{}\"", meta.etag), max_age: ctx.max_age(), shared: false };
    if caching.not_modified(ctx.headers) {
        return Ok(caching.not_modified_response());
    }
    let content_type = content_type(ctx.key.extension().as_deref());
    let range = match requested_range(ctx, &caching, meta.size) {
        Ok(range) => range,
        Err(()) => {
            let mut response = respond::error(&ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable"));
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", meta.size)) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(response);
        }
    };
    let (status, span) = match range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r),
        None => (StatusCode::OK, 0..meta.size),
    };
    let body = if ctx.head { respond::empty() } else { store.stream(&ctx.key, &meta, span.clone()).await.map(into_body)? };
    let mut response = respond::ok(status, content_type, span.end - span.start, body, &caching, ctx.head);
    let headers = response.headers_mut();
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{}", span.start, span.end - 1, meta.size)) {
            headers.insert(header::CONTENT_RANGE, v);
        }
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
    if let Some(if_range) = ctx.headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        if if_range.trim() != caching.etag {
            return Ok(None);
        }
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
