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
    /// A key service was configured without a pinned measurement.
    #[error(
        "the policy names no measurement: give reference values (`assay measure --reference`) or a policy with measurements, or any guest could take the key"
    )]
    UnpinnedPolicy,
    /// The nonce was never issued, or was already used.
    #[error("nonce was not issued by this key service or was already used")]
    NonceUnknown,
    /// The nonce is too old.
    #[error("nonce expired (nonces are valid for {ttl} s)")]
    NonceExpired {
        /// Lifetime in seconds.
        ttl: u64,
    },
    /// A key service was configured without an approved job.
    #[error(
        "no approved job: name each job the Forge approved (--approve, a job file); a key service releases keys to approved jobs only"
    )]
    NoApprovedJob,
    /// An approved job cannot be served by this key service.
    #[error("approved job {job}: {reason}")]
    ApprovedJob {
        /// The job's hash.
        job: String,
        /// Why this service cannot serve it.
        reason: String,
    },
    /// The enclave runs a job the Forge did not approve (or not at this key service).
    #[error("job {job} is not approved at this key service")]
    JobNotApproved {
        /// The job's hash.
        job: String,
    },
    /// The job's key was released as often as it may be.
    #[error(
        "the holdout key of job {job} was already released {max} times, the limit per job (each release is logged)"
    )]
    ReleaseLimit {
        /// The job's hash.
        job: String,
        /// The limit.
        max: u32,
    },
    /// HOST_DATA does not carry the job's hash.
    #[error(
        "HOST_DATA is {found}, not the job's hash {job}: the guest was launched for another job"
    )]
    HostDataMismatch {
        /// The job's hash.
        job: String,
        /// HOST_DATA.
        found: String,
    },
    /// The release log could not be written, so nothing was released.
    #[error("release log {path}: {source} (nothing was released)")]
    ReleaseLog {
        /// The log file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The report was refused by the attestation verifier.
    #[error("attestation report refused: {0}")]
    Report(assay_attestation::Error),
    /// REPORT_DATA does not bind the nonce, the X25519 key, the enclave address and the job.
    #[error(
        "REPORT_DATA does not equal SHA-512(\"assay-key-release/2\" ‖ nonce ‖ x25519 key ‖ enclave address ‖ job hash)"
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
    /// The wrapped key could not be opened with the enclave's key and the pinned service key.
    #[error(
        "the key service's answer does not open with this enclave's key and the service key the job pins (key_release.service_key): it is not from that key service, or not for this request"
    )]
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
    /// The check a refusal names: `nonce`, `job`, `limit`, `report_data`, `host_data`,
    /// `resource`, `request`, or the report check (`parse`, `chain`, `signature`, `tcb`,
    /// `policy`, …).
    pub fn check(&self) -> &str {
        match self {
            Error::NonceUnknown | Error::NonceExpired { .. } => "nonce",
            Error::JobNotApproved { .. } => "job",
            Error::ReleaseLimit { .. } => "limit",
            Error::HostDataMismatch { .. } => "host_data",
            Error::NoApprovedJob | Error::ApprovedJob { .. } => "config",
            Error::ReleaseLog { .. } => "io",
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
            Error::UnpinnedPolicy => "policy",
        }
    }

    /// The HTTP status the key service answers with: 403 for a refused attestation or job,
    /// 429 past a job's release limit, 404 for an unknown resource, 400 for a malformed
    /// request, 502 when a key service (as seen by its client) failed, 500 for local failures.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::NonceUnknown
            | Error::NonceExpired { .. }
            | Error::Report(_)
            | Error::ReportDataMismatch
            | Error::HostDataMismatch { .. }
            | Error::JobNotApproved { .. } => 403,
            Error::ReleaseLimit { .. } => 429,
            Error::UnknownResource { .. } => 404,
            Error::Request { .. } => 400,
            Error::Refused { .. } | Error::Transport { .. } => 502,
            _ => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_statuses() {
        assert_eq!(Error::NonceUnknown.http_status(), 403);
        assert_eq!(Error::ReportDataMismatch.http_status(), 403);
        let e = Error::UnknownResource {
            resource: "x".into(),
        };
        assert_eq!((e.check(), e.http_status()), ("resource", 404));
        let e = Error::Request {
            reason: "certificates[1] is not hex".into(),
        };
        assert_eq!((e.check(), e.http_status()), ("request", 400));
        assert_eq!(
            (
                Error::UnpinnedPolicy.check(),
                Error::UnpinnedPolicy.http_status()
            ),
            ("policy", 500)
        );
        let e = Error::ReleaseLimit {
            job: "0x1".into(),
            max: 3,
        };
        assert_eq!((e.check(), e.http_status()), ("limit", 429));
        let e = Error::JobNotApproved { job: "0x1".into() };
        assert_eq!((e.check(), e.http_status()), ("job", 403));
    }
}
