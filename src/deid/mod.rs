//! De-identification on the fly, per DICOM PS3.15 Annex E, Basic Application Level
//! Confidentiality Profile: a new header is built from the header prefix the index already
//! reads, and the original Pixel Data is streamed after it untouched.
//!
//! The profile is data ([`profile`], generated from Table E.1-1); this module applies it,
//! with framegate's stricter rule for the overlay groups ([`overlay`]), recursively through
//! sequences, removes every private element, and replaces UIDs with
//! deterministic pseudonyms ([`Pseudonyms`]), so a study keeps its shape under new names.
//!
//! Three of the profile's options can be asked for on top ([`Options`]): dates moved back by a
//! per-patient offset ([`dates`]), patient characteristics kept, and descriptors kept cleaned
//! ([`clean`]). Where an option does not name an attribute, the Basic action applies. Images
//! that are not DICOM are cleaned of their metadata by [`image`].

mod clean;
mod dates;
pub mod image;
mod overlay;
mod policy;
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

use clean::Identifiers;
use profile::OptionCode;

pub use policy::{Objects, Policy, PseudonymScope, RawDicom};
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

/// Names this version of what de-identification hands out, for the ETags of what it makes: a
/// change to the rules (or to the frame blanking that goes with them) changes it, so no client
/// or cache keeps, or resumes a range of, what an earlier version made.
pub const RULES_VERSION: &str = "deid-basic-4";

/// Which of PS3.15's options apply on top of the Basic Profile; Default is the Basic Profile alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Retain Longitudinal Temporal Information with Modified Dates: dates move back by a
    /// per-patient number of days instead of going.
    pub retain_dates_shifted: bool,
    /// Retain Patient Characteristics: sex, age, size, weight and the like stay; allergies,
    /// special needs, patient state and pre-medication stay cleaned.
    pub retain_patient_characteristics: bool,
    /// Clean Descriptors: descriptions, comments and labels stay, cleaned of identifying text.
    pub clean_descriptors: bool,
}

/// One entry of CID 7050, De-identification Method: its code value, its meaning, and the short
/// name that De-identification Method (LO, 64 characters a value) records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Method {
    pub code: &'static str,
    pub meaning: &'static str,
    pub short: &'static str,
}

impl Options {
    /// The profile and each option these options apply, in the order PS3.15 lists them.
    pub fn methods(&self) -> Vec<Method> {
        let method = |code, meaning, short| Method { code, meaning, short };
        [
            (true, method("113100", "Basic Application Confidentiality Profile", "framegate: PS3.15 E.1-1 Basic Profile")),
            (self.retain_dates_shifted, method("113107", "Retain Longitudinal Temporal Information Modified Dates Option", "Retain Longitudinal Modified Dates")),
            (self.retain_patient_characteristics, method("113108", "Retain Patient Characteristics Option", "Retain Patient Characteristics")),
            (self.clean_descriptors, method("113105", "Clean Descriptors Option", "Clean Descriptors")),
        ]
        .into_iter()
        .filter_map(|(on, m)| on.then_some(m))
        .collect()
    }
}

/// The de-identified preamble, file meta group and data set up to (not including) Pixel Data,
/// encoded in `ts`, the object's own transfer syntax, under the Basic Profile alone.
pub fn header(meta: &FileMetaTable, obj: InMemDicomObject, ts: &TransferSyntax, pseudonyms: &Pseudonyms) -> Result<Vec<u8>, DeidError> {
    header_with(meta, obj, ts, pseudonyms, &Options::default())
}

/// As [`header`], with `options` applied on top of the Basic Profile.
pub fn header_with(meta: &FileMetaTable, obj: InMemDicomObject, ts: &TransferSyntax, pseudonyms: &Pseudonyms, options: &Options) -> Result<Vec<u8>, DeidError> {
    let obj = dataset_with(obj, pseudonyms, options);
    let class = meta.media_storage_sop_class_uid().trim_end_matches(['\0', ' ']);
    let class = if crate::dicom::is_uid(class) { class.to_owned() } else { pseudonyms.uid(class) };
    let meta = FileMetaTableBuilder::new()
        .transfer_syntax(ts.uid())
        .media_storage_sop_class_uid(class)
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
    dataset_with(obj, pseudonyms, &Options::default())
}

/// As [`dataset`], with `options` applied on top of the Basic Profile.
pub fn dataset_with(obj: InMemDicomObject, pseudonyms: &Pseudonyms, options: &Options) -> InMemDicomObject {
    let context = Context::new(&obj, pseudonyms, options);
    mark(process(obj, &context, 0), options)
}

/// What every element of one object is processed with.
struct Context<'a> {
    pseudonyms: &'a Pseudonyms,
    options: &'a Options,
    /// Days this object's patient's dates move back (under `retain_dates_shifted`).
    shift_days: i64,
    /// What identifies the patient, for cleaning; gathered only when an option cleans.
    identifiers: Identifiers,
}

impl<'a> Context<'a> {
    /// Reads what the options need from the original object, before any of it changes.
    fn new(obj: &InMemDicomObject, pseudonyms: &'a Pseudonyms, options: &'a Options) -> Self {
        let cleans = options.clean_descriptors || options.retain_patient_characteristics;
        let identifiers = if cleans { Identifiers::of(obj, MAX_DEPTH) } else { Identifiers::default() };
        let shift_days = if options.retain_dates_shifted { pseudonyms.date_shift_days(&patient_key(obj)) } else { 0 };
        Context { pseudonyms, options, shift_days, identifiers }
    }
}

/// Whom the dates offset belongs to: the original Patient ID. Without one, the patient's name and
/// birth date, which still tell one patient's files from another's; with neither, one constant,
/// so that such files at least agree with each other (their intervals survive) while the offset
/// stays secret. A backslash separates values in DICOM, so no Patient ID holds one, and these
/// fallbacks cannot be taken for an ID.
fn patient_key(obj: &InMemDicomObject) -> String {
    let text = |tag: Tag| obj.get(tag).and_then(|e| e.to_str().ok()).map(|s| s.trim_matches([' ', '\0']).to_owned()).unwrap_or_default();
    let id = text(tags::PATIENT_ID);
    if !id.is_empty() {
        return id;
    }
    match (text(tags::PATIENT_NAME).to_uppercase(), text(tags::PATIENT_BIRTH_DATE)) {
        (name, birth) if name.is_empty() && birth.is_empty() => "\\unknown".to_owned(),
        (name, birth) => format!("\\{name}\\{birth}"),
    }
}

/// What becomes of one element.
enum Treatment {
    /// The Basic Profile's action, or framegate's overlay rule, or none (kept).
    Basic(Option<Action>),
    /// An option says K.
    Keep,
    /// The dates option says C of a DA, DT or TM.
    ShiftDates,
    /// An option says C of text or a sequence.
    Clean,
}

/// The text VRs a descriptor can be cleaned in; C on any other VR gets the Basic action.
const TEXT: [VR; 7] = [VR::LO, VR::SH, VR::ST, VR::LT, VR::UT, VR::UC, VR::CS];

fn treatment(tag: Tag, vr: VR, options: &Options) -> Treatment {
    // The standard's table first; framegate's overlay rule only where the table is silent.
    let Some(row) = profile::row(tag) else { return Treatment::Basic(overlay::action(tag)) };
    let enabled = [(options.retain_dates_shifted, row.dates), (options.retain_patient_characteristics, row.patient), (options.clean_descriptors, row.descriptors)];
    let says = |code: OptionCode| enabled.iter().any(|(on, c)| *on && *c == Some(code));
    if says(OptionCode::Keep) {
        return Treatment::Keep;
    }
    if options.retain_dates_shifted && row.dates == Some(OptionCode::Clean) && matches!(vr, VR::DA | VR::DT | VR::TM) {
        return Treatment::ShiftDates;
    }
    // C in the dates column means shifting, decided above; in the other two it means cleaning.
    let cleans = enabled[1..].iter().any(|(on, c)| *on && *c == Some(OptionCode::Clean));
    if cleans && (vr == VR::SQ || TEXT.contains(&vr)) {
        return Treatment::Clean;
    }
    Treatment::Basic(Some(row.action))
}

/// Applies the profile to every element of `obj`, recursively.
fn process(obj: InMemDicomObject, context: &Context, depth: usize) -> InMemDicomObject {
    InMemDicomObject::from_element_iter(obj.into_iter().filter_map(|e| element(e, context, depth)))
}

fn element(e: InMemElement, context: &Context, depth: usize) -> Option<InMemElement> {
    let (tag, vr) = (e.tag(), e.vr());
    // Private elements, their creators included, can hold anything: they never leave. Nor does
    // a value still UN after the reader gave every known tag its dictionary VR: it could be a
    // sequence or a name that no rule below would recognise.
    if tag.group() % 2 == 1 || tag.element() == 0x0000 || vr == VR::UN {
        return None;
    }
    let pseudonyms = context.pseudonyms;
    match treatment(tag, vr, context.options) {
        // PS3.15 means no name to leave, whether or not its table lists the attribute.
        Treatment::Basic(None) if vr == VR::PN => None,
        Treatment::Keep | Treatment::Basic(None) => Some(keep(e, context, depth)),
        Treatment::ShiftDates => Some(shift_dates(e, context.shift_days)),
        Treatment::Clean => Some(clean(e, context, depth)),
        Treatment::Basic(Some(Action::Remove)) => None,
        Treatment::Basic(Some(Action::Empty)) => Some(empty(tag, vr)),
        Treatment::Basic(Some(Action::Dummy)) => Some(dummy(tag, vr)),
        Treatment::Basic(Some(Action::Uid)) => Some(uid(e, pseudonyms)),
        Treatment::Basic(Some(Action::UidOrEmpty)) => Some(match vr {
            VR::SQ => keep(e, context, depth),
            VR::UI => uid(e, pseudonyms),
            _ => empty(tag, vr),
        }),
    }
}

/// Keeps an element; a sequence keeps its items, each de-identified in turn. A kept UID is
/// kept only when the standard defines it (a SOP Class, a transfer syntax, a coding scheme):
/// any other, listed by the table or not, names one instance, series, study or device, and
/// leaves as its pseudonym, so that no UID links back (PS3.15 E.3.9); text in a UI element is
/// no UID either.
fn keep(e: InMemElement, context: &Context, depth: usize) -> InMemElement {
    let (tag, vr) = (e.tag(), e.vr());
    if vr == VR::UI {
        return kept_uids(e, context.pseudonyms);
    }
    if !well_formed(&e) {
        return empty(tag, vr);
    }
    match e.into_value() {
        Value::Sequence(seq) if depth < MAX_DEPTH => {
            let items: Vec<InMemDicomObject> = seq.into_items().into_iter().map(|item| process(item, context, depth + 1)).collect();
            DataElement::new(tag, VR::SQ, DataSetSequence::new(items, Length::UNDEFINED))
        }
        Value::Sequence(_) => empty(tag, VR::SQ),
        value => DataElement::new(tag, vr, value),
    }
}

/// Whether a kept value of a VR with a fixed repertoire (numbers, dates, times, ages, codes)
/// holds only that repertoire. A value that does not is no number or code: a sequence written
/// where the dictionary says DS, say, read back as text, with whatever names its items held.
fn well_formed(e: &InMemElement) -> bool {
    let allowed: fn(char) -> bool = match e.vr() {
        VR::DS => |c| c.is_ascii_digit() || "+-.eE ".contains(c),
        VR::IS => |c| c.is_ascii_digit() || "+- ".contains(c),
        VR::DA | VR::TM | VR::DT => |c| c.is_ascii_digit() || "+-. ".contains(c),
        VR::AS => |c| c.is_ascii_digit() || "DWMY".contains(c),
        VR::CS => |c| c.is_ascii_uppercase() || c.is_ascii_digit() || " _".contains(c),
        _ => return true,
    };
    e.to_multi_str().is_ok_and(|values| values.iter().all(|v| v.trim_end_matches('\0').chars().all(allowed)))
}

/// A DA, DT or TM element with its dates moved back; emptied if any value is not a date.
fn shift_dates(e: InMemElement, days: i64) -> InMemElement {
    let (tag, vr) = (e.tag(), e.vr());
    match e.to_multi_str().ok().and_then(|values| dates::shift(vr, &values, days)) {
        Some(values) if !values.is_empty() => DataElement::new(tag, vr, PrimitiveValue::Strs(values.into())),
        _ => empty(tag, vr),
    }
}

/// A text element with each value cleaned; a sequence kept, its items processed as any other.
fn clean(e: InMemElement, context: &Context, depth: usize) -> InMemElement {
    let (tag, vr) = (e.tag(), e.vr());
    if vr == VR::SQ {
        return keep(e, context, depth);
    }
    match e.to_multi_str() {
        Ok(values) if !values.is_empty() => {
            let cleaned: Vec<String> = values.iter().map(|v| context.identifiers.clean(v)).collect();
            DataElement::new(tag, vr, PrimitiveValue::Strs(cleaned.into()))
        }
        _ => empty(tag, vr),
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

/// The element's UIDs, each kept when the standard defines it and otherwise replaced by its
/// pseudonym.
fn kept_uids(e: InMemElement, pseudonyms: &Pseudonyms) -> InMemElement {
    uids(e, |v| pseudonyms.shown_uid(v))
}

/// The element's UIDs, each replaced by its pseudonym.
fn uid(e: InMemElement, pseudonyms: &Pseudonyms) -> InMemElement {
    uids(e, |v| pseudonyms.uid_of(v))
}

/// The element with each UID as `shown` says; emptied when none is left.
fn uids(e: InMemElement, shown: impl Fn(&str) -> Option<String>) -> InMemElement {
    let (tag, vr) = (e.tag(), e.vr());
    let Ok(values) = e.to_multi_str() else { return empty(tag, vr) };
    let mapped: Vec<String> = values.iter().filter_map(|v| shown(v)).collect();
    if mapped.is_empty() {
        return empty(tag, vr);
    }
    DataElement::new(tag, VR::UI, PrimitiveValue::Strs(mapped.into()))
}

/// Records what was done (PS3.15 E.1.1): Patient Identity Removed, the profile and each option,
/// and, when dates were moved, Longitudinal Temporal Information Modified.
fn mark(mut obj: InMemDicomObject, options: &Options) -> InMemDicomObject {
    let applied = options.methods();
    let codes = applied.iter().map(|m| {
        InMemDicomObject::from_element_iter([
            DataElement::new(tags::CODE_VALUE, VR::SH, PrimitiveValue::from(m.code)),
            DataElement::new(tags::CODING_SCHEME_DESIGNATOR, VR::SH, PrimitiveValue::from("DCM")),
            DataElement::new(tags::CODE_MEANING, VR::LO, PrimitiveValue::from(m.meaning)),
        ])
    });
    let names: Vec<String> = applied.iter().map(|m| m.short.to_owned()).collect();
    obj.put(DataElement::new(tags::PATIENT_IDENTITY_REMOVED, VR::CS, PrimitiveValue::from("YES")));
    obj.put(DataElement::new(tags::DEIDENTIFICATION_METHOD, VR::LO, PrimitiveValue::Strs(names.into())));
    obj.put(DataElement::new(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE, VR::SQ, DataSetSequence::new(codes.collect::<Vec<_>>(), Length::UNDEFINED)));
    if options.retain_dates_shifted {
        obj.put(DataElement::new(tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED, VR::CS, PrimitiveValue::from("MODIFIED")));
    }
    obj
}

#[cfg(test)]
mod tests;
