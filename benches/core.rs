//! Core benches: token verify, index parse of a header prefix, and render + encode of a
//! 512×512 16-bit CT frame (the 3 ms target), each on one core.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use framegate::dicom::index::{Parsed, Swap, parse_header};
use framegate::dicom::{Image, Index, Layout, decode_frame};
use framegate::render::{Presentation, SampleFormat};
use framegate::key::ObjectKey;
use framegate::render::{Pixels, RenderParams, render};
use framegate::sample;
use framegate::token::Keyring;

fn token(c: &mut Criterion) {
    let ring = Keyring::parse("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").unwrap();
    let key = ObjectKey::parse_plain("ct/series1/img0001.dcm").unwrap();
    let token = ring.sign(&ObjectKey::parse_plain("ct/series1").unwrap(), 4_000_000_000);
    c.bench_function("token/verify", |b| b.iter(|| ring.verify(black_box(&token), black_box(&key), framegate::token::Purpose::View, 1_000).unwrap()));
}

fn ct_file(size: u16) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ct.dcm");
    sample::write(sample::ct_slice(20, 40, size), &path).unwrap();
    std::fs::read(path).unwrap()
}

fn index_parse(c: &mut Criterion) {
    let file = ct_file(512);
    let prefix = &file[..64 * 1024];
    c.bench_function("index/parse_header 64KiB prefix", |b| {
        b.iter(|| match parse_header(black_box(prefix), file.len() as u64).unwrap() {
            Parsed::Done(h) => h.pixel.value_offset,
            _ => unreachable!("the prefix holds the whole header"),
        })
    });
}

/// The stored frame's description, and the same frame decoded.
fn ct_frame() -> (Image, Pixels, Presentation) {
    let file = ct_file(512);
    let image = Image { format: SampleFormat::grey(512, 512, 16, 12, false), frames: 1 };
    let pixels = image.frame(file[file.len() - 512 * 512 * 2..].to_vec());
    let presentation = Presentation {
        rescale_slope: 1.0,
        rescale_intercept: -1024.0,
        windows: vec![framegate::render::Window::new(40.0, 400.0, Default::default()).unwrap()],
        ..Presentation::default()
    };
    (image, pixels, presentation)
}

fn render_encode(c: &mut Criterion) {
    let (image, pixels, presentation) = ct_frame();
    let params = RenderParams::default();
    c.bench_function("render/window 512x512 16-bit", |b| b.iter(|| render(black_box(&pixels), &presentation, &params).unwrap()));
    // The same samples declared with 16 bits stored, as many CT scanners write them: a table
    // over every value the bits allow would have 65536 entries.
    let mut wide = pixels.clone();
    (wide.bits_stored, wide.high_bit) = (16, 15);
    c.bench_function("render/window 512x512 16 bits stored", |b| b.iter(|| render(black_box(&wide), &presentation, &params).unwrap()));
    let picture = render(&pixels, &presentation, &params).unwrap();
    c.bench_function("encode/jpeg q90 512x512 grey (the build's encoder)", |b| b.iter(|| framegate::encode::jpeg(black_box(&picture), 90).unwrap()));
    let stream = framegate::transcode::htj2k(&pixels).unwrap();
    println!("htj2k: a 512x512 16-bit CT slice ({} bytes of samples) is {} bytes, {:.2}x smaller", pixels.data.len(), stream.len(), pixels.data.len() as f64 / stream.len() as f64);
    c.bench_function("transcode/htj2k lossless RPCL 512x512 16-bit", |b| b.iter(|| framegate::transcode::htj2k(black_box(&pixels)).unwrap()));

    let syntax = dicom_transfer_syntax_registry::TransferSyntaxRegistry.get("1.2.840.10008.1.2.1").unwrap();
    let layout = Layout::Native { offset: 0, frame_bytes: 512 * 512 * 2, swap: Swap::None };
    let index = Index::from_parts(syntax, image, presentation, layout, 512 * 512 * 2);
    let bytes = pixels.data.clone();
    c.bench_function("frame/decode+window+encode 512x512 16-bit", |b| {
        b.iter(|| {
            let px = decode_frame(&index, 0, black_box(&bytes)).unwrap();
            let picture = render(&px, index.presentation(), &params).unwrap();
            framegate::encode::jpeg(&picture, 90).unwrap()
        })
    });
}

/// The region route's core: a value probe, and ROI statistics over an ellipse of about 100 px
/// across and over the whole frame (what the largest region a request can name costs).
fn region_stats(c: &mut Criterion) {
    use framegate::render::region::{Shape, stats};
    let (_, pixels, presentation) = ct_frame();
    c.bench_function("region/point 512x512 16-bit", |b| b.iter(|| stats(black_box(&pixels), &presentation, Shape::Point { x: 256.5, y: 256.5 }).unwrap()));
    let ellipse = Shape::Ellipse { x0: 200.0, y0: 200.0, x1: 300.0, y1: 300.0 };
    c.bench_function("region/ellipse 100 px 512x512 16-bit", |b| b.iter(|| stats(black_box(&pixels), &presentation, ellipse).unwrap()));
    let all = Shape::Rect { x0: -1e9, y0: -1e9, x1: 1e9, y1: 1e9 };
    c.bench_function("region/rect whole 512x512 16-bit", |b| b.iter(|| stats(black_box(&pixels), &presentation, all).unwrap()));
}

criterion_group!(benches, token, index_parse, render_encode, region_stats);
criterion_main!(benches);
