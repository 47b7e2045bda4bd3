//! EvalResults and bundles as the enclave makes them, with the approved job they commit to,
//! and the coordinator key of results without a TEE.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256, FixedBytes};
use assay_enclave::evidence::EvidenceProvider;
use assay_enclave::identity::Signer;
use assay_enclave::job::{alloy_key, bind_alloy_key, seal};
use assay_forge::binding::code_hash;
use assay_forge::eip712::Domain;
use assay_forge::job::{
    AttributionRules, ContributionsPin, ForgeRef, HoldoutCommitment, JOB_FORMAT, JobSpec,
    KeyReleaseSpec, ModelPin, ProviderSpec, RecipePin,
};
use assay_forge::merkle::data_root;
use assay_forge::result::{
    BaselineMetric, ComputeEntry, Direction, EvalResult, JobCommitment, Method, ScoreEntry, Wad,
};
use assay_forge::{BUNDLE_FORMAT_V1, Bundle};

/// A throwaway secp256k1 key (Hardhat's well-known account #1): only for tests.
pub const COORDINATOR_KEY: &str =
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

/// The Forge's nonce in these tests.
pub const NONCE: B256 = B256::repeat_byte(0x99);

/// The Forge's id, chain and contract in these tests.
pub const FORGE_ID: B256 = B256::repeat_byte(0xf0);
/// The chain id of the EIP-712 domain.
pub const CHAIN_ID: u64 = 8453;
/// The Forge contract.
pub const CONTRACT: Address = Address::repeat_byte(0xfc);

/// The contributors and content hashes of a sample result with `n` contributions.
fn contribution_set(n: usize) -> (Vec<Address>, Vec<B256>) {
    let contributors = (0..n)
        .map(|i| Address::repeat_byte(0x11 * (i as u8 + 1)))
        .collect();
    let content = (0..n).map(|i| B256::repeat_byte(0xc0 + i as u8)).collect();
    (contributors, content)
}

/// The approved job of a sample result with `contributions` contributions: a key service with
/// a TEE, none without; 1500 bps to one compute provider with 3 units.
pub fn sample_job(tee: bool, contributions: usize) -> JobSpec {
    let (contributors, content) = contribution_set(contributions);
    JobSpec {
        format: JOB_FORMAT.into(),
        forge: ForgeRef {
            id: FORGE_ID,
            chain_id: CHAIN_ID,
            contract: CONTRACT,
            nonce: NONCE,
        },
        recipe: RecipePin {
            hash: B256::repeat_byte(0x7e),
        },
        model: ModelPin {
            weights_sha256: B256::repeat_byte(0x3e),
        },
        contributions: ContributionsPin {
            sha256: B256::repeat_byte(0x5c),
            data_root: data_root(contributors.into_iter().zip(content)).unwrap(),
        },
        holdout: HoldoutCommitment {
            key_id: FixedBytes::repeat_byte(0x4b),
            sha256: B256::repeat_byte(0x48),
        },
        key_release: tee.then(|| KeyReleaseSpec {
            service_key: B256::repeat_byte(0x5e),
            resource: "holdout".into(),
        }),
        attribution: AttributionRules {
            compute_bps: 1500,
            providers: vec![ProviderSpec {
                address: Address::repeat_byte(0xee),
                units: 3,
            }],
            ..AttributionRules::default()
        },
    }
}

/// The EIP-712 domain a job's result is signed in.
pub fn domain_of(job: &JobSpec) -> Domain {
    Domain::assay(job.forge.chain_id, job.forge.contract)
}

/// What a result of `job` commits to.
pub fn commitment(job: &JobSpec) -> JobCommitment {
    JobCommitment {
        job_hash: job.hash(),
        holdout_key_id: job.holdout.key_id,
        holdout_sha256: job.holdout.sha256,
    }
}

/// A result of [`sample_job`] as the enclave would make it: shares by the job's rules,
/// data_root over the listed contributions, code_hash over `measurement`, committing to the job.
pub fn sample_result(tee: bool, measurement: [u8; 48], scores: &[f64]) -> EvalResult {
    let job = sample_job(tee, scores.len());
    let (contributors, content) = contribution_set(scores.len());
    let mut result = EvalResult {
        forge_id: job.forge.id,
        code_hash: code_hash(&measurement, job.recipe.hash),
        recipe_hash: job.recipe.hash,
        data_root: job.contributions.data_root,
        nonce: NONCE,
        tee,
        method: Method::ExactLoo,
        groups: 0,
        baseline_metric: BaselineMetric {
            name: "perplexity".into(),
            direction: Direction::LowerIsBetter,
            value: "12.25".parse().unwrap(),
        },
        scores: contributors
            .iter()
            .zip(&content)
            .zip(scores)
            .map(|((a, c), s)| ScoreEntry {
                contributor: *a,
                content_hash: *c,
                score: Wad::from_f64(*s).unwrap(),
                shares: 0,
            })
            .collect(),
        compute_bps: 1500,
        compute: vec![ComputeEntry {
            provider: Address::repeat_byte(0xee),
            units: 3,
            shares: 0,
        }],
        unallocated_bps: 0,
        job: Some(commitment(&job)),
    };
    result.assign_shares().unwrap();
    result
}

/// The (version-3) bundle of a sample result: sealed by `signer` with `provider`'s evidence
/// (the simulated AMD-SP launched for the job, say), carrying its job, binding a fresh alloy
/// key.
pub fn sample_bundle(
    tee: bool,
    measurement: [u8; 48],
    scores: &[f64],
    provider: &dyn EvidenceProvider,
    signer: &Signer,
    x25519: [u8; 32],
) -> Bundle {
    let mut b = version_2_bundle(tee, measurement, scores, provider, signer, x25519);
    bind_alloy_key(&mut b, signer, &alloy_key().unwrap()).unwrap();
    b
}

/// A version-2 bundle of a sample result: [`sample_bundle`]'s without an alloy key.
pub fn version_2_bundle(
    tee: bool,
    measurement: [u8; 48],
    scores: &[f64],
    provider: &dyn EvidenceProvider,
    signer: &Signer,
    x25519: [u8; 32],
) -> Bundle {
    let job = sample_job(tee, scores.len());
    let result = sample_result(tee, measurement, scores);
    let mut b = seal(result, &domain_of(&job), provider, signer, x25519).unwrap();
    b.job = Some(job);
    b
}

/// A version-1 bundle of a sample result (no job, no commitment), in `domain`.
pub fn version_1_bundle(
    tee: bool,
    measurement: [u8; 48],
    scores: &[f64],
    domain: &Domain,
    provider: &dyn EvidenceProvider,
    signer: &Signer,
    x25519: [u8; 32],
) -> Bundle {
    let mut result = sample_result(tee, measurement, scores);
    result.job = None;
    let mut b = seal(result, domain, provider, signer, x25519).unwrap();
    b.format = BUNDLE_FORMAT_V1.into();
    b
}

/// Writes the coordinator key into `dir`.
pub fn coordinator_key_file(dir: &Path) -> PathBuf {
    let p = dir.join("coordinator.key");
    std::fs::write(&p, COORDINATOR_KEY).unwrap();
    p
}
