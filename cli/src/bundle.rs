//! `assay verify attestation`, `assay relay calldata` and `assay relay fetch`: attestation
//! bundles.

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
    /// Also check the job's alloy chain against the bundle: chain files, text files of `AL1:`
    /// lines, images of its QR codes or the texts themselves, in any order (as `assay alloy
    /// verify` takes them). The chain must verify, and its dataset, adapter and eval links must
    /// be signed by the alloy key the (version-3) bundle binds and say what the bundle says.
    #[arg(long, num_args = 1.., value_name = "CHAIN")]
    pub alloy: Vec<String>,
    /// What the bundle must meet.
    #[command(flatten)]
    pub checks: CheckArgs,
}

/// What a bundle must meet: the nonce, the pins, the roots and policy.
#[derive(Args)]
pub struct CheckArgs {
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
    /// Print the ABI-encoded calldata of `submitEvalResultV2(result, signature, report,
    /// certificates)` (`submitEvalResult` for a version-1 bundle) for a bundle (hex,
    /// 0x-prefixed). Verify the bundle first.
    Calldata {
        /// The bundle (JSON or CBOR).
        bundle: PathBuf,
    },
    /// Download a Forge's latest attestation from a host (`assay-host serve`), verify it as
    /// `assay verify attestation` does, and print its calldata (or write bundle and calldata
    /// into --out). A bundle that fails gets no calldata.
    Fetch(Box<FetchArgs>),
}

/// Arguments of `assay relay fetch`.
#[derive(Args)]
pub struct FetchArgs {
    /// The host's URL (`https://HOST:PORT`).
    #[arg(long)]
    pub host: String,
    /// The Forge (32 bytes hex).
    #[arg(long)]
    pub forge: B256,
    /// Write `bundle.json`, `bundle.cbor` and `calldata.hex` into this folder (made if absent)
    /// instead of printing the calldata.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Trust this certificate (PEM) for the host's TLS, e.g. its self-signed one [default:
    /// Mozilla's roots].
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// What the bundle must meet.
    #[command(flatten)]
    pub checks: CheckArgs,
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

pub fn verify(a: &AttestationArgs) -> Result<ExitCode, Error> {
    let bundle = read_bundle(&a.bundle)?;
    let chain = if a.alloy.is_empty() {
        None
    } else {
        Some(crate::alloy::verdict_of_args(&a.alloy)?)
    };
    let accepted = check(&bundle, &a.checks, chain.as_ref(), &mut std::io::stdout())?;
    Ok(if accepted {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Verifies `bundle` against `args`, writing what was checked to `out` (the rejection, and
/// notes, to stderr); whether it was accepted.
fn check(
    bundle: &Bundle,
    args: &CheckArgs,
    chain: Option<&assay_alloy::Verdict>,
    out: &mut dyn std::io::Write,
) -> Result<bool, Error> {
    let (report, allow_no_tee) = crate::verify::verifier_with_bundle_rule(&args.trust)?;
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
    let write = |out: &mut dyn std::io::Write, text: String| {
        writeln!(out, "{text}").map_err(|e| Error::Input(format!("writing the report: {e}")))
    };
    let verified = verifier.verify(bundle).map(|ok| {
        let chain = chain.map(|v| assay_forge::alloy::check_chain(bundle, v));
        (ok, chain)
    });
    match verified {
        Ok((_, Some(Err(e)))) => {
            if args.json {
                let report_json = json!({
                    "accepted": false,
                    "evidence": bundle.evidence,
                    "tee": bundle.result.tee,
                    "error": { "check": e.kind(), "message": e.to_string() },
                });
                write(
                    out,
                    serde_json::to_string_pretty(&report_json).expect("serialisable"),
                )?;
            }
            eprintln!("rejected: alloy check failed: {e}");
            Ok(false)
        }
        Ok((ok, chain)) => {
            let chain = chain.map(|c| c.expect("a failed chain check returned above"));
            let alloy_json = chain.as_ref().map(|c| {
                json!({
                    "key": bundle.alloy.as_ref().map(|k| k.key),
                    "head": c.head.to_string(),
                    "adapter": hex::encode(c.adapter_hash),
                    "method": c.method,
                    "later_links": c.later,
                })
            });
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
                let report_json = json!({
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
                    "bundle_version": bundle.version().unwrap_or(0),
                    "alloy": alloy_json,
                    "digest": ok.digest,
                    "checks": ok.checks,
                    "result": bundle.result,
                });
                write(
                    out,
                    serde_json::to_string_pretty(&report_json).expect("serialisable"),
                )?;
            } else {
                let tee = if bundle.result.tee {
                    format!("TEE ({})", bundle.evidence.name())
                } else {
                    "NO TEE (coordinator-signed, tee: false)".to_owned()
                };
                write(
                    out,
                    format!(
                        "accepted: {tee}; signer {}; {} contributions, method {:?}; nonce {}",
                        bundle.signer,
                        bundle.result.scores.len(),
                        bundle.result.method,
                        if args.nonce.is_some() {
                            "checked"
                        } else {
                            "NOT checked (--no-nonce)"
                        }
                    ),
                )?;
                write(
                    out,
                    format!(
                        "measurement {}; code_hash {}; recipe_hash {}; job {}{}{}",
                        measurement.as_deref().unwrap_or("none (no TEE)"),
                        bundle.result.code_hash,
                        bundle.result.recipe_hash,
                        job.map_or("none".to_owned(), |h| h.to_string()),
                        match (bundle.result.job.is_some(), host_data.is_some()) {
                            (true, true) =>
                                " (committed to by the result and carried in HOST_DATA)",
                            (true, false) => " (committed to by the result)",
                            (false, _) => " (HOST_DATA)",
                        },
                        if verifier.pins.job.is_some() {
                            " (pinned)"
                        } else {
                            ""
                        }
                    ),
                )?;
                write(out, scores_table(&bundle.result))?;
                if let (Some(c), Some(k)) = (&chain, &bundle.alloy) {
                    write(
                        out,
                        format!(
                            "alloy chain: its dataset, adapter and eval links are signed by the enclave's key {} (bound by the result's signer) and agree with the bundle; adapter {} ({}); head {}{}",
                            hex::encode(k.key),
                            hex::encode(c.adapter_hash),
                            c.method,
                            c.head,
                            if c.later > 0 {
                                format!(
                                    "; {} later link(s), valid, not compared with the bundle",
                                    c.later
                                )
                            } else {
                                String::new()
                            }
                        ),
                    )?;
                }
                if bundle.job.is_none() {
                    eprintln!(
                        "note: a version-1 bundle: the signed result commits to no job and no holdout (HOST_DATA binds the job only if --job is pinned)"
                    );
                }
                crate::verify::note_no_crl(&verifier.report);
            }
            Ok(true)
        }
        Err(rejected) => {
            if args.json {
                let report_json = json!({
                    "accepted": false,
                    "evidence": bundle.evidence,
                    "tee": bundle.result.tee,
                    "error": { "check": rejected.error.kind(), "message": rejected.error.to_string() },
                    "checks": rejected.checks,
                });
                write(
                    out,
                    serde_json::to_string_pretty(&report_json).expect("serialisable"),
                )?;
            }
            let failed = rejected
                .checks
                .iter()
                .find(|c| matches!(c.status, assay_attestation::Status::Fail(_)))
                .map(|c| c.check)
                .unwrap_or("bundle");
            eprintln!("rejected: {failed} check failed: {}", rejected.error);
            Ok(false)
        }
    }
}

/// The verified score vector as a table.
fn scores_table(r: &EvalResult) -> String {
    use std::fmt::Write;
    let mut t = String::new();
    let m = &r.baseline_metric;
    let direction = match m.direction {
        Direction::LowerIsBetter => "lower is better",
        Direction::HigherIsBetter => "higher is better",
    };
    let _ = writeln!(t, "baseline {} {} ({direction})", m.name, m.value);
    let _ = write!(t, "{:<44} {:>24} {:>7}", "contributor", "score", "bps");
    for s in &r.scores {
        let _ = write!(
            t,
            "\n{:<44} {:>24} {:>7}",
            s.contributor.to_string(),
            s.score.to_string(),
            s.shares
        );
    }
    for c in &r.compute {
        let _ = write!(
            t,
            "\n{:<44} {:>24} {:>7}",
            format!("compute: {}", c.provider),
            format!("{} units", c.units),
            c.shares
        );
    }
    if r.unallocated_bps > 0 {
        let _ = write!(
            t,
            "\nno contribution scored above 0: {} bps unallocated",
            r.unallocated_bps
        );
    }
    t
}

/// A client of a host, trusting `ca` (PEM) or Mozilla's roots.
fn host_client(ca: Option<&std::path::Path>) -> Result<ureq::Agent, Error> {
    use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
    let mut tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ));
    if let Some(path) = ca {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| format!("{}: not a PEM certificate: {e}", path.display()))?;
        tls = tls.root_certs(RootCerts::new_with_certs(&[cert]));
    }
    Ok(ureq::Agent::config_builder()
        .tls_config(tls.build())
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into())
}

/// `assay relay fetch`.
fn fetch(a: &FetchArgs) -> Result<ExitCode, Error> {
    let url = format!(
        "{}/v1/forges/{}/attestation",
        a.host.trim_end_matches('/'),
        a.forge
    );
    let agent = host_client(a.ca.as_deref())?;
    let mut response = agent
        .get(&url)
        .header("Accept", "application/cbor")
        .call()
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .map_err(|e| format!("{url}: reading the answer: {e}"))?;
    if !status.is_success() {
        let detail = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["detail"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        return Err(format!("{url}: HTTP {status}: {detail}").into());
    }
    let bundle = Bundle::parse(&body, &url)?;
    // What was checked goes to stderr: stdout carries only the calldata.
    if !check(&bundle, &a.checks, None, &mut std::io::stderr())? {
        eprintln!("no calldata: the bundle from {url} does not verify");
        return Ok(ExitCode::FAILURE);
    }
    let data = format!("0x{}", hex::encode(calldata(&bundle)));
    match &a.out {
        None => println!("{data}"),
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            assay_keys::write_atomic(&dir.join("bundle.json"), bundle.to_json().as_bytes(), false)?;
            assay_keys::write_atomic(&dir.join("bundle.cbor"), &bundle.to_cbor(), false)?;
            assay_keys::write_atomic(
                &dir.join("calldata.hex"),
                format!("{data}\n").as_bytes(),
                false,
            )?;
            println!(
                "wrote {}: bundle.json, bundle.cbor, calldata.hex (verified)",
                dir.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn relay(cmd: RelayCommand) -> Result<ExitCode, Error> {
    match cmd {
        RelayCommand::Calldata { bundle } => {
            let b = read_bundle(&bundle)?;
            println!("0x{}", hex::encode(calldata(&b)));
            Ok(ExitCode::SUCCESS)
        }
        RelayCommand::Fetch(a) => fetch(&a),
    }
}
