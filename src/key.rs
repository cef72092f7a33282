//! Object keys: validated, percent-decoded path segments, the one currency of stores and tokens.
//!
//! Each segment is decoded exactly once and then refused if it could mean anything but a plain
//! name: empty, `.`, `..`, the `-` route separator, or one holding `/`, `\` or a control
//! character. That keeps `..` and absolute paths out of every store and makes the token's
//! SCOPE (segments joined by `/`) unambiguous.

use std::fmt;

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("empty object key")]
    Empty,
    #[error("object key has an empty segment")]
    EmptySegment,
    #[error("object key segment is not valid percent-encoded UTF-8")]
    BadEncoding,
    #[error("object key segment {0:?} is not allowed")]
    Forbidden(String),
    #[error("object key is too long")]
    TooLong,
}

/// The longest key we take; S3 allows 1024 bytes.
const MAX_KEY_BYTES: usize = 1024;

/// Characters escaped when a segment is put back into a URL path.
const SEGMENT: &AsciiSet =
    &CONTROLS.add(b' ').add(b'"').add(b'#').add(b'%').add(b'/').add(b'<').add(b'>').add(b'?').add(b'[').add(b'\\').add(b']').add(b'^').add(b'`').add(b'{').add(b'|').add(b'}');

/// A storage key such as `ct/series1/img0001.dcm`, one or more validated segments.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    segments: Vec<String>,
}

impl fmt::Debug for ObjectKey {
    // Keys can carry names chosen by a hospital; debug output shows their shape only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectKey({} segments)", self.segments.len())
    }
}

fn check_segment(segment: String) -> Result<String, KeyError> {
    if segment.is_empty() {
        return Err(KeyError::EmptySegment);
    }
    let forbidden = matches!(segment.as_str(), "." | ".." | "-") || segment.chars().any(|c| c == '/' || c == '\\' || c.is_control());
    if forbidden {
        return Err(KeyError::Forbidden(segment));
    }
    Ok(segment)
}

impl ObjectKey {
    /// From decoded segments (a listing's file names), each checked.
    pub fn from_segments(segments: Vec<String>) -> Result<Self, KeyError> {
        let segments = segments.into_iter().map(check_segment).collect::<Result<Vec<_>, _>>()?;
        Self::new(segments)
    }

    fn new(segments: Vec<String>) -> Result<Self, KeyError> {
        if segments.is_empty() {
            return Err(KeyError::Empty);
        }
        if segments.iter().map(|s| s.len() + 1).sum::<usize>() > MAX_KEY_BYTES {
            return Err(KeyError::TooLong);
        }
        Ok(ObjectKey { segments })
    }

    /// From the raw (percent-encoded) segments of a URL path.
    pub fn from_url_segments<'a>(raw: impl IntoIterator<Item = &'a str>) -> Result<Self, KeyError> {
        let segments = raw
            .into_iter()
            .map(|s| {
                let decoded = percent_decode_str(s).decode_utf8().map_err(|_| KeyError::BadEncoding)?;
                check_segment(decoded.into_owned())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(segments)
    }

    /// From a plain key as people write it (`ct/series1`), for signing and for listings.
    pub fn parse_plain(key: &str) -> Result<Self, KeyError> {
        Self::from_segments(key.split('/').map(str::to_owned).collect())
    }

    /// The key as stored: segments joined by `/`.
    pub fn as_str(&self) -> String {
        self.segments.join("/")
    }

    /// The segments, decoded.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// How many segments the key has.
    pub fn depth(&self) -> usize {
        self.segments.len()
    }

    /// The first `depth` segments joined by `/`, or `None` if the key is shorter.
    pub fn prefix(&self, depth: usize) -> Option<String> {
        (depth >= 1 && depth <= self.segments.len()).then(|| self.segments[..depth].join("/"))
    }

    /// The key percent-encoded for a URL path.
    pub fn to_url_path(&self) -> String {
        self.segments.iter().map(|s| utf8_percent_encode(s, SEGMENT).to_string()).collect::<Vec<_>>().join("/")
    }

    /// The file name (last segment).
    pub fn name(&self) -> &str {
        self.segments.last().map(String::as_str).unwrap_or_default()
    }

    /// Lower-case extension of the last segment, if any.
    pub fn extension(&self) -> Option<String> {
        let name = self.name();
        name.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_segment_once() {
        let key = ObjectKey::from_url_segments(["ct", "a%20b", "%2541.dcm"]).unwrap();
        assert_eq!(key.as_str(), "ct/a b/%41.dcm");
        assert_eq!(key.to_url_path(), "ct/a%20b/%2541.dcm");
        assert_eq!(ObjectKey::from_url_segments(key.to_url_path().split('/')).unwrap(), key);
    }

    #[test]
    fn refuses_traversal_and_separators() {
        for bad in [vec!["..", "etc"], vec!["a", "%2E%2E"], vec!["a", "."], vec!["-"], vec!["a%2Fb"], vec!["a%5Cb"], vec!["a%00"]] {
            assert!(ObjectKey::from_url_segments(bad.clone()).is_err(), "{bad:?}");
        }
        assert_eq!(ObjectKey::from_url_segments(["a", ""]), Err(KeyError::EmptySegment));
        assert_eq!(ObjectKey::from_url_segments(["%ff"]), Err(KeyError::BadEncoding));
        assert_eq!(ObjectKey::from_url_segments(Vec::<&str>::new()), Err(KeyError::Empty));
        assert!(ObjectKey::parse_plain("/abs").is_err());
        assert!(ObjectKey::parse_plain("a/-/b").is_err());
    }

    #[test]
    fn prefix_is_whole_segments() {
        let key = ObjectKey::parse_plain("ct/series10/x.dcm").unwrap();
        assert_eq!(key.prefix(2).as_deref(), Some("ct/series10"));
        assert_eq!(key.prefix(0), None);
        assert_eq!(key.prefix(4), None);
        assert_eq!(key.extension().as_deref(), Some("dcm"));
    }
}
