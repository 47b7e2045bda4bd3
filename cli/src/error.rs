//! The `assay` binary's one error type: a library's error, passed through with its own words,
//! or an input of the command line that cannot be used. `main` prints `error: <what>: <why>`
//! and exits 1 (2 is clap's, for a malformed command line).

/// Why a command could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An alloy chain, a signer's key, a keyring or a QR image (assay-alloy).
    #[error("{0}")]
    Alloy(#[from] assay_alloy::Error),
    /// A report, certificate, CRL or policy (assay-attestation).
    #[error("{0}")]
    Attestation(#[from] assay_attestation::Error),
    /// A measurement or reference values (assay-measurements).
    #[error("{0}")]
    Measurements(#[from] assay_measurements::Error),
    /// A bundle, an EvalResult, a JobSpec or a bundle policy (assay-forge).
    #[error("{0}")]
    Forge(#[from] assay_forge::Error),
    /// A key, a holdout or the key service (assay-keys).
    #[error("{0}")]
    Keys(#[from] assay_keys::Error),
    /// A recipe, model or data file, or a training (assay-recipe).
    #[error("{0}")]
    Recipe(#[from] assay_recipe::Error),
    /// An attribution run (assay-attribution).
    #[error("{0}")]
    Attribution(#[from] assay_attribution::Error),
    /// The enclave's VM image (assay-image).
    #[error("{0}")]
    Image(#[from] assay_image::Error),
    /// A job's inputs (assay-enclave).
    #[error("{0}")]
    Enclave(#[from] assay_enclave::Error),
    /// An argument or input that cannot be used, named with the reason.
    #[error("{0}")]
    Input(String),
}

impl From<String> for Error {
    fn from(reason: String) -> Self {
        Error::Input(reason)
    }
}

impl From<&str> for Error {
    fn from(reason: &str) -> Self {
        Error::Input(reason.to_owned())
    }
}
