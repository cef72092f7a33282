//! JPEG 2000 and HTJ2K frames through OpenJPEG (the jpeg2k crate) directly: dicom-pixeldata's
//! adapter wraps the same library but copies and converts sample by sample, which the codecs
//! bench measured at +14% (J2K) and +50% (HTJ2K) over OpenJPEG alone on a 1955×1841 frame.

use dicom_dictionary_std::uids;
use super::{DicomError, Image};
use crate::render::Pixels;

/// Transfer syntaxes decoded here: JPEG 2000 Part 1 and 2, and HTJ2K.
pub const SYNTAXES: &[&str] = &[uids::JPEG2000_LOSSLESS, uids::JPEG2000, uids::JPEG2000MC_LOSSLESS, uids::JPEG2000MC, uids::HTJ2K_LOSSLESS, uids::HTJ2K_LOSSLESS_RPCL, uids::HTJ2K];

/// Whether `stream` opens as a bare codestream (SOC, then SIZ), the form DICOM stores.
pub fn is_codestream(stream: &[u8]) -> bool {
    stream.starts_with(&[0xFF, 0x4F, 0xFF, 0x51])
}

/// The codestream with the text of every comment (COM) segment, in the main header and in each
/// tile-part header, overwritten by zeros in place: the same length, so item lengths, offset
/// tables and tile-part lengths hold (ITU-T T.800 A.9.2; its registration value is kept).
/// Encoders write their name there, and nothing stops one writing a patient's. Whatever follows
/// EOC is zeroed too, as after a JPEG stream's EOI. Borrowed when
/// there is nothing to blank or the stream is not a codestream; a malformed one is blanked as
/// far as it can be read.
pub fn blank_comments(stream: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    const SOT: u8 = 0x90;
    const SOD: u8 = 0x93;
    const EOC: u8 = 0xD9;
    const COM: u8 = 0x64;
    if !is_codestream(stream) {
        return stream.into();
    }
    // The marker at `at` and where its segment ends (SOD and EOC have no length of their own).
    let segment = |at: usize| -> Option<(u8, usize)> {
        let &[0xFF, marker] = stream.get(at..at + 2)? else { return None };
        if marker == SOD || marker == EOC {
            return Some((marker, at + 2));
        }
        let length = usize::from(u16::from_be_bytes([*stream.get(at + 2)?, *stream.get(at + 3)?]));
        (length >= 2 && at + 2 + length <= stream.len()).then_some((marker, at + 2 + length))
    };
    let mut comments = Vec::new();
    let mut after_end = stream.len();
    let mut at = 2;
    while let Some((marker, end)) = segment(at) {
        match marker {
            // Lcom and Rcom stay; the text after them goes.
            COM if end > at + 6 => comments.push(at + 6..end),
            SOT => {
                // A tile-part: its header runs to SOD, then its data, which holds no marker
                // segment; Psot is its whole length from SOT (0: to the end of the stream).
                let psot = stream.get(at + 6..at + 10).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
                let mut header = end;
                while let Some((m, e)) = segment(header) {
                    if m == SOD {
                        break;
                    }
                    if m == COM && e > header + 6 {
                        comments.push(header + 6..e);
                    }
                    header = e;
                }
                if psot == 0 || at + psot <= header {
                    break;
                }
                at += psot;
                continue;
            }
            EOC => {
                after_end = end;
                break;
            }
            SOD => break,
            _ => {}
        }
        at = end;
    }
    comments.push(after_end..stream.len());
    if comments.iter().all(|c| stream[c.clone()].iter().all(|b| *b == 0)) {
        return stream.into();
    }
    let mut out = stream.to_vec();
    for c in comments {
        out[c].fill(0);
    }
    out.into()
}

/// Decodes one codestream into samples laid out as `image` describes them (interleaved, little
/// endian, 8 or 16 bits). OpenJPEG undoes YBR_RCT/YBR_ICT (the codestream's colour transform),
/// so such frames come out RGB.
pub fn decode(image: &Image, stream: &[u8]) -> Result<Pixels, DicomError> {
    let decoded = jpeg2k::Image::from_bytes(stream).map_err(|e| DicomError::Decode(format!("JPEG 2000: {e}")))?;
    let components = decoded.components();
    let samples = usize::from(image.samples_per_pixel);
    let pixels = image.pixels() as usize;
    if components.len() < samples || components[..samples].iter().any(|c| c.data().len() != pixels) {
        return Err(DicomError::Malformed("the JPEG 2000 components do not match the image"));
    }
    let wide = image.bits_allocated > 8;
    let width = if wide { 2 } else { 1 };
    let mut data = vec![0u8; pixels * samples * width];
    // Samples keep their bit pattern: a signed value's two's complement is what the renderer
    // reads back through Bits Stored and Pixel Representation. Written plane by plane into
    // their interleaved places, in loops the compiler vectorises.
    for (s, plane) in components[..samples].iter().map(|c| c.data()).enumerate() {
        let pixel_bytes = samples * width;
        let places = data.chunks_exact_mut(pixel_bytes).map(|p| &mut p[s * width..(s + 1) * width]);
        if wide {
            places.zip(plane).for_each(|(out, &v)| out.copy_from_slice(&(v as u16).to_le_bytes()));
        } else {
            places.zip(plane).for_each(|(out, &v)| out[0] = v as u8);
        }
    }
    let mut out = image.frame(data);
    out.bits_allocated = if wide { 16 } else { 8 };
    // OpenJPEG hands out values aligned at bit 0, at most 16 bits of them kept here.
    out.bits_stored = image.bits_stored.min(out.bits_allocated);
    out.high_bit = out.bits_stored - 1;
    out.planar_configuration = 0;
    if matches!(image.photometric.as_str(), "YBR_RCT" | "YBR_ICT") {
        out.photometric = "RGB".into();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(marker: u8, body: &[u8]) -> Vec<u8> {
        [&[0xFF, marker][..], &u16::try_from(body.len() + 2).unwrap().to_be_bytes(), body].concat()
    }

    #[test]
    fn comments_in_the_main_and_tile_part_headers_are_blanked_and_nothing_else() {
        let siz = segment(0x51, &[0; 38]);
        let main_comment = segment(0x64, &[[0, 1].as_slice(), b"Doe^Jane"].concat());
        let tile_comment = segment(0x64, &[[0, 1].as_slice(), b"MRN-123"].concat());
        // Data that looks like a comment marker, which a reader must not take for one.
        let data = [0xFF, 0x64, 0x00, 0x06, 0x11, 0x22];
        let sot_body = |psot: u32| [&[0, 0][..], &psot.to_be_bytes(), &[0, 1]].concat();
        let psot = (12 + tile_comment.len() + 2 + data.len()) as u32;
        let stream = [&[0xFF, 0x4F][..], &siz, &main_comment, &segment(0x90, &sot_body(psot)), &tile_comment, &[0xFF, 0x93], &data, &[0xFF, 0xD9], b"TAIL"].concat();
        let blanked = blank_comments(&stream);
        assert_eq!(blanked.len(), stream.len());
        let text = String::from_utf8_lossy(&blanked);
        assert!(!text.contains("Doe^Jane") && !text.contains("MRN-123") && !text.contains("TAIL"), "{text:?}");
        let at = stream.windows(2).position(|w| w == [0x11, 0x22]).unwrap();
        assert_eq!(blanked[at..at + 2], [0x11, 0x22], "tile data stays");
        let differing = stream.iter().zip(blanked.iter()).filter(|(a, b)| a != b).count();
        assert_eq!(differing, "Doe^Jane".len() + "MRN-123".len() + "TAIL".len(), "only the comments' text and the tail change");
        assert!(matches!(blank_comments(&blanked), std::borrow::Cow::Borrowed(_)), "nothing left to blank");
        // Cut anywhere, it blanks what it can read and does not panic.
        for cut in 0..stream.len() {
            let _ = blank_comments(&stream[..cut]);
        }
        assert!(matches!(blank_comments(b"not a codestream"), std::borrow::Cow::Borrowed(_)));
    }
}
