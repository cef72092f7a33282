//! Load through the shipped NGINX config and straight to framegate, with wrk from loopback:
//! requests per second and p50/p99 for cached frames, cold frames and raw 206 ranges, with one
//! and with two framegate upstreams. Bounded: each run lasts a few seconds.
//!
//! `cargo bench --bench nginx` (needs nginx and wrk; `.ci/run` installs both).

mod common;

use framegate_testkit::nginxproc;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use framegate::key::ObjectKey;
use framegate::store::fs::FsStore;
use framegate::token::Keyring;
use common::Figures;
use framegate::{Settings, State, sample};

const KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const FRAMES: u32 = 3000;
const SECONDS: &str = "4";

async fn framegate(root: &std::path::Path) -> SocketAddr {
    let state = Arc::new(State::new(Keyring::parse(KEYS).unwrap(), Arc::new(FsStore::new(root).unwrap()), Settings::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(framegate::run(listener, state, std::future::pending()));
    addr
}

/// wrk with 2 threads and 32 connections, with an optional Lua script.
fn wrk(url: &str, script: Option<&str>) -> Figures {
    common::wrk(url, ["-t2", "-c32"], SECONDS, &[], script)
}

/// Cold frames: every request asks for a frame and quality not rendered before (each wrk thread
/// starts elsewhere); each run (`band` 0, 1, 2) has its own 20 quality levels, 60,000
/// renderings, more than a run makes.
fn cold_script(path: &str, band: u32) -> String {
    format!(
        "local threads = 0\nfunction setup(thread) thread:set('id', threads); threads = threads + 1 end\nfunction init(args) counter = id * 1000000 end\nrequest = function()\n  counter = counter + 1\n  local n = (counter % {FRAMES}) + 1\n  local q = {} + math.floor(counter / {FRAMES}) % 20\n  return wrk.format('GET', '{path}/-/frames/' .. n .. '.jpg?quality=' .. q)\nend\n",
        1 + 20 * band
    )
}

/// Raw ranges: 64 KiB at random offsets of the cine file.
fn range_script(size: u64) -> String {
    format!(
        "math.randomseed(7)\nrequest = function()\n  local start = math.random(0, {} )\n  wrk.headers['Range'] = 'bytes=' .. start .. '-' .. (start + 65535)\n  return wrk.format('GET')\nend\n",
        size - 65536
    )
}

#[tokio::main]
async fn main() {
    for tool in ["nginx", "wrk"] {
        if Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().map(|o| !o.status.success()).unwrap_or(true) {
            eprintln!("{tool} is not installed: bash .ci/run installs it");
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let bytes = sample::to_bytes(sample::cine(FRAMES, 256)).unwrap();
    let size = bytes.len() as u64;
    std::fs::create_dir_all(dir.path().join("xa")).unwrap();
    std::fs::write(dir.path().join("xa/cine.dcm"), bytes).unwrap();
    let (a, b) = (framegate(dir.path()).await, framegate(dir.path()).await);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let token = Keyring::parse(KEYS).unwrap().sign(&ObjectKey::parse_plain("xa").unwrap(), now + 3600);
    let path = format!("/v1/{token}/xa/cine.dcm");

    println!("machine: {} cores; wrk -t2 -c32 -d{SECONDS}s from loopback; cine of {FRAMES} frames 256x256 16-bit", std::thread::available_parallelism().map_or(0, usize::from));
    println!("| scenario | target | upstreams | req/s | p50 | p99 | non-2xx |");
    println!("|---|---|---|---|---|---|---|");
    let row = |scenario: &str, target: &str, upstreams: &str, f: Figures| {
        println!("| {scenario} | {target} | {upstreams} | {:.0} | {} | {} | {} |", f.rps, f.p50, f.p99, f.non_2xx);
        f.rps
    };
    // Warm framegate's caches for the cached-frame runs.
    let cached = format!("{path}/-/frames/1.jpg");
    let _ = wrk(&format!("http://{a}{cached}"), None);
    let direct = row("cached frame", "framegate", "1", wrk(&format!("http://{a}{cached}"), None));
    row("cold frames", "framegate", "1", wrk(&format!("http://{a}"), Some(&cold_script(&path, 0))));
    row("raw 64 KiB ranges (206)", "framegate", "1", wrk(&format!("http://{a}{path}"), Some(&range_script(size))));

    for (band, label, upstreams) in [(1, "1", [a, a]), (2, "2", [a, b])] {
        let nginx = nginxproc::start_nginx(upstreams, dir.path(), |server| server);
        let _ = wrk(&nginx.url(&cached), None);
        let through = row("cached frame (NGINX cache hit, auth_request)", "nginx", label, wrk(&nginx.url(&cached), None));
        if label == "1" {
            println!("| nginx overhead on a cached frame | | | {:.0}% of direct throughput lost | | | |", (1.0 - through / direct) * 100.0);
        }
        row("cold frames", "nginx", label, wrk(&nginx.url(""), Some(&cold_script(&path, band))));
        row("raw 64 KiB ranges (206)", "nginx", label, wrk(&nginx.url(&path), Some(&range_script(size))));
        drop(nginx);
    }
}
