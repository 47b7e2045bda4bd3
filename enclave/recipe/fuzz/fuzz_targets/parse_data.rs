//! The `parse_data` target: see `checks::parse_data` for what it asserts.
//! Run: `scripts/fuzz parse_data SECONDS` (or `cargo +nightly fuzz run parse_data` in enclave/recipe/fuzz).
#![no_main]

// Shared with the stable corpus replay; this target uses one of its checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::parse_data(data);
});
