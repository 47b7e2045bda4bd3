//! A key service on loopback, releasing one holdout key to the approved jobs' enclaves whose
//! reports the verifier accepts, and recording every request body (for the leak scan).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assay_attestation::Verifier;
use assay_forge::job::JobSpec;
use assay_keys::DataKey;
use assay_keys::service::{Config, KeyService};
use assay_keys::wrap::ServiceKey;

/// A running key service.
pub struct RunningKeyService {
    /// Its runtime; the service stops when this is dropped.
    pub runtime: tokio::runtime::Runtime,
    /// Its URL.
    pub url: String,
    /// The bodies of the requests it received, in order.
    pub requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

/// Starts a key service with `service_key`, releasing `key` as resource `holdout` to the
/// `approved` jobs' enclaves whose reports `verifier` accepts, up to 3 times per job.
pub fn start(
    key: &DataKey,
    service_key: &ServiceKey,
    approved: &[JobSpec],
    verifier: Verifier,
) -> RunningKeyService {
    let ks = Arc::new(
        KeyService::new(Config {
            verifier,
            resources: HashMap::from([("holdout".to_owned(), key.clone())]),
            service_key: service_key.clone(),
            approved: approved.to_vec(),
            nonce_ttl: Duration::from_secs(60),
            max_releases: 3,
            release_log: None,
        })
        .unwrap(),
    );
    let requests: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let record = {
        let log = requests.clone();
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let log = log.clone();
            async move {
                let (parts, body) = req.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                log.lock().unwrap().push(bytes.to_vec());
                next.run(axum::extract::Request::from_parts(parts, bytes.into()))
                    .await
            }
        }
    };
    let router = assay_keys::http::router(ks).layer(axum::middleware::from_fn(record));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, router).await });
    RunningKeyService {
        runtime,
        url,
        requests,
    }
}
