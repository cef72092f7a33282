//! Every route and every error status, over the folder store.

use super::support::*;

const SIZE: u16 = 64;

async fn ct_server(backend: Backend) -> Server {
    // The raw route hands out the stored bytes only under the `original` policy.
    let settings = framegate::Settings { raw_dicom: framegate::RawDicom::Original, ..Default::default() };
    let server = Server::start_on(backend, settings).await;
    for i in 0..3 {
        server.put_ct(&format!("ct/series1/img{}.dcm", i + 1), i, 3, SIZE).await;
    }
    server.put_ct("ct/series10/img1.dcm", 0, 1, SIZE).await;
    server
}

crate::on_both_stores!(
    frame_is_a_jpeg_of_the_windowed_slice,
    window_and_viewport_change_the_picture,
    info_describes_the_image_and_nothing_about_the_patient,
    raw_bytes_with_ranges_and_validators,
    frames_answer_if_none_match_without_rendering,
    tokens_gate_every_object_route,
    bad_requests_get_clear_answers,
    a_replaced_object_is_reindexed,
);

#[tokio::test]
async fn health() {
    let server = Server::start().await;
    let r = get(&format!("{}/healthz", server.base())).await;
    assert_eq!((r.status, &r.body[..]), (200, &b"ok\n"[..]));
    server.stop().await;
}

async fn frame_is_a_jpeg_of_the_windowed_slice(backend: Backend) {
    let server = ct_server(backend).await;
    let r = get(&server.url("ct/series1", "ct/series1/img2.dcm", "/-/frames/1.jpg?quality=100")).await;
    assert_eq!(r.status, 200);
    let (w, h, pixels) = r.jpeg();
    assert_eq!((w, h), (SIZE, SIZE));
    // The file's first window (40/400) applies by default.
    let expected: Vec<u8> = (0..SIZE).flat_map(|row| (0..SIZE).map(move |col| ct_expected(1, 3, SIZE, col, row, 40.0, 400.0))).collect();
    let diff = mean_abs_diff(&pixels, &expected);
    assert!(diff < 1.5, "mean difference {diff}");
    let len: usize = r.header("content-length").unwrap().parse().unwrap();
    assert_eq!(len, r.body.len());
    assert!(r.header("etag").unwrap().starts_with("\"f"));
    let cc = r.header("cache-control").unwrap();
    let age: u64 = cc.strip_prefix("public, max-age=").unwrap().split(',').next().unwrap().parse().unwrap();
    assert!(age <= 3600 && age > 3500, "{cc}");
    server.stop().await;
}

async fn window_and_viewport_change_the_picture(backend: Backend) {
    let server = ct_server(backend).await;
    let lung = get(&server.url("ct/series1", "ct/series1/img2.dcm", "/-/frames/1.jpg?window=-600,1500&quality=100")).await;
    let (_, _, pixels) = lung.jpeg();
    let expected: Vec<u8> = (0..SIZE).flat_map(|row| (0..SIZE).map(move |col| ct_expected(1, 3, SIZE, col, row, -600.0, 1500.0))).collect();
    assert!(mean_abs_diff(&pixels, &expected) < 1.5);
    let small = get(&server.url("ct/series1", "ct/series1/img2.dcm", "/-/frames/1.jpg?viewport=32,16")).await;
    let (w, h, _) = small.jpeg();
    assert_eq!((w, h), (16, 16));
    server.stop().await;
}

async fn info_describes_the_image_and_nothing_about_the_patient(backend: Backend) {
    let server = ct_server(backend).await;
    let r = get(&server.url("ct/series1", "ct/series1/img1.dcm", "/-/info.json")).await;
    assert_eq!(r.status, 200);
    let info = r.json();
    assert_eq!(info["frames"], 1);
    assert_eq!(info["rows"], SIZE);
    assert_eq!(info["columns"], SIZE);
    assert_eq!(info["modality"], "CT");
    assert_eq!(info["photometric_interpretation"], "MONOCHROME2");
    assert_eq!(info["transfer_syntax"]["uid"], "1.2.840.10008.1.2.1");
    assert_eq!(info["window"]["center"], 40.0);
    assert_eq!(info["window"]["width"], 400.0);
    assert_eq!(info["rescale"]["intercept"], -1024.0);
    assert_eq!(info["pixel_spacing"][0], 0.9765625);
    assert_eq!(info["burned_in_annotation"], false);
    let text = String::from_utf8_lossy(&r.body);
    for planted in framegate::sample::PLANTED {
        assert!(!text.contains(planted), "info.json leaks {planted}");
    }
    assert!(!text.contains("2.25."), "info.json leaks a UID");
    server.stop().await;
}

async fn raw_bytes_with_ranges_and_validators(backend: Backend) {
    let server = ct_server(backend).await;
    let file = framegate::sample::to_bytes(framegate::sample::ct_slice(0, 3, SIZE)).unwrap();
    let url = server.url("ct/series1", "ct/series1/img1.dcm", "");
    let whole = get(&url).await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body, file);
    assert_eq!(whole.header("content-type"), Some("application/dicom"));
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    assert!(whole.header("cache-control").unwrap().starts_with("private, max-age="));

    let part = request("GET", &url, &[("range", "bytes=128-131")]).await;
    assert_eq!(part.status, 206);
    assert_eq!(&part.body[..], b"DICM");
    assert_eq!(part.header("content-range"), Some(&*format!("bytes 128-131/{}", file.len())));
    let tail = request("GET", &url, &[("range", "bytes=-10")]).await;
    assert_eq!(tail.body, file[file.len() - 10..]);
    let past = request("GET", &url, &[("range", &format!("bytes={}-", file.len()))]).await;
    assert_eq!(past.status, 416);
    assert_eq!(past.header("content-range"), Some(&*format!("bytes */{}", file.len())));

    let etag = whole.header("etag").unwrap().to_owned();
    let again = request("GET", &url, &[("if-none-match", &etag)]).await;
    assert_eq!((again.status, again.body.len()), (304, 0));
    let stale_if_range = request("GET", &url, &[("range", "bytes=0-3"), ("if-range", "\"other\"")]).await;
    assert_eq!((stale_if_range.status, stale_if_range.body.len()), (200, file.len()));

    let head = request("HEAD", &url, &[]).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some(&*file.len().to_string()));
    assert!(head.body.is_empty());
    server.stop().await;
}

async fn frames_answer_if_none_match_without_rendering(backend: Backend) {
    let server = ct_server(backend).await;
    let url = server.url("ct/series1", "ct/series1/img1.dcm", "/-/frames/1.jpg");
    let first = get(&url).await;
    let etag = first.header("etag").unwrap().to_owned();
    server.store.clear();
    let second = request("GET", &url, &[("if-none-match", &etag)]).await;
    assert_eq!(second.status, 304);
    assert_eq!(second.header("etag"), Some(&*etag));
    assert!(server.store.reads_of("ct/series1/img1.dcm").is_empty());
    // A different rendering has a different ETag.
    let other = get(&server.url("ct/series1", "ct/series1/img1.dcm", "/-/frames/1.jpg?quality=50")).await;
    assert_ne!(other.header("etag"), Some(&*etag));
    server.stop().await;
}

async fn tokens_gate_every_object_route(backend: Backend) {
    let server = ct_server(backend).await;
    let base = server.base();
    let frame = "/-/frames/1.jpg";
    // A series token opens its files, not a sibling series whose name extends it.
    assert_eq!(get(&server.url("ct/series1", "ct/series1/img1.dcm", frame)).await.status, 200);
    let t = server.token("ct/series1");
    let r = get(&format!("{base}/v1/{t}/ct/series10/img1.dcm{frame}")).await;
    assert_eq!((r.status, r.error()), (403, "forbidden".to_owned()));
    // A file token opens exactly that file.
    let t = server.token("ct/series1/img1.dcm");
    assert_eq!(get(&format!("{base}/v1/{t}/ct/series1/img2.dcm")).await.status, 403);
    // Too shallow a key for the token's depth.
    assert_eq!(get(&format!("{base}/v1/{t}/ct/series1")).await.status, 403);
    // Tampered signature.
    let mut forged = server.token("ct/series1");
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(get(&format!("{base}/v1/{forged}/ct/series1/img1.dcm")).await.status, 403);
    // Expired, but genuine: 410 so the viewer asks for a new one.
    let expired = server.keys.sign(&key("ct/series1"), now() - 1);
    let r = get(&format!("{base}/v1/{expired}/ct/series1/img1.dcm{frame}")).await;
    assert_eq!((r.status, r.error()), (410, "token has expired".to_owned()));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    // Garbage.
    assert_eq!(get(&format!("{base}/v1/nonsense/ct/series1/img1.dcm")).await.status, 403);
    // Nothing was read for any refused request.
    assert!(server.store.reads_of("ct/series10/img1.dcm").is_empty());
    assert!(server.store.reads_of("ct/series1/img2.dcm").is_empty());
    server.stop().await;
}

async fn bad_requests_get_clear_answers(backend: Backend) {
    let server = ct_server(backend).await;
    let base = server.base();
    let t = server.token("ct");
    let cases: &[(&str, u16)] = &[
        ("/v1/{t}/ct/../etc/passwd", 400),
        ("/v1/{t}/ct/%2E%2E/x", 400),
        ("/v1/{t}/ct/a%2Fb", 400),
        ("/v1/{t}/ct/series1/img1.dcm/-/frames/0.jpg", 400),
        ("/v1/{t}/ct/series1/img1.dcm/-/frames/2.jpg", 404),
        ("/v1/{t}/ct/series1/img1.dcm/-/frames/1.jpg?window=40", 400),
        ("/v1/{t}/ct/series1/img1.dcm/-/frames/1.jpg?quality=0", 400),
        ("/v1/{t}/ct/series1/img1.dcm/-/frames/1.jpg?color=red", 400),
        ("/v1/{t}/ct/series1/img1.dcm/-/unknown", 404),
        ("/v1/{t}/ct/series1/nope.dcm", 404),
        ("/v1/{t}/ct/series1/nope.dcm/-/frames/1.jpg", 404),
        ("/v1/{t}/ct/series1", 404),
        ("/v1/{t}/ct/series1/-/info.json", 404),
        ("/v2/x", 404),
    ];
    for (path, status) in cases {
        let r = get(&format!("{base}{}", path.replace("{t}", &t))).await;
        assert_eq!(r.status, *status, "{path}: {:?}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("content-type"), Some("application/json"), "{path}");
        assert!(!r.error().is_empty(), "{path}");
    }
    let post = request("POST", &format!("{base}/healthz"), &[]).await;
    assert_eq!((post.status, post.header("allow")), (405, Some("GET, HEAD")));
    let out_of_range = get(&format!("{base}/v1/{t}/ct/series1/img1.dcm/-/frames/2.jpg")).await;
    assert_eq!(out_of_range.error(), "frame 2 is out of range: the object has 1");
    server.stop().await;
}

async fn a_replaced_object_is_reindexed(backend: Backend) {
    // With no revalidation window the very next request sees the new version (the window's
    // own behaviour is in it::revalidate).
    let server = Server::start_on(backend, framegate::Settings { revalidate_after: std::time::Duration::ZERO, ..Default::default() }).await;
    for i in 0..3 {
        server.put_ct(&format!("ct/series1/img{}.dcm", i + 1), i, 3, SIZE).await;
    }
    let url = server.url("ct", "ct/series1/img1.dcm", "/-/info.json");
    assert_eq!(get(&url).await.json()["rows"], SIZE);
    // Replace it with a bigger slice under the same name.
    std::thread::sleep(std::time::Duration::from_millis(20));
    server.put_ct("ct/series1/img1.dcm", 0, 3, 32).await;
    assert_eq!(get(&url).await.json()["rows"], 32);
    let (w, _, _) = get(&server.url("ct", "ct/series1/img1.dcm", "/-/frames/1.jpg")).await.jpeg();
    assert_eq!(w, 32);
    server.stop().await;
}

/// `--max-age`: no answer may be cached longer than it says, and never beyond its token's life,
/// for browsers (`max-age`), shared caches (`s-maxage`) and NGINX's `/auth` alike.
#[tokio::test]
async fn the_max_age_caps_how_long_any_answer_is_cached() {
    let settings = framegate::Settings { max_age: 60, raw_dicom: framegate::RawDicom::Original, ..Default::default() };
    let server = Server::start_with(settings).await;
    server.put_ct("ct/s/a.dcm", 0, 1, 16).await;
    let long = server.token("ct/s");
    let short = server.keys.sign(&key("ct/s"), now() + 30);
    let base = server.base();
    for (op, shared) in [("/-/frames/1.jpg", true), ("/-/info.json", true), ("", false)] {
        let r = get(&format!("{base}/v1/{long}/ct/s/a.dcm{op}")).await;
        assert_eq!(r.status, 200, "{op}");
        let expected = if shared { "public, max-age=60, s-maxage=60" } else { "private, max-age=60" };
        assert_eq!(r.header("cache-control"), Some(expected), "{op}: capped by --max-age");
        let r = get(&format!("{base}/v1/{short}/ct/s/a.dcm{op}")).await;
        let cc = r.header("cache-control").unwrap();
        let age: u64 = cc.split("max-age=").nth(1).and_then(|a| a.split(',').next()).unwrap().parse().unwrap();
        assert!((25..=30).contains(&age), "{op}: {cc}, capped by the token's 30 s");
    }
    let stack = get(&format!("{base}/v1/{long}/ct/s/-/stack.json")).await;
    assert!(stack.header("cache-control").is_some_and(|cc| cc.contains("max-age=60")), "{:?}", stack.header("cache-control"));
    let auth = request("GET", &format!("{base}/auth"), &[("x-original-uri", &format!("/v1/{long}/ct/s/a.dcm"))]).await;
    assert_eq!((auth.status, auth.header("x-framegate-max-age")), (204, Some("60")));
    server.stop().await;
}

/// Regression (issue 23): a radiograph's only spacing, Imager Pixel Spacing, is measured at the
/// detector, not in the patient (PS3.3 10.7.1.1); info.json gave it as plain pixel spacing.
#[tokio::test]
async fn info_says_in_which_plane_the_pixel_spacing_is_measured() {
    use dicom_core::{DataElement, VR};
    use dicom_dictionary_std::tags;
    let server = Server::start().await;
    let mut cr = framegate::sample::ct_slice(0, 1, 16);
    cr.remove_element(tags::PIXEL_SPACING);
    cr.put(DataElement::new(tags::MODALITY, VR::CS, "CR"));
    cr.put(DataElement::new(tags::IMAGER_PIXEL_SPACING, VR::DS, "0.139\\0.139"));
    server.put("sp/cr.dcm", framegate::sample::to_bytes(cr).unwrap()).await;
    server.put_ct("sp/ct.dcm", 0, 1, 16).await;
    let cr = get(&server.url("sp", "sp/cr.dcm", "/-/info.json")).await.json();
    assert_eq!((&cr["pixel_spacing"], &cr["pixel_spacing_kind"]), (&serde_json::json!([0.139, 0.139]), &serde_json::json!("detector")));
    let ct = get(&server.url("sp", "sp/ct.dcm", "/-/info.json")).await.json();
    assert_eq!(ct["pixel_spacing_kind"], "patient");
    server.stop().await;
}
