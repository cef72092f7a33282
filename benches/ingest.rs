//! `framegate ingest` into the in-process S3 server: a 2 GiB multi-frame file and a series of
//! 1,000 files, each run by the release binary as a separate process, with its wall time,
//! throughput and peak resident memory (VmHWM, polled from /proc while it runs); then the same
//! ingest again, which finds everything already there; then into a local folder, which shows
//! framegate's own pace without the S3 server (which shares the machine, and hashes every byte
//! it stores). Prints a table for BENCHMARKS.md.
//!
//! `cargo bench --bench ingest`

use framegate_testkit::s3server;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use s3server::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY};

const KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n";
const SIDE: u16 = 1024;
const FRAME: u64 = SIDE as u64 * SIDE as u64 * 2;
const FRAMES: u64 = 1023;
const SERIES: usize = 1000;

/// A multi-frame CT of 1023 frames of 1024² 16-bit pixels, just under 2 GiB (Pixel Data's
/// length must fit 32 bits, less one), every frame holding the phantom.
fn write_multiframe(path: &Path) -> u64 {
    use std::io::Write;
    let mut obj = framegate::sample::cine(1, SIDE);
    obj.put(DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, PrimitiveValue::from(FRAMES.to_string())));
    let bytes = framegate::sample::to_bytes(obj).unwrap();
    let header = bytes.len() - FRAME as usize;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut head = bytes[..header].to_vec();
    head[header - 4..].copy_from_slice(&((FRAMES * FRAME) as u32).to_le_bytes());
    out.write_all(&head).unwrap();
    for _ in 0..FRAMES {
        out.write_all(&bytes[header..]).unwrap();
    }
    out.flush().unwrap();
    header as u64 + FRAMES * FRAME
}

fn write_series(dir: &Path) -> u64 {
    let mut total = 0;
    for i in 0..SERIES {
        let bytes = framegate::sample::to_bytes(framegate::sample::ct_slice(i, SERIES, 256)).unwrap();
        total += bytes.len() as u64;
        std::fs::write(dir.join(format!("slice{i:04}.dcm")), bytes).unwrap();
    }
    total
}

/// Peak resident memory of process `pid` so far, in KiB.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time of process `pid` so far (user and system), in seconds: /proc counts in ticks of
/// 1/100 s on Linux.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

struct Run {
    seconds: f64,
    cpu: f64,
    peak_kib: u64,
    summary: String,
}

fn ingest(s3: &S3Server, source: &Path, to: &str, keys: &Path) -> Run {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_framegate"))
        .args(["ingest", source.to_str().unwrap(), "--to", to, "--s3-endpoint", &s3.endpoint(), "--s3-path-style", "--s3-region", "us-east-1"])
        .args(["--keys-file", keys.to_str().unwrap(), "--s3-timeout", "120", "--manifest", keys.with_extension("json").to_str().unwrap()])
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (mut peak, mut cpu) = (0, 0.0f64);
    while child.try_wait().unwrap().is_none() {
        peak = peak.max(peak_rss(pid).unwrap_or(0));
        cpu = cpu.max(cpu_seconds(pid).unwrap_or(0.0));
        std::thread::sleep(Duration::from_millis(10));
    }
    let seconds = started.elapsed().as_secs_f64();
    let out = child.wait_with_output().unwrap();
    let summary = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    assert!(out.status.success(), "{summary}\n{}", std::fs::read_to_string(keys.with_extension("json")).unwrap_or_default());
    Run { seconds, cpu, peak_kib: peak, summary }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let s3_dir = tempfile::tempdir().unwrap();
    let s3 = runtime.block_on(S3Server::start(s3_dir.path()));
    let work = tempfile::tempdir().unwrap();
    let keys = work.path().join("keys");
    std::fs::write(&keys, KEYS).unwrap();

    let big = work.path().join("multiframe.dcm");
    let big_bytes = write_multiframe(&big);
    let series = work.path().join("series");
    std::fs::create_dir(&series).unwrap();
    let series_bytes = write_series(&series);

    println!("| source | run | wall time | framegate CPU | source read | objects/s | peak RSS |");
    println!("|---|---|---|---|---|---|---|");
    for (name, source, bytes, objects) in [("one multi-frame file, 2 GiB", &big, big_bytes, 1), ("series of 1,000 files, 256² CT", &series, series_bytes, SERIES)] {
        let prefix = if objects == 1 { "big" } else { "series" };
        let s3_to = format!("s3://{BUCKET}/{prefix}");
        let folder = work.path().join(format!("out-{prefix}"));
        for (run, to) in [("into S3", s3_to.as_str()), ("into S3 again (all there)", s3_to.as_str()), ("into a folder", folder.to_str().unwrap())] {
            let r = ingest(&s3, source, to, &keys);
            println!(
                "| {name} | {run} | {:.2} s | {:.2} s | {:.0} MiB/s | {:.1} | {:.0} MiB |",
                r.seconds,
                r.cpu,
                bytes as f64 / 1048576.0 / r.seconds,
                objects as f64 / r.seconds,
                r.peak_kib as f64 / 1024.0
            );
            eprintln!("  {}", r.summary);
        }
        // Each source's copies go before the next: the disk holds one 2 GiB copy at a time.
        let _ = std::fs::remove_dir_all(&folder);
        let _ = std::fs::remove_dir_all(s3_dir.path().join(BUCKET).join(prefix));
    }
    drop(s3);
}
