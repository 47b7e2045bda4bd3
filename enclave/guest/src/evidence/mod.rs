//! Evidence providers: one trait, chosen at start, always named in the output.
//!
//! - [`snp`]: the real SEV-SNP guest through configfs-tsm;
//! - [`sev_guest`]: the real SEV-SNP guest through `/dev/sev-guest` (kernels before 6.7);
//! - [`channel`]: a simulated AMD-SP outside the guest, over the evidence channel (test roots
//!   only; the guest holds no key);
//! - [`none`]: no TEE; the result is signed by a coordinator key with `tee: false`.

pub mod channel;
pub mod none;
pub mod sev_guest;
pub mod snp;

use assay_attestation::abi::{CertificateKind, parse_cert_table};
use assay_forge::EvidenceKind;

use crate::Error;

/// An SNP report and the certificates that make it verifiable.
#[derive(Clone, Debug)]
pub struct Evidence {
    /// The report (1184 bytes).
    pub report: Vec<u8>,
    /// DER certificates (VCEK or VLEK first; ASK, ARK if the host provided them).
    pub certificates: Vec<Vec<u8>>,
}

/// Something that can vouch for 64 bytes of REPORT_DATA.
pub trait EvidenceProvider {
    /// Which provider this is.
    fn kind(&self) -> EvidenceKind;

    /// A report binding `report_data`; `Ok(None)` for the `none` provider, which has no TEE.
    fn attest(&self, report_data: [u8; 64]) -> Result<Option<Evidence>, Error>;
}

/// The certificates of a host's certificate table, VEK first, then ASK/ASVK, then ARK (other
/// GUIDs are not needed for verification); `fallback` when the table is empty.
pub fn certificates_from_table(table: &[u8], fallback: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, Error> {
    if table.is_empty() {
        return Ok(fallback.to_vec());
    }
    let mut entries = parse_cert_table(table).map_err(Error::Attestation)?;
    entries.retain(|e| !matches!(e.kind, CertificateKind::Other(_) | CertificateKind::Crl));
    entries.sort_by_key(|e| match e.kind {
        CertificateKind::Vcek | CertificateKind::Vlek => 0,
        CertificateKind::Ask => 1,
        _ => 2,
    });
    Ok(entries.into_iter().map(|e| e.der).collect())
}
