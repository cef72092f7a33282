//! 8-bit pictures to JPEG (libjpeg-turbo with the `turbo` feature, jpeg-encoder without) or
//! to lossless PNG.

use jpeg_encoder::{ColorType, Encoder};

use crate::render::Picture;

/// JPEG quality when the request names none.
pub const DEFAULT_QUALITY: u8 = 90;

/// Why a picture could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("cannot encode JPEG: {0}")]
    Jpeg(#[from] jpeg_encoder::EncodingError),
    #[cfg(feature = "turbo")]
    #[error("cannot encode JPEG: {0}")]
    Turbo(#[from] crate::turbo::TurboError),
    #[error("cannot encode PNG: {0}")]
    Png(#[from] png::EncodingError),
}

/// Encodes `picture` as a baseline JPEG at `quality` (1..=100) with the build's fastest encoder.
pub fn jpeg(picture: &Picture, quality: u8) -> Result<Vec<u8>, EncodeError> {
    #[cfg(feature = "turbo")]
    let mut out = crate::turbo::encode(picture, quality)?;
    #[cfg(not(feature = "turbo"))]
    let mut out = jpeg_encoder(picture, quality)?;
    // The frame cache weighs a frame by its length: its allocation must not be twice that.
    out.shrink_to_fit();
    Ok(out)
}

/// Encodes with jpeg-encoder whatever the build; the encoder bench compares it with libjpeg-turbo.
pub fn jpeg_encoder(picture: &Picture, quality: u8) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(picture.data.len() / 8 + 1024);
    let color = if picture.channels == 1 { ColorType::Luma } else { ColorType::Rgb };
    // Width and height come from 16-bit DICOM Rows and Columns, so they always fit.
    let (w, h) = (picture.width as u16, picture.height as u16);
    Encoder::new(&mut out, quality.clamp(1, 100)).encode(&picture.data, w, h, color)?;
    Ok(out)
}

/// Encodes `picture` as an 8-bit PNG: the exact pixels, for readers who must not see JPEG
/// artefacts. Fast compression: these are served once and cached, not archived.
pub fn png(picture: &Picture) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(picture.data.len() / 2 + 1024);
    let mut encoder = png::Encoder::new(&mut out, picture.width, picture.height);
    encoder.set_color(if picture.channels == 1 { png::ColorType::Grayscale } else { png::ColorType::Rgb });
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&picture.data)?;
    writer.finish()?;
    out.shrink_to_fit();
    Ok(out)
}
