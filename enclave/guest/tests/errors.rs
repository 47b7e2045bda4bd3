//! Error paths of the enclave crate: each names what is wrong, none quotes holdout text, and
//! every input the host supplies is checked against the job before it is used.

use std::path::Path;
use std::process::{Command, Output};

use alloy_primitives::{Address, B256};
use assay_enclave::evaluate::{ContributionSet, parse_holdout};
use assay_enclave::identity::Signer;
use assay_enclave::job::{Files, describe};
use assay_forge::job::{AttributionRules, EvidenceSpec, ForgeRef, JobFile, JobSpec, RunSpec};
use assay_keys::DataKey;

/// A throwaway secp256k1 key (Hardhat's well-known account #1): only for tests.
const COORDINATOR_KEY: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

const CONTRIBUTOR: &str = "0x1111111111111111111111111111111111111111";

fn jsonl(examples: &[assay_recipe::data::Example], contributor: bool) -> String {
    examples
        .iter()
        .map(|e| {
            let mut v = serde_json::json!({"prompt": e.prompt, "answer": e.answer});
            if contributor {
                v["contributor"] = e.contributor.clone().into();
            }
            v.to_string() + "\n"
        })
        .collect()
}

/// A job without a TEE on a tiny model in `d`: its files, and the job file `job.toml`.
fn no_tee_job(d: &Path) -> (JobSpec, RunSpec) {
    let recipe = assay_recipe::fixture::write_model(
        &d.join("model"),
        &assay_recipe::fixture::tiny_config(),
        1,
    )
    .unwrap();
    std::fs::write(d.join("recipe.toml"), recipe.to_toml()).unwrap();
    let contributions = assay_recipe::fixture::reverse_task(2, &[CONTRIBUTOR], 0);
    std::fs::write(d.join("contributions.jsonl"), jsonl(&contributions, true)).unwrap();
    let key = DataKey::generate();
    key.save(&d.join("holdout.key")).unwrap();
    let holdout = assay_recipe::fixture::reverse_task(2, &["h"], 1);
    let sealed =
        assay_keys::holdout::encrypt(jsonl(&holdout, false).as_bytes(), &key, 1024).unwrap();
    std::fs::write(d.join("holdout.enc"), sealed).unwrap();
    std::fs::write(d.join("coordinator.key"), COORDINATOR_KEY).unwrap();
    let files = Files {
        recipe: d.join("recipe.toml"),
        model: d.join("model"),
        contributions: d.join("contributions.jsonl"),
        holdout: d.join("holdout.enc"),
    };
    let job = describe(
        ForgeRef {
            id: B256::repeat_byte(0xf0),
            chain_id: 8453,
            contract: Address::repeat_byte(0xfc),
            nonce: B256::repeat_byte(0x99),
        },
        &files,
        None,
        AttributionRules::default(),
    )
    .unwrap();
    let run = RunSpec {
        recipe: Some("recipe.toml".into()),
        model: Some("model".into()),
        contributions: Some("contributions.jsonl".into()),
        holdout: Some("holdout.enc".into()),
        evidence: Some(EvidenceSpec::None {
            holdout_key: "holdout.key".into(),
            coordinator_key: "coordinator.key".into(),
        }),
        bundle: Some("bundle.json".into()),
        ..RunSpec::default()
    };
    (job, run)
}

fn enclave(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_assay-enclave"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes the job file and runs the enclave on it with `extra` flags.
fn run_job(d: &Path, file: &JobFile, extra: &[&str]) -> Output {
    let path = d.join("job.toml");
    std::fs::write(&path, file.to_toml()).unwrap();
    let mut args = vec!["--job", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    enclave(&args)
}

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
    let contributions = assay_recipe::fixture::reverse_task(2, &["alice"], 0);
    let e = ContributionSet::new(&contributions)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"alice\"") && e.contains("Ethereum address"),
        "{e}"
    );
    assert!(matches!(
        ContributionSet::new(&[]),
        Err(assay_enclave::Error::Forge(
            assay_forge::Error::EmptyContributionSet
        ))
    ));
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
        enclave(&args)
    };
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
    assert!(stderr(&o).contains("key service"), "{}", stderr(&o));
    // With a TEE, the flags must name the key service's key, which authenticates its answer.
    let o = run(&[
        "--evidence",
        "simulated",
        "--sp-socket",
        "s",
        "--key-service",
        "http://x",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--key-service-key"), "{}", stderr(&o));
    // A missing flag is named.
    let o = enclave(&["--evidence", "snp", "--key-service", "http://x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--forge-id is required"),
        "{}",
        stderr(&o)
    );
    // The inputs are read to describe the job: a missing one is named.
    let o = run(&[
        "--evidence",
        "none",
        "--holdout-key",
        "k",
        "--coordinator-key",
        "c",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("r.toml"), "{}", stderr(&o));
    let o = run(&[
        "--evidence",
        "snp",
        "--key-service",
        "http://x",
        "--provider",
        "0x12:3",
    ]);
    assert_eq!(o.status.code(), Some(2), "clap rejects a bad provider");
    assert!(stderr(&o).contains("not an address"));
}

#[test]
fn a_job_without_a_tee_runs_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (job, run) = no_tee_job(d);
    let o = run_job(
        d,
        &JobFile {
            job: job.clone(),
            run: run.clone(),
        },
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("NO TEE"));
    let bundle =
        assay_forge::Bundle::parse(&std::fs::read(d.join("bundle.json")).unwrap(), "b").unwrap();
    assert_eq!(bundle.job.as_ref(), Some(&job));
    assert_eq!(bundle.result.job.unwrap().job_hash, job.hash());
    assert!(!bundle.result.tee);
    // For a host: events as JSON lines on stdout, each finished training with its loss.
    let o = run_job(
        d,
        &JobFile {
            job: job.clone(),
            run: run.clone(),
        },
        &["--events", "json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events[0]["event"], "progress");
    assert_eq!(
        (events[0]["done"].as_u64(), events[0]["total"].as_u64()),
        (Some(0), Some(2))
    );
    assert!(
        events[1]["loss"].as_f64().is_some_and(f64::is_finite),
        "{events:?}"
    );
    let last = events.last().unwrap();
    assert_eq!(last["event"], "finished");
    assert_eq!(last["job"], job.hash().to_string());
    // A failure says its kind.
    let mut other = JobFile { job, run };
    other.job.contributions.sha256 = B256::ZERO;
    let o = run_job(d, &other, &["--events", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let last: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(
        (last["event"].as_str(), last["kind"].as_str()),
        (Some("failed"), Some("job"))
    );
}

#[test]
fn job_file_errors_name_the_file_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (job, run) = no_tee_job(d);
    let good = JobFile { job, run }.to_toml();
    let path = d.join("job.toml");
    let cases = [
        (good.replace("assay-job/1", "assay-job/9"), "assay-job/9"),
        (good.replace("chain_id", "chain"), "unknown field `chain`"),
        (good.replace("kind = \"none\"", "kind = \"tdx\""), "tdx"),
        (
            good.replace("[attribution]", "[attribution]\ncompute_bps_x = 1"),
            "compute_bps_x",
        ),
        (
            good.replace("threshold = 200", "threshold = 0"),
            "threshold",
        ),
        // Relative paths are the job file's folder's: the missing key file is named there.
        (
            good.replace(
                "holdout_key = \"holdout.key\"",
                "holdout_key = \"gone.key\"",
            ),
            &*d.join("gone.key").display().to_string(),
        ),
    ];
    for (text, says) in cases {
        assert_ne!(text, good, "{says}: the case changes the file");
        std::fs::write(&path, &text).unwrap();
        let o = enclave(&["--job", path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{says}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{says}: {}", stderr(&o));
    }
    let o = enclave(&["--job", "/no/such/job.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/no/such/job.toml"));
}

#[test]
fn a_flag_that_decides_a_result_cannot_change_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (job, run) = no_tee_job(d);
    let file = JobFile {
        job: job.clone(),
        run,
    };
    for (flags, says) in [
        (
            vec![
                "--compute-bps",
                "10000",
                "--provider",
                "0x6666666666666666666666666666666666666666:1",
            ],
            "--compute-bps 10000 differs from the job's attribution.compute_bps 0",
        ),
        (
            vec!["--provider", "0x6666666666666666666666666666666666666666:1"],
            "--provider",
        ),
        (
            vec![
                "--nonce",
                "0x0000000000000000000000000000000000000000000000000000000000000001",
            ],
            "forge.nonce",
        ),
        (vec!["--threshold", "1"], "attribution.threshold"),
        (
            vec!["--forge-id", &format!("{}", B256::repeat_byte(1))],
            "forge.id",
        ),
    ] {
        let o = run_job(d, &file, &flags);
        assert_eq!(o.status.code(), Some(1), "{flags:?}");
        assert!(
            stderr(&o).contains(says) && stderr(&o).contains("cannot change it"),
            "{flags:?}: {}",
            stderr(&o)
        );
    }
    assert!(!d.join("bundle.json").exists(), "nothing was written");
    // Flags that agree with the job are accepted (the older command lines keep working).
    let o = run_job(
        d,
        &file,
        &[
            "--chain-id",
            "8453",
            "--compute-bps",
            "0",
            "--print-job-hash",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        job.hash().to_string()
    );
}

#[test]
fn job_inputs_are_read_once_from_regular_files_and_checked_against_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (job, run) = no_tee_job(d);
    let file = JobFile { job, run };
    let fails = |file: &JobFile, says: &[&str]| {
        let o = run_job(d, file, &[]);
        assert_eq!(o.status.code(), Some(1));
        let e = stderr(&o);
        assert!(says.iter().all(|s| e.contains(s)), "{says:?}: {e}");
        assert!(!d.join("bundle.json").exists(), "nothing written");
    };
    // The recipe, contributions and holdout are each the job's, or refused with both hashes.
    let mut other = file.clone();
    other.job.recipe.hash = B256::ZERO;
    fails(
        &other,
        &[
            "recipe.toml",
            "the recipe's canonical hash is",
            "the job pins 0x0000",
        ],
    );
    let mut other = file.clone();
    other.job.model.weights_sha256 = B256::ZERO;
    fails(
        &other,
        &["the recipe pins model weights", "the job pins 0x0000"],
    );
    let mut other = file.clone();
    other.job.contributions.sha256 = B256::ZERO;
    fails(
        &other,
        &["contributions.jsonl", "the contributions has SHA-256"],
    );
    let mut other = file.clone();
    other.job.holdout.sha256 = B256::ZERO;
    fails(
        &other,
        &["holdout.enc", "the encrypted holdout has SHA-256"],
    );
    let mut other = file.clone();
    other.job.contributions.data_root = B256::ZERO;
    fails(&other, &["data_root"]);
    // A holdout encrypted under another key than the job's.
    let mut other = file.clone();
    other.job.holdout.key_id = alloy_primitives::FixedBytes::ZERO;
    fails(&other, &["encrypted under key id", "the job pins"]);
    // A FIFO, which could serve one content to a hash and another to a parser.
    assert!(
        Command::new("mkfifo")
            .arg(d.join("fifo.toml"))
            .status()
            .unwrap()
            .success()
    );
    let mut other = file.clone();
    other.run.recipe = Some("fifo.toml".into());
    fails(&other, &["fifo.toml", "not a regular file"]);
    // A folder is not a regular file either.
    let mut other = file.clone();
    other.run.contributions = Some("model".into());
    fails(&other, &["model", "not a regular file"]);
}
