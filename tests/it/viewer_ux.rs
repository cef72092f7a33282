//! The viewer after the UX review (issue 27): the image keeps the screen on a sideways phone and
//! a tablet, never shows at the wrong aspect, the page never zooms, the network heals by itself,
//! measuring works by finger, a double tap keeps the work, series keep their place, the keyboard
//! keeps working, help fits. Each test failed on the viewer before the review's fixes.

use std::time::Duration;

use fantoccini::actions::{InputSource, KeyAction, KeyActions, MOUSE_BUTTON_LEFT, MouseActions, PointerAction, TouchActions};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use super::browser::{browser, browser_at, screenshot_path};
use super::support::*;
use super::viewer::{Cdp, ct_series, js, until, view};

/// The viewer of folder `prefix` open, its first frame shown.
pub(super) async fn open_viewer(client: &Client, server: &Server, prefix: &str) {
    client.goto(&server.url(prefix, prefix, "/-/view")).await.unwrap();
    until(client, "the first frame", |s| s["shownIndex"] == 0).await;
}

/// A phone (390×844 at DPR 3) showing the first of `slices` CT slices of `size`² in the viewer.
async fn phone_on_a_ct_series(slices: usize, size: u16) -> Option<(super::browser::Driver, Client, Server)> {
    let (driver, client) = browser_at(390, 844, true, 3.0).await?;
    let server = Server::start().await;
    ct_series(&server, "ct", slices, size).await;
    open_viewer(&client, &server, "ct").await;
    Some((driver, client, server))
}

/// Takes the page's network down (`true`) or brings it back, as DevTools' "Offline" does.
async fn offline(client: &Client, on: bool) {
    client.issue_cmd(Cdp("Network.enable", json!({}))).await.unwrap();
    let params = json!({ "offline": on, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1 });
    client.issue_cmd(Cdp("Network.emulateNetworkConditions", params)).await.unwrap();
}

/// Runs `script` once the browser has laid out and painted twice: what a person sees next.
pub(super) async fn after_paint(client: &Client, script: &str) -> Value {
    js(client, &format!("return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r((() => {{ {script} }})()))))")).await
}

/// Where the image and the overlays are on screen: the canvas' box, the viewport, and which
/// overlays (corner texts, orientation letters, the scale bar) meet one another, leave the
/// canvas or lie under a toolbar.
pub(super) const LAYOUT: &str = "
    const $ = (id) => document.getElementById(id);
    const box = (el) => { const r = el.getBoundingClientRect(); return { l: r.left, t: r.top, r: r.right, b: r.bottom, w: r.width, h: r.height }; };
    const visible = (el) => el && !el.hidden && el.getClientRects().length > 0 && el.textContent.trim() !== '';
    const c = box($('canvas')), items = [];
    for (const sel of ['.ov.tl', '.ov.tr', '.ov.bl', '.ov.br', '#mk-left', '#mk-right', '#mk-top', '#mk-bottom']) {
      const el = document.querySelector(sel); if (visible(el)) items.push([sel, box(el)]);
    }
    if (fg.scaleBar) {
      const s = fg.scaleBar.rect || { x: c.w - 16 - fg.scaleBar.px - 12, y: c.h - 38, w: fg.scaleBar.px + 24, h: 21 };
      items.push(['scale bar', { l: c.l + s.x, t: c.t + s.y, r: c.l + s.x + s.w, b: c.t + s.y + s.h }]);
    }
    const meet = (a, b) => a.l < b.r && b.l < a.r && a.t < b.b && b.t < a.b;
    const overlaps = [];
    for (let i = 0; i < items.length; i++) for (let j = i + 1; j < items.length; j++) if (meet(items[i][1], items[j][1])) overlaps.push(items[i][0] + ' / ' + items[j][0]);
    const outside = items.filter(([, r]) => r.l < c.l - 1 || r.t < c.t - 1 || r.r > c.r + 1 || r.b > c.b + 1).map(([n]) => n);
    const chrome = ['header', 'footer', '#seriesbar'].map((s) => document.querySelector(s)).filter((e) => !e.hidden && e.getClientRects().length && meet(box(e), c)).map((e) => e.tagName);
    return { canvas: c, vw: innerWidth, vh: innerHeight, overlaps, outside, chrome, items };";

/// A CT series of `slices` with slice `skip` (from 1) left out: a gap.
async fn ct_with_gap(server: &Server, prefix: &str, slices: usize, skip: usize) {
    for i in 0..slices {
        if i + 1 != skip {
            server.put_ct(&format!("{prefix}/slice{:03}.dcm", i + 1), i, slices, 256).await;
        }
    }
}

async fn layout_server() -> Server {
    let server = Server::start().await;
    ct_series(&server, "one", 20, 256).await;
    ct_with_gap(&server, "study/1-ct", 12, 5).await;
    ct_series(&server, "study/2-ct", 8, 256).await;
    server.put("study/3-xa/cine.dcm", framegate::sample::to_bytes(framegate::sample::cine(8, 128)).unwrap()).await;
    server
}

#[tokio::test]
async fn a_sideways_phone_and_a_tablet_give_the_image_the_screen_and_overlays_never_overlap() {
    let server = layout_server().await;
    // (width, height, device pixel ratio, the screenshot's name, notch insets left/right and bottom)
    for (w, h, dpr, name, notch) in [(844, 390, 3.0, "landscape", 0), (844, 390, 3.0, "landscape-notch", 47), (768, 1024, 2.0, "tablet", 0), (390, 844, 3.0, "phone", 0)] {
        let Some((_driver, client)) = browser_at(w, h, true, dpr).await else { return };
        if notch > 0 {
            // An iPhone on its side: the notch on one side, the home bar at the bottom.
            let insets = json!({ "insets": { "top": 0, "left": notch, "right": notch, "bottom": 21 } });
            client.issue_cmd(Cdp("Emulation.setSafeAreaInsetsOverride", insets)).await.unwrap();
        }
        for folder in ["one", "study"] {
            client.goto(&server.url(folder, folder, "/-/view")).await.unwrap();
            until(&client, "the first frame", |s| s["shownIndex"] == 0).await;
            let slices: &[u64] = if folder == "study" { &[0, 4] } else { &[0] };
            for &slice in slices {
                // Slice 5 of the study's first series follows a gap: its label is the longest.
                js(&client, &format!("go({slice})")).await;
                let s = until(&client, "the slice", |s| s["shownIndex"] == slice && s["shown"].is_string()).await;
                if slice == 4 {
                    assert_eq!(s["gap"], "Gap: 1 missing before this image");
                }
                let l = after_paint(&client, LAYOUT).await;
                let (cw, ch, vw, vh) = (l["canvas"]["w"].as_f64().unwrap(), l["canvas"]["h"].as_f64().unwrap(), l["vw"].as_f64().unwrap(), l["vh"].as_f64().unwrap());
                match name {
                    "landscape" | "landscape-notch" => assert!(ch >= 0.7 * vh, "{w}×{h} {folder}: the canvas is {cw}×{ch} of {vw}×{vh}"),
                    "tablet" => assert!(cw * ch >= 0.6 * vw * vh, "{w}×{h} {folder}: the canvas is {cw}×{ch} of {vw}×{vh}"),
                    _ => assert!(cw * ch >= 0.5 * vw * vh, "{w}×{h} {folder}: the canvas is {cw}×{ch} of {vw}×{vh}"),
                }
                assert_eq!(l["overlaps"], json!([]), "{w}×{h} {folder} slice {}: overlays overlap: {l}", slice + 1);
                assert_eq!(l["outside"], json!([]), "{w}×{h} {folder} slice {}: overlays leave the image: {l}", slice + 1);
                assert_eq!(l["chrome"], json!([]), "{w}×{h} {folder}: a toolbar lies over the image: {l}");
            }
            std::fs::write(screenshot_path(&format!("viewer-ux-{name}-{folder}.png")), client.screenshot().await.unwrap()).unwrap();
        }
        // Embedded without controls, the image has the whole screen, whatever the layout.
        client.goto(&format!("{}?controls=none", server.url("study", "study", "/-/view"))).await.unwrap();
        until(&client, "the first frame, bare", |s| s["shownIndex"] == 0).await;
        let l = after_paint(&client, LAYOUT).await;
        let (cw, ch, vw, vh) = (l["canvas"]["w"].as_f64().unwrap(), l["canvas"]["h"].as_f64().unwrap(), l["vw"].as_f64().unwrap(), l["vh"].as_f64().unwrap());
        let notch = f64::from(notch);
        assert!(cw >= vw - 2.0 * notch - 1.0 && ch >= vh - 22.0, "{w}×{h} without controls: the canvas is {cw}×{ch} of {vw}×{vh}");
        client.close().await.unwrap();
    }
    server.stop().await;
}

#[tokio::test]
async fn opening_and_closing_tools_on_a_phone_keeps_the_image_aspect() {
    let server = Server::start().await;
    ct_series(&server, "ct", 3, 512).await;
    for (w, h, dpr) in [(390, 844, 3.0), (360, 640, 2.0)] {
        let Some((_driver, client)) = browser_at(w, h, true, dpr).await else { return };
        open_viewer(&client, &server, "ct").await;
        for step in ["open", "close", "open"] {
            client.find(Locator::Id("more")).await.unwrap().click().await.unwrap();
            let ratios = after_paint(
                &client,
                "const c = document.getElementById('canvas'), b = c.getBoundingClientRect(); return [c.width / c.height, b.width / b.height, c.width, c.height, b.width, b.height]",
            )
            .await;
            let (buffer, shown) = (ratios[0].as_f64().unwrap(), ratios[1].as_f64().unwrap());
            assert!((buffer / shown - 1.0).abs() < 0.01, "{w}×{h}, tools {step}: a {}×{} buffer shown in a {}×{} box", ratios[2], ratios[3], ratios[4], ratios[5]);
        }
        client.close().await.unwrap();
    }
    server.stop().await;
}

/// Two fingers on `element`, `from` CSS px either side of its centre, moving apart by `by`.
async fn pinch(client: &Client, element: &fantoccini::elements::Element, from: f64, by: f64) {
    let finger = |id: &str, dx: f64| {
        TouchActions::new(id.into())
            .then(PointerAction::MoveToElement { element: element.clone(), duration: None, x: dx, y: 0.0 })
            .then(PointerAction::Down { button: 0 })
            .then(PointerAction::MoveBy { duration: Some(Duration::from_millis(300)), x: dx.signum() * by, y: 0.0 })
            .then(PointerAction::Up { button: 0 })
    };
    client.perform_actions(fantoccini::actions::Actions::from(finger("f1", -from)).and(finger("f2", from))).await.unwrap();
}

#[tokio::test]
async fn a_pinch_on_the_series_strip_or_the_header_does_not_zoom_the_page() {
    let Some((_driver, client)) = browser_at(390, 844, true, 3.0).await else { return };
    let server = layout_server().await;
    open_viewer(&client, &server, "study").await;
    for target in ["seriesbar", "header", "footer"] {
        let element = client.find(Locator::Css(&format!("#{target}, {target}"))).await.unwrap();
        pinch(&client, &element, 30.0, 90.0).await;
        let scale = after_paint(&client, "return visualViewport.scale").await;
        assert_eq!(scale.as_f64(), Some(1.0), "a pinch on the {target} zoomed the page");
    }
    // On the image, a pinch zooms the image, not the page.
    let canvas = client.find(Locator::Id("canvas")).await.unwrap();
    pinch(&client, &canvas, 30.0, 90.0).await;
    until(&client, "the image zoomed", |s| s["zoom"].as_f64() > Some(1.5)).await;
    assert_eq!(js(&client, "return visualViewport.scale").await.as_f64(), Some(1.0));
    client.close().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_network_failure_says_offline_and_heals_when_the_connection_returns() {
    let Some((_driver, client)) = browser(1024, 700, false).await else { return };
    let server = Server::start().await;
    ct_series(&server, "ct", 40, 128).await;
    open_viewer(&client, &server, "ct").await;
    until(&client, "the prefetch", |s| s["requested"].as_u64() >= Some(11)).await;
    super::support::until("the prefetch to finish", PATIENCE, || async {
        match js(&client, "return [...cache.values()].filter((c) => c.promise).length").await {
            n if n == 0 => Ok(()),
            n => Err(format!("{n} frames still on their way")),
        }
    })
    .await;

    offline(&client, true).await;
    // Straight to the end: nothing there is cached. The message says what happened and what
    // will happen, soon, not after a long "Loading".
    js(&client, "go(39)").await;
    let s = until(&client, "the offline message", |s| s["frameError"].as_str().is_some_and(|t| t.contains("offline"))).await;
    let text = s["frameError"].as_str().unwrap();
    assert!(text.contains("when the connection returns") && !text.contains("Scroll on"), "{s}");
    js(&client, "go(37)").await;
    until(&client, "slice 38 offline too", |s| s["shownIndex"] == 37 && s["frameError"].as_str().is_some_and(|t| t.contains("offline"))).await;
    std::fs::write(screenshot_path("viewer-ux-offline.png"), client.screenshot().await.unwrap()).unwrap();

    // Back online: the slice on screen comes by itself, and so do the others that failed.
    offline(&client, false).await;
    let s = until(&client, "slice 38 by itself", |s| s["shownIndex"] == 37 && s["frameError"].is_null() && s["shown"].is_string()).await;
    assert_eq!(s["counter"], "38 / 40");
    js(&client, "go(39)").await;
    until(&client, "slice 40 without a retry", |s| s["shownIndex"] == 39 && s["frameError"].is_null() && s["shown"].is_string()).await;
    client.close().await.unwrap();
    server.stop().await;
}

/// One finger on the canvas at `from` (CSS px from its centre), dragged by `by`.
pub(super) async fn finger_drag(client: &Client, from: (f64, f64), by: (f64, f64)) {
    let canvas = client.find(Locator::Id("canvas")).await.unwrap();
    let drag = TouchActions::new("finger".into())
        .then(PointerAction::MoveToElement { element: canvas, duration: None, x: from.0, y: from.1 })
        .then(PointerAction::Down { button: 0 })
        .then(PointerAction::MoveBy { duration: Some(Duration::from_millis(300)), x: by.0, y: by.1 })
        .then(PointerAction::Up { button: 0 });
    client.perform_actions(drag).await.unwrap();
}

/// Chooses `tool` from the Tools menu, opening it first unless it is open, as a finger does.
pub(super) async fn choose_tool(client: &Client, tool: &str) {
    if js(client, &format!("return document.getElementById('{tool}').getClientRects().length === 0")).await == true {
        client.find(Locator::Id("more")).await.unwrap().click().await.unwrap();
    }
    client.find(Locator::Id(tool)).await.unwrap().click().await.unwrap();
}

#[tokio::test]
async fn a_finger_moves_an_end_point_deletes_one_line_and_the_menu_gets_out_of_the_way() {
    let Some((_driver, client, server)) = phone_on_a_ct_series(3, 256).await else { return };
    choose_tool(&client, "measure").await;
    // Measuring happens on the image: the menu that covered it has closed.
    let menu = after_paint(&client, "return [fg.measuring, document.getElementById('tools').getClientRects().length > 0]").await;
    assert_eq!(menu, json!([true, false]), "measuring, and the tools menu closed");

    finger_drag(&client, (-80.0, 0.0), (160.0, 0.0)).await;
    let s = until(&client, "a line", |s| s["measures"] == 1 && s["length"] != "").await;
    let first = js(&client, "return fg.measures[0]").await;
    // The end point under the finger moves; no second line starts.
    finger_drag(&client, (80.0, 0.0), (0.0, 60.0)).await;
    let s2 = until(&client, "the end point moved", |x| x["length"] != s["length"]).await;
    assert_eq!(s2["measures"], 1, "dragging an end point started a new line: {s2}");
    let moved = js(&client, "return fg.measures[0]").await;
    assert_eq!(moved["a"], first["a"], "the other end stays");
    assert!((moved["b"]["y"].as_f64().unwrap() - first["b"]["y"].as_f64().unwrap()).abs() > 10.0, "{first} → {moved}");

    // While a finger holds an end point, a loupe beside it shows what lies under the fingertip.
    let canvas = client.find(Locator::Id("canvas")).await.unwrap();
    let hold = TouchActions::new("finger".into())
        .then(PointerAction::MoveToElement { element: canvas, duration: None, x: -80.0, y: 0.0 })
        .then(PointerAction::Down { button: 0 })
        .then(PointerAction::MoveBy { duration: Some(Duration::from_millis(200)), x: -10.0, y: 10.0 });
    client.perform_actions(hold).await.unwrap();
    let ring = after_paint(
        &client,
        "if (!fg.loupe) return null; const c = document.getElementById('canvas'), d = devicePixelRatio, r = 50 * d;
        const x = fg.loupe.x * d, y = fg.loupe.y * d, cy = y - 2 * r > r ? y - 2 * r : y + 2 * r;
        return [...c.getContext('2d').getImageData(Math.round(x), Math.round(cy - r), 1, 1).data].slice(0, 3)",
    )
    .await;
    std::fs::write(screenshot_path("viewer-ux-loupe.png"), client.screenshot().await.unwrap()).unwrap();
    client.release_actions().await.unwrap();
    let ring: Vec<u64> = serde_json::from_value(ring.clone()).unwrap_or_else(|_| panic!("no loupe while dragging: {ring}"));
    assert!(ring[0] > 200 && ring[1] > 170 && ring[2] < 120, "the loupe's yellow ring is not drawn: {ring:?}");
    until(&client, "the loupe gone", |s| s["measures"] == 1).await;
    assert_eq!(js(&client, "return fg.loupe").await, Value::Null);
    let moved = js(&client, "return fg.measures[0]").await;

    // A second line, selected as it is drawn; Delete line removes it alone.
    finger_drag(&client, (-60.0, 150.0), (100.0, 0.0)).await;
    until(&client, "two lines", |s| s["measures"] == 2).await;
    std::fs::write(screenshot_path("viewer-ux-measure.png"), client.screenshot().await.unwrap()).unwrap();
    client.find(Locator::Id("delete")).await.unwrap().click().await.unwrap();
    let s = until(&client, "one line deleted", |s| s["measures"] == 1).await;
    assert_eq!(js(&client, "return fg.measures[0]").await, moved, "{s}");
    client.close().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_double_tap_fits_the_image_and_keeps_the_lines_and_the_window() {
    let Some((_driver, client, server)) = phone_on_a_ct_series(3, 256).await else { return };
    choose_tool(&client, "measure").await;
    finger_drag(&client, (-80.0, 0.0), (160.0, 0.0)).await;
    until(&client, "a line", |s| s["measures"] == 1).await;
    choose_tool(&client, "measure").await;
    client.find(Locator::Id("preset")).await.unwrap().select_by_value("-600,1500").await.unwrap();
    until(&client, "the lung window", |s| s["wl"] == "W 1500 L -600").await;
    let canvas = client.find(Locator::Id("canvas")).await.unwrap();
    pinch(&client, &canvas, 30.0, 90.0).await;
    until(&client, "zoomed in", |s| s["zoom"].as_f64() > Some(1.5)).await;
    let tap = TouchActions::new("tap".into())
        .then(PointerAction::MoveToElement { element: canvas, duration: None, x: 10.0, y: 10.0 })
        .then(PointerAction::Down { button: 0 })
        .then(PointerAction::Up { button: 0 })
        .then(PointerAction::Pause { duration: Duration::from_millis(80) })
        .then(PointerAction::Down { button: 0 })
        .then(PointerAction::Up { button: 0 });
    client.perform_actions(tap).await.unwrap();
    let s = until(&client, "fitted", |s| s["zoom"] == 1.0).await;
    assert_eq!((s["measures"].clone(), s["wl"].clone()), (json!(1), json!("W 1500 L -600")), "a double tap lost work: {s}");
    client.close().await.unwrap();
    server.stop().await;
}

/// A CT series of `slices` with Series Number `number`.
async fn numbered_series(server: &Server, prefix: &str, slices: usize, number: i32) {
    for i in 0..slices {
        let mut obj = framegate::sample::ct_slice(i, slices, 64);
        obj.put(dicom_core::DataElement::new(dicom_dictionary_std::tags::SERIES_NUMBER, dicom_core::VR::IS, dicom_core::PrimitiveValue::from(number.to_string())));
        server.put(&format!("{prefix}/slice{:03}.dcm", i + 1), framegate::sample::to_bytes(obj).unwrap()).await;
    }
}

#[tokio::test]
async fn switching_series_keeps_each_ones_slice_and_window_and_names_it() {
    let Some((_driver, client)) = browser(1280, 800, false).await else { return };
    let server = Server::start().await;
    numbered_series(&server, "study/chest", 8, 3).await;
    numbered_series(&server, "study/neck", 6, 7).await;
    open_viewer(&client, &server, "study").await;
    let label = || js(&client, "return document.getElementById('series-label').textContent");
    assert_eq!(label().await, "Series 3 · chest · CT");
    js(&client, "go(3)").await;
    super::viewer::typ(&client, "2").await;
    until(&client, "slice 4 in the lung window", |s| s["shownIndex"] == 3 && s["wl"] == "W 1500 L -600" && s["preview"] == false).await;

    js(&client, "document.querySelectorAll('#seriesbar button')[1].click()").await;
    until(&client, "the second series", |s| s["series"] == 1 && s["shownIndex"] == 0).await;
    assert_eq!(label().await, "Series 7 · neck · CT");
    js(&client, "go(1)").await;
    until(&client, "its slice 2", |s| s["shownIndex"] == 1).await;

    js(&client, "document.querySelectorAll('#seriesbar button')[0].click()").await;
    let s = until(&client, "back to the first series", |s| s["series"] == 0 && s["shownIndex"].is_u64()).await;
    assert_eq!((s["shownIndex"].clone(), s["counter"].clone()), (json!(3), json!("4 / 8")), "the place was lost: {s}");
    until(&client, "its window", |s| s["wl"] == "W 1500 L -600" && s["shown"].as_str().is_some_and(|u| u.contains("window=-600.0,1500.0"))).await;
    js(&client, "document.querySelectorAll('#seriesbar button')[1].click()").await;
    let s = until(&client, "the second series again", |s| s["series"] == 1 && s["shownIndex"].is_u64()).await;
    assert_eq!((s["shownIndex"].clone(), s["wl"].clone()), (json!(1), json!("W 400 L 40")));
    client.close().await.unwrap();
    server.stop().await;
}

/// Presses `key` on whatever has the focus, as a person at the keyboard.
async fn key(client: &Client, key: char) {
    let keys = KeyActions::new("keyboard".into()).then(KeyAction::Down { value: key }).then(KeyAction::Up { value: key });
    client.perform_actions(keys).await.unwrap();
}

#[tokio::test]
async fn keys_act_on_the_image_whatever_control_was_used_last() {
    let Some((_driver, client)) = browser(1280, 800, false).await else { return };
    let server = Server::start().await;
    ct_series(&server, "ct", 30, 64).await;
    open_viewer(&client, &server, "ct").await;

    // After a click on Invert, Space plays; it does not press Invert again.
    client.find(Locator::Id("invert")).await.unwrap().click().await.unwrap();
    until(&client, "inverted", |s| s["invert"] == true).await;
    key(&client, ' ').await;
    let s = until(&client, "playing", |s| s["playing"] == true).await;
    assert_eq!(s["invert"], true, "Space pressed Invert: {s}");
    key(&client, ' ').await;
    let at = until(&client, "stopped", |s| s["playing"] == false && s["index"] == s["shownIndex"]).await["index"].as_u64().unwrap();

    // After a preset from the list, ↓ steps and 3 chooses the bone window.
    client.find(Locator::Id("preset")).await.unwrap().select_by_value("-600,1500").await.unwrap();
    until(&client, "the lung window", |s| s["wl"] == "W 1500 L -600").await;
    key(&client, char::from(Key::Down)).await;
    until(&client, "one step down", |s| s["index"].as_u64() == Some((at + 1) % 30)).await;
    key(&client, '3').await;
    until(&client, "the bone window", |s| s["wl"] == "W 1800 L 400").await;

    // After dragging the slider, ↓ and Page Down go on down the stack, as before the drag.
    let slider = client.find(Locator::Id("slider")).await.unwrap();
    let width = js(&client, "return document.getElementById('slider').getBoundingClientRect().width").await.as_f64().unwrap();
    let drag = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement { element: slider, duration: None, x: -width / 4.0, y: 0.0 })
        .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT })
        .then(PointerAction::MoveBy { duration: Some(Duration::from_millis(300)), x: width / 8.0, y: 0.0 })
        .then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
    client.perform_actions(drag).await.unwrap();
    let at = until(&client, "the slider settled", |s| s["index"] == s["shownIndex"] && s["loading"] == false).await["index"].as_u64().unwrap();
    key(&client, char::from(Key::Down)).await;
    until(&client, "↓ after the slider", |s| s["index"].as_u64() == Some(at + 1)).await;
    key(&client, char::from(Key::PageDown)).await;
    let s = until(&client, "Page Down after the slider", |s| s["index"].as_u64() == Some(at + 11)).await;
    assert_eq!(js(&client, "return Number(document.getElementById('slider').value)").await.as_u64(), Some(at + 12), "the slider follows: {s}");
    client.close().await.unwrap();
    server.stop().await;
}

/// Whether the help dialog lies within the viewport and its last line (Close) can be scrolled
/// to and seen, not hidden behind anything.
const HELP_FITS: &str = "
    const help = document.getElementById('help'), r = help.getBoundingClientRect();
    help.scrollTop = help.scrollHeight;
    const c = document.getElementById('help-close').getBoundingClientRect();
    const top = document.elementFromPoint(c.left + c.width / 2, c.top + c.height / 2);
    return { inside: r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth, close: top && top.id === 'help-close', text: help.innerText };";

#[tokio::test]
async fn help_fits_the_screen_and_a_touch_screen_lists_gestures() {
    let server = Server::start().await;
    ct_series(&server, "ct", 3, 64).await;
    {
        let Some((_driver, client)) = browser(1366, 625, false).await else { return };
        open_viewer(&client, &server, "ct").await;
        super::viewer::typ(&client, "?").await;
        until(&client, "help", |s| s["help"] == true).await;
        let h = after_paint(&client, HELP_FITS).await;
        assert_eq!((h["inside"].clone(), h["close"].clone()), (json!(true), json!(true)), "1366×625: {h}");
        client.close().await.unwrap();
    }
    let Some((_driver, client)) = browser_at(360, 640, true, 2.0).await else { return };
    open_viewer(&client, &server, "ct").await;
    choose_tool(&client, "helpbtn").await;
    until(&client, "help", |s| s["help"] == true).await;
    let h = after_paint(&client, HELP_FITS).await;
    assert_eq!((h["inside"].clone(), h["close"].clone()), (json!(true), json!(true)), "360×640: {h}");
    let text = h["text"].as_str().unwrap().to_lowercase();
    for gesture in ["pinch", "double tap", "swipe"] {
        assert!(text.contains(gesture), "the phone's help names no {gesture}: {text}");
    }
    std::fs::write(screenshot_path("viewer-ux-help-phone.png"), client.screenshot().await.unwrap()).unwrap();
    client.close().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn preset_names_show_whole_on_a_phone() {
    let Some((_driver, client, server)) = phone_on_a_ct_series(3, 64).await else { return };
    // Each option's text, in the list's font, against the room the closed list gives it.
    let cut = js(
        &client,
        "const sel = document.getElementById('preset'), st = getComputedStyle(sel), x = document.createElement('canvas').getContext('2d');
        x.font = `${st.fontSize} ${st.fontFamily}`;
        const room = sel.clientWidth - parseFloat(st.paddingLeft) - parseFloat(st.paddingRight) - 14;
        return [...sel.options].filter((o) => !o.hidden).filter((o) => x.measureText(o.text).width > room).map((o) => o.text + ' > ' + room)",
    )
    .await;
    assert_eq!(cut, json!([]), "cut short");
    client.close().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_pinch_whose_first_finger_drifted_keeps_the_slice() {
    let Some((_driver, client, server)) = phone_on_a_ct_series(20, 64).await else { return };
    let canvas = client.find(Locator::Id("canvas")).await.unwrap();
    // The first finger lands and drifts up; the second lands 100 ms later and they pinch.
    for drift in [7.0, 20.0] {
        let first = TouchActions::new("f1".into())
            .then(PointerAction::MoveToElement { element: canvas.clone(), duration: None, x: -30.0, y: 0.0 })
            .then(PointerAction::Down { button: 0 })
            .then(PointerAction::MoveBy { duration: Some(Duration::from_millis(100)), x: 0.0, y: -drift })
            .then(PointerAction::Pause { duration: Duration::from_millis(0) })
            .then(PointerAction::MoveBy { duration: Some(Duration::from_millis(300)), x: -60.0, y: 0.0 })
            .then(PointerAction::Up { button: 0 });
        let second = TouchActions::new("f2".into())
            .then(PointerAction::MoveToElement { element: canvas.clone(), duration: None, x: 30.0, y: 0.0 })
            .then(PointerAction::Pause { duration: Duration::from_millis(0) })
            .then(PointerAction::Pause { duration: Duration::from_millis(100) })
            .then(PointerAction::Down { button: 0 })
            .then(PointerAction::MoveBy { duration: Some(Duration::from_millis(300)), x: 60.0, y: 0.0 })
            .then(PointerAction::Up { button: 0 });
        let zoom = view(&client).await["zoom"].as_f64().unwrap();
        client.perform_actions(fantoccini::actions::Actions::from(first).and(second)).await.unwrap();
        let s = until(&client, "the pinch", |s| s["zoom"].as_f64() > Some(zoom * 1.3)).await;
        let s = until(&client, "the slice settled", |x| x["index"] == x["shownIndex"] || x["index"] != s["index"]).await;
        assert_eq!((s["index"].clone(), s["shownIndex"].clone()), (json!(0), json!(0)), "a {drift} px drift changed the slice: {s}");
    }
    client.close().await.unwrap();
    server.stop().await;
}

/// A grid of canvas pixels (red), row by row, `n` × `n`.
async fn canvas_grid(client: &Client, n: u32) -> Vec<Vec<i64>> {
    let grid = js(
        client,
        &format!(
            "const c = document.getElementById('canvas'), x = c.getContext('2d'), n = {n}, out = [];
        for (let j = 0; j < n; j++) {{ const row = []; for (let i = 0; i < n; i++) {{ const px = Math.round((i + 0.5) * c.width / n), py = Math.round((j + 0.5) * c.height / n);
          row.push(x.getImageData(Math.min(px, c.width - 1), py, 1, 1).data[0]); }} out.push(row); }} return out;"
        ),
    )
    .await;
    serde_json::from_value(grid).unwrap()
}

#[tokio::test]
async fn flip_after_rotate_mirrors_the_screen_left_to_right() {
    let Some((_driver, client)) = browser(1000, 800, false).await else { return };
    let server = Server::start().await;
    ct_series(&server, "ct", 3, 128).await;
    open_viewer(&client, &server, "ct").await;
    super::viewer::typ(&client, "r").await;
    until(&client, "rotated", |s| s["rotation"] == 1).await;
    let rotated = canvas_grid(&client, 24).await;
    super::viewer::typ(&client, "h").await;
    let s = until(&client, "flipped", |s| s["markers"]["left"] != "P").await;
    assert_eq!(s["markers"], json!({ "left": "A", "right": "P", "top": "R", "bottom": "L" }), "{s}");
    let flipped = canvas_grid(&client, 24).await;
    let mirrored: Vec<Vec<i64>> = rotated.iter().map(|row| row.iter().rev().copied().collect()).collect();
    assert_ne!(rotated, mirrored, "the picture is not its own mirror image, so the test can tell");
    let off = flipped.iter().flatten().zip(mirrored.iter().flatten()).filter(|(a, b)| (*a - *b).abs() > 16).count();
    assert!(off <= 12, "{off} of 576 samples differ from the left-right mirror of the rotated picture");
    client.close().await.unwrap();
    server.stop().await;
}

/// A screenshot's pixels as RGB.
fn screenshot_rgb(png: &[u8]) -> (u32, u32, Vec<[u8; 3]>) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(png)).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected screenshot colour type {other:?}"),
    };
    (info.width, info.height, buf[..info.buffer_size()].chunks(step).map(|p| [p[0], p[1], p[2]]).collect())
}

#[tokio::test]
async fn letters_and_scale_bar_stay_readable_on_an_inverted_image() {
    let Some((_driver, client)) = browser(1000, 800, false).await else { return };
    let server = Server::start().await;
    ct_series(&server, "ct", 3, 128).await;
    open_viewer(&client, &server, "ct").await;
    super::viewer::typ(&client, "i").await;
    until(&client, "inverted", |s| s["invert"] == true).await;
    let rects = after_paint(
        &client,
        "const c = document.getElementById('canvas').getBoundingClientRect();
        const s = fg.scaleBar.rect || { x: c.width - 16 - fg.scaleBar.px - 12, y: c.height - 38, w: fg.scaleBar.px + 24, h: 21 };
        return ['mk-top', 'mk-bottom', 'counter', 'wl'].map((id) => { const r = document.getElementById(id).getBoundingClientRect(); return [id, r.left, r.top, r.right, r.bottom]; })
          .concat([['scale bar', c.left + s.x, c.top + s.y, c.left + s.x + s.w, c.top + s.y + s.h]])",
    )
    .await;
    let shot = client.screenshot().await.unwrap();
    std::fs::write(screenshot_path("viewer-ux-inverted.png"), &shot).unwrap();
    let (w, _, px) = screenshot_rgb(&shot);
    for r in rects.as_array().unwrap() {
        let (l, t, rr, b) = (r[1].as_f64().unwrap() as u32, r[2].as_f64().unwrap() as u32, r[3].as_f64().unwrap() as u32, r[4].as_f64().unwrap() as u32);
        // Behind a letter is its background: most of the box. It must be dark for light letters.
        let mut lum: Vec<u32> = (t..b)
            .flat_map(|y| (l..rr).map(move |x| (x, y)))
            .map(|(x, y)| px[(y * w + x) as usize])
            .map(|p| (299 * u32::from(p[0]) + 587 * u32::from(p[1]) + 114 * u32::from(p[2])) / 1000)
            .collect();
        lum.sort_unstable();
        let median = lum[lum.len() / 2];
        assert!(median < 90, "{}: the text sits on a background of luminance {median}", r[0]);
    }
    client.close().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn the_embedding_api_says_loaded_first_and_series_is_always_a_number_from_one() {
    let Some((_driver, client)) = browser(1024, 768, false).await else { return };
    let server = Server::start().await;
    ct_series(&server, "study/a", 4, 64).await;
    ct_series(&server, "study/b", 5, 64).await;
    client.goto(&format!("{}?slice=2", server.url("study", "study", "/-/view"))).await.unwrap();
    let s = until(&client, "the first frame", |s| s["shownIndex"] == 1).await;
    let events = s["events"].as_array().unwrap();
    assert_eq!(events[0]["type"], "loaded", "{events:?}");
    assert_eq!((events[0]["series"].clone(), events[0]["seriesCount"].clone(), events[0]["slice"].clone()), (json!(1), json!(2), json!(2)), "{events:?}");
    assert!(events[1..].iter().all(|e| e["type"] == "slice" && e["series"] == 1), "{events:?}");
    js(&client, "document.querySelectorAll('#seriesbar button')[1].click()").await;
    let s = until(&client, "the second series", |s| s["events"].as_array().unwrap().iter().any(|e| e["type"] == "slice" && e["series"] == 2)).await;
    assert_eq!(s["events"].as_array().unwrap().iter().filter(|e| e["type"] == "loaded").count(), 1);
    client.close().await.unwrap();
    server.stop().await;
}

/// The README's screenshots, one per size it shows, each checked as a person would: the image
/// has most of the screen and no overlay lies on another.
#[tokio::test]
async fn at_each_documented_size_the_image_has_the_screen_and_overlays_keep_apart() {
    let server = layout_server().await;
    // (width, height, mobile, device pixel ratio, the least share of the screen for the canvas)
    for (w, h, mobile, dpr, share) in [(390, 844, true, 3.0, 0.55), (844, 390, true, 3.0, 0.6), (360, 640, true, 2.0, 0.5), (768, 1024, true, 2.0, 0.6), (1366, 768, false, 1.0, 0.6)] {
        let Some((_driver, client)) = browser_at(w, h, mobile, dpr).await else { return };
        open_viewer(&client, &server, "study").await;
        js(&client, "go(5)").await;
        until(&client, "slice 6", |s| s["shownIndex"] == 5 && s["shown"].is_string()).await;
        let l = after_paint(&client, LAYOUT).await;
        let (cw, ch, vw, vh) = (l["canvas"]["w"].as_f64().unwrap(), l["canvas"]["h"].as_f64().unwrap(), l["vw"].as_f64().unwrap(), l["vh"].as_f64().unwrap());
        assert!(cw * ch >= share * vw * vh, "{w}×{h}: the canvas is {cw}×{ch} of {vw}×{vh}");
        assert_eq!((l["overlaps"].clone(), l["outside"].clone(), l["chrome"].clone()), (json!([]), json!([]), json!([])), "{w}×{h}: {l}");
        std::fs::write(screenshot_path(&format!("viewer-{w}x{h}.png")), client.screenshot().await.unwrap()).unwrap();
        // Where the tools are a menu, it opens whole within the screen.
        if js(&client, "return getComputedStyle(document.getElementById('more')).display !== 'none'").await == true {
            client.find(Locator::Id("more")).await.unwrap().click().await.unwrap();
            let menu = after_paint(
                &client,
                "const t = document.getElementById('tools'), r = t.getBoundingClientRect();
                return [r.width > 0, r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth,
                        t.scrollWidth <= t.clientWidth + 1 && [...t.querySelectorAll('button')].every((b) => b.scrollWidth <= b.clientWidth + 1)]",
            )
            .await;
            assert_eq!(menu, json!([true, true, true]), "{w}×{h}: the tools menu is not whole on screen, or its buttons are cut");
            std::fs::write(screenshot_path(&format!("viewer-{w}x{h}-tools.png")), client.screenshot().await.unwrap()).unwrap();
        }
        client.close().await.unwrap();
    }
    server.stop().await;
}
