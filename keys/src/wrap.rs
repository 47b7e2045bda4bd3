//! Wrapping the data key to the enclave's X25519 key: HPKE (RFC 9180) base mode,
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, via the `hpke` crate.

use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use zeroize::Zeroizing;

use crate::{DataKey, Error};

type KemPrivate = <X25519HkdfSha256 as Kem>::PrivateKey;
type KemPublic = <X25519HkdfSha256 as Kem>::PublicKey;
type Encapped = <X25519HkdfSha256 as Kem>::EncappedKey;

/// The HPKE `info` of a key release: `"assay-key-release/1" ‖ nonce`.
fn info(nonce: &[u8; 32]) -> Vec<u8> {
    [assay_forge::binding::KEY_RELEASE_LABEL, nonce].concat()
}

/// An X25519 key pair made inside the enclave; the private half never leaves it.
pub struct ReleaseKey {
    private: KemPrivate,
    public: [u8; 32],
}

impl ReleaseKey {
    /// A fresh key pair.
    pub fn generate() -> ReleaseKey {
        let (private, public) = X25519HkdfSha256::gen_keypair();
        ReleaseKey {
            private,
            public: public.to_bytes().into(),
        }
    }

    /// The public key.
    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    /// Opens a wrapped key sealed to this key for `nonce` and `resource`.
    pub fn unwrap_key(
        &self,
        wrapped: &WrappedKey,
        nonce: &[u8; 32],
        resource: &str,
    ) -> Result<DataKey, Error> {
        let enc = Encapped::from_bytes(&wrapped.encapsulated_key).map_err(|_| Error::Unwrap)?;
        let opened = Zeroizing::new(
            hpke::single_shot_open::<AesGcm256, HkdfSha256, X25519HkdfSha256>(
                &OpModeR::Base,
                &self.private,
                &enc,
                &info(nonce),
                &wrapped.ciphertext,
                resource.as_bytes(),
            )
            .map_err(|_| Error::Unwrap)?,
        );
        let bytes: [u8; 32] = opened.as_slice().try_into().map_err(|_| Error::Unwrap)?;
        Ok(DataKey::from_bytes(bytes))
    }
}

impl std::fmt::Debug for ReleaseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReleaseKey(public {})", hex::encode(self.public))
    }
}

/// A data key sealed to an X25519 public key.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WrappedKey {
    /// HPKE `enc` (32 bytes).
    #[serde(with = "hex::serde")]
    pub encapsulated_key: Vec<u8>,
    /// The sealed key with its tag (48 bytes).
    #[serde(with = "hex::serde")]
    pub ciphertext: Vec<u8>,
}

/// Seals `key` to `recipient` for `nonce` and `resource`.
pub fn wrap_key(
    key: &DataKey,
    recipient: &[u8; 32],
    nonce: &[u8; 32],
    resource: &str,
) -> Result<WrappedKey, Error> {
    let pk = KemPublic::from_bytes(recipient).map_err(|_| Error::Request {
        reason: "the X25519 public key is not a valid curve point".into(),
    })?;
    let (enc, ciphertext) = hpke::single_shot_seal::<AesGcm256, HkdfSha256, X25519HkdfSha256>(
        &OpModeS::Base,
        &pk,
        &info(nonce),
        key.bytes(),
        resource.as_bytes(),
    )
    .map_err(|_| Error::Request {
        reason: "HPKE sealing failed".into(),
    })?;
    Ok(WrappedKey {
        encapsulated_key: enc.to_bytes().to_vec(),
        ciphertext,
    })
}
