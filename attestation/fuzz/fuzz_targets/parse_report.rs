//! Fuzzes envelope detection and report parsing: no panic, and whatever parses serialises back to
//! the same bytes. Run: `cargo +nightly fuzz run parse_report` in attestation/fuzz.
#![no_main]

use assay_attestation::abi::{AttestationReport, extract_report};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((inner, _)) = extract_report(data)
        && let Ok(report) = AttestationReport::from_bytes(inner)
    {
        assert_eq!(&report.to_bytes()[..], inner);
    }
});
