//! The key-release messages, modelled on the Confidential Containers KBS protocol (request →
//! challenge → attestation → response), as JSON over HTTP:
//!
//! 1. `POST /v1/challenge` `{}` → [`Challenge`]: a fresh 32-byte nonce, single use, short-lived.
//! 2. `POST /v1/key` [`KeyRequest`]: the enclave's SNP report whose REPORT_DATA is
//!    `SHA-512("assay-key-release/1" ‖ nonce ‖ x25519 public key ‖ enclave address)`, its
//!    certificates, and the resource it asks for → [`KeyResponse`] (the data key HPKE-sealed to
//!    the X25519 key) or an [`ErrorBody`] with HTTP 403 naming the failed check.

use alloy_primitives::Address;
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
    /// The resource (holdout) asked for.
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
pub struct KeyResponse {
    /// The resource.
    pub resource: String,
    /// The sealed key.
    pub wrapped: WrappedKey,
}

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The check that failed (`nonce`, `report_data`, `resource`, or a report check such as
    /// `signature`, `tcb`, `policy`).
    pub check: String,
    /// What was wrong.
    pub error: String,
}
