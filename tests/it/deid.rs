//! The raw route under each `--raw-dicom` policy; de-identified DICOM streamed on the fly.

use dicom_core::header::Header;
use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::fixtures::{overlay_geometry, plant_overlays, planted_object};
use super::support::*;
use framegate::store::Store;
use framegate::{RawDicom, Settings, sample};

fn parse(bytes: &[u8]) -> dicom_object::DefaultDicomObject {
    dicom_object::OpenFileOptions::new().from_reader(std::io::Cursor::new(&bytes[128..])).expect("the de-identified file parses")
}

fn text(obj: &InMemDicomObject, tag: Tag) -> String {
    obj.get(tag).map(|e| e.to_str().unwrap().into_owned()).unwrap_or_default()
}

crate::on_both_stores!(deidentified_dicom_carries_no_planted_value_and_the_same_pixels);

async fn deidentified_dicom_carries_no_planted_value_and_the_same_pixels(backend: Backend) {
    let server = Server::start_on(backend, Settings::default()).await;
    let (a, planted) = planted_object(1, 1);
    let (b, _) = planted_object(1, 2);
    let original = sample::to_bytes(a).unwrap();
    server.put("ct/s/a.dcm", original.clone()).await;
    server.put("ct/s/b.dcm", sample::to_bytes(b).unwrap()).await;
    assert!(planted.len() > 300, "{} planted values", planted.len());
    for value in &planted {
        assert!(original.windows(value.len()).any(|w| w == value.as_bytes()), "{value} was planted");
    }

    let url = server.url("ct/s", "ct/s/a.dcm", "");
    let r = get(&url).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/dicom"));
    assert_eq!(r.header("content-length"), Some(&*r.body.len().to_string()));
    for value in &planted {
        assert!(!r.body.windows(value.len()).any(|w| w == value.as_bytes()), "{value} left in the de-identified file");
    }
    let deid = parse(&r.body);
    let orig = parse(&original);
    // The pixels are the stored ones, byte for byte, and what a viewer needs is kept.
    assert_eq!(deid.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap(), orig.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap());
    for tag in [
        tags::ROWS,
        tags::COLUMNS,
        tags::BITS_STORED,
        tags::PHOTOMETRIC_INTERPRETATION,
        tags::PIXEL_SPACING,
        tags::WINDOW_CENTER,
        tags::WINDOW_WIDTH,
        tags::RESCALE_INTERCEPT,
        tags::RESCALE_SLOPE,
        tags::IMAGE_POSITION_PATIENT,
        tags::IMAGE_ORIENTATION_PATIENT,
        tags::MODALITY,
        tags::BURNED_IN_ANNOTATION,
    ] {
        assert_eq!(text(&deid, tag), text(&orig, tag), "{tag} changed");
    }
    assert_eq!(text(&deid, tags::PATIENT_IDENTITY_REMOVED), "YES");
    assert!(text(&deid, tags::STUDY_INSTANCE_UID).starts_with("2.25."));
    assert_eq!(deid.meta().media_storage_sop_instance_uid(), text(&deid, tags::SOP_INSTANCE_UID));

    // Stable: the same bytes twice; a series keeps one pseudonymous Series Instance UID.
    assert_eq!(get(&url).await.body, r.body);
    let other = parse(&get(&server.url("ct/s", "ct/s/b.dcm", "")).await.body);
    assert_eq!(text(&other, tags::SERIES_INSTANCE_UID), text(&deid, tags::SERIES_INSTANCE_UID));
    assert_ne!(text(&other, tags::SOP_INSTANCE_UID), text(&deid, tags::SOP_INSTANCE_UID));

    // Ranges on the de-identified representation, across the header/pixel boundary.
    let boundary = r.body.len() - 32 * 32 * 2 - 12;
    for (start, end) in [(0, 131), (boundary - 100, boundary + 100), (boundary, r.body.len() - 1), (5, r.body.len() - 1)] {
        let part = request("GET", &url, &[("range", &format!("bytes={start}-{end}"))]).await;
        assert_eq!(part.status, 206);
        assert_eq!(part.body, r.body[start..=end], "bytes {start}-{end}");
        assert_eq!(part.header("content-range"), Some(&*format!("bytes {start}-{end}/{}", r.body.len())));
    }
    let etag = r.header("etag").unwrap().to_owned();
    assert_ne!(etag, format!("\"{}\"", server.store.head(&key("ct/s/a.dcm")).await.unwrap().etag));
    assert_eq!(request("GET", &url, &[("if-none-match", &etag)]).await.status, 304);
    assert_eq!(request("HEAD", &url, &[]).await.header("content-length"), Some(&*r.body.len().to_string()));

    // dcmtk reads it too.
    if have_tool("dcmdump") {
        let path = server.dir.path().join("deid-out.dcm");
        std::fs::write(&path, &r.body).unwrap();
        let out = std::process::Command::new("dcmdump").arg(&path).output().unwrap();
        assert!(out.status.success(), "dcmdump: {}", String::from_utf8_lossy(&out.stderr));
        let dump = String::from_utf8_lossy(&out.stdout);
        assert!(dump.contains("PatientIdentityRemoved") && dump.contains("YES"));
    }
    server.stop().await;
}

#[tokio::test]
async fn the_policy_decides_what_the_raw_route_hands_out() {
    let (obj, planted) = planted_object(1, 1);
    let original = sample::to_bytes(obj).unwrap();
    let stack_image = {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("img.jpg");
        sample::write_stack_image(1, 16, &path).unwrap();
        std::fs::read(path).unwrap()
    };
    for policy in [RawDicom::Original, RawDicom::Deny, RawDicom::Deidentify] {
        let server = Server::start_with(Settings { raw_dicom: policy, ..Default::default() }).await;
        server.put("s/a.dcm", original.clone()).await;
        server.put("s/disguised.jpg", original.clone()).await;
        server.put("s/img.jpg", stack_image.clone()).await;
        server.put("s/notes.txt", b"Doe^Jane was here".to_vec()).await;
        let raw = |k: &str| server.url("s", k, "");
        let dicom = get(&raw("s/a.dcm")).await;
        let disguised = get(&raw("s/disguised.jpg")).await;
        let image = get(&raw("s/img.jpg")).await;
        let notes = get(&raw("s/notes.txt")).await;
        assert_eq!((image.status, &image.body[..]), (200, &stack_image[..]), "{policy:?}: JPEG stack files are served as they are");
        match policy {
            RawDicom::Original => {
                assert_eq!(dicom.body, original);
                assert_eq!(notes.status, 200);
            }
            RawDicom::Deny => {
                assert_eq!((dicom.status, dicom.error()), (403, "raw DICOM is not served here: use the frame routes".to_owned()));
                assert_eq!(disguised.status, 403, "a DICOM file named .jpg is still DICOM");
                assert_eq!(notes.status, 403);
            }
            RawDicom::Deidentify => {
                assert_eq!(dicom.status, 200);
                assert_eq!(disguised.status, 200);
                for body in [&dicom.body, &disguised.body] {
                    assert!(!planted.iter().any(|p| body.windows(p.len()).any(|w| w == p.as_bytes())));
                }
                assert_eq!((notes.status, notes.error()), (403, "only DICOM, JPEG and PNG objects are served raw".to_owned()));
            }
        }
        // Frames are served under every policy.
        assert_eq!(get(&server.url("s", "s/a.dcm", "/-/frames/1.jpg")).await.status, 200);
        server.stop().await;
    }
}

crate::on_both_stores!(un_encoded_attributes_are_read_and_de_identified_like_their_proper_twins);

/// Issue 17.1 and 12.1: every attribute of the profile's table (sequences included, of both
/// lengths) written as explicit UN. De-identification decodes them by their dictionary VR: no
/// planted value leaves, UIDs get the same pseudonyms as their properly encoded twins (not a
/// byte-wise substitution), and the file renders and describes exactly like the twin.
async fn un_encoded_attributes_are_read_and_de_identified_like_their_proper_twins(backend: Backend) {
    let server = Server::start_on(backend, Settings::default()).await;
    let (obj, planted) = planted_object(1, 1);
    let proper = sample::to_bytes(obj).unwrap();
    let un = with_un_vrs(&proper);
    assert!(un.windows(6).filter(|w| &w[..2] == b"UN" && w[2..4] == [0, 0]).count() > 300, "the attributes are written as UN");
    server.put("ct/s/proper.dcm", proper).await;
    server.put("ct/s/un.dcm", un.clone()).await;
    let r = get(&server.url("ct/s", "ct/s/un.dcm", "")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    for value in &planted {
        assert!(un.windows(value.len()).any(|w| w == value.as_bytes()), "{value} was planted");
        assert!(!r.body.windows(value.len()).any(|w| w == value.as_bytes()), "{value} left in the de-identified file");
    }
    let deid = parse(&r.body);
    let twin = parse(&get(&server.url("ct/s", "ct/s/proper.dcm", "")).await.body);
    for tag in [tags::STUDY_INSTANCE_UID, tags::SERIES_INSTANCE_UID, tags::SOP_INSTANCE_UID, tags::MODALITY, tags::PIXEL_SPACING, tags::RESCALE_INTERCEPT] {
        assert_eq!(text(&deid, tag), text(&twin, tag), "{tag}");
    }
    assert!(deid.iter().all(|e| e.vr() != VR::UN), "nothing is left as UN");
    for path in ["/-/info.json", "/-/frames/1.png", "/-/frames/1.jpg?window=40,400"] {
        let (a, b) = (get(&server.url("ct/s", "ct/s/un.dcm", path)).await, get(&server.url("ct/s", "ct/s/proper.dcm", path)).await);
        assert_eq!((a.status, b.status), (200, 200), "{path}");
        assert_eq!(a.body, b.body, "{path} differs from the properly encoded twin");
    }
    // A series written with UN orders along its slice normal exactly like its twin series:
    // names run against the anatomy, so only Image Position can put them right.
    let names = ["e", "a", "d", "b", "c"];
    for (i, name) in names.iter().enumerate() {
        let slice = sample::to_bytes(sample::ct_slice(i, names.len(), 16)).unwrap();
        server.put(&format!("ct/un/{name}.dcm"), with_un_vrs(&slice)).await;
        server.put(&format!("ct/ok/{name}.dcm"), slice).await;
    }
    let (un_stack, ok_stack) = (get(&server.url("ct", "ct/un", "/-/stack.json")).await.json(), get(&server.url("ct", "ct/ok", "/-/stack.json")).await.json());
    assert_eq!(un_stack, ok_stack, "stack.json of the UN series differs from its twin's");
    assert_eq!(ok_stack["entries"][0]["url"], "../e.dcm/-/frames/1.jpg");
    server.stop().await;
}

/// Review item 8: Overlay Description, Label and Subtype, ROI statistics and Overlay Comments in
/// two overlay groups leave neither as bytes nor as elements; the table removes Overlay Data,
/// and the geometry stays, value for value.
#[tokio::test]
async fn overlay_text_never_leaves_and_the_overlay_geometry_stays() {
    let server = Server::start_with(Settings::default()).await;
    let mut obj = sample::ct_slice(0, 1, 32);
    let planted = plant_overlays(&mut obj);
    let original = sample::to_bytes(obj).unwrap();
    server.put("ov/s/a.dcm", original.clone()).await;
    let r = get(&server.url("ov/s", "ov/s/a.dcm", "")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    for (tag, value) in &planted {
        assert!(original.windows(value.len()).any(|w| w == value.as_bytes()), "{value} was planted");
        assert!(!r.body.windows(value.len()).any(|w| w == value.as_bytes()), "{tag}: {value} left in the de-identified file");
    }
    let deid = parse(&r.body);
    for group in [0x6000, 0x6002] {
        let kept: Vec<Tag> = deid.iter().map(|e| e.tag()).filter(|t| t.group() == group).collect();
        let geometry = overlay_geometry(group);
        assert_eq!(kept, geometry.iter().map(|(tag, _, _)| *tag).collect::<Vec<_>>(), "only the geometry is left in {group:04X}");
        for (tag, _, value) in geometry {
            assert_eq!(deid.element(tag).unwrap().to_str().unwrap(), value.to_str(), "{tag} changed");
        }
    }
    server.stop().await;
}
