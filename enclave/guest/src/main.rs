//! `assay-enclave`: runs one approved Forge job inside the guest and writes the attestation
//! bundle.
//!
//! The job is a job file (`--job`, see `docs/jobspec.md`): the JobSpec the Forge approved, and
//! under `[run]` where this host keeps the inputs and how it runs them. Flags that say where
//! and how (`--recipe`, `--evidence`, `--out`, `--workers`, …) override `[run]`; flags that
//! decide a result (`--forge-id`, `--nonce`, `--compute-bps`, `--provider`, …) must agree with
//! the JobSpec, which fixes them. Without `--job`, the flags describe the job, whose hashes are
//! computed from the files; a key service releases its key only if the Forge approved it.

use std::path::PathBuf;
use std::process::ExitCode;

use alloy_primitives::{Address, B256};
use assay_enclave::job::{
    Files, Launch, beside_bundle, describe, provider_and_key, read_inputs, run, write_bundle,
    write_chain_and_adapter,
};
use assay_enclave::journal::Folder;
use assay_forge::EvidenceKind;
use assay_forge::job::{
    AttributionRules, EvidenceSpec, ForgeRef, JobFile, JobSpec, KeyReleaseSpec, ProviderSpec,
    RunSpec,
};
use assay_recipe::threads::Threads;
use clap::{Parser, ValueEnum};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Evidence {
    /// The real SEV-SNP guest (configfs-tsm).
    Snp,
    /// A simulated AMD-SP outside the enclave, over the evidence channel (--sp-socket; test
    /// roots; development and CI only).
    Simulated,
    /// No TEE: signed by the coordinator key, `tee: false`.
    None,
}

/// Runs one approved Forge job inside the enclave and writes the attestation bundle.
#[derive(Parser, Debug)]
#[command(name = "assay-enclave", version)]
struct Args {
    /// The job file: the JobSpec the Forge approved and, under [run], this host's settings
    /// (TOML or JSON).
    #[arg(long)]
    job: Option<PathBuf>,
    /// Print the job's hash (what a host puts in HOST_DATA at launch) and exit.
    #[arg(long)]
    print_job_hash: bool,
    /// Evidence provider.
    #[arg(long, value_enum)]
    evidence: Option<Evidence>,
    /// The Forge id (32 bytes hex); with --job, must be the job's.
    #[arg(long)]
    forge_id: Option<B256>,
    /// The Forge's nonce for this evaluation (32 bytes hex); with --job, must be the job's.
    #[arg(long)]
    nonce: Option<B256>,
    /// EIP-712 domain: the chain id; with --job, must be the job's.
    #[arg(long)]
    chain_id: Option<u64>,
    /// EIP-712 domain: the Forge contract; with --job, must be the job's.
    #[arg(long)]
    forge_contract: Option<Address>,
    /// The pinned recipe (TOML).
    #[arg(long)]
    recipe: Option<PathBuf>,
    /// The model directory the recipe pins.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Contributions (JSON Lines).
    #[arg(long)]
    contributions: Option<PathBuf>,
    /// The encrypted holdout (`assay keys encrypt`).
    #[arg(long)]
    holdout: Option<PathBuf>,
    /// Key service URL (snp, simulated).
    #[arg(long)]
    key_service: Option<String>,
    /// The key service's public key (`assay keys new-service-key`), which authenticates its
    /// answer; with --job, must be the job's.
    #[arg(long)]
    key_service_key: Option<B256>,
    /// Resource name of the holdout key at the key service [default: holdout]; with --job,
    /// must be the job's.
    #[arg(long)]
    resource: Option<String>,
    /// The holdout's data key file (none only).
    #[arg(long)]
    holdout_key: Option<PathBuf>,
    /// The coordinator's secp256k1 key file (none only).
    #[arg(long)]
    coordinator_key: Option<PathBuf>,
    /// The evidence channel's Unix socket, where a simulated AMD-SP (`assay sim-sp`) answers
    /// (simulated).
    #[arg(long)]
    sp_socket: Option<PathBuf>,
    /// No longer accepted: the simulated AMD-SP runs outside the enclave (`assay sim-sp`), and
    /// the measurement it reports is computed from the launched files.
    #[arg(long, hide = true)]
    measurement: Option<String>,
    /// No longer accepted (see --measurement).
    #[arg(long, hide = true)]
    reference: Option<PathBuf>,
    /// configfs-tsm report directory (snp) [default: /sys/kernel/config/tsm/report].
    #[arg(long)]
    configfs: Option<PathBuf>,
    /// Certificates (VCEK, ASK, ARK files, as `assay kds fetch` writes them) to include when the
    /// host supplies no certificate table (snp).
    #[arg(long)]
    certs: Option<PathBuf>,
    /// Trainings in parallel [default: 1].
    #[arg(long)]
    workers: Option<usize>,
    /// Threads for each training (its shards and eval batches); default: the CPUs shared
    /// evenly between the workers. Results do not depend on it.
    #[arg(long)]
    threads: Option<Threads>,
    /// Above this many contributions, the stratified approximation [default: 200]; with --job,
    /// must be the job's.
    #[arg(long)]
    threshold: Option<u32>,
    /// Journal folder for resumption (its entries are sealed).
    #[arg(long)]
    journal: Option<PathBuf>,
    /// Basis points for compute providers [default: 0]; with --job, must be the job's.
    #[arg(long)]
    compute_bps: Option<u16>,
    /// A compute provider, `ADDRESS:UNITS`; repeatable; with --job, must be the job's list.
    #[arg(long, value_parser = parse_provider)]
    provider: Vec<ProviderSpec>,
    /// Where to write the bundle (JSON).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write the bundle as CBOR here.
    #[arg(long)]
    cbor: Option<PathBuf>,
    /// Where to write the job's alloy chain (a chain file) [default: beside the bundle, with
    /// the extension .alloy].
    #[arg(long)]
    chain: Option<PathBuf>,
    /// The folder to write the adapter trained on every contribution into (PEFT layout)
    /// [default: beside the bundle, with the extension .adapter].
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// Write events for a host to stdout instead of the summary line: `json`, one object a
    /// line (`progress` with done, total and the finished training's loss; `journal`;
    /// `finished`; `failed` with the error's kind and message).
    #[arg(long, value_enum)]
    events: Option<Events>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Events {
    /// JSON Lines.
    Json,
}

/// An event for the host (`--events json`).
fn event(a: &Args, value: serde_json::Value) {
    if a.events == Some(Events::Json) {
        println!("{value}");
    }
}

/// Why `main_inner` stopped: the error's kind (`usage` for the command line's) and message.
type Failure = (&'static str, String);

fn usage(message: String) -> Failure {
    ("usage", message)
}

fn failure(e: assay_enclave::Error) -> Failure {
    (e.kind(), e.to_string())
}

fn parse_provider(s: &str) -> Result<ProviderSpec, String> {
    let (a, u) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?} is not ADDRESS:UNITS"))?;
    Ok(ProviderSpec {
        address: a.parse().map_err(|_| format!("{a:?} is not an address"))?,
        units: u.parse().map_err(|e| format!("{s:?}: units: {e}"))?,
    })
}

fn required<T>(value: Option<T>, flag: &str, key: &str) -> Result<T, String> {
    value.ok_or_else(|| format!("{flag} is required (or {key} in the job file)"))
}

/// The evidence section: `[run]`'s, with the flags over it.
fn evidence(a: &Args, from_file: Option<EvidenceSpec>) -> Result<Option<EvidenceSpec>, String> {
    let kind = match (a.evidence, &from_file) {
        (Some(k), _) => k,
        (None, Some(EvidenceSpec::Snp { .. })) => Evidence::Snp,
        (None, Some(EvidenceSpec::Simulated { .. })) => Evidence::Simulated,
        (None, Some(EvidenceSpec::None { .. })) => Evidence::None,
        (None, None) => return Ok(None),
    };
    Ok(Some(match (kind, from_file) {
        (Evidence::Snp, file) => {
            let (configfs, certs) = match file {
                Some(EvidenceSpec::Snp { configfs, certs }) => (configfs, certs),
                _ => (None, None),
            };
            EvidenceSpec::Snp {
                configfs: a.configfs.as_deref().map(from_cwd).or(configfs),
                certs: a.certs.as_deref().map(from_cwd).or(certs),
            }
        }
        (Evidence::Simulated, file) => {
            if a.measurement.is_some() || a.reference.is_some() {
                return Err("--measurement and --reference are no longer taken: the simulated AMD-SP runs outside the enclave (`assay sim-sp`, with the launched files), and the enclave reaches it with --sp-socket".into());
            }
            let socket = match file {
                Some(EvidenceSpec::Simulated { socket }) => Some(socket),
                _ => None,
            };
            EvidenceSpec::Simulated {
                socket: a.sp_socket.as_deref().map(from_cwd).or(socket).ok_or(
                    "--evidence simulated needs --sp-socket, the socket of the simulated AMD-SP (`assay sim-sp`)",
                )?,
            }
        }
        (Evidence::None, file) => {
            let (key, coordinator) = match file {
                Some(EvidenceSpec::None {
                    holdout_key,
                    coordinator_key,
                }) => (Some(holdout_key), Some(coordinator_key)),
                _ => (None, None),
            };
            match (
                a.holdout_key.as_deref().map(from_cwd).or(key),
                a.coordinator_key.as_deref().map(from_cwd).or(coordinator),
            ) {
                (Some(holdout_key), Some(coordinator_key)) if a.key_service.is_none() => {
                    EvidenceSpec::None {
                        holdout_key,
                        coordinator_key,
                    }
                }
                _ => {
                    return Err("--evidence none needs --holdout-key and --coordinator-key, and no --key-service".into());
                }
            }
        }
    }))
}

/// A path given on the command line, relative to the working directory: made absolute.
fn from_cwd(p: &std::path::Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

/// `[run]` with the flags over it.
fn run_spec(a: &Args, file: RunSpec) -> Result<RunSpec, String> {
    let path =
        |flag: &Option<PathBuf>, file: Option<PathBuf>| flag.as_deref().map(from_cwd).or(file);
    let evidence = evidence(a, file.evidence)?;
    let tee = evidence
        .as_ref()
        .is_some_and(|e| !matches!(e, EvidenceSpec::None { .. }));
    if tee && (a.holdout_key.is_some() || a.coordinator_key.is_some()) {
        return Err("with a TEE (snp, simulated) the holdout key is released by a key service after attestation: no --holdout-key or --coordinator-key".into());
    }
    Ok(RunSpec {
        recipe: path(&a.recipe, file.recipe),
        model: path(&a.model, file.model),
        contributions: path(&a.contributions, file.contributions),
        holdout: path(&a.holdout, file.holdout),
        key_service: a.key_service.clone().or(file.key_service),
        evidence,
        workers: a.workers.or(file.workers),
        threads: a.threads.map(Threads::get).or(file.threads),
        journal: path(&a.journal, file.journal),
        bundle: path(&a.out, file.bundle),
        cbor: path(&a.cbor, file.cbor),
        chain: path(&a.chain, file.chain),
        adapter: path(&a.adapter, file.adapter),
    })
}

/// Where the inputs are.
fn files(run: &RunSpec) -> Result<Files, String> {
    Ok(Files {
        recipe: required(run.recipe.clone(), "--recipe", "[run] recipe")?,
        model: required(run.model.clone(), "--model", "[run] model")?,
        contributions: required(
            run.contributions.clone(),
            "--contributions",
            "[run] contributions",
        )?,
        holdout: required(run.holdout.clone(), "--holdout", "[run] holdout")?,
    })
}

/// Refuses a flag that decides a result and differs from the job's value.
fn agrees<T: PartialEq + std::fmt::Debug>(
    flag: &str,
    given: Option<T>,
    field: &str,
    job: T,
) -> Result<(), String> {
    match given {
        Some(g) if g != job => Err(format!(
            "{flag} {g:?} differs from the job's {field} {job:?}: the approved job fixes what decides a result, and the command line cannot change it"
        )),
        _ => Ok(()),
    }
}

/// Every flag that decides a result agrees with `job`.
fn check_flags(a: &Args, job: &JobSpec) -> Result<(), String> {
    let f = &job.forge;
    agrees("--forge-id", a.forge_id, "forge.id", f.id)?;
    agrees("--nonce", a.nonce, "forge.nonce", f.nonce)?;
    agrees("--chain-id", a.chain_id, "forge.chain_id", f.chain_id)?;
    agrees(
        "--forge-contract",
        a.forge_contract,
        "forge.contract",
        f.contract,
    )?;
    let r = &job.attribution;
    agrees(
        "--threshold",
        a.threshold,
        "attribution.threshold",
        r.threshold,
    )?;
    agrees(
        "--compute-bps",
        a.compute_bps,
        "attribution.compute_bps",
        r.compute_bps,
    )?;
    agrees(
        "--provider",
        (!a.provider.is_empty()).then(|| a.provider.clone()),
        "attribution.providers",
        r.providers.clone(),
    )?;
    let release = job.key_release.as_ref();
    agrees(
        "--key-service-key",
        a.key_service_key,
        "key_release.service_key",
        release.map_or(B256::ZERO, |k| k.service_key),
    )?;
    agrees(
        "--resource",
        a.resource.as_deref(),
        "key_release.resource",
        release.map_or("", |k| k.resource.as_str()),
    )
}

/// The job the flags describe (no --job): its hashes computed from the files.
fn job_from_flags(a: &Args, run: &RunSpec) -> Result<JobSpec, String> {
    let no_file = |flag: &str| format!("{flag} is required (or give the job file with --job)");
    let forge = ForgeRef {
        id: a.forge_id.ok_or_else(|| no_file("--forge-id"))?,
        chain_id: a.chain_id.ok_or_else(|| no_file("--chain-id"))?,
        contract: a
            .forge_contract
            .ok_or_else(|| no_file("--forge-contract"))?,
        nonce: a.nonce.ok_or_else(|| no_file("--nonce"))?,
    };
    let tee = run
        .evidence
        .as_ref()
        .is_some_and(|e| !matches!(e, EvidenceSpec::None { .. }));
    let key_release = if tee {
        Some(KeyReleaseSpec {
            service_key: a.key_service_key.ok_or_else(|| {
                "with a TEE, --key-service-key is required: the key service's public key, which authenticates its answer (or give the job file with --job)".to_owned()
            })?,
            resource: a.resource.clone().unwrap_or_else(|| "holdout".into()),
        })
    } else {
        None
    };
    let defaults = AttributionRules::default();
    let rules = AttributionRules {
        threshold: a.threshold.unwrap_or(defaults.threshold),
        compute_bps: a.compute_bps.unwrap_or(defaults.compute_bps),
        providers: a.provider.clone(),
    };
    describe(forge, &files(run)?, key_release, rules).map_err(|e| e.to_string())
}

/// The job and how this host runs it.
fn job_and_run(a: &Args) -> Result<(JobSpec, RunSpec), String> {
    match a.job.as_deref() {
        Some(path) => {
            let file = JobFile::load_resolved(path).map_err(|e| e.to_string())?;
            check_flags(a, &file.job)?;
            Ok((file.job, run_spec(a, file.run)?))
        }
        None => {
            let run = run_spec(a, RunSpec::default())?;
            Ok((job_from_flags(a, &run)?, run))
        }
    }
}

fn main_inner(a: &Args) -> Result<(), Failure> {
    let (job, run_settings) = job_and_run(a).map_err(usage)?;
    let hash = job.hash();
    if a.print_job_hash {
        println!("{hash}");
        return Ok(());
    }
    let files = files(&run_settings).map_err(usage)?;
    let evidence = required(
        run_settings.evidence.clone(),
        "--evidence",
        "[run.evidence]",
    )
    .map_err(usage)?;
    let bundle_path =
        required(run_settings.bundle.clone(), "--out", "[run] bundle").map_err(usage)?;
    let workers = run_settings.workers.unwrap_or(1);
    if workers == 0 || run_settings.threads == Some(0) {
        return Err(usage("workers and threads must be at least 1".into()));
    }
    let launch = Launch {
        workers,
        threads: run_settings
            .threads
            .and_then(Threads::new)
            .unwrap_or_else(|| Threads::per_worker(workers)),
        journal: match &run_settings.journal {
            Some(dir) => Some(std::sync::Arc::new(Folder::open(dir).map_err(failure)?)),
            None => None,
        },
    };
    let (provider, key) =
        provider_and_key(&evidence, run_settings.key_service.as_deref()).map_err(failure)?;
    if matches!(evidence, EvidenceSpec::None { .. }) {
        eprintln!(
            "assay-enclave: WARNING: evidence none — NO TEE; the result is signed by the coordinator key with tee: false"
        );
    }
    let inputs = read_inputs(&job, &files).map_err(failure)?;
    let finished = run(
        &job,
        inputs,
        &launch,
        provider.as_ref(),
        key,
        &|u| {
            eprintln!("assay-enclave: {}/{} trainings", u.done, u.total);
            event(
                a,
                serde_json::json!({"event": "progress", "done": u.done, "total": u.total, "loss": u.loss}),
            );
        },
    )
    .map_err(failure)?;
    let (bundle, journal) = (&finished.bundle, finished.journal);
    if launch.journal.is_some() {
        eprintln!(
            "assay-enclave: journal: {} trainings resumed, {} entries refused (another job's, or changed) and computed again",
            journal.resumed, journal.refused
        );
        event(
            a,
            serde_json::json!({"event": "journal", "resumed": journal.resumed, "refused": journal.refused}),
        );
    }
    let (chain_beside, adapter_beside) = beside_bundle(&bundle_path);
    let chain_path = run_settings.chain.clone().unwrap_or(chain_beside);
    let adapter_dir = run_settings.adapter.clone().unwrap_or(adapter_beside);
    write_bundle(bundle, &bundle_path, run_settings.cbor.as_deref()).map_err(failure)?;
    write_chain_and_adapter(
        &finished.chain,
        &chain_path,
        &finished.adapter,
        &adapter_dir,
    )
    .map_err(failure)?;
    let head = finished
        .chain
        .last()
        .map(|l| l.id().to_string())
        .unwrap_or_default();
    debug_assert_eq!(bundle.result.tee, bundle.evidence != EvidenceKind::None);
    if a.events.is_some() {
        event(
            a,
            serde_json::json!({"event": "finished", "bundle": bundle_path, "job": hash, "evidence": bundle.evidence, "signer": bundle.signer, "chain": chain_path, "head": head, "adapter": adapter_dir}),
        );
    } else {
        println!(
            "evidence: {}; tee: {}; signer {}; {} contributions ({:?}); bundle {}; job {}; alloy chain {} (head {head}); adapter {}",
            bundle.evidence.name(),
            bundle.result.tee,
            bundle.signer,
            bundle.result.scores.len(),
            bundle.result.method,
            bundle_path.display(),
            hash,
            chain_path.display(),
            adapter_dir.display()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    // A panic's message could quote what the enclave was working on, the holdout included:
    // only its place in the code is said.
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map_or("an unknown place".to_owned(), |l| {
            format!("{}:{}", l.file(), l.line())
        });
        eprintln!(
            "assay-enclave: internal error at {at} (its message is withheld: it could quote the holdout)"
        );
    }));
    if std::process::id() == 1 {
        // The VM image's /init: no command line, the job comes over the channel. /proc first,
        // which replacing this process (below) needs.
        if let Err(e) = assay_enclave::vm::init::mount_all() {
            eprintln!("assay-enclave: {e}");
            assay_enclave::vm::init::power_off();
        }
        if let Err(e) = candle_single_threaded() {
            eprintln!("assay-enclave: {e}");
            assay_enclave::vm::init::power_off();
        }
        assay_enclave::vm::boot();
    }
    let args = Args::parse();
    // candle's own threads off, Assay's shard threads on (see `assay_recipe::threads`).
    // Returns only if the variable is set or exec failed.
    if let Err(e) = candle_single_threaded() {
        eprintln!("assay-enclave: {e}");
        return ExitCode::FAILURE;
    }
    match main_inner(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err((kind, message)) => {
            eprintln!("assay-enclave: {message}");
            event(
                &args,
                serde_json::json!({"event": "failed", "kind": kind, "message": message}),
            );
            ExitCode::FAILURE
        }
    }
}

/// Replaces this process with itself running candle single-threaded (see
/// `assay_recipe::threads::candle_single_threaded_command`); returns only when that is not
/// needed, or with the error if it failed.
fn candle_single_threaded() -> Result<(), assay_recipe::Error> {
    use std::os::unix::process::CommandExt;
    match assay_recipe::threads::candle_single_threaded_command()? {
        Some(mut cmd) => Err(assay_recipe::Error::Exec(cmd.exec())),
        None => Ok(()),
    }
}
