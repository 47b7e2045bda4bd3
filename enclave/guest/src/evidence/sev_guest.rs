//! The real SEV-SNP guest, through the kernel's SNP guest device (`/dev/sev-guest`, driver
//! `sev-guest`), which kernels before configfs-tsm (6.7) have — the image's 6.1 among them. The
//! `sev` crate sends SNP_GET_EXT_REPORT: the AMD-SP's report binding the 64 bytes of REPORT_DATA
//! at VMPL 0, and the certificate table the host provisioned (VCEK or VLEK, ASK, ARK).

use std::path::{Path, PathBuf};

use assay_forge::EvidenceKind;
use sev::firmware::guest::Firmware;
use sev::firmware::host::CertType;

use super::{Evidence, EvidenceProvider};
use crate::Error;

/// The SNP guest device's node.
pub const SEV_GUEST: &str = "/dev/sev-guest";

/// The SNP guest device.
#[derive(Clone, Debug)]
pub struct SevGuest {
    /// Its node (normally [`SEV_GUEST`]).
    pub device: PathBuf,
    /// DER certificates to use when the host supplies no certificate table.
    pub fallback_certificates: Vec<Vec<u8>>,
}

impl SevGuest {
    /// Whether this guest has the device.
    pub fn present(device: &Path) -> bool {
        device.exists()
    }
}

impl EvidenceProvider for SevGuest {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::Snp
    }

    fn attest(&self, report_data: [u8; 64]) -> Result<Option<Evidence>, Error> {
        let device = |reason: String| Error::Device {
            path: self.device.display().to_string(),
            reason,
        };
        if self.device != Path::new(SEV_GUEST) {
            return Err(device(format!(
                "the sev crate opens {SEV_GUEST} only, not another node"
            )));
        }
        let mut firmware = Firmware::open().map_err(|e| device(format!("cannot open: {e}")))?;
        let (report, table) = firmware
            .get_ext_report(None, Some(report_data), Some(0))
            .map_err(|e| device(format!("SNP_GET_EXT_REPORT failed: {e}")))?;
        let mut certificates: Vec<(u8, Vec<u8>)> = table
            .unwrap_or_default()
            .into_iter()
            .filter_map(|entry| {
                let rank = match entry.cert_type {
                    CertType::VCEK | CertType::VLEK => 0,
                    CertType::ASK => 1,
                    CertType::ARK => 2,
                    _ => return None,
                };
                Some((rank, entry.data))
            })
            .collect();
        certificates.sort_by_key(|(rank, _)| *rank);
        let certificates: Vec<Vec<u8>> = certificates.into_iter().map(|(_, der)| der).collect();
        Ok(Some(Evidence {
            report,
            certificates: if certificates.is_empty() {
                self.fallback_certificates.clone()
            } else {
                certificates
            },
        }))
    }
}
