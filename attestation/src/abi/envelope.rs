//! Containers a report arrives in: bare, the firmware's MSG_REPORT_RSP, or Azure's HCL report.

use serde::Serialize;

use super::REPORT_SIZE;
use crate::Error;

/// Where the report was found in the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Envelope {
    /// Exactly one 1184-byte report.
    Bare,
    /// The SNP_GET_REPORT response message: status u32, report size u32, 24 reserved bytes,
    /// the report at 0x20 (then page padding).
    MsgReportRsp,
    /// An Azure vTPM HCL report: "HCLA" header, the report at 0x20.
    AzureHcl,
}

const WRAPPED_AT: usize = 0x20;

/// Finds the report inside `input`, recognising the envelopes of [`Envelope`].
pub fn extract_report(input: &[u8]) -> Result<(&[u8], Envelope), Error> {
    if input.len() == REPORT_SIZE {
        return Ok((input, Envelope::Bare));
    }
    let wrapped = input.get(WRAPPED_AT..WRAPPED_AT + REPORT_SIZE);
    if input.starts_with(b"HCLA") {
        let report = wrapped.ok_or(Error::EnvelopeTruncated {
            envelope: "Azure HCL report",
            len: input.len(),
        })?;
        return Ok((report, Envelope::AzureHcl));
    }
    if input.len() >= 8 && input[4..8] == (REPORT_SIZE as u32).to_le_bytes() {
        let status = u32::from_le_bytes(input[0..4].try_into().expect("4 bytes"));
        if status != 0 {
            return Err(Error::FirmwareStatus { status });
        }
        let report = wrapped.ok_or(Error::EnvelopeTruncated {
            envelope: "MSG_REPORT_RSP",
            len: input.len(),
        })?;
        if input[8..WRAPPED_AT].iter().any(|&b| b != 0) {
            return Err(Error::ReservedNonZero {
                field: "MSG_REPORT_RSP reserved",
                offset: 8,
            });
        }
        return Ok((report, Envelope::MsgReportRsp));
    }
    Err(Error::ReportLength { len: input.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_envelopes() {
        let bare = [7u8; REPORT_SIZE];
        assert_eq!(extract_report(&bare).unwrap().1, Envelope::Bare);

        let mut rsp = vec![0u8; 4000];
        rsp[4..8].copy_from_slice(&0x4A0u32.to_le_bytes());
        rsp[0x20..0x20 + REPORT_SIZE].copy_from_slice(&bare);
        let (r, e) = extract_report(&rsp).unwrap();
        assert_eq!((r, e), (&bare[..], Envelope::MsgReportRsp));

        rsp[0] = 0x16; // INVALID_PARAM
        assert!(matches!(
            extract_report(&rsp),
            Err(Error::FirmwareStatus { status: 0x16 })
        ));
        rsp[0] = 0;
        rsp[9] = 1;
        assert!(matches!(
            extract_report(&rsp),
            Err(Error::ReservedNonZero { offset: 8, .. })
        ));

        let mut hcl = vec![0u8; 0x20 + REPORT_SIZE + 100];
        hcl[..4].copy_from_slice(b"HCLA");
        assert_eq!(extract_report(&hcl).unwrap().1, Envelope::AzureHcl);
        assert!(matches!(
            extract_report(&hcl[..500]),
            Err(Error::EnvelopeTruncated { .. })
        ));
        assert!(matches!(
            extract_report(&rsp[..100]),
            Err(Error::EnvelopeTruncated { .. })
        ));
        assert!(matches!(
            extract_report(&[0u8; 1185]),
            Err(Error::ReportLength { len: 1185 })
        ));
    }
}
