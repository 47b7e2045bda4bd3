//! The workspace's arrows point down (docs/architecture.md): each crate depends only on the
//! crates below it, `attestation` on no Assay crate but `measurements`, `keys` on `attestation`
//! and `forge` at most. Read from `cargo metadata`, so a new dependency that points up fails here.

use std::collections::BTreeMap;
use std::process::Command;

use assay_tests::paths::repo;
use serde_json::Value;

/// Each crate's level: a crate may depend (normally or for its tests) on lower levels only.
const LEVELS: [(&str, u8); 12] = [
    ("assay-alloy", 0),
    ("assay-measurements", 0),
    ("assay-attestation", 1),
    ("assay-image", 1),
    ("assay-forge", 2),
    ("assay-keys", 3),
    ("assay-recipe", 3),
    ("assay-attribution", 4),
    ("assay-enclave", 5),
    ("assay-cli", 6),
    ("assay-host", 6),
    ("assay-tests", 7),
];

/// Crates held to an exact list beyond their level.
const EXACT: [(&str, &[&str]); 6] = [
    ("assay-alloy", &[]),
    ("assay-measurements", &[]),
    ("assay-attestation", &["assay-measurements"]),
    ("assay-image", &["assay-measurements"]),
    ("assay-forge", &["assay-alloy", "assay-attestation"]),
    ("assay-keys", &["assay-attestation", "assay-forge"]),
];

/// Each workspace crate's Assay dependencies, normal and dev (itself excluded).
fn dependencies() -> BTreeMap<String, (Vec<String>, Vec<String>)> {
    let o = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(repo())
        .output()
        .expect("cargo metadata runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m: Value = serde_json::from_slice(&o.stdout).unwrap();
    let packages = m["packages"].as_array().unwrap();
    let ours: Vec<&str> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    packages
        .iter()
        .map(|p| {
            let name = p["name"].as_str().unwrap();
            let of_kind = |kind: Value| -> Vec<String> {
                let mut v: Vec<String> = p["dependencies"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|d| d["kind"] == kind)
                    .map(|d| d["name"].as_str().unwrap().to_owned())
                    .filter(|d| ours.contains(&d.as_str()) && d != name)
                    .collect();
                v.sort();
                v.dedup();
                v
            };
            (
                name.to_owned(),
                (of_kind(Value::Null), of_kind(Value::from("dev"))),
            )
        })
        .collect()
}

#[test]
fn every_arrow_points_down() {
    let level: BTreeMap<&str, u8> = LEVELS.into_iter().collect();
    let deps = dependencies();
    let names: Vec<&str> = deps.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        level.keys().copied().collect::<Vec<_>>(),
        "every workspace crate has a level in tests/layout.rs and docs/architecture.md"
    );
    for (name, (normal, dev)) in &deps {
        for d in normal.iter().chain(dev) {
            assert!(
                level[d.as_str()] < level[name.as_str()],
                "{name} depends on {d}, which is not below it"
            );
        }
    }
    for (name, exact) in EXACT {
        assert_eq!(deps[name].0, exact, "the Assay dependencies of {name}");
    }
}
