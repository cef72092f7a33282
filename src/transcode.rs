//! Frames as HTJ2K (ISO/IEC 15444-15) for clients that ask for it: a frame's samples to a
//! reversible (lossless) codestream in RPCL progression, so that a progressive decoder
//! (Cornerstone3D's) can draw a lower resolution from the first bytes. The encoder is
//! openjph-core, a pure-Rust port of OpenJPH: a 512×512 16-bit CT slice in a few milliseconds,
//! about 4.6 times smaller than its samples (BENCHMARKS.md), and read back bit for bit by
//! OpenJPEG and by OpenJPH's own decoder (the tests hold it to both).

use openjph_core::codestream::Codestream;
use openjph_core::file::MemOutfile;
use openjph_core::types::{Point, Size};

use crate::render::Pixels;

/// Why a frame cannot be made HTJ2K.
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    #[error("HTJ2K is offered for 8- and 16-bit frames of 1 or 3 samples, not this one ({0})")]
    Unsupported(String),
    #[error("the HTJ2K encoder failed")]
    Encoder(String),
}

/// Wavelet decompositions at most: five halve a 512-pixel side to 16, which is what a
/// thumbnail of the first bytes needs, and what OpenJPH's tools use by default.
const MAX_DECOMPOSITIONS: u32 = 5;

/// The samples of one frame as a lossless HTJ2K codestream. Only the Bits Stored of each sample
/// are coded (the unused high bits carry nothing the image shows), as the stored value a DICOM
/// reader takes: masked when unsigned, sign-extended when signed. CPU work: run on the pool.
pub fn htj2k(pixels: &Pixels) -> Result<Vec<u8>, TranscodeError> {
    let (width, height) = (u32::from(pixels.columns), u32::from(pixels.rows));
    let components = u32::from(pixels.samples_per_pixel);
    let bytes = usize::from(pixels.bits_allocated / 8);
    let unsupported = || TranscodeError::Unsupported(format!("{} bits allocated, {} samples, {}", pixels.bits_allocated, components, pixels.photometric));
    if !matches!(bytes, 1 | 2) || !matches!(components, 1 | 3) || pixels.photometric.starts_with("YBR_FULL_422") || width == 0 || height == 0 {
        return Err(unsupported());
    }
    let expected = width as usize * height as usize * components as usize * bytes;
    if pixels.data.len() < expected {
        return Err(unsupported());
    }
    let bits = u32::from(pixels.bits_stored).clamp(1, u32::from(pixels.bits_allocated));
    let value = |at: usize| -> i32 {
        let raw = if bytes == 1 { u32::from(pixels.data[at]) } else { u32::from(u16::from_le_bytes([pixels.data[at], pixels.data[at + 1]])) };
        let masked = raw & ((1u32 << bits) - 1);
        if pixels.signed && masked >> (bits - 1) == 1 { masked as i32 - (1i32 << bits) } else { masked as i32 }
    };

    let mut cs = Codestream::new();
    {
        let siz = cs.access_siz_mut();
        siz.set_image_extent(Point::new(width, height));
        siz.set_tile_size(Size::new(width, height));
        siz.set_num_components(components);
        for c in 0..components {
            siz.set_comp_info(c, Point::new(1, 1), bits, pixels.signed);
        }
    }
    let decompositions = MAX_DECOMPOSITIONS.min(width.min(height).ilog2().saturating_sub(1));
    {
        let cod = cs.access_cod_mut();
        cod.set_reversible(true);
        // Components stay as the photometric interpretation says (RGB stays RGB).
        cod.set_color_transform(false);
        cod.set_num_decomposition(decompositions);
        cod.set_progression_order("RPCL").map_err(|e| TranscodeError::Encoder(e.to_string()))?;
    }
    cs.set_planar(0);
    let mut out = MemOutfile::new();
    cs.write_headers(&mut out, &[]).map_err(|e| TranscodeError::Encoder(e.to_string()))?;
    let planar = pixels.planar_configuration == 1 && components == 3;
    let mut line = vec![0i32; width as usize];
    for y in 0..height as usize {
        for c in 0..components as usize {
            for (x, sample) in line.iter_mut().enumerate() {
                let index = if planar { (c * height as usize + y) * width as usize + x } else { (y * width as usize + x) * components as usize + c };
                *sample = value(index * bytes);
            }
            cs.exchange(&line, c as u32).map_err(|e| TranscodeError::Encoder(e.to_string()))?;
        }
    }
    cs.flush(&mut out).map_err(|e| TranscodeError::Encoder(e.to_string()))?;
    Ok(out.get_data().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::SampleFormat;

    fn grey(rows: u16, columns: u16, bits_stored: u16, signed: bool, data: Vec<u8>) -> Pixels {
        Pixels { format: SampleFormat::grey(rows, columns, 16, bits_stored, signed), data: data.into(), frame: 0 }
    }

    /// Decodes with openjph-core itself: every sample of every row.
    fn decoded(stream: &[u8], rows: usize, components: u32) -> Vec<i32> {
        let mut cs = Codestream::new();
        let mut input = openjph_core::file::MemInfile::new(stream);
        cs.read_headers(&mut input).unwrap();
        cs.create(&mut input).unwrap();
        let mut out = Vec::new();
        for _ in 0..rows {
            for c in 0..components {
                out.extend(cs.pull(c).unwrap());
            }
        }
        out
    }

    #[test]
    fn signed_12_bit_samples_come_back_as_the_stored_values() {
        let (rows, columns) = (37u16, 53u16);
        // Values across the signed 12-bit range, with garbage in the unused high bits.
        let values: Vec<i32> = (0..i32::from(rows) * i32::from(columns)).map(|i| (i * 37 % 4096) - 2048).collect();
        let data: Vec<u8> = values.iter().flat_map(|v| ((*v as u16 & 0x0FFF) | 0xA000).to_le_bytes()).collect();
        let stream = htj2k(&grey(rows, columns, 12, true, data)).unwrap();
        assert_eq!(&stream[..4], &[0xFF, 0x4F, 0xFF, 0x51], "a bare codestream");
        assert_eq!(decoded(&stream, usize::from(rows), 1), values);
    }

    #[test]
    fn what_it_cannot_code_is_said() {
        let mut p = grey(2, 2, 16, false, vec![0; 8]);
        p.bits_allocated = 32;
        assert!(matches!(htj2k(&p), Err(TranscodeError::Unsupported(_))));
    }
}
