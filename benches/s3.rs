//! Frames of a 1 GiB multi-frame object from the in-process S3 server: cold first-frame
//! latency, bytes read per frame against the frame's own size, and frames per second, cold
//! (index cached, frames not) and warm (frames cached). Prints a table for BENCHMARKS.md.
//!
//! `cargo bench --bench s3`

use framegate_testkit::s3server;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use s3server::{FRAME, Framegate, GIB, S3Server, write_gib_object};

const KEY: &str = "big/cine.dcm";
const COLD_RUNS: usize = 15;

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

async fn fetch(client: &HttpClient, url: &str) -> usize {
    let resp = client.get(url.parse().unwrap()).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.into_body().collect().await.unwrap().to_bytes().len()
}

async fn start(s3: &S3Server) -> Framegate {
    s3.framegate("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", "big").await
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(dir.path()).await;
    write_gib_object(dir.path(), KEY);
    let frames = GIB / FRAME;
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();

    // Cold: a fresh server each run (empty index and frame caches), a different frame each time.
    let mut cold = Vec::new();
    let mut bytes_per_frame = Vec::new();
    for run in 0..COLD_RUNS {
        let fg = start(&s3).await;
        let n = 1 + (run as u64 * 37) % frames;
        let url = format!("{}/v1/{}/{KEY}/-/frames/{n}.jpg", fg.base, fg.token);
        let before: u64 = s3.s3.served(KEY).iter().sum();
        let started = Instant::now();
        fetch(&client, &url).await;
        cold.push(started.elapsed());
        let read = s3.s3.served(KEY).iter().sum::<u64>() - before;
        bytes_per_frame.push(read as f64 / FRAME as f64);
        let _ = fg.stop.send(());
    }
    cold.sort();

    // Index cached, frames not: scroll through distinct frames one after another.
    let fg = start(&s3).await;
    fetch(&client, &format!("{}/v1/{}/{KEY}/-/info.json", fg.base, fg.token)).await;
    let before: u64 = s3.s3.served(KEY).iter().sum();
    let scroll = 60u64;
    let started = Instant::now();
    for n in 1..=scroll {
        fetch(&client, &format!("{}/v1/{}/{KEY}/-/frames/{n}.jpg", fg.base, fg.token)).await;
    }
    let scroll_secs = started.elapsed().as_secs_f64();
    let scroll_ratio = (s3.s3.served(KEY).iter().sum::<u64>() - before) as f64 / (scroll * FRAME) as f64;

    // Warm: the same frames again, now from the frame cache, two clients at once.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for half in 0..2u64 {
        let (client, base, token) = (client.clone(), fg.base.clone(), fg.token.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..10u64 {
                for n in (1 + half..=scroll).step_by(2) {
                    let _ = round;
                    fetch(&client, &format!("{base}/v1/{token}/{KEY}/-/frames/{n}.jpg")).await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let warm_fps = (scroll * 10) as f64 / started.elapsed().as_secs_f64();
    let _ = fg.stop.send(());

    let max_ratio = bytes_per_frame.iter().cloned().fold(0.0, f64::max);
    println!("object: {} MiB, {frames} frames of {}x{} 16-bit ({} KiB each)", (GIB + 4096) >> 20, s3server::SIDE, s3server::SIDE, FRAME >> 10);
    println!("| measure | value |");
    println!("|---|---|");
    println!("| cold first frame (empty caches: HEAD + 64 KiB header + frame), median | {:.1} ms |", percentile(&cold, 0.5));
    println!("| cold first frame, p90 / max | {:.1} / {:.1} ms |", percentile(&cold, 0.9), percentile(&cold, 1.0));
    println!("| bytes read per cold first frame / frame size | {max_ratio:.3} (frame + 64 KiB header) |");
    println!("| bytes read per frame while scrolling (index cached) / frame size | {scroll_ratio:.3} |");
    println!("| scrolling distinct frames, one client, index cached | {:.0} frames/s |", scroll as f64 / scroll_secs);
    println!("| warm frames (frame cache), two clients | {warm_fps:.0} frames/s |");
}
