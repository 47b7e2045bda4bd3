//! The crate's one error type.

/// Why scores or an allocation cannot be computed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A score is NaN or infinite.
    #[error("score of contributor {contributor} is {score}, not a finite number")]
    NonFiniteScore {
        /// The contributor.
        contributor: String,
        /// The score.
        score: f64,
    },
    /// The compute fraction exceeds 100 %.
    #[error("compute fraction {bps} bps exceeds 10000 bps (100 %)")]
    ComputeFraction {
        /// The fraction.
        bps: u32,
    },
    /// An address is not 20 bytes of hex.
    #[error("{value:?} is not an Ethereum address (0x followed by 40 hex digits)")]
    Address {
        /// The text given.
        value: String,
    },
    /// A Merkle tree needs at least one contribution.
    #[error("the contribution set is empty: a Merkle root needs at least one leaf")]
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
    Recipe(String),
    /// A compute fraction is set but no provider has compute units.
    #[error("compute fraction is {bps} bps but no compute provider has compute units")]
    NoComputeUnits {
        /// The fraction.
        bps: u32,
    },
}
