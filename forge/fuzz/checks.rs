//! What each fuzz target checks, one function per target. The fuzz targets (nightly,
//! cargo-fuzz) and the corpus replay (`tests/fuzz_corpus.rs`, stable, in every `cargo test`)
//! run the same function, so an input found once stays checked. Each returns whether its
//! parser accepted the input, which the replay requires of valid seeds.

use assay_attestation::{Status, Verifier};
use assay_forge::job::{JobFile, JobSpec};
use assay_forge::{BUNDLE_CHECKS, Bundle, BundleVerifier};

/// A target: its name (the folder of its corpus) and its check.
pub type Target = (&'static str, fn(&[u8]) -> bool);

/// Every target of this crate.
pub const TARGETS: &[Target] = &[
    ("parse_bundle", parse_bundle),
    ("parse_jobspec", parse_jobspec),
    ("verify_bundle", verify_bundle),
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

/// The bundle verifier on whatever parses, up to its first signature check and past it: no
/// panic; with AMD's roots only (no simulated chain named) and no coordinator pinned, nothing is
/// accepted; the outcome has every check in order, each before the failure passed or skipped,
/// each after it not run.
pub fn verify_bundle(data: &[u8]) -> bool {
    let Ok(bundle) = Bundle::parse(data, "fuzz") else {
        return false;
    };
    // 2027-01-01: inside the validity of the seeds' certificates.
    let at = time::OffsetDateTime::from_unix_timestamp(1_798_761_600).expect("a valid time");
    let mut verifier = BundleVerifier::new(Verifier::new(at));
    verifier.allow_no_tee = true;
    let rejected = verifier
        .verify(&bundle)
        .expect_err("a bundle passed with AMD's roots and no coordinator named");
    let checks: Vec<&str> = rejected.checks.iter().map(|c| c.check).collect();
    assert_eq!(checks, BUNDLE_CHECKS, "every check, in order");
    let failed = rejected
        .checks
        .iter()
        .position(|c| matches!(c.status, Status::Fail(_)))
        .expect("a failed check");
    for (i, c) in rejected.checks.iter().enumerate() {
        match i.cmp(&failed) {
            std::cmp::Ordering::Less => assert!(
                matches!(c.status, Status::Pass(_) | Status::Skipped(_)),
                "{} before the failure",
                c.check
            ),
            std::cmp::Ordering::Equal => {}
            std::cmp::Ordering::Greater => {
                assert_eq!(c.status, Status::NotRun, "{} after the failure", c.check)
            }
        }
    }
    true
}
