//! DICOMweb study metadata of a 1,000-instance CT study in the in-process S3 server: cold (a
//! fresh server: the prefix listed and every header read by range) and warm (the answer
//! cached), plain and gzipped. Criterion, one sample per fresh server for the cold case.
//!
//! `cargo bench --bench dicomweb`

use framegate_testkit::s3server;

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use framegate::sample;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use s3server::{BUCKET, S3Server};

const INSTANCES: usize = 1000;
/// 256² slices: a real CT header, 128 KiB of pixels that are never read.
const SIDE: u16 = 256;
const KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

/// A framegate over `s3` with empty caches, and the study's DICOMweb root.
async fn fresh(s3: &S3Server) -> (String, tokio::sync::oneshot::Sender<()>) {
    let fg = s3.framegate(KEYS, "study").await;
    (format!("{}/v1/{}/study/-/dicomweb", fg.base, fg.token), fg.stop)
}

async fn get(client: &HttpClient, url: &str, gzip: bool) -> Bytes {
    let mut req = hyper::Request::get(url);
    if gzip {
        req = req.header("accept-encoding", "gzip");
    }
    let resp = client.request(req.body(Empty::new()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.into_body().collect().await.unwrap().to_bytes()
}

fn metadata(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s3 = rt.block_on(S3Server::start(dir.path()));
    let folder = dir.path().join(BUCKET).join("study");
    std::fs::create_dir_all(&folder).unwrap();
    for i in 0..INSTANCES {
        sample::write(sample::ct_slice(i, INSTANCES, SIDE), &folder.join(format!("{i:04}.dcm"))).unwrap();
    }
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    // The study UID is the same pseudonym on every server (one key).
    let study = rt.block_on(async {
        let (root, stop) = fresh(&s3).await;
        let body = get(&client, &format!("{root}/studies"), false).await;
        let _ = stop.send(());
        let studies: serde_json::Value = serde_json::from_slice(&body).unwrap();
        studies[0]["0020000D"]["Value"][0].as_str().unwrap().to_owned()
    });

    let mut group = c.benchmark_group(format!("dicomweb/study metadata, {INSTANCES} instances, S3"));
    group.sample_size(10).measurement_time(Duration::from_secs(30));
    group.bench_function("cold (list + 1,000 header reads)", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (root, stop) = fresh(&s3).await;
                    let url = format!("{root}/studies/{study}/metadata");
                    let started = Instant::now();
                    let body = get(&client, &url, false).await;
                    total += started.elapsed();
                    assert!(body.len() > INSTANCES * 1000);
                    let _ = stop.send(());
                }
                total
            })
        })
    });
    for gzip in [false, true] {
        let (root, stop) = rt.block_on(fresh(&s3));
        let url = format!("{root}/studies/{study}/metadata");
        let size = rt.block_on(get(&client, &url, gzip)).len();
        let name = format!("warm ({}, {} KiB)", if gzip { "gzip" } else { "plain" }, size / 1024);
        group.bench_function(name, |b| b.iter(|| rt.block_on(get(&client, &url, gzip))));
        let _ = stop.send(());
    }
    group.finish();
}

criterion_group!(benches, metadata);
criterion_main!(benches);
