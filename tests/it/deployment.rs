//! The reference deployment of docs/guide.md, on loopback: the shipped NGINX config (ports and
//! paths moved) in front of two `framegate serve` processes, the real binary started as
//! docs/deploy/framegate@.service starts it with the environment of docs/deploy/framegate.env,
//! over an S3 server. A CD export goes in through docs/deploy/upload.sh, opens in the viewer on
//! a phone and in OHIF; docs/deploy/rotate-keys.sh puts a new key first, and
//! docs/deploy/rolling-restart.sh restarts both processes while the viewer scrolls and another
//! client asks for new frames: no frame fails. The guide quotes these files, and
//! `the_guide_quotes_what_the_deployment_runs` holds every quotation to them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use framegate::ingest::Manifest;
use framegate::sample::{self, PLANTED};
use serde_json::Value;
use sha2::Digest;

use super::browser::{browser, screenshot_path, until as viewer_until};
use super::dicomweb_browser::{OHIF_CONFIG, encode, ohif_dist, ohif_open, ohif_until, static_server, static_server_with};
use super::ingest::{contains, every_file};
use super::nginxproc::{free_port, start_nginx};
use super::s3server::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY};
use super::support::*;

const SLICES: usize = 60;
/// Slices of the identified archive the batch ingest moves in.
const ARCHIVE: usize = 12;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn deploy(name: &str) -> PathBuf {
    repo().join("docs/deploy").join(name)
}

/// The variables of an environment file, as systemd's `EnvironmentFile=` reads one.
fn environment(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// Sets `name` to `to`, insisting that the shipped file gives it `from`.
fn set(env: &mut [(String, String)], name: &str, from: &str, to: &str) {
    let var = env.iter_mut().find(|(k, _)| k == name).unwrap_or_else(|| panic!("framegate.env no longer sets {name}"));
    assert_eq!(var.1, from, "framegate.env's {name}");
    var.1 = to.to_owned();
}

/// The arguments of the unit's `ExecStart=` for instance `port`, the program left out and its
/// `LogsDirectory=` (/var/log/framegate) moved to `logs`.
fn exec_start(port: u16, logs: &Path) -> Vec<String> {
    let unit = std::fs::read_to_string(deploy("framegate@.service")).unwrap();
    let line = unit.lines().find_map(|l| l.strip_prefix("ExecStart=")).expect("the unit has an ExecStart");
    assert!(unit.lines().any(|l| l == "LogsDirectory=framegate"));
    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/framegate"));
    words.map(|w| w.replace("%i", &port.to_string()).replace("/var/log/framegate/", &format!("{}/", logs.display()))).collect()
}

/// The shell command that runs the deployment script `name` with the arguments given.
fn script(name: &str) -> String {
    format!("sh {} \"$@\"", deploy(name).display())
}

/// A shell command with the built `framegate` first on PATH, as installed; panics on failure.
fn shell(dir: &Path, script: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_framegate")).parent().unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .args(args)
        .current_dir(dir)
        .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()))
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(out.status.success(), "{script} {args:?}: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// What systemd does for the test: starts `framegate serve` for each port as the unit does,
/// records its pid in `{dir}/pids/{port}`, and starts it again whenever it exits
/// (`Restart=always`), until stopped.
struct Supervisor {
    stop: Arc<AtomicBool>,
    restarts: Arc<AtomicU64>,
    /// Exit statuses of the processes that ended, by SIGTERM or otherwise.
    exits: Arc<Mutex<Vec<std::process::ExitStatus>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Supervisor {
    fn start(dir: &Path, ports: [u16; 2], env: Vec<(String, String)>, extra: Vec<String>) -> Supervisor {
        std::fs::create_dir_all(dir.join("pids")).unwrap();
        std::fs::create_dir_all(dir.join("log")).unwrap();
        let spawn = {
            let dir = dir.to_owned();
            move |port: u16| -> Child {
                let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(format!("framegate-{port}.log"))).unwrap();
                let child = Command::new(env!("CARGO_BIN_EXE_framegate"))
                    .args(exec_start(port, &dir.join("log")))
                    .args(&extra)
                    .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .unwrap();
                std::fs::write(dir.join("pids").join(port.to_string()), child.id().to_string()).unwrap();
                child
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let restarts = Arc::new(AtomicU64::new(0));
        let exits = Arc::new(Mutex::new(Vec::new()));
        let mut children: Vec<(u16, Child)> = ports.iter().map(|p| (*p, spawn(*p))).collect();
        let thread = {
            let (stop, restarts, exits) = (stop.clone(), restarts.clone(), exits.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    for (port, child) in &mut children {
                        if let Ok(Some(status)) = child.try_wait() {
                            exits.lock().unwrap().push(status);
                            *child = spawn(*port);
                            restarts.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                for (_, child) in &mut children {
                    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
                }
                for (_, child) in &mut children {
                    let status = child.wait().unwrap();
                    exits.lock().unwrap().push(status);
                }
            })
        };
        Supervisor { stop, restarts, exits, thread: Some(thread) }
    }

    /// Stops both processes by SIGTERM and returns every exit status seen.
    fn stop(mut self) -> Vec<std::process::ExitStatus> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap();
        self.exits.lock().unwrap().clone()
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn healthy(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() && get(&format!("http://127.0.0.1:{port}/healthz")).await.status == 200 {
            return;
        }
        assert!(Instant::now() < deadline, "framegate on {port} did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn page_text(client: &fantoccini::Client) -> String {
    client.execute("return document.body.innerText", vec![]).await.unwrap().as_str().unwrap_or_default().to_owned()
}

/// The study's pseudonymous Study Instance UID, as DICOMweb names it under `token`.
async fn study_uid(base: &str, token: &str, study: &str) -> String {
    let studies = get(&format!("{base}/v1/{token}/{study}/-/dicomweb/studies")).await.json();
    studies[0]["0020000D"]["Value"][0].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_reference_deployment_uploads_views_rotates_and_restarts_without_a_failed_frame() {
    if !have_tool("nginx") || !have_tool("curl") {
        return;
    }
    let Some((_phone_driver, phone)) = browser(390, 844, true).await else { return };
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("s3")).unwrap();
    std::fs::create_dir_all(d.join("files")).unwrap();
    let s3 = S3Server::start(&d.join("s3")).await;
    // OHIF's built viewer, on an origin of its own, which framegate lets read.
    let ohif = match ohif_dist() {
        Some(dist) => Some(static_server_with(dist, vec![("app-config.js", OHIF_CONFIG.to_owned())]).await),
        None => None,
    };
    let ohif_origin = ohif.as_ref().map(|(addr, _)| format!("http://{addr}"));
    // The portal's own pages, docs/deploy/embed.html among them, on another origin.
    let (portal_addr, _portal_task) = static_server(repo().join("docs/deploy")).await;
    let portal = format!("http://{portal_addr}");
    let readers = ohif_origin.iter().fold(portal.clone(), |all, o| format!("{all},{o}"));

    // Keys as the guide makes them: a signing key, and a pseudonym secret that never rotates.
    let keys = d.join("keys.txt");
    std::fs::write(&keys, shell(d, "framegate keygen", &[], &[])).unwrap();
    let pseudonym = shell(d, "framegate keygen", &[], &[]).trim().split_once(':').unwrap().1.to_owned();
    let mut env = environment(&std::fs::read_to_string(deploy("framegate.env")).unwrap());
    set(&mut env, "FRAMEGATE_S3_BUCKET", "studies", BUCKET);
    set(&mut env, "FRAMEGATE_KEYS_FILE", "/etc/framegate/keys.txt", keys.to_str().unwrap());
    set(&mut env, "FRAMEGATE_PSEUDONYM_KEY", "REPLACE-WITH-A-SECRET", &pseudonym);
    set(&mut env, "FRAMEGATE_CORS_ORIGINS", "https://portal.example.org", &readers);
    set(&mut env, "FRAMEGATE_FRAME_ANCESTORS", "https://portal.example.org", &portal);
    // What an EC2 instance gets from its role and region; nothing leaves the machine.
    env.extend([("AWS_ACCESS_KEY_ID", ACCESS_KEY), ("AWS_SECRET_ACCESS_KEY", SECRET_KEY), ("AWS_EC2_METADATA_DISABLED", "true")].map(|(k, v)| (k.to_owned(), v.to_owned())));
    let s3_flags = vec!["--s3-endpoint".to_owned(), s3.endpoint(), "--s3-path-style".to_owned(), "--s3-region".to_owned(), "us-east-1".to_owned()];
    let ports = [free_port(), free_port()];
    let supervisor = Supervisor::start(d, ports, env, s3_flags);
    for port in ports {
        healthy(port).await;
    }
    let upstreams = ports.map(|p| std::net::SocketAddr::from(([127, 0, 0, 1], p)));
    let nginx = start_nginx(upstreams, &d.join("files"), |server| server);
    let base = nginx.url("");
    let keys_env = [("FRAMEGATE_KEYS_FILE", keys.to_str().unwrap())];

    // 1. A CD export through the upload route, with the guide's script: the slices in, the
    //    DICOMDIR and readme left out.
    std::fs::write(d.join("export.zip"), super::ingest_browser::ct_export(SLICES, 128)).unwrap();
    let answer = shell(d, &script("upload.sh"), &[&base, "uploads", "export.zip"], &keys_env);
    let manifest: Manifest = serde_json::from_str(&answer).unwrap();
    assert_eq!((manifest.totals.written, manifest.totals.skipped, manifest.totals.failed), (SLICES as u64, 2, 0), "{manifest:#?}");
    let study = manifest.studies[0].key.clone();
    eprintln!("deployment: uploaded at {:.1} s", started.elapsed().as_secs_f64());

    // An identified archive moved in by a batch job of two shards, with the guide's script and
    // serve's pseudonym secret: the two take disjoint shares, and the study is served at once.
    for i in 0..ARCHIVE {
        sample::write(sample::ct_slice(i, ARCHIVE, 64), &d.join(format!("identified/{i:03}.dcm"))).unwrap();
    }
    let destination = format!("s3://{BUCKET}/site-a/archive");
    let endpoint = s3.endpoint();
    let mut written = 0;
    for index in ["0", "1"] {
        let batch = [
            ("AWS_BATCH_JOB_ARRAY_INDEX", index),
            ("SHARDS", "2"),
            ("FRAMEGATE_PSEUDONYM_KEY", pseudonym.as_str()),
            ("FRAMEGATE_S3_ENDPOINT", endpoint.as_str()),
            ("FRAMEGATE_S3_PATH_STYLE", "true"),
            ("FRAMEGATE_S3_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ];
        shell(d, &script("ingest-shard.sh"), &["identified", &destination], &batch);
        let manifest: Manifest = serde_json::from_slice(&std::fs::read(d.join(format!("manifest-{index}-of-2.json"))).unwrap()).unwrap();
        assert_eq!(manifest.totals.failed, 0, "{manifest:#?}");
        written += manifest.totals.written;
    }
    assert_eq!(written, ARCHIVE as u64, "the shards took every file once");
    let archived = format!("archive/{}", study.split('/').nth(1).unwrap());
    let archive_token = shell(d, "framegate sign --keys-file \"$FRAMEGATE_KEYS_FILE\" --ttl 3600 \"$1\"", &[&archived], &keys_env).trim().to_owned();
    let stack = get(&format!("{base}/v1/{archive_token}/{archived}/-/stack.json")).await;
    assert_eq!((stack.status, stack.json()["frames"].as_u64()), (200, Some(ARCHIVE as u64)), "the archived study is served under its pseudonymous UID");
    // Neither the upload nor the ingest stored anything that names the patient.
    for (path, bytes) in every_file(&d.join("s3")) {
        for planted in PLANTED {
            assert!(!contains(&bytes, planted), "{planted} is stored in {}", path.display());
        }
    }

    // 2. The viewer link on a phone, through NGINX.
    let token = shell(d, "framegate sign --keys-file \"$FRAMEGATE_KEYS_FILE\" --ttl 3600 \"$1\"", &[&study], &keys_env).trim().to_owned();
    phone.goto(&format!("{base}/v1/{token}/{study}/-/view")).await.unwrap();
    phone.execute("performance.setResourceTimingBufferSize(100000)", vec![]).await.unwrap();
    viewer_until(&phone, "the first slice on the phone", |s| s["shown"].is_string() && s["counter"] == format!("1 / {SLICES}")).await;
    let text = page_text(&phone).await;
    for planted in PLANTED {
        assert!(!text.contains(planted), "the viewer shows {planted}");
    }
    std::fs::write(screenshot_path("deployment-phone.png"), phone.screenshot().await.unwrap()).unwrap();
    // The image area the viewer fits frames into on this phone: what examples/sizes.rs assumes.
    let stage = phone.execute("const r = document.getElementById('stage').getBoundingClientRect(); return [r.width, r.height, devicePixelRatio]", vec![]).await.unwrap();
    eprintln!("deployment: the phone's image area is {stage}");
    let (width, height) = (stage[0].as_f64().unwrap(), stage[1].as_f64().unwrap());
    assert!(width == 390.0 && (720.0..760.0).contains(&height), "examples/sizes.rs assumes 390×739: {stage}");
    let uid_before = study_uid(&base, &token, &study).await;

    // 3. The study in OHIF, on its own origin, over DICOMweb through NGINX; and the viewer
    //    framed by the portal's page (docs/deploy/embed.html), which hears it and moves it.
    let (_desk_driver, desk) = browser(1280, 900, false).await.unwrap();
    match &ohif {
        None => eprintln!("skipping OHIF: it is not unpacked"),
        Some((addr, _)) => {
            ohif_open(&desk, *addr, &format!("{base}/v1/{token}/{study}/-/dicomweb")).await;
            ohif_until(&desk, "the uploaded CT drawn in OHIF", |s| s["max"].as_u64().unwrap_or(0) > 200).await;
            let text = page_text(&desk).await;
            for planted in PLANTED {
                assert!(!text.contains(planted), "OHIF shows {planted}");
            }
            std::fs::write(screenshot_path("deployment-ohif.png"), desk.screenshot().await.unwrap()).unwrap();
        }
    }
    let viewer = format!("{base}/v1/{token}/{study}/-/view?slice=5&controls=none");
    desk.goto(&format!("{portal}/embed.html?viewer={}", encode(&viewer))).await.unwrap();
    let events = |want: &'static str| {
        let desk = desk.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let events = desk.execute("return window.framegateEvents || []", vec![]).await.unwrap();
                if let Some(found) = events.as_array().unwrap().iter().rev().find(|e| e["type"] == want) {
                    return found.clone();
                }
                assert!(Instant::now() < deadline, "the portal heard no {want} event: {events}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let loaded = events("loaded").await;
    assert_eq!((loaded["slice"].as_u64(), loaded["frames"].as_u64()), (Some(5), Some(SLICES as u64)), "{loaded}");
    desk.execute("go(30)", vec![]).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while page_text(&desk).await.trim() != format!("image 30 of {SLICES}") {
        assert!(Instant::now() < deadline, "the embedded viewer did not go to image 30: {}", page_text(&desk).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::fs::write(screenshot_path("deployment-embedded.png"), desk.screenshot().await.unwrap()).unwrap();
    desk.close().await.unwrap();
    eprintln!("deployment: viewed at {:.1} s", started.elapsed().as_secs_f64());

    // 4. A new signing key first in the keys file, with the guide's script. The processes read
    //    the file at start-up: until they restart, a token of the new key is refused and the
    //    old one works.
    let old_kid = token.split('.').next().unwrap().to_owned();
    let new_kid = shell(d, &script("rotate-keys.sh"), &[keys.to_str().unwrap()], &[]).trim().to_owned();
    let lines: Vec<String> = std::fs::read_to_string(&keys).unwrap().lines().map(|l| l.split(':').next().unwrap().to_owned()).collect();
    assert_eq!(lines, [new_kid.clone(), old_kid.clone()]);
    let new_token = shell(d, "framegate sign --keys-file \"$FRAMEGATE_KEYS_FILE\" --ttl 3600 \"$1\"", &[&study], &keys_env).trim().to_owned();
    assert!(new_token.starts_with(&format!("{new_kid}.")));
    for port in ports {
        let direct = format!("http://127.0.0.1:{port}/v1/{{}}/{study}/-/stack.json");
        assert_eq!(get(&direct.replace("{}", &new_token)).await.status, 403, "a process that has not restarted knows no new key");
        assert_eq!(get(&direct.replace("{}", &token)).await.status, 200);
    }

    // 5. Both processes restarted one at a time while the phone scrolls (a new window preset
    //    every pass, so new frames keep being fetched) and another viewer asks, back to back,
    //    for frames nobody asked for before: not one fails.
    let scrolling = Arc::new(AtomicBool::new(true));
    let scroller = {
        let (phone, scrolling) = (phone.clone(), scrolling.clone());
        tokio::spawn(async move {
            let mut steps = 0u64;
            while scrolling.load(Ordering::SeqCst) {
                let key = if steps % SLICES as u64 == SLICES as u64 - 1 { ["1", "2", "3", "4"][(steps / SLICES as u64 % 4) as usize] } else { "ArrowDown" };
                let script = "document.dispatchEvent(new KeyboardEvent('keydown', { key: arguments[0], bubbles: true }));
                              if (arguments[0] !== 'ArrowDown') document.dispatchEvent(new KeyboardEvent('keydown', { key: 'Home', bubbles: true }));";
                phone.execute(script, vec![key.into()]).await.unwrap();
                steps += 1;
                tokio::time::sleep(Duration::from_millis(120)).await;
            }
            steps
        })
    };
    let other_viewer = {
        let (scrolling, base, token, study) = (scrolling.clone(), base.clone(), token.clone(), study.clone());
        let stack = get(&format!("{base}/v1/{token}/{study}/-/stack.json")).await.json();
        let frames: Vec<String> = stack["entries"].as_array().unwrap().iter().map(|e| e["url"].as_str().unwrap().trim_start_matches("../").to_owned()).collect();
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            let mut n = 0;
            while scrolling.load(Ordering::SeqCst) {
                let url = format!("{base}/v1/{token}/{study}/{}?quality={}", frames[n % frames.len()], 20 + n / frames.len() % 80);
                statuses.push(get(&url).await.status);
                n += 1;
            }
            statuses
        })
    };
    let restart_one = d.join("restart-one.sh");
    std::fs::write(&restart_one, format!("pid=$(cat {}/pids/$1)\nkill -TERM \"$pid\"\nwhile [ -e /proc/$pid ]; do sleep 0.05; done\n", d.display())).unwrap();
    let restart = format!("sh {} %s", restart_one.display());
    let rolling = {
        let (d, restart, ports) = (d.to_owned(), restart.clone(), ports.map(|p| p.to_string()));
        tokio::task::spawn_blocking(move || shell(&d, &script("rolling-restart.sh"), &[&ports[0], &ports[1]], &[("RESTART", &restart)]))
    };
    let restart_began = Instant::now();
    rolling.await.unwrap();
    let restart_took = restart_began.elapsed();
    scrolling.store(false, Ordering::SeqCst);
    let steps = scroller.await.unwrap();
    let statuses = other_viewer.await.unwrap();
    assert_eq!(supervisor.restarts.load(Ordering::SeqCst), 2, "each process restarted once");
    let failed: Vec<&u16> = statuses.iter().filter(|s| **s != 200).collect();
    assert!(failed.is_empty(), "{} of {} frames failed for the other viewer: {failed:?}", failed.len(), statuses.len());
    let state = viewer_until(&phone, "the viewer after the restarts", |s| !s.is_null()).await;
    assert!(state["error"].is_null(), "the viewer stopped: {state}");
    let phone_frames = phone.execute("return performance.getEntriesByType('resource').filter(e => e.name.includes('/-/frames/')).map(e => e.responseStatus)", vec![]).await.unwrap();
    let phone_frames: Vec<u64> = phone_frames.as_array().unwrap().iter().map(|v| v.as_u64().unwrap_or(0)).collect();
    let phone_failed: Vec<&u64> = phone_frames.iter().filter(|s| ![0, 200, 304].contains(*s)).collect();
    assert!(phone_failed.is_empty(), "frames failed on the phone: {phone_failed:?} of {}", phone_frames.len());
    // NGINX's own record: every frame it answered was a 200 or 304 (499: a prefetch the viewer
    // cancelled), and the upstream attempts show where it went round a process being restarted.
    let log = nginx.access_log();
    let frame_lines: Vec<&str> = log.lines().filter(|l| l.contains("/-/frames/")).collect();
    let status_of = |line: &str| line.split('"').nth(2).and_then(|rest| rest.split_whitespace().next()).unwrap_or("").to_owned();
    let bad: Vec<&&str> = frame_lines.iter().filter(|l| !["200", "304", "499"].contains(&status_of(l).as_str())).collect();
    assert!(bad.is_empty(), "NGINX answered frames with errors: {bad:#?}");
    let failovers = frame_lines.iter().filter(|l| l.split('"').nth(3).is_some_and(|up| up.contains(','))).count();
    eprintln!(
        "deployment: rolling restart took {:.1} s; the phone stepped {steps} times ({} frame requests), the other viewer fetched {} frames; NGINX went round a process being restarted {failovers} times",
        restart_took.as_secs_f64(),
        phone_frames.len(),
        statuses.len()
    );

    // After the restart both processes take the new key and still the old, and the study keeps
    // its pseudonymous UID: the pseudonym secret did not change with the signing key.
    for port in ports {
        let direct = format!("http://127.0.0.1:{port}/v1/{{}}/{study}/-/stack.json");
        assert_eq!(get(&direct.replace("{}", &new_token)).await.status, 200);
        assert_eq!(get(&direct.replace("{}", &token)).await.status, 200);
    }
    assert_eq!(study_uid(&base, &new_token, &study).await, uid_before);

    // The logs: the operational one names route, status and key id; the access log names each
    // request's token by its hash, with what left, and neither holds a token or a patient value.
    // The browser lets go of its connections first: NGINX's graceful quit waits for them.
    phone.close().await.unwrap();
    let exits = {
        drop(nginx);
        supervisor.stop()
    };
    assert!(exits.iter().all(|s| s.success()), "every process drained and exited 0 on SIGTERM: {exits:?}");
    let logs: String = ports.iter().map(|p| std::fs::read_to_string(d.join(format!("framegate-{p}.log"))).unwrap()).collect();
    let lines: Vec<Value> = logs.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(lines.iter().any(|l| l["fields"]["route"] == "upload" && l["fields"]["status"] == 200), "the upload is in the log");
    assert!(lines.iter().any(|l| l["fields"]["kid"] == new_kid.as_str()), "requests name the new key id");
    let access: String = ports.iter().map(|p| std::fs::read_to_string(d.join(format!("log/access-{p}.log"))).unwrap()).collect();
    let access: Vec<Value> = access.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let hash = |t: &str| hex::encode(&sha2::Sha256::digest(t.as_bytes())[..16]);
    let viewed = access.iter().filter(|l| l["token"] == hash(&token) && l["route"] == "frame" && l["status"] == 200 && l["complete"] == true).count();
    assert!(viewed > SLICES, "the phone's frames are in the access log under its token's hash: {viewed}");
    assert!(access.iter().any(|l| l["purpose"] == "upload" && l["status"] == 200), "the upload is in the access log");
    assert!(access.iter().any(|l| l["token"] == hash(&new_token) && l["kid"] == new_kid.as_str()));
    let access_text = access.iter().map(Value::to_string).collect::<String>();
    for t in [&token, &new_token] {
        let signature = t.rsplit('.').next().unwrap();
        assert!(!logs.contains(signature) && !access_text.contains(signature), "a token's signature reached a log");
    }
    for text in [&logs, &access_text] {
        assert!(!text.contains(&study) && !PLANTED.iter().any(|p| text.contains(p)), "a log names the study or the patient");
    }
    eprintln!("deployment: done in {:.1} s", started.elapsed().as_secs_f64());
}

/// Every block of the guide marked `<!-- from: PATH -->` appears verbatim in PATH, and every
/// file the reference deployment runs is quoted, so the guide cannot drift from what runs.
#[test]
fn the_guide_quotes_what_the_deployment_runs() {
    let guide = std::fs::read_to_string(repo().join("docs/guide.md")).unwrap();
    let mut quoted = std::collections::BTreeSet::new();
    let mut rest = guide.as_str();
    while let Some(at) = rest.find("<!-- from: ") {
        rest = &rest[at + "<!-- from: ".len()..];
        let (path, after) = rest.split_once(" -->").unwrap();
        let after = after.trim_start_matches('\n');
        let block = if let Some(fenced) = after.strip_prefix("```") {
            let body = &fenced[fenced.find('\n').unwrap() + 1..];
            &body[..body.find("\n```").unwrap() + 1]
        } else {
            // A table: the lines up to the first blank one.
            &after[..after.find("\n\n").map_or(after.len(), |n| n + 1)]
        };
        let source = std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("the guide quotes {path}: {e}"));
        for chunk in block.split("\n# …\n") {
            assert!(source.contains(chunk), "the guide's quotation of {path} is not in it:\n{chunk}");
        }
        quoted.insert(path.to_owned());
    }
    for file in [
        "docs/deploy/framegate.env",
        "docs/deploy/framegate@.service",
        "docs/deploy/upload.sh",
        "docs/deploy/rotate-keys.sh",
        "docs/deploy/rolling-restart.sh",
        "docs/deploy/ingest-shard.sh",
        "docs/deploy/embed.html",
        "docs/sizes.md",
        "nginx/framegate-http.conf",
        "nginx/framegate.conf",
        "nginx/nginx.conf",
    ] {
        assert!(quoted.contains(file), "the guide does not quote {file}");
    }
}
