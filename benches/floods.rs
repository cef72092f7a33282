//! Floods: what the security review did to the server, measured on the real binary over
//! loopback. While 40 clients at a time ask for frames of a JPEG 2000 decompression bomb, and
//! then while 20 clients pipeline `GET /metrics` without reading, a prober asks for `/healthz`
//! and a cached frame every 50 ms. Reports the prober's latencies, the bomb answers by status,
//! and the server's peak RSS.
//!
//! `cargo bench --bench floods` (needs gdcmconv; about a minute on two cores).

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use framegate::key::ObjectKey;
use framegate::sample;
use framegate::token::Keyring;
use tokio::io::AsyncWriteExt;

const KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
/// The bomb's side: 4096×4096 RGB, 352 MiB to decode through OpenJPEG, a few KiB stored.
const SIDE: u16 = 4096;
const BOMBERS: usize = 40;
const BOMB_ROUNDS: usize = 3;
/// Connections the server accepts, and as many hogs: every slot is taken.
const MAX_CONNECTIONS: usize = 48;
const HOGS: usize = MAX_CONNECTIONS;

async fn status_of(url: &str) -> u16 {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http::<http_body_util::Empty<bytes::Bytes>>();
    match client.get(url.parse().unwrap()).await {
        Ok(r) => {
            let status = r.status().as_u16();
            let _ = http_body_util::BodyExt::collect(r.into_body()).await;
            status
        }
        Err(_) => 0,
    }
}

/// Probes `urls` every 50 ms until `stop`, and returns each probe's latency in ms, status, and
/// when it was sent (seconds since the prober started).
fn prober(urls: Vec<String>, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<(f64, u16, f64)>> {
    tokio::spawn(async move {
        let mut out = Vec::new();
        let started = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            for url in &urls {
                let t0 = Instant::now();
                let status = tokio::time::timeout(Duration::from_secs(10), status_of(url)).await.unwrap_or(0);
                out.push((t0.elapsed().as_secs_f64() * 1000.0, status, (t0 - started).as_secs_f64()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        out
    })
}

fn summary(name: &str, probes: &[(f64, u16, f64)]) {
    let mut ms: Vec<f64> = probes.iter().map(|p| p.0).collect();
    ms.sort_by(f64::total_cmp);
    let failed = probes.iter().filter(|p| p.1 != 200).count();
    let pct = |p: f64| ms[((ms.len() - 1) as f64 * p) as usize];
    println!("{name}: {} probes, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, not 200: {failed}", ms.len(), pct(0.5), pct(0.99), pct(1.0));
    if let Some(last) = probes.iter().filter(|p| p.1 != 200).map(|p| p.2).reduce(f64::max) {
        println!("  the last probe refused was sent {last:.1} s into the flood; every one after it was answered");
    }
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("b")).unwrap();
    let native = dir.path().join("native.dcm");
    let obj = sample::rgb_image(SIDE, SIDE, |_, _| [90, 90, 90]);
    sample::write(obj, &native).unwrap();
    let bomb = root.join("b/bomb.dcm");
    let converted = Command::new("gdcmconv").args(["--j2k", native.to_str().unwrap(), bomb.to_str().unwrap()]).status();
    assert!(converted.is_ok_and(|s| s.success()), "gdcmconv --j2k failed (apt-get install libgdcm-tools)");
    println!("bomb: {SIDE}×{SIDE} RGB JPEG 2000, {} bytes stored", std::fs::metadata(&bomb).unwrap().len());
    sample::write(sample::ct_slice(0, 1, 512), &root.join("b/ct.dcm")).unwrap();
    std::fs::write(dir.path().join("keys"), KEYS).unwrap();

    let (mut server, port) = common::framegate(&root, &dir.path().join("keys"), &["--max-connections", &MAX_CONNECTIONS.to_string(), "--write-timeout", "5"], "warn");
    let pid = server.id();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let token = Keyring::parse(KEYS).unwrap().sign(&ObjectKey::parse_plain("b").unwrap(), now + 3600);
    let base = format!("http://127.0.0.1:{port}");
    let cached = format!("{base}/v1/{token}/b/ct.dcm/-/frames/1.jpg");
    assert_eq!(status_of(&cached).await, 200);
    let probes = vec![format!("{base}/healthz"), cached.clone()];
    let peak = Arc::new(AtomicU64::new(common::rss_mib(pid)));
    let sampling = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn({
        let (peak, stop) = (peak.clone(), sampling.clone());
        async move {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(common::rss_mib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    println!("server RSS at start: {} MiB", common::rss_mib(pid));

    // Bombs: each request asks for a new window, so nothing comes from the cache.
    let stop = Arc::new(AtomicBool::new(false));
    let probe = prober(probes.clone(), stop.clone());
    let started = Instant::now();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for round in 0..BOMB_ROUNDS {
        let requests = (0..BOMBERS).map(|i| {
            let url = format!("{base}/v1/{token}/b/bomb.dcm/-/frames/1.jpg?window={},{}", 100 + round, 50 + i);
            async move { status_of(&url).await }
        });
        for status in futures_util::future::join_all(requests).await {
            *statuses.entry(status).or_default() += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    println!("bombs: {} requests in {:.1} s, by status {statuses:?}", BOMBERS * BOMB_ROUNDS, started.elapsed().as_secs_f64());
    summary("during the bombs, /healthz and a cached frame", &probe.await.unwrap());
    println!("server peak RSS during the bombs: {} MiB", peak.load(Ordering::Relaxed));

    // Hogs: pipelined requests, never read; the server cuts them after --write-timeout.
    let stop = Arc::new(AtomicBool::new(false));
    let probe = prober(probes, stop.clone());
    let mut hogs = Vec::new();
    for _ in 0..HOGS {
        let mut hog = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let pipelined = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(20_000);
        let _ = tokio::time::timeout(Duration::from_millis(200), hog.write_all(pipelined.as_bytes())).await;
        hogs.push(hog);
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    stop.store(true, Ordering::Relaxed);
    summary(&format!("while {HOGS} clients pipeline without reading ({MAX_CONNECTIONS} connections allowed, 5 s write timeout), /healthz and a cached frame"), &probe.await.unwrap());
    drop(hogs);
    sampling.store(true, Ordering::Relaxed);
    sampler.await.unwrap();
    println!("server peak RSS overall: {} MiB", peak.load(Ordering::Relaxed));
    let _ = server.kill();
    let _ = server.wait();
}
