//! The `parse_qr_text` target: see `checks::parse_qr_text` for what it asserts.
//! Run: `scripts/fuzz parse_qr_text SECONDS` (or `cargo +nightly fuzz run parse_qr_text` in alloy/fuzz).
#![no_main]

// Shared with the stable corpus replay; this target uses one of its checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::parse_qr_text(data);
});
