//! The picture model: how stored values become what a person sees (rescale, LUTs, windows,
//! palette) and the overlay planes drawn over them. `dicom` reads files into it; nothing here
//! knows DICOM's encoding.

use super::Window;

/// How stored values become what a person sees.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Presentation {
    /// Modality LUT slope.
    pub rescale_slope: f64,
    /// Modality LUT intercept.
    pub rescale_intercept: f64,
    /// The file's VOI windows, first is the default.
    pub windows: Vec<Window>,
    /// Palette for PALETTE COLOR images.
    pub palette: Option<Palette>,
    /// A Modality LUT Sequence, which replaces the rescale when present.
    pub modality_lut: Option<Lut>,
    /// The VOI LUT Sequence, used when the file has no window.
    pub voi_luts: Vec<Lut>,
    /// Overlay planes, drawn only when a request asks for them.
    pub overlays: Vec<Overlay>,
}

impl Presentation {
    /// Stored values are shown as they are: no rescale, LUT or window to apply.
    pub fn is_identity(&self) -> bool {
        self.rescale_slope == 1.0 && self.rescale_intercept == 0.0 && self.windows.is_empty() && self.modality_lut.is_none() && self.voi_luts.is_empty()
    }
}

/// A lookup table of a Modality or VOI LUT Sequence item (PS3.3 C.11.1, C.11.2): the input
/// `first` maps to `data[0]`; inputs outside the table take its first or last entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Lut {
    /// The first input value mapped.
    pub first: i32,
    /// Bits of each entry, from the descriptor.
    pub bits: u16,
    /// The entries, never empty.
    pub data: Vec<u16>,
}

impl Lut {
    /// The entry for input `x`.
    pub fn get(&self, x: i64) -> u16 {
        let i = (x - i64::from(self.first)).clamp(0, self.data.len() as i64 - 1);
        self.data[i as usize]
    }

    /// The largest entry value the descriptor allows.
    pub fn max(&self) -> f64 {
        f64::from((1u32 << self.bits.clamp(1, 16)) - 1)
    }
}

/// A PALETTE COLOR lookup table, one channel per entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Palette {
    /// Stored value mapped to the first entry.
    pub first: i32,
    /// Bits per entry (8 or 16).
    pub bits: u16,
    /// Red, green and blue entries.
    pub channels: [Vec<u16>; 3],
}

/// One overlay plane that can be drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct Overlay {
    /// Its group, 0x6000 to 0x601E.
    pub group: u16,
    /// Overlay Rows.
    pub rows: u16,
    /// Overlay Columns.
    pub columns: u16,
    /// Overlay Type.
    pub kind: OverlayKind,
    /// Overlay Origin: the image row and column of the plane's first pixel, from 1; the plane
    /// may reach past any edge of the image.
    pub origin: [i16; 2],
    /// Number of Frames in Overlay, 1 when absent.
    pub frames: u32,
    /// The image frame (from 0) the plane's first frame lies on: Image Frame Origin less one.
    pub first_frame: u32,
    /// Number of Frames in Overlay is present, so the plane's frames follow the image's; without
    /// it the plane's one frame lies on every frame of the image (CP-1974).
    pub per_frame: bool,
    /// Where the bits are.
    pub bits: OverlayBits,
}

/// Overlay Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverlayKind {
    /// `G`: graphics, annotations.
    Graphics,
    /// `R`: a region of interest.
    Roi,
}

impl OverlayKind {
    /// The DICOM code, as info.json reports it.
    pub fn code(self) -> &'static str {
        match self {
            OverlayKind::Graphics => "G",
            OverlayKind::Roi => "R",
        }
    }
}

/// Where a plane's bits are.
#[derive(Debug, Clone, PartialEq)]
pub enum OverlayBits {
    /// Overlay Data, cut to what the plane declares: rows × columns bits per frame, frame after
    /// frame, see [`packed_bit`].
    Separate(Vec<u8>),
    /// This bit of each Pixel Data sample, one outside Bits Stored.
    Embedded(u16),
}

/// Bit `i` of bit-packed data, least significant bit first: Overlay Data's order, in OW words
/// read little endian as in OB bytes. A bit past the end is clear.
pub fn packed_bit(data: &[u8], i: u64) -> bool {
    usize::try_from(i / 8).ok().and_then(|at| data.get(at)).is_some_and(|byte| byte >> (i % 8) & 1 == 1)
}

impl Overlay {
    /// Bits in one frame of the plane.
    pub fn frame_bits(&self) -> u64 {
        u64::from(self.rows) * u64::from(self.columns)
    }

    /// The plane's frame (from 0) that lies on image frame `n` (from 0), if any.
    pub fn frame_over(&self, n: u32) -> Option<u32> {
        let n = if self.per_frame { n } else { 0 };
        let f = n.checked_sub(self.first_frame)?;
        (f < self.frames).then_some(f)
    }

    /// Whether its bits are in Pixel Data.
    pub fn is_embedded(&self) -> bool {
        matches!(self.bits, OverlayBits::Embedded(_))
    }

    /// Bytes held, for the index cache's weight.
    pub fn weight(&self) -> usize {
        match &self.bits {
            OverlayBits::Separate(data) => data.len(),
            OverlayBits::Embedded(_) => 0,
        }
    }
}
