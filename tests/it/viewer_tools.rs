//! The viewer's annotation tools (issue 27, features 2 and 3): a value probe, rectangle and
//! ellipse statistics and an angle, read against a CT whose values are known (fixtures.rs
//! `hu_square`); moving an end point, deleting, undo and redo, and the list of measurements; by
//! finger at the phone sizes and by keys on a desktop. The viewer had none of these
//! before: each test fails on the old page at its first tool button.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use fantoccini::actions::{InputSource, KeyAction, KeyActions, PointerAction, TouchActions};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use super::browser::{browser_at, screenshot_path};
use super::fixtures::{hu_square, hu_square_object};
use super::support::*;
use super::viewer::{drag, js, until};
use super::viewer_ux::{LAYOUT, after_paint, choose_tool, finger_drag, open_viewer};
use framegate::sample;

const SIZE: u16 = 64;

/// Three slices of the known square under `hu/` (mean 100, 110, 120 HU), and under `wide/` one
/// whose pixels are 2 mm wide and 1 mm tall.
async fn tools_server() -> Server {
    let server = Server::start().await;
    for i in 0..3 {
        server.put(&format!("hu/slice{:03}.dcm", i + 1), hu_square(i, 3, SIZE)).await;
    }
    let mut wide = hu_square_object(0, 1, SIZE);
    wide.put(DataElement::new(tags::PIXEL_SPACING, VR::DS, PrimitiveValue::from("1\\2")));
    server.put("wide/slice001.dcm", sample::to_bytes(wide).unwrap()).await;
    server
}

/// Where image point (x, y) is on screen now, as an offset from the canvas' centre.
async fn on_image(client: &Client, x: f64, y: f64) -> (f64, f64) {
    let v = js(client, &format!("const p = imageMatrix(displayed.entry).transformPoint({{ x: {x}, y: {y} }}), s = stageSize(); return [p.x - s.w / 2, p.y - s.h / 2]")).await;
    (v[0].as_f64().unwrap(), v[1].as_f64().unwrap())
}

/// A finger drawn from image point `from` to image point `to`.
async fn finger_from_to(client: &Client, from: (f64, f64), to: (f64, f64)) {
    let (a, b) = (on_image(client, from.0, from.1).await, on_image(client, to.0, to.1).await);
    finger_drag(client, a, (b.0 - a.0, b.1 - a.1)).await;
}

/// A finger's tap on image point `at`.
async fn tap(client: &Client, at: (f64, f64)) {
    let (x, y) = on_image(client, at.0, at.1).await;
    let canvas = client.find(Locator::Id("canvas")).await.unwrap();
    let tap = TouchActions::new("finger".into())
        .then(PointerAction::MoveToElement { element: canvas, duration: None, x, y })
        .then(PointerAction::Down { button: 0 })
        .then(PointerAction::Up { button: 0 });
    client.perform_actions(tap).await.unwrap();
}

async fn click(client: &Client, css: &str) {
    client.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
}

/// The list of measurements as a person reads it: each row's text.
async fn list(client: &Client) -> Value {
    after_paint(client, "return [...document.querySelectorAll('#annolist .jump')].map((b) => b.textContent)").await
}

/// The numbers in a label, in order.
fn numbers(label: &str) -> Vec<f64> {
    label.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-')).filter_map(|w| w.parse().ok()).collect()
}

#[tokio::test]
async fn on_a_phone_the_probe_the_rectangle_the_ellipse_and_the_angle_show_the_known_values() {
    let Some((_driver, client)) = browser_at(390, 844, true, 3.0).await else { return };
    let server = tools_server().await;
    open_viewer(&client, &server, "hu").await;
    choose_tool(&client, "measure").await;
    click(&client, "[data-tool=probe]").await;
    // Pixel (22, 26) of the square is 100 - 10 HU on slice 1; the air around it is -1000 HU.
    tap(&client, (22.5, 26.5)).await;
    until(&client, "the probe's value", |s| s["length"] == "90 HU").await;
    tap(&client, (40.5, 8.5)).await;
    until(&client, "the value of air", |s| s["length"] == "-1000 HU").await;

    // The square: 16 × 16 pixels of 0.9765625 mm, mean 100 HU, SD 10.
    click(&client, "[data-tool=rect]").await;
    finger_from_to(&client, (16.0, 16.0), (32.0, 32.0)).await;
    until(&client, "the square's statistics", |s| s["length"] == "mean 100.0 HU ± 10.0\nmin 90 max 110 · 244.1 mm²").await;
    std::fs::write(screenshot_path("viewer-tools-phone.png"), client.screenshot().await.unwrap()).unwrap();

    // The ellipse inscribed in the square on slice 2: about 208 of its pixels, mean 110 HU.
    click(&client, "#next").await;
    until(&client, "slice 2", |s| s["shownIndex"] == 1).await;
    click(&client, "[data-tool=ellipse]").await;
    finger_from_to(&client, (16.0, 16.0), (32.0, 32.0)).await;
    let s = until(&client, "the ellipse's statistics", |s| s["length"].as_str().is_some_and(|l| l.starts_with("mean"))).await;
    let n = numbers(s["length"].as_str().unwrap());
    assert!((n[0] - 110.0).abs() < 1.5 && (n[1] - 10.0).abs() < 0.5 && n[2..4] == [100.0, 120.0], "{s}");
    assert!((190.0..=207.0).contains(&n[4]), "area {} mm² is not about 208 pixels of 0.954 mm²: {s}", n[4]);
    // Each slice keeps its own: slice 1 has the probes and the rectangle, not the ellipse.
    click(&client, "#prev").await;
    until(&client, "slice 1's rectangle", |s| s["shownIndex"] == 0 && s["length"] == "mean 100.0 HU ± 10.0\nmin 90 max 110 · 244.1 mm²").await;

    // An angle, measured in mm: pixels 2 mm wide and 1 mm tall make the 135° on screen 153.4°.
    client.goto(&server.url("wide", "wide", "/-/view")).await.unwrap();
    until(&client, "the wide image", |s| s["shownIndex"] == 0).await;
    choose_tool(&client, "measure").await;
    click(&client, "[data-tool=angle]").await;
    finger_from_to(&client, (10.0, 40.0), (30.0, 40.0)).await;
    until(&client, "an angle waiting for its third point", |s| s["length"] == "tap the third point").await;
    tap(&client, (40.0, 30.0)).await;
    // atan2(10, 20) + 90° = 153.43°; a fingertip lands within a fraction of a pixel.
    let s = until(&client, "the angle", |s| s["length"].as_str().is_some_and(|l| l.ends_with('°'))).await;
    let angle = numbers(s["length"].as_str().unwrap())[0];
    assert!((angle - 153.43).abs() < 0.6, "the angle is {angle}°, not 153.4° (135° would be the angle on screen, in pixels)");
    std::fs::write(screenshot_path("viewer-tools-angle.png"), client.screenshot().await.unwrap()).unwrap();
    client.close().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn on_a_small_phone_annotations_move_delete_undo_redo_and_list_with_their_slices() {
    let Some((_driver, client)) = browser_at(360, 640, true, 2.0).await else { return };
    let server = tools_server().await;
    open_viewer(&client, &server, "hu").await;
    choose_tool(&client, "measure").await;
    finger_from_to(&client, (8.0, 48.0), (40.0, 48.0)).await;
    let first = until(&client, "a line", |s| s["measures"] == 1 && s["length"].as_str().is_some_and(|l| l.ends_with(" mm"))).await;
    let drawn = js(&client, "return [fg.measures[0].a, fg.measures[0].b]").await;
    finger_from_to(&client, (40.0, 48.0), (40.0, 56.0)).await;
    let moved = until(&client, "the end point moved", |s| s["measures"] == 1 && s["length"] != first["length"]).await;
    let moved_line = js(&client, "return [fg.measures[0].a, fg.measures[0].b]").await;
    assert_ne!(moved_line, drawn, "{moved}");
    assert_eq!(moved_line[0], drawn[0], "the other end stays");

    // Undo puts the end point back, redo moves it again; each is what the label says too.
    click(&client, "#undo").await;
    let s = until(&client, "undone", |s| s["length"] != moved["length"]).await;
    assert_eq!(js(&client, "return [fg.measures[0].a, fg.measures[0].b]").await, drawn, "{s}");
    click(&client, "#redo").await;
    until(&client, "redone", |s| s["length"] == moved["length"]).await;
    assert_eq!(js(&client, "return [fg.measures[0].a, fg.measures[0].b]").await, moved_line);
    assert_eq!(js(&client, "return [document.getElementById('undo').disabled, document.getElementById('redo').disabled]").await, json!([false, true]));

    // A probe on slice 1, a rectangle on slice 3: the list names each with its slice and value.
    click(&client, "[data-tool=probe]").await;
    tap(&client, (22.5, 26.5)).await;
    until(&client, "the probe", |s| s["length"] == "90 HU").await;
    click(&client, "#next").await;
    click(&client, "#next").await;
    until(&client, "slice 3", |s| s["shownIndex"] == 2).await;
    click(&client, "[data-tool=rect]").await;
    finger_from_to(&client, (16.0, 16.0), (32.0, 32.0)).await;
    until(&client, "slice 3's square", |s| s["length"] == "mean 120.0 HU ± 10.0\nmin 110 max 130 · 244.1 mm²").await;
    click(&client, "#listbtn").await;
    let rows = list(&client).await;
    let line = rows[0].as_str().unwrap();
    assert!(line.starts_with("Slice 1 · Line ") && line.ends_with(" mm"), "{rows}");
    assert_eq!(rows.as_array().unwrap()[1..], [json!("Slice 1 · Value 90 HU"), json!("Slice 3 · Rectangle mean 120.0 HU ± 10.0 · min 110 max 130 · 244.1 mm²")], "{rows}");
    std::fs::write(screenshot_path("viewer-tools-list.png"), client.screenshot().await.unwrap()).unwrap();

    // Jump to the line's slice; delete the rectangle from the list, then undo that.
    click(&client, "#annolist div:nth-child(1) .jump").await;
    until(&client, "slice 1 with its line", |s| s["shownIndex"] == 0 && s["length"].as_str() == Some(&line["Slice 1 · Line ".len()..])).await;
    click(&client, "#annolist div:nth-child(3) .del").await;
    until(&client, "the rectangle deleted", |s| s["measures"] == 2).await;
    assert_eq!(list(&client).await.as_array().unwrap().len(), 2);
    click(&client, "#undo").await;
    until(&client, "the rectangle back", |s| s["measures"] == 3).await;
    let rows = list(&client).await;
    assert_eq!(rows[2], json!("Slice 3 · Rectangle mean 120.0 HU ± 10.0 · min 110 max 130 · 244.1 mm²"), "{rows}");
    client.close().await.unwrap();
    server.stop().await;
}

/// Presses `key` with the modifiers held, as a person at the keyboard.
async fn chord(client: &Client, modifiers: &[Key], key: char) {
    let mut keys = KeyActions::new("keyboard".into());
    for m in modifiers {
        keys = keys.then(KeyAction::Down { value: char::from(*m) });
    }
    keys = keys.then(KeyAction::Down { value: key }).then(KeyAction::Up { value: key });
    for m in modifiers.iter().rev() {
        keys = keys.then(KeyAction::Up { value: char::from(*m) });
    }
    client.perform_actions(keys).await.unwrap();
}

#[tokio::test]
async fn on_a_desktop_ctrl_z_undoes_shift_ctrl_z_redoes_and_delete_removes() {
    let Some((_driver, client)) = browser_at(1280, 800, false, 1.0).await else { return };
    let server = tools_server().await;
    open_viewer(&client, &server, "hu").await;
    chord(&client, &[], 'm').await;
    until(&client, "measuring", |_| true).await;
    assert_eq!(js(&client, "return fg.measuring && !document.getElementById('annotools').hidden").await, true);
    drag(&client, 0, (-100, 0), (200.0, 0.0)).await;
    until(&client, "a line", |s| s["measures"] == 1).await;
    chord(&client, &[Key::Control], 'z').await;
    until(&client, "undone", |s| s["measures"] == 0 && s["length"] == "").await;
    chord(&client, &[Key::Shift, Key::Control], 'z').await;
    until(&client, "redone", |s| s["measures"] == 1).await;
    // A click on an end point selects the line without moving it; Delete removes it.
    drag(&client, 0, (100, 0), (0.0, 0.0)).await;
    chord(&client, &[], char::from(Key::Delete)).await;
    until(&client, "deleted", |s| s["measures"] == 0).await;
    chord(&client, &[Key::Control], 'y').await;
    until(&client, "nothing to redo after a new step", |s| s["measures"] == 0).await;
    chord(&client, &[Key::Control], 'z').await;
    until(&client, "the deletion undone", |s| s["measures"] == 1).await;
    client.close().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn the_annotation_tools_fit_each_phone_and_tablet_and_leave_the_image_the_screen() {
    let server = tools_server().await;
    for (w, h, dpr, share) in [(390, 844, 3.0, 0.5), (360, 640, 2.0, 0.45), (844, 390, 3.0, 0.55), (768, 1024, 2.0, 0.55)] {
        let Some((_driver, client)) = browser_at(w, h, true, dpr).await else { return };
        open_viewer(&client, &server, "hu").await;
        choose_tool(&client, "measure").await;
        let bar = after_paint(
            &client,
            "return [...document.querySelectorAll('#annotools button')].map((b) => { const r = b.getBoundingClientRect();
             return r.width >= 44 && r.height >= 44 && r.left >= 0 && r.top >= 0 && r.right <= innerWidth && r.bottom <= innerHeight; })",
        )
        .await;
        assert_eq!(bar, json!(vec![true; 8]), "{w}×{h}: each of the eight tool buttons is whole on screen and a finger's size");
        click(&client, "[data-tool=rect]").await;
        finger_from_to(&client, (16.0, 16.0), (32.0, 32.0)).await;
        until(&client, "the square's statistics", |s| s["length"] == "mean 100.0 HU ± 10.0\nmin 90 max 110 · 244.1 mm²").await;
        let l = after_paint(&client, LAYOUT).await;
        let (cw, ch, vw, vh) = (l["canvas"]["w"].as_f64().unwrap(), l["canvas"]["h"].as_f64().unwrap(), l["vw"].as_f64().unwrap(), l["vh"].as_f64().unwrap());
        assert!(cw * ch >= share * vw * vh, "{w}×{h}: the canvas is {cw}×{ch} of {vw}×{vh}");
        assert_eq!((l["overlaps"].clone(), l["outside"].clone(), l["chrome"].clone()), (json!([]), json!([]), json!([])), "{w}×{h}: {l}");
        std::fs::write(screenshot_path(&format!("viewer-tools-{w}x{h}.png")), client.screenshot().await.unwrap()).unwrap();
        client.close().await.unwrap();
    }
    server.stop().await;
}
