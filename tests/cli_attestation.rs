//! `assay verify attestation`, `assay relay calldata` and `assay keys`: exit codes, the failed
//! check named on stderr, JSON output, and every unusable input named.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use alloy_primitives::{Address, B256};
use assay_enclave::evidence::none::NoTee;
use assay_enclave::identity::Signer;
use assay_forge::job::{JobFile, RunSpec};
use assay_tests::forge::{sample_bundle, sample_job, version_1_bundle};
use assay_tests::paths::{bin, sim_dir};
use assay_tests::sim::{InProcessSp, MEASUREMENT};

fn assay(args: &[&str]) -> Output {
    Command::new(bin("assay"))
        .args(args)
        .output()
        .expect("assay runs")
}

fn sim(file: &str) -> String {
    sim_dir().join(file).display().to_string()
}

/// One-contribution bundles (8500 bps to it, 1500 to compute) as the enclave makes them, with
/// a TEE (`sim`, version 2, and `v1`, version 1) and without (`none`), the sample job file, and
/// policies.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::generate();
        let job = sample_job(true, 1);
        let sp = InProcessSp::launched(MEASUREMENT, job.hash());
        let b = sample_bundle(true, MEASUREMENT, &[0.01], &sp, &signer, [1; 32]);
        std::fs::write(dir.path().join("sim.json"), b.to_json()).unwrap();
        std::fs::write(dir.path().join("sim.cbor"), b.to_cbor()).unwrap();
        let file = JobFile {
            job,
            run: RunSpec::default(),
        };
        std::fs::write(dir.path().join("job.toml"), file.to_toml()).unwrap();
        let v1 = version_1_bundle(
            true,
            MEASUREMENT,
            &[0.01],
            &b.domain,
            &InProcessSp::new(MEASUREMENT),
            &signer,
            [1; 32],
        );
        std::fs::write(dir.path().join("v1.json"), v1.to_json()).unwrap();
        let key = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
        std::fs::write(dir.path().join("coordinator.key"), key).unwrap();
        let coordinator = Signer::load(&dir.path().join("coordinator.key")).unwrap();
        let n = sample_bundle(false, [0; 48], &[0.01], &NoTee, &coordinator, [0; 32]);
        std::fs::write(dir.path().join("none.json"), n.to_json()).unwrap();
        std::fs::write(
            dir.path().join("policy.toml"),
            format!("measurements = [\"{}\"]\n", hex::encode(MEASUREMENT)),
        )
        .unwrap();
        std::fs::write(dir.path().join("no-tee.toml"), "allow_no_tee = true\n").unwrap();
        Files { dir }
    }
    fn p(&self, f: &str) -> String {
        self.dir.path().join(f).display().to_string()
    }
}

#[test]
fn verify_attestation_accepts_and_names_failed_checks() {
    let f = Files::new();
    let nonce = B256::repeat_byte(0x99).to_string();
    let root = sim("ark.pem");
    for bundle in ["sim.json", "sim.cbor"] {
        let o = assay(&[
            "verify",
            "attestation",
            &f.p(bundle),
            "--trust-root",
            &root,
            "--policy",
            &f.p("policy.toml"),
            "--nonce",
            &nonce,
        ]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains("accepted: TEE (simulated)") && out.contains("nonce checked"),
            "{out}"
        );
        assert!(String::from_utf8_lossy(&o.stderr).contains("WARNING: trusting the TEST root"));
        // What the result is bound to is named.
        assert!(
            out.contains(&format!("measurement {}", hex::encode(MEASUREMENT)))
                && out.contains("code_hash 0x")
                && out.contains("recipe_hash 0x")
                && out.contains(&format!(
                    "job {} (committed to by the result and carried in HOST_DATA)",
                    sample_job(true, 1).hash()
                )),
            "{out}"
        );
        // A CRL that was not checked is said.
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("note: no CRL was checked"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        // The score vector follows: the one contributor with 8500 bps, compute with 1500.
        assert!(
            out.contains("baseline perplexity 12.25")
                && out.contains("0x1111111111111111111111111111111111111111")
                && out.contains("8500")
                && out.contains("1500"),
            "{out}"
        );
    }
    // JSON: every check listed; without a nonce or a measurement only when told so, loudly.
    let o = assay(&[
        "verify",
        "attestation",
        &f.p("sim.json"),
        "--trust-root",
        &root,
        "--no-nonce",
        "--any-measurement",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("WARNING: --no-nonce") && err.contains("WARNING: --any-measurement"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["checks"].as_array().unwrap().len(), 12);
    assert_eq!(
        (&v["checks"][4]["check"], &v["checks"][4]["status"]),
        (&"alloy_key".into(), &"pass".into())
    );
    assert_eq!(v["bundle_version"], 3);
    assert_eq!(v["checks"][5]["status"], "skipped");
    assert!(
        v["checks"][8]["detail"]
            .as_str()
            .unwrap()
            .contains("ANY MEASUREMENT"),
        "{v}"
    );
    assert_eq!(v["measurement"], hex::encode(MEASUREMENT));

    // The nonce is required unless --no-nonce (a command-line error, exit 2).
    let o = assay(&[
        "verify",
        "attestation",
        &f.p("sim.json"),
        "--trust-root",
        &root,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--nonce"));

    // Without the test root named, the chain fails; wrong nonce; wrong measurement; no
    // measurement pinned; each pin that differs.
    let zero = B256::ZERO.to_string();
    let ones = format!("0x{}", "01".repeat(32));
    let missing = f.p("missing.toml");
    let policy = f.p("policy.toml");
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    let pinned = |extra: &[&str]| {
        let mut v = owned(&["--trust-root", &root, "--no-nonce", "--policy", &policy]);
        v.extend(owned(extra));
        v
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            owned(&["--no-nonce", "--any-measurement"]),
            "report check failed",
        ),
        (
            owned(&["--trust-root", &root, "--nonce", &zero]),
            "nonce check failed",
        ),
        (
            owned(&["--trust-root", &root, "--no-nonce", "--reference", &missing]),
            "missing.toml",
        ),
        (
            owned(&["--trust-root", &root, "--no-nonce"]),
            "pins no MEASUREMENT",
        ),
        (
            pinned(&["--forge-id", &ones]),
            "forge: expected forge_id 0x0101",
        ),
        (
            pinned(&["--chain-id", "5"]),
            "forge: expected chain_id 5, found chain_id 8453",
        ),
        (
            pinned(&["--contract", &ones[..42]]),
            "forge: expected contract 0x0101",
        ),
        (pinned(&["--job", &ones]), "job check failed"),
        (pinned(&["--job", "/no/such/job.toml"]), "/no/such/job.toml"),
    ];
    let path = f.p("sim.json");
    for (extra, says) in &cases {
        let mut args = vec!["verify", "attestation", path.as_str()];
        args.extend(extra.iter().map(String::as_str));
        let o = assay(&args);
        assert_eq!(o.status.code(), Some(1), "{extra:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{extra:?}: {err}");
    }
    // The job, pinned by its hash or by its file, passes.
    for job in [sample_job(true, 1).hash().to_string(), f.p("job.toml")] {
        let pin = pinned(&["--job", &job]);
        let mut args = vec!["verify", "attestation", path.as_str()];
        args.extend(pin.iter().map(String::as_str));
        let o = assay(&args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(String::from_utf8_lossy(&o.stdout).contains("(pinned)"));
    }
    // A version-1 bundle still verifies, and says what it lacks.
    let v1 = f.p("v1.json");
    let mut args = vec!["verify", "attestation", v1.as_str()];
    let pin = pinned(&[]);
    args.extend(pin.iter().map(String::as_str));
    let o = assay(&args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("a version-1 bundle"));
    let mut tampered: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f.p("sim.json")).unwrap()).unwrap();
    tampered["result"]["scores"][0]["shares"] = 9999.into();
    std::fs::write(f.p("tampered.json"), tampered.to_string()).unwrap();
    let o = assay(&[
        "verify",
        "attestation",
        &f.p("tampered.json"),
        "--trust-root",
        &root,
        "--no-nonce",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["accepted"], false);
    assert_eq!(v["error"]["check"], "shares");
    assert!(String::from_utf8_lossy(&o.stderr).contains("shares check failed"));

    // Unusable files are named.
    std::fs::write(f.p("junk.json"), "{ not json").unwrap();
    for (file, says) in [("junk.json", "junk.json"), ("absent.json", "absent.json")] {
        let o = assay(&["verify", "attestation", &f.p(file), "--no-nonce"]);
        assert_eq!(o.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&o.stderr).contains(says));
    }
}

#[test]
fn no_tee_bundles_pass_only_a_permissive_policy_with_the_coordinator_named() {
    let f = Files::new();
    let coordinator = Signer::load(&PathBuf::from(f.p("coordinator.key")))
        .unwrap()
        .address()
        .to_string();
    let o = assay(&[
        "verify",
        "attestation",
        "--no-nonce",
        &f.p("none.json"),
        "--coordinator",
        &coordinator,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("requires a TEE"));
    let o = assay(&[
        "verify",
        "attestation",
        "--no-nonce",
        &f.p("none.json"),
        "--policy",
        &f.p("no-tee.toml"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--coordinator"));
    let o = assay(&[
        "verify",
        "attestation",
        "--no-nonce",
        &f.p("none.json"),
        "--policy",
        &f.p("no-tee.toml"),
        "--coordinator",
        &coordinator,
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("NO TEE"));
}

#[test]
fn relay_calldata_starts_with_the_selector() {
    let f = Files::new();
    for (bundle, function) in [
        (
            "sim.json",
            "submitEvalResultV2((bytes32,bytes32,bytes32,bytes32,bytes32,bool,uint8,uint32,(string,bool,int256),(address,bytes32,int256,uint16)[],uint16,(address,uint64,uint16)[],uint16,bytes32,bytes16,bytes32),bytes,bytes,bytes[])",
        ),
        (
            "v1.json",
            "submitEvalResult((bytes32,bytes32,bytes32,bytes32,bytes32,bool,uint8,uint32,(string,bool,int256),(address,bytes32,int256,uint16)[],uint16,(address,uint64,uint16)[],uint16),bytes,bytes,bytes[])",
        ),
    ] {
        let o = assay(&["relay", "calldata", &f.p(bundle)]);
        assert_eq!(o.status.code(), Some(0));
        let hex = String::from_utf8_lossy(&o.stdout).trim().to_owned();
        let selector = &alloy_primitives::keccak256(function)[..4];
        assert!(
            hex.starts_with(&format!("0x{}", hex::encode(selector))),
            "{bundle}: {hex}"
        );
    }
    let o = assay(&["relay", "calldata", &f.p("absent.json")]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn keys_new_encrypt_and_serve() {
    let f = Files::new();
    let key = f.p("holdout.key");
    let o = assay(&["keys", "new", &key]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = assay(&["keys", "new", &key]);
    assert_eq!(o.status.code(), Some(1), "never overwrites a key");
    std::fs::write(
        f.p("holdout.jsonl"),
        "{\"prompt\": \"p\", \"answer\": \"a\"}\n",
    )
    .unwrap();
    let o = assay(&[
        "keys",
        "encrypt",
        &f.p("holdout.jsonl"),
        "--key",
        &key,
        "--out",
        &f.p("h.enc"),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let data_key = assay_keys::DataKey::load(Path::new(&key)).unwrap();
    let sealed = std::fs::read(f.p("h.enc")).unwrap();
    assert_eq!(
        &assay_keys::holdout::decrypt(&sealed, &data_key).unwrap()[..],
        b"{\"prompt\": \"p\", \"answer\": \"a\"}\n"
    );
    let o = assay(&[
        "keys",
        "encrypt",
        &f.p("holdout.jsonl"),
        "--key",
        &f.p("holdout.jsonl"),
        "--out",
        &f.p("x"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("64 hex digits"));
    assert!(!Path::new(&f.p("x")).exists());

    // The service's own key: made once, never overwritten, its public half printed.
    let service = f.p("service.key");
    let o = assay(&["keys", "new-service-key", &service]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let service_key = assay_keys::wrap::ServiceKey::load(Path::new(&service)).unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains(&format!("public key {}", service_key.public())),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(
        assay(&["keys", "new-service-key", &service]).status.code(),
        Some(1)
    );
    // The job the Forge approved, for this service and this holdout key.
    let mut job = sample_job(true, 1);
    job.holdout.key_id = alloy_primitives::FixedBytes(data_key.id());
    job.key_release.as_mut().unwrap().service_key = service_key.public();
    let approved = f.p("approved.toml");
    let file = JobFile {
        job: job.clone(),
        run: RunSpec::default(),
    };
    std::fs::write(&approved, file.to_toml()).unwrap();

    // Malformed resources are named by clap (exit 2).
    for bad in ["noequals", "=file"] {
        let o = assay(&["keys", "serve", "--resource", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(bad), "{bad}");
    }
    let resource = format!("holdout={key}");
    // No approved job: a command-line error (exit 2).
    let o = assay(&[
        "keys",
        "serve",
        "--resource",
        &resource,
        "--service-key",
        &service,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--approve"));
    let serve = |extra: &[&str]| {
        let mut args = vec![
            "keys",
            "serve",
            "--resource",
            &resource,
            "--service-key",
            &service,
        ];
        args.extend_from_slice(extra);
        assay(&args)
    };
    // A service without an expected measurement would release to any guest: refused.
    let o = serve(&["--approve", &approved, "--trust-root", &sim("ark.pem")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("measurement"));
    // An approved job that pins another service key: refused at start.
    let other = f.p("other.toml");
    let mut foreign = file.clone();
    foreign.job.key_release.as_mut().unwrap().service_key = B256::repeat_byte(1);
    std::fs::write(&other, foreign.to_toml()).unwrap();
    let policy = f.p("policy.toml");
    let o = serve(&[
        "--approve",
        &other,
        "--policy",
        &policy,
        "--trust-root",
        &sim("ark.pem"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("pins the service key"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A test root is named by an insecure-sounding flag, and keeps the service on loopback.
    let o = serve(&[
        "--listen",
        "0.0.0.0:0",
        "--approve",
        &approved,
        "--policy",
        &policy,
        "--insecure-test-root",
        &sim("ark.pem"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("WARNING: trusting the TEST root") && err.contains("loopback address only"),
        "{err}"
    );

    let log = f.p("releases.jsonl");
    let mut child = Command::new(bin("assay"))
        .args([
            "keys",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--resource",
            &resource,
            "--service-key",
            &service,
            "--approve",
            &approved,
            "--max-releases",
            "1",
            "--release-log",
            &log,
            "--policy",
            &policy,
            "--trust-root",
            &sim("ark.pem"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
    let client = assay_keys::http::Client::new(&url);
    let sp = InProcessSp::launched(MEASUREMENT, job.hash());
    let ask = || {
        let release = assay_keys::wrap::ReleaseKey::generate();
        let enclave = Address::repeat_byte(7);
        let nonce = client.challenge().unwrap().nonce;
        let data = assay_forge::binding::key_release_report_data(
            &nonce,
            &release.public(),
            enclave,
            job.hash(),
        );
        let request = assay_keys::protocol::KeyRequest {
            job: job.clone(),
            resource: "holdout".into(),
            nonce,
            enclave,
            x25519: release.public(),
            report: sp.report(data),
            certificates: sp.certificates().iter().map(hex::encode).collect(),
        };
        (client.request_key(&request), release, nonce)
    };
    let (got, release, nonce) = ask();
    // One release per job here: the second is refused.
    let (again, _, _) = ask();
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    let wrapped = got.unwrap().wrapped;
    assert_eq!(
        release
            .unwrap_key(
                &wrapped,
                &service_key.public().0,
                &nonce,
                job.hash(),
                "holdout"
            )
            .unwrap()
            .id(),
        data_key.id()
    );
    assert!(
        matches!(&again, Err(assay_keys::Error::Refused { check, .. }) if check == "limit"),
        "{again:?}"
    );
    // The release was logged, to the file and loudly to stderr.
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 1);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("released \"holdout\" to enclave") && err.contains("TEST root"),
        "{err}"
    );
}
