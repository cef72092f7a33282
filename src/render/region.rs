//! Modality values under a region of a grey frame: what a value probe and ROI statistics show.
//!
//! A pixel belongs to a region when its centre lies inside it (pixel `(c, r)` covers
//! `[c, c+1) × [r, r+1)` in image coordinates, its centre at `(c + 0.5, r + 0.5)`); a point
//! is the one pixel that contains it. Regions are clipped to the image, so the work is bounded
//! by the frame's own size whatever a request names.

use super::{Pixels, Presentation, Sample};

/// A region of a frame, in image pixel coordinates (x along columns, y along rows).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// The pixel that contains `(x, y)`.
    Point { x: f64, y: f64 },
    /// The axis-aligned rectangle with corners `(x0, y0)` and `(x1, y1)`, in any order.
    Rect { x0: f64, y0: f64, x1: f64, y1: f64 },
    /// The axis-aligned ellipse inscribed in that rectangle.
    Ellipse { x0: f64, y0: f64, x1: f64, y1: f64 },
}

/// Statistics of the modality values (stored values through the Modality LUT or Rescale
/// Slope and Intercept) of the pixels in a region.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Pixels in the region.
    pub count: u64,
    /// Their mean.
    pub mean: f64,
    /// Their population standard deviation.
    pub sd: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

/// Why a region cannot be measured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionError {
    #[error("the region covers no pixel of the image")]
    Outside,
    #[error("values can only be measured on grey images, not {0}")]
    NotGrey(String),
    #[error("decoded frame holds {got} bytes, {want} expected")]
    Size { got: usize, want: usize },
    #[error("decoded frame has {0} bits allocated")]
    BitsAllocated(u16),
}

/// The statistics of `shape` on a grey frame.
pub fn stats(px: &Pixels, presentation: &Presentation, shape: Shape) -> Result<Stats, RegionError> {
    if px.samples_per_pixel != 1 || !matches!(px.photometric.as_str(), "MONOCHROME1" | "MONOCHROME2") {
        return Err(RegionError::NotGrey(px.photometric.to_lowercase()));
    }
    if !matches!(px.bits_allocated, 1 | 8 | 16 | 32) {
        return Err(RegionError::BitsAllocated(px.bits_allocated));
    }
    let sample = Sample::new(px);
    let (columns, rows) = (usize::from(px.columns), usize::from(px.rows));
    let want = sample.bytes_for(columns * rows);
    if px.data.len() < want {
        return Err(RegionError::Size { got: px.data.len(), want });
    }
    // Sums are taken of whole numbers (stored values, or a Modality LUT's entries), exactly, and
    // the rescale line is applied to the results: per pixel that is integer work only.
    let lut = presentation.modality_lut.as_ref();
    let (slope, intercept) = if lut.is_some() { (1.0, 0.0) } else { (presentation.rescale_slope, presentation.rescale_intercept) };
    let mut acc = Accumulator::default();
    let mut visit = |c: usize, r: usize| {
        let stored = sample.value(sample.raw(&px.data, r * columns + c));
        acc.add(lut.map_or(i64::from(stored), |lut| i64::from(lut.get(i64::from(stored)))));
    };
    match shape {
        Shape::Point { x, y } => {
            let (c, r) = (x.floor(), y.floor());
            if c < 0.0 || r < 0.0 || c >= columns as f64 || r >= rows as f64 {
                return Err(RegionError::Outside);
            }
            visit(c as usize, r as usize);
        }
        Shape::Rect { x0, y0, x1, y1 } => {
            let (cols, rws) = (centres(x0, x1, columns), centres(y0, y1, rows));
            for r in rws {
                for c in cols.clone() {
                    visit(c, r);
                }
            }
        }
        Shape::Ellipse { x0, y0, x1, y1 } => {
            let (cx, cy, a, b) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0, (x1 - x0).abs() / 2.0, (y1 - y0).abs() / 2.0);
            if a > 0.0 && b > 0.0 {
                for r in centres(y0, y1, rows) {
                    let dy = (r as f64 + 0.5 - cy) / b;
                    for c in centres(x0, x1, columns) {
                        let dx = (c as f64 + 0.5 - cx) / a;
                        if dx * dx + dy * dy <= 1.0 {
                            visit(c, r);
                        }
                    }
                }
            }
        }
    }
    acc.finish(slope, intercept).ok_or(RegionError::Outside)
}

/// The indices `i` in `0..len` whose pixel centre `i + 0.5` lies between `a` and `b`.
fn centres(a: f64, b: f64, len: usize) -> std::ops::Range<usize> {
    let (lo, hi) = (a.min(b), a.max(b));
    let first = (lo - 0.5).ceil().max(0.0);
    let end = ((hi - 0.5).floor() + 1.0).clamp(0.0, len as f64);
    // Casting a float to an integer saturates: coordinates far outside give an empty range.
    (first.min(end) as usize)..(end as usize)
}

/// Exact running sums of whole numbers: a region of up to 2^32 values of up to 32 bits keeps
/// its sums of squares within an `i128`, so the SD is exact however large its values are.
#[derive(Default)]
struct Accumulator {
    count: u64,
    sum: i128,
    squares: i128,
    min: i64,
    max: i64,
}

impl Accumulator {
    #[inline]
    fn add(&mut self, v: i64) {
        if self.count == 0 {
            (self.min, self.max) = (v, v);
        }
        self.count += 1;
        self.sum += i128::from(v);
        self.squares += i128::from(v) * i128::from(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// The statistics of `slope * v + intercept` over the values added.
    fn finish(self, slope: f64, intercept: f64) -> Option<Stats> {
        if self.count == 0 {
            return None;
        }
        let n = i128::from(self.count);
        let mean = self.sum as f64 / n as f64;
        // n² · variance, exact: Σv² · n − (Σv)².
        let spread = (self.squares * n - self.sum * self.sum) as f64;
        let sd = (spread / (n as f64 * n as f64)).sqrt();
        let (a, b) = (self.min as f64 * slope + intercept, self.max as f64 * slope + intercept);
        Some(Stats { count: self.count, mean: mean * slope + intercept, sd: sd * slope.abs(), min: a.min(b), max: a.max(b) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::SampleFormat;

    /// A 4×4 signed 16-bit frame whose stored value is `10 * row + column`, shown through
    /// rescale slope 2 and intercept -100.
    fn frame() -> (Pixels, Presentation) {
        let data: Vec<u8> = (0..16i16).flat_map(|i| (10 * (i / 4) + i % 4).to_le_bytes()).collect();
        let px = Pixels { format: SampleFormat::grey(4, 4, 16, 16, true), data: data.into(), frame: 0 };
        (px, Presentation { rescale_slope: 2.0, rescale_intercept: -100.0, ..Presentation::default() })
    }

    #[test]
    fn a_point_is_the_pixel_that_contains_it_through_the_rescale() {
        let (px, pres) = frame();
        let s = stats(&px, &pres, Shape::Point { x: 2.9, y: 1.1 }).unwrap();
        assert_eq!((s.count, s.mean, s.sd), (1, 2.0 * 12.0 - 100.0, 0.0));
        assert_eq!(stats(&px, &pres, Shape::Point { x: 4.0, y: 0.0 }), Err(RegionError::Outside));
        assert_eq!(stats(&px, &pres, Shape::Point { x: -0.1, y: 0.0 }), Err(RegionError::Outside));
    }

    #[test]
    fn a_rectangle_takes_the_pixels_whose_centres_it_holds_and_is_clipped_to_the_image() {
        let (px, pres) = frame();
        // Rows 1 and 2, columns 1 and 2: stored 11, 12, 21, 22.
        let s = stats(&px, &pres, Shape::Rect { x0: 3.0, y0: 3.0, x1: 1.0, y1: 1.0 }).unwrap();
        assert_eq!((s.count, s.mean, s.min, s.max), (4, 2.0 * 16.5 - 100.0, 2.0 * 11.0 - 100.0, 2.0 * 22.0 - 100.0));
        assert!((s.sd - 2.0 * (((5.5f64).powi(2) * 2.0 + (4.5f64).powi(2) * 2.0) / 4.0).sqrt()).abs() < 1e-9);
        let all = stats(&px, &pres, Shape::Rect { x0: -1e300, y0: -1e300, x1: 1e300, y1: 1e300 }).unwrap();
        assert_eq!(all.count, 16);
        assert_eq!(stats(&px, &pres, Shape::Rect { x0: 5.0, y0: 0.0, x1: 9.0, y1: 4.0 }), Err(RegionError::Outside));
        assert_eq!(stats(&px, &pres, Shape::Rect { x0: 1.6, y0: 1.6, x1: 1.9, y1: 1.9 }), Err(RegionError::Outside));
    }

    #[test]
    fn a_falling_rescale_line_swaps_min_and_max_and_keeps_the_sd_positive() {
        let (px, _) = frame();
        let pres = Presentation { rescale_slope: -0.5, rescale_intercept: 10.0, ..Presentation::default() };
        let s = stats(&px, &pres, Shape::Rect { x0: 1.0, y0: 1.0, x1: 3.0, y1: 3.0 }).unwrap();
        assert_eq!((s.mean, s.min, s.max), (10.0 - 0.5 * 16.5, 10.0 - 0.5 * 22.0, 10.0 - 0.5 * 11.0));
        assert!((s.sd - 0.5 * 25.25f64.sqrt()).abs() < 1e-12, "{s:?}");
    }

    #[test]
    fn an_ellipse_leaves_out_the_corners_of_its_box() {
        let (px, pres) = frame();
        let s = stats(&px, &pres, Shape::Ellipse { x0: 0.0, y0: 0.0, x1: 4.0, y1: 4.0 }).unwrap();
        assert_eq!(s.count, 12);
        assert_eq!((s.min, s.max), (2.0 * 1.0 - 100.0, 2.0 * 32.0 - 100.0));
    }

    #[test]
    fn colour_is_refused() {
        let px = Pixels { format: SampleFormat::colour(1, 1, "RGB"), data: vec![1, 2, 3].into(), frame: 0 };
        assert_eq!(stats(&px, &Presentation::default(), Shape::Point { x: 0.0, y: 0.0 }), Err(RegionError::NotGrey("rgb".into())));
    }
}
