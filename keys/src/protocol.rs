//! The key-release messages, modelled on the Confidential Containers KBS protocol (request →
//! challenge → attestation → response), as JSON over HTTP:
//!
//! 1. `POST /v1/challenge` `{}` → [`Challenge`]: a fresh 32-byte nonce, single use, short-lived.
//! 2. `POST /v1/key` [`KeyRequest`]: the approved job the enclave runs (its JobSpec), the
//!    enclave's SNP report whose REPORT_DATA is `SHA-512("assay-key-release/2" ‖ nonce ‖ x25519
//!    public key ‖ enclave address ‖ job hash)` and whose HOST_DATA is the job hash, its
//!    certificates, and the resource it asks for → [`KeyResponse`] (the data key sealed to the
//!    X25519 key in HPKE Auth mode by the service's key, which the JobSpec pins) or an
//!    [`ErrorBody`] naming the failed check (HTTP 403 for a refusal, 429 past the job's release
//!    limit).

use alloy_primitives::Address;
use assay_forge::job::JobSpec;
use serde::{Deserialize, Serialize};

use crate::wrap::WrappedKey;

/// The key service's challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// 32 random bytes.
    #[serde(with = "hex::serde")]
    pub nonce: [u8; 32],
    /// Seconds the nonce stays valid.
    pub expires_in: u64,
}

/// The enclave's attested request for a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    /// The approved job the enclave runs.
    pub job: JobSpec,
    /// The resource (holdout) asked for: the job's `key_release.resource`.
    pub resource: String,
    /// The challenge's nonce.
    #[serde(with = "hex::serde")]
    pub nonce: [u8; 32],
    /// The enclave's Ethereum address (its signing identity).
    pub enclave: Address,
    /// The enclave's X25519 public key.
    #[serde(with = "hex::serde")]
    pub x25519: [u8; 32],
    /// The SNP report (1184 bytes).
    #[serde(with = "hex::serde")]
    pub report: Vec<u8>,
    /// DER certificates (VCEK or VLEK, optionally ASK and ARK), hex.
    pub certificates: Vec<String>,
}

/// The key, sealed to the enclave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyResponse {
    /// The resource.
    pub resource: String,
    /// The sealed key.
    pub wrapped: WrappedKey,
}

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The check that failed (`nonce`, `job`, `limit`, `report_data`, `host_data`,
    /// `resource`, `request`, or a report check such as `signature`, `tcb`, `policy`).
    pub check: String,
    /// What was wrong.
    pub error: String,
}
