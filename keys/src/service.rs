//! The key service: releases a holdout key only to an enclave that proves, with an SNP report,
//! that it is a pinned measurement running a job the Forge approved — at most a few times per
//! job, each release logged.
//!
//! For each request, in order: the nonce is one this service issued, unspent and fresh; the
//! JobSpec is approved here; the resource is the job's; the job's key has been released fewer
//! than `max_releases` times; the report passes the verifier (AMD chain, TCB, policy with a
//! pinned MEASUREMENT, VMPL 0 unless the policy names another); REPORT_DATA binds the nonce,
//! the enclave's X25519 key and address, and the job's hash; HOST_DATA is the job's hash. Only
//! then is the key sealed to the enclave, authenticated by the service's key (HPKE Auth mode),
//! and the release counted and logged.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use alloy_primitives::B256;
use assay_attestation::Verifier;
use assay_attestation::verify::Certificate;
use assay_forge::binding::key_release_report_data;
use assay_forge::job::JobSpec;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::nonces::{DEFAULT_CAP, NonceTable};
use crate::protocol::{Challenge, KeyRequest, KeyResponse};
use crate::wrap::{ServiceKey, wrap_key};
use crate::{DataKey, Error};

/// How often a job's key may be released by default: a first run and two resumptions.
pub const DEFAULT_MAX_RELEASES: u32 = 3;

/// What a key service serves, to whom, and how often.
pub struct Config {
    /// Verifies the enclaves' reports: roots, CRLs and a policy that pins the measurement.
    pub verifier: Verifier,
    /// Data keys by resource name.
    pub resources: HashMap<String, DataKey>,
    /// The service's own key, which authenticates every answer (the jobs pin its public half).
    pub service_key: ServiceKey,
    /// The jobs the Forge approved.
    pub approved: Vec<JobSpec>,
    /// How long a challenge nonce stays valid.
    pub nonce_ttl: Duration,
    /// Releases per job at most (at least 1).
    pub max_releases: u32,
    /// An append-only log of releases (JSON Lines), read at start to restore the counts.
    pub release_log: Option<PathBuf>,
}

/// One logged release.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Release {
    time: String,
    job: B256,
    resource: String,
    enclave: alloy_primitives::Address,
    measurement: String,
    chip_id: String,
    /// This job's releases so far, this one included.
    count: u32,
    /// Whether the report chained to a test root rather than AMD's.
    test_root: bool,
}

/// A key service. See the module documentation.
pub struct KeyService {
    verifier: Verifier,
    resources: HashMap<String, DataKey>,
    service_key: ServiceKey,
    approved: HashMap<B256, JobSpec>,
    ttl: Duration,
    max_releases: u32,
    release_log: Option<PathBuf>,
    nonces: Mutex<NonceTable>,
    released: Mutex<HashMap<B256, u32>>,
}

impl std::fmt::Debug for KeyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyService")
            .field("resources", &self.resources.keys().collect::<Vec<_>>())
            .field("approved", &self.approved.keys().collect::<Vec<_>>())
            .field("ttl", &self.ttl)
            .field("max_releases", &self.max_releases)
            .finish_non_exhaustive()
    }
}

/// Reads the release counts of a release log (absent: none yet).
fn read_counts(path: &Path) -> Result<HashMap<B256, u32>, Error> {
    let log_error = |source| Error::ReleaseLog {
        path: path.display().to_string(),
        source,
    };
    let text = match std::fs::read_to_string(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        other => other.map_err(log_error)?,
    };
    let mut counts = HashMap::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let release: Release = serde_json::from_str(line).map_err(|e| {
            log_error(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("line {}: {e}", i + 1),
            ))
        })?;
        *counts.entry(release.job).or_insert(0) += 1;
    }
    Ok(counts)
}

impl KeyService {
    /// A service releasing `config.resources` to the approved jobs' enclaves.
    ///
    /// Refused unless the verifier's policy pins at least one MEASUREMENT (without one, any
    /// guest on a genuine AMD chip, whatever it runs, could take the holdout key), at least one
    /// job is approved, and every approved job names this service's key, a resource it holds
    /// and that resource's key (its holdout commitment's key id).
    pub fn new(config: Config) -> Result<Self, Error> {
        if config
            .verifier
            .policy
            .measurements
            .as_ref()
            .is_none_or(|m| m.is_empty())
        {
            return Err(Error::UnpinnedPolicy);
        }
        if config.approved.is_empty() {
            return Err(Error::NoApprovedJob);
        }
        let mut approved = HashMap::new();
        for job in config.approved {
            let hash = job.hash();
            let refuse = |reason: String| Error::ApprovedJob {
                job: hash.to_string(),
                reason,
            };
            let Some(release) = &job.key_release else {
                return Err(refuse(
                    "it names no key service (a job without a TEE gets no key)".into(),
                ));
            };
            if release.service_key != config.service_key.public() {
                return Err(refuse(format!(
                    "it pins the service key {}, but this service's key is {}",
                    release.service_key,
                    config.service_key.public()
                )));
            }
            let Some(key) = config.resources.get(&release.resource) else {
                return Err(refuse(format!(
                    "its resource {:?} is not served here",
                    release.resource
                )));
            };
            if key.id() != job.holdout.key_id.0 {
                return Err(refuse(format!(
                    "its holdout is encrypted under key id {}, but resource {:?} holds key id {}",
                    job.holdout.key_id,
                    release.resource,
                    hex::encode(key.id())
                )));
            }
            approved.insert(hash, job);
        }
        let released = match &config.release_log {
            Some(path) => read_counts(path)?,
            None => HashMap::new(),
        };
        Ok(KeyService {
            verifier: Verifier {
                policy: assay_forge::policy::for_enclave_reports(config.verifier.policy.clone()),
                ..config.verifier
            },
            resources: config.resources,
            service_key: config.service_key,
            approved,
            ttl: config.nonce_ttl,
            max_releases: config.max_releases.max(1),
            release_log: config.release_log,
            nonces: Mutex::new(NonceTable::new(config.nonce_ttl, DEFAULT_CAP)),
            released: Mutex::new(released),
        })
    }

    /// Whether it trusts a test root besides AMD's (a simulated AMD-SP's): then it must be loud
    /// about it and serve on loopback only ([`crate::http::serve`]).
    pub fn trusts_test_root(&self) -> bool {
        self.verifier.trust.trusts_test_root()
    }

    /// The service's public key, as jobs pin it.
    pub fn public_key(&self) -> B256 {
        self.service_key.public()
    }

    /// How often `job`'s key has been released.
    pub fn releases(&self, job: B256) -> u32 {
        self.released
            .lock()
            .expect("release counts")
            .get(&job)
            .copied()
            .unwrap_or(0)
    }

    /// A fresh, single-use nonce.
    pub fn challenge(&self) -> Challenge {
        let mut nonce = [0u8; 32];
        aws_lc_rs::rand::fill(&mut nonce).expect("the system RNG works");
        self.nonces.lock().expect("nonce table").issue(nonce);
        Challenge {
            nonce,
            expires_in: self.ttl.as_secs(),
        }
    }

    /// Verifies `request` and, if everything holds, seals the resource's key to the enclave
    /// and logs the release. The nonce is spent by any attempt, successful or not.
    pub fn release(&self, request: &KeyRequest) -> Result<KeyResponse, Error> {
        let issued = self
            .nonces
            .lock()
            .expect("nonce table")
            .take(&request.nonce);
        match issued {
            None => return Err(Error::NonceUnknown),
            Some(t) if t.elapsed() >= self.ttl => {
                return Err(Error::NonceExpired {
                    ttl: self.ttl.as_secs(),
                });
            }
            Some(_) => {}
        }
        let hash = request.job.hash();
        let job = self
            .approved
            .get(&hash)
            .ok_or_else(|| Error::JobNotApproved {
                job: hash.to_string(),
            })?;
        let resource = &job
            .key_release
            .as_ref()
            .expect("approved jobs name a key service")
            .resource;
        if &request.resource != resource {
            return Err(Error::UnknownResource {
                resource: request.resource.clone(),
            });
        }
        let key = &self.resources[resource];
        if self.releases(hash) >= self.max_releases {
            return Err(Error::ReleaseLimit {
                job: hash.to_string(),
                max: self.max_releases,
            });
        }
        let certificates = request
            .certificates
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let der = hex::decode(h).map_err(|_| Error::Request {
                    reason: format!("certificates[{i}] is not hex"),
                })?;
                Certificate::from_der(&der, format!("certificates[{i}]")).map_err(Error::Report)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut verifier = self.verifier.clone();
        verifier.at = OffsetDateTime::now_utc();
        let accepted = verifier
            .verify(&request.report, &certificates)
            .map_err(|r| Error::Report(r.error))?;
        let want = key_release_report_data(&request.nonce, &request.x25519, request.enclave, hash);
        if accepted.report.report_data != want {
            return Err(Error::ReportDataMismatch);
        }
        if accepted.report.host_data != hash.0 {
            return Err(Error::HostDataMismatch {
                job: hash.to_string(),
                found: B256::from(accepted.report.host_data).to_string(),
            });
        }
        let wrapped = wrap_key(
            key,
            &request.x25519,
            &self.service_key,
            &request.nonce,
            hash,
            resource,
        )?;
        // Counted and logged before the key leaves; past the limit (a concurrent release won
        // the last one) or without a log line, nothing leaves.
        let mut released = self.released.lock().expect("release counts");
        let count = released.get(&hash).copied().unwrap_or(0) + 1;
        if count > self.max_releases {
            return Err(Error::ReleaseLimit {
                job: hash.to_string(),
                max: self.max_releases,
            });
        }
        let release = Release {
            time: OffsetDateTime::now_utc()
                .format(&Rfc3339)
                .unwrap_or_default(),
            job: hash,
            resource: resource.clone(),
            enclave: request.enclave,
            measurement: hex::encode(accepted.report.measurement),
            chip_id: hex::encode(accepted.report.chip_id),
            count,
            test_root: !accepted.amd_root,
        };
        let line = serde_json::to_string(&release).expect("a release serialises");
        if let Some(path) = &self.release_log {
            append_line(path, &line).map_err(|source| Error::ReleaseLog {
                path: path.display().to_string(),
                source,
            })?;
        }
        released.insert(hash, count);
        drop(released);
        eprintln!(
            "key service: released {resource:?} to enclave {} for job {hash} ({count} of {}){}",
            request.enclave,
            self.max_releases,
            if release.test_root {
                "; WARNING: under a TEST root: a simulated AMD-SP's report vouched for it"
            } else {
                ""
            }
        );
        Ok(KeyResponse {
            resource: resource.clone(),
            wrapped,
        })
    }
}

/// Appends `line` and a newline to `path` and syncs it to disk.
fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(format!("{line}\n").as_bytes())?;
    file.sync_all()
}
