//! Serving the router: TLS or (on loopback, when asked) plain HTTP, a connection limit,
//! timeouts for headers and TLS handshakes, and a graceful shutdown that lets requests in
//! flight finish.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

/// How much a client can hold of the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; more are closed as they arrive.
    pub max_connections: usize,
    /// Time to finish the TLS handshake and each request's headers.
    pub header_timeout: Duration,
    /// Time requests in flight get to finish once shutdown begins.
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            header_timeout: Duration::from_secs(10),
            drain: Duration::from_secs(10),
        }
    }
}

/// Serves `router` on `listener` (TLS with `tls`, else plain HTTP) until `shutdown`
/// completes, then waits up to `limits.drain` for connections to finish.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    router: axum::Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: a moment, then accept again.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let builder = {
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            b
        };
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                Some(acceptor) => {
                    let Ok(Ok(tls)) =
                        tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(tls), service);
                    let _ = watcher.watch(conn).await;
                }
                None => {
                    let conn =
                        builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                    let _ = watcher.watch(conn).await;
                }
            }
            drop(slot);
        });
    }
    tracing::info!("shutting down: no new connections; letting requests in flight finish");
    let _ = tokio::time::timeout(limits.drain, graceful.shutdown()).await;
}
