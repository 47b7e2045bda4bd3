//! The enclave binary end to end on a tiny model, as a host runs it: `assay sim-sp` beside it
//! (the simulated AMD-SP, measuring the launched files), a key service over HTTP, the job as a
//! JobSpec file; key release, decryption, exact LOO, the signed bundle — which verifies — and a
//! scan of everything the enclave wrote or sent for the holdout's plaintext and key. Then the
//! same job from the older flags, a key service that expects another measurement, and the job
//! without a TEE: loudly `tee: false`, accepted only where the policy allows it.

use std::path::Path;
use std::process::{Command, Output};

use alloy_primitives::{Address, B256};
use assay_attestation::abi::AttestationReport;
use assay_forge::job::EvidenceSpec;
use assay_forge::{Bundle, BundleVerifier, Pins};
use assay_tests::forge::{NONCE, coordinator_key_file};
use assay_tests::job::{Setup, jsonl};
use assay_tests::key_service;
use assay_tests::paths::bin;
use assay_tests::scan::{files, needles, scan};
use assay_tests::sim::{
    SpProcess, launch_args, launch_measurement, sim_verifier, sim_verifier_for,
};

fn enclave(args: &[&str]) -> Output {
    Command::new(bin("assay-enclave"))
        .args(args)
        .output()
        .unwrap()
}

fn succeeded(o: &Output) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn read_bundle(path: &Path) -> Bundle {
    Bundle::parse(&std::fs::read(path).unwrap(), &path.display().to_string()).unwrap()
}

/// The older command line of the same job (no JobSpec).
fn flags(d: &Path) -> Vec<String> {
    let p = |f: &str| d.join(f).display().to_string();
    vec![
        "--forge-id".to_owned(),
        format!("{}", B256::repeat_byte(0xf0)),
        "--nonce".into(),
        format!("{NONCE}"),
        "--chain-id".into(),
        "8453".into(),
        "--forge-contract".into(),
        format!("{}", Address::repeat_byte(0xfc)),
        "--recipe".into(),
        p("recipe.toml"),
        "--model".into(),
        p("model"),
        "--contributions".into(),
        p("contributions.jsonl"),
        "--holdout".into(),
        p("holdout.enc"),
        "--journal".into(),
        p("journal"),
        "--compute-bps".into(),
        "1500".into(),
        "--provider".into(),
        format!("{}:3", Address::repeat_byte(0xee)),
        "--out".into(),
        p("bundle.json"),
        "--cbor".into(),
        p("bundle.cbor"),
    ]
}

#[test]
fn simulated_enclave_job_end_to_end_leaks_nothing() {
    let s = Setup::new();
    let d = s.path();
    // What the host launches: the measured files (the launch-measurement vectors' firmware,
    // kernel, initrd and command line), with the JobSpec's hash as HOST_DATA.
    let measurement = launch_measurement();
    let ks = key_service::start(&s.key, sim_verifier_for(measurement));
    let spec_for = |socket: &Path| {
        s.spec(
            EvidenceSpec::Simulated {
                socket: socket.to_owned(),
            },
            Some(&ks.url),
        )
    };
    let socket = d.join("sp.sock");
    let job_hash = spec_for(&socket).hash();
    let sp = SpProcess::start(d, Some(job_hash.0));
    assert_eq!(sp.socket, socket);
    let job = s.write_spec(&spec_for(&socket), "job.toml");
    // What the host puts in HOST_DATA, as the enclave program computes it from the file.
    let o = enclave(&["--job", &job.display().to_string(), "--print-job-hash"]);
    succeeded(&o);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        job_hash.to_string()
    );
    let o = enclave(&["--job", &job.display().to_string()]);
    succeeded(&o);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("evidence: simulated; tee: true") && stdout.contains(&job_hash.to_string()),
        "{stdout}"
    );

    let bundle = read_bundle(&d.join("bundle.json"));
    assert_eq!(bundle, read_bundle(&d.join("bundle.cbor")));
    let v = BundleVerifier {
        nonce: Some(NONCE),
        pins: Pins {
            forge_id: Some(B256::repeat_byte(0xf0)),
            chain_id: Some(8453),
            contract: Some(Address::repeat_byte(0xfc)),
            job: Some(job_hash),
        },
        ..BundleVerifier::new(sim_verifier_for(measurement))
    };
    v.verify(&bundle).unwrap();
    // The report's MEASUREMENT is `assay measure` of the launched files, and its HOST_DATA the
    // job's hash.
    let report = AttestationReport::from_bytes(bundle.report.as_deref().unwrap()).unwrap();
    let measured = Command::new(bin("assay"))
        .arg("measure")
        .args(launch_args())
        .output()
        .unwrap();
    succeeded(&measured);
    assert_eq!(
        String::from_utf8_lossy(&measured.stdout).trim(),
        hex::encode(report.measurement)
    );
    assert_eq!(report.host_data, job_hash.0);
    assert_eq!(
        bundle.result.code_hash,
        assay_forge::binding::code_hash(&measurement, bundle.result.recipe_hash)
    );
    assert!(bundle.result.tee);
    assert_eq!(bundle.result.scores.len(), 3);
    assert_eq!(bundle.result.baseline_metric.name, "perplexity");
    assert!(bundle.result.baseline_metric.value.to_f64() > 1.0);
    // The enclave's key is fresh: not the coordinator's, and the report names its X25519 key.
    assert_ne!(bundle.enclave_x25519, B256::ZERO);

    let needles = needles(&s);
    scan("stdout", &o.stdout, &needles);
    scan("stderr", &o.stderr, &needles);
    let requests = ks.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "challenge and key request");
    for (i, body) in requests.iter().enumerate() {
        scan(&format!("request {i}"), body, &needles);
    }
    for f in files(d)
        .iter()
        .filter(|f| !f.ends_with("holdout.enc") && !f.ends_with("sp.sock"))
    {
        scan(
            &f.display().to_string(),
            &std::fs::read(f).unwrap(),
            &needles,
        );
    }
    // The scan can find what it looks for.
    let plain = jsonl(&s.holdout, false);
    assert!(std::panic::catch_unwind(|| scan("self-test", plain.as_bytes(), &needles)).is_err());

    // The older flags still describe the same job (the journal now holds every run).
    std::fs::remove_file(d.join("bundle.json")).unwrap();
    let mut args = flags(d);
    args.extend([
        "--evidence".into(),
        "simulated".into(),
        "--sp-socket".into(),
        socket.display().to_string(),
        "--key-service".into(),
        ks.url.clone(),
    ]);
    let o = enclave(&args.iter().map(String::as_str).collect::<Vec<_>>());
    succeeded(&o);
    let again = read_bundle(&d.join("bundle.json"));
    assert_eq!(again.result.scores, bundle.result.scores);
    v.verify(&again).unwrap();

    // A key service that expects another measurement refuses, and the enclave says why;
    // nothing is written.
    let other = key_service::start(&s.key, sim_verifier_for([1; 48]));
    std::fs::remove_file(d.join("bundle.json")).unwrap();
    let job = s.write_spec(&spec_for(&socket), "job-other.toml");
    let o = enclave(&[
        "--job",
        &job.display().to_string(),
        "--key-service",
        &other.url,
    ]);
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("refused") && stderr.contains("policy"),
        "{stderr}"
    );
    assert!(
        !d.join("bundle.json").exists(),
        "nothing written on failure"
    );
}

#[test]
fn without_a_tee_the_result_says_so_and_needs_a_permissive_policy() {
    let s = Setup::new();
    let d = s.path();
    s.key.save(&d.join("holdout.key")).unwrap();
    let coordinator = coordinator_key_file(d);
    let spec = s.spec(
        EvidenceSpec::None {
            holdout_key: "holdout.key".into(),
            coordinator_key: "coordinator.key".into(),
        },
        None,
    );
    let job = s.write_spec(&spec, "job.toml");
    let o = enclave(&["--job", &job.display().to_string()]);
    succeeded(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("NO TEE"));
    assert!(String::from_utf8_lossy(&o.stdout).contains("evidence: none; tee: false"));
    let bundle = read_bundle(&d.join("bundle.json"));
    assert!(!bundle.result.tee && bundle.report.is_none());
    let address = assay_enclave::identity::Signer::load(&coordinator)
        .unwrap()
        .address();
    assert_eq!(bundle.signer, address);
    let mut v = BundleVerifier {
        nonce: Some(NONCE),
        coordinator: Some(address),
        ..BundleVerifier::new(sim_verifier())
    };
    assert_eq!(v.verify(&bundle).unwrap_err().error.kind(), "tee");
    v.allow_no_tee = true;
    v.verify(&bundle).unwrap();

    // The same from the older flags.
    std::fs::remove_file(d.join("bundle.json")).unwrap();
    let mut args = flags(d);
    args.extend([
        "--evidence".into(),
        "none".into(),
        "--holdout-key".into(),
        d.join("holdout.key").display().to_string(),
        "--coordinator-key".into(),
        coordinator.display().to_string(),
    ]);
    succeeded(&enclave(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    assert_eq!(
        read_bundle(&d.join("bundle.json")).result.scores,
        bundle.result.scores
    );
}
