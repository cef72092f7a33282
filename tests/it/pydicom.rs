//! The public test files of the pydicom wheel (`bash .ci/fetch-pydicom` unpacks them into
//! target/pydicom): every file gets an answer and the server never fails; the ones the core
//! supports render, and lossless variants of one image render identically.

use std::path::PathBuf;

use super::support::*;

fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("FRAMEGATE_PYDICOM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/pydicom/pydicom/data/test_files"));
    if dir.is_dir() {
        return Some(dir);
    }
    skip(&format!("pydicom test files missing in {dir:?} (run bash .ci/fetch-pydicom, as .ci/run does)"));
    None
}

/// Files the core must render, with their frame count and size.
const RENDERS: &[(&str, u32, u16, u16)] = &[
    ("CT_small.dcm", 1, 128, 128),
    ("MR_small.dcm", 1, 64, 64),
    ("MR_small_RLE.dcm", 1, 64, 64),
    ("MR_small_bigendian.dcm", 1, 64, 64),
    ("MR_small_expb.dcm", 1, 64, 64),
    ("MR_small_implicit.dcm", 1, 64, 64),
    ("MR_small_jp2klossless.dcm", 1, 64, 64),
    ("MR_small_padded.dcm", 1, 64, 64),
    ("JPEG2000.dcm", 1, 256, 1024),
    ("rtdose.dcm", 15, 10, 10),
    ("liver_1frame.dcm", 1, 512, 512),
    ("examples_palette.dcm", 1, 800, 350),
    ("examples_rgb_color.dcm", 1, 320, 240),
    ("examples_ybr_color.dcm", 30, 320, 240),
    ("SC_rgb_rle.dcm", 1, 100, 100),
    ("SC_rgb_rle_16bit_2frame.dcm", 2, 100, 100),
    ("SC_ybr_full_422_uncompressed.dcm", 1, 100, 100),
    ("SC_rgb_jpeg_dcmtk.dcm", 1, 100, 100),
    ("SC_rgb_small_odd.dcm", 1, 3, 3),
    ("image_dfl.dcm", 1, 512, 512),
    ("SC_rgb_rle_32bit_2frame.dcm", 2, 100, 100),
    ("rtdose_rle.dcm", 15, 10, 10),
    ("SC_rgb_dcmtk_+eb+cy+s4.dcm", 1, 100, 100),
    ("examples_jpeg2k.dcm", 1, 640, 480),
    ("693_J2KI.dcm", 1, 512, 512),
    // Number of Frames reads "1A": the native data's length tells 15.
    ("badVR.dcm", 15, 10, 10),
    ("SC_rgb_small_odd_big_endian.dcm", 1, 3, 3),
    ("SC_jpeg_no_color_transform.dcm", 1, 256, 256),
];

/// Files that need a codec feature, rendered when the build has it.
const RENDERS_WITH: &[(&str, &str, u32, u16, u16)] = &[
    ("turbo", "JPGExtended.dcm", 1, 256, 1024),
    ("turbo", "JPEG-lossy.dcm", 1, 256, 1024),
    ("jpegls", "MR_small_jpeg_ls_lossless.dcm", 1, 64, 64),
    ("jpegls", "JPEGLSNearLossless_16.dcm", 1, 10, 50),
    ("jpegls", "SC_rgb_jls_lossy_sample.dcm", 1, 100, 100),
];

/// What every file of the corpus answers, for its info.json and its first frame: 200, 415 (a
/// syntax this build cannot decode) or 422 (a file framegate cannot use). Pinned, so that a
/// file moving between them is seen; [`ANSWERS_WITH`] holds what a codec feature changes.
const ANSWERS: &[(&str, u16, u16)] = &[
    ("693_J2KI.dcm", 200, 200),
    ("CT_small.dcm", 200, 200),
    ("ExplVR_BigEnd.dcm", 200, 200),
    ("ExplVR_BigEndNoMeta.dcm", 422, 422),
    ("ExplVR_LitEndNoMeta.dcm", 422, 422),
    ("GDCMJ2K_TextGBR.dcm", 200, 200),
    ("J2K_pixelrep_mismatch.dcm", 200, 200),
    ("JPEG-lossy.dcm", 200, 415),
    ("JPEG2000-embedded-sequence-delimiter.dcm", 200, 422),
    ("JPEG2000.dcm", 200, 200),
    ("JPEGLSNearLossless_08.dcm", 200, 415),
    ("JPEGLSNearLossless_16.dcm", 200, 415),
    ("JPGExtended.dcm", 200, 415),
    ("MR_small.dcm", 200, 200),
    ("MR_small_RLE.dcm", 200, 200),
    ("MR_small_bigendian.dcm", 200, 200),
    ("MR_small_expb.dcm", 200, 200),
    ("MR_small_implicit.dcm", 200, 200),
    ("MR_small_jp2klossless.dcm", 200, 200),
    ("MR_small_jpeg_ls_lossless.dcm", 200, 415),
    ("MR_small_padded.dcm", 200, 200),
    ("MR_truncated.dcm", 422, 422),
    ("SC_jpeg_no_color_transform.dcm", 200, 200),
    ("SC_jpeg_no_color_transform_2.dcm", 200, 200),
    ("SC_rgb_dcmtk_+eb+cr.dcm", 200, 200),
    ("SC_rgb_dcmtk_+eb+cy+n1.dcm", 200, 200),
    ("SC_rgb_dcmtk_+eb+cy+n2.dcm", 200, 200),
    ("SC_rgb_dcmtk_+eb+cy+np.dcm", 200, 200),
    ("SC_rgb_dcmtk_+eb+cy+s2.dcm", 200, 200),
    ("SC_rgb_dcmtk_+eb+cy+s4.dcm", 200, 200),
    ("SC_rgb_gdcm_KY.dcm", 200, 200),
    ("SC_rgb_jls_lossy_line.dcm", 200, 415),
    ("SC_rgb_jls_lossy_sample.dcm", 200, 415),
    ("SC_rgb_jpeg.dcm", 422, 422),
    ("SC_rgb_jpeg_app14_dcmd.dcm", 200, 200),
    ("SC_rgb_jpeg_dcmd.dcm", 200, 200),
    ("SC_rgb_jpeg_dcmtk.dcm", 200, 200),
    ("SC_rgb_jpeg_gdcm.dcm", 200, 200),
    ("SC_rgb_jpeg_lossy_gdcm.dcm", 200, 200),
    ("SC_rgb_rle.dcm", 200, 200),
    ("SC_rgb_rle_16bit.dcm", 200, 200),
    ("SC_rgb_rle_16bit_2frame.dcm", 200, 200),
    ("SC_rgb_rle_2frame.dcm", 200, 200),
    ("SC_rgb_rle_32bit.dcm", 200, 200),
    ("SC_rgb_rle_32bit_2frame.dcm", 200, 200),
    ("SC_rgb_small_odd.dcm", 200, 200),
    ("SC_rgb_small_odd_big_endian.dcm", 200, 200),
    ("SC_rgb_small_odd_jpeg.dcm", 200, 200),
    ("SC_ybr_full_422_uncompressed.dcm", 200, 200),
    ("UN_sequence.dcm", 422, 422),
    ("badVR.dcm", 200, 200),
    ("empty_charset_LEI.dcm", 422, 422),
    ("examples_jpeg2k.dcm", 200, 200),
    ("examples_overlay.dcm", 200, 200),
    ("examples_palette.dcm", 200, 200),
    ("examples_rgb_color.dcm", 200, 200),
    ("examples_ybr_color.dcm", 200, 200),
    ("image_dfl.dcm", 200, 200),
    ("liver_1frame.dcm", 200, 200),
    ("liver_expb_1frame.dcm", 200, 200),
    ("meta_missing_tsyntax.dcm", 422, 422),
    ("nested_priv_SQ.dcm", 422, 422),
    ("no_meta.dcm", 422, 422),
    ("no_meta_group_length.dcm", 422, 422),
    ("priv_SQ.dcm", 422, 422),
    ("reportsi.dcm", 422, 422),
    ("reportsi_with_empty_number_tags.dcm", 422, 422),
    ("rtdose.dcm", 200, 200),
    ("rtdose_1frame.dcm", 200, 200),
    ("rtdose_expb.dcm", 200, 200),
    ("rtdose_expb_1frame.dcm", 200, 200),
    ("rtdose_rle.dcm", 200, 200),
    ("rtdose_rle_1frame.dcm", 200, 200),
    ("rtplan.dcm", 422, 422),
    ("rtplan_truncated.dcm", 422, 422),
    ("rtstruct.dcm", 422, 422),
    ("test-SR.dcm", 422, 422),
    ("waveform_ecg.dcm", 422, 422),
];

/// What a build with a codec feature answers otherwise: (feature, file, info.json, first frame).
const ANSWERS_WITH: &[(&str, &str, u16, u16)] = &[
    ("turbo", "JPEG-lossy.dcm", 200, 200),
    ("turbo", "JPGExtended.dcm", 200, 200),
    ("jpegls", "MR_small_jpeg_ls_lossless.dcm", 200, 200),
    ("jpegls", "JPEGLSNearLossless_16.dcm", 200, 200),
    ("jpegls", "SC_rgb_jls_lossy_sample.dcm", 200, 200),
    ("jpegls", "JPEGLSNearLossless_08.dcm", 200, 200),
    ("jpegls", "SC_rgb_jls_lossy_line.dcm", 200, 200),
];

/// The answers this build should give for `name`, if the tables know it.
fn expected(name: &str) -> Option<(u16, u16)> {
    let with = ANSWERS_WITH.iter().rev().find(|(feature, n, ..)| *n == name && built_with(feature)).map(|&(_, _, info, frame)| (info, frame));
    with.or_else(|| ANSWERS.iter().find(|(n, ..)| *n == name).map(|&(_, info, frame)| (info, frame)))
}

#[tokio::test]
async fn every_public_test_file_gets_an_answer_and_nothing_breaks() {
    let Some(corpus) = corpus() else { return };
    let server = Server::start().await;
    let target = server.path("pd");
    std::fs::create_dir_all(&target).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&corpus)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".dcm"))
        .collect();
    names.sort();
    assert!(names.len() > 60, "corpus looks incomplete: {} files", names.len());
    let mut rendered = Vec::new();
    let mut answers = Vec::new();
    for name in &names {
        std::fs::copy(corpus.join(name), target.join(name)).unwrap();
        let info = get(&server.url("pd", &format!("pd/{name}"), "/-/info.json")).await;
        let frame = get(&server.url("pd", &format!("pd/{name}"), "/-/frames/1.jpg")).await;
        for r in [&info, &frame] {
            assert!(matches!(r.status, 200 | 415 | 422), "{name}: {} {}", r.status, String::from_utf8_lossy(&r.body));
            if r.status != 200 {
                assert!(!r.error().is_empty(), "{name}");
            }
        }
        answers.push((name.clone(), info.status, frame.status));
        if frame.status == 200 {
            frame.jpeg();
            rendered.push(name.clone());
        } else {
            eprintln!("{name}: {} {}", frame.status, frame.error());
        }
    }
    let with_features = RENDERS_WITH.iter().filter(|(f, ..)| built_with(f)).map(|&(_, name, frames, w, h)| (name, frames, w, h));
    for (name, frames, width, height) in RENDERS.iter().copied().chain(with_features) {
        assert!(rendered.contains(&name.to_string()), "{name} should render");
        let info = get(&server.url("pd", &format!("pd/{name}"), "/-/info.json")).await.json();
        assert_eq!(info["frames"], frames, "{name}");
        let last = get(&server.url("pd", &format!("pd/{name}"), &format!("/-/frames/{frames}.jpg"))).await;
        let (w, h, _) = last.jpeg();
        assert_eq!((w, h), (width, height), "{name}");
    }
    eprintln!("{} of {} files render: {rendered:?}", rendered.len(), names.len());
    let differ: Vec<String> = answers
        .iter()
        .filter(|(name, info, frame)| expected(name) != Some((*info, *frame)))
        .map(|(name, info, frame)| format!("    (\"{name}\", {info}, {frame}), // pinned: {:?}", expected(name)))
        .collect();
    assert!(differ.is_empty(), "files answer other than ANSWERS (or ANSWERS_WITH for this build's features) say:\n{}", differ.join("\n"));
    assert_eq!(get(&format!("{}/healthz", server.base())).await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn lossless_variants_of_one_image_render_identically() {
    let Some(corpus) = corpus() else { return };
    let server = Server::start().await;
    std::fs::create_dir_all(server.path("pd")).unwrap();
    let variants = ["MR_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm", "MR_small_jp2klossless.dcm", "MR_small_padded.dcm"];
    let mut bodies = Vec::new();
    for name in variants {
        std::fs::copy(corpus.join(name), server.path(&format!("pd/{name}"))).unwrap();
        let r = get(&server.url("pd", &format!("pd/{name}"), "/-/frames/1.jpg")).await;
        assert_eq!(r.status, 200, "{name}");
        bodies.push((name, r.body));
    }
    for (name, body) in &bodies[1..] {
        assert!(*body == bodies[0].1, "{name} renders differently from MR_small.dcm");
    }
    server.stop().await;
}

/// The whole corpus through `ingest` into a folder: every file is accounted for in the manifest
/// (written, a duplicate instance, skipped or failed with a reason), none stops the run, and no
/// patient's name or ID from any file is found in any stored byte.
#[tokio::test]
async fn the_whole_corpus_ingests_and_no_name_or_id_is_stored() {
    use std::sync::Arc;
    use framegate::ingest::{self, Destination, Options, Source};
    let Some(dir) = corpus() else { return };
    let files = super::ingest::every_file(&dir);
    let mut identifying = std::collections::BTreeSet::new();
    for (_, bytes) in &files {
        // Files without Pixel Data are not copied, so only the others' values could leak.
        let Ok(framegate::dicom::index::Parsed::Done(header)) = framegate::dicom::index::parse_header(bytes, bytes.len() as u64) else { continue };
        for tag in [dicom_dictionary_std::tags::PATIENT_NAME, dicom_dictionary_std::tags::PATIENT_ID] {
            if let Some(value) = header.obj.get(tag).and_then(|e| e.to_str().ok()) {
                let value = value.trim_end_matches(['\0', ' ']).to_owned();
                // Short numbers turn up by chance in pixels and in pseudonyms' forty digits.
                if value.len() >= 5 && (value.bytes().any(|b| b.is_ascii_alphabetic()) || value.len() >= 10) {
                    identifying.insert(value);
                }
            }
        }
    }
    assert!(identifying.len() >= 10, "{identifying:?}");
    let out = tempfile::tempdir().unwrap();
    let destination = Destination { store: Arc::new(framegate::store::fs::FsStore::new(out.path()).unwrap()), prefix: vec!["in".into()], label: "corpus".into() };
    let options = Options { burned_in: ingest::BurnedIn::Keep, ..Options::default() };
    let manifest = ingest::run(vec![Source::Local(dir)], destination, framegate::deid::Pseudonyms::new(vec![1; 32]), options, Arc::new(ingest::Quiet)).await.unwrap();
    let t = &manifest.totals;
    assert_eq!(t.written + t.unchanged + t.skipped + t.failed, files.len() as u64, "every file accounted for: {t:?}");
    assert!(t.written >= RENDERS.len() as u64 / 2, "{t:?}");
    assert!(manifest.failed.iter().chain(&manifest.skipped).all(|n| !n.reason.is_empty()));
    let stored = super::ingest::every_file(out.path());
    for (path, bytes) in &stored {
        // Lossy text keeps every ASCII byte where it was, and std's search is fast even here.
        let text = String::from_utf8_lossy(bytes);
        for value in &identifying {
            assert!(!text.contains(value.as_str()), "{value} is stored in {}", path.display());
        }
    }
    assert_eq!(stored.len() as u64, t.written);
}
