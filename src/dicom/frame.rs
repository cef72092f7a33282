//! One frame's bytes to pixels.
//!
//! Native frames are already samples: only big-endian ones need their bytes swapped.
//! JPEG frames go to libjpeg-turbo when the build has it (every process and precision), RLE
//! frames to framegate's own decoder; other compressed frames are wrapped in a one-frame object and decoded by dicom-pixeldata, so every
//! codec the transfer syntax registry carries works without touching the rest of the file.

use dicom_core::value::PixelFragmentSequence;
use dicom_core::{DataElement, PrimitiveValue, VR, dicom_value};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use dicom_pixeldata::PixelDecoder;

#[cfg(feature = "turbo")]
use super::Image;
use super::{DicomError, Index, Layout};
use crate::render::Pixels;

/// Decodes frame bytes read from `index.frame_range(n)`.
pub fn decode_frame(index: &Index, bytes: &[u8]) -> Result<Pixels, DicomError> {
    let image = &index.image;
    match &index.layout {
        Layout::Native { big_endian: false, .. } | Layout::Inflated { .. } => Ok(image.frame(bytes.to_vec())),
        Layout::Native { big_endian: true, .. } => {
            let width = usize::from(image.bits_allocated / 8);
            let mut data = bytes.to_vec();
            // Bytes and bits have no order to swap (fuzzing found 1-bit data marked big endian).
            if width > 1 {
                data.chunks_exact_mut(width).for_each(<[u8]>::reverse);
            }
            Ok(image.frame(data))
        }
        Layout::Encapsulated { .. } => decode_encapsulated(index, fragments(bytes)?),
    }
}

/// The fragment values of the items in `bytes`.
fn fragments(bytes: &[u8]) -> Result<Vec<&[u8]>, DicomError> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 8 {
        let group = u16::from_le_bytes([rest[0], rest[1]]);
        let element = u16::from_le_bytes([rest[2], rest[3]]);
        let len = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        if (group, element) == (0xFFFE, 0xE0DD) {
            break;
        }
        if (group, element) != (0xFFFE, 0xE000) || len > rest.len() - 8 {
            return Err(DicomError::Malformed("a frame's fragments are not well formed"));
        }
        out.push(&rest[8..8 + len]);
        rest = &rest[8 + len..];
    }
    if out.is_empty() {
        return Err(DicomError::Malformed("a frame has no fragments"));
    }
    Ok(out)
}

const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";
const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";
const JPEG_EXTENDED: &str = "1.2.840.10008.1.2.4.51";
/// The JPEG processes of DICOM: baseline, extended, and the two lossless syntaxes.
const JPEG_FAMILY: [&str; 4] = [JPEG_BASELINE, JPEG_EXTENDED, "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"];

/// What a JPEG stream's frame header (SOFn) declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct JpegFrame {
    /// The SOF marker's low nibble: 0 baseline, 1 extended, 3 lossless, ...
    process: u8,
    precision: u8,
    components: u8,
}

/// Finds the frame header of a JPEG stream, walking its marker segments up to the first scan.
fn jpeg_frame(stream: &[u8]) -> Option<JpegFrame> {
    let mut at = 2;
    if !stream.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    loop {
        while stream.get(at) == Some(&0xFF) && stream.get(at + 1) == Some(&0xFF) {
            at += 1; // fill bytes
        }
        let [0xFF, marker] = *stream.get(at..at + 2)? else { return None };
        let rest = &stream[at + 2..];
        match marker {
            0xD0..=0xD7 | 0x01 => at += 2,
            0xDA | 0xD9 => return None,
            _ => {
                let len = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
                // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
                if (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
                    return Some(JpegFrame { process: marker & 0x0F, precision: *rest.get(2)?, components: *rest.get(7)? });
                }
                at += 2 + len;
            }
        }
    }
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
    let mut ramp = index.image.frame((0..=255u8).collect());
    (ramp.rows, ramp.columns, ramp.samples_per_pixel) = (1, 256, 1);
    crate::render::render(&ramp, p, &Default::default())
        .is_ok_and(|picture| picture.data.iter().enumerate().all(|(i, v)| usize::from(*v) == i))
}

/// The stored JPEG of an unchanged frame, when a browser shows it exactly as framegate would
/// render it: 8-bit baseline (or 8-bit extended Huffman), grey that the default VOI leaves
/// unchanged, or JPEG's own YCbCr colour. `None` sends the frame through the renderer.
pub fn browser_ready_jpeg(index: &Index, bytes: &[u8]) -> Option<Vec<u8>> {
    let image = &index.image;
    let ts = index.transfer_syntax.uid();
    if !matches!(ts, JPEG_BASELINE | JPEG_EXTENDED) || image.bits_allocated != 8 || image.bits_stored != 8 || image.signed {
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
    let stream = fragments(bytes).ok()?.concat();
    let header = jpeg_frame(&stream)?;
    let fits = declared_size(&stream) == Some((u32::from(image.columns), u32::from(image.rows)));
    (matches!(header.process, 0 | 1) && header.precision == 8 && u16::from(header.components) == image.samples_per_pixel && fits).then_some(stream)
}

/// Width and height a compressed frame declares: from a JPEG's frame header, or a JPEG 2000
/// codestream's SIZ segment. `None` when the stream is neither, or too short to say.
fn declared_size(stream: &[u8]) -> Option<(u32, u32)> {
    if let [0xFF, 0x4F, 0xFF, 0x51, _, _, _, _, rest @ ..] = stream {
        // SIZ: Rsiz, then Xsiz, Ysiz, XOsiz, YOsiz (PS3.5 A.4.4 / ITU-T T.800 A.5.1).
        let word = |i: usize| rest.get(i..i + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        let (x, y, x0, y0) = (word(0)?, word(4)?, word(8)?, word(12)?);
        return Some((x.checked_sub(x0)?, y.checked_sub(y0)?));
    }
    if stream.starts_with(&[0xFF, 0xD8]) {
        return imagesize::blob_size(stream).ok().map(|s| (s.width as u32, s.height as u32));
    }
    None
}

/// Decodes a JPEG stream with libjpeg-turbo: 8-, 12- and 16-bit samples, colour converted to
/// RGB by the library as jpeg-decoder would.
#[cfg(feature = "turbo")]
fn decode_turbo(image: &Image, stream: &[u8]) -> Result<Pixels, DicomError> {
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

/// Transfer syntaxes whose codec is a cargo feature this build was made without.
const FEATURE_CODECS: &[(&str, &str)] = &[("1.2.840.10008.1.2.4.80", "jpegls"), ("1.2.840.10008.1.2.4.81", "jpegls")];

fn decode_encapsulated(index: &Index, fragments: Vec<&[u8]>) -> Result<Pixels, DicomError> {
    let image = &index.image;
    let ts = index.transfer_syntax;
    if !ts.can_decode_all() {
        if let Some((_, feature)) = FEATURE_CODECS.iter().find(|(uid, _)| *uid == ts.uid()) {
            return Err(DicomError::CodecNotBuilt(format!("{} ({})", ts.name(), ts.uid()), feature));
        }
        return Err(DicomError::UnsupportedTransferSyntax(ts.uid().to_owned()));
    }
    // A decoder would fill the declared frame from a smaller stream, or overrun it from a larger
    // one: a codestream that contradicts Rows and Columns is refused.
    if let Some((w, h)) = fragments.first().and_then(|f| declared_size(f))
        && (w, h) != (u32::from(image.columns), u32::from(image.rows))
    {
        return Err(DicomError::Malformed("the compressed frame's size differs from Rows and Columns"));
    }
    if ts.uid() == RLE_LOSSLESS {
        let samples = usize::from(image.samples_per_pixel);
        let data = super::rle::decode(&fragments.concat(), image.pixels() as usize, samples, usize::from(image.bits_allocated / 8))?;
        let mut pixels = image.frame(data);
        pixels.planar_configuration = 0;
        return Ok(pixels);
    }
    if super::j2k::SYNTAXES.contains(&ts.uid()) {
        return match fragments.as_slice() {
            [one] => super::j2k::decode(image, one),
            many => super::j2k::decode(image, &many.concat()),
        };
    }
    if JPEG_FAMILY.contains(&ts.uid()) {
        let stream = fragments.concat();
        #[cfg(feature = "turbo")]
        return decode_turbo(image, &stream);
        #[cfg(not(feature = "turbo"))]
        if jpeg_frame(&stream).is_some_and(|f| f.precision > 8 && f.process != 3) {
            return Err(DicomError::CodecNotBuilt(format!("{} ({}) with {}-bit samples", ts.name(), ts.uid(), image.bits_stored), "turbo"));
        }
    }
    let us = |tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
    let mut elements = vec![
        us(tags::ROWS, image.rows),
        us(tags::COLUMNS, image.columns),
        us(tags::SAMPLES_PER_PIXEL, image.samples_per_pixel),
        us(tags::BITS_ALLOCATED, image.bits_allocated),
        us(tags::BITS_STORED, image.bits_stored),
        us(tags::HIGH_BIT, image.high_bit),
        us(tags::PIXEL_REPRESENTATION, u16::from(image.signed)),
        DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, dicom_value!(Str, image.photometric.as_str())),
        DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, dicom_value!(Str, "1")),
        DataElement::new(tags::PIXEL_DATA, VR::OB, PixelFragmentSequence::new(Vec::<u32>::new(), fragments.iter().map(|f| f.to_vec()).collect::<Vec<_>>())),
    ];
    if image.samples_per_pixel > 1 {
        elements.push(us(tags::PLANAR_CONFIGURATION, image.planar_configuration));
    }
    let meta = FileMetaTableBuilder::new()
        .transfer_syntax(ts.uid())
        .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.7")
        .media_storage_sop_instance_uid("2.25.1")
        .build()
        .map_err(|e| DicomError::Decode(e.to_string()))?;
    let obj = InMemDicomObject::from_element_iter(elements).with_exact_meta(meta);
    // Some codecs index past their buffers on malformed streams (fuzzing found one in RLE):
    // such a panic is the file's fault and answered like any undecodable frame.
    let decode = || {
        let decoded = obj.decode_pixel_data().map_err(|e| DicomError::Decode(e.to_string()))?;
        Ok(Pixels {
            rows: image.rows,
            columns: image.columns,
            samples_per_pixel: decoded.samples_per_pixel(),
            bits_allocated: decoded.bits_allocated(),
            bits_stored: decoded.bits_stored(),
            high_bit: decoded.high_bit(),
            signed: image.signed,
            photometric: decoded.photometric_interpretation().as_str().to_owned(),
            planar_configuration: decoded.planar_configuration() as u16,
            data: decoded.into_data(),
        })
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)).unwrap_or_else(|_| Err(DicomError::Decode(format!("{} decoder panicked", ts.name()))))
}
