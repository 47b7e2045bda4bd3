//! The host daemon of a compute provider (`assay-host`): it takes a Forge's evaluation jobs,
//! launches each one's enclave, follows it to the end, keeps its bundle (checked as an auditor
//! would), survives restarts (a job left running resumes from its sealed journal), and serves
//! attestations to relayers. The host is untrusted by design: it can delay, drop or replay,
//! but nothing it does changes a score, a share or a binding without verification failing.
//!
//! - [`store`]: the SQLite job store;
//! - [`launcher`]: the launcher trait and its `process` backend;
//! - [`image`]: the enclave image a launcher's guests run, and its measurement;
//! - [`runner`]: queueing, launching, following, resuming, checking bundles;
//! - [`api`]: the HTTP API (`/v1`), its OpenAPI description, problems, metrics;
//! - [`example`]: the demo's Forge job, written out for anyone to submit.

#![forbid(unsafe_code)]

pub mod api;
mod error;
pub mod example;
pub mod launcher;
pub mod metrics;
pub mod runner;
mod server;
pub mod store;
mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

pub use error::Error;
pub use server::Limits;

use crate::launcher::Launcher;
use crate::metrics::Metrics;
use crate::runner::{Runner, Settings};
use crate::store::Store;

/// How the API is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// TLS with the operator's certificate chain and key (PEM).
    Tls {
        /// The certificate chain.
        cert: PathBuf,
        /// The private key.
        key: PathBuf,
    },
    /// TLS with a self-signed certificate kept in the data folder (made on first start).
    SelfSigned,
    /// Plain HTTP, on a loopback address only.
    InsecureHttp,
}

/// What `assay-host serve` runs.
pub struct Daemon {
    /// The data folder: the job store, the jobs' folders, the operator token, TLS files.
    pub data_dir: PathBuf,
    /// Where submitted jobs' inputs are (default `DATA/inputs`).
    pub inputs: Option<PathBuf>,
    /// The address to listen on.
    pub listen: String,
    /// How to serve.
    pub transport: Transport,
    /// Enclaves at once.
    pub concurrency: usize,
    /// The key service for jobs that name none.
    pub key_service: Option<String>,
    /// How enclaves are launched.
    pub launcher: Arc<dyn Launcher>,
    /// Connection limits.
    pub limits: Limits,
}

/// Where a started daemon is.
#[derive(Clone, Debug)]
pub struct Started {
    /// Its URL.
    pub url: String,
    /// The operator's token file.
    pub token_file: PathBuf,
    /// The certificate clients should trust (self-signed or the operator's), with TLS.
    pub certificate: Option<PathBuf>,
    /// Whether that certificate was made just now.
    pub certificate_new: bool,
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The operator's token: read from `DATA/operator-token`, or made there (0600) on first start.
fn operator_token(data_dir: &Path) -> Result<(String, PathBuf), Error> {
    let path = data_dir.join("operator-token");
    match std::fs::read_to_string(&path) {
        Ok(t) if t.trim().len() >= 32 => Ok((t.trim().to_owned(), path)),
        Ok(_) => Err(Error::Config(format!(
            "{}: an operator token is at least 32 characters; remove the file to have one made",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            aws_lc_rs::rand::fill(&mut bytes).expect("the system RNG works");
            let token = hex::encode(bytes);
            assay_keys::write_atomic(&path, format!("{token}\n").as_bytes(), true)
                .map_err(|e| io(&path, std::io::Error::other(e.to_string())))?;
            Ok((token, path))
        }
        Err(e) => Err(io(&path, e)),
    }
}

/// The job store, the operator token and the runner of a data folder, made if absent.
fn open(
    data_dir: &Path,
    inputs: Option<PathBuf>,
    concurrency: usize,
    key_service: Option<String>,
    launcher: Arc<dyn Launcher>,
    metrics: Arc<Metrics>,
) -> Result<(Arc<Runner>, String, PathBuf), Error> {
    std::fs::create_dir_all(data_dir.join("jobs")).map_err(|e| io(data_dir, e))?;
    let (token, token_file) = operator_token(data_dir)?;
    let store = Arc::new(Store::open(&data_dir.join("jobs.db"))?);
    let runner = Runner::new(
        store,
        launcher,
        Settings {
            data_dir: data_dir.to_owned(),
            inputs: inputs.unwrap_or_else(|| data_dir.join("inputs")),
            concurrency: concurrency.max(1),
            key_service,
        },
        metrics,
    );
    Ok((runner, token, token_file))
}

/// Resolves when the process is asked to stop (SIGTERM or SIGINT).
async fn stop_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// Runs the daemon until SIGTERM or SIGINT: `started` is called once it listens. On the way
/// out, requests in flight finish and running enclaves are stopped; their jobs resume at the
/// next start.
pub async fn serve(d: Daemon, started: impl FnOnce(&Started)) -> Result<(), Error> {
    let metrics = Arc::new(Metrics::new());
    let (runner, token, token_file) = open(
        &d.data_dir,
        d.inputs.clone(),
        d.concurrency,
        d.key_service.clone(),
        d.launcher.clone(),
        metrics.clone(),
    )?;
    let listener = tokio::net::TcpListener::bind(&d.listen)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", d.listen)))?;
    let addr: SocketAddr = listener
        .local_addr()
        .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", d.listen)))?;
    let (tls, certificate, certificate_new) = match &d.transport {
        Transport::InsecureHttp => {
            if !addr.ip().is_loopback() {
                return Err(Error::Config(format!(
                    "plain HTTP (--insecure-http) serves on a loopback address only, not {addr}"
                )));
            }
            (None, None, false)
        }
        Transport::Tls { cert, key } => (
            Some(tls::server_config(cert, key)?),
            Some(cert.clone()),
            false,
        ),
        Transport::SelfSigned => {
            let (cert, key, new) = tls::self_signed(&d.data_dir.join("tls"), &[])?;
            (Some(tls::server_config(&cert, &key)?), Some(cert), new)
        }
    };
    let ready = Arc::new(AtomicBool::new(false));
    let state = api::AppState {
        runner: runner.clone(),
        token: Arc::new(token),
        metrics,
        ready: ready.clone(),
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    started(&Started {
        url: format!("{scheme}://{addr}"),
        token_file,
        certificate,
        certificate_new,
    });
    let runner_task = tokio::spawn({
        let runner = runner.clone();
        let ready = ready.clone();
        async move {
            ready.store(true, std::sync::atomic::Ordering::SeqCst);
            if let Err(e) = runner.run().await {
                tracing::error!(error = %e, "the runner stopped");
            }
        }
    });
    server::serve(listener, tls, api::router(state), d.limits, stop_signal()).await;
    runner_task.abort();
    runner.stop_all();
    // The enclaves' watchers see their cancel and kill them.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    Ok(())
}

/// Runs one job (a job file whose `[run]` inputs lie in its folder) to its end through the same
/// runner as the daemon, keeping its store in `work_dir`; returns the finished job.
pub async fn run_one(
    job_file: &Path,
    work_dir: &Path,
    key_service: Option<String>,
    launcher: Arc<dyn Launcher>,
    progress: impl Fn(&store::Job),
) -> Result<Outcome, Error> {
    let text = std::fs::read_to_string(job_file).map_err(|e| io(job_file, e))?;
    let inputs = job_file
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("."));
    let (runner, _, _) = open(
        work_dir,
        Some(inputs),
        1,
        key_service,
        launcher,
        Arc::new(Metrics::new()),
    )?;
    let mut changes = runner.subscribe();
    let job = runner.submit(&text)?;
    let task = tokio::spawn(runner.clone().run());
    let finished = loop {
        match changes.recv().await {
            Ok(c) if c.id == job.id => {
                let now = runner.store().get(&job.id)?;
                progress(&now);
                if now.state.is_final() {
                    break now;
                }
            }
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                break runner.store().get(&job.id)?;
            }
        }
    };
    task.abort();
    let bundle = runner.store().bundle(&job.id)?;
    let chain = runner.store().chain(&job.id)?;
    let adapter = work_dir.join("jobs").join(&job.id).join("adapter");
    Ok(Outcome {
        job: finished,
        bundle,
        chain,
        adapter: adapter.is_dir().then_some(adapter),
    })
}

/// How [`run_one`]'s job ended.
#[derive(Debug)]
pub struct Outcome {
    /// The job as the store has it.
    pub job: store::Job,
    /// Its bundle, as JSON and CBOR, if it succeeded.
    pub bundle: Option<(String, Vec<u8>)>,
    /// Its alloy chain (a chain file), if its enclave wrote one.
    pub chain: Option<Vec<u8>>,
    /// The folder with the adapter its enclave trained on every contribution, if it wrote one.
    pub adapter: Option<PathBuf>,
}
