//! The browser page's verifier (`web/alloy.js`, an independent implementation of docs/alloy.md)
//! run in node on every vector of docs/alloy/vectors: it must reach the verdict each vector
//! states, which the Rust verifier reaches too (alloy/tests/vectors.rs), so the two agree on
//! every vector, with WebCrypto's Ed25519 and with the @noble/curves fallback. Also its own unit
//! checks (SHA-256 in JavaScript and WebAssembly, content hashes, CBOR, keyrings).

use std::process::Command;

use assay_tests::paths::{provided, repo};

fn node(args: &[&str]) -> String {
    let o = Command::new("node")
        .args(args)
        .current_dir(repo())
        .output()
        .expect("node runs (scripts/setup installs it with npm)");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "node {args:?}:\n{out}");
    out
}

#[test]
fn the_javascript_verifier_agrees_with_every_vector() {
    let out = node(&["web/test/vectors.mjs", "--check", "docs/alloy/vectors"]);
    let n = std::fs::read_dir(repo().join("docs/alloy/vectors"))
        .unwrap()
        .count();
    assert!(out.contains(&format!("{n} of {n} vectors agree")), "{out}");
}

/// Where WebCrypto has no Ed25519, the page verifies with @noble/curves (the equation compared
/// byte for byte, as dalek's verify_strict does): the same verdict on every vector.
#[test]
fn the_noble_fallback_reaches_the_same_verdict_on_every_vector() {
    let out = node(&[
        "web/test/vectors.mjs",
        "--check",
        "--ed25519",
        "both",
        "docs/alloy/vectors",
    ]);
    let n = std::fs::read_dir(repo().join("docs/alloy/vectors"))
        .unwrap()
        .count();
    assert!(
        out.contains(&format!("{n} of {n} vectors agree (Ed25519: noble)"))
            && out.contains(&format!(
                "{n} of {n} vectors: identical verdicts with webcrypto and noble"
            )),
        "{out}"
    );
}

#[test]
fn the_javascript_verifier_passes_its_unit_checks() {
    // With wabt (scripts/test installs it), web/sha256.wasm is re-assembled from its source and
    // must be the committed bytes.
    let mut cmd = Command::new("node");
    cmd.arg("web/test/unit.mjs").current_dir(repo());
    let wabt = provided(
        "ASSAY_WABT",
        "ASSAY_REQUIRE_WABT",
        "the WebAssembly SHA-256's rebuild check: set ASSAY_WABT to a node_modules folder holding wabt (scripts/test does)",
    );
    if let Some(modules) = &wabt {
        cmd.env("NODE_PATH", modules);
    }
    let o = cmd.output().expect("node runs");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success() && !out.contains("FAIL"), "{out}");
    if wabt.is_some() {
        assert!(!out.contains("SKIPPED"), "{out}");
    }
}

/// The verdicts node prints are the Rust verifier's too, vector by vector (the same check as
/// `--check`, read from the other side: a vector whose `expect` drifted from either fails).
#[test]
fn node_and_rust_print_the_same_verdicts() {
    let out = Command::new("node")
        .args(["web/test/vectors.mjs", "docs/alloy/vectors"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(out.status.success());
    let js: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for entry in std::fs::read_dir(repo().join("docs/alloy/vectors")).unwrap() {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
        let name = v["name"].as_str().unwrap();
        let texts: Vec<(Option<Vec<u8>>, Option<String>)> = v["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["cbor"].as_str().map(|h| hex::decode(h).unwrap()),
                    i["text"].as_str().map(str::to_owned),
                )
            })
            .collect();
        let verdict = assay_alloy::verify(texts.iter().map(|(c, t)| match (c, t) {
            (Some(c), _) => assay_alloy::Input::Cbor(c),
            (_, Some(t)) => assay_alloy::Input::Text(t),
            _ => unreachable!("a vector input is cbor or text"),
        }));
        let rules: Vec<&str> = verdict.rules().into_iter().collect();
        assert_eq!(js[name]["rules"], serde_json::json!(rules), "{name}");
        assert_eq!(js[name]["valid"], verdict.valid(), "{name}");
        assert_eq!(js[name]["complete"], verdict.complete(), "{name}");
    }
}
