//! The crate's one error type. [`Error::kind`] names the case in one stable word, which is also
//! the last segment of its RFC 9457 problem `type`; [`Error::http_status`] maps it for the API.

/// Why the host could not do what it was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The job store could not be opened, migrated, read or written.
    #[error("job store {path}: {reason}")]
    Store {
        /// The database file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// No job with this id.
    #[error("no job {id}")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// Nothing of that kind exists yet (a bundle before the job succeeded, an attestation for
    /// a Forge with no verified one).
    #[error("{what}")]
    Absent {
        /// What is missing.
        what: String,
    },
    /// A submitted job is malformed, or names inputs this host cannot use.
    #[error("{field}: {reason}")]
    BadJob {
        /// Where: a field of the job, or `body`.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The job is in a state that does not allow the action.
    #[error("job {id} is {state}: cannot {action}")]
    Conflict {
        /// The job.
        id: String,
        /// Its state.
        state: String,
        /// What was asked.
        action: &'static str,
    },
    /// The request lacks the operator's token, or carries another.
    #[error("{0}")]
    Unauthorised(String),
    /// The request's `Accept` names no representation this resource has.
    #[error("not acceptable: this resource is served as {offered}")]
    NotAcceptable {
        /// The media types offered.
        offered: &'static str,
    },
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The enclave could not be launched, or its launch configuration is unusable.
    #[error("launcher {launcher}: {reason}")]
    Launch {
        /// The launcher.
        launcher: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The daemon's configuration (TLS, listen address, image) is unusable.
    #[error("{0}")]
    Config(String),
    /// A JobSpec, bundle or bundle check (assay-forge).
    #[error("{0}")]
    Forge(#[from] assay_forge::Error),
    /// A launch measurement (assay-measurements).
    #[error("{0}")]
    Measurements(#[from] assay_measurements::Error),
    /// The enclave image (assay-image).
    #[error("{0}")]
    Image(#[from] assay_image::Error),
    /// A certificate chain or report (assay-attestation).
    #[error("{0}")]
    Attestation(#[from] assay_attestation::Error),
}

impl Error {
    /// The case in one stable word.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Store { .. } => "store",
            Error::NotFound { .. } => "not_found",
            Error::Absent { .. } => "absent",
            Error::BadJob { .. } => "bad_job",
            Error::Conflict { .. } => "conflict",
            Error::Unauthorised(_) => "unauthorised",
            Error::NotAcceptable { .. } => "not_acceptable",
            Error::Io { .. } => "io",
            Error::Launch { .. } => "launch",
            Error::Config(_) => "config",
            Error::Forge(e) if e.http_status() == 400 => "bad_job",
            Error::Forge(_) => "bundle",
            Error::Measurements(_) => "measurement",
            Error::Image(e) => e.kind(),
            Error::Attestation(_) => "attestation",
        }
    }

    /// The HTTP status the API answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::BadJob { .. } => 400,
            Error::Unauthorised(_) => 401,
            Error::NotFound { .. } | Error::Absent { .. } => 404,
            Error::NotAcceptable { .. } => 406,
            Error::Conflict { .. } => 409,
            Error::Forge(e) => e.http_status(),
            Error::Store { .. }
            | Error::Io { .. }
            | Error::Launch { .. }
            | Error::Config(_)
            | Error::Measurements(_)
            | Error::Image(_)
            | Error::Attestation(_) => 500,
        }
    }

    /// The RFC 9457 problem type of this kind of error.
    pub fn problem_type(&self) -> String {
        problem_type(self.kind())
    }
}

/// The problem `type` URI of an error kind.
pub fn problem_type(kind: &str) -> String {
    format!("urn:assay:problem:{kind}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_statuses_and_problem_types() {
        let e = Error::NotFound { id: "j1".into() };
        assert_eq!((e.kind(), e.http_status()), ("not_found", 404));
        assert_eq!(e.problem_type(), "urn:assay:problem:not_found");
        let e = Error::Forge(assay_forge::Error::JobSpec {
            origin: "body".into(),
            reason: "x".into(),
        });
        assert_eq!((e.kind(), e.http_status()), ("bad_job", 400));
        let e = Error::Conflict {
            id: "j1".into(),
            state: "succeeded".into(),
            action: "cancel",
        };
        assert_eq!(e.http_status(), 409);
        assert_eq!(Error::Unauthorised("no token".into()).http_status(), 401);
    }
}
