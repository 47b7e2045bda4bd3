// SPDX-License-Identifier: Apache-2.0
// Reference interface of the Forge contract's entry point for Assay results. The structs are the
// EIP-712 types the enclave signs (docs/attestation.md); `assay relay calldata BUNDLE` prints the
// ABI-encoded call, and its encoding is tested byte for byte against ethers v6.
pragma solidity ^0.8.24;

interface IAssayForge {
    /// The metric of the model trained on every contribution.
    struct Metric {
        string name;          // "perplexity"
        bool lowerIsBetter;   // from the pinned eval spec
        int256 value;         // fixed point, 18 decimals
    }

    /// One contribution: its registry leaf (contributor, contentHash), score and shares.
    struct Score {
        address contributor;
        bytes32 contentHash;
        int256 score;         // eval(train(C)) − eval(train(C \ c)), oriented so > 0 helped; 18 decimals
        uint16 shares;        // basis points
    }

    /// One compute provider's shares.
    struct ComputeShare {
        address provider;
        uint64 units;
        uint16 shares;        // basis points
    }

    /// What the enclave signs (EIP-712 domain: name "Assay", version "1", chainId, this contract).
    struct EvalResult {
        bytes32 forgeId;
        bytes32 codeHash;     // keccak256(MEASUREMENT ‖ recipeHash); 48 zero bytes of MEASUREMENT without a TEE
        bytes32 recipeHash;
        bytes32 dataRoot;     // OpenZeppelin StandardMerkleTree root over (address, bytes32) leaves, scores' order
        bytes32 nonce;        // the Forge's nonce for this evaluation
        bool tee;
        uint8 method;         // 0 exact leave-one-out, 1 stratified approximation
        uint32 groups;        // groups left out by the stratified method, 0 for exact
        Metric baseline;
        Score[] scores;
        uint16 computeBps;
        ComputeShare[] compute;
        uint16 unallocatedBps; // the data pool when no contribution scored above 0
    }

    /// Submits a result. `signature` is the EIP-712 signature (r ‖ s ‖ v) by the enclave's
    /// address, which the contract must have registered for this Forge after the enclave's
    /// attestation was verified; `report` (1184 bytes, empty without a TEE) and `certificates`
    /// (DER) put the evidence on chain for anyone to re-verify with `assay verify attestation`.
    function submitEvalResult(
        EvalResult calldata result,
        bytes calldata signature,
        bytes calldata report,
        bytes[] calldata certificates
    ) external;
}
