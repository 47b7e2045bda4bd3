//! The `process` launcher: `assay-enclave` as a child process, beside a simulated AMD-SP that the
//! host runs (never the enclave program: it holds no key), as the real AMD-SP runs beside a
//! guest. The AMD-SP answers on a Unix socket in the job's folder, with the configured image's
//! launch digest as MEASUREMENT and the job's hash as HOST_DATA; its keys are the simulated
//! chain's, read from the folder the operator names, so only verifiers that name that chain's
//! root accept its reports. For hosts without SEV-SNP: development, CI, demonstrations.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use assay_attestation::testing::{SimulatedChain, SimulatedSp};
use assay_attestation::verify::TrustStore;
use assay_forge::EvidenceKind;
use tokio::io::AsyncBufReadExt;
use tokio::sync::{mpsc, oneshot};

use super::{Exit, LaunchRequest, Launcher, Running, listen, simulated_sp};
use crate::Error;
use crate::store::JobError;
use assay_image::Image;

/// The `process` launcher. See the module documentation.
#[derive(Debug)]
pub struct ProcessLauncher {
    /// The `assay-enclave` program.
    pub enclave: PathBuf,
    /// The simulated chain's folder (test keys).
    pub chain: PathBuf,
    /// The image whose launch the simulated AMD-SP reports.
    pub image: Image,
    /// Trainings in parallel per job.
    pub workers: Option<usize>,
    /// Threads per training.
    pub threads: Option<usize>,
    trust: TrustStore,
}

fn launch_error(reason: String) -> Error {
    super::launch_error("process", reason)
}

impl ProcessLauncher {
    /// A launcher running `enclave` beside a simulated AMD-SP with the chain in `chain`,
    /// reporting `image`'s measurement.
    pub fn new(enclave: PathBuf, chain: PathBuf, image: Image) -> Result<Self, Error> {
        if !enclave.is_file() {
            return Err(launch_error(format!(
                "{}: no enclave program there (build it with `cargo build --release -p assay-enclave`, or name it with --enclave)",
                enclave.display()
            )));
        }
        let trust = SimulatedChain::load(&chain)?.trust();
        Ok(ProcessLauncher {
            enclave,
            chain,
            image,
            workers: None,
            threads: None,
            trust,
        })
    }
}

/// Serves the simulated AMD-SP of one guest on `socket` until the task is aborted.
async fn serve_sp(listener: tokio::net::UnixListener, sp: Arc<SimulatedSp>, id: String) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(job = %id, error = %e, "simulated AMD-SP: accept failed");
                return;
            }
        };
        let sp = sp.clone();
        let id = id.clone();
        tokio::task::spawn_blocking(move || {
            let served = stream
                .into_std()
                .and_then(|s| s.set_nonblocking(false).map(|()| s))
                .map_err(|e| e.to_string())
                .and_then(|mut s| sp.serve_one(&mut s).map_err(|e| e.to_string()));
            if let Err(e) = served {
                tracing::warn!(job = %id, error = %e, "simulated AMD-SP: a request failed");
            }
        });
    }
}

impl Launcher for ProcessLauncher {
    fn name(&self) -> &'static str {
        "process"
    }

    fn evidence(&self) -> EvidenceKind {
        EvidenceKind::Simulated
    }

    fn measurement(&self) -> [u8; 48] {
        self.image.measurement
    }

    fn trust(&self) -> TrustStore {
        self.trust.clone()
    }

    fn launch(&self, request: &LaunchRequest) -> Result<Running, Error> {
        let sp = simulated_sp(&self.chain, self.image.measurement, request)?;
        let socket = request.work_dir.join("sp.sock");
        let listener = listen("process", &socket)?;
        let sp_task = tokio::spawn(serve_sp(listener, Arc::new(sp), request.id.clone()));
        let log = std::fs::File::create(request.log()).map_err(|source| Error::Io {
            path: request.log().display().to_string(),
            source,
        })?;
        let mut cmd = tokio::process::Command::new(&self.enclave);
        cmd.arg("--job")
            .arg(&request.job_file)
            .args(["--evidence", "simulated", "--sp-socket"])
            .arg(&socket)
            .arg("--journal")
            .arg(request.journal())
            .arg("--out")
            .arg(request.bundle_json())
            .arg("--cbor")
            .arg(request.bundle_cbor())
            .arg("--chain")
            .arg(request.chain())
            .arg("--adapter")
            .arg(request.adapter())
            .args(["--events", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        if let Some(w) = self.workers {
            cmd.arg("--workers").arg(w.to_string());
        }
        if let Some(t) = self.threads {
            cmd.arg("--threads").arg(t.to_string());
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                sp_task.abort();
                return Err(launch_error(format!(
                    "{}: cannot start: {e}",
                    self.enclave.display()
                )));
            }
        };
        let pid = child.id();
        let stdout = child.stdout.take().expect("stdout is piped");
        let (events_tx, events) = mpsc::unbounded_channel();
        let (cancel, mut cancelled) = oneshot::channel::<()>();
        let log_path = request.log();
        let exit = tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stdout).lines();
            let mut finished = false;
            let mut failed: Option<JobError> = None;
            let read_events = async {
                while let Ok(Some(line)) = lines.next_line().await {
                    let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                        continue;
                    };
                    if let Some(e) = super::event(&v) {
                        let _ = events_tx.send(e);
                    }
                    match v["event"].as_str() {
                        Some("finished") => finished = true,
                        Some("failed") => {
                            failed = Some(JobError {
                                kind: v["kind"].as_str().unwrap_or("enclave").to_owned(),
                                message: v["message"].as_str().unwrap_or_default().to_owned(),
                            });
                        }
                        _ => {}
                    }
                }
            };
            let status = tokio::select! {
                () = read_events => child.wait().await,
                _ = &mut cancelled => {
                    let _ = child.kill().await;
                    sp_task.abort();
                    return Exit::Cancelled;
                }
            };
            sp_task.abort();
            match status {
                Ok(s) if s.success() && finished => Exit::Finished,
                Ok(s) => Exit::Failed(failed.unwrap_or_else(|| JobError {
                    kind: "enclave".into(),
                    message: format!(
                        "assay-enclave exited with {s} without saying why; see {}",
                        log_path.display()
                    ),
                })),
                Err(e) => Exit::Failed(JobError {
                    kind: "launch".into(),
                    message: format!("waiting for assay-enclave: {e}"),
                }),
            }
        });
        Ok(Running::new(pid, events, cancel, exit))
    }
}
