//! The JobSpec: the job a Forge approves, and the unit of trust.
//!
//! A [`JobSpec`] carries everything that decides a result and nothing that does not: the Forge,
//! its contract and nonce; the recipe's canonical hash (which pins the model's weights,
//! tokenizer and chat template); the model's weights hash; the contribution file's SHA-256 and
//! its `data_root`; the holdout's commitment (the data key's id and the ciphertext's SHA-256);
//! the key service's public key; the approximation threshold and the compute share. It names no
//! file and no host: where the inputs lie, which evidence device to use and how many threads to
//! run are the host's business ([`RunSpec`]), and every input the host supplies is checked
//! against the JobSpec's hashes before it is used.
//!
//! Its hash, `SHA-256(canonical JSON)` (object keys sorted by their UTF-8 bytes, no insignificant
//! whitespace, every field written, absent options omitted), is what a key service approves,
//! what the host puts in HOST_DATA at launch, what the key-release report binds and what the
//! signed EvalResult commits to (`docs/jobspec.md`).
//!
//! A job file holds a JobSpec and, under `[run]`, the host's [`RunSpec`] ([`JobFile`]); the
//! `[run]` table is not part of the job or its hash.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256, FixedBytes};
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

/// The pinned recipe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipePin {
    /// The recipe's canonical hash (`assay recipe check`), the EvalResult's `recipe_hash`. It
    /// covers the model's weights hash, its `tokenizer.json` and its chat template.
    pub hash: B256,
}

/// The model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPin {
    /// The weights hash, as the recipe pins it (`model.weights_sha256`).
    pub weights_sha256: B256,
}

/// The contribution set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContributionsPin {
    /// SHA-256 of the contributions file (JSON Lines).
    pub sha256: B256,
    /// Its `data_root`: the OpenZeppelin Merkle root of (contributor, content hash).
    pub data_root: B256,
}

/// The holdout, committed to without revealing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldoutCommitment {
    /// The data key's id (`assay keys new` prints it; the encrypted file's header carries it).
    pub key_id: FixedBytes<16>,
    /// SHA-256 of the encrypted holdout file.
    pub sha256: B256,
}

/// The key service that releases the holdout key after attestation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyReleaseSpec {
    /// The key service's X25519 public key (`assay keys new-service-key`): its answers are
    /// authenticated with it (HPKE Auth mode), and the enclave refuses any other.
    pub service_key: B256,
    /// The holdout key's resource name there.
    #[serde(default = "default_resource")]
    pub resource: String,
}

fn default_resource() -> String {
    "holdout".into()
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

/// How the scores are computed and how shares go to compute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributionRules {
    /// Above this many contributions, the stratified approximation with this many groups.
    #[serde(default = "default_threshold")]
    pub threshold: u32,
    /// Basis points for compute providers.
    #[serde(default)]
    pub compute_bps: u16,
    /// Compute providers.
    #[serde(default)]
    pub providers: Vec<ProviderSpec>,
}

fn default_threshold() -> u32 {
    200
}

impl Default for AttributionRules {
    fn default() -> Self {
        AttributionRules {
            threshold: default_threshold(),
            compute_bps: 0,
            providers: Vec::new(),
        }
    }
}

/// The job a Forge approves. See the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// [`JOB_FORMAT`].
    pub format: String,
    /// The Forge.
    pub forge: ForgeRef,
    /// The pinned recipe.
    pub recipe: RecipePin,
    /// The model.
    pub model: ModelPin,
    /// The contribution set.
    pub contributions: ContributionsPin,
    /// The holdout.
    pub holdout: HoldoutCommitment,
    /// The key service (a TEE job); absent for a job run without a TEE by the coordinator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_release: Option<KeyReleaseSpec>,
    /// Attribution rules.
    #[serde(default)]
    pub attribution: AttributionRules,
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

/// How a host runs a job: where the inputs are, the evidence device, the key service's
/// address, threads, journal and outputs. None of it decides a result: every input is checked
/// against the [`JobSpec`]'s hashes, and results do not depend on workers or threads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// The recipe file (TOML).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<PathBuf>,
    /// The model folder (`config.json`, weights, tokenizer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<PathBuf>,
    /// The contributions (JSON Lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contributions: Option<PathBuf>,
    /// The encrypted holdout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<PathBuf>,
    /// The key service's URL (its answers are authenticated by the JobSpec's `service_key`,
    /// wherever they come from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_service: Option<String>,
    /// The evidence provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<EvidenceSpec>,
    /// Trainings in parallel (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
    /// Threads per training (default: the CPUs shared evenly between the workers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// The journal folder (sealed entries; a rerun resumes from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<PathBuf>,
    /// Where the bundle goes (JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<PathBuf>,
    /// The bundle as CBOR too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cbor: Option<PathBuf>,
    /// Where the job's alloy chain goes (a chain file; default: beside the bundle, `.alloy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<PathBuf>,
    /// The folder the trained adapter goes into (default: beside the bundle, `.adapter`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<PathBuf>,
}

impl RunSpec {
    /// The same settings with every relative path joined to `base`.
    pub fn resolved(mut self, base: &Path) -> Self {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for p in [
            &mut self.recipe,
            &mut self.model,
            &mut self.contributions,
            &mut self.holdout,
            &mut self.journal,
            &mut self.bundle,
            &mut self.cbor,
            &mut self.chain,
            &mut self.adapter,
        ] {
            p.iter_mut().for_each(join);
        }
        match &mut self.evidence {
            Some(EvidenceSpec::Snp { configfs, certs }) => {
                configfs.iter_mut().for_each(join);
                certs.iter_mut().for_each(join);
            }
            Some(EvidenceSpec::Simulated { socket }) => join(socket),
            Some(EvidenceSpec::None {
                holdout_key,
                coordinator_key,
            }) => {
                join(holdout_key);
                join(coordinator_key);
            }
            None => {}
        }
        self
    }
}

/// A job file: the JobSpec, and the host's `[run]` table beside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobFile {
    /// The job.
    pub job: JobSpec,
    /// How this host runs it (paths relative to the file's folder until
    /// [`resolved`](RunSpec::resolved)).
    pub run: RunSpec,
}

/// The key of the host's table in a job file.
const RUN: &str = "run";

fn bad(origin: &str, reason: impl Into<String>) -> Error {
    Error::JobSpec {
        origin: origin.to_owned(),
        reason: reason.into(),
    }
}

/// The largest JobSpec or job file read, TOML or JSON (a hundred thousand contributions fit).
/// Nesting: JSON by serde_json's limit (128), TOML by the `toml` crate's.
pub const MAX_JOB: usize = 16 << 20;

fn check_size(text: &str, origin: &str) -> Result<(), Error> {
    if text.len() > MAX_JOB {
        return Err(bad(
            origin,
            format!("{} bytes; a job is at most {MAX_JOB} (16 MiB)", text.len()),
        ));
    }
    Ok(())
}

impl JobFile {
    /// Parses a job file from TOML or JSON (JSON starts with `{`); `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, Error> {
        check_size(text, origin)?;
        let (job, run): (JobSpec, RunSpec) = if text.trim_start().starts_with('{') {
            let mut map: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(text).map_err(|e| bad(origin, format!("JSON: {e}")))?;
            let run = map
                .remove(RUN)
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| bad(origin, format!("JSON: run: {e}")))?
                .unwrap_or_default();
            let job = serde_json::from_value(serde_json::Value::Object(map))
                .map_err(|e| bad(origin, format!("JSON: {e}")))?;
            (job, run)
        } else {
            let mut table: toml::Table =
                toml::from_str(text).map_err(|e| bad(origin, format!("TOML: {e}")))?;
            let run = table
                .remove(RUN)
                .map(|v| v.try_into())
                .transpose()
                .map_err(|e: toml::de::Error| bad(origin, format!("TOML: [run]: {e}")))?
                .unwrap_or_default();
            let job = toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| bad(origin, format!("TOML: {e}")))?;
            (job, run)
        };
        job.check(origin)?;
        Ok(JobFile { job, run })
    }

    /// Reads a job file. Its `[run]` paths are relative to the file's folder: see
    /// [`JobFile::load_resolved`].
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// [`JobFile::load`], with the `[run]` paths joined to the file's folder.
    pub fn load_resolved(path: &Path) -> Result<Self, Error> {
        let mut file = Self::load(path)?;
        if let Some(dir) = path.parent() {
            file.run = file.run.resolved(dir);
        }
        Ok(file)
    }

    /// The file as TOML: the JobSpec, then `[run]` unless it is empty.
    pub fn to_toml(&self) -> String {
        let mut text = toml::to_string(&self.job).expect("a JobSpec is TOML");
        if self.run != RunSpec::default() {
            let mut run = toml::Table::new();
            run.insert(
                RUN.to_owned(),
                toml::Value::try_from(&self.run).expect("a RunSpec is TOML"),
            );
            text.push('\n');
            text.push_str(&toml::to_string(&run).expect("a RunSpec is TOML"));
        }
        text
    }
}

/// `value` as JSON with object keys sorted by their UTF-8 bytes and no insignificant whitespace.
fn canonical_json(value: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k).expect("a string serialises");
                out.push(b':');
                canonical_json(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(v, out);
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar).expect("a scalar serialises"),
    }
}

impl JobSpec {
    /// Parses a JobSpec alone (a job file's `[run]` table is refused here: see [`JobFile`]).
    pub fn parse(text: &str, origin: &str) -> Result<Self, Error> {
        check_size(text, origin)?;
        let spec: JobSpec = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| bad(origin, format!("JSON: {e}")))?
        } else {
            toml::from_str(text).map_err(|e| bad(origin, format!("TOML: {e}")))?
        };
        spec.check(origin)?;
        Ok(spec)
    }

    /// The rules serde cannot state, for a JobSpec built in code as for one read from a file;
    /// `origin` names it in errors.
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
        if a.compute_bps > 0 && a.providers.iter().all(|p| p.units == 0) {
            return Err(bad(
                origin,
                format!(
                    "attribution.compute_bps is {} but no provider has compute units",
                    a.compute_bps
                ),
            ));
        }
        if a.threshold == 0 {
            return Err(bad(origin, "attribution.threshold must be at least 1"));
        }
        if let Some(k) = &self.key_release
            && k.resource.is_empty()
        {
            return Err(bad(origin, "key_release.resource is empty"));
        }
        Ok(())
    }

    /// The canonical bytes (see the module documentation).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let value = serde_json::to_value(self).expect("a JobSpec always serialises");
        let mut out = Vec::new();
        canonical_json(&value, &mut out);
        out
    }

    /// `SHA-256(canonical bytes)`: the job hash.
    pub fn hash(&self) -> B256 {
        sha256(&self.canonical_bytes())
    }
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> B256 {
    B256::from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

/// Checks that `bytes`, read from `origin`, hash to `pin`; `what` names the input.
pub fn check_sha256(pin: B256, bytes: &[u8], what: &str, origin: &str) -> Result<(), Error> {
    let got = sha256(bytes);
    if got == pin {
        return Ok(());
    }
    Err(bad(
        origin,
        format!("{what} has SHA-256 {got}, but the job pins {pin}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> JobSpec {
        JobSpec {
            format: JOB_FORMAT.into(),
            forge: ForgeRef {
                id: B256::repeat_byte(1),
                chain_id: 8453,
                contract: Address::repeat_byte(2),
                nonce: B256::repeat_byte(3),
            },
            recipe: RecipePin {
                hash: B256::repeat_byte(4),
            },
            model: ModelPin {
                weights_sha256: B256::repeat_byte(5),
            },
            contributions: ContributionsPin {
                sha256: B256::repeat_byte(6),
                data_root: B256::repeat_byte(7),
            },
            holdout: HoldoutCommitment {
                key_id: FixedBytes::repeat_byte(8),
                sha256: B256::repeat_byte(9),
            },
            key_release: Some(KeyReleaseSpec {
                service_key: B256::repeat_byte(10),
                resource: "holdout".into(),
            }),
            attribution: AttributionRules::default(),
        }
    }

    #[test]
    fn canonical_bytes_sort_keys_and_spell_defaults() {
        let s = spec();
        let bytes = String::from_utf8(s.canonical_bytes()).unwrap();
        assert!(bytes.starts_with("{\"attribution\":{\"compute_bps\":0,\"providers\":[],\"threshold\":200},\"contributions\":"), "{bytes}");
        assert!(!bytes.contains(' ') && !bytes.contains('\n'));
        // A file that leaves the defaults out is the same job.
        let text = toml::to_string(&s).unwrap().replace(
            "[attribution]\nthreshold = 200\ncompute_bps = 0\nproviders = []\n",
            "",
        );
        assert!(!text.contains("attribution"), "{text}");
        assert_eq!(JobSpec::parse(&text, "t").unwrap().hash(), s.hash());
        // Any value changes it.
        let mut other = s.clone();
        other.attribution.compute_bps = 1;
        other.attribution.providers.push(ProviderSpec {
            address: Address::ZERO,
            units: 1,
        });
        assert_ne!(other.hash(), s.hash());
    }

    #[test]
    fn a_job_file_keeps_run_out_of_the_job() {
        let file = JobFile {
            job: spec(),
            run: RunSpec {
                recipe: Some("recipe.toml".into()),
                workers: Some(2),
                ..RunSpec::default()
            },
        };
        let text = file.to_toml();
        let parsed = JobFile::parse(&text, "job.toml").unwrap();
        assert_eq!(parsed, file);
        assert_eq!(parsed.job.hash(), spec().hash());
        // JSON too.
        let mut json = serde_json::to_value(&file.job).unwrap();
        json["run"] = serde_json::to_value(&file.run).unwrap();
        assert_eq!(JobFile::parse(&json.to_string(), "job.json").unwrap(), file);
        // A JobSpec alone has no run table.
        let e = JobSpec::parse(&text, "job.toml").unwrap_err();
        assert!(e.to_string().contains("run"), "{e}");
    }

    #[test]
    fn bad_jobs_are_named() {
        let text = toml::to_string(&spec()).unwrap();
        for (from, to, says) in [
            ("assay-job/1", "assay-job/9", "format"),
            ("threshold = 200", "threshold = 0", "threshold"),
            ("compute_bps = 0", "compute_bps = 10001", "compute_bps"),
            ("compute_bps = 0", "compute_bps = 5", "no provider"),
            ("resource = \"holdout\"", "resource = \"\"", "resource"),
            ("[forge]", "[forge]\nextra = 1", "extra"),
        ] {
            assert!(text.contains(from), "{from}");
            let e = JobFile::parse(&text.replacen(from, to, 1), "job.toml").unwrap_err();
            assert!(
                e.to_string().starts_with("job job.toml:") && e.to_string().contains(says),
                "{from} → {e}"
            );
            assert_eq!(e.kind(), "job");
        }
        let e = check_sha256(B256::ZERO, b"x", "the recipe", "r.toml").unwrap_err();
        assert!(e.to_string().contains("the recipe has SHA-256"), "{e}");
    }
}
