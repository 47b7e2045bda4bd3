//! The `verify` layer: cryptography. Report signatures (ECDSA P-384), AMD certificate chains
//! (RSASSA-PSS), validity windows against a caller-supplied time, CRLs, and the VEK's claims
//! (TCB, chip id) against the report.

mod cert;
mod chain;
mod crl;
mod extensions;
mod signature;
mod trust;

pub use cert::{Certificate, MAX_CERTIFICATES, parse_certificates};
pub use chain::{CertificateChain, ChipIdCheck, VekKind, VerifiedChain};
pub use crl::Crl;
pub use extensions::VekExtensions;
pub use signature::ReportKey;
pub use trust::{TrustAnchor, TrustStore};
