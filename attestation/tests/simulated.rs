//! Checks that real data cannot exercise, on the simulated AMD chain of `testdata/sim`: a TCB or
//! chip-id mismatch under a valid signature, revoked intermediates, VLEK chains, test roots.

mod common;

use assay_attestation::abi::{Product, SigningKey, TcbVersion};
use assay_attestation::verify::{Crl, TrustStore};
use assay_attestation::{Error, Status, Verifier};
use common::*;

fn at() -> time::OffsetDateTime {
    time("2025-01-01T00:00:00Z")
}

fn sim_verifier() -> Verifier {
    Verifier {
        trust: sim_trust(),
        ..Verifier::new(at())
    }
}

fn vcek_chain() -> Vec<assay_attestation::verify::Certificate> {
    sim_certs(&["vcek.pem", "ask.pem", "ark.pem"])
}

fn reject(
    verifier: &Verifier,
    input: &[u8],
    certs: &[assay_attestation::verify::Certificate],
) -> Error {
    verifier
        .verify(input, certs)
        .expect_err("must be rejected")
        .error
}

#[test]
fn simulated_report_verifies_only_with_the_test_root_named() {
    let input = sim_sign(sim_report(|_| {}), "vcek.pk8");
    let accepted = sim_verifier().verify(&input, &vcek_chain()).unwrap();
    assert!(!accepted.amd_root);
    assert_eq!(accepted.product, Product::Milan);
    assert!(
        accepted
            .checks
            .iter()
            .all(|c| matches!(c.status, Status::Pass(_) | Status::Skipped(_)))
    );

    // The default trust store knows only AMD: the simulated ARK is refused even when supplied.
    let e = reject(&Verifier::new(at()), &input, &vcek_chain());
    assert!(matches!(e, Error::UntrustedRoot { .. }), "{e}");
    // Without the ARK file, the chain ends at AMD's real ARK-Milan, whose key did not sign it.
    let e = reject(
        &Verifier::new(at()),
        &input,
        &sim_certs(&["vcek.pem", "ask.pem"]),
    );
    assert!(matches!(e, Error::CertificateSignature { .. }), "{e}");
}

#[test]
fn reported_tcb_must_equal_the_vceks() {
    for (component, edit) in [
        (
            "bootloader",
            (|t: &mut assay_attestation::abi::Tcb| t.bootloader += 1) as fn(&mut _),
        ),
        ("tee", |t| t.tee += 1),
        ("snp", |t| t.snp -= 1),
        ("microcode", |t| t.microcode += 1),
    ] {
        let input = sim_sign(
            sim_report(|r| {
                let mut tcb = SIM_TCB;
                edit(&mut tcb);
                r.reported_tcb = tcb.encode(Product::Milan);
                // CURRENT_TCB stays at the VCEK's: the check must use REPORTED_TCB.
            }),
            "vcek.pk8",
        );
        let e = reject(&sim_verifier(), &input, &vcek_chain());
        assert!(
            matches!(e, Error::TcbMismatch { component: c, .. } if c == component),
            "{component}: {e}"
        );
        assert_eq!(e.check(), "tcb");
    }
    // CURRENT_TCB differing from the VCEK's is fine: only REPORTED_TCB selects the VCEK.
    let input = sim_sign(
        sim_report(|r| r.current_tcb = TcbVersion(0xdb19_0000_0000_0004)),
        "vcek.pk8",
    );
    sim_verifier().verify(&input, &vcek_chain()).unwrap();
}

#[test]
fn chip_id_must_match_unless_masked() {
    let input = sim_sign(sim_report(|r| r.chip_id[7] ^= 1), "vcek.pk8");
    let e = reject(&sim_verifier(), &input, &vcek_chain());
    assert!(matches!(e, Error::ChipIdMismatch { .. }), "{e}");
    assert_eq!(e.check(), "chip_id");

    let input = sim_sign(
        sim_report(|r| {
            r.key_info.mask_chip_id = true;
            r.chip_id = [0; 64];
        }),
        "vcek.pk8",
    );
    let accepted = sim_verifier().verify(&input, &vcek_chain()).unwrap();
    let chip = accepted
        .checks
        .iter()
        .find(|c| c.check == "chip_id")
        .unwrap();
    assert!(matches!(chip.status, Status::Skipped(_)));
}

#[test]
fn signing_key_and_product_must_agree_with_the_chain() {
    let input = sim_sign(
        sim_report(|r| r.key_info.signing_key = SigningKey::Vlek),
        "vcek.pk8",
    );
    let e = reject(&sim_verifier(), &input, &vcek_chain());
    assert!(matches!(e, Error::SigningKeyMismatch { .. }), "{e}");

    let input = sim_sign(
        sim_report(|r| r.key_info.signing_key = SigningKey::None),
        "vcek.pk8",
    );
    let e = reject(&sim_verifier(), &input, &vcek_chain());
    assert!(matches!(e, Error::ReportUnsigned), "{e}");

    let input = sim_sign(
        sim_report(|r| {
            r.version_fields = assay_attestation::abi::VersionFields::V3 {
                cpuid: assay_attestation::abi::Cpuid {
                    family: 0x19,
                    model: 0x11,
                    stepping: 1,
                },
            }
        }),
        "vcek.pk8",
    );
    let e = reject(&sim_verifier(), &input, &vcek_chain());
    assert!(matches!(e, Error::ProductMismatch { .. }), "{e}");

    // Signed by the VLEK's key but presented with the VCEK certificate.
    let input = sim_sign(sim_report(|_| {}), "vlek.pk8");
    let e = reject(&sim_verifier(), &input, &vcek_chain());
    assert!(matches!(e, Error::SignatureInvalid), "{e}");
}

#[test]
fn vlek_chain_verifies_and_skips_chip_id() {
    let input = sim_sign(
        sim_report(|r| {
            r.key_info.signing_key = SigningKey::Vlek;
            r.chip_id = [0; 64];
        }),
        "vlek.pk8",
    );
    let certs = sim_certs(&["vlek.pem", "asvk.pem", "ark.pem"]);
    let accepted = sim_verifier().verify(&input, &certs).unwrap();
    assert_eq!(accepted.signer, assay_attestation::verify::VekKind::Vlek);

    // A VLEK presented with the ASK instead of its ASVK: the only issuer by that name is AMD's
    // built-in SEV-VLEK-Milan, whose key did not sign it.
    let e = reject(
        &sim_verifier(),
        &input,
        &sim_certs(&["vlek.pem", "ask.pem", "ark.pem"]),
    );
    assert!(matches!(e, Error::CertificateSignature { .. }), "{e}");
}

fn sim_crl(name: &str) -> Crl {
    Crl::from_bytes(&std::fs::read(sim_dir().join(name)).unwrap(), name).unwrap()
}

#[test]
fn revoked_intermediates_are_refused() {
    let with = |crl: &str| Verifier {
        crls: vec![sim_crl(crl)],
        ..sim_verifier()
    };
    let vcek_input = sim_sign(sim_report(|_| {}), "vcek.pk8");
    with("crl-empty.der")
        .verify(&vcek_input, &vcek_chain())
        .unwrap();
    let e = reject(&with("crl-revokes-ask.der"), &vcek_input, &vcek_chain());
    assert!(matches!(e, Error::CertificateRevoked { .. }), "{e}");
    assert_eq!(e.check(), "crl");
    // The ASVK's revocation does not touch a VCEK chain, and does a VLEK chain.
    with("crl-revokes-asvk.der")
        .verify(&vcek_input, &vcek_chain())
        .unwrap();
    let vlek_input = sim_sign(
        sim_report(|r| {
            r.key_info.signing_key = SigningKey::Vlek;
            r.chip_id = [0; 64];
        }),
        "vlek.pk8",
    );
    let e = reject(
        &with("crl-revokes-asvk.der"),
        &vlek_input,
        &sim_certs(&["vlek.pem", "asvk.pem", "ark.pem"]),
    );
    assert!(matches!(e, Error::CertificateRevoked { .. }), "{e}");
    // The simulated CRL has the same issuer name as AMD's ARK-Milan, but AMD's key did not sign
    // it: against a real Milan chain its signature fails.
    let e = reject(
        &Verifier {
            crls: vec![sim_crl("crl-empty.der")],
            ..Verifier::new(time("2025-06-01T00:00:00Z"))
        },
        &report_input("oak/milan_oc_release_report.bin"),
        &certs("oak/milan_oc_release_vcek.der"),
    );
    assert!(matches!(e, Error::CrlSignature { .. }), "{e}");
}

#[test]
fn certificate_sets_must_hold_exactly_one_vek() {
    let input = sim_sign(sim_report(|_| {}), "vcek.pk8");
    let e = reject(&sim_verifier(), &input, &sim_certs(&["ask.pem", "ark.pem"]));
    assert!(matches!(e, Error::NoVek), "{e}");
    let e = reject(
        &sim_verifier(),
        &input,
        &sim_certs(&["vcek.pem", "vlek.pem", "ask.pem"]),
    );
    assert!(matches!(e, Error::MultipleVeks { .. }), "{e}");
    assert_eq!(e.check(), "certificates");
}

#[test]
fn a_test_root_must_be_self_signed() {
    let ark = sim_certs(&["ark.pem"]).remove(0);
    let mut der = ark.der().to_vec();
    let n = der.len();
    der[n - 3] ^= 1;
    let tampered = assay_attestation::verify::Certificate::from_der(&der, "tampered ark").unwrap();
    let e = TrustStore::amd().with_test_root(tampered).unwrap_err();
    assert!(matches!(e, Error::CertificateSignature { .. }), "{e}");
}

#[test]
fn rejected_outcomes_list_every_check() {
    let input = sim_sign(sim_report(|r| r.chip_id[0] ^= 1), "vcek.pk8");
    let rejected = sim_verifier().verify(&input, &vcek_chain()).unwrap_err();
    let names: Vec<_> = rejected.checks.iter().map(|c| c.check).collect();
    assert_eq!(
        names,
        [
            "parse",
            "chain",
            "crl",
            "signature",
            "tcb",
            "chip_id",
            "policy"
        ]
    );
    assert!(matches!(rejected.checks[5].status, Status::Fail(_)));
    assert_eq!(rejected.checks[6].status, Status::NotRun);
    assert!(rejected.report.is_some());
}

#[test]
fn unsigned_outer_signature_algorithm_must_equal_the_signed_one() {
    use assay_attestation::verify::Certificate;
    let pem = std::fs::read(sim_dir().join("vcek.pem")).unwrap();
    let der = assay_attestation::verify::parse_certificates(&pem, "vcek.pem")
        .unwrap()
        .remove(0)
        .der()
        .to_vec();
    // The RSASSA-PSS AlgorithmIdentifier appears twice: signed (in tbsCertificate) and unsigned
    // (after it). Turn a SEQUENCE tag inside the unsigned one's parameters into a SET.
    let alg = hex::decode("06092a864886f70d01010a3034a00f300d").unwrap();
    let positions: Vec<usize> = der
        .windows(alg.len())
        .enumerate()
        .filter(|(_, w)| *w == &alg[..])
        .map(|(i, _)| i)
        .collect();
    assert_eq!(positions.len(), 2);
    let mut tampered = der.clone();
    let mgf = positions[1] + alg.len() + 15; // the MGF1 parameters' SEQUENCE tag
    assert_eq!(
        tampered[mgf],
        0x30,
        "{}",
        hex::encode(&tampered[mgf..mgf + 8])
    );
    tampered[mgf] = 0x31;
    Certificate::from_der(&der, "vcek").unwrap();
    let e = Certificate::from_der(&tampered, "vcek")
        .unwrap_err()
        .to_string();
    assert!(e.contains("RFC 5280"), "{e}");
}
