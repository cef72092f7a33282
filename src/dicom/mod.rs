//! DICOM files read lazily: a header prefix becomes an [`Index`] of frame byte ranges, and one
//! frame's bytes become pixels.

mod attrs;
mod burned_in;
pub mod charset;
pub mod dataset;
pub mod describe;
pub mod frame;
pub mod index;
mod j2k;
mod jpeg;
pub mod native;
mod object;
pub mod overlay;
mod rle;
pub mod walk;

pub use attrs::{FramePlane, Geometry, Image, SpacingKind, presentation};
pub use burned_in::burned_in;
pub use frame::{blank_frame_metadata, carries_metadata, decode_frame, text_is_findable};
pub use walk::fragments;
pub use jpeg::{blank_metadata, browser_ready_jpeg, header_end as jpeg_header_end, is_jpeg_syntax};
pub(crate) use jpeg::without_metadata as jpeg_without_metadata;
pub use index::{Index, Layout, Limits};
pub use object::{HeaderOnly, Indexed};

use crate::store::StoreError;

/// The longest UID (PS3.5 9.1).
pub const MAX_UID: usize = 64;

/// Whether `s` is shaped as a UID (PS3.5 9.1): components of digits separated by periods, at
/// most 64 characters, without its padding.
pub fn is_uid(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_UID && s.split('.').all(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))
}

/// Loading an index or a frame fails in the store or in the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Dicom(#[from] DicomError),
    /// Inflating a deflated object found the pool full or the memory budget spent.
    #[error(transparent)]
    Pool(#[from] crate::pool::PoolError),
}

/// Why a file could not be indexed or a frame decoded: always the file's fault.
#[derive(Debug, thiserror::Error)]
pub enum DicomError {
    #[error("not a DICOM file")]
    NotDicom,
    #[error("DICOM file is truncated")]
    Truncated,
    #[error("malformed DICOM: {0}")]
    Malformed(&'static str),
    #[error("DICOM header is larger than {0} bytes")]
    HeaderTooLarge(u64),
    #[error("DICOM file has no pixel data")]
    NoPixelData,
    #[error("missing or invalid attribute {0}")]
    Attribute(&'static str),
    #[error("image of {0} pixels per frame exceeds the configured limit")]
    TooManyPixels(u64),
    #[error("unsupported transfer syntax {0}")]
    UnsupportedTransferSyntax(String),
    #[error("{0} needs a build with the {1} feature")]
    CodecNotBuilt(String, &'static str),
    #[error("unsupported image: {0}")]
    UnsupportedImage(String),
    #[error("frame does not decode")]
    Decode(String),
    #[error("cannot read DICOM header")]
    Parse(#[source] Box<dicom_object::ReadError>),
    #[error("cannot read file meta group")]
    Meta(#[source] Box<dicom_object::meta::Error>),
}
