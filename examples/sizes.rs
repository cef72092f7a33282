//! How big DICOM studies are, and what framegate reads and a phone downloads to show them: the
//! size table of `docs/guide.md`, measured by framegate itself.
//!
//! `cargo run --release --example sizes -- --out docs/sizes.md` (the bytes are the same in a
//! debug build, only slower). dcmtk (`dcmcjpeg`) and gdcm (`gdcmconv`) encode the rows whose
//! typical storage is compressed; without them those rows are skipped.
//!
//! Each row is a synthetic study at a typical size (the counts and dimensions are assumptions,
//! stated in the table), written into a folder: pixels come from pure functions with noise, so
//! that lossless compression meets something like a detector's noise rather than flat areas.
//! framegate is started in-process over that folder through a store that counts every call, and
//! a client does what the built-in viewer does on a phone: the stack.json, the series
//! thumbnails of a study, the first frame at the phone's viewport, then every frame once. Rows
//! too large to write whole (tomosynthesis, a slide) are made in part and scaled, and say so.
//! A calibration row compares the real CT of the pydicom wheel with the synthetic slice.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use framegate::key::ObjectKey;
use framegate::store::fs::FsStore;
use framegate::store::{ByteStream, Listed, ObjectMeta, Store, StoreError};
use framegate::token::Keyring;
use framegate::{Settings, State};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A throwaway signing key: the measuring client and the server are one process.
const KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

/// The phone: the viewer's image area in CSS pixels on a 390×844 screen (less its toolbars, as
/// `it::deployment` measures it in Chromium) and the device pixel ratio of a current phone. The viewer asks for frames at this size when the
/// image is larger (`viewport=`, in steps of 1/8), exactly as `frameUrl` in src/http/viewer/stack.js does.
const PHONE_STAGE: (f64, f64) = (390.0, 739.0);
const PHONE_DPR: f64 = 3.0;
const VIEWPORT_STEPS: [f64; 7] = [0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875];

/// At most this many frames of a row are rendered for the scroll figure; the rest is scaled
/// from their mean (every frame of a row is alike in size).
const SCROLL_SAMPLE: usize = 24;

/// Counts what framegate asks of the store: each call is one S3 request on the S3 store (a
/// listing one per 1,000 keys).
struct Counting {
    inner: FsStore,
    heads: AtomicU64,
    reads: AtomicU64,
    lists: AtomicU64,
    bytes: AtomicU64,
}

impl Counting {
    fn new(root: &Path) -> Self {
        Counting { inner: FsStore::new(root).unwrap(), heads: 0.into(), reads: 0.into(), lists: 0.into(), bytes: 0.into() }
    }

    /// (bytes read, requests) since the last call, and reset.
    fn take(&self) -> (u64, u64) {
        let requests = self.heads.swap(0, Ordering::SeqCst) + self.reads.swap(0, Ordering::SeqCst) + self.lists.swap(0, Ordering::SeqCst);
        (self.bytes.swap(0, Ordering::SeqCst), requests)
    }
}

#[async_trait::async_trait]
impl Store for Counting {
    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta, StoreError> {
        self.heads.fetch_add(1, Ordering::SeqCst);
        self.inner.head(key).await
    }
    async fn read(&self, key: &ObjectKey, meta: &ObjectMeta, range: Range<u64>) -> Result<Bytes, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.bytes.fetch_add(range.end - range.start, Ordering::SeqCst);
        self.inner.read(key, meta, range).await
    }
    async fn stream(&self, key: &ObjectKey, meta: &ObjectMeta, range: Range<u64>) -> Result<ByteStream, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.bytes.fetch_add(range.end - range.start, Ordering::SeqCst);
        self.inner.stream(key, meta, range).await
    }
    async fn list(&self, prefix: &ObjectKey) -> Result<Vec<Listed>, StoreError> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list(prefix).await
    }
    async fn put(&self, key: &ObjectKey, body: ByteStream) -> Result<u64, StoreError> {
        self.inner.put(key, body).await
    }
}

/// How a row's objects are stored.
#[derive(Clone, Copy, PartialEq)]
enum Stored {
    Native,
    JpegLossless,
    JpegBaseline,
    J2kLossless,
}

impl Stored {
    fn label(self) -> &'static str {
        match self {
            Stored::Native => "uncompressed",
            Stored::JpegLossless => "JPEG lossless",
            Stored::JpegBaseline => "JPEG baseline q90",
            Stored::J2kLossless => "JPEG 2000 lossless",
        }
    }

    /// Encodes the native file `from` into `to` with dcmtk or gdcm; false when the tool is missing.
    fn encode(self, from: &Path, to: &Path) -> bool {
        let (tool, args): (&str, Vec<&str>) = match self {
            Stored::Native => {
                std::fs::rename(from, to).unwrap();
                return true;
            }
            Stored::JpegLossless => ("dcmcjpeg", vec!["+e1"]),
            Stored::JpegBaseline => ("dcmcjpeg", vec!["+eb", "+q", "90"]),
            Stored::J2kLossless => ("gdcmconv", vec!["--j2k"]),
        };
        let status = Command::new(tool).args(args).arg(from).arg(to).status();
        std::fs::remove_file(from).ok();
        match status {
            Ok(s) if s.success() => true,
            Ok(s) => panic!("{tool} failed ({s}) on {}", from.display()),
            Err(_) => false,
        }
    }
}

/// A deterministic noise source (xorshift), so every run writes the same files.
struct Noise(u64);

impl Noise {
    /// Roughly normal, mean 0 and standard deviation 1 (a sum of four uniforms).
    fn next(&mut self) -> f64 {
        let mut sum = 0.0;
        for _ in 0..4 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            sum += (self.0 >> 11) as f64 / (1u64 << 53) as f64;
        }
        (sum - 2.0) * 1.732
    }
}

fn el(tag: dicom_core::Tag, vr: VR, value: impl Into<PrimitiveValue>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, value.into())
}

/// What an image object is made of; the pixels come from `pixel(frame, row, col)`.
struct Image<'a> {
    sop_class: &'a str,
    modality: &'a str,
    study: u64,
    series: u64,
    instance: u64,
    rows: u16,
    cols: u16,
    frames: u32,
    /// 8 or 16 bits allocated; RGB is always 8.
    bits_allocated: u16,
    bits_stored: u16,
    rgb: bool,
    extra: Vec<DataElement<InMemDicomObject>>,
}

impl Image<'_> {
    fn object(self, mut pixel: impl FnMut(u32, u32, u32) -> [u16; 3]) -> InMemDicomObject {
        let samples = if self.rgb { 3 } else { 1 };
        let bytes_per = usize::from(self.bits_allocated / 8);
        let mut pixels = Vec::with_capacity(usize::from(self.rows) * usize::from(self.cols) * self.frames as usize * samples * bytes_per);
        for f in 0..self.frames {
            for r in 0..u32::from(self.rows) {
                for c in 0..u32::from(self.cols) {
                    let p = pixel(f, r, c);
                    for s in &p[..samples] {
                        if bytes_per == 1 {
                            pixels.push(*s as u8);
                        } else {
                            pixels.extend_from_slice(&s.to_le_bytes());
                        }
                    }
                }
            }
        }
        let uid = |parts: &[u64]| parts.iter().fold(String::from("2.25.27182818284"), |s, p| format!("{s}.{p}"));
        let mut elements = vec![
            el(tags::SOP_CLASS_UID, VR::UI, self.sop_class),
            el(tags::SOP_INSTANCE_UID, VR::UI, uid(&[self.study, self.series, self.instance])),
            el(tags::STUDY_DATE, VR::DA, "20260101"),
            el(tags::MODALITY, VR::CS, self.modality),
            el(tags::PATIENT_NAME, VR::PN, "SIZES^SYNTHETIC"),
            el(tags::PATIENT_ID, VR::LO, "SIZES-0001"),
            el(tags::STUDY_INSTANCE_UID, VR::UI, uid(&[self.study])),
            el(tags::SERIES_INSTANCE_UID, VR::UI, uid(&[self.study, self.series])),
            el(tags::SERIES_NUMBER, VR::IS, self.series.to_string()),
            el(tags::INSTANCE_NUMBER, VR::IS, self.instance.to_string()),
            el(tags::SAMPLES_PER_PIXEL, VR::US, samples as u16),
            el(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, if self.rgb { "RGB" } else { "MONOCHROME2" }),
            el(tags::ROWS, VR::US, self.rows),
            el(tags::COLUMNS, VR::US, self.cols),
            el(tags::BITS_ALLOCATED, VR::US, self.bits_allocated),
            el(tags::BITS_STORED, VR::US, self.bits_stored),
            el(tags::HIGH_BIT, VR::US, self.bits_stored - 1),
            el(tags::PIXEL_REPRESENTATION, VR::US, 0u16),
        ];
        if self.rgb {
            elements.push(el(tags::PLANAR_CONFIGURATION, VR::US, 0u16));
        }
        if self.frames > 1 {
            elements.push(el(tags::NUMBER_OF_FRAMES, VR::IS, self.frames.to_string()));
        }
        elements.extend(self.extra);
        let vr = if self.bits_allocated == 8 { VR::OB } else { VR::OW };
        elements.push(el(tags::PIXEL_DATA, vr, pixels));
        InMemDicomObject::from_element_iter(elements)
    }
}

/// One row of the table, as made.
struct Row {
    name: &'static str,
    /// The typical study the row stands for: the assumption.
    typical: &'static str,
    stored: Stored,
    instances: u64,
    frames: u64,
    /// The key the viewer is opened on (a series or study folder, or one multi-frame object).
    scope: String,
    /// What the objects made stand for: stored bytes and scroll figures are multiplied by it
    /// (1 when the row is made whole).
    scale: f64,
    /// How the row was made, when in part.
    made: String,
}

/// Writes `obj` as `key` under `root`, stored as `stored`.
fn store(root: &Path, key: &str, obj: InMemDicomObject, stored: Stored) -> bool {
    let to = root.join(key);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    let native = to.with_extension("native");
    std::fs::write(&native, framegate::sample::to_bytes(obj).unwrap()).unwrap();
    stored.encode(&native, &to)
}

fn ct_slice(noise: &mut Noise, study: u64, series: u64, i: usize, n: usize, size: u16, modality: &str) -> InMemDicomObject {
    let z = i as f64 / (n.max(2) - 1) as f64;
    let s = f64::from(size);
    let extra = vec![
        el(tags::IMAGE_POSITION_PATIENT, VR::DS, format!("-250\\-250\\{}", -(i as f64))),
        el(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, "1\\0\\0\\0\\1\\0"),
        el(tags::PIXEL_SPACING, VR::DS, "0.9765625\\0.9765625"),
        el(tags::SLICE_THICKNESS, VR::DS, "1"),
        el(tags::RESCALE_INTERCEPT, VR::DS, "-1024"),
        el(tags::RESCALE_SLOPE, VR::DS, "1"),
        el(tags::WINDOW_CENTER, VR::DS, "40"),
        el(tags::WINDOW_WIDTH, VR::DS, "400"),
    ];
    let sop = if modality == "MR" { uids::MR_IMAGE_STORAGE } else { uids::CT_IMAGE_STORAGE };
    let image = Image { sop_class: sop, modality, study, series, instance: i as u64 + 1, rows: size, cols: size, frames: 1, bits_allocated: 16, bits_stored: 12, rgb: false, extra };
    // The phantom in Hounsfield units, plus 10 HU of noise inside the body (a CT's quantum
    // noise), less in air.
    image.object(|_, r, c| {
        let (x, y) = (2.0 * f64::from(c) / s - 1.0, 2.0 * f64::from(r) / s - 1.0);
        let hu = f64::from(framegate::sample::ct_hu(x, y, z));
        let sigma = if hu <= -1000.0 { 3.0 } else { 10.0 };
        let v = (hu + 1024.0 + sigma * noise.next()).clamp(0.0, 4095.0) as u16;
        [v, 0, 0]
    })
}

/// A grey radiograph of `rows`×`cols`: a soft body on a bright background, with noise.
fn radiograph(noise: &mut Noise, image: Image<'_>, max: f64) -> InMemDicomObject {
    let (rows, cols) = (f64::from(image.rows), f64::from(image.cols));
    image.object(|f, r, c| {
        let (x, y) = (f64::from(c) / cols - 0.5, f64::from(r) / rows - 0.5);
        let body = ((x * 2.2).powi(2) + (y * 1.8).powi(2) + 0.02 * f64::from(f)).min(1.0);
        let v = max * (0.15 + 0.75 * body) + max * 0.01 * noise.next();
        [v.clamp(0.0, max) as u16, 0, 0]
    })
}

fn make(root: &Path) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);

    // Radiography: a chest PA and lateral.
    let ok = (1..=2).all(|i| {
        let image = Image {
            sop_class: uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
            modality: "DX",
            study: 1,
            series: 1,
            instance: i,
            rows: 3000,
            cols: 3000,
            frames: 1,
            bits_allocated: 16,
            bits_stored: 14,
            rgb: false,
            extra: vec![el(tags::WINDOW_CENTER, VR::DS, "8192"), el(tags::WINDOW_WIDTH, VR::DS, "16384")],
        };
        store(root, &format!("dx/study/view{i}.dcm"), radiograph(&mut noise, image, 16383.0), Stored::JpegLossless)
    });
    if ok {
        rows.push(Row {
            name: "CR/DX radiograph",
            typical: "2 views (chest PA and lateral), 3000×3000, 14 bits",
            stored: Stored::JpegLossless,
            instances: 2,
            frames: 2,
            scope: "dx/study".into(),
            scale: 1.0,
            made: String::new(),
        });
    }

    // CT: one thin-slice series.
    const CT_SLICES: usize = 300;
    for i in 0..CT_SLICES {
        store(root, &format!("ct/series/{:04}.dcm", i + 1), ct_slice(&mut noise, 2, 1, i, CT_SLICES, 512, "CT"), Stored::Native);
    }
    rows.push(Row {
        name: "CT series",
        typical: "300 slices of 512×512, 12 bits in 16 (1 mm, chest–abdomen)",
        stored: Stored::Native,
        instances: CT_SLICES as u64,
        frames: CT_SLICES as u64,
        scope: "ct/series".into(),
        scale: 1.0,
        made: String::new(),
    });

    // MR: a brain study of several series.
    let series: [(u64, usize, u16); 6] = [(1, 3, 256), (2, 24, 256), (3, 24, 256), (4, 24, 256), (5, 60, 256), (6, 176, 256)];
    let mut instances = 0;
    for (number, slices, size) in series {
        for i in 0..slices {
            store(root, &format!("mr/study/s{number}/{:04}.dcm", i + 1), ct_slice(&mut noise, 3, number, i, slices, size, "MR"), Stored::Native);
        }
        instances += slices as u64;
    }
    rows.push(Row {
        name: "MR study",
        typical: "6 series, 311 images of 256×256, 12 bits in 16 (brain: localiser, 3 × 24 axial, 60 diffusion, 176 3D T1)",
        stored: Stored::Native,
        instances,
        frames: instances,
        scope: "mr/study".into(),
        scale: 1.0,
        made: String::new(),
    });

    // Ultrasound: one cine clip, RGB.
    const US_FRAMES: u32 = 90;
    let image = Image {
        sop_class: uids::ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE,
        modality: "US",
        study: 4,
        series: 1,
        instance: 1,
        rows: 480,
        cols: 640,
        frames: US_FRAMES,
        bits_allocated: 8,
        bits_stored: 8,
        rgb: true,
        extra: vec![el(tags::FRAME_TIME, VR::DS, "33.3")],
    };
    let obj = image.object(|f, r, c| {
        // A sector of speckle that moves a little each frame; black outside it.
        let (x, y) = (f64::from(c) - 320.0, f64::from(r) + 40.0);
        let inside = y > 60.0 && y < 500.0 && x.abs() < y * 0.8;
        if !inside {
            return [0, 0, 0];
        }
        let depth = 1.0 - y / 520.0;
        let wave = ((f64::from(c) * 0.05 + f64::from(f) * 0.3).sin() * 0.5 + 0.5) * 40.0;
        let v = (60.0 * depth + wave + 35.0 * noise.next().abs()).clamp(0.0, 255.0) as u16;
        [v, v, v]
    });
    if store(root, "us/clip.dcm", obj, Stored::JpegBaseline) {
        rows.push(Row {
            name: "Ultrasound cine",
            typical: "one clip: 90 frames (3 s at 30 fps) of 640×480 RGB; an echo study holds 50–100 clips",
            stored: Stored::JpegBaseline,
            instances: 1,
            frames: u64::from(US_FRAMES),
            scope: "us/clip.dcm".into(),
            scale: 1.0,
            made: String::new(),
        });
    }

    // Mammography: four views.
    let ok = (1..=4).all(|i| {
        let image = Image {
            sop_class: uids::DIGITAL_MAMMOGRAPHY_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
            modality: "MG",
            study: 5,
            series: 1,
            instance: i,
            rows: 4096,
            cols: 3328,
            frames: 1,
            bits_allocated: 16,
            bits_stored: 12,
            rgb: false,
            extra: vec![el(tags::WINDOW_CENTER, VR::DS, "2048"), el(tags::WINDOW_WIDTH, VR::DS, "4096")],
        };
        store(root, &format!("mg/study/view{i}.dcm"), breast(&mut noise, image), Stored::J2kLossless)
    });
    if ok {
        rows.push(Row {
            name: "Mammography",
            typical: "4 views (CC and MLO of each side), 3328×4096, 12 bits in 16",
            stored: Stored::J2kLossless,
            instances: 4,
            frames: 4,
            scope: "mg/study".into(),
            scale: 1.0,
            made: String::new(),
        });
    }

    // Tomosynthesis: one view made in part, scaled to 4 views of 60 slices.
    const DBT_MADE: u32 = 6;
    const DBT_SLICES: u32 = 60;
    let image = Image {
        sop_class: uids::BREAST_TOMOSYNTHESIS_IMAGE_STORAGE,
        modality: "MG",
        study: 6,
        series: 1,
        instance: 1,
        rows: 2457,
        cols: 1996,
        frames: DBT_MADE,
        bits_allocated: 16,
        bits_stored: 10,
        rgb: false,
        extra: vec![el(tags::WINDOW_CENTER, VR::DS, "512"), el(tags::WINDOW_WIDTH, VR::DS, "1024")],
    };
    if store(root, "dbt/view1.dcm", breast(&mut noise, image), Stored::J2kLossless) {
        let scale = f64::from(4 * DBT_SLICES) / f64::from(DBT_MADE);
        rows.push(Row {
            name: "Breast tomosynthesis",
            typical: "4 views × 60 slices of 1996×2457, 10 bits in 16, one multi-frame object a view",
            stored: Stored::J2kLossless,
            instances: 4,
            frames: u64::from(4 * DBT_SLICES),
            scope: "dbt/view1.dcm".into(),
            scale,
            made: format!("one view of {DBT_MADE} slices made, × {scale:.0}"),
        });
    }

    // Angiography: one run.
    const XA_FRAMES: u32 = 90;
    let image = Image {
        sop_class: uids::X_RAY_ANGIOGRAPHIC_IMAGE_STORAGE,
        modality: "XA",
        study: 7,
        series: 1,
        instance: 1,
        rows: 512,
        cols: 512,
        frames: XA_FRAMES,
        bits_allocated: 8,
        bits_stored: 8,
        rgb: false,
        extra: vec![el(tags::FRAME_TIME, VR::DS, "66.7")],
    };
    let obj = image.object(|f, r, c| {
        // A bright field with a dark vessel tree that fills with contrast over the run.
        let (x, y) = (f64::from(c) / 512.0, f64::from(r) / 512.0);
        let vessel = ((y - 0.5 - 0.2 * (x * 6.0).sin()).abs() < 0.01 + 0.01 * (f as f64 / 90.0)) || ((x - 0.4 - 0.1 * (y * 9.0).cos()).abs() < 0.008);
        let v = if vessel { 70.0 } else { 170.0 - 60.0 * ((x - 0.5).powi(2) + (y - 0.5).powi(2)) } + 6.0 * noise.next();
        [v.clamp(0.0, 255.0) as u16, 0, 0]
    });
    if store(root, "xa/run.dcm", obj, Stored::JpegLossless) {
        rows.push(Row {
            name: "XA run",
            typical: "one run: 90 frames (6 s at 15 fps) of 512×512, 8 bits; a cardiac study holds 10–20 runs",
            stored: Stored::JpegLossless,
            instances: 1,
            frames: u64::from(XA_FRAMES),
            scope: "xa/run.dcm".into(),
            scale: 1.0,
            made: String::new(),
        });
    }

    // Whole-slide image: a piece of the base level's tiles, scaled to a full pyramid.
    const TILES_MADE: u32 = 64;
    // 80,000 × 60,000 pixels at 40× in 256² tiles is 313 × 235 tiles; the levels above add a third.
    const TILES: u64 = 313 * 235 * 4 / 3;
    let image = Image {
        sop_class: uids::VL_WHOLE_SLIDE_MICROSCOPY_IMAGE_STORAGE,
        modality: "SM",
        study: 8,
        series: 1,
        instance: 1,
        rows: 256,
        cols: 256,
        frames: TILES_MADE,
        bits_allocated: 8,
        bits_stored: 8,
        rgb: true,
        extra: vec![el(tags::IMAGE_TYPE, VR::CS, "ORIGINAL\\PRIMARY\\VOLUME\\NONE")],
    };
    let obj = image.object(|f, r, c| {
        // Pink tissue with purple nuclei and white gaps.
        let (x, y) = (f64::from(c) + 256.0 * f64::from(f % 8), f64::from(r) + 256.0 * f64::from(f / 8));
        let cell = ((x * 0.11).sin() * (y * 0.13).cos() + (x * 0.031 + y * 0.017).sin()) > 0.9;
        let gap = ((x * 0.004).sin() + (y * 0.005).cos()) > 1.5;
        let n = 12.0 * noise.next();
        let [r, g, b] = if gap {
            [240.0, 240.0, 242.0]
        } else if cell {
            [110.0, 60.0, 150.0]
        } else {
            [225.0, 150.0, 190.0]
        };
        [(r + n).clamp(0.0, 255.0) as u16, (g + n).clamp(0.0, 255.0) as u16, (b + n).clamp(0.0, 255.0) as u16]
    });
    if store(root, "wsi/slide.dcm", obj, Stored::JpegBaseline) {
        let scale = TILES as f64 / f64::from(TILES_MADE);
        rows.push(Row {
            name: "Whole-slide image",
            typical: "one slide at 40×: 80,000×60,000 RGB in 256×256 tiles, a pyramid of 98,000 tiles",
            stored: Stored::JpegBaseline,
            instances: 1,
            frames: TILES,
            scope: "wsi/slide.dcm".into(),
            scale,
            made: format!("{TILES_MADE} tiles made, × {scale:.0}"),
        });
    }
    rows
}

/// A breast on a dark background: denser towards the chest wall, with tissue texture and noise.
fn breast(noise: &mut Noise, image: Image<'_>) -> InMemDicomObject {
    let (rows, cols) = (f64::from(image.rows), f64::from(image.cols));
    let max = f64::from((1u32 << image.bits_stored) - 1);
    image.object(|f, r, c| {
        let (x, y) = (f64::from(c) / cols, f64::from(r) / rows - 0.5);
        let inside = (x / 0.75).powi(2) + (y / 0.45).powi(2) < 1.0;
        if !inside {
            return [(max * 0.02 + max * 0.003 * noise.next()).max(0.0) as u16, 0, 0];
        }
        let texture = ((x * 90.0 + f64::from(f)).sin() * (y * 70.0).cos() + (x * 23.0 - y * 31.0).sin()) * 0.05;
        let v = max * (0.55 - 0.25 * x + texture) + max * 0.01 * noise.next();
        [v.clamp(0.0, max) as u16, 0, 0]
    })
}

/// The viewport the viewer asks for on the phone, if any.
fn phone_viewport(cols: f64, rows: f64) -> Option<String> {
    let k = (PHONE_STAGE.0 / cols).min(PHONE_STAGE.1 / rows) * PHONE_DPR;
    let step = VIEWPORT_STEPS.iter().copied().find(|s| *s >= k)?;
    Some(format!("{},{}", (cols * step).ceil(), (rows * step).ceil()))
}

type Http = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

async fn get(client: &Http, url: &str) -> Bytes {
    let response = client.get(url.parse().unwrap()).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(status.is_success(), "{url}: {status} {}", String::from_utf8_lossy(&body));
    body
}

/// What showing and scrolling a row cost.
struct Measured {
    stored: u64,
    native: u64,
    viewport: Option<String>,
    first_read: u64,
    first_requests: u64,
    first_download: u64,
    scroll_read: u64,
    scroll_requests: u64,
    scroll_download: u64,
}

async fn measure(root: &Path, row: &Row) -> Measured {
    let store = Arc::new(Counting::new(root));
    let keys = Keyring::parse(KEYS).unwrap();
    let scope = ObjectKey::parse_plain(&row.scope).unwrap();
    let token = keys.sign(&scope, u64::MAX / 2);
    let state = Arc::new(State::new(keys, store.clone(), Settings::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1/{token}/{}", listener.local_addr().unwrap(), row.scope);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(framegate::run(listener, state, async {
        let _ = stopped.await;
    }));
    let client: Http = Client::builder(TokioExecutor::new()).build_http();

    // The first image, as the viewer gets it: the page, the manifest, each series' thumbnail,
    // the first frame at the phone's size.
    let page = get(&client, &format!("{base}/-/view")).await;
    let manifest_url = url::Url::parse(&format!("{base}/-/stack.json")).unwrap();
    let manifest = get(&client, manifest_url.as_str()).await;
    let stack: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let entries = stack["entries"].as_array().unwrap();
    let series = stack["series"].as_array().unwrap();
    let mut downloaded = (page.len() + manifest.len()) as u64;
    let frame_url = |e: &serde_json::Value, viewport: Option<&str>| {
        let mut url = manifest_url.join(e["url"].as_str().unwrap()).unwrap();
        if let Some(v) = viewport {
            url.query_pairs_mut().append_pair("viewport", v);
        }
        url.to_string().replace("%2C", ",")
    };
    if series.len() > 1 {
        for s in series {
            let mid = &entries[s["first"].as_u64().unwrap() as usize + s["frames"].as_u64().unwrap() as usize / 2];
            downloaded += get(&client, &frame_url(mid, Some("128,128"))).await.len() as u64;
        }
    }
    let first = &entries[0];
    let viewport = phone_viewport(first["columns"].as_f64().unwrap(), first["rows"].as_f64().unwrap());
    downloaded += get(&client, &frame_url(first, viewport.as_deref())).await.len() as u64;
    let (first_read, first_requests) = store.take();

    // Scrolling: every frame once (a sample, scaled, for long rows), headers already indexed.
    // The first frame is cached by now: the sample starts after it.
    let rest = if entries.len() > 1 { &entries[1..] } else { &entries[..] };
    let step = rest.len().div_ceil(SCROLL_SAMPLE).max(1);
    let sample: Vec<&serde_json::Value> = rest.iter().step_by(step).collect();
    let mut scroll_download = 0u64;
    for e in &sample {
        let viewport = phone_viewport(e["columns"].as_f64().unwrap(), e["rows"].as_f64().unwrap());
        scroll_download += get(&client, &frame_url(e, viewport.as_deref())).await.len() as u64;
    }
    let (scroll_read, scroll_requests) = store.take();
    let per = |n: u64| (n as f64 * row.frames as f64 / sample.len() as f64) as u64;

    let _ = stop.send(());
    server.await.unwrap().unwrap();
    let (stored, native) = stored_and_native(root, &row.scope);
    Measured {
        stored: (stored as f64 * row.scale) as u64,
        native: (native as f64 * row.scale) as u64,
        viewport,
        first_read,
        first_requests,
        first_download: downloaded,
        scroll_read: per(scroll_read),
        scroll_requests: per(scroll_requests),
        scroll_download: per(scroll_download),
    }
}

/// Bytes stored under `scope`, and what the same pixels take uncompressed (from the headers).
fn stored_and_native(root: &Path, scope: &str) -> (u64, u64) {
    let mut files = Vec::new();
    let mut pending = vec![root.join(scope)];
    while let Some(p) = pending.pop() {
        if p.is_dir() {
            pending.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            files.push(p);
        }
    }
    let (mut stored, mut native) = (0, 0);
    for f in files {
        stored += std::fs::metadata(&f).unwrap().len();
        let obj = dicom_object::OpenFileOptions::new().read_until(tags::PIXEL_DATA).open_file(&f).unwrap();
        let int = |t| obj.element(t).ok().and_then(|e| e.to_str().ok()).and_then(|s| s.trim().parse::<u64>().ok());
        let frames = int(tags::NUMBER_OF_FRAMES).unwrap_or(1);
        native += int(tags::ROWS).unwrap() * int(tags::COLUMNS).unwrap() * int(tags::SAMPLES_PER_PIXEL).unwrap() * int(tags::BITS_ALLOCATED).unwrap() / 8 * frames;
    }
    (stored, native)
}

/// The real CT of the pydicom wheel against the synthetic slice at its size: how far the
/// synthetic noise is from a patient's, in lossless JPEG 2000 (gdcm) and in framegate's JPEG.
async fn calibration(dir: &Path) -> Option<String> {
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pydicom/pydicom/data/test_files/CT_small.dcm");
    if !real.is_file() {
        return None;
    }
    let cal = dir.join("cal");
    std::fs::create_dir_all(&cal).unwrap();
    std::fs::copy(&real, cal.join("real.dcm")).unwrap();
    std::fs::write(cal.join("synthetic.dcm"), framegate::sample::to_bytes(ct_slice(&mut Noise(7), 9, 1, 60, 120, 128, "CT")).unwrap()).unwrap();
    let j2k = |name: &str| -> Option<f64> {
        let (from, to) = (cal.join(name), dir.join(format!("{name}.j2k")));
        let ok = Command::new("gdcmconv").arg("--j2k").arg(&from).arg(&to).status().ok()?.success();
        ok.then(|| std::fs::metadata(&from).unwrap().len() as f64 / std::fs::metadata(&to).unwrap().len() as f64)
    };
    let (real_j2k, synthetic_j2k) = (j2k("real.dcm")?, j2k("synthetic.dcm")?);

    let keys = Keyring::parse(KEYS).unwrap();
    let token = keys.sign(&ObjectKey::parse_plain("cal").unwrap(), u64::MAX / 2);
    let state = Arc::new(State::new(keys, Arc::new(Counting::new(dir)), Settings::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1/{token}/cal", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(framegate::run(listener, state, async {
        let _ = stopped.await;
    }));
    let client: Http = Client::builder(TokioExecutor::new()).build_http();
    let real_jpeg = get(&client, &format!("{base}/real.dcm/-/frames/1.jpg?window=40,400")).await.len();
    let synthetic_jpeg = get(&client, &format!("{base}/synthetic.dcm/-/frames/1.jpg?window=40,400")).await.len();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    Some(format!(
        "Calibration against a patient: the real 128×128 CT slice of the pydicom wheel (`CT_small.dcm`) and the synthetic slice at that size. Lossless JPEG 2000 (gdcm) shrinks the real one {real_j2k:.1}× and the synthetic one {synthetic_j2k:.1}×; framegate's quality-90 JPEG of each, in the same 40/400 window, is {real_jpeg} and {synthetic_jpeg} bytes. Real images carry more structure than these phantoms: expect stored compressed rows and the phones' downloads to run larger by about those ratios (the JPEG figures of colour and radiograph rows have no real image here to check against)."
    ))
}

fn mb(n: u64) -> String {
    let m = n as f64 / 1e6;
    if m >= 100.0 {
        format!("{m:.0} MB")
    } else if m >= 1.0 {
        format!("{m:.1} MB")
    } else {
        format!("{:.0} kB", n as f64 / 1e3)
    }
}

#[tokio::main]
async fn main() {
    let out = std::env::args().skip_while(|a| a != "--out").nth(1).map(PathBuf::from);
    let dir = tempfile::tempdir().unwrap();
    let rows = make(dir.path());
    let mut table = String::from(
        "| case (assumed typical study) | instances / frames | stored as | bytes stored (its pixels uncompressed) | first image: read from storage (requests) | first image: phone downloads | scroll every frame: read (requests) | scroll every frame: phone downloads (viewport) |\n|---|---|---|---|---|---|---|---|\n",
    );
    let mut notes = Vec::new();
    let mut costs = String::from(
        "| case | storage, kept a month | a viewing that opens the study: S3 requests, bytes to the phone | a viewing through every image once: S3 requests, bytes to the phone |\n|---|---|---|---|\n",
    );
    for row in &rows {
        let m = measure(dir.path(), row).await;
        eprintln!("measured {}", row.name);
        let made = if row.made.is_empty() { String::new() } else { format!(" *({})*", row.made) };
        table.push_str(&format!(
            "| **{}**: {}{made} | {} / {} | {} | {} ({}) | {} ({}) | {} | {} ({}) | {} ({}) |\n",
            row.name,
            row.typical,
            row.instances,
            row.frames,
            row.stored.label(),
            mb(m.stored),
            mb(m.native),
            mb(m.first_read),
            m.first_requests,
            mb(m.first_download),
            mb(m.scroll_read),
            m.scroll_requests,
            mb(m.scroll_download),
            m.viewport.as_deref().map_or("full size".to_owned(), |v| format!("viewport={v}")),
        ));
        // Nobody pages through a slide's every tile: a slide viewer asks for the ones in view.
        let through =
            if row.frames > 10_000 { "— (not paged through)".to_owned() } else { format!("{}, {}", m.first_requests + m.scroll_requests, mb(m.first_download + m.scroll_download)) };
        costs.push_str(&format!("| {} | {:.3} GB-month | {}, {} | {through} |\n", row.name, m.stored as f64 / 1e9, m.first_requests, mb(m.first_download)));
    }
    if let Some(line) = calibration(dir.path()).await {
        notes.push(line);
    }
    let text = format!(
        "{table}\n{costs}\nMade by `cargo run --release --example sizes -- --out docs/sizes.md`. Every row is synthetic: counts and dimensions are the assumptions in the first column; pixels are computed with noise. MB are 10^6 bytes. \"First image\" is what the built-in viewer needs before it draws: the page, stack.json (a listing and every object's header), a thumbnail per series of a study, and the first frame at a phone's size ({}×{} CSS pixels of image area at {}× density). \"Scroll\" is every frame once after that, at the same size; frames are rendered JPEG at quality 90. Requests are calls to the store, each one S3 request (a listing is one per 1,000 keys). Rows in italics were made in part and scaled. The second table is what one study costs the platform, from the first: its storage, and the S3 requests and bytes to the phone of the first viewer within the caches' lifetime (later viewers are served from framegate's and NGINX's caches).\n\n{}\n",
        PHONE_STAGE.0,
        PHONE_STAGE.1,
        PHONE_DPR,
        notes.join("\n\n")
    );
    print!("{text}");
    if let Some(out) = out {
        std::fs::write(out, text).unwrap();
    }
}
