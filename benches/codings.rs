//! Content codings of native frames: bytes and CPU of gzip, brotli and zstd at several levels on
//! real CT and MR slices (the pydicom wheel's, in target/pydicom, and its 512×512 lossless
//! J2K CT decoded by gdcmconv), to choose the coding and level src/coding.rs uses.
//!
//! `cargo bench --bench codings`. A file that is missing (no target/pydicom, no gdcmconv) is
//! skipped with a note.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use dicom_dictionary_std::tags;

/// (label, file under pydicom's test files, whether it must be decompressed first).
const SLICES: &[(&str, &str, bool)] = &[
    ("CT 512×512 16-bit (J2K_pixelrep_mismatch)", "J2K_pixelrep_mismatch.dcm", true),
    ("MR 484×300 16-bit (examples_overlay)", "examples_overlay.dcm", false),
    ("CT 128×128 16-bit (CT_small)", "CT_small.dcm", false),
    ("MR 64×64 16-bit (MR_small)", "MR_small.dcm", false),
];

fn test_files() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pydicom");
    let walk = |dir: &Path| std::fs::read_dir(dir).ok().into_iter().flatten().flatten().map(|e| e.path()).collect::<Vec<_>>();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        if dir.ends_with("test_files") && dir.join("CT_small.dcm").exists() {
            return Some(dir);
        }
        stack.extend(walk(&dir).into_iter().filter(|p| p.is_dir()));
    }
    None
}

/// The native Pixel Data of `file`, decompressed by gdcmconv when `decompress`.
fn samples(file: &Path, decompress: bool, scratch: &Path) -> Option<Vec<u8>> {
    let file = if decompress {
        let out = scratch.join(file.file_name()?);
        let ok = Command::new("gdcmconv").args(["--raw", file.to_str()?, out.to_str()?]).status().is_ok_and(|s| s.success());
        if !ok {
            return None;
        }
        out
    } else {
        file.to_path_buf()
    };
    let object = dicom_object::open_file(&file).ok()?;
    Some(object.element(tags::PIXEL_DATA).ok()?.to_bytes().ok()?.into_owned())
}

/// Median time of `f` over enough runs to fill about 300 ms, and its output's length.
fn measure(f: impl Fn() -> Vec<u8>) -> (usize, Duration) {
    let size = f().len();
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 7 || (start.elapsed() < Duration::from_millis(300) && times.len() < 500) {
        let t = Instant::now();
        std::hint::black_box(f());
        times.push(t.elapsed());
    }
    times.sort();
    (size, times[times.len() / 2])
}

fn gzip(body: &[u8], level: u32) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
    e.write_all(body).unwrap();
    e.finish().unwrap()
}

fn brotli(body: &[u8], quality: i32) -> Vec<u8> {
    let params = brotli::enc::BrotliEncoderParams { quality, lgwin: 22, size_hint: body.len(), ..Default::default() };
    let mut out = Vec::new();
    brotli::BrotliCompress(&mut &body[..], &mut out, &params).unwrap();
    out
}

fn main() {
    let Some(dir) = test_files() else {
        println!("codings: skipped, no pydicom test files under target/pydicom (.ci/run installs them)");
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    type Coder = (String, Box<dyn Fn(&[u8]) -> Vec<u8>>);
    let mut coders: Vec<Coder> = Vec::new();
    for level in [1, 6] {
        coders.push((format!("gzip {level}"), Box::new(move |b: &[u8]| gzip(b, level))));
    }
    for quality in [1, 3, 4, 5, 6] {
        coders.push((format!("br {quality}"), Box::new(move |b: &[u8]| brotli(b, quality))));
    }
    for level in [1, 3, 6] {
        coders.push((format!("zstd {level}"), Box::new(move |b: &[u8]| zstd::bulk::compress(b, level).unwrap())));
    }
    coders.push(("framegate's choice".into(), Box::new(|b: &[u8]| framegate::coding::Coding::choose(["gzip, deflate, br, zstd"]).compress(b).unwrap())));
    for (label, name, decompress) in SLICES {
        let Some(raw) = samples(&dir.join(name), *decompress, scratch.path()) else {
            println!("{label}: skipped (missing, or gdcmconv is not installed)");
            continue;
        };
        println!("\n{label}: {} bytes raw", raw.len());
        println!("| coding | bytes | ratio | time | MB/s |");
        println!("|---|---|---|---|---|");
        for (coder, f) in &coders {
            let (size, time) = measure(|| f(&raw));
            let secs = time.as_secs_f64();
            println!("| {coder} | {size} | {:.2}× | {:.2} ms | {:.0} |", raw.len() as f64 / size as f64, secs * 1e3, raw.len() as f64 / secs / 1e6);
        }
    }
}
