//! Decoded frames in the form the object's metadata describes. WADO-RS serves a compressed
//! frame decoded (explicit VR little endian) under the same metadata as the stored one, and a
//! client such as Cornerstone3D reads native samples by that metadata's Photometric
//! Interpretation and Planar Configuration: a YBR_FULL_422 JPEG decoded to full RGB (230,400
//! bytes for 320×240) would be read as 153,600 bytes of subsampled YCbCr. So the decoder's RGB
//! is turned back into the colour space and layout the metadata states.

use bytes::Bytes;

use super::Image;
use crate::render::Pixels;

/// The samples of `pixels` (as decoded) in the Photometric Interpretation and Planar
/// Configuration of `image` (as the metadata states them), where the two differ and the stated
/// form is one native data can hold: YBR_FULL and YBR_FULL_422 (PS3.3 C.7.6.3.1.2) from 8-bit
/// RGB, and either planar configuration. Anything else is handed on as decoded: YBR_ICT and
/// YBR_RCT name only compressed data (PS3.5 8.2.4) and read as RGB once decoded, and so do
/// they and YBR_PARTIAL_420 in Cornerstone3D's `convertColorSpace`.
pub fn as_declared(pixels: Pixels, image: &Image) -> Bytes {
    let (rows, columns) = (usize::from(pixels.rows), usize::from(pixels.columns));
    let same_form = pixels.photometric == image.photometric && pixels.planar_configuration == image.planar_configuration;
    let rgb8 = pixels.samples_per_pixel == 3 && pixels.bits_allocated == 8 && pixels.photometric == "RGB" && pixels.data.len() >= rows * columns * 3;
    if same_form || !rgb8 {
        return pixels.data;
    }
    let interleaved = if pixels.planar_configuration == 1 { interleave(&pixels.data[..rows * columns * 3], rows * columns) } else { pixels.data[..rows * columns * 3].to_vec() };
    let out = match image.photometric.as_str() {
        "YBR_FULL" => interleaved.chunks_exact(3).flat_map(|p| ybr_full([p[0], p[1], p[2]])).collect(),
        // Two pixels of a row share their chroma: Y1 Y2 Cb Cr (planar configuration 0 only).
        "YBR_FULL_422" => return Bytes::from(ybr_full_422(&interleaved, rows, columns)),
        "RGB" => interleaved,
        _ => return pixels.data,
    };
    Bytes::from(if image.planar_configuration == 1 { planes(&out, rows * columns) } else { out })
}

/// Y, Cb, Cr of an RGB pixel, full range (PS3.3 C.7.6.3.1.2, YBR_FULL).
fn ybr_full([r, g, b]: [u8; 3]) -> [u8; 3] {
    let (r, g, b) = (f64::from(r), f64::from(g), f64::from(b));
    let clamp = |v: f64| v.round().clamp(0.0, 255.0) as u8;
    [clamp(0.2990 * r + 0.5870 * g + 0.1140 * b), clamp(-0.1687 * r - 0.3313 * g + 0.5000 * b + 128.0), clamp(0.5000 * r - 0.4187 * g - 0.0813 * b + 128.0)]
}

/// YBR_FULL_422 samples of interleaved RGB: each pair of pixels in a row as Y1 Y2 Cb Cr, the
/// chroma the pair's mean; an odd last column pairs with itself.
fn ybr_full_422(rgb: &[u8], rows: usize, columns: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows * columns.div_ceil(2) * 4);
    for row in rgb.chunks_exact(columns * 3).take(rows) {
        for pair in row.chunks(6) {
            let a = ybr_full([pair[0], pair[1], pair[2]]);
            let b = if pair.len() == 6 { ybr_full([pair[3], pair[4], pair[5]]) } else { a };
            let mean = |x: u8, y: u8| (u16::from(x) + u16::from(y)).div_ceil(2) as u8;
            out.extend_from_slice(&[a[0], b[0], mean(a[1], b[1]), mean(a[2], b[2])]);
        }
    }
    out
}

/// Three planes of `n` samples each to interleaved samples.
fn interleave(planar: &[u8], n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| [planar[i], planar[n + i], planar[2 * n + i]]).collect()
}

/// Interleaved samples to three planes of `n` samples each.
fn planes(interleaved: &[u8], n: usize) -> Vec<u8> {
    (0..3).flat_map(|c| (0..n).map(move |i| interleaved[3 * i + c])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_becomes_full_range_ycbcr_with_shared_chroma_in_422() {
        assert_eq!(ybr_full([255, 255, 255]), [255, 128, 128]);
        assert_eq!(ybr_full([255, 0, 0]), [76, 85, 255]);
        // A white and a red pixel: their lumas, then their mean chroma.
        assert_eq!(ybr_full_422(&[255, 255, 255, 255, 0, 0], 1, 2), [255, 76, 107, 192]);
        assert_eq!(planes(&[1, 2, 3, 4, 5, 6], 2), [1, 4, 2, 5, 3, 6]);
        assert_eq!(interleave(&[1, 4, 2, 5, 3, 6], 2), [1, 2, 3, 4, 5, 6]);
    }
}
