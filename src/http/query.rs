//! The frame query: `window=C,W[,fn]`, `quality=1..100`, `viewport=W,H`, `overlays=true`.

use percent_encoding::percent_decode_str;

use crate::encode::DEFAULT_QUALITY;
use crate::http::error::ApiError;
use crate::render::{RenderParams, VoiFunction, Window};

/// The largest viewport side; bigger boxes cannot shrink anything we serve.
const MAX_VIEWPORT: u32 = 16_384;

/// A parsed frame query.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FrameQuery {
    /// Window, viewport and overlays.
    pub params: RenderParams,
    /// JPEG quality, if named.
    pub quality: Option<u8>,
}

impl FrameQuery {
    /// The JPEG quality to encode at.
    pub fn jpeg_quality(&self) -> u8 {
        self.quality.unwrap_or(DEFAULT_QUALITY)
    }

    /// The request asks for the picture as stored: no window, viewport, quality or overlays.
    pub fn is_unchanged(&self) -> bool {
        *self == FrameQuery::default()
    }
}

impl FrameQuery {
    /// Parses a query string; unknown or repeated parameters are refused so that a typo is
    /// seen rather than silently ignored.
    pub fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        let mut out = FrameQuery::default();
        let (mut window, mut quality, mut viewport, mut overlays) = (false, false, false, false);
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode_str(value).decode_utf8().map_err(|_| ApiError::bad_request("query is not valid UTF-8"))?;
            let seen = match name {
                "window" => {
                    out.params.window = Some(parse_window(&value)?);
                    &mut window
                }
                "quality" => {
                    out.quality = Some(value.parse::<u8>().ok().filter(|q| (1..=100).contains(q)).ok_or_else(|| ApiError::bad_request("quality must be 1 to 100"))?);
                    &mut quality
                }
                "viewport" => {
                    out.params.viewport = Some(parse_viewport(&value)?);
                    &mut viewport
                }
                "overlays" => {
                    out.params.overlays = match &*value {
                        "true" => true,
                        "false" => false,
                        _ => return Err(ApiError::bad_request("overlays must be true or false")),
                    };
                    &mut overlays
                }
                _ => return Err(ApiError::bad_request("unknown query parameter (allowed: window, quality, viewport, overlays)")),
            };
            if std::mem::replace(seen, true) {
                return Err(ApiError::bad_request("query parameter given twice"));
            }
        }
        Ok(out)
    }
}

pub(super) fn number(s: &str) -> Option<f64> {
    // Plain decimals only: no "inf", "NaN" or exponents that f64::from_str would take.
    let plain = !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+');
    plain.then(|| s.parse::<f64>().ok()).flatten().filter(|v| v.is_finite())
}

fn parse_window(value: &str) -> Result<Window, ApiError> {
    let bad = || ApiError::bad_request("window must be CENTER,WIDTH[,linear|linear-exact|sigmoid] with a valid width");
    let parts: Vec<&str> = value.split(',').collect();
    let (center, width, function) = match parts.as_slice() {
        [c, w] => (c, w, VoiFunction::Linear),
        [c, w, f] => (
            c,
            w,
            match *f {
                "linear" => VoiFunction::Linear,
                "linear-exact" => VoiFunction::LinearExact,
                "sigmoid" => VoiFunction::Sigmoid,
                _ => return Err(bad()),
            },
        ),
        _ => return Err(bad()),
    };
    let (center, width) = (number(center).ok_or_else(bad)?, number(width).ok_or_else(bad)?);
    Window::new(center, width, function).ok_or_else(bad)
}

fn parse_viewport(value: &str) -> Result<(u32, u32), ApiError> {
    let bad = || ApiError::bad_request(format!("viewport must be WIDTH,HEIGHT from 1 to {MAX_VIEWPORT}"));
    let (w, h) = value.split_once(',').ok_or_else(bad)?;
    let side = |s: &str| s.parse::<u32>().ok().filter(|v| (1..=MAX_VIEWPORT).contains(v)).ok_or_else(bad);
    Ok((side(w)?, side(h)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_parameter() {
        let q = FrameQuery::parse(Some("window=-600.5,1500,sigmoid&quality=75&viewport=256,128&overlays=true")).unwrap();
        assert_eq!(q.params.window, Window::new(-600.5, 1500.0, VoiFunction::Sigmoid));
        assert_eq!(q.quality, Some(75));
        assert_eq!(q.params.viewport, Some((256, 128)));
        assert!(q.params.overlays);
        let q = FrameQuery::parse(Some("window=40%2C400")).unwrap();
        assert_eq!(q.params.window, Window::new(40.0, 400.0, VoiFunction::Linear));
        assert_eq!(FrameQuery::parse(None).unwrap(), FrameQuery::default());
        assert_eq!(FrameQuery::parse(Some("overlays=false")).unwrap(), FrameQuery::default());
    }

    #[test]
    fn overlays_are_a_change_that_rules_out_passthrough() {
        assert!(FrameQuery::parse(None).unwrap().is_unchanged());
        assert!(!FrameQuery::parse(Some("overlays=true")).unwrap().is_unchanged());
    }

    #[test]
    fn refuses_bad_values() {
        for bad in [
            "window=40",
            "window=40,0",
            "window=40,0.5",
            "window=a,b",
            "window=40,400,cubic",
            "window=inf,400",
            "window=NaN,400",
            "window=1e3,400",
            "quality=0",
            "quality=101",
            "quality=x",
            "viewport=0,10",
            "viewport=10",
            "viewport=99999,10",
            "zoom=2",
            "quality=50&quality=60",
            "window=%FF,1",
            "overlays",
            "overlays=1",
            "overlays=yes",
            "overlays=true&overlays=true",
        ] {
            let err = FrameQuery::parse(Some(bad)).unwrap_err();
            assert_eq!(err.status.as_u16(), 400, "{bad}");
        }
    }
}
