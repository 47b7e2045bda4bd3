//! The browser page's verifier (`web/alloy.js`, an independent implementation of docs/alloy.md)
//! run in node on every vector of docs/alloy/vectors: it must reach the verdict each vector
//! states, which the Rust verifier reaches too (alloy/tests/vectors.rs), so the two agree on
//! every vector. Also its own unit checks (SHA-256, content hashes, CBOR, keyrings).

use std::process::Command;

use assay_tests::paths::repo;

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

#[test]
fn the_javascript_verifier_passes_its_unit_checks() {
    let out = node(&["web/test/unit.mjs"]);
    assert!(!out.contains("FAIL"), "{out}");
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
