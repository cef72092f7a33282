//! Where a series' voxels lie, and the checks that make a reformat of it true to the anatomy.

use std::sync::Arc;

use super::ReformatError;
use crate::dicom::Index;
use crate::render::SampleFormat;

/// Fewer slices than this make a plane only a few rows tall: not worth a stack.
pub const MIN_SLICES: usize = 3;
/// How far (as a fraction of the mean gap) one gap between slices may differ from the mean. A
/// missing slice doubles a gap; scanners write positions to a few micrometres.
pub const SPACING_TOLERANCE: f64 = 0.05;
/// The largest angle between two slices' normals, or between the normal and the step from one
/// slice to the next, still taken as parallel: 0.5°, in its sine.
const ANGLE_TOLERANCE: f64 = 0.008_7;

/// A checked series: the samples' layout and where each voxel lies in the patient.
///
/// Voxel `(i, j, k)` (column, row, slice in stack order) lies at
/// `origin + i·column_spacing·row_dir + j·row_spacing·column_dir + k·step`.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Every slice's sample layout.
    pub format: SampleFormat,
    /// Slices.
    pub slices: usize,
    /// The first slice's top left pixel, in mm.
    pub origin: [f64; 3],
    /// Direction of increasing column index (Image Orientation's first triplet).
    pub row_dir: [f64; 3],
    /// Direction of increasing row index (its second triplet).
    pub column_dir: [f64; 3],
    /// From one slice to the next, in mm.
    pub step: [f64; 3],
    /// Distance between rows, in mm.
    pub row_spacing: f64,
    /// Distance between columns, in mm.
    pub column_spacing: f64,
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}

impl Grid {
    /// Checks the single-frame slices of one series, in stack order, and lays out their grid;
    /// refuses a series whose planes would not show the anatomy true to scale.
    pub fn of(slices: &[Arc<Index>]) -> Result<Grid, ReformatError> {
        if slices.iter().any(|s| s.frame_count() != 1) {
            return Err(ReformatError::MultiFrame);
        }
        let first = slices.first().ok_or(ReformatError::TooFewSlices(0))?;
        let format = first.image().format.clone();
        if format.samples_per_pixel != 1 || !matches!(format.photometric.as_str(), "MONOCHROME1" | "MONOCHROME2") {
            return Err(ReformatError::Colour);
        }
        if !matches!(format.bits_allocated, 8 | 16) {
            return Err(ReformatError::Bits(format.bits_allocated));
        }
        if slices.len() < MIN_SLICES {
            return Err(ReformatError::TooFewSlices(slices.len()));
        }
        if slices.iter().any(|s| s.image().format != format) {
            return Err(ReformatError::MixedFormats);
        }
        let rescale = |i: &Index| (i.presentation().rescale_slope, i.presentation().rescale_intercept, i.presentation().modality_lut.is_some());
        if slices.iter().any(|s| rescale(s) != rescale(first)) {
            return Err(ReformatError::MixedRescale);
        }
        let geometry = |i: &Index| {
            let g = i.geometry();
            Some((g.image_position?, g.image_orientation?, g.pixel_spacing?))
        };
        let planes: Vec<_> = slices.iter().map(|s| geometry(s)).collect::<Option<_>>().ok_or(ReformatError::NoGeometry)?;
        let (origin, orientation, [row_spacing, column_spacing]) = planes[0];
        let row_dir = [orientation[0], orientation[1], orientation[2]];
        let column_dir = [orientation[3], orientation[4], orientation[5]];
        let normal = cross(row_dir, column_dir);
        if norm(normal) < 0.5 || !(row_spacing > 0.0 && column_spacing > 0.0) {
            return Err(ReformatError::NoGeometry);
        }
        for (_, o, spacing) in &planes {
            let n = cross([o[0], o[1], o[2]], [o[3], o[4], o[5]]);
            if norm(cross(n, normal)) > ANGLE_TOLERANCE * norm(n) * norm(normal) || *spacing != [row_spacing, column_spacing] {
                return Err(ReformatError::NotParallel);
            }
        }
        let last = planes[planes.len() - 1].0;
        let span = sub(last, origin);
        if norm(span) == 0.0 {
            return Err(ReformatError::UnevenSpacing { min: 0.0, max: 0.0 });
        }
        if norm(cross(span, normal)) > ANGLE_TOLERANCE * norm(span) * norm(normal) {
            return Err(ReformatError::Tilted);
        }
        let gaps: Vec<f64> = planes.windows(2).map(|w| dot(sub(w[1].0, w[0].0), span) / norm(span)).collect();
        let mean = norm(span) / gaps.len() as f64;
        let (min, max) = gaps.iter().fold((f64::MAX, f64::MIN), |(lo, hi), g| (lo.min(*g), hi.max(*g)));
        if (min - mean).abs() > SPACING_TOLERANCE * mean || (max - mean).abs() > SPACING_TOLERANCE * mean {
            return Err(ReformatError::UnevenSpacing { min, max });
        }
        let count = (slices.len() - 1) as f64;
        Ok(Grid { format, slices: slices.len(), origin, row_dir, column_dir, step: span.map(|d| d / count), row_spacing, column_spacing })
    }

    /// Bytes the samples of every slice take.
    pub fn bytes(&self) -> u64 {
        u64::from(self.format.rows) * u64::from(self.format.columns) * u64::from(self.format.bits_allocated / 8) * self.slices as u64
    }

    /// The unit normal of the slices (row × column direction).
    pub fn normal(&self) -> [f64; 3] {
        let n = cross(self.row_dir, self.column_dir);
        let l = norm(n);
        n.map(|d| d / l)
    }

    /// Distance between slices, in mm.
    pub fn slice_spacing(&self) -> f64 {
        norm(self.step)
    }

    /// The unit vector from one slice to the next.
    pub fn slice_dir(&self) -> [f64; 3] {
        let s = self.slice_spacing();
        self.step.map(|d| d / s)
    }

    /// The patient point of voxel coordinates `(i, j, k)`, fractional ones too.
    pub fn point(&self, i: f64, j: f64, k: f64) -> [f64; 3] {
        std::array::from_fn(|a| self.origin[a] + i * self.column_spacing * self.row_dir[a] + j * self.row_spacing * self.column_dir[a] + k * self.step[a])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_normal_is_row_cross_column() {
        assert_eq!(cross([1.0, 0.0, 0.0], [0.0, 1.0, 0.0]), [0.0, 0.0, 1.0]);
        // A sagittal slice: rows run towards posterior, columns down.
        assert_eq!(cross([0.0, 1.0, 0.0], [0.0, 0.0, -1.0]), [-1.0, 0.0, 0.0]);
    }
}
