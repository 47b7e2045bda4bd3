//! Reference values: a small TOML file naming an enclave build — its artifacts' hashes, its vCPUs
//! and the launch measurement an honest instance of it has. The verifier's policy loads these
//! files as its measurement allowlist; `assay measure --reference FILE` writes one.
//!
//! ```toml
//! format = "assay-reference-values/1"
//! name = "assay-enclave"
//! mode = "snp"
//! measurement = "<96 hex digits>"
//! vcpus = 4
//! vcpu_sig = "0xa00f11"
//! vmm_type = "QEMU"
//! guest_features = "0x1"
//! append = "console=ttyS0"
//!
//! [firmware]
//! sha256 = "<64 hex digits>"
//! size = 4194304
//! snp_ovmf_hash = "<96 hex digits>"
//!
//! [kernel]
//! sha256 = "<64 hex digits>"
//! size = 8222656
//!
//! [initrd]
//! sha256 = "<64 hex digits>"
//! size = 165
//!
//! # Optional: the same files launched with other vCPUs (an image built for several).
//! [[variants]]
//! vcpus = 2
//! vcpu_sig = "0xa00f11"
//! measurement = "<96 hex digits>"
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Error;

/// The format tag every reference-values file starts with.
pub const FORMAT: &str = "assay-reference-values/1";

/// One input file of the launch, named by its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// For firmware: the SNP digest of its pages (`--snp-ovmf-hash`), hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snp_ovmf_hash: Option<String>,
}

/// A named enclave build and its expected launch measurement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceValues {
    /// Always [`FORMAT`].
    pub format: String,
    /// A name for the build, e.g. "assay-enclave 0.1.0".
    pub name: String,
    /// `snp`, `seves` or `sev`.
    pub mode: String,
    /// The expected MEASUREMENT (SNP: 48 bytes; SEV/SEV-ES: 32 bytes), hex.
    pub measurement: String,
    /// Number of vCPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcpus: Option<u32>,
    /// CPUID signature of the vCPUs, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcpu_sig: Option<String>,
    /// The VMM: QEMU, ec2 or gce.
    pub vmm_type: String,
    /// SEV_FEATURES of the VMSAs (SNP), hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_features: Option<String>,
    /// Kernel command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub append: Option<String>,
    /// The firmware.
    pub firmware: Artifact,
    /// The kernel of a measured direct boot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<Artifact>,
    /// The initrd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initrd: Option<Artifact>,
    /// The same files launched with other vCPU configurations, each with its measurement (an
    /// image built for several, `docs/image.md`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<Variant>,
}

/// Another vCPU configuration of the same launch, and its measurement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Number of vCPUs.
    pub vcpus: u32,
    /// CPUID signature of the vCPUs, hex.
    pub vcpu_sig: String,
    /// The expected MEASUREMENT, hex.
    pub measurement: String,
}

impl Artifact {
    /// Describes `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Artifact {
            sha256: hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)),
            size: bytes.len() as u64,
            snp_ovmf_hash: None,
        }
    }
}

impl ReferenceValues {
    /// Parses and checks a reference-values file's text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, Error> {
        let bad = |reason: String| Error::Reference {
            path: origin.to_owned(),
            reason,
        };
        let r: ReferenceValues = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if r.format != FORMAT {
            return Err(bad(format!(
                "format is {:?}, expected {FORMAT:?}",
                r.format
            )));
        }
        let want = match r.mode.as_str() {
            "snp" => 48,
            "seves" | "sev" => 32,
            other => return Err(bad(format!("mode {other:?} is not snp, seves or sev"))),
        };
        r.measurement_bytes()
            .filter(|m| m.len() == want)
            .ok_or_else(|| {
                bad(format!(
                    "measurement must be {want} bytes as {} hex digits",
                    2 * want
                ))
            })?;
        for (i, v) in r.variants.iter().enumerate() {
            if hex::decode(&v.measurement).map(|m| m.len()) != Ok(want) {
                return Err(bad(format!(
                    "variants[{i}].measurement must be {want} bytes as {} hex digits",
                    2 * want
                )));
            }
        }
        for (field, a) in [
            ("firmware", Some(&r.firmware)),
            ("kernel", r.kernel.as_ref()),
            ("initrd", r.initrd.as_ref()),
        ] {
            if let Some(a) = a
                && !(a.sha256.len() == 64 && a.sha256.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return Err(bad(format!("{field}.sha256 must be 64 hex digits")));
            }
        }
        Ok(r)
    }

    /// Reads a reference-values file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// The expected measurement's bytes.
    pub fn measurement_bytes(&self) -> Option<Vec<u8>> {
        hex::decode(&self.measurement).ok()
    }

    /// Every expected measurement: the launch's, then its variants'.
    pub fn all_measurements(&self) -> Vec<Vec<u8>> {
        std::iter::once(&self.measurement)
            .chain(self.variants.iter().map(|v| &v.measurement))
            .filter_map(|m| hex::decode(m).ok())
            .collect()
    }

    /// The file's text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("reference values serialise")
    }

    /// Writes the file atomically (`atomic-write-file`: temporary file, fsync, rename, fsync of
    /// the folder).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        use std::io::Write;
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = atomic_write_file::AtomicWriteFile::open(path).map_err(io)?;
        file.write_all(self.to_toml().as_bytes())
            .and_then(|()| file.commit())
            .map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ReferenceValues {
        ReferenceValues {
            format: FORMAT.into(),
            name: "test".into(),
            mode: "snp".into(),
            measurement: "ab".repeat(48),
            vcpus: Some(4),
            vcpu_sig: Some("0xa00f11".into()),
            vmm_type: "QEMU".into(),
            guest_features: Some("0x1".into()),
            append: Some("console=ttyS0".into()),
            firmware: Artifact::of(b"firmware"),
            kernel: Some(Artifact::of(b"kernel")),
            initrd: None,
            variants: vec![Variant {
                vcpus: 2,
                vcpu_sig: "0xa00f11".into(),
                measurement: "cd".repeat(48),
            }],
        }
    }

    #[test]
    fn round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ref.toml");
        sample().save(&path).unwrap();
        assert_eq!(ReferenceValues::load(&path).unwrap(), sample());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn bad_files_are_named_with_the_field() {
        let text = sample().to_toml();
        for (from, to, needle) in [
            (FORMAT, "other/1", "format"),
            ("mode = \"snp\"", "mode = \"tdx\"", "mode"),
            (
                &format!("measurement = \"{}\"", "ab".repeat(48)),
                "measurement = \"abcd\"",
                "measurement",
            ),
            ("name = \"test\"", "nam = \"test\"", "nam"),
        ] {
            let broken = text.replace(from, to);
            let e = ReferenceValues::from_toml(&broken, "r.toml").unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains("r.toml") && msg.contains(needle), "{msg}");
        }
        let mut bad = sample();
        bad.variants[0].measurement = "cd".into();
        let e = ReferenceValues::from_toml(&bad.to_toml(), "r.toml").unwrap_err();
        assert!(e.to_string().contains("variants[0].measurement"), "{e}");
        assert_eq!(
            sample().all_measurements(),
            [vec![0xab; 48], vec![0xcd; 48]]
        );
        let mut bad = sample();
        bad.firmware.sha256 = "xyz".into();
        let e = ReferenceValues::from_toml(&bad.to_toml(), "r.toml").unwrap_err();
        assert!(e.to_string().contains("firmware.sha256"), "{e}");
        assert!(matches!(
            ReferenceValues::load(Path::new("/nonexistent/r.toml")),
            Err(Error::Io { .. })
        ));
    }
}
