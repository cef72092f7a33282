//! From a header prefix to an index of frame byte ranges, reading as little as possible.

use std::io::Cursor;
use std::ops::Range;

use bytes::Bytes;
use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntax;
use dicom_encoding::transfer_syntax::{Endianness, TransferSyntaxIndex};
use dicom_object::{FileMetaTable, FileMetaTableBuilder, InMemDicomObject};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_transfer_syntax_registry::entries::{DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN};

use super::walk::{ITEM, PixelElement, SEQUENCE_DELIMITATION, Walk, walk};
use super::{DicomError, Geometry, Image, LoadError, overlay};
use crate::render::{Overlay, Presentation};
use crate::key::ObjectKey;
use crate::pool::RenderPool;
use crate::store::{ObjectMeta, Store};

/// The first read of a file; most headers fit, and one round trip is what matters.
pub const INITIAL_PREFIX: u64 = 64 * 1024;
/// An encapsulated object with more fragments than this is refused.
const MAX_FRAGMENTS: usize = 1 << 20;
/// Offset of the `DICM` magic after the preamble.
const MAGIC_AT: usize = 128;

/// Bounds on what one file may make the server read or allocate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest header prefix read to find Pixel Data.
    pub max_header_bytes: u64,
    /// Largest rows × columns of one frame.
    pub max_frame_pixels: u64,
    /// Largest compressed frame read from the store.
    pub max_frame_bytes: u64,
    /// Largest deflated object once inflated: its index holds the whole data set, so one larger
    /// than the index cache would be inflated again on every request.
    pub max_inflated_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_header_bytes: 16 << 20, max_frame_pixels: 64 << 20, max_frame_bytes: 256 << 20, max_inflated_bytes: 32 << 20 }
    }
}

/// Where each frame's bytes are in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Uncompressed frames back to back; frame n at `offset + n * frame_bytes`.
    Native {
        /// Offset of the Pixel Data value.
        offset: u64,
        /// Bytes per frame.
        frame_bytes: u64,
        /// How big-endian bytes are put in order.
        swap: Swap,
    },
    /// Compressed frames: each range covers the item headers and fragments of one frame.
    Encapsulated {
        /// One file range per frame.
        frames: Vec<Range<u64>>,
    },
    /// A deflated data set, inflated once: its native (little-endian) Pixel Data value is held.
    Inflated {
        /// Bytes per frame.
        frame_bytes: u64,
        /// The Pixel Data value.
        data: Bytes,
    },
}

/// How the bytes of big-endian native Pixel Data are put in little-endian order (PS3.5 7.3):
/// OW is a stream of 16-bit words whatever Bits Allocated says, OB is never swapped; a value
/// of another VR (UN, as some writers put it) is swapped per sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swap {
    /// Little endian, or OB.
    None,
    /// Each sample of this many bytes is reversed.
    Samples(u8),
    /// OW of 1-, 8- or 32-bit samples: byte pairs are swapped, counted from the start of the
    /// value, so a frame starting at an odd offset needs the byte before it.
    Words,
}

impl Swap {
    pub fn of(big_endian: bool, vr: VR, bits_allocated: u16) -> Self {
        match (big_endian, vr) {
            (false, _) | (true, VR::OB) => Swap::None,
            // PS3.5 Table 6.2-1: OW is a stream of 16-bit words, so 32-bit samples too are
            // swapped per word, as dcmtk and GDCM read them.
            (true, VR::OW) if bits_allocated > 16 => Swap::Words,
            _ if bits_allocated > 8 => Swap::Samples((bits_allocated / 8) as u8),
            _ => Swap::Words,
        }
    }

    /// The bytes that are put in order together: a range to swap starts and ends on a multiple
    /// of this, counted from the start of the value.
    pub fn unit(self) -> u64 {
        match self {
            Swap::None => 1,
            Swap::Samples(width) => u64::from(width.max(1)),
            Swap::Words => 2,
        }
    }

    /// Puts `data`, which starts on a [`unit`](Self::unit) of the value, in little-endian order.
    pub fn apply(self, data: &mut [u8]) {
        let unit = self.unit() as usize;
        if unit > 1 {
            data.chunks_exact_mut(unit).for_each(<[u8]>::reverse);
        }
    }
}

/// What the server knows of one DICOM object version, enough to serve any frame.
#[derive(Clone)]
pub struct Index {
    /// Transfer syntax of the data set.
    pub(super) transfer_syntax: &'static TransferSyntax,
    /// Pixel layout.
    pub(super) image: Image,
    /// Rescale, windows, palette.
    pub(super) presentation: Presentation,
    /// Spacing, position and other viewer-facing attributes.
    pub(super) geometry: Geometry,
    /// Frame byte ranges.
    pub(super) layout: Layout,
    /// Bytes of the file read to find Pixel Data.
    pub(super) header_bytes: u64,
    /// Where the top-level Pixel Data element is.
    pub(super) pixel: PixelElement,
    /// Where the Pixel Data element ends (after its sequence delimiter, if encapsulated).
    pub(super) pixel_end: u64,
    /// The file's first bytes, through the Pixel Data element's header, and the file's size:
    /// every route that shows the header parses these, so that all of them see the header of
    /// the one version this index was built from, with no second read. A deflated object's is
    /// its header inflated ([`HeldHeader::inflated`]); `None` only for harnesses' indexes.
    pub(super) header: Option<HeldHeader>,
}

/// What a study catalog keeps of an index: the held header bytes, and for encapsulated data the
/// frame ranges and the end of Pixel Data.
pub type StoredHeader<'a> = (Bytes, Option<(&'a [Range<u64>], u64)>);

/// The prefix of a file that [`parse_header`] needs to give its header back.
#[derive(Clone)]
pub struct HeldHeader {
    prefix: Bytes,
    file_size: u64,
}

impl HeldHeader {
    /// Keeps what `prefix` (the bytes read while looking for Pixel Data) holds up to and with
    /// the Pixel Data element's header, copied so that the rest of the read is freed.
    fn keep(prefix: &[u8], pixel: &PixelElement, file_size: u64) -> Self {
        let end = (pixel.header_offset + super::walk::MAX_HEADER).max(pixel.value_offset).min(prefix.len() as u64);
        HeldHeader { prefix: Bytes::copy_from_slice(&prefix[..end as usize]), file_size }
    }

    /// The header of a deflated object as it reads inflated: the stored meta group with Explicit
    /// VR Little Endian for its transfer syntax, then the inflated data set through the Pixel
    /// Data element's header, so the routes that show a header read it as any other.
    fn inflated(whole: &[u8], meta_end: u64, inflated: &[u8], pixel: &PixelElement) -> Result<Self, DicomError> {
        let Some(Start::Meta(meta_start)) = start_of(whole) else { return Err(DicomError::NotDicom) };
        let group = whole.get(meta_start..meta_end as usize).ok_or(DicomError::Truncated)?;
        let stored = FileMetaTable::from_reader(Cursor::new([&b"DICM"[..], group].concat())).map_err(|e| DicomError::Meta(Box::new(e)))?;
        let trim = |v: &str| v.trim_end_matches(['\0', ' ']).to_owned();
        let meta = FileMetaTableBuilder::new()
            .transfer_syntax(EXPLICIT_VR_LITTLE_ENDIAN.uid())
            .media_storage_sop_class_uid(trim(stored.media_storage_sop_class_uid()))
            .media_storage_sop_instance_uid(trim(stored.media_storage_sop_instance_uid()))
            .implementation_class_uid(trim(&stored.implementation_class_uid))
            .build()
            .map_err(|e| DicomError::Meta(Box::new(e)))?;
        let mut prefix = vec![0u8; MAGIC_AT];
        prefix.extend_from_slice(b"DICM");
        meta.write(&mut prefix).map_err(|e| DicomError::Meta(Box::new(e)))?;
        let data_start = prefix.len() as u64;
        let end = (pixel.header_offset + super::walk::MAX_HEADER).max(pixel.value_offset).min(inflated.len() as u64);
        prefix.extend_from_slice(&inflated[..end as usize]);
        Ok(HeldHeader { prefix: Bytes::from(prefix), file_size: data_start + inflated.len() as u64 })
    }

    /// The header, parsed again from memory. CPU work proportional to the header's size.
    pub fn parse(&self) -> Result<Header, DicomError> {
        match parse_header(&self.prefix, self.file_size)? {
            Parsed::Done(header) => Ok(header),
            _ => Err(DicomError::Truncated),
        }
    }

    /// Bytes held.
    pub fn size(&self) -> usize {
        self.prefix.len()
    }
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index").field("transfer_syntax", &self.transfer_syntax.uid()).field("image", &self.image).field("layout", &self.layout).finish_non_exhaustive()
    }
}

impl Index {
    /// An index from its parts, for harnesses and benches that make frames without a file.
    #[doc(hidden)]
    pub fn from_parts(transfer_syntax: &'static TransferSyntax, image: Image, presentation: Presentation, layout: Layout, pixel_end: u64) -> Index {
        let pixel = PixelElement { header_offset: 0, value_offset: 0, length: None, vr: VR::OB };
        Index { transfer_syntax, image, presentation, geometry: Geometry::default(), layout, header_bytes: 0, header: None, pixel, pixel_end }
    }

    /// Transfer syntax of the data set (for a deflated object, the deflated syntax).
    pub fn syntax(&self) -> &'static TransferSyntax {
        self.transfer_syntax
    }

    /// How each frame's samples are laid out.
    pub fn image(&self) -> &Image {
        &self.image
    }

    /// How stored values become what a person sees.
    pub fn presentation(&self) -> &Presentation {
        &self.presentation
    }

    /// Where the image sits and what it shows.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// Bytes of the file read to find Pixel Data.
    pub fn header_bytes(&self) -> u64 {
        self.header_bytes
    }

    /// The header this index was built from, to parse again from memory (a deflated object's
    /// as it reads inflated, in Explicit VR Little Endian).
    pub fn header(&self) -> Option<HeldHeader> {
        self.header.clone()
    }

    /// Whether a frame's bytes ([`read_frame`](Self::read_frame)) are its samples as they are:
    /// little-endian native data, or an inflated data set's.
    pub fn frames_are_samples(&self) -> bool {
        matches!(self.layout, Layout::Native { swap: Swap::None, .. } | Layout::Inflated { .. })
    }

    /// Whether frames are compressed streams in items.
    pub fn is_encapsulated(&self) -> bool {
        matches!(self.layout, Layout::Encapsulated { .. })
    }

    /// The native Pixel Data value in the stored object, and how its bytes are put in
    /// little-endian order; `None` for encapsulated or deflated data.
    pub fn native_pixel_data(&self) -> Option<(Range<u64>, Swap)> {
        match self.layout {
            Layout::Native { offset, swap, .. } => Some((offset..self.pixel_end, swap)),
            _ => None,
        }
    }

    /// The whole Pixel Data element in the stored object (its header, items and delimiter);
    /// `None` for a deflated object, whose Pixel Data has no range in it.
    pub fn pixel_data_element(&self) -> Option<Range<u64>> {
        (!matches!(self.layout, Layout::Inflated { .. })).then_some(self.pixel.header_offset..self.pixel_end)
    }

    /// A deflated object's Pixel Data element as it reads inflated (Explicit VR Little Endian):
    /// its header and its value, held in memory; `None` for any other object.
    pub fn inflated_pixel_data(&self) -> Option<(Bytes, Bytes)> {
        let Layout::Inflated { data, .. } = &self.layout else { return None };
        let length = u32::try_from(data.len()).ok()?;
        // Pixel Data, OB or OW as written, reserved bytes, then the 32-bit length: PS3.5 7.1.2.
        let mut head = Vec::with_capacity(12);
        head.extend_from_slice(&[0xE0, 0x7F, 0x10, 0x00]);
        head.extend_from_slice(self.pixel.vr.to_bytes().as_slice());
        head.extend_from_slice(&[0, 0]);
        head.extend_from_slice(&length.to_le_bytes());
        Some((Bytes::from(head), data.clone()))
    }

    /// Each frame's range in the stored object, items included, for encapsulated data.
    pub fn encapsulated_frames(&self) -> Option<&[Range<u64>]> {
        match &self.layout {
            Layout::Encapsulated { frames } => Some(frames),
            _ => None,
        }
    }

    /// Byte range to read for frame `n` (0-based): the frame, widened to whole words when
    /// big-endian OW words straddle its ends.
    pub fn frame_range(&self, n: u32) -> Option<Range<u64>> {
        match &self.layout {
            Layout::Native { offset, frame_bytes, swap } => {
                let (start, end) = (u64::from(n) * frame_bytes, (u64::from(n) + 1) * frame_bytes);
                let value_end = self.pixel_end.saturating_sub(*offset);
                let (start, end) = if *swap == Swap::Words { (start & !1, (end + (end & 1)).min(value_end)) } else { (start, end) };
                (n < self.image.frames).then(|| offset + start..offset + end)
            }
            Layout::Encapsulated { frames } => frames.get(n as usize).cloned(),
            Layout::Inflated { .. } => None,
        }
    }

    /// Frame `n` when its bytes are held in memory rather than read from the store.
    pub fn held_frame(&self, n: u32) -> Option<Bytes> {
        let Layout::Inflated { frame_bytes, data } = &self.layout else { return None };
        let start = usize::try_from(u64::from(n) * frame_bytes).ok()?;
        let end = start.checked_add(usize::try_from(*frame_bytes).ok()?)?;
        (n < self.image.frames && end <= data.len()).then(|| data.slice(start..end))
    }

    /// Frame `n`'s bytes, as [`decode_frame`](super::decode_frame) takes them: held in memory,
    /// or read by [`frame_range`](Self::frame_range) from the object this index was built from;
    /// `None` past the last frame.
    pub async fn read_frame(&self, store: &dyn Store, key: &ObjectKey, meta: &ObjectMeta, n: u32) -> Result<Option<Bytes>, crate::store::StoreError> {
        match (self.held_frame(n), self.frame_range(n)) {
            (Some(held), _) => Ok(Some(held)),
            (None, Some(range)) => Ok(Some(store.read(key, meta, range).await?)),
            (None, None) => Ok(None),
        }
    }

    /// Number of frames that can be served.
    pub fn frame_count(&self) -> u32 {
        self.image.frames
    }

    /// Approximate memory held, for the cache's byte bound.
    pub fn weight(&self) -> u32 {
        let frames = match &self.layout {
            Layout::Native { .. } => 0,
            Layout::Encapsulated { frames } => frames.len() * std::mem::size_of::<Range<u64>>(),
            Layout::Inflated { data, .. } => data.len(),
        };
        let palette = self.presentation.palette.as_ref().map_or(0, |p| p.channels.iter().map(|c| c.len() * 2).sum());
        let overlays: usize = self.presentation.overlays.iter().map(Overlay::weight).sum();
        let header = self.header.as_ref().map_or(0, HeldHeader::size);
        u32::try_from(1024 + frames + palette + overlays + header).unwrap_or(u32::MAX)
    }

    /// Memory that decoding, windowing and encoding one frame of `compressed` bytes can hold
    /// at once: the stream, the decoded samples (OpenJPEG keeps 32 bits a sample, framegate
    /// then copies to 16), and the 8-bit picture. Declared by the header, so it is known
    /// before anything is decoded.
    pub fn render_cost(&self, compressed: u64) -> u64 {
        let samples = self.image.pixels() * u64::from(self.image.samples_per_pixel);
        let decoded = if super::j2k::SYNTAXES.contains(&self.transfer_syntax.uid()) { 4 + 2 } else { u64::from(self.image.bits_allocated.div_ceil(8)) };
        compressed + samples * (decoded + 1)
    }

    /// Reads the header of `key` and locates every frame. A deflated object is inflated on
    /// `pool`, within its memory budget. An object without Pixel Data is refused: those that
    /// serve one ask [`Indexed::load`](super::Indexed::load).
    pub async fn load(store: &dyn Store, key: &ObjectKey, meta: &ObjectMeta, limits: &Limits, pool: &RenderPool) -> Result<Index, LoadError> {
        match super::Indexed::load(store, key, meta, limits, pool).await? {
            super::Indexed::Image(index) => Ok(std::sync::Arc::unwrap_or_clone(index)),
            super::Indexed::HeaderOnly(_) => Err(DicomError::NoPixelData.into()),
        }
    }

    /// Locates every frame of the image whose `header` was parsed from `prefix`.
    pub(super) async fn build(store: &dyn Store, key: &ObjectKey, meta: &ObjectMeta, prefix: Bytes, header: Header, limits: &Limits) -> Result<Index, LoadError> {
        let mut image = image_within(&header.obj, limits)?;
        let (layout, pixel_end) = if header.ts.is_encapsulated_pixel_data() {
            let reader = Reader { store, key, meta, prefix: &prefix, window: Default::default() };
            encapsulated_layout(&reader, &header, &image, limits).await?
        } else {
            native_layout(&header.pixel, header.ts.endianness() == Endianness::Big, &mut image)?
        };
        let held = HeldHeader::keep(&prefix, &header.pixel, meta.size);
        Ok(Index::assemble(header, image, layout, pixel_end, held, prefix.len() as u64))
    }

    /// The index a study catalog holds for one object version: its held header (what
    /// [`stored_header`](Self::stored_header) gave) and, for encapsulated data, its frame ranges
    /// and where Pixel Data ends. No I/O: a catalogued object is indexed without reading it.
    /// Every range is checked against `file_size`, as a read would be.
    pub fn from_stored(prefix: Bytes, file_size: u64, encapsulated: Option<(Vec<Range<u64>>, u64)>, limits: &Limits) -> Result<Index, DicomError> {
        if prefix.len() as u64 > limits.max_header_bytes.min(file_size) {
            return Err(DicomError::HeaderTooLarge(limits.max_header_bytes));
        }
        let header = match parse_header(&prefix, file_size)? {
            Parsed::Done(header) => header,
            _ => return Err(DicomError::Truncated),
        };
        let mut image = image_within(&header.obj, limits)?;
        let (layout, pixel_end) = match (header.ts.is_encapsulated_pixel_data(), encapsulated) {
            (true, Some((frames, pixel_end))) => {
                let inside = |r: &Range<u64>| r.start >= header.pixel.value_offset && r.start < r.end && r.end <= pixel_end && r.end - r.start <= limits.max_frame_bytes;
                if image.frames == 0 || frames.len() != image.frames as usize || pixel_end > file_size || !frames.iter().all(inside) {
                    return Err(DicomError::Malformed("catalogued frame ranges do not fit the object"));
                }
                (Layout::Encapsulated { frames }, pixel_end)
            }
            (false, None) => native_layout(&header.pixel, header.ts.endianness() == Endianness::Big, &mut image)?,
            _ => return Err(DicomError::Malformed("catalogued layout does not match the transfer syntax")),
        };
        if pixel_end > file_size {
            return Err(DicomError::Truncated);
        }
        let held = HeldHeader { prefix: prefix.clone(), file_size };
        Ok(Index::assemble(header, image, layout, pixel_end, held, prefix.len() as u64))
    }

    /// What a study catalog keeps of this index to build it again with
    /// [`from_stored`](Self::from_stored): the held header bytes, and for encapsulated data the
    /// frame ranges and the end of Pixel Data. `None` for a deflated object, which is read the
    /// old way.
    pub fn stored_header(&self) -> Option<StoredHeader<'_>> {
        let header = self.header.as_ref()?;
        let frames = match &self.layout {
            Layout::Native { .. } => None,
            Layout::Encapsulated { frames } => Some((frames.as_slice(), self.pixel_end)),
            Layout::Inflated { .. } => return None,
        };
        Some((header.prefix.clone(), frames))
    }

    fn assemble(header: Header, image: Image, layout: Layout, pixel_end: u64, held: HeldHeader, header_bytes: u64) -> Index {
        let overlays = overlay::planes(&header.obj, &image, !header.ts.is_encapsulated_pixel_data());
        Index {
            transfer_syntax: header.ts,
            presentation: Presentation { overlays, ..super::attrs::presentation(&header.obj) },
            geometry: Geometry::from_obj(&header.obj).with_meta_sop_class(header.meta.media_storage_sop_class_uid()),
            image,
            layout,
            header_bytes,
            header: Some(held),
            pixel: header.pixel,
            pixel_end,
        }
    }
}

/// A parsed header: the data set up to Pixel Data, and where Pixel Data is.
pub struct Header {
    /// The file meta group.
    pub meta: FileMetaTable,
    /// Transfer syntax of the data set.
    pub ts: &'static TransferSyntax,
    /// Every element before Pixel Data.
    pub obj: InMemDicomObject,
    /// The Pixel Data element.
    pub pixel: PixelElement,
}

/// The whole data set of an object without Pixel Data: a report, a key object selection, a
/// presentation state, a waveform.
pub struct Whole {
    /// The file meta group.
    pub meta: FileMetaTable,
    /// Transfer syntax of the data set.
    pub ts: &'static TransferSyntax,
    /// Every element.
    pub obj: InMemDicomObject,
}

/// How far to read next after [`Parsed::NeedMore`]`(end)`, with `have` bytes of a `size`-byte
/// object read: geometrically more, so a long header costs a few reads, not many, and never
/// past `max_header`.
pub fn next_prefix(end: u64, have: u64, size: u64, max_header: u64) -> Result<u64, DicomError> {
    if end <= have || end > size {
        return Err(DicomError::Truncated);
    }
    if end > max_header {
        return Err(DicomError::HeaderTooLarge(max_header));
    }
    Ok(end.max(2 * have).min(size).min(max_header))
}

/// The outcome of parsing a prefix.
// Returned once per header read and unpacked at once: boxing the header would only add an
// allocation to every parse.
#[allow(clippy::large_enum_variant)]
pub enum Parsed {
    /// The header is complete.
    Done(Header),
    /// The data set ends without Pixel Data; the prefix held all of it.
    Whole(Whole),
    /// Read at least up to this offset and try again.
    NeedMore(u64),
    /// The data set after the meta group (which ends at this offset) is deflated: it has no
    /// random access, so only the whole object will do.
    Deflated(u64),
}

/// Where a file's data set begins, told by its first bytes.
enum Start {
    /// A file meta group at this offset: after the preamble and `DICM`, or at 0 without them.
    Meta(usize),
    /// A bare data set at 0, with no preamble or meta group, as old archives and some exports
    /// hold: its encoding is told by whether a VR follows the first tag, as dcmtk tells it.
    Bare(&'static TransferSyntax),
}

fn start_of(head: &[u8]) -> Option<Start> {
    if head.get(MAGIC_AT..MAGIC_AT + 4) == Some(b"DICM") {
        return Some(Start::Meta(MAGIC_AT + 4));
    }
    let head = head.get(..8)?;
    let explicit = VR::from_binary([head[4], head[5]]).is_some();
    // Group 0008 (SOP Class, modality, dates) opens every image data set in practice; asking
    // for it keeps JPEGs, PNGs and text from being taken for DICOM.
    match (u16::from_le_bytes([head[0], head[1]]), head[3]) {
        (0x0002, 0) if explicit => Some(Start::Meta(0)),
        (0x0008, _) if explicit => Some(Start::Bare(registered(EXPLICIT_VR_LITTLE_ENDIAN.uid())?)),
        (0x0008, _) => Some(Start::Bare(registered(IMPLICIT_VR_LITTLE_ENDIAN.uid())?)),
        _ => None,
    }
}

fn registered(uid: &str) -> Option<&'static TransferSyntax> {
    TransferSyntaxRegistry.get(uid)
}

/// Whether the first bytes of a file (132, or all of a shorter one) are DICOM: Part 10, or a
/// bare data set.
pub fn looks_like_dicom(head: &[u8]) -> bool {
    start_of(head).is_some()
}

/// Parses the file meta group and the data set up to Pixel Data from `prefix`, the first bytes
/// of a file of `file_size` bytes. Pure: no I/O, and nothing is allocated beyond the prefix.
pub fn parse_header(prefix: &[u8], file_size: u64) -> Result<Parsed, DicomError> {
    let sniff = (MAGIC_AT as u64 + 4).min(file_size);
    if (prefix.len() as u64) < sniff {
        return Ok(Parsed::NeedMore(sniff));
    }
    let (meta, ts, data_start) = match start_of(prefix).ok_or(DicomError::NotDicom)? {
        Start::Meta(meta_start) => {
            let meta_end = match walk(prefix, meta_start as u64, file_size, &EXPLICIT_VR_LITTLE_ENDIAN.erased(), Tag(0x0002, 0xFFFF))? {
                Walk::Found(end) => end.header_offset,
                Walk::NeedMore(end) => return Ok(Parsed::NeedMore(end)),
                Walk::NoPixelData => return Err(DicomError::NoPixelData),
            };
            // The meta group's reader wants the magic before it, which a file without a
            // preamble lacks.
            let group = &prefix[meta_start..meta_end as usize];
            let meta = FileMetaTable::from_reader(Cursor::new([&b"DICM"[..], group].concat())).map_err(|e| DicomError::Meta(Box::new(e)))?;
            let uid = meta.transfer_syntax();
            if uid == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN.uid() {
                return Ok(Parsed::Deflated(meta_end));
            }
            let ts = registered(uid).filter(|ts| !ts.is_unsupported()).ok_or_else(|| DicomError::UnsupportedTransferSyntax(uid.to_owned()))?;
            (Some(meta), ts, meta_end)
        }
        Start::Bare(ts) => (None, ts, 0),
    };
    let pixel = match walk(prefix, data_start, file_size, ts, tags::PIXEL_DATA)? {
        Walk::Found(pixel) => Some(pixel),
        Walk::NeedMore(end) => return Ok(Parsed::NeedMore(end)),
        // The walk reached the end of the file, so the prefix is the whole file.
        Walk::NoPixelData => None,
    };
    let end = pixel.map_or(prefix.len(), |p| p.header_offset as usize);
    let obj = super::dataset::read(&prefix[data_start as usize..end], ts)?;
    let meta = match meta {
        Some(meta) => meta,
        None => meta_for(&obj, ts)?,
    };
    Ok(match pixel {
        Some(pixel) => Parsed::Done(Header { meta, ts, obj, pixel }),
        None => Parsed::Whole(Whole { meta, ts, obj }),
    })
}

/// The file meta group a bare data set would have had, for the writers that need one.
fn meta_for(obj: &InMemDicomObject, ts: &TransferSyntax) -> Result<FileMetaTable, DicomError> {
    let uid = |tag, fallback: &str| obj.get(tag).and_then(|e| e.to_str().ok()).map_or_else(|| fallback.to_owned(), |v| v.trim_end_matches(['\0', ' ']).to_owned());
    FileMetaTableBuilder::new()
        .transfer_syntax(ts.uid())
        // Secondary Capture: what an image of unstated class is.
        .media_storage_sop_class_uid(uid(tags::SOP_CLASS_UID, "1.2.840.10008.5.1.4.1.1.7"))
        .media_storage_sop_instance_uid(uid(tags::SOP_INSTANCE_UID, "2.25.0"))
        .build()
        .map_err(|e| DicomError::Meta(Box::new(e)))
}

/// The image a header describes, refused when one frame has more pixels than the limit.
fn image_within(obj: &InMemDicomObject, limits: &Limits) -> Result<Image, DicomError> {
    let image = Image::from_obj(obj)?;
    if image.pixels() > limits.max_frame_pixels {
        return Err(DicomError::TooManyPixels(image.pixels()));
    }
    Ok(image)
}

/// Reads a deflated object whole (it must fit the frame size limit, inflated too), then, on the
/// pool, inflates it and indexes the inflated data set like a native little-endian one held in
/// memory.
pub(super) async fn load_deflated(store: &dyn Store, key: &ObjectKey, meta: &ObjectMeta, meta_end: u64, limits: &Limits, pool: &RenderPool) -> Result<Index, LoadError> {
    let limit = limits.max_frame_bytes.min(limits.max_inflated_bytes);
    if meta.size > limit {
        return Err(deflated_too_large(limit).into());
    }
    let whole = store.read(key, meta, 0..meta.size).await?;
    let limits = *limits;
    let held = whole.len() as u64 + limit;
    Ok(pool.run_sized(held, move || index_inflated(&whole, meta_end, limit, &limits)).await??)
}

fn deflated_too_large(limit: u64) -> DicomError {
    DicomError::UnsupportedImage(format!("deflated objects over {} MiB", limit >> 20))
}

/// Inflates a deflated object's data set (at most `limit` bytes) and indexes it. Pure.
fn index_inflated(whole: &[u8], meta_end: u64, limit: u64, limits: &Limits) -> Result<Index, DicomError> {
    use std::io::Read;
    let too_large = || deflated_too_large(limit);
    let mut inflated = Vec::new();
    flate2::read::DeflateDecoder::new(&whole[meta_end as usize..])
        .take(limit + 1)
        .read_to_end(&mut inflated)
        .map_err(|_| DicomError::Malformed("the deflated data set does not inflate"))?;
    if inflated.len() as u64 > limit {
        return Err(too_large());
    }
    let size = inflated.len() as u64;
    let registered = |uid| TransferSyntaxRegistry.get(uid).ok_or_else(|| DicomError::UnsupportedTransferSyntax(uid.to_owned()));
    let (deflated, ts) = (registered(DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN.uid())?, registered(EXPLICIT_VR_LITTLE_ENDIAN.uid())?);
    let pixel = match walk(&inflated, 0, size, ts, tags::PIXEL_DATA)? {
        Walk::Found(pixel) => pixel,
        Walk::NeedMore(_) => return Err(DicomError::Truncated),
        Walk::NoPixelData => return Err(DicomError::NoPixelData),
    };
    let obj = super::dataset::read(&inflated[..pixel.header_offset as usize], ts)?;
    let mut image = image_within(&obj, limits)?;
    let (Layout::Native { offset, frame_bytes, .. }, end) = native_layout(&pixel, false, &mut image)? else {
        return Err(DicomError::Malformed("deflated pixel data is not native"));
    };
    let overlays = overlay::planes(&obj, &image, true);
    let header = HeldHeader::inflated(whole, meta_end, &inflated, &pixel)?;
    let data = Bytes::from(inflated).slice(offset as usize..end as usize);
    Ok(Index {
        transfer_syntax: deflated,
        presentation: Presentation { overlays, ..super::attrs::presentation(&obj) },
        geometry: Geometry::from_obj(&obj),
        image,
        layout: Layout::Inflated { frame_bytes, data },
        header_bytes: whole.len() as u64,
        header: Some(header),
        pixel,
        pixel_end: end,
    })
}

/// Native frames back to back. An unreadable Number of Frames (`image.frames` of 0) is
/// counted here from the data's length, which native data states exactly.
fn native_layout(pixel: &PixelElement, big_endian: bool, image: &mut Image) -> Result<(Layout, u64), DicomError> {
    let length = pixel.length.ok_or(DicomError::Malformed("native pixel data has undefined length"))?;
    let bits = image.native_frame_bits();
    if !bits.is_multiple_of(8) {
        return Err(DicomError::UnsupportedImage("bit-packed frames that do not end on a byte".into()));
    }
    let frame_bytes = bits / 8;
    if image.frames == 0 {
        image.frames = u32::try_from(u64::from(length) / frame_bytes).ok().filter(|n| *n > 0).ok_or(DicomError::Attribute("NumberOfFrames"))?;
    }
    if u64::from(length) < frame_bytes * u64::from(image.frames) {
        return Err(DicomError::Malformed("pixel data is shorter than its frames"));
    }
    let layout = Layout::Native { offset: pixel.value_offset, frame_bytes, swap: Swap::of(big_endian, pixel.vr, image.bits_allocated) };
    Ok((layout, pixel.value_offset + u64::from(length)))
}

/// Item headers are read in windows this large while fragments are small, so walking a file
/// of many small fragments costs a read per window, not a round trip per fragment.
const WALK_WINDOW: u64 = 64 * 1024;

/// Reads byte ranges, from the prefix already held when it covers them.
struct Reader<'a> {
    store: &'a dyn Store,
    key: &'a ObjectKey,
    meta: &'a ObjectMeta,
    prefix: &'a Bytes,
    /// The last read-ahead window of the fragment walk: its offset and bytes.
    window: std::sync::Mutex<(u64, Bytes)>,
}

impl Reader<'_> {
    async fn read(&self, range: Range<u64>) -> Result<Bytes, LoadError> {
        // Offsets come from the file: one pointing past its end, or backwards, is the file's fault.
        if range.end > self.meta.size || range.start > range.end {
            return Err(DicomError::Truncated.into());
        }
        if range.end <= self.prefix.len() as u64 {
            return Ok(self.prefix.slice(range.start as usize..range.end as usize));
        }
        Ok(self.store.read(self.key, self.meta, range).await?)
    }

    /// An item header at `at`: its tag and length, plus up to 4 bytes of its value.
    /// `ahead` asks for a read-ahead window, worth it when the last fragment was small.
    async fn item(&self, at: u64, ahead: bool) -> Result<(Tag, u32, Bytes), LoadError> {
        let end = (at + 12).min(self.meta.size);
        let cached = {
            let window = self.window.lock().unwrap_or_else(|e| e.into_inner());
            let (start, bytes) = &*window;
            (at >= *start && end <= start + bytes.len() as u64).then(|| bytes.slice((at - start) as usize..(end - start) as usize))
        };
        let head = match cached {
            Some(head) => head,
            None if ahead && end > self.prefix.len() as u64 => {
                let bytes = self.read(at..(at + WALK_WINDOW).min(self.meta.size)).await?;
                let head = bytes.slice(..(end - at) as usize);
                *self.window.lock().unwrap_or_else(|e| e.into_inner()) = (at, bytes);
                head
            }
            None => self.read(at..end).await?,
        };
        if head.len() < 8 {
            return Err(DicomError::Truncated.into());
        }
        let word = |i: usize| u16::from_le_bytes([head[i], head[i + 1]]);
        let tag = Tag(word(0), word(2));
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        Ok((tag, len, head.slice(8..)))
    }
}

async fn encapsulated_layout(reader: &Reader<'_>, header: &Header, image: &Image, limits: &Limits) -> Result<(Layout, u64), LoadError> {
    if header.pixel.length.is_some() {
        return Err(DicomError::Malformed("encapsulated pixel data has a defined length").into());
    }
    if image.frames == 0 {
        // Compressed data cannot tell its own frame count.
        return Err(DicomError::Attribute("NumberOfFrames").into());
    }
    let frames = image.frames as usize;
    let (tag, bot_len, _) = reader.item(header.pixel.value_offset, false).await?;
    if tag != ITEM {
        return Err(DicomError::Malformed("encapsulated pixel data does not start with an offset table").into());
    }
    let first = header.pixel.value_offset + 8 + u64::from(bot_len);
    let bot = if bot_len > 0 && bot_len as usize == 4 * frames {
        let raw = reader.read(header.pixel.value_offset + 8..first).await?;
        raw.chunks_exact(4).map(|c| u64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect()
    } else {
        Vec::new()
    };

    let ranges = if let Some(eot) = extended_offsets(&header.obj, frames) {
        eot.into_iter().map(|(off, len)| first + off..first + off + 8 + len).collect()
    } else if bot.first() == Some(&0) && bot.windows(2).all(|w| w[0] < w[1]) {
        let mut ranges: Vec<Range<u64>> = bot.windows(2).map(|w| first + w[0]..first + w[1]).collect();
        // The last frame ends at the sequence delimiter, which only a walk finds.
        let last_start = first + bot[frames - 1];
        let tail = walk_fragments(reader, last_start).await?;
        let end = tail.last().map_or(last_start, |f| f.range.end);
        ranges.push(last_start..end);
        ranges
    } else {
        group_fragments(walk_fragments(reader, first).await?, frames)?
    };
    for range in &ranges {
        if range.end > reader.meta.size || range.start >= range.end {
            return Err(DicomError::Malformed("a frame's offset points outside the file").into());
        }
        if range.end - range.start > limits.max_frame_bytes {
            return Err(DicomError::Malformed("a compressed frame exceeds the configured size limit").into());
        }
    }
    // Pixel Data ends after its sequence delimiter, normally right after the last frame's items;
    // when offset tables leave fragments after it, the walk goes on to the delimiter.
    let last = ranges.iter().map(|r| r.end).max().unwrap_or(first);
    let rest = walk_fragments(reader, last).await?;
    let pixel_end = rest.last().map_or(last, |f| f.range.end) + 8;
    Ok((Layout::Encapsulated { frames: ranges }, pixel_end))
}

/// The Extended Offset Table, when present and consistent: (offset, length) of each frame.
fn extended_offsets(obj: &InMemDicomObject, frames: usize) -> Option<Vec<(u64, u64)>> {
    let words = |tag| -> Option<Vec<u64>> {
        let bytes = obj.get(tag)?.to_bytes().ok()?;
        Some(bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default())).collect())
    };
    let offsets = words(tags::EXTENDED_OFFSET_TABLE)?;
    let lengths = words(tags::EXTENDED_OFFSET_TABLE_LENGTHS)?;
    (offsets.len() == frames && lengths.len() == frames).then(|| offsets.into_iter().zip(lengths).collect())
}

/// One fragment: its item's range in the file, and the first bytes of its value.
struct Fragment {
    range: Range<u64>,
    starts_frame: bool,
}

/// Walks item headers from `at` to the sequence delimiter.
async fn walk_fragments(reader: &Reader<'_>, mut at: u64) -> Result<Vec<Fragment>, LoadError> {
    let mut out: Vec<Fragment> = Vec::new();
    loop {
        let small = out.last().is_none_or(|f| f.range.end - f.range.start < WALK_WINDOW / 2);
        let (tag, len, peek) = reader.item(at, small).await?;
        if tag == SEQUENCE_DELIMITATION {
            return Ok(out);
        }
        if tag != ITEM || len == u32::MAX {
            return Err(DicomError::Malformed("encapsulated pixel data holds something other than fragments").into());
        }
        let end = at + 8 + u64::from(len);
        if end > reader.meta.size {
            return Err(DicomError::Truncated.into());
        }
        out.push(Fragment { range: at..end, starts_frame: starts_codestream(&peek) });
        if out.len() > MAX_FRAGMENTS {
            return Err(DicomError::Malformed("too many fragments").into());
        }
        at = end;
    }
}

/// A fragment that opens a JPEG, JPEG-LS, JPEG 2000 or JPEG XL codestream starts a new frame.
fn starts_codestream(head: &[u8]) -> bool {
    matches!(head, [0xFF, 0xD8, ..] | [0xFF, 0x4F, ..] | [0xFF, 0x0A, ..] | [0x00, 0x00, 0x00, 0x0C, ..])
}

/// Groups fragments into frames when no offset table says where frames start.
fn group_fragments(fragments: Vec<Fragment>, frames: usize) -> Result<Vec<Range<u64>>, DicomError> {
    let (Some(first), Some(last)) = (fragments.first(), fragments.last()) else {
        return Err(DicomError::Malformed("encapsulated pixel data has no fragments"));
    };
    if fragments.len() == frames {
        return Ok(fragments.into_iter().map(|f| f.range).collect());
    }
    if frames == 1 {
        let whole = first.range.start..last.range.end;
        return Ok(vec![whole]);
    }
    let mut ranges: Vec<Range<u64>> = Vec::with_capacity(frames);
    for fragment in fragments {
        match ranges.last_mut() {
            Some(open) if !fragment.starts_frame => open.end = fragment.range.end,
            _ => ranges.push(fragment.range),
        }
    }
    if ranges.len() != frames {
        return Err(DicomError::Malformed("cannot tell where frames start: no offset table and fragments do not match frames"));
    }
    Ok(ranges)
}
