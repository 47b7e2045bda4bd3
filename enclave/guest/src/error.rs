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
    /// The SNP guest device (or the evidence channel) failed.
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
    /// The JobSpec, an allocation or a data_root could not be made.
    #[error("{0}")]
    Forge(#[from] assay_forge::Error),
    /// Key release or holdout decryption failed.
    #[error("{0}")]
    Keys(#[from] assay_keys::Error),
    /// The decrypted holdout is unusable.
    #[error("holdout: {0}")]
    Holdout(String),
    /// A contribution file or the recipe is unusable.
    #[error("{0}")]
    Recipe(#[from] assay_recipe::Error),
    /// Training, evaluation or the journal failed.
    #[error("attribution: {0}")]
    Attribution(#[from] assay_attribution::Error),
    /// A contributor is not an address.
    #[error("contributor {value:?} is not an Ethereum address (0x followed by 40 hex digits)")]
    Contributor {
        /// The text given.
        value: String,
    },
    /// A metric or score came out NaN or infinite.
    #[error("attribution: {what} is {value}, not a finite number")]
    NotFinite {
        /// Which number.
        what: String,
        /// Its value.
        value: f64,
    },
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The job's settings contradict each other.
    #[error("{0}")]
    Usage(String),
    /// Something failed after the holdout was decrypted: only its kind is said, since its text
    /// could quote the holdout.
    #[error(
        "{kind} failed after the holdout was decrypted; its details are withheld, since they could quote the holdout (every check that needs no holdout ran before key release)"
    )]
    Withheld {
        /// The failure's kind.
        kind: &'static str,
    },
}

impl Error {
    /// The case in one stable word.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Key { .. } => "key",
            Error::Sign(_) => "sign",
            Error::Device { .. } => "device",
            Error::Attestation(_) => "attestation",
            Error::Forge(e) => e.kind(),
            Error::Keys(_) => "key_release",
            Error::Holdout(_) => "holdout",
            Error::Recipe(_) => "recipe",
            Error::Attribution(_) => "attribution",
            Error::Contributor { .. } => "contributor",
            Error::NotFinite { .. } => "attribution",
            Error::Io { .. } => "io",
            Error::Usage(_) => "usage",
            Error::Withheld { kind } => kind,
        }
    }

    /// The HTTP status a host's API answers with for a job that failed so: 400 for a job or
    /// input that cannot be used, 422 for one refused on checking (a key service's refusal, a
    /// hash that differs), 502 for a key service or evidence device that failed, 500 for the
    /// rest (the enclave's own failures).
    pub fn http_status(&self) -> u16 {
        match self {
            Error::Key { .. } | Error::Holdout(_) | Error::Contributor { .. } | Error::Usage(_) => {
                400
            }
            Error::Forge(e) => e.http_status(),
            Error::Recipe(e) => e.http_status(),
            Error::Attribution(e) => e.http_status(),
            Error::Keys(e) => e.http_status(),
            Error::Attestation(e) => e.http_status(),
            Error::Device { .. } => 502,
            Error::Sign(_)
            | Error::NotFinite { .. }
            | Error::Io { .. }
            | Error::Withheld { .. } => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_statuses_and_withheld_errors_keep_only_their_kind() {
        let e = Error::Withheld { kind: "tokenizer" };
        assert_eq!((e.kind(), e.http_status()), ("tokenizer", 500));
        assert!(
            e.to_string()
                .starts_with("tokenizer failed after the holdout was decrypted")
        );
        let e = Error::Usage("x".into());
        assert_eq!((e.kind(), e.http_status()), ("usage", 400));
        let e = Error::Keys(assay_keys::Error::JobNotApproved { job: "0x1".into() });
        assert_eq!((e.kind(), e.http_status()), ("key_release", 403));
        let e = Error::Device {
            path: "/sys/kernel/config/tsm/report".into(),
            reason: "gone".into(),
        };
        assert_eq!((e.kind(), e.http_status()), ("device", 502));
    }
}
