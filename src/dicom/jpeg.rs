//! JPEG frames: what a stream's frame header declares, when a stored frame can be sent to the
//! browser as it is, and (with the `turbo` feature) decoding through libjpeg-turbo.

use dicom_dictionary_std::uids;
use std::borrow::Cow;
use std::ops::Range;

use super::{Image, Index};
#[cfg(feature = "turbo")]
use super::DicomError;
#[cfg(feature = "turbo")]
use crate::render::Pixels;

/// The JPEG processes of DICOM: baseline, extended, and the two lossless syntaxes.
pub const SYNTAXES: [&str; 4] = [uids::JPEG_BASELINE8_BIT, uids::JPEG_EXTENDED12_BIT, uids::JPEG_LOSSLESS, uids::JPEG_LOSSLESS_SV1];

/// Whether frames of this transfer syntax are JPEG streams.
pub fn is_jpeg_syntax(uid: &str) -> bool {
    SYNTAXES.contains(&uid)
}

/// JPEG-LS, lossless and near-lossless: its own coding, but JPEG's marker syntax (ITU-T T.87),
/// COM and APPn segments included.
const JPEG_LS_SYNTAXES: [&str; 2] = [uids::JPEGLS_LOSSLESS, uids::JPEGLS_NEAR_LOSSLESS];

/// Whether frames of this transfer syntax are streams in JPEG's marker syntax (JPEG or
/// JPEG-LS), whose comments and application segments can carry what identifies a patient.
pub(super) fn has_jpeg_markers(uid: &str) -> bool {
    is_jpeg_syntax(uid) || JPEG_LS_SYNTAXES.contains(&uid)
}

/// What a JPEG or JPEG-LS stream's frame header (SOFn, SOF55) declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegFrame {
    /// The SOF marker: 0xC0 baseline, 0xC1 extended, 0xC3 lossless, 0xF7 JPEG-LS, ...
    pub marker: u8,
    pub precision: u8,
    pub height: u16,
    pub width: u16,
    pub components: u8,
}

/// A lossy stream of more than 8 bits: jpeg-decoder cannot decode it, libjpeg-turbo can.
#[cfg(not(feature = "turbo"))]
pub fn needs_turbo(stream: &[u8]) -> bool {
    frame_header(stream).is_some_and(|f| f.precision > 8 && !matches!(f.marker, 0xC3 | 0xC7 | 0xCB | 0xCF))
}

/// A marker segment of a JPEG stream: its marker, and the bytes it spans, marker included.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    marker: u8,
    span: Range<usize>,
}

/// The marker segments of a JPEG or JPEG-LS stream in order, entropy-coded data left in the
/// gaps between them. A stream that breaks off ends the list where it breaks: what was found
/// is still worth knowing. Empty when the stream is not JPEG.
fn segments(stream: &[u8]) -> Vec<Segment> {
    let mut out = Vec::new();
    if !stream.starts_with(&[0xFF, 0xD8]) {
        return out;
    }
    out.push(Segment { marker: 0xD8, span: 0..2 });
    let (mut at, mut in_scan) = (2, false);
    loop {
        if in_scan {
            // Entropy-coded data runs to the next marker that is not a stuffed zero, a restart
            // marker or a fill byte. JPEG-LS stuffs a bit instead: after 0xFF its data has a
            // clear high bit, which no marker has.
            while at + 1 < stream.len() && (stream[at] != 0xFF || matches!(stream[at + 1], 0x00..=0x7F | 0xD0..=0xD7 | 0xFF)) {
                at += 1;
            }
        }
        while stream.get(at) == Some(&0xFF) && stream.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let Some(&[0xFF, marker]) = stream.get(at..at + 2) else { return out };
        match marker {
            0xD9 => {
                out.push(Segment { marker, span: at..at + 2 });
                return out;
            }
            0xD0..=0xD7 | 0x01 => at += 2,
            _ => {
                let Some(len) = stream.get(at + 2..at + 4).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))) else { return out };
                let end = at + 2 + len;
                if len < 2 || end > stream.len() {
                    return out;
                }
                out.push(Segment { marker, span: at..end });
                at = end;
                in_scan = marker == 0xDA;
            }
        }
    }
}

/// Finds the frame header of a JPEG or JPEG-LS stream: the first SOFn (or JPEG-LS's SOF55)
/// before the first scan.
pub fn frame_header(stream: &[u8]) -> Option<JpegFrame> {
    let segment = segments(stream).into_iter().take_while(|s| s.marker != 0xDA).find(|s| is_frame_header(s.marker))?;
    let body = &stream[segment.span.start + 4..segment.span.end];
    let word = |i: usize| Some(u16::from_be_bytes([*body.get(i)?, *body.get(i + 1)?]));
    Some(JpegFrame { marker: segment.marker, precision: *body.first()?, height: word(1)?, width: word(3)?, components: *body.get(5)? })
}

/// SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC); SOF55 is JPEG-LS's.
fn is_frame_header(marker: u8) -> bool {
    (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) || marker == 0xF7
}

/// Where a JPEG stream's first scan begins (the end of its SOS segment): everything before it
/// is header. `None` when `stream` holds no whole SOS.
pub fn header_end(stream: &[u8]) -> Option<usize> {
    segments(stream).into_iter().find(|s| s.marker == 0xDA).map(|s| s.span.end)
}

/// Identifies the application segments that only say how to read the picture: JFIF (APP0),
/// ICC profiles (APP2) and Adobe's colour transform (APP14).
fn is_decoding_segment(stream: &[u8], segment: &Segment) -> bool {
    let body = &stream[(segment.span.start + 4).min(segment.span.end)..segment.span.end];
    match segment.marker {
        0xE0 => body.starts_with(b"JFIF\0"),
        0xE2 => body.starts_with(b"ICC_PROFILE\0"),
        0xEE => body.starts_with(b"Adobe"),
        _ => false,
    }
}

/// A comment (COM) or an application segment that does not govern decoding: EXIF, XMP and
/// comments can hold names, dates and places.
fn is_metadata(stream: &[u8], segment: &Segment) -> bool {
    (segment.marker == 0xFE || (0xE0..=0xEF).contains(&segment.marker)) && !is_decoding_segment(stream, segment)
}

/// The stream with every metadata segment ([`is_metadata`]) blanked. Each is overwritten in
/// place by a comment of zeros of the same length, so item lengths, offset tables and byte
/// ranges of a DICOM object stay valid without rewriting them. Whatever follows EOI is zeroed
/// too: decoders never read it, and writers append thumbnails and maker data there. Borrowed
/// when there is nothing to blank.
pub fn blank_metadata(stream: &[u8]) -> Cow<'_, [u8]> {
    let all = segments(stream);
    let after_end = all.last().filter(|s| s.marker == 0xD9).map_or(stream.len(), |s| s.span.end);
    let found: Vec<Segment> = all.into_iter().filter(|s| is_metadata(stream, s)).collect();
    let blank = |s: &Segment| s.marker == 0xFE && stream[s.span.start + 4..s.span.end].iter().all(|b| *b == 0);
    if found.iter().all(blank) && stream[after_end..].iter().all(|b| *b == 0) {
        return Cow::Borrowed(stream);
    }
    let mut out = stream.to_vec();
    for s in found {
        out[s.span.start + 1] = 0xFE;
        out[s.span.start + 4..s.span.end].fill(0);
    }
    out[after_end..].fill(0);
    Cow::Owned(out)
}

/// A whole JPEG stream without its metadata segments ([`is_metadata`]) wherever they stand,
/// between the scans of a progressive stream too: the walk steps over entropy-coded data,
/// stuffed zeros and restart markers, so every marker it finds is a real one. Whatever follows
/// EOI is left out as well (cameras append thumbnails and maker data there). Every other byte,
/// the entropy-coded data above all, is copied as it was, so the pixels are unchanged. `None`
/// unless the stream is whole: SOI, a frame header before the first scan, a scan, and EOI.
pub fn without_metadata(stream: &[u8]) -> Option<Vec<u8>> {
    let found = segments(stream);
    let end = found.last().filter(|s| s.marker == 0xD9)?.span.end;
    let first_scan = found.iter().position(|s| s.marker == 0xDA)?;
    if !found[..first_scan].iter().any(|s| is_frame_header(s.marker)) {
        return None;
    }
    let mut out = Vec::with_capacity(end);
    let mut at = 0;
    for s in found.iter().filter(|s| is_metadata(stream, s)) {
        out.extend_from_slice(&stream[at..s.span.start]);
        at = s.span.end;
    }
    out.extend_from_slice(&stream[at..end]);
    Some(out)
}

/// Adobe's APP14 saying the three components are stored without a colour transform.
const ADOBE_NO_TRANSFORM: [u8; 16] = [0xFF, 0xEE, 0, 14, b'A', b'd', b'o', b'b', b'e', 0, 100, 0, 0, 0, 0, 0];

/// The stream as a decoder must read it for `image`. PS3.5 8.2.1: Photometric Interpretation
/// names the colour space of the compressed data. Decoders instead guess from JFIF and Adobe
/// markers and assume YCbCr without them, so an RGB stream would be colour-converted once too
/// often: for RGB, those markers give way to an Adobe marker saying "no transform", which
/// libjpeg-turbo, jpeg-decoder and browsers all obey.
pub fn as_declared(image: &Image, stream: Vec<u8>) -> Vec<u8> {
    if image.photometric != "RGB" || image.samples_per_pixel != 3 {
        return stream;
    }
    let colour_markers: Vec<Segment> =
        segments(&stream).into_iter().take_while(|s| s.marker != 0xDA).filter(|s| matches!(s.marker, 0xE0 | 0xEE) && is_decoding_segment(&stream, s)).collect();
    let mut out = Vec::with_capacity(stream.len() + ADOBE_NO_TRANSFORM.len());
    out.extend_from_slice(&stream[..2.min(stream.len())]);
    out.extend_from_slice(&ADOBE_NO_TRANSFORM);
    let mut at = 2.min(stream.len());
    for s in colour_markers {
        out.extend_from_slice(&stream[at..s.span.start]);
        at = s.span.end;
    }
    out.extend_from_slice(&stream[at..]);
    out
}

/// Whether the renderer shows every 8-bit value as itself under the file's default VOI: no
/// rescale or LUT, and no window, or one (like centre 128, width 256) that changes nothing.
/// MONOCHROME1's inversion fails the test, as it should.
fn renders_unchanged(index: &Index) -> bool {
    let p = &index.presentation;
    // Without a window the default spans the frame's own range unless the values are shown
    // as stored; only a default that does not depend on the frame can be judged on a ramp.
    if p.windows.is_empty() && p.voi_luts.is_empty() && !p.is_identity() {
        return false;
    }
    let mut ramp = index.image.frame((0..=255u8).collect::<Vec<u8>>());
    (ramp.rows, ramp.columns, ramp.samples_per_pixel) = (1, 256, 1);
    crate::render::render(&ramp, p, &Default::default()).is_ok_and(|picture| picture.data.iter().enumerate().all(|(i, v)| usize::from(*v) == i))
}

/// The stored JPEG of an unchanged frame, when a browser shows it exactly as framegate would
/// render it: 8-bit baseline (or 8-bit extended Huffman), grey that the default VOI leaves
/// unchanged, or JPEG's own YCbCr colour. `None` sends the frame through the renderer.
pub fn browser_ready_jpeg(index: &Index, bytes: &[u8]) -> Option<Vec<u8>> {
    let image = &index.image;
    let ts = index.transfer_syntax.uid();
    if !matches!(ts, uids::JPEG_BASELINE8_BIT | uids::JPEG_EXTENDED12_BIT) || image.bits_allocated != 8 || image.bits_stored != 8 || image.signed {
        return None;
    }
    let ready = match (image.samples_per_pixel, image.photometric.as_str()) {
        (1, "MONOCHROME1" | "MONOCHROME2") => renders_unchanged(index),
        // RGB is left out: its streams may or may not hold YCbCr, which browsers always assume.
        (3, "YBR_FULL_422" | "YBR_FULL") => true,
        _ => false,
    };
    if !ready {
        return None;
    }
    let stream = super::walk::fragments(bytes).ok()?.concat();
    let header = frame_header(&stream)?;
    let fits = (header.width, header.height) == (image.columns, image.rows);
    let ready = matches!(header.marker, 0xC0 | 0xC1) && header.precision == 8 && u16::from(header.components) == image.samples_per_pixel && fits;
    // Sent as stored, but never with the comments and EXIF a modality may have written into it.
    ready.then(|| blank_metadata(&stream).into_owned())
}

/// Decodes a JPEG stream with libjpeg-turbo: 8-, 12- and 16-bit samples, colour converted to
/// RGB by the library as jpeg-decoder would.
#[cfg(feature = "turbo")]
pub fn decode(image: &Image, stream: &[u8]) -> Result<Pixels, DicomError> {
    let decoded = crate::turbo::decode(stream, image.pixels()).map_err(|e| DicomError::Decode(e.to_string()))?;
    if (decoded.width, decoded.height) != (image.columns, image.rows) {
        return Err(DicomError::Malformed("the compressed frame's size differs from Rows and Columns"));
    }
    let wide = decoded.precision > 8;
    let mut pixels = image.frame(decoded.data);
    pixels.samples_per_pixel = decoded.components;
    pixels.bits_allocated = if wide { 16 } else { 8 };
    // Stored bits beyond what the stream holds would shift samples out of place.
    pixels.bits_stored = image.bits_stored.min(decoded.precision).max(1);
    pixels.high_bit = pixels.bits_stored - 1;
    if decoded.components == 3 {
        pixels.photometric = "RGB".into();
        pixels.planar_configuration = 0;
    }
    Ok(pixels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::SampleFormat;

    fn segment(marker: u8, body: &[u8]) -> Vec<u8> {
        let mut s = vec![0xFF, marker];
        s.extend_from_slice(&u16::try_from(body.len() + 2).unwrap().to_be_bytes());
        s.extend_from_slice(body);
        s
    }

    /// SOI, a JFIF header, a comment and an EXIF block, then a grey 8×8 stream's own segments.
    fn decorated() -> (Vec<u8>, Vec<u8>) {
        let mut plain = Vec::new();
        jpeg_encoder::Encoder::new(&mut plain, 90).encode(&[7u8; 64], 8, 8, jpeg_encoder::ColorType::Luma).unwrap();
        let mut out = plain[..2].to_vec();
        out.extend(segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"));
        out.extend(segment(0xFE, b"Doe^Jane"));
        out.extend(segment(0xE1, b"Exif\0\0GPS 51N"));
        out.extend_from_slice(&plain[2..]);
        (out, plain)
    }

    #[test]
    fn metadata_is_blanked_in_place_and_decoding_segments_kept() {
        let (stream, _) = decorated();
        let blanked = blank_metadata(&stream).into_owned();
        assert_eq!(blanked.len(), stream.len());
        assert!(!blanked.windows(8).any(|w| w == b"Doe^Jane") && !blanked.windows(4).any(|w| w == b"Exif"));
        assert!(blanked.windows(4).any(|w| w == b"JFIF"));
        assert_eq!(frame_header(&blanked), frame_header(&stream));
        // Nothing left to blank: the same bytes, not a copy.
        assert!(matches!(blank_metadata(&blanked), Cow::Borrowed(_)));
        // What follows EOI (a camera's thumbnail, say) is zeroed, and the length kept.
        let trailed = [&stream[..], b"Doe^Jane"].concat();
        let blanked = blank_metadata(&trailed);
        assert_eq!(&blanked[stream.len()..], &[0u8; 8]);
        assert_eq!(&blanked[..stream.len()], &blank_metadata(&stream)[..]);
        // A stream cut inside a segment is blanked as far as it goes, without panicking.
        let _ = blank_metadata(&stream[..30]);
    }

    #[test]
    fn an_rgb_stream_is_told_it_holds_no_colour_transform() {
        let (stream, _) = decorated();
        let mut image = Image { format: SampleFormat::colour(8, 8, "RGB"), frames: 1 };
        let declared = as_declared(&image, stream.clone());
        assert_eq!(&declared[2..18], &ADOBE_NO_TRANSFORM);
        assert!(!declared.windows(4).any(|w| w == b"JFIF"), "JFIF would say YCbCr");
        // Both JFIF headers (ours and the encoder's) give way to the one Adobe marker.
        let jfif: usize = segments(&stream).iter().filter(|s| s.marker == 0xE0).map(|s| s.span.len()).sum();
        assert_eq!(declared.len(), stream.len() + ADOBE_NO_TRANSFORM.len() - jfif);
        image.photometric = "YBR_FULL_422".into();
        assert_eq!(as_declared(&image, stream.clone()), stream);
    }

    #[test]
    fn frame_header_is_found_past_other_segments() {
        let mut stream = Vec::new();
        let grey = vec![7u8; 16 * 8];
        jpeg_encoder::Encoder::new(&mut stream, 90).encode(&grey, 16, 8, jpeg_encoder::ColorType::Luma).unwrap();
        assert_eq!(frame_header(&stream), Some(JpegFrame { marker: 0xC0, precision: 8, height: 8, width: 16, components: 1 }));
        // A 12-bit extended header (SOF1) after an APP segment with fill bytes before it.
        let sof1 = [0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xFF, 0xC1, 0, 11, 12, 0, 8, 0, 16, 1, 1, 0x11, 0];
        assert_eq!(frame_header(&sof1), Some(JpegFrame { marker: 0xC1, precision: 12, height: 8, width: 16, components: 1 }));
        // Not a JPEG, truncated, or a scan before any frame header.
        assert_eq!(frame_header(b"GIF89a"), None);
        assert_eq!(frame_header(&sof1[..12]), None);
        assert_eq!(frame_header(&[0xFF, 0xD8, 0xFF, 0xDA, 0, 2]), None);
    }
}
