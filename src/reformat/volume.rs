//! A series' decoded samples, slice by slice, as a reformat reads them.

use bytes::Bytes;

use super::{Grid, ReformatError};
use crate::render::{Pixels, Sample, SampleFormat};

/// Every slice's samples in stack order, in one layout.
#[derive(Debug)]
pub struct Volume {
    /// The decoded layout every slice shares.
    pub format: SampleFormat,
    /// Each slice's samples, little-endian; for native data, the buffer the store read.
    pub slices: Vec<Bytes>,
    /// The lowest stored value: what an oblique plane shows beyond the slices' edges.
    pub lowest: i32,
}

impl Volume {
    /// The volume of `grid`'s series from its decoded slices, in stack order.
    pub fn new(grid: &Grid, slices: Vec<Pixels>) -> Result<Volume, ReformatError> {
        let format = slices.first().map(|p| p.format.clone()).ok_or(ReformatError::TooFewSlices(0))?;
        // A decoder may hand out another layout than the header states (a JPEG's bits, say);
        // the grid's size must hold, and every slice must agree.
        if (format.rows, format.columns) != (grid.format.rows, grid.format.columns)
            || slices.len() != grid.slices
            || format.samples_per_pixel != 1
            || !matches!(format.bits_allocated, 8 | 16)
        {
            return Err(ReformatError::MixedFormats);
        }
        let reader = Sample::new(&format);
        let count = usize::from(format.rows) * usize::from(format.columns);
        let want = reader.bytes_for(count);
        if slices.iter().any(|p| p.format != format || p.data.len() < want) {
            return Err(ReformatError::MixedFormats);
        }
        let lowest = slices.iter().flat_map(|p| (0..count).map(move |i| reader.at(&p.data, i))).min().unwrap_or(0);
        Ok(Volume { format, slices: slices.into_iter().map(|p| p.data).collect(), lowest })
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.slices.iter().map(|s| s.len() as u64).sum()
    }
}
