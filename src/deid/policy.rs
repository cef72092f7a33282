//! The one answer to every privacy question a route asks: what a header shows, whether a whole
//! object leaves and in which form, whether stored frames and images are cleaned of their text,
//! whether bulk data leaves, and the fingerprint that every validator of what it shapes names.
//! The raw route, the frame routes and DICOMweb each ask it; none decides for itself.

use dicom_core::value::Value as DicomValue;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntax;
use dicom_object::{FileMetaTable, InMemDicomObject};

use super::{DeidError, Pseudonyms, RULES_VERSION};

/// What may leave framegate of a DICOM object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RawDicom {
    /// The object with its identifying attributes taken out, streamed (the default).
    #[default]
    Deidentify,
    /// The object as stored, patient data included: for trusted internal routes only.
    Original,
    /// No raw DICOM at all (403).
    Deny,
}

/// Whose pseudonyms a de-identified answer carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PseudonymScope {
    /// One UID has one pseudonym for every recipient, on every server that shares the secret:
    /// studies shared twice can be joined, and ingest and serve agree (the default).
    #[default]
    Server,
    /// Each token's scope (the prefix it opens) has its own pseudonyms: two recipients of
    /// different links cannot join their data sets by UID, while one link's answers agree.
    Token,
}

/// How a whole object (the raw route, a WADO-RS instance) leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objects {
    /// As stored.
    AsStored,
    /// With a de-identified header, and frames cleaned of their text.
    Deidentified,
    /// Not at all.
    Refused,
}

/// Attributes a client sees under `--raw-dicom deny`: what info.json and stack.json already
/// show (the pixel module, rescale, windows, geometry), the SOP Class, and the UIDs, which are
/// pseudonyms there. None names, dates or describes a person.
const DENY_ALLOWED: &[Tag] = &[
    tags::IMAGE_TYPE,
    tags::SOP_CLASS_UID,
    tags::SOP_INSTANCE_UID,
    tags::MODALITY,
    tags::STUDY_INSTANCE_UID,
    tags::SERIES_INSTANCE_UID,
    tags::FRAME_OF_REFERENCE_UID,
    tags::SERIES_NUMBER,
    tags::INSTANCE_NUMBER,
    tags::SLICE_THICKNESS,
    tags::SPACING_BETWEEN_SLICES,
    tags::FRAME_TIME,
    tags::FRAME_INCREMENT_POINTER,
    tags::IMAGE_POSITION_PATIENT,
    tags::IMAGE_ORIENTATION_PATIENT,
    tags::SLICE_LOCATION,
    tags::SAMPLES_PER_PIXEL,
    tags::PHOTOMETRIC_INTERPRETATION,
    tags::PLANAR_CONFIGURATION,
    tags::NUMBER_OF_FRAMES,
    tags::ROWS,
    tags::COLUMNS,
    tags::PIXEL_SPACING,
    tags::PIXEL_ASPECT_RATIO,
    tags::BITS_ALLOCATED,
    tags::BITS_STORED,
    tags::HIGH_BIT,
    tags::PIXEL_REPRESENTATION,
    tags::WINDOW_CENTER,
    tags::WINDOW_WIDTH,
    tags::RESCALE_INTERCEPT,
    tags::RESCALE_SLOPE,
    tags::RESCALE_TYPE,
    tags::VOILUT_FUNCTION,
    tags::BURNED_IN_ANNOTATION,
    tags::LOSSY_IMAGE_COMPRESSION,
];

/// UIDs among [`DENY_ALLOWED`] that are replaced by pseudonyms.
const DENY_PSEUDONYMS: &[Tag] = &[tags::SOP_INSTANCE_UID, tags::STUDY_INSTANCE_UID, tags::SERIES_INSTANCE_UID, tags::FRAME_OF_REFERENCE_UID];

/// A server's privacy policy, as one request sees it (its pseudonyms scoped as configured).
#[derive(Debug, Clone)]
pub struct Policy {
    mode: RawDicom,
    scope: PseudonymScope,
    pseudonyms: Pseudonyms,
}

impl Policy {
    /// The policy `mode` with pseudonyms under `pseudonyms`, scoped by `scope`.
    pub fn new(mode: RawDicom, scope: PseudonymScope, pseudonyms: Pseudonyms) -> Self {
        Policy { mode, scope, pseudonyms }
    }

    /// The policy for a request whose token opens `token_scope`: under
    /// [`PseudonymScope::Token`], pseudonyms of its own.
    pub fn for_token(&self, token_scope: &str) -> Policy {
        match self.scope {
            PseudonymScope::Server => self.clone(),
            PseudonymScope::Token => Policy { pseudonyms: self.pseudonyms.scoped(token_scope), ..self.clone() },
        }
    }

    /// The `--raw-dicom` mode.
    pub fn mode(&self) -> RawDicom {
        self.mode
    }

    /// The pseudonyms answers carry (and uploads store).
    pub fn pseudonyms(&self) -> &Pseudonyms {
        &self.pseudonyms
    }

    /// How a whole DICOM object leaves.
    pub fn objects(&self) -> Objects {
        match self.mode {
            RawDicom::Original => Objects::AsStored,
            RawDicom::Deidentify => Objects::Deidentified,
            RawDicom::Deny => Objects::Refused,
        }
    }

    /// Whether stored frames of transfer syntax `ts` leave with the text of their streams
    /// blanked (comments, EXIF, what follows the end marker), and JPEG and PNG images without
    /// their metadata: under every policy but `original`.
    pub fn cleans_frames(&self, ts: &str) -> bool {
        self.mode != RawDicom::Original && crate::dicom::carries_metadata(ts)
    }

    /// Whether JPEG and PNG images of a stack leave without their metadata on the raw route;
    /// under `deny` they are the frames of the stack and leave cleaned too.
    pub fn cleans_images(&self) -> bool {
        self.mode != RawDicom::Original
    }

    /// Whether bulk data (Pixel Data by tag path, long binary values) leaves.
    pub fn serves_bulk(&self) -> bool {
        self.mode != RawDicom::Deny
    }

    /// Whether objects without Pixel Data (reports, key object selections, presentation states)
    /// are served at all: under `deny` a client gets frames and an allow-listed header, and
    /// such an object has no frames, while its content (a report's text, the names in it) is
    /// what `deny` keeps in.
    pub fn serves_objects_without_pixels(&self) -> bool {
        self.mode != RawDicom::Deny
    }

    /// The data set a client may see of `obj` (DICOMweb metadata and searches): as stored,
    /// de-identified with the raw route's profile, or only the allow-listed attributes.
    pub fn shown(&self, obj: InMemDicomObject) -> InMemDicomObject {
        match self.mode {
            RawDicom::Original => obj,
            RawDicom::Deidentify => super::dataset(obj, &self.pseudonyms),
            RawDicom::Deny => InMemDicomObject::from_element_iter(DENY_ALLOWED.iter().filter_map(|tag| self.allowed(&obj, *tag))),
        }
    }

    /// Series Description `text` as this policy lets it out, for the viewer's manifest: the
    /// rule that decides for a whole data set decides here (as stored under `original`; the
    /// de-identification profile's rule under `deidentify`, which removes it; the allow-list
    /// under `deny`, which has no free text).
    pub fn series_description(&self, text: &str) -> Option<String> {
        let obj = InMemDicomObject::from_element_iter([DataElement::new(tags::SERIES_DESCRIPTION, VR::LO, PrimitiveValue::from(text))]);
        let shown = self.shown(obj);
        let kept = shown.get(tags::SERIES_DESCRIPTION)?.to_str().ok()?;
        let kept = kept.trim_matches(['\0', ' ']);
        (!kept.is_empty()).then(|| kept.to_owned())
    }

    /// One allow-listed attribute of `obj` as `deny` shows it.
    fn allowed(&self, obj: &InMemDicomObject, tag: Tag) -> Option<DataElement<InMemDicomObject>> {
        let element = obj.get(tag)?;
        // Every allowed attribute is a plain value: one written as a sequence (or anything
        // else) could hold a name, and is left out rather than looked into.
        if !matches!(element.value(), DicomValue::Primitive(_)) || element.vr() == VR::SQ {
            return None;
        }
        let shown = match (DENY_PSEUDONYMS.contains(&tag), element.vr()) {
            (true, _) => self.pseudonyms.uid_of(&element.to_str().ok()?)?,
            (false, VR::UI) => self.pseudonyms.shown_uid(&element.to_str().ok()?)?,
            _ => return Some(element.clone()),
        };
        Some(DataElement::new(tag, VR::UI, PrimitiveValue::from(shown)))
    }

    /// The de-identified preamble, file meta group and data set up to Pixel Data, for an
    /// object that leaves [`Objects::Deidentified`].
    pub fn header(&self, meta: &FileMetaTable, obj: InMemDicomObject, ts: &TransferSyntax) -> Result<Vec<u8>, DeidError> {
        super::header(meta, obj, ts, &self.pseudonyms)
    }

    /// Names everything that changes what this policy lets out: the mode, the pseudonyms (their
    /// secret and scope) and the rules' version. Every validator of a representation it shapes
    /// carries it, so no cache keeps what another policy made.
    pub fn fingerprint(&self) -> String {
        format!("{:?}|{}|{RULES_VERSION}", self.mode, self.pseudonyms.fingerprint())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_series_description_leaves_only_where_the_rule_keeps_it() {
        let policy = |mode| Policy::new(mode, PseudonymScope::Server, Pseudonyms::new(vec![7; 32]));
        assert_eq!(policy(RawDicom::Original).series_description("AXIAL 5mm "), Some("AXIAL 5mm".into()));
        assert_eq!(policy(RawDicom::Deidentify).series_description("AXIAL 5mm"), None);
        assert_eq!(policy(RawDicom::Deny).series_description("AXIAL 5mm"), None);
        assert_eq!(policy(RawDicom::Original).series_description(""), None);
    }

    #[test]
    fn deny_shows_the_allow_list_with_pseudonyms_and_never_a_sequence() {
        let policy = Policy::new(RawDicom::Deny, PseudonymScope::Server, Pseudonyms::new(vec![7; 32]));
        let item = InMemDicomObject::from_element_iter([DataElement::new(tags::PATIENT_NAME, VR::PN, PrimitiveValue::from("Doe^Jane"))]);
        let obj = InMemDicomObject::from_element_iter([
            DataElement::new(tags::PATIENT_NAME, VR::PN, PrimitiveValue::from("Doe^Jane")),
            DataElement::new(tags::STUDY_INSTANCE_UID, VR::UI, PrimitiveValue::from("1.2.3")),
            DataElement::new(tags::SOP_CLASS_UID, VR::UI, PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.2")),
            DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(4u16)),
            DataElement::new(tags::SLICE_LOCATION, VR::SQ, dicom_core::value::DataSetSequence::new(vec![item], dicom_core::Length::UNDEFINED)),
        ]);
        let shown = policy.shown(obj);
        assert!(shown.get(tags::PATIENT_NAME).is_none() && shown.get(tags::SLICE_LOCATION).is_none());
        assert_eq!(shown.get(tags::STUDY_INSTANCE_UID).unwrap().to_str().unwrap(), policy.pseudonyms().uid("1.2.3"));
        assert_eq!(shown.get(tags::SOP_CLASS_UID).unwrap().to_str().unwrap(), "1.2.840.10008.5.1.4.1.1.2");
        assert_eq!(shown.get(tags::ROWS).unwrap().to_int::<u16>().unwrap(), 4);
    }

    #[test]
    fn token_scoped_pseudonyms_differ_between_scopes_and_name_themselves_in_the_fingerprint() {
        let server = Policy::new(RawDicom::Deidentify, PseudonymScope::Server, Pseudonyms::new(vec![7; 32]));
        assert_eq!(server.for_token("a").pseudonyms().uid("1.2.3"), server.for_token("b").pseudonyms().uid("1.2.3"));
        let token = Policy::new(RawDicom::Deidentify, PseudonymScope::Token, Pseudonyms::new(vec![7; 32]));
        let (a, b) = (token.for_token("a"), token.for_token("b"));
        assert_ne!(a.pseudonyms().uid("1.2.3"), b.pseudonyms().uid("1.2.3"));
        assert_eq!(a.pseudonyms().uid("1.2.3"), token.for_token("a").pseudonyms().uid("1.2.3"));
        assert_ne!(a.fingerprint(), b.fingerprint());
    }
}
