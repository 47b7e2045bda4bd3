//! The guest's side of a report request: MSG_REPORT_REQ (what `/dev/sev-guest` sends to the
//! AMD-SP: REPORT_DATA, VMPL, 28 reserved bytes) and the extended answer (MSG_REPORT_RSP and the
//! host's certificate table), framed for a byte stream.
//!
//! The framing is Assay's evidence channel, the interface through which a guest without SEV-SNP
//! hardware reaches a simulated AMD-SP that lives outside it, as the real one does:
//! the guest writes one 96-byte MSG_REPORT_REQ; the AMD-SP answers `len ‖ MSG_REPORT_RSP ‖ len ‖
//! certificate table`, each `len` a little-endian u32. See `docs/attestation.md`.

use std::io::{Read, Write};

use super::REPORT_SIZE;
use crate::Error;

/// Size of MSG_REPORT_REQ.
pub const REPORT_REQUEST_SIZE: usize = 96;

/// The largest MSG_REPORT_RSP or certificate table the channel carries (a report is 0x20 +
/// 1184 bytes; AMD's certificates fit in a few KiB; hosts reserve a few pages).
pub const MAX_FRAME: usize = 1 << 20;

/// MSG_REPORT_REQ: what the guest asks the AMD-SP to sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportRequest {
    /// The guest's 64 bytes.
    pub report_data: [u8; 64],
    /// The VMPL the report is for (0–3).
    pub vmpl: u32,
}

impl ReportRequest {
    /// The 96 bytes: REPORT_DATA, VMPL (LE), 28 zero bytes.
    pub fn to_bytes(&self) -> [u8; REPORT_REQUEST_SIZE] {
        let mut out = [0u8; REPORT_REQUEST_SIZE];
        out[..64].copy_from_slice(&self.report_data);
        out[64..68].copy_from_slice(&self.vmpl.to_le_bytes());
        out
    }

    /// Parses the 96 bytes; reserved bytes must be zero and VMPL at most 3.
    pub fn from_bytes(bytes: &[u8; REPORT_REQUEST_SIZE]) -> Result<Self, Error> {
        if let Some(i) = bytes[68..].iter().position(|b| *b != 0) {
            return Err(Error::ReservedNonZero {
                field: "MSG_REPORT_REQ reserved",
                offset: 68 + i,
            });
        }
        let vmpl = u32::from_le_bytes(bytes[64..68].try_into().expect("4 bytes"));
        if vmpl > 3 {
            return Err(Error::Channel {
                reason: format!("MSG_REPORT_REQ asks for VMPL {vmpl}; VMPLs are 0 to 3"),
            });
        }
        Ok(ReportRequest {
            report_data: bytes[..64].try_into().expect("64 bytes"),
            vmpl,
        })
    }
}

/// MSG_REPORT_RSP carrying `report`: status 0, size 1184, 24 reserved bytes, the report.
pub fn report_response(report: &[u8; REPORT_SIZE]) -> Vec<u8> {
    let mut out = vec![0u8; 0x20];
    out[4..8].copy_from_slice(&(REPORT_SIZE as u32).to_le_bytes());
    out.extend_from_slice(report);
    out
}

/// The AMD-SP's answer: MSG_REPORT_RSP and the host's certificate table (may be empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtendedResponse {
    /// MSG_REPORT_RSP (read the report with [`super::extract_report`]).
    pub message: Vec<u8>,
    /// The certificate table (read it with [`super::parse_cert_table`]).
    pub certificates: Vec<u8>,
}

fn channel(reason: impl Into<String>) -> Error {
    Error::Channel {
        reason: reason.into(),
    }
}

fn read_frame(r: &mut impl Read, what: &str) -> Result<Vec<u8>, Error> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)
        .map_err(|e| channel(format!("reading the length of {what}: {e}")))?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(channel(format!(
            "{what} of {len} bytes exceeds the channel's {MAX_FRAME}-byte limit"
        )));
    }
    let mut out = vec![0u8; len];
    r.read_exact(&mut out)
        .map_err(|e| channel(format!("reading {what} ({len} bytes): {e}")))?;
    Ok(out)
}

fn write_frame(w: &mut impl Write, bytes: &[u8], what: &str) -> Result<(), Error> {
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|n| *n as usize <= MAX_FRAME)
        .ok_or_else(|| channel(format!("{what} of {} bytes is too large", bytes.len())))?;
    w.write_all(&len.to_le_bytes())
        .and_then(|()| w.write_all(bytes))
        .map_err(|e| channel(format!("writing {what}: {e}")))
}

impl ExtendedResponse {
    /// Writes the answer to the channel.
    pub fn write_to(&self, w: &mut impl Write) -> Result<(), Error> {
        write_frame(w, &self.message, "MSG_REPORT_RSP")?;
        write_frame(w, &self.certificates, "the certificate table")?;
        w.flush().map_err(|e| channel(format!("flushing: {e}")))
    }

    /// Reads an answer from the channel; lengths beyond [`MAX_FRAME`] are refused before
    /// anything is allocated.
    pub fn read_from(r: &mut impl Read) -> Result<Self, Error> {
        Ok(ExtendedResponse {
            message: read_frame(r, "MSG_REPORT_RSP")?,
            certificates: read_frame(r, "the certificate table")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_and_refuses_reserved_bytes_and_vmpl() {
        let req = ReportRequest {
            report_data: [7; 64],
            vmpl: 1,
        };
        assert_eq!(ReportRequest::from_bytes(&req.to_bytes()).unwrap(), req);
        let mut bad = req.to_bytes();
        bad[95] = 1;
        assert!(matches!(
            ReportRequest::from_bytes(&bad),
            Err(Error::ReservedNonZero { offset: 95, .. })
        ));
        let mut bad = req.to_bytes();
        bad[64] = 4;
        assert!(matches!(
            ReportRequest::from_bytes(&bad),
            Err(Error::Channel { .. })
        ));
    }

    #[test]
    fn response_round_trips_and_refuses_oversized_or_short_frames() {
        let resp = ExtendedResponse {
            message: report_response(&[3; REPORT_SIZE]),
            certificates: vec![1, 2, 3],
        };
        let mut bytes = Vec::new();
        resp.write_to(&mut bytes).unwrap();
        assert_eq!(
            ExtendedResponse::read_from(&mut bytes.as_slice()).unwrap(),
            resp
        );
        let (report, envelope) = crate::abi::extract_report(&resp.message).unwrap();
        assert_eq!(
            (report, envelope),
            (&[3; REPORT_SIZE][..], crate::abi::Envelope::MsgReportRsp)
        );
        let huge = ((MAX_FRAME + 1) as u32).to_le_bytes();
        let err = ExtendedResponse::read_from(&mut huge.as_slice()).unwrap_err();
        assert!(err.to_string().contains("exceeds"), "{err}");
        let err = ExtendedResponse::read_from(&mut &bytes[..bytes.len() - 1]).unwrap_err();
        assert!(err.to_string().contains("certificate table"), "{err}");
    }
}
