//! `assay replay`: an auditor given a job's data reruns it with the enclave's code path and
//! gets the bundle's numbers bit for bit; a changed score, input, key or build is named.

use std::path::Path;
use std::process::{Command, Output};

use assay_forge::Bundle;
use assay_tests::forge::NONCE;
use assay_tests::job::Setup;
use assay_tests::paths::bin;
use assay_tests::sim::launch_args;
use assay_tests::tee::Tee;

/// A TEE job run to its bundle, with what an auditor is given beside the data: the holdout's
/// key (`holdout.key`) and the image's reference values (`enclave-reference.toml`).
fn audited_job() -> Tee {
    let t = Tee::start(Setup::new(), NONCE, &[]);
    let o = t.run(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let d = t.s.path();
    t.s.key.save(&d.join("holdout.key")).unwrap();
    let measured = Command::new(bin("assay"))
        .arg("measure")
        .args(launch_args())
        .arg("--reference")
        .arg(d.join("enclave-reference.toml"))
        .output()
        .unwrap();
    assert_eq!(
        measured.status.code(),
        Some(0),
        "{}",
        text(&measured.stderr)
    );
    t
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn replay(bundle: &Path, data: &Path, extra: &[&str]) -> Output {
    Command::new(bin("assay"))
        .arg("replay")
        .arg(bundle)
        .arg("--data")
        .arg(data)
        .args(extra)
        .output()
        .unwrap()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o.stdout)))
}

/// Copies the job's data (the four inputs, the key, the reference values) into `to`.
fn copy_data(from: &Path, to: &Path) {
    for f in [
        "recipe.toml",
        "contributions.jsonl",
        "holdout.enc",
        "holdout.key",
        "enclave-reference.toml",
    ] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
    std::fs::create_dir(to.join("model")).unwrap();
    for e in std::fs::read_dir(from.join("model")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join("model").join(e.file_name())).unwrap();
    }
}

#[test]
fn a_bundle_is_reproduced_bit_for_bit_and_a_changed_score_is_named() {
    let t = audited_job();
    let d = t.s.path();
    let bundle_path = d.join("bundle.json");
    let bundle = Bundle::parse(&std::fs::read(&bundle_path).unwrap(), "bundle.json").unwrap();

    // The table: every contribution's bundle value, replayed value and whether they are equal.
    let o = replay(&bundle_path, d, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(
        err.contains("values equal the bundle's, bit for bit"),
        "{err}"
    );
    assert!(
        out.contains(&bundle.job.as_ref().unwrap().hash().to_string()),
        "{out}"
    );
    for s in &bundle.result.scores {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("score of {}", s.contributor)))
            .unwrap_or_else(|| panic!("no row for {}: {out}", s.contributor));
        assert_eq!(line.matches(&s.score.to_string()).count(), 2, "{line}");
        assert!(line.trim_end().ends_with("yes"), "{line}");
    }

    // With the job's alloy chain: its adapter link names the adapter the replay trains, bit
    // for bit; a chain whose adapter link says otherwise (signed by the bundle's key's pretender)
    // is refused before it is compared.
    let chain = d.join("bundle.alloy").display().to_string();
    let o = replay(&bundle_path, d, &["--alloy", &chain]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let adapter_row = out
        .lines()
        .find(|l| l.starts_with("the adapter (the alloy adapter link's output)"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(adapter_row.trim_end().ends_with("yes"), "{adapter_row}");
    let verdict = assay_alloy::verify([assay_alloy::Input::Cbor(&std::fs::read(&chain).unwrap())]);
    let adapter = assay_forge::alloy::check_chain(&bundle, &verdict)
        .unwrap()
        .adapter_hash;
    assert!(out.contains(&hex::encode(adapter)), "{out}");
    let other = assay_enclave::job::alloy_key().unwrap();
    let mut posing = bundle.clone();
    posing.alloy.as_mut().unwrap().key =
        alloy_primitives::B256::from(*other.verifying_key().as_bytes());
    let forged = assay_forge::alloy::sign_job_links(&posing, [0; 32], "lora", &other, 1).unwrap();
    let forged_path = d.join("forged.alloy");
    std::fs::write(&forged_path, assay_alloy::chain_file(&forged).unwrap()).unwrap();
    let o = replay(&bundle_path, d, &["--alloy", forged_path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("is signed by"),
        "{}",
        text(&o.stderr)
    );

    // As JSON, from the CBOR form of the same bundle: every row equal, the baseline first.
    let o = replay(&d.join("bundle.cbor"), d, &["--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v = json(&o);
    assert_eq!(v["equal"], true);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows[0]["what"], "baseline perplexity");
    assert_eq!(
        rows[0]["bundle"].as_str().unwrap(),
        bundle.result.baseline_metric.value.to_string()
    );
    assert!(
        rows.iter()
            .all(|r| r["equal"] == true && r["bundle"] == r["replayed"])
    );

    // One score changed in its last digit: the replay names it and fails.
    let s = &bundle.result.scores[1];
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&bundle_path).unwrap()).unwrap();
    let changed = assay_forge::result::Wad(s.score.0 + 1).to_string();
    v["result"]["scores"][1]["score"] = changed.clone().into();
    let tampered = d.join("tampered.json");
    std::fs::write(&tampered, serde_json::to_vec(&v).unwrap()).unwrap();
    let o = replay(&tampered, d, &["--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains(&format!(
            "replay differs: score of {}: the bundle has {changed}, the replay {}",
            s.contributor, s.score
        )),
        "{}",
        text(&o.stderr)
    );
    let v = json(&o);
    assert_eq!(v["equal"], false);
    let unequal: Vec<_> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["equal"] == false)
        .map(|r| r["what"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        unequal,
        [
            format!("score of {}", s.contributor),
            "the whole result".into()
        ]
    );

    // A changed share is named the same way.
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&bundle_path).unwrap()).unwrap();
    let shares = bundle.result.scores[0].shares;
    v["result"]["scores"][0]["shares"] = (shares + 1).into();
    std::fs::write(&tampered, serde_json::to_vec(&v).unwrap()).unwrap();
    let o = replay(&tampered, d, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains(&format!(
            "replay differs: shares of {}: the bundle has {}, the replay {shares}",
            bundle.result.scores[0].contributor,
            shares + 1
        )),
        "{}",
        text(&o.stderr)
    );
}

/// The replay was refused with an error naming `what`, before any value was compared.
#[track_caller]
fn refused(o: &Output, what: &str) {
    assert_eq!(o.status.code(), Some(1), "{what}: {}", text(&o.stderr));
    assert!(
        text(&o.stderr).starts_with("error: "),
        "{}",
        text(&o.stderr)
    );
    assert!(
        text(&o.stderr).contains(what),
        "{what}: {}",
        text(&o.stderr)
    );
    assert!(!text(&o.stdout).contains("score of"), "{}", text(&o.stdout));
}

#[test]
fn a_changed_input_key_or_build_is_named_before_anything_runs() {
    let t = audited_job();
    let d = t.s.path();
    let bundle = d.join("bundle.json");
    let other = tempfile::tempdir().unwrap();
    let o_dir = other.path();
    copy_data(d, o_dir);

    // One contribution's text changed.
    let contributions = std::fs::read_to_string(o_dir.join("contributions.jsonl")).unwrap();
    std::fs::write(
        o_dir.join("contributions.jsonl"),
        contributions.replacen("\"prompt\":\"", "\"prompt\":\"x", 1),
    )
    .unwrap();
    refused(&replay(&bundle, o_dir, &[]), "contributions");
    std::fs::write(o_dir.join("contributions.jsonl"), &contributions).unwrap();

    // Another seed in the recipe.
    let recipe = std::fs::read_to_string(o_dir.join("recipe.toml")).unwrap();
    let seed = recipe.lines().find(|l| l.starts_with("seed = ")).unwrap();
    std::fs::write(
        o_dir.join("recipe.toml"),
        recipe.replacen(seed, "seed = 12345", 1),
    )
    .unwrap();
    refused(&replay(&bundle, o_dir, &[]), "recipe");
    std::fs::write(o_dir.join("recipe.toml"), &recipe).unwrap();

    // The model's weights, the holdout's ciphertext.
    for (file, what) in [
        ("model/model.safetensors", "weights hash"),
        ("holdout.enc", "holdout"),
    ] {
        let path = o_dir.join(file);
        let original = std::fs::read(&path).unwrap();
        let mut changed = original.clone();
        changed.push(b'\n');
        std::fs::write(&path, &changed).unwrap();
        refused(&replay(&bundle, o_dir, &[]), what);
        std::fs::write(&path, &original).unwrap();
    }

    // Another holdout key: the key's id is not the one the job commits to; a key file that
    // is not there.
    let wrong = o_dir.join("wrong.key");
    assay_keys::DataKey::generate().save(&wrong).unwrap();
    let o = replay(&bundle, o_dir, &["--holdout-key", wrong.to_str().unwrap()]);
    refused(&o, "the job's holdout is sealed under key");
    let o = replay(
        &bundle,
        o_dir,
        &["--holdout-key", "/nonexistent/holdout.key"],
    );
    refused(&o, "/nonexistent/holdout.key");

    // Another build: reference values of another image.
    let reference = std::fs::read_to_string(o_dir.join("enclave-reference.toml")).unwrap();
    let measurement =
        assay_measurements::reference::ReferenceValues::load(&o_dir.join("enclave-reference.toml"))
            .unwrap()
            .measurement;
    let another = "ab".repeat(48);
    std::fs::write(
        o_dir.join("enclave-reference.toml"),
        reference.replace(&measurement, &another),
    )
    .unwrap();
    let o = replay(&bundle, o_dir, &[]);
    refused(&o, "but this build's is");
    let err = text(&o.stderr);
    let b = Bundle::parse(&std::fs::read(&bundle).unwrap(), "bundle.json").unwrap();
    assert!(err.contains(&b.result.code_hash.to_string()), "{err}");
    assert!(err.contains(&another), "{err}");

    // Files that are not there, or not what they claim.
    refused(&replay(&bundle, &o_dir.join("missing"), &[]), "missing");
    refused(&replay(&o_dir.join("recipe.toml"), d, &[]), "recipe.toml");
    refused(&replay(&bundle, d, &["--workers", "0"]), "--workers");
}

#[test]
fn a_stopped_replay_resumes_from_its_journal_with_the_same_result() {
    let t = audited_job();
    let d = t.s.path();
    let journal = d.join("replay-journal");
    let args = ["--json", "--journal", journal.to_str().unwrap()];
    let first = replay(&d.join("bundle.json"), d, &args);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    assert_eq!(json(&first)["resumed_runs"], 0);
    // Every training is in the journal now (sealed: its entries do not show the metrics).
    let again = replay(&d.join("bundle.json"), d, &args);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    let (a, b) = (json(&first), json(&again));
    assert_eq!(b["resumed_runs"], 4, "the full run and three left-out runs");
    assert_eq!(a["rows"], b["rows"]);
    // The enclave's own journal (the host's storage) is not taken: a replay computes every run
    // itself rather than echo the enclave's metrics.
    let o = replay(
        &d.join("bundle.json"),
        d,
        &["--json", "--journal", d.join("journal").to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(json(&o)["resumed_runs"], 0);
    assert_eq!(json(&o)["refused_entries"], 4);
}
