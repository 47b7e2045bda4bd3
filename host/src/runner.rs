//! The runner: takes submitted jobs, queues them, launches up to `concurrency` at once, follows
//! their progress, keeps their bundles (after checking each one as an auditor would), and on a
//! restart puts every job left running back in the queue, where it resumes from its sealed
//! journal.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use alloy_primitives::B256;
use assay_attestation::Verifier;
use assay_attestation::validate::Policy;
use assay_forge::job::{JobFile, RunSpec};
use assay_forge::{Bundle, BundleVerifier, Pins};
use tokio::sync::{Notify, broadcast, oneshot};

use crate::Error;
use crate::launcher::{Event, Exit, LaunchRequest, Launcher};
use crate::metrics::Metrics;
use crate::store::{Job, JobError, Progress, State, Store};

/// What changed about a job: sent to whoever watches it (the API's event streams).
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// The job.
    pub id: String,
    /// Its state now.
    pub state: State,
    /// Its progress now.
    pub progress: Progress,
}

/// A Forge's latest verified attestation.
#[derive(Debug)]
pub struct Latest {
    /// The job it came from.
    pub job: String,
    /// The bundle, JSON (shared by every answer without a copy).
    pub json: axum::body::Bytes,
    /// The bundle, CBOR.
    pub cbor: axum::body::Bytes,
}

/// Where the runner keeps things, and how much it runs at once.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The data folder: the store, the jobs' folders.
    pub data_dir: PathBuf,
    /// The folder submitted jobs name their inputs in.
    pub inputs: PathBuf,
    /// Jobs whose enclaves run at once.
    pub concurrency: usize,
    /// The key service's URL, for jobs whose `run` names none.
    pub key_service: Option<String>,
}

/// The runner. See the module documentation.
pub struct Runner {
    store: Arc<Store>,
    launcher: Arc<dyn Launcher>,
    settings: Settings,
    running: Mutex<HashMap<String, oneshot::Sender<()>>>,
    wake: Notify,
    changes: broadcast::Sender<Change>,
    metrics: Arc<Metrics>,
    /// Each Forge's latest verified attestation, read from the store once and replaced as
    /// jobs succeed: what relayers fetch, often.
    latest: std::sync::RwLock<HashMap<String, Arc<Latest>>>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("launcher", &self.launcher.name())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn bad(field: &str, reason: impl Into<String>) -> Error {
    Error::BadJob {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// `p`, a path a submitted job names, inside `inputs`: relative, no `..`.
fn inside(inputs: &Path, p: &Path, field: &str) -> Result<PathBuf, Error> {
    if p.is_absolute()
        || p.components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(bad(
            field,
            format!(
                "{} must be a path inside the host's inputs folder (relative, without ..)",
                p.display()
            ),
        ));
    }
    let full = inputs.join(p);
    if !full.exists() {
        return Err(bad(
            field,
            format!("{} is not in the host's inputs folder", p.display()),
        ));
    }
    Ok(full)
}

impl Runner {
    /// A runner over `store`, launching with `launcher`.
    pub fn new(
        store: Arc<Store>,
        launcher: Arc<dyn Launcher>,
        settings: Settings,
        metrics: Arc<Metrics>,
    ) -> Arc<Runner> {
        Arc::new(Runner {
            store,
            launcher,
            settings,
            running: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            changes: broadcast::channel(1024).0,
            metrics,
            latest: std::sync::RwLock::new(HashMap::new()),
        })
    }

    /// The latest verified attestation of the Forge `forge_id` (0x and 64 lowercase hex).
    pub fn latest_attestation(&self, forge_id: &str) -> Result<Option<Arc<Latest>>, Error> {
        if let Some(l) = self.latest.read().expect("latest").get(forge_id) {
            return Ok(Some(l.clone()));
        }
        let Some((job, json, cbor)) = self.store.latest_verified(forge_id)? else {
            return Ok(None);
        };
        let l = Arc::new(Latest {
            job,
            json: json.into(),
            cbor: cbor.into(),
        });
        self.latest
            .write()
            .expect("latest")
            .insert(forge_id.to_owned(), l.clone());
        Ok(Some(l))
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The launcher.
    pub fn launcher(&self) -> &dyn Launcher {
        self.launcher.as_ref()
    }

    /// Changes to jobs, as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    fn announce(&self, id: &str) {
        if let Ok(job) = self.store.get(id) {
            let _ = self.changes.send(Change {
                id: id.to_owned(),
                state: job.state,
                progress: job.progress,
            });
        }
        self.metrics.observe_store(&self.store);
    }

    /// Reads a submitted job file (JSON or TOML) and checks its inputs are in the inputs
    /// folder; returns the job file as it will be stored.
    fn check_submission(&self, text: &str) -> Result<JobFile, Error> {
        let file = JobFile::parse(text, "body")?;
        let r = &file.run;
        if r.evidence.is_some() || r.bundle.is_some() || r.cbor.is_some() || r.journal.is_some() {
            return Err(bad(
                "run",
                "the host chooses the evidence, the journal and where the bundle goes: give only run.recipe, run.model, run.contributions, run.holdout, run.key_service, run.workers, run.threads",
            ));
        }
        let inputs = &self.settings.inputs;
        for (field, p) in [
            ("run.recipe", &r.recipe),
            ("run.model", &r.model),
            ("run.contributions", &r.contributions),
            ("run.holdout", &r.holdout),
        ] {
            let p = p.as_deref().ok_or_else(|| {
                bad(
                    field,
                    "is required: where the input is in the host's inputs folder",
                )
            })?;
            inside(inputs, p, field)?;
        }
        if r.key_service.is_none() && self.settings.key_service.is_none() {
            return Err(bad(
                "run.key_service",
                "is required: this host has no default key service (assay-host serve --key-service)",
            ));
        }
        if file.job.key_release.is_none() {
            return Err(bad(
                "key_release",
                "this host runs jobs in a TEE, whose holdout key a key service releases: the job must name one",
            ));
        }
        Ok(file)
    }

    /// Queues a submitted job.
    pub fn submit(&self, text: &str) -> Result<Job, Error> {
        let file = self.check_submission(text)?;
        let mut value = serde_json::to_value(&file.job).expect("a JobSpec serialises");
        value["run"] = serde_json::to_value(&file.run).expect("a RunSpec serialises");
        let job = self.store.create(
            &file.job.hash().to_string(),
            &file.job.forge.id.to_string(),
            &value.to_string(),
        )?;
        tracing::info!(job = %job.id, job_hash = %job.job_hash, forge = %job.forge_id, "job queued");
        self.announce(&job.id);
        self.wake.notify_one();
        Ok(job)
    }

    /// Cancels a job that is not over.
    pub fn cancel(&self, id: &str) -> Result<Job, Error> {
        let before = self.store.cancel(id)?;
        if before == State::Running
            && let Some(stop) = self.running.lock().expect("running jobs").remove(id)
        {
            let _ = stop.send(());
        }
        tracing::info!(job = %id, "job cancelled");
        self.announce(id);
        self.store.get(id)
    }

    /// Puts the jobs a previous daemon left running back in the queue (stopping their enclaves
    /// if they still run), then launches queued jobs as slots free up, until the process ends.
    pub async fn run(self: Arc<Self>) -> Result<(), Error> {
        for job in self.store.requeue_running()? {
            if let Some(pid) = job.pid {
                stop_stale(pid, &job.id);
            }
            tracing::info!(job = %job.id, attempts = job.attempts, "job resumes after a restart");
        }
        self.metrics.observe_store(&self.store);
        loop {
            let free = self
                .settings
                .concurrency
                .saturating_sub(self.running.lock().expect("running jobs").len());
            if free > 0 {
                for job in self.store.queued(free)? {
                    if self.store.start(&job.id)? {
                        let (tx, rx) = oneshot::channel();
                        self.running
                            .lock()
                            .expect("running jobs")
                            .insert(job.id.clone(), tx);
                        let me = self.clone();
                        tokio::spawn(async move { me.run_job(job, rx).await });
                    }
                }
            }
            self.wake.notified().await;
        }
    }

    /// Stops every running enclave (the daemon is shutting down); their jobs stay running in
    /// the store and resume at the next start.
    pub fn stop_all(&self) {
        for (id, stop) in self.running.lock().expect("running jobs").drain() {
            tracing::info!(job = %id, "stopping the enclave for shutdown; the job resumes at the next start");
            let _ = stop.send(());
        }
    }

    /// Writes the job's launch file into its folder: the JobSpec, and `run` with the inputs'
    /// full paths and the key service.
    fn prepare(&self, job: &Job) -> Result<LaunchRequest, Error> {
        let work_dir = self.settings.data_dir.join("jobs").join(&job.id);
        std::fs::create_dir_all(&work_dir).map_err(|source| Error::Io {
            path: work_dir.display().to_string(),
            source,
        })?;
        let file = JobFile::parse(&job.job_file, &job.id)?;
        let inputs = &self.settings.inputs;
        let full = |p: &Option<PathBuf>| p.as_deref().map(|p| inputs.join(p));
        let run = RunSpec {
            recipe: full(&file.run.recipe),
            model: full(&file.run.model),
            contributions: full(&file.run.contributions),
            holdout: full(&file.run.holdout),
            key_service: file
                .run
                .key_service
                .clone()
                .or_else(|| self.settings.key_service.clone()),
            workers: file.run.workers,
            threads: file.run.threads,
            ..RunSpec::default()
        };
        let launch_file = JobFile { job: file.job, run };
        let path = work_dir.join("job.toml");
        assay_keys::write_atomic(&path, launch_file.to_toml().as_bytes(), false).map_err(|e| {
            Error::Io {
                path: path.display().to_string(),
                source: std::io::Error::other(e.to_string()),
            }
        })?;
        Ok(LaunchRequest {
            id: job.id.clone(),
            job_file: path,
            job_hash: launch_file.job.hash(),
            work_dir,
        })
    }

    async fn run_job(self: Arc<Self>, job: Job, stop: oneshot::Receiver<()>) {
        let id = job.id.clone();
        let started = Instant::now();
        self.announce(&id);
        let exit = match self.launch_and_follow(&job, stop).await {
            Ok(exit) => exit,
            Err(e) => Exit::Failed(JobError {
                kind: e.kind().to_owned(),
                message: e.to_string(),
            }),
        };
        self.metrics.observe_run(started.elapsed());
        let recorded = match exit {
            Exit::Finished => self.keep_bundle(&job),
            Exit::Failed(e) => {
                tracing::warn!(job = %id, kind = %e.kind, error = %e.message, "job failed");
                self.store.fail(&id, &e)
            }
            Exit::Cancelled => Ok(()),
        };
        if let Err(e) = recorded {
            tracing::error!(job = %id, error = %e, "cannot record the job's end");
        }
        self.running.lock().expect("running jobs").remove(&id);
        self.announce(&id);
        self.wake.notify_one();
    }

    async fn launch_and_follow(
        &self,
        job: &Job,
        stop: oneshot::Receiver<()>,
    ) -> Result<Exit, Error> {
        let request = self.prepare(job)?;
        let mut running = self.launcher.launch(&request)?;
        self.store.set_pid(&job.id, running.pid)?;
        tracing::info!(job = %job.id, launcher = self.launcher.name(), pid = ?running.pid, attempt = job.attempts + 1, "enclave started");
        let cancel = running.canceller();
        tokio::spawn(async move {
            if stop.await.is_ok()
                && let Some(c) = cancel
            {
                let _ = c.send(());
            }
        });
        while let Some(event) = running.events.recv().await {
            match event {
                Event::Progress(p) => {
                    self.store.set_progress(&job.id, p)?;
                    self.announce(&job.id);
                }
                Event::Journal { resumed, refused } => {
                    tracing::info!(job = %job.id, resumed, refused, "journal");
                }
            }
        }
        Ok(running.wait().await)
    }

    /// Reads the bundle the enclave wrote, checks it as an auditor would, and keeps it.
    fn keep_bundle(&self, job: &Job) -> Result<(), Error> {
        let dir = self.settings.data_dir.join("jobs").join(&job.id);
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read(&p).map_err(|source| Error::Io {
                path: p.display().to_string(),
                source,
            })
        };
        let json = String::from_utf8(read("bundle.json")?)
            .map_err(|_| Error::Config("the bundle is not UTF-8".into()))?;
        let cbor = read("bundle.cbor")?;
        let bundle = Bundle::parse(json.as_bytes(), "bundle.json")?;
        let chain = match read("chain.alloy") {
            Ok(c) => Some(c),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let file = JobFile::parse(&job.job_file, &job.id)?;
        let checked = self
            .check(&bundle, file.job.hash(), file.job.forge.nonce)
            .and_then(|()| check_chain(&bundle, chain.as_deref()));
        let note = checked.as_ref().err().map(|e| JobError {
            kind: "verification".into(),
            message: e.to_string(),
        });
        match &note {
            None => tracing::info!(job = %job.id, "job succeeded; its bundle verifies"),
            Some(e) => {
                tracing::warn!(job = %job.id, error = %e.message, "job succeeded, but its bundle does not verify: it is kept and not served as the Forge's attestation");
            }
        }
        self.store.succeed(
            &job.id,
            (&json, &cbor),
            chain.as_deref(),
            checked.is_ok(),
            note.as_ref(),
        )?;
        if checked.is_ok() {
            self.latest.write().expect("latest").insert(
                job.forge_id.clone(),
                Arc::new(Latest {
                    job: job.id.clone(),
                    json: json.into(),
                    cbor: cbor.into(),
                }),
            );
        }
        Ok(())
    }

    /// The host's own check of a bundle: everything `assay verify attestation` checks, with the
    /// launcher's roots, its guests' MEASUREMENT, the job's nonce and hash pinned.
    pub fn check(&self, bundle: &Bundle, job: B256, nonce: B256) -> Result<(), Error> {
        let policy = Policy::from_toml(
            &format!(
                "measurements = [\"{}\"]",
                hex::encode(self.launcher.measurement())
            ),
            "the launcher's image",
        )?;
        let report = Verifier {
            trust: self.launcher.trust(),
            policy,
            ..Verifier::new(time::OffsetDateTime::now_utc())
        };
        BundleVerifier {
            nonce: Some(nonce),
            pins: Pins {
                job: Some(job),
                ..Pins::default()
            },
            ..BundleVerifier::new(report)
        }
        .verify(bundle)
        .map(drop)
        .map_err(|r| Error::Forge(r.error))
    }
}

/// The job's alloy chain against its bundle (`assay_forge::alloy::check_chain`): a version-3
/// bundle's enclave signs one, and it must say what the bundle says.
fn check_chain(bundle: &Bundle, chain: Option<&[u8]>) -> Result<(), Error> {
    match (bundle.alloy.is_some(), chain) {
        (false, None) => Ok(()),
        (false, Some(_)) => Err(Error::Config(format!(
            "the enclave wrote an alloy chain, but its bundle ({}) binds no alloy key",
            bundle.format
        ))),
        (true, None) => Err(Error::Config(
            "the bundle binds an alloy key, but the enclave wrote no alloy chain (chain.alloy)"
                .into(),
        )),
        (true, Some(chain)) => {
            let verdict = assay_alloy::verify([assay_alloy::Input::Cbor(chain)]);
            assay_forge::alloy::check_chain(bundle, &verdict)?;
            Ok(())
        }
    }
}

/// Stops an enclave a previous daemon left running, if `pid` is still that enclave or its
/// guest's QEMU (its command line names the job's folder): a process id can have been reused.
fn stop_stale(pid: u32, id: &str) {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let text = String::from_utf8_lossy(&cmdline);
    if (text.contains("assay-enclave") || text.contains("qemu-system")) && text.contains(id) {
        tracing::warn!(job = %id, pid, "stopping the enclave a previous daemon left running");
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
}
