//! EIP-712 typed data of an [`EvalResult`], and the Solidity types the Forge contract receives.
//!
//! The structs below are the contract's ABI (see `docs/attestation.md` for the Solidity
//! interface); `alloy-sol-types` derives their EIP-712 type strings, struct hashes and ABI
//! encodings, so nothing here hand-encodes bytes.

use alloy_primitives::{Address, B256, I256, U256};
use alloy_sol_types::{Eip712Domain, SolStruct};
use serde::{Deserialize, Serialize};

use super::result::{Direction, EvalResult, JobCommitment, Wad};

/// The Solidity types, named as in the contract.
#[allow(missing_docs)]
pub mod solidity {
    alloy_sol_types::sol! {
    /// The baseline metric.
    #[derive(Debug, PartialEq)]
    struct Metric {
        string name;
        bool lowerIsBetter;
        int256 value;
    }

    /// One contribution's score.
    #[derive(Debug, PartialEq)]
    struct Score {
        address contributor;
        bytes32 contentHash;
        int256 score;
        uint16 shares;
    }

    /// One compute provider's shares.
    #[derive(Debug, PartialEq)]
    struct ComputeShare {
        address provider;
        uint64 units;
        uint16 shares;
    }

    /// The signed result.
    #[derive(Debug, PartialEq)]
    struct EvalResult {
        bytes32 forgeId;
        bytes32 codeHash;
        bytes32 recipeHash;
        bytes32 dataRoot;
        bytes32 nonce;
        bool tee;
        uint8 method;
        uint32 groups;
        Metric baseline;
        Score[] scores;
        uint16 computeBps;
        ComputeShare[] compute;
        uint16 unallocatedBps;
    }

    /// The signed result of version 2: version 1's fields, then the approved job and the
    /// holdout it was scored on.
    #[derive(Debug, PartialEq)]
    struct EvalResultV2 {
        bytes32 forgeId;
        bytes32 codeHash;
        bytes32 recipeHash;
        bytes32 dataRoot;
        bytes32 nonce;
        bool tee;
        uint8 method;
        uint32 groups;
        Metric baseline;
        Score[] scores;
        uint16 computeBps;
        ComputeShare[] compute;
        uint16 unallocatedBps;
        bytes32 jobHash;
        bytes16 holdoutKeyId;
        bytes32 holdoutHash;
    }

    /// The Forge contract's entry point for a relayer (version-1 results).
    function submitEvalResult(EvalResult result, bytes signature, bytes report, bytes[] certificates);

    /// The Forge contract's entry point for a relayer (version-2 results).
    function submitEvalResultV2(EvalResultV2 result, bytes signature, bytes report, bytes[] certificates);
    }
}
use solidity::{ComputeShare, Metric, Score};

/// The EIP-712 domain: `Assay`, version `1`, the chain and the Forge contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    /// `Assay`.
    pub name: String,
    /// `1`.
    pub version: String,
    /// The chain id.
    pub chain_id: u64,
    /// The Forge contract.
    pub verifying_contract: Address,
}

impl Domain {
    /// The domain of this crate's types on `chain_id` for the contract `forge`.
    pub fn assay(chain_id: u64, forge: Address) -> Self {
        Domain {
            name: "Assay".into(),
            version: "1".into(),
            chain_id,
            verifying_contract: forge,
        }
    }

    fn eip712(&self) -> Eip712Domain {
        Eip712Domain::new(
            Some(self.name.clone().into()),
            Some(self.version.clone().into()),
            Some(U256::from(self.chain_id)),
            Some(self.verifying_contract),
            None,
        )
    }

    /// The domain separator.
    pub fn separator(&self) -> B256 {
        self.eip712().separator()
    }
}

fn int(w: Wad) -> I256 {
    I256::try_from(w.0).expect("i128 fits in int256")
}

/// The Solidity value of a version-1 result (its `job` commitment is not part of it).
pub fn to_sol(r: &EvalResult) -> solidity::EvalResult {
    solidity::EvalResult {
        forgeId: r.forge_id,
        codeHash: r.code_hash,
        recipeHash: r.recipe_hash,
        dataRoot: r.data_root,
        nonce: r.nonce,
        tee: r.tee,
        method: r.method.code(),
        groups: r.groups,
        baseline: Metric {
            name: r.baseline_metric.name.clone(),
            lowerIsBetter: r.baseline_metric.direction == Direction::LowerIsBetter,
            value: int(r.baseline_metric.value),
        },
        scores: r
            .scores
            .iter()
            .map(|s| Score {
                contributor: s.contributor,
                contentHash: s.content_hash,
                score: int(s.score),
                shares: s.shares,
            })
            .collect(),
        computeBps: r.compute_bps,
        compute: r
            .compute
            .iter()
            .map(|c| ComputeShare {
                provider: c.provider,
                units: c.units,
                shares: c.shares,
            })
            .collect(),
        unallocatedBps: r.unallocated_bps,
    }
}

/// The Solidity value of a version-2 result: version 1's fields and `job`.
pub fn to_sol_v2(r: &EvalResult, job: &JobCommitment) -> solidity::EvalResultV2 {
    let v1 = to_sol(r);
    solidity::EvalResultV2 {
        forgeId: v1.forgeId,
        codeHash: v1.codeHash,
        recipeHash: v1.recipeHash,
        dataRoot: v1.dataRoot,
        nonce: v1.nonce,
        tee: v1.tee,
        method: v1.method,
        groups: v1.groups,
        baseline: v1.baseline,
        scores: v1.scores,
        computeBps: v1.computeBps,
        compute: v1.compute,
        unallocatedBps: v1.unallocatedBps,
        jobHash: job.job_hash,
        holdoutKeyId: job.holdout_key_id,
        holdoutHash: job.holdout_sha256,
    }
}

/// `hashStruct(result)`: of `EvalResult` for a version-1 result, of `EvalResultV2` for one
/// that commits to a job.
pub fn struct_hash(r: &EvalResult) -> B256 {
    match &r.job {
        None => to_sol(r).eip712_hash_struct(),
        Some(job) => to_sol_v2(r, job).eip712_hash_struct(),
    }
}

/// The digest the enclave signs: `keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(result))`.
pub fn signing_hash(domain: &Domain, r: &EvalResult) -> B256 {
    let domain = domain.eip712();
    match &r.job {
        None => to_sol(r).eip712_signing_hash(&domain),
        Some(job) => to_sol_v2(r, job).eip712_signing_hash(&domain),
    }
}

/// The EIP-712 type string of `EvalResult` (with its referenced types, sorted).
pub fn type_string() -> String {
    solidity::EvalResult::eip712_encode_type().into_owned()
}

/// The EIP-712 type string of `EvalResultV2` (with its referenced types, sorted).
pub fn type_string_v2() -> String {
    solidity::EvalResultV2::eip712_encode_type().into_owned()
}
