//! The holdout's data key: 32 secret bytes that never print, never serialise, and are wiped on
//! drop.

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::Error;

/// An AES-256-GCM data key.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; 32]);

impl DataKey {
    /// A fresh random key (aws-lc-rs's system RNG).
    pub fn generate() -> DataKey {
        let mut k = [0u8; 32];
        aws_lc_rs::rand::fill(&mut k).expect("the system RNG works");
        DataKey(k)
    }

    /// Takes ownership of 32 key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> DataKey {
        DataKey(bytes)
    }

    /// The key bytes (for the cipher only).
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A public identifier: the first 16 bytes of HMAC-SHA256(key, "assay-holdout-key-id/1"). It
    /// commits to the key (AES-GCM alone does not), so a file encrypted under another key is named
    /// as such, and it reveals nothing about the key.
    pub fn id(&self) -> [u8; 16] {
        let mac = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.0);
        let tag = aws_lc_rs::hmac::sign(&mac, b"assay-holdout-key-id/1");
        tag.as_ref()[..16].try_into().expect("16 bytes")
    }

    /// Reads a key file: 64 hex digits (whitespace around them ignored).
    pub fn load(path: &std::path::Path) -> Result<DataKey, Error> {
        crate::fsutil::read_secret_hex(path, "data key").map(DataKey)
    }

    /// Writes a key file (64 hex digits and a newline), readable by its owner only, through a
    /// temporary file renamed into place.
    pub fn save(&self, path: &std::path::Path) -> Result<(), Error> {
        let mut text = format!("{}\n", hex::encode(self.0));
        let r = crate::fsutil::write_atomic(path, text.as_bytes(), true);
        text.zeroize();
        r
    }
}

impl DataKey {
    /// A key for one purpose, derived from this one with HKDF-SHA256 (RFC 5869): salt `label`,
    /// info `context`. Whoever cannot get the data key cannot get it, and it reveals nothing of
    /// the data key.
    pub fn derive(&self, label: &[u8], context: &[u8]) -> SealingKey {
        use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
        let prk = Salt::new(HKDF_SHA256, label).extract(&self.0);
        let mut bytes = [0u8; 32];
        prk.expand(&[context], HKDF_SHA256)
            .and_then(|okm| okm.fill(&mut bytes))
            .expect("32 bytes is a valid HKDF-SHA256 length");
        SealingKey(bytes)
    }
}

/// An AES-256-GCM key derived from a data key ([`DataKey::derive`]): never printed, never
/// serialised, wiped on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SealingKey([u8; 32]);

/// The length of a sealed message's nonce.
const NONCE_LEN: usize = 12;

impl SealingKey {
    /// `nonce (12 random bytes) ‖ AES-256-GCM(plaintext, aad)`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).expect("the system RNG works");
        let cipher = aes_gcm::Aes256Gcm::new((&self.0).into());
        let sealed = cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AES-GCM seals any message under 64 GiB");
        [nonce.as_slice(), &sealed].concat()
    }

    /// The plaintext of `sealed`, if it was sealed by this key with this `aad` and not changed
    /// since; `None` otherwise.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<zeroize::Zeroizing<Vec<u8>>> {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN)?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        let cipher = aes_gcm::Aes256Gcm::new((&self.0).into());
        cipher
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .ok()
            .map(zeroize::Zeroizing::new)
    }
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(…)")
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataKey(id {})", hex::encode(self.id()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_seal_for_their_purpose_only() {
        let key = DataKey::generate();
        let journal = key.derive(b"assay-journal/1", b"job A");
        let sealed = journal.seal(b"run 1", b"metric");
        assert_eq!(
            journal.open(b"run 1", &sealed).unwrap().as_slice(),
            b"metric"
        );
        // Another aad, context, label or data key does not open it; nor does a changed byte.
        assert!(journal.open(b"run 2", &sealed).is_none());
        assert!(
            key.derive(b"assay-journal/1", b"job B")
                .open(b"run 1", &sealed)
                .is_none()
        );
        assert!(
            key.derive(b"other", b"job A")
                .open(b"run 1", &sealed)
                .is_none()
        );
        let other = DataKey::generate().derive(b"assay-journal/1", b"job A");
        assert!(other.open(b"run 1", &sealed).is_none());
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 1;
            assert!(journal.open(b"run 1", &t).is_none(), "byte {i}");
        }
        assert!(journal.open(b"run 1", &sealed[..5]).is_none());
        // Each seal is fresh.
        assert_ne!(journal.seal(b"run 1", b"metric"), sealed);
    }
}
