//! A simulated AMD-SP outside the guest, reached over the evidence channel (a Unix socket):
//! the guest sends MSG_REPORT_REQ and reads MSG_REPORT_RSP and the certificate table, the same
//! bytes the real device gives (`assay_attestation::abi::ReportRequest`). The guest holds no key:
//! whatever signs its reports lives with the host, as the real AMD-SP does, and only a verifier
//! that names the simulated root accepts them.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use assay_attestation::abi::{ExtendedResponse, ReportRequest};
use assay_forge::EvidenceKind;

use super::{Evidence, EvidenceProvider, certificates_from_table};
use crate::Error;

/// The evidence channel to a simulated AMD-SP.
#[derive(Clone, Debug)]
pub struct SpChannel {
    /// Its Unix socket.
    pub socket: PathBuf,
}

impl EvidenceProvider for SpChannel {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::Simulated
    }

    fn attest(&self, report_data: [u8; 64]) -> Result<Option<Evidence>, Error> {
        let device = |reason: String| Error::Device {
            path: self.socket.display().to_string(),
            reason,
        };
        let mut stream = UnixStream::connect(&self.socket)
            .map_err(|e| device(format!("connecting to the simulated AMD-SP: {e}")))?;
        let request = ReportRequest {
            report_data,
            vmpl: 0,
        };
        stream
            .write_all(&request.to_bytes())
            .map_err(|e| device(format!("sending MSG_REPORT_REQ: {e}")))?;
        let answer = ExtendedResponse::read_from(&mut stream).map_err(Error::Attestation)?;
        let (report, _) =
            assay_attestation::abi::extract_report(&answer.message).map_err(Error::Attestation)?;
        Ok(Some(Evidence {
            report: report.to_vec(),
            certificates: certificates_from_table(&answer.certificates, &[])?,
        }))
    }
}
