//! Memory while a multi-GB DICOM object is streamed de-identified: the header is rebuilt in
//! memory, the 4 GiB of Pixel Data flow from the store to the client chunk by chunk. Prints
//! the resident set size before, at peak, and after, for BENCHMARKS.md.
//!
//! `cargo bench --bench deid`

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use framegate::key::ObjectKey;
use framegate::store::fs::FsStore;
use framegate::token::Keyring;
use framegate::{Settings, State, sample};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const SIDE: u16 = 2048;
const FRAME: u64 = SIDE as u64 * SIDE as u64 * 2;
const FRAMES: u64 = 511;

fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix(field)).and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok()).unwrap_or(0)
}

/// A sparse multi-frame object of FRAMES × 8 MiB: header and first frame real, the rest holes.
fn write_big(path: &std::path::Path) -> u64 {
    let mut obj = sample::cine(1, SIDE);
    obj.put(DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, PrimitiveValue::from(FRAMES.to_string())));
    let mut bytes = sample::to_bytes(obj).unwrap();
    let header = bytes.len() as u64 - FRAME;
    // Native Pixel Data has a 32-bit length: 511 frames of 8 MiB is the most that fits.
    let pixels = FRAME * FRAMES;
    assert!(pixels < u64::from(u32::MAX));
    bytes[header as usize - 4..header as usize].copy_from_slice(&(pixels as u32).to_le_bytes());
    std::fs::write(path, &bytes).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_len(header + pixels).unwrap();
    header + pixels
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("big")).unwrap();
    let size = write_big(&dir.path().join("big/cine.dcm"));
    let state = Arc::new(State::new(Keyring::parse(KEYS).unwrap(), Arc::new(FsStore::new(dir.path()).unwrap()), Settings::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(framegate::run(listener, state, std::future::pending()));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let token = Keyring::parse(KEYS).unwrap().sign(&ObjectKey::parse_plain("big").unwrap(), now + 3600);

    let before = rss_kib("VmRSS:");
    let client: Client<_, Empty<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let started = Instant::now();
    let resp = client.get(format!("http://{addr}/v1/{token}/big/cine.dcm").parse().unwrap()).await.unwrap();
    assert_eq!(resp.status(), 200);
    let length: u64 = resp.headers()["content-length"].to_str().unwrap().parse().unwrap();
    let mut body = resp.into_body();
    let (mut received, mut peak) = (0u64, 0u64);
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            received += data.len() as u64;
        }
        if received % (256 << 20) < 65536 {
            peak = peak.max(rss_kib("VmRSS:"));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(received, length);
    println!("| measure | value |");
    println!("|---|---|");
    println!("| stored object | {:.2} GiB ({FRAMES} frames of {SIDE}x{SIDE} 16-bit) |", size as f64 / f64::from(1 << 30));
    println!("| de-identified response | {:.2} GiB, Content-Length known up front |", length as f64 / f64::from(1 << 30));
    println!("| streamed in | {secs:.1} s ({:.0} MiB/s, client and server in one process) |", received as f64 / secs / f64::from(1 << 20));
    println!("| RSS before / peak while streaming / high-water mark | {} / {} / {} MiB |", before / 1024, peak.max(rss_kib("VmRSS:")) / 1024, rss_kib("VmHWM:") / 1024);
}
