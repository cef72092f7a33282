//! Overlay planes against dcmtk: planes in their own Overlay Data and one in the unused bit 15
//! of 12-bit samples are drawn by `overlays=true` as dcmj2pnm draws them, nothing is drawn
//! without it, and info.json lists the planes without their text.

use std::path::Path;

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use framegate::sample;

use super::support::*;

const SIZE: u16 = 128;
const WINDOW: &str = "window=40,400";
/// Text planted in each plane's label and description, which nothing served may hold.
const LABEL: &str = "OVERLAY^PLANTED^LABEL";

/// Bits of a `rows` × `columns` plane, row by row, packed least significant bit first and
/// padded to whole words as Overlay Data is.
fn pack(rows: u16, columns: u16, set: impl Fn(u16, u16) -> bool) -> Vec<u8> {
    let bits: Vec<bool> = (0..rows).flat_map(|r| (0..columns).map(move |c| (r, c))).map(|(r, c)| set(r, c)).collect();
    let mut out: Vec<u8> = bits.chunks(8).map(|byte| byte.iter().enumerate().fold(0, |acc, (i, b)| acc | u8::from(*b) << i)).collect();
    out.resize(out.len().div_ceil(2) * 2, 0);
    out
}

/// Adds plane `group` to `obj`: `data` is its Overlay Data, or `None` for bits in Pixel Data's
/// bit 15.
fn add_plane(obj: &mut InMemDicomObject, group: u16, kind: &str, (rows, columns): (u16, u16), origin: [i16; 2], data: Option<Vec<u8>>) {
    let mut put = |element: u16, vr: VR, value: PrimitiveValue| obj.put(DataElement::new(Tag(group, element), vr, value));
    put(0x0010, VR::US, rows.into());
    put(0x0011, VR::US, columns.into());
    put(0x0022, VR::LO, LABEL.into());
    put(0x0040, VR::CS, kind.into());
    put(0x0050, VR::SS, PrimitiveValue::from(origin));
    put(0x0100, VR::US, PrimitiveValue::from(if data.is_some() { 1u16 } else { 16 }));
    put(0x0102, VR::US, PrimitiveValue::from(if data.is_some() { 0u16 } else { 15 }));
    put(0x1500, VR::LO, LABEL.into());
    if let Some(data) = data {
        put(0x3000, VR::OW, data.into());
    }
}

/// The rectangle outline of a `rows` × `columns` plane.
fn outline(rows: u16, columns: u16) -> impl Fn(u16, u16) -> bool {
    move |r, c| r == 0 || c == 0 || r == rows - 1 || c == columns - 1
}

/// A CT slice with a graphics plane (a rectangle outline across body and air) and a region of
/// interest plane (an X) that reaches past the image's bottom right corner.
fn separate() -> InMemDicomObject {
    let mut obj = sample::ct_slice(3, 8, SIZE);
    add_plane(&mut obj, 0x6000, "G", (60, 90), [21, 10], Some(pack(60, 90, outline(60, 90))));
    add_plane(&mut obj, 0x6002, "R", (40, 40), [101, 111], Some(pack(40, 40, |r, c| r == c || r + c == 39)));
    obj
}

/// A CT slice with a ring drawn in bit 15 of its samples, which hold 12 bits.
fn embedded() -> InMemDicomObject {
    let mut obj = sample::ct_slice(3, 8, SIZE);
    let data = obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap().into_owned();
    let n = usize::from(SIZE);
    let marked: Vec<u8> = data
        .chunks_exact(2)
        .enumerate()
        .flat_map(|(i, c)| {
            let (r, col) = ((i / n) as f64 - 64.0, (i % n) as f64 - 64.0);
            let on_ring = ((r * r + col * col).sqrt() - 40.0).abs() < 1.0;
            (u16::from_le_bytes([c[0], c[1]]) | if on_ring { 0x8000 } else { 0 }).to_le_bytes()
        })
        .collect();
    obj.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::from(marked)));
    add_plane(&mut obj, 0x6000, "G", (SIZE, SIZE), [1, 1], None);
    obj
}

/// dcmj2pnm's 8-bit rendering of `file` under `args`, written beside it as `name`.
fn dcmtk(file: &Path, name: &str, args: &[&str]) -> Vec<u8> {
    let pnm = file.with_file_name(name);
    let mut argv = args.to_vec();
    argv.extend([file.to_str().unwrap(), pnm.to_str().unwrap()]);
    run("dcmj2pnm", &argv);
    let (w, h, channels, pixels) = read_pnm(&pnm);
    assert_eq!((w, h, channels), (u32::from(SIZE), u32::from(SIZE), 1), "{name}");
    pixels
}

async fn png(server: &Server, rel: &str, query: &str) -> (Vec<u8>, String) {
    let r = get(&server.url("ov", rel, &format!("/-/frames/1.png?{query}"))).await;
    assert_eq!(r.status, 200, "{rel}?{query}: {}", String::from_utf8_lossy(&r.body));
    let etag = r.header("etag").unwrap().to_owned();
    let (w, h, channels, pixels) = decode_png(&r.body);
    assert_eq!((w, h, channels), (u32::from(SIZE), u32::from(SIZE), 1));
    (pixels, etag)
}

fn max_diff(a: &[u8], b: &[u8]) -> u8 {
    a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0)
}

#[tokio::test]
async fn overlays_are_drawn_as_dcmtk_draws_them_and_only_when_asked() {
    if !have_tool("dcmj2pnm") {
        return;
    }
    let server = Server::start().await;
    // dcmtk draws graphics planes white by default; a region of interest it darkens around
    // unless told to replace (+Omr), which is how framegate draws every plane.
    let fixtures: [(&str, InMemDicomObject, &[&str]); 2] = [("separate", separate(), &["+O", "0", "+Omr"]), ("embedded", embedded(), &["+O", "0"])];
    for (name, obj, show) in fixtures {
        let rel = format!("ov/{name}.dcm");
        let file = server.path(&rel);
        sample::write(obj, &file).unwrap();
        let mut with_args = vec!["+Ww", "40", "400"];
        with_args.extend(show);
        let shown = dcmtk(&file, &format!("{name}-shown.pnm"), &with_args);
        let hidden = dcmtk(&file, &format!("{name}-hidden.pnm"), &["+Ww", "40", "400", "-O"]);
        let drawn_pixels = shown.iter().zip(&hidden).filter(|(a, b)| a != b).count();
        assert!(drawn_pixels > 100, "{name}: dcmtk drew only {drawn_pixels} overlay pixels");

        // With overlays first: were they left out of the cache key, the plain request below
        // would be answered with this picture.
        let (ours, with_etag) = png(&server, &rel, &format!("overlays=true&{WINDOW}")).await;
        assert!(max_diff(&ours, &shown) <= 1, "{name}: differs from dcmtk's overlays by {}", max_diff(&ours, &shown));
        let (plain, plain_etag) = png(&server, &rel, WINDOW).await;
        assert!(max_diff(&plain, &hidden) <= 1, "{name}: differs from dcmtk without overlays by {}", max_diff(&plain, &hidden));
        assert_ne!(with_etag, plain_etag, "{name}");
        let (off, _) = png(&server, &rel, &format!("overlays=false&{WINDOW}")).await;
        assert_eq!(off, plain, "{name}");

        let jpeg = get(&server.url("ov", &rel, &format!("/-/frames/1.jpg?overlays=true&{WINDOW}&quality=95"))).await;
        let (_, _, pixels) = jpeg.jpeg();
        assert!(psnr(&pixels, &shown) >= 40.0, "{name}: JPEG at {:.1} dB", psnr(&pixels, &shown));
        eprintln!("{name}: {drawn_pixels} overlay pixels, PNG within ±{} of dcmtk", max_diff(&ours, &shown));
    }
    server.stop().await;
}

#[tokio::test]
async fn info_json_lists_the_planes_without_their_text() {
    let server = Server::start().await;
    server.put("ov/separate.dcm", sample::to_bytes(separate()).unwrap()).await;
    server.put("ov/embedded.dcm", sample::to_bytes(embedded()).unwrap()).await;
    server.put_ct("ov/plain.dcm", 3, 8, SIZE).await;
    let info = |rel: &'static str| {
        let url = server.url("ov", rel, "/-/info.json");
        async move { get(&url).await }
    };
    let separate = info("ov/separate.dcm").await;
    assert!(!String::from_utf8_lossy(&separate.body).contains("PLANTED"));
    assert_eq!(
        separate.json()["overlays"],
        serde_json::json!([
            { "group": "6000", "rows": 60, "columns": 90, "type": "G", "origin": [21, 10], "frames": 1, "embedded": false },
            { "group": "6002", "rows": 40, "columns": 40, "type": "R", "origin": [101, 111], "frames": 1, "embedded": false },
        ])
    );
    assert_eq!(
        info("ov/embedded.dcm").await.json()["overlays"],
        serde_json::json!([{ "group": "6000", "rows": 128, "columns": 128, "type": "G", "origin": [1, 1], "frames": 1, "embedded": true }])
    );
    assert_eq!(info("ov/plain.dcm").await.json()["overlays"], serde_json::json!([]));
    server.stop().await;
}

#[tokio::test]
async fn a_stored_jpeg_is_rendered_not_passed_through_when_overlays_are_drawn() {
    if !have_tool("dcmcjpeg") {
        return;
    }
    let server = Server::start().await;
    // An RGB card with a filled 16×16 square in a plane at row 9, column 17, made baseline JPEG.
    let mut obj = rgb_image(64, 48, |c, r| [(c * 3) as u8, (r * 4) as u8, 90]);
    add_plane(&mut obj, 0x6000, "G", (16, 16), [9, 17], Some(pack(16, 16, |_, _| true)));
    let src = server.path("ov/rgb.dcm");
    sample::write(obj, &src).unwrap();
    let jpeg_file = server.path("ov/rgb-jpeg.dcm");
    run("dcmcjpeg", &["+eb", src.to_str().unwrap(), jpeg_file.to_str().unwrap()]);
    let url = |query: &str| server.url("ov", "ov/rgb-jpeg.dcm", &format!("/-/frames/1.{query}"));
    assert_eq!(get(&url("jpg")).await.header("x-framegate-transcode"), Some("passthrough"));
    let drawn = get(&url("jpg?overlays=true")).await;
    assert_eq!(drawn.header("x-framegate-transcode"), Some("rendered"));
    let (w, _, pixels) = drawn.jpeg();
    let at = |col: usize, row: usize| &pixels[(row * usize::from(w) + col) * 3..][..3];
    assert!(at(24, 16).iter().all(|v| *v >= 245), "inside the square: {:?}", at(24, 16));
    assert!(at(50, 40)[2] < 150, "outside the square: {:?}", at(50, 40));
    let (_, _, _, exact) = decode_png(&get(&url("png?overlays=true")).await.body);
    let px = |col: usize, row: usize| &exact[(row * 64 + col) * 3..][..3];
    assert_eq!((px(16, 8), px(31, 23)), (&[255u8, 255, 255][..], &[255u8, 255, 255][..]), "the square's corners");
    assert_ne!(px(15, 8), &[255u8, 255, 255][..], "left of the square");
    server.stop().await;
}
