//! The crate's one error type.

/// Why scores cannot be computed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// There is nothing to attribute.
    #[error("the contribution set is empty: there is nothing to attribute")]
    EmptyContributionSet,
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Training or evaluation failed.
    #[error("{0}")]
    Recipe(#[from] assay_recipe::Error),
}

impl Error {
    /// The case in one stable word: `empty`, `io`, or the recipe's own kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::EmptyContributionSet => "empty",
            Error::Io { .. } => "io",
            Error::Recipe(e) => e.kind(),
        }
    }

    /// The HTTP status an API answers with (the recipe's own for its errors).
    pub fn http_status(&self) -> u16 {
        match self {
            Error::EmptyContributionSet => 400,
            Error::Io { .. } => 500,
            Error::Recipe(e) => e.http_status(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_statuses_and_recipe_errors_keep_theirs() {
        let e = Error::EmptyContributionSet;
        assert_eq!((e.kind(), e.http_status()), ("empty", 400));
        let e = Error::Recipe(assay_recipe::Error::Empty("x".into()));
        assert_eq!((e.kind(), e.http_status()), ("empty", 400));
        let e = Error::Io {
            path: "journal".into(),
            source: std::io::Error::other("full"),
        };
        assert_eq!((e.kind(), e.http_status()), ("io", 500));
    }
}
