//! The inputs the `parse_bundle` fuzz target found (a declared CBOR length far beyond the
//! input, which made the deserialiser reserve it and abort) are refused by the bounds check,
//! with the offset and the length named.

use assay_forge::Bundle;

#[test]
fn the_fuzzers_bundles_are_refused_by_their_declared_lengths() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/parse_bundle");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let e = Bundle::parse(&std::fs::read(&path).unwrap(), "found")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("CBOR: byte ") && e.contains("more than the"),
            "{}: {e}",
            path.display()
        );
        n += 1;
    }
    assert!(n >= 3, "the regression inputs are in {}", dir.display());
}
