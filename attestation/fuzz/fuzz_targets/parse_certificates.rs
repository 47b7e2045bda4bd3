//! The `parse_certificates` target: see `checks::parse_certificates_and_crls` for what it asserts.
//! Run: `scripts/fuzz parse_certificates SECONDS` (or `cargo +nightly fuzz run parse_certificates` in attestation/fuzz).
#![no_main]

// Shared with the stable corpus replay; this target uses one of its checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::parse_certificates_and_crls(data);
});
