//! What each fuzz target checks, one function per target. The fuzz targets (nightly,
//! cargo-fuzz) and the corpus replay (`tests/fuzz_corpus.rs`, stable, in every `cargo test`)
//! run the same function, so an input found once stays checked. Each returns whether its
//! parser accepted the input, which the replay requires of valid seeds.

use assay_attestation::abi::{
    AttestationReport, build_cert_table, extract_report, parse_cert_table,
};
use assay_attestation::verify::{Certificate, Crl, parse_certificates};

/// A target: its name (the folder of its corpus) and its check.
pub type Target = (&'static str, fn(&[u8]) -> bool);

/// Every target of this crate.
pub const TARGETS: &[Target] = &[
    ("parse_report", parse_report),
    ("parse_certificates", parse_certificates_and_crls),
    ("parse_cert_table", parse_table),
];

/// Envelope detection and report parsing: no panic, and a report that parses serialises back
/// to the same bytes.
pub fn parse_report(data: &[u8]) -> bool {
    let Ok((inner, _)) = extract_report(data) else {
        return false;
    };
    let Ok(report) = AttestationReport::from_bytes(inner) else {
        return false;
    };
    assert_eq!(
        &report.to_bytes()[..],
        inner,
        "a parsed report re-serialises to its bytes"
    );
    true
}

/// Certificates (PEM or DER, AMD's extensions) and CRLs: no panic, and each certificate that
/// parses parses again from its own DER to the same subject, extensions and fingerprint.
pub fn parse_certificates_and_crls(data: &[u8]) -> bool {
    let certs = parse_certificates(data, "fuzz");
    if let Ok(certs) = &certs {
        for cert in certs {
            let again =
                Certificate::from_der(cert.der(), "fuzz").expect("a parsed DER parses again");
            assert_eq!(again.der(), cert.der());
            assert_eq!(again.subject_cn(), cert.subject_cn());
            assert_eq!(again.sha256_hex(), cert.sha256_hex());
            assert_eq!(
                again.vek_extensions().is_some(),
                cert.vek_extensions().is_some()
            );
        }
    }
    let crl = Crl::from_bytes(data, "fuzz");
    certs.is_ok() || crl.is_ok()
}

/// The extended report's certificate table: no panic, and a table that parses round-trips
/// through `build_cert_table`.
pub fn parse_table(data: &[u8]) -> bool {
    let Ok(entries) = parse_cert_table(data) else {
        return false;
    };
    let rebuilt = build_cert_table(&entries);
    assert_eq!(
        parse_cert_table(&rebuilt).expect("a built table parses"),
        entries
    );
    true
}
