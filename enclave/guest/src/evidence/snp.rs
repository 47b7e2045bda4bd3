//! The real SEV-SNP guest, through the kernel's configfs-tsm report interface
//! (`/sys/kernel/config/tsm/report`, Linux ≥ 6.7): make an entry, write REPORT_DATA to `inblob`,
//! read the report from `outblob` and the host's certificate table from `auxblob`, check that
//! `generation` did not change in between (another writer would have raced us), remove the entry.
//! Plain file I/O: no ioctl, no `unsafe`.

use std::path::{Path, PathBuf};

use assay_forge::EvidenceKind;

use super::{Evidence, EvidenceProvider, certificates_from_table};
use crate::Error;

/// The configfs-tsm report directory.
pub const CONFIGFS_TSM: &str = "/sys/kernel/config/tsm/report";

/// The SNP guest device, by its configfs-tsm directory.
#[derive(Clone, Debug)]
pub struct ConfigfsTsm {
    /// The `report` directory (normally [`CONFIGFS_TSM`]).
    pub root: PathBuf,
    /// DER certificates to use when the host supplies no certificate table (e.g. the VCEK that
    /// `assay kds fetch` downloaded from AMD's KDS).
    pub fallback_certificates: Vec<Vec<u8>>,
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Device {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

fn read_generation(entry: &Path) -> Result<String, Error> {
    let p = entry.join("generation");
    std::fs::read_to_string(&p)
        .map(|s| s.trim().to_owned())
        .map_err(|e| io(&p, e))
}

/// Requests a report through an existing configfs-tsm entry `entry`; `fallback` certificates
/// are used when the host supplies no certificate table.
pub fn request(
    entry: &Path,
    report_data: &[u8; 64],
    fallback: &[Vec<u8>],
) -> Result<Evidence, Error> {
    let inblob = entry.join("inblob");
    std::fs::write(&inblob, report_data).map_err(|e| io(&inblob, e))?;
    let before = read_generation(entry)?;
    let provider_path = entry.join("provider");
    let provider = std::fs::read_to_string(&provider_path).map_err(|e| io(&provider_path, e))?;
    if provider.trim() != "sev_guest" {
        return Err(Error::Device {
            path: provider_path.display().to_string(),
            reason: format!("provider is {:?}, not sev_guest", provider.trim()),
        });
    }
    let outblob = entry.join("outblob");
    let report = std::fs::read(&outblob).map_err(|e| io(&outblob, e))?;
    let auxblob = entry.join("auxblob");
    let table = match std::fs::read(&auxblob) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io(&auxblob, e)),
    };
    if read_generation(entry)? != before {
        return Err(Error::Device {
            path: entry.display().to_string(),
            reason: "generation changed while reading: another process wrote inblob".into(),
        });
    }
    let certificates = certificates_from_table(&table, fallback)?;
    Ok(Evidence {
        report,
        certificates,
    })
}

impl EvidenceProvider for ConfigfsTsm {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::Snp
    }

    fn attest(&self, report_data: [u8; 64]) -> Result<Option<Evidence>, Error> {
        let mut name = [0u8; 8];
        aws_lc_rs::rand::fill(&mut name).expect("the system RNG works");
        let entry = self.root.join(format!("assay-{}", hex::encode(name)));
        std::fs::create_dir(&entry).map_err(|e| io(&entry, e))?;
        let result = request(&entry, &report_data, &self.fallback_certificates);
        let _ = std::fs::remove_dir(&entry);
        result.map(Some)
    }
}
