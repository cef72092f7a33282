//! Walks the element headers of a file prefix to find where Pixel Data starts.
//!
//! dicom-rs decodes each header; this walk only follows the structure (sequences, items,
//! delimiters) and checks every declared length against the real file size before anything
//! is read or allocated. A header that passes the walk can then be handed to dicom-object
//! without risk: every value it will read lies inside the bytes we hold, and nesting is bounded.

use std::io::Cursor;

use dicom_core::header::{HasLength, Header};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntax;
use dicom_encoding::decode::DecodeFrom;
use dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN;

use super::DicomError;

/// Item (FFFE,E000).
pub const ITEM: Tag = Tag(0xFFFE, 0xE000);
/// Item Delimitation Item (FFFE,E00D).
pub const ITEM_DELIMITATION: Tag = Tag(0xFFFE, 0xE00D);
/// Sequence Delimitation Item (FFFE,E0DD).
pub const SEQUENCE_DELIMITATION: Tag = Tag(0xFFFE, 0xE0DD);

/// Sequences nested deeper than this are refused; real files stay under ten.
pub const MAX_NESTING: usize = 32;
/// The largest element header: tag, VR, reserved, 32-bit length.
pub(super) const MAX_HEADER: u64 = 12;

/// Where the top-level Pixel Data element sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelElement {
    /// Offset of the element's header in the file.
    pub header_offset: u64,
    /// Offset of the element's value.
    pub value_offset: u64,
    /// Value length; `None` for undefined length (encapsulated).
    pub length: Option<u32>,
    /// Its VR as written (OB or OW), which decides how big-endian bytes are swapped.
    pub vr: VR,
}

impl PixelElement {
    /// The VR Pixel Data has (PS3.5 A.1, A.2, A.4): encapsulated data is OB; native data of
    /// more than 8 bits is OW, and so is all native data in Implicit VR Little Endian; 8-bit
    /// and 1-bit native data in an explicit syntax keep the VR they were written with.
    pub fn stated_vr(&self, explicit_syntax: bool, bits_allocated: u16) -> VR {
        match self.length {
            None => VR::OB,
            Some(_) if !explicit_syntax || bits_allocated > 8 => VR::OW,
            Some(_) if matches!(self.vr, VR::OB | VR::OW) => self.vr,
            Some(_) => VR::OB,
        }
    }
}

/// The result of walking a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// Pixel Data was found.
    Found(PixelElement),
    /// The prefix ends before the walk could finish: read at least up to this offset.
    NeedMore(u64),
    /// The data set ends without Pixel Data.
    NoPixelData,
}

#[derive(Debug, Clone, Copy)]
enum Open {
    /// Inside a sequence, expecting items; `end` for defined length. `implicit` for an
    /// explicit-VR UN element of undefined length, whose content is Implicit VR Little Endian
    /// (PS3.5 6.2.2).
    Sequence { end: Option<u64>, implicit: bool },
    /// Inside an item's data set.
    Item { end: Option<u64> },
    /// Inside nested encapsulated pixel data (an icon): items of raw bytes.
    Fragments,
}

impl Open {
    fn end(self) -> Option<u64> {
        match self {
            Open::Sequence { end, .. } | Open::Item { end } => end,
            Open::Fragments => None,
        }
    }
}

/// Walks elements of `prefix` (the file from offset 0) starting at `start`, encoded in `ts`,
/// until the top-level element with tag `stop`, the end of the file, or the end of the prefix.
/// With `stop` of group 0002 and `ts` explicit little endian this walks the file meta group.
pub fn walk(prefix: &[u8], start: u64, file_size: u64, ts: &TransferSyntax, stop: Tag) -> Result<Walk, DicomError> {
    let explicit = ts.decoder_for::<Cursor<&[u8]>>().ok_or_else(|| DicomError::UnsupportedTransferSyntax(ts.uid().to_owned()))?;
    let implicit = IMPLICIT_VR_LITTLE_ENDIAN.erased().decoder_for::<Cursor<&[u8]>>().ok_or_else(|| DicomError::UnsupportedTransferSyntax(ts.uid().to_owned()))?;
    let held = prefix.len() as u64;
    let mut cursor = Cursor::new(prefix);
    cursor.set_position(start);
    let mut open: Vec<Open> = Vec::new();
    let bounds = Bounds { held, file_size };

    loop {
        let pos = cursor.position();
        close_ended(&mut open, pos)?;
        if let Some(done) = before_header(prefix, &open, pos, bounds, stop)? {
            return Ok(done);
        }
        let in_un = open.iter().any(|o| matches!(o, Open::Sequence { implicit: true, .. }));
        let decoder = if in_un { &implicit } else { &explicit };
        let (header, _) = decoder.decode_header(&mut cursor).map_err(|_| DicomError::Truncated)?;
        let value_at = cursor.position();
        let step = match open.last().copied() {
            Some(Open::Sequence { end, .. }) => in_sequence(&mut open, &header, value_at, end, bounds)?,
            Some(Open::Fragments) => in_fragments(&mut open, &header, value_at, bounds)?,
            Some(Open::Item { end: None }) if header.tag() == ITEM_DELIMITATION => {
                open.pop();
                Step::Next
            }
            _ => element(&mut open, &header, pos, value_at, bounds, stop)?,
        };
        match step {
            Step::Next => {}
            Step::SkipTo(at) => cursor.set_position(at),
            Step::Done(walk) => return Ok(walk),
        }
    }
}

/// What the walk holds and what the file has.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    /// Bytes of the prefix.
    held: u64,
    /// Bytes of the whole file.
    file_size: u64,
}

/// What the walk does after one element header.
enum Step {
    /// Go on with the next header, where the cursor is.
    Next,
    /// Go on from this offset, past a value.
    SkipTo(u64),
    /// The walk is over.
    Done(Walk),
}

type ElementHeader = dicom_core::header::DataElementHeader;

/// Closes every defined-length container that ends at `pos`.
fn close_ended(open: &mut Vec<Open>, pos: u64) -> Result<(), DicomError> {
    while let Some(end) = open.last().and_then(|o| o.end()) {
        if pos < end {
            break;
        }
        if pos > end {
            return Err(DicomError::Malformed("an element overruns its sequence"));
        }
        open.pop();
    }
    Ok(())
}

/// What is decided before the header at `pos` is read: the end of the file or of the meta
/// group, or a prefix too short to hold the header.
fn before_header(prefix: &[u8], open: &[Open], pos: u64, bounds: Bounds, stop: Tag) -> Result<Option<Walk>, DicomError> {
    if open.is_empty() && pos >= bounds.file_size {
        return Ok(Some(Walk::NoPixelData));
    }
    if pos + 8 > bounds.file_size {
        return Err(DicomError::Truncated);
    }
    if pos + MAX_HEADER > bounds.held && bounds.held < bounds.file_size {
        return Ok(Some(Walk::NeedMore(pos + MAX_HEADER)));
    }
    if open.is_empty() && stop.group() == 0x0002 && prefix[pos as usize..][..2] != [0x02, 0x00] {
        // The meta group is over; hand back where the data set starts.
        return Ok(Some(Walk::Found(PixelElement { header_offset: pos, value_offset: pos, length: Some(0), vr: VR::UN })));
    }
    Ok(None)
}

/// Inside a sequence: an item opens, or the sequence's delimiter closes it.
fn in_sequence(open: &mut Vec<Open>, header: &ElementHeader, value_at: u64, end: Option<u64>, bounds: Bounds) -> Result<Step, DicomError> {
    let tag = header.tag();
    if tag == SEQUENCE_DELIMITATION && end.is_none() {
        open.pop();
    } else if tag == ITEM {
        let item_end = header.length().get().map(|l| value_at + u64::from(l));
        check_end(item_end, bounds.file_size, open)?;
        open.push(Open::Item { end: item_end });
    } else {
        return Err(DicomError::Malformed("a sequence holds something other than items"));
    }
    Ok(Step::Next)
}

/// Inside nested encapsulated pixel data: fragments are stepped over to the delimiter.
fn in_fragments(open: &mut Vec<Open>, header: &ElementHeader, value_at: u64, bounds: Bounds) -> Result<Step, DicomError> {
    let tag = header.tag();
    if tag == SEQUENCE_DELIMITATION {
        open.pop();
        return Ok(Step::Next);
    }
    let (true, Some(l)) = (tag == ITEM, header.length().get()) else {
        return Err(DicomError::Malformed("encapsulated data holds something other than fragments"));
    };
    let item_end = value_at + u64::from(l);
    check_end(Some(item_end), bounds.file_size, open)?;
    if item_end > bounds.held {
        return Ok(Step::Done(Walk::NeedMore(item_end)));
    }
    Ok(Step::SkipTo(item_end))
}

/// An element of a data set (the top level or an item's): the one looked for, a container to
/// walk into, or a value to step over, each checked against the file and its container.
fn element(open: &mut Vec<Open>, header: &ElementHeader, pos: u64, value_at: u64, bounds: Bounds, stop: Tag) -> Result<Step, DicomError> {
    let (tag, len, vr) = (header.tag(), header.length(), header.vr());
    if tag.group() == 0xFFFE {
        return Err(DicomError::Malformed("a delimiter stands outside a sequence"));
    }
    if open.is_empty() && tag == stop {
        let length = len.get();
        if let Some(l) = length {
            check_end(Some(value_at + u64::from(l)), bounds.file_size, open).map_err(|_| DicomError::Truncated)?;
        }
        return Ok(Step::Done(Walk::Found(PixelElement { header_offset: pos, value_offset: value_at, length, vr })));
    }
    let Some(l) = len.get() else {
        // Undefined length: a sequence, or an encapsulated value (a nested icon).
        if !(vr == VR::SQ || vr == VR::UN || tag == tags::PIXEL_DATA) {
            return Err(DicomError::Malformed("an element of undefined length is not a sequence"));
        }
        let inner = if tag == tags::PIXEL_DATA { Open::Fragments } else { Open::Sequence { end: None, implicit: vr == VR::UN } };
        push(open, inner)?;
        return Ok(Step::Next);
    };
    let value_end = value_at + u64::from(l);
    check_end(Some(value_end), bounds.file_size, open)?;
    if l % value_size(vr) != 0 {
        return Err(DicomError::Malformed("a binary value's length is not a multiple of its size"));
    }
    if vr == VR::SQ {
        // Walked, not skipped, so that nesting depth is bounded before dicom-object recurses.
        push(open, Open::Sequence { end: Some(value_end), implicit: false })?;
        return Ok(Step::Next);
    }
    if value_end > bounds.held {
        return Ok(Step::Done(Walk::NeedMore(value_end)));
    }
    Ok(Step::SkipTo(value_end))
}

/// The fragment values of the items in `bytes`: one frame's range of encapsulated Pixel Data,
/// up to a sequence delimiter.
pub fn fragments(bytes: &[u8]) -> Result<Vec<&[u8]>, DicomError> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 8 {
        let tag = Tag(u16::from_le_bytes([rest[0], rest[1]]), u16::from_le_bytes([rest[2], rest[3]]));
        let len = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        if tag == SEQUENCE_DELIMITATION {
            break;
        }
        if tag != ITEM || len > rest.len() - 8 {
            return Err(DicomError::Malformed("a frame's fragments are not well formed"));
        }
        out.push(&rest[8..8 + len]);
        rest = &rest[8 + len..];
    }
    if out.is_empty() {
        return Err(DicomError::Malformed("a frame has no fragments"));
    }
    Ok(out)
}

/// Bytes per value of the binary VRs. dicom-parser reads whole values only, so a length that is
/// not a multiple leaves it reading the remainder as the next element's header: fuzzing found
/// an FL of 2 bytes after which it read a header declaring 4 GiB and allocated for it. Such a
/// length is refused here, before dicom-object sees the header.
pub(super) fn value_size(vr: VR) -> u32 {
    match vr {
        VR::SS | VR::US | VR::OW => 2,
        VR::FL | VR::SL | VR::UL | VR::AT | VR::OF | VR::OL => 4,
        VR::FD | VR::SV | VR::UV | VR::OD | VR::OV => 8,
        _ => 1,
    }
}

fn push(open: &mut Vec<Open>, inner: Open) -> Result<(), DicomError> {
    let depth = open.iter().filter(|o| !matches!(o, Open::Item { .. })).count();
    if depth >= MAX_NESTING {
        return Err(DicomError::Malformed("sequences are nested too deep"));
    }
    open.push(inner);
    Ok(())
}

fn check_end(end: Option<u64>, file_size: u64, open: &[Open]) -> Result<(), DicomError> {
    let Some(end) = end else { return Ok(()) };
    if end > file_size {
        return Err(DicomError::Malformed("an element's length points past the end of the file"));
    }
    let container = open.iter().rev().find_map(|o| o.end());
    if container.is_some_and(|c| end > c) {
        return Err(DicomError::Malformed("an element overruns its sequence"));
    }
    Ok(())
}
