//! Headless Chromium through chromedriver, as the browser tests and the browser benches drive it:
//! one set of flags (the closed network's: no background connections), a fresh profile each
//! time, and every process it started stopped on drop.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

/// How long chromedriver and Chromium get to start: long on two busy cores.
const PATIENCE: Duration = Duration::from_secs(30);

/// A Chrome DevTools command through chromedriver (`goog/cdp/execute`).
#[derive(Debug)]
pub struct Cdp(pub &'static str, pub Value);

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/goog/cdp/execute", session.unwrap_or_default()))
    }
    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({ "cmd": self.0, "params": self.1 }).to_string()))
    }
}

/// chromedriver on a free loopback port, stopped (by its pid) on drop, with the Chromium it
/// started: a run that fails before closing its session would otherwise leave that browser
/// running, orphaned.
pub struct Chromium {
    child: Child,
    profile: tempfile::TempDir,
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // This driver's browser processes are the ones started with its own profile folder. They
        // must be gone before the profile is removed, or their last writes leave it behind in /tmp.
        let flag = self.profile_flag();
        for pid in processes_with_arg(&flag) {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while !processes_with_arg(&flag).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Chromium {
    /// The command-line flag that marks this browser's processes (its own profile folder).
    pub fn profile_flag(&self) -> String {
        format!("--user-data-dir={}", self.profile.path().display())
    }
}

/// Live processes with `arg` on their command line (a zombie's command line reads empty).
fn processes_with_arg(arg: &str) -> Vec<u32> {
    let Ok(procs) = std::fs::read_dir("/proc") else { return Vec::new() };
    procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            cmdline.split(|b| *b == 0).any(|a| a == arg.as_bytes())
        })
        .collect()
}

/// Headless Chromium in a `width`×`height` window with a fresh profile; with `phone`, a touch
/// device of that device pixel ratio, emulated. Panics when it cannot start: callers check that
/// chromium and chromedriver are installed first.
pub async fn start(width: u32, height: u32, phone: Option<f64>) -> (Chromium, Client) {
    let port = crate::free_port();
    let child = Command::new("chromedriver").arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("chromedriver starts");
    let chromium = Chromium { child, profile: tempfile::tempdir().expect("a profile folder") };
    let mut args = vec![
        "--headless".to_owned(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-dev-shm-usage".into(),
        chromium.profile_flag(),
        format!("--window-size={width},{height}"),
    ];
    let mut options = json!({ "binary": "/usr/bin/chromium" });
    if let Some(dpr) = phone {
        args.push("--touch-events=enabled".into());
        options["mobileEmulation"] = json!({ "deviceMetrics": { "width": width, "height": height, "pixelRatio": dpr, "touch": true, "mobile": true } });
    }
    options["args"] = json!(args);
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    // chromedriver answers once it listens; until then each attempt is refused.
    let address = format!("http://127.0.0.1:{port}");
    let connect = || async {
        let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(caps.clone()).connect(&address).await
    };
    match crate::poll(PATIENCE, connect).await {
        Ok(client) => (chromium, client),
        Err(e) => panic!("cannot start chromium through chromedriver: {e}"),
    }
}
