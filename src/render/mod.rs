//! Pixels to an 8-bit picture, exactly per DICOM PS3.3 C.11: modality rescale, VOI window,
//! MONOCHROME1 inversion, colour models; overlay planes when asked; then fitting into a
//! viewport. Synchronous and pure, and a leaf: it owns the picture model ([`model`]), which
//! `dicom` reads files into.

mod color;
pub mod model;
mod overlay;
pub mod region;
mod window;

pub use model::{Lut, Overlay, OverlayBits, OverlayKind, Palette, Presentation, packed_bit};

pub use window::{VoiFunction, Window};

use fast_image_resize::images::Image as FirImage;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

/// How a frame's samples are laid out: what an object's image description and each of its
/// decoded frames share.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleFormat {
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub columns: u16,
    /// 1 or 3.
    pub samples_per_pixel: u16,
    /// 1, 8, 16 or 32.
    pub bits_allocated: u16,
    /// Significant bits.
    pub bits_stored: u16,
    /// Most significant bit.
    pub high_bit: u16,
    /// Two's complement samples.
    pub signed: bool,
    /// Photometric Interpretation, e.g. `MONOCHROME2` (of a decoded frame: after any decoder
    /// colour conversion).
    pub photometric: String,
    /// 0 interleaved, 1 planar.
    pub planar_configuration: u16,
}

impl SampleFormat {
    /// One grey sample a pixel (MONOCHROME2), `bits_stored` of `bits_allocated` from bit 0.
    pub fn grey(rows: u16, columns: u16, bits_allocated: u16, bits_stored: u16, signed: bool) -> Self {
        SampleFormat { rows, columns, samples_per_pixel: 1, bits_allocated, bits_stored, high_bit: bits_stored - 1, signed, photometric: "MONOCHROME2".into(), planar_configuration: 0 }
    }

    /// Three 8-bit samples a pixel, interleaved, in the colour model `photometric`.
    pub fn colour(rows: u16, columns: u16, photometric: &str) -> Self {
        SampleFormat { samples_per_pixel: 3, photometric: photometric.into(), ..Self::grey(rows, columns, 8, 8, false) }
    }
}

/// One decoded frame: samples in little-endian order, as dicom-pixeldata hands them out.
#[derive(Debug, Clone)]
pub struct Pixels {
    /// How the samples are laid out.
    pub format: SampleFormat,
    /// The samples: for native frames, the very buffer the store read.
    pub data: bytes::Bytes,
    /// Which frame of its object this is, from 0: overlay planes may lie on some frames only.
    pub frame: u32,
}

// A frame is its samples in a format: reading `pixels.rows` means the format's rows.
impl std::ops::Deref for Pixels {
    type Target = SampleFormat;
    fn deref(&self) -> &SampleFormat {
        &self.format
    }
}

impl std::ops::DerefMut for Pixels {
    fn deref_mut(&mut self) -> &mut SampleFormat {
        &mut self.format
    }
}

/// An 8-bit picture, grey or RGB, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// 1 (grey) or 3 (RGB).
    pub channels: u8,
    /// Pixel bytes.
    pub data: Vec<u8>,
}

/// What a request may change in the picture.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RenderParams {
    /// Window to apply instead of the file's.
    pub window: Option<Window>,
    /// Fit inside this box, keeping the aspect ratio; never enlarges.
    pub viewport: Option<(u32, u32)>,
    /// Draw the object's overlay planes.
    pub overlays: bool,
}

/// Why a decoded frame cannot be turned into a picture.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("decoded frame holds {got} bytes, {want} expected")]
    Size { got: usize, want: usize },
    #[error("unsupported photometric interpretation {0}")]
    Photometric(String),
    #[error("PALETTE COLOR image has no usable palette")]
    NoPalette,
    #[error("cannot resize: {0}")]
    Resize(String),
    #[error("decoded frame has {0} bits allocated")]
    BitsAllocated(u16),
}

/// Renders one frame to an 8-bit picture.
pub fn render(px: &Pixels, presentation: &Presentation, params: &RenderParams) -> Result<Picture, RenderError> {
    // Samples are read 1, 8, 16 or 32 bits at a time; a decoder reporting anything else is
    // refused rather than read out of bounds.
    if !matches!(px.bits_allocated, 1 | 8 | 16 | 32) {
        return Err(RenderError::BitsAllocated(px.bits_allocated));
    }
    let mut picture = match (px.samples_per_pixel, px.photometric.as_str()) {
        (1, "MONOCHROME1" | "MONOCHROME2") => grey(px, presentation, params.window)?,
        (1, "PALETTE COLOR") => color::palette(px, presentation.palette.as_ref().ok_or(RenderError::NoPalette)?, stored_values(px)?)?,
        (3, _) => color::rgb(px)?,
        (_, other) => return Err(RenderError::Photometric(other.to_owned())),
    };
    // Before the viewport, so that the planes shrink with the image they are drawn on.
    if params.overlays {
        overlay::draw(&mut picture, &presentation.overlays, px);
    }
    match params.viewport {
        Some(viewport) => fit(picture, viewport),
        None => Ok(picture),
    }
}

/// Stored sample values, masked to Bits Stored and sign-extended.
fn stored_values(px: &Pixels) -> Result<Vec<i32>, RenderError> {
    let decode = Sample::new(px);
    let count = usize::from(px.rows) * usize::from(px.columns) * usize::from(px.samples_per_pixel);
    let want = decode.bytes_for(count);
    if px.data.len() < want {
        return Err(RenderError::Size { got: px.data.len(), want });
    }
    Ok((0..count).map(|i| decode.value(decode.raw(&px.data, i))).collect())
}

/// How to read one sample of a frame: its stored value, masked to Bits Stored and
/// sign-extended. Reformats read the slices' samples through it as the renderer does.
#[derive(Clone, Copy)]
pub struct Sample {
    bits_allocated: u16,
    shift: u32,
    mask: u32,
    sign_bit: u32,
    signed: bool,
}

impl Sample {
    /// The reader of samples laid out as `px`.
    pub fn new(px: &SampleFormat) -> Self {
        let bits = u32::from(px.bits_stored.clamp(1, 32));
        Sample {
            bits_allocated: px.bits_allocated,
            shift: u32::from(px.high_bit + 1).saturating_sub(bits),
            mask: if bits == 32 { u32::MAX } else { (1u32 << bits) - 1 },
            sign_bit: 1u32 << (bits - 1),
            signed: px.signed && bits > 1,
        }
    }

    /// The stored value of sample `i` of `data`; `data` must hold at least [`Sample::bytes_for`]
    /// of `i + 1` samples.
    #[inline]
    pub fn at(&self, data: &[u8], i: usize) -> i32 {
        self.value(self.raw(data, i))
    }

    /// The bytes `count` samples take.
    pub fn bytes_for(&self, count: usize) -> usize {
        match self.bits_allocated {
            1 => count.div_ceil(8),
            b => count * usize::from(b / 8),
        }
    }

    /// The sample at index `i` as stored, unused bits and all: embedded overlay planes live
    /// in bits that [`Sample::raw`] masks away.
    #[inline]
    fn word(&self, data: &[u8], i: usize) -> u32 {
        match self.bits_allocated {
            1 => u32::from((data[i / 8] >> (i % 8)) & 1),
            8 => u32::from(data[i]),
            16 => u32::from(u16::from_le_bytes([data[2 * i], data[2 * i + 1]])),
            _ => u32::from_le_bytes([data[4 * i], data[4 * i + 1], data[4 * i + 2], data[4 * i + 3]]),
        }
    }

    /// The masked, unsigned sample at index `i`.
    #[inline]
    fn raw(&self, data: &[u8], i: usize) -> u32 {
        (self.word(data, i) >> self.shift) & self.mask
    }

    /// The stored value of a masked sample.
    #[inline]
    fn value(&self, raw: u32) -> i32 {
        if self.signed && raw & self.sign_bit != 0 { (i64::from(raw) - 2 * i64::from(self.sign_bit)) as i32 } else { raw as i32 }
    }
}

/// How modality values become display levels.
#[derive(Clone, Copy)]
enum Voi<'a> {
    Window(Window),
    Lut(&'a Lut),
}

/// The largest table worth building: one entry per possible stored value up to 16 bits.
const MAX_LUT_BITS: u16 = 16;

fn grey(px: &Pixels, presentation: &Presentation, requested: Option<Window>) -> Result<Picture, RenderError> {
    let sample = Sample::new(px);
    let count = usize::from(px.rows) * usize::from(px.columns);
    let want = sample.bytes_for(count);
    if px.data.len() < want {
        return Err(RenderError::Size { got: px.data.len(), want });
    }
    let (slope, intercept) = (presentation.rescale_slope, presentation.rescale_intercept);
    let modality = |stored: i32| match &presentation.modality_lut {
        Some(lut) => f64::from(lut.get(i64::from(stored))),
        None => f64::from(stored) * slope + intercept,
    };
    // The VOI transform (C.11.2): the requested window, else the file's first window, else its
    // first VOI LUT, else a window chosen here.
    let voi = match (requested.or_else(|| presentation.windows.first().copied()), presentation.voi_luts.first()) {
        (Some(window), _) => Voi::Window(window),
        (None, Some(lut)) => Voi::Lut(lut),
        (None, None) if presentation.is_identity() && !px.signed && px.bits_stored <= 8 => {
            // An 8-bit image without a window is already display-ready: its values are shown
            // as they are (this is also what lets a stored JPEG pass through unchanged).
            Voi::Window(Window::spanning(0.0, f64::from((1u32 << px.bits_stored) - 1)))
        }
        (None, None) => {
            // No window anywhere: span the frame's own range (C.11.2.1.2 leaves this to us).
            let (lo, hi) = (0..count).map(|i| sample.value(sample.raw(&px.data, i))).fold((i32::MAX, i32::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
            let (a, b) = (modality(lo), modality(hi));
            Voi::Window(Window::spanning(a.min(b), a.max(b)))
        }
    };
    let invert = px.photometric == "MONOCHROME1";
    let level = |raw: u32| {
        let x = modality(sample.value(raw));
        let y = match voi {
            Voi::Window(window) => window.level(x),
            // A VOI LUT's entries span 0..=2^bits-1, scaled here to the 8-bit output.
            Voi::Lut(lut) => (f64::from(lut.get(x.round() as i64)) * 255.0 / lut.max()).round().min(255.0) as u8,
        };
        if invert { 255 - y } else { y }
    };
    let data: Vec<u8> = if px.bits_stored <= MAX_LUT_BITS && count > 0 {
        // A table with one entry per value. When the bits allow many values next to the frame's
        // pixels (16 stored bits: 65536 entries for a 512×512 frame), it covers only the values
        // this frame holds, found in one pass: a CT frame spans a few thousand, and building the
        // whole table was most of a cold render. Keys flip the sign bit of signed samples so
        // that they sort as the values do, and the frame's range is one contiguous run of keys.
        let flip = if sample.signed { sample.sign_bit } else { 0 };
        let raw16 = |c: &[u8]| (u32::from(u16::from_le_bytes([c[0], c[1]])) >> sample.shift) & sample.mask;
        let raw8 = |b: u8| (u32::from(b) >> sample.shift) & sample.mask;
        let span = |(lo, hi): (u32, u32), raw: u32| (lo.min(raw ^ flip), hi.max(raw ^ flip));
        let (lo, hi) = if (sample.mask as usize) < count / 8 {
            (0, sample.mask)
        } else {
            match px.bits_allocated {
                16 => px.data[..want].chunks_exact(2).map(raw16).fold((u32::MAX, 0), span),
                8 => px.data[..want].iter().map(|&b| raw8(b)).fold((u32::MAX, 0), span),
                _ => (0..count).map(|i| sample.raw(&px.data, i)).fold((u32::MAX, 0), span),
            }
        };
        // A rescale line and a window function never turn back, so the levels rise (or fall)
        // with the keys: only the run between the two flat ends needs computing.
        let monotone = presentation.modality_lut.is_none() && matches!(voi, Voi::Window(_));
        let lut = table(lo, hi, monotone, |key| level(key ^ flip));
        let table = Table { lut: &lut, lo, flip, shift: sample.shift, mask: sample.mask };
        match px.bits_allocated {
            16 => table.map16(&px.data[..want]),
            8 => table.map8(&px.data[..want]),
            _ => (0..count).map(|i| table.at(sample.raw(&px.data, i))).collect(),
        }
    } else {
        (0..count).map(|i| level(sample.raw(&px.data, i))).collect()
    };
    Ok(Picture { width: u32::from(px.columns), height: u32::from(px.rows), channels: 1, data })
}

/// `level` of every key in `lo..=hi`. When `level` is monotone, the keys that share the first
/// key's level form a prefix and those sharing the last key's a suffix: two binary searches
/// find them, and only the keys in between are computed (a soft-tissue window over 12-bit CT
/// is about 400 of 4,096).
fn table(lo: u32, hi: u32, monotone: bool, level: impl Fn(u32) -> u8) -> Vec<u8> {
    if !monotone {
        return (lo..=hi).map(level).collect();
    }
    let (first, last) = (level(lo), level(hi));
    let keys = hi - lo + 1;
    let run_start = lo + partition_point(keys, |i| level(lo + i) == first);
    let run_end = lo + partition_point(keys, |i| level(lo + i) != last);
    let mut out = Vec::with_capacity(keys as usize);
    out.resize((run_start - lo) as usize, first);
    out.extend((run_start..run_end.max(run_start)).map(&level));
    out.resize(keys as usize, last);
    out
}

/// The first `i` in `0..len` for which `holds` is false, when it holds on a prefix.
fn partition_point(len: u32, holds: impl Fn(u32) -> bool) -> u32 {
    let (mut low, mut high) = (0, len);
    while low < high {
        let mid = low + (high - low) / 2;
        if holds(mid) { low = mid + 1 } else { high = mid }
    }
    low
}

/// A frame's lookup table, and how a stored sample becomes its index. The mapping loops take
/// every field into a local first: through a closure's captured references, each output byte
/// (which may alias anything) made the compiler reload them all, per pixel.
struct Table<'a> {
    lut: &'a [u8],
    lo: u32,
    flip: u32,
    shift: u32,
    mask: u32,
}

impl Table<'_> {
    #[inline]
    fn at(&self, raw: u32) -> u8 {
        self.lut.get(((raw ^ self.flip).wrapping_sub(self.lo)) as usize).copied().unwrap_or(0)
    }

    fn map16(&self, data: &[u8]) -> Vec<u8> {
        let Table { lut, lo, flip, shift, mask } = *self;
        let mut out = vec![0u8; data.len() / 2];
        for (o, c) in out.iter_mut().zip(data.chunks_exact(2)) {
            let raw = (u32::from(u16::from_le_bytes([c[0], c[1]])) >> shift) & mask;
            *o = lut.get(((raw ^ flip).wrapping_sub(lo)) as usize).copied().unwrap_or(0);
        }
        out
    }

    fn map8(&self, data: &[u8]) -> Vec<u8> {
        let Table { lut, lo, flip, shift, mask } = *self;
        data.iter().map(|&b| lut.get(((((u32::from(b) >> shift) & mask) ^ flip).wrapping_sub(lo)) as usize).copied().unwrap_or(0)).collect()
    }
}

/// Shrinks `picture` to fit inside `viewport`, keeping its aspect ratio.
fn fit(picture: Picture, (max_w, max_h): (u32, u32)) -> Result<Picture, RenderError> {
    let scale = (f64::from(max_w) / f64::from(picture.width)).min(f64::from(max_h) / f64::from(picture.height));
    if scale >= 1.0 {
        return Ok(picture);
    }
    let width = ((f64::from(picture.width) * scale).round() as u32).max(1);
    let height = ((f64::from(picture.height) * scale).round() as u32).max(1);
    let pixel_type = if picture.channels == 1 { PixelType::U8 } else { PixelType::U8x3 };
    let src = FirImage::from_vec_u8(picture.width, picture.height, picture.data, pixel_type).map_err(|e| RenderError::Resize(e.to_string()))?;
    let mut dst = FirImage::new(width, height, pixel_type);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom));
    Resizer::new().resize(&src, &mut dst, &options).map_err(|e| RenderError::Resize(e.to_string()))?;
    Ok(Picture { width, height, channels: picture.channels, data: dst.into_vec() })
}

#[cfg(test)]
mod tests;
