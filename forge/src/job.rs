//! The JobSpec: one typed, versioned file that says everything an enclave job needs — which
//! Forge and nonce, which recipe, model, contributions and holdout (with their hashes), where the
//! holdout key comes from, which evidence, how shares go to compute providers, and where the
//! bundle goes. TOML or JSON. Paths are relative to the file's folder.
//!
//! Its hash, `SHA-256(canonical JSON)` — the JobSpec as written, serialised as JSON with object
//! keys sorted, no insignificant whitespace, absent optional fields omitted — is what a host puts
//! in HOST_DATA at launch, so that the report binds the job (`docs/jobspec.md`).

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};

use crate::Error;

/// The `format` of this version.
pub const JOB_FORMAT: &str = "assay-job/1";

/// The Forge, its contract and the nonce of this evaluation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgeRef {
    /// The Forge id.
    pub id: B256,
    /// EIP-712 domain: the chain id.
    pub chain_id: u64,
    /// EIP-712 domain: the Forge contract.
    pub contract: Address,
    /// The Forge's nonce for this evaluation.
    pub nonce: B256,
}

/// A file the job reads, and optionally the SHA-256 its bytes must have.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The file.
    pub path: PathBuf,
    /// Its SHA-256; when given, other bytes are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<B256>,
}

impl Input {
    /// An input by path, with no pinned hash.
    pub fn path(path: impl Into<PathBuf>) -> Self {
        Input {
            path: path.into(),
            sha256: None,
        }
    }
}

/// The model directory (the recipe pins its files' hashes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRef {
    /// The folder with `config.json`, the weights and the tokenizer.
    pub path: PathBuf,
}

/// The key service that releases the holdout key after attestation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRelease {
    /// Its URL.
    pub url: String,
    /// The holdout key's resource name there.
    #[serde(default = "default_resource")]
    pub resource: String,
}

fn default_resource() -> String {
    "holdout".into()
}

/// Where the enclave's reports come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum EvidenceSpec {
    /// The real SEV-SNP guest, through configfs-tsm.
    Snp {
        /// The configfs-tsm report directory (default `/sys/kernel/config/tsm/report`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        configfs: Option<PathBuf>,
        /// Certificates to use when the host supplies no certificate table.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        certs: Option<PathBuf>,
    },
    /// A simulated AMD-SP outside the guest, reached over the evidence channel.
    Simulated {
        /// The channel's Unix socket.
        socket: PathBuf,
    },
    /// No TEE: the coordinator key signs, `tee: false`.
    None {
        /// The holdout's data key file.
        holdout_key: PathBuf,
        /// The coordinator's secp256k1 key file.
        coordinator_key: PathBuf,
    },
}

/// A compute provider and its compute units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSpec {
    /// Its address.
    pub address: Address,
    /// Compute units it supplied.
    pub units: u64,
}

/// How the attribution runs and how shares go to compute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributionSpec {
    /// Above this many contributions, the stratified approximation.
    #[serde(default = "default_threshold")]
    pub threshold: usize,
    /// Basis points for compute providers.
    #[serde(default)]
    pub compute_bps: u16,
    /// Compute providers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<ProviderSpec>,
    /// Trainings in parallel (results do not depend on it).
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Threads per training (results do not depend on it); default: the CPUs shared evenly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// Journal folder for resumption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<PathBuf>,
}

fn default_threshold() -> usize {
    200
}

fn default_workers() -> usize {
    1
}

impl Default for AttributionSpec {
    fn default() -> Self {
        AttributionSpec {
            threshold: default_threshold(),
            compute_bps: 0,
            providers: Vec::new(),
            workers: default_workers(),
            threads: None,
            journal: None,
        }
    }
}

/// Where the bundle goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// The bundle, as JSON.
    pub bundle: PathBuf,
    /// The bundle as CBOR too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cbor: Option<PathBuf>,
}

/// One enclave job. See the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// [`JOB_FORMAT`].
    pub format: String,
    /// The Forge.
    pub forge: ForgeRef,
    /// The pinned recipe (TOML).
    pub recipe: Input,
    /// The model the recipe pins.
    pub model: ModelRef,
    /// Contributions (JSON Lines).
    pub contributions: Input,
    /// The encrypted holdout.
    pub holdout: Input,
    /// The key service (with a TEE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_release: Option<KeyRelease>,
    /// The evidence provider.
    pub evidence: EvidenceSpec,
    /// Attribution settings.
    #[serde(default)]
    pub attribution: AttributionSpec,
    /// Outputs.
    pub output: OutputSpec,
}

fn bad(origin: &str, reason: impl Into<String>) -> Error {
    Error::JobSpec {
        origin: origin.to_owned(),
        reason: reason.into(),
    }
}

impl JobSpec {
    /// Parses a JobSpec from TOML or JSON (JSON starts with `{`); `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, Error> {
        let spec: JobSpec = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| bad(origin, format!("JSON: {e}")))?
        } else {
            toml::from_str(text).map_err(|e| bad(origin, format!("TOML: {e}")))?
        };
        spec.check(origin)?;
        Ok(spec)
    }

    /// Reads a JobSpec file, as written: its hash is of this form. Run it with its relative
    /// paths [`resolved`](JobSpec::resolved) against the file's folder.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The rules serde cannot state (format, bounds, evidence against key release), for a
    /// JobSpec built in code as for one read from a file; `origin` names it in errors.
    pub fn check(&self, origin: &str) -> Result<(), Error> {
        if self.format != JOB_FORMAT {
            return Err(bad(
                origin,
                format!(
                    "format is {:?}; this program reads {JOB_FORMAT:?}",
                    self.format
                ),
            ));
        }
        let a = &self.attribution;
        if a.compute_bps > 10_000 {
            return Err(bad(
                origin,
                format!(
                    "attribution.compute_bps is {}; at most 10000",
                    a.compute_bps
                ),
            ));
        }
        if a.workers == 0 || a.threads == Some(0) {
            return Err(bad(
                origin,
                "attribution.workers and attribution.threads must be at least 1",
            ));
        }
        match (&self.evidence, &self.key_release) {
            (EvidenceSpec::None { .. }, Some(_)) => Err(bad(
                origin,
                "evidence kind none has no TEE: a key service would (rightly) refuse it; remove key_release",
            )),
            (EvidenceSpec::Snp { .. } | EvidenceSpec::Simulated { .. }, None) => Err(bad(
                origin,
                "with a TEE the holdout key is released by a key service after attestation: add key_release",
            )),
            _ => Ok(()),
        }
    }

    /// The canonical bytes: JSON with sorted keys and no whitespace.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let value = serde_json::to_value(self).expect("a JobSpec always serialises");
        serde_json::to_vec(&value).expect("a JSON value always serialises")
    }

    /// `SHA-256(canonical bytes)`: what HOST_DATA carries.
    pub fn hash(&self) -> B256 {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.canonical_bytes());
        B256::from_slice(d.as_ref())
    }

    /// The same JobSpec with every relative path joined to `base`.
    pub fn resolved(mut self, base: &Path) -> Self {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        join(&mut self.recipe.path);
        join(&mut self.model.path);
        join(&mut self.contributions.path);
        join(&mut self.holdout.path);
        match &mut self.evidence {
            EvidenceSpec::Snp { configfs, certs } => {
                configfs.iter_mut().for_each(join);
                certs.iter_mut().for_each(join);
            }
            EvidenceSpec::Simulated { socket } => join(socket),
            EvidenceSpec::None {
                holdout_key,
                coordinator_key,
            } => {
                join(holdout_key);
                join(coordinator_key);
            }
        }
        self.attribution.journal.iter_mut().for_each(join);
        join(&mut self.output.bundle);
        self.output.cbor.iter_mut().for_each(join);
        self
    }

    /// Checks `bytes`, read from `input`, against the SHA-256 the JobSpec pins for it (if it
    /// pins one); `what` names the input in the error.
    pub fn check_input(input: &Input, bytes: &[u8], what: &str) -> Result<(), Error> {
        let Some(want) = input.sha256 else {
            return Ok(());
        };
        let got = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
        if got.as_ref() == want.as_slice() {
            return Ok(());
        }
        Err(bad(
            &input.path.display().to_string(),
            format!(
                "{what} has SHA-256 {}, but the JobSpec pins {want}",
                B256::from_slice(got.as_ref())
            ),
        ))
    }
}
