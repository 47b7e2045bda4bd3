//! The enclave's flow, from an approved job to its bundle:
//! 1. [`read_inputs`]: every input the host supplies, read once from a regular file and checked
//!    against the JobSpec's hashes (recipe, model weights, contributions, encrypted holdout);
//! 2. [`run`]: the pinned model loaded and the contributions checked ([`crate::evaluate::prepare`]),
//!    still before any key is asked for;
//! 3. keys: a fresh secp256k1 signer and X25519 release key (without a TEE, the coordinator key);
//! 4. key release: challenge → a report binding nonce, X25519 key, address and job hash (and
//!    launched with the job hash as HOST_DATA) → the data key, sealed by the key service the
//!    JobSpec pins (an answer from any other does not open);
//! 5. decrypt the holdout and run the attribution, journaled under a key derived from the data
//!    key; from here on an error is reported by its kind only (its text could quote the
//!    holdout);
//! 6. sign the EvalResult, which commits to the job and its holdout (EIP-712), and get a report
//!    binding signer, digest and X25519 key; bind a fresh Ed25519 alloy key with the signer:
//!    the bundle, which carries the JobSpec;
//! 7. sign the job's alloy links with that key (dataset → adapter → eval, `docs/alloy.md`), the
//!    adapter being the one trained on every contribution, written out as a PEFT folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use alloy_primitives::{B256, Bytes, FixedBytes};
use assay_alloy::content::Entry;
use assay_alloy::{SignedLink, SigningKey};
use assay_attestation::abi::{AttestationReport, extract_report};
use assay_attribution::engine::JournalUse;
use assay_forge::binding::{alloy_key_digest, key_release_report_data, result_report_data};
use assay_forge::eip712::{Domain, signing_hash};
use assay_forge::job::{
    AttributionRules, ContributionsPin, EvidenceSpec, ForgeRef, HoldoutCommitment, JOB_FORMAT,
    JobSpec, KeyReleaseSpec, ModelPin, RecipePin, check_sha256, sha256,
};
use assay_forge::result::{EvalResult, JobCommitment};
use assay_forge::{AlloyKey, BUNDLE_FORMAT, BUNDLE_FORMAT_V2, Bundle, EvidenceKind};
use assay_keys::DataKey;
use assay_keys::http::Client;
use assay_keys::protocol::KeyRequest;
use assay_keys::wrap::ReleaseKey;
use assay_recipe::adapter::AdapterFiles;
use assay_recipe::data::Example;
use assay_recipe::recipe::Recipe;
use assay_recipe::source::ModelSource;
use assay_recipe::threads::Threads;

use crate::Error;
use crate::evaluate::{
    Binding, ContributionSet, Prepared, Settings, parse_contributions, parse_holdout, prepare,
};
use crate::evidence::channel::SpChannel;
use crate::evidence::none::NoTee;
use crate::evidence::sev_guest::{SEV_GUEST, SevGuest};
use crate::evidence::snp::{CONFIGFS_TSM, ConfigfsTsm};
use crate::evidence::{Evidence, EvidenceProvider};
use crate::identity::Signer;
use crate::journal::{SealedJournal, Shelf};

/// Where a job's inputs are on this host.
#[derive(Clone, Debug)]
pub struct Files {
    /// The recipe (TOML).
    pub recipe: PathBuf,
    /// The model folder.
    pub model: PathBuf,
    /// The contributions (JSON Lines).
    pub contributions: PathBuf,
    /// The encrypted holdout.
    pub holdout: PathBuf,
}

/// How this host runs a job; none of it changes a result.
#[derive(Clone, Debug)]
pub struct Launch {
    /// Trainings in parallel.
    pub workers: usize,
    /// Threads for each training.
    pub threads: Threads,
    /// Where the journal's sealed entries are kept, if the run may resume.
    pub journal: Option<Arc<dyn Shelf>>,
}

/// A job's inputs, read once and checked against its JobSpec.
#[derive(Clone, Debug)]
pub struct Inputs {
    /// The pinned recipe.
    pub recipe: Recipe,
    /// The model folder, on disk or received into memory (its files are checked against the
    /// recipe when loaded).
    pub model: ModelSource,
    /// The contributions.
    pub contributions: Vec<Example>,
    /// The encrypted holdout file's bytes.
    pub encrypted_holdout: Vec<u8>,
}

/// Reads `path` once, from a regular file only.
fn read(path: &Path) -> Result<Vec<u8>, Error> {
    Ok(assay_recipe::files::read_pinned(path)?)
}

/// `bytes` as UTF-8 text, or an error naming `path` and `what`.
fn text(bytes: Vec<u8>, path: &Path, what: &str) -> Result<String, Error> {
    String::from_utf8(bytes).map_err(|e| {
        Error::Usage(format!(
            "{}: {what} is not UTF-8 text (at byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })
}

fn differs(origin: &Path, reason: String) -> Error {
    Error::Forge(assay_forge::Error::JobSpec {
        origin: origin.display().to_string(),
        reason,
    })
}

/// Refuses `found` (what `what` is, read from `origin`) unless it is `pinned`, the job's.
fn agrees<T: PartialEq + std::fmt::Display>(
    origin: &Path,
    what: &str,
    found: T,
    pinned: T,
) -> Result<(), Error> {
    if found == pinned {
        return Ok(());
    }
    Err(differs(
        origin,
        format!("{what} {found}, but the job pins {pinned}"),
    ))
}

fn recipe_hash(recipe: &Recipe) -> B256 {
    recipe
        .hash()
        .parse()
        .expect("a recipe hash is 64 hex digits")
}

fn weights_hash(recipe: &Recipe, origin: &Path) -> Result<B256, Error> {
    recipe.model.weights_sha256.parse().map_err(|_| {
        differs(
            origin,
            "model.weights_sha256 is not 64 hex digits".to_owned(),
        )
    })
}

/// Reads every input of `job` from `files`: each once, from a regular file, and each checked
/// against the hash the job pins for it, before any of it is used.
pub fn read_inputs(job: &JobSpec, files: &Files) -> Result<Inputs, Error> {
    Ok(check_inputs(
        job,
        Received {
            recipe: (read(&files.recipe)?, &files.recipe),
            contributions: (read(&files.contributions)?, &files.contributions),
            holdout: (read(&files.holdout)?, &files.holdout),
        },
    )?
    .with_model(files.model.clone().into()))
}

/// A job's inputs as received (from files, or over a guest's channel), each with where it came
/// from (for messages).
#[derive(Debug)]
pub struct Received<'a> {
    /// The recipe file's bytes.
    pub recipe: (Vec<u8>, &'a Path),
    /// The contributions file's bytes.
    pub contributions: (Vec<u8>, &'a Path),
    /// The encrypted holdout's bytes.
    pub holdout: (Vec<u8>, &'a Path),
}

/// A job's recipe, contributions and encrypted holdout, each checked against its JobSpec: its
/// inputs once the model is named.
#[derive(Clone, Debug)]
pub struct Checked {
    recipe: Recipe,
    contributions: Vec<Example>,
    encrypted_holdout: Vec<u8>,
}

impl Checked {
    /// The job's inputs, with `model` (checked against the recipe when it is loaded).
    pub fn with_model(self, model: ModelSource) -> Inputs {
        Inputs {
            recipe: self.recipe,
            model,
            contributions: self.contributions,
            encrypted_holdout: self.encrypted_holdout,
        }
    }
}

/// Checks the recipe, the contributions and the encrypted holdout against the hashes `job`
/// pins for them, before any of it is used (the model comes after: a bad input costs no
/// transfer of it).
pub fn check_inputs(job: &JobSpec, received: Received<'_>) -> Result<Checked, Error> {
    let (recipe_bytes, recipe_path) = received.recipe;
    let recipe_text = text(recipe_bytes, recipe_path, "the recipe")?;
    let recipe = Recipe::from_toml(&recipe_text, &recipe_path.display().to_string())?;
    agrees(
        recipe_path,
        "the recipe's canonical hash is",
        recipe_hash(&recipe),
        job.recipe.hash,
    )?;
    agrees(
        recipe_path,
        "the recipe pins model weights",
        weights_hash(&recipe, recipe_path)?,
        job.model.weights_sha256,
    )?;
    let (bytes, path) = received.contributions;
    let origin = path.display().to_string();
    check_sha256(
        job.contributions.sha256,
        &bytes,
        "the contributions",
        &origin,
    )?;
    let contributions = parse_contributions(&text(bytes, path, "the contributions")?, &origin)?;
    let (encrypted_holdout, path) = received.holdout;
    let origin = path.display().to_string();
    check_sha256(
        job.holdout.sha256,
        &encrypted_holdout,
        "the encrypted holdout",
        &origin,
    )?;
    agrees(
        path,
        "the holdout is encrypted under key id",
        FixedBytes(assay_keys::holdout::key_id(&encrypted_holdout)?),
        job.holdout.key_id,
    )?;
    Ok(Checked {
        recipe,
        contributions,
        encrypted_holdout,
    })
}

/// The JobSpec of the inputs in `files` for `forge`: every hash computed from the files as
/// [`read_inputs`] will check them. This is what a Forge approves (`assay job new`).
pub fn describe(
    forge: ForgeRef,
    files: &Files,
    key_release: Option<KeyReleaseSpec>,
    attribution: AttributionRules,
) -> Result<JobSpec, Error> {
    let recipe_text = text(read(&files.recipe)?, &files.recipe, "the recipe")?;
    let recipe = Recipe::from_toml(&recipe_text, &files.recipe.display().to_string())?;
    let contributions_bytes = read(&files.contributions)?;
    let contributions = parse_contributions(
        &text(
            contributions_bytes.clone(),
            &files.contributions,
            "the contributions",
        )?,
        &files.contributions.display().to_string(),
    )?;
    let holdout = read(&files.holdout)?;
    let job = JobSpec {
        format: JOB_FORMAT.into(),
        forge,
        recipe: RecipePin {
            hash: recipe_hash(&recipe),
        },
        model: ModelPin {
            weights_sha256: weights_hash(&recipe, &files.recipe)?,
        },
        contributions: ContributionsPin {
            sha256: sha256(&contributions_bytes),
            data_root: ContributionSet::new(&contributions)?.data_root,
        },
        holdout: HoldoutCommitment {
            key_id: FixedBytes(assay_keys::holdout::key_id(&holdout)?),
            sha256: sha256(&holdout),
        },
        key_release,
        attribution,
    };
    job.check("the job described")?;
    Ok(job)
}

/// Where the holdout key comes from.
#[derive(Debug)]
pub enum HoldoutKey {
    /// Released by a key service after attestation (the JobSpec pins its key and the
    /// resource).
    Release {
        /// The key service's client (over HTTP, or through the host of a VM).
        client: Client,
    },
    /// Given directly, with the coordinator key: only without a TEE.
    Local {
        /// The data key.
        key: DataKey,
        /// The coordinator key that signs instead of an enclave key.
        coordinator: Signer,
    },
}

fn evidence_or_error(provider: &dyn EvidenceProvider, data: [u8; 64]) -> Result<Evidence, Error> {
    provider.attest(data)?.ok_or_else(|| {
        Error::Usage(format!(
            "evidence provider {} gave no report",
            provider.kind().name()
        ))
    })
}

/// What an error after the holdout was decrypted may say: its kind, and the text only of a
/// journal file error (a host path and the system's reason, nothing of the holdout).
fn withhold(e: Error) -> Error {
    match e {
        Error::Attribution(assay_attribution::Error::Io { .. }) => e,
        other => Error::Withheld { kind: other.kind() },
    }
}

/// The key service's answer for `job`, opened: the data key, the enclave's signer and X25519
/// key, and its launch measurement.
fn release(
    job: &JobSpec,
    client: &Client,
    provider: &dyn EvidenceProvider,
) -> Result<(Signer, ReleaseKey, DataKey, [u8; 48]), Error> {
    let spec = job.key_release.as_ref().ok_or_else(|| {
        Error::Usage(format!(
            "with a TEE ({}), the holdout key is released by a key service after attestation, but the job names none (key_release)",
            provider.kind().name()
        ))
    })?;
    let hash = job.hash();
    let signer = Signer::generate();
    let release_key = ReleaseKey::generate();
    let challenge = client.challenge()?;
    let data = key_release_report_data(
        &challenge.nonce,
        &release_key.public(),
        signer.address(),
        hash,
    );
    let evidence = evidence_or_error(provider, data)?;
    let report = extract_report(&evidence.report)
        .and_then(|(b, _)| AttestationReport::from_bytes(b))
        .map_err(Error::Attestation)?;
    if report.host_data != hash.0 {
        return Err(Error::Usage(format!(
            "HOST_DATA is {}, not this job's hash {hash}: the guest was launched for another job",
            B256::from(report.host_data)
        )));
    }
    let response = client.request_key(&KeyRequest {
        job: job.clone(),
        resource: spec.resource.clone(),
        nonce: challenge.nonce,
        enclave: signer.address(),
        x25519: release_key.public(),
        report: evidence.report,
        certificates: evidence.certificates.iter().map(hex::encode).collect(),
    })?;
    let data_key = release_key.unwrap_key(
        &response.wrapped,
        &spec.service_key.0,
        &challenge.nonce,
        hash,
        &spec.resource,
    )?;
    Ok((signer, release_key, data_key, report.measurement))
}

/// A finished job.
#[derive(Debug)]
pub struct Finished {
    /// Its bundle.
    pub bundle: Bundle,
    /// How the journal served the trainings: resumed from it, or refused and computed again.
    pub journal: JournalUse,
    /// Its alloy chain: the dataset, adapter and eval links, signed with the key the bundle
    /// binds.
    pub chain: Vec<SignedLink>,
    /// The adapters trained on every contribution (what the adapter link names).
    pub adapter: AdapterFiles,
}

/// The content hash (`docs/alloy.md` §4) of an adapter folder holding exactly `adapter`'s
/// files.
pub fn adapter_hash(adapter: &AdapterFiles) -> [u8; 32] {
    let entries: Vec<Entry> = adapter
        .files()
        .iter()
        .map(|(name, bytes)| Entry {
            path: (*name).to_owned(),
            size: bytes.len() as u64,
            sha256: sha256(bytes).0,
        })
        .collect();
    assay_alloy::content::directory(&entries)
}

/// A fresh Ed25519 key for the enclave's alloy links.
pub fn alloy_key() -> Result<SigningKey, Error> {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(seed.as_mut())
        .map_err(|_| Error::Sign("no randomness for the alloy key".into()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Makes `bundle` (sealed, with its JobSpec) a version-3 bundle binding `key`: the result's
/// signer signs `alloy_key_digest(EIP-712 digest, key)`.
pub fn bind_alloy_key(bundle: &mut Bundle, signer: &Signer, key: &SigningKey) -> Result<(), Error> {
    if signer.address() != bundle.signer {
        return Err(Error::Sign(format!(
            "the alloy key must be bound by the result's signer {}, not {}",
            bundle.signer,
            signer.address()
        )));
    }
    let public = B256::from(*key.verifying_key().as_bytes());
    let digest = signing_hash(&bundle.domain, &bundle.result);
    let signature = signer.sign(alloy_key_digest(digest, &public))?;
    bundle.format = BUNDLE_FORMAT.into();
    bundle.alloy = Some(AlloyKey {
        key: public,
        signature: Bytes::from(signature.to_vec()),
    });
    Ok(())
}

/// Prepares `job`'s attribution under its own rules (threshold, compute share, providers) and
/// checks that the contributions make the data_root the job pins: what the enclave and a
/// replay do alike before any holdout is touched.
pub(crate) fn prepare_job(
    job: &JobSpec,
    recipe: Recipe,
    model: ModelSource,
    contributions: &[Example],
    workers: usize,
    threads: Threads,
) -> Result<Prepared, Error> {
    let rules = &job.attribution;
    let prepared = prepare(
        Settings {
            recipe,
            model,
            workers,
            threads,
            threshold: rules.threshold as usize,
            compute_bps: rules.compute_bps,
            providers: rules
                .providers
                .iter()
                .map(|p| (p.address, p.units))
                .collect(),
        },
        contributions,
    )?;
    if prepared.data_root() != job.contributions.data_root {
        return Err(Error::Usage(format!(
            "the contributions' data_root is {}, but the job pins {}",
            prepared.data_root(),
            job.contributions.data_root
        )));
    }
    Ok(prepared)
}

/// Runs `job` on `inputs` (from [`read_inputs`]), reporting progress as `(finished, total)`
/// trainings, and returns the bundle.
pub fn run(
    job: &JobSpec,
    inputs: Inputs,
    launch: &Launch,
    provider: &dyn EvidenceProvider,
    key: HoldoutKey,
    progress: assay_attribution::engine::Progress<'_>,
) -> Result<Finished, Error> {
    let tee = provider.kind() != EvidenceKind::None;
    if !tee && job.key_release.is_some() {
        return Err(Error::Usage(
            "this job's holdout key is released by a key service after attestation (key_release), and evidence none has no TEE to attest".into(),
        ));
    }
    let method = assay_recipe::adapter::method(&inputs.recipe);
    let prepared = prepare_job(
        job,
        inputs.recipe,
        inputs.model,
        &inputs.contributions,
        launch.workers,
        launch.threads,
    )?;
    let (signer, release_key, data_key, measurement) = match (key, tee) {
        (HoldoutKey::Release { client }, true) => {
            let (signer, release_key, data_key, measurement) = release(job, &client, provider)?;
            (signer, Some(release_key), data_key, measurement)
        }
        (HoldoutKey::Local { key, coordinator }, false) => (coordinator, None, key, [0u8; 48]),
        (HoldoutKey::Release { .. }, false) => {
            return Err(Error::Usage(
                "the none provider has no TEE: a key service would (rightly) refuse it; give the holdout key and the coordinator key".into(),
            ));
        }
        (HoldoutKey::Local { .. }, true) => {
            return Err(Error::Usage(format!(
                "with a TEE ({}), the holdout key is released by the key service after attestation, never given directly",
                provider.kind().name()
            )));
        }
    };
    let hash = job.hash();
    let journal = launch
        .journal
        .clone()
        .map(|shelf| SealedJournal::on(shelf, &data_key, hash));
    let plaintext = assay_keys::holdout::decrypt(&inputs.encrypted_holdout, &data_key)?;
    drop(data_key);
    // The holdout is in memory: from here on, errors say their kind only.
    let evaluated = (|| {
        let text = std::str::from_utf8(&plaintext)
            .map_err(|e| Error::Holdout(format!("not UTF-8 at byte {}", e.valid_up_to())))?;
        let holdout = parse_holdout(text)?;
        prepared.evaluate(
            holdout,
            Binding {
                forge_id: job.forge.id,
                nonce: job.forge.nonce,
                measurement,
                tee,
                job: JobCommitment {
                    job_hash: hash,
                    holdout_key_id: job.holdout.key_id,
                    holdout_sha256: job.holdout.sha256,
                },
            },
            journal
                .as_ref()
                .map(|j| j as &dyn assay_attribution::engine::Journal),
            progress,
        )
    })()
    .map_err(withhold)?;
    drop(plaintext);
    let x25519 = release_key
        .as_ref()
        .map(ReleaseKey::public)
        .unwrap_or([0; 32]);
    let domain = Domain::assay(job.forge.chain_id, job.forge.contract);
    let mut bundle = seal(evaluated.result, &domain, provider, &signer, x25519)?;
    bundle.job = Some(job.clone());
    let key = alloy_key()?;
    bind_alloy_key(&mut bundle, &signer, &key)?;
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let chain = assay_forge::alloy::sign_job_links(
        &bundle,
        adapter_hash(&evaluated.adapter),
        method,
        &key,
        timestamp,
    )?;
    Ok(Finished {
        bundle,
        journal: evaluated.journal,
        chain,
        adapter: evaluated.adapter,
    })
}

/// Signs `result` in `domain` with `signer` and, with a TEE, gets a report binding the signer,
/// the digest and the X25519 key: the bundle (without its JobSpec, which [`run`] adds).
pub fn seal(
    result: EvalResult,
    domain: &Domain,
    provider: &dyn EvidenceProvider,
    signer: &Signer,
    x25519: [u8; 32],
) -> Result<Bundle, Error> {
    let tee = provider.kind() != EvidenceKind::None;
    if tee != result.tee {
        return Err(Error::Usage(format!(
            "the result says tee: {} but the evidence provider is {}",
            result.tee,
            provider.kind().name()
        )));
    }
    let digest = signing_hash(domain, &result);
    let signature = signer.sign(digest)?;
    let (report, certificates) = if tee {
        let evidence = evidence_or_error(
            provider,
            result_report_data(signer.address(), digest, &x25519),
        )?;
        (
            Some(Bytes::from(evidence.report)),
            evidence.certificates.into_iter().map(Bytes::from).collect(),
        )
    } else {
        (None, Vec::new())
    };
    Ok(Bundle {
        format: BUNDLE_FORMAT_V2.into(),
        evidence: provider.kind(),
        domain: domain.clone(),
        result,
        signer: signer.address(),
        signature: Bytes::from(signature.to_vec()),
        enclave_x25519: B256::from(x25519),
        report,
        certificates,
        job: None,
        alloy: None,
    })
}

/// The evidence provider and holdout-key source `evidence` names, with the key service at
/// `key_service` for a TEE.
pub fn provider_and_key(
    evidence: &EvidenceSpec,
    key_service: Option<&str>,
) -> Result<(Box<dyn EvidenceProvider>, HoldoutKey), Error> {
    let release = || {
        key_service
            .map(|url| HoldoutKey::Release {
                client: Client::new(url),
            })
            .ok_or_else(|| {
                Error::Usage(
                    "with a TEE the holdout key is released by a key service after attestation: say where it answers (run.key_service, --key-service)".into(),
                )
            })
    };
    Ok(match evidence {
        EvidenceSpec::Snp { configfs, certs } => {
            let fallback_certificates = match certs {
                None => Vec::new(),
                Some(dir) => assay_attestation::kds::load_certificate_dir(dir)
                    .map_err(Error::Attestation)?
                    .iter()
                    .map(|c| c.der().to_vec())
                    .collect(),
            };
            // configfs-tsm where the kernel has it (or where it is named), else the SNP guest
            // device of kernels before 6.7.
            let provider: Box<dyn EvidenceProvider> = match configfs {
                None if !Path::new(CONFIGFS_TSM).exists()
                    && SevGuest::present(Path::new(SEV_GUEST)) =>
                {
                    Box::new(SevGuest {
                        device: SEV_GUEST.into(),
                        fallback_certificates,
                    })
                }
                _ => Box::new(ConfigfsTsm {
                    root: configfs.clone().unwrap_or_else(|| CONFIGFS_TSM.into()),
                    fallback_certificates,
                }),
            };
            (provider, release()?)
        }
        EvidenceSpec::Simulated { socket } => (
            Box::new(SpChannel {
                socket: socket.clone(),
            }),
            release()?,
        ),
        EvidenceSpec::None {
            holdout_key,
            coordinator_key,
        } => {
            if key_service.is_some() {
                return Err(Error::Usage(
                    "evidence none has no TEE: a key service would (rightly) refuse it; give the holdout key and the coordinator key instead".into(),
                ));
            }
            (
                Box::new(NoTee),
                HoldoutKey::Local {
                    key: DataKey::load(holdout_key)?,
                    coordinator: Signer::load(coordinator_key)?,
                },
            )
        }
    })
}

/// Writes `bundle` to `json` and, if given, `cbor`, each file whole or not at all.
pub fn write_bundle(bundle: &Bundle, json: &Path, cbor: Option<&Path>) -> Result<(), Error> {
    assay_keys::write_atomic(json, bundle.to_json().as_bytes(), false)?;
    if let Some(path) = cbor {
        assay_keys::write_atomic(path, &bundle.to_cbor(), false)?;
    }
    Ok(())
}

/// Where a job's chain and adapter go by default: beside its bundle `X.json`, `X.alloy` and
/// the folder `X.adapter/`.
pub fn beside_bundle(bundle: &Path) -> (PathBuf, PathBuf) {
    (
        bundle.with_extension("alloy"),
        bundle.with_extension("adapter"),
    )
}

/// Writes the chain file (`docs/alloy.md` §5) to `chain` and the adapter's files into the
/// folder `adapter` (made if absent), each file whole or not at all.
pub fn write_chain_and_adapter(
    chain: &[SignedLink],
    chain_path: &Path,
    adapter: &AdapterFiles,
    adapter_dir: &Path,
) -> Result<(), Error> {
    let file = assay_alloy::chain_file(chain)
        .map_err(|e| Error::Sign(format!("the alloy chain file: {e}")))?;
    assay_keys::write_atomic(chain_path, &file, false)?;
    std::fs::create_dir_all(adapter_dir).map_err(|source| Error::Io {
        path: adapter_dir.display().to_string(),
        source,
    })?;
    for (name, bytes) in adapter.files() {
        assay_keys::write_atomic(&adapter_dir.join(name), bytes, false)?;
    }
    Ok(())
}
