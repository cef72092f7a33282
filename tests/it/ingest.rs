//! `framegate ingest` and the upload route: what comes in identified leaves nothing identifying
//! in the destination, frames stay as they were, re-runs upload nothing, and hostile archives
//! are refused.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dicom_core::header::Header;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use framegate::deid::Pseudonyms;
use framegate::ingest::{self, Destination, Manifest, Options, Source};
use framegate::sample;
use framegate::store::Store;
use framegate::store::fs::FsStore;
use framegate::store::s3::S3Store;
use framegate::token::Purpose;

use super::fixtures::planted_object;
use super::s3server::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY};
use super::support::*;

const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";

fn pseudonyms() -> Pseudonyms {
    Pseudonyms::new(vec![42; 32])
}

/// A destination of either kind, and the folder holding every byte it stores.
struct Dest {
    destination: Destination,
    /// Keeps the folder (and for S3 the server over it) alive.
    _dir: tempfile::TempDir,
    root: PathBuf,
    _s3: Option<S3Server>,
}

async fn dest(backend: Backend) -> Dest {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let (store, s3): (Arc<dyn Store>, _) = match backend {
        Backend::Fs => (Arc::new(FsStore::new(&root).unwrap()), None),
        Backend::S3 => {
            let s3 = S3Server::start(&root).await;
            let mut options = s3.options(BUCKET);
            options.prefix = "studies".into();
            // Parts of 8 MiB into a debug-built server: the fault tests' short timeouts are not for this.
            options.timeout = std::time::Duration::from_secs(60);
            options.attempt_timeout = options.timeout;
            (Arc::new(S3Store::from_sdk(&s3.sdk(ACCESS_KEY, SECRET_KEY), &options)), Some(s3))
        }
    };
    let destination = Destination { store, prefix: vec!["in".into()], label: "test".into() };
    Dest { destination, _dir: dir, root, _s3: s3 }
}

async fn ingest_with(sources: Vec<Source>, dest: &Destination, options: Options) -> Manifest {
    ingest::run(sources, dest.clone(), pseudonyms(), options, Arc::new(ingest::Quiet)).await.unwrap()
}

/// Every file below `root`, hidden ones and the S3 server's bookkeeping included.
/// Whether a stored file is a study catalog (issue 24), which ingest writes beside the objects.
pub(super) fn is_catalog(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == framegate::catalog::NAME)
}

/// How many of `files` are objects, study catalogs aside.
fn objects(files: &[(PathBuf, Vec<u8>)]) -> usize {
    files.iter().filter(|(p, _)| !is_catalog(p)).count()
}

pub(super) fn every_file(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

pub(super) fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A ZIP archive of `entries`, deflated.
pub(super) fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        writer.start_file(*name, options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// `stream` with a comment and an EXIF segment holding `comment` and `exif` inserted after SOI.
fn with_jpeg_metadata(stream: &[u8], comment: &str, exif: &str) -> Vec<u8> {
    let segment = |marker: u8, body: &[u8]| [&[0xFF, marker][..], &((body.len() + 2) as u16).to_be_bytes(), body].concat();
    [&stream[..2], &segment(0xFE, comment.as_bytes()), &segment(0xE1, &[b"Exif\0\0", exif.as_bytes()].concat()), &stream[2..]].concat()
}

fn grey_jpeg(seed: u8) -> Vec<u8> {
    let pixels: Vec<u8> = (0..32 * 32).map(|i| (i as u8).wrapping_mul(seed)).collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90).encode(&pixels, 32, 32, jpeg_encoder::ColorType::Luma).unwrap();
    out
}

fn png_with_text(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, 8, 8);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.add_text_chunk("Author".into(), format!("{text}-tEXt")).unwrap();
    encoder.add_ztxt_chunk("Comment".into(), format!("{text}-zTXt")).unwrap();
    encoder.add_itxt_chunk("Description".into(), format!("{text}-iTXt")).unwrap();
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&(0..64).map(|i| i as u8 * 3).collect::<Vec<_>>()).unwrap();
    writer.finish().unwrap();
    out
}

/// A JPEG baseline DICOM object of the planted patient, whose frame carries a comment and EXIF.
fn jpeg_dicom(comment: &str, exif: &str) -> Vec<u8> {
    let (planted, _) = planted_object(2, 1);
    let mut obj = sample::rgb_image(32, 32, |c, r| [(c * 8) as u8, (r * 8) as u8, 90]);
    for element in planted.iter().filter(|e| e.tag().group() != 0x0028 && e.tag() != tags::PIXEL_DATA) {
        obj.put(element.clone());
    }
    obj.put(DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, PrimitiveValue::from("YBR_FULL_422")));
    let rgb: Vec<u8> = (0..32u16).flat_map(|r| (0..32u16).flat_map(move |c| [(c * 8) as u8, (r * 8) as u8, 90])).collect();
    let mut stream = Vec::new();
    jpeg_encoder::Encoder::new(&mut stream, 90).encode(&rgb, 32, 32, jpeg_encoder::ColorType::Rgb).unwrap();
    sample::to_bytes_in(sample::with_one_fragment(obj, with_jpeg_metadata(&stream, comment, exif)), JPEG_BASELINE).unwrap()
}

/// A DICOMDIR naming the planted patient, as a CD export has one.
pub(super) fn dicomdir(name: &str) -> Vec<u8> {
    use dicom_core::Length;
    use dicom_core::value::DataSetSequence;
    let record = InMemDicomObject::from_element_iter([
        DataElement::new(tags::DIRECTORY_RECORD_TYPE, VR::CS, PrimitiveValue::from("PATIENT")),
        DataElement::new(tags::PATIENT_NAME, VR::PN, PrimitiveValue::from(name)),
        DataElement::new(tags::PATIENT_ID, VR::LO, PrimitiveValue::from("DIRPATIENTID77")),
    ]);
    let obj = InMemDicomObject::from_element_iter([
        DataElement::new(tags::FILE_SET_ID, VR::CS, PrimitiveValue::from("CDEXPORT")),
        DataElement::new(tags::DIRECTORY_RECORD_SEQUENCE, VR::SQ, DataSetSequence::new(vec![record], Length::UNDEFINED)),
    ]);
    let meta = dicom_object::FileMetaTableBuilder::new()
        .transfer_syntax("1.2.840.10008.1.2.1")
        .media_storage_sop_class_uid("1.2.840.10008.1.3.10")
        .media_storage_sop_instance_uid("1.2.826.0.1.3680043.10.424242")
        .implementation_class_uid("1.2.826.0.1.3680043.10.1")
        .build()
        .unwrap();
    let mut out = Vec::new();
    obj.with_exact_meta(meta).write_all(&mut out).unwrap();
    out
}

/// A hospital CD export: a DICOMDIR, a planted series (one instance with every attribute
/// written as UN), a JPEG-compressed instance, photos with metadata, and a viewer's readme.
struct CdExport {
    zip: Vec<u8>,
    /// Every entry, as stored in the archive before compression.
    entries: Vec<Vec<u8>>,
    planted: Vec<String>,
    /// Original instances, by SOP Instance UID.
    originals: Vec<Vec<u8>>,
}

fn cd_export() -> CdExport {
    let mut planted = Vec::new();
    let mut originals = Vec::new();
    for instance in 1..=3 {
        let (obj, values) = planted_object(1, instance);
        planted.extend(values);
        let bytes = sample::to_bytes(obj).unwrap();
        originals.push(if instance == 3 { with_un_vrs(&bytes) } else { bytes });
    }
    originals.push(jpeg_dicom("PLANTEDJPEGCOMMENT", "PLANTEDJPEGEXIF"));
    planted.extend(
        ["PLANTEDJPEGCOMMENT", "PLANTEDJPEGEXIF", "PLANTEDPHOTOCOMMENT", "PLANTEDPHOTOEXIF", "PLANTEDPNG", "PLANTEDDIRNAME", "DIRPATIENTID77", "PLANTEDREADME"].map(String::from),
    );
    let photo = with_jpeg_metadata(&grey_jpeg(3), "PLANTEDPHOTOCOMMENT", "PLANTEDPHOTOEXIF");
    let png = png_with_text("PLANTEDPNG");
    let readme = b"Viewer for PLANTEDREADME's images".to_vec();
    let dir = dicomdir("PLANTEDDIRNAME^PATIENT");
    let mut entries: Vec<(String, &[u8])> =
        vec![("DICOMDIR".into(), &dir[..]), ("README.TXT".into(), &readme[..]), ("PHOTOSET/IMG1.JPG".into(), &photo[..]), ("PHOTOSET/IMG2.PNG".into(), &png[..])];
    for (n, bytes) in originals.iter().enumerate() {
        entries.push((format!("EXPORTED/SERIESA/IMAGE{}", n + 1), &bytes[..]));
    }
    let raw = entries.iter().map(|(_, b)| b.to_vec()).collect();
    let entries: Vec<(&str, &[u8])> = entries.iter().map(|(n, b)| (n.as_str(), *b)).collect();
    CdExport { zip: zip_of(&entries), entries: raw, planted, originals }
}

crate::on_both_stores!(a_cd_export_goes_in_and_no_planted_value_comes_out);

/// The test: plant a distinctive value in every attribute of Table E.1-1 (sequences and
/// UN encodings included), private tags, JPEG comments and EXIF, PNG text and the DICOMDIR;
/// ingest the ZIP; then search every byte of every object in the destination.
async fn a_cd_export_goes_in_and_no_planted_value_comes_out(backend: Backend) {
    let cd = cd_export();
    let work = tempfile::tempdir().unwrap();
    let zip = work.path().join("cd.zip");
    std::fs::write(&zip, &cd.zip).unwrap();
    for value in &cd.planted {
        assert!(cd.entries.iter().any(|e| contains(e, value)), "{value} was planted");
    }
    let d = dest(backend).await;
    let options = Options { burned_in: ingest::BurnedIn::Keep, ..Options::default() };
    let manifest = ingest_with(vec![Source::Local(zip)], &d.destination, options).await;

    assert_eq!(manifest.totals.failed, 0, "{:?}", manifest.failed);
    assert_eq!(manifest.totals.written, 6, "4 instances and 2 images: {manifest:#?}");
    assert_eq!(manifest.studies.iter().map(|s| s.series.len()).sum::<usize>(), 2);
    assert_eq!(manifest.stacks.len(), 1);
    assert_eq!(manifest.stacks[0].images, 2);
    let reasons: Vec<&str> = manifest.skipped.iter().map(|n| n.reason.as_str()).collect();
    assert_eq!(manifest.skipped.len(), 2, "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("DICOMDIR")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("text file")), "{reasons:?}");

    let stored = every_file(&d.root);
    assert!(stored.len() >= 6);
    for (path, bytes) in &stored {
        for value in &cd.planted {
            assert!(!contains(bytes, value), "{value} is in {}", path.display());
        }
    }
    let manifest_json = serde_json::to_string(&manifest).unwrap();
    for value in cd.planted.iter().chain(["EXPORTED", "SERIESA", "IMAGE1", "PHOTOSET", "IMG1", "README", "cd.zip"].map(String::from).iter()) {
        assert!(!manifest_json.contains(value.as_str()), "the manifest holds {value}");
    }
}

/// The ingested copy, served, gives the original's frames; its layout is study/series/instance
/// by pseudonymous UIDs; and the images keep their pixels.
#[tokio::test]
async fn ingested_frames_equal_the_originals() {
    let cd = cd_export();
    let server = Server::start().await;
    for (n, original) in cd.originals.iter().enumerate() {
        server.put(&format!("orig/{n}.dcm"), original.clone()).await;
    }
    let zip = server.path("upload.zip");
    std::fs::write(&zip, &cd.zip).unwrap();
    let destination = Destination { store: Arc::new(FsStore::new(server.dir.path()).unwrap()), prefix: vec!["in".into()], label: "test".into() };
    let options = Options { burned_in: ingest::BurnedIn::Keep, ..Options::default() };
    let manifest = ingest::run(vec![Source::Local(zip)], destination, server.state.policy.pseudonyms().clone(), options, Arc::new(ingest::Quiet)).await.unwrap();
    assert_eq!(manifest.totals.failed, 0, "{:?}", manifest.failed);

    // Each original's instance is at in/{study}/{series}/{instance}.dcm under its pseudonyms.
    let p = server.state.policy.pseudonyms();
    let jpeg_series = manifest.studies.iter().flat_map(|s| &s.series).find(|s| s.frames == 1 && s.series == p.uid("1.2.826.0.1.3680043.10.8888.2")).expect("the JPEG series");
    let instances = [(1u64, 1u64, 0usize), (1, 2, 1), (1, 3, 2), (2, 1, 3)];
    for (series, instance, original) in instances {
        let study = p.uid("1.2.826.0.1.3680043.10.7777");
        let key = format!("in/{study}/{}/{}.dcm", p.uid(&format!("1.2.826.0.1.3680043.10.8888.{series}")), p.uid(&format!("1.2.826.0.1.3680043.10.9999.{series}.{instance}")));
        assert!(server.path(&key).is_file(), "{key}");
        for format in ["png", "jpg"] {
            let ingested = get(&server.url(&key, &key, &format!("/-/frames/1.{format}"))).await;
            let source = get(&server.url("orig", &format!("orig/{original}.dcm"), &format!("/-/frames/1.{format}"))).await;
            assert_eq!((ingested.status, source.status), (200, 200), "{key}");
            assert_eq!(ingested.body, source.body, "frame of {key} as {format}");
        }
    }
    assert_eq!(jpeg_series.key.split('/').count(), 3);

    // The stack: the photo and the PNG under one folder, pixels as they were.
    let stack = &manifest.stacks[0];
    let photo = std::fs::read(server.path(&format!("{}/00001.jpg", stack.key))).unwrap();
    let original_photo = grey_jpeg(3);
    let decode = |bytes: &[u8]| jpeg_decoder::Decoder::new(bytes).decode().unwrap();
    assert_eq!(decode(&photo), decode(&original_photo));
    let png = std::fs::read(server.path(&format!("{}/00002.png", stack.key))).unwrap();
    assert_eq!(decode_png(&png), decode_png(&png_with_text("OTHER")));
    let listing = get(&server.url(&stack.key, &stack.key, "/-/stack.json")).await;
    assert_eq!(listing.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn dates_shift_by_one_offset_per_patient() {
    let work = tempfile::tempdir().unwrap();
    let study = |patient: &str, study: u64, date: &str| {
        let mut obj = sample::ct_slice(0, 1, 16);
        for (tag, vr, value) in [
            (tags::PATIENT_ID, VR::LO, patient.to_owned()),
            (tags::STUDY_INSTANCE_UID, VR::UI, format!("1.2.826.0.1.3680043.10.5.{study}")),
            (tags::SERIES_INSTANCE_UID, VR::UI, format!("1.2.826.0.1.3680043.10.6.{study}")),
            (tags::SOP_INSTANCE_UID, VR::UI, format!("1.2.826.0.1.3680043.10.7.{study}")),
            (tags::STUDY_DATE, VR::DA, date.to_owned()),
            (tags::SERIES_DATE, VR::DA, date.to_owned()),
            (tags::ACQUISITION_DATE_TIME, VR::DT, format!("{date}101500")),
        ] {
            obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
        }
        std::fs::write(work.path().join(format!("{study}.dcm")), sample::to_bytes(obj).unwrap()).unwrap();
    };
    study("PATIENT-A", 1, "20200110");
    study("PATIENT-A", 2, "20200305");
    study("PATIENT-B", 3, "20200110");
    // A pipe among the files is listed, not read (which would wait for ever).
    run("mkfifo", &[work.path().join("pipe").to_str().unwrap()]);
    let d = dest(Backend::Fs).await;
    let mut options = Options::default();
    options.deid.retain_dates_shifted = true;
    let manifest = ingest_with(vec![Source::Local(work.path().to_owned())], &d.destination, options).await;
    assert_eq!(manifest.totals.written, 3, "{manifest:#?}");
    assert!(manifest.skipped.iter().any(|n| n.reason.starts_with("not a regular file")), "{:?}", manifest.skipped);
    for (path, _) in every_file(&d.root) {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o644, 0o644, "{} is readable by the server's user whoever wrote it: {mode:o}", path.display());
    }
    let p = pseudonyms();
    let read = |n: u64| {
        let key = format!(
            "in/{}/{}/{}.dcm",
            p.uid(&format!("1.2.826.0.1.3680043.10.5.{n}")),
            p.uid(&format!("1.2.826.0.1.3680043.10.6.{n}")),
            p.uid(&format!("1.2.826.0.1.3680043.10.7.{n}"))
        );
        let obj = dicom_object::open_file(d.root.join(key)).unwrap();
        let text = |tag: Tag| obj.element(tag).unwrap().to_str().unwrap().trim().to_owned();
        (text(tags::STUDY_DATE), text(tags::SERIES_DATE), text(tags::ACQUISITION_DATE_TIME), text(tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED))
    };
    let days = |date: &str| {
        let (y, m, d) = (date[..4].parse::<i64>().unwrap(), date[4..6].parse::<i64>().unwrap(), date[6..8].parse::<i64>().unwrap());
        // Days from civil (Howard Hinnant's algorithm).
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
        era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy
    };
    let (a1, a2, b) = (read(1), read(2), read(3));
    for (shifted, original) in [(&a1, "20200110"), (&a2, "20200305"), (&b, "20200110")] {
        assert_ne!(shifted.0, original, "dates are shifted");
        assert_eq!(shifted.0, shifted.1, "every date of an instance by the same offset");
        assert_eq!(&shifted.2[8..], "101500", "the time of day stays");
        assert_eq!(shifted.2[..8], shifted.0, "date-times shift with the dates");
        assert_eq!(shifted.3, "MODIFIED");
    }
    assert_eq!(days(&a2.0) - days(&a1.0), days("20200305") - days("20200110"), "one patient's interval survives");
    assert_ne!(a1.0, b.0, "another patient gets another offset");
}

/// A folder of CT slices into S3: a second run uploads nothing; a run cut off midway (the
/// process killed) leaves only whole objects, and the next run finishes the rest. The S3
/// server runs on the runtime's workers while this thread waits on the processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reruns_upload_nothing_and_an_interrupted_run_resumes() {
    let work = tempfile::tempdir().unwrap();
    let slices = 60;
    for i in 0..slices {
        write_ct(work.path(), &format!("series/slice{i}.dcm"), i, slices, 192);
    }
    let s3_dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(s3_dir.path()).await;
    let keys = work.path().join("keys");
    std::fs::write(&keys, KEYS).unwrap();
    let run = |extra: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_framegate"));
        command
            .args([
                "ingest",
                work.path().join("series").to_str().unwrap(),
                "--to",
                &format!("s3://{BUCKET}/in"),
                "--s3-endpoint",
                &s3.endpoint(),
                "--s3-path-style",
                "--s3-region",
                "us-east-1",
                "--jobs",
                "2",
            ])
            .args(["--keys-file", keys.to_str().unwrap()])
            .args(extra)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        command
    };
    let stored = |root: &Path| -> Vec<PathBuf> { every_file(&root.join(BUCKET).join("in")).into_iter().map(|(p, _)| p).filter(|p| p.extension().is_some_and(|e| e == "dcm")).collect() };

    // Killed once a few objects are in.
    let mut child = run(&[]).spawn().unwrap();
    let started = std::time::Instant::now();
    while stored(s3_dir.path()).len() < 5 && started.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let partial = stored(s3_dir.path());
    assert!(!partial.is_empty() && partial.len() < slices, "killed after {} of {slices}: {}", partial.len(), String::from_utf8_lossy(&out.stderr));
    for path in &partial {
        let bytes = std::fs::read(path).unwrap();
        assert!(matches!(framegate::dicom::index::parse_header(&bytes, bytes.len() as u64), Ok(framegate::dicom::index::Parsed::Done(_))), "whole objects only");
    }

    // Resumed: the rest is written, what was there is not.
    let manifest_path = work.path().join("manifest.json");
    let out = run(&["--manifest", manifest_path.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let manifest: Manifest = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    assert_eq!(manifest.totals.written + manifest.totals.unchanged, slices as u64);
    assert!(manifest.totals.unchanged >= partial.len() as u64, "{:?} with {} there", manifest.totals, partial.len());
    assert_eq!(stored(s3_dir.path()).len(), slices);
    assert!(String::from_utf8_lossy(&out.stderr).contains("series"), "a summary on stderr");

    // Again: nothing to upload.
    let out = run(&["--manifest", manifest_path.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success());
    let manifest: Manifest = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    assert_eq!((manifest.totals.written, manifest.totals.unchanged), (0, slices as u64));
    assert_eq!(manifest.studies[0].series[0].instances, slices as u64);
}

/// Set the "encrypted" flag of every entry in the archive's central directory, as an archive
/// made with a password has it.
fn mark_encrypted(mut zip: Vec<u8>) -> Vec<u8> {
    let mut at = 0;
    while let Some(found) = zip[at..].windows(4).position(|w| w == b"PK\x01\x02") {
        let record = at + found;
        zip[record + 8] |= 1;
        at = record + 4;
    }
    zip
}

/// A CT object `index` of `rows` × 512 pixels, all zero: a DICOM file that deflates to almost
/// nothing and is not burned in, so only the archive's limits stand between it and the store.
fn zero_slice(index: usize, rows: u16) -> Vec<u8> {
    let mut obj = sample::ct_slice(index, 8, 16);
    obj.put(DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(rows)));
    obj.put(DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(512u16)));
    obj.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::from(vec![0u8; usize::from(rows) * 512 * 2])));
    sample::to_bytes(obj).unwrap()
}

/// Every central directory record's offset in `zip`.
fn directory_records(zip: &[u8]) -> Vec<usize> {
    zip.windows(4).enumerate().filter(|(_, w)| *w == b"PK\x01\x02").map(|(at, _)| at).collect()
}

/// Issue 22, attack 5: the ratio check trusted the compressed size the directory declares, and
/// skipped entries up to 1 MiB. An entry claiming 1 MiB compressed, and a few entries under
/// 1 MiB each, all of zeros, are refused by what they really occupy, and nothing is stored.
#[tokio::test]
async fn zip_bombs_are_held_to_the_bytes_they_really_occupy() {
    let work = tempfile::tempdir().unwrap();
    // 32 MiB of zeros in about 32 KiB, whose directory claims 1 MiB compressed (a ratio of 32).
    let big = zero_slice(0, 32_768);
    let mut claimed = zip_of(&[("big.dcm", &big[..])]);
    assert!(claimed.len() < 64 << 10, "{}", claimed.len());
    let record = directory_records(&claimed)[0];
    claimed[record + 20..record + 24].copy_from_slice(&(1u32 << 20).to_le_bytes());
    std::fs::write(work.path().join("claimed.zip"), &claimed).unwrap();
    // Entries just under 1 MiB, each deflated to about a kilobyte.
    let small: Vec<(String, Vec<u8>)> = (1..4).map(|i| (format!("s{i}.dcm"), zero_slice(i, 1000))).collect();
    assert!(small.iter().all(|(_, b)| b.len() < 1 << 20));
    let small: Vec<(&str, &[u8])> = small.iter().map(|(n, b)| (n.as_str(), &b[..])).collect();
    std::fs::write(work.path().join("small.zip"), zip_of(&small)).unwrap();
    let d = dest(Backend::Fs).await;
    for (name, entries) in [("claimed.zip", 1), ("small.zip", 3)] {
        let manifest = ingest_with(vec![Source::Local(work.path().join(name))], &d.destination, Options::default()).await;
        assert_eq!(manifest.totals.written, 0, "{name}");
        assert_eq!(manifest.failed.len(), entries, "{name}: {:#?}", manifest.failed);
        assert!(manifest.failed.iter().all(|n| n.reason.starts_with("inflates")), "{name}: {:#?}", manifest.failed);
    }
    assert!(every_file(&d.root).is_empty(), "nothing stored");

    // The same entries in a stored (uncompressed) archive go in: real DICOM is not refused.
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in &small {
        writer.start_file(*name, zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored)).unwrap();
        writer.write_all(bytes).unwrap();
    }
    std::fs::write(work.path().join("stored.zip"), writer.finish().unwrap().into_inner()).unwrap();
    let manifest = ingest_with(vec![Source::Local(work.path().join("stored.zip"))], &d.destination, Options::default()).await;
    assert_eq!(manifest.totals.written, 3, "{:#?}", manifest.failed);
}

/// Issue 22, attack 12: a ZIP with two entries of one name lost the first, neither ingested nor
/// listed. Every entry is accounted for; the one not read is listed as refused.
#[tokio::test]
async fn a_second_entry_with_the_same_name_is_listed_not_dropped() {
    let first = sample::to_bytes(sample::ct_slice(0, 2, 16)).unwrap();
    let second = sample::to_bytes(sample::ct_slice(1, 2, 16)).unwrap();
    // Written under two names, then renamed by hand: writers refuse duplicate names.
    let mut zip = zip_of(&[("a.dcm", &first[..]), ("b.dcm", &second[..])]);
    for at in (0..zip.len() - 5).filter(|&at| &zip[at..at + 5] == b"b.dcm").collect::<Vec<_>>() {
        zip[at..at + 5].copy_from_slice(b"a.dcm");
    }
    assert!(zip::ZipArchive::new(std::io::Cursor::new(&zip)).unwrap().has_duplicate_names());
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("dup.zip"), &zip).unwrap();
    let d = dest(Backend::Fs).await;
    let manifest = ingest_with(vec![Source::Local(work.path().join("dup.zip"))], &d.destination, Options::default()).await;
    let t = &manifest.totals;
    assert_eq!(t.written + t.unchanged + t.skipped + t.failed, 2, "both entries are accounted for: {manifest:#?}");
    assert_eq!(t.written, 1);
    assert_eq!(manifest.failed.len(), 1, "{:#?}", manifest.failed);
    assert!(manifest.failed[0].reason.starts_with("a second entry with the same name"), "{:#?}", manifest.failed);
}

crate::on_both_stores!(hostile_archives_are_refused_and_nothing_escapes);

async fn hostile_archives_are_refused_and_nothing_escapes(backend: Backend) {
    let work = tempfile::tempdir().unwrap();
    let slice = sample::to_bytes(sample::ct_slice(0, 1, 16)).unwrap();
    let fake = [&[0u8; 128][..], b"DICM", &[0xFF; 300]].concat();
    // Escaping names and a link, written by hand: well-behaved writers refuse to.
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for name in ["../escaped.dcm", "/tmp/absolute.dcm"] {
        writer.start_file(name, options).unwrap();
        writer.write_all(&slice).unwrap();
    }
    writer.add_symlink("link.dcm", "/etc/passwd", options).unwrap();
    writer.start_file("fake.dcm", options).unwrap();
    writer.write_all(&fake).unwrap();
    let escaping = writer.finish().unwrap().into_inner();
    let bomb = zip_of(&[("bomb.dcm", &vec![0u8; 64 << 20][..])]);
    let encrypted = mark_encrypted(zip_of(&[("secret.dcm", &slice[..])]));
    let whole = zip_of(&[("a.dcm", &slice[..]), ("b.dcm", &slice[..])]);
    let truncated = whole[..whole.len() / 2].to_vec();
    for (name, bytes) in [("escaping.zip", &escaping), ("bomb.zip", &bomb), ("encrypted.zip", &encrypted), ("truncated.zip", &truncated)] {
        std::fs::write(work.path().join(name), bytes).unwrap();
    }
    let d = dest(backend).await;
    let sources = ["escaping.zip", "bomb.zip", "encrypted.zip", "truncated.zip"].map(|n| Source::Local(work.path().join(n))).to_vec();
    let manifest = ingest_with(sources, &d.destination, Options::default()).await;
    let reasons: Vec<String> = manifest.failed.iter().map(|n| format!("{}:{}", n.place.source, n.reason)).collect();
    for expected in ["0:its path leaves the archive", "0:a symbolic link", "0:not valid DICOM", "1:inflates", "2:an encrypted entry", "3:not a readable ZIP archive"] {
        assert!(reasons.iter().any(|r| r.starts_with(expected)), "{expected} in {reasons:#?}");
    }
    assert_eq!(manifest.failed.iter().filter(|n| n.place.source == 0 && n.reason.starts_with("its path")).count(), 2);
    assert_eq!(manifest.totals.written, 0);
    assert!(every_file(&d.root).iter().all(|(p, _)| !p.to_string_lossy().contains("escaped") && !p.to_string_lossy().contains("absolute")));
    assert!(!work.path().join("escaped.dcm").exists() && !Path::new("/tmp/absolute.dcm").exists());
    assert!(!d.root.parent().unwrap().join("escaped.dcm").exists());

    // A total for the whole archive: two entries that fit alone do not fit together.
    let two = zip_of(&[("a.dcm", &slice[..]), ("b.dcm", &slice[..])]);
    std::fs::write(work.path().join("two.zip"), &two).unwrap();
    let mut small = Options::default();
    small.limits.max_unpacked_bytes = slice.len() as u64 + 10;
    let manifest = ingest_with(vec![Source::Local(work.path().join("two.zip"))], &d.destination, small).await;
    assert_eq!(manifest.totals.written, 1);
    assert!(manifest.failed[0].reason.contains("unpacks to more than"), "{:?}", manifest.failed);

    // An archive of more entries than the limit is refused before its directory is parsed.
    let many: Vec<(String, Vec<u8>)> = (0..5).map(|i| (format!("e{i}.txt"), vec![b'x'])).collect();
    let many: Vec<(&str, &[u8])> = many.iter().map(|(n, b)| (n.as_str(), &b[..])).collect();
    std::fs::write(work.path().join("many.zip"), zip_of(&many)).unwrap();
    let mut few = Options::default();
    few.limits.max_archive_entries = 4;
    let manifest = ingest_with(vec![Source::Local(work.path().join("many.zip"))], &d.destination, few).await;
    assert_eq!(manifest.failed.len(), 1, "{:?}", manifest.failed);
    assert!(manifest.failed[0].reason.starts_with("an archive of more than 4 entries"), "{:?}", manifest.failed);
}

#[tokio::test]
async fn burned_in_annotation_is_refused_by_default_and_kept_when_asked() {
    let work = tempfile::tempdir().unwrap();
    let mut us = sample::ct_slice(0, 1, 16);
    us.put(DataElement::new(tags::MODALITY, VR::CS, PrimitiveValue::from("US")));
    std::fs::write(work.path().join("us.dcm"), sample::to_bytes(us).unwrap()).unwrap();
    let mut marked = sample::ct_slice(1, 2, 16);
    marked.put(DataElement::new(tags::BURNED_IN_ANNOTATION, VR::CS, PrimitiveValue::from("YES")));
    std::fs::write(work.path().join("marked.dcm"), sample::to_bytes(marked).unwrap()).unwrap();
    // A CT dose report is a Secondary Capture that says CT; a scanner's screenshot says so in
    // Image Type. Neither sets Burned In Annotation.
    let mut dose_report = sample::ct_slice(2, 4, 16);
    dose_report.put(DataElement::new(tags::SOP_CLASS_UID, VR::UI, PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.7")));
    dose_report.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from("1.2.826.0.1.3680043.10.77.1")));
    std::fs::write(work.path().join("dose.dcm"), sample::to_bytes(dose_report).unwrap()).unwrap();
    let mut screenshot = sample::ct_slice(3, 4, 16);
    screenshot.put(DataElement::new(tags::IMAGE_TYPE, VR::CS, PrimitiveValue::Strs(["DERIVED", "SECONDARY", "SCREEN SAVE"].into_iter().map(String::from).collect())));
    screenshot.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from("1.2.826.0.1.3680043.10.77.2")));
    std::fs::write(work.path().join("screen.dcm"), sample::to_bytes(screenshot).unwrap()).unwrap();
    let d = dest(Backend::Fs).await;
    let refused = ingest_with(vec![Source::Local(work.path().to_owned())], &d.destination, Options::default()).await;
    assert_eq!((refused.totals.written, refused.totals.skipped), (0, 4), "{:#?}", refused.skipped);
    for why in ["modality US", "Burned In Annotation is YES", "a Secondary Capture", "SCREEN SAVE"] {
        assert!(refused.skipped.iter().any(|n| n.reason.contains(why)), "{why}: {:#?}", refused.skipped);
    }
    let kept = ingest_with(vec![Source::Local(work.path().to_owned())], &d.destination, Options { burned_in: ingest::BurnedIn::Keep, ..Options::default() }).await;
    assert_eq!(kept.totals.written, 4);
    assert_eq!(kept.studies.iter().flat_map(|s| &s.series).map(|s| s.burned_in).sum::<u64>(), 4, "listed as kept with burned-in text");
}

/// Issue 22, attack 4: an ultrasound picture whose pixels show a name and an MRN went in under
/// the default `--burned-in refuse` when it was spelled in any of these ways, and the viewer got
/// no warning. Each is refused, and served with `burned_in_annotation: true`.
#[tokio::test]
async fn burned_in_images_spelled_as_a_reader_would_accept_them_are_refused_and_flagged() {
    let cs = |tag, value: &str| DataElement::new(tag, VR::CS, PrimitiveValue::from(value));
    // "none" has its Modality taken out.
    let variants: Vec<(&str, Vec<DataElement<InMemDicomObject>>)> = vec![
        ("lower", vec![cs(tags::MODALITY, "us")]),
        ("none", vec![]),
        ("ot", vec![cs(tags::MODALITY, "OT")]),
        ("ivus", vec![cs(tags::MODALITY, "IVUS")]),
        ("es", vec![cs(tags::MODALITY, "ES")]),
        (
            "label",
            vec![
                cs(tags::MODALITY, "SM"),
                DataElement::new(tags::IMAGE_TYPE, VR::CS, PrimitiveValue::Strs(["ORIGINAL", "PRIMARY", "LABEL", "NONE"].into_iter().map(String::from).collect())),
            ],
        ),
        ("yes", vec![cs(tags::BURNED_IN_ANNOTATION, "yes")]),
        ("class", vec![DataElement::new(tags::SOP_CLASS_UID, VR::UI, PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.6.1"))]),
    ];
    let work = tempfile::tempdir().unwrap();
    let count = variants.len();
    for (i, (name, elements)) in variants.into_iter().enumerate() {
        let mut obj = sample::ct_slice(i, count, 16);
        obj.remove_element(tags::BURNED_IN_ANNOTATION);
        if name == "none" {
            obj.remove_element(tags::MODALITY);
        }
        for element in elements {
            obj.put(element);
        }
        std::fs::write(work.path().join(format!("{name}.dcm")), sample::to_bytes(obj).unwrap()).unwrap();
    }
    let d = dest(Backend::Fs).await;
    let refused = ingest_with(vec![Source::Local(work.path().to_owned())], &d.destination, Options::default()).await;
    assert_eq!((refused.totals.written, refused.totals.skipped), (0, count as u64), "{:#?}", refused.skipped);
    assert!(refused.skipped.iter().all(|n| n.reason.starts_with("burned-in annotation")), "{:#?}", refused.skipped);
    assert!(every_file(&d.root).is_empty(), "nothing stored");

    // Served as they are, each is flagged for the viewer.
    let server = Server::start().await;
    for name in ["lower", "none", "ot", "ivus", "es", "label", "yes", "class"] {
        server.put(&format!("us/{name}.dcm"), std::fs::read(work.path().join(format!("{name}.dcm"))).unwrap()).await;
        let info = get(&server.url("us", &format!("us/{name}.dcm"), "/-/info.json")).await;
        assert_eq!(info.status, 200, "{name}");
        assert_eq!(info.json()["burned_in_annotation"], true, "{name}");
    }
    assert_eq!(get(&server.url("us", "us", "/-/stack.json")).await.json()["burned_in_annotation"], true);
    server.stop().await;
}

/// Issue 22, attack 6: clients sending a byte now and then held every upload slot, since only
/// 60 s of silence cut them, and a normal upload got 503. An upload slower than the minimum rate
/// once its grace has passed is cut with 408, and its slot serves the next upload.
#[tokio::test]
async fn a_trickling_upload_is_cut_with_408_and_frees_its_slot() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let upload = framegate::http::UploadSettings { concurrent: 1, min_rate: 4 << 10, grace: std::time::Duration::from_secs(1), ..Default::default() };
    let server = Server::start_with(framegate::Settings { upload, ..Default::default() }).await;
    let token = server.keys.sign_for(Purpose::Upload, &key("site"), now() + 600);
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let head = format!("POST /v1/{token}/site/-/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
    write.write_all(head.as_bytes()).await.unwrap();
    // A byte every 200 ms: never silent for long, far under 4 KiB/s.
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            if write.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    });
    until("the trickler to hold the slot", PATIENCE, || async { if server.state.uploads.in_progress() == 1 { Ok(()) } else { Err("no upload in progress") } }).await;
    let slice = sample::to_bytes(sample::ct_slice(0, 1, 16)).unwrap();
    let url = format!("{}/v1/{token}/site/-/upload", server.base());
    assert_eq!(request_with_body("POST", &url, slice.clone()).await.status, 503, "the trickler holds the one slot");
    let started = std::time::Instant::now();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), read.read(&mut answer)).await.expect("the trickler is cut").unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("the upload is too slow: it must average at least 4 KiB/s"), "{answer}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    trickle.abort();
    assert_eq!(request_with_body("POST", &url, slice).await.status, 200, "the slot is free again");
    server.stop().await;
}

/// `--max-concurrent-uploads`: while that many uploads are being received, one more is answered
/// 503 and stores nothing; once one of them ends, the next is taken.
#[tokio::test]
async fn an_upload_beyond_the_concurrent_limit_is_answered_503() {
    use tokio::io::AsyncWriteExt;
    let upload = framegate::http::UploadSettings { concurrent: 2, ..Default::default() };
    let server = Server::start_with(framegate::Settings { upload, ..Default::default() }).await;
    let token = server.keys.sign_for(Purpose::Upload, &key("site"), now() + 600);
    let mut held = Vec::new();
    for _ in 0..2 {
        // Headers and a first byte sent, the rest held back: an upload in progress.
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let head = format!("POST /v1/{token}/site/-/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nx");
        stream.write_all(head.as_bytes()).await.unwrap();
        held.push(stream);
    }
    until("both uploads to hold their slots", PATIENCE, || async { if server.state.uploads.in_progress() == 2 { Ok(()) } else { Err(server.state.uploads.in_progress()) } }).await;
    let slice = sample::to_bytes(sample::ct_slice(0, 1, 16)).unwrap();
    let url = format!("{}/v1/{token}/site/-/upload", server.base());
    let r = request_with_body("POST", &url, slice.clone()).await;
    assert_eq!((r.status, r.error()), (503, "too many uploads at once: retry shortly".to_owned()));
    assert!(every_file(server.dir.path()).is_empty(), "a refused upload stores nothing");
    drop(held.pop());
    until("a slot to come free", PATIENCE, || async { if server.state.uploads.in_progress() < 2 { Ok(()) } else { Err(()) } }).await;
    assert_eq!(request_with_body("POST", &url, slice).await.status, 200, "the freed slot takes the next upload");
    drop(held);
    server.stop().await;
}

/// Issue 22, attack 11: an upload holding an instance with the UIDs of one already stored
/// replaced it, and the manifest said "written". It is refused and listed, the stored object
/// kept byte for byte; the same object again is "unchanged". Ingest and uploads share the rule.
#[tokio::test]
async fn an_upload_never_replaces_an_instance_with_the_same_uids() {
    let server = Server::start().await;
    let token = server.keys.sign_for(Purpose::Upload, &key("site"), now() + 600);
    let url = format!("{}/v1/{token}/site/-/upload", server.base());
    let original = sample::to_bytes(sample::ct_slice(0, 1, 16)).unwrap();
    let mut other = sample::ct_slice(0, 1, 16);
    other.put(DataElement::new(tags::WINDOW_CENTER, VR::DS, PrimitiveValue::from("500")));
    let other = sample::to_bytes(other).unwrap();

    let first = request_with_body("POST", &url, original.clone()).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.json()["totals"]["written"], 1);
    let stored = every_file(&server.path("site"));
    assert_eq!(objects(&stored), 1, "{stored:?}");

    let replaced = request_with_body("POST", &url, other).await;
    assert_eq!(replaced.status, 422, "{}", String::from_utf8_lossy(&replaced.body));
    let manifest: Manifest = serde_json::from_slice(&replaced.body).unwrap();
    assert_eq!((manifest.totals.written, manifest.totals.skipped), (0, 1), "{manifest:#?}");
    assert_eq!(manifest.skipped[0].reason, "an instance with these UIDs is already stored, with other content: not replaced");
    assert_eq!(every_file(&server.path("site")), stored, "the stored object is kept byte for byte");

    let again = request_with_body("POST", &url, original).await;
    assert_eq!(again.status, 200);
    assert_eq!((again.json()["totals"]["written"].as_u64(), again.json()["totals"]["unchanged"].as_u64()), (Some(0), Some(1)));
    server.stop().await;
}

/// `POST .../-/upload`: an upload token only, a size limit, hostile archives refused with the
/// manifest, and nothing of a failed upload left in the store.
#[tokio::test]
async fn the_upload_route_takes_only_upload_tokens_and_bounded_bodies() {
    let settings = framegate::Settings { upload: framegate::http::UploadSettings { max_bytes: 1 << 20, ..Default::default() }, ..Default::default() };
    let server = Server::start_with(settings).await;
    let slice = sample::to_bytes(sample::ct_slice(0, 1, 64)).unwrap();
    let upload_token = server.keys.sign_for(Purpose::Upload, &key("site"), now() + 600);
    let url = |token: &str| format!("{}/v1/{token}/site/-/upload", server.base());
    let post = |url: String, body: Vec<u8>| async move { request_with_body("POST", &url, body).await };

    let read = post(url(&server.token("site")), slice.clone()).await;
    assert_eq!(read.status, 403, "a viewing token cannot upload");
    let files = post(format!("{}/v1/{}/site/-/upload", server.base(), server.keys.sign_for(Purpose::Files, &key("site"), now() + 600)), slice.clone()).await;
    assert_eq!(files.status, 403);
    assert_eq!(request("GET", &url(&upload_token), &[]).await.status, 405);
    assert_eq!(get(&format!("{}/v1/{upload_token}/site/-/stack.json", server.base())).await.status, 403, "an upload token cannot read");

    let ok = post(url(&upload_token), slice.clone()).await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let manifest: Manifest = serde_json::from_slice(&ok.body).unwrap();
    let series = &manifest.studies[0].series[0];
    let stack = get(&server.url("site", &series.key, "/-/stack.json")).await;
    assert_eq!(stack.status, 200, "the upload is served at once");
    assert_eq!(stack.json()["frames"].as_u64(), Some(1), "{}", stack.json());

    // Two different pictures of the same size, one upload each: two stacks, neither overwritten.
    let (a, b) = (grey_jpeg(3), grey_jpeg(5));
    let pad = |jpeg: Vec<u8>, to: usize| with_jpeg_metadata(&jpeg, &"x".repeat(to - jpeg.len() - 14), "");
    let size = a.len().max(b.len()) + 20;
    let (a, b) = (pad(a, size), pad(b, size));
    assert_eq!(a.len(), b.len());
    let mut stacks = Vec::new();
    for picture in [&a, &b] {
        let answer = post(url(&upload_token), picture.clone()).await;
        assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
        let manifest: Manifest = serde_json::from_slice(&answer.body).unwrap();
        stacks.push(manifest.stacks[0].key.clone());
    }
    assert_ne!(stacks[0], stacks[1]);
    let decode = |path: PathBuf| jpeg_decoder::Decoder::new(&std::fs::read(path).unwrap()[..]).decode().unwrap();
    assert_eq!(decode(server.path(&format!("{}/00001.jpg", stacks[0]))), jpeg_decoder::Decoder::new(&grey_jpeg(3)[..]).decode().unwrap());
    assert_eq!(decode(server.path(&format!("{}/00001.jpg", stacks[1]))), jpeg_decoder::Decoder::new(&grey_jpeg(5)[..]).decode().unwrap());

    let big = post(url(&upload_token), vec![0u8; (1 << 20) + 1]).await;
    assert_eq!(big.status, 413);
    let bomb = zip_of(&[("bomb.dcm", &vec![0u8; 64 << 20][..]), ("fine.txt", b"fine")]);
    let refused = post(url(&upload_token), bomb).await;
    assert_eq!(refused.status, 422);
    let manifest: Manifest = serde_json::from_slice(&refused.body).unwrap();
    assert!(manifest.failed[0].reason.contains("inflates"), "{:?}", manifest.failed);
    let truncated = zip_of(&[("a.dcm", &slice[..])]);
    let refused = post(url(&upload_token), truncated[..truncated.len() / 2].to_vec()).await;
    assert_eq!(refused.status, 422);
    // What the store holds: the good uploads, and no partial file.
    let stored: Vec<PathBuf> = every_file(&server.path("site")).into_iter().map(|(p, _)| p).filter(|p| !is_catalog(p)).collect();
    assert_eq!(stored.len(), 3, "{stored:?}");
    server.stop().await;
}

/// Moving an identified bucket: a prefix of S3 objects (slices, a ZIP read by ranges, and a
/// multi-frame object larger than one multipart part) into a de-identified prefix of the same
/// bucket, split between two shards; a full run afterwards finds everything there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identified_bucket_prefix_moves_in_shards_with_multipart_objects_whole() {
    let d = dest(Backend::S3).await;
    let s3 = d._s3.as_ref().unwrap();
    for i in 0..6 {
        s3.put(&format!("identified/ct/slice{i}.dcm"), sample::to_bytes(sample::ct_slice(i, 6, 64)).unwrap()).await;
    }
    let zipped: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            let mut obj = sample::ct_slice(i, 3, 48);
            obj.put(DataElement::new(tags::SERIES_INSTANCE_UID, VR::UI, PrimitiveValue::from("1.2.826.0.1.3680043.10.31")));
            obj.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from(format!("1.2.826.0.1.3680043.10.31.{i}"))));
            sample::to_bytes(obj).unwrap()
        })
        .collect();
    s3.put("identified/cd.zip", zip_of(&[("A/1", &zipped[0][..]), ("A/2", &zipped[1][..]), ("A/3", &zipped[2][..])])).await;
    let cine = sample::to_bytes(sample::cine(90, 384)).unwrap();
    assert!(cine.len() > 3 * (8 << 20), "{} bytes: several parts", cine.len());
    s3.put("identified/xa/cine.dcm", cine.clone()).await;

    let source_store: Arc<dyn Store> = Arc::new(S3Store::from_sdk(&s3.sdk(ACCESS_KEY, SECRET_KEY), &s3.options(BUCKET)));
    let source = || Source::Store { store: source_store.clone(), prefix: key("identified") };
    let shard = |text: &str| Options { shard: ingest::Shard::parse(text).unwrap(), ..Options::default() };
    let first = ingest_with(vec![source()], &d.destination, shard("0/2")).await;
    let second = ingest_with(vec![source()], &d.destination, shard("1/2")).await;
    assert_eq!(first.totals.failed + second.totals.failed, 0, "{:?} {:?}", first.failed, second.failed);
    assert_eq!(first.totals.written + second.totals.written, 10, "each entry taken by one shard");
    assert!(first.totals.written > 0 && second.totals.written > 0);
    let all = ingest_with(vec![source()], &d.destination, Options::default()).await;
    assert_eq!((all.totals.written, all.totals.unchanged), (0, 10));

    // The multi-frame object went up in parts and came out whole, its Pixel Data unchanged.
    let series = all.studies.iter().flat_map(|s| &s.series).find(|s| s.frames == 90).expect("the cine");
    let stored = every_file(&d.root).into_iter().find(|(p, _)| p.to_string_lossy().contains(&series.key)).expect("stored cine").1;
    let scratch = tempfile::tempdir().unwrap();
    let pixels = |bytes: &[u8]| {
        let path = scratch.path().join("object.dcm");
        std::fs::write(&path, bytes).unwrap();
        dicom_object::open_file(&path).unwrap().element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap().into_owned()
    };
    assert_eq!(pixels(&stored), pixels(&cine));
}

/// JPEG-LS (CharLS, through dcmtk) and JPEG 2000 (OpenJPEG, through gdcm) frames with text
/// planted in them (JPEG-LS: a comment, EXIF and a tail after EOI; JPEG 2000: a comment segment
/// and a tail after EOC): ingest and the raw route blank all of it in place, and the pixels stay.
#[tokio::test]
async fn jpeg_ls_and_jpeg_2000_frames_lose_their_text_too() {
    if !have_tools(&["dcmcjpls", "gdcmconv"]) {
        return;
    }
    let jpeg_ls = |stream: &[u8]| [with_jpeg_metadata(stream, "PLANTEDCOMMENT", "PLANTEDEXIF"), b"PLANTEDTAIL".to_vec()].concat();
    let j2k = |stream: &[u8]| {
        // A comment after SIZ, which must follow SOC; Rcom 1 says Latin-1 text.
        let siz_end = 4 + usize::from(u16::from_be_bytes([stream[4], stream[5]]));
        let comment = [&[0xFF, 0x64][..], &(2u16 + 2 + 14).to_be_bytes(), &[0, 1], b"PLANTEDCOMMENT"].concat();
        [&stream[..siz_end], &comment, &stream[siz_end..], b"PLANTEDTAIL"].concat()
    };
    /// A tool, its flags, the syntax it writes, how text is planted in its stream, and whether
    /// this build decodes it.
    type Codec<'a> = (&'a str, &'a [&'a str], &'a str, &'a dyn Fn(&[u8]) -> Vec<u8>, bool);
    let codecs: [Codec; 2] = [("dcmcjpls", &[], "1.2.840.10008.1.2.4.80", &jpeg_ls, built_with("jpegls")), ("gdcmconv", &["--j2k"], "1.2.840.10008.1.2.4.90", &j2k, true)];
    for (tool, flags, syntax, plant, decodable) in codecs {
        let work = tempfile::tempdir().unwrap();
        let (plain, coded) = (work.path().join("plain.dcm"), work.path().join("coded.dcm"));
        std::fs::write(&plain, sample::to_bytes(sample::ct_slice(0, 1, 64)).unwrap()).unwrap();
        run(tool, &[flags, &[plain.to_str().unwrap(), coded.to_str().unwrap()]].concat());
        let obj = dicom_object::open_file(&coded).unwrap();
        let stream = obj.element(tags::PIXEL_DATA).unwrap().value().fragments().unwrap()[0].clone();
        let original = sample::to_bytes_in(sample::with_one_fragment(obj.into_inner(), plant(&stream)), syntax).unwrap();
        let values = ["PLANTEDCOMMENT", "PLANTEDEXIF", "PLANTEDTAIL"].into_iter().filter(|v| contains(&original, v)).collect::<Vec<_>>();
        assert!(values.len() >= 2, "{tool}: {values:?} planted");
        std::fs::write(work.path().join("in.dcm"), &original).unwrap();

        let d = dest(Backend::Fs).await;
        let manifest = ingest_with(vec![Source::Local(work.path().join("in.dcm"))], &d.destination, Options::default()).await;
        assert_eq!(manifest.totals.written, 1, "{tool}: {manifest:#?}");
        let stored = every_file(&d.root);
        let ingested = stored.iter().find(|(p, _)| p.extension().is_some_and(|e| e == "dcm")).unwrap().1.clone();
        assert!(ingested.len() > original.len() / 2, "{tool}: the frame is there");
        for value in &values {
            assert!(stored.iter().all(|(_, bytes)| !contains(bytes, value)), "{tool}: {value} was stored");
        }

        let server = Server::start_with(framegate::Settings { raw_dicom: framegate::RawDicom::Deidentify, ..Default::default() }).await;
        server.put("enc/original.dcm", original.clone()).await;
        server.put("enc/ingested.dcm", ingested).await;
        let raw = get(&server.url("enc", "enc/original.dcm", "")).await;
        assert_eq!(raw.status, 200);
        for value in &values {
            assert!(!contains(&raw.body, value), "{tool}: {value} left through the raw route");
        }
        if decodable {
            let a = get(&server.url("enc", "enc/original.dcm", "/-/frames/1.png")).await;
            let b = get(&server.url("enc", "enc/ingested.dcm", "/-/frames/1.png")).await;
            assert_eq!((a.status, b.status), (200, 200), "{tool}");
            assert_eq!(a.body, b.body, "{tool}: the blanked stream decodes to the same pixels");
        }
        server.stop().await;
    }
}

/// A box of a JP2 file: its length, type and content.
fn jp2_box(kind: &[u8; 4], content: &[u8]) -> Vec<u8> {
    [&((content.len() + 8) as u32).to_be_bytes()[..], kind, content].concat()
}

/// Streams whose text no structure-aware blanking finds (review 3, item 2), each in a one-frame
/// object of its syntax: a JPEG 2000 codestream wrapped in a JP2 file with an `xml ` box and a
/// comment, and a JPEG with one byte before SOI, which keeps its comment and EXIF. None of their
/// text leaves through the raw route, WADO-RS frames and instances, or frames under `deny`, and
/// ingest refuses to store them.
#[tokio::test]
async fn wrapped_and_offset_streams_leave_no_text() {
    let values = ["PLANTEDXMLNAME", "PLANTEDMRN", "PLANTEDCOMMENT", "PLANTEDEXIF"];
    let comment = [&[0xFF, 0x64][..], &(2u16 + 2 + 14).to_be_bytes(), &[0, 1], b"PLANTEDCOMMENT"].concat();
    let codestream = [&[0xFF, 0x4F, 0xFF, 0x51, 0, 6, 0, 0][..], &comment, &[0xFF, 0xD9]].concat();
    let jp2 = [
        jp2_box(b"jP  ", &[0x0D, 0x0A, 0x87, 0x0A]),
        jp2_box(b"ftyp", b"jp2 \0\0\0\0jp2 "),
        jp2_box(b"xml ", b"<patient>PLANTEDXMLNAME PLANTEDMRN</patient>"),
        jp2_box(b"jp2c", &codestream),
    ]
    .concat();
    let offset_jpeg = [&[0u8][..], &with_jpeg_metadata(&grey_jpeg(3), "PLANTEDCOMMENT", "PLANTEDEXIF")].concat();
    for (name, syntax, stream) in [("jp2", "1.2.840.10008.1.2.4.90", jp2), ("offset-jpeg", "1.2.840.10008.1.2.4.50", offset_jpeg)] {
        let mut obj = sample::ct_slice(0, 1, 32);
        obj.put(DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(8u16)));
        obj.put(DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(8u16)));
        obj.put(DataElement::new(tags::HIGH_BIT, VR::US, PrimitiveValue::from(7u16)));
        let file = sample::to_bytes_in(sample::with_one_fragment(obj, stream), syntax).unwrap();
        let planted: Vec<&str> = values.iter().copied().filter(|v| contains(&file, v)).collect();
        assert!(planted.len() >= 2, "{name}: {planted:?}");

        for policy in [framegate::RawDicom::Deidentify, framegate::RawDicom::Deny] {
            let server = Server::start_with(framegate::Settings { raw_dicom: policy, ..Default::default() }).await;
            server.put("w/x.dcm", file.clone()).await;
            let root = server.url("w", "w", "/-/dicomweb");
            let found = get(&format!("{root}/instances")).await.json();
            let uid = |tag: &str| found[0][tag]["Value"][0].as_str().unwrap().to_owned();
            let instance = format!("{root}/studies/{}/series/{}/instances/{}", uid("0020000D"), uid("0020000E"), uid("00080018"));
            let answers = [
                get(&server.url("w", "w/x.dcm", "")).await,
                request("GET", &format!("{instance}/frames/1"), &[("accept", "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*")]).await,
                request("GET", &format!("{instance}/frames/1"), &[("accept", "*/*")]).await,
                request("GET", &instance, &[("accept", "application/dicom")]).await,
            ];
            for (n, answer) in answers.iter().enumerate() {
                for value in &planted {
                    assert!(!contains(&answer.body, value), "{name} under {policy:?}: {value} left in answer {n} ({})", answer.status);
                }
            }
            assert_eq!(answers[1].status, 200, "{name} under {policy:?}: the stored frame is answered, zeroed");
            server.stop().await;
        }

        let work = tempfile::tempdir().unwrap();
        std::fs::write(work.path().join("in.dcm"), &file).unwrap();
        let d = dest(Backend::Fs).await;
        let manifest = ingest_with(vec![Source::Local(work.path().join("in.dcm"))], &d.destination, Options::default()).await;
        assert_eq!((manifest.totals.written, manifest.totals.failed), (0, 1), "{name}: {manifest:#?}");
        assert!(manifest.failed[0].reason.contains("can read for text"), "{name}: {}", manifest.failed[0].reason);
        for (path, bytes) in every_file(&d.root) {
            for value in &planted {
                assert!(!contains(&bytes, value), "{name}: {value} stored in {}", path.display());
            }
        }
    }
}

/// `--transcode htj2k` (issue 26): grey native frames are stored as lossless HTJ2K (RPCL), and
/// render exactly as the originals; colour and compressed sources are stored as they are.
#[tokio::test]
async fn ingest_can_store_grey_native_frames_as_lossless_htj2k() {
    let work = tempfile::tempdir().unwrap();
    let mut originals = Vec::new();
    for i in 0..3 {
        let bytes = sample::to_bytes(sample::ct_slice(i, 3, 64)).unwrap();
        std::fs::write(work.path().join(format!("{i}.dcm")), &bytes).unwrap();
        originals.push(bytes);
    }
    let mut rgb = sample::rgb_image(16, 8, |c, r| [c as u8, r as u8, 7]);
    rgb.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from("2.25.4242")));
    std::fs::write(work.path().join("rgb.dcm"), sample::to_bytes(rgb).unwrap()).unwrap();
    let d = dest(Backend::Fs).await;
    let options = Options { transcode: ingest::Transcode::Htj2k, ..Options::default() };
    let manifest = ingest_with(vec![Source::Local(work.path().to_owned())], &d.destination, options).await;
    assert_eq!((manifest.totals.written, manifest.totals.failed), (4, 0), "{manifest:#?}");
    let stored: Vec<(PathBuf, Vec<u8>)> = every_file(&d.root).into_iter().filter(|(p, _)| p.extension().is_some_and(|e| e == "dcm")).collect();
    let syntax = |bytes: &[u8]| dicom_object::from_reader(&bytes[128..]).unwrap().meta().transfer_syntax().trim_end_matches('\0').to_owned();
    let htj2k: Vec<&Vec<u8>> = stored.iter().map(|(_, b)| b).filter(|b| syntax(b) == "1.2.840.10008.1.2.4.202").collect();
    assert_eq!(htj2k.len(), 3, "the three grey slices, not the colour image");
    let server = Server::start().await;
    for (i, original) in originals.iter().enumerate() {
        server.put(&format!("o/{i}.dcm"), original.clone()).await;
    }
    for (i, bytes) in htj2k.iter().enumerate() {
        assert!(bytes.len() < originals[0].len(), "HTJ2K is smaller: {} against {}", bytes.len(), originals[0].len());
        server.put(&format!("h/{i}.dcm"), bytes.to_vec()).await;
    }
    // Each stored slice renders as one of the originals does, pixel for pixel.
    let rendered = |k: String| {
        let url = server.url(&k, &k, "/-/frames/1.png");
        async move { get(&url).await.body }
    };
    let mut want = Vec::new();
    for i in 0..3 {
        want.push(rendered(format!("o/{i}.dcm")).await);
    }
    for i in 0..3 {
        let got = rendered(format!("h/{i}.dcm")).await;
        assert!(want.contains(&got), "stored slice {i} renders as an original does");
    }
}
