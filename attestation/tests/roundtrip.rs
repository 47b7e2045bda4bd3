//! Property tests: parse ∘ serialise is the identity on every well-formed report, and the parser
//! never panics and never accepts bytes it cannot reproduce.

use assay_attestation::abi::{AttestationReport, REPORT_SIZE, extract_report};
use proptest::prelude::*;

/// Makes random bytes well-formed for `version`: fixed fields set, reserved regions zeroed.
fn well_formed(mut b: Vec<u8>, version: u32, signing_key: u32) -> Vec<u8> {
    b[0..4].copy_from_slice(&version.to_le_bytes());
    b[0x0A] |= 0x02; // POLICY bit 17 must be one
    b[0x34..0x38].copy_from_slice(&1u32.to_le_bytes());
    let key_info = (b[0x48] as u32 & 0b11) | (signing_key << 2);
    b[0x48..0x4C].copy_from_slice(&key_info.to_le_bytes());
    let zero = |b: &mut Vec<u8>, r: std::ops::Range<usize>| b[r].fill(0);
    zero(&mut b, 0x4C..0x50);
    zero(&mut b, if version == 2 { 0x188 } else { 0x18B }..0x1A0);
    zero(&mut b, 0x1EB..0x1EC);
    zero(&mut b, 0x1EF..0x1F0);
    zero(&mut b, if version == 5 { 0x208 } else { 0x1F8 }..0x2A0);
    zero(&mut b, 0x330..REPORT_SIZE);
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn well_formed_reports_round_trip(
        bytes in proptest::collection::vec(any::<u8>(), REPORT_SIZE),
        version in 2u32..=5,
        signing_key in prop_oneof![Just(0u32), Just(1), Just(7)],
    ) {
        let bytes = well_formed(bytes, version, signing_key);
        let report = AttestationReport::from_bytes(&bytes).unwrap();
        prop_assert_eq!(report.version(), version);
        prop_assert_eq!(report.to_bytes().to_vec(), bytes.clone());
        let again = AttestationReport::from_bytes(&report.to_bytes()).unwrap();
        prop_assert_eq!(again, report);
    }

    #[test]
    fn arbitrary_input_is_reproduced_or_refused(
        bytes in proptest::collection::vec(any::<u8>(), 0..5000),
    ) {
        if let Ok((inner, _)) = extract_report(&bytes)
            && let Ok(report) = AttestationReport::from_bytes(inner)
        {
            prop_assert_eq!(report.to_bytes().to_vec(), inner.to_vec());
        }
    }

    #[test]
    fn random_bytes_of_report_size_are_reproduced_or_refused(
        bytes in proptest::collection::vec(any::<u8>(), REPORT_SIZE),
        version in 2u32..=5,
    ) {
        let mut bytes = bytes;
        bytes[0..4].copy_from_slice(&version.to_le_bytes());
        if let Ok(report) = AttestationReport::from_bytes(&bytes) {
            prop_assert_eq!(report.to_bytes().to_vec(), bytes);
        }
    }
}
