//! Error paths of the enclave crate: each names what is wrong, and none quotes holdout text.

use assay_enclave::evaluate::{Binding, Settings, evaluate, parse_holdout};
use assay_enclave::identity::Signer;
use std::process::Command;

/// A throwaway secp256k1 key (Hardhat's well-known account #1): only for tests.
const COORDINATOR_KEY: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

#[test]
fn holdout_errors_name_the_line_but_never_quote_it() {
    let secret = "zq-secret-holdout-answer";
    let text = format!(
        "{{\"prompt\": \"p\", \"answer\": \"a\"}}\n{{\"prompt\": 5, \"answer\": \"{secret}\"}}\n"
    );
    let e = parse_holdout(&text).unwrap_err().to_string();
    assert!(e.contains("line 2"), "{e}");
    assert!(!e.contains(secret) && !e.contains("integer"), "{e}");
    let e = parse_holdout(&format!("{{\"unknown_{secret}\": 1}}"))
        .unwrap_err()
        .to_string();
    assert!(!e.contains(secret), "{e}");
    let e = parse_holdout("\n\n").unwrap_err().to_string();
    assert!(e.contains("no examples"), "{e}");
}

#[test]
fn signer_key_files_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("k");
    for (content, says) in [
        ("not hex", "64 hex digits"),
        ("00", "64 hex digits"),
        (&"00".repeat(32)[..], "valid scalar"),
        (&"ff".repeat(32)[..], "valid scalar"),
    ] {
        std::fs::write(&p, content).unwrap();
        let e = Signer::load(&p).unwrap_err().to_string();
        assert!(
            e.contains("64 hex digits") && e.contains(says),
            "{content}: {e}"
        );
        assert!(!e.contains(content) || content.len() < 3, "{e}");
    }
    assert!(Signer::load(&dir.path().join("missing")).is_err());
    // 0x-prefixed keys are accepted and give the well-known address of this test key.
    std::fs::write(&p, format!("0x{}\n", COORDINATOR_KEY)).unwrap();
    assert_eq!(
        Signer::load(&p).unwrap().address().to_string(),
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    );
}

#[test]
fn contributors_must_be_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let recipe =
        assay_recipe::fixture::write_model(dir.path(), &assay_recipe::fixture::tiny_config(), 1)
            .unwrap();
    let settings = Settings {
        recipe,
        model: dir.path().to_owned(),
        workers: 1,
        threads: assay_recipe::threads::Threads::ONE,
        threshold: 200,
        journal: None,
        compute_bps: 0,
        providers: vec![],
    };
    let contributions = assay_recipe::fixture::reverse_task(2, &["alice"], 0);
    let holdout = assay_recipe::fixture::reverse_task(2, &["h"], 1);
    let e = evaluate(
        &settings,
        &contributions,
        holdout,
        Binding {
            forge_id: Default::default(),
            nonce: Default::default(),
            measurement: [0; 48],
            tee: false,
        },
        &|_, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("\"alice\"") && e.contains("Ethereum address"),
        "{e}"
    );
}

#[test]
fn enclave_arguments_are_checked_before_anything_runs() {
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--forge-id",
            "0x0000000000000000000000000000000000000000000000000000000000000001",
            "--nonce",
            "0x0000000000000000000000000000000000000000000000000000000000000002",
            "--chain-id",
            "1",
            "--forge-contract",
            "0x0000000000000000000000000000000000000003",
            "--recipe",
            "r.toml",
            "--model",
            "m",
            "--contributions",
            "c.jsonl",
            "--holdout",
            "h.enc",
            "--out",
            "b.json",
        ];
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_assay-enclave"))
            .args(&args)
            .output()
            .unwrap()
    };
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    let o = run(&["--evidence", "simulated", "--key-service", "http://x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--sp-socket"), "{}", stderr(&o));
    // The simulated AMD-SP is not in the enclave any more: its old flags say where it went.
    let o = run(&[
        "--evidence",
        "simulated",
        "--measurement",
        "abcd",
        "--key-service",
        "http://x",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("assay sim-sp"), "{}", stderr(&o));
    // Mixing the modes is refused before anything runs.
    let o = run(&["--evidence", "none", "--key-service", "http://127.0.0.1:9"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--holdout-key"), "{}", stderr(&o));
    let o = run(&[
        "--evidence",
        "simulated",
        "--sp-socket",
        "s",
        "--holdout-key",
        "k",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--key-service"), "{}", stderr(&o));
    // A missing flag is named.
    let o = Command::new(env!("CARGO_BIN_EXE_assay-enclave"))
        .args(["--evidence", "snp", "--key-service", "http://x"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--forge-id is required"),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "--evidence",
        "none",
        "--holdout-key",
        "k",
        "--coordinator-key",
        "c",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("k:"));
    let o = run(&[
        "--evidence",
        "snp",
        "--key-service",
        "http://x",
        "--provider",
        "0x12:3",
    ]);
    assert_eq!(o.status.code(), Some(2), "clap rejects a bad provider");
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an address"));
}

#[test]
fn job_spec_errors_name_the_file_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let job = |text: &str| {
        let p = dir.path().join("job.toml");
        std::fs::write(&p, text).unwrap();
        Command::new(env!("CARGO_BIN_EXE_assay-enclave"))
            .arg("--job")
            .arg(&p)
            .output()
            .unwrap()
    };
    let good = r#"format = "assay-job/1"
[forge]
id = "0x00000000000000000000000000000000000000000000000000000000000000f0"
chain_id = 8453
contract = "0x00000000000000000000000000000000000000fc"
nonce = "0x0000000000000000000000000000000000000000000000000000000000000099"
[recipe]
path = "recipe.toml"
[model]
path = "model"
[contributions]
path = "contributions.jsonl"
[holdout]
path = "holdout.enc"
[evidence]
kind = "none"
holdout_key = "holdout.key"
coordinator_key = "coordinator.key"
[output]
bundle = "bundle.json"
"#;
    let cases = [
        (good.replace("assay-job/1", "assay-job/9"), "assay-job/9"),
        (good.replace("chain_id", "chain"), "unknown field `chain`"),
        (good.replace("kind = \"none\"", "kind = \"tdx\""), "tdx"),
        (
            good.replace("[output]", "[key_release]\nurl = \"http://x\"\n[output]"),
            "remove key_release",
        ),
        (
            good.replace("[output]", "[attribution]\ncompute_bps = 10001\n[output]"),
            "compute_bps",
        ),
        // Relative paths are the JobSpec's folder's: the missing key file is named there.
        (good.to_owned(), "holdout.key"),
    ];
    for (text, says) in cases {
        let o = job(&text);
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{says}: {e}");
        assert!(e.contains(says), "{says}: {e}");
    }
    let o = job(good);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains(&dir.path().join("holdout.key").display().to_string()),
        "{e}"
    );
    let o = Command::new(env!("CARGO_BIN_EXE_assay-enclave"))
        .args(["--job", "/no/such/job.toml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/no/such/job.toml"));
}

#[test]
fn job_inputs_are_read_once_from_regular_files_and_checked_against_their_pins() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("holdout.key"), "11".repeat(32)).unwrap();
    std::fs::write(d.join("coordinator.key"), COORDINATOR_KEY).unwrap();
    let job = |recipe: &str| {
        let text = format!(
            r#"format = "assay-job/1"
[forge]
id = "0x00000000000000000000000000000000000000000000000000000000000000f0"
chain_id = 8453
contract = "0x00000000000000000000000000000000000000fc"
nonce = "0x0000000000000000000000000000000000000000000000000000000000000099"
[recipe]
{recipe}
[model]
path = "model"
[contributions]
path = "contributions.jsonl"
[holdout]
path = "holdout.enc"
[evidence]
kind = "none"
holdout_key = "holdout.key"
coordinator_key = "coordinator.key"
[output]
bundle = "bundle.json"
"#
        );
        std::fs::write(d.join("job.toml"), text).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_assay-enclave"))
            .arg("--job")
            .arg(d.join("job.toml"))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    // A pinned hash that the bytes do not have.
    std::fs::write(d.join("recipe.toml"), "not the pinned recipe").unwrap();
    let zeros = format!("0x{}", "00".repeat(32));
    let e = job(&format!("path = \"recipe.toml\"\nsha256 = \"{zeros}\""));
    assert!(
        e.contains("the recipe has SHA-256") && e.contains(&format!("the JobSpec pins {zeros}")),
        "{e}"
    );
    // A FIFO, which could serve one content to a hash and another to a parser.
    assert!(
        Command::new("mkfifo")
            .arg(d.join("fifo.toml"))
            .status()
            .unwrap()
            .success()
    );
    let e = job("path = \"fifo.toml\"");
    assert!(
        e.contains("fifo.toml") && e.contains("not a regular file"),
        "{e}"
    );
}
