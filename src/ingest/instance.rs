//! One DICOM object: the header read up to Pixel Data and de-identified, then the Pixel Data
//! element copied from the stream as it comes, never decoded, so memory stays flat whatever the
//! object's size. Elements after Pixel Data (padding, signatures) are left behind.

use std::io::{self, Read, Write};

use dicom_core::Tag;
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;

use super::manifest::{Instance, Kind, Refusal};
use super::{BurnedIn, Job, Object, Place};
use crate::dicom::index::{INITIAL_PREFIX, Parsed, next_prefix, parse_header};
use crate::dicom::walk::{ITEM, PixelElement, SEQUENCE_DELIMITATION};
use crate::dicom::{DicomError, Geometry, Image, blank_frame_metadata, carries_metadata, text_is_findable};

/// Items in one Pixel Data element at most.
const MAX_ITEMS: u64 = 1 << 20;

/// Ingests the DICOM object `reader` holds (`size` bytes).
pub(super) fn ingest(job: &Job, place: &Place, reader: &mut dyn Read, size: u64) {
    let refuse = |refusal: Refusal| job.manifest.refuse(place, Kind::Dicom, size, refusal);
    let (header, prefix) = match read_header(reader, size, job.options.limits.max_header_bytes) {
        Ok(found) => found,
        Err(refusal) => return refuse(refusal),
    };
    let ts = header.ts;
    let pixel = header.pixel;
    let markers = carries_metadata(ts.uid());
    let about = match describe(&header.obj, header.meta.media_storage_sop_instance_uid(), header.meta.media_storage_sop_class_uid(), job) {
        Ok(about) => about,
        Err(reason) => return refuse(Refusal::Fail(reason)),
    };
    if let Some(why) = &about.burned_in
        && job.options.burned_in == BurnedIn::Refuse
    {
        return refuse(Refusal::Skip(format!("burned-in annotation ({why}): left out, see --burned-in")));
    }
    let key = match job.key([about.study.clone(), about.series.clone(), format!("{}.dcm", about.sop)]) {
        Ok(key) => key,
        Err(reason) => return refuse(Refusal::Fail(reason)),
    };
    let htj2k = htj2k_image(job, ts, &header.obj, &pixel);
    let stored_ts = if htj2k.is_some() { registry(uids::HTJ2K_LOSSLESS_RPCL).unwrap_or(ts) } else { ts };
    let deidentified = match crate::deid::header_with(&header.meta, header.obj, stored_ts, &job.pseudonyms, &job.options.deid) {
        Ok(bytes) => bytes,
        Err(e) => return refuse(Refusal::Fail(e.to_string())),
    };
    let native_size = pixel.length.filter(|_| htj2k.is_none()).map(|n| deidentified.len() as u64 + (pixel.value_offset - pixel.header_offset) + u64::from(n));
    let instance = Instance { study: about.study, series: about.series, modality: about.modality, frames: about.frames, burned_in: about.burned_in.is_some() };
    let object = Object {
        key,
        place,
        kind: Kind::Dicom,
        source_bytes: size,
        instance: Some(instance),
        head: &deidentified,
        size: native_size,
        duplicate: "the same instance (SOP Instance UID) as an earlier file: not copied twice",
        conflict: "an instance with these UIDs is already stored, with other content: not replaced",
    };
    let pixel_element = &prefix[pixel.header_offset as usize..];
    let max_frame = job.options.limits.max_frame_bytes;
    let mut input = io::Cursor::new(pixel_element).chain(reader);
    job.write(object, |out| match &htj2k {
        Some(image) => htj2k_pixel_data(&mut input, &pixel, image, out),
        None => copy_pixel_data(&mut input, &pixel, markers, max_frame, out).map(drop),
    });
}

fn registry(uid: &str) -> Option<&'static dicom_encoding::TransferSyntax> {
    use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
    dicom_transfer_syntax_registry::TransferSyntaxRegistry.get(uid)
}

/// The image, when `--transcode htj2k` asks for HTJ2K and the source's frames are grey native
/// little-endian samples of 8 or 16 bits; `None` keeps Pixel Data as the source has it.
fn htj2k_image(job: &Job, ts: &dicom_encoding::TransferSyntax, obj: &InMemDicomObject, pixel: &PixelElement) -> Option<Image> {
    if job.options.transcode != super::Transcode::Htj2k || !matches!(ts.uid(), uids::IMPLICIT_VR_LITTLE_ENDIAN | uids::EXPLICIT_VR_LITTLE_ENDIAN) {
        return None;
    }
    let image = Image::from_obj(obj).ok()?;
    let frames_fit = pixel.length.is_some_and(|n| u64::from(n) >= image.native_frame_bits() / 8 * u64::from(image.frames));
    (image.samples_per_pixel == 1 && matches!(image.bits_allocated, 8 | 16) && image.frames > 0 && frames_fit).then_some(image)
}

/// Writes the native Pixel Data element from `input` (which starts at the element's header) as
/// encapsulated lossless HTJ2K: an empty offset table, then one fragment a frame, each coded as
/// it is read, so memory stays one frame.
fn htj2k_pixel_data(input: &mut dyn Read, pixel: &PixelElement, image: &Image, out: &mut dyn Write) -> io::Result<()> {
    let invalid = |what: &'static str| super::OwnWords::io(what, io::ErrorKind::InvalidData);
    io::copy(&mut input.take(pixel.value_offset - pixel.header_offset), &mut io::sink())?;
    let item = |length: u32| [&[0xFE, 0xFF, 0x00, 0xE0][..], &length.to_le_bytes()].concat();
    // (7FE0,0010) OB, undefined length, as PS3.5 A.4 writes encapsulated Pixel Data.
    out.write_all(&[0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF])?;
    out.write_all(&item(0))?;
    let frame_bytes = (image.native_frame_bits() / 8) as usize;
    let mut frame = vec![0u8; frame_bytes];
    for _ in 0..image.frames {
        input.read_exact(&mut frame)?;
        let mut stream = crate::transcode::htj2k(&image.frame(frame.clone())).map_err(|_| invalid("a frame could not be coded as HTJ2K"))?;
        if stream.len() % 2 == 1 {
            stream.push(0);
        }
        let length = u32::try_from(stream.len()).map_err(|_| invalid("a coded frame is larger than an item holds"))?;
        out.write_all(&item(length))?;
        out.write_all(&stream)?;
    }
    out.write_all(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0])
}

/// What the manifest and the key need from the original header.
struct About {
    study: String,
    series: String,
    sop: String,
    modality: Option<String>,
    frames: u32,
    /// Why the pixels may show identifying text.
    burned_in: Option<String>,
}

fn describe(obj: &InMemDicomObject, meta_sop: &str, meta_sop_class: &str, job: &Job) -> Result<About, String> {
    // The same pseudonyms the de-identified header gets, so the key names what the object says.
    let uid = |tag: Tag, name: &str| {
        let value = obj.get(tag).and_then(|e| e.to_str().ok()).and_then(|v| job.pseudonyms.uid_of(&v));
        value.ok_or_else(|| format!("no {name}: cannot place the object in a study"))
    };
    let geometry = Geometry::from_obj(obj).with_meta_sop_class(meta_sop_class);
    let sop = uid(tags::SOP_INSTANCE_UID, "SOP Instance UID").or_else(|e| job.pseudonyms.uid_of(meta_sop).ok_or(e))?;
    let burned_in = geometry.burned_in().map(String::from);
    Ok(About {
        study: uid(tags::STUDY_INSTANCE_UID, "Study Instance UID")?,
        series: uid(tags::SERIES_INSTANCE_UID, "Series Instance UID")?,
        sop,
        modality: geometry.modality,
        frames: Image::from_obj(obj).map_or(1, |image| image.frames),
        burned_in,
    })
}

/// Reads the file up to its Pixel Data element and parses what came before it; answers the
/// header and every byte read, which may run past the element's start.
fn read_header(reader: &mut dyn Read, size: u64, max_header: u64) -> Result<(crate::dicom::index::Header, Vec<u8>), Refusal> {
    use Refusal::{Fail, Skip};
    let mut prefix = Vec::new();
    let mut want = INITIAL_PREFIX.min(size);
    loop {
        let missing = want.saturating_sub(prefix.len() as u64);
        reader.take(missing).read_to_end(&mut prefix).map_err(|e| Fail(super::io_reason(&e)))?;
        match parse_header(&prefix, size) {
            Ok(Parsed::Done(header)) => return Ok((header, prefix)),
            Ok(Parsed::Deflated(_)) => return Err(Skip("a deflated data set: its Pixel Data cannot be copied without inflating it, not ingested".into())),
            Ok(Parsed::NeedMore(end)) => {
                // A stream that gave less than was asked for has ended: the file is cut short.
                if (prefix.len() as u64) < want {
                    return Err(Fail(DicomError::Truncated.to_string()));
                }
                want = next_prefix(end, prefix.len() as u64, size, max_header).map_err(|e| Fail(e.to_string()))?;
            }
            Ok(Parsed::Whole(_)) | Err(DicomError::NoPixelData) => {
                return Err(Skip("DICOM without Pixel Data (a DICOMDIR, report, PDF or presentation state): not an image, not copied".into()));
            }
            Err(DicomError::NotDicom) => return Err(Fail("claims to be DICOM but is not".into())),
            Err(e) => return Err(Fail(format!("not valid DICOM: {e}"))),
        }
    }
}

/// Copies the Pixel Data element from `input` (which starts at the element's header) to `out`:
/// native data as it is; encapsulated data item by item. With `markers`, the items of each
/// frame are held until the next frame starts (an item opening with a JPEG SOI or a JPEG 2000
/// SOC), so the whole stream's text is blanked in place, wherever it stands and across fragment
/// boundaries, by the raw route's own rule ([`blank_frame_metadata`]); item lengths and the
/// offset table stay true. Memory is one frame, at most `max_frame` bytes.
fn copy_pixel_data(input: &mut dyn Read, pixel: &PixelElement, markers: bool, max_frame: u64, out: &mut dyn Write) -> io::Result<u64> {
    let invalid = |what: &'static str| super::OwnWords::io(what, io::ErrorKind::InvalidData);
    let head = pixel.value_offset - pixel.header_offset;
    copy_exact(input, out, head)?;
    if let Some(length) = pixel.length {
        return copy_exact(input, out, u64::from(length)).map(|n| head + n);
    }
    let flush = |frame: &mut Vec<u8>, out: &mut dyn Write| -> io::Result<()> {
        if !frame.is_empty() {
            if !text_is_findable(frame) {
                return Err(invalid("a frame is no JPEG or JPEG 2000 stream framegate can read for text (a wrapped or offset stream)"));
            }
            out.write_all(&blank_frame_metadata(frame))?;
            frame.clear();
        }
        Ok(())
    };
    let mut frame = Vec::new();
    let mut total = head;
    for item in 0..MAX_ITEMS {
        let mut header = [0u8; 8];
        input.read_exact(&mut header)?;
        let tag = Tag(u16::from_le_bytes([header[0], header[1]]), u16::from_le_bytes([header[2], header[3]]));
        let length = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if tag == SEQUENCE_DELIMITATION {
            flush(&mut frame, out)?;
            out.write_all(&header)?;
            return Ok(total + 8);
        }
        if tag != ITEM || length == u32::MAX {
            return Err(invalid("Pixel Data items are not well formed"));
        }
        let length = u64::from(length);
        total += 8 + length;
        // The first item is the offset table, not part of any stream.
        if !markers || item == 0 {
            out.write_all(&header)?;
            copy_exact(input, out, length)?;
            continue;
        }
        let mut opening = [0u8; 2];
        let opened = length.min(2) as usize;
        input.read_exact(&mut opening[..opened])?;
        if matches!(opening, [0xFF, 0xD8] | [0xFF, 0x4F]) {
            flush(&mut frame, out)?;
        }
        if frame.len() as u64 + 8 + length > max_frame {
            return Err(invalid("a compressed frame is larger than the frame limit"));
        }
        frame.extend_from_slice(&header);
        frame.extend_from_slice(&opening[..opened]);
        let rest = length - opened as u64;
        if input.take(rest).read_to_end(&mut frame)? as u64 != rest {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    Err(invalid("too many Pixel Data items"))
}

/// Copies exactly `n` bytes, or fails: a stream that ends early is a truncated file.
fn copy_exact(input: &mut dyn Read, out: &mut dyn Write, n: u64) -> io::Result<u64> {
    let copied = io::copy(&mut input.take(n), out)?;
    if copied != n {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![0xFE, 0xFF, 0x00, 0xE0];
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn encapsulated_frames_keep_their_lengths_and_lose_their_comments() {
        // A progressive-style frame whose comment straddles two fragments, with a second comment
        // between its scans and a tail after EOI; then a frame with EXIF.
        let first = [
            &[0xFF, 0xD8, 0xFF, 0xFE, 0x00, 0x0A][..],
            b"SECRET12",
            &[0xFF, 0xDA, 0x00, 0x02, 0x11, 0x22, 0xFF, 0xFE, 0x00, 0x08],
            b"SECOND",
            &[0xFF, 0xDA, 0x00, 0x02, 0x33, 0x44, 0xFF, 0xD9],
            b"AFTER!",
        ]
        .concat();
        let second = [&[0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x0A][..], b"Exif\0\0GP", &[0xFF, 0xDA, 0x00, 0x02, 0x55, 0x66, 0xFF, 0xD9]].concat();
        let element = [
            &[0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF][..],
            &item(&[]),
            &item(&first[..10]),
            &item(&first[10..]),
            &item(&second),
            &[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0],
        ]
        .concat();
        let pixel = PixelElement { header_offset: 0, value_offset: 12, length: None, vr: dicom_core::VR::OB };
        let mut out = Vec::new();
        let mut input = io::Cursor::new([&element[..], b"TRAILING ELEMENTS"].concat());
        let n = copy_pixel_data(&mut input, &pixel, true, 1 << 20, &mut out).unwrap();
        assert_eq!(n as usize, element.len());
        assert_eq!(out.len(), element.len(), "lengths are kept");
        for planted in [&b"SECRET"[..], b"SECOND", b"AFTER", b"Exif", b"TRAILING"] {
            assert!(!out.windows(planted.len()).any(|w| w == planted), "{}", String::from_utf8_lossy(planted));
        }
        for data in [[0x11, 0x22], [0x33, 0x44], [0x55, 0x66]] {
            let at = element.windows(2).position(|w| w == data).unwrap();
            assert_eq!(out[at..at + 2], data, "entropy-coded data is copied as it was");
        }
        assert!(copy_pixel_data(&mut io::Cursor::new(&element[..element.len() - 9]), &pixel, true, 1 << 20, &mut Vec::new()).is_err(), "a truncated element fails");
        assert!(copy_pixel_data(&mut io::Cursor::new(&element), &pixel, true, 40, &mut Vec::new()).is_err(), "a frame over the limit fails");
        let mut untouched = Vec::new();
        copy_pixel_data(&mut io::Cursor::new(&element), &pixel, false, 40, &mut untouched).unwrap();
        assert_eq!(untouched, element, "other syntaxes are copied byte for byte");
    }
}
