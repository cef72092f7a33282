//! The first reformatted image of a 500-slice CT (512×512, 16-bit, 2.5 mm slices) from the
//! in-process S3 server: cold (a fresh server: list, 500 headers, 500 slices read and decoded,
//! the plane cut, windowed and encoded), warm (another plane of the kept volume) and cached
//! (the same image again); the bytes a phone receives, against the bytes a viewer that builds
//! the volume itself (OHIF, DWV) must download to show the same plane. Prints a table for
//! BENCHMARKS.md.
//!
//! `cargo bench --bench reformat`

use framegate_testkit::s3server;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use s3server::{BUCKET, S3Server};

const SLICES: usize = 500;
const SIDE: u16 = 512;
const PREFIX: &str = "ct/s1";
const KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const COLD_RUNS: usize = 3;

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

/// One GET: its time and its body's bytes.
async fn fetch(client: &HttpClient, url: &str) -> (Duration, usize) {
    let started = Instant::now();
    let resp = client.get(url.parse().unwrap()).await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    let len = resp.into_body().collect().await.unwrap().to_bytes().len();
    (started.elapsed(), len)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(dir.path()).await;
    // Written into the bucket's folder (the S3 server serves it as it is): what a PUT would leave.
    let mut series_bytes = 0u64;
    for i in 0..SLICES {
        let bytes = framegate::sample::to_bytes(framegate::sample::ct_slice(i, SLICES, SIDE)).unwrap();
        series_bytes += bytes.len() as u64;
        let path = dir.path().join(BUCKET).join(format!("{PREFIX}/{i:03}.dcm"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let pixel_bytes = SLICES as u64 * u64::from(SIDE) * u64::from(SIDE) * 2;
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let url = |base: &str, token: &str, rest: &str| format!("{base}/v1/{token}/{PREFIX}/-/{rest}");

    let served = || (0..SLICES).map(|i| s3.s3.served(&format!("{PREFIX}/{i:03}.dcm")).iter().sum::<u64>()).sum::<u64>();
    // Cold: a fresh server each run, the plane asked for first; then, as the viewer does, after
    // stack.json (which reads and keeps every header).
    let mut cold = Vec::new();
    let mut after_stack = Vec::new();
    let mut stack_cold = Vec::new();
    let mut phone = 0;
    let mut read = 0;
    for _ in 0..COLD_RUNS {
        let fg = s3.framegate(KEYS, PREFIX).await;
        let before = served();
        let (t, len) = fetch(&client, &url(&fg.base, &fg.token, "reformat/coronal/257.jpg")).await;
        read = served() - before;
        cold.push(t);
        phone = len;
        let _ = fg.stop.send(());
        let fg = s3.framegate(KEYS, PREFIX).await;
        stack_cold.push(fetch(&client, &url(&fg.base, &fg.token, "stack.json")).await.0);
        after_stack.push(fetch(&client, &url(&fg.base, &fg.token, "reformat/coronal/257.jpg")).await.0);
        let _ = fg.stop.send(());
    }
    cold.sort();
    after_stack.sort();
    stack_cold.sort();

    // Warm: the volume kept, other planes (what scrolling asks for), then the same image again.
    let fg = s3.framegate(KEYS, PREFIX).await;
    let (first, _) = fetch(&client, &url(&fg.base, &fg.token, "reformat/coronal/257.jpg")).await;
    let mut warm = Vec::new();
    let mut sagittal = Vec::new();
    for n in 200..220 {
        warm.push(fetch(&client, &url(&fg.base, &fg.token, &format!("reformat/coronal/{n}.jpg"))).await.0);
        sagittal.push(fetch(&client, &url(&fg.base, &fg.token, &format!("reformat/sagittal/{n}.jpg"))).await);
    }
    let oblique = fetch(&client, &url(&fg.base, &fg.token, "reformat/oblique-45/300.jpg")).await;
    let (cached, _) = fetch(&client, &url(&fg.base, &fg.token, "reformat/coronal/257.jpg")).await;
    let (stack_time, stack_len) = fetch(&client, &url(&fg.base, &fg.token, "stack.json")).await;
    let _ = fg.stop.send(());
    warm.sort();
    let median = |v: &[Duration]| ms(v[v.len() / 2]);
    let mut sagittal_times: Vec<Duration> = sagittal.iter().map(|s| s.0).collect();
    sagittal_times.sort();

    println!("series: {SLICES} slices of {SIDE}x{SIDE} 16-bit, {} MiB of objects, {} MiB of samples", series_bytes >> 20, pixel_bytes >> 20);
    println!("| measure | value |");
    println!("|---|---|");
    println!("| first coronal image, cold (fresh server), median of {COLD_RUNS} | {:.0} ms (runs {:?}) |", median(&cold), cold.iter().map(|d| ms(*d).round()).collect::<Vec<_>>());
    println!("| bytes read from S3 for it / the series' bytes | {:.3} |", read as f64 / series_bytes as f64);
    println!("| stack.json, cold (500 headers), median of {COLD_RUNS} | {:.0} ms |", median(&stack_cold));
    println!(
        "| first coronal image after stack.json (as the viewer asks), median of {COLD_RUNS} | {:.0} ms (runs {:?}) |",
        median(&after_stack),
        after_stack.iter().map(|d| ms(*d).round()).collect::<Vec<_>>()
    );
    println!("| first coronal image on the bench's warm server (cold too) | {:.0} ms |", ms(first));
    println!("| another coronal image, volume kept, median of 20 | {:.1} ms |", median(&warm));
    println!("| a sagittal image, volume kept, median of 20 | {:.1} ms |", median(&sagittal_times));
    println!("| an oblique-45 image, volume kept | {:.1} ms ({} KiB) |", ms(oblique.0), oblique.1 >> 10);
    println!("| the same coronal image again (rendered cache) | {:.2} ms |", ms(cached));
    println!("| stack.json (with the planes) | {:.1} ms, {} KiB |", ms(stack_time), stack_len >> 10);
    println!("| bytes to the phone for the first coronal image (JPEG 512x1278) | {} KiB |", phone >> 10);
    println!("| bytes a client-side MPR downloads first (every slice, native) | {} MiB ({}x) |", pixel_bytes >> 20, pixel_bytes / phone as u64);
    println!("| the same as the series' objects (WADO-RS instances / files) | {} MiB |", series_bytes >> 20);
}
