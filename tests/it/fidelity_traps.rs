//! The generative fidelity suite: every fidelity fixture and every renderable public file is
//! rewritten into the traps that real archives hold, and each trap must render byte-identical
//! PNGs and describe itself (info.json) exactly like its original. The traps, one rule of the
//! standard each:
//! - every attribute written as explicit `UN` (PS3.5 6.2.2: read with the dictionary VR);
//! - explicit big endian with 8-bit samples in OW (PS3.5 7.3: OW is swapped word by word);
//! - no preamble, and a bare data set with no meta group either (read as dcmtk reads them);
//! - an RGB JPEG without its Adobe marker (PS3.5 8.2.1: the photometric interpretation names
//!   the colour space of the compressed data).

use std::path::{Path, PathBuf};

use dicom_core::value::{PixelFragmentSequence, Value};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;

use super::fixtures::{PUBLIC, fidelity_tools_present, fixtures};
use super::support::*;

const IMPLICIT: &str = "1.2.840.10008.1.2";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";
const JPEG_LOSSY: [&str; 2] = ["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"];

/// An original file to trap: its name, the file, and the window it is rendered with.
struct Original {
    name: String,
    file: PathBuf,
    query: String,
}

/// The end of the file meta group: 144 plus its group length.
fn meta_end(file: &[u8]) -> usize {
    144 + u32::from_le_bytes(file[140..144].try_into().unwrap()) as usize
}

/// Each trap of `file` that applies to it, by name.
fn traps(file: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let obj = dicom_object::OpenFileOptions::new().from_reader(std::io::Cursor::new(&file[128..])).unwrap();
    let ts = obj.meta().transfer_syntax().trim_end_matches('\0').to_owned();
    let mut out = vec![("no preamble", file[132..].to_vec())];
    // Implicit VR has no VR to write UN into; big endian and deflated data sets are left to
    // the traps of their own.
    if ![IMPLICIT, EXPLICIT_BE, DEFLATED].contains(&ts.as_str()) {
        out.push(("every attribute UN", with_un_vrs(file)));
    }
    let native_le = ts == IMPLICIT || ts == EXPLICIT_LE;
    if native_le {
        out.push(("bare data set", file[meta_end(file)..].to_vec()));
    }
    let bits = obj.element(tags::BITS_ALLOCATED).ok().and_then(|e| e.to_int::<u16>().ok());
    if native_le && bits == Some(8) {
        let mut pixels = obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap().into_owned();
        if pixels.len() % 2 == 1 {
            pixels.push(0);
        }
        pixels.chunks_exact_mut(2).for_each(<[u8]>::reverse);
        let mut big = obj.clone().into_inner();
        big.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::from(pixels)));
        out.push(("big endian, 8-bit OW", framegate::sample::to_bytes_in(big, EXPLICIT_BE).unwrap()));
    }
    let rgb = obj.element(tags::PHOTOMETRIC_INTERPRETATION).ok().and_then(|e| e.to_str().ok()).is_some_and(|p| p.trim() == "RGB");
    if rgb && JPEG_LOSSY.contains(&ts.as_str()) {
        let mut stripped = obj.clone().into_inner();
        let Value::PixelSequence(seq) = obj.element(tags::PIXEL_DATA).unwrap().value() else { panic!("JPEG without fragments") };
        let fragments: Vec<Vec<u8>> = seq.fragments().iter().map(|f| without_adobe(f)).collect();
        if fragments.iter().zip(seq.fragments()).any(|(a, b)| a != b) {
            stripped.put(DataElement::new(tags::PIXEL_DATA, VR::OB, PixelFragmentSequence::new(Vec::<u32>::new(), fragments)));
            out.push(("RGB JPEG without APP14", framegate::sample::to_bytes_in(stripped, &ts).unwrap()));
        }
    }
    out
}

/// A JPEG fragment with its Adobe APP14 segment taken out, padded to even length.
fn without_adobe(fragment: &[u8]) -> Vec<u8> {
    let mut at = 2;
    while at + 4 <= fragment.len() && fragment[at] == 0xFF && fragment[at + 1] != 0xDA {
        let len = usize::from(u16::from_be_bytes([fragment[at + 2], fragment[at + 3]]));
        if fragment[at + 1] == 0xEE && fragment[at + 4..].starts_with(b"Adobe") {
            let mut out = [&fragment[..at], &fragment[at + 2 + len..]].concat();
            if out.len() % 2 == 1 {
                out.push(0);
            }
            return out;
        }
        at += 2 + len;
    }
    fragment.to_vec()
}

/// 8-bit grey frames of an odd size, so that every other frame starts at an odd offset.
fn odd_multiframe(dir: &Path) -> Original {
    let mut obj = framegate::sample::cine(3, 8);
    let (rows, cols) = (3u16, 3u16);
    for (tag, value) in [(tags::ROWS, rows), (tags::COLUMNS, cols), (tags::BITS_ALLOCATED, 8), (tags::BITS_STORED, 8), (tags::HIGH_BIT, 7)] {
        obj.put(DataElement::new(tag, VR::US, PrimitiveValue::from(value)));
    }
    let pixels: Vec<u8> = (0..27u8).map(|v| v * 9).collect();
    obj.put(DataElement::new(tags::PIXEL_DATA, VR::OB, PrimitiveValue::from(pixels)));
    let file = dir.join("odd-multiframe.dcm");
    framegate::sample::write(obj, &file).unwrap();
    Original { name: "odd-sized 8-bit multi-frame".into(), file, query: String::new() }
}

#[tokio::test]
async fn every_fixture_survives_its_traps() {
    if !fidelity_tools_present() {
        assert!(std::env::var_os("CI").is_none(), "dcmtk, gdcm or OpenJPH missing; .ci/run installs them");
        return;
    }
    let server = Server::start().await;
    let dir = server.path("fx");
    std::fs::create_dir_all(&dir).unwrap();
    let mut originals: Vec<Original> = fixtures(&dir)
        .into_iter()
        .filter(|fx| fx.missing.is_none())
        .map(|fx| Original { name: fx.name, file: fx.file, query: if fx.query.is_empty() { String::new() } else { format!("?window={}", fx.query) } })
        .collect();
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/pydicom/pydicom/data/test_files");
    if corpus.is_dir() {
        for (name, _) in PUBLIC.iter().filter(|(_, needs)| needs.is_none_or(built_with)) {
            let file = dir.join(format!("public-{name}"));
            std::fs::copy(corpus.join(name), &file).unwrap();
            originals.push(Original { name: (*name).into(), file, query: String::new() });
        }
    } else {
        assert!(std::env::var_os("CI").is_none(), "pydicom test files missing; .ci/run fetches them");
    }
    originals.push(odd_multiframe(&dir));

    let info = |rel: String| {
        let url = server.url("fx", &rel, "/-/info.json");
        async move {
            let r = get(&url).await;
            assert_eq!(r.status, 200, "{rel}: {}", String::from_utf8_lossy(&r.body));
            let mut json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            // The one field a trap may change: the transfer syntax it is written in.
            json.as_object_mut().unwrap().remove("transfer_syntax");
            json
        }
    };
    let mut checked = std::collections::BTreeMap::<&str, usize>::new();
    for original in &originals {
        let bytes = std::fs::read(&original.file).unwrap();
        let rel = format!("fx/{}", original.file.file_name().unwrap().to_str().unwrap());
        let expected_info = info(rel.clone()).await;
        let frames = expected_info["frames"].as_u64().unwrap();
        for (n, (trap, trapped)) in traps(&bytes).into_iter().enumerate() {
            let trap_rel = format!("{rel}.trap{n}");
            server.put(&trap_rel, trapped).await;
            assert_eq!(info(trap_rel.clone()).await, expected_info, "{}: {trap}: info.json differs", original.name);
            for frame in [1, frames].into_iter().chain((frames > 2).then_some(2)) {
                let path = format!("/-/frames/{frame}.png{}", original.query);
                let want = get(&server.url("fx", &rel, &path)).await;
                let got = get(&server.url("fx", &trap_rel, &path)).await;
                assert_eq!(want.status, 200, "{}: {}", original.name, String::from_utf8_lossy(&want.body));
                assert_eq!(got.status, 200, "{}: {trap}: {}", original.name, String::from_utf8_lossy(&got.body));
                assert!(got.body == want.body, "{}: {trap}: frame {frame} differs from the original", original.name);
            }
            *checked.entry(trap).or_default() += 1;
        }
    }
    eprintln!("traps checked: {checked:?}");
    for (trap, least) in [("no preamble", 40), ("every attribute UN", 30), ("bare data set", 10), ("big endian, 8-bit OW", 3), ("RGB JPEG without APP14", 1)] {
        assert!(checked.get(trap).copied().unwrap_or(0) >= least, "only {:?} files met the trap {trap}", checked.get(trap));
    }
    server.stop().await;
}
