//! Fixtures more than one suite uses: the fidelity fixtures (every transfer syntax and LUT
//! variant, each with its dcmtk reference) of it::fidelity, it::fidelity_traps and it::order, the
//! pydicom files they render, and the object with a planted value in every attribute the
//! de-identification profile names, of it::deid, it::dicomweb, it::ingest and it::privacy.

use std::path::{Path, PathBuf};

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, Length, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{StandardDataDictionary, tags};
use dicom_object::InMemDicomObject;

use super::support::*;
use framegate::sample;

/// The window the CT fixtures are compared under.
pub(super) const CT_WINDOW: &str = "40,400";

/// The tools that make the fidelity fixtures and render their references.
const TOOLS: &[&str] = &["dcmj2pnm", "dcml2pnm", "dcmconv", "dcmcrle", "dcmcjpeg", "dcmcjpls", "gdcmconv", "ojph_compress", "ojph_expand"];

/// One fixture: a file framegate serves and the file dcmj2pnm renders as the reference.
pub(super) struct Fixture {
    pub(super) name: String,
    pub(super) ts: &'static str,
    pub(super) file: PathBuf,
    pub(super) reference: PathBuf,
    /// The reference renderer: dcmj2pnm, or dcml2pnm for JPEG-LS.
    pub(super) renderer: &'static str,
    /// framegate's query and dcmj2pnm's matching VOI options.
    pub(super) query: &'static str,
    pub(super) voi: &'static [&'static str],
    /// The cargo feature whose codec decodes it, when this build lacks it: then the frame must
    /// answer 415 naming the feature.
    pub(super) missing: Option<&'static str>,
}

/// Whether every tool the fidelity fixtures need is installed (see [`have_tools`]).
pub(super) fn fidelity_tools_present() -> bool {
    have_tools(TOOLS)
}

pub(super) fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Writes samples as a PGM (maxval > 255: 16-bit big endian) or PPM for OpenJPH.
pub(super) fn write_pnm(path: &Path, w: u32, h: u32, channels: u8, maxval: u32, samples: &[u16]) {
    let magic = if channels == 1 { "P5" } else { "P6" };
    let mut out = format!("{magic}\n{w} {h}\n{maxval}\n").into_bytes();
    for &v in samples {
        if maxval > 255 { out.extend_from_slice(&v.to_be_bytes()) } else { out.push(v as u8) }
    }
    std::fs::write(path, out).unwrap();
}

pub(super) fn open(path: &Path) -> InMemDicomObject {
    dicom_object::open_file(path).unwrap().into_inner()
}

pub(super) fn pixel_data(obj: &InMemDicomObject) -> Vec<u8> {
    obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap().into_owned()
}

pub(super) fn ct() -> InMemDicomObject {
    sample::ct_slice(3, 8, 128)
}

/// An 8-bit RGB test card: colour ramps and a few saturated patches.
pub(super) fn rgb_card() -> InMemDicomObject {
    let (cols, rows) = (96u16, 64u16);
    rgb_image(cols, rows, |c, r| match (c / 24 + r / 16) % 4 {
        0 => [(c * 255 / cols) as u8, (r * 255 / rows) as u8, 128],
        1 => [200, 30, 40],
        2 => [20, 180, 60],
        _ => [(255 - c * 2) as u8, 90, (r * 4) as u8],
    })
}

/// Builds every fixture in `dir`.
pub(super) fn fixtures(dir: &Path) -> Vec<Fixture> {
    let (mut out, mut ht) = (Vec::new(), Vec::new());
    let ct_src = dir.join("ct.dcm");
    let rgb_src = dir.join("rgb.dcm");
    sample::write(ct(), &ct_src).unwrap();
    sample::write(rgb_card(), &rgb_src).unwrap();
    let grey_voi: &[&str] = &["+Ww", "40", "400"];
    let mut add = |name: &str, ts, file: PathBuf, reference: PathBuf, grey: bool, needs: Option<&'static str>| {
        out.push(Fixture {
            missing: needs.filter(|f| !built_with(f)),
            name: name.to_owned(),
            ts,
            renderer: if ts.starts_with("1.2.840.10008.1.2.4.8") { "dcml2pnm" } else { "dcmj2pnm" },
            file,
            reference,
            query: if grey { CT_WINDOW } else { "" },
            voi: if grey { grey_voi } else { &[] },
        });
    };
    // (name, tool, arguments, transfer syntax); JPEG-LS needs the jpegls feature, and 12-bit
    // lossy JPEG the turbo feature.
    let conversions: &[(&str, &str, &[&str], &str)] = &[
        ("explicit-le", "dcmconv", &["+te"], "1.2.840.10008.1.2.1"),
        ("implicit-le", "dcmconv", &["+ti"], "1.2.840.10008.1.2"),
        ("explicit-be", "dcmconv", &["+tb"], "1.2.840.10008.1.2.2"),
        ("deflated", "dcmconv", &["+td"], "1.2.840.10008.1.2.1.99"),
        ("rle", "dcmcrle", &[], "1.2.840.10008.1.2.5"),
        ("jpeg-lossless", "dcmcjpeg", &["+el"], "1.2.840.10008.1.2.4.57"),
        ("jpeg-lossless-sv1", "dcmcjpeg", &["+e1"], "1.2.840.10008.1.2.4.70"),
        ("jpeg-extended", "dcmcjpeg", &["+ee"], "1.2.840.10008.1.2.4.51"),
        ("jpeg-ls", "dcmcjpls", &["+el"], "1.2.840.10008.1.2.4.80"),
        ("jpeg-ls-near", "dcmcjpls", &["+en"], "1.2.840.10008.1.2.4.81"),
        ("j2k", "gdcmconv", &["--j2k"], "1.2.840.10008.1.2.4.90"),
        ("j2k-lossy", "gdcmconv", &["--j2k", "--lossy", "-q", "45"], "1.2.840.10008.1.2.4.91"),
    ];
    for (image, src, grey) in [("ct", &ct_src, true), ("rgb", &rgb_src, false)] {
        for &(name, tool, args, ts) in conversions {
            let file = dir.join(format!("{image}-{name}.dcm"));
            let mut argv = args.to_vec();
            argv.extend([s(src), s(&file)]);
            run(tool, &argv);
            // dcmtk reads everything but JPEG 2000, which gdcm decompresses for it.
            let reference = if tool == "gdcmconv" {
                let raw = dir.join(format!("{image}-{name}-raw.dcm"));
                run("gdcmconv", &["--raw", s(&file), s(&raw)]);
                raw
            } else {
                file.clone()
            };
            let needs = match name {
                "jpeg-ls" | "jpeg-ls-near" => Some("jpegls"),
                "jpeg-extended" if grey => Some("turbo"),
                _ => None,
            };
            add(&format!("{image} {name}"), ts, file, reference, grey, needs);
        }
        // Baseline JPEG is 8-bit only: the RGB card.
        if !grey {
            let file = dir.join("rgb-jpeg-baseline.dcm");
            run("dcmcjpeg", &["+eb", s(src), s(&file)]);
            add("rgb jpeg-baseline", "1.2.840.10008.1.2.4.50", file.clone(), file, false, None);
        }
        ht.extend(htj2k(dir, image, src, grey));
    }
    // Planar configuration 1, by gdcm.
    let planar = dir.join("rgb-planar.dcm");
    run("gdcmconv", &["--planar-configuration", "1", s(&rgb_src), s(&planar)]);
    add("rgb planar", "1.2.840.10008.1.2.1", planar.clone(), planar, false, None);
    out.extend(ht);
    out.extend(variants(dir));
    out
}

/// HTJ2K fixtures: lossless (.201), lossless RPCL (.202) and lossy (.203) codestreams made by
/// OpenJPH; the reference is OpenJPH's own decoding of each, stored native.
fn htj2k(dir: &Path, image: &str, src: &Path, grey: bool) -> Vec<Fixture> {
    let obj = open(src);
    let dim = |tag| u32::from(obj.element(tag).unwrap().to_int::<u16>().unwrap());
    let (w, h) = (dim(tags::COLUMNS), dim(tags::ROWS));
    let data = pixel_data(&obj);
    let (channels, maxval, samples): (u8, u32, Vec<u16>) =
        if grey { (1, 4095, data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect()) } else { (3, 255, data.iter().map(|&b| u16::from(b)).collect()) };
    let pnm = dir.join(format!("{image}.{}", if grey { "pgm" } else { "ppm" }));
    write_pnm(&pnm, w, h, channels, maxval, &samples);
    let mut out = Vec::new();
    for (name, ts, args) in [
        ("htj2k", "1.2.840.10008.1.2.4.201", &["-reversible", "true", "-prog_order", "LRCP"][..]),
        ("htj2k-rpcl", "1.2.840.10008.1.2.4.202", &["-reversible", "true", "-prog_order", "RPCL"][..]),
        ("htj2k-lossy", "1.2.840.10008.1.2.4.203", &["-qstep", "0.002"][..]),
    ] {
        let j2c = dir.join(format!("{image}-{name}.j2c"));
        let mut argv = vec!["-i", s(&pnm), "-o", s(&j2c)];
        argv.extend(args);
        run("ojph_compress", &argv);
        let file = dir.join(format!("{image}-{name}.dcm"));
        // OpenJPH applies its colour transform to three components (reversible when lossless,
        // irreversible when not), which DICOM names YBR_RCT and YBR_ICT.
        let mut obj = open(src);
        if !grey {
            let photometric = if name == "htj2k-lossy" { "YBR_ICT" } else { "YBR_RCT" };
            obj.put(DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, PrimitiveValue::from(photometric)));
        }
        let stream = std::fs::read(&j2c).unwrap();
        std::fs::write(&file, sample::to_bytes_in(sample::with_one_fragment(obj, stream), ts).unwrap()).unwrap();
        // The reference: OpenJPH's decoding, stored as native pixels in a copy of the source.
        let decoded = dir.join(format!("{image}-{name}-decoded.{}", if grey { "pgm" } else { "ppm" }));
        run("ojph_expand", &["-i", s(&j2c), "-o", s(&decoded)]);
        let pixels = parse_pnm(&decoded).4;
        let mut reference_obj = open(src);
        let bytes: Vec<u8> = if grey { pixels.iter().flat_map(|v| v.to_le_bytes()).collect() } else { pixels.iter().map(|&v| v as u8).collect() };
        reference_obj.put(DataElement::new(tags::PIXEL_DATA, if grey { VR::OW } else { VR::OB }, PrimitiveValue::from(bytes)));
        let reference = dir.join(format!("{image}-{name}-reference.dcm"));
        sample::write(reference_obj, &reference).unwrap();
        out.push(Fixture {
            name: format!("{image} {name}"),
            ts,
            file,
            reference,
            renderer: "dcmj2pnm",
            query: if grey { CT_WINDOW } else { "" },
            voi: if grey { &["+Ww", "40", "400"] } else { &[] },
            missing: None,
        });
    }
    out
}

/// Photometric and LUT variants of the native CT: MONOCHROME1, signed samples, a Modality LUT
/// Sequence, a VOI LUT Sequence, and a palette; each rendered with the file's own defaults.
fn variants(dir: &Path) -> Vec<Fixture> {
    let mut out = Vec::new();
    let mut put = |name: &str, obj: InMemDicomObject, voi: &'static [&'static str]| {
        let file = dir.join(format!("variant-{name}.dcm"));
        sample::write(obj, &file).unwrap();
        out.push(Fixture { name: format!("ct {name}"), ts: "1.2.840.10008.1.2.1", file: file.clone(), reference: file, renderer: "dcmj2pnm", query: "", voi, missing: None });
    };
    let mut mono1 = ct();
    mono1.put(DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, PrimitiveValue::from("MONOCHROME1")));
    put("monochrome1", mono1, &["+Wi", "1"]);

    // Signed: the same HU values stored as two's complement with no intercept.
    let mut signed = ct();
    let stored: Vec<u8> = pixel_data(&signed).chunks_exact(2).flat_map(|c| ((i32::from(u16::from_le_bytes([c[0], c[1]])) - 1024) as i16).to_le_bytes()).collect();
    signed.put(DataElement::new(tags::PIXEL_REPRESENTATION, VR::US, PrimitiveValue::from(1u16)));
    signed.put(DataElement::new(tags::RESCALE_INTERCEPT, VR::DS, PrimitiveValue::from("0")));
    signed.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::from(stored)));
    put("signed", signed, &["+Wi", "1"]);

    // A Modality LUT Sequence in place of the rescale: a gamma-like curve over 0..4095.
    let lut: Vec<u16> = (0..4096u32).map(|x| ((f64::from(x) / 4095.0).powf(0.7) * 4095.0).round() as u16).collect();
    let mut modality = ct();
    modality.remove_element(tags::RESCALE_INTERCEPT);
    modality.remove_element(tags::RESCALE_SLOPE);
    modality.put(lut_sequence(tags::MODALITY_LUT_SEQUENCE, 0, 12, &lut));
    modality.put(DataElement::new(tags::WINDOW_CENTER, VR::DS, PrimitiveValue::from("1500")));
    modality.put(DataElement::new(tags::WINDOW_WIDTH, VR::DS, PrimitiveValue::from("2500")));
    put("modality-lut", modality, &["+Wi", "1"]);

    // A VOI LUT Sequence (and no window): an S-curve from HU -200 to 300 into 8 bits.
    let voi: Vec<u16> = (0..500).map(|i| (255.0 / (1.0 + (-(f64::from(i) - 250.0) / 60.0).exp())).round() as u16).collect();
    let mut voi_obj = ct();
    voi_obj.remove_element(tags::WINDOW_CENTER);
    voi_obj.remove_element(tags::WINDOW_WIDTH);
    voi_obj.put(lut_sequence(tags::VOILUT_SEQUENCE, -200, 8, &voi));
    put("voi-lut", voi_obj, &["+Wl", "1"]);

    // 8-bit PALETTE COLOR through a 256-entry 16-bit palette.
    let mut palette = rgb_card();
    let indices: Vec<u8> = pixel_data(&palette).chunks_exact(3).map(|p| p[0] / 2 + p[1] / 2).collect();
    palette.put(DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)));
    palette.put(DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, PrimitiveValue::from("PALETTE COLOR")));
    palette.remove_element(tags::PLANAR_CONFIGURATION);
    palette.put(DataElement::new(tags::PIXEL_DATA, VR::OB, PrimitiveValue::from(indices)));
    let ramp = |f: fn(u32) -> u32| -> Vec<u8> { (0..256u32).flat_map(|i| (f(i).min(255) as u16 * 257).to_le_bytes()).collect() };
    for (desc, data, f) in [
        (tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR, tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA, (|i| i) as fn(u32) -> u32),
        (tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR, tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA, |i| (i * i) / 255),
        (tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR, tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA, |i| 255 - i),
    ] {
        palette.put(DataElement::new(desc, VR::US, PrimitiveValue::from([256u16, 0, 16])));
        palette.put(DataElement::new(data, VR::OW, PrimitiveValue::from(ramp(f))));
    }
    put("palette", palette, &[]);
    out
}

fn lut_sequence(tag: dicom_core::Tag, first: i32, bits: u16, data: &[u16]) -> DataElement<InMemDicomObject> {
    let descriptor = if first < 0 {
        DataElement::new(tags::LUT_DESCRIPTOR, VR::SS, PrimitiveValue::from([data.len() as i16, first as i16, bits as i16]))
    } else {
        DataElement::new(tags::LUT_DESCRIPTOR, VR::US, PrimitiveValue::from([data.len() as u16, first as u16, bits]))
    };
    let item = InMemDicomObject::from_element_iter([
        descriptor,
        DataElement::new(tags::LUT_DATA, VR::OW, PrimitiveValue::from(data.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())),
    ]);
    DataElement::new(tag, VR::SQ, dicom_core::value::DataSetSequence::from(vec![item]))
}

/// The pydicom wheel's public files that framegate renders, each against dcmtk with the file's
/// own defaults (see `default_voi`), and the codec feature each needs.
pub(super) const PUBLIC: &[(&str, Option<&str>)] = &[
    // A 1-bit segmentation: dcmtk shows its 1s as 128 (a shift to 8 bits) where framegate
    // shows them white; compared under an explicit window instead, see EXPLICIT.
    ("CT_small.dcm", None),
    ("MR_small.dcm", None),
    ("MR_small_RLE.dcm", None),
    ("MR_small_bigendian.dcm", None),
    ("MR_small_implicit.dcm", None),
    ("MR_small_padded.dcm", None),
    ("MR_small_jp2klossless.dcm", None),
    ("MR_small_jpeg_ls_lossless.dcm", Some("jpegls")),
    ("JPEG2000.dcm", None),
    ("JPGExtended.dcm", Some("turbo")),
    ("JPEGLSNearLossless_16.dcm", Some("jpegls")),
    ("image_dfl.dcm", None),
    ("examples_palette.dcm", None),
    ("examples_rgb_color.dcm", None),
    ("examples_ybr_color.dcm", None),
    ("examples_jpeg2k.dcm", None),
    ("GDCMJ2K_TextGBR.dcm", None),
    ("SC_rgb_small_odd.dcm", None),
    // 8-bit samples in OW, big endian: byte pairs swapped from the start of the value.
    ("SC_rgb_small_odd_big_endian.dcm", None),
    // An RGB JPEG without JFIF or Adobe markers: no colour transform.
    ("SC_jpeg_no_color_transform.dcm", None),
    ("SC_rgb_rle.dcm", None),
    ("SC_rgb_rle_16bit.dcm", None),
    ("SC_rgb_rle_32bit.dcm", None),
    ("SC_ybr_full_422_uncompressed.dcm", None),
    ("SC_rgb_dcmtk_+eb+cy+s2.dcm", None),
    ("SC_rgb_dcmtk_+eb+cy+s4.dcm", None),
    ("SC_rgb_dcmtk_+eb+cy+n1.dcm", None),
    ("SC_rgb_dcmtk_+eb+cy+n2.dcm", None),
    ("SC_rgb_dcmtk_+eb+cy+np.dcm", None),
    ("SC_rgb_dcmtk_+eb+cr.dcm", None),
    ("SC_rgb_jpeg_dcmtk.dcm", None),
    ("SC_rgb_jls_lossy_sample.dcm", Some("jpegls")),
    ("rtdose_1frame.dcm", None),
    ("rtdose_rle_1frame.dcm", None),
];

/// A planted value for an attribute of the profile's table, distinctive enough to search for
/// in bytes, or `None` for VRs whose values cannot be told apart in a byte stream.
fn plant(n: usize, vr: VR) -> Option<PrimitiveValue> {
    Some(match vr {
        VR::PN | VR::LO | VR::SH | VR::LT | VR::ST | VR::UT | VR::UC => PrimitiveValue::from(format!("PLANTED{n:04}X")),
        VR::AE | VR::CS => PrimitiveValue::from(format!("PLNT{n:04}")),
        VR::UI => PrimitiveValue::from(format!("1.2.826.0.1.3680043.10.{n}")),
        VR::DA => PrimitiveValue::from(format!("1901{:02}{:02}", 1 + n % 12, 1 + n % 28)),
        VR::DT => PrimitiveValue::from(format!("1901{:02}{:02}1234{:02}", 1 + n % 12, 1 + n % 28, n % 60)),
        _ => return None,
    })
}

/// Every attribute of Table E.1-1 that the dictionary types, with a planted value; the values
/// that must not leave.
pub fn planted_object(series: u64, instance: u64) -> (InMemDicomObject, Vec<String>) {
    let mut obj = sample::ct_slice(0, 1, 32);
    let mut planted = std::collections::BTreeMap::new();
    let table = include_str!("../../src/deid/basic_profile.tsv");
    for (n, line) in table.lines().filter(|l| !l.starts_with('#')).enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        let (g, e) = (u16::from_str_radix(f[0], 16).unwrap(), u16::from_str_radix(f[1], 16).unwrap());
        if f[2] != "FFFF" || g <= 0x0002 {
            continue;
        }
        let tag = Tag(g, e);
        let Some(entry) = StandardDataDictionary.by_tag(tag) else { continue };
        let VirtualVr::Exact(vr) = entry.vr() else { continue };
        if vr == VR::SQ {
            // A sequence with an identifying value inside.
            let value = format!("PLANTEDSQ{n:04}X");
            let item = InMemDicomObject::from_element_iter([DataElement::new(tags::PATIENT_NAME, VR::PN, PrimitiveValue::from(value.as_str()))]);
            obj.put(DataElement::new(tag, VR::SQ, DataSetSequence::new(vec![item], Length::UNDEFINED)));
            planted.insert(tag, value);
        } else if let Some(value) = plant(n, vr) {
            planted.insert(tag, value.to_str().into_owned());
            obj.put(DataElement::new(tag, vr, value));
        }
    }
    // The identity of this instance, and a private block.
    for (tag, value) in [
        (tags::STUDY_INSTANCE_UID, "1.2.826.0.1.3680043.10.7777".to_owned()),
        (tags::SERIES_INSTANCE_UID, format!("1.2.826.0.1.3680043.10.8888.{series}")),
        (tags::SOP_INSTANCE_UID, format!("1.2.826.0.1.3680043.10.9999.{series}.{instance}")),
    ] {
        planted.insert(tag, value.clone());
        obj.put(DataElement::new(tag, VR::UI, PrimitiveValue::from(value)));
    }
    for (tag, value) in plant_overlays(&mut obj) {
        planted.insert(tag, value);
    }
    // UIDs and names the table does not list (review 3, item 3): the original UIDs again, which
    // would link the de-identified instance back, a document author, and a name in a group no
    // dictionary knows.
    let sop = format!("1.2.826.0.1.3680043.10.9999.{series}.{instance}");
    for (tag, vr, value) in [
        (Tag(0x0020, 0x0242), VR::UI, sop.clone()),
        (Tag(0x0008, 0x1167), VR::UI, sop.clone()),
        (Tag(0x0008, 0x9123), VR::UI, sop.clone()),
        (Tag(0x0020, 0x9312), VR::UI, sop.clone()),
        (Tag(0x0020, 0x9313), VR::UI, "1.2.826.0.1.3680043.10.7777".to_owned()),
        (Tag(0x0040, 0xA067), VR::PN, "Author^Planted".to_owned()),
        (Tag(0x0012, 0x9F99), VR::PN, "Unknowngroup^Planted".to_owned()),
    ] {
        obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value.as_str())));
        planted.entry(tag).or_insert(value);
    }
    // An attribute `--raw-dicom deny` allows, written as a sequence that holds a name (item 8).
    let inside = InMemDicomObject::from_element_iter([DataElement::new(tags::PATIENT_NAME, VR::PN, PrimitiveValue::from("Sequenced^Planted"))]);
    obj.put(DataElement::new(tags::SLICE_LOCATION, VR::SQ, DataSetSequence::new(vec![inside], Length::UNDEFINED)));
    planted.insert(tags::SLICE_LOCATION, "Sequenced^Planted".to_owned());
    obj.put(DataElement::new(Tag(0x0011, 0x0010), VR::LO, PrimitiveValue::from("ACME PRIVATE")));
    obj.put(DataElement::new(Tag(0x0011, 0x1001), VR::LO, PrimitiveValue::from("PRIVATEPLANT")));
    planted.insert(Tag(0x0011, 0x1001), "PRIVATEPLANT".into());
    (obj, planted.into_values().collect())
}

/// Two overlays, in groups 6000 and 6002, whose geometry a viewer needs and whose text and
/// statistics the table does not name (review item 8): the text values, which must not leave.
pub(super) fn plant_overlays(obj: &mut InMemDicomObject) -> Vec<(Tag, String)> {
    let mut planted = Vec::new();
    for group in [0x6000, 0x6002] {
        for (tag, vr, value) in overlay_geometry(group) {
            obj.put(DataElement::new(tag, vr, value));
        }
        obj.put(DataElement::new(Tag(group, 0x3000), VR::OW, PrimitiveValue::U16(vec![0x5555; 32 * 32 / 16].into())));
        for (element, vr, value) in [
            (0x0022, VR::LO, format!("OVLDESC{group:04X} Doe^Jane")),
            (0x0045, VR::LO, format!("OVLSUBTYPE{group:04X}")),
            (0x1500, VR::LO, format!("OVLLABEL{group:04X}")),
            (0x1301, VR::IS, format!("18{group:04X}917")),
            (0x1302, VR::DS, format!("271828.18{group:04X}")),
            (0x1303, VR::DS, format!("161803.39{group:04X}")),
            (0x4000, VR::LT, format!("OVLCOMMENT{group:04X}")),
        ] {
            obj.put(DataElement::new(Tag(group, element), vr, PrimitiveValue::from(value.as_str())));
            planted.push((Tag(group, element), value));
        }
    }
    planted
}

/// The elements that place and size an overlay in `group`, which de-identification keeps.
pub(super) fn overlay_geometry(group: u16) -> Vec<(Tag, VR, PrimitiveValue)> {
    let us = |v: u16| PrimitiveValue::from(v);
    vec![
        (Tag(group, 0x0010), VR::US, us(32)),
        (Tag(group, 0x0011), VR::US, us(32)),
        (Tag(group, 0x0015), VR::IS, PrimitiveValue::from("1")),
        (Tag(group, 0x0040), VR::CS, PrimitiveValue::from("G")),
        (Tag(group, 0x0050), VR::SS, PrimitiveValue::I16(vec![1, 1].into())),
        (Tag(group, 0x0051), VR::US, us(1)),
        (Tag(group, 0x0100), VR::US, us(1)),
        (Tag(group, 0x0102), VR::US, us(0)),
    ]
}

/// The side of [`hu_square`]'s square, and where it starts on both axes, for a `size`² slice.
pub(super) fn hu_square_span(size: u16) -> std::ops::Range<u16> {
    size / 4..size / 2
}

/// The HU of [`hu_square`]'s pixel: -1000 (air) outside the square, and inside it a checker of
/// `100 + 10 * index - 10` and `+ 10`, so that the square's mean is `100 + 10 * index` HU with a
/// standard deviation of 10 HU, its minimum and maximum 10 HU either side.
pub(super) fn hu_square_value(index: usize, size: u16, col: u16, row: u16) -> i32 {
    let span = hu_square_span(size);
    if !span.contains(&col) || !span.contains(&row) {
        return -1000;
    }
    100 + 10 * index as i32 + if (col + row).is_multiple_of(2) { -10 } else { 10 }
}

/// Slice `index` of `slices` of the CT phantom's series (spacing 0.9765625 mm, rescale
/// intercept -1024) with its pixels replaced by [`hu_square_value`]'s: values a test knows.
pub(super) fn hu_square(index: usize, slices: usize, size: u16) -> Vec<u8> {
    sample::to_bytes(hu_square_object(index, slices, size)).unwrap()
}

/// [`hu_square`]'s object, for a test to change before storing it.
pub(super) fn hu_square_object(index: usize, slices: usize, size: u16) -> InMemDicomObject {
    let mut obj = sample::ct_slice(index, slices, size);
    let pixels: Vec<u8> = (0..size).flat_map(|row| (0..size).flat_map(move |col| ((hu_square_value(index, size, col, row) + 1024) as u16).to_le_bytes())).collect();
    obj.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::from(pixels)));
    obj
}
