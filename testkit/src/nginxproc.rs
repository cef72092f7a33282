//! The real nginx, run with the shipped config moved into a temp dir; shared by the nginx
//! tests and the nginx load bench.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The config files nginx is started with; everything else in its folder nginx wrote.
const CONFIGS: [&str; 3] = ["nginx.conf", "framegate-http.conf", "framegate.conf"];

/// nginx running the shipped config (ports and paths moved into a temp dir). Stopped as nginx
/// expects, by SIGQUIT to its master, on [`Nginx::stop`] or drop; a process of this instance
/// that outlives the stop fails the test.
pub struct Nginx {
    child: Child,
    stopped: bool,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Nginx {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    /// The cache folder of `proxy_cache_path`.
    pub fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// Every file nginx wrote, its logs and cache included, with its contents.
    pub fn written(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut pending = vec![self.dir.path().to_path_buf()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                } else if !(dir == self.dir.path() && CONFIGS.iter().any(|c| path.ends_with(c))) {
                    let bytes = std::fs::read(&path).unwrap_or_default();
                    out.push((path, bytes));
                }
            }
        }
        out
    }

    /// Quits nginx gracefully (SIGQUIT to the master, which lets its workers finish and waits
    /// for them), waits for the master, and fails if any process of this instance is left.
    /// SIGKILL to the master instead would orphan its workers and cache manager, ports and all.
    pub fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        let running = instance_processes(self.dir.path());
        let quit = Command::new("kill").args(["-QUIT", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        let master = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                other => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break Err(format!("the master did not quit on SIGQUIT ({quit:?}): {other:?}"));
                }
            }
        };
        let left = instance_processes(self.dir.path());
        for (pid, _) in &left {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
        if std::thread::panicking() {
            return;
        }
        assert!(running.len() >= 2, "a running nginx is seen as its master and workers: {running:?}");
        if let Err(e) = master {
            panic!("{e}");
        }
        assert!(left.is_empty(), "nginx processes outlived their master: {left:?}");
    }
}

/// The processes of the nginx instance in `dir`: its master names `dir` on its command line; its
/// workers rename themselves ("nginx: worker process") but hold files in `dir` open, their logs.
fn instance_processes(dir: &Path) -> Vec<(u32, String)> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if pid == me {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ").trim().to_owned();
        let holds_a_file =
            std::fs::read_dir(entry.path().join("fd")).map(|fds| fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target.starts_with(&dir)))).unwrap_or(false);
        if holds_a_file || cmdline.contains(&*dir.to_string_lossy()) {
            found.push((pid, cmdline));
        }
    }
    found
}

/// Replaces `from` with `to`, insisting that the shipped file still contains `from`.
pub fn swap(text: String, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the shipped nginx config no longer contains {from:?}");
    text.replace(from, to)
}

/// A shipped file of `nginx/`.
pub fn shipped(name: &str) -> String {
    // The testkit sits in framegate's repository, whose nginx/ holds the shipped files.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../nginx").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

pub use crate::free_port;

/// Starts nginx with the shipped config, its upstreams and static root moved to these, and the
/// server-level file (framegate.conf) then changed by `edit`, for a test that needs a setting of
/// its own there. The http-level `access_log off` becomes a log in nginx's default format, as an
/// existing server would have: framegate's locations must keep every request out of it.
pub fn start_nginx(upstreams: [SocketAddr; 2], files: &Path, edit: impl FnOnce(String) -> String) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let port = free_port();

    let mut main = shipped("nginx.conf");
    main = swap(main, "pid /run/nginx-framegate.pid;", &format!("pid {d}/nginx.pid;\nuser root;"));
    main = swap(main, "error_log /var/log/nginx/error.log warn;", &format!("error_log {d}/error.log warn;"));
    main = swap(main, "worker_processes auto;", "worker_processes 1;");
    main = swap(main, "listen 80;", &format!("listen 127.0.0.1:{port};"));
    main = swap(main, "access_log off;", &format!("access_log {d}/default-format.log combined;"));
    main = swap(
        main,
        "http {",
        &format!(
            "http {{\n    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n    fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;"
        ),
    );
    let mut http = shipped("framegate-http.conf");
    http = swap(http, "127.0.0.1:8081", &upstreams[0].to_string());
    http = swap(http, "127.0.0.1:8082", &upstreams[1].to_string());
    http = swap(http, "/var/lib/nginx/framegate", &format!("{d}/cache"));
    let mut server = shipped("framegate.conf");
    server = swap(server, "/var/log/nginx/framegate.log", &format!("{d}/access.log"));
    server = swap(server, "/srv/files/", &format!("{}/", files.display()));
    server = edit(server);
    for (name, text) in CONFIGS.iter().zip([main, http, server]) {
        std::fs::write(dir.path().join(name), text).unwrap();
    }

    let child = Command::new("nginx")
        .args(["-p", &d, "-c", &format!("{d}/nginx.conf"), "-e", &format!("{d}/error.log"), "-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    crate::until_blocking("nginx to start", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|_| std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default())
    });
    Nginx { child, stopped: false, port, dir }
}
