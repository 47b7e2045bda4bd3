//! The host daemon end to end, as a provider runs it: the example Forge job submitted over the
//! API to `assay-host serve` (process launcher: `assay-enclave` beside a simulated AMD-SP on the
//! host side), a key service of the Forge's, progress as server-sent events, the bundle, the
//! calldata, the latest attestation fetched and verified by a relayer (`assay relay fetch`), and
//! a scan of everything the daemon kept, logged or answered for the holdout. Then what a host's
//! failures do: `kill -9` of the daemon and the enclave mid-job (the job resumes to the same
//! bits, a tampered journal entry recomputed), a restart with jobs in every state, a SIGTERM,
//! hundreds of concurrent creates and cancels, a full disk, and every malformed request.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use alloy_primitives::B256;
use assay_forge::{Bundle, BundleVerifier, Pins};
use assay_tests::host::{
    Process, client, daemon, get, job_with_nonce, key_service, key_service_config, post, token,
    wait_for, write_example,
};
use assay_tests::paths::{bin, provided, sim_dir};
use assay_tests::scan::{example_needles, scan};
use assay_tests::sim::{launch_measurement, sim_verifier_for};

const FORGE: &str = "0xf0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0";
const LONG: Duration = Duration::from_secs(120);

/// A folder with the example, its image and a key service of the Forge's.
struct World {
    dir: tempfile::TempDir,
    example: PathBuf,
    ks: Process,
}

impl World {
    /// The example; its key service approves the example job and `jobs` (nonces), each up to
    /// `max_releases` times.
    fn new(nonces: &[u8], max_releases: u32) -> World {
        let dir = tempfile::tempdir().unwrap();
        let example = write_example(dir.path());
        let mut jobs = vec![example.join("job.json")];
        jobs.extend(nonces.iter().map(|n| job_with_nonce(&example, *n)));
        let ks = key_service(&key_service_config(&example, &jobs, max_releases));
        World { dir, example, ks }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn image(&self) -> PathBuf {
        self.path().join("image.toml")
    }

    /// `assay-host serve` with its data in `DIR/name`.
    fn daemon(&self, name: &str, extra: &[&str]) -> Process {
        daemon(
            &self.path().join(name),
            &self.example.join("inputs"),
            &self.ks.url,
            &self.image(),
            extra,
        )
    }

    fn job(&self, file: &str) -> Vec<u8> {
        std::fs::read(self.example.join(file)).unwrap()
    }
}

/// Submits `body`; returns the new job's id.
fn submit(agent: &ureq::Agent, base: &str, token: &str, body: &[u8]) -> String {
    let a = post(agent, &format!("{base}/v1/jobs"), Some(token), body);
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    a.json()["id"].as_str().unwrap().to_owned()
}

fn state_is(s: &'static str) -> impl Fn(&serde_json::Value) -> bool {
    move |j| j["state"] == s
}

fn bundle_of(agent: &ureq::Agent, base: &str, id: &str) -> Bundle {
    let a = get(
        agent,
        &format!("{base}/v1/jobs/{id}/bundle"),
        "application/json",
    );
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    Bundle::parse(&a.body, "bundle").unwrap()
}

/// Kills, with SIGKILL, every enclave whose command line names `data` (a daemon's data folder).
fn kill_enclaves(data: &Path) {
    let _ = Command::new("pkill")
        .args(["-KILL", "-f"])
        .arg(format!("assay-enclave --job {}", data.display()))
        .status();
}

fn files_below(dir: &Path) -> Vec<PathBuf> {
    assay_tests::scan::files(dir)
}

#[test]
fn a_job_through_the_daemon_end_to_end_leaks_nothing() {
    let w = World::new(&[], 3);
    let host = w.daemon("data", &[]);
    assert!(host.url.starts_with("https://127.0.0.1:"), "{}", host.url);
    let data = w.path().join("data");
    let cert = data.join("tls/cert.pem");
    let agent = client(Some(&cert));
    let token = token(&data);
    let mut answers: Vec<Vec<u8>> = Vec::new();
    let created = post(
        &agent,
        &format!("{}/v1/jobs", host.url),
        Some(&token),
        &w.job("job.json"),
    );
    assert_eq!(created.status, 201);
    let job = created.json();
    let id = job["id"].as_str().unwrap().to_owned();
    answers.push(created.body);
    // Progress as server-sent events, to the end.
    let mut r = agent
        .get(&format!("{}/v1/jobs/{id}/events", host.url))
        .call()
        .unwrap();
    assert_eq!(
        r.headers().get("content-type").unwrap(),
        "text/event-stream"
    );
    // Read to its end: the stream closes right after the event that says the job is over.
    let mut events = Vec::new();
    let mut names = Vec::new();
    for line in std::io::BufReader::new(r.body_mut().as_reader()).lines() {
        let line = line.unwrap();
        if let Some(data) = line.strip_prefix("data: ") {
            events.push(serde_json::from_str::<serde_json::Value>(data).unwrap());
        } else if let Some(name) = line.strip_prefix("event: ") {
            names.push(name.to_owned());
        }
    }
    assert_eq!(names.last().map(String::as_str), Some("end"), "{names:?}");
    assert!(
        names[..names.len() - 1].iter().all(|n| n == "progress"),
        "{names:?}"
    );
    let last = events.last().unwrap();
    assert_eq!(last["state"], "succeeded", "{events:?}");
    assert_eq!(
        (last["run"].as_u64(), last["runs"].as_u64()),
        (Some(4), Some(4))
    );
    assert!(last["loss"].as_f64().is_some_and(f64::is_finite), "{last}");
    let runs: Vec<u64> = events.iter().filter_map(|e| e["run"].as_u64()).collect();
    assert!(runs.windows(2).all(|p| p[0] <= p[1]), "{runs:?}");
    // The bundle, as JSON and CBOR: the same, and it verifies with every pin.
    let bundle = bundle_of(&agent, &host.url, &id);
    let cbor = get(
        &agent,
        &format!("{}/v1/jobs/{id}/bundle", host.url),
        "application/cbor",
    );
    assert_eq!(cbor.content_type, "application/cbor");
    assert_eq!(Bundle::parse(&cbor.body, "cbor").unwrap(), bundle);
    let job_hash: B256 = job["job_hash"].as_str().unwrap().parse().unwrap();
    BundleVerifier {
        nonce: Some(B256::repeat_byte(0x99)),
        pins: Pins {
            job: Some(job_hash),
            forge_id: Some(FORGE.parse().unwrap()),
            ..Pins::default()
        },
        ..BundleVerifier::new(sim_verifier_for(launch_measurement()))
    }
    .verify(&bundle)
    .unwrap();
    let record = get(
        &agent,
        &format!("{}/v1/jobs/{id}", host.url),
        "application/json",
    );
    assert_eq!(record.json()["verified"], true);
    // Its alloy chain, checked by the daemon and served: the enclave's three links, saying
    // what the bundle says.
    let chain = get(
        &agent,
        &format!("{}/v1/jobs/{id}/chain", host.url),
        "application/cbor",
    );
    assert_eq!(
        (chain.status, chain.content_type.as_str()),
        (200, "application/cbor")
    );
    let verdict = assay_alloy::verify([assay_alloy::Input::Cbor(&chain.body)]);
    assert_eq!(
        assay_forge::alloy::check_chain(&bundle, &verdict)
            .unwrap()
            .later,
        0
    );
    let absent = get(
        &agent,
        &format!("{}/v1/jobs/nope/chain", host.url),
        "application/cbor",
    );
    assert_eq!(absent.status, 404);
    // The relayer's calldata, and the Forge's latest attestation.
    let calldata = get(
        &agent,
        &format!("{}/v1/jobs/{id}/calldata", host.url),
        "application/json",
    );
    let calldata_hex = calldata.json()["calldata"].as_str().unwrap().to_owned();
    assert_eq!(
        calldata_hex,
        format!("0x{}", hex::encode(assay_forge::calldata(&bundle)))
    );
    let latest = get(
        &agent,
        &format!("{}/v1/forges/{FORGE}/attestation", host.url),
        "application/json",
    );
    assert_eq!(Bundle::parse(&latest.body, "latest").unwrap(), bundle);
    let latest_body = latest.body.clone();
    answers.extend([calldata.body, latest.body, record.body]);
    // A relayer fetches and verifies it, with the same verifier as `assay verify attestation`.
    let relay = |nonce: &str| {
        Command::new(bin("assay"))
            .args([
                "relay", "fetch", "--host", &host.url, "--forge", FORGE, "--ca",
            ])
            .arg(&cert)
            .args(["--nonce", nonce, "--reference"])
            .arg(w.example.join("key-service/enclave-reference.toml"))
            .arg("--job")
            .arg(w.example.join("job.json"))
            .arg("--insecure-test-root")
            .arg(sim_dir().join("ark.pem"))
            .output()
            .unwrap()
    };
    let o = relay(&format!("0x{}", "99".repeat(32)));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), calldata_hex);
    assert!(String::from_utf8_lossy(&o.stderr).contains("accepted: TEE (simulated)"));
    // A bundle that fails (here: another nonce expected) gets no calldata.
    let o = relay(&format!("0x{}", "98".repeat(32)));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("no calldata"));
    // An auditor given the data and the holdout's key reruns the job and gets every number of
    // the daemon's bundle, bit for bit.
    let fetched = w.dir.path().join("fetched.json");
    std::fs::write(&fetched, &latest_body).unwrap();
    let o = Command::new(bin("assay"))
        .arg("replay")
        .arg(&fetched)
        .arg("--data")
        .arg(w.example.join("inputs"))
        .arg("--holdout-key")
        .arg(w.example.join("key-service/holdout.key"))
        .arg("--reference")
        .arg(w.example.join("key-service/enclave-reference.toml"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("values equal the bundle's, bit for bit"),
        "{err}"
    );
    // Nothing the daemon kept, logged or answered holds the holdout or its key.
    let needles = example_needles(&w.example);
    for f in files_below(&data) {
        if f.extension().is_some_and(|e| e == "sock") {
            continue;
        }
        scan(
            &f.display().to_string(),
            &std::fs::read(&f).unwrap(),
            &needles,
        );
    }
    scan("the daemon's log", host.logged().as_bytes(), &needles);
    for (i, a) in answers.iter().enumerate() {
        scan(&format!("answer {i}"), a, &needles);
    }
    let metrics = get(&agent, &format!("{}/metrics", host.url), "text/plain");
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains("assay_host_jobs{state=\"succeeded\"} 1")
            && text.contains("assay_host_http_request_seconds_count{method=\"POST\",route=\"/v1/jobs\",status=\"201\"} 1"),
        "{text}"
    );
}

#[test]
fn the_api_names_what_is_wrong() {
    let w = World::new(&[], 3);
    let data = w.path().join("data");
    // A key service nobody answers at: jobs fail fast, which is what some checks need.
    let host = daemon(
        &data,
        &w.example.join("inputs"),
        "http://127.0.0.1:9",
        &w.image(),
        &["--insecure-http"],
    );
    let agent = client(None);
    let base = &host.url;
    let token = token(&data);
    let problem = |a: &assay_tests::host::Answer, status: u16, kind: &str, says: &str| {
        assert_eq!(a.status, status, "{}", String::from_utf8_lossy(&a.body));
        assert_eq!(a.content_type, "application/problem+json");
        let p = a.json();
        assert_eq!(p["type"], format!("urn:assay:problem:{kind}"), "{p}");
        assert_eq!(p["status"], status);
        assert!(p["detail"].as_str().unwrap().contains(says), "{says}: {p}");
    };
    let jobs = format!("{base}/v1/jobs");
    let good = w.job("job.json");
    // No token, another token.
    problem(
        &post(&agent, &jobs, None, &good),
        401,
        "unauthorised",
        "operator's token",
    );
    problem(
        &post(
            &agent,
            &jobs,
            Some("0000000000000000000000000000000000000000"),
            &good,
        ),
        401,
        "unauthorised",
        "not the operator's",
    );
    // Malformed jobs, each naming the field.
    let mut v: serde_json::Value = serde_json::from_slice(&good).unwrap();
    let with = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut t = v.clone();
        edit(&mut t);
        t.to_string().into_bytes()
    };
    for (body, says) in [
        (b"{ not json".to_vec(), "JSON"),
        (
            with(&|t| t["forge"]["chain"] = 1.into()),
            "unknown field `chain`",
        ),
        (
            with(&|t| t["attribution"]["compute_bps"] = 10001.into()),
            "compute_bps",
        ),
        (with(&|t| t["run"]["model"] = "/etc".into()), "run.model"),
        (
            with(&|t| t["run"]["recipe"] = "../job.json".into()),
            "run.recipe",
        ),
        (
            with(&|t| t["run"]["holdout"] = "absent.enc".into()),
            "not in the host's inputs",
        ),
        (
            with(&|t| {
                t["run"].as_object_mut().unwrap().remove("contributions");
            }),
            "run.contributions",
        ),
        (
            with(&|t| t["run"]["journal"] = "j".into()),
            "the host chooses",
        ),
    ] {
        problem(
            &post(&agent, &jobs, Some(&token), &body),
            400,
            "bad_job",
            says,
        );
    }
    // Too large: refused from its Content-Length, before the body is read (a raw request,
    // since a client that writes the whole body first meets a closed connection).
    {
        use std::io::{Read, Write};
        let addr = base.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            assay_host::api::MAX_BODY + 1
        )
        .unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(
            answer.contains("application/problem+json")
                && answer.contains("urn:assay:problem:too_large"),
            "{answer}"
        );
    }
    // Unknown jobs, routes and methods; a job that is over cannot be cancelled.
    problem(
        &get(&agent, &format!("{jobs}/nope"), "*/*"),
        404,
        "not_found",
        "no job nope",
    );
    problem(
        &get(&agent, &format!("{base}/nothing"), "*/*"),
        404,
        "not_found",
        "",
    );
    problem(
        &post(&agent, &format!("{jobs}/nope/cancel"), Some(&token), b""),
        404,
        "not_found",
        "nope",
    );
    v["forge"]["nonce"] = format!("0x{}", "01".repeat(32)).into();
    let id = submit(&agent, base, &token, v.to_string().as_bytes());
    let failed = wait_for(&agent, base, &id, LONG, state_is("failed"));
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:9"),
        "{failed}"
    );
    problem(
        &post(&agent, &format!("{jobs}/{id}/cancel"), Some(&token), b""),
        409,
        "conflict",
        "failed: cannot cancel",
    );
    problem(
        &get(&agent, &format!("{jobs}/{id}/bundle"), "application/json"),
        404,
        "absent",
        "no bundle",
    );
    problem(
        &get(&agent, &format!("{jobs}/{id}/bundle"), "text/html"),
        406,
        "not_acceptable",
        "application/cbor",
    );
    problem(
        &get(&agent, &format!("{base}/v1/forges/0x12/attestation"), "*/*"),
        400,
        "bad_job",
        "not a Forge id",
    );
    problem(
        &get(
            &agent,
            &format!("{base}/v1/forges/{FORGE}/attestation"),
            "*/*",
        ),
        404,
        "absent",
        "no verified attestation",
    );
    // Paging.
    let second = submit(&agent, base, &token, v.to_string().as_bytes());
    let page = get(&agent, &format!("{jobs}?limit=1"), "application/json").json();
    assert_eq!(page["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(page["next"], id);
    let page = get(
        &agent,
        &format!("{jobs}?limit=1&after={id}"),
        "application/json",
    )
    .json();
    assert_eq!(page["jobs"][0]["id"], second);
    problem(
        &get(&agent, &format!("{jobs}?limit=0"), "*/*"),
        400,
        "bad_job",
        "page size",
    );
    problem(
        &get(&agent, &format!("{jobs}?after=nope"), "*/*"),
        404,
        "not_found",
        "nope",
    );
    // The OpenAPI description is served, and names every route.
    let doc = get(&agent, &format!("{base}/openapi.json"), "application/json").json();
    assert_eq!(doc["openapi"], "3.1.0");
    for route in [
        "/v1/jobs",
        "/v1/jobs/{id}",
        "/v1/jobs/{id}/cancel",
        "/v1/jobs/{id}/events",
        "/v1/jobs/{id}/bundle",
        "/v1/jobs/{id}/calldata",
        "/v1/forges/{forge}/attestation",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(doc["paths"][route].is_object(), "{route}");
    }
    assert_eq!(get(&agent, &format!("{base}/readyz"), "*/*").status, 200);
}

#[test]
fn a_killed_daemon_and_enclave_resume_to_the_same_bits_and_a_tampered_entry_is_recomputed() {
    let w = World::new(&[], 10);
    // The uninterrupted run.
    let clean = {
        let host = w.daemon("clean", &["--insecure-http"]);
        let agent = client(None);
        let id = submit(
            &agent,
            &host.url,
            &token(&w.path().join("clean")),
            &w.job("job.json"),
        );
        wait_for(&agent, &host.url, &id, LONG, state_is("succeeded"));
        bundle_of(&agent, &host.url, &id)
    };
    // The same job, killed (daemon and enclave, SIGKILL) after its first training.
    let data = w.path().join("killed");
    let host = w.daemon("killed", &["--insecure-http", "--threads", "1"]);
    let agent = client(None);
    let token = token(&data);
    let id = submit(&agent, &host.url, &token, &w.job("job.json"));
    let at = wait_for(&agent, &host.url, &id, LONG, |j| {
        j["progress"]["done"].as_u64().unwrap_or(0) >= 1
            || j["state"] != "running" && j["state"] != "queued"
    });
    assert_eq!(
        at["state"], "running",
        "the job was still running when killed: {at}"
    );
    host.signal("KILL");
    kill_enclaves(&data);
    // The host tampers with a journal entry while the daemon is down.
    let journal = data.join("jobs").join(&id).join("journal");
    let entry = std::fs::read_dir(&journal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .next()
        .expect("a journal entry was written before the kill");
    let mut bytes = std::fs::read(&entry).unwrap();
    bytes[14] ^= 1;
    std::fs::write(&entry, bytes).unwrap();
    // Restarted, it resumes: the same scores and shares to the bit, the entry refused.
    let host = w.daemon("killed", &["--insecure-http"]);
    let done = wait_for(&agent, &host.url, &id, LONG, state_is("succeeded"));
    assert_eq!(done["attempts"], 2, "{done}");
    let resumed = bundle_of(&agent, &host.url, &id);
    assert_eq!(resumed.result.scores, clean.result.scores);
    assert_eq!(resumed.result.compute, clean.result.compute);
    assert_eq!(resumed.result.baseline_metric, clean.result.baseline_metric);
    let log = std::fs::read_to_string(data.join("jobs").join(&id).join("enclave.log")).unwrap();
    assert!(log.contains("1 entries refused"), "{log}");
    assert!(
        host.logged().contains("job resumes after a restart"),
        "{}",
        host.logged()
    );
}

#[test]
fn a_restart_keeps_every_state_resumes_running_and_queued_jobs_and_sigterm_is_graceful() {
    let w = World::new(&[1, 2], 10);
    let data = w.path().join("data");
    let host = w.daemon("data", &["--insecure-http", "--threads", "1"]);
    let agent = client(None);
    let token = token(&data);
    let base = host.url.clone();
    let succeeded = submit(
        &agent,
        &base,
        &token,
        &std::fs::read(job_with_nonce(&w.example, 1)).unwrap(),
    );
    wait_for(&agent, &base, &succeeded, LONG, state_is("succeeded"));
    // A job the key service did not approve fails at key release.
    let failed = submit(
        &agent,
        &base,
        &token,
        &std::fs::read(job_with_nonce(&w.example, 3)).unwrap(),
    );
    let f = wait_for(&agent, &base, &failed, LONG, state_is("failed"));
    assert!(
        f["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not approved"),
        "{f}"
    );
    // One runs, two queue; one of those is cancelled.
    let running = submit(&agent, &base, &token, &w.job("job.json"));
    let queued = submit(
        &agent,
        &base,
        &token,
        &std::fs::read(job_with_nonce(&w.example, 2)).unwrap(),
    );
    let cancelled = submit(
        &agent,
        &base,
        &token,
        &std::fs::read(job_with_nonce(&w.example, 2)).unwrap(),
    );
    let c = post(
        &agent,
        &format!("{base}/v1/jobs/{cancelled}/cancel"),
        Some(&token),
        b"",
    );
    assert_eq!(c.status, 200);
    assert_eq!(c.json()["state"], "cancelled");
    wait_for(&agent, &base, &running, LONG, |j| {
        j["progress"]["done"].as_u64().unwrap_or(0) >= 1
    });
    host.signal("KILL");
    kill_enclaves(&data);
    let host = w.daemon("data", &["--insecure-http", "--threads", "1"]);
    let base = host.url.clone();
    let state = |id: &str| get(&agent, &format!("{base}/v1/jobs/{id}"), "*/*").json();
    assert_eq!(state(&succeeded)["state"], "succeeded");
    assert_eq!(state(&failed)["state"], "failed");
    assert_eq!(state(&cancelled)["state"], "cancelled");
    let r = wait_for(&agent, &base, &running, LONG, state_is("succeeded"));
    assert_eq!(r["attempts"], 2);
    // SIGTERM while the queued job runs: the daemon ends cleanly and the job resumes later.
    wait_for(&agent, &base, &queued, LONG, |j| {
        j["progress"]["done"].as_u64().unwrap_or(0) >= 1 || j["state"] == "succeeded"
    });
    let status = host.signal("TERM");
    assert!(status.success(), "{status}");
    let host = w.daemon("data", &["--insecure-http"]);
    let q = wait_for(&agent, &host.url, &queued, LONG, state_is("succeeded"));
    assert!(q["attempts"].as_u64().unwrap() >= 1, "{q}");
    for id in [&succeeded, &running, &queued] {
        assert_eq!(
            get(&agent, &format!("{}/v1/jobs/{id}", host.url), "*/*").json()["verified"],
            true
        );
    }
}

#[test]
fn hundreds_of_concurrent_creates_and_cancels_lose_nothing() {
    let w = World::new(&[], 3);
    let data = w.path().join("data");
    let host = daemon(
        &data,
        &w.example.join("inputs"),
        "http://127.0.0.1:9",
        &w.image(),
        &["--insecure-http", "--concurrency", "2"],
    );
    let token = token(&data);
    let body = w.job("job.json");
    let base = host.url.clone();
    let results: Vec<(String, u16)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (base, token, body) = (&base, &token, &body);
                s.spawn(move || {
                    let agent = client(None);
                    (0..25)
                        .map(|_| {
                            let id = submit(&agent, base, token, body);
                            let c = post(
                                &agent,
                                &format!("{base}/v1/jobs/{id}/cancel"),
                                Some(token),
                                b"",
                            );
                            assert!(matches!(c.status, 200 | 409), "{}", c.status);
                            (id, c.status)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(results.len(), 200);
    let agent = client(None);
    let page = get(
        &agent,
        &format!("{base}/v1/jobs?limit=500"),
        "application/json",
    )
    .json();
    let listed: Vec<&serde_json::Value> = page["jobs"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 200, "no job lost");
    let ids: HashSet<&str> = listed.iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 200, "no job duplicated");
    for (id, status) in &results {
        let j = wait_for(&agent, &base, id, LONG, |j| {
            j["state"] != "queued" && j["state"] != "running"
        });
        // A 200 cancel left it cancelled; a 409 found it already over (failed: no key service).
        match status {
            200 => assert_eq!(j["state"], "cancelled", "{j}"),
            _ => assert_eq!(j["state"], "failed", "{j}"),
        }
    }
    let metrics = String::from_utf8(get(&agent, &format!("{base}/metrics"), "*/*").body).unwrap();
    let count = |state: &str| -> u64 {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("assay_host_jobs{{state=\"{state}\"}}")))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    assert_eq!(count("cancelled") + count("failed"), 200, "{metrics}");
    assert_eq!(count("queued") + count("running"), 0, "{metrics}");
}

#[test]
fn a_full_disk_is_a_clear_error_and_loses_nothing() {
    let w = World::new(&[], 3);
    let data = w.path().join("small");
    std::fs::create_dir_all(&data).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&data)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!(
            "SKIPPED: cannot mount a small tmpfs here (not root, or no mount namespace); the full-disk case is not exercised"
        );
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&data);
    let host = daemon(
        &data,
        &w.example.join("inputs"),
        "http://127.0.0.1:9",
        &w.image(),
        &["--insecure-http"],
    );
    let agent = client(None);
    let token = token(&data);
    let id = submit(&agent, &host.url, &token, &w.job("job.json"));
    wait_for(&agent, &host.url, &id, LONG, state_is("failed"));
    // Fill the disk, leaving nothing for the store.
    let _ = std::fs::write(data.join("filler"), vec![0u8; 2 << 20]);
    let mut refused = None;
    for _ in 0..50 {
        let a = post(
            &agent,
            &format!("{}/v1/jobs", host.url),
            Some(&token),
            &w.job("job.json"),
        );
        if a.status != 201 {
            refused = Some(a);
            break;
        }
    }
    let a = refused.expect("a full disk refuses a new job");
    assert_eq!(a.status, 500, "{}", String::from_utf8_lossy(&a.body));
    let p = a.json();
    assert_eq!(p["type"], "urn:assay:problem:store", "{p}");
    assert!(p["detail"].as_str().unwrap().contains("full"), "{p}");
    // What was stored is still there and still served.
    std::fs::remove_file(data.join("filler")).unwrap();
    let j = get(&agent, &format!("{}/v1/jobs/{id}", host.url), "*/*");
    assert_eq!(j.json()["state"], "failed");
}

#[test]
fn the_api_keeps_to_its_openapi_description_under_schemathesis() {
    let Some(st) = provided(
        "ASSAY_SCHEMATHESIS",
        "ASSAY_REQUIRE_SCHEMATHESIS",
        "set ASSAY_SCHEMATHESIS to schemathesis's executable (scripts/test installs it from PyPI)",
    ) else {
        return;
    };
    let w = World::new(&[], 3);
    let data = w.path().join("data");
    let host = w.daemon("data", &["--insecure-http"]);
    let agent = client(None);
    let token = token(&data);
    // A succeeded job, so that its routes have something to answer with.
    let id = submit(&agent, &host.url, &token, &w.job("job.json"));
    wait_for(&agent, &host.url, &id, LONG, state_is("succeeded"));
    let o = Command::new(st)
        .arg("run")
        .arg(format!("{}/openapi.json", host.url))
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "40",
            "--seed",
            "1",
            "--header",
        ])
        .arg(format!("Authorization: Bearer {token}"))
        .current_dir(w.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("Tested: 12"),
        "every operation was tested: {out}"
    );
}

#[test]
fn assay_host_run_takes_one_job_through_the_same_runner() {
    let w = World::new(&[], 3);
    // The job file beside its inputs: `run`'s paths are its folder's.
    let job = w.example.join("inputs/job.json");
    std::fs::copy(w.example.join("job.json"), &job).unwrap();
    let out = w.path().join("bundle.json");
    let run = |job: &Path| {
        Command::new(bin("assay-host"))
            .arg("run")
            .arg(job)
            .arg("--out")
            .arg(&out)
            .arg("--cbor")
            .arg(w.path().join("bundle.cbor"))
            .args(["--key-service", &w.ks.url, "--image"])
            .arg(w.image())
            .arg("--sim-chain")
            .arg(sim_dir())
            .arg("--enclave")
            .arg(bin("assay-enclave"))
            .output()
            .unwrap()
    };
    let o = run(&job);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("succeeded"));
    let bundle = Bundle::parse(&std::fs::read(&out).unwrap(), "run").unwrap();
    assert_eq!(
        Bundle::parse(
            &std::fs::read(w.path().join("bundle.cbor")).unwrap(),
            "cbor"
        )
        .unwrap(),
        bundle
    );
    assert_eq!(bundle.result.scores.len(), 3);
    // A job the key service did not approve: exit 1, the reason said, no bundle.
    std::fs::remove_file(&out).unwrap();
    let other = w.example.join("inputs/other.json");
    let mut v: serde_json::Value = serde_json::from_slice(&w.job("job.json")).unwrap();
    v["forge"]["nonce"] = format!("0x{}", "05".repeat(32)).into();
    std::fs::write(&other, v.to_string()).unwrap();
    let o = run(&other);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not approved"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.exists());
}
