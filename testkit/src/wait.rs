//! Waiting for a condition with a deadline, rather than sleeping for a time a loaded machine may
//! not keep to; and a free port.

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

/// A loopback port nothing listens on yet. Another process may take it before it is used: only
/// for starting a process that must be told its port, where binding port 0 is not possible.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

/// The first pause between polls; they double up to [`LONGEST_PAUSE`], so a condition that
/// comes quickly is seen quickly and a slow one does not spin.
const FIRST_PAUSE: Duration = Duration::from_millis(5);
const LONGEST_PAUSE: Duration = Duration::from_millis(200);

/// Polls `probe` until it gives `Ok`, and returns that. After `within` it fails, naming `what`
/// and the last `Err` (the state last seen), so a timeout says what was still wrong.
pub async fn until<T, E: Debug, F: Future<Output = Result<T, E>>>(what: &str, within: Duration, probe: impl FnMut() -> F) -> T {
    match poll(within, probe).await {
        Ok(value) => value,
        Err(last) => panic!("timed out after {within:?} waiting for {what}: {last:?}"),
    }
}

/// [`until`] for a caller with more to say on a timeout (a screenshot, a page's text): the last
/// `Err` when `within` has passed.
pub async fn poll<T, E, F: Future<Output = Result<T, E>>>(within: Duration, mut probe: impl FnMut() -> F) -> Result<T, E> {
    let deadline = Instant::now() + within;
    let mut pause = FIRST_PAUSE;
    loop {
        match probe().await {
            Ok(value) => return Ok(value),
            Err(last) if Instant::now() >= deadline => return Err(last),
            Err(_) => {}
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

/// [`until`] for a thread that may block: a test driving a child process, or a bench.
pub fn until_blocking<T, E: Debug>(what: &str, within: Duration, mut probe: impl FnMut() -> Result<T, E>) -> T {
    let deadline = Instant::now() + within;
    let mut pause = FIRST_PAUSE;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(last) => assert!(Instant::now() < deadline, "timed out after {within:?} waiting for {what}: {last:?}"),
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}
