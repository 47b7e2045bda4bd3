//! Fuzzes certificate and CRL parsing (PEM or DER, AMD extensions): no panic.
//! Run: `cargo +nightly fuzz run parse_certificates` in attestation/fuzz.
#![no_main]

use assay_attestation::verify::{Crl, parse_certificates};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_certificates(data, "fuzz");
    let _ = Crl::from_bytes(data, "fuzz");
});
