//! Synthetic sample data: a CT series, a multi-frame cine and a JPEG stack, for the demo and
//! the tests. Pixel values come from pure functions, so a test can compute what it expects.

use std::io;
use std::path::Path;

use dicom_core::value::PixelFragmentSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

use crate::key::ObjectKey;
use crate::token::Keyring;

/// Identifying values planted in every sample file; nothing framegate serves may contain them.
pub const PLANTED: &[&str] = &["FRAMEGATE^DEMO", "FG-DEMO-0001", "19700101", "Demo General Hospital", "ACC-DEMO-77"];

/// CT stored values are HU + 1024 (Rescale Intercept -1024), as most scanners write them.
pub const CT_INTERCEPT: f64 = -1024.0;

/// Hounsfield units of the CT phantom at `(x, y)` (both -1..1 across the slice) and `z` (0..1
/// through the series): air, a body, two lungs that taper towards the ends, a spine, and a
/// sphere that grows and shrinks as one scrolls.
pub fn ct_hu(x: f64, y: f64, z: f64) -> i16 {
    let inside = |cx: f64, cy: f64, rx: f64, ry: f64| ((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2) <= 1.0;
    let taper = (1.0 - (2.0 * z - 1.0).powi(2)).max(0.0).sqrt();
    let sphere = (0.22_f64.powi(2) - (z - 0.5).powi(2) * 0.4).max(0.0).sqrt();
    if !inside(0.0, 0.0, 0.85, 0.65) {
        -1000
    } else if inside(0.0, 0.42, 0.1, 0.1) {
        700
    } else if sphere > 0.0 && inside(0.15, -0.1, sphere, sphere) {
        90
    } else if taper > 0.05 && (inside(-0.42, -0.05, 0.26 * taper, 0.38 * taper) || inside(0.42, -0.05, 0.26 * taper, 0.38 * taper)) {
        -820
    } else {
        40
    }
}

/// Stored value of the multi-frame cine at `(col, row)` of frame `frame` (0-based): a ramp,
/// a disc circling the centre, and an 8×8 corner block of `100 × (frame + 1)` to tell frames apart.
pub fn cine_value(frame: u32, col: u32, row: u32, size: u32) -> u16 {
    if col < 8 && row < 8 {
        return (100 * (frame + 1)).min(4095) as u16;
    }
    let angle = f64::from(frame) * 0.35;
    let (cx, cy) = (0.5 + 0.25 * angle.cos(), 0.5 + 0.25 * angle.sin());
    let (x, y) = (f64::from(col) / f64::from(size), f64::from(row) / f64::from(size));
    if (x - cx).powi(2) + (y - cy).powi(2) < 0.01 { 3600 } else { ((x + y) * 700.0) as u16 }
}

/// Grey level of JPEG stack image `n` (1-based) at `(col, row)`: a bar that moves down the stack.
pub fn stack_value(n: u32, col: u32, row: u32, size: u32) -> u8 {
    let bar = (n * 7) % size;
    if row.abs_diff(bar) < 6 { 230 } else { (col * 160 / size) as u8 + 20 }
}

fn el(tag: Tag, vr: VR, value: impl Into<PrimitiveValue>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, value.into())
}

fn uid(parts: &[u64]) -> String {
    // Under the 2.25 root (UUID-derived UIDs): unique enough for synthetic data.
    let mut s = String::from("2.25.31415926535");
    for p in parts {
        s.push('.');
        s.push_str(&p.to_string());
    }
    s
}

/// Attributes every sample shares: the identifying ones framegate must never let out.
fn identity(sop_class: &str, series: u64, instance: u64) -> Vec<DataElement<InMemDicomObject>> {
    vec![
        el(tags::SOP_CLASS_UID, VR::UI, sop_class),
        el(tags::SOP_INSTANCE_UID, VR::UI, uid(&[series, instance])),
        el(tags::STUDY_DATE, VR::DA, "20260101"),
        el(tags::ACCESSION_NUMBER, VR::SH, PLANTED[4]),
        el(tags::INSTITUTION_NAME, VR::LO, PLANTED[3]),
        el(tags::PATIENT_NAME, VR::PN, PLANTED[0]),
        el(tags::PATIENT_ID, VR::LO, PLANTED[1]),
        el(tags::PATIENT_BIRTH_DATE, VR::DA, PLANTED[2]),
        el(tags::STUDY_INSTANCE_UID, VR::UI, uid(&[1])),
        el(tags::SERIES_INSTANCE_UID, VR::UI, uid(&[1, series])),
        el(tags::INSTANCE_NUMBER, VR::IS, instance.to_string()),
    ]
}

fn grey_pixel_module(size: u16, bits_stored: u16, frames: Option<u32>) -> Vec<DataElement<InMemDicomObject>> {
    let mut out = vec![
        el(tags::SAMPLES_PER_PIXEL, VR::US, 1u16),
        el(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
        el(tags::ROWS, VR::US, size),
        el(tags::COLUMNS, VR::US, size),
        el(tags::BITS_ALLOCATED, VR::US, 16u16),
        el(tags::BITS_STORED, VR::US, bits_stored),
        el(tags::HIGH_BIT, VR::US, bits_stored - 1),
        el(tags::PIXEL_REPRESENTATION, VR::US, 0u16),
    ];
    if let Some(frames) = frames {
        out.push(el(tags::NUMBER_OF_FRAMES, VR::IS, frames.to_string()));
    }
    out
}

/// Slice `index` (0-based) of a CT series of `slices` slices, `size`² pixels, 16-bit.
pub fn ct_slice(index: usize, slices: usize, size: u16) -> InMemDicomObject {
    let z = if slices > 1 { index as f64 / (slices - 1) as f64 } else { 0.5 };
    let n = f64::from(size);
    let mut pixels = Vec::with_capacity(usize::from(size) * usize::from(size) * 2);
    for row in 0..size {
        for col in 0..size {
            let (x, y) = (2.0 * f64::from(col) / n - 1.0, 2.0 * f64::from(row) / n - 1.0);
            let stored = (i32::from(ct_hu(x, y, z)) - CT_INTERCEPT as i32).clamp(0, 4095) as u16;
            pixels.extend_from_slice(&stored.to_le_bytes());
        }
    }
    let mut elements = identity(uids::CT_IMAGE_STORAGE, 1, index as u64 + 1);
    elements.extend([
        el(tags::MODALITY, VR::CS, "CT"),
        el(tags::IMAGE_TYPE, VR::CS, "ORIGINAL\\PRIMARY\\AXIAL"),
        el(tags::SLICE_THICKNESS, VR::DS, "2.5"),
        // Positions run from head to feet, the order a viewer shows them in.
        el(tags::IMAGE_POSITION_PATIENT, VR::DS, format!("-128\\-128\\{}", -2.5 * index as f64)),
        el(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, "1\\0\\0\\0\\1\\0"),
        el(tags::PIXEL_SPACING, VR::DS, "0.9765625\\0.9765625"),
        el(tags::WINDOW_CENTER, VR::DS, "40\\-600"),
        el(tags::WINDOW_WIDTH, VR::DS, "400\\1500"),
        el(tags::RESCALE_INTERCEPT, VR::DS, "-1024"),
        el(tags::RESCALE_SLOPE, VR::DS, "1"),
        el(tags::BURNED_IN_ANNOTATION, VR::CS, "NO"),
    ]);
    elements.extend(grey_pixel_module(size, 12, None));
    elements.push(el(tags::PIXEL_DATA, VR::OW, pixels));
    InMemDicomObject::from_element_iter(elements)
}

/// An 8-bit RGB image of `cols` × `rows` whose pixel at (column, row) is `rgb`, in a copy of the
/// sample CT's object with the grey attributes (window, rescale) removed.
pub fn rgb_image(cols: u16, rows: u16, rgb: impl Fn(u16, u16) -> [u8; 3]) -> InMemDicomObject {
    let mut obj = ct_slice(0, 1, 8);
    let pixels: Vec<u8> = (0..rows).flat_map(|r| (0..cols).map(move |c| (c, r))).flat_map(|(c, r)| rgb(c, r)).collect();
    for (tag, vr, value) in [
        (tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(3u16)),
        (tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "RGB".into()),
        (tags::PLANAR_CONFIGURATION, VR::US, 0u16.into()),
        (tags::ROWS, VR::US, rows.into()),
        (tags::COLUMNS, VR::US, cols.into()),
        (tags::BITS_ALLOCATED, VR::US, 8u16.into()),
        (tags::BITS_STORED, VR::US, 8u16.into()),
        (tags::HIGH_BIT, VR::US, 7u16.into()),
        (tags::PIXEL_DATA, VR::OB, pixels.into()),
    ] {
        obj.put(DataElement::new(tag, vr, value));
    }
    for tag in [tags::WINDOW_CENTER, tags::WINDOW_WIDTH, tags::RESCALE_INTERCEPT, tags::RESCALE_SLOPE] {
        obj.remove_element(tag);
    }
    obj
}

/// A multi-frame cine of `frames` frames, `size`² pixels, 12 bits stored in 16.
pub fn cine(frames: u32, size: u16) -> InMemDicomObject {
    let s = u32::from(size);
    let mut pixels = Vec::with_capacity((s * s * frames * 2) as usize);
    for frame in 0..frames {
        for row in 0..s {
            for col in 0..s {
                pixels.extend_from_slice(&cine_value(frame, col, row, s).to_le_bytes());
            }
        }
    }
    let mut elements = identity(uids::X_RAY_ANGIOGRAPHIC_IMAGE_STORAGE, 2, 1);
    elements.extend([
        el(tags::MODALITY, VR::CS, "XA"),
        el(tags::FRAME_TIME, VR::DS, "66.7"),
        el(tags::FRAME_INCREMENT_POINTER, VR::AT, PrimitiveValue::from(tags::FRAME_TIME)),
        el(tags::PIXEL_SPACING, VR::DS, "0.3\\0.3"),
        el(tags::WINDOW_CENTER, VR::DS, "2048"),
        el(tags::WINDOW_WIDTH, VR::DS, "4096"),
    ]);
    elements.extend(grey_pixel_module(size, 12, Some(frames)));
    elements.push(el(tags::PIXEL_DATA, VR::OW, pixels));
    InMemDicomObject::from_element_iter(elements)
}

/// Writes `obj` as a DICOM file in Explicit VR Little Endian.
pub fn write(obj: InMemDicomObject, path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, to_bytes(obj)?)
}

/// `obj` as the bytes of a DICOM file in Explicit VR Little Endian.
pub fn to_bytes(obj: InMemDicomObject) -> io::Result<Vec<u8>> {
    to_bytes_in(obj, uids::EXPLICIT_VR_LITTLE_ENDIAN)
}

/// `obj` as the bytes of a DICOM file in transfer syntax `ts`; its Pixel Data must already be
/// in that syntax's form (fragments for an encapsulated one, see [`with_one_fragment`]).
pub fn to_bytes_in(obj: InMemDicomObject, ts: &str) -> io::Result<Vec<u8>> {
    let class = obj.get(tags::SOP_CLASS_UID).and_then(|e| e.to_str().ok()).unwrap_or_default().into_owned();
    let instance = obj.get(tags::SOP_INSTANCE_UID).and_then(|e| e.to_str().ok()).unwrap_or_default().into_owned();
    let meta = FileMetaTableBuilder::new()
        .transfer_syntax(ts)
        .media_storage_sop_class_uid(class)
        .media_storage_sop_instance_uid(instance)
        .implementation_class_uid(uid(&[9]))
        .build()
        .map_err(io::Error::other)?;
    let mut out = Vec::new();
    obj.with_exact_meta(meta).write_all(&mut out).map_err(io::Error::other)?;
    Ok(out)
}

/// `obj` with its Pixel Data replaced by one compressed frame as a single fragment, padded to
/// an even length as items must be.
pub fn with_one_fragment(mut obj: InMemDicomObject, mut stream: Vec<u8>) -> InMemDicomObject {
    if stream.len() % 2 == 1 {
        stream.push(0);
    }
    obj.put(DataElement::new(tags::PIXEL_DATA, VR::OB, PixelFragmentSequence::new(Vec::<u32>::new(), vec![stream])));
    obj
}

/// Writes a grey JPEG of stack image `n`.
pub fn write_stack_image(n: u32, size: u16, path: &Path) -> io::Result<()> {
    let s = u32::from(size);
    let pixels: Vec<u8> = (0..s).flat_map(|row| (0..s).map(move |col| stack_value(n, col, row, s))).collect();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    jpeg_encoder::Encoder::new_file(path, 90).map_err(io::Error::other)?.encode(&pixels, size, size, jpeg_encoder::ColorType::Luma).map_err(io::Error::other)
}

/// The demo data set, as written.
#[derive(Debug)]
pub struct Demo {
    /// Slices of the CT series, in order.
    pub ct: Vec<ObjectKey>,
    /// The multi-frame cine.
    pub cine: ObjectKey,
    /// Frames in the cine.
    pub cine_frames: u32,
    /// JPEG stack images, in natural order.
    pub stack: Vec<ObjectKey>,
}

const DEMO_CT_SLICES: usize = 48;
const DEMO_CT_SIZE: u16 = 256;
const DEMO_CINE_FRAMES: u32 = 30;
const DEMO_CINE_SIZE: u16 = 256;
const DEMO_STACK: u32 = 12;

fn key(s: &str) -> ObjectKey {
    // Demo keys are literals made of plain segments.
    ObjectKey::parse_plain(s).expect("demo keys are valid")
}

/// Writes the demo data set into `dir`.
pub fn write_demo(dir: &Path) -> io::Result<Demo> {
    let mut ct = Vec::new();
    for i in 0..DEMO_CT_SLICES {
        let name = format!("ct/series1/slice{:03}.dcm", i + 1);
        write(ct_slice(i, DEMO_CT_SLICES, DEMO_CT_SIZE), &dir.join(&name))?;
        ct.push(key(&name));
    }
    write(cine(DEMO_CINE_FRAMES, DEMO_CINE_SIZE), &dir.join("xa/cine.dcm"))?;
    let mut stack = Vec::new();
    for n in 1..=DEMO_STACK {
        let name = format!("photos/stack/img{n}.jpg");
        write_stack_image(n, 256, &dir.join(&name))?;
        stack.push(key(&name));
    }
    Ok(Demo { ct, cine: key("xa/cine.dcm"), cine_frames: DEMO_CINE_FRAMES, stack })
}

impl Demo {
    /// Labelled, signed URL paths into the demo data.
    pub fn urls(&self, keys: &Keyring, expires: u64) -> Vec<(String, String)> {
        let series = key("ct/series1");
        let series_token = keys.sign(&series, expires);
        let cine_token = keys.sign(&self.cine, expires);
        let stack_token = keys.sign(&key("photos/stack"), expires);
        let mid = &self.ct[self.ct.len() / 2];
        let path = |token: &str, k: &ObjectKey, rest: &str| format!("/v1/{token}/{}{rest}", k.to_url_path());
        vec![
            ("viewer, CT series".into(), path(&series_token, &series, "/-/view")),
            ("viewer, multi-frame cine".into(), path(&cine_token, &self.cine, "/-/view")),
            ("viewer, JPEG stack".into(), path(&stack_token, &key("photos/stack"), "/-/view")),
            ("CT series stack.json".into(), path(&series_token, &series, "/-/stack.json")),
            // A DICOMweb client (OHIF, Cornerstone3D) takes `.../-/dicomweb` as its root.
            ("CT series over DICOMweb, its studies search".into(), path(&series_token, &series, "/-/dicomweb/studies")),
            ("CT slice, soft-tissue window".into(), path(&series_token, mid, "/-/frames/1.jpg")),
            ("CT slice, lung window".into(), path(&series_token, mid, "/-/frames/1.jpg?window=-600,1500")),
            ("CT slice, lossless PNG".into(), path(&series_token, mid, "/-/frames/1.png")),
            ("CT slice info".into(), path(&series_token, mid, "/-/info.json")),
            ("CT slice, raw DICOM".into(), path(&series_token, mid, "")),
            ("cine, first frame".into(), path(&cine_token, &self.cine, "/-/frames/1.jpg")),
            (format!("cine, frame {}", self.cine_frames), path(&cine_token, &self.cine, &format!("/-/frames/{}.jpg", self.cine_frames))),
            ("cine info".into(), path(&cine_token, &self.cine, "/-/info.json")),
            ("JPEG stack, first image".into(), path(&stack_token, &self.stack[0], "")),
        ]
    }
}
