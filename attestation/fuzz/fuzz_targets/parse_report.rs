//! The `parse_report` target: see `checks::parse_report` for what it asserts.
//! Run: `scripts/fuzz parse_report SECONDS` (or `cargo +nightly fuzz run parse_report` in attestation/fuzz).
#![no_main]

// Shared with the stable corpus replay; this target uses one of its checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::parse_report(data);
});
