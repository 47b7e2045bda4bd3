//! The `decode_chain` target: see `checks::decode_chain` for what it asserts.
//! Run: `scripts/fuzz decode_chain SECONDS` (or `cargo +nightly fuzz run decode_chain` in alloy/fuzz).
#![no_main]

// Shared with the stable corpus replay; this target uses one of its checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::decode_chain(data);
});
