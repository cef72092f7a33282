//! The region route: modality values under a point, rectangle or ellipse, against a CT whose
//! values are known (tests/it/fixtures.rs `hu_square`), with its bounds and token rules.

use super::fixtures::{hu_square, hu_square_value};
use super::support::*;
use framegate::sample;

const SIZE: u16 = 64;
/// The fixture's pixel spacing, both ways, in mm.
const SPACING: f64 = 0.9765625;

async fn hu_server() -> Server {
    let server = Server::start().await;
    server.put("ct/s1/1.dcm", hu_square(0, 2, SIZE)).await;
    server.put("ct/s1/2.dcm", hu_square(1, 2, SIZE)).await;
    server.put("rgb/1.dcm", sample::to_bytes(sample::rgb_image(8, 8, |c, r| [c as u8, r as u8, 0])).unwrap()).await;
    server
}

async fn region(server: &Server, k: &str, frame: u32, query: &str) -> Resp {
    get(&server.url("ct", k, &format!("/-/frames/{frame}/region?{query}"))).await
}

#[tokio::test]
async fn a_point_answers_its_pixels_hounsfield_units() {
    let server = hu_server().await;
    for (x, y) in [(16.5, 16.5), (17.2, 16.9), (40.0, 3.0), (0.0, 0.0), (63.99, 63.99)] {
        let r = region(&server, "ct/s1/2.dcm", 1, &format!("shape=point&x={x}&y={y}")).await;
        assert_eq!(r.status, 200, "{}", r.error());
        assert_eq!(r.header("content-type"), Some("application/json"));
        let v = r.json();
        let want = f64::from(hu_square_value(1, SIZE, x as u16, y as u16));
        assert_eq!((v["count"].as_u64(), v["mean"].as_f64(), v["unit"].as_str()), (Some(1), Some(want), Some("HU")), "({x}, {y})");
        assert_eq!(v["area_mm2"].as_f64(), Some(SPACING * SPACING));
    }
    server.stop().await;
}

#[tokio::test]
async fn a_rectangle_and_an_ellipse_answer_mean_sd_extremes_and_area() {
    let server = hu_server().await;
    // The square, 16 to 32 on both axes: mean 100 + 10 HU on slice 2, SD 10, 256 pixels.
    for (file, mean) in [("ct/s1/1.dcm", 100.0), ("ct/s1/2.dcm", 110.0)] {
        let v = region(&server, file, 1, "shape=rect&x0=16&y0=16&x1=32&y1=32").await.json();
        assert_eq!(v["count"], 256);
        assert!((v["mean"].as_f64().unwrap() - mean).abs() < 1e-9, "{v}");
        assert!((v["sd"].as_f64().unwrap() - 10.0).abs() < 1e-9, "{v}");
        assert_eq!((v["min"].as_f64(), v["max"].as_f64()), (Some(mean - 10.0), Some(mean + 10.0)));
        assert!((v["area_mm2"].as_f64().unwrap() - 256.0 * SPACING * SPACING).abs() < 1e-9);
    }
    // The ellipse inscribed in it: the 208 pixels whose centres lie within 8 pixels of (24, 24).
    let v = region(&server, "ct/s1/1.dcm", 1, "shape=ellipse&x0=32&y0=32&x1=16&y1=16").await.json();
    assert_eq!(v["count"], 208);
    assert_eq!((v["min"].as_f64(), v["max"].as_f64()), (Some(90.0), Some(110.0)));
    // Half in air: a rectangle across the square's edge mixes -1000 and the square.
    let v = region(&server, "ct/s1/1.dcm", 1, "shape=rect&x0=8&y0=16&x1=24&y1=18").await.json();
    assert_eq!(v["count"], 32);
    assert_eq!((v["min"].as_f64(), v["max"].as_f64()), (Some(-1000.0), Some(110.0)));
    assert!((v["mean"].as_f64().unwrap() - (16.0 * -1000.0 + 16.0 * 100.0) / 32.0).abs() < 1e-9);
    server.stop().await;
}

#[tokio::test]
async fn regions_off_the_image_and_bad_queries_are_refused_and_huge_ones_are_clipped() {
    let server = hu_server().await;
    let status = |q: &'static str| {
        let server = &server;
        async move { region(server, "ct/s1/1.dcm", 1, q).await }
    };
    for q in [
        "shape=point&x=64&y=0",
        "shape=point&x=-0.5&y=3",
        "shape=rect&x0=70&y0=0&x1=90&y1=10",
        "shape=ellipse&x0=-30&y0=-30&x1=-1&y1=-1",
        "shape=rect&x0=3.6&y0=3.6&x1=3.9&y1=3.9",
        "shape=point&x=1",
        "shape=blob&x=1&y=1",
        "shape=point&x=1e9&y=1",
        "shape=point&x=1&y=1&window=40,400",
        "",
    ] {
        let r = status(q).await;
        assert_eq!(r.status, 400, "{q}: {}", r.error());
        assert!(!r.error().is_empty() && r.error() == r.error().to_lowercase(), "{q}: {}", r.error());
    }
    assert_eq!(status("shape=point&x=64&y=0").await.error(), "the region covers no pixel of the image");
    // A region far larger than the image measures the image, no more.
    let v = status("shape=rect&x0=-99999999999&y0=-99999999999&x1=99999999999&y1=99999999999").await.json();
    assert_eq!(v["count"], u64::from(SIZE) * u64::from(SIZE));
    assert_eq!(region(&server, "ct/s1/1.dcm", 2, "shape=point&x=1&y=1").await.status, 404);
    assert_eq!(region(&server, "ct/s1/1.dcm", 0, "shape=point&x=1&y=1").await.status, 400);
    let r = get(&server.url("rgb", "rgb/1.dcm", "/-/frames/1/region?shape=point&x=1&y=1")).await;
    assert_eq!((r.status, r.error().as_str()), (400, "values can only be measured on grey images, not rgb"));
    server.stop().await;
}

#[tokio::test]
async fn the_region_route_keeps_the_token_rules_and_answers_numbers_only() {
    let server = hu_server().await;
    let path = "ct/s1/1.dcm/-/frames/1/region?shape=point&x=20&y=20";
    // A token for another prefix, a forged one, an expired one.
    assert_eq!(get(&format!("http://{}/v1/{}/{path}", server.addr, server.token("rgb"))).await.status, 403);
    assert_eq!(get(&format!("http://{}/v1/{}x/{path}", server.addr, server.token("ct"))).await.status, 403);
    let expired = server.keys.sign(&key("ct"), now() - 10);
    assert_eq!(get(&format!("http://{}/v1/{expired}/{path}", server.addr)).await.status, 410);
    let r = get(&format!("http://{}/v1/{}/{path}", server.addr, server.token("ct"))).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["area_mm2", "count", "max", "mean", "min", "sd", "unit"]);
    // The answer is cached as a frame is, by its validator.
    let etag = r.header("etag").unwrap().to_owned();
    let again = request("GET", &format!("http://{}/v1/{}/{path}", server.addr, server.token("ct")), &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, 304);
    server.stop().await;
}
