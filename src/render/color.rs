//! Colour models to RGB: RGB and YBR in either planar configuration, and PALETTE COLOR.

use super::{Picture, Pixels, RenderError, Sample};
use super::Palette;

/// RGB or YBR samples to an RGB picture. Samples wider than 8 bits keep their top 8 bits.
pub fn rgb(px: &Pixels) -> Result<Picture, RenderError> {
    let pixels = usize::from(px.rows) * usize::from(px.columns);
    let sample = Sample::new(px);
    let down = u32::from(px.bits_stored.saturating_sub(8));
    let at = |i: usize| (sample.raw(&px.data, i) >> down) as u8;
    let photometric = px.photometric.as_str();

    let data = if photometric == "YBR_FULL_422" && px.data.len() < sample.bytes_for(pixels * 3) {
        // Native 4:2:2: Y1 Y2 Cb Cr for each pair of pixels (PS3.3 C.7.6.3.1.2); an odd pixel
        // count still has a whole last group (fuzzing found the read past it).
        let want = sample.bytes_for(pixels.div_ceil(2) * 4);
        check(px, want)?;
        let mut out = Vec::with_capacity(pixels * 3);
        for i in 0..pixels {
            let pair = (i / 2) * 4;
            out.extend_from_slice(&ybr_to_rgb(at(pair + i % 2), at(pair + 2), at(pair + 3)));
        }
        out
    } else {
        check(px, sample.bytes_for(pixels * 3))?;
        let index = |p: usize, c: usize| if px.planar_configuration == 1 { c * pixels + p } else { p * 3 + c };
        let ybr = matches!(photometric, "YBR_FULL" | "YBR_FULL_422");
        let mut out = Vec::with_capacity(pixels * 3);
        for p in 0..pixels {
            let (a, b, c) = (at(index(p, 0)), at(index(p, 1)), at(index(p, 2)));
            // YBR_RCT and YBR_ICT are undone by the JPEG 2000 decoder, which hands out RGB.
            out.extend_from_slice(&if ybr { ybr_to_rgb(a, b, c) } else { [a, b, c] });
        }
        out
    };
    Ok(Picture { width: u32::from(px.columns), height: u32::from(px.rows), channels: 3, data })
}

fn check(px: &Pixels, want: usize) -> Result<(), RenderError> {
    if px.data.len() < want {
        return Err(RenderError::Size { got: px.data.len(), want });
    }
    Ok(())
}

/// Full-range YCbCr (ITU-R BT.601 as DICOM defines YBR_FULL) to RGB.
fn ybr_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let (y, cb, cr) = (f32::from(y), f32::from(cb) - 128.0, f32::from(cr) - 128.0);
    let clamp = |v: f32| v.round().clamp(0.0, 255.0) as u8;
    [clamp(y + 1.402 * cr), clamp(y - 0.344_136 * cb - 0.714_136 * cr), clamp(y + 1.772 * cb)]
}

/// Stored values through the palette; values outside it take its first or last entry.
pub fn palette(px: &Pixels, palette: &Palette, values: Vec<i32>) -> Result<Picture, RenderError> {
    let len = palette.channels.iter().map(Vec::len).min().unwrap_or(0);
    if len == 0 {
        return Err(RenderError::NoPalette);
    }
    let shift = if palette.bits == 16 { 8 } else { 0 };
    let mut data = Vec::with_capacity(values.len() * 3);
    for v in values {
        let i = (i64::from(v) - i64::from(palette.first)).clamp(0, len as i64 - 1) as usize;
        data.extend(palette.channels.iter().map(|c| (c[i] >> shift) as u8));
    }
    Ok(Picture { width: u32::from(px.columns), height: u32::from(px.rows), channels: 3, data })
}
