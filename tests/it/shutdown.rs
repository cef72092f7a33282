//! Graceful shutdown of the real binary on SIGTERM, and slow clients that must not starve
//! the others.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::support::*;

const BIG: u64 = 64 << 20;

fn big_jpeg(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("img")).unwrap();
    let file = std::fs::File::create(dir.join("img/big.jpg")).unwrap();
    // A real JPEG's header and scan, then a hole: a 64 MiB object costs nothing on disk. (Under
    // `deidentify` a JPEG's header is read up to its first scan, so it must have one.)
    let mut jpeg = Vec::new();
    jpeg_encoder::Encoder::new(&mut jpeg, 90).encode(&[9u8; 64], 8, 8, jpeg_encoder::ColorType::Luma).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &jpeg, 0).unwrap();
    file.set_len(BIG).unwrap();
}

fn get_raw(port: u16, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    stream
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &std::path::Path, grace: &str) -> (Child, u16) {
    std::fs::write(dir.join("keys"), KEYS).unwrap();
    std::fs::create_dir_all(dir.join("root")).unwrap();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_framegate"))
        .args(["serve", "--root", dir.join("root").to_str().unwrap(), "--keys-file", dir.join("keys").to_str().unwrap()])
        .args(["--listen", &format!("127.0.0.1:{port}"), "--shutdown-grace", grace])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Child(child);
    let stderr = child.0.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    // "serving" is logged once the listener is bound.
    while let Some(Ok(line)) = lines.next() {
        if line.contains("serving") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (child, port)
}

/// framegate serving a 64 MiB JPEG with `grace` seconds of shutdown grace, and a client that
/// has asked for it.
fn downloading(dir: &std::path::Path, grace: &str) -> (Child, u16, TcpStream) {
    let (child, port) = serve(dir, grace);
    big_jpeg(&dir.join("root"));
    let token = framegate::token::Keyring::parse(KEYS).unwrap().sign(&key("img"), now() + 600);
    let stream = get_raw(port, &format!("/v1/{token}/img/big.jpg"));
    (child, port, stream)
}

fn sigterm(child: &Child) {
    assert!(Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap().success());
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    until_blocking("framegate to exit", within, || child.0.try_wait().unwrap().ok_or("still running"))
}

#[test]
fn sigterm_finishes_in_flight_requests_refuses_new_ones_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port, mut stream) = downloading(dir.path(), "10");
    let mut buf = vec![0u8; 64 * 1024];
    let mut received = stream.read(&mut buf).unwrap();
    assert!(received > 0);

    sigterm(&child);
    until_blocking("new connections to be refused during the drain", PATIENCE, || match TcpStream::connect(("127.0.0.1", port)) {
        Ok(_) => Err("a new connection was accepted"),
        Err(_) => Ok(()),
    });
    // The download in flight still completes, every byte of it.
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received += n,
            Err(e) => panic!("in-flight response cut: {e}"),
        }
        if received as u64 > BIG {
            break;
        }
    }
    assert!(received as u64 > BIG, "headers plus {BIG} bytes, got {received}");
    drop(stream);
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_client_that_never_reads_is_cut_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, _, stuck) = downloading(dir.path(), "1");
    // Its answer has begun (a peek reads nothing out): the request is in flight when the
    // signal comes.
    stuck.set_read_timeout(Some(PATIENCE)).unwrap();
    assert!(stuck.peek(&mut [0u8; 1]).unwrap() > 0, "the answer began");
    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(5));
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_slow_readers_do_not_starve_other_clients() {
    let server = Server::start().await;
    big_jpeg(server.dir.path());
    server.put_ct("ct/a.dcm", 0, 1, 32).await;
    let token = server.token("img");
    let port = server.addr.port();
    // Each slow client sends its request, reads one byte and stalls.
    let slow: Vec<TcpStream> = tokio::task::spawn_blocking(move || {
        let path = format!("/v1/{token}/img/big.jpg");
        let slow: Vec<TcpStream> = (0..1000).map(|_| get_raw(port, &path)).collect();
        for mut s in slow.iter() {
            let mut one = [0u8; 1];
            s.read_exact(&mut one).unwrap();
        }
        slow
    })
    .await
    .unwrap();
    for _ in 0..5 {
        assert_eq!(get(&server.url("ct", "ct/a.dcm", "/-/frames/1.jpg")).await.status, 200);
    }
    assert_eq!(get(&format!("{}/healthz", server.base())).await.status, 200);
    drop(slow);
    server.stop().await;
}
