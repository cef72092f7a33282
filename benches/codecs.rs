//! Per transfer syntax: decode + window + JPEG encode of one frame, for a 512×512 12-bit CT in
//! every syntax and a 1955×1841 frame in the heavy codecs; JPEG 2000 decode against OpenJPEG
//! called directly; and the JPEG encoders (jpeg-encoder, and libjpeg-turbo with `turbo`) on the
//! same picture. Fixtures are converted at start by the tools .ci/run installs (dcmtk, gdcm,
//! OpenJPH); a syntax whose tool or codec is missing is skipped with a note.
//!
//! `cargo bench --bench codecs` (add `--features turbo,jpegls` for the production build).

use std::hint::black_box;
use std::path::Path;
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use framegate::dicom::{Index, Limits, decode_frame};
use framegate::key::ObjectKey;
use framegate::render::{RenderParams, VoiFunction, Window, render};
use framegate::store::Store;
use framegate::store::fs::FsStore;
use framegate::{encode, sample};

/// (name, tool, arguments): conversions of the native file.
const SYNTAXES: &[(&str, &str, &[&str])] = &[
    ("explicit-le", "dcmconv", &["+te"]),
    ("implicit-le", "dcmconv", &["+ti"]),
    ("explicit-be", "dcmconv", &["+tb"]),
    ("deflated", "dcmconv", &["+td"]),
    ("rle", "dcmcrle", &[]),
    ("jpeg-lossless-sv1", "dcmcjpeg", &["+e1"]),
    ("jpeg-extended-12", "dcmcjpeg", &["+ee"]),
    ("jpeg-ls", "dcmcjpls", &["+el"]),
    ("jpeg-ls-near", "dcmcjpls", &["+en"]),
    ("j2k", "gdcmconv", &["--j2k"]),
    ("j2k-lossy", "gdcmconv", &["--j2k", "--lossy", "-q", "45"]),
];
/// The heavy codecs, also measured on the large frame.
const HEAVY: &[&str] = &["rle", "jpeg-lossless-sv1", "jpeg-ls", "j2k", "htj2k"];

fn run(tool: &str, args: &[&str]) -> bool {
    Command::new(tool).args(args).output().is_ok_and(|o| o.status.success())
}

/// A CT-like 12-bit frame of any size.
fn ct(width: u16, height: u16) -> InMemDicomObject {
    let mut obj = sample::ct_slice(0, 1, 8);
    let mut pixels = Vec::with_capacity(usize::from(width) * usize::from(height) * 2);
    for row in 0..height {
        for col in 0..width {
            let (x, y) = (2.0 * f64::from(col) / f64::from(width) - 1.0, 2.0 * f64::from(row) / f64::from(height) - 1.0);
            let stored = (i32::from(sample::ct_hu(x, y, 0.5)) + 1024).clamp(0, 4095) as u16;
            pixels.extend_from_slice(&stored.to_le_bytes());
        }
    }
    obj.put(DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(height)));
    obj.put(DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(width)));
    obj.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::from(pixels)));
    obj
}

/// An HTJ2K (lossless) version of `native` through OpenJPH, wrapped as one fragment.
fn htj2k(dir: &Path, name: &str, native: &InMemDicomObject, width: u16, height: u16) -> Option<()> {
    let data = native.element(tags::PIXEL_DATA).ok()?.to_bytes().ok()?;
    let mut pgm = format!("P5\n{width} {height}\n4095\n").into_bytes();
    pgm.extend(data.chunks_exact(2).flat_map(|c| [c[1], c[0]]));
    let (pgm_path, j2c) = (dir.join(format!("{name}.pgm")), dir.join(format!("{name}.j2c")));
    std::fs::write(&pgm_path, pgm).ok()?;
    run("ojph_compress", &["-i", pgm_path.to_str()?, "-o", j2c.to_str()?, "-reversible", "true"]).then_some(())?;
    let stream = std::fs::read(&j2c).ok()?;
    let bytes = sample::to_bytes_in(sample::with_one_fragment(native.clone(), stream), "1.2.840.10008.1.2.4.201").ok()?;
    std::fs::write(dir.join(format!("{name}-htj2k.dcm")), bytes).ok()
}

/// Writes the native file and every conversion the machine can make; returns the names made.
fn fixtures(dir: &Path, name: &str, width: u16, height: u16) -> Vec<String> {
    let native = ct(width, height);
    let src = dir.join(format!("{name}.dcm"));
    sample::write(native.clone(), &src).unwrap();
    let mut made = Vec::new();
    for (syntax, tool, args) in SYNTAXES {
        let out = dir.join(format!("{name}-{syntax}.dcm"));
        let mut argv = args.to_vec();
        argv.extend([src.to_str().unwrap(), out.to_str().unwrap()]);
        if framegate_testkit::installed(tool) && run(tool, &argv) {
            made.push((*syntax).to_owned());
        } else {
            eprintln!("skipping {name} {syntax}: {tool} is missing or failed");
        }
    }
    if framegate_testkit::installed("ojph_compress") && htj2k(dir, name, &native, width, height).is_some() {
        made.push("htj2k".to_owned());
    }
    made
}

/// The index and frame 1's bytes of a fixture, read through the folder store.
fn load(rt: &tokio::runtime::Runtime, store: &FsStore, rel: &str) -> Option<(Index, bytes::Bytes)> {
    rt.block_on(async {
        let key = ObjectKey::parse_plain(rel).ok()?;
        let meta = store.head(&key).await.ok()?;
        let limits = Limits { max_frame_bytes: 1 << 30, ..Limits::default() };
        let index = Index::load(store, &key, &meta, &limits, &framegate::pool::RenderPool::new(1, 0, 1 << 30)).await.ok()?;
        let bytes = match index.held_frame(0) {
            Some(held) => held,
            None => store.read(&key, &meta, index.frame_range(0)?).await.ok()?,
        };
        Some((index, bytes))
    })
}

fn per_syntax(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = FsStore::new(dir.path()).unwrap();
    let window = RenderParams { window: Window::new(40.0, 400.0, VoiFunction::Linear), ..RenderParams::default() };
    for (name, width, height, only) in [("ct512", 512u16, 512u16, None), ("ct1955x1841", 1955, 1841, Some(HEAVY))] {
        let made = fixtures(dir.path(), name, width, height);
        let mut group = c.benchmark_group(format!("codecs/{name}"));
        if only.is_some() {
            group.sample_size(10);
        }
        for syntax in made.iter().filter(|s| only.is_none_or(|h| h.contains(&s.as_str()))) {
            let Some((index, bytes)) = load(&rt, &store, &format!("{name}-{syntax}.dcm")) else { continue };
            if let Err(e) = decode_frame(&index, 0, &bytes) {
                eprintln!("skipping {name} {syntax}: {e}");
                continue;
            }
            group.bench_function(format!("{syntax} decode+window+encode"), |b| {
                b.iter(|| {
                    let pixels = decode_frame(&index, 0, black_box(&bytes)).unwrap();
                    let picture = render(&pixels, index.presentation(), &window).unwrap();
                    encode::jpeg(&picture, 90).unwrap()
                })
            });
            if only.is_some() {
                group.bench_function(format!("{syntax} decode"), |b| b.iter(|| decode_frame(&index, 0, black_box(&bytes)).unwrap()));
            }
        }
        // OpenJPEG itself on the same codestreams, for the decode comparison.
        for syntax in ["j2k", "htj2k"] {
            if only.is_none() || !made.iter().any(|m| m == syntax) {
                continue;
            }
            let Some((_, bytes)) = load(&rt, &store, &format!("{name}-{syntax}.dcm")) else { continue };
            // Item header (8 bytes) then the codestream; the trailing delimiter is not included.
            let stream = bytes[8..].to_vec();
            group.bench_function(format!("{syntax} decode, OpenJPEG alone"), |b| b.iter(|| jpeg2k::Image::from_bytes(black_box(&stream)).unwrap()));
        }
        group.finish();
    }
}

fn encoders(c: &mut Criterion) {
    let obj = ct(512, 512);
    let data = obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap().into_owned();
    let pixels = framegate::dicom::Image::from_obj(&obj).unwrap().frame(data);
    let presentation = framegate::dicom::presentation(&obj);
    let window = RenderParams { window: Window::new(40.0, 400.0, VoiFunction::Linear), ..RenderParams::default() };
    let picture = render(&pixels, &presentation, &window).unwrap();
    let mut group = c.benchmark_group("encode/512x512 grey q90");
    group.bench_function("jpeg-encoder", |b| b.iter(|| encode::jpeg_encoder(black_box(&picture), 90).unwrap()));
    #[cfg(feature = "turbo")]
    group.bench_function("libjpeg-turbo", |b| b.iter(|| framegate::turbo::encode(black_box(&picture), 90).unwrap()));
    group.bench_function("png", |b| b.iter(|| encode::png(black_box(&picture)).unwrap()));
    group.finish();
    eprintln!(
        "sizes at q90: jpeg-encoder {} bytes{}",
        encode::jpeg_encoder(&picture, 90).unwrap().len(),
        if cfg!(feature = "turbo") { format!(", build encoder {} bytes", encode::jpeg(&picture, 90).unwrap().len()) } else { String::new() }
    );
}

criterion_group!(benches, encoders, per_syntax);
criterion_main!(benches);
