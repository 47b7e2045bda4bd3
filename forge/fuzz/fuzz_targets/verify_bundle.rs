//! The `verify_bundle` target: see `checks::verify_bundle` for what it asserts.
//! Run: `scripts/fuzz verify_bundle SECONDS` (or `cargo +nightly fuzz run verify_bundle` in forge/fuzz).
#![no_main]

// Shared with the stable corpus replay; this target uses one of its checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::verify_bundle(data);
});
