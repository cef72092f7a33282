//! What the load benches share: the real `framegate` binary started on a free loopback port,
//! and its resident memory.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub use framegate_testkit::free_port;

/// Waits until something accepts connections on `port`.
pub fn wait_for(port: u16) {
    framegate_testkit::until_blocking(&format!("something to listen on {port}"), Duration::from_secs(30), || std::net::TcpStream::connect(("127.0.0.1", port)));
}

/// `framegate serve` over `root` with `keys` and `extra` flags, logging at `log`, once it listens.
pub fn framegate(root: &Path, keys: &Path, extra: &[&str], log: &str) -> (Child, u16) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_framegate"))
        .args(["serve", "--root", root.to_str().unwrap(), "--keys-file", keys.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .env("FRAMEGATE_LOG", log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(port);
    (child, port)
}

/// Resident memory of process `pid`, in MiB.
pub fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok()).unwrap_or(0) / 1024
}

/// What one wrk run measured.
pub struct Figures {
    pub rps: f64,
    pub p50: String,
    pub p99: String,
    pub non_2xx: u64,
}

/// wrk against `url` with `load` (threads and connections, e.g. `["-t1", "-c4"]`) for
/// `seconds`, with extra `headers` and an optional Lua script.
pub fn wrk(url: &str, load: [&str; 2], seconds: &str, headers: &[&str], script: Option<&str>) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("wrk");
    cmd.args(load).args([&format!("-d{seconds}s"), "--latency"]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    if let Some(lua) = script {
        let path = dir.path().join("script.lua");
        std::fs::write(&path, lua).unwrap();
        cmd.args(["-s", path.to_str().unwrap()]);
    }
    let out = cmd.arg(url).output().expect("wrk is installed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let find = |prefix: &str| text.lines().map(str::trim).find_map(|l| l.strip_prefix(prefix)).map(|s| s.trim().to_owned()).unwrap_or_default();
    Figures { rps: find("Requests/sec:").parse().unwrap_or(0.0), p50: find("50%"), p99: find("99%"), non_2xx: find("Non-2xx or 3xx responses:").parse().unwrap_or(0) }
}
