//! Searching what left the enclave for the holdout's plaintext and key, in every form they
//! could take.

use std::path::{Path, PathBuf};

use base64::Engine;

use crate::job::Setup;

/// Everything that must never appear outside the enclave.
pub fn needles(s: &Setup) -> Vec<Vec<u8>> {
    let key_file = s.path().join("needle.key");
    s.key.save(&key_file).unwrap();
    let hex_key = std::fs::read_to_string(&key_file)
        .unwrap()
        .trim()
        .to_owned();
    std::fs::remove_file(&key_file).unwrap();
    let raw = hex::decode(&hex_key).unwrap();
    let mut n = vec![
        hex_key.clone().into_bytes(),
        hex_key.to_uppercase().into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(&raw)
            .into_bytes(),
        raw,
    ];
    for e in &s.holdout {
        n.push(e.prompt.clone().into_bytes());
        n.push(e.answer.clone().into_bytes());
        // A fingerprint a host could confirm a guessed holdout with, raw and in hex.
        let fingerprint = e.content_hash();
        n.push(hex::encode(fingerprint).into_bytes());
        n.push(fingerprint.to_vec());
    }
    n.extend((0..s.holdout.len()).map(|i| format!("zq-canary-{i}").into_bytes()));
    n
}

/// Everything of the example job's holdout (`assay-host example --out example`) that must never
/// leave the enclave: its key, raw and in hex, and each example's prompt, answer and content
/// hash.
pub fn example_needles(example: &Path) -> Vec<Vec<u8>> {
    let key = std::fs::read_to_string(example.join("key-service/holdout.key")).unwrap();
    let key = key.trim().to_owned();
    let mut n = vec![key.clone().into_bytes(), hex::decode(&key).unwrap()];
    for e in assay_host::example::holdout() {
        n.push(e.prompt.clone().into_bytes());
        n.push(e.answer.clone().into_bytes());
        n.push(hex::encode(e.content_hash()).into_bytes());
    }
    n
}

/// Panics if `haystack` contains any needle; `what` names it.
pub fn scan(what: &str, haystack: &[u8], needles: &[Vec<u8>]) {
    for n in needles {
        assert!(
            !haystack.windows(n.len()).any(|w| w == &n[..]),
            "{what} contains a secret ({} bytes: {:?})",
            n.len(),
            String::from_utf8_lossy(&n[..n.len().min(12)])
        );
    }
}

/// Every file below `dir`.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}
