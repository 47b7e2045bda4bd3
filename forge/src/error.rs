//! The crate's one error type: what can make a result, a bundle, a JobSpec or a bundle policy
//! unusable. [`Error::kind`] names the case in one stable word and [`Error::http_status`] maps
//! it for an API.

/// Why a Forge object cannot be built, read or accepted.
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
    /// A compute fraction is set but no provider has compute units.
    #[error("compute fraction is {bps} bps but no compute provider has compute units")]
    NoComputeUnits {
        /// The fraction.
        bps: u32,
    },
    /// A Merkle tree needs at least one contribution.
    #[error("the contribution set is empty: a Merkle root needs at least one leaf")]
    EmptyContributionSet,
    /// A bundle file is not a bundle of this version.
    #[error("bundle {origin}: {reason}")]
    BundleFormat {
        /// Where it came from.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// A bundle check found something other than what it must be.
    #[error("{check}: expected {expected}, found {found}")]
    BundleMismatch {
        /// The bundle check (`shares`, `data_root`, `result_signature`, `nonce`, `tee`, `binding`,
        /// `code_hash`, …).
        check: &'static str,
        /// What it must be.
        expected: String,
        /// What the bundle holds.
        found: String,
    },
    /// A bundle made without a TEE, checked under a policy that requires one.
    #[error(
        "the bundle was produced without a TEE (evidence `none`, tee: false) and the policy requires a TEE (set allow_no_tee = true to accept coordinator-signed results)"
    )]
    TeeRequired,
    /// A bundle made without a TEE, but no coordinator named to check its signer against.
    #[error(
        "the bundle was produced without a TEE: name the coordinator address it must be signed by (--coordinator)"
    )]
    CoordinatorNotNamed,
    /// A TEE bundle checked under a policy that pins no measurement: any code would pass.
    #[error(
        "the policy pins no MEASUREMENT, so a report from any code would pass: give the enclave build's reference values (--reference, from `assay measure --reference`) or a policy with measurements (--any-measurement accepts any, insecure)"
    )]
    MeasurementNotPinned,
    /// The SNP report (or a certificate, or the policy file) failed its check.
    #[error("{0}")]
    Report(#[from] assay_attestation::Error),
    /// A JobSpec is malformed or contradicts itself.
    #[error("job {origin}: {reason}")]
    JobSpec {
        /// The file (or `-`).
        origin: String,
        /// What is wrong, and where.
        reason: String,
    },
    /// An alloy chain does not verify, or does not say what the bundle it is checked against
    /// says (`docs/attestation.md`, "The alloy chain of a job").
    #[error("alloy chain{}: {reason}", link.map(|i| format!(", link {i}")).unwrap_or_default())]
    Alloy {
        /// The link (1 = the first), when one is at fault.
        link: Option<usize>,
        /// What is wrong.
        reason: String,
    },
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl Error {
    /// The case in one stable word: the bundle check that failed (`format`, `shares`,
    /// `data_root`, `result_signature`, `nonce`, `tee`, `binding`, `code_hash`; for the report,
    /// the SNP check that failed: `parse`, `chain`, `signature`, `tcb`, `policy`, …),
    /// `allocation`, `job` or `io`.
    pub fn kind(&self) -> &'static str {
        use Error::*;
        match self {
            NonFiniteScore { .. } | ComputeFraction { .. } | NoComputeUnits { .. } => "allocation",
            EmptyContributionSet => "data_root",
            BundleFormat { .. } => "format",
            BundleMismatch { check, .. } => check,
            TeeRequired | CoordinatorNotNamed => "tee",
            MeasurementNotPinned => "report",
            Report(e) => e.check(),
            JobSpec { .. } => "job",
            Alloy { .. } => "alloy",
            Io { .. } => "io",
        }
    }

    /// The HTTP status an API answers with: 500 for a local file that could not be read, 400
    /// for an input that cannot be used at all, 422 for one that was read and rejected.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::Io { .. } => 500,
            Error::BundleFormat { .. } | Error::JobSpec { .. } => 400,
            _ => 422,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_statuses_and_report_errors_name_their_check() {
        let e = Error::BundleMismatch {
            check: "nonce",
            expected: "a".into(),
            found: "b".into(),
        };
        assert_eq!((e.kind(), e.http_status()), ("nonce", 422));
        let e = Error::Report(assay_attestation::Error::SignatureInvalid);
        assert_eq!((e.kind(), e.http_status()), ("signature", 422));
        let e = Error::JobSpec {
            origin: "job.toml".into(),
            reason: "format".into(),
        };
        assert_eq!((e.kind(), e.http_status()), ("job", 400));
        assert_eq!(Error::TeeRequired.kind(), "tee");
    }
}
