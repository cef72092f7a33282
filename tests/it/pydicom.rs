//! The public test files of the pydicom wheel (`bash .ci/fetch-pydicom` unpacks them into
//! target/pydicom): every file gets an answer and the server never fails; the ones the core
//! supports render, and lossless variants of one image render identically.

use std::path::PathBuf;

use super::support::*;

fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("FRAMEGATE_PYDICOM_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/pydicom/pydicom/data/test_files"));
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
    let mut names: Vec<String> = std::fs::read_dir(&corpus).unwrap().filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| n.ends_with(".dcm")).collect();
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
    // Every stored file was scanned above, study catalogs (issue 24) too; only objects count here.
    assert_eq!(stored.iter().filter(|(p, _)| !super::ingest::is_catalog(p)).count() as u64, t.written);
}

/// pydicom's character set files (`pydicom/data/charset_files` in the same wheel).
fn charset_corpus() -> Option<PathBuf> {
    let dir = corpus()?.parent()?.join("charset_files");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(std::env::var_os("CI").is_none(), "pydicom charset files missing in {dir:?}; .ci/fetch-pydicom unpacks them");
    eprintln!("skipping: pydicom charset files not found (run bash .ci/fetch-pydicom)");
    None
}

/// Each file's Patient's Name (Alphabetic, Ideographic, Phonetic) as pydicom 3.0.2 reads it:
/// `[[n.alphabetic, n.ideographic, n.phonetic] for n in [pydicom.dcmread(f).PatientName]]`.
const PYDICOM_NAMES: &[(&str, [&str; 3])] = &[
    ("chrArab.dcm", ["قباني^لنزار", "", ""]),
    ("chrFren.dcm", ["Buc^Jérôme", "", ""]),
    ("chrFrenMulti.dcm", ["Buc^Jérôme", "", ""]),
    ("chrGerm.dcm", ["Äneas^Rüdiger", "", ""]),
    ("chrGreek.dcm", ["Διονυσιος", "", ""]),
    ("chrH31.dcm", ["Yamada^Tarou", "山田^太郎", "やまだ^たろう"]),
    ("chrH32.dcm", ["ﾔﾏﾀﾞ^ﾀﾛｳ", "山田^太郎", "やまだ^たろう"]),
    ("chrHbrw.dcm", ["שרון^דבורה", "", ""]),
    ("chrI2.dcm", ["Hong^Gildong", "洪^吉洞", "홍^길동"]),
    ("chrRuss.dcm", ["Люкceмбypг", "", ""]),
    ("chrX1.dcm", ["Wang^XiaoDong", "王^小東", ""]),
    ("chrX2.dcm", ["Wang^XiaoDong", "王^小东", ""]),
];

/// The same for the files without Pixel Data (DICOMweb lists the three with UIDs, and
/// it::dicom_json compares their metadata with pydicom's whole): their names,
/// and those nested in the chrSQEncoding files' Requested Procedure Code Sequence, whose item
/// names its own character sets (or inherits them), as pydicom reads them.
const PYDICOM_NAMES_WITHOUT_PIXELS: &[(&str, bool, &str)] = &[
    ("chrJapMulti.dcm", false, "やまだ^たろう"),
    ("chrJapMultiExplicitIR6.dcm", false, "やまだ^たろう"),
    ("chrKoreanMulti.dcm", false, "김희중"),
    ("chrSQEncoding.dcm", true, "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"),
    ("chrSQEncoding1.dcm", true, "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"),
];

/// Regression (issue 23): names in ISO 2022 code extensions were served with their escape
/// sequences, and ISO_IR 148 as Latin-1; WADO-RS metadata now gives what pydicom gives.
#[tokio::test]
async fn person_names_in_every_character_set_read_as_pydicom_reads_them() {
    let Some(dir) = charset_corpus() else { return };
    let server = Server::start_with(framegate::Settings { raw_dicom: framegate::RawDicom::Original, ..Default::default() }).await;
    let mut wrong = Vec::new();
    for (name, [alphabetic, ideographic, phonetic]) in PYDICOM_NAMES {
        let folder = format!("cs/{}", name.trim_end_matches(".dcm"));
        server.put(&format!("{folder}/x.dcm"), std::fs::read(dir.join(name)).unwrap()).await;
        let root = server.url(&folder, &folder, "/-/dicomweb");
        let studies = get(&format!("{root}/studies")).await;
        assert_eq!(studies.status, 200, "{name}: {}", String::from_utf8_lossy(&studies.body));
        let study = studies.json()[0]["0020000D"]["Value"][0].as_str().unwrap_or_else(|| panic!("{name}: {}", String::from_utf8_lossy(&studies.body))).to_owned();
        let metadata = get(&format!("{root}/studies/{study}/metadata")).await;
        assert_eq!(metadata.status, 200, "{name}");
        let pn = &metadata.json()[0]["00100010"]["Value"][0];
        let group = |label: &str| pn[label].as_str().unwrap_or_default().to_owned();
        let got = [group("Alphabetic"), group("Ideographic"), group("Phonetic")];
        if got != [*alphabetic, *ideographic, *phonetic] {
            wrong.push(format!("{name}: {got:?}, pydicom {:?}", [alphabetic, ideographic, phonetic]));
        }
        // QIDO-RS matches the same text: the family name's first character, then a wildcard.
        let family: String = alphabetic.chars().take(1).collect();
        let pattern = percent_encoding::utf8_percent_encode(&format!("{family}*"), percent_encoding::NON_ALPHANUMERIC).to_string();
        let found = get(&format!("{root}/studies?PatientName={pattern}")).await;
        if found.status != 200 || found.json().as_array().map_or(0, Vec::len) != 1 {
            wrong.push(format!("{name}: PatientName={family}* finds {} {}", found.status, String::from_utf8_lossy(&found.body)));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    server.stop().await;
}

#[test]
fn names_without_pixels_and_in_items_read_as_pydicom_reads_them() {
    use dicom_dictionary_std::tags;
    let Some(dir) = charset_corpus() else { return };
    let explicit = dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN.erased();
    for (name, nested, expected) in PYDICOM_NAMES_WITHOUT_PIXELS {
        let file = std::fs::read(dir.join(name)).unwrap();
        // Preamble, "DICM", then the meta group, whose length is its first element's value.
        let meta_len = u32::from_le_bytes(file[140..144].try_into().unwrap()) as usize;
        let obj = framegate::dicom::dataset::read(&file[144 + meta_len..], &explicit).unwrap();
        let holder = if *nested { obj.get(tags::REQUESTED_PROCEDURE_CODE_SEQUENCE).unwrap().items().unwrap()[0].clone() } else { obj };
        let got = holder.get(tags::PATIENT_NAME).unwrap().to_str().unwrap().trim_end_matches([' ', '\0']).to_owned();
        assert_eq!(got, *expected, "{name}");
    }
}

/// Regression (issue 23): a YBR_FULL_422 JPEG frame asked for decoded (explicit VR little
/// endian) came back as full RGB, 230,400 bytes for 320 × 240, under metadata that says
/// YBR_FULL_422, which Cornerstone3D reads as 153,600 bytes of subsampled YCbCr. It now comes
/// in the form the metadata states; turned back into RGB by PS3.3 C.7.6.3.1.2, it is what
/// dcmtk's dcmdjpeg decodes.
#[tokio::test]
async fn decoded_colour_frames_are_in_the_form_the_metadata_states() {
    let Some(corpus) = corpus() else { return };
    let name = "examples_ybr_color.dcm";
    let server = Server::start_with(framegate::Settings { raw_dicom: framegate::RawDicom::Original, ..Default::default() }).await;
    server.put(&format!("ybr/{name}"), std::fs::read(corpus.join(name)).unwrap()).await;
    let root = server.url("ybr", "ybr", "/-/dicomweb");
    let study = get(&format!("{root}/studies")).await.json()[0]["0020000D"]["Value"][0].as_str().unwrap().to_owned();
    let metadata = get(&format!("{root}/studies/{study}/metadata")).await.json();
    let m = &metadata[0];
    assert_eq!((&m["00280004"]["Value"][0], &m["00280006"]["Value"][0]), (&serde_json::json!("YBR_FULL_422"), &serde_json::json!(0)));
    let (series, sop) = (m["0020000E"]["Value"][0].as_str().unwrap(), m["00080018"]["Value"][0].as_str().unwrap());
    let frames = format!("{root}/studies/{study}/series/{series}/instances/{sop}/frames/1");
    let r = request("GET", &frames, &[("accept", "multipart/related; type=\"application/octet-stream\"; transfer-syntax=1.2.840.10008.1.2.1")]).await;
    let part = super::dicomweb::parts(&r).remove(0).1;
    let (columns, rows) = (320usize, 240usize);
    assert_eq!(part.len(), columns * rows * 2, "two samples a pixel, as YBR_FULL_422 has");

    // dcmtk's RGB of frame 1, the first of 30 frames that end its file.
    let out = tempfile::tempdir().unwrap();
    let decoded = out.path().join("rgb.dcm");
    let status = std::process::Command::new("dcmdjpeg").arg(corpus.join(name)).arg(&decoded).status().expect("dcmtk's dcmdjpeg");
    assert!(status.success());
    let file = std::fs::read(&decoded).unwrap();
    let frame = columns * rows * 3;
    let dcmtk = &file[file.len() - 30 * frame..][..frame];
    let mut diff = 0u64;
    for (i, quad) in part.chunks_exact(4).enumerate() {
        for (k, y) in [quad[0], quad[1]].into_iter().enumerate() {
            let (y, cb, cr) = (f64::from(y), f64::from(quad[2]) - 128.0, f64::from(quad[3]) - 128.0);
            let rgb = [y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb].map(|v| v.round().clamp(0.0, 255.0) as u8);
            let at = (2 * i + k) * 3;
            diff += rgb.iter().zip(&dcmtk[at..at + 3]).map(|(a, b)| u64::from(a.abs_diff(*b))).sum::<u64>();
        }
    }
    let mean = diff as f64 / frame as f64;
    // 0.12 when written: the rounding of two colour conversions and the chroma's mean.
    assert!(mean < 1.0, "mean difference from dcmtk's RGB: {mean}");
    server.stop().await;
}
