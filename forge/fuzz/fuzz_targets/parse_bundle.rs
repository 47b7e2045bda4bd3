//! Fuzzes attestation bundles (JSON or CBOR): no panic, and a bundle that parses round-trips
//! through CBOR.
//! Run: `cargo +nightly fuzz run parse_bundle` in forge/fuzz.
#![no_main]

use assay_forge::Bundle;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = Bundle::parse(data, "fuzz") {
        let back = Bundle::parse(&bundle.to_cbor(), "fuzz").unwrap();
        assert_eq!(back, bundle);
    }
});
