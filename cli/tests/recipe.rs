//! `assay recipe`: the same recipe and data give bitwise the same adapters and eval numbers in
//! separate processes and with 1 or 2 threads; check prints the hash; bad inputs are named.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `assay`; `candle_threads` sets candle's own thread count (`RAYON_NUM_THREADS`), which
/// `assay` otherwise sets to 1 for trainings.
fn assay(args: &[&str], candle_threads: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_assay"));
    cmd.args(args).env_remove("RAYON_NUM_THREADS");
    if let Some(t) = candle_threads {
        cmd.env("RAYON_NUM_THREADS", t);
    }
    cmd.output().expect("assay runs")
}

fn example(dir: &Path) {
    let o = assay(&["recipe", "example", dir.to_str().unwrap()], None);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `assay recipe train` on the example setup in `dir`.
fn train_args(dir: &Path) -> Vec<String> {
    let p = |f: &str| dir.join(f).display().to_string();
    vec![
        "recipe".into(),
        "train".into(),
        p("recipe.toml"),
        "--model".into(),
        p("model"),
        "--contributions".into(),
        p("contributions.jsonl"),
        "--holdout".into(),
        p("holdout.jsonl"),
    ]
}

fn train(dir: &Path, threads: &str, candle_threads: Option<&str>) -> serde_json::Value {
    let mut args = train_args(dir);
    args.extend(["--threads".into(), threads.into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = assay(&args, candle_threads);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn runs_are_bitwise_identical_across_processes_and_thread_counts() {
    let dir = tempfile::tempdir().unwrap();
    example(dir.path());
    // Assay's threads (the recipe's 2 shards and the eval batches) and candle's own.
    let one = train(dir.path(), "1", None);
    let two = train(dir.path(), "2", None);
    let again = train(dir.path(), "2", None);
    let candle_two = train(dir.path(), "2", Some("2"));
    for key in ["adapter_sha256", "eval_bits", "recipe_hash"] {
        assert_eq!(one[key], two[key], "{key} differs between 1 and 2 threads");
        assert_eq!(two[key], again[key], "{key} differs between processes");
        assert_eq!(
            two[key], candle_two[key],
            "{key} differs between 1 and 2 candle threads"
        );
    }
    assert_eq!(one["train"]["steps"], 12);
}

#[test]
fn a_thread_count_of_zero_is_refused() {
    let o = assay(
        &[
            "recipe",
            "train",
            "r.toml",
            "--model",
            "m",
            "--contributions",
            "c.jsonl",
            "--holdout",
            "h.jsonl",
            "--threads",
            "0",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--threads") && err.contains("0 is not a thread count"),
        "{err}"
    );
}

#[test]
fn trainings_run_with_candle_single_threaded_in_the_same_process() {
    // `assay` replaces itself (exec: same pid) with `assay-train`, RAYON_NUM_THREADS=1 set;
    // the running process's environment and program show it.
    let dir = tempfile::tempdir().unwrap();
    example(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_assay"))
        .args(train_args(dir.path()))
        .env_remove("RAYON_NUM_THREADS")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let environ = format!("/proc/{}/environ", child.id());
    let mut seen = false;
    while child.try_wait().unwrap().is_none() {
        if let Ok(env) = std::fs::read(&environ)
            && env.split(|b| *b == 0).any(|v| v == b"RAYON_NUM_THREADS=1")
        {
            let exe = std::fs::read_link(format!("/proc/{}/exe", child.id())).unwrap();
            assert_eq!(exe, Path::new(env!("CARGO_BIN_EXE_assay-train")));
            seen = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    assert!(child.wait().unwrap().success());
    assert!(seen, "the training ran without RAYON_NUM_THREADS=1");
}

#[test]
fn check_prints_the_hash_and_names_bad_fields() {
    let dir = tempfile::tempdir().unwrap();
    example(dir.path());
    let recipe = dir.path().join("recipe.toml");
    let o = assay(&["recipe", "check", recipe.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(0));
    let hash = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    assert_eq!(hash.len(), 64);
    let text = std::fs::read_to_string(&recipe)
        .unwrap()
        .replace("rank = 4", "rank = 0");
    std::fs::write(&recipe, text).unwrap();
    let o = assay(&["recipe", "check", recipe.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("lora.rank"));
}

#[test]
fn malformed_data_is_named_and_nothing_trains() {
    let dir = tempfile::tempdir().unwrap();
    example(dir.path());
    let contributions = dir.path().join("contributions.jsonl");
    let mut text = std::fs::read_to_string(&contributions).unwrap();
    text.push_str("{\"contributor\": \"0x1\", \"prompt\": 3}\n");
    std::fs::write(&contributions, text).unwrap();
    let args = train_args(dir.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = assay(&args, None);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("contributions.jsonl:25:"), "{err}");
    assert!(o.stdout.is_empty());
}
