//! The `key_release_messages` target: see `checks::key_release_messages` for what it asserts.
//! Run: `scripts/fuzz key_release_messages SECONDS` (or `cargo +nightly fuzz run key_release_messages` in keys/fuzz).
#![no_main]

// Shared with the stable corpus replay; this target uses one of its checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::key_release_messages(data);
});
