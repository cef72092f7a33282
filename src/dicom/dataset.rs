//! The one reader of a data set's bytes: every user of DICOM attributes (render, index, stack,
//! de-identification) gets its [`InMemDicomObject`] from [`read`].
//!
//! Some toolkits write standard attributes with explicit VR `UN`. PS3.5 6.2.2 says such a value
//! is read with the tag's dictionary VR, and that a UN sequence's content (defined length or
//! not) is Implicit VR Little Endian. dicom-rs keeps UN values as raw bytes and reads an
//! undefined-length UN with the explicit decoder, so a Rescale Intercept of `"0 "` would read
//! as 48 and a UN sequence would either fail or keep its nested names and UIDs out of reach of
//! the profile. So before dicom-rs sees the bytes, every UN element of a known tag is rewritten
//! with its dictionary VR, and UN sequences are re-encoded in the data set's own encoding.
//! Sequences and items come out with undefined lengths, which spares fixing up the lengths of
//! every container around a value whose size changed.
//!
//! The same pass decodes text: dicom-rs reads only the first term of Specific Character Set
//! and no ISO 2022 code extensions, so every value in a character set other than ASCII or
//! UTF-8 is decoded here ([`super::charset`], as pydicom decodes it) and written as UTF-8, and
//! every Specific Character Set becomes `ISO_IR 192`. DICOM JSON, QIDO matching,
//! de-identification (whose output is then UTF-8) and info.json all read the same text.

use std::borrow::Cow;
use std::io::Cursor;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::{StandardDataDictionary, tags};
use dicom_encoding::TransferSyntax;
use dicom_encoding::transfer_syntax::Endianness;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN;

use super::DicomError;
use super::charset::CharacterSets;
use super::walk::{ITEM, ITEM_DELIMITATION, MAX_NESTING, SEQUENCE_DELIMITATION, value_size};

/// Reads the data set `bytes` (no preamble or meta group), encoded in `ts`, with every UN
/// element of a known tag decoded by its dictionary VR.
pub fn read(bytes: &[u8], ts: &TransferSyntax) -> Result<InMemDicomObject, DicomError> {
    let bytes = normalize(bytes, ts);
    InMemDicomObject::read_dataset_with_ts(Cursor::new(&*bytes), ts).map_err(|e| DicomError::Parse(Box::new(e)))
}

/// Whether `tag` is a Private Creator, (gggg,0010) to (gggg,00FF) of an odd group (PS3.5 7.8.1).
pub fn is_private_creator(tag: Tag) -> bool {
    tag.group() % 2 == 1 && (0x0010..=0x00FF).contains(&tag.element())
}

/// The data set with its UN elements rewritten, or as it was when it has none. A structure the
/// rewrite cannot follow is left to dicom-rs, which then reads it as it always did; anything
/// still UN is removed by de-identification.
pub fn normalize<'a>(bytes: &'a [u8], ts: &TransferSyntax) -> Cow<'a, [u8]> {
    // Implicit VR has no UN (every tag already takes its dictionary VR), but its text may
    // still need decoding.
    let implicit = ts.uid() == IMPLICIT_VR_LITTLE_ENDIAN.uid();
    let encoding = if implicit { Encoding::Implicit } else { Encoding::Explicit };
    let mut rewrite = Rewrite { input: bytes, out: Vec::with_capacity(bytes.len() + 64), big: ts.endianness() == Endianness::Big, implicit, changed: false };
    match rewrite.data_set(0, Some(bytes.len()), encoding, 0, &CharacterSets::default()) {
        Ok(_) if rewrite.changed => Cow::Owned(rewrite.out),
        _ => Cow::Borrowed(bytes),
    }
}

/// The dictionary VR of a public tag; context-dependent ones take the form that reads every
/// value (US for US/SS, OW for OB/OW). A Private Creator is LO (PS3.5 7.8.1) wherever it is:
/// one written as UN would otherwise reach a client as bytes where a name is promised.
pub fn dictionary_vr(tag: Tag) -> Option<VR> {
    if is_private_creator(tag) {
        return Some(VR::LO);
    }
    if tag.group() % 2 == 1 {
        return None;
    }
    let entry = StandardDataDictionary.by_tag(tag)?;
    Some(match entry.vr() {
        VirtualVr::Exact(vr) => vr,
        VirtualVr::Xs | VirtualVr::Lt => VR::US,
        VirtualVr::Ox | VirtualVr::Px => VR::OW,
        _ => return None,
    })
    .filter(|vr| *vr != VR::UN)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// The data set's own explicit encoding, in its byte order.
    Explicit,
    /// Implicit VR Little Endian: the content of a UN sequence.
    Implicit,
}

/// An element header as read.
struct Head {
    tag: Tag,
    vr: VR,
    /// `None` for undefined length.
    len: Option<u32>,
    /// Where the value starts.
    value_at: usize,
}

struct Rewrite<'a> {
    input: &'a [u8],
    out: Vec<u8>,
    /// The data set is big endian: so is everything written.
    big: bool,
    /// The data set is Implicit VR Little Endian: so is everything written.
    implicit: bool,
    /// A UN element was rewritten.
    changed: bool,
}

/// VRs with a 4-byte length in explicit VR (PS3.5 7.1.2).
fn long_vr(vr: VR) -> bool {
    matches!(vr, VR::OB | VR::OD | VR::OF | VR::OL | VR::OV | VR::OW | VR::SQ | VR::SV | VR::UC | VR::UN | VR::UR | VR::UT | VR::UV)
}

impl<'a> Rewrite<'a> {
    fn bytes(&self, at: usize, n: usize) -> Result<&'a [u8], DicomError> {
        let input: &'a [u8] = self.input;
        input.get(at..at.checked_add(n).ok_or(DicomError::Truncated)?).ok_or(DicomError::Truncated)
    }

    fn u16_at(&self, at: usize, big: bool) -> Result<u16, DicomError> {
        let b: [u8; 2] = self.bytes(at, 2)?.try_into().map_err(|_| DicomError::Truncated)?;
        Ok(if big { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
    }

    fn u32_at(&self, at: usize, big: bool) -> Result<u32, DicomError> {
        let b: [u8; 4] = self.bytes(at, 4)?.try_into().map_err(|_| DicomError::Truncated)?;
        Ok(if big { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    }

    fn head(&self, at: usize, encoding: Encoding) -> Result<Head, DicomError> {
        let big = self.big && encoding == Encoding::Explicit;
        let tag = Tag(self.u16_at(at, big)?, self.u16_at(at + 2, big)?);
        let defined = |len: u32| (len != u32::MAX).then_some(len);
        if encoding == Encoding::Implicit || tag.group() == 0xFFFE {
            let vr = dictionary_vr(tag).unwrap_or(VR::UN);
            return Ok(Head { tag, vr, len: defined(self.u32_at(at + 4, big)?), value_at: at + 8 });
        }
        let code = self.bytes(at + 4, 2)?;
        let vr = VR::from_binary([code[0], code[1]]).ok_or(DicomError::Malformed("unknown VR"))?;
        if long_vr(vr) {
            Ok(Head { tag, vr, len: defined(self.u32_at(at + 8, big)?), value_at: at + 12 })
        } else {
            Ok(Head { tag, vr, len: Some(u32::from(self.u16_at(at + 6, big)?)), value_at: at + 8 })
        }
    }

    fn put_u16(&mut self, v: u16) {
        self.out.extend_from_slice(&if self.big { v.to_be_bytes() } else { v.to_le_bytes() });
    }

    fn put_u32(&mut self, v: u32) {
        self.out.extend_from_slice(&if self.big { v.to_be_bytes() } else { v.to_le_bytes() });
    }

    /// An item or delimiter header.
    fn put_item(&mut self, tag: Tag, len: u32) {
        self.put_u16(tag.group());
        self.put_u16(tag.element());
        self.put_u32(len);
    }

    /// An element header in the data set's VR encoding; `false` when the length does not fit
    /// the VR.
    fn put_header(&mut self, tag: Tag, vr: VR, len: u32) -> bool {
        if self.implicit {
            self.put_item(tag, len);
            return true;
        }
        if !long_vr(vr) && len > u32::from(u16::MAX) {
            return false;
        }
        self.put_u16(tag.group());
        self.put_u16(tag.element());
        self.out.extend_from_slice(&vr.to_bytes());
        if long_vr(vr) {
            self.out.extend_from_slice(&[0, 0]);
            self.put_u32(len);
        } else {
            self.put_u16(len as u16);
        }
        true
    }

    /// Elements from `at` to `end`, or, for an undefined-length item (`end` is `None`), to its
    /// delimiter. Returns where reading stopped.
    /// `sets` are the character sets inherited from the enclosing data set, until this one
    /// names its own, as an item may (PS3.5 7.5.3).
    fn data_set(&mut self, mut at: usize, end: Option<usize>, encoding: Encoding, depth: usize, sets: &CharacterSets) -> Result<usize, DicomError> {
        let mut sets = Cow::Borrowed(sets);
        if depth > MAX_NESTING {
            return Err(DicomError::Malformed("sequences are nested too deep"));
        }
        loop {
            match end {
                Some(end) if at == end => return Ok(at),
                Some(end) if at > end => return Err(DicomError::Malformed("an element overruns its sequence")),
                _ => {}
            }
            let head = self.head(at, encoding)?;
            if head.tag == ITEM_DELIMITATION && end.is_none() {
                return Ok(head.value_at);
            }
            if head.tag.group() == 0xFFFE {
                return Err(DicomError::Malformed("a delimiter stands outside a sequence"));
            }
            if head.tag == tags::SPECIFIC_CHARACTER_SET {
                let value = self.bytes(head.value_at, head.len.unwrap_or(0) as usize)?;
                sets = Cow::Owned(CharacterSets::from_value(value));
            }
            at = self.element(head, encoding, depth, &sets)?;
        }
    }

    /// Writes one element and returns where the next starts.
    fn element(&mut self, head: Head, encoding: Encoding, depth: usize, sets: &CharacterSets) -> Result<usize, DicomError> {
        let Head { tag, vr, len, value_at } = head;
        if tag == tags::PIXEL_DATA && len.is_none() {
            return self.fragments(tag, value_at, encoding);
        }
        let (vr, content) = match (encoding, vr) {
            (Encoding::Explicit, VR::UN) => match dictionary_vr(tag) {
                _ if len.is_none() => (VR::SQ, Encoding::Implicit),
                Some(VR::SQ) => (VR::SQ, Encoding::Implicit),
                // The value's bytes are already in the data set's byte order.
                Some(vr) => (vr, Encoding::Explicit),
                None => (VR::UN, Encoding::Explicit),
            },
            (_, vr) if vr == VR::SQ || len.is_none() => (VR::SQ, encoding),
            (_, vr) => (vr, encoding),
        };
        // An implicit data set names no VRs, so reading one by the dictionary changes nothing.
        self.changed |= head.vr != vr && !self.implicit;
        if vr == VR::SQ {
            let end = len.map(|l| value_at + l as usize);
            self.put_header(tag, VR::SQ, u32::MAX);
            let after = self.items(value_at, end, content, depth + 1, sets)?;
            self.put_item(SEQUENCE_DELIMITATION, 0);
            return Ok(end.unwrap_or(after));
        }
        let len = len.unwrap_or(0);
        let value = self.bytes(value_at, len as usize)?;
        let next = value_at + len as usize;
        if tag == tags::SPECIFIC_CHARACTER_SET {
            // Whatever this data set's text was in, it leaves as UTF-8 (any value that was not
            // ASCII is decoded below); when nothing else changed, the input is read as it was.
            self.put_header(tag, VR::CS, 10);
            self.out.extend_from_slice(b"ISO_IR 192");
            return Ok(next);
        }
        if sets.needs_decoding(vr, value) {
            let mut text = sets.decode(vr, value).into_bytes();
            if text.len() % 2 == 1 {
                text.push(b' ');
            }
            if self.put_header(tag, vr, text.len() as u32) {
                self.out.extend_from_slice(&text);
            }
            self.changed = true;
            return Ok(next);
        }
        // A value that does not fit its VR cannot be read as that VR: it is left out, which
        // de-identification would do with a UN value anyway. (An implicit data set's values
        // go to dicom-rs as they are, as they did before this pass read them.)
        if len % value_size(vr) != 0 && !self.implicit {
            self.changed = true;
            return Ok(value_at + len as usize);
        }
        if !self.put_header(tag, vr, len) {
            self.changed = true;
            return Ok(value_at + len as usize);
        }
        self.out.extend_from_slice(value);
        // Implicit content is little endian; a big-endian data set needs its numbers turned.
        if content == Encoding::Implicit && self.big {
            let at = self.out.len() - value.len();
            let width = if vr == VR::AT { 2 } else { value_size(vr) as usize };
            if width > 1 {
                self.out[at..].chunks_exact_mut(width).for_each(<[u8]>::reverse);
            }
        }
        Ok(value_at + len as usize)
    }

    /// The items of a sequence from `at`, to `end` or to its delimiter.
    fn items(&mut self, mut at: usize, end: Option<usize>, encoding: Encoding, depth: usize, sets: &CharacterSets) -> Result<usize, DicomError> {
        loop {
            if end == Some(at) {
                return Ok(at);
            }
            let head = self.head(at, encoding)?;
            match head.tag {
                // A delimiter inside a defined length is redundant, and ends the sequence all the same.
                SEQUENCE_DELIMITATION => return Ok(head.value_at),
                ITEM => {
                    let item_end = head.len.map(|l| head.value_at + l as usize);
                    if let (Some(item_end), Some(end)) = (item_end, end)
                        && item_end > end
                    {
                        return Err(DicomError::Malformed("an element overruns its sequence"));
                    }
                    self.put_item(ITEM, u32::MAX);
                    at = self.data_set(head.value_at, item_end, encoding, depth, sets)?;
                    self.put_item(ITEM_DELIMITATION, 0);
                }
                _ => return Err(DicomError::Malformed("a sequence holds something other than items")),
            }
        }
    }

    /// Encapsulated pixel data nested in a sequence (an icon): items of raw bytes, copied.
    fn fragments(&mut self, tag: Tag, mut at: usize, encoding: Encoding) -> Result<usize, DicomError> {
        self.put_header(tag, VR::OB, u32::MAX);
        loop {
            let head = self.head(at, encoding)?;
            match (head.tag, head.len) {
                (SEQUENCE_DELIMITATION, _) => {
                    self.put_item(SEQUENCE_DELIMITATION, 0);
                    return Ok(head.value_at);
                }
                (ITEM, Some(len)) => {
                    let value = self.bytes(head.value_at, len as usize)?;
                    self.put_item(ITEM, len);
                    self.out.extend_from_slice(value);
                    at = head.value_at + len as usize;
                }
                _ => return Err(DicomError::Malformed("encapsulated data holds something other than fragments")),
            }
        }
    }
}

#[cfg(test)]
mod tests;
