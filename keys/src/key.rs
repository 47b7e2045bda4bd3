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
        let mut text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut bytes = [0u8; 32];
        let ok = hex::decode_to_slice(text.trim(), &mut bytes).is_ok();
        text.zeroize();
        if !ok {
            bytes.zeroize();
            return Err(Error::KeyFile {
                path: path.display().to_string(),
                reason: "a data key file holds exactly 64 hex digits (32 bytes)".into(),
            });
        }
        Ok(DataKey(bytes))
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

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataKey(id {})", hex::encode(self.id()))
    }
}
