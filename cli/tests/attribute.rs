//! `assay attribute`: the Forge-shaped JSON, shares that sum to 10000, resumption from a journal
//! through the CLI, and argument errors.

use std::path::Path;
use std::process::{Command, Output};

fn assay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_assay"))
        .args(args)
        .output()
        .expect("assay runs")
}

fn p(dir: &Path, f: &str) -> String {
    dir.join(f).display().to_string()
}

#[test]
fn attribute_prints_the_score_vector_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(
        assay(&["recipe", "example", d.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    let journal = p(d, "journal");
    let args = |extra: &[&str]| {
        let mut v = vec![
            "attribute".to_owned(),
            "--recipe".into(),
            p(d, "recipe.toml"),
            "--model".into(),
            p(d, "model"),
            "--contributions".into(),
            p(d, "contributions.jsonl"),
            "--holdout".into(),
            p(d, "holdout.jsonl"),
            "--journal".into(),
            journal.clone(),
            "--json".into(),
            "--compute-bps".into(),
            "2000".into(),
            "--provider".into(),
            "host:1".into(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        let o = assay(&refs);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let first = run(&["--workers", "2"]);
    assert_eq!(first["method"], "exact_loo");
    assert_eq!(first["baseline_metric"]["name"], "perplexity");
    assert_eq!(first["baseline_metric"]["direction"], "lower_is_better");
    let scores = first["scores"].as_array().unwrap();
    assert_eq!(scores.len(), 3);
    let data: u64 = scores.iter().map(|s| s["shares"].as_u64().unwrap()).sum();
    let compute: u64 = first["compute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["shares"].as_u64().unwrap())
        .sum();
    assert_eq!(
        data + compute + first["unallocated_bps"].as_u64().unwrap(),
        10000
    );
    assert_eq!(first["resumed_runs"], 0);
    // A rerun takes every run from the journal and prints the same vector.
    let second = run(&["--workers", "1"]);
    assert_eq!(second["resumed_runs"], 4);
    assert_eq!(first["scores"], second["scores"]);
    assert_eq!(first["baseline_metric"], second["baseline_metric"]);
    // Above the threshold the stratified approximation is used, and said.
    let approx = run(&["--threshold", "2"]);
    assert_eq!(approx["method"], "stratified_loo");
    assert_eq!(approx["groups"], 2);
    assert_eq!(approx["scores"].as_array().unwrap().len(), 3);
}

#[test]
fn bad_arguments_are_named() {
    let o = assay(&[
        "attribute",
        "--recipe",
        "r",
        "--model",
        "m",
        "--contributions",
        "c",
        "--holdout",
        "h",
        "--provider",
        "nounits",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("ID:UNITS"));
    let o = assay(&[
        "attribute",
        "--recipe",
        "/nonexistent/r.toml",
        "--model",
        "m",
        "--contributions",
        "c",
        "--holdout",
        "h",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/r.toml"));
}
