//! framegate against its peers, in one run on the same files and the same cores: nginx serving
//! the same JPEG as a static file, and Orthanc (Debian's package) rendering the same DICOM.
//! wrk drives each with one thread and four connections from loopback, as the speed issue
//! measured them, and the ratios are printed against their goals.
//!
//! `cargo bench --bench peers` (needs wrk, nginx and Orthanc: `apt-get install wrk nginx
//! orthanc`; about a minute and a half on two cores). Not run by CI.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use framegate::key::ObjectKey;
use framegate::sample;
use framegate::token::Keyring;

const KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const SECONDS: &str = "5";
/// Frames of the multi-frame file: 400 of 512×512×16 bits, 200 MiB.
const FRAMES: u32 = 400;

/// wrk -t1 -c4, with a Lua script when given; requests per second and non-2xx answers.
fn wrk(url: &str, script: Option<&str>, headers: &[&str]) -> (f64, u64) {
    let figures = common::wrk(url, ["-t1", "-c4"], SECONDS, headers, script);
    (figures.rps, figures.non_2xx)
}

/// A Lua script that asks for `path(n)` with n counting up, so that no answer is cached.
fn counting(path: &str) -> String {
    format!("n = 0\nrequest = function()\n  n = n + 1\n  return wrk.format(\"GET\", {path})\nend\n")
}

fn get(url: &str, headers: &[(&str, &str)]) -> (u16, Vec<u8>) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", "-", "-w", "\n%{http_code}"]);
    for (k, v) in headers {
        cmd.args(["-H", &format!("{k}: {v}")]);
    }
    let out = cmd.arg(url).output().expect("curl is installed");
    let mut body = out.stdout;
    let at = body.iter().rposition(|b| *b == b'\n').unwrap();
    let status = String::from_utf8_lossy(&body[at + 1..]).parse().unwrap_or(0);
    body.truncate(at);
    (status, body)
}

/// The time to the last byte of one GET, with a plain socket: no client process to start.
fn timed_get(port: u16, path: &str, accept: &str) -> (u16, f64) {
    use std::io::{Read, Write};
    let t0 = Instant::now();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    let status = String::from_utf8_lossy(&answer[9..12]).parse().unwrap_or(0);
    (status, ms)
}

struct Orthanc {
    child: Child,
    port: u16,
}

fn orthanc(dir: &std::path::Path) -> Orthanc {
    let port = common::free_port();
    let config = dir.join("orthanc.json");
    let storage = dir.join("orthanc-db");
    std::fs::write(
        &config,
        format!(
            r#"{{"Name": "bench", "StorageDirectory": "{s}", "IndexDirectory": "{s}", "HttpPort": {port}, "DicomServerEnabled": false,
                "RemoteAccessAllowed": false, "AuthenticationEnabled": false, "Plugins": [], "HttpDescribeErrors": true}}"#,
            s = storage.display()
        ),
    )
    .unwrap();
    let child = Command::new("Orthanc").arg(&config).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("Orthanc is installed");
    common::wait_for(port);
    Orthanc { child, port }
}

impl Orthanc {
    fn upload(&self, file: &std::path::Path) -> String {
        let out =
            Command::new("curl").args(["-s", "-X", "POST", "--data-binary", &format!("@{}", file.display()), &format!("http://127.0.0.1:{}/instances", self.port)]).output().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("Orthanc answers JSON");
        json["ID"].as_str().expect("an instance ID").to_owned()
    }

    fn stop(mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

fn stop(mut child: Child) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let (ct, cine) = (root.join("ct/a.dcm"), root.join("xa/cine.dcm"));
    sample::write(sample::ct_slice(0, 1, 512), &ct).unwrap();
    sample::write(sample::cine(FRAMES, 512), &cine).unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, KEYS).unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let sign = |scope: &str| Keyring::parse(KEYS).unwrap().sign(&ObjectKey::parse_plain(scope).unwrap(), now + 3600);
    let (ct_token, xa_token) = (sign("ct"), sign("xa"));

    // framegate, and the JPEG it serves for the CT slice, which nginx then serves as a file.
    let (fg, fg_port) = common::framegate(&root, &keys, &[], "info");
    let fg_base = format!("http://127.0.0.1:{fg_port}");
    let frame_path = format!("/v1/{ct_token}/ct/a.dcm/-/frames/1.jpg");
    let (status, jpeg) = get(&format!("{fg_base}{frame_path}"), &[]);
    assert_eq!(status, 200);
    let static_dir = dir.path().join("static");
    std::fs::create_dir_all(&static_dir).unwrap();
    std::fs::write(static_dir.join("frame.jpg"), &jpeg).unwrap();
    let nginx_port = common::free_port();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off; worker_processes auto; pid {d}/nginx.pid; error_log {d}/error.log;\nevents {{ worker_connections 1024; }}\nhttp {{ access_log off; sendfile on; server {{ listen 127.0.0.1:{nginx_port}; root {s}; }} }}\n",
            d = dir.path().display(),
            s = static_dir.display()
        ),
    )
    .unwrap();
    let nginx = Command::new("nginx").args(["-c", conf.to_str().unwrap(), "-p", dir.path().to_str().unwrap()]).stderr(Stdio::null()).spawn().expect("nginx is installed");
    common::wait_for(nginx_port);

    let orthanc = orthanc(dir.path());
    let (ct_id, cine_id) = (orthanc.upload(&ct), orthanc.upload(&cine));
    let orthanc_base = format!("http://127.0.0.1:{}", orthanc.port);
    let accept_jpeg = ["Accept: image/jpeg"];
    assert_eq!(get(&format!("{orthanc_base}/instances/{ct_id}/frames/0/rendered"), &[("Accept", "image/jpeg")]).0, 200);

    println!("JPEG of a 512×512 CT slice: {} bytes; wrk -t1 -c4 -d{SECONDS}s from loopback", jpeg.len());
    let mut rows: Vec<(String, f64, f64, f64, &str)> = Vec::new();

    let (fg_cached, e1) = wrk(&format!("{fg_base}{frame_path}"), None, &[]);
    let (nginx_cached, e2) = wrk(&format!("http://127.0.0.1:{nginx_port}/frame.jpg"), None, &[]);
    assert_eq!(e1 + e2, 0);
    rows.push(("cached frame vs nginx static file (goal ≥ 0.8×)".into(), fg_cached, nginx_cached, 0.8, "nginx"));

    let cold_ct = counting(&format!("\"{frame_path}?window=40,\" .. (400 + n)"));
    let (fg_cold, e1) = wrk(&fg_base, Some(&cold_ct), &[]);
    let (orthanc_cold, e2) = wrk(&format!("{orthanc_base}/instances/{ct_id}/frames/0/rendered"), None, &accept_jpeg);
    assert_eq!(e1 + e2, 0);
    rows.push(("cold frame, new window each time (goal ≥ 3×)".into(), fg_cold, orthanc_cold, 3.0, "Orthanc"));

    let cold_cine = counting(&format!("\"/v1/{xa_token}/xa/cine.dcm/-/frames/\" .. (n % {FRAMES} + 1) .. \".jpg?window=2000,\" .. (3000 + n)"));
    let orthanc_cine = counting(&format!("\"/instances/{cine_id}/frames/\" .. (n % {FRAMES}) .. \"/rendered\""));
    let (fg_cine, e1) = wrk(&fg_base, Some(&cold_cine), &[]);
    let (orthanc_cine, e2) = wrk(&orthanc_base, Some(&orthanc_cine), &accept_jpeg);
    assert_eq!(e1 + e2, 0);
    rows.push((format!("cold frames of a {FRAMES}-frame 200 MiB file (goal ≥ 3×)"), fg_cine, orthanc_cine, 3.0, "Orthanc"));
    stop(fg);

    // The first frame of the multi-frame file from a fresh process: index and frame cold.
    let (fg, fg_port) = common::framegate(&root, &keys, &[], "info");
    let (status, fg_first) = timed_get(fg_port, &format!("/v1/{xa_token}/xa/cine.dcm/-/frames/200.jpg"), "*/*");
    assert_eq!(status, 200);
    stop(fg);
    orthanc.stop();
    let orthanc = self::orthanc(dir.path());
    let (status, orthanc_first) = timed_get(orthanc.port, &format!("/instances/{cine_id}/frames/199/rendered"), "image/jpeg");
    assert_eq!(status, 200);
    orthanc.stop();
    let _ = Command::new("kill").args(["-QUIT", &nginx.id().to_string()]).status();
    let mut nginx = nginx;
    let _ = nginx.wait();

    println!("| | framegate | peer | ratio | goal |");
    println!("|---|---|---|---|---|");
    for (name, ours, theirs, goal, peer) in rows {
        let ratio = ours / theirs;
        let verdict = if ratio >= goal { "met".to_owned() } else { format!("missed by {:.0}%", (1.0 - ratio / goal) * 100.0) };
        println!("| {name} | {ours:.0} req/s | {peer} {theirs:.0} req/s | {ratio:.2}× | {verdict} |");
    }
    let ratio = orthanc_first / fg_first;
    let verdict = if ratio >= 80.0 { "met".to_owned() } else { format!("missed by {:.0}%", (1.0 - ratio / 80.0) * 100.0) };
    println!("| first frame of that file from a fresh process (goal ≥ 80×) | {fg_first:.1} ms | Orthanc {orthanc_first:.1} ms | {ratio:.0}× | {verdict} |");
}
