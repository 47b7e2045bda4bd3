//! Holdout key release for Assay.
//!
//! - [`key`]: the data key (never printed, wiped on drop);
//! - [`holdout`]: the encrypted holdout file format `assay-holdout/1` (chunked AES-256-GCM);
//! - [`wrap`]: HPKE (RFC 9180) Auth-mode wrapping of the data key to the enclave's X25519 key,
//!   authenticated by the key service's own key;
//! - [`protocol`], [`service`], [`http`]: the attested key-release protocol, the key service
//!   (`assay keys serve`: approved jobs only, a few releases each, every one logged) and the
//!   enclave's client.

#![forbid(unsafe_code)]

mod error;
mod fsutil;
pub mod holdout;
pub mod http;
pub mod key;
mod nonces;
pub mod protocol;
pub mod service;
pub mod wrap;

pub use error::Error;
pub use fsutil::write_atomic;
pub use key::{DataKey, SealingKey};
