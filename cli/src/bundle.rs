//! `assay verify attestation` and `assay relay calldata`: attestation bundles.

use crate::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

use alloy_primitives::{Address, B256};
use assay_forge::job::JobFile;
use assay_forge::result::{Direction, EvalResult};
use assay_forge::{Bundle, BundleVerifier, Pins, calldata};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::TrustArgs;

/// Arguments of `assay verify attestation`.
#[derive(Args)]
pub struct AttestationArgs {
    /// The bundle (JSON or CBOR).
    pub bundle: PathBuf,
    /// The nonce the Forge issued for this evaluation (32 bytes hex); required unless
    /// --no-nonce.
    #[arg(long, required_unless_present = "no_nonce")]
    pub nonce: Option<B256>,
    /// Do not check the nonce (a replayed result would pass; the output says so).
    #[arg(long, conflicts_with = "nonce")]
    pub no_nonce: bool,
    /// Accept a TEE bundle whatever its MEASUREMENT when neither --reference nor the policy pins
    /// one (insecure: any code would pass; the output says so).
    #[arg(long)]
    pub any_measurement: bool,
    /// The Forge id the result must be for (32 bytes hex).
    #[arg(long)]
    pub forge_id: Option<B256>,
    /// The chain id of the EIP-712 domain the result must be signed in.
    #[arg(long)]
    pub chain_id: Option<u64>,
    /// The Forge contract of the EIP-712 domain the result must be signed in.
    #[arg(long)]
    pub contract: Option<Address>,
    /// The job the report's HOST_DATA must bind: a JobSpec file, or its hash (0x + 64 hex).
    #[arg(long)]
    pub job: Option<String>,
    /// The coordinator address a `none` (no TEE) bundle must be signed by; such bundles pass only
    /// under a policy with `allow_no_tee = true`.
    #[arg(long)]
    pub coordinator: Option<Address>,
    /// Roots, time, CRLs and policy.
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Print every check's outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `assay relay …`.
#[derive(Subcommand)]
pub enum RelayCommand {
    /// Print the ABI-encoded calldata of `submitEvalResult(result, signature, report,
    /// certificates)` for a bundle (hex, 0x-prefixed). Verify the bundle first.
    Calldata {
        /// The bundle (JSON or CBOR).
        bundle: PathBuf,
    },
}

/// `--job`: a JobSpec hash (0x + 64 hex digits), or a JobSpec file whose hash it is.
fn job_hash(job: &str) -> Result<B256, Error> {
    if let Some(hash) = job.strip_prefix("0x").filter(|h| h.len() == 64) {
        return hash.parse().map_err(|_| {
            format!("--job {job:?} is neither a JobSpec file nor 0x + 64 hex digits").into()
        });
    }
    Ok(JobFile::load(std::path::Path::new(job))?.job.hash())
}

fn read_bundle(path: &std::path::Path) -> Result<Bundle, Error> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Bundle::parse(&bytes, &path.display().to_string())?)
}

pub fn verify(args: &AttestationArgs) -> Result<ExitCode, Error> {
    let (report, allow_no_tee) = crate::verify::verifier_with_bundle_rule(&args.trust)?;
    let bundle = read_bundle(&args.bundle)?;
    let verifier = BundleVerifier {
        allow_no_tee,
        nonce: args.nonce,
        coordinator: args.coordinator,
        any_measurement: args.any_measurement,
        pins: Pins {
            forge_id: args.forge_id,
            chain_id: args.chain_id,
            contract: args.contract,
            job: args.job.as_deref().map(job_hash).transpose()?,
        },
        ..BundleVerifier::new(report)
    };
    if args.no_nonce {
        eprintln!("WARNING: --no-nonce: the nonce is not checked; a replayed result would pass");
    }
    if args.any_measurement {
        eprintln!(
            "WARNING: --any-measurement: without a pinned MEASUREMENT, a report from any code passes"
        );
    }
    match verifier.verify(&bundle) {
        Ok(ok) => {
            // What the result is bound to: the launch, the code and recipe, the job.
            let (measurement, host_data) = match &ok.report {
                Some(a) => (
                    Some(hex::encode(a.report.measurement)),
                    Some(B256::from(a.report.host_data)),
                ),
                None => (None, None),
            };
            // The job the result is bound to: the one it commits to (version 2; HOST_DATA is
            // the same with a TEE, checked), else what HOST_DATA carries.
            let job = bundle.result.job.map(|j| j.job_hash).or(host_data);
            let holdout = bundle
                .result
                .job
                .map(|j| json!({"key_id": j.holdout_key_id, "sha256": j.holdout_sha256}));
            if args.json {
                let out = json!({
                    "accepted": true,
                    "evidence": bundle.evidence,
                    "tee": bundle.result.tee,
                    "signer": bundle.signer,
                    "measurement": measurement,
                    "code_hash": bundle.result.code_hash,
                    "recipe_hash": bundle.result.recipe_hash,
                    "job": job,
                    "host_data": host_data,
                    "holdout": holdout,
                    "bundle_version": if bundle.job.is_some() { 2 } else { 1 },
                    "digest": ok.digest,
                    "checks": ok.checks,
                    "result": bundle.result,
                });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&out).expect("serialisable")
                );
            } else {
                let tee = if bundle.result.tee {
                    format!("TEE ({})", bundle.evidence.name())
                } else {
                    "NO TEE (coordinator-signed, tee: false)".to_owned()
                };
                println!(
                    "accepted: {tee}; signer {}; {} contributions, method {:?}; nonce {}",
                    bundle.signer,
                    bundle.result.scores.len(),
                    bundle.result.method,
                    if args.nonce.is_some() {
                        "checked"
                    } else {
                        "NOT checked (--no-nonce)"
                    }
                );
                println!(
                    "measurement {}; code_hash {}; recipe_hash {}; job {}{}{}",
                    measurement.as_deref().unwrap_or("none (no TEE)"),
                    bundle.result.code_hash,
                    bundle.result.recipe_hash,
                    job.map_or("none".to_owned(), |h| h.to_string()),
                    match (bundle.result.job.is_some(), host_data.is_some()) {
                        (true, true) => " (committed to by the result and carried in HOST_DATA)",
                        (true, false) => " (committed to by the result)",
                        (false, _) => " (HOST_DATA)",
                    },
                    if verifier.pins.job.is_some() {
                        " (pinned)"
                    } else {
                        ""
                    }
                );
                print_scores(&bundle.result);
                if bundle.job.is_none() {
                    eprintln!(
                        "note: a version-1 bundle: the signed result commits to no job and no holdout (HOST_DATA binds the job only if --job is pinned)"
                    );
                }
                crate::verify::note_no_crl(&verifier.report);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(rejected) => {
            if args.json {
                let out = json!({
                    "accepted": false,
                    "evidence": bundle.evidence,
                    "tee": bundle.result.tee,
                    "error": { "check": rejected.error.kind(), "message": rejected.error.to_string() },
                    "checks": rejected.checks,
                });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&out).expect("serialisable")
                );
            }
            let failed = rejected
                .checks
                .iter()
                .find(|c| matches!(c.status, assay_attestation::Status::Fail(_)))
                .map(|c| c.check)
                .unwrap_or("bundle");
            eprintln!("rejected: {failed} check failed: {}", rejected.error);
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The verified score vector as a table.
fn print_scores(r: &EvalResult) {
    let m = &r.baseline_metric;
    let direction = match m.direction {
        Direction::LowerIsBetter => "lower is better",
        Direction::HigherIsBetter => "higher is better",
    };
    println!("baseline {} {} ({direction})", m.name, m.value);
    println!("{:<44} {:>24} {:>7}", "contributor", "score", "bps");
    for s in &r.scores {
        println!(
            "{:<44} {:>24} {:>7}",
            s.contributor.to_string(),
            s.score.to_string(),
            s.shares
        );
    }
    for c in &r.compute {
        println!(
            "{:<44} {:>24} {:>7}",
            format!("compute: {}", c.provider),
            format!("{} units", c.units),
            c.shares
        );
    }
    if r.unallocated_bps > 0 {
        println!(
            "no contribution scored above 0: {} bps unallocated",
            r.unallocated_bps
        );
    }
}

pub fn relay(cmd: RelayCommand) -> Result<ExitCode, Error> {
    match cmd {
        RelayCommand::Calldata { bundle } => {
            let b = read_bundle(&bundle)?;
            println!("0x{}", hex::encode(calldata(&b)));
            Ok(ExitCode::SUCCESS)
        }
    }
}
