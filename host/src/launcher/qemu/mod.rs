//! The enclave image booted by QEMU (`docs/image.md`): each job a guest, the image's kernel,
//! initrd and command line booted directly, its channel a virtio-serial port on a Unix socket
//! in the job's folder ([`serve`]), its console in the job's log.
//!
//! - [`QemuLauncher`] (`qemu`): no SEV, for hosts without SEV-SNP (development, CI): KVM when
//!   `/dev/kvm` can be used, TCG otherwise (detected at start, and said); reports come from a
//!   simulated AMD-SP on the host side (test keys), with the image's launch digest as
//!   MEASUREMENT and the job's hash as HOST_DATA — what the real AMD-SP would put there.
//! - [`SnpLauncher`] (`qemu-snp`): an SEV-SNP guest (QEMU ≥ 9.1, a host whose KVM runs SNP),
//!   its measurement the AMD-SP's, HOST_DATA the job's hash, reports from the guest's own
//!   `/dev/sev-guest`. It refuses to start where QEMU or the host lacks SNP, and says which.
//!
//! A guest that never connects within the boot timeout, runs past the deadline, panics or ends
//! without finishing fails its job with the reason; its console is in the job's log.

pub mod command;
pub mod probe;
pub mod serve;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use assay_attestation::testing::SimulatedChain;
use assay_attestation::verify::TrustStore;
use assay_forge::EvidenceKind;
use assay_image::Image;
use tokio::sync::{mpsc, oneshot};

use super::{Event, Exit, LaunchRequest, Launcher, Running, launch_error, listen, simulated_sp};
use crate::Error;
use crate::store::JobError;
use command::{Accel, Snp, Vm};
use serve::{GuestEnd, JobSupply, Supply};

/// How a QEMU launcher runs its guests.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `qemu-system-x86_64`.
    pub qemu: PathBuf,
    /// Each guest's memory, MiB.
    pub memory_mib: u32,
    /// How long a guest may take to boot and say hello on its channel.
    pub boot_timeout: Duration,
    /// How long a job may take in all.
    pub deadline: Duration,
    /// Trainings in parallel per job (the guest's default: 1).
    pub workers: Option<usize>,
    /// Threads per training.
    pub threads: Option<usize>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            qemu: "qemu-system-x86_64".into(),
            memory_mib: 2048,
            boot_timeout: Duration::from_secs(300),
            deadline: Duration::from_secs(24 * 3600),
            workers: None,
            threads: None,
        }
    }
}

/// The `qemu` launcher. See the module documentation.
#[derive(Debug)]
pub struct QemuLauncher {
    settings: Settings,
    image: Image,
    accel: Accel,
    accel_reason: String,
    chain: PathBuf,
    trust: TrustStore,
}

impl QemuLauncher {
    /// A launcher of `image` without SEV, beside a simulated AMD-SP with the test chain in
    /// `chain`; `accel` as given, or KVM when `/dev/kvm` can be used and TCG otherwise.
    pub fn new(
        settings: Settings,
        image: Image,
        chain: &Path,
        accel: Option<Accel>,
    ) -> Result<Self, Error> {
        let version = probe::version(&settings.qemu).map_err(|e| launch_error("qemu", e))?;
        let (accel, why) = match accel {
            Some(a) => (a, "as asked".to_owned()),
            None if !probe::kvm_usable(Path::new("/dev/kvm")) => (
                Accel::Tcg,
                "/dev/kvm cannot be opened here: QEMU emulates the CPU, slower".to_owned(),
            ),
            None => {
                match probe::kvm_boots(&settings.qemu, &image.spec.kernel, Duration::from_secs(15))
                {
                    Ok(()) => (Accel::Kvm, "/dev/kvm boots a kernel".to_owned()),
                    Err(e) => (
                        Accel::Tcg,
                        format!("/dev/kvm opens, but {e}: QEMU emulates the CPU, slower"),
                    ),
                }
            }
        };
        tracing::info!(
            qemu = %settings.qemu.display(),
            version = %format!("{}.{}.{}", version.0, version.1, version.2),
            accel = accel.name(),
            "qemu launcher: guests without SEV, with {} ({why}), beside a SIMULATED AMD-SP with TEST keys",
            accel.name()
        );
        let trust = SimulatedChain::load(chain)?.trust();
        Ok(QemuLauncher {
            settings,
            image,
            accel,
            accel_reason: why,
            chain: chain.to_owned(),
            trust,
        })
    }

    /// How its guests run, and why.
    pub fn accel(&self) -> (Accel, &str) {
        (self.accel, &self.accel_reason)
    }

    /// Starts the guest of `request` with `supply` answering its channel (the launcher's own
    /// [`JobSupply`] in [`Launcher::launch`]).
    pub fn start(
        &self,
        request: &LaunchRequest,
        supply: Arc<dyn Supply>,
    ) -> Result<Running, Error> {
        let vm = Vm {
            image: &self.image.spec,
            memory_mib: self.settings.memory_mib,
            channel: &request.channel(),
            console: &request.log(),
        };
        let args = command::plain(&vm, self.accel);
        start_vm("qemu", &self.settings, request, &args, supply, false)
    }
}

impl Launcher for QemuLauncher {
    fn name(&self) -> &'static str {
        "qemu"
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
        let supply = JobSupply::new(
            request,
            Some(sp),
            self.settings.workers,
            self.settings.threads,
        )?;
        self.start(request, Arc::new(supply))
    }
}

/// The `qemu-snp` launcher. See the module documentation.
#[derive(Debug)]
pub struct SnpLauncher {
    settings: Settings,
    image: Image,
    capabilities: probe::SevCapabilities,
}

/// The QEMU that first launches SEV-SNP guests.
pub const SNP_QEMU: probe::Version = (9, 1, 0);

impl SnpLauncher {
    /// A launcher of `image` as SEV-SNP guests; refuses (saying why) when QEMU is older than
    /// 9.1 or the host does not run SNP guests.
    pub fn new(settings: Settings, image: Image) -> Result<Self, Error> {
        let refuse = |reason: String| launch_error("qemu-snp", reason);
        let version = probe::version(&settings.qemu).map_err(refuse)?;
        if version < SNP_QEMU {
            return Err(refuse(format!(
                "{} is QEMU {}.{}.{}; SEV-SNP guests need QEMU 9.1 or later (Debian 12's is 7.2: install a newer one and name it with --qemu)",
                settings.qemu.display(),
                version.0,
                version.1,
                version.2
            )));
        }
        if let Some(why) = probe::snp_host_missing(Path::new("/sys"), Path::new("/dev")) {
            return Err(refuse(why));
        }
        let capabilities =
            probe::sev_capabilities(&settings.qemu, Duration::from_secs(30)).map_err(refuse)?;
        tracing::info!(
            cbitpos = capabilities.cbitpos,
            reduced_phys_bits = capabilities.reduced_phys_bits,
            "qemu-snp launcher: SEV-SNP guests"
        );
        Ok(SnpLauncher {
            settings,
            image,
            capabilities,
        })
    }

    /// The command line of `request`'s guest.
    pub fn command(&self, request: &LaunchRequest) -> Vec<String> {
        let vm = Vm {
            image: &self.image.spec,
            memory_mib: self.settings.memory_mib,
            channel: &request.channel(),
            console: &request.log(),
        };
        command::snp(
            &vm,
            &Snp {
                cbitpos: self.capabilities.cbitpos,
                reduced_phys_bits: self.capabilities.reduced_phys_bits,
                policy: command::POLICY,
                host_data: request.job_hash.0,
            },
        )
    }
}

impl Launcher for SnpLauncher {
    fn name(&self) -> &'static str {
        "qemu-snp"
    }

    fn evidence(&self) -> EvidenceKind {
        EvidenceKind::Snp
    }

    fn measurement(&self) -> [u8; 48] {
        self.image.measurement
    }

    fn trust(&self) -> TrustStore {
        TrustStore::amd()
    }

    fn launch(&self, request: &LaunchRequest) -> Result<Running, Error> {
        let supply = JobSupply::new(request, None, self.settings.workers, self.settings.threads)?;
        let args = self.command(request);
        start_vm(
            "qemu-snp",
            &self.settings,
            request,
            &args,
            Arc::new(supply),
            true,
        )
    }
}

/// The line of the guest's console that says why it stopped, if one does (a kernel panic, an
/// internal error of the enclave, or its last message).
fn console_reason(console: &Path) -> Option<String> {
    let text = std::fs::read_to_string(console).ok()?;
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .iter()
        .find(|l| l.contains("Kernel panic") || l.contains("internal error"))
        .or_else(|| lines.iter().rev().find(|l| l.starts_with("assay-enclave:")))
        .map(|l| (*l).to_owned())
}

fn failed(kind: &str, message: String) -> Exit {
    Exit::Failed(JobError {
        kind: kind.into(),
        message,
    })
}

/// Starts QEMU with `args` for `request`, serves its guest's channel from `supply`, and watches
/// it: boot timeout, deadline, cancellation, how it ended.
fn start_vm(
    launcher: &'static str,
    settings: &Settings,
    request: &LaunchRequest,
    args: &[String],
    supply: Arc<dyn Supply>,
    snp: bool,
) -> Result<Running, Error> {
    let socket = request.channel();
    let listener = listen(launcher, &socket)?;
    let qemu_log_path = request.work_dir.join("qemu.log");
    let qemu_log = std::fs::File::create(&qemu_log_path).map_err(|source| Error::Io {
        path: qemu_log_path.display().to_string(),
        source,
    })?;
    let qemu_err = qemu_log.try_clone().map_err(|source| Error::Io {
        path: qemu_log_path.display().to_string(),
        source,
    })?;
    let mut child = tokio::process::Command::new(&settings.qemu)
        .args(args)
        .stdin(Stdio::null())
        .stdout(qemu_log)
        .stderr(qemu_err)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            launch_error(
                launcher,
                format!("{}: cannot start: {e}", settings.qemu.display()),
            )
        })?;
    tracing::info!(job = %request.id, launcher, args = %args.join(" "), "guest started");
    let pid = child.id();
    let (events_tx, events) = mpsc::unbounded_channel::<Event>();
    let (cancel, mut cancelled) = oneshot::channel::<()>();
    let console = request.log();
    let (boot_timeout, deadline) = (settings.boot_timeout, settings.deadline);
    let id = request.id.clone();
    let id_for_serve = request.id.clone();
    let socket_path = socket.clone();
    let spawned = std::time::Instant::now();
    let exit = tokio::spawn(async move {
        let ended = |status: std::io::Result<std::process::ExitStatus>| {
            let how = status.map_or_else(|e| e.to_string(), |s| s.to_string());
            let why = console_reason(&console).unwrap_or_else(|| "nothing on its console".into());
            failed(
                "guest",
                format!(
                    "the guest ended before it connected (QEMU {how}): {why}; see {} and qemu.log",
                    console.display()
                ),
            )
        };
        let never_connected = |console: &Path| {
            let why = console_reason(console).unwrap_or_else(|| "nothing on its console".into());
            failed(
                "guest",
                format!(
                    "the guest never connected to its channel within {} s: {why}; see {}",
                    boot_timeout.as_secs(),
                    console.display()
                ),
            )
        };
        // QEMU connects the channel's socket as it starts; the guest says hello once booted.
        let stream = tokio::select! {
            accepted = tokio::time::timeout(boot_timeout, listener.accept()) => match accepted {
                Ok(Ok((s, _))) => s,
                Ok(Err(e)) => {
                    let _ = child.kill().await;
                    return failed("launch", format!("accepting the guest's channel: {e}"));
                }
                Err(_) => {
                    let _ = child.kill().await;
                    return never_connected(&console);
                }
            },
            status = child.wait() => return ended(status),
            _ = &mut cancelled => {
                let _ = child.kill().await;
                return Exit::Cancelled;
            }
        };
        drop(listener);
        let stream = match stream
            .into_std()
            .and_then(|s| s.set_nonblocking(false).map(|()| s))
        {
            Ok(s) => s,
            Err(e) => {
                let _ = child.kill().await;
                return failed("launch", format!("the guest's channel: {e}"));
            }
        };
        let served = tokio::task::spawn_blocking(move || {
            let mut stream = stream;
            let ready_id = id_for_serve.clone();
            serve::serve(
                &mut stream,
                supply.as_ref(),
                snp,
                &serve::Watch {
                    boot_timeout,
                    ready: &|| {
                        tracing::info!(
                            job = %ready_id,
                            ready_ms = spawned.elapsed().as_millis() as u64,
                            "the guest's enclave is ready (it said hello on its channel)"
                        );
                    },
                    events: &|e| {
                        let _ = events_tx.send(e);
                    },
                },
            )
        });
        let end = tokio::select! {
            end = served => end.unwrap_or_else(|e| GuestEnd::Lost(format!("the channel's server failed: {e}"))),
            _ = tokio::time::sleep(deadline) => {
                let _ = child.kill().await;
                return failed("deadline", format!(
                    "the guest ran past its deadline of {} s and was stopped; see {}",
                    deadline.as_secs(), console.display()
                ));
            }
            _ = &mut cancelled => {
                let _ = child.kill().await;
                return Exit::Cancelled;
            }
        };
        // The guest powers off once it has said how it ended; give it a moment.
        let status = match tokio::time::timeout(Duration::from_secs(60), child.wait()).await {
            Ok(s) => s.map_or_else(|e| e.to_string(), |s| s.to_string()),
            Err(_) => {
                let _ = child.kill().await;
                "killed: it did not power off".into()
            }
        };
        tracing::info!(job = %id, status = %status, "guest ended");
        let _ = std::fs::remove_file(&socket_path);
        match end {
            GuestEnd::NeverConnected => never_connected(&console),
            GuestEnd::Finished => Exit::Finished,
            GuestEnd::Failed(e) => Exit::Failed(e),
            GuestEnd::Lost(reason) => {
                let why = console_reason(&console)
                    .map(|l| format!("; its console says: {l}"))
                    .unwrap_or_default();
                failed(
                    "guest",
                    format!(
                        "the guest stopped without finishing ({reason}; QEMU {status}){why}; see {}",
                        console.display()
                    ),
                )
            }
        }
    });
    Ok(Running::new(pid, events, cancel, exit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_line_that_says_why_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("console.log");
        assert_eq!(console_reason(&p), None);
        std::fs::write(
            &p,
            "[    0.5] booting\nassay-enclave: process 1; 11 modules loaded\nassay-enclave: the host channel: no virtio-serial port\n",
        )
        .unwrap();
        assert_eq!(
            console_reason(&p).unwrap(),
            "assay-enclave: the host channel: no virtio-serial port"
        );
        std::fs::write(
            &p,
            "assay-enclave: 1/4 trainings\n[    2.0] Kernel panic - not syncing: Attempted to kill init!\nassay-enclave: x\n",
        )
        .unwrap();
        assert!(console_reason(&p).unwrap().contains("Kernel panic"));
    }
}
