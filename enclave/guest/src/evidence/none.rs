//! The non-TEE fallback: no report at all. The job signs with the coordinator key and marks the
//! result `tee: false`; the CLI output and the bundle say so.

use assay_forge::EvidenceKind;

use super::{Evidence, EvidenceProvider};
use crate::Error;

/// No TEE.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoTee;

impl EvidenceProvider for NoTee {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::None
    }

    fn attest(&self, _report_data: [u8; 64]) -> Result<Option<Evidence>, Error> {
        Ok(None)
    }
}
