//! `assay verify report`.

use crate::error::Error;
use std::process::ExitCode;

use assay_attestation::Verifier;
use assay_attestation::kds::{load_certificate_dir, load_crl_dir, read_crl_file, read_report_file};
use assay_attestation::verify::{TrustStore, parse_certificates};
use assay_forge::policy::BundlePolicy;
use assay_measurements::reference::ReferenceValues;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{ReportArgs, TrustArgs};

/// Reads every input named on the command line into a verifier; any unusable input is an error
/// naming it. A policy file's bundle rule (`allow_no_tee`) is read and not used here.
pub fn verifier(args: &TrustArgs) -> Result<Verifier, Error> {
    verifier_with_bundle_rule(args).map(|(v, _)| v)
}

/// [`verifier`], and whether the policy file allows bundles without a TEE.
pub fn verifier_with_bundle_rule(args: &TrustArgs) -> Result<(Verifier, bool), Error> {
    let at = match &args.at {
        None => OffsetDateTime::now_utc(),
        Some(s) => OffsetDateTime::parse(s, &Rfc3339).map_err(|e| {
            format!("--at {s:?} is not an RFC 3339 time such as 2025-01-31T12:00:00Z: {e}")
        })?,
    };
    let mut trust = TrustStore::amd();
    for path in &args.trust_root {
        eprintln!(
            "WARNING: trusting the TEST root {} besides AMD's: reports signed with test keys pass",
            path.display()
        );
        let bytes = std::fs::read(path).map_err(|source| assay_attestation::Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        for cert in parse_certificates(&bytes, &path.display().to_string())? {
            trust = trust.with_test_root(cert)?;
        }
    }
    let BundlePolicy {
        report: mut policy,
        allow_no_tee,
    } = match &args.policy {
        None => BundlePolicy::default(),
        Some(path) => BundlePolicy::load(path)?,
    };
    for path in &args.reference {
        let reference = ReferenceValues::load(path)?;
        policy.allow_reference(&reference, &path.display().to_string())?;
    }
    let crls = args
        .crl
        .iter()
        .map(|p| read_crl_file(p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((
        Verifier {
            trust,
            at,
            crls,
            policy,
        },
        allow_no_tee,
    ))
}

/// Says on stderr that no CRL was checked (a revoked ASK or VEK would have passed), and how
/// to check one.
pub fn note_no_crl(verifier: &Verifier) {
    if verifier.crls.is_empty() {
        eprintln!(
            "note: no CRL was checked (a revoked ASK or VEK would pass): give --crl FILE, or put crl.der beside the certificates (`assay kds fetch` writes it)"
        );
    }
}

pub fn run(args: &ReportArgs) -> Result<ExitCode, Error> {
    let mut verifier = verifier(&args.trust)?;
    let input = read_report_file(&args.report)?;
    let certs = load_certificate_dir(&args.certs)?;
    // A CRL beside the certificates is checked as if given with --crl.
    verifier.crls.extend(load_crl_dir(&args.certs)?);
    let at = verifier.at.format(&Rfc3339).unwrap_or_default();
    match verifier.verify(&input, &certs) {
        Ok(accepted) => {
            if args.json {
                let out = json!({
                    "accepted": true,
                    "verified_at": at,
                    "product": accepted.product,
                    "signer": accepted.signer,
                    "amd_root": accepted.amd_root,
                    "envelope": accepted.envelope,
                    "report": accepted.report,
                    "checks": accepted.checks,
                });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&out).expect("serialisable")
                );
            } else {
                let root = if accepted.amd_root {
                    "AMD root"
                } else {
                    "TEST ROOT (not AMD)"
                };
                println!(
                    "accepted: {} report v{} signed by {:?} ({root}); measurement {}",
                    accepted.product,
                    accepted.report.version(),
                    accepted.signer,
                    hex::encode(accepted.report.measurement)
                );
                note_no_crl(&verifier);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(rejected) => {
            if args.json {
                let out = json!({
                    "accepted": false,
                    "verified_at": at,
                    "error": { "check": rejected.error.check(), "message": rejected.error.to_string() },
                    "report": rejected.report,
                    "checks": rejected.checks,
                });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&out).expect("serialisable")
                );
            }
            eprintln!(
                "rejected: {} check failed: {}",
                rejected.error.check(),
                rejected.error
            );
            Ok(ExitCode::FAILURE)
        }
    }
}
