//! The viewer's reformats (issue 27, feature 1): on a phone, the plane control switches a CT
//! series to its coronal plane, a swipe scrolls it like any stack, the reference lines show
//! where the axial slice and the sagittal plane cross it, and letters and scale bar follow.

use std::time::Duration;

use fantoccini::actions::{InputSource, PointerAction, TouchActions};
use fantoccini::{Client, Locator};

use super::browser::{browser_at, screenshot_path};
use super::support::*;
use super::viewer::{ct_series, js, until};

/// A finger drag on the image from its centre by `by` CSS pixels.
async fn swipe(client: &Client, by: f64) {
    let canvas = client.find(Locator::Id("canvas")).await.unwrap();
    let drag = TouchActions::new("finger".into())
        .then(PointerAction::MoveToElement { element: canvas, duration: None, x: 0.0, y: 0.0 })
        .then(PointerAction::Down { button: 0 })
        .then(PointerAction::MoveBy { duration: Some(Duration::from_millis(400)), x: 0.0, y: by })
        .then(PointerAction::Up { button: 0 });
    client.perform_actions(drag).await.unwrap();
}

#[tokio::test]
async fn a_phone_switches_to_coronal_scrolls_it_and_sees_where_the_other_planes_cross() {
    let Some((_driver, client)) = browser_at(390, 844, true, 3.0).await else { return skip("chromium and chromedriver") };
    let server = Server::start().await;
    // 60 slices 2.5 mm apart of 256² pixels of 0.977 mm: a coronal plane is 256 × 152 pixels.
    ct_series(&server, "ct", 60, 256).await;
    client.goto(&server.url("ct", "ct", "/-/view")).await.unwrap();
    until(&client, "the first frame", |s| s["shownIndex"] == 0).await;
    // The axial slice 30 is where the radiologist is.
    js(&client, "go(29)").await;
    until(&client, "slice 30", |s| s["shownIndex"] == 29).await;
    // The plane control sits under the image beside the slice controls, big enough for a
    // finger, and lists the planes.
    let control = js(
        &client,
        "const r = document.getElementById('plane').getBoundingClientRect(), h = document.querySelector('footer').getBoundingClientRect();
        return { h: r.height, inside: r.top >= h.top && r.bottom <= h.bottom && r.width > 0, options: [...document.getElementById('plane').options].map(o => o.textContent) };",
    )
    .await;
    assert!(control["h"].as_f64().unwrap() >= 44.0, "{control}");
    assert_eq!(control["inside"], true, "{control}");
    assert_eq!(control["options"], serde_json::json!(["Axial", "Coronal", "Sagittal", "Oblique 45°"]));
    client.find(Locator::Id("plane")).await.unwrap().select_by_value("coronal").await.unwrap();
    let s = until(&client, "the middle coronal image", |s| s["shownIndex"] == 128 && s["count"] == 256).await;
    assert!(s["shown"].as_str().unwrap().ends_with("reformat/coronal/129.jpg"), "{s}");
    assert_eq!(s["thickness"], "Coronal");
    assert_eq!(s["counter"], "129 / 256");
    // The reformat keeps the anatomy's aspect: 256 × 152, rows 2.5 mm apart stretched to 0.977 mm.
    let image = js(&client, "return { w: displayed.bitmap.width, h: displayed.bitmap.height, rows: displayed.entry.rows, columns: displayed.entry.columns }").await;
    assert_eq!((image["columns"].as_u64(), image["rows"].as_u64()), (Some(256), Some(152)), "{image}");
    let ratio = image["w"].as_f64().unwrap() / image["h"].as_f64().unwrap();
    assert!((ratio - 256.0 / 152.0).abs() < 0.02, "fetched at {image}");
    // Head at the top, the patient's right on the left; the scale bar measures 0.977 mm pixels.
    assert_eq!(s["markers"], serde_json::json!({ "left": "R", "right": "L", "top": "H", "bottom": "F" }));
    let scale = js(&client, "return drawScale(displayed.entry) / 0.9765625 * fg.scaleBar.mm / fg.scaleBar.px").await;
    assert!((scale.as_f64().unwrap() - 1.0).abs() < 1e-6, "the scale bar is off by {scale}");
    // The axial slice 30 crosses it 29 × 2.5 mm below the top; the sagittal plane, not yet
    // looked at, through the middle column.
    let lines = js(&client, "return fg.refLines").await;
    let line = |name: &str| lines.as_array().unwrap().iter().find(|l| l["name"] == name).unwrap_or_else(|| panic!("no {name} line in {lines}")).clone();
    let axial = line("axial");
    let depth = 29.0 * 2.5 / 0.9765625;
    for end in ["a", "b"] {
        assert!((axial[end]["y"].as_f64().unwrap() - depth).abs() < 1e-6, "{axial}");
    }
    assert_eq!((axial["a"]["x"].as_f64(), axial["b"]["x"].as_f64()), (Some(0.0), Some(255.0)));
    let sagittal = line("sagittal");
    assert_eq!((sagittal["a"]["x"].as_f64(), sagittal["b"]["x"].as_f64()), (Some(128.0), Some(128.0)), "{sagittal}");
    // Those lines are on screen: the axial one's blue along its row.
    let blue = js(&client, "const m = new DOMMatrix().scale(devicePixelRatio).multiply(imageMatrix(displayed.entry)), p = m.transformPoint({ x: 64.5, y: fg.refLines.find(l => l.name === 'axial').a.y + 0.5 });
        const d = ctx2d.getImageData(Math.round(p.x) - 6, Math.round(p.y) - 2, 12, 5).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i + 2] > 200 && d[i] < 120) n++; return n;").await;
    assert!(blue.as_u64().unwrap() > 0, "no blue axial line drawn");
    // A swipe scrolls the coronal stack like any other.
    swipe(&client, -150.0).await;
    let s = until(&client, "a swipe through the coronal planes", |s| s["shownIndex"].as_u64().is_some_and(|i| i != 128) && s["shown"] == s["expected"]).await;
    let moved = s["shownIndex"].as_u64().unwrap();
    assert!(moved.abs_diff(128) >= 5, "{s}");
    assert!(s["shown"].as_str().unwrap().ends_with(&format!("reformat/coronal/{}.jpg", moved + 1)), "{s}");
    std::fs::write(screenshot_path("viewer-phone-coronal.png"), client.screenshot().await.unwrap()).unwrap();
    // On the axial slice again, the coronal plane crosses at the row it was scrolled to.
    client.find(Locator::Id("plane")).await.unwrap().select_by_value("axial").await.unwrap();
    until(&client, "slice 30 again", |s| s["shownIndex"] == 29 && s["count"] == 60).await;
    let coronal = js(&client, "return fg.refLines.find(l => l.name === 'coronal')").await;
    assert_eq!((coronal["a"]["y"].as_f64(), coronal["b"]["y"].as_f64()), (Some(moved as f64), Some(moved as f64)), "{coronal}");
    std::fs::write(screenshot_path("viewer-phone-axial-lines.png"), client.screenshot().await.unwrap()).unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_sideways_phone_keeps_the_plane_control_in_reach_and_the_image_its_height() {
    let Some((_driver, client)) = browser_at(844, 390, true, 3.0).await else { return skip("chromium and chromedriver") };
    let server = Server::start().await;
    ct_series(&server, "ct", 60, 256).await;
    client.goto(&server.url("ct", "ct", "/-/view")).await.unwrap();
    until(&client, "the first frame", |s| s["shownIndex"] == 0).await;
    client.find(Locator::Id("plane")).await.unwrap().select_by_value("sagittal").await.unwrap();
    let s = until(&client, "the middle sagittal image", |s| s["shownIndex"] == 128 && s["shown"] == s["expected"]).await;
    // Front on the left, head at the top.
    assert_eq!(s["markers"], serde_json::json!({ "left": "A", "right": "P", "top": "H", "bottom": "F" }));
    let layout = js(
        &client,
        "const r = document.getElementById('plane').getBoundingClientRect(), c = document.getElementById('canvas').getBoundingClientRect();
        return { plane: [r.left, r.top, r.right, r.bottom], canvas: [c.width, c.height], vw: innerWidth, vh: innerHeight };",
    )
    .await;
    let plane: Vec<f64> = layout["plane"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let (vw, vh) = (layout["vw"].as_f64().unwrap(), layout["vh"].as_f64().unwrap());
    assert!(plane[0] >= 0.0 && plane[1] >= 0.0 && plane[2] <= vw && plane[3] <= vh && plane[3] - plane[1] >= 44.0, "the plane control is out of reach: {layout}");
    // The controls sit beside the image, which keeps the screen's whole height.
    assert_eq!(layout["canvas"][1].as_f64(), Some(vh), "{layout}");
    std::fs::write(screenshot_path("viewer-phone-landscape-sagittal.png"), client.screenshot().await.unwrap()).unwrap();
    server.stop().await;
}
