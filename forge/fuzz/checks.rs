//! What each fuzz target checks, one function per target. The fuzz targets (nightly,
//! cargo-fuzz) and the corpus replay (`tests/fuzz_corpus.rs`, stable, in every `cargo test`)
//! run the same function, so an input found once stays checked. Each returns whether its
//! parser accepted the input, which the replay requires of valid seeds.

use assay_forge::Bundle;
use assay_forge::job::{JobFile, JobSpec};

/// A target: its name (the folder of its corpus) and its check.
pub type Target = (&'static str, fn(&[u8]) -> bool);

/// Every target of this crate.
pub const TARGETS: &[Target] = &[
    ("parse_bundle", parse_bundle),
    ("parse_jobspec", parse_jobspec),
];

/// Attestation bundles (JSON or CBOR): no panic, and a bundle that parses comes back equal
/// through its CBOR and its JSON forms.
pub fn parse_bundle(data: &[u8]) -> bool {
    let Ok(bundle) = Bundle::parse(data, "fuzz") else {
        return false;
    };
    let cbor = Bundle::parse(&bundle.to_cbor(), "fuzz").expect("its CBOR parses");
    assert_eq!(cbor, bundle, "through CBOR");
    let json = Bundle::parse(bundle.to_json().as_bytes(), "fuzz").expect("its JSON parses");
    assert_eq!(json, bundle, "through JSON");
    true
}

/// JobSpecs and job files (TOML or JSON): no panic; a JobSpec that parses comes back equal, with
/// the same job hash, from its canonical bytes; a job file comes back equal from its TOML.
pub fn parse_jobspec(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let spec = JobSpec::parse(text, "fuzz");
    if let Ok(spec) = &spec {
        let canonical = String::from_utf8(spec.canonical_bytes()).expect("canonical JSON is UTF-8");
        let back = JobSpec::parse(&canonical, "fuzz").expect("its canonical bytes parse");
        assert_eq!(&back, spec, "through the canonical bytes");
        assert_eq!(back.hash(), spec.hash());
    }
    let file = JobFile::parse(text, "fuzz");
    if let Ok(file) = &file {
        let back = JobFile::parse(&file.to_toml(), "fuzz").expect("its TOML parses");
        assert_eq!(&back, file, "through TOML");
    }
    spec.is_ok() || file.is_ok()
}
