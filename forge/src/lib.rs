//! The Forge protocol: what an evaluation is asked to do (the [`job::JobSpec`]), what it
//! produces (the EvalResult with its scores and shares), how that is signed (EIP-712) and bound
//! to an SNP report (REPORT_DATA, `code_hash`), and how anyone checks it (the attestation bundle
//! and its verifier). Layout and schema: `docs/attestation.md`.
//!
//! - [`result`]: the EvalResult and its exact fixed-point numbers;
//! - [`shares`]: scores to basis points by the Forge's rules;
//! - [`merkle`]: `data_root`, the contribution set's OpenZeppelin-compatible Merkle root;
//! - [`eip712`]: typed-data hashing and the Solidity ABI types;
//! - [`binding`]: REPORT_DATA layouts and `code_hash`;
//! - [`format`]: the bundle in JSON and CBOR (CBOR's declared lengths bounded before serde reads it);
//! - [`policy`]: what a relying party accepts beyond the SNP policy (`allow_no_tee`);
//! - [`check`]: every check an auditor runs;
//! - [`job`]: the JobSpec, the job a Forge approves (and the host's run settings beside it);
//! - [`alloy`]: the alloy links an enclave signs for a job, and their check against its bundle.

#![forbid(unsafe_code)]

pub mod alloy;
pub mod binding;
mod cbor;
pub mod check;
pub mod eip712;
mod error;
pub mod format;
pub mod job;
pub mod merkle;
pub mod policy;
pub mod result;
pub mod shares;

pub use error::Error;

pub use check::{BUNDLE_CHECKS, BundleVerifier, Pins, RejectedBundle, VerifiedBundle};
pub use format::{
    AlloyKey, BUNDLE_FORMAT, BUNDLE_FORMAT_V1, BUNDLE_FORMAT_V2, Bundle, EvidenceKind, MAX_BUNDLE,
};

/// ABI-encoded calldata of `submitEvalResult(result, signature, report, certificates)` for a
/// version-1 result, of `submitEvalResultV2(…)` for one that commits to its job.
pub fn calldata(b: &Bundle) -> Vec<u8> {
    use alloy_sol_types::SolCall;
    let (signature, report, certificates) = (
        b.signature.clone(),
        b.report.clone().unwrap_or_default(),
        b.certificates.clone(),
    );
    match &b.result.job {
        None => eip712::solidity::submitEvalResultCall {
            result: eip712::to_sol(&b.result),
            signature,
            report,
            certificates,
        }
        .abi_encode(),
        Some(job) => eip712::solidity::submitEvalResultV2Call {
            result: eip712::to_sol_v2(&b.result, job),
            signature,
            report,
            certificates,
        }
        .abi_encode(),
    }
}
