//! The reformat route: planes cut through a series, against planes cut here from the very
//! samples the slices hold; the series it refuses; its token, cache and memory rules.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use framegate::sample;

use super::support::*;

crate::on_both_stores!(coronal_and_sagittal_planes_are_the_slices_samples_exactly, a_plane_keeps_the_anatomy_true_to_scale);

/// Slices of this many pixels a side.
const SIZE: u16 = 32;
/// Slices in a series.
const SLICES: usize = 24;

/// CT slice `index` of `slices` (pixel values as [`sample::ct_slice`]), `spacing` mm pixels,
/// `gap` mm apart, changed by `change` after that.
fn slice(index: usize, slices: usize, size: u16, spacing: f64, gap: f64, change: impl Fn(&mut InMemDicomObject)) -> Vec<u8> {
    let mut obj = sample::ct_slice(index, slices, size);
    let ds = |tag, value: String| DataElement::new(tag, VR::DS, PrimitiveValue::from(value));
    obj.put(ds(tags::IMAGE_POSITION_PATIENT, format!("-16\\-16\\{}", -gap * index as f64)));
    obj.put(ds(tags::PIXEL_SPACING, format!("{spacing}\\{spacing}")));
    obj.put(ds(tags::SLICE_THICKNESS, format!("{gap}")));
    change(&mut obj);
    sample::to_bytes(obj).unwrap()
}

/// Stores a series of `slices` slices under `prefix`, each changed by `change(index, object)`.
async fn put_series(server: &Server, prefix: &str, slices: usize, spacing: f64, gap: f64, change: impl Fn(usize, &mut InMemDicomObject)) {
    for i in 0..slices {
        server.put(&format!("{prefix}/{i:03}.dcm"), slice(i, slices, SIZE, spacing, gap, |o| change(i, o))).await;
    }
}

/// `{prefix}/-/reformat/{plane}/{n}.png` with `query`, under a token for `prefix`.
async fn plane(server: &Server, prefix: &str, plane: &str, n: u32, query: &str) -> Resp {
    get(&server.url(prefix, prefix, &format!("/-/reformat/{plane}/{n}.png{query}"))).await
}

/// The grey levels of a PNG answer, with its width and height.
fn grey(r: &Resp) -> (u32, u32, Vec<u8>) {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let (w, h, channels, pixels) = decode_png(&r.body);
    assert_eq!(channels, 1);
    (w, h, pixels)
}

async fn coronal_and_sagittal_planes_are_the_slices_samples_exactly(backend: Backend) {
    let server = Server::start_on(backend, Default::default()).await;
    // 1 mm pixels 1 mm apart: every plane pixel is one stored sample.
    put_series(&server, "ct/iso", SLICES, 1.0, 1.0, |_, _| {}).await;
    for (center, width) in [(40.0, 400.0), (0.0, 4000.0)] {
        let query = format!("?window={center},{width}");
        for p in [1u16, 9, 20, 32] {
            // Coronal plane p is row p - 1 of every slice, head (the first slice) at the top.
            let (w, h, pixels) = grey(&plane(&server, "ct/iso", "coronal", u32::from(p), &query).await);
            assert_eq!((w, h), (u32::from(SIZE), SLICES as u32));
            for (i, level) in pixels.iter().enumerate() {
                let (x, r) = ((i % SIZE as usize) as u16, i / SIZE as usize);
                assert_eq!(*level, ct_expected(r, SLICES, SIZE, x, p - 1, center, width), "coronal {p} at ({x}, {r})");
            }
            // Sagittal plane p is column p - 1 of every slice.
            let (w, h, pixels) = grey(&plane(&server, "ct/iso", "sagittal", u32::from(p), &query).await);
            assert_eq!((w, h), (u32::from(SIZE), SLICES as u32));
            for (i, level) in pixels.iter().enumerate() {
                let (y, r) = ((i % SIZE as usize) as u16, i / SIZE as usize);
                assert_eq!(*level, ct_expected(r, SLICES, SIZE, p - 1, y, center, width), "sagittal {p} at ({y}, {r})");
            }
        }
    }
    // The oblique plane turned 0° is the coronal one; turned 90°, the sagittal one seen from
    // the other side (its planes run right to left).
    let coronal = grey(&plane(&server, "ct/iso", "coronal", 12, "").await);
    assert_eq!(grey(&plane(&server, "ct/iso", "oblique-0", 12, "").await), coronal);
    let sagittal = grey(&plane(&server, "ct/iso", "sagittal", 12, "").await);
    let turned = grey(&plane(&server, "ct/iso", "oblique-90", u32::from(SIZE) + 1 - 12, "").await);
    assert_eq!((turned.0, turned.1), (sagittal.0, sagittal.1));
    assert!(mean_abs_diff(&turned.2, &sagittal.2) < 0.5, "oblique-90 is not the sagittal plane");
    // Turned 45°: the diagonal of the slices, √2 times as wide, and it crosses the lungs.
    let (w, h, diagonal) = grey(&plane(&server, "ct/iso", "oblique-45", 23, "").await);
    assert_eq!((w, h), ((31.0 * 2f64.sqrt()).floor() as u32 + 1, SLICES as u32));
    assert!(mean_abs_diff(&diagonal[..w as usize], &vec![diagonal[0]; w as usize]) > 1.0, "the diagonal plane is flat");
    // A JPEG with the file's window is what a viewer asks for.
    let r = get(&server.url("ct/iso", "ct/iso", "/-/reformat/coronal/16.jpg")).await;
    assert_eq!((r.jpeg().0, r.jpeg().1), (SIZE, SLICES as u16));
    server.stop().await;
}

async fn a_plane_keeps_the_anatomy_true_to_scale(backend: Backend) {
    let server = Server::start_on(backend, Default::default()).await;
    // 0.5 mm pixels, slices 2.5 mm apart: a plane is five times as tall in pixels as in slices.
    put_series(&server, "ct/thick", SLICES, 0.5, 2.5, |_, _| {}).await;
    let (w, h, pixels) = grey(&plane(&server, "ct/thick", "coronal", 16, "?window=40,400").await);
    let height = (SLICES as u32 - 1) * 5 + 1;
    assert_eq!((w, h), (u32::from(SIZE), height));
    let at = |x: usize, r: usize| pixels[r * SIZE as usize + x];
    for r in 0..height as usize {
        for x in 0..SIZE as usize {
            let (k, t) = (r / 5, r % 5);
            let above = ct_expected(k, SLICES, SIZE, x as u16, 15, 40.0, 400.0);
            if t == 0 {
                // Rows through a slice are that slice's samples.
                assert_eq!(at(x, r), above, "row {r} column {x}");
            } else {
                // Rows between two slices lie between them.
                let below = ct_expected(k + 1, SLICES, SIZE, x as u16, 15, 40.0, 400.0);
                assert!((above.min(below)..=above.max(below)).contains(&at(x, r)), "row {r} column {x}: {} not between {above} and {below}", at(x, r));
            }
        }
    }
    // The manifest says so: square pixels of 0.5 mm, as tall as the series is deep.
    let stack = get(&server.url("ct/thick", "ct/thick", "/-/stack.json")).await.json();
    let planes = stack["series"][0]["planes"].as_array().unwrap();
    let names: Vec<&str> = planes.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["axial", "coronal", "sagittal", "oblique-45"]);
    let coronal = &planes[1];
    assert_eq!(coronal["url"], "reformat/coronal/{n}.jpg");
    assert_eq!((coronal["frames"].as_u64(), coronal["rows"].as_u64(), coronal["columns"].as_u64()), (Some(u64::from(SIZE)), Some(u64::from(height)), Some(u64::from(SIZE))));
    assert_eq!(coronal["pixel_spacing"], serde_json::json!([0.5, 0.5]));
    // Image rows run from head to feet; planes from front to back.
    assert_eq!(coronal["column"], serde_json::json!([0.0, 0.0, -1.0]));
    assert_eq!(coronal["step"], serde_json::json!([0.0, 0.5, 0.0]));
    assert_eq!(planes[0]["url"], serde_json::Value::Null);
    server.stop().await;
}

#[tokio::test]
async fn series_that_cannot_be_reformatted_true_to_the_anatomy_are_refused() {
    let server = Server::start().await;
    let ds = |tag, value: &str| DataElement::new(tag, VR::DS, PrimitiveValue::from(value));
    put_series(&server, "few", 2, 1.0, 1.0, |_, _| {}).await;
    // Slice 10 is missing: one gap is twice the others.
    put_series(&server, "gap", SLICES, 1.0, 1.0, |_, _| {}).await;
    std::fs::remove_file(server.path("gap/010.dcm")).unwrap();
    // Each slice is 0.5 mm further back than the one above it.
    put_series(&server, "tilt", SLICES, 1.0, 1.0, |i, o| {
        o.put(ds(tags::IMAGE_POSITION_PATIENT, &format!("-16\\{}\\{}", -16.0 + 0.5 * i as f64, -(i as f64))));
    })
    .await;
    put_series(&server, "turned", SLICES, 1.0, 1.0, |i, o| {
        if i == 7 {
            o.put(ds(tags::IMAGE_ORIENTATION_PATIENT, "1\\0\\0\\0\\0.9\\-0.43589"));
        }
    })
    .await;
    put_series(&server, "sizes", SLICES, 1.0, 1.0, |_, _| {}).await;
    server.put("sizes/005.dcm", slice(5, SLICES, SIZE / 2, 1.0, 1.0, |_| {})).await;
    for i in 0..SLICES {
        let mut colour = sample::rgb_image(SIZE, SIZE, |c, r| [c as u8, r as u8, 0]);
        colour.put(ds(tags::IMAGE_POSITION_PATIENT, &format!("0\\0\\{i}")));
        colour.put(ds(tags::IMAGE_ORIENTATION_PATIENT, "1\\0\\0\\0\\1\\0"));
        colour.put(ds(tags::PIXEL_SPACING, "1\\1"));
        colour.put(DataElement::new(tags::INSTANCE_NUMBER, VR::IS, PrimitiveValue::from(format!("{}", i + 1))));
        server.put(&format!("colour/{i:03}.dcm"), sample::to_bytes(colour).unwrap()).await;
    }
    for n in 1..=4 {
        framegate::sample::write_stack_image(n, 16, &server.path(&format!("jpegs/img{n}.jpg"))).unwrap();
    }
    put_series(&server, "study/a", SLICES, 1.0, 1.0, |_, _| {}).await;
    put_series(&server, "study/b", SLICES, 1.0, 1.0, |_, _| {}).await;
    put_series(&server, "ok", SLICES, 1.0, 1.0, |_, _| {}).await;
    for (prefix, plane_name, message) in [
        ("few", "coronal", "a reformat needs at least 3 slices, the series has 2"),
        ("gap", "coronal", "the slices are not evenly spaced: gaps from 1.00 to 2.00 mm"),
        ("tilt", "coronal", "the slices are offset sideways from one to the next (gantry tilt)"),
        ("turned", "sagittal", "the slices are not parallel"),
        ("sizes", "coronal", "the slices differ in size or sample format"),
        ("colour", "coronal", "colour images are not reformatted"),
        ("jpegs", "coronal", "only DICOM series are reformatted"),
        ("study", "coronal", "the prefix holds 2 series: reformat one series' folder"),
        ("ok", "axial", "the series' own slices are the axial plane"),
    ] {
        let r = plane(&server, prefix, plane_name, 1, "").await;
        assert_eq!((r.status, r.error()), (422, message.to_owned()), "{prefix}");
        // A viewer is offered no planes for it.
        let stack = get(&server.url(prefix, prefix, "/-/stack.json")).await.json();
        // (The study's series are offered, each from its own folder.)
        if !["ok", "study"].contains(&prefix) {
            assert!(stack["series"].as_array().unwrap().iter().all(|s| s["planes"].is_null()), "{prefix} offers planes");
        }
    }
    // Each series of the study is offered from its own folder.
    let stack = get(&server.url("study", "study", "/-/stack.json")).await.json();
    assert_eq!(stack["series"][1]["planes"][1]["url"], "../b/-/reformat/coronal/{n}.jpg");
    assert_eq!(plane(&server, "study/b", "coronal", 1, "").await.status, 200);
    // Bad requests of a good series.
    let r = plane(&server, "ok", "coronal", u32::from(SIZE) + 1, "").await;
    assert_eq!((r.status, r.error()), (404, "image 33 is out of range: the coronal plane has 32".to_owned()));
    let r = plane(&server, "ok", "coronal", 1, "?overlays=true").await;
    assert_eq!((r.status, r.error()), (400, "overlays are not drawn on reformats".to_owned()));
    let r = plane(&server, "ok", "diagonal", 1, "").await;
    assert_eq!(r.status, 400);
    server.stop().await;
}

#[tokio::test]
async fn a_series_beyond_the_memory_budget_is_refused_and_a_kept_one_is_not_read_again() {
    // 48 slices of 128² 16-bit samples are 1.5 MiB; the server allows renders 1 MiB.
    let server = Server::start_with(framegate::Settings { render_memory: 1 << 20, ..Default::default() }).await;
    for i in 0..48 {
        server.put(&format!("big/{i:03}.dcm"), slice(i, 48, 128, 1.0, 1.0, |_| {})).await;
    }
    put_series(&server, "small", SLICES, 1.0, 1.0, |_, _| {}).await;
    let r = plane(&server, "big", "coronal", 1, "").await;
    assert_eq!((r.status, r.error()), (422, "this series needs 2 MiB to reformat, more than the 1 MiB the server allows".to_owned()));
    // Its frames still render one at a time.
    assert_eq!(get(&server.url("big", "big/000.dcm", "/-/frames/1.png")).await.status, 200);
    // A series that fits is read once: every other plane comes from the kept volume.
    assert_eq!(plane(&server, "small", "coronal", 1, "").await.status, 200);
    server.store.clear();
    for p in 2..=8 {
        assert_eq!(plane(&server, "small", "sagittal", p, "").await.status, 200);
    }
    for i in 0..SLICES {
        assert_eq!(server.store.reads_of(&format!("small/{i:03}.dcm")), [], "slice {i} read again");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_plane_has_a_frames_token_and_cache_rules() {
    // Versions are asked of the store on every request, so that a changed slice is seen at once.
    let server = Server::start_with(framegate::Settings { revalidate_after: std::time::Duration::ZERO, ..Default::default() }).await;
    put_series(&server, "ct/a", SLICES, 1.0, 1.0, |_, _| {}).await;
    put_series(&server, "ct/b", SLICES, 1.0, 1.0, |_, _| {}).await;
    // A token for another series opens nothing here; one for the study opens every series.
    let r = get(&server.url("ct/b", "ct/a", "/-/reformat/coronal/1.jpg")).await;
    assert_eq!((r.status, r.error()), (403, "forbidden".to_owned()));
    // A token made for another purpose (NGINX's static route, uploads) opens no plane.
    for purpose in [framegate::token::Purpose::Files, framegate::token::Purpose::Upload] {
        let token = server.keys.sign_for(purpose, &key("ct/a"), now() + 3600);
        let r = get(&format!("{}/v1/{token}/ct/a/-/reformat/coronal/1.jpg", server.base())).await;
        assert_eq!((r.status, r.error()), (403, "forbidden".to_owned()), "{purpose:?}");
    }
    let r = get(&server.url("ct", "ct/a", "/-/reformat/coronal/1.jpg")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-framegate-transcode"), Some("rendered"));
    assert!(r.header("cache-control").unwrap().contains("max-age="), "{:?}", r.header("cache-control"));
    // The ETag names the series' versions: the client's copy is good until a slice changes.
    let url = server.url("ct/a", "ct/a", "/-/reformat/coronal/1.jpg?window=40,400");
    let first = get(&url).await;
    let etag = first.header("etag").unwrap().to_owned();
    assert_eq!(request("GET", &url, &[("if-none-match", &etag)]).await.status, 304);
    assert_ne!(get(&server.url("ct/a", "ct/a", "/-/reformat/coronal/2.jpg?window=40,400")).await.header("etag"), Some(etag.as_str()));
    // Slice 0 changes: the lungs fill with water.
    server
        .put(
            "ct/a/000.dcm",
            slice(0, SLICES, SIZE, 1.0, 1.0, |o| {
                let water = vec![1024u16; usize::from(SIZE) * usize::from(SIZE)];
                o.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(water.into())));
            }),
        )
        .await;
    let after = request("GET", &url, &[("if-none-match", &etag)]).await;
    assert_eq!(after.status, 200);
    assert_ne!(after.header("etag"), Some(etag.as_str()));
    assert_ne!(after.body, first.body);
    server.stop().await;
}
