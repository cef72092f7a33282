//! Issue 17.5: clients that hold connections without a token. A client that pipelines requests
//! and never reads its answers is cut after the write timeout, so a few of them cannot shut
//! everyone out; one connection answers a bounded number of requests; `/metrics` can live on
//! its own listener.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::support::*;
use framegate::{ServerSettings, Settings};

fn settings(max_connections: usize) -> Settings {
    let server = ServerSettings { max_connections, write_timeout: Duration::from_secs(2), max_requests_per_connection: 100, ..Default::default() };
    Settings { server, ..Default::default() }
}

#[tokio::test]
async fn clients_that_never_read_are_cut_and_others_get_in() {
    // No request cap: with one, a hog's connection closed after its 100th answer, so the test
    // passed whether or not the write timeout cut anything.
    let mut settings = settings(2);
    settings.server.max_requests_per_connection = u32::MAX;
    let server = Server::start_with(settings).await;
    let pipelined = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(20_000);
    let mut hogs = Vec::new();
    for _ in 0..2 {
        let mut hog = TcpStream::connect(server.addr).await.unwrap();
        // Written from a task: the server stops reading once its answers back up.
        let request = pipelined.clone();
        let (_read, mut write) = hog.split();
        let _ = tokio::time::timeout(Duration::from_millis(500), write.write_all(request.as_bytes())).await;
        hogs.push(hog);
    }
    // Both slots are held now, and a new connection is closed unanswered; once the write timeout
    // passes, the hogs are cut and a client gets in.
    let held = std::time::Instant::now();
    let refused = raw_get(server.addr, "/healthz").await;
    assert!(refused.is_err(), "the hogs hold no slot: {refused:?}");
    let health = until("a slot to come free", PATIENCE, || async {
        let answer = raw_get(server.addr, "/healthz").await?;
        if answer.starts_with("HTTP/1.1 200") { Ok(answer) } else { Err(answer) }
    })
    .await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(held.elapsed() >= Duration::from_secs(1), "a slot came free after {:?}, before the write timeout", held.elapsed());
    drop(hogs);
    server.stop().await;
}

#[tokio::test]
async fn one_connection_answers_a_bounded_number_of_requests() {
    let server = Server::start_with(settings(16)).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".repeat(150).as_bytes()).await.unwrap();
    let mut answers = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answers)).await.expect("the server closes the connection").unwrap();
    let text = String::from_utf8_lossy(&answers);
    assert_eq!(text.matches("HTTP/1.1 200").count(), 100);
    assert_eq!(text.to_ascii_lowercase().matches("connection: close").count(), 1);
    server.stop().await;
}

#[tokio::test]
async fn metrics_answer_only_on_their_own_listener_when_asked() {
    let mut settings = settings(16);
    settings.server.metrics_elsewhere = true;
    let server = Server::start_with(settings).await;
    assert_eq!(get(&format!("http://{}/metrics", server.addr)).await.status, 404);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(framegate::server::run_metrics(listener, server.state.clone(), async move {
        let _ = stopped.await;
    }));
    let metrics = get(&format!("http://{address}/metrics")).await;
    assert_eq!(metrics.status, 200);
    assert!(String::from_utf8_lossy(&metrics.body).contains("http_requests"));
    assert_eq!(get(&format!("http://{address}/v1/x/y")).await.status, 404);
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    server.stop().await;
}

/// A client that opens a connection and sends its headers slower than `header_read_timeout`
/// allows is cut then, while others are answered meanwhile.
#[tokio::test]
async fn a_client_slow_to_send_its_headers_is_cut_after_the_header_read_timeout() {
    let timeout = Duration::from_secs(1);
    let server = Server::start_with(Settings { server: ServerSettings { header_read_timeout: timeout, ..Default::default() }, ..Default::default() }).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = std::time::Instant::now();
    assert_eq!(get(&format!("http://{}/healthz", server.addr)).await.status, 200, "others are answered meanwhile");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PATIENCE, slow.read_to_end(&mut answer)).await.expect("the slow client is cut");
    let waited = started.elapsed();
    assert!(read.is_err() || !String::from_utf8_lossy(&answer).contains("200 OK"), "no answer to headers never finished: {}", String::from_utf8_lossy(&answer));
    assert!(waited >= timeout - Duration::from_millis(100), "cut after {waited:?}, before the {timeout:?} it had");
    server.stop().await;
}

/// `--max-connections`: a connection beyond the cap is closed unanswered as soon as it is
/// accepted, and one freed is taken by the next client.
#[tokio::test]
async fn connections_beyond_the_cap_are_closed_and_a_freed_slot_serves_the_next() {
    let server = Server::start_with(settings(2)).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        // A whole request answered and the connection kept open: it holds a slot for certain.
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut answer = [0u8; 1024];
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut answer)).await.expect("an answer").unwrap();
        assert!(answer[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer[..n]));
        held.push(stream);
    }
    for _ in 0..3 {
        let refused = raw_get(server.addr, "/healthz").await;
        assert!(refused.is_err(), "a third connection was answered: {refused:?}");
    }
    drop(held.pop());
    let answer = until("the freed slot to serve a new client", PATIENCE, || raw_get(server.addr, "/healthz")).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.stop().await;
}
