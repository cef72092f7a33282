//! DICOMweb clients in a real headless Chromium: the Cornerstone3D page of `examples/cornerstone`
//! (bundled by esbuild) draws a framegate series through `wadors:` image IDs, on both stores.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::Client;
use fantoccini::actions::{InputSource, WheelAction, WheelActions};
use serde_json::Value;

use super::browser::{browser, screenshot_path};
use super::support::*;

const SLICES: usize = 12;

/// Serves `root` on loopback, as a portal or CDN would: the page's origin differs from
/// framegate's, so every DICOMweb request is cross-origin.
pub async fn static_server(root: PathBuf) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    static_server_with(root, Vec::new()).await
}

/// [`static_server`] with some paths answered from memory, and every other path without an
/// extension answered with `index.html`, as a single-page app's host does.
pub async fn static_server_with(root: PathBuf, overrides: Vec<(&'static str, String)>) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let overrides = std::sync::Arc::new(overrides);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let (root, overrides) = (root.clone(), overrides.clone());
            let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let (root, overrides) = (root.clone(), overrides.clone());
                async move {
                    let path = percent_encoding::percent_decode_str(req.uri().path()).decode_utf8_lossy().into_owned();
                    let path = path.trim_start_matches('/');
                    let path = if path.is_empty() || path.ends_with('/') { format!("{path}index.html") } else { path.to_owned() };
                    let path = if !path.contains('.') { "index.html".to_owned() } else { path };
                    if let Some((_, body)) = overrides.iter().find(|(p, _)| *p == path) {
                        let response = hyper::Response::builder().header("content-type", "text/javascript").body(http_body_util::Full::new(bytes::Bytes::from(body.clone()))).unwrap();
                        return Ok::<_, std::convert::Infallible>(response);
                    }
                    let file = (!path.split('/').any(|s| s == "..")).then(|| root.join(&path)).filter(|p| p.is_file());
                    let (status, kind, body) = match file {
                        Some(file) => {
                            let kind = match file.extension().and_then(|e| e.to_str()) {
                                Some("html") => "text/html; charset=utf-8",
                                Some("js" | "mjs") => "text/javascript",
                                Some("json" | "map") => "application/json",
                                Some("wasm") => "application/wasm",
                                Some("css") => "text/css",
                                Some("svg") => "image/svg+xml",
                                Some("png") => "image/png",
                                _ => "application/octet-stream",
                            };
                            (200, kind, std::fs::read(file).unwrap())
                        }
                        None => (404, "text/plain", b"not found".to_vec()),
                    };
                    let response = hyper::Response::builder().status(status).header("content-type", kind).body(http_body_util::Full::new(bytes::Bytes::from(body))).unwrap();
                    Ok::<_, std::convert::Infallible>(response)
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
            });
        }
    });
    (addr, task)
}

/// The built Cornerstone page, or `None` (skipped, or failed under CI) when it is not built.
fn cornerstone_page() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cornerstone");
    if dir.join("dist/main.js").is_file() && dir.join("dist/decodeImageFrameWorker.js").is_file() {
        return Some(dir);
    }
    skip("examples/cornerstone is not built: `npm ci --prefix examples/cornerstone && npm run build --prefix examples/cornerstone` (.ci/run does)");
    None
}

pub fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// What the page reports, with a digest and the brightest grey of its canvas.
async fn page_state(client: &Client) -> Value {
    client
        .execute(
            "const s = window.framegate || null; const c = document.querySelector('#viewport canvas');
             if (!s || !c || !c.width) return s;
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             let max = 0, hash = 7;
             for (let i = 0; i < d.length; i += 4) { max = Math.max(max, d[i]); hash = (hash * 31 + d[i]) % 1000000007; }
             return { ...s, max, hash, width: c.width };",
            vec![],
        )
        .await
        .unwrap()
}

/// Waits until `test` holds for the page's state; on a timeout, a screenshot is kept.
async fn page_until(client: &Client, what: &str, test: impl Fn(&Value) -> bool) -> Value {
    let polled = poll(Duration::from_secs(60), || async {
        let s = page_state(client).await;
        assert!(s["error"].is_null(), "the page failed: {s}");
        if test(&s) { Ok(s) } else { Err(s) }
    });
    match polled.await {
        Ok(s) => s,
        Err(s) => {
            std::fs::write(screenshot_path("cornerstone-timeout.png"), client.screenshot().await.unwrap()).unwrap();
            panic!("timed out waiting for {what}: {s}");
        }
    }
}

crate::on_both_stores!(cornerstone_draws_a_series_through_wadors_image_ids);

async fn cornerstone_draws_a_series_through_wadors_image_ids(backend: Backend) {
    let Some(page) = cornerstone_page() else { return };
    let Some((_driver, client)) = browser(900, 700, false).await else { return };
    let server = Server::start_on(backend, framegate::Settings { cors_origins: vec!["*".into()], ..Default::default() }).await;
    for i in 0..SLICES {
        server.put_ct(&format!("cs/ct/{i:03}.dcm"), i, SLICES, 128).await;
    }
    let (addr, task) = static_server(page).await;
    let root = server.url("cs", "cs/ct", "/-/dicomweb");
    client.goto(&format!("http://{addr}/index.html?root={}", encode(&root))).await.unwrap();
    let first = page_until(&client, "the first image", |s| s["ready"] == true && s["max"].as_u64().unwrap_or(0) > 100).await;
    assert_eq!(first["images"], SLICES as u64);
    std::fs::write(screenshot_path(&format!("cornerstone-{backend:?}.png")), client.screenshot().await.unwrap()).unwrap();
    // Scrolling shows another slice: other pixels on the canvas.
    client.execute("window.framegateShow(8)", vec![]).await.unwrap();
    let later = page_until(&client, "slice 9", |s| s["index"] == 8 && s["hash"] != first["hash"] && s["max"].as_u64().unwrap_or(0) > 100).await;
    assert_ne!(later["hash"], first["hash"]);
    std::fs::write(screenshot_path(&format!("cornerstone-{backend:?}-9.png")), client.screenshot().await.unwrap()).unwrap();
    task.abort();
    client.close().await.unwrap();
    server.stop().await;
}

/// The built OHIF viewer of the `@ohif/app` package, or `None` (skipped, or failed under CI).
pub(super) fn ohif_dist() -> Option<PathBuf> {
    let dir = std::env::var_os("FRAMEGATE_OHIF_DIR").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ohif/package/dist"));
    if dir.join("index.html").is_file() {
        return Some(dir);
    }
    skip(&format!("the OHIF viewer is missing in {dir:?}: unpack @ohif/app into target/ohif (npm pack @ohif/app, as .ci/run does)"));
    None
}

/// OHIF's configuration for the test: one `dicomwebproxy` data source, which reads the
/// DICOMweb server's configuration from the `url` the address names (framegate's ohif.json).
pub(super) const OHIF_CONFIG: &str = "window.config = {
  routerBasename: null, extensions: [], modes: [], customizationService: {}, showStudyList: true,
  maxNumberOfWebWorkers: 1, showWarningMessageForCrossOrigin: false, showCPUFallbackMessage: false,
  showLoadingIndicator: true, strictZSpacingForVolumeViewport: true, investigationalUseDialog: { option: 'never' },
  defaultDataSourceName: 'dicomwebproxy',
  dataSources: [{ namespace: '@ohif/extension-default.dataSourcesModule.dicomwebproxy', sourceName: 'dicomwebproxy',
                  configuration: { friendlyName: 'framegate', name: 'dicomwebproxy' } }],
};";

/// The OHIF viewport's canvas: its digest and brightest grey, or null before it exists.
async fn ohif_canvas(client: &Client) -> Value {
    client
        .execute(
            "const c = document.querySelector('canvas.cornerstone-canvas');
             if (!c || !c.width) return null;
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             let max = 0, hash = 7;
             for (let i = 0; i < d.length; i += 4) { max = Math.max(max, d[i]); hash = (hash * 31 + d[i]) % 1000000007; }
             return { max, hash };",
            vec![],
        )
        .await
        .unwrap()
}

pub(super) async fn ohif_until(client: &Client, what: &str, test: impl Fn(&Value) -> bool) -> Value {
    let polled = poll(Duration::from_secs(90), || async {
        let s = ohif_canvas(client).await;
        if test(&s) { Ok(s) } else { Err(s) }
    });
    match polled.await {
        Ok(s) => s,
        Err(s) => {
            std::fs::write(screenshot_path("ohif-timeout.png"), client.screenshot().await.unwrap()).unwrap();
            let page = client.execute("return [location.href, document.body.innerText.slice(0, 600), performance.getEntriesByType('resource').map(e => e.name.slice(-60) + ' ' + e.responseStatus).slice(-15)]", vec![]).await.unwrap();
            panic!("timed out waiting for {what}: {s}; the page: {page}");
        }
    }
}

/// Opens OHIF, served at `addr` with [`OHIF_CONFIG`], on the first study of the DICOMweb
/// server at `root`.
pub(super) async fn ohif_open(client: &Client, addr: std::net::SocketAddr, root: &str) {
    let studies: Value = get(&format!("{root}/studies")).await.json();
    let study = studies[0]["0020000D"]["Value"][0].as_str().unwrap().to_owned();
    let config = format!("{root}/ohif.json");
    // The mode reads StudyInstanceUIDs, the dicomwebproxy source studyInstanceUIDs.
    client.goto(&format!("http://{addr}/viewer/dicomwebproxy?url={}&StudyInstanceUIDs={study}&studyInstanceUIDs={study}", encode(&config))).await.unwrap();
}

crate::on_both_stores!(ohif_opens_a_ct_series_draws_it_and_scrolls);

async fn ohif_opens_a_ct_series_draws_it_and_scrolls(backend: Backend) {
    let Some(dist) = ohif_dist() else { return };
    let Some((_driver, client)) = browser(1280, 900, false).await else { return };
    let server = Server::start_on(backend, framegate::Settings { cors_origins: vec!["*".into()], ..Default::default() }).await;
    for i in 0..SLICES {
        server.put_ct(&format!("oh/ct/{i:03}.dcm"), i, SLICES, 128).await;
    }
    let (addr, task) = static_server_with(dist, vec![("app-config.js", OHIF_CONFIG.to_owned())]).await;
    ohif_open(&client, addr, &server.url("oh", "oh/ct", "/-/dicomweb")).await;
    let first = ohif_until(&client, "the CT drawn", |s| s["max"].as_u64().unwrap_or(0) > 100).await;
    std::fs::write(screenshot_path(&format!("ohif-{backend:?}.png")), client.screenshot().await.unwrap()).unwrap();
    // A real wheel over the middle of the viewport scrolls the stack: other pixels.
    let centre = client
        .execute(
            "const r = document.querySelector('canvas.cornerstone-canvas').getBoundingClientRect(); return [Math.round(r.x + r.width / 2), Math.round(r.y + r.height / 2)];",
            vec![],
        )
        .await
        .unwrap();
    let (x, y) = (centre[0].as_i64().unwrap(), centre[1].as_i64().unwrap());
    for _ in 0..5 {
        let wheel = WheelActions::new("wheel".into()).then(WheelAction::Scroll { duration: None, x, y, delta_x: 0, delta_y: 120 });
        client.perform_actions(wheel).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let later = ohif_until(&client, "another slice", |s| s["hash"] != first["hash"] && s["max"].as_u64().unwrap_or(0) > 100).await;
    assert_ne!(later["hash"], first["hash"]);
    std::fs::write(screenshot_path(&format!("ohif-{backend:?}-scrolled.png")), client.screenshot().await.unwrap()).unwrap();
    task.abort();
    client.close().await.unwrap();
    server.stop().await;
}

crate::on_both_stores!(ohif_opens_a_study_with_a_report_and_key_objects);

/// Issue 23: OHIF opens a study holding a CT series, a Basic Text SR and a Key Object
/// Selection (objects without Pixel Data, which DICOMweb did not list before): its study
/// browser shows the SR and the KO series beside the CT, and the CT is still drawn. Under the
/// default `deidentify`, so their series descriptions are gone and their modalities show.
async fn ohif_opens_a_study_with_a_report_and_key_objects(backend: Backend) {
    let Some(dist) = ohif_dist() else { return };
    let Some((_driver, client)) = browser(1280, 900, false).await else { return };
    let server = Server::start_on(backend, framegate::Settings { cors_origins: vec!["*".into()], ..Default::default() }).await;
    for i in 0..SLICES {
        server.put_ct(&format!("oh/st/ct/{i:03}.dcm"), i, SLICES, 128).await;
    }
    server.put("oh/st/sr/report.dcm", super::dicomweb::text_sr_of("a finding", SLICES)).await;
    server.put("oh/st/ko/selection.dcm", super::dicomweb::key_objects(SLICES)).await;
    let root = server.url("oh", "oh/st", "/-/dicomweb");
    let series: Value = get(&format!("{root}/series")).await.json();
    let modalities: Vec<&str> = series.as_array().unwrap().iter().filter_map(|s| s["00080060"]["Value"][0].as_str()).collect();
    assert_eq!(modalities.len(), 3, "CT, SR and KO are listed: {modalities:?}");
    let (addr, task) = static_server_with(dist, vec![("app-config.js", OHIF_CONFIG.to_owned())]).await;
    ohif_open(&client, addr, &root).await;
    ohif_until(&client, "the CT drawn", |s| s["max"].as_u64().unwrap_or(0) > 100).await;
    // The study browser lists a thumbnail per display set, labelled with its modality.
    let listed = poll(Duration::from_secs(60), || async {
        let text = client.execute("return document.body.innerText", vec![]).await.unwrap();
        let text = text.as_str().unwrap_or_default().to_owned();
        let words: Vec<&str> = text.split_whitespace().collect();
        if words.contains(&"SR") && words.contains(&"KO") { Ok(text) } else { Err(text) }
    })
    .await;
    std::fs::write(screenshot_path(&format!("ohif-sr-ko-{backend:?}.png")), client.screenshot().await.unwrap()).unwrap();
    let text = listed.unwrap_or_else(|text| panic!("OHIF lists no SR and KO beside the CT: {}", &text[..text.len().min(800)]));
    assert!(text.split_whitespace().any(|w| w == "CT"), "{text}");
    task.abort();
    client.close().await.unwrap();
    server.stop().await;
}
