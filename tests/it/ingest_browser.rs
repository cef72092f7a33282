//! The "done when": a hospital CD export uploaded through the upload route opens in the
//! built-in viewer, DWV and OHIF, each drawing the CT phantom, and none shows the patient.

use std::time::Duration;

use fantoccini::Client;
use fantoccini::key::Key;
use framegate::ingest::Manifest;
use framegate::sample::{self, PLANTED};
use framegate::token::Purpose;
use serde_json::Value;

use super::browser::{browser, drawn, dwv_load_stack, dwv_result, examples_server, press, screenshot_path, until as viewer_until};
use super::dicomweb_browser::{OHIF_CONFIG, encode, ohif_dist, ohif_open, ohif_until, static_server_with};
use super::ingest::{contains, dicomdir, every_file, zip_of};
use super::support::*;

const SLICES: usize = 12;
const SIZE: u16 = 128;

/// A CD export of one CT series as a hospital burns it: the slices (each naming the patient)
/// under DICOM/, numbered in the exporter's order, beside a DICOMDIR and the viewer's readme.
pub(super) fn ct_export(slices: usize, size: u16) -> Vec<u8> {
    let files: Vec<Vec<u8>> = (0..slices).map(|i| sample::to_bytes(sample::ct_slice(i, slices, size)).unwrap()).collect();
    let dir = dicomdir(PLANTED[0]);
    let readme = format!("Images of {}, born {}", PLANTED[0], PLANTED[2]).into_bytes();
    let names: Vec<String> = (0..slices).map(|i| format!("DICOM/ST000001/SE000001/IM{:06}", i + 1)).collect();
    let mut entries: Vec<(&str, &[u8])> = vec![("DICOMDIR", &dir[..]), ("README.TXT", &readme[..])];
    entries.extend(names.iter().map(String::as_str).zip(files.iter().map(Vec::as_slice)));
    zip_of(&entries)
}

/// The brightest and the mean grey of the canvas `selector` finds (null before it is drawn).
async fn grey_levels(client: &Client, selector: &str) -> Value {
    let script = "const c = document.querySelector(arguments[0]); if (!c || !c.width) return null;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let max = 0, sum = 0; for (let i = 0; i < d.length; i += 4) { max = Math.max(max, d[i]); sum += d[i]; }
        return { max, mean: sum / (d.length / 4) };";
    client.execute(script, vec![selector.into()]).await.unwrap()
}

/// Fails if the page's text shows any of the planted patient data.
async fn shows_no_patient(client: &Client, viewer: &str) {
    let text = client.execute("return document.body.innerText", vec![]).await.unwrap();
    for planted in PLANTED {
        assert!(!text.as_str().unwrap().contains(planted), "{viewer} shows {planted}");
    }
}

/// The CT phantom, drawn: a white spine (700 HU) and a mid-grey body (40 HU, the default
/// window's centre) on black air, so the mean sits well between the two.
fn phantom_drawn(levels: &Value) -> bool {
    let (max, mean) = (levels["max"].as_u64().unwrap_or(0), levels["mean"].as_f64().unwrap_or(0.0));
    max > 200 && (10.0..150.0).contains(&mean)
}

#[tokio::test]
async fn an_uploaded_cd_export_opens_in_the_viewer_dwv_and_ohif() {
    let Some((_driver, client)) = browser(1280, 900, false).await else { return };
    let server = Server::start_with(framegate::Settings { cors_origins: vec!["*".into()], ..Default::default() }).await;

    // Uploaded as it came off the CD: every slice in, the DICOMDIR and readme left out.
    let upload = server.keys.sign_for(Purpose::Upload, &key("uploads"), now() + 600);
    let answer = request_with_body("POST", &format!("{}/v1/{upload}/uploads/-/upload", server.base()), ct_export(SLICES, SIZE)).await;
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    let manifest: Manifest = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!((manifest.totals.written, manifest.totals.skipped, manifest.totals.failed), (SLICES as u64, 2, 0), "{manifest:#?}");
    assert_eq!(manifest.studies.len(), 1);
    let study = &manifest.studies[0];
    assert_eq!(study.series.len(), 1);
    let series = &study.series[0];
    assert_eq!((series.instances, series.frames), (SLICES as u64, SLICES as u64));
    for (path, bytes) in every_file(server.dir.path()) {
        for planted in PLANTED {
            assert!(!contains(&bytes, planted), "{planted} is stored in {}", path.display());
        }
    }
    let stack = get(&server.url(&series.key, &series.key, "/-/stack.json")).await.json();
    let entries = stack["entries"].as_array().unwrap();
    assert_eq!(entries.len(), SLICES);
    // The instance the stack ends with, by its file name: the viewer must get there.
    let last = entries[SLICES - 1]["url"].as_str().unwrap().split('/').find(|s| s.ends_with(".dcm")).unwrap().to_owned();

    // (a) The built-in viewer: the first slice drawn, a wheel step to another picture, End to
    // the last slice.
    client.goto(&server.url(&series.key, &series.key, "/-/view")).await.unwrap();
    let first = viewer_until(&client, "the first slice", |s| s["shown"].is_string() && s["counter"] == format!("1 / {SLICES}")).await;
    let levels = grey_levels(&client, "#canvas").await;
    assert!(phantom_drawn(&levels), "the viewer's canvas is no CT phantom: {levels}");
    // The centre of the first slice is body, 40 HU: the middle of the default window.
    assert!((100..=156).contains(&first["centre"].as_u64().unwrap()), "{first}");
    shows_no_patient(&client, "the viewer").await;
    std::fs::write(screenshot_path("ingest-viewer.png"), client.screenshot().await.unwrap()).unwrap();
    press(&client, &[Key::Down]).await;
    let second = viewer_until(&client, "the second slice drawn", |s| s["index"] == 1 && s["image"] != first["image"]).await;
    assert_ne!(second["image"], first["image"], "the lungs begin on the second slice");
    press(&client, &[Key::End]).await;
    let end = viewer_until(&client, "the last slice", |s| s["counter"] == format!("{SLICES} / {SLICES}") && s["shown"].as_str().is_some_and(|u| u.contains(&last))).await;
    assert_eq!(end["index"], SLICES - 1);
    let levels = grey_levels(&client, "#canvas").await;
    assert!(phantom_drawn(&levels), "the last slice is no CT phantom: {levels}");
    std::fs::write(screenshot_path("ingest-viewer-last.png"), client.screenshot().await.unwrap()).unwrap();

    // (b) DWV, loading the series' frames through its stack.json, and one ingested file raw.
    match examples_server().await {
        None => skip("its DWV part: the DWV page is not installed"),
        Some((addr, task)) => {
            let origin = format!("http://{addr}");
            let result = dwv_load_stack(&client, &origin, &server.url(&series.key, &series.key, "/-/stack.json")).await;
            assert_eq!(result["frames"], SLICES, "{result}");
            drawn(&client, "DWV draws the ingested series").await;
            let levels = grey_levels(&client, "#layerGroup0 canvas").await;
            assert!(levels["max"].as_u64().unwrap() > 200, "DWV's canvas: {levels}");
            std::fs::write(screenshot_path("ingest-dwv.png"), client.screenshot().await.unwrap()).unwrap();
            let raw = server.url(&series.key, &format!("{}/{last}", series.key), "");
            client.goto(&format!("{origin}/dwv-dicom.html?url={}", encode(&raw))).await.unwrap();
            let result = dwv_result(&client).await;
            assert!(result.get("error").is_none(), "{result}");
            drawn(&client, "DWV draws an ingested file").await;
            task.abort();
        }
    }

    // (c) OHIF over the study's DICOMweb root.
    match ohif_dist() {
        None => skip("its OHIF part: OHIF is not unpacked"),
        Some(dist) => {
            let (addr, task) = static_server_with(dist, vec![("app-config.js", OHIF_CONFIG.to_owned())]).await;
            ohif_open(&client, addr, &server.url(&study.key, &study.key, "/-/dicomweb")).await;
            ohif_until(&client, "the ingested CT drawn", |s| s["max"].as_u64().unwrap_or(0) > 200).await;
            let levels = grey_levels(&client, "canvas.cornerstone-canvas").await;
            assert!(phantom_drawn(&levels), "OHIF's canvas is no CT phantom: {levels}");
            // Its overlay counts the series' instances: all of them reached OHIF.
            until(&format!("OHIF to show slice 1 of {SLICES}"), Duration::from_secs(30), || async {
                let text = client.execute("return document.body.innerText", vec![]).await.unwrap();
                if text.as_str().unwrap().contains(&format!("(1/{SLICES})")) { Ok(()) } else { Err(text) }
            })
            .await;
            shows_no_patient(&client, "OHIF").await;
            std::fs::write(screenshot_path("ingest-ohif.png"), client.screenshot().await.unwrap()).unwrap();
            task.abort();
        }
    }
    client.close().await.unwrap();
    server.stop().await;
}
