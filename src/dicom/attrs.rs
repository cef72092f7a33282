//! The attributes framegate reads from a header: an allow-list by construction.
//!
//! Nothing here can hold a name, an ID, a date or a UID, so whatever is built from these types
//! (info.json, stack.json, logs) cannot leak them either.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_object::mem::InMemElement;

use super::DicomError;
use crate::render::{Lut, Palette, Presentation, SampleFormat, VoiFunction, Window};

/// How the pixels of each frame are laid out, and how many frames there are.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// The sample layout every frame shares.
    pub format: SampleFormat,
    /// Number of frames in the object; 0 while an unreadable Number of Frames waits for the
    /// layout to count native frames by their length.
    pub frames: u32,
}

// An image is frames of one format: reading `image.rows` means the format's rows.
impl std::ops::Deref for Image {
    type Target = SampleFormat;
    fn deref(&self) -> &SampleFormat {
        &self.format
    }
}

impl std::ops::DerefMut for Image {
    fn deref_mut(&mut self) -> &mut SampleFormat {
        &mut self.format
    }
}

/// A Modality or VOI LUT Sequence item's table.
fn lut(item: &InMemDicomObject, signed_input: bool) -> Option<Lut> {
    let desc: Vec<i64> = get(item, tags::LUT_DESCRIPTOR)?.to_multi_int().ok()?;
    let &[entries, first, bits] = desc.as_slice() else { return None };
    let entries = if entries == 0 { 65536 } else { usize::try_from(entries).ok().filter(|e| *e <= 65536)? };
    // The descriptor's first value is US unless the input is signed (C.11.1.1.1).
    let first = if signed_input && first >= 32768 { first - 65536 } else { first };
    let bits = u16::try_from(bits).ok().filter(|b| (8..=16).contains(b))?;
    let bytes = get(item, tags::LUT_DATA)?.to_bytes().ok()?;
    let words: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    Some(Lut { first: i32::try_from(first).ok()?, bits, data: unpack_entries(words, entries, bits)? })
}

/// LUT entries from their data words: one per word, or two 8-bit entries packed in each.
fn unpack_entries(words: Vec<u16>, entries: usize, bits: u16) -> Option<Vec<u16>> {
    if bits == 8 && words.len() * 2 >= entries && words.len() < entries {
        Some(words.iter().flat_map(|w| [w & 0xff, w >> 8]).take(entries).collect())
    } else {
        (words.len() >= entries && entries > 0).then(|| words[..entries].to_vec())
    }
}

/// Where the image sits and what it shows, for viewers and stacks; no patient data.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Geometry {
    /// Row and column spacing in mm.
    pub pixel_spacing: Option<[f64; 2]>,
    /// Slice thickness in mm.
    pub slice_thickness: Option<f64>,
    /// Image Position (Patient): the first pixel's centre in mm.
    pub image_position: Option<[f64; 3]>,
    /// Image Orientation (Patient): row and column direction cosines.
    pub image_orientation: Option<[f64; 6]>,
    /// Instance Number.
    pub instance_number: Option<i32>,
    /// Frame Time in ms, for cine.
    pub frame_time: Option<f64>,
    /// Modality code, e.g. `CT`.
    pub modality: Option<String>,
    /// Burned In Annotation as the object states it; whether the pixels may show text that
    /// identifies the patient is [`Geometry::burned_in`]'s to say.
    pub burned_in_annotation: Option<bool>,
    /// Recognizable Visual Features: the pixels may show a face.
    pub recognizable_visual_features: Option<bool>,
    /// Image Type's values, e.g. `DERIVED`, `SECONDARY`, `SCREEN SAVE`.
    pub image_type: Vec<String>,
    /// SOP Class UID: what kind of object this is (a Secondary Capture, say).
    pub sop_class: Option<String>,
    /// Series Number: with the folder, what tells series under one prefix apart.
    pub series_number: Option<i32>,
    /// Series Instance UID: tells apart two series that share a folder and a number. Read to
    /// group frames, never shown (stack.json names no UID).
    pub series_uid: Option<String>,
    /// Each frame's plane from the Per-Frame Functional Groups of an enhanced multi-frame
    /// object (PS3.3 C.7.6.16), orientation from the shared groups where a frame has none;
    /// empty for other objects.
    pub frame_planes: Vec<FramePlane>,
    /// What [`Geometry::pixel_spacing`] measures: where it came from Imager Pixel Spacing (a
    /// projection radiograph's, at the detector plane), the patient's anatomy is magnified by
    /// the beam's divergence (PS3.3 10.7.1.1).
    pub pixel_spacing_kind: Option<SpacingKind>,
    /// Row and column spacing in mm of the first ultrasound region calibrated in cm, for
    /// ultrasound images that carry no Pixel Spacing.
    pub region_spacing: Option<[f64; 2]>,
    /// Series Description: free text, which may name a person, so the one field here that
    /// leaves only as `deid::Policy::series_description` lets it.
    pub series_description: Option<String>,
}

/// One frame's place in the patient, from an enhanced object's functional groups.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FramePlane {
    /// Plane Position (Patient): the frame's first pixel's centre in mm.
    pub position: Option<[f64; 3]>,
    /// Plane Orientation (Patient): the frame's row and column direction cosines.
    pub orientation: Option<[f64; 6]>,
}

/// Which plane a pixel spacing is measured in (PS3.3 10.7.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpacingKind {
    /// Pixel Spacing: in the patient (or, for a projection, as the object calibrated it).
    Patient,
    /// Imager Pixel Spacing: at the front face of the detector, not corrected for magnification.
    Detector,
}

impl SpacingKind {
    /// The name info.json gives it.
    pub fn name(self) -> &'static str {
        match self {
            SpacingKind::Patient => "patient",
            SpacingKind::Detector => "detector",
        }
    }
}

/// The first item of functional group `macro_tag` in a per-frame or shared groups item.
fn group_item(groups: &InMemDicomObject, macro_tag: Tag) -> Option<&InMemDicomObject> {
    groups.get(macro_tag)?.items()?.first()
}

/// Each frame's plane (see [`Geometry::frame_planes`]).
fn frame_planes(obj: &InMemDicomObject) -> Vec<FramePlane> {
    let shared = get(obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE).and_then(|e| e.items()).and_then(|items| items.first());
    let shared_position = shared.and_then(|s| group_item(s, tags::PLANE_POSITION_SEQUENCE)).and_then(|p| floats(p, tags::IMAGE_POSITION_PATIENT));
    let shared_orientation = shared.and_then(|s| group_item(s, tags::PLANE_ORIENTATION_SEQUENCE)).and_then(|o| floats(o, tags::IMAGE_ORIENTATION_PATIENT));
    let Some(frames) = get(obj, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE).and_then(|e| e.items()) else { return Vec::new() };
    frames
        .iter()
        .map(|frame| FramePlane {
            position: group_item(frame, tags::PLANE_POSITION_SEQUENCE).and_then(|p| floats(p, tags::IMAGE_POSITION_PATIENT)).or(shared_position),
            orientation: group_item(frame, tags::PLANE_ORIENTATION_SEQUENCE).and_then(|o| floats(o, tags::IMAGE_ORIENTATION_PATIENT)).or(shared_orientation),
        })
        .collect()
}

/// Physical Units X/Y Direction value meaning centimetres (PS3.3 C.8.5.5.1.15).
const UNITS_CM: i32 = 3;

/// The spacing of the first Sequence of Ultrasound Regions item calibrated in cm both ways, in mm.
fn region_spacing(obj: &InMemDicomObject) -> Option<[f64; 2]> {
    get(obj, tags::SEQUENCE_OF_ULTRASOUND_REGIONS)?.items()?.iter().find_map(|region| {
        let cm = |tag| int::<i32>(region, tag) == Some(UNITS_CM);
        if !cm(tags::PHYSICAL_UNITS_X_DIRECTION) || !cm(tags::PHYSICAL_UNITS_Y_DIRECTION) {
            return None;
        }
        let (dx, dy) = (float(region, tags::PHYSICAL_DELTA_X)?.abs(), float(region, tags::PHYSICAL_DELTA_Y)?.abs());
        (dx > 0.0 && dy > 0.0).then_some([dy * 10.0, dx * 10.0])
    })
}

fn get(obj: &InMemDicomObject, tag: Tag) -> Option<&InMemElement> {
    obj.get(tag)
}

pub(super) fn int<T: Clone + num_traits::NumCast + std::str::FromStr<Err = std::num::ParseIntError>>(obj: &InMemDicomObject, tag: Tag) -> Option<T> {
    get(obj, tag)?.to_int::<T>().ok()
}

fn float(obj: &InMemDicomObject, tag: Tag) -> Option<f64> {
    get(obj, tag)?.to_float64().ok().filter(|v| v.is_finite())
}

fn floats<const N: usize>(obj: &InMemDicomObject, tag: Tag) -> Option<[f64; N]> {
    let values = get(obj, tag)?.to_multi_float64().ok()?;
    let array: [f64; N] = values.get(..N)?.try_into().ok()?;
    array.iter().all(|v| v.is_finite()).then_some(array)
}

pub(super) fn code(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let value = get(obj, tag)?.to_str().ok()?;
    let value = value.trim_matches(['\0', ' ']);
    // A code string is short ASCII; anything else is not a code and is dropped. Readers take
    // `us` for `US`, so a lower-case code is read, not dropped: a check that missed it could be
    // passed by writing a code in lower case.
    let is_code = !value.is_empty() && value.len() <= 16 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b' ');
    is_code.then(|| value.to_ascii_uppercase())
}

/// The first item of a functional-group sequence's sub-sequence, where enhanced multi-frame
/// objects keep their rescale and window.
fn shared_group(obj: &InMemDicomObject, macro_tag: Tag) -> Option<&InMemDicomObject> {
    let shared = get(obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE)?.items()?.first()?;
    shared.get(macro_tag)?.items()?.first()
}

impl Image {
    /// Reads the Image Pixel module.
    pub fn from_obj(obj: &InMemDicomObject) -> Result<Self, DicomError> {
        let required = |tag, name| int::<u16>(obj, tag).ok_or(DicomError::Attribute(name));
        let bits_allocated = required(tags::BITS_ALLOCATED, "BitsAllocated")?;
        let bits_stored = int(obj, tags::BITS_STORED).unwrap_or(bits_allocated);
        let image = Image {
            format: SampleFormat {
                rows: required(tags::ROWS, "Rows")?,
                columns: required(tags::COLUMNS, "Columns")?,
                samples_per_pixel: int(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1),
                bits_allocated,
                bits_stored,
                high_bit: int(obj, tags::HIGH_BIT).unwrap_or(bits_stored.saturating_sub(1)),
                signed: int::<u16>(obj, tags::PIXEL_REPRESENTATION) == Some(1),
                photometric: code(obj, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_else(|| "MONOCHROME2".into()),
                planar_configuration: int(obj, tags::PLANAR_CONFIGURATION).unwrap_or(0),
            },
            frames: match get(obj, tags::NUMBER_OF_FRAMES) {
                None => 1,
                Some(e) => match e.to_int::<i64>() {
                    Ok(n) => u32::try_from(n).ok().filter(|n| *n > 0).ok_or(DicomError::Attribute("NumberOfFrames"))?,
                    Err(_) => 0,
                },
            },
        };
        image.validate()?;
        Ok(image)
    }

    fn validate(&self) -> Result<(), DicomError> {
        if self.rows == 0 || self.columns == 0 {
            return Err(DicomError::Attribute("Rows/Columns"));
        }
        if !matches!(self.samples_per_pixel, 1 | 3) {
            return Err(DicomError::Attribute("SamplesPerPixel"));
        }
        if !matches!(self.bits_allocated, 1 | 8 | 16 | 32) {
            return Err(DicomError::UnsupportedImage(format!("{} bits allocated", self.bits_allocated)));
        }
        let fits = self.bits_stored >= 1 && self.bits_stored <= self.bits_allocated && self.high_bit < self.bits_allocated;
        if !fits || self.high_bit + 1 < self.bits_stored {
            return Err(DicomError::Attribute("BitsStored/HighBit"));
        }
        Ok(())
    }

    /// A frame of these samples as stored (native data, little endian).
    pub fn frame(&self, data: impl Into<bytes::Bytes>) -> crate::render::Pixels {
        crate::render::Pixels { format: self.format.clone(), data: data.into(), frame: 0 }
    }

    /// Pixels per frame.
    pub fn pixels(&self) -> u64 {
        u64::from(self.rows) * u64::from(self.columns)
    }

    /// Stored bits per frame of native (uncompressed) data.
    pub fn native_frame_bits(&self) -> u64 {
        // YBR_FULL_422 keeps two luma and one pair of chroma samples per two pixels.
        let samples = if self.photometric == "YBR_FULL_422" { 2 } else { u64::from(self.samples_per_pixel) };
        self.pixels() * samples * u64::from(self.bits_allocated)
    }
}

/// Reads the Modality LUT and VOI LUT modules, falling back to an enhanced object's
/// shared functional groups.
pub fn presentation(obj: &InMemDicomObject) -> Presentation {
    let rescale_source =
        if get(obj, tags::RESCALE_SLOPE).is_some() || get(obj, tags::RESCALE_INTERCEPT).is_some() { Some(obj) } else { shared_group(obj, tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE) };
    let window_source = if get(obj, tags::WINDOW_CENTER).is_some() { Some(obj) } else { shared_group(obj, tags::FRAME_VOILUT_SEQUENCE) };
    let signed = int::<u16>(obj, tags::PIXEL_REPRESENTATION) == Some(1);
    let items = |tag| get(obj, tag).and_then(|e| e.items()).unwrap_or_default();
    let modality_lut = items(tags::MODALITY_LUT_SEQUENCE).first().and_then(|item| lut(item, signed));
    // A VOI LUT's input is the modality output, signed when a rescale can make it negative.
    let voi_signed = signed || modality_lut.is_none() && float(obj, tags::RESCALE_INTERCEPT).is_some_and(|i| i < 0.0);
    Presentation {
        rescale_slope: rescale_source.and_then(|o| float(o, tags::RESCALE_SLOPE)).filter(|s| *s != 0.0).unwrap_or(1.0),
        rescale_intercept: rescale_source.and_then(|o| float(o, tags::RESCALE_INTERCEPT)).unwrap_or(0.0),
        windows: window_source.map(windows).unwrap_or_default(),
        palette: palette(obj),
        voi_luts: items(tags::VOILUT_SEQUENCE).iter().filter_map(|item| lut(item, voi_signed)).collect(),
        modality_lut,
        // Which planes can be drawn depends on the image and its encoding: the index adds them.
        overlays: Vec::new(),
    }
}

fn windows(obj: &InMemDicomObject) -> Vec<Window> {
    let list = |tag| get(obj, tag).and_then(|e| e.to_multi_float64().ok()).unwrap_or_default();
    let function = match code(obj, tags::VOILUT_FUNCTION).as_deref() {
        Some("LINEAR_EXACT") => VoiFunction::LinearExact,
        Some("SIGMOID") => VoiFunction::Sigmoid,
        _ => VoiFunction::Linear,
    };
    list(tags::WINDOW_CENTER).into_iter().zip(list(tags::WINDOW_WIDTH)).filter_map(|(center, width)| Window::new(center, width, function)).collect()
}

/// The PALETTE COLOR lookup tables, plain or segmented.
fn palette(obj: &InMemDicomObject) -> Option<Palette> {
    let words = |tag| -> Option<Vec<u16>> {
        let bytes = get(obj, tag)?.to_bytes().ok()?;
        Some(bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect())
    };
    // Segmented tables (C.7.9.2) are expanded here, so the renderer sees one kind only.
    let channel = |desc_tag, data_tag, segmented_tag| -> Option<(Vec<i64>, Vec<u16>)> {
        let desc: Vec<i64> = get(obj, desc_tag)?.to_multi_int().ok()?;
        let data = match words(data_tag) {
            Some(data) => data,
            None => expand_segments(&words(segmented_tag)?)?,
        };
        Some((desc, data))
    };
    let red = channel(tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR, tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA, tags::SEGMENTED_RED_PALETTE_COLOR_LOOKUP_TABLE_DATA)?;
    let green = channel(tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR, tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA, tags::SEGMENTED_GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA)?;
    let blue = channel(tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR, tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA, tags::SEGMENTED_BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA)?;
    let desc = red.0.clone();
    let &[entries, first, bits] = desc.as_slice() else { return None };
    // An entry count of 0 means 65536 (PS3.3 C.7.6.3.1.5).
    let entries = if entries == 0 { 65536 } else { usize::try_from(entries).ok()? };
    let bits = u16::try_from(bits).ok().filter(|b| matches!(b, 8 | 16))?;
    let unpack = |data: Vec<u16>| unpack_entries(data, entries, bits);
    Some(Palette { first: i32::try_from(first).ok()?, bits, channels: [unpack(red.1)?, unpack(green.1)?, unpack(blue.1)?] })
}

/// The most entries a palette can have; expansion stops there whatever the segments say.
const MAX_ENTRIES: usize = 65536;

/// Expands segmented palette data (PS3.3 C.7.9.2): discrete, linear and indirect segments.
fn expand_segments(words: &[u16]) -> Option<Vec<u16>> {
    let mut out = Vec::new();
    expand_from(words, 0, usize::MAX, &mut out, 0)?;
    (!out.is_empty()).then_some(out)
}

/// Expands up to `count` segments starting at word `at`; indirect segments recurse once, as
/// they may only point at direct ones.
fn expand_from(words: &[u16], mut at: usize, count: usize, out: &mut Vec<u16>, depth: u8) -> Option<()> {
    let mut done = 0;
    while at < words.len() && done < count && out.len() < MAX_ENTRIES {
        let (opcode, length) = (words[at], usize::from(*words.get(at + 1)?));
        at += 2;
        match opcode {
            0 => {
                out.extend_from_slice(words.get(at..at + length)?);
                at += length;
            }
            1 => {
                let (y0, y1) = (f64::from(*out.last()?), f64::from(*words.get(at)?));
                out.extend((1..=length).map(|i| (y0 + (y1 - y0) * i as f64 / length as f64).round() as u16));
                at += 1;
            }
            2 if depth == 0 => {
                let low = u32::from(*words.get(at)?);
                let high = u32::from(*words.get(at + 1)?);
                let offset = usize::try_from((high << 16 | low) / 2).ok()?;
                expand_from(words, offset, length, out, 1)?;
                at += 2;
            }
            _ => return None,
        }
        done += 1;
    }
    out.truncate(MAX_ENTRIES);
    Some(())
}

impl Geometry {
    /// Why the pixels may show what identifies the patient, when they may: see
    /// [`super::burned_in`].
    pub fn burned_in(&self) -> Option<std::borrow::Cow<'static, str>> {
        super::burned_in::burned_in(self)
    }

    /// Takes the file meta's Media Storage SOP Class when the data set names none: a reader
    /// that finds the class there shows the object as that kind.
    pub fn with_meta_sop_class(mut self, meta_sop_class: &str) -> Self {
        let meta = meta_sop_class.trim_matches(['\0', ' ']);
        if self.sop_class.is_none() && !meta.is_empty() {
            self.sop_class = Some(meta.to_owned());
        }
        self
    }

    /// Reads position, spacing and the other viewer-facing attributes.
    pub fn from_obj(obj: &InMemDicomObject) -> Self {
        let measures = shared_group(obj, tags::PIXEL_MEASURES_SEQUENCE);
        let patient_spacing = floats(obj, tags::PIXEL_SPACING).or_else(|| measures.and_then(|m| floats(m, tags::PIXEL_SPACING)));
        let detector_spacing = floats(obj, tags::IMAGER_PIXEL_SPACING);
        let frame_planes = frame_planes(obj);
        Geometry {
            pixel_spacing: patient_spacing.or(detector_spacing),
            pixel_spacing_kind: match (patient_spacing, detector_spacing) {
                (Some(_), _) => Some(SpacingKind::Patient),
                (None, Some(_)) => Some(SpacingKind::Detector),
                (None, None) => None,
            },
            slice_thickness: float(obj, tags::SLICE_THICKNESS).or_else(|| measures.and_then(|m| float(m, tags::SLICE_THICKNESS))),
            image_position: floats(obj, tags::IMAGE_POSITION_PATIENT),
            image_orientation: floats(obj, tags::IMAGE_ORIENTATION_PATIENT)
                .or_else(|| shared_group(obj, tags::PLANE_ORIENTATION_SEQUENCE).and_then(|o| floats(o, tags::IMAGE_ORIENTATION_PATIENT)))
                .or_else(|| frame_planes.first().and_then(|p| p.orientation)),
            instance_number: int(obj, tags::INSTANCE_NUMBER),
            frame_time: float(obj, tags::FRAME_TIME),
            modality: code(obj, tags::MODALITY),
            burned_in_annotation: code(obj, tags::BURNED_IN_ANNOTATION).map(|v| v == "YES"),
            recognizable_visual_features: code(obj, tags::RECOGNIZABLE_VISUAL_FEATURES).map(|v| v == "YES"),
            image_type: get(obj, tags::IMAGE_TYPE).and_then(|e| e.to_multi_str().ok()).map(|values| values.iter().map(|v| v.trim().to_owned()).collect()).unwrap_or_default(),
            sop_class: get(obj, tags::SOP_CLASS_UID).and_then(|e| e.to_str().ok()).map(|v| v.trim_matches(['\0', ' ']).to_owned()).filter(|v| !v.is_empty()),
            series_number: int(obj, tags::SERIES_NUMBER),
            series_uid: get(obj, tags::SERIES_INSTANCE_UID).and_then(|e| e.to_str().ok()).map(|v| v.trim_matches(['\0', ' ']).to_owned()).filter(|v| !v.is_empty()),
            frame_planes,
            region_spacing: region_spacing(obj),
            series_description: get(obj, tags::SERIES_DESCRIPTION).and_then(|e| e.to_str().ok()).map(|v| v.trim_matches(['\0', ' ']).to_owned()).filter(|v| !v.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::{DataElement, PrimitiveValue, VR};

    #[test]
    fn ultrasound_regions_calibrated_in_cm_give_a_spacing_in_mm() {
        let region = |units: u16, delta: f64| {
            InMemDicomObject::from_element_iter([
                DataElement::new(tags::PHYSICAL_UNITS_X_DIRECTION, VR::US, PrimitiveValue::from(units)),
                DataElement::new(tags::PHYSICAL_UNITS_Y_DIRECTION, VR::US, PrimitiveValue::from(3u16)),
                DataElement::new(tags::PHYSICAL_DELTA_X, VR::FD, PrimitiveValue::from(delta)),
                DataElement::new(tags::PHYSICAL_DELTA_Y, VR::FD, PrimitiveValue::from(0.05f64)),
            ])
        };
        let with = |regions: Vec<InMemDicomObject>| {
            let seq = dicom_core::value::DataSetSequence::from(regions);
            InMemDicomObject::from_element_iter([DataElement::new(tags::SEQUENCE_OF_ULTRASOUND_REGIONS, VR::SQ, seq)])
        };
        // A region in seconds (4) is skipped for the next one in cm; a zero delta is no calibration.
        assert_eq!(Geometry::from_obj(&with(vec![region(4, 0.1), region(3, 0.02)])).region_spacing, Some([0.5, 0.2]));
        assert_eq!(Geometry::from_obj(&with(vec![region(3, 0.0)])).region_spacing, None);
        assert_eq!(Geometry::from_obj(&InMemDicomObject::new_empty()).region_spacing, None);
    }

    #[test]
    fn segmented_palettes_expand_discrete_linear_and_indirect_segments() {
        // Discrete 0, 10; linear to 40 over 3 entries; an indirect copy of the first segment.
        let words = [0, 2, 0, 10, 1, 3, 40, 2, 1, 0, 0];
        assert_eq!(expand_segments(&words), Some(vec![0, 10, 20, 30, 40, 0, 10]));
        // A linear segment with nothing before it, an unknown opcode, and a truncated segment.
        assert_eq!(expand_segments(&[1, 3, 40]), None);
        assert_eq!(expand_segments(&[7, 1, 0]), None);
        assert_eq!(expand_segments(&[0, 5, 1, 2]), None);
        // An indirect segment pointing at itself does not recurse.
        assert_eq!(expand_segments(&[0, 1, 5, 2, 1, 6, 0]), None);
        // However long the segments say, at most 65536 entries.
        assert_eq!(expand_segments(&[0, 1, 0, 1, 65535, 9, 1, 65535, 0]).map(|v| v.len()), Some(65536));
    }

    #[test]
    fn a_segmented_palette_is_read_like_a_plain_one() {
        let us = |tag, v: [u16; 3]| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
        let ow = |tag, v: &[u16]| DataElement::new(tag, VR::OW, PrimitiveValue::from(v.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>()));
        let obj = InMemDicomObject::from_element_iter([
            us(tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR, [4, 0, 16]),
            us(tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR, [4, 0, 16]),
            us(tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR, [4, 0, 16]),
            ow(tags::SEGMENTED_RED_PALETTE_COLOR_LOOKUP_TABLE_DATA, &[0, 1, 0, 1, 3, 65535]),
            ow(tags::SEGMENTED_GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA, &[0, 4, 9, 9, 9, 9]),
            ow(tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA, &[1, 2, 3, 4]),
        ]);
        let palette = palette(&obj).unwrap();
        assert_eq!(palette.channels, [vec![0, 21845, 43690, 65535], vec![9, 9, 9, 9], vec![1, 2, 3, 4]]);
    }
}
