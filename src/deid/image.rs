//! JPEG and PNG images served without their metadata: EXIF, XMP, comments and text chunks go,
//! the compressed pixels stay byte for byte, so nothing is re-encoded and nothing is lost.

use crate::dicom::jpeg_without_metadata;

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
/// The PNG chunks kept: the critical ones and the ancillary ones that govern how the pixels
/// look (transparency, gamma, chromaticities, colour space, ICC profile, significant bits,
/// background, pixel size). Text, EXIF, time and every private or unknown chunk go.
const PNG_KEPT: [&[u8; 4]; 12] = [b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"bKGD", b"pHYs"];
/// PNG's own limit on a chunk's length.
const PNG_MAX_CHUNK: usize = (1 << 31) - 1;

/// Why an image could not be cleaned.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("not a jpeg or png image")]
    Unknown,
    #[error("malformed jpeg: no frame header, no scan, or cut off before its end")]
    Jpeg,
    #[error("malformed png: cut off in the chunk at byte {at}")]
    PngTruncated { at: usize },
    #[error("malformed png: chunk {chunk:?} at byte {at} fails its crc")]
    PngCrc { chunk: String, at: usize },
    // Not quoted: four arbitrary bytes of the file.
    #[error("malformed png: the chunk type at byte {at} is not four letters")]
    PngChunkType { at: usize },
    #[error("malformed png: {0}")]
    PngLayout(&'static str),
    #[error("png has critical chunk {0:?}, which framegate cannot vouch for")]
    PngUnknownCritical(String),
}

/// A JPEG or PNG image with every metadata segment/chunk removed and its pixels byte-for-byte as they were.
///
/// Bytes after the end of the image (JPEG's EOI, PNG's IEND) are left out too: they are no part
/// of the picture, and cameras and editors hide thumbnails and maker data there. An animated
/// PNG's extra frames are ancillary chunks and go; its default image stays.
pub fn strip(bytes: &[u8]) -> Result<Vec<u8>, ImageError> {
    if bytes.starts_with(&[0xFF, 0xD8]) {
        jpeg_without_metadata(bytes).ok_or(ImageError::Jpeg)
    } else if bytes.starts_with(&PNG_SIGNATURE) {
        strip_png(bytes)
    } else {
        Err(ImageError::Unknown)
    }
}

/// The signature and the kept chunks, each checked against its CRC, up to IEND.
fn strip_png(bytes: &[u8]) -> Result<Vec<u8>, ImageError> {
    let mut out = PNG_SIGNATURE.to_vec();
    let (mut at, mut first, mut has_data) = (PNG_SIGNATURE.len(), true, false);
    loop {
        let word = |i: usize| bytes.get(i..i + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        let length = word(at).and_then(|n| usize::try_from(n).ok()).filter(|n| *n <= PNG_MAX_CHUNK).ok_or(ImageError::PngTruncated { at })?;
        let end = at.checked_add(12 + length).filter(|end| *end <= bytes.len()).ok_or(ImageError::PngTruncated { at })?;
        let kind: [u8; 4] = [bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]];
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(ImageError::PngChunkType { at });
        }
        let name = String::from_utf8_lossy(&kind).into_owned();
        // The CRC covers the type and the data.
        if crc32fast::hash(&bytes[at + 4..end - 4]) != word(end - 4).unwrap_or_default() {
            return Err(ImageError::PngCrc { chunk: name, at });
        }
        if first != (&kind == b"IHDR") {
            return Err(ImageError::PngLayout("IHDR is not the first chunk, or comes twice"));
        }
        first = false;
        has_data |= &kind == b"IDAT";
        if PNG_KEPT.contains(&&kind) {
            out.extend_from_slice(&bytes[at..end]);
        } else if kind[0].is_ascii_uppercase() {
            // A critical chunk we do not know may be needed to decode the image, or may carry
            // anything: neither dropping nor keeping it is safe.
            return Err(ImageError::PngUnknownCritical(name));
        }
        if &kind == b"IEND" {
            return if has_data { Ok(out) } else { Err(ImageError::PngLayout("no IDAT chunk")) };
        }
        at = end;
    }
}

#[cfg(test)]
mod tests;
