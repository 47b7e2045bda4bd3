//! The `holdout_container` target: see `checks::holdout_container` for what it asserts.
//! Run: `scripts/fuzz holdout_container SECONDS` (or `cargo +nightly fuzz run holdout_container` in keys/fuzz).
#![no_main]

// Shared with the stable corpus replay; this target uses one of its checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::holdout_container(data);
});
