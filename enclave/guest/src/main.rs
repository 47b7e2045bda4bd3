//! `assay-enclave`: runs one Forge evaluation inside the guest and writes the attestation bundle.

use std::path::PathBuf;
use std::process::ExitCode;

use alloy_primitives::{Address, B256};
use assay_attestation::bundle::EvidenceKind;
use assay_attestation::bundle::eip712::Domain;
use assay_enclave::evaluate::{Settings, load_contributions};
use assay_enclave::evidence::EvidenceProvider;
use assay_enclave::evidence::none::NoTee;
use assay_enclave::evidence::simulated::SimulatedSp;
use assay_enclave::evidence::snp::{CONFIGFS_TSM, ConfigfsTsm};
use assay_enclave::identity::Signer;
use assay_enclave::job::{HoldoutKey, Job, run};
use assay_recipe::threads::Threads;
use clap::{Parser, ValueEnum};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Evidence {
    /// The real SEV-SNP guest (configfs-tsm).
    Snp,
    /// The simulated AMD-SP (test roots; development and CI only).
    Simulated,
    /// No TEE: signed by the coordinator key, `tee: false`.
    None,
}

/// Runs one Forge evaluation inside the enclave and writes the attestation bundle.
#[derive(Parser, Debug)]
#[command(name = "assay-enclave", version)]
struct Args {
    /// Evidence provider.
    #[arg(long, value_enum)]
    evidence: Evidence,
    /// The Forge id (32 bytes hex).
    #[arg(long)]
    forge_id: B256,
    /// The Forge's nonce for this evaluation (32 bytes hex).
    #[arg(long)]
    nonce: B256,
    /// EIP-712 domain: the chain id.
    #[arg(long)]
    chain_id: u64,
    /// EIP-712 domain: the Forge contract.
    #[arg(long)]
    forge_contract: Address,
    /// The pinned recipe (TOML).
    #[arg(long)]
    recipe: PathBuf,
    /// The model directory the recipe pins.
    #[arg(long)]
    model: PathBuf,
    /// Contributions (JSON Lines).
    #[arg(long)]
    contributions: PathBuf,
    /// The encrypted holdout (`assay keys encrypt`).
    #[arg(long)]
    holdout: PathBuf,
    /// Key service URL (snp, simulated).
    #[arg(long)]
    key_service: Option<String>,
    /// Resource name of the holdout key at the key service.
    #[arg(long, default_value = "holdout")]
    resource: String,
    /// The holdout's data key file (none only).
    #[arg(long)]
    holdout_key: Option<PathBuf>,
    /// The coordinator's secp256k1 key file (none only).
    #[arg(long)]
    coordinator_key: Option<PathBuf>,
    /// Launch measurement the simulated AMD-SP reports (48 bytes hex).
    #[arg(long, conflicts_with = "reference")]
    measurement: Option<String>,
    /// Reference values (`assay measure --reference`) whose measurement the simulated AMD-SP reports.
    #[arg(long)]
    reference: Option<PathBuf>,
    /// configfs-tsm report directory (snp).
    #[arg(long, default_value = CONFIGFS_TSM)]
    configfs: PathBuf,
    /// Certificates (VCEK, ASK, ARK files, as `assay kds fetch` writes them) to include when the
    /// host supplies no certificate table (snp).
    #[arg(long)]
    certs: Option<PathBuf>,
    /// Trainings in parallel.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Threads for each training (its shards and eval batches); default: the CPUs shared
    /// evenly between the workers. Results do not depend on it.
    #[arg(long)]
    threads: Option<Threads>,
    /// Above this many contributions, the stratified approximation.
    #[arg(long, default_value_t = 200)]
    threshold: usize,
    /// Journal folder for resumption.
    #[arg(long)]
    journal: Option<PathBuf>,
    /// Basis points for compute providers.
    #[arg(long, default_value_t = 0)]
    compute_bps: u16,
    /// A compute provider, `ADDRESS:UNITS`; repeatable.
    #[arg(long, value_parser = parse_provider)]
    provider: Vec<(Address, u64)>,
    /// Where to write the bundle (JSON).
    #[arg(long)]
    out: PathBuf,
    /// Also write the bundle as CBOR here.
    #[arg(long)]
    cbor: Option<PathBuf>,
}

fn parse_provider(s: &str) -> Result<(Address, u64), String> {
    let (a, u) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?} is not ADDRESS:UNITS"))?;
    Ok((
        a.parse().map_err(|_| format!("{a:?} is not an address"))?,
        u.parse().map_err(|e| format!("{s:?}: units: {e}"))?,
    ))
}

fn simulated_measurement(a: &Args) -> Result<[u8; 48], String> {
    let text = match (&a.measurement, &a.reference) {
        (Some(m), _) => m.clone(),
        (None, Some(path)) => {
            assay_measurements::reference::ReferenceValues::load(path)
                .map_err(|e| e.to_string())?
                .measurement
        }
        (None, None) => {
            return Err("--evidence simulated needs --measurement or --reference".into());
        }
    };
    let mut m = [0u8; 48];
    hex::decode_to_slice(text.trim(), &mut m)
        .map_err(|_| format!("measurement {text:?} is not 48 bytes of hex"))?;
    Ok(m)
}

fn main_inner(a: Args) -> Result<(), String> {
    let provider: Box<dyn EvidenceProvider> = match a.evidence {
        Evidence::Snp => Box::new(ConfigfsTsm {
            root: a.configfs.clone(),
            fallback_certificates: match &a.certs {
                None => Vec::new(),
                Some(dir) => assay_attestation::kds::load_certificate_dir(dir)
                    .map_err(|e| e.to_string())?
                    .iter()
                    .map(|c| c.der().to_vec())
                    .collect(),
            },
        }),
        Evidence::Simulated => Box::new(SimulatedSp::new(simulated_measurement(&a)?)),
        Evidence::None => Box::new(NoTee),
    };
    let key = match (
        a.evidence,
        &a.key_service,
        &a.holdout_key,
        &a.coordinator_key,
    ) {
        (Evidence::None, None, Some(k), Some(c)) => HoldoutKey::Local {
            key: assay_keys::DataKey::load(k).map_err(|e| e.to_string())?,
            coordinator: Signer::load(c).map_err(|e| e.to_string())?,
        },
        (Evidence::None, ..) => {
            return Err(
                "--evidence none needs --holdout-key and --coordinator-key, and no --key-service"
                    .into(),
            );
        }
        (_, Some(url), None, None) => HoldoutKey::Release {
            url: url.clone(),
            resource: a.resource.clone(),
        },
        _ => {
            return Err(format!(
                "--evidence {} needs --key-service (the holdout key is released after attestation) and neither --holdout-key nor --coordinator-key",
                provider.kind().name()
            ));
        }
    };
    let encrypted =
        std::fs::read(&a.holdout).map_err(|e| format!("{}: {e}", a.holdout.display()))?;
    let job = Job {
        forge_id: a.forge_id,
        nonce: a.nonce,
        domain: Domain::assay(a.chain_id, a.forge_contract),
        settings: Settings {
            recipe: assay_recipe::recipe::Recipe::load(&a.recipe).map_err(|e| e.to_string())?,
            model: a.model.clone(),
            workers: a.workers,
            threads: a.threads.unwrap_or_else(|| Threads::per_worker(a.workers)),
            threshold: a.threshold,
            journal: a.journal.clone(),
            compute_bps: a.compute_bps,
            providers: a.provider.clone(),
        },
        contributions: load_contributions(&a.contributions).map_err(|e| e.to_string())?,
        encrypted_holdout: encrypted,
    };
    if provider.kind() == EvidenceKind::None {
        eprintln!(
            "assay-enclave: WARNING: evidence none — NO TEE; the result is signed by the coordinator key with tee: false"
        );
    }
    let bundle = run(&job, provider.as_ref(), key, &|done, total| {
        eprintln!("assay-enclave: {done}/{total} trainings");
    })
    .map_err(|e| e.to_string())?;
    assay_keys::write_atomic(&a.out, bundle.to_json().as_bytes(), false)
        .map_err(|e| e.to_string())?;
    if let Some(path) = &a.cbor {
        assay_keys::write_atomic(path, &bundle.to_cbor(), false).map_err(|e| e.to_string())?;
    }
    println!(
        "evidence: {}; tee: {}; signer {}; {} contributions ({:?}); bundle {}",
        bundle.evidence.name(),
        bundle.result.tee,
        bundle.signer,
        bundle.result.scores.len(),
        bundle.result.method,
        a.out.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    // candle's own threads off, Assay's shard threads on (see `assay_recipe::threads`).
    // Returns only if the variable is set or exec failed.
    if let Err(e) = assay_recipe::threads::exec_with_candle_single_threaded() {
        eprintln!("assay-enclave: {e}");
        return ExitCode::FAILURE;
    }
    match main_inner(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("assay-enclave: {e}");
            ExitCode::FAILURE
        }
    }
}
