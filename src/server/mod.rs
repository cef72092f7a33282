//! The accept loop: connection limits, timeouts, and a graceful drain on shutdown.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::{State, http};

mod stall;

/// Connection-level settings.
#[derive(Debug, Clone, Copy)]
pub struct ServerSettings {
    /// Open connections beyond this are closed as soon as they are accepted.
    pub max_connections: usize,
    /// A client must send its request headers within this time.
    pub header_read_timeout: Duration,
    /// In-flight requests get this long to finish after shutdown is asked for.
    pub shutdown_grace: Duration,
    /// A connection whose client reads nothing of its answer for this long is cut.
    pub write_timeout: Duration,
    /// Requests answered on one connection before it is closed (`Connection: close`), which
    /// also caps how many a client may pipeline.
    pub max_requests_per_connection: u32,
    /// `/metrics` is answered on its own listener (`--metrics-listen`), not on this one.
    pub metrics_elsewhere: bool,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            max_connections: 4096,
            header_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            max_requests_per_connection: 1000,
            metrics_elsewhere: false,
        }
    }
}

/// Serves `listener` until `shutdown` completes, then stops accepting and lets in-flight
/// requests finish within the grace period.
pub async fn run(listener: TcpListener, state: Arc<State>, shutdown: impl Future<Output = ()>) -> io::Result<()> {
    serve(listener, state, shutdown, http::handle).await
}

/// Serves `/metrics` and `/healthz` alone on `listener` (`--metrics-listen`), so they can be
/// kept off the public address.
pub async fn run_metrics(listener: TcpListener, state: Arc<State>, shutdown: impl Future<Output = ()>) -> io::Result<()> {
    serve(listener, state, shutdown, http::handle_metrics).await
}

async fn serve<H, F>(listener: TcpListener, state: Arc<State>, shutdown: impl Future<Output = ()>, handler: H) -> io::Result<()>
where
    H: Fn(Arc<State>, std::net::SocketAddr, hyper::Request<hyper::body::Incoming>) -> F + Copy + Send + Sync + 'static,
    F: Future<Output = Result<hyper::Response<http::Body>, std::convert::Infallible>> + Send + 'static,
{
    let settings = state.server;
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let mut builder = http1::Builder::new();
    // header_read_timeout needs the timer, or hyper panics on the first slow client.
    builder.timer(TokioTimer::new()).header_read_timeout(settings.header_read_timeout).keep_alive(true);
    tokio::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors, most likely: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(limit = settings.max_connections, "connection limit reached, closing new connection");
            continue;
        };
        // Frames are small writes; Nagle would hold them back by up to 40 ms.
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let served = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let service = service_fn(move |req| {
            let (state, served) = (state.clone(), served.clone());
            async move {
                let mut response = handler(state.clone(), peer, req).await?;
                let count = served.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if count >= state.server.max_requests_per_connection {
                    response.headers_mut().insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
                }
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let io = TokioIo::new(stall::WriteDeadline::new(stream, settings.write_timeout));
        let connection = graceful.watch(builder.serve_connection(io, service));
        tokio::spawn(async move {
            let _ = connection.await;
            drop(slot);
        });
    }

    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(settings.shutdown_grace) => tracing::warn!("shutdown grace period over, closing remaining connections"),
    }
    Ok(())
}
