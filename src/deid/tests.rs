use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, Length, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_dictionary_std::uids::EXPLICIT_VR_LITTLE_ENDIAN;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use super::*;

fn pseudonyms() -> Pseudonyms {
    Pseudonyms::new(vec![7; 32])
}

fn text(tag: Tag, vr: VR, v: &str) -> InMemElement {
    DataElement::new(tag, vr, PrimitiveValue::from(v))
}

fn sample() -> InMemDicomObject {
    let referenced = InMemDicomObject::from_element_iter([
        text(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, "1.2.3.4.5"),
        text(tags::PATIENT_NAME, VR::PN, "Nested^Name"),
    ]);
    InMemDicomObject::from_element_iter([
        text(tags::PATIENT_NAME, VR::PN, "Doe^Jane"),
        text(tags::PATIENT_ID, VR::LO, "MRN-123"),
        text(tags::PATIENT_BIRTH_DATE, VR::DA, "19800101"),
        text(tags::INSTITUTION_NAME, VR::LO, "General Hospital"),
        text(tags::ACCESSION_NUMBER, VR::SH, "ACC-9"),
        text(tags::STUDY_INSTANCE_UID, VR::UI, "1.2.3"),
        text(tags::SERIES_INSTANCE_UID, VR::UI, "1.2.3.4"),
        text(tags::SOP_INSTANCE_UID, VR::UI, "1.2.3.4.5"),
        text(tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.2"),
        text(tags::MODALITY, VR::CS, "CT"),
        text(tags::BURNED_IN_ANNOTATION, VR::CS, "YES"),
        text(tags::WINDOW_CENTER, VR::DS, "40"),
        text(tags::CONTENT_DATE, VR::DA, "20260101"),
        DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(16u16)),
        text(Tag(0x0009, 0x0010), VR::LO, "ACME"),
        text(Tag(0x0009, 0x1001), VR::LO, "private secret"),
        text(Tag(0x5002, 0x3000), VR::OB, "curve"),
        DataElement::new(tags::REFERENCED_IMAGE_SEQUENCE, VR::SQ, DataSetSequence::new(vec![referenced], Length::UNDEFINED)),
    ])
}

fn str_of(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    obj.get(tag).and_then(|e| e.to_str().ok()).map(|s| s.into_owned())
}

#[test]
fn the_table_loads_whole_and_says_what_the_standard_says() {
    // Table E.1-1 (2026c) has 656 rows: 655 that the transcription holds and Private Attributes.
    assert_eq!(profile::rows(), 656);
    // Written over four lines in the transcription, once dropped by the generator; retired in
    // PS3.6, still in the table.
    #[allow(deprecated)]
    let transaction = tags::REFERENCED_GENERAL_PURPOSE_SCHEDULED_PROCEDURE_STEP_TRANSACTION_UID;
    assert_eq!(profile::action(transaction), Some(Action::Uid));
    assert_eq!(profile::action(Tag(0x0029, 0x1010)), Some(Action::Remove), "private attributes, by group mask");
    assert_eq!(profile::action(tags::PATIENT_NAME), Some(Action::Empty));
    assert_eq!(profile::action(tags::STUDY_INSTANCE_UID), Some(Action::Uid));
    assert_eq!(profile::action(tags::INSTITUTION_NAME), Some(Action::Empty));
    assert_eq!(profile::action(tags::PATIENT_BIRTH_DATE), Some(Action::Empty));
    assert_eq!(profile::action(Tag(0x5002, 0x3000)), Some(Action::Remove), "curves, by group mask");
    assert_eq!(profile::action(Tag(0x6002, 0x3000)), Some(Action::Remove), "overlay data, by group mask");
    assert_eq!(profile::action(Tag(0x6000, 0x4000)), Some(Action::Remove), "overlay comments, by group mask");
    assert_eq!(profile::action(Tag(0x6000, 0x0022)), None, "the table is silent on overlay descriptions: framegate's rule speaks");
    assert_eq!(profile::action(tags::ROWS), None);
    assert_eq!(profile::action(tags::BURNED_IN_ANNOTATION), None);
}

#[test]
fn overlay_groups_keep_their_geometry_and_nothing_else() {
    for group in [0x6000, 0x6002, 0x601E] {
        for element in [0x0010, 0x0011, 0x0015, 0x0040, 0x0050, 0x0051, 0x0100, 0x0102] {
            assert_eq!(overlay::action(Tag(group, element)), None, "({group:04X},{element:04X}) is geometry");
        }
        // Description, Subtype, Label, ROI statistics, a retired one, Data, Comments, one unknown.
        for element in [0x0022, 0x0045, 0x1500, 0x1301, 0x1302, 0x1303, 0x0800, 0x3000, 0x4000, 0x0023] {
            assert_eq!(overlay::action(Tag(group, element)), Some(Action::Remove), "({group:04X},{element:04X})");
        }
    }
    assert_eq!(overlay::action(tags::PATIENT_NAME), None);
    assert_eq!(overlay::action(Tag(0x5000, 0x0022)), None, "curves are the table's");
}

#[test]
fn identifying_values_go_and_viewer_values_stay() {
    let p = pseudonyms();
    let out = mark(process(sample(), &p, 0));
    assert_eq!(str_of(&out, tags::PATIENT_NAME).as_deref(), Some(""));
    // Z/D: a dummy keeps Type 1 uses of Patient ID conformant.
    assert_eq!(str_of(&out, tags::PATIENT_ID).as_deref(), Some("ANONYMOUS"));
    assert_eq!(str_of(&out, tags::PATIENT_BIRTH_DATE).as_deref(), Some(""));
    assert!(out.get(Tag(0x0009, 0x0010)).is_none() && out.get(Tag(0x0009, 0x1001)).is_none(), "private elements removed");
    assert!(out.get(Tag(0x5002, 0x3000)).is_none());
    assert_eq!(str_of(&out, tags::STUDY_INSTANCE_UID), Some(p.uid("1.2.3")));
    assert_eq!(str_of(&out, tags::SOP_CLASS_UID).as_deref(), Some("1.2.840.10008.5.1.4.1.1.2"), "SOP Class is not identifying");
    assert_eq!(str_of(&out, tags::MODALITY).as_deref(), Some("CT"));
    assert_eq!(str_of(&out, tags::WINDOW_CENTER).as_deref(), Some("40"));
    assert_eq!(str_of(&out, tags::BURNED_IN_ANNOTATION).as_deref(), Some("YES"));
    assert_eq!(str_of(&out, tags::PATIENT_IDENTITY_REMOVED).as_deref(), Some("YES"));
    let method = out.get(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE).unwrap().items().unwrap();
    assert_eq!(str_of(&method[0], tags::CODE_VALUE).as_deref(), Some("113100"));
    // Inside the sequence: the UID is replaced consistently, the nested name emptied.
    let item = &out.get(tags::REFERENCED_IMAGE_SEQUENCE).unwrap().items().unwrap()[0];
    assert_eq!(str_of(item, tags::REFERENCED_SOP_INSTANCE_UID), Some(p.uid("1.2.3.4.5")));
    assert_eq!(str_of(item, tags::PATIENT_NAME).as_deref(), Some(""));
}

#[test]
fn pseudonyms_are_stable_keyed_and_valid_uids() {
    let (a, b) = (pseudonyms(), Pseudonyms::new(vec![8; 32]));
    let uid = a.uid("1.2.840.113619.2.55.3");
    assert_eq!(uid, a.uid("1.2.840.113619.2.55.3"));
    assert_ne!(uid, a.uid("1.2.840.113619.2.55.4"));
    assert_ne!(uid, b.uid("1.2.840.113619.2.55.3"));
    assert!(uid.starts_with("2.25.") && uid.len() <= 64);
    assert!(uid[5..].bytes().all(|c| c.is_ascii_digit()) && !uid[5..].starts_with('0'));
}

#[test]
fn the_header_is_a_readable_dicom_prefix() {
    let meta = FileMetaTableBuilder::new()
        .transfer_syntax(EXPLICIT_VR_LITTLE_ENDIAN)
        .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.2")
        .media_storage_sop_instance_uid("1.2.3.4.5")
        .build()
        .unwrap();
    let ts = TransferSyntaxRegistry.get(EXPLICIT_VR_LITTLE_ENDIAN).unwrap();
    let bytes = header(&meta, sample(), ts, &pseudonyms()).unwrap();
    assert_eq!(&bytes[128..132], b"DICM");
    let text = String::from_utf8_lossy(&bytes);
    for planted in ["Doe^Jane", "MRN-123", "19800101", "General Hospital", "ACC-9", "private secret", "Nested^Name", "1.2.3.4.5"] {
        assert!(!text.contains(planted), "{planted} survived");
    }
    let read = dicom_object::OpenFileOptions::new().from_reader(std::io::Cursor::new(&bytes[128..])).unwrap();
    assert_eq!(read.meta().media_storage_sop_instance_uid(), pseudonyms().uid("1.2.3.4.5"));
    assert_eq!(read.meta().implementation_class_uid(), IMPLEMENTATION_UID);
}
