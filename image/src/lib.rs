//! The enclave as a VM image (`docs/image.md`): what a host boots, and how anyone rebuilds it
//! bit for bit and recomputes the MEASUREMENT its guests report.
//!
//! - [`spec`]: the image description a host launches (`image.toml`: firmware, kernel, initrd,
//!   command line, vCPUs) and its launch digest;
//! - [`pins`]: the pinned inputs (`image/pins.toml`: Debian's kernel, its modules and the SNP
//!   firmware, by version and SHA-256; the command line);
//! - [`cpio`]: the initramfs archive, deterministic;
//! - [`assemble`]: the image from the pinned inputs and the enclave program: its files, its
//!   manifest and its reference values.

#![forbid(unsafe_code)]

pub mod assemble;
pub mod cpio;
mod error;
pub mod pins;
pub mod spec;

pub use error::Error;
pub use spec::{Image, ImageSpec};

/// SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .try_into()
        .expect("SHA-256 is 32 bytes")
}
