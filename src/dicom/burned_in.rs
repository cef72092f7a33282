//! Whether an object's pixels may show what identifies its patient: the one rule behind
//! ingest's `--burned-in` refusal and the warning that info.json and stack.json give a viewer.
//!
//! The Basic Profile cleans headers, not pixels, and Burned In Annotation is absent from most
//! objects that have text in their pixels, so the attribute alone cannot decide. Values are
//! read as a lenient reader would (padding trimmed, codes in any case, the file meta's SOP
//! Class when the data set has none): a spelling a viewer accepts must not pass this check.

use std::borrow::Cow;

use dicom_dictionary_std::uids;

use super::Geometry;

/// Modalities whose images usually carry text burned into the pixels: ultrasound (and
/// intravascular ultrasound), secondary capture, external-camera and endoscopy photography,
/// and "other", which is what screen grabs and scans are filed under.
const BURNING_MODALITIES: [&str; 6] = ["US", "IVUS", "SC", "XC", "ES", "OT"];

/// SOP Classes whose pixels usually carry text whatever modality they name: ultrasound
/// (PS3.4 B.5, the retired classes included) and Secondary Capture, whose images are
/// screenshots and scans (a CT dose report is one). The retired classes are still found on old
/// archives and CDs, hence the deprecated constants.
#[allow(deprecated)]
const BURNING_CLASSES: [(&str, &str); 10] = [
    (uids::ULTRASOUND_IMAGE_STORAGE, "an Ultrasound image"),
    (uids::ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE, "an Ultrasound image"),
    (uids::ENHANCED_US_VOLUME_STORAGE, "an Ultrasound image"),
    (uids::ULTRASOUND_IMAGE_STORAGE_RETIRED, "an Ultrasound image"),
    (uids::ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE_RETIRED, "an Ultrasound image"),
    (uids::SECONDARY_CAPTURE_IMAGE_STORAGE, "a Secondary Capture (a screenshot or scan)"),
    (uids::MULTI_FRAME_SINGLE_BIT_SECONDARY_CAPTURE_IMAGE_STORAGE, "a Secondary Capture (a screenshot or scan)"),
    (uids::MULTI_FRAME_GRAYSCALE_BYTE_SECONDARY_CAPTURE_IMAGE_STORAGE, "a Secondary Capture (a screenshot or scan)"),
    (uids::MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE, "a Secondary Capture (a screenshot or scan)"),
    (uids::MULTI_FRAME_TRUE_COLOR_SECONDARY_CAPTURE_IMAGE_STORAGE, "a Secondary Capture (a screenshot or scan)"),
];

/// Image Type values that name a picture of a screen or of a label: a screenshot, and a slide
/// scanner's photograph of the slide's label or of the whole slide with its label.
const BURNING_IMAGE_TYPES: [&str; 3] = ["SCREEN SAVE", "LABEL", "OVERVIEW"];

/// Why the pixels of an object may show what identifies its patient, when they may. The words
/// quote nothing but a modality code, which is not patient data.
pub fn burned_in(geometry: &Geometry) -> Option<Cow<'static, str>> {
    let yes = |value: Option<bool>| value == Some(true);
    if yes(geometry.burned_in_annotation) {
        return Some("Burned In Annotation is YES".into());
    }
    if yes(geometry.recognizable_visual_features) {
        return Some("Recognizable Visual Features is YES".into());
    }
    let class = geometry.sop_class.as_deref().map(|uid| uid.trim_matches(['\0', ' ']));
    if let Some((_, what)) = BURNING_CLASSES.iter().find(|(uid, _)| class == Some(*uid)) {
        return Some((*what).into());
    }
    if let Some(value) = geometry.image_type.iter().find_map(|v| BURNING_IMAGE_TYPES.iter().find(|t| v.trim().eq_ignore_ascii_case(t))) {
        return Some(format!("Image Type says {value}").into());
    }
    match geometry.modality.as_deref().map(str::trim) {
        // An object that does not say what it is may be anything, a screenshot included.
        None | Some("") => Some("no Modality: what the pixels show is unknown".into()),
        Some(modality) => BURNING_MODALITIES.iter().find(|m| modality.eq_ignore_ascii_case(m)).map(|m| format!("modality {m} usually burns text in").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(modality: Option<&str>, sop_class: Option<&str>, image_type: &[&str]) -> Geometry {
        Geometry {
            modality: modality.map(str::to_owned),
            sop_class: sop_class.map(str::to_owned),
            image_type: image_type.iter().map(|v| (*v).to_owned()).collect(),
            ..Geometry::default()
        }
    }

    /// Issue 22, attack 4: each of these was stored under `--burned-in refuse`.
    #[test]
    fn every_spelling_of_an_image_with_text_in_its_pixels_is_caught() {
        let ct = "1.2.840.10008.5.1.4.1.1.2";
        let caught = [
            with(Some("us"), Some(ct), &[]),
            with(None, Some(ct), &[]),
            with(Some("OT"), Some(ct), &[]),
            with(Some("IVUS"), Some(ct), &[]),
            with(Some("ES"), Some(ct), &[]),
            with(Some("SM"), Some("1.2.840.10008.5.1.4.1.1.77.1.6"), &["ORIGINAL", "PRIMARY", "LABEL", "NONE"]),
            with(Some("SM"), Some(ct), &["derived", "primary", "label"]),
            with(Some("CT"), Some("1.2.840.10008.5.1.4.1.1.6.1\0"), &[]),
            with(Some("CT"), Some("1.2.840.10008.5.1.4.1.1.3.1"), &[]),
            with(Some("CT"), Some("1.2.840.10008.5.1.4.1.1.6"), &[]),
            with(Some("CT"), Some("1.2.840.10008.5.1.4.1.1.6.2"), &[]),
            with(Some("CT"), Some("1.2.840.10008.5.1.4.1.1.3"), &[]),
            with(Some("CT"), Some("1.2.840.10008.5.1.4.1.1.7.4"), &[]),
            Geometry { burned_in_annotation: Some(true), ..with(Some("CT"), Some(ct), &[]) },
        ];
        for geometry in caught {
            assert!(burned_in(&geometry).is_some(), "{geometry:?}");
        }
        assert_eq!(burned_in(&with(Some("us"), Some(ct), &[])).as_deref(), Some("modality US usually burns text in"));
        // A CT slice that says nothing burned in, and a slide's tissue image, are not flagged.
        assert_eq!(burned_in(&with(Some("CT"), Some(ct), &["ORIGINAL", "PRIMARY", "AXIAL"])), None);
        assert_eq!(burned_in(&with(Some("SM"), Some("1.2.840.10008.5.1.4.1.1.77.1.6"), &["ORIGINAL", "PRIMARY", "VOLUME", "NONE"])), None);
    }
}
