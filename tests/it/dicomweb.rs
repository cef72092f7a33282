//! DICOMweb under `/-/dicomweb/`: searches, metadata, frames as stored, rendered frames,
//! instances and bulk data, on both stores, and what each `--raw-dicom` policy lets out.

use std::io::Read;

use serde_json::Value;

use super::fixtures::planted_object;
use super::support::*;
use framegate::{RawDicom, Settings, sample};

const SLICES: usize = 3;
const SIZE: u16 = 64;
const CINE_FRAMES: u32 = 24;
const STUDY: &str = "2.25.31415926535.1";

/// A study folder: a CT series of three slices and a 24-frame XA cine, as stored.
async fn study(backend: Backend, settings: Settings) -> (Server, Vec<Vec<u8>>, Vec<u8>) {
    let server = Server::start_on(backend, settings).await;
    let mut slices = Vec::new();
    for i in 0..SLICES {
        slices.push(server.put_ct(&format!("st/ct/{i}.dcm"), i, SLICES, SIZE).await);
    }
    let cine = sample::to_bytes(sample::cine(CINE_FRAMES, SIZE)).unwrap();
    server.put("st/xa/cine.dcm", cine.clone()).await;
    server.put("st/notes.txt", b"not dicom".to_vec()).await;
    (server, slices, cine)
}

fn root(server: &Server) -> String {
    server.url("st", "st", "/-/dicomweb")
}

async fn json(url: &str) -> Value {
    let r = get(url).await;
    assert_eq!(r.status, 200, "{url}: {}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/dicom+json"));
    r.json()
}

fn value<'a>(obj: &'a Value, tag: &str) -> &'a Value {
    &obj[tag]["Value"][0]
}

/// The parts of a `multipart/related` body, with each part's headers.
pub fn parts(r: &Resp) -> Vec<(String, Vec<u8>)> {
    let content_type = r.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("multipart/related"), "{content_type}: {}", String::from_utf8_lossy(&r.body));
    let boundary = content_type.split(';').find_map(|p| p.trim().strip_prefix("boundary=")).unwrap().trim_matches('"');
    let delimiter = format!("--{boundary}");
    let body = &r.body[..];
    let mut out = Vec::new();
    let mut starts: Vec<usize> = body.windows(delimiter.len()).enumerate().filter(|(_, w)| *w == delimiter.as_bytes()).map(|(i, _)| i).collect();
    starts.push(body.len());
    for pair in starts.windows(2) {
        let part = &body[pair[0] + delimiter.len()..pair[1]];
        if part.starts_with(b"--") {
            break;
        }
        let part = part.strip_prefix(b"\r\n").unwrap();
        let split = part.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let headers = String::from_utf8_lossy(&part[..split]).into_owned();
        let content = part[split + 4..].strip_suffix(b"\r\n").unwrap().to_vec();
        out.push((headers, content));
    }
    out
}

/// The stored native pixel bytes of frame `n` (from 0) of a file whose frames end it.
fn stored_frame(file: &[u8], frames: usize, n: usize) -> Vec<u8> {
    let frame = usize::from(SIZE) * usize::from(SIZE) * 2;
    let start = file.len() - frames * frame + n * frame;
    file[start..start + frame].to_vec()
}

crate::on_both_stores!(searches_metadata_and_frames_come_from_the_stored_objects, dicomweb_client_round_trips_frames);

async fn searches_metadata_and_frames_come_from_the_stored_objects(backend: Backend) {
    let (server, slices, cine) = study(backend, Settings { raw_dicom: RawDicom::Original, ..Default::default() }).await;
    let root = root(&server);

    let studies = json(&format!("{root}/studies")).await;
    assert_eq!(studies.as_array().unwrap().len(), 1, "{studies}");
    let s = &studies[0];
    assert_eq!(value(s, "0020000D"), STUDY);
    assert_eq!(s["00080061"]["Value"], serde_json::json!(["CT", "XA"]));
    assert_eq!(value(s, "00201206"), 2);
    assert_eq!(value(s, "00201208"), 4);

    let series = json(&format!("{root}/studies/{STUDY}/series")).await;
    let ct = series.as_array().unwrap().iter().find(|s| value(s, "00080060") == "CT").unwrap();
    assert_eq!(value(ct, "00201209"), 3);
    let ct_uid = value(ct, "0020000E").as_str().unwrap().to_owned();
    assert_eq!(json(&format!("{root}/series?Modality=XA")).await.as_array().unwrap().len(), 1);
    assert_eq!(json(&format!("{root}/studies?PatientName=framegate*")).await.as_array().unwrap().len(), 1);
    assert_eq!(json(&format!("{root}/studies?StudyDate=20250101-20251231")).await.as_array().unwrap().len(), 0);

    // Instances in slice order, then limit and offset; includefield adds what it names.
    let instances = json(&format!("{root}/studies/{STUDY}/series/{ct_uid}/instances?includefield=ImagePositionPatient")).await;
    let numbers: Vec<i64> = instances.as_array().unwrap().iter().map(|i| value(i, "00200013").as_i64().unwrap()).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert_eq!(instances[2]["00200032"]["Value"], serde_json::json!([-128.0, -128.0, -5.0]));
    let page = json(&format!("{root}/studies/{STUDY}/series/{ct_uid}/instances?limit=1&offset=1")).await;
    assert_eq!(value(&page[0], "00200013"), 2);
    let bad = get(&format!("{root}/studies?NoSuchAttribute=1")).await;
    assert_eq!((bad.status, bad.error()), (400, "unknown attribute \"NoSuchAttribute\"".to_owned()));

    // Metadata of the series: every instance, with what a viewer needs, and the pixels by URI.
    let metadata = json(&format!("{root}/studies/{STUDY}/series/{ct_uid}/metadata")).await;
    assert_eq!(metadata.as_array().unwrap().len(), 3);
    let first = &metadata[0];
    for (tag, expected) in [("00280010", Value::from(64)), ("00280011", Value::from(64)), ("00281052", Value::from(-1024.0)), ("00280100", Value::from(16))] {
        assert_eq!(value(first, tag), &expected, "{tag}");
    }
    let sop = value(first, "00080018").as_str().unwrap().to_owned();
    let bulk = first["7FE00010"]["BulkDataURI"].as_str().unwrap();
    assert!(bulk.starts_with(&format!("{root}/studies/{STUDY}/series/{ct_uid}/instances/{sop}/bulk/")), "{bulk}");

    // Frames as stored, in multipart/related and alone.
    let instance = format!("{root}/studies/{STUDY}/series/{ct_uid}/instances/{sop}");
    let r = request("GET", &format!("{instance}/frames/1"), &[("accept", "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*")]).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let got = parts(&r);
    assert_eq!(got.len(), 1);
    assert!(got[0].0.contains("transfer-syntax=1.2.840.10008.1.2.1"), "{}", got[0].0);
    assert_eq!(got[0].1, stored_frame(&slices[0], 1, 0));
    let r = request("GET", &format!("{instance}/frames/1"), &[("accept", "application/octet-stream")]).await;
    assert_eq!(r.body.to_vec(), stored_frame(&slices[0], 1, 0));
    let r = request("GET", &format!("{instance}/frames/1"), &[("accept", "image/jp2")]).await;
    assert_eq!(r.status, 406, "native frames are no JPEG 2000");
    assert_eq!(get(&format!("{instance}/frames/2")).await.status, 404);

    // The cine's frames 17 and 3, in the order asked.
    let xa = json(&format!("{root}/series?Modality=XA")).await;
    let xa_uid = value(&xa[0], "0020000E").as_str().unwrap().to_owned();
    let xa_meta = json(&format!("{root}/studies/{STUDY}/series/{xa_uid}/metadata")).await;
    let xa_sop = value(&xa_meta[0], "00080018").as_str().unwrap().to_owned();
    let r = get(&format!("{root}/studies/{STUDY}/series/{xa_uid}/instances/{xa_sop}/frames/17,3")).await;
    let got = parts(&r);
    assert_eq!(got.iter().map(|p| p.1.clone()).collect::<Vec<_>>(), [stored_frame(&cine, 24, 16), stored_frame(&cine, 24, 2)]);

    // Rendered and thumbnail, through the frame route's renderer.
    let (w, h, _) = get(&format!("{instance}/rendered?window=40,400")).await.jpeg();
    assert_eq!((w, h), (SIZE, SIZE));
    let (w, _, _) = get(&format!("{instance}/thumbnail?viewport=32,32")).await.jpeg();
    assert_eq!(w, 32);
    assert_eq!(get(&format!("{instance}/rendered?annotation=patient")).await.status, 400);

    // Bulk data by range, and the instance itself under the raw route's policy.
    let r = request("GET", bulk, &[("range", "bytes=0-9")]).await;
    assert_eq!((r.status, r.body.to_vec()), (206, stored_frame(&slices[0], 1, 0)[..10].to_vec()));
    let r = request("GET", &instance, &[("accept", "multipart/related; type=\"application/dicom\"")]).await;
    assert_eq!(parts(&r)[0].1, slices[0]);
    let r = request("GET", &instance, &[("accept", "application/dicom")]).await;
    assert_eq!(r.body.to_vec(), slices[0]);

    // Unknown UIDs and paths.
    assert_eq!(get(&format!("{root}/studies/1.2.3/metadata")).await.status, 404);
    assert_eq!(get(&format!("{root}/studies/not-a-uid/metadata")).await.status, 400);
    assert_eq!(get(&format!("{root}/studies/{STUDY}")).await.status, 406);
    server.stop().await;
}

#[tokio::test]
async fn metadata_is_gzipped_when_asked_and_revalidated_by_etag() {
    let (server, _, _) = study(Backend::Fs, Settings::default()).await;
    let url = format!("{}/studies", root(&server));
    let studies = json(&url).await;
    let study = value(&studies[0], "0020000D").as_str().unwrap().to_owned();
    let url = format!("{}/studies/{study}/metadata", root(&server));
    let plain = get(&url).await;
    let zipped = request("GET", &url, &[("accept-encoding", "gzip, deflate")]).await;
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert!(zipped.body.len() * 3 < plain.body.len(), "{} vs {}", zipped.body.len(), plain.body.len());
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&zipped.body[..]).read_to_end(&mut unzipped).unwrap();
    assert_eq!(unzipped, plain.body.to_vec());
    assert_ne!(zipped.header("etag"), plain.header("etag"));
    let etag = plain.header("etag").unwrap();
    assert_eq!(request("GET", &url, &[("if-none-match", etag)]).await.status, 304);
    assert_eq!(request("GET", &url, &[("accept", "image/jpeg")]).await.status, 406);
    server.stop().await;
}

#[tokio::test]
async fn preflights_allow_the_accept_header_dicomweb_clients_send() {
    let settings = Settings { cors_origins: vec!["https://viewer.example".into()], ..Default::default() };
    let (server, _, _) = study(Backend::Fs, settings).await;
    let url = format!("{}/studies", root(&server));
    let r = request("OPTIONS", &url, &[("origin", "https://viewer.example"), ("access-control-request-method", "GET"), ("access-control-request-headers", "accept")]).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("https://viewer.example"));
    assert!(r.header("access-control-allow-headers").unwrap().contains("Accept"));
    let r = request("GET", &url, &[("origin", "https://viewer.example"), ("accept", "application/dicom+json")]).await;
    assert_eq!((r.status, r.header("access-control-allow-origin")), (200, Some("https://viewer.example")));
    server.stop().await;
}

/// Every DICOMweb answer about two planted objects, under `policy`: bodies and headers.
async fn everything_said(policy: RawDicom) -> (String, Vec<String>, Server) {
    let server = Server::start_with(Settings { raw_dicom: policy, ..Default::default() }).await;
    let (a, planted) = planted_object(4, 1);
    let (b, _) = planted_object(4, 2);
    server.put("pv/s/a.dcm", sample::to_bytes(a).unwrap()).await;
    server.put("pv/s/b.dcm", sample::to_bytes(b).unwrap()).await;
    let root = server.url("pv", "pv/s", "/-/dicomweb");
    let mut said = String::new();
    let mut say = |r: &Resp| {
        said.push_str(&String::from_utf8_lossy(&r.body));
        for (name, v) in &r.headers {
            said.push_str(&format!("\n{name}: {}", String::from_utf8_lossy(v.as_bytes())));
        }
    };
    let studies = get(&format!("{root}/studies?includefield=all")).await;
    assert_eq!(studies.status, 200, "{}", String::from_utf8_lossy(&studies.body));
    say(&studies);
    let study = value(&studies.json()[0], "0020000D").as_str().unwrap().to_owned();
    let series = get(&format!("{root}/studies/{study}/series?includefield=all")).await;
    say(&series);
    let se = value(&series.json()[0], "0020000E").as_str().unwrap().to_owned();
    let metadata = get(&format!("{root}/studies/{study}/series/{se}/metadata")).await;
    say(&metadata);
    for instance in metadata.json().as_array().unwrap() {
        let sop = value(instance, "00080018").as_str().unwrap();
        let base = format!("{root}/studies/{study}/series/{se}/instances/{sop}");
        for rest in ["", "/metadata", "/frames/1", "/rendered", "/thumbnail", "/bulk/7FE00010"] {
            let r = get(&format!("{base}{rest}")).await;
            if matches!(rest, "/metadata" | "/frames/1" | "/rendered") {
                assert_eq!(r.status, 200, "{policy:?} {rest}: the pseudonyms metadata shows name the instance");
            }
            say(&r);
        }
        // Every bulk data URI the metadata names.
        for uri in instance.as_object().unwrap().values().filter_map(|v| v["BulkDataURI"].as_str()) {
            say(&get(uri).await);
        }
    }
    for search in ["instances?includefield=all", "series?includefield=all"] {
        say(&get(&format!("{root}/{search}")).await);
    }
    (said, planted, server)
}

#[tokio::test]
async fn deidentify_shows_no_planted_value_and_addresses_instances_by_pseudonym() {
    let (said, planted, server) = everything_said(RawDicom::Deidentify).await;
    for value in &planted {
        assert!(!said.contains(value.as_str()), "{value} left");
    }
    let root = server.url("pv", "pv/s", "/-/dicomweb");
    // A planted value cannot be searched for either: searches see what metadata shows.
    assert_eq!(get(&format!("{root}/studies?PatientID={}", planted_value(&planted, "PLANTED"))).await.json(), serde_json::json!([]));
    // The stored UID names nothing: only its pseudonym does.
    assert_eq!(get(&format!("{root}/studies/1.2.826.0.1.3680043.10.7777/metadata")).await.status, 404);
    let studies = get(&format!("{root}/studies")).await.json();
    let study = value(&studies[0], "0020000D").as_str().unwrap();
    assert!(study.starts_with("2.25."), "{study}");
    let metadata = get(&format!("{root}/studies/{study}/metadata")).await.json();
    assert_eq!(value(&metadata[0], "00120062"), "YES", "Patient Identity Removed");
    server.stop().await;
}

fn planted_value<'a>(planted: &'a [String], prefix: &str) -> &'a str {
    planted.iter().find(|v| v.starts_with(prefix)).unwrap()
}

#[tokio::test]
async fn deny_shows_only_what_info_json_may_and_serves_no_instance_or_bulk_data() {
    let (said, planted, server) = everything_said(RawDicom::Deny).await;
    for value in &planted {
        assert!(!said.contains(value.as_str()), "{value} left");
    }
    let root = server.url("pv", "pv/s", "/-/dicomweb");
    let studies = get(&format!("{root}/studies")).await.json();
    let study = value(&studies[0], "0020000D").as_str().unwrap().to_owned();
    let metadata = get(&format!("{root}/studies/{study}/metadata")).await.json();
    let first = metadata[0].as_object().unwrap();
    assert!(first.contains_key("00280010") && first.contains_key("00200032"), "the image and its geometry stay");
    assert!(!first.contains_key("00100010") && !first.contains_key("00080020"), "no name, no date");
    let sop = value(&metadata[0], "00080018").as_str().unwrap();
    let se = value(&metadata[0], "0020000E").as_str().unwrap();
    let base = format!("{root}/studies/{study}/series/{se}/instances/{sop}");
    assert_eq!(get(&base).await.status, 403);
    assert_eq!(get(&format!("{base}/bulk/7FE00010")).await.status, 403);
    assert_eq!(get(&format!("{base}/frames/1")).await.status, 200, "frames are served as the frame route serves them");
    server.stop().await;
}

#[tokio::test]
async fn original_shows_the_stored_values() {
    let (said, planted, server) = everything_said(RawDicom::Original).await;
    for value in ["1.2.826.0.1.3680043.10.7777", planted_value(&planted, "PLANTED"), "PRIVATEPLANT"] {
        assert!(said.contains(value), "{value} is shown as stored");
    }
    server.stop().await;
}

/// Byte `i` of the big object's Pixel Data: every frame differs, and so does every byte.
fn big_pixel(i: usize, frame_bytes: usize) -> u8 {
    (i / frame_bytes) as u8 ^ (i as u8) ^ (i >> 8) as u8
}

/// A 200 MiB multi-frame object: a frame through WADO-RS costs its header and that frame.
#[tokio::test]
async fn a_frame_of_a_200_mib_object_reads_only_the_header_and_that_frame() {
    use std::io::Write;
    const SIDE: u16 = 1024;
    const FRAMES: usize = 100;
    let server = Server::start_with(Settings { raw_dicom: RawDicom::Original, ..Default::default() }).await;
    let frame_bytes = usize::from(SIDE) * usize::from(SIDE) * 2;
    // The header of a 100-frame 1024² object, with two bytes of Pixel Data whose length is then
    // made that of all the frames, which are written one at a time.
    let mut obj = sample::cine(1, 8);
    let put = |obj: &mut dicom_object::InMemDicomObject, tag, vr, v: dicom_core::PrimitiveValue| obj.put(dicom_core::DataElement::new(tag, vr, v));
    use dicom_core::VR;
    use dicom_dictionary_std::tags;
    put(&mut obj, tags::ROWS, VR::US, SIDE.into());
    put(&mut obj, tags::COLUMNS, VR::US, SIDE.into());
    put(&mut obj, tags::NUMBER_OF_FRAMES, VR::IS, FRAMES.to_string().into());
    put(&mut obj, tags::PIXEL_DATA, VR::OW, vec![0u8; 2].into());
    let mut header = sample::to_bytes(obj).unwrap();
    header.truncate(header.len() - 6);
    header.extend_from_slice(&((frame_bytes * FRAMES) as u32).to_le_bytes());
    let pixel_start = header.len();
    std::fs::create_dir_all(server.path("big")).unwrap();
    let mut file = std::io::BufWriter::new(std::fs::File::create(server.path("big/cine.dcm")).unwrap());
    file.write_all(&header).unwrap();
    for f in 0..FRAMES {
        let frame: Vec<u8> = (f * frame_bytes..(f + 1) * frame_bytes).map(|i| big_pixel(i, frame_bytes)).collect();
        file.write_all(&frame).unwrap();
    }
    file.into_inner().unwrap().sync_all().unwrap();
    let size = (pixel_start + frame_bytes * FRAMES) as u64;
    assert!(size >= 200 << 20, "{size} bytes");

    let root = server.url("big", "big", "/-/dicomweb");
    let series = json(&format!("{root}/series")).await;
    let (study, series) = (value(&series[0], "0020000D").as_str().unwrap().to_owned(), value(&series[0], "0020000E").as_str().unwrap().to_owned());
    let instances = json(&format!("{root}/studies/{study}/series/{series}/instances")).await;
    let sop = value(&instances[0], "00080018").as_str().unwrap().to_owned();
    let r = get(&format!("{root}/studies/{study}/series/{series}/instances/{sop}/frames/77")).await;
    let got = parts(&r);
    let expected: Vec<u8> = (76 * frame_bytes..77 * frame_bytes).map(|i| big_pixel(i, frame_bytes)).collect();
    assert!(got[0].1 == expected, "frame 77's bytes");
    let reads = server.store.reads_of("big/cine.dcm");
    let total: u64 = reads.iter().map(|r| r.end - r.start).sum();
    assert_eq!(reads.len(), 2, "the header, then the frame: {reads:?}");
    assert_eq!(reads[0], 0..64 * 1024);
    assert_eq!(reads[1], (pixel_start + 76 * frame_bytes) as u64..(pixel_start + 77 * frame_bytes) as u64);
    assert_eq!(total, 64 * 1024 + frame_bytes as u64);
    server.stop().await;
}

/// Whether Python's dicomweb-client is installed: under CI (.ci/run installs it) its absence
/// fails the test, elsewhere the test is skipped (see [`skip`]).
fn have_dicomweb_client() -> bool {
    let found = std::process::Command::new("python3").args(["-c", "import dicomweb_client"]).output().is_ok_and(|o| o.status.success());
    if !found {
        skip("the dicomweb-client Python module is not installed (bash .ci/run installs it)");
    }
    found
}

/// dicomweb-client, the Python library, searches, retrieves metadata, frames (as stored and
/// in the default explicit little endian), instances and bulk data, under the default
/// de-identifying policy, and gets the stored pixels back.
async fn dicomweb_client_round_trips_frames(backend: Backend) {
    if !have_dicomweb_client() {
        return;
    }
    let (server, slices, cine) = study(backend, Settings::default()).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/dicomweb_client_roundtrip.py");
    let root = root(&server);
    let out = tokio::process::Command::new("python3").arg(script).arg(&root).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap()).unwrap()
    };
    assert_eq!(got["studies"].as_array().unwrap().len(), 1);
    assert_eq!((got["ct_search"].as_u64(), got["study_metadata"].as_u64()), (Some(1), Some(4)));
    assert_eq!((got["series"]["CT"].as_u64(), got["series"]["XA"].as_u64()), (Some(3), Some(1)));
    for (n, slice) in slices.iter().enumerate() {
        let name = format!("CT{}", n + 1);
        let stored = stored_frame(slice, 1, 0);
        assert_eq!(b64(&got["frames"][&name][0]), stored, "{name} as stored");
        assert_eq!(b64(&got["decoded"][&name]), stored, "{name} in explicit VR little endian");
        assert_eq!(b64(&got["bulk"][&name]), stored, "{name}'s Pixel Data");
        let instance = &got["instances"][&name];
        assert_eq!(instance[0], instance[1], "the instance carries the SOP Instance UID metadata shows");
        assert_eq!(instance[2], 64);
    }
    assert_eq!(b64(&got["frames"]["XA1"][0]), stored_frame(&cine, 24, 16));
    assert_eq!(b64(&got["frames"]["XA1"][1]), stored_frame(&cine, 24, 2));
    server.stop().await;
}

const PLANTED_COMMENT: &[u8] = b"PLANTED JPEG COMMENT";

/// A two-frame baseline JPEG object (8-bit grey, 16²) whose streams carry a planted comment
/// segment; its frames' streams as stored.
fn jpeg_object() -> (Vec<u8>, Vec<Vec<u8>>) {
    use dicom_core::value::PixelFragmentSequence;
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    let streams: Vec<Vec<u8>> = (0..2u8)
        .map(|k| {
            let mut jpeg = Vec::new();
            jpeg_encoder::Encoder::new(&mut jpeg, 95).encode(&vec![40 + 100 * k; 256], 16, 16, jpeg_encoder::ColorType::Luma).unwrap();
            // A COM segment right after SOI.
            let mut com = vec![0xFF, 0xFE, 0, (PLANTED_COMMENT.len() + 2) as u8];
            com.extend_from_slice(PLANTED_COMMENT);
            jpeg.splice(2..2, com);
            if jpeg.len() % 2 == 1 {
                jpeg.push(0);
            }
            jpeg
        })
        .collect();
    let us = |tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
    let ui = |tag, v: &str| DataElement::new(tag, VR::UI, PrimitiveValue::from(v));
    let obj = dicom_object::InMemDicomObject::from_element_iter([
        ui(tags::SOP_CLASS_UID, "1.2.840.10008.5.1.4.1.1.7.2"),
        ui(tags::SOP_INSTANCE_UID, "2.25.42.3"),
        ui(tags::STUDY_INSTANCE_UID, "2.25.42.1"),
        ui(tags::SERIES_INSTANCE_UID, "2.25.42.2"),
        DataElement::new(tags::MODALITY, VR::CS, PrimitiveValue::from("OT")),
        us(tags::SAMPLES_PER_PIXEL, 1),
        DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, PrimitiveValue::from("MONOCHROME2")),
        DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, PrimitiveValue::from("2")),
        us(tags::ROWS, 16),
        us(tags::COLUMNS, 16),
        us(tags::BITS_ALLOCATED, 8),
        us(tags::BITS_STORED, 8),
        us(tags::HIGH_BIT, 7),
        us(tags::PIXEL_REPRESENTATION, 0),
        DataElement::new(tags::PIXEL_DATA, VR::OB, PixelFragmentSequence::new(Vec::<u32>::new(), streams.clone())),
    ]);
    (sample::to_bytes_in(obj, "1.2.840.10008.1.2.4.50").unwrap(), streams)
}

/// Compressed frames leave as their stored streams (named by their transfer syntax), as
/// `image/jpeg`, or decoded; under `deidentify` their comment segments are blanked in place.
#[tokio::test]
async fn jpeg_frames_leave_as_stored_blanked_or_decoded() {
    let (file, streams) = jpeg_object();
    for policy in [RawDicom::Original, RawDicom::Deidentify] {
        let server = Server::start_with(Settings { raw_dicom: policy, ..Default::default() }).await;
        server.put("jp/a.dcm", file.clone()).await;
        let root = server.url("jp", "jp", "/-/dicomweb");
        let meta = json(&format!("{root}/series")).await;
        let (study, series) = (value(&meta[0], "0020000D").as_str().unwrap().to_owned(), value(&meta[0], "0020000E").as_str().unwrap().to_owned());
        let instances = json(&format!("{root}/studies/{study}/series/{series}/instances")).await;
        let sop = value(&instances[0], "00080018").as_str().unwrap().to_owned();
        assert_eq!(value(&instances[0], "00083002"), "1.2.840.10008.1.2.4.50");
        let frames = format!("{root}/studies/{study}/series/{series}/instances/{sop}/frames");
        let r = request("GET", &format!("{frames}/2,1"), &[("accept", "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*")]).await;
        let got = parts(&r);
        assert!(got[0].0.contains("transfer-syntax=1.2.840.10008.1.2.4.50"), "{}", got[0].0);
        for (part, stream) in got.iter().zip([&streams[1], &streams[0]]) {
            assert_eq!(part.1.len(), stream.len());
            let planted = part.1.windows(PLANTED_COMMENT.len()).any(|w| w == PLANTED_COMMENT);
            match policy {
                RawDicom::Original => assert_eq!(&part.1, stream, "as stored"),
                _ => assert!(!planted, "the comment is blanked under {policy:?}"),
            }
        }
        let r = request("GET", &format!("{frames}/1"), &[("accept", "image/jpeg")]).await;
        assert_eq!(r.header("content-type"), Some("image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50"));
        let mut decoder = jpeg_decoder::Decoder::new(&r.body[..]);
        assert_eq!(decoder.decode().unwrap().len(), 256);
        let r = request("GET", &format!("{frames}/2"), &[("accept", "multipart/related; type=\"application/octet-stream\"")]).await;
        let decoded = &parts(&r)[0];
        assert!(decoded.0.contains("transfer-syntax=1.2.840.10008.1.2.1"));
        assert_eq!(decoded.1.len(), 256);
        assert!(decoded.1.iter().all(|v| v.abs_diff(140) <= 2), "frame 2 is grey 140");
        assert_eq!(request("GET", &format!("{frames}/1"), &[("accept", "image/jp2")]).await.status, 406);
        server.stop().await;
    }
}

/// 16- and 32-bit samples of a 2 × 3 image, as little-endian bytes: each byte of each sample
/// differs, so any swap that is not dcmtk's shows.
fn wide_samples(bits: u16) -> Vec<u8> {
    (0..6u32).flat_map(|i| if bits == 32 { (0x0403_0201 + i * 0x1010_1010).to_le_bytes().to_vec() } else { (0x0201 + i as u16 * 0x1010).to_le_bytes().to_vec() }).collect()
}

#[tokio::test]
async fn big_endian_pixel_data_leaves_little_endian_as_dcmtk_reads_it() {
    use dicom_core::{DataElement, VR};
    use dicom_dictionary_std::tags;
    if !have_tool("dcmconv") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(Settings { raw_dicom: RawDicom::Original, ..Default::default() }).await;
    for bits in [16u16, 32] {
        let mut obj = sample::ct_slice(0, 1, 2);
        for (tag, value) in [(tags::ROWS, 3u16), (tags::COLUMNS, 2), (tags::BITS_ALLOCATED, bits), (tags::BITS_STORED, bits), (tags::HIGH_BIT, bits - 1)] {
            obj.put(DataElement::new(tag, VR::US, dicom_core::PrimitiveValue::from(value)));
        }
        obj.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, dicom_core::PrimitiveValue::from(format!("2.25.77{bits}"))));
        obj.put(DataElement::new(tags::SERIES_INSTANCE_UID, VR::UI, dicom_core::PrimitiveValue::from(format!("2.25.78{bits}"))));
        obj.put(DataElement::new(tags::PIXEL_DATA, VR::OW, dicom_core::PrimitiveValue::from(wide_samples(bits))));
        let (le, be) = (dir.path().join(format!("le{bits}.dcm")), dir.path().join(format!("be{bits}.dcm")));
        sample::write(obj, &le).unwrap();
        // dcmtk writes OW big endian per 16-bit word (PS3.5 Table 6.2-1), and reads it so.
        run("dcmconv", &["+tb", le.to_str().unwrap(), be.to_str().unwrap()]);
        server.put(&format!("be/{bits}/x.dcm"), std::fs::read(&be).unwrap()).await;
        let root = server.url("be", &format!("be/{bits}"), "/-/dicomweb");
        let found = json(&format!("{root}/instances")).await;
        let uid = |tag| value(&found[0], tag).as_str().unwrap().to_owned();
        let instance = format!("{root}/studies/{}/series/{}/instances/{}", uid("0020000D"), uid("0020000E"), uid("00080018"));
        let expected = wide_samples(bits);
        let decoded = request("GET", &format!("{instance}/frames/1"), &[("accept", "application/octet-stream")]).await;
        assert_eq!(decoded.status, 200, "{bits}-bit: {}", String::from_utf8_lossy(&decoded.body));
        assert_eq!(&decoded.body[..], &expected[..], "{bits}-bit decoded frame");
        let bulk = request("GET", &format!("{instance}/bulk/7FE00010"), &[("accept", "application/octet-stream")]).await;
        assert_eq!(bulk.status, 200, "{bits}-bit: {}", String::from_utf8_lossy(&bulk.body));
        assert_eq!(&bulk.body[..], &expected[..], "{bits}-bit bulk data");
        // A range that starts and ends inside samples.
        let part = request("GET", &format!("{instance}/bulk/7FE00010"), &[("accept", "application/octet-stream"), ("range", "bytes=3-8")]).await;
        assert_eq!(part.status, 206);
        assert_eq!(&part.body[..], &expected[3..9], "{bits}-bit bulk range");
    }
}

/// A native 16-bit object of `frames` frames of `cols` × `rows`, each sample its frame's number.
fn big_frames(frames: u16, cols: u16, rows: u16) -> Vec<u8> {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    let mut obj = sample::ct_slice(0, 1, 2);
    for (tag, value) in [(tags::ROWS, rows), (tags::COLUMNS, cols)] {
        obj.put(DataElement::new(tag, VR::US, PrimitiveValue::from(value)));
    }
    obj.put(DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, PrimitiveValue::from(frames.to_string())));
    let frame = usize::from(cols) * usize::from(rows);
    let pixels: Vec<u8> = (0..frames).flat_map(|f| std::iter::repeat_n(f.to_le_bytes(), frame).flatten()).collect();
    obj.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::from(pixels)));
    sample::to_bytes(obj).unwrap()
}

/// Sends a GET and reads only the answer's head, leaving its body unread on the socket.
async fn head_only(url: &str, accept: &str) -> (tokio::net::TcpStream, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = url::Url::parse(url).unwrap();
    let mut socket = tokio::net::TcpStream::connect((url.host_str().unwrap(), url.port().unwrap())).await.unwrap();
    let request = format!("GET {}?{} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\n\r\n", url.path(), url.query().unwrap_or(""));
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        socket.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    (socket, String::from_utf8(head).unwrap())
}

#[tokio::test]
async fn a_frame_list_is_made_as_it_is_sent_within_the_memory_budget() {
    const FRAMES: u16 = 8;
    let (cols, rows) = (2048u16, 1024u16);
    let frame = u64::from(cols) * u64::from(rows) * 2;
    // Room for one 4 MiB frame in flight and a little more: a second one does not fit.
    let settings = Settings { raw_dicom: RawDicom::Original, render_memory: 6 << 20, ..Default::default() };
    let server = Server::start_with(settings).await;
    let file = big_frames(FRAMES, cols, rows);
    server.put("big/x.dcm", file.clone()).await;
    let root = server.url("big", "big", "/-/dicomweb");
    let found = json(&format!("{root}/instances")).await;
    let uid = |tag| value(&found[0], tag).as_str().unwrap().to_owned();
    let instance = format!("{root}/studies/{}/series/{}/instances/{}", uid("0020000D"), uid("0020000E"), uid("00080018"));
    let all: Vec<String> = (1..=FRAMES).map(|n| n.to_string()).collect();
    let list = format!("{instance}/frames/{}", all.join(","));
    let accept = "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*";

    // A frame asked for twice is refused: 64 copies of one frame were a 2 GiB answer.
    let twice = request("GET", &format!("{instance}/frames/1,1"), &[("accept", accept)]).await;
    assert_eq!((twice.status, twice.error()), (400, "frame 1 is asked for more than once".to_owned()));

    // Its head arrives before the frames are read: the server does not hold all eight to answer.
    server.store.clear();
    let (stalled, head) = head_only(&list, accept).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let frames_read = |server: &Server| server.store.reads_of("big/x.dcm").iter().filter(|r| r.end - r.start == frame).count();
    let read = frames_read(&server);
    assert!(read < usize::from(FRAMES), "all {read} frames were read before the answer began");

    // The frame its stalled body holds counts against the budget every request shares.
    let busy = request("GET", &format!("{instance}/frames/2"), &[("accept", "application/octet-stream")]).await;
    assert_eq!(busy.status, 503, "{}", String::from_utf8_lossy(&busy.body));
    drop(stalled);
    let whole = poll(PATIENCE, || async {
        let r = request("GET", &list, &[("accept", accept)]).await;
        if r.status == 200 { Ok(r) } else { Err(r) }
    })
    .await
    .unwrap_or_else(|r| r);
    assert_eq!(whole.status, 200, "the budget was not given back when the client left");
    let got = parts(&whole);
    assert_eq!(got.len(), usize::from(FRAMES));
    for (n, (_, content)) in got.iter().enumerate() {
        let start = file.len() - usize::from(FRAMES - n as u16) * frame as usize;
        assert!(content[..] == file[start..start + frame as usize], "frame {}", n + 1);
    }
}

#[tokio::test]
async fn a_search_pattern_longer_than_any_value_it_could_match_is_refused() {
    let (server, _, _) = study(Backend::Fs, Settings::default()).await;
    // 10,000 characters matched against every value with a backtracking matcher took 31 s.
    let long = format!("*{}b", "a".repeat(10_000));
    let r = get(&format!("{}/instances?StudyDescription={long}", root(&server))).await;
    assert_eq!((r.status, r.error()), (400, "a match value has at most 256 characters: \"StudyDescription\" has more".to_owned()));
    let fine = get(&format!("{}/instances?StudyDescription=*{}", root(&server), "?".repeat(200))).await;
    assert_eq!(fine.status, 200);
}

#[tokio::test]
async fn token_scoped_pseudonyms_cannot_be_joined_across_links_yet_address_their_own_instances() {
    let settings = Settings { pseudonym_scope: framegate::deid::PseudonymScope::Token, ..Default::default() };
    let server = Server::start_with(settings).await;
    server.put_ct("ps/s/a.dcm", 0, 1, 16).await;
    let study_seen_by = |scope: &str| {
        let url = server.url(scope, "ps/s", "/-/dicomweb/instances");
        async move {
            let found = json(&url).await;
            (
                value(&found[0], "0020000D").as_str().unwrap().to_owned(),
                value(&found[0], "0020000E").as_str().unwrap().to_owned(),
                value(&found[0], "00080018").as_str().unwrap().to_owned(),
            )
        }
    };
    let (wide, narrow) = (study_seen_by("ps").await, study_seen_by("ps/s").await);
    assert_ne!(wide.0, narrow.0, "two links' recipients see unrelated study UIDs");
    assert_eq!(study_seen_by("ps").await, wide, "one link's answers agree with each other");
    // Each link's pseudonyms address its instance, and only there.
    let frame = |scope: &str, uids: &(String, String, String)| server.url(scope, "ps/s", &format!("/-/dicomweb/studies/{}/series/{}/instances/{}/frames/1", uids.0, uids.1, uids.2));
    assert_eq!(get(&frame("ps/s", &narrow)).await.status, 200);
    assert_eq!(get(&frame("ps", &narrow)).await.status, 404);
    // The raw route's de-identified file carries the link's own pseudonyms too.
    let raw = get(&server.url("ps/s", "ps/s/a.dcm", "")).await;
    assert!(raw.body.windows(narrow.0.len()).any(|w| w == narrow.0.as_bytes()));
    assert!(!raw.body.windows(wide.0.len()).any(|w| w == wide.0.as_bytes()));
}

/// The wire (issue 26): a native frame is gzipped when the client takes gzip, compressed once and
/// kept, and its validator and `Vary` keep the codings apart; compressed frames never are.
#[tokio::test]
async fn native_frames_are_gzipped_once_for_clients_that_take_gzip_and_compressed_ones_never() {
    let (server, slices, _) = study(Backend::Fs, Settings { raw_dicom: RawDicom::Original, ..Default::default() }).await;
    let root = root(&server);
    let frame = format!("{}/frames/1", first_ct_slice(&root).await);
    let accept = "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*";
    let plain = request("GET", &frame, &[("accept", accept)]).await;
    let zipped = request("GET", &frame, &[("accept", accept), ("accept-encoding", "gzip, deflate")]).await;
    assert_eq!((plain.status, zipped.status), (200, 200));
    assert_eq!((plain.header("content-encoding"), zipped.header("content-encoding")), (None, Some("gzip")));
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(&zipped.body[..]).read_to_end(&mut inflated).unwrap();
    assert_eq!(parts(&Resp { status: 200, headers: zipped.headers.clone(), body: inflated.into() })[0].1, stored_frame(&slices[0], 1, 0));
    assert!(zipped.body.len() < plain.body.len(), "{} bytes gzipped against {}", zipped.body.len(), plain.body.len());
    assert_ne!(plain.header("etag"), zipped.header("etag"));
    for r in [&plain, &zipped] {
        assert!(r.header("vary").is_some_and(|v| v.contains("Accept-Encoding")), "{:?}", r.header("vary"));
    }
    // Kept: the second answer is the first, and a client holding it gets a 304.
    let again = request("GET", &frame, &[("accept", accept), ("accept-encoding", "gzip")]).await;
    assert_eq!(again.body, zipped.body);
    let held = request("GET", &frame, &[("accept", accept), ("accept-encoding", "gzip"), ("if-none-match", zipped.header("etag").unwrap())]).await;
    assert_eq!(held.status, 304);

    // A stored JPEG frame is already compressed: it leaves as it is.
    let (file, _) = jpeg_object();
    server.put("jp/x.dcm", file).await;
    let jroot = server.url("jp", "jp", "/-/dicomweb");
    let jpeg = json(&format!("{jroot}/instances")).await;
    let uid = |tag| value(&jpeg[0], tag).as_str().unwrap().to_owned();
    let stored = format!("{jroot}/studies/{}/series/{}/instances/{}/frames/1", uid("0020000D"), uid("0020000E"), uid("00080018"));
    let r = request("GET", &stored, &[("accept", accept), ("accept-encoding", "gzip")]).await;
    assert_eq!((r.status, r.header("content-encoding")), (200, None));
}

/// `body` decoded from the content coding `coding` names.
fn decoded(coding: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        None => out = body.to_vec(),
        Some("gzip") => drop(flate2::read::GzDecoder::new(body).read_to_end(&mut out).unwrap()),
        Some("br") => drop(brotli::Decompressor::new(body, 4096).read_to_end(&mut out).unwrap()),
        Some("zstd") => out = zstd::decode_all(body).unwrap(),
        Some(other) => panic!("unexpected coding {other}"),
    }
    out
}

/// The sum of `framegate_compressions_total` over every coding.
async fn compressions(server: &Server) -> u64 {
    let text = String::from_utf8(get(&format!("http://{}/metrics", server.addr)).await.body.to_vec()).unwrap();
    text.lines().filter(|l| l.starts_with("framegate_compressions_total{")).map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap()).sum()
}

/// The wire (issue 26): `Accept-Encoding` chooses zstd, br or gzip by weight (ties go to zstd,
/// then br; q=0 refuses) for a native frame, metadata and native bulk data alike. Each coding of
/// each answer is compressed once and kept (a second round compresses nothing), has its own ETag
/// and says `Vary: Accept-Encoding`; a range of bulk data and a codestream are never compressed.
/// Before br and zstd, Chromium's header got gzip.
#[tokio::test]
async fn accept_encoding_chooses_the_coding_by_weight_and_each_is_made_once_and_kept_apart() {
    let (server, slices, _) = study(Backend::Fs, Settings { raw_dicom: RawDicom::Original, ..Default::default() }).await;
    let instance = first_ct_slice(&root(&server)).await;
    let samples = stored_frame(&slices[0], 1, 0);
    let any = "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*";
    let (frame, metadata, bulk) = (format!("{instance}/frames/1"), format!("{instance}/metadata"), format!("{instance}/bulk/7FE00010"));
    let plain_metadata = get(&metadata).await.body.to_vec();
    // (url, Accept, whether the answer is one part of a multipart body, what the part holds)
    let answers = [
        (&frame, any, true, &samples),
        (&metadata, "application/dicom+json", false, &plain_metadata),
        (&bulk, "application/octet-stream", false, &samples),
        (&bulk, "multipart/related; type=\"application/octet-stream\"", true, &samples),
    ];
    let offers = [
        ("gzip, deflate, br, zstd", Some("zstd")),
        ("gzip, deflate, br", Some("br")),
        ("zstd;q=0.1, br;q=0.5, gzip", Some("gzip")),
        ("zstd;q=0, br;q=0, gzip;q=0", None),
        ("deflate", None),
    ];
    let mut first_round = Vec::new();
    for (url, accept, multipart, expected) in answers {
        let mut etags = std::collections::HashSet::new();
        for (offer, coding) in offers {
            let r = request("GET", url, &[("accept", accept), ("accept-encoding", offer)]).await;
            assert_eq!((r.status, r.header("content-encoding")), (200, coding), "{url} {accept} with {offer}");
            assert!(r.header("vary").is_some_and(|v| v.contains("Accept-Encoding")), "{url}: {:?}", r.header("vary"));
            let body = decoded(coding, &r.body);
            let got = if multipart { parts(&Resp { status: 200, headers: r.headers.clone(), body: body.into() }).remove(0).1 } else { body };
            assert_eq!(&got, expected, "{url} {accept} with {offer}");
            if coding.is_some() {
                assert!(r.body.len() < samples.len(), "{url} in {offer}: {} bytes", r.body.len());
            }
            etags.insert(r.header("etag").unwrap().to_owned());
            first_round.push(r);
        }
        assert_eq!(etags.len(), 4, "{url} {accept}: one validator per coding, identity twice: {etags:?}");
    }
    let made = compressions(&server).await;
    assert_eq!(made, 4 * 3, "each of four answers once in each of three codings");
    let mut again = first_round.iter();
    for (url, accept, ..) in answers {
        for (offer, _) in offers {
            let r = request("GET", url, &[("accept", accept), ("accept-encoding", offer)]).await;
            assert_eq!(r.body, again.next().unwrap().body, "{url} with {offer}");
        }
    }
    assert_eq!(compressions(&server).await, made, "kept: nothing is compressed twice");

    // A client holding the zstd answer revalidates it; its validator is no other coding's.
    let zstd = &first_round[0];
    let held = request("GET", &frame, &[("accept", any), ("accept-encoding", "zstd"), ("if-none-match", zstd.header("etag").unwrap())]).await;
    assert_eq!(held.status, 304);
    let other = request("GET", &frame, &[("accept", any), ("accept-encoding", "br"), ("if-none-match", zstd.header("etag").unwrap())]).await;
    assert_eq!((other.status, other.header("content-encoding")), (200, Some("br")));

    // A range is of the stored bytes; a codestream is already compressed.
    let r = request("GET", &bulk, &[("accept", "application/octet-stream"), ("accept-encoding", "zstd"), ("range", "bytes=0-9")]).await;
    assert_eq!((r.status, r.header("content-encoding"), r.body.to_vec()), (206, None, samples[..10].to_vec()));
    let htj2k = "multipart/related; type=\"application/octet-stream\"; transfer-syntax=1.2.840.10008.1.2.4.202";
    let r = request("GET", &frame, &[("accept", htj2k), ("accept-encoding", "gzip, deflate, br, zstd")]).await;
    assert_eq!((r.status, r.header("content-encoding")), (200, None));
    assert_eq!(compressions(&server).await, made);
    server.stop().await;
}

/// HTJ2K on request (issue 26): frames stored natively or in another lossless syntax are made a
/// lossless RPCL codestream for a client that asks, which OpenJPEG (and OpenJPH's own decoder,
/// where installed) read back to the stored samples bit for bit; made once and kept.
#[tokio::test]
async fn htj2k_is_made_on_request_losslessly_from_any_lossless_frame() {
    let (server, slices, _) = study(Backend::Fs, Settings { raw_dicom: RawDicom::Original, ..Default::default() }).await;
    let root = root(&server);
    let frame = format!("{}/frames/1", first_ct_slice(&root).await);
    let stored: Vec<i32> = stored_frame(&slices[0], 1, 0).chunks_exact(2).map(|c| i32::from(u16::from_le_bytes([c[0], c[1]]))).collect();
    let accept = "multipart/related; type=\"application/octet-stream\"; transfer-syntax=1.2.840.10008.1.2.4.202";
    let r = request("GET", &frame, &[("accept", accept), ("accept-encoding", "gzip")]).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-encoding"), None, "a codestream is not gzipped");
    let (headers, stream) = parts(&r).remove(0);
    assert!(headers.contains("transfer-syntax=1.2.840.10008.1.2.4.202"), "{headers}");
    assert!(stream.len() < stored.len() * 2, "{} bytes for {} samples", stream.len(), stored.len());
    let image = jpeg2k::Image::from_bytes(&stream).expect("OpenJPEG reads it");
    assert_eq!(image.components()[0].data(), &stored[..], "OpenJPEG gives back the stored samples");
    if have_tool("ojph_expand") {
        let dir = tempfile::tempdir().unwrap();
        let (j2c, pgm) = (dir.path().join("f.j2c"), dir.path().join("f.pgm"));
        std::fs::write(&j2c, &stream).unwrap();
        run("ojph_expand", &["-i", j2c.to_str().unwrap(), "-o", pgm.to_str().unwrap()]);
        let (.., samples) = parse_pnm(&pgm);
        assert_eq!(samples.iter().map(|v| i32::from(*v)).collect::<Vec<_>>(), stored, "OpenJPH gives back the stored samples");
    }
    let again = request("GET", &frame, &[("accept", accept)]).await;
    assert_eq!(parts(&again)[0].1, stream, "made once and kept");
    let single = request("GET", &frame, &[("accept", "image/jphc")]).await;
    assert_eq!((single.status, single.header("content-type")), (200, Some("image/jphc; transfer-syntax=1.2.840.10008.1.2.4.202")));
    assert_eq!(&single.body[..], &stream[..]);

    // From a frame stored in another lossless syntax: the decoder's samples, losslessly.
    if have_tool("dcmcrle") {
        let dir = tempfile::tempdir().unwrap();
        let (plain, rle) = (dir.path().join("p.dcm"), dir.path().join("r.dcm"));
        std::fs::write(&plain, &slices[1]).unwrap();
        run("dcmcrle", &[plain.to_str().unwrap(), rle.to_str().unwrap()]);
        server.put("rle/x.dcm", std::fs::read(&rle).unwrap()).await;
        let rroot = server.url("rle", "rle", "/-/dicomweb");
        let found = json(&format!("{rroot}/instances")).await;
        let uid = |tag| value(&found[0], tag).as_str().unwrap().to_owned();
        let frame = format!("{rroot}/studies/{}/series/{}/instances/{}/frames/1", uid("0020000D"), uid("0020000E"), uid("00080018"));
        let decoded = request("GET", &frame, &[("accept", "application/octet-stream")]).await;
        let r = request("GET", &frame, &[("accept", accept)]).await;
        let stream = parts(&r).remove(0).1;
        let image = jpeg2k::Image::from_bytes(&stream).unwrap();
        let samples: Vec<i32> = decoded.body.chunks_exact(2).map(|c| i32::from(u16::from_le_bytes([c[0], c[1]]))).collect();
        assert_eq!(image.components()[0].data(), &samples[..]);
    }
}

/// The WADO-RS URL of the first CT slice (Instance Number 1) under `root`.
async fn first_ct_slice(root: &str) -> String {
    let found = json(&format!("{root}/instances?Modality=CT")).await;
    let first = found.as_array().unwrap().iter().find(|i| value(i, "00200013") == 1).unwrap();
    let uid = |tag| value(first, tag).as_str().unwrap().to_owned();
    format!("{root}/studies/{}/series/{}/instances/{}", uid("0020000D"), uid("0020000E"), uid("00080018"))
}

/// Regression (issue 23): Private Creators were served as UN with their bytes where PS3.5
/// 7.8.1 makes them LO, and native Pixel Data was OB whatever its width, where 16-bit data is
/// OW (PS3.5 A.1, A.2); 8-bit native data stays OB, as does encapsulated data.
#[tokio::test]
async fn private_creators_are_lo_and_pixel_data_takes_the_vr_of_its_form() {
    use dicom_core::{DataElement, Tag, VR};
    let server = Server::start_with(Settings { raw_dicom: RawDicom::Original, ..Default::default() }).await;
    let mut ct = sample::ct_slice(0, 1, SIZE);
    // Written UN, as toolkits that copy what they do not know write it.
    ct.put(DataElement::new(Tag(0x0009, 0x0010), VR::UN, dicom_core::PrimitiveValue::from(b"ACME 1.0".to_vec())));
    ct.put(DataElement::new(Tag(0x0009, 0x1001), VR::LO, "private"));
    let rgb = sample::rgb_image(8, 8, |x, y| [x as u8, y as u8, 0]);
    let (jpeg, _) = jpeg_object();
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("implicit", sample::to_bytes_in(ct.clone(), "1.2.840.10008.1.2").unwrap(), "OW"),
        ("explicit", sample::to_bytes(ct).unwrap(), "OW"),
        ("rgb", sample::to_bytes(rgb).unwrap(), "OB"),
        ("jpeg", jpeg, "OB"),
    ];
    for (name, bytes, pixel_vr) in cases {
        let folder = format!("vr/{name}");
        server.put(&format!("{folder}/x.dcm"), bytes).await;
        let root = server.url(&folder, &folder, "/-/dicomweb");
        let study = value(&json(&format!("{root}/studies")).await[0], "0020000D").as_str().unwrap().to_owned();
        let metadata = json(&format!("{root}/studies/{study}/metadata")).await;
        let instance = &metadata[0];
        assert_eq!(instance["7FE00010"]["vr"], pixel_vr, "{name}");
        if matches!(name, "implicit" | "explicit") {
            assert_eq!(instance["00090010"], serde_json::json!({ "vr": "LO", "Value": ["ACME 1.0"] }), "{name}");
        }
    }
    server.stop().await;
}

/// Regression (issue 23): an object whose UIDs are not digits and dots was listed by QIDO-RS,
/// and then its retrieval answered 400; what cannot be retrieved is not listed.
#[tokio::test]
async fn objects_whose_uids_cannot_address_them_are_not_listed() {
    use dicom_core::{DataElement, VR};
    use dicom_dictionary_std::tags;
    let server = Server::start_with(Settings { raw_dicom: RawDicom::Original, ..Default::default() }).await;
    server.put_ct("bad/s/good.dcm", 0, 2, SIZE).await;
    let mut bad = sample::ct_slice(1, 2, SIZE);
    // The file meta group repeats the SOP Instance UID and must hold a UID; the series need not.
    bad.put(DataElement::new(tags::SERIES_INSTANCE_UID, VR::UI, "1.2.3.series-two"));
    server.put("bad/s/bad.dcm", sample::to_bytes(bad).unwrap()).await;
    let root = server.url("bad", "bad/s", "/-/dicomweb");
    let instances = json(&format!("{root}/instances")).await;
    let sops: Vec<&str> = instances.as_array().unwrap().iter().map(|i| value(i, "00080018").as_str().unwrap()).collect();
    assert_eq!(sops.len(), 1, "{sops:?}");
    for instance in instances.as_array().unwrap() {
        let (study, series, sop) = (value(instance, "0020000D").as_str().unwrap(), value(instance, "0020000E").as_str().unwrap(), value(instance, "00080018").as_str().unwrap());
        assert_eq!(get(&format!("{root}/studies/{study}/series/{series}/instances/{sop}/metadata")).await.status, 200, "{sop} is listed, so it can be retrieved");
    }
    let studies = json(&format!("{root}/studies")).await;
    assert_eq!(value(&studies[0], "00201208"), 1, "the study counts what it lists");
    server.stop().await;
}

/// Regression (issue 23): ISO_IR 148 (Turkish) was read as Latin-1, and a Latin-1 name with a
/// Greek code extension kept its escape sequence. Expected strings computed once with pydicom
/// 3.0.2: `PersonName(value, convert_encodings(charsets)).decode()`.
#[tokio::test]
async fn turkish_and_greek_code_extension_names_read_as_pydicom_reads_them() {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    let server = Server::start_with(Settings { raw_dicom: RawDicom::Original, ..Default::default() }).await;
    // Each byte as the Latin-1 character of its value, which dicom-rs writes back as that byte
    // (it knows neither ISO_IR 148 nor code extensions, and writes both as Latin-1).
    let latin1 = |bytes: &[u8]| bytes.iter().map(|&b| char::from(b)).collect::<String>();
    let cases = [
        ("tr", "ISO_IR 148", latin1(b"\xdeim\xdeek^\xd0\xfcl\xfe\xfdn"), "ŞimŞek^Ğülşın", None),
        ("gr", "ISO 2022 IR 100\\ISO 2022 IR 126", latin1(b"Dionysios=\x1b-F\xc4\xe9\xef\xed\xf5\xf3\xe9\xef\xf2"), "Dionysios", Some("Διονυσιος")),
    ];
    for (folder, charsets, stored, alphabetic, ideographic) in cases {
        let mut ct = sample::ct_slice(0, 1, SIZE);
        ct.put(DataElement::new(tags::SPECIFIC_CHARACTER_SET, VR::CS, PrimitiveValue::Strs(charsets.split('\\').map(str::to_owned).collect())));
        ct.put(DataElement::new(tags::PATIENT_NAME, VR::PN, stored.as_str()));
        server.put(&format!("{folder}/x.dcm"), sample::to_bytes(ct).unwrap()).await;
        let root = server.url(folder, folder, "/-/dicomweb");
        let study = value(&json(&format!("{root}/studies")).await[0], "0020000D").as_str().unwrap().to_owned();
        let metadata = json(&format!("{root}/studies/{study}/metadata")).await;
        let name = &metadata[0]["00100010"]["Value"][0];
        assert_eq!((name["Alphabetic"].as_str(), name["Ideographic"].as_str()), (Some(alphabetic), ideographic), "{charsets}");
    }
    server.stop().await;
}

/// A single-part frame honours `Range`, and says so to cross-origin clients: Cornerstone3D's
/// progressive retrieval reads the first bytes of an HTJ2K codestream first.
#[tokio::test]
async fn a_single_part_frame_answers_ranges() {
    let (server, slices, _) = study(Backend::Fs, Settings { cors_origins: vec!["*".into()], ..Default::default() }).await;
    let instance = first_ct_slice(&root(&server)).await;
    let stored = stored_frame(&slices[0], 1, 0);
    let part =
        request("GET", &format!("{instance}/frames/1"), &[("accept", "application/octet-stream; transfer-syntax=*"), ("range", "bytes=10-99"), ("origin", "https://portal.example")])
            .await;
    assert_eq!(part.status, 206);
    assert_eq!(&part.body[..], &stored[10..100]);
    assert_eq!(part.header("content-range"), Some(format!("bytes 10-99/{}", stored.len()).as_str()));
    assert!(part.header("access-control-expose-headers").is_some_and(|h| h.contains("Content-Range")));
    let whole = request("GET", &format!("{instance}/frames/1"), &[("accept", "image/jphc")]).await;
    let head = request("GET", &format!("{instance}/frames/1"), &[("accept", "image/jphc"), ("range", "bytes=0-255")]).await;
    assert_eq!((head.status, &head.body[..]), (206, &whole.body[..256]), "the first bytes of the codestream");
}

/// An object of the study's CT series (slice 0 of `slices`) without its image: the SOP Class
/// `class`, modality `modality`, and its own series and instance.
fn without_pixels(class: &str, modality: &str, series: &str, sop: &str, slices: usize, description: &str) -> dicom_object::InMemDicomObject {
    use dicom_core::{DataElement, VR};
    use dicom_dictionary_std::tags;
    let mut obj = sample::ct_slice(0, slices, SIZE);
    for tag in [
        tags::PIXEL_DATA,
        tags::ROWS,
        tags::COLUMNS,
        tags::BITS_ALLOCATED,
        tags::BITS_STORED,
        tags::HIGH_BIT,
        tags::PIXEL_REPRESENTATION,
        tags::SAMPLES_PER_PIXEL,
        tags::PHOTOMETRIC_INTERPRETATION,
    ] {
        obj.remove_element(tag);
    }
    obj.put(DataElement::new(tags::SOP_CLASS_UID, VR::UI, class));
    obj.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, sop));
    obj.put(DataElement::new(tags::SERIES_INSTANCE_UID, VR::UI, series));
    obj.put(DataElement::new(tags::MODALITY, VR::CS, modality));
    obj.put(DataElement::new(tags::SERIES_DESCRIPTION, VR::LO, description));
    obj.put(DataElement::new(tags::SERIES_NUMBER, VR::IS, "90"));
    obj.put(DataElement::new(tags::INSTANCE_NUMBER, VR::IS, "1"));
    obj
}

/// A Key Object Selection ("Of Interest", DCM 113000) of slice 0 of the study's CT series
/// of `slices`.
pub(super) fn key_objects(slices: usize) -> Vec<u8> {
    use dicom_core::value::DataSetSequence;
    use dicom_core::{DataElement, Length, VR};
    use dicom_dictionary_std::tags;
    use dicom_object::InMemDicomObject;
    let ct = sample::ct_slice(0, slices, SIZE);
    let text = |tag| ct.element(tag).unwrap().to_str().unwrap().trim_end_matches('\0').to_owned();
    let (ct_class, ct_sop, ct_series) = (text(tags::SOP_CLASS_UID), text(tags::SOP_INSTANCE_UID), text(tags::SERIES_INSTANCE_UID));
    let mut ko = without_pixels("1.2.840.10008.5.1.4.1.1.88.59", "KO", "2.25.271828182845904523539", "2.25.271828182845904523538", slices, "framegate key objects");
    let seq = |items: Vec<InMemDicomObject>| DataSetSequence::new(items, Length::UNDEFINED);
    let code = InMemDicomObject::from_element_iter([
        DataElement::new(tags::CODE_VALUE, VR::SH, "113000"),
        DataElement::new(tags::CODING_SCHEME_DESIGNATOR, VR::SH, "DCM"),
        DataElement::new(tags::CODE_MEANING, VR::LO, "Of Interest"),
    ]);
    let sop_ref = || {
        InMemDicomObject::from_element_iter([
            DataElement::new(tags::REFERENCED_SOP_CLASS_UID, VR::UI, ct_class.as_str()),
            DataElement::new(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, ct_sop.as_str()),
        ])
    };
    let image = InMemDicomObject::from_element_iter([
        DataElement::new(tags::RELATIONSHIP_TYPE, VR::CS, "CONTAINS"),
        DataElement::new(tags::VALUE_TYPE, VR::CS, "IMAGE"),
        DataElement::new(tags::REFERENCED_SOP_SEQUENCE, VR::SQ, seq(vec![sop_ref()])),
    ]);
    let evidence_series = InMemDicomObject::from_element_iter([
        DataElement::new(tags::SERIES_INSTANCE_UID, VR::UI, ct_series.as_str()),
        DataElement::new(tags::REFERENCED_SOP_SEQUENCE, VR::SQ, seq(vec![sop_ref()])),
    ]);
    let evidence = InMemDicomObject::from_element_iter([
        DataElement::new(tags::STUDY_INSTANCE_UID, VR::UI, text(tags::STUDY_INSTANCE_UID).as_str()),
        DataElement::new(tags::REFERENCED_SERIES_SEQUENCE, VR::SQ, seq(vec![evidence_series])),
    ]);
    ko.put(DataElement::new(tags::VALUE_TYPE, VR::CS, "CONTAINER"));
    ko.put(DataElement::new(tags::CONTINUITY_OF_CONTENT, VR::CS, "SEPARATE"));
    ko.put(DataElement::new(tags::CONCEPT_NAME_CODE_SEQUENCE, VR::SQ, seq(vec![code])));
    ko.put(DataElement::new(tags::CONTENT_SEQUENCE, VR::SQ, seq(vec![image])));
    ko.put(DataElement::new(tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE, VR::SQ, seq(vec![evidence])));
    sample::to_bytes(ko).unwrap()
}

/// A Basic Text SR beside a study's CT: no Pixel Data, a Content Sequence holding a TEXT item
/// with `planted` and a PNAME item.
fn text_sr(planted: &str) -> Vec<u8> {
    text_sr_of(planted, 1)
}

/// [`text_sr`] beside a CT series of `slices`.
pub(super) fn text_sr_of(planted: &str, slices: usize) -> Vec<u8> {
    use dicom_core::value::DataSetSequence;
    use dicom_core::{DataElement, Length, VR};
    use dicom_dictionary_std::tags;
    use dicom_object::InMemDicomObject;
    let mut sr = without_pixels("1.2.840.10008.5.1.4.1.1.88.11", "SR", "2.25.271828182845904523537", "2.25.271828182845904523536", slices, "framegate report");
    sr.put(DataElement::new(tags::VALUE_TYPE, VR::CS, "CONTAINER"));
    sr.put(DataElement::new(tags::COMPLETION_FLAG, VR::CS, "COMPLETE"));
    sr.put(DataElement::new(tags::VERIFICATION_FLAG, VR::CS, "UNVERIFIED"));
    sr.put(DataElement::new(
        tags::CONCEPT_NAME_CODE_SEQUENCE,
        VR::SQ,
        DataSetSequence::new(
            vec![InMemDicomObject::from_element_iter([
                DataElement::new(tags::CODE_VALUE, VR::SH, "11528-7"),
                DataElement::new(tags::CODING_SCHEME_DESIGNATOR, VR::SH, "LN"),
                DataElement::new(tags::CODE_MEANING, VR::LO, "Radiology Report"),
            ])],
            Length::UNDEFINED,
        ),
    ));
    let item = |kind: &str, tag, vr, value: &str| {
        InMemDicomObject::from_element_iter([
            DataElement::new(tags::RELATIONSHIP_TYPE, VR::CS, "CONTAINS"),
            DataElement::new(tags::VALUE_TYPE, VR::CS, kind),
            DataElement::new(tag, vr, value),
        ])
    };
    let content = vec![item("TEXT", tags::TEXT_VALUE, VR::UT, planted), item("PNAME", tags::PERSON_NAME, VR::PN, "Planted^Observer")];
    sr.put(DataElement::new(tags::CONTENT_SEQUENCE, VR::SQ, DataSetSequence::new(content, Length::UNDEFINED)));
    sr.put(DataElement::new(dicom_core::Tag(0x0009, 0x0010), VR::LO, "FRAMEGATE TEST"));
    sr.put(DataElement::new(dicom_core::Tag(0x0009, 0x1002), VR::OB, dicom_core::PrimitiveValue::U8(vec![7u8; 4098].into())));
    sample::to_bytes(sr).unwrap()
}

/// The SR's instance URL, found by QIDO-RS, or `None` when it is not listed.
async fn listed_sr(root: &str) -> Option<String> {
    let instances = json(&format!("{root}/instances")).await;
    let sr: Vec<&Value> = instances.as_array().unwrap().iter().filter(|i| value(i, "00080016") == "1.2.840.10008.5.1.4.1.1.88.11").collect();
    assert!(sr.len() <= 1, "{instances}");
    let sr = sr.first()?;
    let uid = |tag| value(sr, tag).as_str().unwrap().to_owned();
    Some(format!("{root}/studies/{}/series/{}/instances/{}", uid("0020000D"), uid("0020000E"), uid("00080018")))
}

/// Issue 23 item 4: an object without Pixel Data (here a Basic Text SR) is listed by QIDO-RS
/// with its modality and SOP Class, its metadata has no frames and no Pixel Data, and under
/// `original` the instance is the stored object; a frame of it is a clear 4xx, by DICOMweb and
/// by the frame route. Failed before: the catalog was built from the image index, which
/// refused objects without Pixel Data.
#[tokio::test]
async fn a_structured_report_is_listed_with_its_modality_and_sop_class() {
    let (server, _, _) = study(Backend::Fs, Settings { raw_dicom: RawDicom::Original, ..Default::default() }).await;
    let stored = text_sr("Planted finding text");
    server.put("st/sr/report.dcm", stored.clone()).await;
    let root = root(&server);
    let instance = listed_sr(&root).await.expect("the SR is listed");
    let sr = json(&format!("{instance}/metadata")).await;
    // Its bulk data (here the sample's long binary value) is retrieved from the held data set.
    let bulk = sr[0]["00091002"]["BulkDataURI"].as_str().unwrap_or_else(|| panic!("a bulk value: {sr}"));
    let bulk_value = request("GET", bulk, &[("accept", "application/octet-stream")]).await;
    assert_eq!((bulk_value.status, bulk_value.body.len()), (200, 4098), "{}", String::from_utf8_lossy(&bulk_value.body));
    assert_eq!(value(&sr[0], "00080060"), "SR");
    assert_eq!(value(&sr[0], "0040A730")["0040A160"]["Value"][0], "Planted finding text", "the content as stored: {sr}");
    assert!(sr[0].get("7FE00010").is_none() && sr[0].get("00280008").is_none(), "no Pixel Data, no frames: {sr}");
    let studies = json(&format!("{root}/studies")).await;
    let modalities = &studies[0]["00080061"]["Value"];
    assert!(modalities.as_array().unwrap().iter().any(|m| m == "SR"), "ModalitiesInStudy names SR: {modalities}");
    assert_eq!(value(&studies[0], "00201208"), 5, "three slices, the cine and the report");
    let r = request("GET", &instance, &[("accept", "application/dicom")]).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.body.to_vec(), stored, "the instance is the stored object");
    let frame = get(&format!("{instance}/frames/1")).await;
    assert_eq!((frame.status, frame.error()), (404, "frame 1 is out of range: the object has 0".to_owned()));
    let rendered = get(&server.url("st", "st/sr/report.dcm", "/-/frames/1.jpg")).await;
    assert_eq!((rendered.status, rendered.error()), (422, "DICOM file has no pixel data".to_owned()));
    server.stop().await;
}

/// Issue 23 item 4: under `deidentify`, an SR goes through the same profile as an image: its
/// Content Sequence (planted text and a name in its items) does not leave, in metadata or in
/// the instance, and its UIDs are pseudonyms. Under `deny` it is not listed at all.
#[tokio::test]
async fn a_structured_report_is_deidentified_by_the_profile_and_not_served_under_deny() {
    for policy in [RawDicom::Deidentify, RawDicom::Deny] {
        let (server, _, _) = study(Backend::Fs, Settings { raw_dicom: policy, ..Default::default() }).await;
        server.put("st/sr/report.dcm", text_sr("PLANTEDFINDING")).await;
        let root = root(&server);
        let listed = listed_sr(&root).await;
        if policy == RawDicom::Deny {
            assert_eq!(listed, None, "deny lists no object without pixel data");
            let instances = json(&format!("{root}/instances")).await;
            assert_eq!(instances.as_array().unwrap().len(), 4, "the images stay: {instances}");
            server.stop().await;
            continue;
        }
        let instance = listed.expect("the SR is listed");
        assert!(!instance.contains("2.25.271828182845904523536"), "the SOP Instance UID is a pseudonym: {instance}");
        let metadata = get(&format!("{instance}/metadata")).await;
        assert_eq!(metadata.status, 200);
        let r = request("GET", &instance, &[("accept", "application/dicom")]).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        for (what, body) in [("metadata", &metadata.body), ("instance", &r.body)] {
            for planted in ["PLANTEDFINDING", "Planted^Observer", "2.25.271828182845904523536"].iter().chain(sample::PLANTED) {
                assert!(!body.windows(planted.len()).any(|w| w == planted.as_bytes()), "{planted} left in the {what}");
            }
        }
        let sr = metadata.json();
        assert_eq!(sr[0]["0040A730"], serde_json::json!({ "vr": "SQ" }), "the Content Sequence is replaced by an empty one (PS3.15 E.1-1: D)");
        let parsed = dicom_object::OpenFileOptions::new().from_reader(&r.body[128..]).expect("the instance is a Part 10 object");
        assert_eq!(parsed.element(dicom_dictionary_std::tags::MODALITY).unwrap().to_str().unwrap(), "SR");
        assert_eq!(r.body.len(), r.header("content-length").unwrap().parse::<usize>().unwrap());
        server.stop().await;
    }
}

/// Issue 23 item 4: an object without Pixel Data is read whole, so only up to the header limit:
/// one larger is not listed, and the raw route refuses to de-identify it with a clear 422,
/// while a smaller one beside it is listed.
#[tokio::test]
async fn an_object_without_pixels_over_the_header_limit_is_a_clear_422_and_not_listed() {
    use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
    use dicom_dictionary_std::tags;
    let limits = framegate::dicom::Limits { max_header_bytes: 64 << 10, ..Default::default() };
    let (server, _, _) = study(Backend::Fs, Settings { limits, ..Default::default() }).await;
    let big = {
        let mut sr = dicom_object::OpenFileOptions::new().from_reader(&text_sr("a finding")[128..]).unwrap();
        sr.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, "2.25.99"));
        sr.put(DataElement::new(Tag(0x0009, 0x1003), VR::OB, PrimitiveValue::U8(vec![1u8; 100 << 10].into())));
        let mut out = Vec::new();
        sr.write_all(&mut out).unwrap();
        out
    };
    server.put("st/sr/big.dcm", big).await;
    server.put("st/sr/small.dcm", text_sr("a finding")).await;
    // Under deidentify the UIDs are pseudonyms: the two are told apart by their count.
    let instances = json(&format!("{}/instances", root(&server))).await;
    let reports = instances.as_array().unwrap().iter().filter(|i| value(i, "00080016") == "1.2.840.10008.5.1.4.1.1.88.11").count();
    assert_eq!(reports, 1, "the one within the limit is listed, the one over it not: {instances}");
    let raw = get(&server.url("st", "st/sr/big.dcm", "")).await;
    assert_eq!((raw.status, raw.error()), (422, "DICOM header is larger than 65536 bytes".to_owned()));
    server.stop().await;
}
