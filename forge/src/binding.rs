//! What the SNP report's REPORT_DATA binds, the code hash, and the alloy key's binding.
//!
//! Result reports: `REPORT_DATA = signer address (20) ‖ keccak256(eip712Digest ‖ x25519 public
//! key) (32) ‖ 12 zero bytes`. Key-release reports: `REPORT_DATA = SHA-512("assay-key-release/2"
//! ‖ nonce ‖ x25519 public key ‖ enclave address ‖ job hash)`: the key goes to this enclave key
//! for this approved job only. The two cannot be confused: a SHA-512 output
//! ends in 12 zero bytes with probability 2^-96. The enclave's alloy key (version-3 bundles) is
//! bound by the result's signer signing [`alloy_key_digest`]. See `docs/attestation.md`.

use alloy_primitives::{Address, B256, keccak256};

/// REPORT_DATA of the report that vouches for a signed result.
pub fn result_report_data(signer: Address, digest: B256, x25519: &[u8; 32]) -> [u8; 64] {
    let mut data = [0u8; 64];
    data[..20].copy_from_slice(signer.as_slice());
    let mut pre = [0u8; 64];
    pre[..32].copy_from_slice(digest.as_slice());
    pre[32..].copy_from_slice(x25519);
    data[20..52].copy_from_slice(keccak256(pre).as_slice());
    data
}

/// The domain-separation label of key-release reports (and of the HPKE wrapping of the key).
pub const KEY_RELEASE_LABEL: &[u8] = b"assay-key-release/2";

/// REPORT_DATA of the report an enclave shows a key service to get the holdout key of the job
/// `job` (its JobSpec hash).
pub fn key_release_report_data(
    nonce: &[u8; 32],
    x25519: &[u8; 32],
    enclave: Address,
    job: B256,
) -> [u8; 64] {
    use aws_lc_rs::digest::{Context, SHA512};
    let mut ctx = Context::new(&SHA512);
    ctx.update(KEY_RELEASE_LABEL);
    ctx.update(nonce);
    ctx.update(x25519);
    ctx.update(enclave.as_slice());
    ctx.update(job.as_slice());
    ctx.finish()
        .as_ref()
        .try_into()
        .expect("SHA-512 is 64 bytes")
}

/// `code_hash = keccak256(MEASUREMENT ‖ recipe hash)`; without a TEE the MEASUREMENT is 48 zeros.
pub fn code_hash(measurement: &[u8; 48], recipe_hash: B256) -> B256 {
    let mut pre = [0u8; 80];
    pre[..48].copy_from_slice(measurement);
    pre[48..].copy_from_slice(recipe_hash.as_slice());
    keccak256(pre)
}

/// The domain-separation label of an alloy key's binding.
pub const ALLOY_KEY_LABEL: &[u8] = b"assay-alloy-key/1";

/// What the result's signer signs to bind the enclave's alloy key `key` (Ed25519, 32 bytes) to
/// the result whose EIP-712 digest is `digest`: `keccak256("assay-alloy-key/1" ‖ digest ‖ key)`.
/// No EIP-712 digest (which starts `0x19 0x01` before hashing) or Ethereum message can be
/// this preimage.
pub fn alloy_key_digest(digest: B256, key: &B256) -> B256 {
    let mut pre = Vec::with_capacity(ALLOY_KEY_LABEL.len() + 64);
    pre.extend_from_slice(ALLOY_KEY_LABEL);
    pre.extend_from_slice(digest.as_slice());
    pre.extend_from_slice(key.as_slice());
    keccak256(pre)
}
