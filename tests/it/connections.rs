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
    let server = Server::start_with(settings(2)).await;
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
    // Both slots are held now, so this request waits for one; once the write timeout passes,
    // the hogs are cut and it gets in.
    let health = tokio::time::timeout(PATIENCE, get(&format!("http://{}/healthz", server.addr))).await;
    assert_eq!(health.expect("a slot came free").status, 200);
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
