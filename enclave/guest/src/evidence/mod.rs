//! Evidence providers: one trait, chosen at start, always named in the output.
//!
//! - [`snp`]: the real SEV-SNP guest through configfs-tsm;
//! - [`simulated`]: a simulated AMD-SP (test roots only);
//! - [`none`]: no TEE; the result is signed by a coordinator key with `tee: false`.

pub mod none;
pub mod simulated;
pub mod snp;

use assay_attestation::bundle::EvidenceKind;

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
