//! Real AMD reports and certificates from `../shared/vectors/snp`, driven by its manifest.

mod common;

use assay_attestation::abi::{AttestationReport, Envelope, SIGNED_LEN, extract_report};
use assay_attestation::validate::Policy;
use assay_attestation::verify::{CertificateChain, Crl, TrustStore};
use assay_attestation::{Error, Verifier};
use aws_lc_rs::digest;
use common::*;
use serde_json::Value;

struct Case {
    id: String,
    input: Vec<u8>,
    certs: Vec<assay_attestation::verify::Certificate>,
    vek_only: Vec<assay_attestation::verify::Certificate>,
    at: time::OffsetDateTime,
    value: Value,
}

fn cases() -> Vec<Case> {
    let m = manifest();
    m["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c.get("vek").is_some())
        .map(|c| {
            let vek = certs(c["vek"].as_str().unwrap());
            // Some VEK files (Azure) carry the whole chain; the VEK is the EC certificate.
            let mut all = vek.clone();
            all.extend(certs(c["roots"].as_str().unwrap()));
            Case {
                id: c["id"].as_str().unwrap().to_owned(),
                input: report_input(c["report"].as_str().unwrap()),
                certs: all,
                vek_only: vek,
                at: time(c["suggested_verify_at"].as_str().unwrap()),
                value: c.clone(),
            }
        })
        .collect()
}

/// Debug allowed and no TCB floor: every real report, old ones too, passes the policy.
fn permissive(at: time::OffsetDateTime) -> Verifier {
    Verifier {
        policy: Policy {
            allow_debug: true,
            min_tcb: Some(assay_attestation::validate::MinTcb::default()),
            ..Policy::default()
        },
        ..Verifier::new(at)
    }
}

#[test]
fn every_real_report_verifies_with_its_certificates() {
    let cases = cases();
    assert_eq!(cases.len(), 11, "manifest cases with a VEK");
    for case in &cases {
        for certs in [&case.certs, &case.vek_only] {
            let accepted = permissive(case.at)
                .verify(&case.input, certs)
                .unwrap_or_else(|r| panic!("{}: {}", case.id, r.error));
            let v = &case.value;
            assert!(accepted.amd_root, "{}", case.id);
            assert_eq!(
                accepted.product.name(),
                v["product"].as_str().unwrap(),
                "{}",
                case.id
            );
            assert_eq!(
                u64::from(accepted.report.version()),
                v["report_version"].as_u64().unwrap()
            );
            assert_eq!(
                hex::encode(accepted.report.measurement),
                v["measurement"].as_str().unwrap()
            );
            assert_eq!(
                hex::encode(accepted.report.report_data),
                v["report_data"].as_str().unwrap()
            );
            assert_eq!(
                hex::encode(accepted.report.chip_id),
                v["chip_id"].as_str().unwrap()
            );
            assert_eq!(accepted.report.vmpl as u64, v["vmpl"].as_u64().unwrap());
            assert_eq!(
                format!("{:#x}", accepted.report.policy.0),
                v["policy"].as_str().unwrap()
            );
            assert_eq!(
                format!("{:#x}", accepted.report.reported_tcb.0),
                v["reported_tcb_raw"].as_str().unwrap()
            );
            assert_eq!(
                accepted.report.current_version.to_string(),
                v["current_version"].as_str().unwrap()
            );
            let tcb = accepted.report.reported_tcb.decode(accepted.product);
            let want = &v["reported_tcb"];
            assert_eq!(
                (tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode),
                (
                    want["bl"].as_u64().unwrap() as u8,
                    want["tee"].as_u64().unwrap() as u8,
                    want["snp"].as_u64().unwrap() as u8,
                    want["ucode"].as_u64().unwrap() as u8
                ),
                "{}",
                case.id
            );
            let signer = format!("{:?}", accepted.signer).to_uppercase();
            assert_eq!(signer, v["signing_key"].as_str().unwrap());
            let offset = v["report_offset"].as_u64().unwrap();
            let envelope = if offset == 0 {
                Envelope::Bare
            } else {
                Envelope::AzureHcl
            };
            assert_eq!(accepted.envelope, envelope, "{}", case.id);
        }
    }
}

#[test]
fn the_default_policy_refuses_debug_reports_and_those_below_their_products_floor() {
    let mut accepted = Vec::new();
    for case in cases() {
        let result = Verifier::new(case.at).verify(&case.input, &case.certs);
        let tcb = &case.value["reported_tcb"];
        let floor = assay_attestation::validate::MinTcb::floor(
            case.value["product"].as_str().unwrap().parse().unwrap(),
        );
        let meets = |min: Option<u8>, key: &str| {
            min.is_none_or(|m| tcb[key].as_u64().is_some_and(|v| v >= u64::from(m)))
        };
        let at_floor = meets(floor.fmc, "fmc")
            && meets(floor.bootloader, "bl")
            && meets(floor.tee, "tee")
            && meets(floor.snp, "snp")
            && meets(floor.microcode, "ucode");
        if case.value["debug"].as_bool().unwrap() {
            let rejected = result.expect_err(&case.id);
            assert!(
                matches!(rejected.error, Error::PolicyDebug),
                "{}",
                rejected.error
            );
            assert_eq!(rejected.error.check(), "policy");
        } else if at_floor {
            result.unwrap_or_else(|r| panic!("{}: {}", case.id, r.error));
            accepted.push(case.id);
        } else {
            let rejected = result.expect_err(&case.id);
            assert!(
                matches!(rejected.error, Error::PolicyBelowMinimum { .. })
                    && rejected.error.to_string().contains("default floor"),
                "{}: {}",
                case.id,
                rejected.error
            );
        }
    }
    // Reports from patched Milan and Genoa hosts pass the default floor.
    assert_eq!(
        accepted,
        [
            "trustee-azure-genoa-v3-hcl",
            "openpcc-azure-genoa-v3-hcl",
            "oak-genoa-v5",
            "oak-milan-v3-oc",
            "oak-milan-v3-rk"
        ]
    );
}

#[test]
fn real_reports_round_trip_and_hash_as_the_manifest_says() {
    let m = manifest();
    for c in m["cases"].as_array().unwrap() {
        let input = report_input(c["report"].as_str().unwrap());
        let (bytes, _) = extract_report(&input).unwrap();
        let report = AttestationReport::from_bytes(bytes).unwrap();
        assert_eq!(report.to_bytes().as_slice(), bytes, "{}", c["id"]);
        let sha = hex::encode(digest::digest(&digest::SHA256, bytes));
        assert_eq!(
            sha,
            c["sha256_of_report_1184"].as_str().unwrap(),
            "{}",
            c["id"]
        );
        let fms = &c["cpuid_fms"];
        match report.cpuid() {
            None => assert!(fms.is_null()),
            Some(cpuid) => assert_eq!(
                [cpuid.family, cpuid.model, cpuid.stepping]
                    .map(u64::from)
                    .to_vec(),
                fms.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap())
                    .collect::<Vec<_>>()
            ),
        }
    }
}

#[test]
fn lit_vectors_parse_or_fail_as_expected() {
    let lit = report("lit-sev-snp-utils/guest_report.bin");
    let report = lit.clone();
    // LIT's own test: SHA-384 of the signed region.
    let sha384 = hex::encode(digest::digest(
        &digest::SHA384,
        &report.to_bytes()[..SIGNED_LEN],
    ));
    assert!(
        sha384.starts_with("8ac02cb0") && sha384.ends_with("6b4"),
        "{sha384}"
    );
    // REPORTED_TCB and CURRENT_TCB differ: the VCEK must be looked up by REPORTED_TCB.
    assert_ne!(report.reported_tcb, report.current_tcb);
    let url = assay_attestation::kds::vcek_url_for_report(
        &report,
        assay_attestation::abi::Product::Milan,
    )
    .unwrap();
    assert!(
        url.ends_with("?blSPL=02&teeSPL=00&snpSPL=05&ucodeSPL=115"),
        "{url}"
    );

    let rsp = report_input("lit-sev-snp-utils/snp_report_msg_resp.bin");
    let (inner, env) = extract_report(&rsp).unwrap();
    assert_eq!(env, Envelope::MsgReportRsp);
    // Another report of the same chip (the manifest's "== guest_report.bin" holds for the chip
    // and TCB, not for the measurement).
    let inner = AttestationReport::from_bytes(inner).unwrap();
    assert_eq!(
        (inner.chip_id, inner.reported_tcb),
        (report.chip_id, report.reported_tcb)
    );

    let bad = report_input("lit-sev-snp-utils/guest_report_bad_sig.bin");
    assert!(matches!(
        extract_report(&bad),
        Err(Error::ReportLength { len: 1185 })
    ));
    // Its first 1184 bytes parse, but the changed REPORT_ID byte changes the signed hash.
    let first = AttestationReport::from_bytes(&bad[..1184]).unwrap();
    let sha384 = hex::encode(digest::digest(
        &digest::SHA384,
        &first.to_bytes()[..SIGNED_LEN],
    ));
    assert_eq!(
        sha384,
        "125a8e5748291b4d6ab719a28f72c9a9d28ce22b91af78fe627c29433eb03495f2cfcd4d67222abf05291f1bbf9455cd"
    );

    let corrupt = report_input("lit-sev-snp-utils/guest_report_corrupt.bin");
    assert!(matches!(
        extract_report(&corrupt),
        Err(Error::ReportLength { len: 793 })
    ));

    let gce = common::report("openpcc/test_gce_sevsnp_report.bin");
    assert_eq!(gce.version(), 4);
    assert_eq!(
        gce.product().unwrap(),
        Some(assay_attestation::abi::Product::Milan)
    );
}

#[test]
fn manifest_negative_cases_fail_as_expected() {
    let m = manifest();
    // Inside every certificate's window (ARK-Turin starts 2023-05-15).
    let at = time("2025-06-01T00:00:00Z");
    for neg in m["negative_and_edge"].as_array().unwrap() {
        let id = neg["id"].as_str().unwrap();
        let expected = &neg["expected"];
        let (Some(report_rel), Some(vek_rel)) = (neg["report"].as_str(), neg["vek"].as_str())
        else {
            continue;
        };
        let mut supplied = certs(vek_rel);
        supplied.extend(certs("trustee/roots/milan_ask_ark_asvk.pem"));
        let rejected = permissive(at)
            .verify(&report_input(report_rel), &supplied)
            .expect_err(id);
        if expected["signature_valid"] == Value::Bool(false) {
            assert!(
                matches!(rejected.error, Error::SignatureInvalid),
                "{id}: {}",
                rejected.error
            );
        }
    }
}

#[test]
fn synthetic_vceks_parse_but_do_not_chain() {
    let at = time("2024-01-01T00:00:00Z");
    for rel in [
        "trustee/test-vcek-invalid-legacy.der",
        "trustee/test-vcek-invalid-new.der",
    ] {
        let vek = certs(rel);
        let chain = CertificateChain::assemble(
            &vek,
            assay_attestation::kds::builtin_intermediates(),
            &TrustStore::amd(),
        )
        .unwrap();
        // Both hwID encodings (raw 64 bytes, OCTET STRING-wrapped) decode to the same 00..3f.
        let ext = chain
            .vek
            .vek_extensions()
            .expect("a VCEK carries AMD extensions");
        assert_eq!(
            ext.hwid.as_deref(),
            Some(&(0u8..64).collect::<Vec<_>>()[..]),
            "{rel}"
        );
        let err = chain.verify(at).unwrap_err();
        assert!(
            matches!(err, Error::CertificateSignature { .. }),
            "{rel}: {err}"
        );
    }
}

#[test]
fn turin_vcek_without_report_chains() {
    let mut supplied = certs("virtee-sev/vcek_turin.der");
    supplied.extend(certs("virtee-sev/cert_chain_turin"));
    let chain = CertificateChain::assemble(
        &supplied,
        assay_attestation::kds::builtin_intermediates(),
        &TrustStore::amd(),
    )
    .unwrap();
    let vek = &chain.vek;
    let at = time("2025-01-01T00:00:00Z");
    let verified = chain.verify(at).unwrap();
    assert_eq!(verified.product, assay_attestation::abi::Product::Turin);
    assert_eq!(verified.extensions.hwid.as_ref().unwrap().len(), 8);
    assert!(verified.extensions.tcb.fmc.is_some());
    assert_eq!(vek.subject_cn(), "SEV-VCEK");
}

#[test]
fn cross_paired_reports_and_certificates_fail() {
    let cases = cases();
    let mut pairs = 0;
    for report_case in &cases {
        for cert_case in &cases {
            if report_case.value["vek"] == cert_case.value["vek"] {
                continue;
            }
            let at = report_case.at.max(cert_case.at);
            let result = permissive(at).verify(&report_case.input, &cert_case.certs);
            assert!(
                result.is_err(),
                "report {} accepted with the certificates of {}",
                report_case.id,
                cert_case.id
            );
            pairs += 1;
        }
    }
    assert!(pairs >= 100, "{pairs}");
}

#[test]
fn flipping_any_signed_byte_is_rejected() {
    for case in cases() {
        let (bytes, _) = extract_report(&case.input).unwrap();
        let chain = CertificateChain::assemble(
            &case.certs,
            assay_attestation::kds::builtin_intermediates(),
            &TrustStore::amd(),
        )
        .unwrap()
        .verify(case.at)
        .unwrap();
        let verifier = permissive(case.at);
        verifier.verify_with_chain(bytes, &chain).unwrap();
        let mut signature_failures = 0;
        // Every byte of the signed region, and every byte of R and S.
        for i in (0..SIGNED_LEN).chain(SIGNED_LEN..SIGNED_LEN + 144) {
            let mut tampered = bytes.to_vec();
            tampered[i] ^= 0x01;
            let rejected = verifier
                .verify_with_chain(&tampered, &chain)
                .expect_err(&format!("{}: flip at {i:#x} accepted", case.id));
            if matches!(
                rejected.error,
                Error::SignatureInvalid | Error::SignatureMalformed
            ) {
                signature_failures += 1;
            } else {
                // Only a parse failure (a reserved byte, the version, the key info) may pre-empt
                // the signature check.
                assert_eq!(
                    rejected.error.check(),
                    "parse",
                    "{}: {i:#x}: {}",
                    case.id,
                    rejected.error
                );
            }
        }
        assert!(
            signature_failures > 500,
            "{}: {signature_failures}",
            case.id
        );
    }
}

#[test]
fn certificate_validity_follows_the_clock() {
    let case = cases()
        .into_iter()
        .find(|c| c.id == "trustee-milan-v3-vlek-aws")
        .unwrap();
    // The AWS VLEK expired on 2025-12-10.
    let rejected = permissive(time("2026-11-24T00:00:00Z"))
        .verify(&case.input, &case.certs)
        .unwrap_err();
    assert!(
        matches!(rejected.error, Error::CertificateExpired { .. }),
        "{}",
        rejected.error
    );
    assert_eq!(rejected.error.check(), "chain");
    let rejected = permissive(time("2019-01-01T00:00:00Z"))
        .verify(&case.input, &case.certs)
        .unwrap_err();
    assert!(
        matches!(rejected.error, Error::CertificateNotYetValid { .. }),
        "{}",
        rejected.error
    );
}

fn crl(rel: &str) -> Crl {
    Crl::from_bytes(&std::fs::read(vectors().join(rel)).unwrap(), rel).unwrap()
}

#[test]
fn real_crls_are_checked() {
    let cases = cases();
    let milan = cases.iter().find(|c| c.id == "oak-milan-v3-oc").unwrap();
    let genoa = cases.iter().find(|c| c.id == "oak-genoa-v5").unwrap();
    let milan_crl = crl("openpcc/test_amd_milan_crl.der");
    let genoa_crl = crl("openpcc/test_amd_genoa_crl.pem");
    assert_eq!(milan_crl.issuer_cn(), "ARK-Milan");

    let with = |crls: Vec<Crl>, at: &str| Verifier {
        crls,
        ..permissive(time(at))
    };
    // Inside the CRL's window: accepted.
    with(vec![milan_crl.clone()], "2025-06-01T00:00:00Z")
        .verify(&milan.input, &milan.certs)
        .unwrap();
    with(vec![genoa_crl.clone()], "2025-08-09T00:00:00Z")
        .verify(&genoa.input, &genoa.certs)
        .unwrap();
    // Past nextUpdate: stale.
    let e = with(vec![milan_crl.clone()], "2026-11-24T00:00:00Z")
        .verify(&milan.input, &milan.certs)
        .unwrap_err()
        .error;
    assert!(matches!(e, Error::CrlStale { .. }), "{e}");
    // Another product's CRL.
    let e = with(vec![genoa_crl], "2025-06-01T00:00:00Z")
        .verify(&milan.input, &milan.certs)
        .unwrap_err()
        .error;
    assert!(matches!(e, Error::CrlIssuer { .. }), "{e}");
    assert_eq!(e.check(), "crl");
    // A flipped byte in the CRL's signature.
    let mut der = std::fs::read(vectors().join("openpcc/test_amd_milan_crl.der")).unwrap();
    let n = der.len();
    der[n - 10] ^= 0x40;
    let tampered = Crl::from_bytes(&der, "tampered").unwrap();
    let e = with(vec![tampered], "2025-06-01T00:00:00Z")
        .verify(&milan.input, &milan.certs)
        .unwrap_err()
        .error;
    assert!(matches!(e, Error::CrlSignature { .. }), "{e}");
    assert!(matches!(
        Crl::from_bytes(b"garbage", "garbage"),
        Err(Error::CrlParse { .. })
    ));
}

#[test]
fn tampered_or_foreign_chain_certificates_are_rejected() {
    let case = cases()
        .into_iter()
        .find(|c| c.id == "virtee-milan-v2")
        .unwrap();
    // A supplied ARK that is not AMD's (same name, other key): refused, not replaced.
    let mut supplied = case.vek_only.clone();
    supplied.extend(sim_certs(&["ark.pem"]));
    let e = permissive(case.at)
        .verify(&case.input, &supplied)
        .unwrap_err()
        .error;
    assert!(matches!(e, Error::UntrustedRoot { .. }), "{e}");
    // A supplied ASK with one flipped signature byte.
    let ask = certs("virtee-sev/builtin/milan/ask.pem").remove(0);
    let mut der = ask.der().to_vec();
    let n = der.len();
    der[n - 5] ^= 1;
    let mut supplied = case.vek_only.clone();
    supplied.push(assay_attestation::verify::Certificate::from_der(&der, "tampered ask").unwrap());
    let e = permissive(case.at)
        .verify(&case.input, &supplied)
        .unwrap_err()
        .error;
    assert!(matches!(e, Error::CertificateSignature { .. }), "{e}");
    // A VCEK with one flipped signature byte.
    let mut der = case.vek_only[0].der().to_vec();
    let n = der.len();
    der[n - 5] ^= 1;
    let vek = assay_attestation::verify::Certificate::from_der(&der, "tampered vcek").unwrap();
    let e = permissive(case.at)
        .verify(&case.input, &[vek])
        .unwrap_err()
        .error;
    assert!(matches!(e, Error::CertificateSignature { .. }), "{e}");
    // No VEK at all.
    let e = permissive(case.at)
        .verify(&case.input, &certs("trustee/roots/milan_ask_ark_asvk.pem"))
        .unwrap_err()
        .error;
    assert!(matches!(e, Error::NoVek), "{e}");
}
