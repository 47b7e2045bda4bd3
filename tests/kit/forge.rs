//! EvalResults as the enclave makes them, and the coordinator key of results without a TEE.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256};
use assay_forge::binding::code_hash;
use assay_forge::merkle::data_root;
use assay_forge::result::{
    BaselineMetric, ComputeEntry, Direction, EvalResult, Method, ScoreEntry, Wad,
};

/// A throwaway secp256k1 key (Hardhat's well-known account #1): only for tests.
pub const COORDINATOR_KEY: &str =
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

/// The Forge's nonce in these tests.
pub const NONCE: B256 = B256::repeat_byte(0x99);

/// A result as the enclave would make it: shares by the rules (1500 bps to one compute
/// provider), data_root over the listed contributions, code_hash over `measurement`.
pub fn sample_result(tee: bool, measurement: [u8; 48], scores: &[f64]) -> EvalResult {
    let recipe_hash = B256::repeat_byte(0x7e);
    let contributors: Vec<Address> = (0..scores.len())
        .map(|i| Address::repeat_byte(0x11 * (i as u8 + 1)))
        .collect();
    let content: Vec<B256> = (0..scores.len())
        .map(|i| B256::repeat_byte(0xc0 + i as u8))
        .collect();
    let mut result = EvalResult {
        forge_id: B256::repeat_byte(0xf0),
        code_hash: code_hash(&measurement, recipe_hash),
        recipe_hash,
        data_root: data_root(contributors.iter().copied().zip(content.iter().copied())).unwrap(),
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
    };
    result.assign_shares().unwrap();
    result
}

/// Writes the coordinator key into `dir`.
pub fn coordinator_key_file(dir: &Path) -> PathBuf {
    let p = dir.join("coordinator.key");
    std::fs::write(&p, COORDINATOR_KEY).unwrap();
    p
}
