//! `assay job`: the job a Forge approves — written from its files, and its hash.

use crate::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use alloy_primitives::{Address, B256};
use assay_enclave::job::{Files, describe};
use assay_forge::job::{
    AttributionRules, ForgeRef, JobFile, KeyReleaseSpec, ProviderSpec, RunSpec,
};
use clap::{Args, Subcommand};

/// `assay job …`.
#[derive(Subcommand)]
pub enum JobCommand {
    /// Write the JobSpec of a Forge evaluation from its files (every hash computed from them),
    /// with a [run] table naming where the files are: what a Forge approves and a key service
    /// is told to serve (`assay keys serve --approve`).
    New(Box<NewArgs>),
    /// Print a job file's hash (what HOST_DATA, key release and the signed result bind).
    Hash {
        /// The job file (TOML or JSON).
        job: PathBuf,
    },
}

/// Arguments of `assay job new`.
#[derive(Args)]
pub struct NewArgs {
    /// The pinned recipe (TOML).
    #[arg(long)]
    recipe: PathBuf,
    /// The model directory the recipe pins.
    #[arg(long)]
    model: PathBuf,
    /// Contributions (JSON Lines, each with a contributor address).
    #[arg(long)]
    contributions: PathBuf,
    /// The encrypted holdout (`assay keys encrypt`).
    #[arg(long)]
    holdout: PathBuf,
    /// The Forge id (32 bytes hex).
    #[arg(long)]
    forge_id: B256,
    /// EIP-712 domain: the chain id.
    #[arg(long)]
    chain_id: u64,
    /// EIP-712 domain: the Forge contract.
    #[arg(long)]
    contract: Address,
    /// The Forge's nonce for this evaluation (32 bytes hex).
    #[arg(long)]
    nonce: B256,
    /// The key service's public key (`assay keys new-service-key` prints it): the enclave
    /// accepts the holdout key from that service only.
    #[arg(long, required_unless_present = "no_tee")]
    key_service_key: Option<B256>,
    /// The holdout key's resource name at the key service.
    #[arg(long, default_value = "holdout")]
    resource: String,
    /// A job without a key service, which runs without a TEE only (coordinator-signed,
    /// tee: false).
    #[arg(long, conflicts_with = "key_service_key")]
    no_tee: bool,
    /// Above this many contributions, the stratified approximation.
    #[arg(long, default_value_t = 200)]
    threshold: u32,
    /// Basis points for compute providers.
    #[arg(long, default_value_t = 0)]
    compute_bps: u16,
    /// A compute provider, `ADDRESS:UNITS`; repeatable.
    #[arg(long, value_parser = parse_provider)]
    provider: Vec<ProviderSpec>,
    /// Where to write the job file (refused if it exists).
    #[arg(long)]
    out: PathBuf,
}

fn parse_provider(s: &str) -> Result<ProviderSpec, String> {
    let (a, u) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?} is not ADDRESS:UNITS"))?;
    Ok(ProviderSpec {
        address: a
            .parse()
            .map_err(|_| format!("{a:?} is not an address (0x and 40 hex digits)"))?,
        units: u.parse().map_err(|e| format!("{s:?}: units: {e}"))?,
    })
}

/// `path` as the job file at `out` names it: relative to its folder when it lies inside it.
fn relative_to(path: &Path, out: &Path) -> PathBuf {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let (path, dir) = (
        absolute(path),
        absolute(out.parent().unwrap_or(Path::new("."))),
    );
    path.strip_prefix(&dir).map(Path::to_owned).unwrap_or(path)
}

pub fn run(cmd: JobCommand) -> Result<ExitCode, Error> {
    match cmd {
        JobCommand::Hash { job } => {
            println!("{}", JobFile::load(&job)?.job.hash());
            Ok(ExitCode::SUCCESS)
        }
        JobCommand::New(a) => {
            if a.out.exists() {
                return Err(format!(
                    "{}: exists; refusing to overwrite a job file",
                    a.out.display()
                )
                .into());
            }
            let files = Files {
                recipe: a.recipe.clone(),
                model: a.model.clone(),
                contributions: a.contributions.clone(),
                holdout: a.holdout.clone(),
            };
            let job = describe(
                ForgeRef {
                    id: a.forge_id,
                    chain_id: a.chain_id,
                    contract: a.contract,
                    nonce: a.nonce,
                },
                &files,
                a.key_service_key.map(|service_key| KeyReleaseSpec {
                    service_key,
                    resource: a.resource.clone(),
                }),
                AttributionRules {
                    threshold: a.threshold,
                    compute_bps: a.compute_bps,
                    providers: a.provider.clone(),
                },
            )?;
            let rel = |p: &Path| Some(relative_to(p, &a.out));
            let file = JobFile {
                run: RunSpec {
                    recipe: rel(&a.recipe),
                    model: rel(&a.model),
                    contributions: rel(&a.contributions),
                    holdout: rel(&a.holdout),
                    ..RunSpec::default()
                },
                job,
            };
            assay_keys::write_atomic(&a.out, file.to_toml().as_bytes(), false)?;
            println!("wrote {}; job {}", a.out.display(), file.job.hash());
            Ok(ExitCode::SUCCESS)
        }
    }
}
