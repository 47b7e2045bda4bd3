//! `assay verify attestation` and `assay relay calldata`: attestation bundles.

use crate::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

use alloy_primitives::{Address, B256};
use assay_forge::result::{Direction, EvalResult};
use assay_forge::{Bundle, BundleVerifier, calldata};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::TrustArgs;

/// Arguments of `assay verify attestation`.
#[derive(Args)]
pub struct AttestationArgs {
    /// The bundle (JSON or CBOR).
    pub bundle: PathBuf,
    /// The nonce the Forge issued for this evaluation (32 bytes hex); without it the nonce is not
    /// checked, and the output says so.
    #[arg(long)]
    pub nonce: Option<B256>,
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

fn read_bundle(path: &std::path::Path) -> Result<Bundle, Error> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Bundle::parse(&bytes, &path.display().to_string())?)
}

pub fn verify(args: &AttestationArgs) -> Result<ExitCode, Error> {
    let (report, allow_no_tee) = crate::verify::verifier_with_bundle_rule(&args.trust)?;
    let bundle = read_bundle(&args.bundle)?;
    let verifier = BundleVerifier {
        report,
        allow_no_tee,
        nonce: args.nonce,
        coordinator: args.coordinator,
    };
    match verifier.verify(&bundle) {
        Ok(ok) => {
            if args.json {
                let out = json!({
                    "accepted": true,
                    "evidence": bundle.evidence,
                    "tee": bundle.result.tee,
                    "signer": bundle.signer,
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
                        "NOT checked (no --nonce)"
                    }
                );
                print_scores(&bundle.result);
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
