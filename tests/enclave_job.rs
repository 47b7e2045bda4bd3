//! The enclave binary end to end on a tiny model, as a host runs it: `assay sim-sp` beside it
//! (the simulated AMD-SP, measuring the launched files, with the job's hash as HOST_DATA), a key
//! service over HTTP that approved the job, the job file; key release, decryption, exact LOO,
//! the signed bundle — which verifies — and a scan of everything the enclave wrote or sent for
//! the holdout's plaintext, key and fingerprints. Then the attacks of a host that controls
//! everything but the enclave, each refused: a chat template that raises with holdout text, a
//! malformed holdout, journal entries edited or carried to another job, a key service of the
//! host's own, a swapped holdout, a compute share from the command line, a job the Forge did
//! not approve, a guest launched for another job.

use std::path::Path;
use std::process::{Command, Output};

use alloy_primitives::{Address, B256};
use assay_attestation::abi::AttestationReport;
use assay_forge::job::EvidenceSpec;
use assay_forge::{Bundle, BundleVerifier, Pins};
use assay_tests::forge::{CHAIN_ID, CONTRACT, FORGE_ID, NONCE, coordinator_key_file};
use assay_tests::job::{Setup, jsonl};
use assay_tests::key_service;
use assay_tests::paths::bin;
use assay_tests::scan::{needles, scan};
use assay_tests::sim::{SpProcess, launch_args, sim_verifier, sim_verifier_for};
use assay_tests::tee::Tee;

fn enclave(args: &[&str]) -> Output {
    Command::new(bin("assay-enclave"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn succeeded(o: &Output) {
    assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
}

fn read_bundle(path: &Path) -> Bundle {
    Bundle::parse(&std::fs::read(path).unwrap(), &path.display().to_string()).unwrap()
}

/// The older command line of a job (no job file), with the files in `d`.
fn flags(d: &Path, nonce: B256, service_key: B256) -> Vec<String> {
    let p = |f: &str| d.join(f).display().to_string();
    vec![
        "--forge-id".to_owned(),
        format!("{FORGE_ID}"),
        "--nonce".into(),
        format!("{nonce}"),
        "--chain-id".into(),
        CHAIN_ID.to_string(),
        "--forge-contract".into(),
        format!("{CONTRACT}"),
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
        "--key-service-key".into(),
        format!("{service_key}"),
        "--out".into(),
        p("bundle.json"),
        "--cbor".into(),
        p("bundle.cbor"),
    ]
}

#[test]
fn simulated_enclave_job_end_to_end_leaks_nothing() {
    let t = Tee::start(Setup::new(), NONCE, &[]);
    let d = t.s.path();
    let job_hash = t.job.hash();
    // What the host puts in HOST_DATA, as the enclave program computes it from the file.
    let o = t.run(&["--print-job-hash"]);
    succeeded(&o);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        job_hash.to_string()
    );
    let o = t.run(&[]);
    succeeded(&o);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("evidence: simulated; tee: true") && stdout.contains(&job_hash.to_string()),
        "{stdout}"
    );

    let bundle = read_bundle(&d.join("bundle.json"));
    assert_eq!(bundle, read_bundle(&d.join("bundle.cbor")));
    assert_eq!(bundle.format, assay_forge::BUNDLE_FORMAT);
    assert_eq!(bundle.job.as_ref(), Some(&t.job));
    t.verifier().verify(&bundle).unwrap();
    // The report's MEASUREMENT is `assay measure` of the launched files, and its HOST_DATA the
    // job's hash; the signed result commits to the job and its holdout.
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
    let commitment = bundle.result.job.unwrap();
    assert_eq!(commitment.job_hash, job_hash);
    assert_eq!(
        (commitment.holdout_key_id.0, commitment.holdout_sha256),
        (t.s.key.id(), t.job.holdout.sha256)
    );
    assert_eq!(
        bundle.result.code_hash,
        assay_forge::binding::code_hash(&report.measurement, bundle.result.recipe_hash)
    );
    assert!(bundle.result.tee);
    assert_eq!(bundle.result.scores.len(), 3);
    assert!(bundle.result.baseline_metric.value.to_f64() > 1.0);
    // The enclave's key is fresh: not the coordinator's, and the report names its X25519 key.
    assert_ne!(bundle.enclave_x25519, B256::ZERO);
    // Its alloy chain, beside the bundle: the dataset, adapter and eval links, signed by the
    // key the bundle binds, saying what the bundle says; the adapter they name is beside it.
    let chain = std::fs::read(d.join("bundle.alloy")).unwrap();
    let verdict = assay_alloy::verify([assay_alloy::Input::Cbor(&chain)]);
    let checked = assay_forge::alloy::check_chain(&bundle, &verdict).unwrap();
    assert_eq!(
        (checked.method.as_str(), checked.later),
        ("lora", 0),
        "{checked:?}"
    );
    let adapter = d.join("bundle.adapter");
    let mut names: Vec<String> = std::fs::read_dir(&adapter)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["adapter_config.json", "adapter_model.safetensors"]);
    let files = assay_recipe::adapter::AdapterFiles {
        weights: std::fs::read(adapter.join("adapter_model.safetensors")).unwrap(),
        config: std::fs::read(adapter.join("adapter_config.json")).unwrap(),
    };
    assert_eq!(
        assay_enclave::job::adapter_hash(&files),
        checked.adapter_hash,
        "the adapter link names the adapter folder the enclave wrote"
    );
    // `assay verify attestation --alloy`: the chain checked against its bundle; the same links
    // signed by a key the bundle does not bind (a host's) are refused, exit 1.
    let verify_with = |chain: &Path| {
        Command::new(bin("assay"))
            .args(["verify", "attestation"])
            .arg(d.join("bundle.json"))
            .args(["--no-nonce", "--any-measurement", "--insecure-test-root"])
            .arg(assay_tests::paths::sim_dir().join("ark.pem"))
            .arg("--alloy")
            .arg(chain)
            .output()
            .unwrap()
    };
    let o = verify_with(&d.join("bundle.alloy"));
    succeeded(&o);
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("alloy chain: its dataset, adapter and eval links"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let hosts = assay_enclave::job::alloy_key().unwrap();
    let mut posing = bundle.clone();
    posing.alloy.as_mut().unwrap().key = B256::from(*hosts.verifying_key().as_bytes());
    let forged =
        assay_forge::alloy::sign_job_links(&posing, checked.adapter_hash, "lora", &hosts, 1)
            .unwrap();
    let forged_file = d.join("forged.alloy");
    std::fs::write(&forged_file, assay_alloy::chain_file(&forged).unwrap()).unwrap();
    let o = verify_with(&forged_file);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("rejected: alloy check failed") && stderr(&o).contains("is signed by"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        t.ks.requests.lock().unwrap().len(),
        2,
        "challenge and key request"
    );
    t.scan(&o);
    // The scan can find what it looks for.
    let plain = jsonl(&t.s.holdout, false);
    let needles = needles(&t.s);
    assert!(std::panic::catch_unwind(|| scan("self-test", plain.as_bytes(), &needles)).is_err());

    // The older flags describe the same job (same hash: the journal serves every run).
    std::fs::remove_file(d.join("bundle.json")).unwrap();
    let mut args = flags(d, NONCE, t.s.service_key.public());
    args.extend([
        "--evidence".into(),
        "simulated".into(),
        "--sp-socket".into(),
        d.join("sp.sock").display().to_string(),
        "--key-service".into(),
        t.ks.url.clone(),
    ]);
    let o = enclave(&args.iter().map(String::as_str).collect::<Vec<_>>());
    succeeded(&o);
    assert!(
        stderr(&o).contains("journal: 4 trainings resumed, 0 entries refused"),
        "{}",
        stderr(&o)
    );
    let again = read_bundle(&d.join("bundle.json"));
    assert_eq!(again.result.scores, bundle.result.scores);
    t.verifier().verify(&again).unwrap();

    // A key service that expects another measurement refuses, and the enclave says why;
    // nothing is written.
    let other = key_service::start(
        &t.s.key,
        &t.s.service_key,
        std::slice::from_ref(&t.job),
        sim_verifier_for([1; 48]),
    );
    std::fs::remove_file(d.join("bundle.json")).unwrap();
    let o = t.run(&["--key-service", &other.url]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("refused") && stderr(&o).contains("policy"),
        "{}",
        stderr(&o)
    );
    assert!(
        !d.join("bundle.json").exists(),
        "nothing written on failure"
    );
}

#[test]
fn a_chat_template_that_raises_with_holdout_text_leaks_nothing() {
    let s = Setup::new();
    // A template (pinned by the recipe, which the job approves) that raises with the text of
    // any message carrying a holdout canary: contributions render, the holdout does not.
    s.set_chat_template(concat!(
        "{%- for message in messages %}{%- if 'zq-canary' in message.content %}",
        "{{ raise_exception('leaked: ' ~ message.content) }}{%- endif %}",
        "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}",
        "{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
    ));
    let t = Tee::start(s, NONCE, &[]);
    let o = t.run(&[]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("failed after the holdout was decrypted") && e.contains("withheld"),
        "{e}"
    );
    assert!(!e.contains("leaked"), "{e}");
    t.scan(&o);
    assert!(!t.s.path().join("bundle.json").exists());
}

#[test]
fn a_malformed_holdout_is_named_by_line_and_leaks_nothing() {
    let mut holdout = assay_tests::job::holdout();
    let secret = "zq-canary-malformed-holdout";
    let mut text = jsonl(&holdout, false);
    text.push_str(&format!("{{\"prompt\": 7, \"answer\": \"{secret}\"}}\n"));
    holdout.push(assay_recipe::data::Example {
        contributor: String::new(),
        prompt: secret.into(),
        answer: secret.into(),
    });
    let t = Tee::start(Setup::with_holdout(&text, holdout), NONCE, &[]);
    let o = t.run(&[]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("holdout failed after the holdout was decrypted"),
        "{e}"
    );
    t.scan(&o);
}

#[test]
fn journal_entries_the_host_edits_or_carries_over_are_refused_and_recomputed() {
    let fresh = B256::repeat_byte(0x77);
    let s = Setup::new();
    let fresh_job = s.job_with_nonce(true, fresh);
    let t = Tee::start(s, NONCE, std::slice::from_ref(&fresh_job));
    let d = t.s.path();
    succeeded(&t.run(&[]));
    let clean = read_bundle(&d.join("bundle.json"));
    let journal = d.join("journal");
    let mut entries: Vec<_> = std::fs::read_dir(&journal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    assert_eq!(entries.len(), 4, "{entries:?}");
    // Edit one entry, swap two others: all three are refused, their runs computed again, and
    // the scores are the clean run's to the bit.
    let mut bytes = std::fs::read(&entries[1]).unwrap();
    bytes[20] ^= 1;
    std::fs::write(&entries[1], bytes).unwrap();
    let (a, b) = (
        std::fs::read(&entries[2]).unwrap(),
        std::fs::read(&entries[3]).unwrap(),
    );
    std::fs::write(&entries[2], b).unwrap();
    std::fs::write(&entries[3], a).unwrap();
    let o = t.run(&[]);
    succeeded(&o);
    assert!(
        stderr(&o).contains("journal: 1 trainings resumed, 3 entries refused"),
        "{}",
        stderr(&o)
    );
    let resumed = read_bundle(&d.join("bundle.json"));
    assert_eq!(resumed.result.scores, clean.result.scores);
    t.verifier().verify(&resumed).unwrap();
    // The same journal under a fresh nonce (another job, approved too): nothing of it is used.
    std::fs::create_dir(d.join("fresh")).unwrap();
    let sp = SpProcess::start(&d.join("fresh"), Some(fresh_job.hash().0));
    let run = t.s.run(
        EvidenceSpec::Simulated {
            socket: sp.socket.clone(),
        },
        Some(&t.ks.url),
    );
    let file = t.s.write_job(&fresh_job, &run, "fresh.toml");
    let o = enclave(&["--job", file.to_str().unwrap()]);
    succeeded(&o);
    assert!(
        stderr(&o).contains("journal: 0 trainings resumed, 4 entries refused"),
        "{}",
        stderr(&o)
    );
    let other = read_bundle(&d.join("bundle.json"));
    assert_eq!(other.result.scores, clean.result.scores);
    assert_eq!(other.result.nonce, fresh);
    // No entry holds a plaintext metric or a holdout fingerprint.
    t.scan(&o);
    for e in &entries {
        let bytes = std::fs::read(e).unwrap();
        assert_eq!(bytes.len(), 12 + 8 + 16, "nonce, sealed metric, tag");
    }
}

/// A key service the host runs itself: it verifies nothing and seals `key` to whoever asks,
/// with its own `service_key` (it cannot have the Forge's). Its URL, and its runtime.
fn hosts_key_service(
    key: assay_keys::DataKey,
    service_key: assay_keys::wrap::ServiceKey,
) -> (tokio::runtime::Runtime, String) {
    use assay_keys::protocol::{Challenge, KeyRequest, KeyResponse};
    use axum::Json;
    let router = axum::Router::new()
        .route(
            "/v1/challenge",
            axum::routing::post(|| async {
                Json(Challenge {
                    nonce: [0x33; 32],
                    expires_in: 60,
                })
            }),
        )
        .route(
            "/v1/key",
            axum::routing::post(move |Json(request): Json<KeyRequest>| async move {
                let wrapped = assay_keys::wrap::wrap_key(
                    &key,
                    &request.x25519,
                    &service_key,
                    &request.nonce,
                    request.job.hash(),
                    &request.resource,
                )
                .unwrap();
                Json(KeyResponse {
                    resource: request.resource,
                    wrapped,
                })
            }),
        );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, router).await });
    (rt, url)
}

#[test]
fn a_key_service_of_the_hosts_own_or_a_swapped_holdout_is_refused() {
    let t = Tee::start(Setup::new(), NONCE, &[]);
    let d = t.s.path();
    // The host runs its own key service, which answers with the real holdout key (say the
    // host got hold of it) sealed under the host's own service key: the enclave refuses the
    // answer, since it opens only with the service key the job pins.
    let (_rt, url) = hosts_key_service(t.s.key.clone(), assay_keys::wrap::ServiceKey::generate());
    let o = t.run(&["--key-service", &url]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("service key the job pins"),
        "{}",
        stderr(&o)
    );
    assert!(!d.join("bundle.json").exists());
    t.scan(&o);
    // The host swaps in a holdout of its own choosing (under the same key, even): refused
    // before any key is asked for, since the job commits to the holdout's ciphertext.
    let mut other = jsonl(&assay_tests::job::holdout(), false);
    other.push_str("{\"prompt\": \"host\", \"answer\": \"chosen\"}\n");
    let sealed = assay_keys::holdout::encrypt(other.as_bytes(), &t.s.key, 1024).unwrap();
    std::fs::write(d.join("holdout.enc"), sealed).unwrap();
    let requests_before = t.ks.requests.lock().unwrap().len();
    let o = t.run(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("the encrypted holdout has SHA-256")
            && stderr(&o).contains("the job pins"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        t.ks.requests.lock().unwrap().len(),
        requests_before,
        "refused before any key request"
    );
}

#[test]
fn a_job_the_forge_did_not_approve_gets_no_key() {
    let t = Tee::start(Setup::new(), NONCE, &[]);
    let d = t.s.path();
    // The older flags with the compute share a host would like: another job, whose hash the
    // key service has not approved (and whose HOST_DATA the launch does not carry).
    let mut args = flags(d, NONCE, t.s.service_key.public());
    for a in args.iter_mut() {
        if a == "1500" {
            *a = "10000".into();
        }
    }
    args.extend([
        "--evidence".into(),
        "simulated".into(),
        "--sp-socket".into(),
        d.join("sp.sock").display().to_string(),
        "--key-service".into(),
        t.ks.url.clone(),
    ]);
    let o = enclave(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("HOST_DATA") && stderr(&o).contains("launched for another job"),
        "{}",
        stderr(&o)
    );
    // Launched for that job, the key service still refuses it: the Forge did not approve it.
    let hash = {
        let o = enclave(
            &args
                .iter()
                .map(String::as_str)
                .chain(["--print-job-hash"])
                .collect::<Vec<_>>(),
        );
        succeeded(&o);
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse::<B256>()
            .unwrap()
    };
    std::fs::create_dir(d.join("other-launch")).unwrap();
    let sp = SpProcess::start(&d.join("other-launch"), Some(hash.0));
    let mut relaunched = args.clone();
    let at = relaunched.iter().position(|a| a == "--sp-socket").unwrap();
    relaunched[at + 1] = sp.socket.display().to_string();
    let o = enclave(&relaunched.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("refused the request (job)") && stderr(&o).contains("not approved"),
        "{}",
        stderr(&o)
    );
    assert!(!d.join("bundle.json").exists());
}

#[test]
fn without_a_tee_the_result_says_so_and_needs_a_permissive_policy() {
    let s = Setup::new();
    let d = s.path();
    s.key.save(&d.join("holdout.key")).unwrap();
    let coordinator = coordinator_key_file(d);
    let job = s.job(false);
    let run = s.run(
        EvidenceSpec::None {
            holdout_key: "holdout.key".into(),
            coordinator_key: "coordinator.key".into(),
        },
        None,
    );
    let file = s.write_job(&job, &run, "job.toml");
    let o = enclave(&["--job", file.to_str().unwrap()]);
    succeeded(&o);
    assert!(stderr(&o).contains("NO TEE"));
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
        pins: Pins {
            job: Some(job.hash()),
            ..Pins::default()
        },
        ..BundleVerifier::new(sim_verifier())
    };
    assert_eq!(v.verify(&bundle).unwrap_err().error.kind(), "tee");
    v.allow_no_tee = true;
    v.verify(&bundle).unwrap();

    // The same from the older flags.
    std::fs::remove_file(d.join("bundle.json")).unwrap();
    let mut args = flags(d, NONCE, B256::ZERO);
    let at = args.iter().position(|a| a == "--key-service-key").unwrap();
    args.drain(at..at + 2);
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
    let again = read_bundle(&d.join("bundle.json"));
    assert_eq!(again.result.scores, bundle.result.scores);
    assert_eq!(again.job.as_ref(), Some(&job));
}

#[test]
fn inputs_changed_after_they_were_read_change_nothing() {
    use std::io::BufRead;
    let t = Tee::start(Setup::new(), NONCE, &[]);
    let d = t.s.path();
    succeeded(&t.run(&["--workers", "1"]));
    let clean = read_bundle(&d.join("bundle.json"));
    // Again, with a fresh journal; once the enclave has read its inputs (the first progress
    // line comes after the key release and the decryption), the host rewrites every one of
    // them in place: each was read once, hashed and parsed from one buffer, so nothing changes.
    let other = tempfile::tempdir().unwrap();
    assay_recipe::fixture::write_model(other.path(), &assay_recipe::fixture::tiny_config(), 99)
        .unwrap();
    let mut child = Command::new(bin("assay-enclave"))
        .args([
            "--job",
            t.file.to_str().unwrap(),
            "--workers",
            "1",
            "--journal",
        ])
        .arg(d.join("journal-2"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains("0/4 trainings") {
            std::fs::copy(
                other.path().join("model.safetensors"),
                d.join("model/model.safetensors"),
            )
            .unwrap();
            std::fs::write(d.join("contributions.jsonl"), "{}\n").unwrap();
            std::fs::write(d.join("holdout.enc"), "rewritten").unwrap();
            std::fs::write(d.join("recipe.toml"), "rewritten").unwrap();
            break;
        }
    }
    seen.extend(lines.map(|l| l.unwrap()));
    let status = child.wait().unwrap();
    assert!(status.success(), "{seen:#?}");
    let again = read_bundle(&d.join("bundle.json"));
    assert_eq!(again.result.scores, clean.result.scores);
    assert_eq!(again.result.baseline_metric, clean.result.baseline_metric);
}
