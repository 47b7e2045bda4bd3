//! The enclave's flow, start to bundle:
//! 1. keys: a fresh secp256k1 signer and X25519 release key (or, without a TEE, the coordinator
//!    key and no release key);
//! 2. key release: challenge → report binding nonce, X25519 key and address → sealed data key;
//! 3. decrypt the holdout and run the attribution with the pinned recipe;
//! 4. sign the EvalResult (EIP-712) and get a report binding signer, digest and X25519 key;
//! 5. the bundle.

use alloy_primitives::{B256, Bytes};
use assay_attestation::abi::{AttestationReport, extract_report};
use assay_attestation::bundle::binding::{key_release_report_data, result_report_data};
use assay_attestation::bundle::eip712::{Domain, signing_hash};
use assay_attestation::bundle::result::EvalResult;
use assay_attestation::bundle::{BUNDLE_FORMAT, Bundle, EvidenceKind};
use assay_keys::DataKey;
use assay_keys::http::Client;
use assay_keys::protocol::KeyRequest;
use assay_keys::wrap::ReleaseKey;

use crate::Error;
use crate::evaluate::{Binding, Settings, evaluate, parse_holdout};
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
