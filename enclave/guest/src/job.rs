//! The enclave's flow, start to bundle:
//! 1. keys: a fresh secp256k1 signer and X25519 release key (or, without a TEE, the coordinator
//!    key and no release key);
//! 2. key release: challenge → report binding nonce, X25519 key and address → sealed data key;
//! 3. decrypt the holdout and run the attribution with the pinned recipe;
//! 4. sign the EvalResult (EIP-712) and get a report binding signer, digest and X25519 key;
//! 5. the bundle.

use alloy_primitives::{B256, Bytes};
use assay_attestation::abi::{AttestationReport, extract_report};
use assay_forge::binding::{key_release_report_data, result_report_data};
use assay_forge::eip712::{Domain, signing_hash};
use assay_forge::job::{EvidenceSpec, Input, JobSpec};
use assay_forge::result::EvalResult;
use assay_forge::{BUNDLE_FORMAT, Bundle, EvidenceKind};
use assay_keys::DataKey;
use assay_keys::http::Client;
use assay_keys::protocol::KeyRequest;
use assay_keys::wrap::ReleaseKey;
use assay_recipe::threads::Threads;

use crate::Error;
use crate::evaluate::{Binding, Settings, evaluate, parse_contributions, parse_holdout};
use crate::evidence::channel::SpChannel;
use crate::evidence::none::NoTee;
use crate::evidence::snp::{CONFIGFS_TSM, ConfigfsTsm};
use crate::evidence::{Evidence, EvidenceProvider};
use crate::identity::Signer;

/// One evaluation for one Forge.
#[derive(Clone, Debug)]
pub struct Job {
    /// The Forge.
    pub forge_id: B256,
    /// The Forge's nonce.
    pub nonce: B256,
    /// The EIP-712 domain (chain id, Forge contract).
    pub domain: Domain,
    /// Recipe, model, workers, compute providers.
    pub settings: Settings,
    /// The contributions.
    pub contributions: Vec<assay_recipe::data::Example>,
    /// The encrypted holdout file's bytes.
    pub encrypted_holdout: Vec<u8>,
}

/// Where the holdout key comes from.
#[derive(Debug)]
pub enum HoldoutKey {
    /// Released by a key service at this URL, for this resource, after attestation.
    Release {
        /// The key service.
        url: String,
        /// The resource name.
        resource: String,
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

/// Runs `job`, reporting progress as `(finished, total)` trainings, and returns the bundle.
pub fn run(
    job: &Job,
    provider: &dyn EvidenceProvider,
    key: HoldoutKey,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Bundle, Error> {
    let tee = provider.kind() != EvidenceKind::None;
    let (signer, release_key, data_key, measurement) = match (key, tee) {
        (HoldoutKey::Release { url, resource }, true) => {
            let signer = Signer::generate();
            let release_key = ReleaseKey::generate();
            let client = Client::new(&url);
            let challenge = client.challenge()?;
            let data =
                key_release_report_data(&challenge.nonce, &release_key.public(), signer.address());
            let evidence = evidence_or_error(provider, data)?;
            let report = extract_report(&evidence.report)
                .and_then(|(b, _)| AttestationReport::from_bytes(b))
                .map_err(Error::Attestation)?;
            let response = client.request_key(&KeyRequest {
                resource: resource.clone(),
                nonce: challenge.nonce,
                enclave: signer.address(),
                x25519: release_key.public(),
                report: evidence.report,
                certificates: evidence.certificates.iter().map(hex::encode).collect(),
            })?;
            let data_key =
                release_key.unwrap_key(&response.wrapped, &challenge.nonce, &resource)?;
            (signer, Some(release_key), data_key, report.measurement)
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
    let plaintext = assay_keys::holdout::decrypt(&job.encrypted_holdout, &data_key)?;
    drop(data_key);
    let text = std::str::from_utf8(&plaintext)
        .map_err(|e| Error::Holdout(format!("not UTF-8 at byte {}", e.valid_up_to())))?;
    let holdout = parse_holdout(text)?;
    drop(plaintext);
    let result = evaluate(
        &job.settings,
        &job.contributions,
        holdout,
        Binding {
            forge_id: job.forge_id,
            nonce: job.nonce,
            measurement,
            tee,
        },
        progress,
    )?;
    let x25519 = release_key
        .as_ref()
        .map(ReleaseKey::public)
        .unwrap_or([0; 32]);
    seal(result, &job.domain, provider, &signer, x25519)
}

/// Signs `result` in `domain` with `signer` and, with a TEE, gets a report binding the signer,
/// the digest and the X25519 key: the bundle.
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
        format: BUNDLE_FORMAT.into(),
        evidence: provider.kind(),
        domain: domain.clone(),
        result,
        signer: signer.address(),
        signature: Bytes::from(signature.to_vec()),
        enclave_x25519: B256::from(x25519),
        report,
        certificates,
    })
}

/// The evidence provider and holdout-key source a JobSpec names.
pub fn provider_and_key(spec: &JobSpec) -> Result<(Box<dyn EvidenceProvider>, HoldoutKey), Error> {
    let release = || {
        spec.key_release
            .as_ref()
            .map(|k| HoldoutKey::Release {
                url: k.url.clone(),
                resource: k.resource.clone(),
            })
            .ok_or_else(|| {
                Error::Usage(
                    "with a TEE the holdout key is released by a key service after attestation: name one (key_release.url, --key-service)".into(),
                )
            })
    };
    Ok(match &spec.evidence {
        EvidenceSpec::Snp { configfs, certs } => (
            Box::new(ConfigfsTsm {
                root: configfs.clone().unwrap_or_else(|| CONFIGFS_TSM.into()),
                fallback_certificates: match certs {
                    None => Vec::new(),
                    Some(dir) => assay_attestation::kds::load_certificate_dir(dir)
                        .map_err(Error::Attestation)?
                        .iter()
                        .map(|c| c.der().to_vec())
                        .collect(),
                },
            }),
            release()?,
        ),
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
            if spec.key_release.is_some() {
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

/// Reads a JobSpec input once, from a regular file only, and checks the bytes against the hash
/// the JobSpec pins for it: what is checked is what is used.
fn read_input(input: &Input, what: &str) -> Result<Vec<u8>, Error> {
    let bytes = assay_recipe::files::read_pinned(&input.path)?;
    JobSpec::check_input(input, &bytes, what)?;
    Ok(bytes)
}

/// [`read_input`], as UTF-8 text.
fn read_text(input: &Input, what: &str) -> Result<String, Error> {
    String::from_utf8(read_input(input, what)?).map_err(|e| {
        Error::Usage(format!(
            "{}: {what} is not UTF-8 text (at byte {})",
            input.path.display(),
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Reads everything `spec` names (each pinned input checked against its hash) into a [`Job`].
pub fn job_from_spec(spec: &JobSpec) -> Result<Job, Error> {
    let recipe_text = read_text(&spec.recipe, "the recipe")?;
    let contributions_text = read_text(&spec.contributions, "the contributions")?;
    let a = &spec.attribution;
    Ok(Job {
        forge_id: spec.forge.id,
        nonce: spec.forge.nonce,
        domain: Domain::assay(spec.forge.chain_id, spec.forge.contract),
        settings: Settings {
            recipe: assay_recipe::recipe::Recipe::from_toml(
                &recipe_text,
                &spec.recipe.path.display().to_string(),
            )?,
            model: spec.model.path.clone(),
            workers: a.workers,
            threads: match a.threads {
                Some(n) => Threads::new(n).expect("the JobSpec checks threads ≥ 1"),
                None => Threads::per_worker(a.workers),
            },
            threshold: a.threshold,
            journal: a.journal.clone(),
            compute_bps: a.compute_bps,
            providers: a.providers.iter().map(|p| (p.address, p.units)).collect(),
        },
        contributions: parse_contributions(
            &contributions_text,
            &spec.contributions.path.display().to_string(),
        )?,
        encrypted_holdout: read_input(&spec.holdout, "the encrypted holdout")?,
    })
}

/// Runs the job `spec` describes and writes its bundle where the JobSpec says (JSON, and CBOR if
/// asked), each file whole or not at all.
pub fn execute(spec: &JobSpec, progress: &(dyn Fn(usize, usize) + Sync)) -> Result<Bundle, Error> {
    let (provider, key) = provider_and_key(spec)?;
    let job = job_from_spec(spec)?;
    let bundle = run(&job, provider.as_ref(), key, progress)?;
    assay_keys::write_atomic(&spec.output.bundle, bundle.to_json().as_bytes(), false)?;
    if let Some(path) = &spec.output.cbor {
        assay_keys::write_atomic(path, &bundle.to_cbor(), false)?;
    }
    Ok(bundle)
}
