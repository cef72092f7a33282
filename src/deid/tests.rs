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
    let referenced = InMemDicomObject::from_element_iter([text(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, "1.2.3.4.5"), text(tags::PATIENT_NAME, VR::PN, "Nested^Name")]);
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
    let out = dataset(sample(), &p);
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

/// A SOP Class UID is kept, as it names a kind of object; one holding text is no UID, and
/// leaves as a pseudonym, in the data set and in the file meta group alike.
#[test]
fn a_kept_uid_that_holds_text_leaves_as_a_pseudonym() {
    let meta = FileMetaTableBuilder::new()
        .transfer_syntax(EXPLICIT_VR_LITTLE_ENDIAN)
        .media_storage_sop_class_uid("Doe^Jane^Class")
        .media_storage_sop_instance_uid("1.2.3.4.5")
        .build()
        .unwrap();
    let mut obj = sample();
    obj.put(text(tags::SOP_CLASS_UID, VR::UI, "Doe^Jane^Class"));
    obj.put(text(tags::REFERENCED_SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.2"));
    let ts = TransferSyntaxRegistry.get(EXPLICIT_VR_LITTLE_ENDIAN).unwrap();
    let bytes = header(&meta, obj, ts, &pseudonyms()).unwrap();
    assert!(!String::from_utf8_lossy(&bytes).contains("Doe^Jane"));
    let read = dicom_object::OpenFileOptions::new().from_reader(std::io::Cursor::new(&bytes[128..])).unwrap();
    let class = pseudonyms().uid("Doe^Jane^Class");
    assert_eq!(read.meta().media_storage_sop_class_uid().trim_end_matches('\0'), class);
    assert_eq!(str_of(&read, tags::SOP_CLASS_UID).as_deref(), Some(class.as_str()));
    assert_eq!(str_of(&read, tags::REFERENCED_SOP_CLASS_UID).as_deref(), Some("1.2.840.10008.5.1.4.1.1.2"), "a real UID stays");
}

// Options on top of the Basic Profile.

const DATES: Options = Options { retain_dates_shifted: true, retain_patient_characteristics: false, clean_descriptors: false };
const PATIENT: Options = Options { retain_dates_shifted: false, retain_patient_characteristics: true, clean_descriptors: false };
const DESCRIPTORS: Options = Options { retain_dates_shifted: false, retain_patient_characteristics: false, clean_descriptors: true };

/// The day `days` before the DA `date`, through the shifting code's own arithmetic.
fn back(date: &str, days: i64) -> String {
    dates::shift(VR::DA, &[date.to_owned()], days).unwrap().remove(0)
}

fn codes(obj: &InMemDicomObject) -> Vec<String> {
    let items = obj.get(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE).unwrap().items().unwrap();
    items.iter().map(|item| str_of(item, tags::CODE_VALUE).unwrap()).collect()
}

#[test]
fn the_option_columns_load_with_the_table() {
    // As .ci/gen-basic-profile reports: 165 dates, 13 patient characteristics, 125 descriptors.
    assert_eq!(profile::option_rows(), (165, 13, 125));
    let row = |tag| profile::row(tag).unwrap();
    assert_eq!(row(tags::STUDY_DATE).dates, Some(OptionCode::Clean));
    assert_eq!(row(tags::STUDY_DATE).action, Action::Empty, "the Basic column is untouched");
    assert_eq!(row(tags::PATIENT_SEX).patient, Some(OptionCode::Keep));
    assert_eq!((row(tags::ALLERGIES).patient, row(tags::ALLERGIES).descriptors), (Some(OptionCode::Clean), Some(OptionCode::Clean)));
    assert_eq!(row(tags::STUDY_DESCRIPTION).descriptors, Some(OptionCode::Clean));
    assert_eq!(row(tags::PATIENT_NAME), profile::Row { action: Action::Empty, dates: None, patient: None, descriptors: None });
}

#[test]
fn date_arithmetic_crosses_months_leap_days_and_years() {
    assert_eq!(back("20260111", 10), "20260101");
    assert_eq!(back("20240301", 1), "20240229");
    assert_eq!(back("20230301", 1), "20230228");
    assert_eq!(back("20000101", 3650), "19900103");
    assert_eq!(back("20260101", 0), "20260101");
    for bad in ["2026-01-01", "20261301", "20260230", "2026010", "202601011", "abcdefgh", "20260101-20260201"] {
        assert_eq!(dates::shift(VR::DA, &[bad.to_owned()], 5), None, "{bad}");
    }
}

#[test]
fn the_date_offset_is_keyed_per_patient_and_within_ten_years() {
    let (p, other_key) = (pseudonyms(), Pseudonyms::new(vec![8; 32]));
    let offsets: Vec<i64> = (0..500).map(|n| p.date_shift_days(&format!("MRN-{n}"))).collect();
    assert!(offsets.iter().all(|d| (1..=3650).contains(d)));
    assert!(offsets.iter().collect::<std::collections::HashSet<_>>().len() > 400, "offsets spread out");
    assert_eq!(p.date_shift_days("MRN-123"), p.date_shift_days("MRN-123"));
    assert_ne!(p.date_shift_days("MRN-123"), other_key.date_shift_days("MRN-123"));
}

#[test]
fn dates_shift_by_one_offset_per_patient_keeping_intervals() {
    let p = pseudonyms();
    let study = |id: &str, date: &str| {
        let mut obj = sample();
        obj.put(text(tags::PATIENT_ID, VR::LO, id));
        obj.put(text(tags::STUDY_DATE, VR::DA, date));
        dataset_with(obj, &p, &DATES)
    };
    let days = p.date_shift_days("MRN-123");
    let (first, second) = (study("MRN-123", "20260101"), study("MRN-123", "20260111"));
    assert_eq!(str_of(&first, tags::STUDY_DATE), Some(back("20260101", days)));
    assert_eq!(str_of(&second, tags::STUDY_DATE), Some(back("20260111", days)));
    // Ten days apart before, ten days apart after.
    assert_eq!(back(&str_of(&second, tags::STUDY_DATE).unwrap(), 10), str_of(&first, tags::STUDY_DATE).unwrap());
    assert_ne!(str_of(&first, tags::STUDY_DATE).as_deref(), Some("20260101"));
    // Content Date moves with it; the birth date is not a date this option keeps.
    assert_eq!(str_of(&first, tags::CONTENT_DATE), Some(back("20260101", days)));
    assert_eq!(str_of(&first, tags::PATIENT_BIRTH_DATE).as_deref(), Some(""));
    // Another patient, another offset.
    let other = study("MRN-999", "20260101");
    assert_ne!(p.date_shift_days("MRN-999"), days);
    assert_eq!(str_of(&other, tags::STUDY_DATE), Some(back("20260101", p.date_shift_days("MRN-999"))));
    // Recorded: the temporal information was modified, the identity still removed.
    assert_eq!(str_of(&first, tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED).as_deref(), Some("MODIFIED"));
    assert_eq!(str_of(&first, tags::PATIENT_IDENTITY_REMOVED).as_deref(), Some("YES"));
    assert_eq!(codes(&first), ["113100", "113107"]);
}

#[test]
fn without_a_patient_id_the_offset_follows_name_and_birth_date() {
    let p = pseudonyms();
    let shifted = |name: &str| {
        let mut obj = sample();
        obj.remove_element(tags::PATIENT_ID);
        obj.put(text(tags::PATIENT_NAME, VR::PN, name));
        obj.put(text(tags::STUDY_DATE, VR::DA, "20260101"));
        str_of(&dataset_with(obj, &p, &DATES), tags::STUDY_DATE).unwrap()
    };
    assert_eq!(shifted("Doe^Jane"), shifted("DOE^JANE "));
    assert_ne!(shifted("Doe^Jane"), shifted("Roe^Richard"));
    assert_eq!(shifted("Doe^Jane"), back("20260101", p.date_shift_days("\\DOE^JANE\\19800101")));
    assert_eq!(patient_key(&InMemDicomObject::new_empty()), "\\unknown");
}

#[test]
fn a_datetime_keeps_its_time_and_offset_and_times_stay() {
    let p = pseudonyms();
    let mut obj = sample();
    obj.put(text(tags::ACQUISITION_DATE_TIME, VR::DT, "20260111123456.789+0100"));
    obj.put(text(tags::STUDY_TIME, VR::TM, "101500.25"));
    obj.put(text(tags::CONTEXT_GROUP_VERSION, VR::DT, "202601"));
    let out = dataset_with(obj, &p, &DATES);
    let days = p.date_shift_days("MRN-123");
    assert_eq!(str_of(&out, tags::ACQUISITION_DATE_TIME), Some(format!("{}123456.789+0100", back("20260111", days))));
    assert_eq!(str_of(&out, tags::STUDY_TIME).as_deref(), Some("101500.25"), "a whole-day shift leaves the time of day");
    // A date to the month is moved from its first day and written back to the month.
    assert_eq!(str_of(&out, tags::CONTEXT_GROUP_VERSION), Some(back("20260101", days)[..6].to_owned()));
    // Without the option, the Basic Profile's actions.
    let mut obj = sample();
    obj.put(text(tags::ACQUISITION_DATE_TIME, VR::DT, "20260111123456"));
    let basic = dataset(obj, &p);
    assert_eq!(str_of(&basic, tags::ACQUISITION_DATE_TIME).as_deref(), Some(""));
    assert_eq!(str_of(&basic, tags::CONTENT_DATE).as_deref(), Some("19000101"));
    assert!(basic.get(tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED).is_none());
}

#[test]
fn dates_in_nested_sequences_shift_by_the_same_offset() {
    let p = pseudonyms();
    let inner = InMemDicomObject::from_element_iter([text(tags::SCHEDULED_PROCEDURE_STEP_START_DATE, VR::DA, "20251231")]);
    let item = InMemDicomObject::from_element_iter([
        text(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, "1.2.3.4.5"),
        text(tags::CONTENT_DATE, VR::DA, "20260105"),
        DataElement::new(tags::REFERENCED_IMAGE_SEQUENCE, VR::SQ, DataSetSequence::new(vec![inner], Length::UNDEFINED)),
    ]);
    let mut obj = sample();
    obj.put(DataElement::new(tags::REFERENCED_IMAGE_SEQUENCE, VR::SQ, DataSetSequence::new(vec![item], Length::UNDEFINED)));
    let out = dataset_with(obj, &p, &DATES);
    let days = p.date_shift_days("MRN-123");
    let item = &out.get(tags::REFERENCED_IMAGE_SEQUENCE).unwrap().items().unwrap()[0];
    assert_eq!(str_of(item, tags::CONTENT_DATE), Some(back("20260105", days)));
    let inner = &item.get(tags::REFERENCED_IMAGE_SEQUENCE).unwrap().items().unwrap()[0];
    assert_eq!(str_of(inner, tags::SCHEDULED_PROCEDURE_STEP_START_DATE), Some(back("20251231", days)));
}

#[test]
fn malformed_dates_are_emptied_never_kept() {
    let p = pseudonyms();
    let mut obj = sample();
    obj.put(text(tags::STUDY_DATE, VR::DA, "2026-01-01"));
    obj.put(text(tags::ACQUISITION_DATE, VR::DA, "Doe^Jane"));
    obj.put(text(tags::ACQUISITION_DATE_TIME, VR::DT, "20260101xx"));
    obj.put(text(tags::STUDY_TIME, VR::TM, "10:15"));
    // Multi-valued, one of them bad: the whole element goes.
    obj.put(DataElement::new(tags::CONTENT_DATE, VR::DA, PrimitiveValue::Strs(["20260101".to_owned(), "20261399".to_owned()].into())));
    let out = dataset_with(obj, &p, &DATES);
    for tag in [tags::STUDY_DATE, tags::ACQUISITION_DATE, tags::ACQUISITION_DATE_TIME, tags::STUDY_TIME, tags::CONTENT_DATE] {
        assert_eq!(str_of(&out, tag).as_deref(), Some(""), "{tag}");
    }
    // Multi-valued and well formed: each value moves.
    let mut obj = sample();
    obj.put(DataElement::new(tags::CONTENT_DATE, VR::DA, PrimitiveValue::Strs(["20260101".to_owned(), "20260201".to_owned()].into())));
    let days = p.date_shift_days("MRN-123");
    let out = dataset_with(obj, &p, &DATES);
    assert_eq!(out.get(tags::CONTENT_DATE).unwrap().to_multi_str().unwrap().to_vec(), [back("20260101", days), back("20260201", days)]);
}

/// `sample()` with patient characteristics, free text about the patient, and a coded sequence.
fn described() -> InMemDicomObject {
    let code = InMemDicomObject::from_element_iter([
        text(tags::CODE_VALUE, VR::SH, "I10"),
        text(tags::CODING_SCHEME_DESIGNATOR, VR::SH, "ICD10"),
        text(tags::CODE_MEANING, VR::LO, "Hypertension"),
        text(tags::PATIENT_NAME, VR::PN, "Nested^Name"),
    ]);
    let mut obj = sample();
    for (tag, vr, value) in [
        (tags::PATIENT_SEX, VR::CS, "F"),
        (tags::PATIENT_AGE, VR::AS, "045Y"),
        (tags::PATIENT_WEIGHT, VR::DS, "70"),
        (tags::ALLERGIES, VR::LO, "Penicillin, per Jane"),
        (tags::PRE_MEDICATION, VR::LO, "Aspirin 100mg"),
        (tags::STUDY_DESCRIPTION, VR::LO, "CT Head for Jane DOE MRN-123 born 01/01/1980 call 555-1234, General ward"),
        (tags::IMAGE_COMMENTS, VR::LT, "Birthday scan: January 1st; see ACC-9"),
        (tags::SERIES_DESCRIPTION, VR::LO, "AXIAL 5mm"),
        (tags::OPERATORS_NAME, VR::PN, "Smith^Operator"),
        (tags::PROTOCOL_NAME, VR::LO, "Head routine by Smith"),
    ] {
        obj.put(text(tag, vr, value));
    }
    obj.put(DataElement::new(tags::ADMITTING_DIAGNOSES_CODE_SEQUENCE, VR::SQ, DataSetSequence::new(vec![code], Length::UNDEFINED)));
    obj
}

#[test]
fn patient_characteristics_stay_only_with_their_option() {
    let p = pseudonyms();
    let basic = dataset(described(), &p);
    assert_eq!(str_of(&basic, tags::PATIENT_SEX).as_deref(), Some(""));
    for tag in [tags::PATIENT_AGE, tags::PATIENT_WEIGHT, tags::ALLERGIES, tags::PRE_MEDICATION] {
        assert!(basic.get(tag).is_none(), "{tag} removed by the Basic Profile");
    }
    let kept = dataset_with(described(), &p, &PATIENT);
    assert_eq!(str_of(&kept, tags::PATIENT_SEX).as_deref(), Some("F"));
    assert_eq!(str_of(&kept, tags::PATIENT_AGE).as_deref(), Some("045Y"));
    assert_eq!(str_of(&kept, tags::PATIENT_WEIGHT).as_deref(), Some("70"));
    // C: kept, cleaned.
    assert_eq!(str_of(&kept, tags::ALLERGIES).as_deref(), Some("Penicillin, per *"));
    assert_eq!(str_of(&kept, tags::PRE_MEDICATION).as_deref(), Some("Aspirin 100mg"));
    // Descriptors are another option's.
    assert!(kept.get(tags::STUDY_DESCRIPTION).is_none());
    assert_eq!(str_of(&kept, tags::PATIENT_NAME).as_deref(), Some(""));
    assert_eq!(codes(&kept), ["113100", "113108"]);
}

#[test]
fn descriptors_are_cleaned_of_what_identifies_and_kept_otherwise() {
    let p = pseudonyms();
    let out = dataset_with(described(), &p, &DESCRIPTORS);
    // The name (any case), the ID's words, a numeric birth date, a phone number and the
    // institution's words go; the rest stays.
    assert_eq!(str_of(&out, tags::STUDY_DESCRIPTION).as_deref(), Some("CT Head for * * *-* born * call *, * ward"));
    // The birthday spelled with its month's name, and the accession number's word.
    assert_eq!(str_of(&out, tags::IMAGE_COMMENTS).as_deref(), Some("Birthday scan: * *; see *-9"));
    assert_eq!(str_of(&out, tags::SERIES_DESCRIPTION).as_deref(), Some("AXIAL 5mm"));
    // The operator's name, though the Basic Profile removes it, is still a name.
    assert_eq!(str_of(&out, tags::PROTOCOL_NAME).as_deref(), Some("Head routine by *"));
    // Allergies are a descriptor too; Pre-Medication is only a patient characteristic.
    assert_eq!(str_of(&out, tags::ALLERGIES).as_deref(), Some("Penicillin, per *"));
    assert!(out.get(tags::PRE_MEDICATION).is_none());
    // A coded sequence stays, its items under the same rules: codes kept, the name emptied.
    let item = &out.get(tags::ADMITTING_DIAGNOSES_CODE_SEQUENCE).unwrap().items().unwrap()[0];
    assert_eq!(str_of(item, tags::CODE_MEANING).as_deref(), Some("Hypertension"));
    assert_eq!(str_of(item, tags::PATIENT_NAME).as_deref(), Some(""));
    assert_eq!(codes(&out), ["113100", "113105"]);
    // Without the option, all of it goes.
    let basic = dataset(described(), &p);
    for tag in [tags::STUDY_DESCRIPTION, tags::IMAGE_COMMENTS, tags::SERIES_DESCRIPTION, tags::ADMITTING_DIAGNOSES_CODE_SEQUENCE] {
        assert!(basic.get(tag).is_none(), "{tag}");
    }
}

#[test]
fn every_option_is_recorded_and_the_default_is_the_basic_profile() {
    let p = pseudonyms();
    let all = Options { retain_dates_shifted: true, retain_patient_characteristics: true, clean_descriptors: true };
    let out = dataset_with(described(), &p, &all);
    assert_eq!(codes(&out), ["113100", "113107", "113108", "113105"]);
    let methods = out.get(tags::DEIDENTIFICATION_METHOD).unwrap().to_multi_str().unwrap().to_vec();
    assert_eq!(methods.len(), 4);
    assert!(methods.iter().all(|m| m.len() <= 64), "LO holds 64 characters a value");
    assert_eq!(str_of(&out, tags::PATIENT_IDENTITY_REMOVED).as_deref(), Some("YES"));
    // The default is the Basic Profile alone, whichever entry point is used.
    assert_eq!(Options::default(), Options { retain_dates_shifted: false, retain_patient_characteristics: false, clean_descriptors: false });
    let basic = dataset(described(), &p);
    // Compared as printed: dicom-rs holds two undefined lengths unequal, as NaN is to NaN.
    assert_eq!(format!("{basic:?}"), format!("{:?}", dataset_with(described(), &p, &Options::default())));
    assert_eq!(codes(&basic), ["113100"]);
    assert_eq!(str_of(&basic, tags::DEIDENTIFICATION_METHOD).as_deref(), Some("framegate: PS3.15 E.1-1 Basic Profile"));
}

#[test]
fn the_header_with_options_is_readable_and_carries_no_planted_value() {
    let meta = FileMetaTableBuilder::new()
        .transfer_syntax(EXPLICIT_VR_LITTLE_ENDIAN)
        .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.2")
        .media_storage_sop_instance_uid("1.2.3.4.5")
        .build()
        .unwrap();
    let ts = TransferSyntaxRegistry.get(EXPLICIT_VR_LITTLE_ENDIAN).unwrap();
    let all = Options { retain_dates_shifted: true, retain_patient_characteristics: true, clean_descriptors: true };
    let bytes = header_with(&meta, described(), ts, &pseudonyms(), &all).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    for planted in ["Doe^Jane", "Jane", "MRN-123", "19800101", "01/01/1980", "General Hospital", "ACC-9", "Nested^Name", "Smith", "20260101"] {
        assert!(!text.contains(planted), "{planted} survived");
    }
    assert!(text.contains("Hypertension") && text.contains("AXIAL 5mm"));
    let read = dicom_object::OpenFileOptions::new().from_reader(std::io::Cursor::new(&bytes[128..])).unwrap();
    assert_eq!(read.element(tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED).unwrap().to_str().unwrap().trim(), "MODIFIED");
    assert_eq!(header(&meta, sample(), ts, &pseudonyms()).unwrap(), header_with(&meta, sample(), ts, &pseudonyms(), &Options::default()).unwrap());
}

/// A report's content and an encapsulated document leave nothing under the Basic Profile: the
/// Content Sequence (text, names, codes) is replaced by an empty one and the Encapsulated
/// Document emptied (Table E.1-1: D of a sequence and of OB); the UIDs a report references
/// leave as pseudonyms.
#[test]
fn report_content_and_encapsulated_documents_do_not_leave() {
    let item = InMemDicomObject::from_element_iter([
        text(tags::VALUE_TYPE, VR::CS, "TEXT"),
        text(tags::TEXT_VALUE, VR::UT, "Doe^Jane has a finding"),
        text(tags::PERSON_NAME, VR::PN, "Observer^Planted"),
    ]);
    let reference = InMemDicomObject::from_element_iter([text(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, "1.2.3.4.5.6")]);
    let obj = InMemDicomObject::from_element_iter([
        text(tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.104.1"),
        text(tags::MIME_TYPE_OF_ENCAPSULATED_DOCUMENT, VR::LO, "application/pdf"),
        DataElement::new(tags::ENCAPSULATED_DOCUMENT, VR::OB, PrimitiveValue::from(b"%PDF Doe^Jane MRN-123".to_vec())),
        DataElement::new(tags::CONTENT_SEQUENCE, VR::SQ, DataSetSequence::new(vec![item], Length::UNDEFINED)),
        DataElement::new(tags::REFERENCED_SOP_SEQUENCE, VR::SQ, DataSetSequence::new(vec![reference], Length::UNDEFINED)),
    ]);
    let out = dataset(obj, &pseudonyms());
    assert!(out.get(tags::ENCAPSULATED_DOCUMENT).is_none_or(|e| e.to_bytes().map_or(true, |b| b.is_empty())), "the document is emptied");
    let content = out.get(tags::CONTENT_SEQUENCE).expect("an empty Content Sequence");
    assert_eq!(content.items().map(<[_]>::len), Some(0));
    let referenced = out.get(tags::REFERENCED_SOP_SEQUENCE).unwrap().items().unwrap()[0].get(tags::REFERENCED_SOP_INSTANCE_UID).unwrap().to_str().unwrap().into_owned();
    assert!(referenced.starts_with("2.25.") && referenced != "1.2.3.4.5.6", "{referenced}");
}
