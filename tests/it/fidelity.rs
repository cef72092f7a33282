//! Pixel fidelity against a reference renderer: every fixture is rendered by framegate and by
//! dcmtk's dcmj2pnm with the same window, and the 8-bit pictures compared before JPEG encoding
//! (framegate's PNG output) and after (its JPEG at quality 95, by PSNR).
//!
//! Fixtures: a synthetic 12-bit CT and an 8-bit RGB card converted into every transfer syntax
//! by dcmtk, gdcm and OpenJPH, plus LUT, MONOCHROME1, signed and palette variants. dcmtk
//! cannot read JPEG 2000, so those references are gdcm's decompression; HTJ2K references are
//! OpenJPH's own decoding written back as a native file.

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::fixtures::{PUBLIC, fidelity_tools_present, fixtures, s};
use super::support::*;

/// The largest difference allowed between the two 8-bit pictures (rounding differs by one).
const MAX_GREY_DIFF: u8 = 1;
/// Lossy JPEG decoded by jpeg-decoder (the build without libjpeg-turbo) against dcmtk's IJG:
/// their IDCTs and chroma upsampling round differently, measured at up to 3 levels in under 10%
/// of the pixels of the colour card. libjpeg-turbo shares IJG's arithmetic and is held to ±1.
const JPEG_DECODER_MAX_DIFF: u8 = 3;
/// The least PSNR of framegate's quality-95 JPEG against the reference picture.
const MIN_PSNR: f64 = 40.0;

/// Whether framegate's picture is the reference's: within ±1 level everywhere, except lossy
/// JPEG through jpeg-decoder (see `JPEG_DECODER_MAX_DIFF`). `off_by_more` of `total` samples
/// differ by more than one level, the largest by `max_diff`.
fn close_enough(ts: &str, max_diff: u8, off_by_more: usize, total: usize) -> bool {
    let jpeg_decoder = !cfg!(feature = "turbo") && matches!(ts, "1.2.840.10008.1.2.4.50" | "1.2.840.10008.1.2.4.51");
    if jpeg_decoder { max_diff <= JPEG_DECODER_MAX_DIFF && off_by_more * 10 <= total } else { off_by_more == 0 }
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
    if !fidelity_tools_present() {
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
    if !fidelity_tools_present() {
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
    let failed: Vec<_> = report.iter().filter(|(_, ts, max, over, total)| !close_enough(ts, *max, *over, *total)).map(|(name, ..)| *name).collect();
    assert!(failed.is_empty(), "public files differ from dcmtk: {failed:?}");
    assert!(report.len() >= 25, "only {} public files compared", report.len());
    server.stop().await;
}
