//! The built-in viewer's behaviour in headless Chromium (issue 14): overlays and tools, phones,
//! failures (a broken slice, a gap, a busy server), slow networks, a 1,000-frame drag, series,
//! cine and the embedding API. Requests are counted by the server, never timed.

use std::time::Duration;

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MOUSE_BUTTON_RIGHT, MouseActions, PointerAction, TouchActions, WheelAction, WheelActions};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use super::browser::{browser, press, screenshot_path};
use super::support::*;

pub(super) use framegate_testkit::chromium::Cdp;

/// Slows the page's network: `latency` ms each way and `kbps` kilobits per second down.
pub(super) async fn throttle(client: &Client, latency: u32, kbps: u32) {
    client.issue_cmd(Cdp("Network.enable", json!({}))).await.unwrap();
    let bytes = f64::from(kbps) * 1000.0 / 8.0;
    let params = json!({ "offline": false, "latency": latency, "downloadThroughput": bytes, "uploadThroughput": bytes });
    client.issue_cmd(Cdp("Network.emulateNetworkConditions", params)).await.unwrap();
}

/// Turns on the browser's Save-Data (`navigator.connection.saveData`), as a person on a metered
/// connection does: the viewer then fetches only the read-ahead, no background fill.
pub(super) async fn save_data(client: &Client) {
    client.issue_cmd(Cdp("Emulation.setDataSaverOverride", json!({ "dataSaverEnabled": true }))).await.unwrap();
}

/// What the viewer shows, as a person would read it.
pub(super) async fn view(client: &Client) -> Value {
    client
        .execute(
            "if (!window.fg || !fg.stack) return null;
             const $ = (id) => document.getElementById(id), shown = (id) => !$(id).hidden && $(id).getClientRects().length > 0;
             const c = $('canvas'), x = c.getContext('2d'), px = x.getImageData(Math.floor(c.width / 2), Math.floor(c.height / 2), 1, 1).data;
             return { index: fg.index, shownIndex: fg.shownIndex, shown: fg.shown, expected: fg.shownIndex === null ? null : frameUrl(fg.shownIndex),
                      counter: $('counter').textContent, position: $('position').textContent, thickness: $('thickness').textContent,
                      wl: $('wl').textContent, zoomText: $('zoom').textContent, gap: $('gap').textContent, length: $('length').textContent,
                      loading: shown('loading'), loadingText: $('loading-text').textContent,
                      frameError: shown('frame-error') ? $('frame-error-text').textContent : null, error: fg.error,
                      message: $('message').textContent, markers: fg.markers, scaleBar: fg.scaleBar, measures: fg.measures.length,
                      zoom: fg.zoom, window: fg.window, preview: fg.preview, invert: fg.invert, rotation: fg.rotation, playing: fg.playing,
                      buffering: fg.buffering, series: fg.series, count: fg.count, requested: fg.requested.length, retries: fg.retries,
                      preset: $('preset').value, live: $('live').textContent, label: $('stage').getAttribute('aria-label'),
                      help: shown('help'), events: fg.events, centre: px[0] };",
            vec![],
        )
        .await
        .unwrap()
}

/// Waits until `test` holds for what the viewer shows, or fails with the last view seen.
pub(super) async fn until(client: &Client, what: &str, test: impl Fn(&Value) -> bool) -> Value {
    super::support::until(what, PATIENCE, || async {
        let s = view(client).await;
        if !s.is_null() && test(&s) { Ok(s) } else { Err(s) }
    })
    .await
}

/// Types `text` into the page, as a person at the keyboard.
pub(super) async fn typ(client: &Client, text: &str) {
    client.find(Locator::Css("body")).await.unwrap().send_keys(text).await.unwrap();
}

pub(super) async fn js(client: &Client, script: &str) -> Value {
    client.execute(script, vec![]).await.unwrap()
}

/// The label and the picture describe the same frame, and a wanted frame still on its way
/// shows as loading.
pub(super) fn consistent(s: &Value) -> Result<(), String> {
    let Some(i) = s["shownIndex"].as_u64() else { return Ok(()) };
    if s["counter"].as_str() != Some(&format!("{} / {}", i + 1, s["count"])) {
        return Err(format!("the counter does not name the frame on screen: {s}"));
    }
    if s["frameError"].is_null() && s["shown"] != s["expected"] && s["preview"] == false {
        return Err(format!("the picture is not the labelled frame: {s}"));
    }
    if s["index"] != s["shownIndex"] && !s["loading"].as_bool().unwrap_or(false) && s["buffering"] == false {
        return Err(format!("a wanted frame is on its way with no loading state: {s}"));
    }
    Ok(())
}

/// What the canvas shows, as grey levels sampled on a 32×32 grid over the image, with the frame
/// the counter names and the window the overlay names: `{index, wl, samples: [[col, row, grey]]}`,
/// or null while no frame is labelled. The pixels are read from the canvas itself, at its own
/// resolution; only where the image lies on it (the viewer's `imageMatrix`: fit, zoom, pan,
/// rotation) is taken from the viewer, never its record of which frame it drew. One script, so
/// the label and the pixels are read at the same moment.
async fn canvas_samples(client: &Client) -> Value {
    js(
        client,
        "if (!window.fg || !fg.stack || fg.preview || fg.invert || !document.getElementById('frame-error').hidden) return null;
         const m = /^(\\d+) \\/ \\d+$/.exec(document.getElementById('counter').textContent);
         if (!m) return null;
         const c = document.getElementById('canvas'), i = Number(m[1]) - 1, e = entry(i), dpr = window.devicePixelRatio || 1;
         const to = new DOMMatrix().scale(dpr).multiply(imageMatrix(e)), data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
         const samples = [], n = 32;
         for (let gy = 0; gy < n; gy++) for (let gx = 0; gx < n; gx++) {
           const col = Math.floor((gx + 0.5) * e.columns / n), row = Math.floor((gy + 0.5) * e.rows / n);
           const p = to.transformPoint({ x: col + 0.5, y: row + 0.5 }), x = Math.floor(p.x), y = Math.floor(p.y);
           if (x >= 0 && y >= 0 && x < c.width && y < c.height) samples.push([col, row, data[(y * c.width + x) * 4]]);
         }
         return { index: i, wl: document.getElementById('wl').textContent, samples };",
    )
    .await
}

/// How far the canvas may stray from the labelled frame, in mean grey levels: JPEG and the
/// canvas' resampling at edges. The right frame measured under 0.8. The phantom's neighbouring
/// slices differ by about 1.5 (its lungs and sphere grow slowly), so a canvas two slices stale
/// fails, and a black one (over 50) or a far cine frame (over 15) by far. Slice i and slice
/// n - 1 - i of the phantom are the same picture: no pixel test tells them apart.
const PICTURE_TOLERANCE: f64 = 2.0;

/// The canvas shows the frame its counter names: its pixels are those of `expected(frame, col,
/// row, window centre, window width)` under the window the overlay names, within
/// [`PICTURE_TOLERANCE`]. A stale canvas under a fresh label fails, whatever the viewer recorded.
pub(super) async fn pictured(client: &Client, expected: impl Fn(usize, u16, u16, f64, f64) -> u8) -> Result<(), String> {
    let shot = canvas_samples(client).await;
    if shot.is_null() {
        return Ok(());
    }
    let wl = shot["wl"].as_str().unwrap_or_default();
    let window = wl.strip_prefix("W ").and_then(|r| r.split_once(" L ")).and_then(|(w, c)| Some((c.parse::<f64>().ok()?, w.parse::<f64>().ok()?)));
    let Some((center, width)) = window else { return Err(format!("no window on screen to compare under: {wl:?}")) };
    let index = shot["index"].as_u64().unwrap() as usize;
    let samples = shot["samples"].as_array().unwrap();
    if samples.len() < 100 {
        return Err(format!("the image covers too little of the canvas to compare: {} samples", samples.len()));
    }
    let diff = samples
        .iter()
        .map(|p| {
            let (col, row, grey) = (p[0].as_u64().unwrap() as u16, p[1].as_u64().unwrap() as u16, p[2].as_u64().unwrap() as u8);
            f64::from(grey.abs_diff(expected(index, col, row, center, width)))
        })
        .sum::<f64>()
        / samples.len() as f64;
    if diff > PICTURE_TOLERANCE {
        return Err(format!("the canvas is not frame {} as labelled: mean difference {diff:.1} grey levels under {wl}", index + 1));
    }
    Ok(())
}

/// The expected grey of a CT phantom series of `slices` slices of `size`², for [`pictured`].
pub(super) fn ct_frames(slices: usize, size: u16) -> impl Fn(usize, u16, u16, f64, f64) -> u8 {
    move |i, col, row, center, width| ct_expected(i, slices, size, col, row, center, width)
}

/// The expected grey of `framegate::sample::cine` frames of `size`², for [`pictured`].
pub(super) fn cine_frames(size: u16) -> impl Fn(usize, u16, u16, f64, f64) -> u8 {
    move |f, col, row, center, width| {
        let stored = framegate::sample::cine_value(f as u32, u32::from(col), u32::from(row), u32::from(size));
        framegate::render::Window::new(center, width, framegate::render::VoiFunction::Linear).unwrap().level(f64::from(stored))
    }
}

/// Requests of `route` answered so far with `status`, from the server's own metrics.
async fn answered(server: &Server, route: &str, status: u16) -> u64 {
    let text = String::from_utf8(get(&format!("{}/metrics", server.base())).await.body.to_vec()).unwrap();
    text.lines()
        .filter(|l| l.contains("http_requests") && l.contains(&format!("route=\"{route}\"")) && l.contains(&format!("status=\"{status}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

pub(super) async fn ct_series(server: &Server, prefix: &str, slices: usize, size: u16) {
    for i in 0..slices {
        server.put_ct(&format!("{prefix}/slice{:03}.dcm", i + 1), i, slices, size).await;
    }
}

pub(super) async fn drag(client: &Client, button: u64, from: (i64, i64), by: (f64, f64)) {
    let canvas = client.find(Locator::Id("canvas")).await.unwrap();
    let actions = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement { element: canvas, duration: None, x: from.0 as f64, y: from.1 as f64 })
        .then(PointerAction::Down { button })
        .then(PointerAction::MoveBy { duration: Some(Duration::from_millis(150)), x: by.0, y: by.1 })
        .then(PointerAction::Up { button });
    client.perform_actions(actions).await.unwrap();
}

#[tokio::test]
async fn desktop_overlays_measurement_transforms_keys_and_wheel() {
    let Some((_driver, client)) = browser(1280, 800, false).await else { return };
    let server = Server::start().await;
    ct_series(&server, "ct/s1", 20, 128).await;
    client.goto(&server.url("ct/s1", "ct/s1", "/-/view")).await.unwrap();
    let s = until(&client, "the first frame", |s| s["shownIndex"] == 0).await;
    // Overlays: where we are, the window, the zoom; orientation from Image Orientation.
    assert_eq!(s["counter"], "1 / 20");
    assert_eq!(s["position"], "Pos 0.0 mm");
    assert_eq!(s["thickness"], "Thk 2.5 mm");
    assert_eq!(s["wl"], "W 400 L 40");
    assert!(s["zoomText"].as_str().unwrap().starts_with("Zoom "), "{s}");
    assert_eq!(s["markers"], json!({ "left": "R", "right": "L", "top": "A", "bottom": "P" }));
    assert!(s["scaleBar"]["mm"].as_u64().unwrap() >= 10, "a scale bar from Pixel Spacing: {s}");
    let text = js(&client, "return document.body.innerText").await;
    for planted in framegate::sample::PLANTED {
        assert!(!text.as_str().unwrap().contains(planted), "an overlay shows patient data: {planted}");
    }

    // One wheel notch is one slice; a trackpad's small deltas add up instead of a slice each.
    let wheel = WheelActions::new("wheel".into()).then(WheelAction::Scroll { duration: None, x: 640, y: 400, delta_x: 0, delta_y: 120 });
    client.perform_actions(wheel).await.unwrap();
    until(&client, "one notch", |s| s["shownIndex"] == 1).await;
    let after = js(
        &client,
        "const wheel = () => document.getElementById('canvas').dispatchEvent(new WheelEvent('wheel', {deltaY: 4, bubbles: true, cancelable: true}));
        const at = []; for (let i = 1; i <= 20; i++) { wheel(); if (i % 10 == 0) at.push(fg.index); } return at",
    )
    .await;
    assert_eq!(after, json!([1, 2]), "ten 4-pixel deltas are less than a slice, twenty are one");
    let s = until(&client, "the deltas add up", |s| s["shownIndex"] == 2).await;
    assert_eq!(s["index"], 2);
    let s = until(&client, "the announcement", |s| s["live"] == "Slice 3 of 20").await;
    assert_eq!(s["label"], "CT image, slice 3 of 20");

    // Measure: a drag of 200 CSS pixels across the canvas, in mm from Pixel Spacing.
    typ(&client, "m").await;
    drag(&client, MOUSE_BUTTON_LEFT, (-100, 0), (200.0, 0.0)).await;
    let s = until(&client, "a measurement", |s| s["measures"] == 1 && s["length"] != "").await;
    let expected = js(&client, "return 200 / drawScale(entry(fg.shownIndex)) * 0.9765625").await.as_f64().unwrap();
    let shown: f64 = s["length"].as_str().unwrap().trim_end_matches(" mm").parse().unwrap();
    assert!((shown - expected).abs() < 0.6, "measured {shown} mm, expected {expected}");
    std::fs::write(screenshot_path("viewer-desktop.png"), client.screenshot().await.unwrap()).unwrap();
    // The measurement belongs to its slice; reset clears it.
    press(&client, &[Key::Down]).await;
    let s = until(&client, "the next slice", |s| s["shownIndex"] == 3).await;
    assert_eq!(s["length"], "");
    press(&client, &[Key::Up]).await;
    until(&client, "back", |s| s["shownIndex"] == 2 && s["length"] != "").await;
    press(&client, &[Key::Escape]).await;
    let s = until(&client, "reset", |s| s["measures"] == 0).await;
    assert_eq!(s["length"], "");
    typ(&client, "m").await;

    // Invert, rotate and flip: the picture changes and the markers follow.
    let before = view(&client).await["centre"].as_u64().unwrap();
    typ(&client, "i").await;
    let s = until(&client, "inverted", |s| s["invert"] == true).await;
    assert!((s["centre"].as_i64().unwrap() - (255 - before as i64)).abs() <= 2, "inverted centre {} from {before}", s["centre"]);
    typ(&client, "ir").await;
    let s = until(&client, "rotated", |s| s["rotation"] == 1).await;
    assert_eq!(s["markers"], json!({ "left": "P", "right": "A", "top": "R", "bottom": "L" }));
    // Flip mirrors the screen left to right, rotated or not (issue 27: it used to mirror the
    // image's own rows, which on a rotated image is top to bottom on screen).
    typ(&client, "h").await;
    let s = until(&client, "flipped", |s| s["markers"]["left"] == "A").await;
    assert_eq!(s["markers"], json!({ "left": "A", "right": "P", "top": "R", "bottom": "L" }));
    press(&client, &[Key::Escape]).await;
    until(&client, "reset", |s| s["markers"]["right"] == "L" && s["rotation"] == 0).await;

    // 1:1 is one image pixel per device pixel, fetched at full size; fit goes back.
    typ(&client, "n").await;
    let s = until(&client, "1:1", |s| s["zoomText"] == "Zoom 100%").await;
    assert!(!s["shown"].as_str().unwrap().contains("viewport="), "{s}");
    typ(&client, "f").await;
    until(&client, "fit", |s| s["zoom"] == 1.0).await;

    // Presets by key, and the list in step with a drag.
    typ(&client, "2").await;
    let s = until(&client, "the lung preset", |s| s["wl"] == "W 1500 L -600" && s["shown"].as_str().unwrap().contains("window=-600.0,1500.0")).await;
    assert_eq!(s["preset"], "-600,1500");
    drag(&client, MOUSE_BUTTON_RIGHT, (0, 0), (-120.0, 40.0)).await;
    let s = until(&client, "a dragged window", |s| s["preset"] == "custom" && s["preview"] == false).await;
    assert_ne!(s["wl"], "W 1500 L -600");
    typ(&client, "0").await;
    let s = until(&client, "the default window", |s| s["wl"] == "W 400 L 40" && s["preset"] == "").await;
    assert!(!s["shown"].as_str().unwrap().contains("window="), "{s}");

    // Focused controls keep their keys: Space on Play plays once; arrows on the slider move
    // it once; help opens with ? and closes with Esc.
    let play = client.find(Locator::Id("play")).await.unwrap();
    play.send_keys(" ").await.unwrap();
    until(&client, "playing", |s| s["playing"] == true).await;
    play.send_keys(" ").await.unwrap();
    until(&client, "stopped", |s| s["playing"] == false).await;
    let at = view(&client).await["index"].as_u64().unwrap();
    client.find(Locator::Id("slider")).await.unwrap().send_keys(&char::from(Key::Right).to_string()).await.unwrap();
    let s = until(&client, "one slider step", |s| s["index"].as_u64() != Some(at)).await;
    assert_eq!(s["index"].as_u64(), Some(at + 1));
    typ(&client, "?").await;
    until(&client, "help", |s| s["help"] == true).await;
    let keys = js(&client, "return document.getElementById('help').innerText").await;
    for k in ["invert", "CT presets", "reset"] {
        assert!(keys.as_str().unwrap().contains(k), "{keys}");
    }
    press(&client, &[Key::Escape]).await;
    until(&client, "help closed", |s| s["help"] == false).await;

    // Full screen, where the browser has it.
    let enabled = js(&client, "return document.fullscreenEnabled").await;
    let button = js(&client, "return !document.getElementById('fullscreen').hidden").await;
    assert_eq!(enabled, button, "the button shows exactly where full screen works");
    if enabled == true {
        client.find(Locator::Id("fullscreen")).await.unwrap().click().await.unwrap();
        super::support::until("full screen", PATIENCE, || async {
            let element = js(&client, "return document.fullscreenElement && document.fullscreenElement.id").await;
            if element == "app" { Ok(()) } else { Err(element) }
        })
        .await;
        client.find(Locator::Id("fullscreen")).await.unwrap().click().await.unwrap();
    }
    client.close().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn phone_controls_wl_feedback_double_tap_and_viewport_sized_frames() {
    let Some((_driver, client)) = browser(390, 844, true).await else { return };
    let server = Server::start().await;
    ct_series(&server, "ct/big", 1, 1400).await;
    client.goto(&server.url("ct/big", "ct/big", "/-/view")).await.unwrap();
    let s = until(&client, "the first frame", |s| s["shownIndex"] == 0).await;
    // The page lets a person zoom the controls, and keeps them out of notches.
    let meta = js(&client, "return document.querySelector('meta[name=viewport]').content").await;
    assert!(!meta.as_str().unwrap().contains("user-scalable=no") && !meta.as_str().unwrap().contains("maximum-scale"), "{meta}");
    let safe = js(&client, "return [...document.styleSheets[0].cssRules].some(r => r.selectorText === '#app' && r.style.padding.includes('safe-area-inset-bottom'))").await;
    assert_eq!(safe, true);
    // Reset, W/L values and the swipe mode in words are on screen; every target is 44 px.
    let visible = js(&client, "return ['reset', 'wl', 'mode'].map(id => document.getElementById(id).getBoundingClientRect().width > 0)").await;
    assert_eq!(visible, json!([true, true, true]));
    assert_eq!(s["wl"], "W 400 L 40");
    let small = js(&client, "return [...document.querySelectorAll('button, select')].filter(b => b.getClientRects().length).map(b => b.getBoundingClientRect()).filter(r => r.height < 44 || r.width < 44).length").await;
    assert_eq!(small, 0, "targets under 44 px");
    assert_eq!(js(&client, "return document.getElementById('mode').textContent").await, "Swipe: slices");
    std::fs::write(screenshot_path("viewer-phone-fitted.png"), client.screenshot().await.unwrap()).unwrap();

    // Frames come at the canvas's device-pixel size: a fraction of the full frame's bytes.
    let shown = s["shown"].as_str().unwrap().to_owned();
    assert!(shown.contains("viewport="), "{shown}");
    let fitted = js(&client, &format!("return performance.getEntriesByName(new URL({shown:?}, location).href)[0].encodedBodySize")).await.as_u64().unwrap();
    let full = get(&server.url("ct/big", "ct/big/slice001.dcm", "/-/frames/1.jpg")).await.body.len() as u64;
    eprintln!("phone frame: {fitted} bytes fitted, {full} bytes full size");
    // The width a frame URL asks for; none is the full 1400.
    let asked = |u: &str| u.split("viewport=").nth(1).and_then(|v| v.split(',').next()).and_then(|w| w.parse::<u32>().ok()).unwrap_or(1400);
    let width = asked(&shown);
    assert!(width <= 900 && fitted < full, "{width} px wide, {fitted} bytes fitted, {full} full");

    // W/L mode: the picture follows the finger before any request, then the exact render.
    client.find(Locator::Id("mode")).await.unwrap().click().await.unwrap();
    assert_eq!(js(&client, "return document.getElementById('mode').textContent").await, "Swipe: W/L");
    let canvas = client.find(Locator::Id("canvas")).await.unwrap();
    let requested = view(&client).await["requested"].as_u64().unwrap();
    let centre = view(&client).await["centre"].clone();
    let down = TouchActions::new("finger".into())
        .then(PointerAction::MoveToElement { element: canvas.clone(), duration: None, x: 0.0, y: 0.0 })
        .then(PointerAction::Down { button: 0 })
        .then(PointerAction::MoveBy { duration: Some(Duration::from_millis(200)), x: -100.0, y: 60.0 });
    client.perform_actions(down).await.unwrap();
    // The preview is drawn on the pointer's move events, which may land after the actions
    // return: wait for it rather than sample once.
    let s = until(&client, "the preview under the finger", |s| s["preview"] == true).await;
    assert_ne!(s["centre"], centre, "the picture changed under the finger");
    assert_eq!(s["requested"].as_u64(), Some(requested), "no request while the finger moves");
    client.release_actions().await.unwrap();
    let s = until(&client, "the exact render", |s| s["preview"] == false && s["shown"].as_str().unwrap().contains("window=")).await;
    assert_ne!(s["wl"], "W 400 L 40");
    client.find(Locator::Id("mode")).await.unwrap().click().await.unwrap();

    // Pinch in, then a double tap fits.
    let finger = |id: &str, dx: f64| {
        TouchActions::new(id.into())
            .then(PointerAction::MoveToElement { element: canvas.clone(), duration: None, x: dx, y: 0.0 })
            .then(PointerAction::Down { button: 0 })
            .then(PointerAction::MoveBy { duration: Some(Duration::from_millis(300)), x: dx * 3.0, y: 0.0 })
            .then(PointerAction::Up { button: 0 })
    };
    client.perform_actions(fantoccini::actions::Actions::from(finger("f1", -30.0)).and(finger("f2", 30.0))).await.unwrap();
    until(&client, "a pinch", |s| s["zoom"].as_f64().unwrap() > 1.5).await;
    // Zoomed in, the frame is fetched sharper than the fitted one.
    until(&client, "a sharper frame", |s| s["shown"].as_str().is_some_and(|u| asked(u) > width) && s["shown"] == s["expected"]).await;
    let tap = |pause: u64| {
        TouchActions::new("tap".into())
            .then(PointerAction::MoveToElement { element: canvas.clone(), duration: None, x: 10.0, y: 10.0 })
            .then(PointerAction::Down { button: 0 })
            .then(PointerAction::Up { button: 0 })
            .then(PointerAction::Pause { duration: Duration::from_millis(pause) })
            .then(PointerAction::Down { button: 0 })
            .then(PointerAction::Up { button: 0 })
    };
    let windowed = view(&client).await["wl"].clone();
    client.perform_actions(tap(80)).await.unwrap();
    // A double tap fits the image; the window is work, and stays (issue 27).
    let s = until(&client, "a double tap fits", |s| s["zoom"] == 1.0).await;
    assert_eq!(s["wl"], windowed);
    client.close().await.unwrap();
    server.stop().await;
}

/// A slice whose header is fine and whose pixels cannot be decoded: baseline JPEG syntax
/// declared, garbage in the fragment.
fn broken_slice(index: usize, slices: usize) -> Vec<u8> {
    let obj = framegate::sample::with_one_fragment(framegate::sample::ct_slice(index, slices, 128), b"this is not a JPEG stream".to_vec());
    framegate::sample::to_bytes_in(obj, "1.2.840.10008.1.2.4.50").unwrap()
}

/// Opens `url` while the server's one render thread is taken, so that stack.json is refused with
/// 503; the thread is freed as soon as the page has been refused once, however slow the machine,
/// and its retry, whenever it comes, succeeds. The server must have one render thread and no
/// queue.
async fn open_with_the_pool_taken(server: &Server, client: &Client, url: &str) {
    let (state, (started, running), (release, held)) = (server.state.clone(), std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
    let busy = tokio::spawn(async move {
        state
            .pool
            .run(move || {
                started.send(()).unwrap();
                let _ = held.recv_timeout(Duration::from_secs(20));
            })
            .await
    });
    tokio::task::spawn_blocking(move || running.recv()).await.unwrap().unwrap();
    client.goto(url).await.unwrap();
    super::support::until("stack.json refused", PATIENCE, || async {
        match answered(server, "stack", 503).await {
            0 => Err("no 503 yet"),
            _ => Ok(()),
        }
    })
    .await;
    release.send(()).unwrap();
    busy.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_broken_slice_a_gap_and_a_busy_server_leave_a_usable_viewer() {
    let Some((_driver, client)) = browser(1280, 800, false).await else { return };
    // One render at a time and none waiting: the prefetch's four requests meet real 503s.
    let server = Server::start_with(framegate::Settings { render_threads: 1, render_queue: 0, ..Default::default() }).await;
    for i in 0..12 {
        match i {
            3 => server.put("ct/s1/slice004.dcm", broken_slice(i, 12)).await,
            7 => {} // left out: a gap of one slice
            _ => {
                server.put_ct(&format!("ct/s1/slice{:03}.dcm", i + 1), i, 12, 128).await;
            }
        }
    }
    let broken = get(&server.url("ct/s1", "ct/s1/slice004.dcm", "/-/frames/1.jpg")).await;
    assert!(matches!(broken.status, 415 | 422), "{}", broken.status);
    // The pool is taken when the page opens: stack.json itself is refused (503) and retried.
    open_with_the_pool_taken(&server, &client, &server.url("ct/s1", "ct/s1", "/-/view")).await;
    until(&client, "the first frame", |s| s["shownIndex"] == 0).await;
    // Prefetching 10 ahead through a pool of one is refused, retried, and gets there.
    until(&client, "prefetch done", |s| s["retries"].as_u64() > Some(0)).await;
    assert!(answered(&server, "frame", 503).await > 0, "the server was busy");

    // The broken slice says why on itself only; the slices around it are fine.
    for _ in 0..3 {
        press(&client, &[Key::Down]).await;
    }
    let s = until(&client, "the broken slice", |s| s["shownIndex"] == 3 && !s["frameError"].is_null()).await;
    assert!(s["frameError"].as_str().unwrap().contains("Image 4 cannot be shown"), "{s}");
    assert!(s["frameError"].as_str().unwrap().contains(&broken.error()), "the server's reason: {s}");
    assert_eq!(s["counter"], "4 / 11");
    assert!(s["error"].is_null(), "the viewer goes on: {s}");
    std::fs::write(screenshot_path("viewer-broken.png"), client.screenshot().await.unwrap()).unwrap();
    press(&client, &[Key::Down]).await;
    let s = until(&client, "the slice after", |s| s["shownIndex"] == 4 && s["shown"].is_string()).await;
    assert!(s["frameError"].is_null(), "{s}");

    // The gap: shown on the slider and on the slice after it.
    assert_eq!(js(&client, "return document.querySelectorAll('#gaps i').length").await, 1);
    press(&client, &[Key::Down, Key::Down, Key::Down]).await;
    let s = until(&client, "the slice after the gap", |s| s["shownIndex"] == 7).await;
    assert_eq!(s["gap"], "Gap: 1 missing before this image");
    std::fs::write(screenshot_path("viewer-gap.png"), client.screenshot().await.unwrap()).unwrap();

    // Cine plays through the broken slice, and nothing was left failed but that one frame.
    press(&client, &[Key::Home]).await;
    until(&client, "the first slice", |s| s["shownIndex"] == 0).await;
    client.find(Locator::Id("play")).await.unwrap().click().await.unwrap();
    until(&client, "play past the broken slice", |s| s["shownIndex"].as_u64() >= Some(6)).await;
    client.find(Locator::Id("play")).await.unwrap().click().await.unwrap();
    assert!(view(&client).await["error"].is_null());
    client.close().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn on_a_slow_network_the_label_describes_the_picture_and_cine_buffers() {
    let Some((_driver, client)) = browser(1024, 700, false).await else { return };
    let server = Server::start().await;
    ct_series(&server, "ct/s1", 40, 256).await;
    let cine = framegate::sample::to_bytes(framegate::sample::cine(12, 128)).unwrap();
    server.put("xa/cine.dcm", cine).await;
    client.goto("about:blank").await.unwrap();
    // About 3G: 200 ms each way, 400 kbit/s.
    throttle(&client, 200, 400).await;
    client.goto(&server.url("ct/s1", "ct/s1", "/-/view")).await.unwrap();
    // The first load shows progress, not a black screen.
    let first = js(&client, "return !document.getElementById('loading').hidden && document.getElementById('loading-text').textContent").await;
    assert!(first.as_str().is_some_and(|t| t.starts_with("Loading")), "{first}");
    until(&client, "the first frame", |s| s["shownIndex"] == 0).await;

    // End: the counter stays on the picture until the last frame is drawn. The page itself
    // records the loading panel appearing: on a busy machine a WebDriver round trip can outlast
    // the frame's download, and sampling alone would miss it.
    js(
        &client,
        "const panel = document.getElementById('loading'); window.loadingSeen = false;
         new MutationObserver(() => { if (!panel.hidden) window.loadingSeen = true; }).observe(panel, { attributes: true }); return null;",
    )
    .await;
    press(&client, &[Key::End]).await;
    // Every sample agrees, in its label and in its pixels.
    let ct = ct_frames(40, 256);
    super::support::until("the last frame", PATIENCE, || async {
        let s = view(&client).await;
        consistent(&s).unwrap();
        pictured(&client, &ct).await.unwrap();
        if s["shownIndex"] == 39 { Ok(()) } else { Err(s) }
    })
    .await;
    assert_eq!(js(&client, "return window.loadingSeen").await, true, "the wanted frame showed as loading");
    // Scroll steps up: every sample agrees.
    for _ in 0..15 {
        press(&client, &[Key::Up]).await;
        consistent(&view(&client).await).unwrap();
        pictured(&client, &ct).await.unwrap();
    }
    let s = until(&client, "the scroll settles", |s| s["shownIndex"] == 24).await;
    consistent(&s).unwrap();
    pictured(&client, &ct).await.unwrap();

    // Cine on the slow link: it buffers first, then every frame on screen is the one labelled.
    client.goto(&server.url("xa/cine.dcm", "xa/cine.dcm", "/-/view")).await.unwrap();
    until(&client, "the cine's first frame", |s| s["shownIndex"] == 0).await;
    js(&client, "document.getElementById('speed').value = '30'; document.getElementById('speed').dispatchEvent(new Event('change'))").await;
    client.find(Locator::Id("loop")).await.unwrap().click().await.unwrap();
    // Ten frames ahead were prefetched while idle; 30 fps wants eleven, and the eleventh is a
    // 400 ms round trip away: the page records the buffering panel, as above.
    js(
        &client,
        "const panel = document.getElementById('loading'), text = document.getElementById('loading-text'); window.bufferingSeen = false;
         new MutationObserver(() => { if (!panel.hidden && text.textContent.startsWith('Buffering')) window.bufferingSeen = true; })
           .observe(text, { childList: true, characterData: true, subtree: true }); return null;",
    )
    .await;
    client.find(Locator::Id("play")).await.unwrap().click().await.unwrap();
    let seen = std::cell::RefCell::new(Vec::new());
    let cine = cine_frames(128);
    super::support::until("a bounce", PATIENCE, || async {
        let s = view(&client).await;
        consistent(&s).unwrap();
        pictured(&client, &cine).await.unwrap();
        let mut seen = seen.borrow_mut();
        let i = s["shownIndex"].as_u64().unwrap();
        if seen.last() != Some(&i) {
            seen.push(i);
        }
        // Bounce: up to the last frame and back down.
        if seen.contains(&11) && seen.last().is_some_and(|l| *l < 9) { Ok(()) } else { Err(format!("{seen:?}")) }
    })
    .await;
    assert_eq!(js(&client, "return window.bufferingSeen").await, true, "cine buffered before it played on");
    client.find(Locator::Id("play")).await.unwrap().click().await.unwrap();
    // Step buttons move one frame.
    let at = until(&client, "stopped", |s| s["playing"] == false && s["index"] == s["shownIndex"]).await["index"].as_u64().unwrap();
    let button = if at > 0 { "prev" } else { "next" };
    client.find(Locator::Id(button)).await.unwrap().click().await.unwrap();
    let want = if at > 0 { at - 1 } else { 1 };
    until(&client, "one step", |s| s["shownIndex"].as_u64() == Some(want)).await;
    client.close().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_thousand_frame_drag_makes_few_requests_and_never_a_black_canvas() {
    let Some((_driver, client)) = browser(1280, 800, false).await else { return };
    let server = Server::start().await;
    server.put("xa/long.dcm", framegate::sample::to_bytes(framegate::sample::cine(1000, 64)).unwrap()).await;
    client.goto(&server.url("xa/long.dcm", "xa/long.dcm", "/-/view")).await.unwrap();
    until(&client, "the first frame", |s| s["shownIndex"] == 0).await;
    js(&client, "window.errors = []; window.addEventListener('error', (e) => errors.push(String(e.message)))").await;
    until(&client, "the prefetch", |s| s["requested"].as_u64() >= Some(11)).await;
    let before = answered(&server, "frame", 200).await;

    // Drag the slider from one end to the other.
    let slider = client.find(Locator::Id("slider")).await.unwrap();
    let width = js(&client, "return document.getElementById('slider').getBoundingClientRect().width").await.as_f64().unwrap();
    let drag = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement { element: slider, duration: None, x: -width / 2.0 + 2.0, y: 0.0 })
        .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT })
        .then(PointerAction::MoveBy { duration: Some(Duration::from_millis(1500)), x: width - 4.0, y: 0.0 })
        .then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
    client.perform_actions(drag).await.unwrap();
    let s = until(&client, "the last frame", |s| s["shownIndex"] == 999).await;
    consistent(&s).unwrap();
    pictured(&client, cine_frames(64)).await.unwrap();
    let during = answered(&server, "frame", 200).await - before;
    let requests = s["requested"].as_u64().unwrap();
    eprintln!("a 1,000-frame slider drag: {during} frame requests answered");
    assert!(during < 60, "{during} frame requests for one drag");

    // Scroll end to end by keys: eviction runs, the picture never goes black, zoom still draws.
    press(&client, &[Key::Home]).await;
    until(&client, "the first frame again", |s| s["shownIndex"] == 0).await;
    for _ in 0..5 {
        let downs: String = std::iter::repeat_n(char::from(Key::PageDown), 20).collect();
        client.find(Locator::Css("body")).await.unwrap().send_keys(&downs).await.unwrap();
        let s = view(&client).await;
        assert!(s["centre"].as_u64() > Some(0) || s["shownIndex"].is_null(), "black canvas: {s}");
    }
    let s = until(&client, "the end", |s| s["shownIndex"] == 999).await;
    assert!(s["requested"].as_u64().unwrap() > requests + 160, "enough frames to evict");
    let cached = js(&client, "return cache.size").await.as_u64().unwrap();
    assert!(cached <= 170, "{cached} frames cached");
    press(&client, &[Key::Home]).await;
    until(&client, "the first frame once more", |s| s["shownIndex"] == 0).await;
    js(&client, "document.getElementById('stage').dispatchEvent(new WheelEvent('wheel', {deltaY: -300, ctrlKey: true, clientX: 640, clientY: 400, bubbles: true, cancelable: true}))")
        .await;
    let s = until(&client, "zoomed", |s| s["zoom"].as_f64() > Some(1.5)).await;
    assert!(s["centre"].as_u64() > Some(0), "zoom draws the picture: {s}");
    assert_eq!(js(&client, "return errors").await, json!([]));
    client.close().await.unwrap();
    server.stop().await;
}

/// An ultrasound image calibrated by its region, not Pixel Spacing.
fn ultrasound() -> Vec<u8> {
    let mut obj = framegate::sample::rgb_image(200, 150, |c, r| [(c % 256) as u8, (r % 256) as u8, 90]);
    obj.remove_element(tags::PIXEL_SPACING);
    obj.put(DataElement::new(tags::MODALITY, VR::CS, PrimitiveValue::from("US")));
    let region = InMemDicomObject::from_element_iter([
        DataElement::new(tags::PHYSICAL_UNITS_X_DIRECTION, VR::US, PrimitiveValue::from(3u16)),
        DataElement::new(tags::PHYSICAL_UNITS_Y_DIRECTION, VR::US, PrimitiveValue::from(3u16)),
        DataElement::new(tags::PHYSICAL_DELTA_X, VR::FD, PrimitiveValue::from(0.02f64)),
        DataElement::new(tags::PHYSICAL_DELTA_Y, VR::FD, PrimitiveValue::from(0.02f64)),
    ]);
    obj.put(DataElement::new(tags::SEQUENCE_OF_ULTRASOUND_REGIONS, VR::SQ, DataSetSequence::from(vec![region])));
    framegate::sample::to_bytes(obj).unwrap()
}

#[tokio::test]
async fn a_study_folder_opens_as_series_with_thumbnails_and_only_the_controls_that_work() {
    let Some((_driver, client)) = browser(1280, 800, false).await else { return };
    let server = Server::start().await;
    ct_series(&server, "study/1-ct", 6, 64).await;
    server.put("study/2-us/us.dcm", ultrasound()).await;
    server.put("study/3-xa/cine.dcm", framegate::sample::to_bytes(framegate::sample::cine(8, 64)).unwrap()).await;
    for n in 1..=3 {
        framegate::sample::write_stack_image(n, 64, &server.path(&format!("study/4-photos/img{n}.jpg"))).unwrap();
    }
    let stack = get(&server.url("study", "study", "/-/stack.json")).await.json();
    let series = stack["series"].as_array().unwrap();
    assert_eq!(series.len(), 4, "{stack}");
    assert_eq!((series[0]["first"].clone(), series[0]["frames"].clone(), series[0]["modality"].clone()), (json!(0), json!(6), json!("CT")));
    assert_eq!(series[0]["orientation"], json!([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]));
    assert_eq!((series[1]["first"].clone(), series[1]["color"].clone()), (json!(6), json!(true)));
    assert_eq!(series[1]["region_spacing"], json!([0.2, 0.2]));
    assert_eq!((series[2]["first"].clone(), series[2]["frames"].clone()), (json!(7), json!(8)));

    client.goto(&server.url("study", "study", "/-/view")).await.unwrap();
    until(&client, "the first frame", |s| s["shownIndex"] == 0).await;
    // Each series' thumbnail loads and decodes; waited for, as they come in their own time.
    super::support::until("four thumbnails", PATIENCE, || async {
        let thumbs = js(&client, "return [...document.querySelectorAll('#seriesbar img')].map(i => i.complete && i.naturalWidth > 0)").await;
        if thumbs == json!([true, true, true, true]) { Ok(()) } else { Err(thumbs) }
    })
    .await;
    let controls = "return ['preset', 'mode', 'play', 'track', 'measure'].map(id => { const e = document.getElementById(id); return !e.hidden && e.getClientRects().length > 0; })";
    assert_eq!(js(&client, controls).await, json!([true, false, true, true, true]));
    std::fs::write(screenshot_path("viewer-series.png"), client.screenshot().await.unwrap()).unwrap();

    // Ultrasound, colour, one image: no window/level, no presets, no cine; calibrated by region.
    js(&client, "document.querySelectorAll('#seriesbar button')[1].click()").await;
    let s = until(&client, "the ultrasound", |s| s["series"] == 1 && s["shownIndex"] == 0).await;
    assert_eq!(js(&client, controls).await, json!([false, false, false, false, true]));
    assert_eq!(s["wl"], "");
    assert!(s["scaleBar"]["mm"].as_u64().is_some(), "{s}");
    drag(&client, MOUSE_BUTTON_RIGHT, (0, 0), (-100.0, 50.0)).await;
    let s = view(&client).await;
    assert!(s["window"].is_null() && s["wl"] == "", "a right-drag does nothing to colour: {s}");

    // The cine: grey but not CT, so window/level and no CT presets.
    js(&client, "document.querySelectorAll('#seriesbar button')[2].click()").await;
    until(&client, "the cine", |s| s["series"] == 2 && s["shownIndex"] == 0).await;
    let options = js(&client, "return [...document.getElementById('preset').options].filter(o => !o.hidden).map(o => o.value)").await;
    assert_eq!(options, json!([""]));
    assert_eq!(js(&client, controls).await, json!([true, false, true, true, true]));

    // A JPEG stack: its pixels are final, so no window/level, and a right-drag changes nothing.
    js(&client, "document.querySelectorAll('#seriesbar button')[3].click()").await;
    let s = until(&client, "the photos", |s| s["series"] == 3 && s["shownIndex"] == 0).await;
    assert_eq!(js(&client, controls).await, json!([false, false, true, true, false]));
    assert_eq!(s["wl"], "");
    drag(&client, MOUSE_BUTTON_RIGHT, (0, 0), (-100.0, 50.0)).await;
    assert!(view(&client).await["window"].is_null());
    client.close().await.unwrap();
    server.stop().await;
}

/// Serves one HTML page at `/` from `listener`: a portal embedding the viewer.
pub(super) fn host_page(listener: tokio::net::TcpListener, html: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let html = html.clone();
            let service = hyper::service::service_fn(move |_req: hyper::Request<hyper::body::Incoming>| {
                let body = http_body_util::Full::new(bytes::Bytes::from(html.clone()));
                async move { Ok::<_, std::convert::Infallible>(hyper::Response::builder().header("content-type", "text/html").body(body).unwrap()) }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
            });
        }
    })
}

pub(super) async fn messages(client: &Client, what: &str, test: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    super::support::until(what, PATIENCE, || async {
        let all = js(client, "return window.messages || []").await;
        let all = all.as_array().cloned().unwrap_or_default();
        if test(&all) { Ok(all) } else { Err(all) }
    })
    .await
}

#[tokio::test]
async fn an_embedding_page_sets_options_and_hears_loaded_slice_and_expired() {
    let Some((_driver, client)) = browser(1024, 768, false).await else { return };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = format!("http://{}", listener.local_addr().unwrap());
    let server = Server::start_with(framegate::Settings { frame_ancestors: vec![host.clone()], ..Default::default() }).await;
    ct_series(&server, "ct/s1", 10, 64).await;
    let live = format!("{}?slice=5&window=-600,1500&controls=none&lang=de&origin={host}", server.url("ct/s1", "ct/s1", "/-/view"));
    let expired = format!("{}/v1/{}/ct/s1/-/view?lang=de", server.base(), server.keys.sign(&key("ct/s1"), now() - 10));

    // Opened fresh, an expired link is a page for a person, with status 410; a bad one, 403.
    let r = get(&expired).await;
    assert_eq!(r.status, 410);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.header("content-security-policy").unwrap().contains(&format!("frame-ancestors {host}")));
    assert!(String::from_utf8_lossy(&r.body).contains("This link has expired"));
    let forged = get(&format!("{}/v1/x.1.2.AAAA/ct/s1/-/view", server.base())).await;
    assert_eq!((forged.status, forged.header("content-type")), (403, Some("text/html; charset=utf-8")));
    assert!(String::from_utf8_lossy(&forged.body).contains("does not give access"));

    let task = host_page(
        listener,
        format!(
            "<!doctype html><script>window.messages = []; addEventListener('message', (e) => messages.push(e.data));</script>
         <iframe src=\"{live}\" width=600 height=500></iframe><iframe src=\"{expired}\" width=300 height=200></iframe>"
        ),
    );
    client.goto(&host).await.unwrap();
    let all = messages(&client, "loaded and expired", |m| m.iter().any(|m| m["type"] == "loaded") && m.iter().any(|m| m["type"] == "expired")).await;
    let loaded = all.iter().find(|m| m["type"] == "loaded").unwrap();
    assert_eq!((loaded["source"].clone(), loaded["slice"].clone(), loaded["frames"].clone()), (json!("framegate"), json!(5), json!(10)), "{all:?}");
    assert!(all.iter().any(|m| m["type"] == "slice" && m["slice"] == 5), "{all:?}");

    // The options took: slice 5, the lung window, no controls, German.
    client.enter_frame(0).await.unwrap();
    let s = until(&client, "the windowed slice", |s| s["shownIndex"] == 4 && s["shown"].as_str().unwrap().contains("window=-600.0,1500.0")).await;
    assert_eq!(s["wl"], "W 1500 L -600");
    let chrome = js(&client, "return [document.querySelector('header').getClientRects().length, document.querySelector('footer').getClientRects().length, document.documentElement.lang, document.getElementById('reset').textContent]").await;
    assert_eq!(chrome, json!([0, 0, "de", "Zurücksetzen"]));
    // The portal's iframe does not allow full screen, so the viewer offers none.
    assert_eq!(js(&client, "return [document.fullscreenEnabled, document.getElementById('fullscreen').hidden]").await, json!([false, true]));
    client.enter_parent_frame().await.unwrap();
    // The host moves the viewer, and hears where it went.
    js(&client, "document.querySelector('iframe').contentWindow.postMessage({type: 'go', slice: 8}, '*')").await;
    messages(&client, "slice 8", |m| m.iter().any(|m| m["type"] == "slice" && m["slice"] == 8)).await;
    client.enter_frame(1).await.unwrap();
    let text = js(&client, "return document.getElementById('message').textContent").await;
    assert_eq!(text, "Dieser Link ist abgelaufen. Bitten Sie um einen neuen Link.");
    client.enter_parent_frame().await.unwrap();
    task.abort();
    client.close().await.unwrap();
    server.stop().await;
}

/// Records every `fetch` the page makes in `window.fetches`, installed before the page's own
/// scripts run: its URL, when it started and settled (ms, the page's clock), its status and
/// Retry-After, and whether it was aborted before an answer came. The network as the page used
/// it, not the viewer's record of what it asked for.
pub(super) async fn record_fetches(client: &Client) {
    let source = "window.fetches = []; const real = window.fetch;
        window.fetch = function (input) {
          const rec = { url: String(input instanceof Request ? input.url : input), start: performance.now(), end: null, status: null, retryAfter: null, outcome: 'pending' };
          fetches.push(rec);
          return real.apply(this, arguments).then(
            (r) => { Object.assign(rec, { end: performance.now(), status: r.status, retryAfter: r.headers.get('retry-after'), outcome: 'answered' }); return r; },
            (e) => { Object.assign(rec, { end: performance.now(), outcome: e && e.name === 'AbortError' ? 'aborted' : 'failed' }); throw e; });
        };";
    client.issue_cmd(Cdp("Page.addScriptToEvaluateOnNewDocument", json!({ "source": source }))).await.unwrap();
}

#[tokio::test]
async fn a_busy_server_is_asked_again_no_sooner_than_its_retry_after() {
    let Some((_driver, client)) = browser(1024, 700, false).await else { return };
    // One render at a time and none waiting, and that one taken: stack.json is refused with 503.
    let server = Server::start_with(framegate::Settings { render_threads: 1, render_queue: 0, ..Default::default() }).await;
    ct_series(&server, "ct/s1", 3, 64).await;
    client.goto("about:blank").await.unwrap();
    record_fetches(&client).await;
    open_with_the_pool_taken(&server, &client, &server.url("ct/s1", "ct/s1", "/-/view")).await;

    // The person sees the slice, drawn, with no error left over.
    let s = until(&client, "the first slice", |s| s["shownIndex"] == 0).await;
    assert!(s["error"].is_null() && s["frameError"].is_null(), "{s}");
    consistent(&s).unwrap();
    pictured(&client, ct_frames(3, 64)).await.unwrap();

    // The refusal said when to come back, and the page came back no sooner. The viewer's own
    // backoff for a first retry is 300 to 500 ms, so a viewer that ignored Retry-After (1 s)
    // fails here. A millisecond is allowed for the page clock's coarsening.
    let tries = js(&client, "return fetches.filter((f) => f.url.includes('stack.json'))").await;
    let tries = tries.as_array().unwrap();
    assert!(tries.len() >= 2, "one refusal, then a retry: {tries:?}");
    assert_eq!(tries[0]["status"], 503, "{tries:?}");
    let after: f64 = tries[0]["retryAfter"].as_str().and_then(|a| a.parse().ok()).unwrap_or_else(|| panic!("a 503 with Retry-After: {tries:?}"));
    let gap = tries[1]["start"].as_f64().unwrap() - tries[0]["end"].as_f64().unwrap();
    eprintln!("Retry-After {after} s; asked again after {gap:.0} ms");
    assert!(gap >= after * 1000.0 - 1.0, "asked again {gap:.0} ms after a 503 with Retry-After: {after}");
    assert_eq!(tries.last().unwrap()["status"], 200, "{tries:?}");
    client.close().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn frames_scrolled_past_on_a_slow_network_are_cancelled_not_downloaded() {
    let Some((_driver, client)) = browser(1024, 700, false).await else { return };
    let server = Server::start().await;
    const SLICES: usize = 60;
    ct_series(&server, "ct/s1", SLICES, 128).await;
    client.goto("about:blank").await.unwrap();
    record_fetches(&client).await;
    // The background fill fetches every slice once the first image is on screen, the passed
    // ones too, by design (viewer_loading.rs tests it and its cancellation on a jump). Under
    // Save-Data the viewer fetches only the read-ahead, whose economy this test is about.
    save_data(&client).await;
    // About 3G: every frame is a 400 ms round trip away, longer than a burst of keys takes.
    throttle(&client, 200, 400).await;
    client.goto(&server.url("ct/s1", "ct/s1", "/-/view")).await.unwrap();
    until(&client, "the first frame", |s| s["shownIndex"] == 0).await;
    let before = js(&client, "return fetches.length").await.as_u64().unwrap();
    let served_before = answered(&server, "frame", 200).await;

    // Forty slices down in one burst, as a held arrow key does.
    const TARGET: usize = 40;
    let downs: String = std::iter::repeat_n(char::from(Key::Down), TARGET).collect();
    client.find(Locator::Css("body")).await.unwrap().send_keys(&downs).await.unwrap();
    let s = until(&client, "the slice the keys stopped at", |s| s["shownIndex"] == TARGET).await;
    consistent(&s).unwrap();
    pictured(&client, ct_frames(SLICES, 128)).await.unwrap();
    // Every request has settled: a download left running would still count as one below.
    let outcomes = super::support::until("every request settled", PATIENCE, || async {
        let all =
            js(&client, &format!("return fetches.slice({before}).map((f) => {{ const m = /slice(\\d{{3}})\\.dcm/.exec(f.url); return [m ? Number(m[1]) - 1 : null, f.outcome]; }})"))
                .await;
        let all: Vec<(Option<usize>, String)> = serde_json::from_value(all).unwrap();
        if all.iter().any(|(_, o)| o == "pending") { Err(all) } else { Ok(all) }
    })
    .await;

    // Slices the keys passed and the viewer no longer keeps around (it keeps four behind) were
    // not downloaded: asked for and cancelled on the way, or, passed faster than an answer could
    // come, never asked for (issue 26). At most a quarter of them was answered.
    let passed = TARGET - 4;
    let far: Vec<&(Option<usize>, String)> = outcomes.iter().filter(|(i, _)| i.is_some_and(|i| i < passed)).collect();
    let answered_far = far.iter().filter(|(_, o)| o == "answered").count();
    let aborted_far = far.iter().filter(|(_, o)| o == "aborted").count();
    let served = answered(&server, "frame", 200).await - served_before;
    eprintln!("{TARGET} slices passed: {} requests for far slices, {answered_far} answered, {aborted_far} cancelled; the server answered {served} frames", far.len());
    assert!(outcomes.iter().any(|(i, o)| *i == Some(TARGET) && o == "answered"), "the slice the keys stopped at came over the network: {outcomes:?}");
    assert!(answered_far * 4 <= passed, "slices scrolled past were downloaded, not cancelled: {outcomes:?}");
    // The server agrees: fewer frames answered than slices passed (20 measured; 46 when the
    // viewer let them all run). Some it answers the browser had already cancelled, as the
    // throttling holds answers in the browser, so it is not a count of zero far ones.
    assert!(served < TARGET as u64, "the server answered {served} frames for {TARGET} slices passed");
    client.close().await.unwrap();
    server.stop().await;
}
