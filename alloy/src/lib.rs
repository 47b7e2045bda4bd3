//! The alloy chain (spec: `docs/alloy.md`): what a model's makers attest, one signed link per
//! step, carried whole in a file or in QR codes, and checked by anyone.
//!
//! - [`Link`] and [`SignedLink`]: a link's payload (deterministic CBOR), its COSE_Sign1 with
//!   Ed25519, its id (SHA-256 of its bytes);
//! - [`verify`]: the chain from its parts, in a [`Verdict`] that names each rule broken;
//! - [`Keyring`]: which signers are trusted, asked apart from validity;
//! - [`Part`], [`split`], [`chain_file`]: the chain in a file and in `AL1:` QR texts;
//! - [`key`]: a signer's private key as PKCS#8 PEM;
//! - [`content`]: the hash of a file or directory a link's `output_hash` names;
//! - `render` (feature): QR codes as SVG and PNG, read back from PNG and SVG images; an SVG
//!   (the model card) drawn as PNG.
//!
//! No I/O here: callers read files and images and hand over bytes.

#![forbid(unsafe_code)]

pub mod cbor;
mod chain;
pub mod content;
mod ed25519;
mod error;
pub mod key;
mod keyring;
mod link;
mod part;
#[cfg(feature = "render")]
pub mod render;

pub use chain::{Finding, Input, Received, Verdict, verify};
pub use ed25519::check_key;
pub use ed25519_dalek::SigningKey;
pub use error::{Error, Rule};
pub use keyring::{Key, Keyring, Trust};
pub use link::{EXTERNAL_AAD, Link, LinkId, LinkType, SignedLink, StageKey, StageKind, VERSION};
pub use part::{
    MAX_CHAIN_FILE, MAX_CODE_TEXT, MAX_PARTS, MAX_TEXT, Part, QR_PREFIX, chain_file, split,
};
