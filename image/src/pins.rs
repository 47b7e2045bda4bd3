//! The image's pinned inputs (`image/pins.toml`): Debian's kernel package and the modules
//! `/init` loads from it, the SEV-SNP firmware package, each by version and SHA-256, the kernel
//! command line, the toolchain and the build time. Nothing else goes into the image but the
//! enclave program built from this repository.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::error::io;

/// The format tag the pins file starts with.
pub const FORMAT: &str = "assay-image-pins/1";

/// A file inside a package, by its path there and its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinnedFile {
    /// The path inside the package.
    pub path: String,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// The kernel package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kernel {
    /// The Debian package.
    pub package: String,
    /// Its version.
    pub version: String,
    /// The suite that serves it.
    pub suite: String,
    /// SHA-256 of the `.deb`, hex.
    pub deb_sha256: String,
    /// The kernel image.
    pub vmlinuz: PinnedFile,
    /// The modules `/init` loads, in order.
    pub modules: Vec<PinnedFile>,
}

/// The firmware package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Firmware {
    /// The Debian package.
    pub package: String,
    /// Its version.
    pub version: String,
    /// The suite that serves it.
    pub suite: String,
    /// SHA-256 of the `.deb`, hex.
    pub deb_sha256: String,
    /// The firmware file.
    pub file: PinnedFile,
}

/// The pins. See the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pins {
    /// Always [`FORMAT`].
    pub format: String,
    /// The kernel command line.
    pub cmdline: String,
    /// SOURCE_DATE_EPOCH of the build.
    pub source_date_epoch: u64,
    /// The Rust toolchain the enclave program is built with.
    pub rust_toolchain: String,
    /// The kernel.
    pub kernel: Kernel,
    /// The SEV-SNP firmware.
    pub firmware: Firmware,
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn is_plain_path(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('/')
        && s.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

impl Pins {
    /// Parses and checks the pins' text; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Pins, Error> {
        let bad = |reason: String| Error::Spec {
            path: origin.to_owned(),
            reason,
        };
        let pins: Pins = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if pins.format != FORMAT {
            return Err(bad(format!(
                "format is {:?}, expected {FORMAT:?}",
                pins.format
            )));
        }
        let mut hashes = vec![
            ("kernel.deb_sha256", &pins.kernel.deb_sha256),
            ("firmware.deb_sha256", &pins.firmware.deb_sha256),
        ];
        let mut files = vec![
            ("kernel.vmlinuz", &pins.kernel.vmlinuz),
            ("firmware.file", &pins.firmware.file),
        ];
        for m in &pins.kernel.modules {
            files.push(("kernel.modules", m));
        }
        for (what, f) in &files {
            hashes.push((what, &f.sha256));
            if !is_plain_path(&f.path) {
                return Err(bad(format!(
                    "{what}: {:?} is not a relative path inside the package",
                    f.path
                )));
            }
        }
        for (what, h) in hashes {
            if !is_sha256(h) {
                return Err(bad(format!("{what}: {h:?} is not 64 lowercase hex digits")));
            }
        }
        for (i, m) in pins.kernel.modules.iter().enumerate() {
            if !m.path.ends_with(".ko") {
                return Err(bad(format!(
                    "kernel.modules[{i}]: {:?} is not an uncompressed module (.ko)",
                    m.path
                )));
            }
        }
        if pins.cmdline.contains('\n') || pins.cmdline.trim() != pins.cmdline {
            return Err(bad(
                "cmdline: one line, without leading or trailing spaces".into()
            ));
        }
        Ok(pins)
    }

    /// Reads the pins file.
    pub fn load(path: &Path) -> Result<Pins, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
        Pins::from_toml(&text, &path.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_pins() -> String {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pins.toml")).unwrap()
    }

    #[test]
    fn the_repositorys_pins_read_and_bad_ones_are_named() {
        let text = repo_pins();
        let pins = Pins::from_toml(&text, "pins.toml").unwrap();
        assert_eq!(pins.kernel.modules.len(), 11);
        assert!(
            pins.kernel
                .modules
                .last()
                .unwrap()
                .path
                .ends_with("sev-guest.ko")
        );
        for (from, to, needle) in [
            (FORMAT, "assay-image-pins/9", "format"),
            (
                "deb_sha256 = \"7b5597",
                "deb_sha256 = \"7B5597",
                "kernel.deb_sha256",
            ),
            (
                "crypto/gf128mul.ko",
                "crypto/gf128mul.ko.xz",
                "uncompressed module",
            ),
            ("boot/vmlinuz-6.1.0-50-amd64", "../vmlinuz", "relative path"),
            ("cmdline = \"console", "cmdline = \" console", "cmdline"),
            ("suite = \"sid\"", "suit = \"sid\"", "suit"),
        ] {
            let broken = text.replacen(from, to, 1);
            assert_ne!(broken, text, "{from}");
            let e = Pins::from_toml(&broken, "pins.toml").unwrap_err();
            let msg = e.to_string();
            assert!(
                msg.contains("pins.toml") && msg.contains(needle),
                "{needle}: {msg}"
            );
        }
    }
}
