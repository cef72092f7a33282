//! One plane's stack through a grid: its size, where it lies in the patient, and its samples.

use bytes::Bytes;

use super::{Grid, ReformatError, Volume};
use crate::render::{Pixels, Sample, SampleFormat};

/// The largest side of a reformatted plane: a DICOM frame's Rows and Columns are 16-bit.
const MAX_SIDE: u64 = u16::MAX as u64;

/// A plane a series can be cut along.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Plane {
    /// Across the body's long axis: feet to head.
    Axial,
    /// Front to back.
    Coronal,
    /// Left to right.
    Sagittal,
    /// The plane that crosses the slices' rows (coronal for axial slices) turned this many
    /// degrees (0 to 179) about the slice normal, towards the one that crosses their columns.
    Oblique(u16),
}

impl Plane {
    /// Parses a URL segment: `axial`, `coronal`, `sagittal` or `oblique-{0..179}`.
    pub fn parse(s: &str) -> Option<Plane> {
        match s {
            "axial" => Some(Plane::Axial),
            "coronal" => Some(Plane::Coronal),
            "sagittal" => Some(Plane::Sagittal),
            _ => {
                let degrees = s.strip_prefix("oblique-")?;
                let plain = !degrees.is_empty() && degrees.len() <= 3 && degrees.bytes().all(|b| b.is_ascii_digit()) && (degrees == "0" || !degrees.starts_with('0'));
                plain.then(|| degrees.parse().ok()).flatten().filter(|d| *d < 180).map(Plane::Oblique)
            }
        }
    }

    /// The URL segment.
    pub fn name(self) -> String {
        match self {
            Plane::Oblique(d) => format!("oblique-{d}"),
            other => other.anatomy().unwrap_or_default().to_owned(),
        }
    }

    fn anatomy(self) -> Option<&'static str> {
        match self {
            Plane::Axial => Some("axial"),
            Plane::Coronal => Some("coronal"),
            Plane::Sagittal => Some("sagittal"),
            Plane::Oblique(_) => None,
        }
    }

    /// The patient axis (x left, y posterior, z head) a named plane is normal to.
    fn axis(self) -> Option<usize> {
        match self {
            Plane::Sagittal => Some(0),
            Plane::Coronal => Some(1),
            Plane::Axial => Some(2),
            Plane::Oblique(_) => None,
        }
    }
}

/// The patient axis a direction runs most along.
fn dominant(v: [f64; 3]) -> usize {
    (0..3).fold(0, |best, a| if v[a].abs() > v[best].abs() { a } else { best })
}

/// The name of the plane whose normal is `normal`.
pub fn plane_name(normal: [f64; 3]) -> &'static str {
    ["sagittal", "coronal", "axial"][dominant(normal)]
}

/// How a plane crosses the grid.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cut {
    /// Plane `n` holds row `n - 1` of every slice.
    Row,
    /// Plane `n` holds column `n - 1` of every slice.
    Column,
    /// Turned about the slice normal by the angle of this cosine and sine.
    Turned { cos: f64, sin: f64 },
}

/// One plane's stack through a grid: each image is `columns` × `rows` square pixels of
/// `spacing` mm; image row `r` lies in the slices at `r · spacing` mm from the first.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    cut: Cut,
    grid: Grid,
    /// Planes in the stack.
    pub frames: u32,
    /// Image width.
    pub columns: u16,
    /// Image height.
    pub rows: u16,
    /// Pixel size in mm, the same both ways: the image is never stretched.
    pub spacing: f64,
    /// Plane 1's top left pixel, in mm.
    pub origin: [f64; 3],
    /// From one plane to the next, in mm.
    pub step: [f64; 3],
    /// Direction of increasing image column.
    pub row_dir: [f64; 3],
    /// Direction of increasing image row: the slices' order.
    pub column_dir: [f64; 3],
}

/// Whole pixels that cover `length` mm at `spacing` (both ends included); a hair's tolerance
/// keeps a length that is a whole number of pixels from losing one to rounding.
fn pixels(length: f64, spacing: f64) -> u64 {
    (length / spacing + 1e-6).floor().max(0.0) as u64 + 1
}

impl Grid {
    /// The stack of `plane` through this grid: refused when the series' own slices are that
    /// plane, or when its images would be too large.
    pub fn view(&self, plane: Plane) -> Result<View, ReformatError> {
        let cut = match (plane, plane.axis()) {
            (Plane::Oblique(degrees), _) => {
                let (sin, cos) = f64::from(degrees).to_radians().sin_cos();
                Cut::Turned { cos, sin }
            }
            (_, Some(axis)) if dominant(self.column_dir) == axis => Cut::Row,
            (_, Some(axis)) if dominant(self.row_dir) == axis => Cut::Column,
            _ => return Err(ReformatError::Acquired(plane.anatomy().unwrap_or_default())),
        };
        let (cols, rows) = (f64::from(self.format.columns), f64::from(self.format.rows));
        let (sc, sr) = (self.column_spacing, self.row_spacing);
        let (spacing, columns, frames, row_dir, step, origin) = match cut {
            Cut::Row => (sc, cols as u64, rows as u64, self.row_dir, self.column_dir.map(|d| d * sr), self.origin),
            Cut::Column => (sr, rows as u64, cols as u64, self.column_dir, self.row_dir.map(|d| d * sc), self.origin),
            Cut::Turned { cos, sin } => {
                let spacing = sc.min(sr);
                let (width, height) = ((cols - 1.0) * sc, (rows - 1.0) * sr);
                let (half_u, half_v) = ((cos.abs() * width + sin.abs() * height) / 2.0, (sin.abs() * width + cos.abs() * height) / 2.0);
                let row_dir: [f64; 3] = std::array::from_fn(|a| cos * self.row_dir[a] + sin * self.column_dir[a]);
                let normal: [f64; 3] = std::array::from_fn(|a| -sin * self.row_dir[a] + cos * self.column_dir[a]);
                // Plane 1's top left: the slice's centre, back half the plane's width and half the stack's depth.
                let (a, b) = (width / 2.0 - half_u * cos + half_v * sin, height / 2.0 - half_u * sin - half_v * cos);
                let origin = self.point(a / sc, b / sr, 0.0);
                (spacing, pixels(2.0 * half_u, spacing), pixels(2.0 * half_v, spacing), row_dir, normal.map(|d| d * spacing), origin)
            }
        };
        let height = pixels((self.slices - 1) as f64 * self.slice_spacing(), spacing);
        let name = plane.anatomy().unwrap_or("oblique");
        if columns > MAX_SIDE || height > MAX_SIDE {
            return Err(ReformatError::TooLarge(name, columns, height));
        }
        Ok(View { cut, grid: self.clone(), frames: frames as u32, columns: columns as u16, rows: height as u16, spacing, origin, step, row_dir, column_dir: self.slice_dir() })
    }
}

impl View {
    /// Bytes the samples of one plane take.
    pub fn bytes(&self) -> u64 {
        u64::from(self.columns) * u64::from(self.rows) * u64::from(self.grid.format.bits_allocated / 8)
    }

    /// The samples of plane `number` (from 1, at most [`View::frames`]) of `volume`: stored
    /// values, linearly interpolated between slices (and, for a turned plane, bilinearly within
    /// them), in the volume's layout. Where the plane passes a slice's voxels exactly, the
    /// sample is the stored one.
    pub fn sample(&self, volume: &Volume, number: u32) -> Pixels {
        let format = &volume.format;
        let reader = Sample::new(format);
        let (cols, rows) = (usize::from(format.columns), usize::from(format.rows));
        let last = volume.slices.len().saturating_sub(1);
        let plane = f64::from(number.saturating_sub(1));
        let (width, height) = (usize::from(self.columns), usize::from(self.rows));
        let bytes = usize::from(format.bits_allocated / 8);
        let mut out = vec![0u8; width * height * bytes];
        let ratio = self.spacing / self.grid.slice_spacing();
        // Where image column x reads within a slice, found once for every row.
        let places: Vec<Place> = (0..width).map(|x| self.place(x as f64, plane, cols, rows)).collect();
        for r in 0..height {
            let depth = r as f64 * ratio;
            let k0 = (depth.floor() as usize).min(last);
            let t = depth - k0 as f64;
            let (s0, s1) = (&volume.slices[k0], &volume.slices[(k0 + 1).min(last)]);
            for (x, place) in places.iter().enumerate() {
                let at = |slice: &Bytes| place.value(&reader, slice, volume.lowest);
                let v0 = at(s0);
                let v = if t < 1e-9 { v0 } else { (v0 + (at(s1) - v0) * t).round() };
                let v = v as i64;
                let o = (r * width + x) * bytes;
                match bytes {
                    1 => out[o] = v as u8,
                    _ => out[o..o + 2].copy_from_slice(&(v as u16).to_le_bytes()),
                }
            }
        }
        let format = SampleFormat { rows: self.rows, columns: self.columns, high_bit: format.bits_stored - 1, planar_configuration: 0, ..format.clone() };
        Pixels { format, data: Bytes::from(out), frame: 0 }
    }

    fn place(&self, x: f64, plane: f64, cols: usize, rows: usize) -> Place {
        match self.cut {
            Cut::Row => Place::Exact(plane as usize * cols + x as usize),
            Cut::Column => Place::Exact(x as usize * cols + plane as usize),
            Cut::Turned { cos, sin } => {
                let (sc, sr) = (self.grid.column_spacing, self.grid.row_spacing);
                // The top left pixel's offset from plane 1's, in the slice's mm, then in voxels.
                let o = sub(self.origin, self.grid.origin);
                let (a0, b0) = (dot(o, self.grid.row_dir), dot(o, self.grid.column_dir));
                let along = x * self.spacing;
                let across = plane * self.spacing;
                let (a, b) = (a0 + along * cos - across * sin, b0 + along * sin + across * cos);
                let (fi, fj) = (a / sc, b / sr);
                let (max_i, max_j) = ((cols - 1) as f64, (rows - 1) as f64);
                if !(-1e-6..=max_i + 1e-6).contains(&fi) || !(-1e-6..=max_j + 1e-6).contains(&fj) {
                    return Place::Outside;
                }
                let (fi, fj) = (fi.clamp(0.0, max_i), fj.clamp(0.0, max_j));
                let (i0, j0) = (fi.floor() as usize, fj.floor() as usize);
                let (i1, j1) = ((i0 + 1).min(cols - 1), (j0 + 1).min(rows - 1));
                Place::Between { corners: [j0 * cols + i0, j0 * cols + i1, j1 * cols + i0, j1 * cols + i1], u: fi - i0 as f64, v: fj - j0 as f64 }
            }
        }
    }
}

/// Where one image column reads within a slice.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// One voxel.
    Exact(usize),
    /// Four voxels, weighted by the fractions along the row and the column.
    Between { corners: [usize; 4], u: f64, v: f64 },
    /// Beyond the slice.
    Outside,
}

impl Place {
    fn value(&self, reader: &Sample, slice: &[u8], outside: i32) -> f64 {
        match *self {
            Place::Exact(i) => f64::from(reader.at(slice, i)),
            Place::Between { corners: [a, b, c, d], u, v } => {
                let at = |i| f64::from(reader.at(slice, i));
                let top = at(a) + (at(b) - at(a)) * u;
                let bottom = at(c) + (at(d) - at(c)) * u;
                top + (bottom - top) * v
            }
            Place::Outside => f64::from(outside),
        }
    }
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_parse_from_their_url_names_and_nothing_else() {
        for plane in [Plane::Axial, Plane::Coronal, Plane::Sagittal, Plane::Oblique(0), Plane::Oblique(45), Plane::Oblique(179)] {
            assert_eq!(Plane::parse(&plane.name()), Some(plane));
        }
        for bad in ["", "Coronal", "oblique", "oblique-", "oblique-180", "oblique-045", "oblique--1", "oblique-1.5", "oblique-9999"] {
            assert_eq!(Plane::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn planes_are_named_by_the_patient_axis_they_are_normal_to() {
        assert_eq!(plane_name([0.0, 0.0, -1.0]), "axial");
        assert_eq!(plane_name([0.1, 0.99, 0.0]), "coronal");
        assert_eq!(plane_name([-1.0, 0.0, 0.2]), "sagittal");
    }

    #[test]
    fn whole_pixels_cover_a_length_that_rounding_would_shorten() {
        assert_eq!(pixels(59.0 * 2.5, 2.5), 60);
        assert_eq!(pixels(0.3 * 3.0, 0.3), 4);
        assert_eq!(pixels(10.0, 3.0), 4);
    }
}
