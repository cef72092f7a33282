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

    let mut cases: Vec<(&str, Vec<u8>, u16, &str)> = Vec::new();
    cases.push(("html.dcm", b"<!doctype html><html><body>hello</body></html>".to_vec(), 422, "not a DICOM file"));
    cases.push(("zip.dcm", [b"PK\x03\x04".as_slice(), &[0u8; 300]].concat(), 422, "not a DICOM file"));
    cases.push(("empty.dcm", Vec::new(), 422, "not a DICOM file"));
    cases.push(("meta-only.dcm", good[..start].to_vec(), 422, "DICOM file has no pixel data"));
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
