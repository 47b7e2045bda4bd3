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
    /// the report at 0x20, then zero padding (to the page) and nothing else.
    MsgReportRsp,
    /// An Azure vTPM HCL report: "HCLA", version u32, size u32 (of header, report and runtime
    /// data), request type u32, reserved; the report at 0x20; the runtime data at 0x4C0 (its
    /// own size u32 first); then zero padding and nothing else.
    AzureHcl,
}

const WRAPPED_AT: usize = 0x20;
/// Where an envelope's report ends.
const REPORT_END: usize = WRAPPED_AT + REPORT_SIZE;

/// Refuses anything but zero bytes in `padding`, which starts at `offset` of the envelope.
fn zero_padding(envelope: &'static str, padding: &[u8], offset: usize) -> Result<(), Error> {
    match padding.iter().position(|&b| b != 0) {
        None => Ok(()),
        Some(i) => Err(Error::EnvelopeTrailing {
            envelope,
            reason: format!(
                "byte {:#x} is not zero: only zero padding may follow the report",
                offset + i
            ),
        }),
    }
}

fn u32_at(input: &[u8], at: usize) -> Option<usize> {
    input
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
}

/// The Azure HCL report's declared size, checked against its runtime data and its length.
fn hcl_size(input: &[u8]) -> Result<usize, Error> {
    const HCL: &str = "Azure HCL report";
    let trailing = |reason: String| Error::EnvelopeTrailing {
        envelope: HCL,
        reason,
    };
    let size = u32_at(input, 8).expect("the caller checked the length");
    if size < REPORT_END + 4 || size > input.len() {
        return Err(trailing(format!(
            "its header declares {size} bytes, but it must hold the report and its runtime data within its {} bytes",
            input.len()
        )));
    }
    let runtime = u32_at(input, REPORT_END).expect("size ≥ REPORT_END + 4");
    if REPORT_END + runtime != size {
        return Err(trailing(format!(
            "its runtime data declares {runtime} bytes, but the header's size leaves {} after the report",
            size - REPORT_END
        )));
    }
    Ok(size)
}

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
        let size = hcl_size(input)?;
        zero_padding("Azure HCL report", &input[size..], size)?;
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
        zero_padding("MSG_REPORT_RSP", &input[REPORT_END..], REPORT_END)?;
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

        rsp[9] = 0;
        // Nothing but zero padding may follow the report.
        rsp[3999] = 1;
        let e = extract_report(&rsp).unwrap_err();
        assert!(
            matches!(e, Error::EnvelopeTrailing { .. }) && e.to_string().contains("0xf9f"),
            "{e}"
        );
        rsp[3999] = 0;

        let mut hcl = vec![0u8; 0x20 + REPORT_SIZE + 100];
        hcl[..4].copy_from_slice(b"HCLA");
        hcl[8..12].copy_from_slice(&(0x4C0u32 + 60).to_le_bytes());
        hcl[0x4C0..0x4C4].copy_from_slice(&60u32.to_le_bytes());
        assert_eq!(extract_report(&hcl).unwrap().1, Envelope::AzureHcl);
        // The runtime data's size must agree with the header's, within the input…
        hcl[0x4C0] = 61;
        let e = extract_report(&hcl).unwrap_err();
        assert!(e.to_string().contains("runtime data declares 61"), "{e}");
        hcl[0x4C0] = 60;
        hcl[8] = 0xff;
        hcl[9] = 0xff;
        let e = extract_report(&hcl).unwrap_err();
        assert!(e.to_string().contains("header declares"), "{e}");
        hcl[8..12].copy_from_slice(&(0x4C0u32 + 60).to_le_bytes());
        // …and only zeros after it.
        hcl[0x4C0 + 60] = 1;
        let e = extract_report(&hcl).unwrap_err();
        assert!(matches!(e, Error::EnvelopeTrailing { .. }), "{e}");
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
