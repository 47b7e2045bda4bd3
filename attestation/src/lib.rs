//! AMD SEV-SNP attestation for Assay: is this report signed by a genuine AMD chip, through AMD's
//! certificate chain, and does it meet the relying party's policy?
//!
//! Layered like google/go-sev-guest:
//! - [`abi`]: the report's bytes (versions 2–5) and the envelopes it arrives in;
//! - [`verify`]: signatures, AMD certificate chains, CRLs, the VEK's TCB and chip id;
//! - [`validate`]: policy (debug, TCB minimums, measurements, …) from a TOML file;
//! - [`kds`]: where certificates come from (KDS URLs, folders, built-in intermediates, cache);
//! - `testing` (feature `testing`): the simulated AMD-SP: test chain, report signer, fake KDS.
//!
//! [`Verifier`] runs them in order and accepts a report only when all pass.

#![forbid(unsafe_code)]

pub mod abi;
mod error;
pub mod kds;
#[cfg(feature = "testing")]
pub mod testing;
pub mod validate;
mod verifier;
pub mod verify;

pub use error::Error;
pub use verifier::{Accepted, CheckLog, CheckOutcome, Rejected, Status, Verifier};
