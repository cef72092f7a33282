//! Cold study metadata and cold stack.json of a 1,000- and a 10,000-instance study in the
//! in-process S3 server, with and without the study catalog (issue 24). Each sample is a fresh
//! framegate (new state: empty caches, no listing or version trusted), so a sample is what the
//! first viewer of a study pays after a restart. Goals: 300 ms at 1,000 instances, 1 s at 10,000.
//!
//! `cargo bench --bench catalog` (sizes from `CATALOG_BENCH_SIZES`, default `1000,10000`; a round
//! trip added to every S3 request from `CATALOG_BENCH_S3_MS`, default 0)

use std::time::{Duration, Instant};

use bytes::Bytes;
use framegate::catalog;
use framegate::dicom::Limits;
use framegate::key::ObjectKey;
use framegate::pool::RenderPool;
use framegate::sample;
use framegate::store::s3::S3Store;
use framegate_testkit::s3server::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// 64² slices: the sample CT's whole header, with few pixel bytes to write, which are never read.
const SIDE: u16 = 64;
const KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

async fn get(client: &HttpClient, url: &str) -> Bytes {
    let (status, body) = fetch(client, url).await;
    assert_eq!(status, 200, "{url}");
    body
}

async fn fetch(client: &HttpClient, url: &str) -> (u16, Bytes) {
    let resp = client.request(hyper::Request::get(url).body(Empty::new()).unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.into_body().collect().await.unwrap().to_bytes())
}

/// The cold time of `path` under `scope`, each sample on a fresh framegate: the median and the
/// extremes, and the body's size (or, when an answer was not a 200, its status, so that the
/// uncatalogued 10,000-instance stack.json's timeout is reported rather than hidden).
async fn cold(s3: &S3Server, client: &HttpClient, scope: &str, path: &str, samples: usize) -> (Duration, Duration, Duration, String) {
    let mut times = Vec::with_capacity(samples);
    let mut size = String::new();
    for _ in 0..samples {
        let fg = s3.framegate(KEYS, scope).await;
        let url = format!("{}/v1/{}/{scope}{path}", fg.base, fg.token);
        let started = Instant::now();
        let (status, body) = fetch(client, &url).await;
        size = if status == 200 { format!("{} KiB", body.len() / 1024) } else { format!("status {status}") };
        times.push(started.elapsed());
        // The next sample starts once this framegate and its caches are gone, as after a restart.
        let _ = fg.stop.send(());
        let _ = fg.ended.await;
    }
    times.sort();
    (times[times.len() / 2], times[0], times[times.len() - 1], size)
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    // As the binary's main does (see `library_backtraces_off` there): what is measured is
    // framegate as it runs.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: first, on the bench's only thread.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
    // A round trip to S3 added to every request (`CATALOG_BENCH_S3_MS`, default 0: loopback).
    let latency_ms: u32 = std::env::var("CATALOG_BENCH_S3_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let sizes: Vec<usize> = std::env::var("CATALOG_BENCH_SIZES").unwrap_or_else(|_| "1000,10000".into()).split(',').filter_map(|s| s.trim().parse().ok()).collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    println!("| instances | measure | without catalog (median, range), answer | with catalog (median, range), answer |");
    println!("|---|---|---|---|");
    for n in sizes {
        let dir = tempfile::tempdir().unwrap();
        let s3 = rt.block_on(S3Server::start(dir.path()));
        // The same slices as two studies: `without` has no catalog, `catalog` has one (names of one length, so bodies compare).
        for study in ["without", "catalog"] {
            let folder = dir.path().join(BUCKET).join(study).join("s1");
            std::fs::create_dir_all(&folder).unwrap();
            for i in 0..n {
                sample::write(sample::ct_slice(i, n, SIDE), &folder.join(format!("{i:05}.dcm"))).unwrap();
            }
        }
        let store = S3Store::from_sdk(&s3.sdk(ACCESS_KEY, SECRET_KEY), &s3.options(BUCKET));
        let started = Instant::now();
        let built = rt.block_on(catalog::write(&store, &ObjectKey::parse_plain("catalog").unwrap(), &Limits::default(), &RenderPool::new(2, 64, 1 << 30))).unwrap();
        eprintln!("{n} instances: catalog of {} objects, {} KiB, written in {}", built.catalogued, built.bytes / 1024, ms(started.elapsed()));
        // From here on, each request to S3 may wait a round trip to a real region first.
        s3.s3.faults.latency_ms.store(latency_ms, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(built.catalogued, n);
        let study = rt.block_on(async {
            let fg = s3.framegate(KEYS, "catalog").await;
            let body = get(&client, &format!("{}/v1/{}/catalog/-/dicomweb/studies", fg.base, fg.token)).await;
            let _ = fg.stop.send(());
            let studies: serde_json::Value = serde_json::from_slice(&body).unwrap();
            studies[0]["0020000D"]["Value"][0].as_str().unwrap().to_owned()
        });
        // Uncatalogued samples take seconds each at 10,000: fewer of them.
        let (with, without) = (7, if n > 2000 { 3 } else { 5 });
        for (measure, path) in [("study metadata", format!("/-/dicomweb/studies/{study}/metadata")), ("stack.json", "/-/stack.json".to_owned())] {
            let (plain, plain_min, plain_max, plain_size) = rt.block_on(cold(&s3, &client, "without", &path, without));
            let (cat, cat_min, cat_max, cat_size) = rt.block_on(cold(&s3, &client, "catalog", &path, with));
            println!("| {n} | cold {measure} | {} ({}–{}), {plain_size} | **{}** ({}–{}), {cat_size} |", ms(plain), ms(plain_min), ms(plain_max), ms(cat), ms(cat_min), ms(cat_max));
        }
    }
}
