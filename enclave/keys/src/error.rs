//! The crate's one error type. Messages never contain key bytes or holdout plaintext.

/// Why a holdout could not be decrypted or a key not released.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The encrypted holdout file is malformed.
    #[error("encrypted holdout: {reason}")]
    HoldoutFormat {
        /// What is wrong.
        reason: String,
    },
    /// The file was encrypted under another key.
    #[error(
        "encrypted holdout: encrypted under key id {file_key}, but the key given has id {given_key}"
    )]
    WrongKey {
        /// The file's key id.
        file_key: String,
        /// The given key's id.
        given_key: String,
    },
    /// A chunk failed authentication.
    #[error(
        "encrypted holdout: chunk {chunk} of {chunks} failed authentication (the file was modified, truncated or reordered)"
    )]
    HoldoutAuthentication {
        /// Which chunk (0-based).
        chunk: usize,
        /// How many chunks the file holds.
        chunks: usize,
    },
    /// A key file is malformed.
    #[error("{path}: {reason}")]
    KeyFile {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The nonce was never issued, or was already used.
    #[error("nonce was not issued by this key service or was already used")]
    NonceUnknown,
    /// The nonce is too old.
    #[error("nonce expired (nonces are valid for {ttl} s)")]
    NonceExpired {
        /// Lifetime in seconds.
        ttl: u64,
    },
    /// The report was refused by the attestation verifier.
    #[error("attestation report refused: {0}")]
    Report(assay_attestation::Error),
    /// REPORT_DATA does not bind the nonce, the X25519 key and the enclave address.
    #[error(
        "REPORT_DATA does not equal SHA-512(\"assay-key-release/1\" ‖ nonce ‖ x25519 key ‖ enclave address)"
    )]
    ReportDataMismatch,
    /// No such resource.
    #[error("no resource named {resource:?}")]
    UnknownResource {
        /// The name asked for.
        resource: String,
    },
    /// The request is malformed.
    #[error("malformed key request: {reason}")]
    Request {
        /// What is wrong.
        reason: String,
    },
    /// The wrapped key could not be opened with the enclave's key.
    #[error("the wrapped data key does not open with this enclave's X25519 key")]
    Unwrap,
    /// The key service could not be reached or answered nonsense.
    #[error("key service {url}: {reason}")]
    Transport {
        /// The URL.
        url: String,
        /// What happened.
        reason: String,
    },
    /// The key service refused.
    #[error("key service refused the request ({check}): {reason}")]
    Refused {
        /// The failed check.
        check: String,
        /// Its message.
        reason: String,
    },
}

impl Error {
    /// The check a refusal names: `nonce`, `report_data`, `resource`, `request`, or the report
    /// check (`parse`, `chain`, `signature`, `tcb`, `policy`, …).
    pub fn check(&self) -> &str {
        match self {
            Error::NonceUnknown | Error::NonceExpired { .. } => "nonce",
            Error::Report(e) => e.check(),
            Error::ReportDataMismatch => "report_data",
            Error::UnknownResource { .. } => "resource",
            Error::Refused { check, .. } => check,
            Error::HoldoutFormat { .. }
            | Error::WrongKey { .. }
            | Error::HoldoutAuthentication { .. } => "holdout",
            Error::KeyFile { .. } | Error::Io { .. } => "io",
            Error::Request { .. } => "request",
            Error::Unwrap => "unwrap",
            Error::Transport { .. } => "transport",
        }
    }
}
