//! The built-in viewer on a phone's network (issue 26, item 4): a phone-emulated Chromium
//! (390×844 CSS px, DPR 3, touch) behind DevTools' 4G throttling (40 ms latency, 2.5 MB/s down)
//! opens a 200-slice 512×512 CT on the real binary and, from the moment the first image is on
//! screen, is scrolled with 60 wheel notches a second from the first slice to the last. Reports
//! the share of slices shown, the time from the last notch to the last slice on screen, and the
//! page's memory: the JS heap (CDP `Runtime.getHeapUsage`), the renderer processes' resident
//! memory and, where the viewer has them, its own counters of compressed bytes held and decoded
//! bitmaps kept.
//!
//! Each run starts a fresh server (a cold frame cache, as after an upload) and a fresh browser
//! profile (an empty HTTP cache). The notches are `wheel` events dispatched in the page on a
//! 60 Hz schedule, so the browser's input pipeline adds no jitter of its own; "shown" counts
//! each call of the viewer's `display`, which draws the frame and its labels together.
//!
//! `cargo bench --bench viewer_scroll` (needs chromium and chromedriver; about a minute).

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use framegate::key::ObjectKey;
use framegate::token::Keyring;
use framegate_testkit::chromium::{self, Cdp};
use serde_json::{Value, json};

const KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const SLICES: usize = 200;
const SIDE: u16 = 512;
const NOTCHES_PER_SECOND: f64 = 60.0;
const RUNS: usize = 3;
/// Scanner noise in HU, one series each: about 24 KB and 30 KB a rendered frame (the issue's
/// CT had 23 KB), 2.0 and 2.5 s of the link's time for a 3.3 s scroll.
const NOISES: [i32; 2] = [8, 12];

/// Resident memory of a browser's renderer processes (the page's), in MiB: the descendants of
/// the browser started with `flag` (its profile folder) that are renderers.
fn renderer_mib(flag: &str) -> u64 {
    let Ok(procs) = std::fs::read_dir("/proc") else { return 0 };
    let procs: Vec<(u32, u32, Vec<u8>)> = procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let ppid = stat.rsplit(')').next()?.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid, std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()))
        })
        .collect();
    // A renderer rewrites its command line into one string: search it, don't split it.
    let has = |cmdline: &[u8], arg: &[u8]| cmdline.windows(arg.len()).any(|w| w == arg);
    let mut ours: Vec<u32> = procs.iter().filter(|(_, _, c)| has(c, flag.as_bytes())).map(|(pid, _, _)| *pid).collect();
    loop {
        let more: Vec<u32> = procs.iter().filter(|(pid, ppid, _)| ours.contains(ppid) && !ours.contains(pid)).map(|(pid, _, _)| *pid).collect();
        if more.is_empty() {
            break;
        }
        ours.extend(more);
    }
    procs.iter().filter(|(pid, _, c)| ours.contains(pid) && has(c, b"--type=renderer")).map(|(pid, _, _)| common::rss_mib(*pid)).sum()
}

/// Installed before the viewer's script runs: records each frame the viewer displays, with when.
const RECORD: &str = "
  window.benchShown = [];
  const wrap = () => {
    if (typeof display !== 'function' || display.wrapped) return;
    const real = display;
    window.display = function (index) { benchShown.push([index, performance.now()]); return real.apply(this, arguments); };
    window.display.wrapped = true;
  };
  document.addEventListener('DOMContentLoaded', wrap);";

/// Scrolls from the first slice to the last at 60 notches a second, then waits (up to 10 s)
/// for the last slice, and answers what was shown and when.
const SCROLL: &str = "
  const done = arguments[arguments.length - 1], notches = arguments[0], rate = arguments[1];
  const stage = document.getElementById('stage'), t0 = performance.now();
  let sent = 0, lastNotch = 0;
  const notch = () => {
    stage.dispatchEvent(new WheelEvent('wheel', { deltaY: 100, deltaMode: 0, clientX: 195, clientY: 400, bubbles: true, cancelable: true }));
    lastNotch = performance.now(); sent++;
    if (sent < notches) setTimeout(notch, Math.max(0, t0 + (sent * 1000) / rate - performance.now()));
    else wait();
  };
  const wait = () => {
    const last = benchShown.find(([i]) => i === fg.count - 1);
    if (last || performance.now() - lastNotch > 10000) {
      const shown = new Set(benchShown.map(([i]) => i));
      const missed = [...Array(fg.count).keys()].filter((i) => !shown.has(i));
      done({ t0, lastNotch, lastShownAt: last ? last[1] : null, shown: shown.size, count: fg.count, missed,
             loads: fg.loads || null, requested: fg.requested.length, heap: performance.memory ? performance.memory.usedJSHeapSize : null,
             wire: frameTimes() });
    } else setTimeout(wait, 5);
  };
  // What the frames cost on the wire: bytes and each request's time, median and 90th percentile.
  const frameTimes = () => {
    const e = performance.getEntriesByType('resource').filter((r) => r.name.includes('/-/frames/'));
    const d = e.map((r) => r.responseEnd - r.startTime).sort((a, b) => a - b);
    return { frames: e.length, bytes: e.reduce((s, r) => s + r.encodedBodySize, 0), p50: d[Math.floor(d.length / 2)], p90: d[Math.floor(d.length * 0.9)] };
  };
  notch();";

struct Run {
    first_image_ms: f64,
    shown: u64,
    /// The slices never shown, by index.
    missed: Value,
    count: u64,
    last_after_notch_ms: Option<f64>,
    scroll_ms: f64,
    heap_mib: f64,
    renderer_mib: u64,
    requested: u64,
    loads: Value,
    wire: Value,
}

async fn run(dir: &std::path::Path, folder: &str, token: &str) -> Run {
    let (mut server, port) = common::framegate(&dir.join("root"), &dir.join("keys"), &[], "warn");
    let (browser, client) = chromium::start(390, 844, Some(3.0)).await;
    client.goto("about:blank").await.unwrap();
    client.issue_cmd(Cdp("Page.addScriptToEvaluateOnNewDocument", json!({ "source": RECORD }))).await.unwrap();
    client.issue_cmd(Cdp("Network.enable", json!({}))).await.unwrap();
    // DevTools' 4G as the issue measured it: 40 ms latency, 2.5 MB/s down (and up).
    let conditions = json!({ "offline": false, "latency": 40, "downloadThroughput": 2_500_000.0, "uploadThroughput": 2_500_000.0 });
    client.issue_cmd(Cdp("Network.emulateNetworkConditions", conditions)).await.unwrap();
    let url = format!("http://127.0.0.1:{port}/v1/{token}/{folder}/-/view");
    let opened = Instant::now();
    client.goto(&url).await.unwrap();
    framegate_testkit::until("the first image", Duration::from_secs(60), || async {
        match client.execute("return window.benchShown && benchShown.some(([i]) => i === 0)", vec![]).await {
            Ok(Value::Bool(true)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let first_image_ms = opened.elapsed().as_secs_f64() * 1000.0;
    let r = client.execute_async(SCROLL, vec![json!(SLICES - 1), json!(NOTCHES_PER_SECOND)]).await.unwrap();
    let heap = client.issue_cmd(Cdp("Runtime.getHeapUsage", json!({}))).await.unwrap();
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    let run = Run {
        first_image_ms,
        shown: r["shown"].as_u64().unwrap(),
        missed: r["missed"].clone(),
        count: r["count"].as_u64().unwrap(),
        last_after_notch_ms: r["lastShownAt"].as_f64().map(|t| t - f(&r["lastNotch"])),
        scroll_ms: f(&r["lastNotch"]) - f(&r["t0"]),
        heap_mib: f(&heap["usedSize"]) / 1048576.0,
        renderer_mib: renderer_mib(&browser.profile_flag()),
        requested: r["requested"].as_u64().unwrap_or(0),
        loads: r["loads"].clone(),
        wire: r["wire"].clone(),
    };
    client.close().await.unwrap();
    let _ = server.kill();
    let _ = server.wait();
    run
}

/// Scanner noise (±`noise` HU) on the sample's smooth phantom: its rendered JPEGs then weigh
/// about what a real CT slice's do (the issue's 23 KB at 512²), not half of that.
fn noisy(mut obj: InMemDicomObject, seed: u32, noise: i32) -> InMemDicomObject {
    let pixels = obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap().into_owned();
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let noisy: Vec<u8> = pixels
        .chunks_exact(2)
        .flat_map(|p| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let n = (state >> 16) as i32 % (2 * noise + 1) - noise;
            ((i32::from(u16::from_le_bytes([p[0], p[1]])) + n).clamp(0, 4095) as u16).to_le_bytes()
        })
        .collect();
    obj.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::from(noisy)));
    obj
}

#[tokio::main]
async fn main() {
    if !framegate_testkit::installed("chromedriver") || !framegate_testkit::installed("chromium") {
        eprintln!("viewer_scroll: chromium and chromedriver are needed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keys"), format!("{KEYS}\n")).unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    for noise in NOISES {
        let name = format!("ct{noise}");
        let folder = dir.path().join("root").join(&name);
        std::fs::create_dir_all(&folder).unwrap();
        for i in 0..SLICES {
            let bytes = framegate::sample::to_bytes(noisy(framegate::sample::ct_slice(i, SLICES, SIDE), i as u32, noise)).unwrap();
            std::fs::write(folder.join(format!("slice{:03}.dcm", i + 1)), bytes).unwrap();
        }
        let token = Keyring::parse(KEYS).unwrap().sign(&ObjectKey::parse_plain(&name).unwrap(), now + 3600);
        println!("viewer scroll: {SLICES} slices of {SIDE}² (noise ±{noise} HU), phone 390×844 DPR 3, 4G (40 ms, 2.5 MB/s), {NOTCHES_PER_SECOND} notches/s from the first image on");
        for k in 1..=RUNS {
            // Other work on the machine shows in the figures: the page's timers and decoding
            // compete with it for the CPU.
            let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
            let load = load.split_whitespace().next().unwrap_or("?").to_owned();
            let r = run(dir.path(), &name, &token).await;
            let last = r.last_after_notch_ms.map_or("never".to_owned(), |ms| format!("{ms:.0} ms"));
            println!(
                "run {k} (load {load}): first image {:.0} ms; shown {}/{} ({:.1}%; not shown: {}); last slice {last} after the last notch (scroll {:.0} ms); {} frame requests (on the wire: {}); JS heap {:.1} MiB, renderer RSS {} MiB; viewer counters {}",
                r.first_image_ms,
                r.shown,
                r.count,
                100.0 * r.shown as f64 / r.count.max(1) as f64,
                r.missed,
                r.scroll_ms,
                r.requested,
                r.wire,
                r.heap_mib,
                r.renderer_mib,
                r.loads
            );
        }
    }
}
