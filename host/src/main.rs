//! `assay-host`: the host daemon of a compute provider.
//!
//! Exit status: 0 on success, 1 when something could not be done (said on stderr), 2 for a
//! malformed command line.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use assay_host::launcher::Launcher;
use assay_host::launcher::process::ProcessLauncher;
use assay_host::launcher::qemu;
use assay_host::{Daemon, Error, Limits, Transport};
use assay_image::ImageSpec;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// The host daemon of an Assay compute provider: launches enclave jobs, keeps their bundles,
/// survives restarts, serves attestations to relayers.
#[derive(Parser)]
#[command(name = "assay-host", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines as JSON (one object a line) instead of text.
    #[arg(long, value_enum, default_value = "text", global = true)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and run submitted jobs until SIGTERM.
    Serve(Box<ServeArgs>),
    /// Run one job file to its end (no daemon, the same code path) and write its bundle.
    Run(Box<RunArgs>),
    /// Write the demo's Forge job (inputs, job, key-service configuration) into a new folder.
    Example {
        /// The folder to write (must not exist).
        #[arg(long)]
        out: PathBuf,
        /// The enclave image (TOML: ovmf, kernel, initrd, append, vcpus, vcpu_type).
        #[arg(long)]
        image: PathBuf,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LauncherKind {
    /// `assay-enclave` as a child process beside a simulated AMD-SP on the host side.
    Process,
    /// The enclave image booted by QEMU without SEV (KVM, or TCG where /dev/kvm cannot be
    /// used), beside a simulated AMD-SP on the host side.
    Qemu,
    /// The enclave image as an SEV-SNP guest (QEMU >= 9.1, a host whose KVM runs SNP).
    QemuSnp,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AccelArg {
    /// KVM when /dev/kvm can be used, TCG otherwise.
    Auto,
    /// KVM.
    Kvm,
    /// QEMU's emulator.
    Tcg,
}

/// How enclaves are launched.
#[derive(Args)]
struct LaunchArgs {
    /// The launcher.
    #[arg(long, value_enum, default_value = "process")]
    launcher: LauncherKind,
    /// The enclave image its guests run (TOML; its launch digest is their MEASUREMENT).
    #[arg(long)]
    image: PathBuf,
    /// The `assay-enclave` program [default: beside this one].
    #[arg(long)]
    enclave: Option<PathBuf>,
    /// INSECURE, for hosts without SEV-SNP: the simulated AMD-SP's chain folder (test keys,
    /// e.g. attestation/testdata/sim); only verifiers that name its root accept its reports.
    #[arg(long)]
    sim_chain: Option<PathBuf>,
    /// Trainings in parallel per job.
    #[arg(long)]
    workers: Option<usize>,
    /// Threads per training.
    #[arg(long)]
    threads: Option<usize>,
    /// QEMU (qemu, qemu-snp launchers).
    #[arg(long, default_value = "qemu-system-x86_64")]
    qemu: PathBuf,
    /// Each guest's memory in MiB (qemu, qemu-snp).
    #[arg(long, default_value_t = 2048)]
    memory: u32,
    /// How a guest without SEV runs (qemu).
    #[arg(long, value_enum, default_value = "auto")]
    accel: AccelArg,
    /// Seconds a guest may take to boot and connect to its channel (qemu, qemu-snp).
    #[arg(long, default_value_t = 300)]
    boot_timeout: u64,
    /// Seconds a job's guest may run in all (qemu, qemu-snp).
    #[arg(long, default_value_t = 86400)]
    deadline: u64,
}

#[derive(Args)]
struct ServeArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8480")]
    listen: String,
    /// The data folder (job store, jobs, operator token, TLS files); made if absent.
    #[arg(long)]
    data_dir: PathBuf,
    /// Where submitted jobs' inputs are [default: DATA/inputs].
    #[arg(long)]
    inputs: Option<PathBuf>,
    /// The TLS certificate chain (PEM) [default: a self-signed one in DATA/tls].
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Plain HTTP instead of TLS; on a loopback address only.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    insecure_http: bool,
    /// Enclaves that run at once; the rest queue.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// The key service's URL, for jobs whose `run` names none.
    #[arg(long)]
    key_service: Option<String>,
    /// Connections served at once.
    #[arg(long, default_value_t = Limits::default().max_connections)]
    max_connections: usize,
    #[command(flatten)]
    launch: LaunchArgs,
}

#[derive(Args)]
struct RunArgs {
    /// The job file; its `[run]` inputs are paths inside its folder.
    job: PathBuf,
    /// Where to write the bundle (JSON).
    #[arg(long)]
    out: PathBuf,
    /// Also write the bundle as CBOR here.
    #[arg(long)]
    cbor: Option<PathBuf>,
    /// Where to write the job's alloy chain (a chain file) [default: beside --out, with the
    /// extension .alloy].
    #[arg(long)]
    chain: Option<PathBuf>,
    /// The folder to copy the adapter trained on every contribution into [default: beside
    /// --out, with the extension .adapter].
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// The folder for the run's store, journal and logs [default: a new temporary one].
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// The key service's URL, if the job file's `[run]` names none.
    #[arg(long)]
    key_service: Option<String>,
    #[command(flatten)]
    launch: LaunchArgs,
}

fn launcher(a: &LaunchArgs) -> Result<Arc<dyn Launcher>, Error> {
    let image = ImageSpec::load(&a.image)?.measure()?;
    let sim_chain = || {
        a.sim_chain.clone().ok_or_else(|| {
            Error::Config(
                "without SEV-SNP the guests' reports come from a simulated AMD-SP: name its test chain with --sim-chain (insecure, for hosts without SEV-SNP)".into(),
            )
        })
    };
    let settings = || qemu::Settings {
        qemu: a.qemu.clone(),
        memory_mib: a.memory,
        boot_timeout: std::time::Duration::from_secs(a.boot_timeout),
        deadline: std::time::Duration::from_secs(a.deadline),
        workers: a.workers,
        threads: a.threads,
    };
    match a.launcher {
        LauncherKind::Qemu => {
            let accel = match a.accel {
                AccelArg::Auto => None,
                AccelArg::Kvm => Some(qemu::command::Accel::Kvm),
                AccelArg::Tcg => Some(qemu::command::Accel::Tcg),
            };
            let l = qemu::QemuLauncher::new(settings(), image, &sim_chain()?, accel)?;
            let (accel, why) = l.accel();
            eprintln!(
                "assay-host: qemu launcher: guests run with {} ({why})",
                accel.name().to_uppercase()
            );
            Ok(Arc::new(l))
        }
        LauncherKind::QemuSnp => Ok(Arc::new(qemu::SnpLauncher::new(settings(), image)?)),
        LauncherKind::Process => {
            let chain = a.sim_chain.clone().ok_or_else(|| {
                Error::Config(
                    "the process launcher has no SEV-SNP device: name the simulated AMD-SP's test chain with --sim-chain (insecure, for hosts without SEV-SNP)".into(),
                )
            })?;
            let enclave = match &a.enclave {
                Some(p) => p.clone(),
                None => std::env::current_exe()
                    .map_err(|e| Error::Config(format!("where is this program: {e}")))?
                    .with_file_name("assay-enclave"),
            };
            tracing::warn!(
                chain = %chain.display(),
                "process launcher: enclaves run as local processes beside a SIMULATED AMD-SP with TEST keys; their bundles verify only where that chain's root is named"
            );
            let mut l = ProcessLauncher::new(enclave, chain, image)?;
            l.workers = a.workers;
            l.threads = a.threads;
            Ok(Arc::new(l))
        }
    }
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ASSAY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Runtime::new()
        .map_err(|e| Error::Config(format!("cannot start a runtime: {e}")))
}

fn main_inner(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Serve(a) => {
            let rt = runtime()?;
            rt.block_on(async {
                let daemon = Daemon {
                    data_dir: a.data_dir.clone(),
                    inputs: a.inputs.clone(),
                    listen: a.listen.clone(),
                    transport: match (&a.tls_cert, &a.tls_key, a.insecure_http) {
                        (Some(cert), Some(key), _) => Transport::Tls {
                            cert: cert.clone(),
                            key: key.clone(),
                        },
                        (_, _, true) => Transport::InsecureHttp,
                        _ => Transport::SelfSigned,
                    },
                    concurrency: a.concurrency,
                    key_service: a.key_service.clone(),
                    launcher: launcher(&a.launch)?,
                    limits: Limits {
                        max_connections: a.max_connections,
                        ..Limits::default()
                    },
                };
                assay_host::serve(daemon, |s| {
                    println!("assay-host listening on {}", s.url);
                    println!("operator token: {}", s.token_file.display());
                    if let Some(cert) = &s.certificate {
                        println!(
                            "TLS certificate: {}{}",
                            cert.display(),
                            if s.certificate_new {
                                " (self-signed, made now: give it to clients to trust)"
                            } else {
                                ""
                            }
                        );
                    }
                })
                .await
            })
        }
        Command::Run(a) => {
            let rt = runtime()?;
            let temp;
            let work = match &a.work_dir {
                Some(d) => d.clone(),
                None => {
                    temp = tempdir()?;
                    temp.clone()
                }
            };
            let outcome = rt.block_on(assay_host::run_one(
                &a.job,
                &work,
                a.key_service.clone(),
                launcher(&a.launch)?,
                |j| {
                    eprintln!(
                        "assay-host: job {} {} ({}/{} trainings)",
                        j.id,
                        j.state.name(),
                        j.progress.done,
                        j.progress.total
                    );
                },
            ))?;
            let job = outcome.job;
            let Some((json, cbor)) = outcome.bundle else {
                let why = job
                    .error
                    .map(|e| format!("{}: {}", e.kind, e.message))
                    .unwrap_or_default();
                return Err(Error::Config(format!(
                    "job {} {}: {why}",
                    job.id,
                    job.state.name()
                )));
            };
            let write = |path: &PathBuf, bytes: &[u8]| {
                assay_keys::write_atomic(path, bytes, false).map_err(|e| Error::Io {
                    path: path.display().to_string(),
                    source: std::io::Error::other(e.to_string()),
                })
            };
            write(&a.out, json.as_bytes())?;
            if let Some(c) = &a.cbor {
                write(c, &cbor)?;
            }
            let mut wrote = String::new();
            if let Some(chain) = &outcome.chain {
                let path = a
                    .chain
                    .clone()
                    .unwrap_or_else(|| a.out.with_extension("alloy"));
                write(&path, chain)?;
                wrote.push_str(&format!("; alloy chain {}", path.display()));
            }
            if let Some(from) = &outcome.adapter {
                let to = a
                    .adapter
                    .clone()
                    .unwrap_or_else(|| a.out.with_extension("adapter"));
                copy_folder(from, &to)?;
                wrote.push_str(&format!("; adapter {}", to.display()));
            }
            println!(
                "job {} {}; bundle {}{wrote}{}",
                job.id,
                job.state.name(),
                a.out.display(),
                if job.verified {
                    "; it verifies"
                } else {
                    "; it does NOT verify (see the job's error)"
                }
            );
            if !job.verified {
                return Err(Error::Config(
                    job.error
                        .map(|e| e.message)
                        .unwrap_or_else(|| "the bundle did not verify".into()),
                ));
            }
            Ok(())
        }
        Command::Example { out, image } => {
            let w = assay_host::example::write_example(&out, &image)?;
            println!(
                "wrote {}: inputs/, job.json (job {}), key-service/ (service key {}, MEASUREMENT {})",
                out.display(),
                w.job_hash,
                w.service_key,
                hex::encode(w.measurement)
            );
            Ok(())
        }
    }
}

/// Copies the regular files of the folder `from` into the folder `to` (made if absent), each
/// file whole or not at all.
fn copy_folder(from: &std::path::Path, to: &std::path::Path) -> Result<(), Error> {
    let io = |path: &std::path::Path, source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(to).map_err(|e| io(to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| io(from, e))? {
        let entry = entry.map_err(|e| io(from, e))?;
        if entry
            .file_type()
            .map_err(|e| io(&entry.path(), e))?
            .is_file()
        {
            let bytes = std::fs::read(entry.path()).map_err(|e| io(&entry.path(), e))?;
            let dest = to.join(entry.file_name());
            assay_keys::write_atomic(&dest, &bytes, false)
                .map_err(|e| io(&dest, std::io::Error::other(e.to_string())))?;
        }
    }
    Ok(())
}

/// A new folder under the system's temporary folder.
fn tempdir() -> Result<PathBuf, Error> {
    let mut id = [0u8; 8];
    aws_lc_rs::rand::fill(&mut id).expect("the system RNG works");
    let dir = std::env::temp_dir().join(format!("assay-host-{}", hex::encode(id)));
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })?;
    Ok(dir)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    match main_inner(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
