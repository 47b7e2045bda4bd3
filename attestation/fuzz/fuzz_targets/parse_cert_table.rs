//! Fuzzes the extended report's certificate table: no panic, and a table that parses
//! round-trips through `build_cert_table`.
//! Run: `cargo +nightly fuzz run parse_cert_table` in attestation/fuzz.
#![no_main]

use assay_attestation::abi::{build_cert_table, parse_cert_table};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = parse_cert_table(data) {
        let rebuilt = build_cert_table(&entries);
        assert_eq!(parse_cert_table(&rebuilt).unwrap(), entries);
    }
});
