//! `assay-enclave`: runs one Forge evaluation inside the guest and writes the attestation bundle.
//!
//! The job is a JobSpec file (`--job`, see `docs/jobspec.md`); the older flags remain, as
//! overrides of the file's fields or, without `--job`, as the whole job.

use std::path::PathBuf;
use std::process::ExitCode;

use alloy_primitives::{Address, B256};
use assay_enclave::job::execute;
use assay_forge::EvidenceKind;
use assay_forge::job::{
    AttributionSpec, EvidenceSpec, ForgeRef, Input, JOB_FORMAT, JobSpec, KeyRelease, ModelRef,
    OutputSpec, ProviderSpec,
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

/// Runs one Forge evaluation inside the enclave and writes the attestation bundle.
#[derive(Parser, Debug)]
#[command(name = "assay-enclave", version)]
struct Args {
    /// The job (a JobSpec, TOML or JSON). Flags given as well override its fields.
    #[arg(long)]
    job: Option<PathBuf>,
    /// Print the job's hash (what a host puts in HOST_DATA at launch) and exit.
    #[arg(long)]
    print_job_hash: bool,
    /// Evidence provider.
    #[arg(long, value_enum)]
    evidence: Option<Evidence>,
    /// The Forge id (32 bytes hex).
    #[arg(long)]
    forge_id: Option<B256>,
    /// The Forge's nonce for this evaluation (32 bytes hex).
    #[arg(long)]
    nonce: Option<B256>,
    /// EIP-712 domain: the chain id.
    #[arg(long)]
    chain_id: Option<u64>,
    /// EIP-712 domain: the Forge contract.
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
    /// Resource name of the holdout key at the key service [default: holdout].
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
    /// Above this many contributions, the stratified approximation [default: 200].
    #[arg(long)]
    threshold: Option<usize>,
    /// Journal folder for resumption.
    #[arg(long)]
    journal: Option<PathBuf>,
    /// Basis points for compute providers [default: 0].
    #[arg(long)]
    compute_bps: Option<u16>,
    /// A compute provider, `ADDRESS:UNITS`; repeatable (replaces the JobSpec's list).
    #[arg(long, value_parser = parse_provider)]
    provider: Vec<ProviderSpec>,
    /// Where to write the bundle (JSON).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write the bundle as CBOR here.
    #[arg(long)]
    cbor: Option<PathBuf>,
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

fn required<T>(value: Option<T>, flag: &str) -> Result<T, String> {
    value.ok_or_else(|| format!("{flag} is required (or give a JobSpec with --job)"))
}

/// The evidence section: the JobSpec's, with the flags over it.
fn evidence(a: &Args, from_file: Option<EvidenceSpec>) -> Result<EvidenceSpec, String> {
    let kind = match (a.evidence, &from_file) {
        (Some(k), _) => k,
        (None, Some(EvidenceSpec::Snp { .. })) => Evidence::Snp,
        (None, Some(EvidenceSpec::Simulated { .. })) => Evidence::Simulated,
        (None, Some(EvidenceSpec::None { .. })) => Evidence::None,
        (None, None) => {
            return Err("--evidence is required (or give a JobSpec with --job)".into());
        }
    };
    Ok(match (kind, from_file) {
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
    })
}

/// A path given on the command line, relative to the working directory: made absolute, so
/// that resolving the JobSpec's paths against its folder leaves it alone.
fn from_cwd(p: &std::path::Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

/// The JobSpec: `--job`'s as written, with every flag given over it, or the flags alone.
fn job_spec(a: &Args) -> Result<JobSpec, String> {
    let file = a
        .job
        .as_deref()
        .map(JobSpec::load)
        .transpose()
        .map_err(|e| e.to_string())?;
    let (forge, recipe, model, contributions, holdout, key_release, ev, attribution, output) =
        match file {
            Some(f) => (
                Some(f.forge),
                Some(f.recipe),
                Some(f.model),
                Some(f.contributions),
                Some(f.holdout),
                f.key_release,
                Some(f.evidence),
                f.attribution,
                Some(f.output),
            ),
            None => (
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                AttributionSpec::default(),
                None,
            ),
        };
    let evidence = evidence(a, ev)?;
    let tee = !matches!(evidence, EvidenceSpec::None { .. });
    let needs_key_service = || {
        format!(
            "--evidence {} needs --key-service (the holdout key is released after attestation) and neither --holdout-key nor --coordinator-key",
            if matches!(evidence, EvidenceSpec::Snp { .. }) {
                "snp"
            } else {
                "simulated"
            }
        )
    };
    if tee && (a.holdout_key.is_some() || a.coordinator_key.is_some()) {
        return Err(needs_key_service());
    }
    let key_release = if tee {
        let url = a
            .key_service
            .clone()
            .or(key_release.as_ref().map(|k| k.url.clone()))
            .ok_or_else(needs_key_service)?;
        Some(KeyRelease {
            url,
            resource: a
                .resource
                .clone()
                .or(key_release.map(|k| k.resource))
                .unwrap_or_else(|| "holdout".into()),
        })
    } else {
        None
    };
    let forge = ForgeRef {
        id: required(a.forge_id.or(forge.as_ref().map(|f| f.id)), "--forge-id")?,
        chain_id: required(
            a.chain_id.or(forge.as_ref().map(|f| f.chain_id)),
            "--chain-id",
        )?,
        contract: required(
            a.forge_contract.or(forge.as_ref().map(|f| f.contract)),
            "--forge-contract",
        )?,
        nonce: required(a.nonce.or(forge.as_ref().map(|f| f.nonce)), "--nonce")?,
    };
    let input = |flag: &Option<PathBuf>, file: Option<Input>, name: &str| match (flag, file) {
        (Some(p), _) => Ok(Input::path(from_cwd(p))),
        (None, Some(i)) => Ok(i),
        (None, None) => required(None, name),
    };
    let spec = JobSpec {
        format: JOB_FORMAT.into(),
        forge,
        recipe: input(&a.recipe, recipe, "--recipe")?,
        model: match (&a.model, model) {
            (Some(p), _) => ModelRef { path: from_cwd(p) },
            (None, Some(m)) => m,
            (None, None) => required(None, "--model")?,
        },
        contributions: input(&a.contributions, contributions, "--contributions")?,
        holdout: input(&a.holdout, holdout, "--holdout")?,
        key_release,
        evidence,
        attribution: AttributionSpec {
            threshold: a.threshold.unwrap_or(attribution.threshold),
            compute_bps: a.compute_bps.unwrap_or(attribution.compute_bps),
            providers: if a.provider.is_empty() {
                attribution.providers
            } else {
                a.provider.clone()
            },
            workers: a.workers.unwrap_or(attribution.workers),
            threads: a.threads.map(Threads::get).or(attribution.threads),
            journal: a.journal.as_deref().map(from_cwd).or(attribution.journal),
        },
        output: OutputSpec {
            bundle: required(
                a.out
                    .as_deref()
                    .map(from_cwd)
                    .or(output.as_ref().map(|o| o.bundle.clone())),
                "--out",
            )?,
            cbor: a
                .cbor
                .as_deref()
                .map(from_cwd)
                .or(output.and_then(|o| o.cbor)),
        },
    };
    // The rules of a JobSpec file hold for one built from flags too.
    spec.check("the command line").map_err(|e| e.to_string())?;
    Ok(spec)
}

fn main_inner(a: &Args) -> Result<(), String> {
    let written = job_spec(a)?;
    let hash = written.hash();
    if a.print_job_hash {
        println!("{hash}");
        return Ok(());
    }
    let spec = match a.job.as_deref().and_then(std::path::Path::parent) {
        Some(dir) => written.resolved(dir),
        None => written,
    };
    if matches!(spec.evidence, EvidenceSpec::None { .. }) {
        eprintln!(
            "assay-enclave: WARNING: evidence none — NO TEE; the result is signed by the coordinator key with tee: false"
        );
    }
    let bundle = execute(&spec, &|done, total| {
        eprintln!("assay-enclave: {done}/{total} trainings");
    })
    .map_err(|e| e.to_string())?;
    debug_assert_eq!(bundle.result.tee, bundle.evidence != EvidenceKind::None);
    println!(
        "evidence: {}; tee: {}; signer {}; {} contributions ({:?}); bundle {}; job {}",
        bundle.evidence.name(),
        bundle.result.tee,
        bundle.signer,
        bundle.result.scores.len(),
        bundle.result.method,
        spec.output.bundle.display(),
        hash
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    // candle's own threads off, Assay's shard threads on (see `assay_recipe::threads`).
    // Returns only if the variable is set or exec failed.
    if let Err(e) = candle_single_threaded() {
        eprintln!("assay-enclave: {e}");
        return ExitCode::FAILURE;
    }
    match main_inner(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("assay-enclave: {e}");
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
