//! The encrypted holdout file, format `assay-holdout/1`.
//!
//! ```text
//! header (40 bytes)
//!   0  magic        8  "ASSAYHLD"
//!   8  version      1  1
//!   9  reserved     3  zero
//!  12  chunk size   4  u32 LE, plaintext bytes per chunk (1 KiB … 64 MiB)
//!  16  key id      16  DataKey::id of the key
//!  32  nonce prefix 7  random per file
//!  39  reserved     1  zero
//! chunks: AES-256-GCM(key, nonce = prefix ‖ counter (u32 BE) ‖ last (1 byte, 0 or 1),
//!                     aad = header, chunk) — every chunk `chunk size` bytes of plaintext but
//!                     the last, which may be shorter (or empty) and is the only one with last = 1.
//! ```
//!
//! This is the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015): a flipped byte
//! anywhere fails its chunk's tag; reordered, dropped, truncated or appended chunks fail the
//! counter or the last flag; the header is authenticated by every chunk. Plaintext is returned
//! only after the last chunk has verified, so nothing is used from a half-authenticated file.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use crate::{DataKey, Error};

/// The magic bytes.
pub const MAGIC: &[u8; 8] = b"ASSAYHLD";
/// The header's length.
pub const HEADER_LEN: usize = 40;
/// The tag's length.
const TAG_LEN: usize = 16;
/// The default plaintext chunk size: 1 MiB.
pub const DEFAULT_CHUNK: u32 = 1 << 20;
const MIN_CHUNK: u32 = 1 << 10;
const MAX_CHUNK: u32 = 1 << 26;

fn format_error(reason: impl Into<String>) -> Error {
    Error::HoldoutFormat {
        reason: reason.into(),
    }
}

fn nonce(prefix: &[u8], counter: u32, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..7].copy_from_slice(prefix);
    n[7..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    n
}

/// Encrypts `plaintext` under `key` in chunks of `chunk_size` bytes.
pub fn encrypt(plaintext: &[u8], key: &DataKey, chunk_size: u32) -> Result<Vec<u8>, Error> {
    if !(MIN_CHUNK..=MAX_CHUNK).contains(&chunk_size) {
        return Err(format_error(format!(
            "chunk size {chunk_size} is outside {MIN_CHUNK}…{MAX_CHUNK} bytes"
        )));
    }
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(MAGIC);
    header[8] = 1;
    header[12..16].copy_from_slice(&chunk_size.to_le_bytes());
    header[16..32].copy_from_slice(&key.id());
    aws_lc_rs::rand::fill(&mut header[32..39]).expect("the system RNG works");
    let cipher = Aes256Gcm::new(key.bytes().into());
    let chunks: Vec<&[u8]> = if plaintext.is_empty() {
        vec![&[]]
    } else {
        plaintext.chunks(chunk_size as usize).collect()
    };
    if chunks.len() > u32::MAX as usize {
        return Err(format_error("holdout too large for 2^32 chunks"));
    }
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + chunks.len() * TAG_LEN);
    out.extend_from_slice(&header);
    for (i, chunk) in chunks.iter().enumerate() {
        let n = nonce(&header[32..39], i as u32, i + 1 == chunks.len());
        let sealed = cipher
            .encrypt(
                &Nonce::from(n),
                Payload {
                    msg: chunk,
                    aad: &header,
                },
            )
            .expect("AES-GCM encryption of a bounded chunk cannot fail");
        out.extend_from_slice(&sealed);
    }
    Ok(out)
}

/// The header of a holdout file, checked: everything but the chunks.
struct Header<'a> {
    bytes: &'a [u8; HEADER_LEN],
    chunk_size: u32,
}

impl<'a> Header<'a> {
    fn read(file: &'a [u8]) -> Result<Self, Error> {
        let bytes: &[u8; HEADER_LEN] = file
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| {
                format_error(format!(
                    "{} bytes is shorter than the 40-byte header",
                    file.len()
                ))
            })?;
        if &bytes[..8] != MAGIC {
            return Err(format_error(
                "magic is not \"ASSAYHLD\": not an encrypted holdout",
            ));
        }
        if bytes[8] != 1 {
            return Err(format_error(format!(
                "version {} is not supported (supported: 1)",
                bytes[8]
            )));
        }
        if bytes[9..12] != [0; 3] || bytes[39] != 0 {
            return Err(format_error("reserved header bytes are not zero"));
        }
        let chunk_size = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
        if !(MIN_CHUNK..=MAX_CHUNK).contains(&chunk_size) {
            return Err(format_error(format!(
                "chunk size {chunk_size} is outside {MIN_CHUNK}…{MAX_CHUNK} bytes"
            )));
        }
        Ok(Header { bytes, chunk_size })
    }

    fn key_id(&self) -> [u8; 16] {
        self.bytes[16..32].try_into().expect("16 bytes")
    }
}

/// The id of the key a holdout file is encrypted under (its header's), without decrypting it:
/// what a JobSpec's holdout commitment names.
pub fn key_id(file: &[u8]) -> Result<[u8; 16], Error> {
    Header::read(file).map(|h| h.key_id())
}

/// Decrypts a holdout file. Errors name what is wrong (format, wrong key, which chunk failed
/// authentication) and never include plaintext.
pub fn decrypt(file: &[u8], key: &DataKey) -> Result<Zeroizing<Vec<u8>>, Error> {
    let parsed = Header::read(file)?;
    let (header, chunk_size) = (parsed.bytes, parsed.chunk_size);
    if parsed.key_id() != key.id() {
        return Err(Error::WrongKey {
            file_key: hex::encode(parsed.key_id()),
            given_key: hex::encode(key.id()),
        });
    }
    let cipher = Aes256Gcm::new(key.bytes().into());
    let sealed_chunk = chunk_size as usize + TAG_LEN;
    let body = &file[HEADER_LEN..];
    if body.len() < TAG_LEN {
        return Err(format_error("no chunk after the header (truncated file)"));
    }
    let count = body.len().div_ceil(sealed_chunk);
    let mut plaintext = Zeroizing::new(Vec::with_capacity(body.len()));
    for (i, sealed) in body.chunks(sealed_chunk).enumerate() {
        let last = i + 1 == count;
        let counter = u32::try_from(i).map_err(|_| format_error("more than 2^32 chunks"))?;
        let opened = Zeroizing::new(
            cipher
                .decrypt(
                    &Nonce::from(nonce(&header[32..39], counter, last)),
                    Payload {
                        msg: sealed,
                        aad: header,
                    },
                )
                .map_err(|_| Error::HoldoutAuthentication {
                    chunk: i,
                    chunks: count,
                })?,
        );
        plaintext.extend_from_slice(&opened);
    }
    Ok(plaintext)
}
