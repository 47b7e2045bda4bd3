//! The key-release protocol over HTTP: an axum server for the key service and a blocking ureq
//! client for the enclave.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;

use crate::Error;
use crate::protocol::{Challenge, ErrorBody, KeyRequest, KeyResponse};
use crate::service::KeyService;

/// The router: `POST /v1/challenge`, `POST /v1/key`.
pub fn router(service: Arc<KeyService>) -> axum::Router {
    axum::Router::new()
        .route("/v1/challenge", post(challenge))
        .route("/v1/key", post(key))
        .with_state(service)
}

async fn challenge(State(s): State<Arc<KeyService>>) -> Json<Challenge> {
    Json(s.challenge())
}

async fn key(
    State(s): State<Arc<KeyService>>,
    Json(request): Json<KeyRequest>,
) -> Result<Json<KeyResponse>, (StatusCode, Json<ErrorBody>)> {
    // Report verification is CPU work of ~0.3 ms: run it inline. Every release is logged by
    // the service, loudly under a test root.
    s.release(&request).map(Json).map_err(|e| {
        (
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Json(ErrorBody {
                check: e.check().to_owned(),
                error: e.to_string(),
            }),
        )
    })
}

/// How much a client can hold of the key service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; more are closed as they arrive.
    pub max_connections: usize,
    /// Time a connection has to send a request's headers (each request's, on a kept-alive
    /// connection), else it is closed.
    pub header_timeout: Duration,
    /// Time a connection may stay open at all, body and keep-alive included.
    pub connection_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            connection_timeout: Duration::from_secs(60),
        }
    }
}

/// Serves `service` on `listener` with the default [`Limits`] until the process ends. A service
/// that trusts a test root is refused anywhere but on a loopback address: anyone who can sign
/// as its simulated AMD-SP could take the keys.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: Arc<KeyService>,
) -> std::io::Result<()> {
    serve_with(listener, service, Limits::default()).await
}

/// [`serve`] with `limits`: slow or idle clients (headers that never end, bodies that trickle,
/// connections held open) are cut off, and beyond `max_connections` new ones are closed at
/// once, so the service keeps answering others.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    service: Arc<KeyService>,
    limits: Limits,
) -> std::io::Result<()> {
    check_address(&service, listener.local_addr()?)?;
    let router = router(service);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors and the like: a moment, then accept again.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let _ = tokio::time::timeout(limits.connection_timeout, connection).await;
            drop(slot);
        });
    }
}

/// Whether `service` may serve on `addr`: one that trusts a test root, only on loopback.
pub fn check_address(service: &KeyService, addr: std::net::SocketAddr) -> std::io::Result<()> {
    if service.trusts_test_root() && !addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "a key service that trusts a test root serves on a loopback address only, not {addr}"
            ),
        ));
    }
    Ok(())
}

/// How a [`Client`]'s requests reach a key service: `POST path` with a JSON body, answered with
/// an HTTP status and a body. [`Http`] speaks HTTP itself; a guest without a network hands the
/// request to its host, which forwards it (the answer is sealed to the enclave's key, so the
/// host carries it and can do nothing else with it).
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// Where requests go, for messages (a URL).
    fn name(&self) -> String;
    /// Posts `body` to `path`: the answer's status and body, or why there is none.
    fn post(&self, path: &str, body: Vec<u8>) -> Result<(u16, Vec<u8>), String>;
}

/// The largest answer a key service gives that is read (a wrapped key and its framing are a
/// few hundred bytes).
pub const MAX_ANSWER: u64 = 64 << 10;

/// A key service over HTTP at `base` (e.g. `http://127.0.0.1:8470`), blocking.
#[derive(Clone, Debug)]
pub struct Http {
    base: String,
    agent: ureq::Agent,
}

impl Http {
    /// The service at `base`.
    pub fn new(base: &str) -> Http {
        // A fresh connection per request: the exchange is two POSTs, and a pooled connection the
        // server has meanwhile closed would fail a POST that ureq (rightly) does not retry.
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .build()
            .into();
        Http {
            base: base.trim_end_matches('/').to_owned(),
            agent,
        }
    }
}

impl Transport for Http {
    fn name(&self) -> String {
        self.base.clone()
    }

    fn post(&self, path: &str, body: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
        let mut response = self
            .agent
            .post(format!("{}{path}", self.base))
            .content_type("application/json")
            .send(&body[..])
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_vec()
            .map_err(|e| format!("HTTP {status}, unreadable answer: {e}"))?;
        Ok((status, body))
    }
}

/// A blocking client of a key service.
#[derive(Clone, Debug)]
pub struct Client {
    transport: std::sync::Arc<dyn Transport>,
}

impl Client {
    /// A client of the service at `base`, over HTTP.
    pub fn new(base: &str) -> Client {
        Client::with(std::sync::Arc::new(Http::new(base)))
    }

    /// A client whose requests go through `transport`.
    pub fn with(transport: std::sync::Arc<dyn Transport>) -> Client {
        Client { transport }
    }

    fn post<T: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<R, Error> {
        let url = format!("{}{path}", self.transport.name());
        let transport = |reason: String| Error::Transport {
            url: url.clone(),
            reason,
        };
        let body = serde_json::to_vec(body).map_err(|e| transport(e.to_string()))?;
        let (status, answer) = self.transport.post(path, body).map_err(transport)?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&answer)
                .map_err(|e| transport(format!("unreadable answer: {e}")));
        }
        let refused: ErrorBody = serde_json::from_slice(&answer)
            .map_err(|e| transport(format!("HTTP {status}, unreadable error: {e}")))?;
        Err(Error::Refused {
            check: refused.check,
            reason: refused.error,
        })
    }

    /// Asks for a nonce.
    pub fn challenge(&self) -> Result<Challenge, Error> {
        self.post("/v1/challenge", &serde_json::json!({}))
    }

    /// Sends the attested request.
    pub fn request_key(&self, request: &KeyRequest) -> Result<KeyResponse, Error> {
        self.post("/v1/key", request)
    }
}
