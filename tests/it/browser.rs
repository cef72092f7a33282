//! The viewer in a real headless Chromium, driven over WebDriver (chromedriver): scrolling by
//! wheel, keys and touch, pinch, window/level, prefetch, an expired token, and screenshots.

use std::time::Duration;

use fantoccini::actions::{InputSource, MOUSE_BUTTON_RIGHT, MouseActions, PointerAction, TouchActions, WheelAction, WheelActions};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::Value;

use super::dicomweb_browser::encode;
use super::support::*;

const SLICES: usize = 100;

/// chromedriver and the Chromium it started, both stopped on drop.
pub(super) use framegate_testkit::chromium::Chromium as Driver;

pub(super) async fn browser(width: u32, height: u32, mobile: bool) -> Option<(Driver, Client)> {
    browser_at(width, height, mobile, 2.0).await
}

/// [`browser`] with a device pixel ratio for the emulated phone or tablet (`mobile`).
pub(super) async fn browser_at(width: u32, height: u32, mobile: bool, dpr: f64) -> Option<(Driver, Client)> {
    if !have_tool("chromedriver") || !have_tool("chromium") {
        return None;
    }
    Some(framegate_testkit::chromium::start(width, height, mobile.then_some(dpr)).await)
}

async fn state(client: &Client) -> Value {
    client
        .execute(
            "const c = document.getElementById('canvas'); if (!c || !window.fg) return null; const x = c.getContext('2d');
             const px = x.getImageData(Math.floor(c.width / 2), Math.floor(c.height / 2), 1, 1).data;
             return { index: fg.index, zoom: fg.zoom, window: fg.window, error: fg.error, shown: fg.shown,
                      requested: fg.requested, counter: document.getElementById('counter').textContent,
                      message: document.getElementById('message').textContent,
                      image: c.toDataURL().length + ':' + Array.from(x.getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 == 0).slice(0, 200000)).reduce((a, b) => (a * 31 + b) % 1000000007, 7),
                      centre: px[0] };",
            vec![],
        )
        .await
        .unwrap()
}

/// Waits until `test` holds for the viewer state (null until the page has loaded), or fails
/// with the last state.
pub(super) async fn until(client: &Client, what: &str, test: impl Fn(&Value) -> bool) -> Value {
    super::support::until(what, PATIENCE, || async {
        let s = state(client).await;
        if test(&s) { Ok(s) } else { Err(s) }
    })
    .await
}

pub(super) async fn press(client: &Client, keys: &[Key]) {
    let text: String = keys.iter().map(|k| char::from(*k)).collect();
    client.find(Locator::Css("body")).await.unwrap().send_keys(&text).await.unwrap();
}

fn shown_frame(s: &Value) -> Option<String> {
    let shown = s["shown"].as_str()?;
    Some(shown.to_owned())
}

async fn series_server() -> Server {
    let server = Server::start().await;
    for i in 0..SLICES {
        server.put_ct(&format!("ct/s1/slice{:03}.dcm", i + 1), i, SLICES, 128).await;
    }
    server
}

pub(super) fn screenshot_path(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[tokio::test]
async fn desktop_viewer_scrolls_zooms_windows_and_prefetches() {
    let Some((_driver, client)) = browser(1280, 800, false).await else { return };
    let server = series_server().await;
    client.goto(&server.url("ct/s1", "ct/s1", "/-/view")).await.unwrap();
    let s = until(&client, "the first frame", |s| s["shown"].is_string()).await;
    assert_eq!(s["counter"], format!("1 / {SLICES}"));
    let first = s["image"].clone();

    // Prefetch asked for the frames ahead.
    let s = until(&client, "prefetch", |s| s["requested"].as_array().unwrap().len() >= 8).await;
    let requested: Vec<&str> = s["requested"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(requested.iter().any(|u| u.contains("slice002.dcm")) && requested.iter().any(|u| u.contains("slice005.dcm")), "{requested:?}");

    // The mouse wheel moves down the stack and the picture changes.
    let canvas = client.find(Locator::Id("canvas")).await.unwrap();
    let wheel = WheelActions::new("wheel".into()).then(WheelAction::Scroll { duration: None, x: 640, y: 400, delta_x: 0, delta_y: 120 });
    client.perform_actions(wheel).await.unwrap();
    let s = until(&client, "a wheel step", |s| s["index"].as_u64().unwrap() > 0 && shown_frame(s).is_some_and(|u| !u.contains("slice001"))).await;
    let after_wheel = s["index"].as_u64().unwrap();
    // Keys: down arrow twice, then End.
    press(&client, &[Key::Down, Key::Down]).await;
    let s = until(&client, "two key steps", |s| s["index"].as_u64() == Some(after_wheel + 2)).await;
    let s = until(&client, "the new frame drawn", |x| x["image"] != first && shown_frame(x) == shown_frame(&s)).await;
    assert_ne!(s["image"], first, "the displayed image changes");
    press(&client, &[Key::End]).await;
    // The counter names the frame on screen, so it reaches the end with the last frame's picture.
    let s = until(&client, "the last frame", |s| s["counter"] == format!("{SLICES} / {SLICES}")).await;
    assert!(shown_frame(&s).is_some_and(|u| u.contains(&format!("slice{SLICES:03}"))), "{s}");
    press(&client, &[Key::Home]).await;
    until(&client, "back to the middle", |s| s["index"].as_u64() == Some(0)).await;
    for _ in 0..50 {
        press(&client, &[Key::Down]).await;
    }
    let before = until(&client, "the middle slice", |s| s["index"].as_u64() == Some(50) && shown_frame(s).is_some_and(|u| u.contains("slice051"))).await;
    let before = until(&client, "the middle slice drawn", |x| x["image"] != s["image"] && shown_frame(x) == shown_frame(&before)).await;
    std::fs::write(screenshot_path("viewer-desktop-scroll.png"), client.screenshot().await.unwrap()).unwrap();

    // Right-drag changes window/level: new frames with a window, and different pixels.
    let drag = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement { element: canvas.clone(), duration: None, x: 0.0, y: 0.0 })
        .then(PointerAction::Down { button: MOUSE_BUTTON_RIGHT })
        .then(PointerAction::MoveBy { duration: Some(Duration::from_millis(200)), x: -150.0, y: 60.0 })
        .then(PointerAction::Up { button: MOUSE_BUTTON_RIGHT });
    client.perform_actions(drag).await.unwrap();
    let s = until(&client, "a windowed frame", |s| s["window"].is_object() && shown_frame(s).is_some_and(|u| u.contains("window="))).await;
    let s = until(&client, "windowed pixels", |x| x["image"] != before["image"] && shown_frame(x) == shown_frame(&s)).await;
    assert_ne!(s["image"], before["image"], "window/level changes the pixels");
    assert!(s["window"]["width"].as_f64().unwrap() < 400.0, "dragging left narrows the window: {}", s["window"]);

    // L switches to lossless PNG frames, keeping the window; the picture is the same within
    // JPEG's error, fetched again.
    client.find(Locator::Css("body")).await.unwrap().send_keys("l").await.unwrap();
    let png = until(&client, "a PNG frame", |x| shown_frame(x).is_some_and(|u| u.contains(".png?window="))).await;
    assert_eq!(png["index"], s["index"]);
    let clicked = client.execute("document.getElementById('lossless').click(); return fg.lossless", vec![]).await.unwrap();
    assert_eq!(clicked, false);
    until(&client, "back to JPEG", |x| shown_frame(x).is_some_and(|u| u.contains(".jpg?window="))).await;

    // Ctrl-wheel zooms.
    client
        .execute(
            "document.getElementById('stage').dispatchEvent(new WheelEvent('wheel', {deltaY: -200, ctrlKey: true, clientX: 640, clientY: 400, bubbles: true, cancelable: true}))",
            vec![],
        )
        .await
        .unwrap();
    until(&client, "zoom", |s| s["zoom"].as_f64().unwrap() > 1.5).await;
    client.close().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn phone_viewer_swipes_and_pinches() {
    let Some((_driver, client)) = browser(390, 844, true).await else { return };
    let server = series_server().await;
    client.goto(&server.url("ct/s1", "ct/s1", "/-/view")).await.unwrap();
    let s = until(&client, "the first frame", |s| s["shown"].is_string()).await;
    let first = s["image"].clone();
    let canvas = client.find(Locator::Id("canvas")).await.unwrap();

    // One finger swiping up moves through the stack.
    let swipe = TouchActions::new("finger".into())
        .then(PointerAction::MoveToElement { element: canvas.clone(), duration: None, x: 0.0, y: 100.0 })
        .then(PointerAction::Down { button: 0 })
        .then(PointerAction::MoveBy { duration: Some(Duration::from_millis(300)), x: 0.0, y: -120.0 })
        .then(PointerAction::Up { button: 0 });
    client.perform_actions(swipe).await.unwrap();
    let s = until(&client, "a swipe", |s| s["index"].as_u64().unwrap() >= 5).await;
    let s = until(&client, "the swiped-to frame", |x| x["image"] != first && shown_frame(x) == shown_frame(&s)).await;
    assert_ne!(s["image"], first);
    std::fs::write(screenshot_path("viewer-phone.png"), client.screenshot().await.unwrap()).unwrap();

    // Two fingers moving apart zoom in.
    let finger = |id: &str, dx: f64| {
        TouchActions::new(id.into())
            .then(PointerAction::MoveToElement { element: canvas.clone(), duration: None, x: dx, y: 0.0 })
            .then(PointerAction::Down { button: 0 })
            .then(PointerAction::MoveBy { duration: Some(Duration::from_millis(300)), x: dx * 3.0, y: 0.0 })
            .then(PointerAction::Up { button: 0 })
    };
    client.perform_actions(fantoccini::actions::Actions::from(finger("f1", -30.0)).and(finger("f2", 30.0))).await.unwrap();
    let s = until(&client, "a pinch", |s| s["zoom"].as_f64().unwrap() > 1.5).await;
    assert!(s["index"].as_u64().unwrap() >= 5);
    client.close().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn an_expired_token_shows_a_message_not_a_broken_image() {
    let Some((_driver, client)) = browser(800, 600, false).await else { return };
    let server = series_server().await;
    // Long enough for the page to load on a busy two-core machine; then wait it out.
    let expires = now() + 10;
    let token = server.keys.sign(&key("ct/s1"), expires);
    // Expiry is met by the next request after it. Left alone, the background fill would hold
    // all 100 slices before the token ends, and End would ask for nothing; under Save-Data the
    // viewer fetches only around the image, as before the fill.
    super::viewer::save_data(&client).await;
    client.goto(&format!("{}/v1/{token}/ct/s1/-/view", server.base())).await.unwrap();
    until(&client, "the first frame", |s| s["shown"].is_string()).await;
    // The token's end, as the server sees it: its own answer to the same token turns to 410.
    let stack = format!("{}/v1/{token}/ct/s1/-/stack.json", server.base());
    super::support::until("the token to expire", PATIENCE, || async {
        match get(&stack).await.status {
            410 => Ok(()),
            status => Err(status),
        }
    })
    .await;
    press(&client, &[Key::End]).await;
    let s = until(&client, "the expiry message", |s| s["error"] == 410).await;
    assert!(s["message"].as_str().unwrap().contains("expired"), "{s}");
    let shown = client.execute("return getComputedStyle(document.getElementById('message')).display", vec![]).await.unwrap();
    assert_eq!(shown, "flex");
    client.close().await.unwrap();
    server.stop().await;
}

/// Serves the `examples/` folder (with its npm-installed DWV) on loopback, as a portal would.
pub(super) async fn examples_server() -> Option<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    if !root.join("node_modules/dwv/dist/dwv.min.js").is_file() {
        assert!(std::env::var_os("CI").is_none(), "examples/node_modules is missing; .ci/run installs it with npm ci");
        eprintln!("skipping: run `npm ci --prefix examples` to install DWV");
        return None;
    }
    Some(super::dicomweb_browser::static_server(root).await)
}

pub(super) async fn dwv_result(client: &Client) -> Value {
    super::support::until("DWV to finish loading", PATIENCE, || async {
        let r = client.execute("return window.loaded || (window.loadError && {error: window.loadError}) || null", vec![]).await.unwrap();
        if r.is_null() { Err("neither loaded nor failed") } else { Ok(r) }
    })
    .await
}

/// The brightest grey level on DWV's canvas.
async fn dwv_brightest(client: &Client) -> u64 {
    let v = client
        .execute(
            "const c = document.querySelector('#layerGroup0 canvas'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             let m = 0; for (let i = 0; i < d.length; i += 4) m = Math.max(m, d[i]); return m;",
            vec![],
        )
        .await
        .unwrap();
    v.as_u64().unwrap()
}

/// Waits until DWV's canvas shows the phantom (its body is mid-grey, its spine white).
pub(super) async fn drawn(client: &Client, what: &str) {
    super::support::until(&format!("{what}: a bright canvas"), PATIENCE, || async {
        match dwv_brightest(client).await {
            m if m > 100 => Ok(()),
            m => Err(format!("brightest grey {m}")),
        }
    })
    .await;
}

/// Loads the stack.json at `stack` into DWV's page on `origin` and answers what the page
/// reported (`{frames}` or `{error}`).
pub(super) async fn dwv_load_stack(client: &Client, origin: &str, stack: &str) -> Value {
    // DWV 0.36 throws "RangeError: offset is out of bounds" when the first JPEG frames of a
    // stack arrive well before the rest (as when it loads them one at a time, `batchSize: 1`,
    // every time; or when a loaded machine renders them cold). Rendered once first, the frames
    // arrive together, as from a warm framegate or NGINX cache.
    let base = url::Url::parse(stack).unwrap();
    let listing = get(stack).await;
    assert_eq!(listing.status, 200, "{stack}");
    for entry in listing.json()["entries"].as_array().unwrap() {
        let frame = base.join(entry["url"].as_str().unwrap()).unwrap();
        assert_eq!(get(frame.as_str()).await.status, 200, "{frame}");
    }
    // Even so, DWV's loader still throws that error now and then on a loaded machine (about one
    // run in four with the full suite beside it). It is DWV's race, not an answer of ours: that
    // one error, and only it, earns a fresh load, twice at most.
    let mut attempts = 0;
    loop {
        attempts += 1;
        client.goto(&format!("{origin}/dwv-stack.html?stack={}", encode(stack))).await.unwrap();
        let result = dwv_result(client).await;
        let dwv_race = result["error"].as_str().is_some_and(|e| e.contains("offset is out of bounds"));
        if !dwv_race || attempts == 3 {
            return result;
        }
    }
}

#[tokio::test]
async fn dwv_loads_a_stack_through_jpg_urls_and_a_raw_dcm() {
    let Some((static_addr, static_task)) = examples_server().await else { return };
    let Some((_driver, client)) = browser(1024, 768, false).await else { return };
    let origin = format!("http://{static_addr}");
    let server = Server::start_with(framegate::Settings { cors_origins: vec![origin.clone()], ..Default::default() }).await;
    for i in 0..20 {
        server.put_ct(&format!("ct/s1/slice{:02}.dcm", i + 1), i, 20, 128).await;
    }
    let stack = server.url("ct/s1", "ct/s1", "/-/stack.json");
    let result = dwv_load_stack(&client, &origin, &stack).await;
    assert_eq!(result["frames"], 20, "{result}");
    drawn(&client, "DWV draws the frames").await;
    std::fs::write(screenshot_path("dwv-stack.png"), client.screenshot().await.unwrap()).unwrap();

    let raw = server.url("ct/s1", "ct/s1/slice10.dcm", "");
    client.goto(&format!("{origin}/dwv-dicom.html?url={}", encode(&raw))).await.unwrap();
    let result = dwv_result(&client).await;
    assert!(result.get("error").is_none(), "{result}");
    drawn(&client, "DWV draws the DICOM file").await;
    client.close().await.unwrap();
    server.stop().await;
    static_task.abort();
}
