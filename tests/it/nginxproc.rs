//! The real nginx, run with the shipped config moved into a temp dir; shared by the nginx
//! tests and the nginx load bench.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// nginx running the shipped config (ports and paths moved into a temp dir), stopped by its pid
/// on drop.
pub struct Nginx {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nginx {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }
}

/// Replaces `from` with `to`, insisting that the shipped file still contains `from`.
fn swap(text: String, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the shipped nginx config no longer contains {from:?}");
    text.replace(from, to)
}

/// Starts nginx with the shipped config, its upstreams and static root moved to these.
pub fn start_nginx(upstreams: [SocketAddr; 2], files: &Path) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("nginx");
    let read = |name: &str| std::fs::read_to_string(shipped.join(name)).unwrap();

    let mut main = read("nginx.conf");
    main = swap(main, "pid /run/nginx-framegate.pid;", &format!("pid {d}/nginx.pid;\nuser root;"));
    main = swap(main, "error_log /var/log/nginx/error.log warn;", &format!("error_log {d}/error.log warn;"));
    main = swap(main, "worker_processes auto;", "worker_processes 1;");
    main = swap(main, "listen 80;", &format!("listen 127.0.0.1:{port};"));
    main = swap(
        main,
        "http {",
        &format!("http {{\n    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n    fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;"),
    );
    let mut http = read("framegate-http.conf");
    http = swap(http, "127.0.0.1:8081", &upstreams[0].to_string());
    http = swap(http, "127.0.0.1:8082", &upstreams[1].to_string());
    http = swap(http, "/var/cache/nginx/framegate", &format!("{d}/cache"));
    let mut server = read("framegate.conf");
    server = server.replace("/var/log/nginx/framegate.log", &format!("{d}/access.log"));
    server = swap(server, "/srv/files/", &format!("{}/", files.display()));
    std::fs::write(dir.path().join("nginx.conf"), main).unwrap();
    std::fs::write(dir.path().join("framegate-http.conf"), http).unwrap();
    std::fs::write(dir.path().join("framegate.conf"), server).unwrap();

    let child = Command::new("nginx")
        .args(["-p", &d, "-c", &format!("{d}/nginx.conf"), "-e", &format!("{d}/error.log"), "-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
        assert!(Instant::now() < deadline, "nginx did not start: {log}");
        std::thread::sleep(Duration::from_millis(20));
    }
    Nginx { child, port, dir }
}
