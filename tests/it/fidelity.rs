//! Pixel fidelity against a reference renderer: every fixture is rendered by framegate and by
//! dcmtk's dcmj2pnm with the same window, and the 8-bit pictures compared before JPEG encoding
//! (framegate's PNG output) and after (its JPEG at quality 95, by PSNR).
//!
//! Fixtures: a synthetic 12-bit CT and an 8-bit RGB card converted into every transfer syntax
//! by dcmtk, gdcm and OpenJPH, plus LUT, MONOCHROME1, signed and palette variants. dcmtk
//! cannot read JPEG 2000, so those references are gdcm's decompression; HTJ2K references are
//! OpenJPH's own decoding written back as a native file.

use std::path::{Path, PathBuf};

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::support::*;
use framegate::sample;

const TOOLS: &[&str] = &["dcmj2pnm", "dcml2pnm", "dcmconv", "dcmcrle", "dcmcjpeg", "dcmcjpls", "gdcmconv", "ojph_compress", "ojph_expand"];
const CT_WINDOW: &str = "40,400";
/// The largest difference allowed between the two 8-bit pictures (rounding differs by one).
const MAX_GREY_DIFF: u8 = 1;
/// Lossy JPEG decoded by jpeg-decoder (the build without libjpeg-turbo) against dcmtk's IJG:
/// their IDCTs and chroma upsampling round differently, measured at up to 3 levels in under 10%
/// of the pixels of the colour card. libjpeg-turbo shares IJG's arithmetic and is held to ±1.
const JPEG_DECODER_MAX_DIFF: u8 = 3;
/// The least PSNR of framegate's quality-95 JPEG against the reference picture.
const MIN_PSNR: f64 = 40.0;

/// One fixture: a file framegate serves and the file dcmj2pnm renders as the reference.
pub(super) struct Fixture {
    pub(super) name: String,
    pub(super) ts: &'static str,
    pub(super) file: PathBuf,
    reference: PathBuf,
    /// The reference renderer: dcmj2pnm, or dcml2pnm for JPEG-LS.
    renderer: &'static str,
    /// framegate's query and dcmj2pnm's matching VOI options.
    pub(super) query: &'static str,
    voi: &'static [&'static str],
    /// The cargo feature whose codec decodes it, when this build lacks it: then the frame must
    /// answer 415 naming the feature.
    pub(super) missing: Option<&'static str>,
}

/// Whether framegate's picture is the reference's: within ±1 level everywhere, except lossy
/// JPEG through jpeg-decoder (see `JPEG_DECODER_MAX_DIFF`). `off_by_more` of `total` samples
/// differ by more than one level, the largest by `max_diff`.
fn close_enough(ts: &str, max_diff: u8, off_by_more: usize, total: usize) -> bool {
    let jpeg_decoder = !cfg!(feature = "turbo") && matches!(ts, "1.2.840.10008.1.2.4.50" | "1.2.840.10008.1.2.4.51");
    if jpeg_decoder { max_diff <= JPEG_DECODER_MAX_DIFF && off_by_more * 10 <= total } else { off_by_more == 0 }
}

pub(super) fn tools_present() -> bool {
    TOOLS.iter().all(|t| have_tool(t))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Writes samples as a PGM (maxval > 255: 16-bit big endian) or PPM for OpenJPH.
fn write_pnm(path: &Path, w: u32, h: u32, channels: u8, maxval: u32, samples: &[u16]) {
    let magic = if channels == 1 { "P5" } else { "P6" };
    let mut out = format!("{magic}\n{w} {h}\n{maxval}\n").into_bytes();
    for &v in samples {
        if maxval > 255 { out.extend_from_slice(&v.to_be_bytes()) } else { out.push(v as u8) }
    }
    std::fs::write(path, out).unwrap();
}

fn open(path: &Path) -> InMemDicomObject {
    dicom_object::open_file(path).unwrap().into_inner()
}

fn pixel_data(obj: &InMemDicomObject) -> Vec<u8> {
    obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap().into_owned()
}

fn ct() -> InMemDicomObject {
    sample::ct_slice(3, 8, 128)
}

/// An 8-bit RGB test card: colour ramps and a few saturated patches.
fn rgb_card() -> InMemDicomObject {
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
    let (channels, maxval, samples): (u8, u32, Vec<u16>) = if grey {
        (1, 4095, data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect())
    } else {
        (3, 255, data.iter().map(|&b| u16::from(b)).collect())
    };
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
        out.push(Fixture {
            name: format!("ct {name}"),
            ts: "1.2.840.10008.1.2.1",
            file: file.clone(),
            reference: file,
            renderer: "dcmj2pnm",
            query: "",
            voi,
            missing: None,
        });
    };
    let mut mono1 = ct();
    mono1.put(DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, PrimitiveValue::from("MONOCHROME1")));
    put("monochrome1", mono1, &["+Wi", "1"]);

    // Signed: the same HU values stored as two's complement with no intercept.
    let mut signed = ct();
    let stored: Vec<u8> = pixel_data(&signed)
        .chunks_exact(2)
        .flat_map(|c| ((i32::from(u16::from_le_bytes([c[0], c[1]])) - 1024) as i16).to_le_bytes())
        .collect();
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

/// The outcome of one fixture, for the table printed at the end.
struct Outcome {
    name: String,
    pub(super) ts: &'static str,
    max_diff: u8,
    off_by_more: usize,
    psnr: f64,
    passed: bool,
}

#[tokio::test]
async fn framegate_renders_what_dcmtk_renders() {
    if !tools_present() {
        return;
    }
    let server = Server::start().await;
    let dir = server.path("fx");
    std::fs::create_dir_all(&dir).unwrap();
    let fixtures = fixtures(&dir);
    let mut outcomes = Vec::new();
    let mut skipped = Vec::new();
    for fx in &fixtures {
        let rel = format!("fx/{}", fx.file.file_name().unwrap().to_str().unwrap());
        if let Some(feature) = fx.missing {
            let r = get(&server.url("fx", &rel, "/-/frames/1.png")).await;
            assert_eq!(r.status, 415, "{} without {feature}", fx.name);
            assert!(r.error().contains(feature), "{}: {}", fx.name, r.error());
            skipped.push(format!("{} (needs {feature})", fx.name));
            continue;
        }
        let pnm = fx.reference.with_extension("pnm");
        let mut args: Vec<&str> = fx.voi.to_vec();
        args.extend([s(&fx.reference), s(&pnm)]);
        run(fx.renderer, &args);
        let (rw, rh, rc, reference) = read_pnm(&pnm);

        let query = if fx.query.is_empty() { String::new() } else { format!("?window={}", fx.query) };
        let png = get(&server.url("fx", &rel, &format!("/-/frames/1.png{query}"))).await;
        assert_eq!(png.status, 200, "{}: {}", fx.name, String::from_utf8_lossy(&png.body));
        assert_eq!(png.header("content-type"), Some("image/png"));
        let (w, h, c, ours) = decode_png(&png.body);
        assert_eq!((w, h, c), (rw, rh, rc), "{}: size or channels differ from the reference", fx.name);
        let diffs: Vec<u8> = ours.iter().zip(&reference).map(|(a, b)| a.abs_diff(*b)).collect();
        let max_diff = diffs.iter().copied().max().unwrap_or(0);
        let off_by_more = diffs.iter().filter(|d| **d > MAX_GREY_DIFF).count();

        let sep = if query.is_empty() { "?" } else { "&" };
        let jpeg = get(&server.url("fx", &rel, &format!("/-/frames/1.jpg{query}{sep}quality=95"))).await;
        let (jw, jh, jpeg_pixels) = jpeg.jpeg();
        assert_eq!((u32::from(jw), u32::from(jh)), (rw, rh), "{}", fx.name);
        let psnr = psnr(&jpeg_pixels, &reference);
        // Lossy streams decoded by two different decoders may round a handful of pixels
        // differently; at most 0.5% of them, and never by more than 2 levels.
        let passed = close_enough(fx.ts, max_diff, off_by_more, diffs.len()) && psnr >= MIN_PSNR;
        outcomes.push(Outcome { name: fx.name.clone(), ts: fx.ts, max_diff, off_by_more, psnr, passed });
    }
    eprintln!("{:<24} {:<26} {:>8} {:>10} {:>9}", "fixture", "transfer syntax", "max diff", "pixels >1", "JPEG PSNR");
    for o in &outcomes {
        eprintln!("{:<24} {:<26} {:>8} {:>10} {:>9.1} {}", o.name, o.ts, o.max_diff, o.off_by_more, o.psnr, if o.passed { "ok" } else { "FAILED" });
    }
    eprintln!("answered 415 in this build: {skipped:?}");
    let failed: Vec<&str> = outcomes.iter().filter(|o| !o.passed).map(|o| o.name.as_str()).collect();
    assert!(failed.is_empty(), "fixtures differ from the reference: {failed:?}");
    server.stop().await;
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

/// Files compared under an explicit window: (name, centre, width).
const EXPLICIT: &[(&str, &str, &str)] = &[("liver_1frame.dcm", "0.5", "1")];

/// dcmtk's options for the VOI framegate applies by default: the file's first window, else its
/// first VOI LUT, else the frame's range (min-max) for grey data wider than 8 bits; 8-bit grey
/// data is shown as stored, and colour has no VOI.
fn default_voi(obj: &InMemDicomObject) -> &'static [&'static str] {
    let grey = obj.element(tags::SAMPLES_PER_PIXEL).map_or(true, |e| e.to_int::<u16>().unwrap_or(1) == 1)
        && obj.element(tags::PHOTOMETRIC_INTERPRETATION).is_ok_and(|e| e.to_str().unwrap_or_default().trim().starts_with("MONOCHROME"));
    let bits = obj.element(tags::BITS_STORED).map_or(16, |e| e.to_int::<u16>().unwrap_or(16));
    if !grey {
        &[]
    } else if obj.element(tags::WINDOW_CENTER).is_ok() {
        &["+Wi", "1"]
    } else if obj.element(tags::VOILUT_SEQUENCE).is_ok() {
        &["+Wl", "1"]
    } else if bits <= 8 {
        &["-W"]
    } else {
        &["+Wm"]
    }
}

#[tokio::test]
async fn public_test_files_render_what_dcmtk_renders() {
    let corpus = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/pydicom/pydicom/data/test_files");
    if !corpus.is_dir() {
        assert!(std::env::var_os("CI").is_none(), "pydicom test files missing; .ci/run fetches them");
        return;
    }
    if !tools_present() {
        return;
    }
    let server = Server::start().await;
    let dir = server.path("pd");
    std::fs::create_dir_all(&dir).unwrap();
    let mut report = Vec::new();
    let explicit = EXPLICIT.iter().map(|&(name, c, w)| (name, None, Some((c, w))));
    for (name, needs, window) in PUBLIC.iter().map(|&(name, needs)| (name, needs, None)).chain(explicit) {
        if needs.is_some_and(|f| !built_with(f)) {
            continue;
        }
        let file = dir.join(name);
        std::fs::copy(corpus.join(name), &file).unwrap();
        let obj = dicom_object::open_file(&file).unwrap();
        let ts = obj.meta().transfer_syntax().trim_end_matches('\0').to_owned();
        let voi: Vec<&str> = match window {
            Some((c, w)) => vec!["+Ww", c, w],
            None => default_voi(&obj).to_vec(),
        };
        let renderer = if ts.starts_with("1.2.840.10008.1.2.4.8") { "dcml2pnm" } else { "dcmj2pnm" };
        let reference = if ts.starts_with("1.2.840.10008.1.2.4.9") {
            let raw = dir.join(format!("{name}.raw.dcm"));
            run("gdcmconv", &["--raw", s(&file), s(&raw)]);
            raw
        } else {
            file.clone()
        };
        let pnm = dir.join(format!("{name}.pnm"));
        let mut args = voi.clone();
        args.extend([s(&reference), s(&pnm)]);
        run(renderer, &args);
        let (rw, rh, rc, expected) = read_pnm(&pnm);
        let query = window.map(|(c, w)| format!("?window={c},{w}")).unwrap_or_default();
        let png = get(&server.url("pd", &format!("pd/{name}"), &format!("/-/frames/1.png{query}"))).await;
        assert_eq!(png.status, 200, "{name}: {}", String::from_utf8_lossy(&png.body));
        let (w, h, c, ours) = decode_png(&png.body);
        assert_eq!((w, h, c), (rw, rh, rc), "{name}");
        let max = ours.iter().zip(&expected).map(|(a, b)| a.abs_diff(*b)).max().unwrap_or(0);
        let over = ours.iter().zip(&expected).filter(|(a, b)| a.abs_diff(**b) > MAX_GREY_DIFF).count();
        report.push((name, ts, max, over, ours.len()));
    }
    for (name, ts, max, over, total) in &report {
        eprintln!("{name:<36} {ts:<24} max diff {max:>3}, {over:>6} of {total} pixels off by more than {MAX_GREY_DIFF}");
    }
    let failed: Vec<_> = report
        .iter()
        .filter(|(_, ts, max, over, total)| !close_enough(ts, *max, *over, *total))
        .map(|(name, ..)| *name)
        .collect();
    assert!(failed.is_empty(), "public files differ from dcmtk: {failed:?}");
    assert!(report.len() >= 25, "only {} public files compared", report.len());
    server.stop().await;
}
