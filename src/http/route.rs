//! Request paths to routes: `/v1/{token}/{key}[/-/{operation}]` and `/healthz`.

use crate::cache::Format;
use crate::http::error::ApiError;
use crate::key::ObjectKey;
use crate::reformat::Plane;

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// Liveness.
    Health,
    /// Prometheus metrics.
    Metrics,
    /// Token check for NGINX's `auth_request`.
    Auth,
    /// Something about one object or prefix, under a token.
    Object {
        /// The token, unverified.
        token: String,
        /// The key or prefix.
        key: ObjectKey,
        /// The operation.
        op: Op,
    },
}

/// Operations on an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// The stored bytes.
    Raw,
    /// Frame `n` (from 1) rendered.
    Frame(u32, Format),
    /// Image `n` (from 1) of a plane's stack reformatted from the series under the prefix.
    Reformat(Plane, u32, Format),
    /// The modality values under a point or region of frame `n` (from 1), as JSON.
    Region(u32),
    /// Viewer-facing metadata.
    Info,
    /// The ordered frames of a prefix or object.
    Stack,
    /// The built-in viewer.
    View,
    /// DICOMweb under the prefix: the path past `/-/dicomweb` is parsed by [`crate::dicomweb`].
    DicomWeb,
    /// A POSTed file or archive, ingested under the prefix.
    Upload,
}

impl Op {
    /// A short name for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Op::Raw => "raw",
            Op::Frame(..) => "frame",
            Op::Reformat(..) => "reformat",
            Op::Region(_) => "region",
            Op::Info => "info",
            Op::Stack => "stack",
            Op::View => "view",
            Op::DicomWeb => "dicomweb",
            Op::Upload => "upload",
        }
    }
}

/// Parses a request path (without the query).
pub fn parse(path: &str) -> Result<Route, ApiError> {
    match path {
        "/healthz" => return Ok(Route::Health),
        "/metrics" => return Ok(Route::Metrics),
        "/auth" => return Ok(Route::Auth),
        _ => {}
    }
    let rest = path.strip_prefix("/v1/").ok_or_else(|| ApiError::not_found("no such route"))?;
    let mut segments = rest.split('/');
    let token = segments.next().filter(|t| !t.is_empty()).ok_or_else(|| ApiError::bad_request("missing token"))?;
    let segments: Vec<&str> = segments.collect();
    let (key, op) = match segments.iter().position(|s| *s == "-") {
        Some(at) => (&segments[..at], operation(&segments[at + 1..])?),
        None => (&segments[..], Op::Raw),
    };
    if key.is_empty() {
        return Err(ApiError::bad_request("missing object key"));
    }
    let key = ObjectKey::from_url_segments(key.iter().copied())?;
    Ok(Route::Object { token: token.to_owned(), key, op })
}

fn operation(segments: &[&str]) -> Result<Op, ApiError> {
    match segments {
        ["info.json"] => Ok(Op::Info),
        ["stack.json"] => Ok(Op::Stack),
        ["view"] => Ok(Op::View),
        ["dicomweb", ..] => Ok(Op::DicomWeb),
        ["upload"] => Ok(Op::Upload),
        ["frames", number, "region"] => Ok(Op::Region(frame_number(number)?)),
        ["frames", file] => {
            let (number, format) = numbered(file)?;
            Ok(Op::Frame(number, format))
        }
        ["reformat", plane, file] => {
            let plane = Plane::parse(plane).ok_or_else(|| ApiError::bad_request("plane must be axial, coronal, sagittal or oblique-0 to oblique-179"))?;
            let (number, format) = numbered(file)?;
            Ok(Op::Reformat(plane, number, format))
        }
        _ => Err(ApiError::not_found("no such operation")),
    }
}

/// `{n}.jpg` or `{n}.png`: a frame's number and format.
fn numbered(file: &str) -> Result<(u32, Format), ApiError> {
    let (number, ext) = file.split_once('.').ok_or_else(|| ApiError::bad_request("frame needs an extension"))?;
    let format = match ext {
        "jpg" | "jpeg" => Format::Jpeg,
        "png" => Format::Png,
        _ => return Err(ApiError::bad_request("frame format must be jpg or png")),
    };
    Ok((frame_number(number)?, format))
}

fn frame_number(s: &str) -> Result<u32, ApiError> {
    let bad = || ApiError::bad_request("frame number must be a whole number from 1");
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) || s.starts_with('0') {
        return Err(bad());
    }
    s.parse().map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(path: &str) -> (String, String, Op) {
        match parse(path).unwrap() {
            Route::Object { token, key, op } => (token, key.as_str(), op),
            other => panic!("not an object route: {other:?}"),
        }
    }

    #[test]
    fn splits_token_key_and_operation() {
        assert_eq!(object("/v1/T/ct/s1/a.dcm"), ("T".into(), "ct/s1/a.dcm".into(), Op::Raw));
        assert_eq!(object("/v1/T/ct/a.dcm/-/frames/12.jpg"), ("T".into(), "ct/a.dcm".into(), Op::Frame(12, Format::Jpeg)));
        assert_eq!(object("/v1/T/ct/a.dcm/-/info.json"), ("T".into(), "ct/a.dcm".into(), Op::Info));
        assert_eq!(object("/v1/T/ct/a.dcm/-/frames/3/region"), ("T".into(), "ct/a.dcm".into(), Op::Region(3)));
        assert_eq!(object("/v1/T/a%20b.dcm"), ("T".into(), "a b.dcm".into(), Op::Raw));
        assert_eq!(parse("/healthz").unwrap(), Route::Health);
        assert_eq!(object("/v1/T/ct/s1/-/reformat/coronal/3.png"), ("T".into(), "ct/s1".into(), Op::Reformat(Plane::Coronal, 3, Format::Png)));
        assert_eq!(object("/v1/T/ct/s1/-/reformat/oblique-45/1.jpg").2, Op::Reformat(Plane::Oblique(45), 1, Format::Jpeg));
    }

    #[test]
    fn refuses_what_is_not_a_route() {
        let status = |p: &str| parse(p).unwrap_err().status.as_u16();
        assert_eq!(status("/v2/T/a"), 404);
        assert_eq!(status("/v1/"), 400);
        assert_eq!(status("/v1/T/"), 400);
        assert_eq!(status("/v1/T"), 400);
        assert_eq!(status("/v1/T/-/info.json"), 400);
        assert_eq!(status("/v1/T/a/../b"), 400);
        assert_eq!(status("/v1/T/a//b"), 400);
        assert_eq!(status("/v1/T/a/"), 400);
        assert_eq!(status("/v1/T/a/-/frames/0.jpg"), 400);
        assert_eq!(status("/v1/T/a/-/frames/01.jpg"), 400);
        assert_eq!(status("/v1/T/a/-/frames/x.jpg"), 400);
        assert_eq!(status("/v1/T/a/-/frames/99999999999.jpg"), 400);
        assert_eq!(status("/v1/T/a/-/frames/1.gif"), 400);
        assert_eq!(status("/v1/T/a/-/frames/0/region"), 400);
        assert_eq!(status("/v1/T/a/-/frames/1/nope"), 404);
        assert_eq!(status("/v1/T/a/-/nope"), 404);
        assert_eq!(status("/v1/T/a/-/reformat/diagonal/1.jpg"), 400);
        assert_eq!(status("/v1/T/a/-/reformat/oblique-180/1.jpg"), 400);
        assert_eq!(status("/v1/T/a/-/reformat/oblique-045/1.jpg"), 400);
        assert_eq!(status("/v1/T/a/-/reformat/coronal/0.jpg"), 400);
        assert_eq!(status("/v1/T/a/-/info.json/-/x"), 404);
    }
}
