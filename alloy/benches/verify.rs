//! Verifying an alloy chain (docs/performance.md, "Alloy chain"): a 10-link chain from its
//! file and from its QR texts, against the bare Ed25519 verifications it holds (the floor).
#![allow(missing_docs)] // criterion_main! writes an undocumented main

use assay_alloy::{Input, Link, LinkType, Part, SignedLink, SigningKey, chain_file, split, verify};
use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signature, Signer as _, Verifier as _};
use std::hint::black_box;

fn chain(n: usize) -> Vec<SignedLink> {
    let key = SigningKey::from_bytes(&[9; 32]);
    let mut out: Vec<SignedLink> = vec![];
    for i in 0..n {
        let prev = out.last();
        let link = Link {
            kind: LinkType::Eval,
            prev: prev.map(SignedLink::id),
            input_hash: prev.map_or([1; 32], |p| p.link().output_hash),
            stage: [
                (1, assay_alloy::cbor::Value::Text("perplexity".into())),
                (2, assay_alloy::cbor::Value::Bytes(vec![7; 32])),
            ]
            .into(),
            output_hash: [i as u8 + 2; 32],
            signer: *key.verifying_key().as_bytes(),
            timestamp: 1_767_225_600 + i as u64,
        };
        out.push(link.sign(&key).unwrap());
    }
    out
}

fn bench(c: &mut Criterion) {
    let links = chain(10);
    let file = chain_file(&links).unwrap();
    let texts: Vec<String> = split(&links).unwrap().iter().map(Part::to_text).collect();
    c.bench_function("verify 10-link chain file", |b| {
        b.iter(|| assert!(verify([Input::Cbor(black_box(&file))]).valid()))
    });
    c.bench_function("verify 10-link chain from its QR texts", |b| {
        b.iter(|| assert!(verify(texts.iter().map(|t| Input::Text(black_box(t)))).valid()))
    });
    // The floor: ten bare Ed25519 verify_strict calls over messages of the same size.
    let key = SigningKey::from_bytes(&[9; 32]);
    let vk = key.verifying_key();
    let msgs: Vec<(Vec<u8>, Signature)> = links
        .iter()
        .map(|l| (l.sig_structure().to_vec(), key.sign(l.sig_structure())))
        .collect();
    c.bench_function("10 bare Ed25519 verify_strict", |b| {
        b.iter(|| {
            for (m, s) in &msgs {
                vk.verify_strict(black_box(m), s).unwrap();
            }
        })
    });
    c.bench_function("10 bare Ed25519 verify", |b| {
        b.iter(|| {
            for (m, s) in &msgs {
                vk.verify(black_box(m), s).unwrap();
            }
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
