//! The enclave's signing identity: a secp256k1 key made inside the enclave (its Ethereum address
//! is the enclave's identity for the Forge contract), or, without a TEE, the configured
//! coordinator key.

use alloy_primitives::{Address, B256, Signature};
use k256::ecdsa::SigningKey;
use zeroize::Zeroize;

use crate::Error;

/// A secp256k1 signing key.
pub struct Signer {
    key: SigningKey,
}

impl Signer {
    /// A fresh key from the system RNG (aws-lc-rs), retried in the negligible case that 32
    /// random bytes are not a valid scalar.
    pub fn generate() -> Signer {
        loop {
            let mut bytes = [0u8; 32];
            aws_lc_rs::rand::fill(&mut bytes).expect("the system RNG works");
            let key = SigningKey::from_slice(&bytes);
            bytes.zeroize();
            if let Ok(key) = key {
                return Signer { key };
            }
        }
    }

    /// Reads a key file holding 64 hex digits (the coordinator key of the `none` provider).
    pub fn load(path: &std::path::Path) -> Result<Signer, Error> {
        let bad = |reason: &str| Error::Key {
            path: path.display().to_string(),
            reason: reason.to_owned(),
        };
        let mut text = std::fs::read_to_string(path).map_err(|e| bad(&e.to_string()))?;
        let mut bytes = [0u8; 32];
        let decoded = hex::decode_to_slice(text.trim().trim_start_matches("0x"), &mut bytes);
        text.zeroize();
        let key = decoded
            .ok()
            .and_then(|()| SigningKey::from_slice(&bytes).ok());
        bytes.zeroize();
        key.map(|key| Signer { key })
            .ok_or_else(|| bad("a secp256k1 key file holds 64 hex digits of a valid scalar"))
    }

    /// The Ethereum address: the last 20 bytes of keccak256 of the uncompressed public key.
    pub fn address(&self) -> Address {
        Address::from_public_key(self.key.verifying_key())
    }

    /// Signs a 32-byte digest (RFC 6979 deterministic, low-s): 65 bytes `r ‖ s ‖ v`, v = 27/28.
    pub fn sign(&self, digest: B256) -> Result<[u8; 65], Error> {
        let (sig, recid) = self
            .key
            .sign_prehash_recoverable(digest.as_slice())
            .map_err(|e| Error::Sign(e.to_string()))?;
        Ok(Signature::from((sig, recid)).as_bytes())
    }
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({})", self.address())
    }
}
