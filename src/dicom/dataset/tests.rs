use dicom_core::header::Header;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;

use super::read;

const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";

/// One element as Implicit VR Little Endian: what a UN value holds.
fn implicit(element: DataElement<InMemDicomObject>) -> Vec<u8> {
    let obj = InMemDicomObject::from_element_iter([element]);
    let mut out = Vec::new();
    let ts = TransferSyntaxRegistry.get("1.2.840.10008.1.2").unwrap();
    obj.write_dataset_with_ts(&mut out, ts).unwrap();
    out
}

/// The element re-encoded as explicit UN of defined length (or undefined, for a sequence).
fn as_un(element: DataElement<InMemDicomObject>, big: bool, undefined: bool) -> Vec<u8> {
    let tag = element.tag();
    let value = implicit(element)[8..].to_vec();
    let mut out = Vec::new();
    let (g, e) = if big { (tag.0.to_be_bytes(), tag.1.to_be_bytes()) } else { (tag.0.to_le_bytes(), tag.1.to_le_bytes()) };
    out.extend_from_slice(&g);
    out.extend_from_slice(&e);
    out.extend_from_slice(b"UN\0\0");
    if undefined {
        // dicom-rs wrote the sequence with undefined length: its delimiter is already there.
        out.extend_from_slice(&[0xFF; 4]);
        out.extend_from_slice(&value);
    } else {
        // A sequence written with undefined length ends in a delimiter a defined length drops.
        let value = if value.ends_with(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]) { &value[..value.len() - 8] } else { &value[..] };
        let len = value.len() as u32;
        out.extend_from_slice(&if big { len.to_be_bytes() } else { len.to_le_bytes() });
        out.extend_from_slice(value);
    }
    out
}

fn text(tag: Tag, vr: VR, value: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, PrimitiveValue::from(value))
}

fn sequence(tag: Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::SQ, dicom_core::value::DataSetSequence::new(items, dicom_core::Length::UNDEFINED))
}

fn ts(uid: &str) -> &'static dicom_encoding::TransferSyntax {
    TransferSyntaxRegistry.get(uid).unwrap()
}

#[test]
fn un_values_are_read_with_their_dictionary_vr() {
    for (uid, big) in [(EXPLICIT_LE, false), (EXPLICIT_BE, true)] {
        let mut bytes = as_un(text(tags::MODALITY, VR::CS, "CT"), big, false);
        bytes.extend(as_un(text(tags::PIXEL_SPACING, VR::DS, "0.859375\\0.859375"), big, false));
        bytes.extend(as_un(text(tags::RESCALE_INTERCEPT, VR::DS, "0 "), big, false));
        bytes.extend(as_un(text(tags::STUDY_INSTANCE_UID, VR::UI, "1.2.3.4"), big, false));
        let obj = read(&bytes, ts(uid)).unwrap();
        let modality = obj.get(tags::MODALITY).unwrap();
        assert_eq!((modality.vr(), modality.to_str().unwrap().trim()), (VR::CS, "CT"), "{uid}");
        assert_eq!(obj.get(tags::PIXEL_SPACING).unwrap().to_multi_float64().unwrap(), vec![0.859375, 0.859375]);
        assert_eq!(obj.get(tags::RESCALE_INTERCEPT).unwrap().to_float64().unwrap(), 0.0);
        assert_eq!(obj.get(tags::STUDY_INSTANCE_UID).unwrap().vr(), VR::UI);
    }
}

#[test]
fn un_sequences_of_both_lengths_are_read_as_implicit_content() {
    let item = InMemDicomObject::from_element_iter([
        text(tags::PATIENT_NAME, VR::PN, "Planted^Name"),
        text(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, "1.2.3.4.5"),
        DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(512u16)),
    ]);
    for (uid, big) in [(EXPLICIT_LE, false), (EXPLICIT_BE, true)] {
        for undefined in [false, true] {
            let mut bytes = as_un(sequence(tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE, vec![item.clone()]), big, undefined);
            bytes.extend(as_un(text(tags::MODALITY, VR::CS, "PT"), big, false));
            let obj = read(&bytes, ts(uid)).unwrap();
            let seq = obj.get(tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE).unwrap();
            assert_eq!(seq.vr(), VR::SQ, "{uid} undefined={undefined}");
            let inner = &seq.items().unwrap()[0];
            assert_eq!(inner.get(tags::PATIENT_NAME).unwrap().vr(), VR::PN);
            assert_eq!(inner.get(tags::REFERENCED_SOP_INSTANCE_UID).unwrap().to_str().unwrap().trim_end_matches('\0'), "1.2.3.4.5");
            // Numbers inside implicit content are little endian, turned for a big-endian set.
            assert_eq!(inner.get(tags::ROWS).unwrap().to_int::<u16>().unwrap(), 512);
            assert_eq!(obj.get(tags::MODALITY).unwrap().to_str().unwrap().trim(), "PT");
        }
    }
}

#[test]
fn data_sets_without_un_are_read_as_they_are() {
    let obj = InMemDicomObject::from_element_iter([text(tags::MODALITY, VR::CS, "MR")]);
    let mut bytes = Vec::new();
    obj.write_dataset_with_ts(&mut bytes, ts(EXPLICIT_LE)).unwrap();
    assert!(matches!(super::normalize(&bytes, ts(EXPLICIT_LE)), std::borrow::Cow::Borrowed(_)));
}

#[test]
fn un_values_that_cannot_be_their_vr_are_left_out() {
    // A 2-byte value for an FL (4 bytes) and an unknown public tag.
    let mut bytes = vec![0x28, 0x00, 0x53, 0x10, b'U', b'N', 0, 0, 2, 0, 0, 0, b'1', b' '];
    bytes.extend([0x18, 0x00, 0x87, 0x90, b'U', b'N', 0, 0, 2, 0, 0, 0, 1, 2]);
    bytes.extend([0x08, 0x00, 0xFE, 0xEE, b'U', b'N', 0, 0, 2, 0, 0, 0, 1, 2]);
    let obj = read(&bytes, ts(EXPLICIT_LE)).unwrap();
    // Rescale Slope is a DS again; a Diffusion b-value (FD) of 2 bytes is dropped.
    assert_eq!(obj.get(tags::RESCALE_SLOPE).map(|e| e.vr()), Some(VR::DS));
    assert!(obj.get(tags::DIFFUSION_B_VALUE).is_none());
    assert_eq!(obj.get(Tag(0x0008, 0xEEFE)).map(|e| e.vr()), Some(VR::UN));
}

#[test]
fn hostile_un_structures_fall_back_without_panic() {
    // An undefined-length UN sequence that never ends, and one nested past the limit.
    let open = [0x08, 0x00, 0x15, 0x11, b'U', b'N', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF];
    let _ = read(&open, ts(EXPLICIT_LE));
    let mut deep = Vec::new();
    for _ in 0..200 {
        deep.extend(open);
    }
    let _ = read(&deep, ts(EXPLICIT_LE));
}
