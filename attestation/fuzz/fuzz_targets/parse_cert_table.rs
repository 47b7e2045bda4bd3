//! The `parse_cert_table` target: see `checks::parse_table` for what it asserts.
//! Run: `scripts/fuzz parse_cert_table SECONDS` (or `cargo +nightly fuzz run parse_cert_table` in attestation/fuzz).
#![no_main]

// Shared with the stable corpus replay; this target uses one of its checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::parse_table(data);
});
