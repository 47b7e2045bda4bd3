//! The program inside the SEV-SNP guest (`assay-enclave`): it makes its own keys, obtains the
//! holdout's key by attestation, decrypts the holdout, runs the attribution with the pinned
//! recipe, and emits a signed, report-bound attestation bundle. See `docs/attestation.md`.
//!
//! - [`identity`]: the secp256k1 signer (the enclave's Ethereum address);
//! - [`evidence`]: the `snp`, `simulated` and `none` evidence providers;
//! - [`evaluate`]: attribution → EvalResult, its checks before key release;
//! - [`journal`]: the sealed journal of finished runs;
//! - [`job`]: the whole flow, from an approved JobSpec and the host's inputs to the bundle;
//! - [`replay`]: an auditor reruns a bundle's job and compares it bit for bit;
//! - [`vm`]: the program as the VM image's process 1, its job over the channel to the host.

#![forbid(unsafe_code)]

mod error;
pub mod evaluate;
pub mod evidence;
pub mod identity;
pub mod job;
pub mod journal;
pub mod replay;
pub mod vm;

pub use error::Error;
