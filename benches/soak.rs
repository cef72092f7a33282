//! Soak: 200,000 requests from 64 connections on loopback against the real binary, mixed
//! cached frames, cold frames, raw ranges and errors. Reports throughput, p50/p99, status
//! counts (5xx other than 503 shedding must be 0) and the server's RSS every 20,000 requests,
//! with a 64 MiB frame cache, so the curve should flatten below cache + fixed overhead.
//!
//! `cargo bench --bench soak` (about a minute on two cores).

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use framegate::key::ObjectKey;
use framegate::sample;
use framegate::token::Keyring;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const REQUESTS: usize = 200_000;
const CONNECTIONS: usize = 64;
const CINE_FRAMES: u32 = 400;

/// The i-th request of the mix: 50% cached frames, 20% cold frames, 20% raw ranges, 10% errors.
fn request(i: usize, base: &str, t: &str) -> (String, Option<String>) {
    match i % 10 {
        0..=4 => (format!("{base}/v1/{t}/ct/s1/slice{:03}.dcm/-/frames/1.jpg", 1 + i % 20), None),
        5 | 6 => (format!("{base}/v1/{t}/xa/cine.dcm/-/frames/{}.jpg?quality={}", 1 + (i / 10) % CINE_FRAMES as usize, 30 + (i / 4000) % 60), None),
        7 | 8 => {
            let start = (i * 7919) % (CINE_FRAMES as usize * 128 * 1024);
            (format!("{base}/v1/{t}/img/a.jpg"), Some(format!("bytes={start}-{}", start + 65535)))
        }
        _ => match i % 3 {
            0 => (format!("{base}/v1/forged.1.1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/ct/s1/slice001.dcm"), None),
            1 => (format!("{base}/v1/{t}/ct/s1/missing.dcm/-/frames/1.jpg"), None),
            _ => (format!("{base}/v1/{t}/ct/s1/slice001.dcm/-/frames/1.jpg?window=x"), None),
        },
    }
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    for i in 0..20 {
        sample::write(sample::ct_slice(i, 20, 256), &root.join(format!("ct/s1/slice{:03}.dcm", i + 1))).unwrap();
    }
    sample::write(sample::cine(CINE_FRAMES, 256), &root.join("xa/cine.dcm")).unwrap();
    std::fs::create_dir_all(root.join("img")).unwrap();
    let big = std::fs::File::create(root.join("img/a.jpg")).unwrap();
    // A real JPEG header and scan, then a hole: the raw route reads a JPEG's header up to its
    // first scan (to blank its metadata) and streams the rest.
    let mut header = Vec::new();
    jpeg_encoder::Encoder::new(&mut header, 90).encode(&[9u8; 64], 8, 8, jpeg_encoder::ColorType::Luma).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&big, &header, 0).unwrap();
    big.set_len(u64::from(CINE_FRAMES) * 128 * 1024 + 65536).unwrap();
    std::fs::write(dir.path().join("keys"), KEYS).unwrap();
    let cache_mb = std::env::var("SOAK_CACHE_MB").unwrap_or_else(|_| "64".into());
    let (mut server, port) = common::framegate(&root, &dir.path().join("keys"), &["--cache-mb", &cache_mb], "warn");
    let pid = server.id();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    // A token per top folder, as a portal would hand out per study.
    let tokens: Arc<BTreeMap<&str, String>> =
        Arc::new(["ct", "xa", "img"].iter().map(|s| (*s, Keyring::parse(KEYS).unwrap().sign(&ObjectKey::parse_plain(s).unwrap(), now + 3600))).collect());
    let base = Arc::new(format!("http://127.0.0.1:{port}"));
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(CONNECTIONS).build_http();
    let next = Arc::new(AtomicUsize::new(0));
    let rss_before = common::rss_mib(pid);
    let mut rss_curve = vec![(0usize, rss_before)];
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (client, next, base, tokens) = (client.clone(), next.clone(), base.clone(), tokens.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= REQUESTS {
                    break;
                }
                let folder = match i % 10 {
                    5 | 6 => "xa",
                    7 | 8 => "img",
                    _ => "ct",
                };
                let (url, range) = request(i, &base, &tokens[folder]);
                let mut req = hyper::Request::get(url);
                if let Some(range) = range {
                    req = req.header("range", range);
                }
                let t0 = Instant::now();
                let status = match client.request(req.body(Empty::new()).unwrap()).await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let _ = resp.into_body().collect().await;
                        status
                    }
                    Err(_) => 0,
                };
                latencies.push(t0.elapsed().as_micros() as u32);
                *statuses.entry(status).or_default() += 1;
            }
            (latencies, statuses)
        }));
    }
    let sampler = tokio::spawn({
        let next = next.clone();
        async move {
            let mut curve = Vec::new();
            let mut mark = 20_000;
            while mark <= REQUESTS {
                if next.load(Ordering::Relaxed) >= mark {
                    curve.push((mark, common::rss_mib(pid)));
                    mark += 20_000;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            curve
        }
    });
    let mut latencies = Vec::new();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for t in tasks {
        let (l, s) = t.await.unwrap();
        latencies.extend(l);
        for (k, v) in s {
            *statuses.entry(k).or_default() += v;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    rss_curve.extend(sampler.await.unwrap());
    let _ = server.kill();
    let _ = server.wait();
    latencies.sort_unstable();
    let pct = |p: f64| f64::from(latencies[((latencies.len() - 1) as f64 * p) as usize]) / 1000.0;
    let bad_5xx: usize = statuses.iter().filter(|(s, _)| **s >= 500 && **s != 503 || **s == 0).map(|(_, n)| n).sum();
    println!(
        "requests: {REQUESTS} from {CONNECTIONS} connections in {secs:.1} s: {:.0} req/s; p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms",
        REQUESTS as f64 / secs,
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    println!("statuses: {statuses:?}; 5xx other than 503 (and transport errors): {bad_5xx}");
    println!("server RSS (MiB) after N requests: {}", rss_curve.iter().map(|(n, r)| format!("{n}: {r}")).collect::<Vec<_>>().join(", "));
}
