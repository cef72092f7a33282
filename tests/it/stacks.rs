//! stack.json over both stores, the viewer page, and CORS.

use super::support::*;
use framegate::sample;

crate::on_both_stores!(a_series_is_ordered_along_the_slice_normal, a_multiframe_object_and_a_jpeg_folder_are_stacks, series_in_one_folder_are_told_apart_by_series_number);

/// Resolves `rel` against the manifest URL the way a browser does.
fn resolve(manifest: &str, rel: &str) -> String {
    let mut base: Vec<&str> = manifest.rsplit_once('/').unwrap().0.split('/').collect();
    for part in rel.split('/') {
        match part {
            ".." => {
                base.pop();
            }
            p => base.push(p),
        }
    }
    base.join("/")
}

async fn a_series_is_ordered_along_the_slice_normal(backend: Backend) {
    let server = Server::start_on(backend, Default::default()).await;
    // Names run against the anatomy: file "a" is the lowest slice, so name order is wrong.
    let names = ["e", "a", "d", "b", "c"];
    for (i, name) in names.iter().enumerate() {
        server.put_ct(&format!("ct/s1/{name}.dcm"), i, names.len(), 16).await;
    }
    server.put("ct/s1/notes.txt", b"not an image".to_vec()).await;
    let url = server.url("ct/s1", "ct/s1", "/-/stack.json");
    let r = get(&url).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let stack = r.json();
    assert_eq!(stack["frames"], 5);
    assert_eq!(stack["modality"], "CT");
    assert_eq!(stack["pixel_spacing"][0], 0.9765625);
    assert_eq!(stack["spacing_between_slices"], 2.5);
    let entries = stack["entries"].as_array().unwrap();
    let urls: Vec<&str> = entries.iter().map(|e| e["url"].as_str().unwrap()).collect();
    // Slice i sits at z = -2.5 i: highest first.
    assert_eq!(urls, ["../e.dcm/-/frames/1.jpg", "../a.dcm/-/frames/1.jpg", "../d.dcm/-/frames/1.jpg", "../b.dcm/-/frames/1.jpg", "../c.dcm/-/frames/1.jpg"]);
    assert_eq!(entries[1]["position"], -2.5);
    assert_eq!(entries[0]["window"]["center"], 40.0);
    assert_eq!(entries[0]["rows"], 16);
    for entry in entries {
        let frame = get(&resolve(&url, entry["url"].as_str().unwrap())).await;
        assert_eq!(frame.status, 200);
    }
    let text = String::from_utf8_lossy(&r.body);
    for planted in sample::PLANTED {
        assert!(!text.contains(planted), "stack.json leaks {planted}");
    }
    // Cached: a second listing reads no headers again.
    server.store.clear();
    let again = request("GET", &url, &[("if-none-match", r.header("etag").unwrap())]).await;
    assert_eq!(again.status, 304);
    assert_eq!(get(&url).await.body, r.body);
    for name in names {
        assert!(server.store.reads_of(&format!("ct/s1/{name}.dcm")).is_empty());
    }
    assert_eq!(get(&server.url("ct", "ct/none", "/-/stack.json")).await.status, 404);
    server.stop().await;
}

async fn a_multiframe_object_and_a_jpeg_folder_are_stacks(backend: Backend) {
    let server = Server::start_on(backend, Default::default()).await;
    server.put("xa/cine.dcm", sample::to_bytes(sample::cine(7, 32)).unwrap()).await;
    for n in [1, 2, 10, 3] {
        let path = server.dir.path().join(format!("img{n}.jpg"));
        sample::write_stack_image(n, 40, &path).unwrap();
        server.put(&format!("photos/img{n}.jpg"), std::fs::read(&path).unwrap()).await;
    }
    let url = server.url("xa", "xa/cine.dcm", "/-/stack.json");
    let stack = get(&url).await.json();
    assert_eq!(stack["frames"], 7);
    assert_eq!(stack["frame_time"], 66.7);
    assert_eq!(stack["entries"][6]["url"], "frames/7.jpg");
    assert_eq!(get(&resolve(&url, "frames/7.jpg")).await.status, 200);

    let url = server.url("photos", "photos", "/-/stack.json");
    let stack = get(&url).await.json();
    let urls: Vec<&str> = stack["entries"].as_array().unwrap().iter().map(|e| e["url"].as_str().unwrap()).collect();
    assert_eq!(urls, ["../img1.jpg", "../img2.jpg", "../img3.jpg", "../img10.jpg"]);
    assert_eq!((stack["entries"][0]["rows"].as_u64(), stack["entries"][0]["columns"].as_u64()), (Some(40), Some(40)));
    let image = get(&resolve(&url, "../img10.jpg")).await;
    assert_eq!(image.header("content-type"), Some("image/jpeg"));
    server.stop().await;
}

#[tokio::test]
async fn the_viewer_page_is_self_contained() {
    let server = Server::start().await;
    let r = get(&server.url("ct", "ct/s1", "/-/view")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert!(r.header("content-security-policy").unwrap().contains("connect-src 'self'"));
    let html = String::from_utf8_lossy(&r.body);
    assert!(html.contains("fetchRetrying(\"stack.json\""), "the page reads the stack beside it");
    assert!(html.contains("name=\"viewport\""));
    assert!(!html.contains("src=\"http"), "no external scripts");
    server.stop().await;
}

#[tokio::test]
async fn cors_answers_only_allowed_origins() {
    let settings = framegate::Settings { cors_origins: vec!["https://portal.example".into()], ..Default::default() };
    let server = Server::start_with(settings).await;
    server.put_ct("ct/a.dcm", 0, 1, 16).await;
    let url = server.url("ct", "ct/a.dcm", "/-/frames/1.jpg");
    let ok = request("GET", &url, &[("origin", "https://portal.example")]).await;
    assert_eq!(ok.header("access-control-allow-origin"), Some("https://portal.example"));
    assert!(ok.header("access-control-expose-headers").unwrap().contains("Content-Range"));
    assert_eq!(ok.header("vary"), Some("Origin"));
    let other = request("GET", &url, &[("origin", "https://evil.example")]).await;
    assert_eq!(other.status, 200);
    assert_eq!(other.header("access-control-allow-origin"), None);
    let preflight = request("OPTIONS", &url, &[("origin", "https://portal.example"), ("access-control-request-method", "GET"), ("access-control-request-headers", "range")]).await;
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("access-control-allow-methods"), Some("GET, HEAD"));
    assert!(preflight.header("access-control-allow-headers").unwrap().contains("Range"));
    // Off by default.
    let plain = Server::start().await;
    plain.put_ct("ct/a.dcm", 0, 1, 16).await;
    let r = request("GET", &plain.url("ct", "ct/a.dcm", "/-/frames/1.jpg"), &[("origin", "https://portal.example")]).await;
    assert_eq!((r.header("access-control-allow-origin"), r.header("vary")), (None, None));
    let r = request("OPTIONS", &plain.url("ct", "ct/a.dcm", ""), &[("origin", "https://portal.example"), ("access-control-request-method", "GET")]).await;
    assert_eq!(r.status, 405);
    server.stop().await;
    plain.stop().await;
}

/// Two series saved into one folder (a scanner's export often is): stack.json splits them by
/// Series Number, lowest first, each ordered along its own slice normal, however the files are
/// named.
async fn series_in_one_folder_are_told_apart_by_series_number(backend: Backend) {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    let server = Server::start_on(backend, Default::default()).await;
    // (name, Series Number, slice index, slices in that series): names interleave the series.
    let files = [("a", 7, 2, 3), ("b", 3, 1, 2), ("c", 7, 0, 3), ("d", 3, 0, 2), ("e", 7, 1, 3)];
    for (name, number, index, slices) in files {
        let mut obj = sample::ct_slice(index, slices, 16);
        obj.put(DataElement::new(tags::SERIES_NUMBER, VR::IS, PrimitiveValue::from(number.to_string())));
        server.put(&format!("mixed/{name}.dcm"), sample::to_bytes(obj).unwrap()).await;
    }
    let r = get(&server.url("mixed", "mixed", "/-/stack.json")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let stack = r.json();
    let series: Vec<(u64, u64, u64)> =
        stack["series"].as_array().unwrap().iter().map(|s| (s["number"].as_u64().unwrap(), s["first"].as_u64().unwrap(), s["frames"].as_u64().unwrap())).collect();
    assert_eq!(series, [(3, 0, 2), (7, 2, 3)]);
    let urls: Vec<&str> = stack["entries"].as_array().unwrap().iter().map(|e| e["url"].as_str().unwrap()).collect();
    // Slice i sits at z = -2.5 i: highest first, within each series.
    assert_eq!(urls, ["../d.dcm/-/frames/1.jpg", "../b.dcm/-/frames/1.jpg", "../c.dcm/-/frames/1.jpg", "../e.dcm/-/frames/1.jpg", "../a.dcm/-/frames/1.jpg"]);
    assert_eq!(stack["frames"], 5);
    server.stop().await;
}

/// Regression (issue 23): two series in one folder with one Series Number but different
/// Series Instance UIDs (an axial and a sagittal reconstruction, say) were merged into one
/// stack under the first one's orientation; they are two series now, and no UID is shown.
#[tokio::test]
async fn series_that_share_a_number_but_not_a_uid_are_two_stacks() {
    use dicom_core::{DataElement, VR};
    use dicom_dictionary_std::tags;
    let server = Server::start().await;
    let sagittal_uid = "2.25.777000111";
    for i in 0..3 {
        server.put(&format!("two/ax{i}.dcm"), sample::to_bytes(sample::ct_slice(i, 3, 16)).unwrap()).await;
        let mut sagittal = sample::ct_slice(i, 3, 16);
        sagittal.put(DataElement::new(tags::SERIES_INSTANCE_UID, VR::UI, sagittal_uid));
        sagittal.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, format!("{sagittal_uid}.{i}")));
        sagittal.put(DataElement::new(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, "0\\1\\0\\0\\0\\-1"));
        sagittal.put(DataElement::new(tags::IMAGE_POSITION_PATIENT, VR::DS, format!("{}\\-128\\128", 2.0 * i as f64)));
        server.put(&format!("two/sag{i}.dcm"), sample::to_bytes(sagittal).unwrap()).await;
    }
    let r = get(&server.url("two", "two", "/-/stack.json")).await;
    assert_eq!(r.status, 200);
    let stack = r.json();
    let series = stack["series"].as_array().unwrap();
    assert_eq!(series.len(), 2, "{stack}");
    assert_eq!(series[0]["number"], series[1]["number"]);
    let orientations: Vec<&serde_json::Value> = series.iter().map(|s| &s["orientation"]).collect();
    assert_eq!(orientations, [&serde_json::json!([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]), &serde_json::json!([0.0, 1.0, 0.0, 0.0, 0.0, -1.0])]);
    assert_eq!((series[0]["frames"].as_u64(), series[1]["frames"].as_u64()), (Some(3), Some(3)));
    let text = String::from_utf8_lossy(&r.body);
    assert!(!text.contains(sagittal_uid) && !text.contains("2.25."), "stack.json names no UID");
    server.stop().await;
}

/// Regression (issue 23): an enhanced multi-frame object's frames each have their plane in
/// the Per-Frame Functional Groups (PS3.3 C.7.6.16), orientation here in the shared groups;
/// stack.json gave every frame `position: null`.
#[tokio::test]
async fn enhanced_multiframe_frames_have_their_own_positions() {
    use dicom_core::value::DataSetSequence;
    use dicom_core::{DataElement, VR};
    use dicom_dictionary_std::tags;
    use dicom_object::InMemDicomObject;
    let item = |tag, inner_tag, value: String| {
        let inner = InMemDicomObject::from_element_iter([DataElement::new(inner_tag, VR::DS, value)]);
        DataElement::new(tag, VR::SQ, DataSetSequence::from(vec![inner]))
    };
    let server = Server::start().await;
    let mut enhanced = sample::cine(3, 16);
    enhanced.remove_element(tags::IMAGE_POSITION_PATIENT);
    enhanced.remove_element(tags::IMAGE_ORIENTATION_PATIENT);
    let shared = InMemDicomObject::from_element_iter([item(tags::PLANE_ORIENTATION_SEQUENCE, tags::IMAGE_ORIENTATION_PATIENT, "1\\0\\0\\0\\1\\0".into())]);
    let frames: Vec<InMemDicomObject> =
        (0..3).map(|n| InMemDicomObject::from_element_iter([item(tags::PLANE_POSITION_SEQUENCE, tags::IMAGE_POSITION_PATIENT, format!("-8\\-8\\{}", -2.5 * n as f64))])).collect();
    enhanced.put(DataElement::new(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, VR::SQ, DataSetSequence::from(vec![shared])));
    enhanced.put(DataElement::new(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, VR::SQ, DataSetSequence::from(frames)));
    server.put("en/ct.dcm", sample::to_bytes(enhanced).unwrap()).await;
    let r = get(&server.url("en", "en/ct.dcm", "/-/stack.json")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let stack = r.json();
    let positions: Vec<&serde_json::Value> = stack["entries"].as_array().unwrap().iter().map(|e| &e["position"]).collect();
    assert_eq!(positions, [&serde_json::json!(0.0), &serde_json::json!(-2.5), &serde_json::json!(-5.0)]);
    assert_eq!(stack["series"][0]["orientation"], serde_json::json!([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]));
    assert_eq!(stack["entries"][2]["orientation"], serde_json::json!([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]), "each frame says its plane");
    server.stop().await;
}

/// A CT slice with Series Description `description`.
fn described(description: &str) -> Vec<u8> {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    let mut obj = sample::ct_slice(0, 1, 16);
    obj.put(DataElement::new(dicom_dictionary_std::tags::SERIES_DESCRIPTION, VR::LO, PrimitiveValue::from(description)));
    sample::to_bytes(obj).unwrap()
}

#[tokio::test]
async fn a_series_description_is_in_stack_json_only_where_the_policy_keeps_it() {
    use framegate::RawDicom;
    for (mode, want) in [(RawDicom::Original, serde_json::json!("AXIAL 5mm")), (RawDicom::Deidentify, serde_json::Value::Null), (RawDicom::Deny, serde_json::Value::Null)] {
        let server = Server::start_with(framegate::Settings { raw_dicom: mode, ..Default::default() }).await;
        server.put("ct/s1/a.dcm", described("AXIAL 5mm")).await;
        let r = get(&server.url("ct", "ct", "/-/stack.json")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["series"][0]["description"], want, "{mode:?}");
        if want.is_null() {
            assert!(!String::from_utf8_lossy(&r.body).contains("AXIAL"), "{mode:?}: the description leaves");
        }
        server.stop().await;
    }
}
