//! The viewer after the UX review (issue 27): the image keeps the screen on a sideways phone and
//! a tablet, never shows at the wrong aspect, the page never zooms, the network heals by itself,
//! measuring works by finger, a double tap keeps the work, series keep their place, the keyboard
//! keeps working, help fits. Each test failed on the viewer before the review's fixes.

use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions, MOUSE_BUTTON_LEFT, MouseActions, PointerAction, TouchActions};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use super::browser::{browser, browser_at, screenshot_path};
use super::support::*;
use super::viewer::{Cdp, ct_series, js, until, view};

/// Takes the page's network down (`true`) or brings it back, as DevTools' "Offline" does.
async fn offline(client: &Client, on: bool) {
    client.issue_cmd(Cdp("Network.enable", json!({}))).await.unwrap();
    let params = json!({ "offline": on, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1 });
    client.issue_cmd(Cdp("Network.emulateNetworkConditions", params)).await.unwrap();
}

/// Runs `script` once the browser has laid out and painted twice: what a person sees next.
async fn after_paint(client: &Client, script: &str) -> Value {
    js(client, &format!("return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r((() => {{ {script} }})()))))")).await
}

/// Where the image and the overlays are on screen: the canvas' box, the viewport, and which
/// overlays (corner texts, orientation letters, the scale bar) meet one another, leave the
/// canvas or lie under a toolbar.
const LAYOUT: &str = "
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
    // (width, height, device pixel ratio, what the canvas must get, the screenshot's name)
    for (w, h, dpr, name) in [(844, 390, 3.0, "landscape"), (768, 1024, 2.0, "tablet"), (390, 844, 3.0, "phone")] {
        let Some((_driver, client)) = browser_at(w, h, true, dpr).await else { return };
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
                    "landscape" => assert!(ch >= 0.7 * vh, "{w}×{h} {folder}: the canvas is {cw}×{ch} of {vw}×{vh}"),
                    "tablet" => assert!(cw * ch >= 0.6 * vw * vh, "{w}×{h} {folder}: the canvas is {cw}×{ch} of {vw}×{vh}"),
                    _ => assert!(cw * ch >= 0.5 * vw * vh, "{w}×{h} {folder}: the canvas is {cw}×{ch} of {vw}×{vh}"),
                }
                assert_eq!(l["overlaps"], json!([]), "{w}×{h} {folder} slice {}: overlays overlap: {l}", slice + 1);
                assert_eq!(l["outside"], json!([]), "{w}×{h} {folder} slice {}: overlays leave the image: {l}", slice + 1);
                assert_eq!(l["chrome"], json!([]), "{w}×{h} {folder}: a toolbar lies over the image: {l}");
            }
            std::fs::write(screenshot_path(&format!("viewer-ux-{name}-{folder}.png")), client.screenshot().await.unwrap()).unwrap();
        }
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
        client.goto(&server.url("ct", "ct", "/-/view")).await.unwrap();
        until(&client, "the first frame", |s| s["shownIndex"] == 0).await;
        for step in ["open", "close", "open"] {
            client.find(Locator::Id("more")).await.unwrap().click().await.unwrap();
            let ratios = after_paint(&client, "const c = document.getElementById('canvas'), b = c.getBoundingClientRect(); return [c.width / c.height, b.width / b.height, c.width, c.height, b.width, b.height]").await;
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
    client.goto(&server.url("study", "study", "/-/view")).await.unwrap();
    until(&client, "the first frame", |s| s["shownIndex"] == 0).await;
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
    client.goto(&server.url("ct", "ct", "/-/view")).await.unwrap();
    until(&client, "the first frame", |s| s["shownIndex"] == 0).await;
    until(&client, "the prefetch", |s| s["requested"].as_u64() >= Some(11)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while js(&client, "return [...cache.values()].some((c) => c.promise)").await == true {
        assert!(Instant::now() < deadline, "the prefetch never finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

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
