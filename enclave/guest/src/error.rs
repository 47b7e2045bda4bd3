//! The crate's one error type. No message carries holdout plaintext or key bytes.

/// Why the enclave could not produce a bundle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key file is unusable.
    #[error("{path}: {reason}")]
    Key {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
    /// The SNP guest device failed.
    #[error("SNP guest device {path}: {reason}")]
    Device {
        /// The path.
        path: String,
        /// What happened.
        reason: String,
    },
    /// A report or certificate table is malformed.
    #[error("{0}")]
    Attestation(assay_attestation::Error),
    /// Key release or holdout decryption failed.
    #[error("{0}")]
    Keys(#[from] assay_keys::Error),
    /// The decrypted holdout is unusable.
    #[error("holdout: {0}")]
    Holdout(String),
    /// Training, evaluation or the allocation failed.
    #[error("attribution: {0}")]
    Attribution(String),
    /// The job's settings contradict each other.
    #[error("{0}")]
    Usage(String),
}
