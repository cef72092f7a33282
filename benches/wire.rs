//! The wire (issue 26): OHIF's built viewer (target/ohif) opening the same 60-slice 512×512 CT
//! through framegate, through framegate asked for the stored samples as Orthanc is asked (what
//! HTJ2K costs OHIF's first image), and through Orthanc with its DICOMweb plugin, in one run, on loopback and on
//! Chromium's DevTools-emulated 4G (40 ms latency, 2.5 MB/s down, over CDP). For each: the first
//! image on screen, all 60 frames received, and the DICOMweb bytes on the wire, against the goals
//! (all frames on 4G ≤ 0.8× Orthanc's, first image ≤ 0.6× Orthanc's), and the requests until
//! the first frame's answer, which show where the first image's time goes. Then the bytes of one
//! frame in each form framegate serves.
//!
//! Both servers sit behind one nginx that also serves OHIF, so the page reaches both from its own
//! origin (Orthanc sends no CORS headers) and neither pays preflights. Each measurement starts a
//! fresh Chromium profile that has opened another study through framegate once (a returning
//! user's browser: OHIF's code and its HTJ2K decoder cached), and a fresh framegate (empty caches); Orthanc keeps its index and gzips (`HttpCompressionEnabled`).
//! The slices are the pydicom wheel's real 512×512 CT (`J2K_pixelrep_mismatch.dcm`, decoded by
//! gdcmconv, its samples sign-extended and its character set declared Latin-1 by pydicom), given
//! 60 instance UIDs and positions by dcmodify: real CT noise, 60 times.
//!
//! `cargo bench --bench wire`. Needs chromium and chromedriver, nginx, dcmtk, gdcm and pydicom (as
//! .ci/run installs them), OHIF's dist in target/ohif, and Orthanc, which CI does not install:
//! `apt-get install -y orthanc orthanc-dicomweb`. Anything missing: skipped with a message.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use framegate::key::ObjectKey;
use framegate::token::Keyring;
use framegate_testkit::chromium::{self, Cdp};
use serde_json::{Value, json};

const KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const SLICES: usize = 60;
const DICOMWEB_PLUGIN: &str = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";
/// DevTools' "4G" as the issue measured it: 40 ms latency, 2.5 MB/s down.
const FOUR_G: (u32, f64) = (40, 2_500_000.0);

fn have(tool: &str) -> bool {
    framegate_testkit::installed(tool)
}

/// What is missing to run, if anything.
fn missing(dist: &Path, source: &Path) -> Option<String> {
    for tool in ["chromium", "chromedriver", "nginx", "gdcmconv", "dcmodify", "python3"] {
        if !have(tool) {
            return Some(format!("{tool} is not installed (.ci/run installs it)"));
        }
    }
    if !have("Orthanc") || !Path::new(DICOMWEB_PLUGIN).exists() {
        return Some("Orthanc with its DICOMweb plugin is not installed: apt-get install -y orthanc orthanc-dicomweb".into());
    }
    if !dist.join("index.html").is_file() {
        return Some(format!("OHIF's dist is missing in {dist:?} (.ci/run unpacks @ohif/app there)"));
    }
    if !source.is_file() {
        return Some(format!("the pydicom test files are missing ({source:?}; .ci/run installs them)"));
    }
    None
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program).args(args).stdout(Stdio::null()).status().unwrap();
    assert!(status.success(), "{program} {args:?}");
}

/// 60 slices of one real CT under `dir`, one position and instance UID each.
fn slices(source: &Path, dir: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    let native = dir.join("native.dcm.tmp");
    run("gdcmconv", &["--raw", source.to_str().unwrap(), native.to_str().unwrap()]);
    // Its 13 stored bits of signed samples are not sign-extended in their 16 (the "pixel
    // representation mismatch" it is named for), which OHIF draws black from raw samples:
    // stored again as plain 16-bit signed samples, as a scanner writes them. Its Specific
    // Character Set is Japanese (ISO 2022 IR 13\ISO 2022 IR 87) though all its text is ASCII;
    // Orthanc before 1.12.9 decodes JIS X 0201's 0x5C as ¥ before splitting values on it, so its
    // DICOMweb metadata loses every multi-valued number (ImagePositionPatient, -Orientation-,
    // PixelSpacing, Window*: `"Value": []`) and OHIF cannot place the slices (RangeError:
    // "Invalid number of values for array setter (origin)", viewport black). Declared Latin-1,
    // as most scanners do, which changes no character of the text.
    let fix = "import sys, pydicom\nd = pydicom.dcmread(sys.argv[1])\nd.PixelData = d.pixel_array.astype('<i2').tobytes()\nd.BitsStored, d.HighBit = 16, 15\nd.SpecificCharacterSet = 'ISO_IR 100'\nd.save_as(sys.argv[1])";
    run("python3", &["-c", fix, native.to_str().unwrap()]);
    let mut files = Vec::new();
    for i in 0..SLICES {
        let file = dir.join(format!("{i:03}.dcm"));
        std::fs::copy(&native, &file).unwrap();
        let z = format!("(0020,0032)=-125\\-125\\{}", i as f64 * 2.5);
        let n = format!("(0020,0013)={}", i + 1);
        let uid = format!("(0008,0018)=2.25.2612202600{i:03}");
        let f = file.to_str().unwrap();
        run("dcmodify", &["-nb", "-i", &uid, "-i", &n, "-i", &z, "-i", "(0020,0037)=1\\0\\0\\0\\1\\0", "-i", &format!("(0020,1041)={}", i as f64 * 2.5), f]);
        files.push(file);
    }
    std::fs::remove_file(native).unwrap();
    files
}

struct Orthanc {
    _child: Running,
    port: u16,
}

impl Orthanc {
    fn start(dir: &Path) -> Orthanc {
        let port = common::free_port();
        let config = dir.join("orthanc.json");
        let storage = dir.join("orthanc-db");
        let settings = json!({
            "Name": "bench", "StorageDirectory": storage, "IndexDirectory": storage, "HttpPort": port,
            "DicomServerEnabled": false, "RemoteAccessAllowed": false, "AuthenticationEnabled": false,
            "HttpCompressionEnabled": true, "Plugins": [DICOMWEB_PLUGIN],
            "DicomWeb": { "Enable": true, "Root": "/dicom-web/" },
        });
        std::fs::write(&config, settings.to_string()).unwrap();
        let child = Command::new("Orthanc").arg(&config).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        common::wait_for(port);
        Orthanc { _child: Running(child), port }
    }

    fn upload(&self, file: &Path) {
        let url = format!("http://127.0.0.1:{}/instances", self.port);
        let out = Command::new("curl").args(["-sf", "-X", "POST", "--data-binary", &format!("@{}", file.display()), &url]).output().unwrap();
        assert!(out.status.success(), "Orthanc refused {file:?}");
    }
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}

/// A process of the bench, stopped when dropped, so that a failed measurement leaves none behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        stop(&mut self.0);
    }
}

/// nginx on `port` serving OHIF's `dist` (with `extra`, the files of `dir` by name), `/v1/` from
/// framegate and `/dicom-web/` from Orthanc.
fn nginx(dir: &Path, port: u16, dist: &Path, framegate: u16, orthanc: u16) -> Running {
    let proxy = |upstream: u16| format!("proxy_pass http://127.0.0.1:{upstream}; proxy_http_version 1.1; proxy_set_header Host $http_host; proxy_buffering off;");
    let conf = format!(
        "daemon off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off; sendfile on;
  client_body_temp_path {d}/t1; proxy_temp_path {d}/t2; fastcgi_temp_path {d}/t3; uwsgi_temp_path {d}/t4; scgi_temp_path {d}/t5;
  types {{ text/html html; text/javascript js mjs; application/json json map; application/wasm wasm; text/css css; image/svg+xml svg; image/png png; font/woff2 woff2; }}
  default_type application/octet-stream;
  server {{
    listen 127.0.0.1:{port};
    root {dist};
    location = /app-config.js {{ alias {d}/app-config.js; }}
    location = /orthanc.json {{ alias {d}/orthanc.json; }}
    location = /framegate-samples.json {{ alias {d}/framegate-samples.json; }}
    location /v1/ {{ {fg} }}
    location /dicom-web/ {{ {or} }}
    location / {{ try_files $uri /index.html; }}
  }}
}}
",
        d = dir.display(),
        dist = dist.display(),
        fg = proxy(framegate),
        or = proxy(orthanc),
    );
    let file = dir.join("nginx.conf");
    std::fs::write(&file, conf).unwrap();
    let child = Command::new("nginx").args(["-c", file.to_str().unwrap(), "-p", dir.to_str().unwrap()]).stderr(Stdio::null()).spawn().unwrap();
    common::wait_for(port);
    Running(child)
}

/// OHIF's configuration: one `dicomwebproxy` source, whose server the `url` parameter names
/// (framegate's `ohif.json`, or [`orthanc_source`] for Orthanc), as tests/it/dicomweb_browser.rs
/// configures it.
const OHIF_CONFIG: &str = "window.config = {
  routerBasename: null, extensions: [], modes: [], customizationService: {}, showStudyList: true,
  maxNumberOfWebWorkers: 1, showWarningMessageForCrossOrigin: false, showCPUFallbackMessage: false,
  showLoadingIndicator: true, strictZSpacingForVolumeViewport: true, investigationalUseDialog: { option: 'never' },
  defaultDataSourceName: 'dicomwebproxy',
  dataSources: [{ namespace: '@ohif/extension-default.dataSourcesModule.dicomwebproxy', sourceName: 'dicomwebproxy',
                  configuration: { friendlyName: 'bench', name: 'dicomwebproxy' } }],
};";

/// OHIF's usual settings for an Orthanc server (its documentation's), at `root`.
fn orthanc_source(root: &str) -> Value {
    json!({ "servers": { "dicomWeb": [{
        "name": "orthanc", "wadoUriRoot": root, "qidoRoot": root, "wadoRoot": root,
        "qidoSupportsIncludeField": false, "imageRendering": "wadors", "thumbnailRendering": "wadors",
        "enableStudyLazyLoad": true, "supportsFuzzyMatching": true, "supportsWildcard": true,
        "omitQuotationForMultipartRequest": true, "bulkDataURI": { "enabled": true },
    }]}})
}

/// Watches the page from its first script: the time the OHIF canvas first shows an image (any
/// two pixels differ: the empty viewport is one flat black), checked every 10 ms.
const PROBE: &str = "window.__wire = { first: null };
setInterval(() => {
  if (window.__wire.first !== null) return;
  const c = document.querySelector('canvas.cornerstone-canvas');
  if (!c || !c.width) return;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  for (let i = 4; i < d.length; i += 4) if (d[i] !== d[0]) { window.__wire.first = performance.now(); return; }
}, 10);";

/// What the page reports: first image (ms from navigation), frames received, the last frame's
/// end (ms), DICOMweb bytes on the wire (headers and bodies, as Chromium counts them).
const REPORT: &str = "const rs = performance.getEntriesByType('resource').filter(e => e.name.includes('/dicom-web/') || e.name.includes('/v1/') || e.name.endsWith('orthanc.json') || e.name.endsWith('framegate-samples.json'));
const frames = rs.filter(e => e.name.includes('/frames/'));
// Where the first image's time goes: each DICOMweb request before the first frame's answer
// ended, and that frame, as what it asked for and when (ms from navigation).
const firstFrameEnd = Math.min(...frames.map(e => e.responseEnd));
const kind = e => e.name.includes('/frames/') ? 'frame' : e.name.includes('/metadata') ? 'metadata' : e.name.endsWith('.json') ? 'config' : 'search';
const timeline = rs.filter(e => e.startTime <= firstFrameEnd).slice(0, 12).map(e => `${kind(e)} ${Math.round(e.startTime)}-${Math.round(e.responseEnd)}`).join(', ');
return { first: window.__wire ? window.__wire.first : null, frames: frames.length, timeline,
         last: Math.max(0, ...frames.map(e => e.responseEnd)),
         bytes: rs.reduce((n, e) => n + e.transferSize, 0), frame_bytes: frames.reduce((n, e) => n + e.transferSize, 0) };";

/// One measurement.
#[derive(Debug, Clone, Copy)]
struct Figures {
    first_ms: f64,
    all_ms: f64,
    frames: u64,
    bytes: u64,
    frame_bytes: u64,
}

/// OHIF at `viewer`, after the browser has opened `warm_up`, on loopback or on `four_g`.
async fn measure(warm_up: &str, viewer: &str, four_g: bool) -> Figures {
    let (_browser, client) = chromium::start(1280, 900, None).await;
    // A returning user: OHIF's code, its HTJ2K decoder included, is in the browser's cache
    // before the study is opened, from another study seen through framegate (other URLs, so
    // none of the measured study's answers is cached).
    client.goto(warm_up).await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    client.issue_cmd(Cdp("Page.enable", json!({}))).await.unwrap();
    client.issue_cmd(Cdp("Page.addScriptToEvaluateOnNewDocument", json!({ "source": PROBE }))).await.unwrap();
    client.issue_cmd(Cdp("Network.enable", json!({}))).await.unwrap();
    if four_g {
        let (latency, down) = FOUR_G;
        let params = json!({ "offline": false, "latency": latency, "downloadThroughput": down, "uploadThroughput": down });
        client.issue_cmd(Cdp("Network.emulateNetworkConditions", params)).await.unwrap();
    }
    client.goto(viewer).await.unwrap();
    let started = Instant::now();
    let report = loop {
        let report = client.execute(REPORT, vec![]).await.unwrap();
        let done = report["first"].is_number() && report["frames"].as_u64().unwrap_or(0) >= SLICES as u64;
        if done {
            // The last transfers' sizes settle once their entries are complete.
            tokio::time::sleep(Duration::from_millis(500)).await;
            break client.execute(REPORT, vec![]).await.unwrap();
        }
        if started.elapsed() > Duration::from_secs(120) {
            let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/wire-timeout.png");
            std::fs::write(&shot, client.screenshot().await.unwrap()).unwrap();
            println!("OHIF did not show the series from {viewer} within 2 minutes (screenshot in {shot:?}): {report}");
            break report;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    client.close().await.unwrap();
    println!("  requests until the first frame's answer (ms from navigation): {}", report["timeline"].as_str().unwrap_or(""));
    Figures {
        first_ms: report["first"].as_f64().unwrap_or(f64::NAN),
        all_ms: report["last"].as_f64().unwrap(),
        frames: report["frames"].as_u64().unwrap(),
        bytes: report["bytes"].as_u64().unwrap(),
        frame_bytes: report["frame_bytes"].as_u64().unwrap(),
    }
}

/// Bytes of one answer, by curl, with `headers`; and the Content-Encoding it came in.
fn size(url: &str, headers: &[(&str, &str)]) -> (u64, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %header{content-encoding}"]);
    for (k, v) in headers {
        cmd.args(["-H", &format!("{k}: {v}")]);
    }
    let out = String::from_utf8(cmd.arg(url).output().unwrap().stdout).unwrap();
    let mut words = out.split_whitespace();
    assert_eq!(words.next(), Some("200"), "{url} {headers:?}: {out}");
    (words.next().unwrap().parse().unwrap(), words.next().unwrap_or("").to_owned())
}

/// One slice of another study under `dir`, for the browser's warm-up.
fn warm_up_study(slice: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("warm.dcm");
    std::fs::copy(slice, &file).unwrap();
    let f = file.to_str().unwrap();
    run("dcmodify", &["-nb", "-i", "(0020,000D)=2.25.26122026999", "-i", "(0020,000E)=2.25.26122026998", "-i", "(0008,0018)=2.25.26122026997", f]);
}

fn main() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dist = std::env::var_os("FRAMEGATE_OHIF_DIR").map(PathBuf::from).unwrap_or_else(|| manifest.join("target/ohif/package/dist"));
    let source = manifest.join("target/pydicom/pydicom/data/test_files/J2K_pixelrep_mismatch.dcm");
    let source = if source.exists() { source } else { manifest.join("target/pydicom/wheel/pydicom/data/test_files/J2K_pixelrep_mismatch.dcm") };
    if let Some(why) = missing(&dist, &source) {
        println!("wire: skipped, {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let files = slices(&source, &root.join("ct"));
    let keys = dir.path().join("keys");
    std::fs::write(&keys, KEYS).unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let token = Keyring::parse(KEYS).unwrap().sign(&ObjectKey::parse_plain("ct").unwrap(), now + 3 * 3600);
    let warm_token = Keyring::parse(KEYS).unwrap().sign(&ObjectKey::parse_plain("warm").unwrap(), now + 3 * 3600);
    warm_up_study(&files[0], &root.join("warm"));

    let orthanc = Orthanc::start(dir.path());
    for file in &files {
        orthanc.upload(file);
    }
    // nginx proxies to one framegate port; each measurement starts a fresh framegate on it.
    let fg_port = common::free_port();
    let nginx_port = common::free_port();
    let origin = format!("http://127.0.0.1:{nginx_port}");
    std::fs::write(dir.path().join("app-config.js"), OHIF_CONFIG).unwrap();
    std::fs::write(dir.path().join("orthanc.json"), orthanc_source(&format!("{origin}/dicom-web")).to_string()).unwrap();
    let _proxy = nginx(dir.path(), nginx_port, &dist, fg_port, orthanc.port);
    let fg_root = format!("{origin}/v1/{token}/ct/-/dicomweb");
    let listen = format!("127.0.0.1:{fg_port}");
    let start_framegate = || {
        let child = Command::new(env!("CARGO_BIN_EXE_framegate"))
            .args(["serve", "--root", root.to_str().unwrap(), "--keys-file", keys.to_str().unwrap(), "--listen", &listen])
            .env("FRAMEGATE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        common::wait_for(fg_port);
        Running(child)
    };
    // framegate names the study by a pseudonym (its default policy de-identifies), Orthanc by the
    // stored UID.
    let study = |root: &str| {
        let out = Command::new("curl").args(["-sf", &format!("{root}/studies")]).output().unwrap();
        let studies: Value = serde_json::from_slice(&out.stdout).expect("the server lists the study");
        studies[0]["0020000D"]["Value"][0].as_str().unwrap().to_owned()
    };
    let viewer = |config: &str, study: &str| format!("{origin}/viewer/dicomwebproxy?url={}&StudyInstanceUIDs={study}&studyInstanceUIDs={study}", urlencode(config));
    // framegate as shipped (its ohif.json: HTJ2K first), and the same configuration asking for
    // the stored samples (`transfer-syntax=*`, zstd on the wire) as Orthanc's does: what the
    // HTJ2K decoder costs OHIF's first image, against what it saves on the wire.
    let (fg_viewer, fg_samples_viewer) = {
        let _fg = start_framegate();
        let out = Command::new("curl").args(["-sf", &format!("{fg_root}/ohif.json")]).output().unwrap();
        let mut samples: Value = serde_json::from_slice(&out.stdout).expect("framegate serves ohif.json");
        samples["servers"]["dicomWeb"][0]["acceptHeader"] = json!(["multipart/related; type=application/octet-stream; transfer-syntax=*"]);
        std::fs::write(dir.path().join("framegate-samples.json"), samples.to_string()).unwrap();
        let study = study(&fg_root);
        (viewer(&format!("{fg_root}/ohif.json"), &study), viewer(&format!("{origin}/framegate-samples.json"), &study))
    };
    let warm_viewer = {
        let _fg = start_framegate();
        let warm_root = format!("{origin}/v1/{warm_token}/warm/-/dicomweb");
        viewer(&format!("{warm_root}/ohif.json"), &study(&warm_root))
    };
    let orthanc_viewer = viewer(&format!("{origin}/orthanc.json"), &study(&format!("{origin}/dicom-web")));

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut results = Vec::new();
    for four_g in [false, true] {
        for peer in ["framegate", "framegate, samples", "Orthanc"] {
            // Running for Orthanc's measurement too, idle, for the warm-up study.
            let fg = start_framegate();
            let url = match peer {
                "framegate" => &fg_viewer,
                "Orthanc" => &orthanc_viewer,
                _ => &fg_samples_viewer,
            };
            let figures = rt.block_on(measure(&warm_viewer, url, four_g));
            drop(fg);
            let network = if four_g { "4G" } else { "loopback" };
            println!("{network} {peer}: {figures:?}");
            results.push((network, peer, figures));
        }
    }

    println!("\nOHIF 60 × 512×512 CT, framegate against Orthanc {}", orthanc_version());
    println!("| network | server | first image | all 60 frames received | DICOMweb bytes | of which frames |");
    println!("|---|---|---|---|---|---|");
    for (network, peer, f) in &results {
        println!("| {network} | {peer} | {:.0} ms | {:.0} ms ({} frames) | {} KiB | {} KiB |", f.first_ms, f.all_ms, f.frames, f.bytes / 1024, f.frame_bytes / 1024);
    }
    println!("\n| goal | framegate / Orthanc | met |");
    println!("|---|---|---|");
    let find = |network: &str, peer: &str| results.iter().find(|(n, p, _)| *n == network && *p == peer).unwrap().2;
    for (goal, network, limit, pick) in [
        ("first image, loopback", "loopback", 0.6, (|f: Figures| f.first_ms) as fn(Figures) -> f64),
        ("first image, 4G", "4G", 0.6, |f: Figures| f.first_ms),
        ("all frames, 4G", "4G", 0.8, |f: Figures| f.all_ms),
    ] {
        let ratio = pick(find(network, "framegate")) / pick(find(network, "Orthanc"));
        println!("| {goal} ≤ {limit}× | {ratio:.2}× | {} |", if ratio <= limit { "yes" } else { "no" });
    }

    // Bytes of one frame (the middle slice) in each form framegate serves.
    let _fg = start_framegate();
    let direct = format!("http://127.0.0.1:{fg_port}/v1/{token}/ct/-/dicomweb");
    let instances: Value = serde_json::from_slice(&Command::new("curl").args(["-sf", &format!("{direct}/instances?InstanceNumber=30")]).output().unwrap().stdout).unwrap();
    let uid = |tag: &str| instances[0][tag]["Value"][0].as_str().unwrap().to_owned();
    let instance = format!("{direct}/studies/{}/series/{}/instances/{}", uid("0020000D"), uid("0020000E"), uid("00080018"));
    let frame = format!("{instance}/frames/1");
    let native = "application/octet-stream; transfer-syntax=*";
    println!("\nOne 512×512 16-bit CT frame (524,288 bytes of samples), as framegate sends it:");
    println!("| form | request | bytes |");
    println!("|---|---|---|");
    for (form, url, headers) in [
        ("rendered JPEG", format!("{instance}/rendered"), vec![("accept", "image/jpeg")]),
        ("rendered PNG", format!("{instance}/rendered"), vec![("accept", "image/png")]),
        ("raw samples", frame.clone(), vec![("accept", native)]),
        ("gzip", frame.clone(), vec![("accept", native), ("accept-encoding", "gzip")]),
        ("br", frame.clone(), vec![("accept", native), ("accept-encoding", "br")]),
        ("zstd", frame.clone(), vec![("accept", native), ("accept-encoding", "zstd")]),
        ("HTJ2K (lossless, RPCL)", frame.clone(), vec![("accept", "image/jphc")]),
    ] {
        let (bytes, coding) = size(&url, &headers);
        let asked = headers.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("; ");
        println!("| {form} | `{asked}`{} | {bytes} |", if coding.is_empty() { String::new() } else { format!(" → {coding}") });
    }
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn orthanc_version() -> String {
    let out = Command::new("Orthanc").arg("--version").output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    out.lines().next().unwrap_or("").trim().to_owned()
}
