//! The `parse_model_config` target: see `checks::parse_model_config` for what it asserts.
//! Run: `scripts/fuzz parse_model_config SECONDS` (or `cargo +nightly fuzz run parse_model_config` in enclave/recipe/fuzz).
#![no_main]

// Shared with the stable corpus replay; this target uses one of its checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::parse_model_config(data);
});
