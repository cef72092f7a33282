//! Files that lie: each gets a clear 4xx, nothing is over-allocated, and the server goes on.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;

use super::support::*;
use framegate::sample;

fn ct_bytes() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.dcm");
    sample::write(sample::ct_slice(0, 1, 16), &path).unwrap();
    std::fs::read(path).unwrap()
}

/// Offset where the data set starts, after the file meta group.
fn data_set_start(file: &[u8]) -> usize {
    132 + 12 + u32::from_le_bytes(file[140..144].try_into().unwrap()) as usize
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).position(|w| w == needle).expect("needle present")
}

fn write_with(path: &std::path::Path, tag: dicom_core::Tag, vr: VR, value: PrimitiveValue) {
    let mut obj = sample::ct_slice(0, 1, 16);
    obj.put(DataElement::new(tag, vr, value));
    sample::write(obj, path).unwrap();
}

#[tokio::test]
async fn hostile_files_get_clear_4xx_answers() {
    let server = Server::start().await;
    let dir = server.dir.path().to_owned();
    let good = ct_bytes();
    let start = data_set_start(&good);

    let mut cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("html.dcm", b"<!doctype html><html><body>hello</body></html>".to_vec(), 422, "not a DICOM file"),
        ("zip.dcm", [b"PK\x03\x04".as_slice(), &[0u8; 300]].concat(), 422, "not a DICOM file"),
        ("empty.dcm", Vec::new(), 422, "not a DICOM file"),
        ("meta-only.dcm", good[..start].to_vec(), 422, "DICOM file has no pixel data"),
    ];
    for cut in [140, start + 5, start + 40, good.len() - 100] {
        cases.push((Box::leak(format!("cut{cut}.dcm").into_boxed_str()), good[..cut].to_vec(), 422, ""));
    }
    // A length that points far past the end of the file.
    let mut long = good.clone();
    let at = find(&long, sample::PLANTED[0].as_bytes()) - 2;
    long[at..at + 2].copy_from_slice(&0xFFF0u16.to_le_bytes());
    cases.push(("long.dcm", long, 422, "malformed DICOM: an element's length points past the end of the file"));
    // An unknown transfer syntax, same length as the real one.
    let mut ts = good.clone();
    let at = find(&ts, b"1.2.840.10008.1.2.1\0");
    ts[at..at + 19].copy_from_slice(b"1.2.3.4.5.6.7.8.9.1");
    cases.push(("ts.dcm", ts, 415, "unsupported transfer syntax 1.2.3.4.5.6.7.8.9.1"));
    // Sequences of undefined length nested ten thousand deep, never closed.
    let mut deep = good[..start].to_vec();
    for _ in 0..10_000 {
        deep.extend_from_slice(&[0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
        deep.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
    }
    cases.push(("deep.dcm", deep, 422, "malformed DICOM: sequences are nested too deep"));
    std::fs::create_dir_all(dir.join("bad")).unwrap();
    for (name, bytes, _, _) in &cases {
        std::fs::write(dir.join("bad").join(name), bytes).unwrap();
    }
    // Declared sizes the file does not hold.
    let mut huge = sample::ct_slice(0, 1, 16);
    huge.put(DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(65535u16)));
    huge.put(DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(65535u16)));
    huge.put(DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, PrimitiveValue::from("1000")));
    sample::write(huge, &dir.join("bad/huge.dcm")).unwrap();
    cases.push(("huge.dcm", Vec::new(), 422, "image of 4294836225 pixels per frame exceeds the configured limit"));
    write_with(&dir.join("bad/frames.dcm"), tags::NUMBER_OF_FRAMES, VR::IS, "1000".into());
    cases.push(("frames.dcm", Vec::new(), 422, "malformed DICOM: pixel data is shorter than its frames"));
    write_with(&dir.join("bad/bits.dcm"), tags::BITS_ALLOCATED, VR::US, 12u16.into());
    cases.push(("bits.dcm", Vec::new(), 415, "unsupported image: 12 bits allocated"));

    for (name, _, status, message) in &cases {
        for route in ["/-/frames/1.jpg", "/-/info.json"] {
            let r = get(&server.url("bad", &format!("bad/{name}"), route)).await;
            assert_eq!(r.status, *status, "{name}{route}: {}", String::from_utf8_lossy(&r.body));
            if !message.is_empty() {
                assert_eq!(r.error(), *message, "{name}");
            }
        }
    }
    // And the server serves the next good request as usual.
    std::fs::write(dir.join("bad/good.dcm"), &good).unwrap();
    assert_eq!(get(&server.url("bad", "bad/good.dcm", "/-/frames/1.jpg")).await.status, 200);
    server.stop().await;
}

/// An encapsulated JPEG baseline object whose fragments are `frames` flat grey JPEGs of
/// `jpeg_side`², declared as `declared`² pixels, with the given offset tables.
fn encapsulated(frames: u32, jpeg_side: u16, declared: u16, bot: Vec<u32>, eot: Option<(Vec<u64>, Vec<u64>)>, icon: bool) -> Vec<u8> {
    use dicom_core::value::{DataSetSequence, PixelFragmentSequence};
    use dicom_core::Length;
    let fragments: Vec<Vec<u8>> = (0..frames)
        .map(|k| {
            let mut jpeg = Vec::new();
            let pixels = vec![(40 * k) as u8; usize::from(jpeg_side) * usize::from(jpeg_side)];
            jpeg_encoder::Encoder::new(&mut jpeg, 95).encode(&pixels, jpeg_side, jpeg_side, jpeg_encoder::ColorType::Luma).unwrap();
            if jpeg.len() % 2 == 1 {
                jpeg.push(0);
            }
            jpeg
        })
        .collect();
    let us = |tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
    let mut elements = vec![
        DataElement::new(tags::SOP_CLASS_UID, VR::UI, PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.7")),
        DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from("2.25.7")),
        us(tags::SAMPLES_PER_PIXEL, 1),
        DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, PrimitiveValue::from("MONOCHROME2")),
        DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, PrimitiveValue::from(frames.to_string())),
        us(tags::ROWS, declared),
        us(tags::COLUMNS, declared),
        us(tags::BITS_ALLOCATED, 8),
        us(tags::BITS_STORED, 8),
        us(tags::HIGH_BIT, 7),
        us(tags::PIXEL_REPRESENTATION, 0),
        DataElement::new(tags::PIXEL_DATA, VR::OB, PixelFragmentSequence::new(bot, fragments.clone())),
    ];
    if let Some((offsets, lengths)) = eot {
        let bytes = |v: Vec<u64>| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        elements.push(DataElement::new(tags::EXTENDED_OFFSET_TABLE, VR::OV, PrimitiveValue::from(bytes(offsets))));
        elements.push(DataElement::new(tags::EXTENDED_OFFSET_TABLE_LENGTHS, VR::OV, PrimitiveValue::from(bytes(lengths))));
    }
    if icon {
        // An icon with its own encapsulated Pixel Data, nested in a sequence before the image's.
        let icon = dicom_object::InMemDicomObject::from_element_iter([
            us(tags::ROWS, 4),
            us(tags::COLUMNS, 4),
            DataElement::new(tags::PIXEL_DATA, VR::OB, PixelFragmentSequence::new(Vec::<u32>::new(), vec![fragments[0].clone()])),
        ]);
        elements.push(DataElement::new(tags::ICON_IMAGE_SEQUENCE, VR::SQ, DataSetSequence::new(vec![icon], Length::UNDEFINED)));
    }
    sample::to_bytes_in(dicom_object::InMemDicomObject::from_element_iter(elements), "1.2.840.10008.1.2.4.50").unwrap()
}

#[tokio::test]
async fn lying_offset_tables_nested_pixel_data_and_mismatched_jpegs() {
    let server = Server::start().await;
    let item = |side: u16| {
        let mut jpeg = Vec::new();
        jpeg_encoder::Encoder::new(&mut jpeg, 95).encode(&vec![0; usize::from(side) * usize::from(side)], side, side, jpeg_encoder::ColorType::Luma).unwrap();
        (jpeg.len() + jpeg.len() % 2 + 8) as u32
    };
    let step = item(16);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("past-end.dcm", encapsulated(2, 16, 16, vec![0, 1 << 30], None, false), 422),
        // A table that runs backwards is not believed: the fragments are walked instead.
        ("backwards.dcm", encapsulated(3, 16, 16, vec![0, 2 * step, step], None, false), 200),
        ("eot-past-end.dcm", encapsulated(2, 16, 16, vec![], Some((vec![0, 1 << 40], vec![100, 100])), false), 422),
        // Two frames that point at the same fragment: each renders that fragment.
        ("eot-overlap.dcm", encapsulated(2, 16, 16, vec![], Some((vec![0, 0], vec![u64::from(step - 8), u64::from(step - 8)])), false), 200),
        ("icon.dcm", encapsulated(2, 16, 16, vec![], None, true), 200),
        ("bigger-than-jpeg.dcm", encapsulated(2, 16, 32, vec![], None, false), 422),
    ];
    for (name, bytes, status) in &cases {
        server.put(&format!("h/{name}"), bytes.clone()).await;
        // An identity window: flat frames would otherwise span their own single value.
        let r = get(&server.url("h", &format!("h/{name}"), "/-/frames/2.jpg?window=128,256")).await;
        assert_eq!(r.status, *status, "{name}: {}", String::from_utf8_lossy(&r.body));
        if *status == 200 {
            let (w, _, pixels) = r.jpeg();
            assert_eq!(w, 16, "{name}");
            let expected = if *name == "eot-overlap.dcm" { 0 } else { 40 };
            assert!(pixels.iter().all(|p| p.abs_diff(expected) <= 2), "{name}: frame 2 shows its own fragment, not {}", pixels[0]);
        }
    }
    let mismatch = get(&server.url("h", "h/bigger-than-jpeg.dcm", "/-/frames/1.jpg")).await;
    assert_eq!(mismatch.error(), "malformed DICOM: the compressed frame's size differs from Rows and Columns");
    assert_eq!(get(&format!("{}/healthz", server.base())).await.status, 200);
    server.stop().await;
}

/// A deflated file: the meta group, then `data_set` (explicit little endian bytes) deflated.
fn deflated(data_set: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let meta = dicom_object::FileMetaTableBuilder::new()
        .transfer_syntax("1.2.840.10008.1.2.1.99")
        .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.7")
        .media_storage_sop_instance_uid("2.25.5")
        .build()
        .unwrap();
    let mut out = vec![0u8; 128];
    out.extend_from_slice(b"DICM");
    meta.write(&mut out).unwrap();
    let mut deflate = flate2::write::DeflateEncoder::new(out, flate2::Compression::fast());
    deflate.write_all(data_set).unwrap();
    deflate.finish().unwrap()
}

#[tokio::test]
async fn deflate_bombs_and_broken_streams_are_refused_without_inflating_them_whole() {
    let settings = framegate::Settings { limits: framegate::dicom::Limits { max_frame_bytes: 1 << 20, ..Default::default() }, ..Default::default() };
    let server = Server::start_with(settings).await;
    // 1024×1024 16-bit zeros: 2 MiB inflated from a few KiB, past the 1 MiB limit.
    let mut big = sample::ct_slice(0, 1, 16);
    big.put(DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(1024u16)));
    big.put(DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(1024u16)));
    big.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::from(vec![0u8; 2 << 20])));
    let file = sample::to_bytes(big).unwrap();
    let bomb = deflated(&file[data_set_start(&file)..]);
    assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
    server.put("d/bomb.dcm", bomb).await;
    let r = get(&server.url("d", "d/bomb.dcm", "/-/frames/1.jpg")).await;
    assert_eq!(r.status, 415, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.error(), "unsupported image: deflated objects over 1 MiB");
    // An index cache of 2 MiB keeps inflated objects of 1 MiB at most: a larger one would be
    // inflated again on every request.
    let small_cache =
        Server::start_with(framegate::Settings { cache: framegate::cache::CacheSizes { frame_bytes: 8 << 20, index_bytes: 2 << 20, volume_bytes: 8 << 20 }, ..Default::default() })
            .await;
    small_cache.put("d/bomb.dcm", deflated(&file[data_set_start(&file)..])).await;
    let r = get(&small_cache.url("d", "d/bomb.dcm", "/-/frames/1.jpg")).await;
    assert_eq!((r.status, r.error()), (415, "unsupported image: deflated objects over 1 MiB".to_owned()));
    small_cache.stop().await;

    let mut broken = deflated(&ct_bytes()[data_set_start(&ct_bytes())..]);
    let n = broken.len();
    broken[n - 200..].fill(0xFF);
    server.put("d/broken.dcm", broken).await;
    let r = get(&server.url("d", "d/broken.dcm", "/-/frames/1.jpg")).await;
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));

    // A sound deflated file renders like its native original, and is served de-identified
    // inflated (see a_deflated_image_is_served_from_its_inflated_copy).
    let native = ct_bytes();
    server.put("d/native.dcm", native.clone()).await;
    server.put("d/small.dcm", deflated(&native[data_set_start(&native)..])).await;
    let a = get(&server.url("d", "d/native.dcm", "/-/frames/1.png")).await;
    let b = get(&server.url("d", "d/small.dcm", "/-/frames/1.png")).await;
    assert_eq!((b.status, &b.body), (200, &a.body));
    assert_eq!(get(&format!("{}/healthz", server.base())).await.status, 200);
    server.stop().await;
}

/// Issue 17.6: a FIFO in the root once blocked every open and pinned the blocking threads, so
/// the server stopped answering. Now each request for it is a prompt 404, many at once, and
/// the server goes on serving.
#[tokio::test]
async fn a_fifo_in_the_root_is_a_prompt_404_and_holds_nothing() {
    let server = Server::start().await;
    server.put("ct/real.dcm", ct_bytes()).await;
    let fifo = server.path("ct/pipe.dcm");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let requests = (0..600).map(|_| {
        let url = server.url("ct", "ct/pipe.dcm", "/-/info.json");
        async move { get(&url).await.status }
    });
    let statuses = tokio::time::timeout(std::time::Duration::from_secs(60), futures_util::future::join_all(requests)).await.expect("requests for a FIFO hang");
    assert!(statuses.iter().all(|s| *s == 404), "{statuses:?}");
    assert_eq!(get(&server.url("ct", "ct/pipe.dcm", "")).await.status, 404);
    assert_eq!(get(&server.url("ct", "ct/real.dcm", "/-/info.json")).await.status, 200);
    server.stop().await;
}

/// Issue 17.4: a small JPEG 2000 file that decodes to far more memory than its size is refused
/// by the render budget before anything is decoded, while other frames and /healthz are served.
#[tokio::test]
async fn decompression_bombs_are_refused_by_the_render_memory_budget() {
    if !have_tool("gdcmconv") {
        assert!(std::env::var_os("CI").is_none(), "gdcmconv missing; .ci/run installs it");
        return;
    }
    let settings = framegate::Settings { render_memory: 16 << 20, ..Default::default() };
    let server = Server::start_with(settings).await;
    // 1024×1024 RGB of one colour: a few KiB compressed, 21 MiB to decode through OpenJPEG.
    let native = server.dir.path().join("native.dcm");
    sample::write(rgb_image(1024, 1024, |_, _| [40, 80, 120]), &native).unwrap();
    let bomb = server.dir.path().join("bomb.dcm");
    run("gdcmconv", &["--j2k", native.to_str().unwrap(), bomb.to_str().unwrap()]);
    let bytes = std::fs::read(&bomb).unwrap();
    assert!(bytes.len() < 64 * 1024, "{} bytes", bytes.len());
    server.put("b/bomb.dcm", bytes).await;
    server.put_ct("b/ct.dcm", 0, 1, 64).await;
    let r = get(&server.url("b", "b/bomb.dcm", "/-/frames/1.png")).await;
    assert_eq!((r.status, r.error()), (422, "this frame needs 22 MiB to render, more than the 16 MiB the server allows".to_owned()));
    assert_eq!(get(&server.url("b", "b/ct.dcm", "/-/frames/1.jpg")).await.status, 200);
    assert_eq!(get(&format!("{}/healthz", server.base())).await.status, 200);
    server.stop().await;
}

/// Issue 22, attack 10: in a folder store, `a/dirlink -> ../b` and `a/filelink.dcm ->
/// ../b/secret.dcm` let a token for `a` read `b`'s objects and an upload token for `a` write under
/// `b`. No link below the root is followed: not to read, list or write.
#[tokio::test]
async fn links_inside_the_root_do_not_carry_a_token_across_prefixes() {
    let server = Server::start().await;
    server.put_ct("a/real.dcm", 0, 2, 16).await;
    server.put_ct("b/secret.dcm", 1, 2, 16).await;
    std::os::unix::fs::symlink("../b", server.path("a/dirlink")).unwrap();
    std::os::unix::fs::symlink("../b/secret.dcm", server.path("a/filelink.dcm")).unwrap();
    assert_eq!(get(&server.url("a", "a/real.dcm", "/-/info.json")).await.status, 200);
    for k in ["a/filelink.dcm", "a/dirlink/secret.dcm"] {
        for rest in ["", "/-/info.json", "/-/frames/1.jpg"] {
            assert_eq!(get(&server.url("a", k, rest)).await.status, 404, "{k}{rest}");
        }
    }
    assert_eq!(get(&server.url("a", "a/dirlink", "/-/stack.json")).await.status, 404);
    let stack = get(&server.url("a", "a", "/-/stack.json")).await;
    assert_eq!(stack.status, 200);
    assert_eq!(stack.json()["frames"], 1, "only a's own object is listed: {}", stack.json());
    let instances = get(&server.url("a", "a", "/-/dicomweb/instances")).await;
    assert_eq!(instances.json().as_array().map(Vec::len), Some(1), "{}", instances.json());

    // An upload through the link lands nowhere, b untouched.
    let token = server.keys.sign_for(framegate::token::Purpose::Upload, &key("a"), now() + 600);
    let slice = sample::to_bytes(sample::ct_slice(0, 1, 16)).unwrap();
    let r = request_with_body("POST", &format!("{}/v1/{token}/a/dirlink/-/upload", server.base()), slice).await;
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    let in_b: Vec<_> = std::fs::read_dir(server.path("b")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(in_b, ["secret.dcm"], "nothing was written under b");
    server.stop().await;
}

/// Issue 23 item 4: a deflated image is listed by DICOMweb and served from its inflated copy,
/// which the index holds within the memory limit: its frame and its Pixel Data bulk are the
/// native original's bytes; under `original` the instance is the stored (deflated) object,
/// under `deidentify` a de-identified Explicit VR Little Endian object with the same pixels.
/// Failed before: DICOMweb did not list it, and the raw route answered 415.
#[tokio::test]
async fn a_deflated_image_is_served_from_its_inflated_copy() {
    use framegate::RawDicom;
    let native = ct_bytes();
    let pixels = native[native.len() - 16 * 16 * 2..].to_vec();
    let stored = deflated(&native[data_set_start(&native)..]);
    for policy in [RawDicom::Original, RawDicom::Deidentify] {
        let server = Server::start_with(framegate::Settings { raw_dicom: policy, ..Default::default() }).await;
        server.put("d/s/deflated.dcm", stored.clone()).await;
        let root = server.url("d", "d/s", "/-/dicomweb");
        let instances = get(&format!("{root}/instances")).await.json();
        assert_eq!(instances.as_array().map(Vec::len), Some(1), "{policy:?}: the deflated image is listed: {instances}");
        let uid = |tag: &str| instances[0][tag]["Value"][0].as_str().unwrap().to_owned();
        let instance = format!("{root}/studies/{}/series/{}/instances/{}", uid("0020000D"), uid("0020000E"), uid("00080018"));
        let metadata = get(&format!("{instance}/metadata")).await.json();
        assert_eq!(metadata[0]["00083002"]["Value"][0], "1.2.840.10008.1.2.1.99", "stored deflated");
        assert_eq!(metadata[0]["00280010"]["Value"][0], 16, "the header is read inflated: {metadata}");
        let octets = [("accept", "application/octet-stream")];
        let frame = request("GET", &format!("{instance}/frames/1"), &octets).await;
        assert_eq!((frame.status, frame.body.to_vec()), (200, pixels.clone()), "{policy:?}: frame 1 is the inflated pixels");
        let bulk = metadata[0]["7FE00010"]["BulkDataURI"].as_str().unwrap();
        let bulk = request("GET", bulk, &octets).await;
        assert_eq!((bulk.status, bulk.body.to_vec()), (200, pixels.clone()), "{policy:?}: Pixel Data bulk from the inflated copy");
        let object = request("GET", &instance, &[("accept", "application/dicom")]).await;
        assert_eq!(object.status, 200, "{policy:?}: {}", String::from_utf8_lossy(&object.body));
        let raw = get(&server.url("d", "d/s/deflated.dcm", "")).await;
        assert_eq!(raw.body, object.body, "{policy:?}: the raw route and WADO-RS hand out one object");
        if policy == RawDicom::Original {
            assert_eq!(object.body.to_vec(), stored, "as stored");
        } else {
            let read = dicom_object::OpenFileOptions::new().from_reader(&object.body[128..]).expect("a Part 10 object");
            assert_eq!(read.meta().transfer_syntax().trim_end_matches('\0'), "1.2.840.10008.1.2.1", "inflated to Explicit VR Little Endian");
            assert_eq!(read.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap().to_vec(), pixels, "the same pixels");
            assert_eq!(read.element(tags::PATIENT_IDENTITY_REMOVED).unwrap().to_str().unwrap(), "YES");
            for planted in sample::PLANTED {
                assert!(!object.body.windows(planted.len()).any(|w| w == planted.as_bytes()), "{planted} left");
            }
        }
        server.stop().await;
    }
}
