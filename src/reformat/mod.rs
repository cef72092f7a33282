//! Reformats (MPR): planes cut through a series of parallel, evenly spaced slices, computed
//! from the slices' stored samples. Pure and synchronous: [`Grid::of`] checks a series and
//! says where its voxels lie, [`Grid::view`] lays out one plane's stack, [`View::sample`]
//! makes one plane's samples from a [`Volume`], which [`render`](crate::render) then windows
//! like any frame. The HTTP layer gathers the slices and holds the volume in a cache.

mod grid;
mod plane;
mod volume;

pub use grid::{Grid, MIN_SLICES, SPACING_TOLERANCE};
pub use plane::{Plane, View, plane_name};
pub use volume::Volume;

/// Why a series is not reformatted. Each says what is wrong with the series, not the request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReformatError {
    #[error("a reformat needs at least {MIN_SLICES} slices, the series has {0}")]
    TooFewSlices(usize),
    #[error("only DICOM series are reformatted")]
    NotDicom,
    #[error("multi-frame objects are not reformatted")]
    MultiFrame,
    #[error("colour images are not reformatted")]
    Colour,
    #[error("slices with {0} bits allocated are not reformatted")]
    Bits(u16),
    #[error("the slices differ in size or sample format")]
    MixedFormats,
    #[error("the slices differ in rescale slope or intercept")]
    MixedRescale,
    #[error("a slice lacks its position, orientation or pixel spacing")]
    NoGeometry,
    #[error("the slices are not parallel")]
    NotParallel,
    #[error("the slices are offset sideways from one to the next (gantry tilt)")]
    Tilted,
    #[error("the slices are not evenly spaced: gaps from {min:.2} to {max:.2} mm")]
    UnevenSpacing { min: f64, max: f64 },
    #[error("the series' own slices are the {0} plane")]
    Acquired(&'static str),
    #[error("this series needs {needed_mb} MiB to reformat, more than the {budget_mb} MiB the server allows")]
    Memory { needed_mb: u64, budget_mb: u64 },
    #[error("the {0} plane would be {1}×{2} pixels, too large")]
    TooLarge(&'static str, u64, u64),
}
