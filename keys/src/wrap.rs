//! Wrapping the data key to the enclave's X25519 key, authenticated by the key service: HPKE
//! (RFC 9180) Auth mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, via the `hpke`
//! crate.
//!
//! Auth mode mixes the key service's static X25519 key ([`ServiceKey`]) into the key schedule,
//! so a wrapped key opens only with the enclave's private key *and* the service's public key
//! that the JobSpec pins: an answer from anyone else (a host running its own key service, say)
//! does not open. `info` binds the label, the challenge nonce and the job hash; the resource
//! name is the AEAD's associated data.

use alloy_primitives::B256;
use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use zeroize::{Zeroize, Zeroizing};

use crate::{DataKey, Error};

type KemPrivate = <X25519HkdfSha256 as Kem>::PrivateKey;
type KemPublic = <X25519HkdfSha256 as Kem>::PublicKey;
type Encapped = <X25519HkdfSha256 as Kem>::EncappedKey;

/// The HPKE `info` of a key release: `"assay-key-release/2" ‖ nonce ‖ job hash`.
fn info(nonce: &[u8; 32], job: B256) -> Vec<u8> {
    [
        assay_forge::binding::KEY_RELEASE_LABEL,
        nonce,
        job.as_slice(),
    ]
    .concat()
}

/// An X25519 key pair.
#[derive(Clone)]
struct KeyPair {
    private: KemPrivate,
    public: [u8; 32],
}

impl KeyPair {
    fn generate() -> KeyPair {
        let (private, public) = X25519HkdfSha256::gen_keypair();
        KeyPair {
            private,
            public: public.to_bytes().into(),
        }
    }

    fn from_private(private: KemPrivate) -> KeyPair {
        let public = X25519HkdfSha256::sk_to_pk(&private).to_bytes().into();
        KeyPair { private, public }
    }
}

/// An X25519 key pair made inside the enclave; the private half never leaves it.
pub struct ReleaseKey(KeyPair);

impl ReleaseKey {
    /// A fresh key pair.
    pub fn generate() -> ReleaseKey {
        ReleaseKey(KeyPair::generate())
    }

    /// The public key.
    pub fn public(&self) -> [u8; 32] {
        self.0.public
    }

    /// Opens a wrapped key sealed to this key by the key service whose public key is
    /// `service`, for `nonce`, the job `job` and `resource`. Anything else, an answer sealed by
    /// another service included, is [`Error::Unwrap`].
    pub fn unwrap_key(
        &self,
        wrapped: &WrappedKey,
        service: &[u8; 32],
        nonce: &[u8; 32],
        job: B256,
        resource: &str,
    ) -> Result<DataKey, Error> {
        let enc = Encapped::from_bytes(&wrapped.encapsulated_key).map_err(|_| Error::Unwrap)?;
        let service = KemPublic::from_bytes(service).map_err(|_| Error::Unwrap)?;
        let opened = Zeroizing::new(
            hpke::single_shot_open::<AesGcm256, HkdfSha256, X25519HkdfSha256>(
                &OpModeR::Auth(service),
                &self.0.private,
                &enc,
                &info(nonce, job),
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
        write!(f, "ReleaseKey(public {})", hex::encode(self.0.public))
    }
}

/// The key service's static X25519 key: it authenticates every wrapped key the service sends.
/// Its public half is pinned in each JobSpec (`key_release.service_key`).
#[derive(Clone)]
pub struct ServiceKey(KeyPair);

impl ServiceKey {
    /// A fresh key pair.
    pub fn generate() -> ServiceKey {
        ServiceKey(KeyPair::generate())
    }

    /// The public key, as a JobSpec pins it.
    pub fn public(&self) -> B256 {
        B256::from(self.0.public)
    }

    /// Reads a service key file: 64 hex digits of the X25519 private key.
    pub fn load(path: &std::path::Path) -> Result<ServiceKey, Error> {
        let mut bytes = crate::fsutil::read_secret_hex(path, "service key")?;
        let private = KemPrivate::from_bytes(&bytes);
        bytes.zeroize();
        let private = private.map_err(|_| Error::KeyFile {
            path: path.display().to_string(),
            reason: "not an X25519 private key".into(),
        })?;
        Ok(ServiceKey(KeyPair::from_private(private)))
    }

    /// Writes the key file (64 hex digits and a newline), readable by its owner only.
    pub fn save(&self, path: &std::path::Path) -> Result<(), Error> {
        let mut bytes: [u8; 32] = self.0.private.to_bytes().into();
        let mut text = format!("{}\n", hex::encode(bytes));
        bytes.zeroize();
        let r = crate::fsutil::write_atomic(path, text.as_bytes(), true);
        text.zeroize();
        r
    }
}

impl std::fmt::Debug for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServiceKey(public {})", hex::encode(self.0.public))
    }
}

/// A data key sealed to an X25519 public key.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrappedKey {
    /// HPKE `enc` (32 bytes).
    #[serde(with = "hex::serde")]
    pub encapsulated_key: Vec<u8>,
    /// The sealed key with its tag (48 bytes).
    #[serde(with = "hex::serde")]
    pub ciphertext: Vec<u8>,
}

/// Seals `key` to `recipient`, authenticated by `service`, for `nonce`, the job `job` and
/// `resource`.
pub fn wrap_key(
    key: &DataKey,
    recipient: &[u8; 32],
    service: &ServiceKey,
    nonce: &[u8; 32],
    job: B256,
    resource: &str,
) -> Result<WrappedKey, Error> {
    let pk = KemPublic::from_bytes(recipient).map_err(|_| Error::Request {
        reason: "the X25519 public key is not a valid curve point".into(),
    })?;
    let sender = KemPublic::from_bytes(&service.0.public).expect("our own public key");
    let (enc, ciphertext) = hpke::single_shot_seal::<AesGcm256, HkdfSha256, X25519HkdfSha256>(
        &OpModeS::Auth((service.0.private.clone(), sender)),
        &pk,
        &info(nonce, job),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_pinned_service_and_this_request_open_the_key() {
        let (enclave, service, other) = (
            ReleaseKey::generate(),
            ServiceKey::generate(),
            ServiceKey::generate(),
        );
        let key = DataKey::generate();
        let (nonce, job) = ([7u8; 32], B256::repeat_byte(9));
        let wrapped = wrap_key(&key, &enclave.public(), &service, &nonce, job, "holdout").unwrap();
        let pinned = service.public().0;
        let opened = enclave
            .unwrap_key(&wrapped, &pinned, &nonce, job, "holdout")
            .unwrap();
        assert_eq!(opened.id(), key.id());
        // Sealed by another service (a host's own), it does not open under the pinned key.
        let forged = wrap_key(&key, &enclave.public(), &other, &nonce, job, "holdout").unwrap();
        assert!(matches!(
            enclave.unwrap_key(&forged, &pinned, &nonce, job, "holdout"),
            Err(Error::Unwrap)
        ));
        // Another nonce, job or resource does not open it either.
        for (n, j, r) in [
            ([8u8; 32], job, "holdout"),
            (nonce, B256::repeat_byte(1), "holdout"),
            (nonce, job, "other"),
        ] {
            assert!(enclave.unwrap_key(&wrapped, &pinned, &n, j, r).is_err());
        }
    }

    #[test]
    fn a_service_key_file_round_trips_and_bad_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("service.key");
        let key = ServiceKey::generate();
        key.save(&path).unwrap();
        assert_eq!(ServiceKey::load(&path).unwrap().public(), key.public());
        std::fs::write(&path, "zz").unwrap();
        let e = ServiceKey::load(&path).unwrap_err();
        assert!(e.to_string().contains("64 hex digits"), "{e}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            key.save(&dir.path().join("k2")).unwrap();
            let mode = std::fs::metadata(dir.path().join("k2"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
