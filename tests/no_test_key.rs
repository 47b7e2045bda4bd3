//! The enclave program holds no private key of the simulated chain: its reports come from an
//! AMD-SP outside it (`assay sim-sp`), as a real guest's do. Searched for: each simulated private
//! key file (PKCS#8 DER, and its PEM body), and each raw P-384 private scalar, in the enclave
//! binary the tests run and, when scripts/test built it, the release binary that goes into an
//! image (`$ASSAY_RELEASE_ENCLAVE`).

use std::path::PathBuf;

use assay_tests::paths::{bin, provided, sim_dir};
use base64::Engine;

/// The forms a simulated private key could take inside a binary.
fn key_forms() -> Vec<(String, Vec<u8>)> {
    let mut forms = Vec::new();
    for name in ["vcek.pk8", "vlek.pk8"] {
        let der = std::fs::read(sim_dir().join(name)).unwrap();
        // ECPrivateKey (RFC 5915): version 1, then the private key as an OCTET STRING of 48.
        let at = der
            .windows(5)
            .position(|w| w == [0x02, 0x01, 0x01, 0x04, 0x30])
            .unwrap_or_else(|| panic!("{name} holds no P-384 ECPrivateKey"))
            + 5;
        forms.push((format!("{name} scalar"), der[at..at + 48].to_vec()));
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        forms.push((format!("{name} PEM body"), b64.as_bytes()[..64].to_vec()));
        forms.push((format!("{name} DER"), der));
    }
    forms
}

fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn assert_no_key(binary: &PathBuf) {
    let bytes = std::fs::read(binary).unwrap();
    assert!(
        bytes.len() > 1 << 20,
        "{} is not a binary",
        binary.display()
    );
    for (what, form) in key_forms() {
        assert!(
            !holds(&bytes, &form),
            "{} contains the simulated {what}",
            binary.display()
        );
    }
}

#[test]
fn the_enclave_binary_holds_no_simulated_private_key() {
    // The search finds what it looks for.
    for (what, form) in key_forms() {
        let planted = [b"prefix".as_slice(), &form, b"suffix"].concat();
        assert!(holds(&planted, &form), "{what}");
    }
    assert_no_key(&bin("assay-enclave"));
    if let Some(path) = provided(
        "ASSAY_RELEASE_ENCLAVE",
        "ASSAY_REQUIRE_RELEASE_ENCLAVE",
        "the release binary: set ASSAY_RELEASE_ENCLAVE to a `cargo build --release -p assay-enclave` binary (scripts/test does)",
    ) {
        assert_no_key(&path);
    }
}
