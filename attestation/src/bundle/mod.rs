//! The attestation bundle: a signed EvalResult (EIP-712), the SNP report that binds it, and the
//! certificates that make the report verifiable; its verification and its calldata for the Forge
//! contract. Layout and schema: `docs/attestation.md`.
//!
//! - [`result`]: the EvalResult and its exact fixed-point numbers;
//! - [`eip712`]: typed-data hashing and the Solidity ABI types;
//! - [`binding`]: REPORT_DATA layouts and `code_hash`;
//! - [`format`]: the bundle in JSON and CBOR;
//! - [`check`]: every check an auditor runs.

pub mod binding;
pub mod check;
pub mod eip712;
pub mod format;
pub mod result;

pub use check::{BUNDLE_CHECKS, BundleVerifier, RejectedBundle, VerifiedBundle};
pub use format::{BUNDLE_FORMAT, Bundle, EvidenceKind};

/// ABI-encoded calldata of `submitEvalResult(result, signature, report, certificates)`.
pub fn calldata(b: &Bundle) -> Vec<u8> {
    use alloy_sol_types::SolCall;
    eip712::solidity::submitEvalResultCall {
        result: eip712::to_sol(&b.result),
        signature: b.signature.clone(),
        report: b.report.clone().unwrap_or_default(),
        certificates: b.certificates.clone(),
    }
    .abi_encode()
}
