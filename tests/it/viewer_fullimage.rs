//! The viewer's full-image mode (issue 27, feature 5): a tap hides and shows the toolbars, the
//! series strip folds, a first-use hint names the gestures once, and a key image downloads with
//! its annotations burned in and nothing else. The viewer had none of these before: each test
//! fails on the old page (no hint, no fold button, no Save image; a tap changed nothing).

use std::time::Duration;

use fantoccini::actions::{InputSource, PointerAction, TouchActions};
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use super::browser::{browser_at, screenshot_path};
use super::fixtures::hu_square;
use super::support::*;
use super::viewer::{Cdp, ct_series, js, until};
use super::viewer_ux::{after_paint, choose_tool, finger_drag, open_viewer};

/// Whether each bar is on screen, and the canvas' size against the viewport's.
const CHROME: &str = "const on = (s) => { const e = document.querySelector(s); return !!e && !e.hidden && e.getClientRects().length > 0; };
    const c = document.getElementById('canvas').getBoundingClientRect();
    return { header: on('header'), footer: on('footer'), strip: on('#seriesbar'), hint: on('#hint'), thumbs: [...document.querySelectorAll('#seriesbar img')].filter((i) => i.getClientRects().length).length,
             w: c.width, h: c.height, vw: innerWidth, vh: innerHeight, hintText: document.getElementById('hint').textContent };";

async fn chrome(client: &Client) -> Value {
    after_paint(client, CHROME).await
}

/// Waits until what [`CHROME`] reports passes `test`.
async fn until_chrome(client: &Client, what: &str, test: impl Fn(&Value) -> bool) -> Value {
    super::support::until(what, Duration::from_secs(20), || async {
        let c = chrome(client).await;
        if test(&c) { Ok(c) } else { Err(c) }
    })
    .await
}

/// One finger's tap at an offset from the canvas' centre, or two taps 80 ms apart.
async fn tap(client: &Client, at: (f64, f64), twice: bool) {
    let canvas = client.find(Locator::Id("canvas")).await.unwrap();
    let mut tap = TouchActions::new("finger".into())
        .then(PointerAction::MoveToElement { element: canvas, duration: None, x: at.0, y: at.1 })
        .then(PointerAction::Down { button: 0 })
        .then(PointerAction::Up { button: 0 });
    if twice {
        tap = tap.then(PointerAction::Pause { duration: Duration::from_millis(80) }).then(PointerAction::Down { button: 0 }).then(PointerAction::Up { button: 0 });
    }
    client.perform_actions(tap).await.unwrap();
}

#[tokio::test]
async fn a_tap_gives_the_image_the_whole_screen_and_the_hint_shows_once() {
    for (w, h) in [(390, 844), (844, 390)] {
        let Some((_driver, client)) = browser_at(w, h, true, 3.0).await else { return };
        let server = Server::start().await;
        ct_series(&server, "ct", 5, 256).await;
        open_viewer(&client, &server, "ct").await;
        // The first time, the gestures are named over the image.
        let c = until_chrome(&client, "the hint", |c| c["hint"] == true).await;
        assert!(c["hintText"].as_str().unwrap().contains("swipe up / down") && c["hintText"].as_str().unwrap().contains("hide or show the controls"), "{c}");
        std::fs::write(screenshot_path(&format!("viewer-hint-{w}x{h}.png")), client.screenshot().await.unwrap()).unwrap();
        // The first touch dismisses it, and only that: the bars stay.
        tap(&client, (0.0, 0.0), false).await;
        until_chrome(&client, "the hint gone", |c| c["hint"] == false).await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(chrome(&client).await["header"], true, "{w}×{h}: the tap that dismissed the hint hid the bars");

        // A tap: every bar goes and the image has the whole screen; another brings them back.
        tap(&client, (0.0, 0.0), false).await;
        let c = until_chrome(&client, "full image", |c| c["header"] == false && c["footer"] == false).await;
        assert_eq!((c["w"].clone(), c["h"].clone()), (c["vw"].clone(), c["vh"].clone()), "{w}×{h}: the canvas does not fill the screen: {c}");
        std::fs::write(screenshot_path(&format!("viewer-full-image-{w}x{h}.png")), client.screenshot().await.unwrap()).unwrap();
        tap(&client, (0.0, 0.0), false).await;
        until_chrome(&client, "the bars back", |c| c["header"] == true && c["footer"] == true).await;
        // A double tap fits the image and leaves the bars as they are.
        tap(&client, (0.0, 0.0), true).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(chrome(&client).await["header"], true, "{w}×{h}: a double tap hid the bars");
        // A swipe scrolls; it is no tap.
        finger_drag(&client, (0.0, 0.0), (0.0, -60.0)).await;
        until(&client, "scrolled", |s| s["shownIndex"].as_u64() > Some(0)).await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(chrome(&client).await["header"], true, "{w}×{h}: a swipe hid the bars");

        // Opened again, the hint is not shown: it was seen.
        client.refresh().await.unwrap();
        until(&client, "the first frame again", |s| s["shownIndex"] == 0).await;
        assert_eq!(chrome(&client).await["hint"], false, "{w}×{h}: the hint came back");
        client.close().await.unwrap();
        server.stop().await;
    }
}

#[tokio::test]
async fn the_series_strip_folds_to_one_button_and_stays_folded() {
    let Some((_driver, client)) = browser_at(390, 844, true, 3.0).await else { return };
    let server = Server::start().await;
    ct_series(&server, "study/1-ct", 4, 256).await;
    ct_series(&server, "study/2-ct", 4, 256).await;
    open_viewer(&client, &server, "study").await;
    let open = until_chrome(&client, "the strip", |c| c["thumbs"] == 2).await;
    client.find(Locator::Id("strip-toggle")).await.unwrap().click().await.unwrap();
    let folded = until_chrome(&client, "the strip folded", |c| c["thumbs"] == 0 && c["strip"] == false).await;
    assert!(folded["h"].as_f64().unwrap() > open["h"].as_f64().unwrap() + 40.0, "the image did not get the strip's height: {open} → {folded}");
    let toggle = "const b = document.getElementById('strip-toggle'); return [b.textContent, b.getAttribute('aria-label'), b.getAttribute('aria-expanded')]";
    assert_eq!(js(&client, toggle).await, json!(["▸ 2", "Series (2)", "false"]));
    client.refresh().await.unwrap();
    until(&client, "the first frame again", |s| s["shownIndex"] == 0).await;
    until_chrome(&client, "still folded", |c| c["thumbs"] == 0).await;
    client.find(Locator::Id("strip-toggle")).await.unwrap().click().await.unwrap();
    until_chrome(&client, "the strip open", |c| c["thumbs"] == 2).await;
    client.close().await.unwrap();
    server.stop().await;
}

/// The chunk types of a PNG file, in order.
fn png_chunks(png: &[u8]) -> Vec<String> {
    let mut at = 8;
    let mut out = vec![];
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        out.push(String::from_utf8_lossy(&png[at + 4..at + 8]).into_owned());
        at += 12 + len;
    }
    out
}

#[tokio::test]
async fn a_key_image_is_the_picture_on_screen_with_its_annotations_and_no_metadata() {
    let Some((_driver, client)) = browser_at(390, 844, true, 3.0).await else { return };
    let server = Server::start().await;
    for i in 0..3 {
        server.put(&format!("hu/slice{:03}.dcm", i + 1), hu_square(i, 3, 64)).await;
    }
    let downloads = tempfile::tempdir().unwrap();
    client.issue_cmd(Cdp("Page.setDownloadBehavior", json!({ "behavior": "allow", "downloadPath": downloads.path() }))).await.unwrap();
    open_viewer(&client, &server, "hu").await;
    choose_tool(&client, "measure").await;
    client.find(Locator::Css("[data-tool=rect]")).await.unwrap().click().await.unwrap();
    let corners = js(&client, "const m = imageMatrix(displayed.entry), s = stageSize(), a = m.transformPoint({ x: 16, y: 16 }), b = m.transformPoint({ x: 32, y: 32 }); return [a.x - s.w / 2, a.y - s.h / 2, b.x - a.x, b.y - a.y]").await;
    let n = |i: usize| corners[i].as_f64().unwrap();
    finger_drag(&client, (n(0), n(1)), (n(2), n(3))).await;
    until(&client, "the square's statistics", |s| s["length"].as_str().is_some_and(|l| l.starts_with("mean 100.0 HU"))).await;
    // What the canvas shows where the rectangle's corner and the square's middle are.
    let probe = after_paint(
        &client,
        "const d = devicePixelRatio, m = new DOMMatrix().scale(d).multiply(imageMatrix(displayed.entry)), c = document.getElementById('canvas');
         const b = m.transformPoint({ x: 32, y: 32 }), mid = m.transformPoint({ x: 24, y: 24 }), x = c.getContext('2d');
         return { w: c.width, h: c.height, corner: [Math.round(b.x), Math.round(b.y)], mid: [Math.round(mid.x), Math.round(mid.y)],
                  midPixel: [...x.getImageData(Math.round(mid.x), Math.round(mid.y), 1, 1).data] };",
    )
    .await;
    choose_tool(&client, "keyimage").await;
    let path = downloads.path().join("slice-1.png");
    let png = super::support::until("the key image downloaded", Duration::from_secs(20), || async {
        match std::fs::read(&path) {
            Ok(bytes) if bytes.ends_with(&[0xAE, 0x42, 0x60, 0x82]) => Ok(bytes),
            other => Err(other.map(|b| b.len()).map_err(|e| e.to_string())),
        }
    })
    .await;
    std::fs::copy(&path, screenshot_path("viewer-key-image.png")).unwrap();

    // Nothing but pixels: no text, EXIF or time chunks.
    let chunks = png_chunks(&png);
    assert!(chunks.iter().all(|c| !["tEXt", "iTXt", "zTXt", "eXIf", "tIME"].contains(&c.as_str())), "{chunks:?}");
    let mut reader = png::Decoder::new(std::io::Cursor::new(&png)).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (probe["w"].as_u64().unwrap() as u32, probe["h"].as_u64().unwrap() as u32), "the key image is the canvas' size");
    let channels = info.color_type.samples();
    let at = |p: &Value| {
        let (x, y) = (p[0].as_u64().unwrap() as usize, p[1].as_u64().unwrap() as usize);
        let i = (y * info.width as usize + x) * channels;
        buf[i..i + 3].to_vec()
    };
    // The rectangle's corner handle is burned in yellow; the image under it is the one on screen.
    let corner = at(&probe["corner"]);
    assert!(corner[0] > 200 && corner[1] > 170 && corner[2] < 140, "the annotation is not in the key image: {corner:?}");
    let mid: Vec<u8> = probe["midPixel"].as_array().unwrap()[..3].iter().map(|v| v.as_u64().unwrap() as u8).collect();
    assert_eq!(at(&probe["mid"]), mid, "the key image's pixels are not the screen's");
    client.close().await.unwrap();
    server.stop().await;
}
