//! The crate's one error type.

/// Why an image could not be described, assembled or checked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// An image description or the pins file is malformed.
    #[error("{path}: {reason}")]
    Spec {
        /// The file.
        path: String,
        /// What is wrong, and where.
        reason: String,
    },
    /// An input is not what the pins say it is.
    #[error("{what}: {reason}")]
    Pin {
        /// The input.
        what: String,
        /// How it differs.
        reason: String,
    },
    /// The initramfs cannot hold what was given.
    #[error("the initramfs: {0}")]
    Archive(String),
    /// A launch could not be measured.
    #[error("{0}")]
    Measurement(#[from] assay_measurements::Error),
}

impl Error {
    /// The case in one stable word.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::Spec { .. } => "spec",
            Error::Pin { .. } => "pin",
            Error::Archive(_) => "archive",
            Error::Measurement(_) => "measurement",
        }
    }
}

pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}
