//! Launchers: how an enclave job is started, watched, cancelled and ended.
//!
//! A [`Launcher`] starts one job's enclave from a [`LaunchRequest`] (the job file, whose hash is
//! the guest's HOST_DATA, and a work folder for its journal, bundle and channels) and hands back
//! a [`Running`] enclave: its progress as a stream of [`Event`]s, a way to cancel it, and its
//! [`Exit`]. It also says what its guests are: the MEASUREMENT they report (the configured
//! image's launch digest) and the roots their reports chain to, which the host's own check of a
//! bundle pins. Backends: [`process`] (the enclave program as a child process beside a simulated
//! AMD-SP on the host side) and [`qemu`] (the enclave image booted by QEMU: without SEV, beside a
//! simulated AMD-SP, or as an SEV-SNP guest).

pub mod process;
pub mod qemu;

use std::path::{Path, PathBuf};

use alloy_primitives::B256;
use assay_attestation::testing::{SimulatedChain, SimulatedSp};
use assay_attestation::verify::TrustStore;
use assay_forge::EvidenceKind;
use tokio::sync::{mpsc, oneshot};

use crate::Error;
use crate::store::{JobError, Progress};

/// What a launcher needs to start one job.
#[derive(Clone, Debug)]
pub struct LaunchRequest {
    /// The job's id (for names and logs).
    pub id: String,
    /// The job file: the JobSpec and a `[run]` table with the inputs' paths and the key
    /// service's URL.
    pub job_file: PathBuf,
    /// The JobSpec's hash: the guest's HOST_DATA.
    pub job_hash: B256,
    /// The job's own folder: its journal (kept across restarts), bundle and channels.
    pub work_dir: PathBuf,
}

impl LaunchRequest {
    /// Where the enclave writes the bundle (JSON).
    pub fn bundle_json(&self) -> PathBuf {
        self.work_dir.join("bundle.json")
    }

    /// Where the enclave writes the bundle (CBOR).
    pub fn bundle_cbor(&self) -> PathBuf {
        self.work_dir.join("bundle.cbor")
    }

    /// Where the enclave writes the job's alloy chain (a chain file).
    pub fn chain(&self) -> PathBuf {
        self.work_dir.join("chain.alloy")
    }

    /// The folder the enclave writes the adapter trained on every contribution into.
    pub fn adapter(&self) -> PathBuf {
        self.work_dir.join("adapter")
    }

    /// The sealed journal's folder.
    pub fn journal(&self) -> PathBuf {
        self.work_dir.join("journal")
    }

    /// What the enclave printed on stderr (no holdout byte: the enclave withholds them).
    pub fn log(&self) -> PathBuf {
        self.work_dir.join("enclave.log")
    }

    /// The Unix socket a VM guest's channel is served on.
    pub fn channel(&self) -> PathBuf {
        self.work_dir.join("channel.sock")
    }
}

/// The simulated AMD-SP of a guest without SEV-SNP: the test chain in `chain`, reporting
/// `measurement` (the image's launch digest) and `request`'s job hash as HOST_DATA, what the
/// real AMD-SP would put there.
pub fn simulated_sp(
    chain: &Path,
    measurement: [u8; 48],
    request: &LaunchRequest,
) -> Result<SimulatedSp, Error> {
    let mut sp = SimulatedSp::new(SimulatedChain::load(chain)?, measurement);
    sp.host_data = request.job_hash.0;
    Ok(sp)
}

/// What `launcher` could not do, and why.
fn launch_error(launcher: &'static str, reason: String) -> Error {
    Error::Launch { launcher, reason }
}

/// Listens on the Unix socket `socket` for `launcher`, first removing one a previous run left
/// behind.
fn listen(launcher: &'static str, socket: &Path) -> Result<tokio::net::UnixListener, Error> {
    match std::fs::remove_file(socket) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::Io {
                path: socket.display().to_string(),
                source: e,
            });
        }
        _ => {}
    }
    tokio::net::UnixListener::bind(socket).map_err(|e| {
        launch_error(
            launcher,
            format!("{}: cannot listen: {e}", socket.display()),
        )
    })
}

/// What a running enclave reports.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// Trainings done of the total, and the last one's loss.
    Progress(Progress),
    /// How the sealed journal served it.
    Journal {
        /// Trainings resumed.
        resumed: u64,
        /// Entries refused (another job's, or changed) and recomputed.
        refused: u64,
    },
}

/// The event one line of `assay-enclave --events json` stands for (progress or journal; the
/// other events end a run and are each launcher's to read).
pub(crate) fn event(v: &serde_json::Value) -> Option<Event> {
    match v["event"].as_str()? {
        "progress" => Some(Event::Progress(Progress {
            done: u32::try_from(v["done"].as_u64()?).ok()?,
            total: u32::try_from(v["total"].as_u64()?).ok()?,
            loss: v["loss"].as_f64(),
        })),
        "journal" => Some(Event::Journal {
            resumed: v["resumed"].as_u64().unwrap_or(0),
            refused: v["refused"].as_u64().unwrap_or(0),
        }),
        _ => None,
    }
}

/// How an enclave ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Exit {
    /// It wrote its bundle (at the request's `bundle_json` and `bundle_cbor`), its alloy chain
    /// (`chain`) and its adapter (`adapter`).
    Finished,
    /// It failed.
    Failed(JobError),
    /// It was cancelled.
    Cancelled,
}

/// An enclave that runs.
#[derive(Debug)]
pub struct Running {
    /// Its process id, for a backend with one.
    pub pid: Option<u32>,
    /// What it reports, until it ends.
    pub events: mpsc::UnboundedReceiver<Event>,
    cancel: Option<oneshot::Sender<()>>,
    exit: tokio::task::JoinHandle<Exit>,
}

impl Running {
    /// Wraps what a backend started.
    pub fn new(
        pid: Option<u32>,
        events: mpsc::UnboundedReceiver<Event>,
        cancel: oneshot::Sender<()>,
        exit: tokio::task::JoinHandle<Exit>,
    ) -> Running {
        Running {
            pid,
            events,
            cancel: Some(cancel),
            exit,
        }
    }

    /// A handle that cancels it.
    pub fn canceller(&mut self) -> Option<oneshot::Sender<()>> {
        self.cancel.take()
    }

    /// Waits for it to end.
    pub async fn wait(self) -> Exit {
        match self.exit.await {
            Ok(exit) => exit,
            Err(e) => Exit::Failed(JobError {
                kind: "launch".into(),
                message: format!("the launcher's watcher failed: {e}"),
            }),
        }
    }
}

/// A way to run enclave jobs. See the module documentation.
pub trait Launcher: Send + Sync + 'static {
    /// Its name (`process`, `qemu`, `qemu-snp`).
    fn name(&self) -> &'static str;
    /// The evidence its guests give.
    fn evidence(&self) -> EvidenceKind;
    /// The MEASUREMENT its guests report.
    fn measurement(&self) -> [u8; 48];
    /// The roots its guests' reports chain to.
    fn trust(&self) -> TrustStore;
    /// Starts the enclave of `request` (inside a Tokio runtime).
    fn launch(&self, request: &LaunchRequest) -> Result<Running, Error>;
}
