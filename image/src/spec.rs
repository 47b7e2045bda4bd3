//! The enclave image a host launches, described by a TOML file (`assay-host --image FILE`;
//! `assay image assemble` writes one as `image.toml`): the files of an SEV-SNP direct boot and
//! the vCPU configuration. Its launch digest, computed as `assay measure` computes it, is the
//! MEASUREMENT the launched guest reports and the reference a key service and a verifier pin.
//! A launcher takes the vCPU count and type it boots with from here, so the guest it starts and
//! the measurement it expects cannot drift apart.
//!
//! ```toml
//! ovmf = "OVMF.amdsev.fd"        # relative paths are the file's folder's
//! kernel = "vmlinuz"
//! initrd = "initrd.img"
//! append = "console=ttyS0"
//! vcpus = 1
//! vcpu_type = "EPYC-v4"
//! guest_features = 1             # SEV_FEATURES (default 1)
//! ```

use std::path::{Path, PathBuf};

use assay_measurements::files::{GuestMode, LaunchFiles};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::error::io;

/// An image description. See the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    /// The firmware (OVMF with SEV-SNP support).
    pub ovmf: PathBuf,
    /// The kernel.
    pub kernel: PathBuf,
    /// The initrd.
    pub initrd: PathBuf,
    /// The kernel command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub append: Option<String>,
    /// vCPUs.
    pub vcpus: u32,
    /// The vCPU model, as QEMU names it (`EPYC-v4`, `EPYC-Milan`, …).
    pub vcpu_type: String,
    /// SEV_FEATURES of the VMSAs.
    #[serde(default = "default_features")]
    pub guest_features: u64,
}

fn default_features() -> u64 {
    1
}

/// An image and its measurement.
#[derive(Clone, Debug)]
pub struct Image {
    /// What it is made of.
    pub spec: ImageSpec,
    /// Its launch digest: the MEASUREMENT its guests report.
    pub measurement: [u8; 48],
}

impl ImageSpec {
    /// Reads an image file; relative paths are joined to its folder.
    pub fn load(path: &Path) -> Result<ImageSpec, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
        let mut spec: ImageSpec = toml::from_str(&text).map_err(|e| Error::Spec {
            path: path.display().to_string(),
            reason: format!("not an image description: {e}"),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [&mut spec.ovmf, &mut spec.kernel, &mut spec.initrd] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(spec)
    }

    /// The file's text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("an image description serialises")
    }

    /// The launch's files, as `assay-measurements` measures them.
    pub fn launch_files(&self) -> Result<LaunchFiles, Error> {
        Ok(LaunchFiles {
            mode: GuestMode::Snp,
            ovmf: self.ovmf.clone(),
            kernel: Some(self.kernel.clone()),
            initrd: Some(self.initrd.clone()),
            append: self.append.clone(),
            vcpus: Some(self.vcpus),
            vcpu_sig: assay_measurements::vcpu::vcpu_type_sig(&self.vcpu_type)?,
            vmm: "QEMU".parse()?,
            guest_features: self.guest_features,
            firmware_digest: None,
        })
    }

    /// Measures the image.
    pub fn measure(self) -> Result<Image, Error> {
        let digest = self.launch_files()?.measure()?.digest;
        let measurement = <[u8; 48]>::try_from(digest.as_slice()).map_err(|_| Error::Spec {
            path: self.ovmf.display().to_string(),
            reason: "an SNP launch digest is 48 bytes".into(),
        })?;
        Ok(Image {
            spec: self,
            measurement,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_the_files_folders_and_unknown_fields_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let spec = ImageSpec {
            ovmf: "OVMF.amdsev.fd".into(),
            kernel: "vmlinuz".into(),
            initrd: "/abs/initrd.img".into(),
            append: Some("console=ttyS0".into()),
            vcpus: 2,
            vcpu_type: "EPYC-v4".into(),
            guest_features: 1,
        };
        let path = dir.path().join("image.toml");
        std::fs::write(&path, spec.to_toml()).unwrap();
        let loaded = ImageSpec::load(&path).unwrap();
        assert_eq!(loaded.ovmf, dir.path().join("OVMF.amdsev.fd"));
        assert_eq!(loaded.initrd, PathBuf::from("/abs/initrd.img"));
        assert_eq!(loaded.vcpus, 2);
        std::fs::write(&path, spec.to_toml() + "memory = 4\n").unwrap();
        let e = ImageSpec::load(&path).unwrap_err();
        assert!(
            e.to_string().contains("image.toml") && e.to_string().contains("memory"),
            "{e}"
        );
        let e = ImageSpec::load(&dir.path().join("absent.toml")).unwrap_err();
        assert_eq!(e.kind(), "io");
    }
}
