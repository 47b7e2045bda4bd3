//! The `parse_jobspec` target: see `checks::parse_jobspec` for what it asserts.
//! Run: `scripts/fuzz parse_jobspec SECONDS` (or `cargo +nightly fuzz run parse_jobspec` in forge/fuzz).
#![no_main]

// Shared with the stable corpus replay; this target uses one of its checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::parse_jobspec(data);
});
