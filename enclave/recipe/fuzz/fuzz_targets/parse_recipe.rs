//! The `parse_recipe` target: see `checks::parse_recipe` for what it asserts.
//! Run: `scripts/fuzz parse_recipe SECONDS` (or `cargo +nightly fuzz run parse_recipe` in enclave/recipe/fuzz).
#![no_main]

// Shared with the stable corpus replay; this target uses one of its checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::parse_recipe(data);
});
