//! Floods: what the security reviews did to the server, measured on the real binary over
//! loopback. While 40 clients at a time ask for frames of a JPEG 2000 decompression bomb, then
//! while 20 clients pipeline `GET /metrics` without reading, and last while 8 clients ask
//! WADO-RS for all 64 decoded frames of a multi-frame JPEG 2000 bomb (2 GiB an answer) beside
//! the first bomb flood, a prober asks for `/healthz` and a cached frame every 50 ms. Reports
//! the prober's latencies, the answers by status, and the server's peak RSS.
//!
//! `cargo bench --bench floods` (needs gdcmconv; a few minutes on two cores).

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
/// Frames of the multi-frame bomb, each a flat 4096² 16-bit JPEG 2000 (32 MiB decoded).
const LIST_FRAMES: usize = 64;
/// Clients asking WADO-RS for every frame of it at once.
const LISTERS: usize = 8;
/// How long the frame-list flood lasts: each answer would be 2 GiB.
const LIST_SECONDS: u64 = 40;
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

/// The release binary serving `root` (which holds `b/ct.dcm`) with `flags`, its cached frame
/// already rendered once.
struct Served {
    server: std::process::Child,
    pid: u32,
    port: u16,
    token: String,
    base: String,
    /// A frame of `b/ct.dcm`, rendered and cached: what the prober asks for.
    cached: String,
}

async fn serve(dir: &std::path::Path, root: &std::path::Path, flags: &[&str]) -> Served {
    std::fs::write(dir.join("keys"), KEYS).unwrap();
    let (server, port) = common::framegate(root, &dir.join("keys"), flags, "warn");
    let pid = server.id();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let token = Keyring::parse(KEYS).unwrap().sign(&ObjectKey::parse_plain("b").unwrap(), now + 3600);
    let base = format!("http://127.0.0.1:{port}");
    let cached = format!("{base}/v1/{token}/b/ct.dcm/-/frames/1.jpg");
    assert_eq!(status_of(&cached).await, 200);
    Served { server, pid, port, token, base, cached }
}

/// Raises `peak` to the server's RSS every 20 ms until `stop`.
fn rss_sampler(pid: u32, peak: Arc<AtomicU64>, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            peak.fetch_max(common::rss_mib(pid), Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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

fn main() {
    earlier_floods();
    frame_lists();
}

#[tokio::main]
async fn earlier_floods() {
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
    let Served { mut server, pid, port, token, base, cached } = serve(dir.path(), &root, &["--max-connections", &MAX_CONNECTIONS.to_string(), "--write-timeout", "5"]).await;
    let probes = vec![format!("{base}/healthz"), cached.clone()];
    let peak = Arc::new(AtomicU64::new(common::rss_mib(pid)));
    let sampling = Arc::new(AtomicBool::new(false));
    let sampler = rss_sampler(pid, peak.clone(), sampling.clone());
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

/// A multi-frame JPEG 2000 object of `LIST_FRAMES` copies of one flat 4096² 16-bit frame, made
/// by gdcm: a few KiB stored, 2 GiB decoded.
fn multi_frame_bomb(dir: &std::path::Path) -> Vec<u8> {
    use dicom_core::value::PixelFragmentSequence;
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    let native = dir.join("grey-native.dcm");
    let mut obj = sample::ct_slice(0, 1, 2);
    obj.put(DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(SIDE)));
    obj.put(DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(SIDE)));
    obj.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::from(vec![0x10u8; usize::from(SIDE) * usize::from(SIDE) * 2])));
    sample::write(obj, &native).unwrap();
    let j2k = dir.join("grey-j2k.dcm");
    let converted = Command::new("gdcmconv").args(["--j2k", native.to_str().unwrap(), j2k.to_str().unwrap()]).status();
    assert!(converted.is_ok_and(|s| s.success()), "gdcmconv --j2k failed");
    let mut obj = dicom_object::open_file(&j2k).unwrap().into_inner();
    let fragment = match obj.element(tags::PIXEL_DATA).unwrap().value() {
        dicom_core::DicomValue::PixelSequence(seq) => seq.fragments()[0].clone(),
        _ => panic!("gdcmconv wrote native pixel data"),
    };
    obj.put(DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, PrimitiveValue::from(LIST_FRAMES.to_string())));
    // Its own instance: the samples all share one SOP Instance UID.
    obj.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from("2.25.64064064")));
    let fragments: Vec<Vec<u8>> = vec![fragment; LIST_FRAMES];
    obj.put(DataElement::new(tags::PIXEL_DATA, VR::OB, PixelFragmentSequence::new(vec![], fragments)));
    sample::to_bytes_in(obj, "1.2.840.10008.1.2.4.90").unwrap()
}

/// Reads an answer to its end, or until `deadline`, keeping nothing: the bytes it got and its status.
async fn drain(url: String, accept: &'static str, deadline: Instant) -> (u16, u64) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http::<http_body_util::Empty<bytes::Bytes>>();
    let request = hyper::Request::get(url).header("accept", accept).body(http_body_util::Empty::new()).unwrap();
    let Ok(response) = client.request(request).await else { return (0, 0) };
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut bytes = 0u64;
    while Instant::now() < deadline {
        match tokio::time::timeout_at(deadline.into(), http_body_util::BodyExt::frame(&mut body)).await {
            Ok(Some(Ok(frame))) => bytes += frame.data_ref().map_or(0, |d| d.len() as u64),
            _ => break,
        }
    }
    (status, bytes)
}

/// The frame-list flood beside the bomb flood, on a server of its own.
#[tokio::main]
async fn frame_lists() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("b")).unwrap();
    std::fs::write(root.join("b/list.dcm"), multi_frame_bomb(dir.path())).unwrap();
    let native = dir.path().join("native.dcm");
    sample::write(sample::rgb_image(SIDE, SIDE, |_, _| [90, 90, 90]), &native).unwrap();
    let bomb = root.join("b/bomb.dcm");
    assert!(Command::new("gdcmconv").args(["--j2k", native.to_str().unwrap(), bomb.to_str().unwrap()]).status().is_ok_and(|s| s.success()));
    sample::write(sample::ct_slice(0, 1, 512), &root.join("b/ct.dcm")).unwrap();
    let Served { mut server, pid, token, base, cached, .. } = serve(dir.path(), &root, &[]).await;
    let web = format!("{base}/v1/{token}/b/-/dicomweb");
    let found: serde_json::Value = {
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http::<http_body_util::Empty<bytes::Bytes>>();
        let r = client.get(format!("{web}/instances").parse().unwrap()).await.unwrap();
        serde_json::from_slice(&http_body_util::BodyExt::collect(r.into_body()).await.unwrap().to_bytes()).unwrap()
    };
    let list = found.as_array().unwrap().iter().find(|i| i["00280008"]["Value"][0] == LIST_FRAMES).expect("the multi-frame bomb is listed");
    let uid = |tag: &str| list[tag]["Value"][0].as_str().unwrap().to_owned();
    let numbers: Vec<String> = (1..=LIST_FRAMES).map(|n| n.to_string()).collect();
    let url = format!("{web}/studies/{}/series/{}/instances/{}/frames/{}", uid("0020000D"), uid("0020000E"), uid("00080018"), numbers.join(","));
    println!("\nframe lists: {LISTERS} clients ask for {LIST_FRAMES} decoded frames of 32 MiB each (2 GiB an answer), beside {BOMBERS} bomb clients, for {LIST_SECONDS} s");
    let peak = Arc::new(AtomicU64::new(common::rss_mib(pid)));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = rss_sampler(pid, peak.clone(), stop.clone());
    let probe = prober(vec![format!("{base}/healthz"), cached], stop.clone());
    let deadline = Instant::now() + Duration::from_secs(LIST_SECONDS);
    let listers: Vec<_> = (0..LISTERS).map(|_| tokio::spawn(drain(url.clone(), "multipart/related; type=\"application/octet-stream\"", deadline))).collect();
    let bombs = tokio::spawn({
        let (base, token) = (base.clone(), token.clone());
        async move {
            let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
            let mut round = 0;
            while Instant::now() < deadline {
                let requests = (0..BOMBERS).map(|i| {
                    let url = format!("{base}/v1/{token}/b/bomb.dcm/-/frames/1.jpg?window={},{}", 200 + round, 50 + i);
                    async move { status_of(&url).await }
                });
                for status in futures_util::future::join_all(requests).await {
                    *statuses.entry(status).or_default() += 1;
                }
                round += 1;
            }
            statuses
        }
    });
    let mut lists: BTreeMap<u16, usize> = BTreeMap::new();
    let mut sent = 0u64;
    for lister in listers {
        let (status, bytes) = lister.await.unwrap();
        *lists.entry(status).or_default() += 1;
        sent += bytes;
    }
    let bombs = bombs.await.unwrap();
    stop.store(true, Ordering::Relaxed);
    sampler.await.unwrap();
    println!("frame-list answers by status {lists:?}, {} MiB sent in {LIST_SECONDS} s; bomb answers by status {bombs:?}", sent >> 20);
    summary("during both floods, /healthz and a cached frame", &probe.await.unwrap());
    println!("server peak RSS during both floods: {} MiB", peak.load(Ordering::Relaxed));
    let _ = server.kill();
    let _ = server.wait();
}
