//! One frame's bytes to pixels.
//!
//! Native frames are already samples: only big-endian ones need their bytes swapped.
//! Compressed frames go to the best decoder this build has: JPEG 2000 and HTJ2K to OpenJPEG,
//! RLE to framegate's own decoder, JPEG to libjpeg-turbo with the `turbo` feature. The rest are
//! wrapped in a one-frame object and decoded by dicom-pixeldata, so every codec the transfer
//! syntax registry carries works without touching the rest of the file.

use dicom_dictionary_std::uids;
use std::borrow::Cow;

use bytes::Bytes;

use dicom_core::value::PixelFragmentSequence;
use dicom_core::{DataElement, PrimitiveValue, VR, dicom_value};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use dicom_pixeldata::PixelDecoder;

use super::index::Swap;
use super::walk::fragments;
use super::{DicomError, Index, Layout, jpeg};
use crate::render::{Pixels, SampleFormat};

/// Decodes frame `n` (0-based) from the bytes read from `index.frame_range(n)`. Native
/// little-endian samples are used where they lie, without a copy.
pub fn decode_frame(index: &Index, n: u32, bytes: &Bytes) -> Result<Pixels, DicomError> {
    let mut pixels = decode(index, n, bytes)?;
    pixels.frame = n;
    Ok(pixels)
}

fn decode(index: &Index, n: u32, bytes: &Bytes) -> Result<Pixels, DicomError> {
    let image = &index.image;
    match &index.layout {
        Layout::Native { swap: Swap::None, .. } | Layout::Inflated { .. } => Ok(image.frame(bytes.clone())),
        Layout::Native { swap: swap @ Swap::Samples(_), .. } => {
            let mut data = bytes.to_vec();
            swap.apply(&mut data);
            Ok(image.frame(data))
        }
        Layout::Native { swap: swap @ Swap::Words, frame_bytes, .. } => {
            // The range was widened to whole words; an odd frame start brought one byte before it.
            let mut data = bytes.to_vec();
            swap.apply(&mut data);
            let lead = (u64::from(n) * frame_bytes % 2) as usize;
            let end = lead + *frame_bytes as usize;
            if data.len() < end {
                return Err(DicomError::Truncated);
            }
            data.truncate(end);
            data.drain(..lead);
            Ok(image.frame(data))
        }
        Layout::Encapsulated { .. } => decode_encapsulated(index, fragments(bytes)?),
    }
}

/// Whether the frames of this transfer syntax are streams that can carry text besides their
/// pixels: JPEG and JPEG-LS (comments and application segments) and JPEG 2000 and HTJ2K
/// (comment segments). RLE and native frames are samples alone.
pub fn carries_metadata(uid: &str) -> bool {
    jpeg::has_jpeg_markers(uid) || super::j2k::SYNTAXES.contains(&uid)
}

/// A stored frame's items with the text of its stream blanked in place, by the stream's own
/// kind: a JPEG or JPEG-LS stream's metadata segments ([`jpeg::blank_metadata`]), a JPEG 2000
/// codestream's comments ([`super::j2k::blank_comments`]). The same length, so item lengths and
/// offset tables still hold. A stream of neither kind (a JP2 file around a codestream, a byte
/// before SOI) cannot be cleaned by its structure: its fragments are zeroed whole, and items
/// that are not well formed, which cannot be split into a stream, are zeroed with their headers,
/// so that what could not be read for text is not handed out.
pub fn blank_frame_metadata(bytes: &[u8]) -> Cow<'_, [u8]> {
    let zeroed = || if bytes.iter().all(|b| *b == 0) { Cow::Borrowed(bytes) } else { Cow::Owned(vec![0; bytes.len()]) };
    let Ok(parts) = fragments(bytes) else { return zeroed() };
    let stream = parts.concat();
    let blanked = match StreamKind::of(&stream) {
        Some(StreamKind::Jpeg) => jpeg::blank_metadata(&stream),
        Some(StreamKind::Codestream) => super::j2k::blank_comments(&stream),
        // The item headers stay, so the object still parses; their contents go.
        None => Cow::Owned(vec![0; stream.len()]),
    };
    let Cow::Owned(blanked) = blanked else { return Cow::Borrowed(bytes) };
    let mut out = bytes.to_vec();
    let mut taken = 0;
    for part in parts {
        // Each fragment is a slice of `bytes`: its address tells where it sits.
        let at = part.as_ptr() as usize - bytes.as_ptr() as usize;
        out[at..at + part.len()].copy_from_slice(&blanked[taken..taken + part.len()]);
        taken += part.len();
    }
    Cow::Owned(out)
}

/// The streams whose text [`blank_frame_metadata`] can find by their structure.
enum StreamKind {
    /// JPEG or JPEG-LS, from SOI.
    Jpeg,
    /// A bare JPEG 2000 or HTJ2K codestream, from SOC.
    Codestream,
}

impl StreamKind {
    fn of(stream: &[u8]) -> Option<Self> {
        if stream.starts_with(&[0xFF, 0xD8]) {
            Some(StreamKind::Jpeg)
        } else if super::j2k::is_codestream(stream) {
            Some(StreamKind::Codestream)
        } else {
            None
        }
    }
}

/// Whether a frame's items hold a stream whose text [`blank_frame_metadata`] can find; one that
/// does not is zeroed whole there, which ingest refuses to store.
pub fn text_is_findable(bytes: &[u8]) -> bool {
    fragments(bytes).is_ok_and(|parts| StreamKind::of(&parts.concat()).is_some())
}

/// Width and height a compressed frame declares: from a JPEG or JPEG-LS frame header, or a
/// JPEG 2000 codestream's SIZ segment. `None` when the stream is neither, or too short to say.
fn declared_size(stream: &[u8]) -> Option<(u32, u32)> {
    if let [0xFF, 0x4F, 0xFF, 0x51, _, _, _, _, rest @ ..] = stream {
        // SIZ: Rsiz, then Xsiz, Ysiz, XOsiz, YOsiz (PS3.5 A.4.4 / ITU-T T.800 A.5.1).
        let word = |i: usize| rest.get(i..i + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        let (x, y, x0, y0) = (word(0)?, word(4)?, word(8)?, word(12)?);
        return Some((x.checked_sub(x0)?, y.checked_sub(y0)?));
    }
    // JPEG and JPEG-LS: the frame header (a height of 0, left to a later DNL marker, counts as
    // a contradiction: DICOM frames state their rows).
    jpeg::frame_header(stream).map(|f| (u32::from(f.width), u32::from(f.height)))
}

/// Transfer syntaxes whose codec is a cargo feature this build was made without.
const FEATURE_CODECS: &[(&str, &str)] = &[(uids::JPEGLS_LOSSLESS, "jpegls"), (uids::JPEGLS_NEAR_LOSSLESS, "jpegls")];

fn decode_encapsulated(index: &Index, fragments: Vec<&[u8]>) -> Result<Pixels, DicomError> {
    let (image, ts) = (&index.image, index.transfer_syntax);
    check_decodable(ts)?;
    check_declared_size(image, &fragments)?;
    if ts.uid() == uids::RLE_LOSSLESS {
        return decode_rle(image, &fragments);
    }
    if super::j2k::SYNTAXES.contains(&ts.uid()) {
        return match fragments.as_slice() {
            [one] => super::j2k::decode(image, one),
            many => super::j2k::decode(image, &many.concat()),
        };
    }
    let fragments: Vec<Vec<u8>> = if jpeg::is_jpeg_syntax(ts.uid()) {
        let stream = jpeg::as_declared(image, fragments.concat());
        #[cfg(feature = "turbo")]
        return jpeg::decode(image, &stream);
        #[cfg(not(feature = "turbo"))]
        if jpeg::needs_turbo(&stream) {
            return Err(DicomError::CodecNotBuilt(format!("{} ({}) with {}-bit samples", ts.name(), ts.uid(), image.bits_stored), "turbo"));
        }
        #[cfg(not(feature = "turbo"))]
        vec![stream]
    } else {
        fragments.iter().map(|f| f.to_vec()).collect()
    };
    decode_with_registry(image, ts, fragments)
}

/// Refuses a syntax this build has no decoder for, naming the feature that would bring one.
fn check_decodable(ts: &dicom_encoding::TransferSyntax) -> Result<(), DicomError> {
    if ts.can_decode_all() {
        return Ok(());
    }
    if let Some((_, feature)) = FEATURE_CODECS.iter().find(|(uid, _)| *uid == ts.uid()) {
        return Err(DicomError::CodecNotBuilt(format!("{} ({})", ts.name(), ts.uid()), feature));
    }
    Err(DicomError::UnsupportedTransferSyntax(ts.uid().to_owned()))
}

/// A decoder would fill the declared frame from a smaller stream, or overrun it from a larger
/// one: a codestream that contradicts Rows and Columns is refused.
fn check_declared_size(image: &super::Image, fragments: &[&[u8]]) -> Result<(), DicomError> {
    match fragments.first().and_then(|f| declared_size(f)) {
        Some((w, h)) if (w, h) != (u32::from(image.columns), u32::from(image.rows)) => Err(DicomError::Malformed("the compressed frame's size differs from Rows and Columns")),
        _ => Ok(()),
    }
}

/// RLE by framegate's own decoder, bounded by the image's size; its output is interleaved.
fn decode_rle(image: &super::Image, fragments: &[&[u8]]) -> Result<Pixels, DicomError> {
    let samples = usize::from(image.samples_per_pixel);
    let data = super::rle::decode(&fragments.concat(), image.pixels() as usize, samples, usize::from(image.bits_allocated / 8))?;
    let mut pixels = image.frame(data);
    pixels.planar_configuration = 0;
    Ok(pixels)
}

/// Any other codec of the transfer syntax registry: the frame is wrapped in a one-frame object
/// and decoded by dicom-pixeldata.
fn decode_with_registry(image: &super::Image, ts: &dicom_encoding::TransferSyntax, fragments: Vec<Vec<u8>>) -> Result<Pixels, DicomError> {
    let obj = one_frame_object(image, ts, fragments)?;
    // Some codecs index past their buffers on malformed streams (fuzzing found one in RLE):
    // such a panic is the file's fault and answered like any undecodable frame.
    let decode = || {
        let decoded = obj.decode_pixel_data().map_err(|e| DicomError::Decode(e.to_string()))?;
        Ok(Pixels {
            format: SampleFormat {
                rows: image.rows,
                columns: image.columns,
                samples_per_pixel: decoded.samples_per_pixel(),
                bits_allocated: decoded.bits_allocated(),
                bits_stored: decoded.bits_stored(),
                high_bit: decoded.high_bit(),
                signed: image.signed,
                photometric: decoded.photometric_interpretation().as_str().to_owned(),
                planar_configuration: decoded.planar_configuration() as u16,
            },
            data: decoded.into_data().into(),
            frame: 0,
        })
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)).unwrap_or_else(|_| Err(DicomError::Decode(format!("{} decoder panicked", ts.name()))))
}

/// A one-frame object of `image`'s pixel module holding `fragments`, in syntax `ts`.
fn one_frame_object(image: &super::Image, ts: &dicom_encoding::TransferSyntax, fragments: Vec<Vec<u8>>) -> Result<dicom_object::FileDicomObject<InMemDicomObject>, DicomError> {
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
        DataElement::new(tags::PIXEL_DATA, VR::OB, PixelFragmentSequence::new(Vec::<u32>::new(), fragments)),
    ];
    if image.samples_per_pixel > 1 {
        elements.push(us(tags::PLANAR_CONFIGURATION, image.planar_configuration));
    }
    let meta = FileMetaTableBuilder::new()
        .transfer_syntax(ts.uid())
        .media_storage_sop_class_uid(uids::SECONDARY_CAPTURE_IMAGE_STORAGE)
        .media_storage_sop_instance_uid("2.25.1")
        .build()
        .map_err(|e| DicomError::Decode(e.to_string()))?;
    Ok(InMemDicomObject::from_element_iter(elements).with_exact_meta(meta))
}
