//! The enclave binary end to end on a tiny model: key release from a key service over HTTP with
//! the simulated AMD-SP, decryption, exact LOO, the signed bundle — which verifies — and a scan of
//! everything the enclave wrote or sent for the holdout's plaintext and key. Then the same job
//! without a TEE: loudly `tee: false`, accepted only where the policy allows it.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::{Address, B256};
use assay_attestation::bundle::{Bundle, BundleVerifier};
use assay_keys::DataKey;
use assay_keys::service::KeyService;
use assay_recipe::data::Example;
use assay_recipe::fixture::{reverse_task, tiny_config, write_model};
use base64::Engine;
use common::*;

const CONTRIBUTORS: [&str; 3] = [
    "0x1111111111111111111111111111111111111111",
    "0x2222222222222222222222222222222222222222",
    "0x3333333333333333333333333333333333333333",
];

fn jsonl(examples: &[Example], with_contributor: bool) -> String {
    examples
        .iter()
        .map(|e| {
            let mut v = serde_json::json!({"prompt": e.prompt, "answer": e.answer});
            if with_contributor {
                v["contributor"] = e.contributor.clone().into();
            }
            v.to_string() + "\n"
        })
        .collect()
}

/// The holdout, each prompt carrying a unique canary.
fn holdout() -> Vec<Example> {
    let mut h = reverse_task(8, &["holdout"], 5);
    for (i, e) in h.iter_mut().enumerate() {
        e.prompt = format!("{} zq-canary-{i}-holdout", e.prompt);
    }
    h
}

struct Setup {
    dir: tempfile::TempDir,
    key: DataKey,
    holdout: Vec<Example>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let recipe = write_model(&d.join("model"), &tiny_config(), 11).unwrap();
    std::fs::write(d.join("recipe.toml"), recipe.to_toml()).unwrap();
    std::fs::write(
        d.join("contributions.jsonl"),
        jsonl(&reverse_task(24, &CONTRIBUTORS, 0), true),
    )
    .unwrap();
    let key = DataKey::generate();
    let holdout = holdout();
    let sealed =
        assay_keys::holdout::encrypt(jsonl(&holdout, false).as_bytes(), &key, 1024).unwrap();
    std::fs::write(d.join("holdout.enc"), sealed).unwrap();
    Setup { dir, key, holdout }
}

fn enclave(d: &Path, extra: &[&str]) -> Output {
    let p = |f: &str| d.join(f).display().to_string();
    let mut args = vec![
        "--forge-id".to_owned(),
        format!("{}", B256::repeat_byte(0xf0)),
        "--nonce".into(),
        format!("{}", B256::repeat_byte(0x99)),
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
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Command::new(env!("CARGO_BIN_EXE_assay-enclave"))
        .args(&args)
        .output()
        .unwrap()
}

/// A key service whose every request body is recorded, for the leak scan.
fn key_service(
    key: &DataKey,
    measurement: [u8; 48],
) -> (tokio::runtime::Runtime, String, Arc<Mutex<Vec<Vec<u8>>>>) {
    let ks = Arc::new(KeyService::new(
        sim_verifier_for(measurement),
        HashMap::from([("holdout".to_owned(), key.clone())]),
        Duration::from_secs(60),
    ));
    let log: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let record = {
        let log = log.clone();
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let log = log.clone();
            async move {
                let (parts, body) = req.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                log.lock().unwrap().push(bytes.to_vec());
                next.run(axum::extract::Request::from_parts(parts, bytes.into()))
                    .await
            }
        }
    };
    let router = assay_keys::http::router(ks).layer(axum::middleware::from_fn(record));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, router).await });
    (rt, url, log)
}

/// Everything that must never appear outside the enclave, in the forms it could take.
fn needles(s: &Setup) -> Vec<Vec<u8>> {
    let key_file = s.dir.path().join("needle.key");
    s.key.save(&key_file).unwrap();
    let hex_key = std::fs::read_to_string(&key_file)
        .unwrap()
        .trim()
        .to_owned();
    std::fs::remove_file(&key_file).unwrap();
    let raw = hex::decode(&hex_key).unwrap();
    let mut n = vec![
        hex_key.clone().into_bytes(),
        hex_key.to_uppercase().into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(&raw)
            .into_bytes(),
        raw,
    ];
    for e in &s.holdout {
        n.push(e.prompt.clone().into_bytes());
        n.push(e.answer.clone().into_bytes());
    }
    n.extend((0..s.holdout.len()).map(|i| format!("zq-canary-{i}").into_bytes()));
    n
}

fn scan(what: &str, haystack: &[u8], needles: &[Vec<u8>]) {
    for n in needles {
        assert!(
            !haystack.windows(n.len()).any(|w| w == &n[..]),
            "{what} contains a secret ({} bytes: {:?})",
            n.len(),
            String::from_utf8_lossy(&n[..n.len().min(12)])
        );
    }
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn simulated_enclave_end_to_end_leaks_nothing() {
    let s = setup();
    let d = s.dir.path();
    // The guest's launch measurement, as `assay-measurements` computes it for its firmware,
    // kernel, initrd and command line.
    let measurement = launch_measurement();
    let (_rt, url, log) = key_service(&s.key, measurement);
    let o = enclave(
        d,
        &[
            "--evidence",
            "simulated",
            "--measurement",
            &hex::encode(measurement),
            "--key-service",
            &url,
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("evidence: simulated; tee: true"),
        "{stdout}"
    );

    let bundle = Bundle::parse(
        &std::fs::read(d.join("bundle.json")).unwrap(),
        "bundle.json",
    )
    .unwrap();
    let cbor = Bundle::parse(
        &std::fs::read(d.join("bundle.cbor")).unwrap(),
        "bundle.cbor",
    )
    .unwrap();
    assert_eq!(bundle, cbor);
    let v = BundleVerifier {
        report: sim_verifier_for(measurement),
        nonce: Some(B256::repeat_byte(0x99)),
        coordinator: None,
    };
    v.verify(&bundle).unwrap();
    assert_eq!(
        bundle.result.code_hash,
        assay_attestation::bundle::binding::code_hash(&measurement, bundle.result.recipe_hash)
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
    let requests = log.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "challenge and key request");
    for (i, body) in requests.iter().enumerate() {
        scan(&format!("request {i}"), body, &needles);
    }
    let mut written = Vec::new();
    files(d, &mut written);
    for f in written.iter().filter(|f| !f.ends_with("holdout.enc")) {
        scan(
            &f.display().to_string(),
            &std::fs::read(f).unwrap(),
            &needles,
        );
    }
    // The scan can find what it looks for.
    let plain = jsonl(&s.holdout, false);
    assert!(std::panic::catch_unwind(|| scan("self-test", plain.as_bytes(), &needles)).is_err());

    // A key service that expects another measurement refuses, and the enclave says why.
    let mut other = sim_verifier();
    other.policy.measurements = Some(vec![
        assay_attestation::validate::Policy::from_toml(
            &format!("measurements = [\"{}\"]", hex::encode([1u8; 48])),
            "p",
        )
        .unwrap()
        .measurements
        .unwrap()
        .remove(0),
    ]);
    let ks = Arc::new(KeyService::new(
        other,
        HashMap::from([("holdout".to_owned(), s.key.clone())]),
        Duration::from_secs(60),
    ));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url2 = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(assay_keys::http::serve(listener, ks));
    std::fs::remove_file(d.join("bundle.json")).unwrap();
    let o = enclave(
        d,
        &[
            "--evidence",
            "simulated",
            "--measurement",
            &hex::encode(MEASUREMENT),
            "--key-service",
            &url2,
        ],
    );
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
    let s = setup();
    let d = s.dir.path();
    s.key.save(&d.join("holdout.key")).unwrap();
    let coordinator = coordinator_key_file(d);
    let o = enclave(
        d,
        &[
            "--evidence",
            "none",
            "--holdout-key",
            &d.join("holdout.key").display().to_string(),
            "--coordinator-key",
            &coordinator.display().to_string(),
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("NO TEE"));
    assert!(String::from_utf8_lossy(&o.stdout).contains("evidence: none; tee: false"));
    let bundle = Bundle::parse(&std::fs::read(d.join("bundle.json")).unwrap(), "b").unwrap();
    assert!(!bundle.result.tee && bundle.report.is_none());
    let address = assay_enclave::identity::Signer::load(&coordinator)
        .unwrap()
        .address();
    assert_eq!(bundle.signer, address);
    let mut v = BundleVerifier {
        report: sim_verifier(),
        nonce: Some(B256::repeat_byte(0x99)),
        coordinator: Some(address),
    };
    assert_eq!(v.verify(&bundle).unwrap_err().error.check(), "tee");
    v.report.policy.allow_no_tee = true;
    v.verify(&bundle).unwrap();

    // Mixing the modes is refused before anything runs.
    let o = enclave(
        d,
        &["--evidence", "none", "--key-service", "http://127.0.0.1:9"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--holdout-key"));
    let o = enclave(
        d,
        &[
            "--evidence",
            "simulated",
            "--measurement",
            &hex::encode(MEASUREMENT),
            "--holdout-key",
            &d.join("holdout.key").display().to_string(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--key-service"));
}
