//! Report verification cost, next to one bare ECDSA P-384 verify on the same backend (aws-lc-rs).
//! Run with `cargo bench -p assay-attestation`; figures go to `docs/performance.md`.
#![allow(missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use assay_attestation::Verifier;
use assay_attestation::abi::{AttestationReport, SIGNED_LEN, extract_report};
use assay_attestation::kds::builtin_intermediates;
use assay_attestation::verify::{CertificateChain, TrustStore};
use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED, ParsedPublicKey};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    // Genoa v5 report from Oak, with its VCEK; ASK/ARK come from the built-in and pinned certs.
    let input = common::report_input("oak/genoa_oc_report.bin");
    let bytes = extract_report(&input).unwrap().0.to_vec();
    let vek = common::certs("oak/genoa_oc_vcek.der");
    let at = common::time("2025-08-08T17:21:41Z");
    let verifier = Verifier::new(at);

    let chain = CertificateChain::assemble(&vek, builtin_intermediates(), &TrustStore::amd())
        .unwrap()
        .verify(at)
        .unwrap();

    // The bare primitive: one ECDSA P-384/SHA-384 verify of the signed region with a parsed key.
    let point = {
        let x509 = x509_parser::parse_x509_certificate(vek[0].der()).unwrap().1;
        x509.public_key().subject_public_key.data.to_vec()
    };
    let key = ParsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, &point).unwrap();
    let report = AttestationReport::from_bytes(&bytes).unwrap();
    let rs = report.signature.to_fixed_be().unwrap();

    let mut g = c.benchmark_group("snp");
    g.bench_function("bare_p384_verify", |b| {
        b.iter(|| {
            key.verify_sig(black_box(&bytes[..SIGNED_LEN]), black_box(&rs))
                .unwrap()
        })
    });
    g.bench_function("report_with_cached_chain", |b| {
        b.iter(|| {
            verifier
                .verify_with_chain(black_box(&bytes), &chain)
                .unwrap()
        })
    });
    g.bench_function("chain_and_report", |b| {
        b.iter(|| verifier.verify(black_box(&input), black_box(&vek)).unwrap())
    });
    g.bench_function("parse_report", |b| {
        b.iter(|| AttestationReport::from_bytes(black_box(&bytes)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
