//! De-identification on the fly, per DICOM PS3.15 Annex E, Basic Application Level
//! Confidentiality Profile: a new header is built from the header prefix the index already
//! reads, and the original Pixel Data is streamed after it untouched.
//!
//! The profile is data ([`profile`], generated from Table E.1-1); this module applies it,
//! with framegate's stricter rule for the overlay groups ([`overlay`]), recursively through
//! sequences, removes every private element, and replaces UIDs with
//! deterministic pseudonyms ([`Pseudonyms`]), so a study keeps its shape under new names.
//!
//! Images that are not DICOM are cleaned of their metadata by [`image`].

pub mod image;
mod overlay;
mod profile;
mod pseudonym;

use std::io;

use dicom_core::header::Header;
use dicom_core::value::{DataSetSequence, Value};
use dicom_core::{DataElement, Length, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntax;
use dicom_object::mem::InMemElement;
use dicom_object::{FileMetaTable, FileMetaTableBuilder, InMemDicomObject};

pub use profile::Action;
pub use pseudonym::Pseudonyms;

/// Identifies framegate as the implementation that wrote a de-identified header.
const IMPLEMENTATION_UID: &str = "2.25.168918227405786917350839612826437126401";
const IMPLEMENTATION_VERSION: &str = "FRAMEGATE";
/// Sequences nested deeper than this are dropped whole; the header walk already refuses
/// deeper ones, so this only guards the recursion.
const MAX_DEPTH: usize = 64;

/// Why a header could not be de-identified.
#[derive(Debug, thiserror::Error)]
pub enum DeidError {
    #[error("cannot build the de-identified file meta group")]
    Meta(#[source] Box<dicom_object::meta::Error>),
    #[error("cannot encode the de-identified header")]
    Encode(#[source] Box<dicom_object::WriteError>),
    #[error("cannot write the de-identified header")]
    Io(#[from] io::Error),
}

/// The de-identified preamble, file meta group and data set up to (not including) Pixel Data,
/// encoded in `ts`, the object's own transfer syntax.
pub fn header(meta: &FileMetaTable, obj: InMemDicomObject, ts: &TransferSyntax, pseudonyms: &Pseudonyms) -> Result<Vec<u8>, DeidError> {
    let obj = dataset(obj, pseudonyms);
    let meta = FileMetaTableBuilder::new()
        .transfer_syntax(ts.uid())
        .media_storage_sop_class_uid(meta.media_storage_sop_class_uid())
        .media_storage_sop_instance_uid(pseudonyms.uid(meta.media_storage_sop_instance_uid()))
        .implementation_class_uid(IMPLEMENTATION_UID)
        .implementation_version_name(IMPLEMENTATION_VERSION)
        .build()
        .map_err(|e| DeidError::Meta(Box::new(e)))?;
    let mut out = vec![0u8; 128];
    out.extend_from_slice(b"DICM");
    meta.write(&mut out).map_err(|e| DeidError::Meta(Box::new(e)))?;
    obj.write_dataset_with_ts(&mut out, ts).map_err(|e| DeidError::Encode(Box::new(e)))?;
    Ok(out)
}

/// The data set `obj` de-identified as [`header`] does it, for representations other than
/// Part 10 (DICOMweb's DICOM JSON).
pub fn dataset(obj: InMemDicomObject, pseudonyms: &Pseudonyms) -> InMemDicomObject {
    mark(process(obj, pseudonyms, 0))
}

/// Applies the profile to every element of `obj`, recursively.
fn process(obj: InMemDicomObject, pseudonyms: &Pseudonyms, depth: usize) -> InMemDicomObject {
    InMemDicomObject::from_element_iter(obj.into_iter().filter_map(|e| element(e, pseudonyms, depth)))
}

fn element(e: InMemElement, pseudonyms: &Pseudonyms, depth: usize) -> Option<InMemElement> {
    let (tag, vr) = (e.tag(), e.vr());
    // Private elements, their creators included, can hold anything: they never leave. Nor does
    // a value still UN after the reader gave every known tag its dictionary VR: it could be a
    // sequence or a name that no rule below would recognise.
    if tag.group() % 2 == 1 || tag.element() == 0x0000 || vr == VR::UN {
        return None;
    }
    // The standard's table first; framegate's overlay rule only where the table is silent.
    match profile::action(tag).or_else(|| overlay::action(tag)) {
        None => Some(keep(e, pseudonyms, depth)),
        Some(Action::Remove) => None,
        Some(Action::Empty) => Some(empty(tag, vr)),
        Some(Action::Dummy) => Some(dummy(tag, vr)),
        Some(Action::Uid) => Some(uid(e, pseudonyms)),
        Some(Action::UidOrEmpty) => Some(match vr {
            VR::SQ => keep(e, pseudonyms, depth),
            VR::UI => uid(e, pseudonyms),
            _ => empty(tag, vr),
        }),
    }
}

/// Keeps an element; a sequence keeps its items, each de-identified in turn.
fn keep(e: InMemElement, pseudonyms: &Pseudonyms, depth: usize) -> InMemElement {
    let (tag, vr) = (e.tag(), e.vr());
    match e.into_value() {
        Value::Sequence(seq) if depth < MAX_DEPTH => {
            let items: Vec<InMemDicomObject> = seq.into_items().into_iter().map(|item| process(item, pseudonyms, depth + 1)).collect();
            DataElement::new(tag, VR::SQ, DataSetSequence::new(items, Length::UNDEFINED))
        }
        Value::Sequence(_) => empty(tag, VR::SQ),
        value => DataElement::new(tag, vr, value),
    }
}

fn empty(tag: Tag, vr: VR) -> InMemElement {
    if vr == VR::SQ {
        return DataElement::new(tag, VR::SQ, DataSetSequence::<InMemDicomObject>::new(Vec::new(), Length::UNDEFINED));
    }
    DataElement::new(tag, vr, PrimitiveValue::Empty)
}

/// A dummy value of the element's VR, which identifies nobody.
fn dummy(tag: Tag, vr: VR) -> InMemElement {
    let text = |s: &str| DataElement::new(tag, vr, PrimitiveValue::from(s));
    match vr {
        VR::DA => text("19000101"),
        VR::TM => text("000000"),
        VR::DT => text("19000101000000"),
        VR::AS => text("000D"),
        VR::IS | VR::DS => text("0"),
        VR::PN | VR::LO | VR::SH | VR::LT | VR::ST | VR::UT | VR::UC | VR::AE | VR::CS => text("ANONYMOUS"),
        VR::US => DataElement::new(tag, vr, PrimitiveValue::from(0u16)),
        VR::SS => DataElement::new(tag, vr, PrimitiveValue::from(0i16)),
        VR::UL => DataElement::new(tag, vr, PrimitiveValue::from(0u32)),
        VR::SL => DataElement::new(tag, vr, PrimitiveValue::from(0i32)),
        VR::FL => DataElement::new(tag, vr, PrimitiveValue::from(0f32)),
        VR::FD => DataElement::new(tag, vr, PrimitiveValue::from(0f64)),
        // UIDs are replaced, never dummied; binary and other values are emptied.
        VR::UI => DataElement::new(tag, vr, PrimitiveValue::from("2.25.0")),
        _ => empty(tag, vr),
    }
}

/// The element's UIDs, each replaced by its pseudonym.
fn uid(e: InMemElement, pseudonyms: &Pseudonyms) -> InMemElement {
    let (tag, vr) = (e.tag(), e.vr());
    let Ok(values) = e.to_multi_str() else { return empty(tag, vr) };
    let mapped: Vec<String> = values.iter().map(|v| v.trim_end_matches(['\0', ' '])).filter(|v| !v.is_empty()).map(|v| pseudonyms.uid(v)).collect();
    if mapped.is_empty() {
        return empty(tag, vr);
    }
    DataElement::new(tag, VR::UI, PrimitiveValue::Strs(mapped.into()))
}

/// Records what was done (PS3.15 E.1.1): Patient Identity Removed and the method.
fn mark(mut obj: InMemDicomObject) -> InMemDicomObject {
    let code = InMemDicomObject::from_element_iter([
        DataElement::new(tags::CODE_VALUE, VR::SH, PrimitiveValue::from("113100")),
        DataElement::new(tags::CODING_SCHEME_DESIGNATOR, VR::SH, PrimitiveValue::from("DCM")),
        DataElement::new(tags::CODE_MEANING, VR::LO, PrimitiveValue::from("Basic Application Confidentiality Profile")),
    ]);
    obj.put(DataElement::new(tags::PATIENT_IDENTITY_REMOVED, VR::CS, PrimitiveValue::from("YES")));
    obj.put(DataElement::new(tags::DEIDENTIFICATION_METHOD, VR::LO, PrimitiveValue::from("framegate: PS3.15 E.1-1 Basic Profile")));
    obj.put(DataElement::new(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE, VR::SQ, DataSetSequence::new(vec![code], Length::UNDEFINED)));
    obj
}

#[cfg(test)]
mod tests;
