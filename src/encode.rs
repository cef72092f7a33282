//! 8-bit pictures to JPEG with jpeg-encoder.

use jpeg_encoder::{ColorType, Encoder};

use crate::render::Picture;

/// JPEG quality when the request names none.
pub const DEFAULT_QUALITY: u8 = 90;

/// Why a picture could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode JPEG: {0}")]
pub struct EncodeError(#[from] jpeg_encoder::EncodingError);

/// Encodes `picture` as a baseline JPEG at `quality` (1..=100).
pub fn jpeg(picture: &Picture, quality: u8) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(picture.data.len() / 8 + 1024);
    let color = if picture.channels == 1 { ColorType::Luma } else { ColorType::Rgb };
    // Width and height come from 16-bit DICOM Rows and Columns, so they always fit.
    let (w, h) = (picture.width as u16, picture.height as u16);
    Encoder::new(&mut out, quality.clamp(1, 100)).encode(&picture.data, w, h, color)?;
    // The frame cache weighs a frame by its length: its allocation must not be twice that.
    out.shrink_to_fit();
    Ok(out)
}
