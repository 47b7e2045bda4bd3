//! Key release: the key service releases the holdout key only to a report that passes the AMD
//! chain and the policy (pinned measurement, no debug, VMPL 0), for a job the Forge approved,
//! binding a fresh nonce, the enclave's X25519 key and address and the job (REPORT_DATA and
//! HOST_DATA), at most `max_releases` times per job, each release logged; the answer opens only
//! with the service key the job pins.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B256, FixedBytes};
use assay_attestation::Verifier;
use assay_attestation::abi::ReportRequest;
use assay_attestation::testing::{SimulatedChain, SimulatedSp, default_chain_dir};
use assay_attestation::validate::Policy;
use assay_attestation::verify::VekKind;
use assay_forge::binding::key_release_report_data;
use assay_forge::job::{
    AttributionRules, ContributionsPin, ForgeRef, HoldoutCommitment, JOB_FORMAT, JobSpec,
    KeyReleaseSpec, ModelPin, RecipePin,
};
use assay_keys::protocol::KeyRequest;
use assay_keys::service::{Config, KeyService};
use assay_keys::wrap::{ReleaseKey, ServiceKey};
use assay_keys::{DataKey, Error};

const RESOURCE: &str = "holdout";
const MEASUREMENT: [u8; 48] = [0x5a; 48];

fn chain() -> SimulatedChain {
    SimulatedChain::load(&default_chain_dir()).unwrap()
}

/// A verifier trusting AMD's roots and, named explicitly, the simulated ARK; the policy allows
/// exactly `MEASUREMENT`.
fn sim_verifier() -> Verifier {
    let mut v = Verifier::new(time::OffsetDateTime::now_utc());
    v.trust = chain().trust();
    v.policy = Policy::from_toml(
        &format!("measurements = [\"{}\"]", hex::encode(MEASUREMENT)),
        "test policy",
    )
    .unwrap();
    v
}

/// A job approved for `service`'s key and `key`'s holdout.
fn job(key: &DataKey, service: &ServiceKey, nonce: u8) -> JobSpec {
    JobSpec {
        format: JOB_FORMAT.into(),
        forge: ForgeRef {
            id: B256::repeat_byte(0xf0),
            chain_id: 8453,
            contract: Address::repeat_byte(0xfc),
            nonce: B256::repeat_byte(nonce),
        },
        recipe: RecipePin {
            hash: B256::repeat_byte(1),
        },
        model: ModelPin {
            weights_sha256: B256::repeat_byte(2),
        },
        contributions: ContributionsPin {
            sha256: B256::repeat_byte(3),
            data_root: B256::repeat_byte(4),
        },
        holdout: HoldoutCommitment {
            key_id: FixedBytes(key.id()),
            sha256: B256::repeat_byte(5),
        },
        key_release: Some(KeyReleaseSpec {
            service_key: service.public(),
            resource: RESOURCE.into(),
        }),
        attribution: AttributionRules::default(),
    }
}

/// A key service, the job it approves and what it takes to ask for its key.
struct Fixture {
    key: DataKey,
    service_key: ServiceKey,
    job: JobSpec,
}

impl Fixture {
    fn new() -> Fixture {
        let key = DataKey::generate();
        let service_key = ServiceKey::generate();
        let job = job(&key, &service_key, 0x99);
        Fixture {
            key,
            service_key,
            job,
        }
    }

    fn config(&self) -> Config {
        Config {
            verifier: sim_verifier(),
            resources: HashMap::from([(RESOURCE.to_owned(), self.key.clone())]),
            service_key: self.service_key.clone(),
            approved: vec![self.job.clone()],
            nonce_ttl: Duration::from_secs(60),
            max_releases: 3,
            release_log: None,
        }
    }

    fn service(&self) -> KeyService {
        KeyService::new(self.config()).unwrap()
    }

    /// The simulated AMD-SP of a guest launched for this job with `measurement`.
    fn sp(&self, measurement: [u8; 48]) -> SimulatedSp {
        let mut sp = SimulatedSp::new(chain(), measurement);
        sp.host_data = self.job.hash().0;
        sp
    }

    /// An attested request as the enclave makes it, with `sp` vouching for the report data.
    fn request(
        &self,
        sp: &SimulatedSp,
        nonce: [u8; 32],
        release: &ReleaseKey,
        enclave: Address,
    ) -> KeyRequest {
        let report = sp.report(&ReportRequest {
            report_data: key_release_report_data(
                &nonce,
                &release.public(),
                enclave,
                self.job.hash(),
            ),
            vmpl: 0,
        });
        KeyRequest {
            job: self.job.clone(),
            resource: RESOURCE.into(),
            nonce,
            enclave,
            x25519: release.public(),
            report: report.to_vec(),
            certificates: sp
                .chain()
                .certificates(VekKind::Vcek)
                .iter()
                .map(|c| hex::encode(c.der()))
                .collect(),
        }
    }

    /// Opens an answer as the enclave does, with the service key the job pins.
    fn open(
        &self,
        release: &ReleaseKey,
        wrapped: &assay_keys::wrap::WrappedKey,
        nonce: &[u8; 32],
    ) -> Result<DataKey, Error> {
        let pinned = self.job.key_release.as_ref().unwrap().service_key.0;
        release.unwrap_key(wrapped, &pinned, nonce, self.job.hash(), RESOURCE)
    }
}

fn refused(ks: &KeyService, req: &KeyRequest) -> String {
    let e = ks.release(req).expect_err("must be refused");
    format!("{}: {e}", e.check())
}

#[test]
fn a_key_service_refuses_a_policy_that_pins_no_measurement() {
    let f = Fixture::new();
    let mut config = f.config();
    config.verifier.policy.measurements = None;
    let e = KeyService::new(config).unwrap_err();
    assert!(matches!(e, Error::UnpinnedPolicy), "{e}");
    assert!(e.to_string().contains("measurement"), "{e}");
    let mut config = f.config();
    config.verifier.policy.measurements = Some(Vec::new());
    assert!(matches!(
        KeyService::new(config),
        Err(Error::UnpinnedPolicy)
    ));
    // Reference values pin one: accepted.
    KeyService::new(f.config()).unwrap();
}

#[test]
fn a_key_service_serves_approved_jobs_it_can_serve_only() {
    let f = Fixture::new();
    let mut config = f.config();
    config.approved.clear();
    assert!(matches!(KeyService::new(config), Err(Error::NoApprovedJob)));
    for (job, says) in [
        (
            {
                let mut j = f.job.clone();
                j.key_release = None;
                j
            },
            "names no key service",
        ),
        (
            job(&f.key, &ServiceKey::generate(), 1),
            "pins the service key",
        ),
        (
            {
                let mut j = f.job.clone();
                j.key_release.as_mut().unwrap().resource = "other".into();
                j
            },
            "is not served here",
        ),
        (
            job(&DataKey::generate(), &f.service_key, 1),
            "encrypted under key id",
        ),
    ] {
        let mut config = f.config();
        config.approved = vec![job];
        let e = KeyService::new(config).unwrap_err();
        assert!(
            matches!(e, Error::ApprovedJob { .. }) && e.to_string().contains(says),
            "{says}: {e}"
        );
    }
}

#[test]
fn a_good_report_gets_the_key_and_only_its_enclave_and_the_pinned_service_open_it() {
    let f = Fixture::new();
    let ks = f.service();
    let release = ReleaseKey::generate();
    let nonce = ks.challenge().nonce;
    let enclave = Address::repeat_byte(7);
    let response = ks
        .release(&f.request(&f.sp(MEASUREMENT), nonce, &release, enclave))
        .unwrap();
    assert_eq!(
        f.open(&release, &response.wrapped, &nonce).unwrap().id(),
        f.key.id()
    );
    assert_eq!(ks.releases(f.job.hash()), 1);
    // Another enclave key, another nonce, another job or another service key cannot open it.
    assert!(matches!(
        f.open(&ReleaseKey::generate(), &response.wrapped, &nonce),
        Err(Error::Unwrap)
    ));
    assert!(f.open(&release, &response.wrapped, &[0; 32]).is_err());
    let pinned = f.service_key.public().0;
    assert!(
        release
            .unwrap_key(&response.wrapped, &pinned, &nonce, B256::ZERO, RESOURCE)
            .is_err()
    );
    let e = release
        .unwrap_key(
            &response.wrapped,
            &ServiceKey::generate().public().0,
            &nonce,
            f.job.hash(),
            RESOURCE,
        )
        .unwrap_err();
    assert!(e.to_string().contains("service key the job pins"), "{e}");
}

#[test]
fn refused_for_wrong_measurement_debug_vmpl_tampered_report_and_binding() {
    let f = Fixture::new();
    let ks = f.service();
    let enclave = Address::repeat_byte(7);
    let release = ReleaseKey::generate();

    let wrong = f.sp([0x11; 48]);
    let e = refused(
        &ks,
        &f.request(&wrong, ks.challenge().nonce, &release, enclave),
    );
    assert!(e.starts_with("policy") && e.contains("measurement"), "{e}");

    let mut debug = f.sp(MEASUREMENT);
    debug.policy |= 1 << 19;
    let e = refused(
        &ks,
        &f.request(&debug, ks.challenge().nonce, &release, enclave),
    );
    assert!(e.starts_with("policy") && e.contains("debug"), "{e}");

    let good = f.sp(MEASUREMENT);
    // A report requested at VMPL 1 did not come from the enclave.
    let mut req = f.request(&good, ks.challenge().nonce, &release, enclave);
    let data = key_release_report_data(&req.nonce, &release.public(), enclave, f.job.hash());
    req.report = good
        .report(&ReportRequest {
            report_data: data,
            vmpl: 1,
        })
        .to_vec();
    let e = refused(&ks, &req);
    assert!(e.starts_with("policy") && e.contains("vmpl"), "{e}");

    for at in [0x50, 0x90, 0x1A0, 0x2A0 - 1, 0x2A0 + 5] {
        let mut req = f.request(&good, ks.challenge().nonce, &release, enclave);
        req.report[at] ^= 1;
        let e = refused(&ks, &req);
        assert!(!e.is_empty(), "tampered byte {at:#x}");
    }
    let mut req = f.request(&good, ks.challenge().nonce, &release, enclave);
    req.report[0x50] ^= 1; // inside REPORT_DATA
    assert!(refused(&ks, &req).starts_with("signature"));

    // REPORT_DATA binds another X25519 key than the one the key would be sealed to.
    let mut req = f.request(&good, ks.challenge().nonce, &release, enclave);
    req.x25519 = ReleaseKey::generate().public();
    assert!(refused(&ks, &req).starts_with("report_data"));
    // … or another enclave address.
    let mut req = f.request(&good, ks.challenge().nonce, &release, enclave);
    req.enclave = Address::repeat_byte(8);
    assert!(refused(&ks, &req).starts_with("report_data"));

    // Certificates missing: no VEK.
    let mut req = f.request(&good, ks.challenge().nonce, &release, enclave);
    req.certificates.clear();
    assert!(refused(&ks, &req).starts_with("certificates"));

    // Another resource than the job's.
    let mut req = f.request(&good, ks.challenge().nonce, &release, enclave);
    req.resource = "other".into();
    assert!(refused(&ks, &req).starts_with("resource"));

    // The simulated root not named: the chain does not end at a trusted root.
    let mut config = f.config();
    config.verifier.trust = assay_attestation::verify::TrustStore::amd();
    let ks2 = KeyService::new(config).unwrap();
    let e = refused(
        &ks2,
        &f.request(&good, ks2.challenge().nonce, &release, enclave),
    );
    assert!(e.starts_with("chain"), "{e}");
}

#[test]
fn refused_for_a_job_not_approved_or_launched_for_another_job() {
    let f = Fixture::new();
    let ks = f.service();
    let enclave = Address::repeat_byte(7);
    let release = ReleaseKey::generate();
    let good = f.sp(MEASUREMENT);
    // The host changed the job (here: the compute share) and attested the changed one.
    let mut changed = f.job.clone();
    changed.attribution.compute_bps = 10_000;
    changed.attribution.providers = vec![assay_forge::job::ProviderSpec {
        address: Address::repeat_byte(0x66),
        units: 1,
    }];
    let other = Fixture {
        key: f.key.clone(),
        service_key: f.service_key.clone(),
        job: changed,
    };
    let e = refused(
        &ks,
        &other.request(
            &other.sp(MEASUREMENT),
            ks.challenge().nonce,
            &release,
            enclave,
        ),
    );
    assert!(e.starts_with("job") && e.contains("not approved"), "{e}");
    // The approved job, but REPORT_DATA binds another job's hash.
    let mut req = f.request(&good, ks.challenge().nonce, &release, enclave);
    let data = key_release_report_data(&req.nonce, &release.public(), enclave, other.job.hash());
    req.report = good
        .report(&ReportRequest {
            report_data: data,
            vmpl: 0,
        })
        .to_vec();
    assert!(refused(&ks, &req).starts_with("report_data"));
    // The approved job, but the guest was launched with another HOST_DATA.
    let mut elsewhere = f.sp(MEASUREMENT);
    elsewhere.host_data = [0x42; 32];
    let e = refused(
        &ks,
        &f.request(&elsewhere, ks.challenge().nonce, &release, enclave),
    );
    assert!(e.starts_with("host_data"), "{e}");
}

#[test]
fn a_job_gets_its_key_a_few_times_only_and_every_release_is_logged() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("releases.jsonl");
    let mut config = f.config();
    config.max_releases = 2;
    config.release_log = Some(log.clone());
    let ks = KeyService::new(config).unwrap();
    let sp = f.sp(MEASUREMENT);
    let release = ReleaseKey::generate();
    let enclave = Address::repeat_byte(7);
    for _ in 0..2 {
        ks.release(&f.request(&sp, ks.challenge().nonce, &release, enclave))
            .unwrap();
    }
    let e = ks
        .release(&f.request(&sp, ks.challenge().nonce, &release, enclave))
        .unwrap_err();
    assert!(matches!(e, Error::ReleaseLimit { max: 2, .. }), "{e}");
    assert_eq!(e.http_status(), 429);
    // Two lines, each naming the job, the enclave and the measurement.
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["job"], f.job.hash().to_string());
    assert_eq!(lines[1]["count"], 2);
    assert_eq!(lines[1]["measurement"], hex::encode(MEASUREMENT));
    assert_eq!(lines[1]["test_root"], true);
    // A restarted service reads its log: the limit holds across restarts.
    let mut config = f.config();
    config.max_releases = 2;
    config.release_log = Some(log.clone());
    let restarted = KeyService::new(config).unwrap();
    assert_eq!(restarted.releases(f.job.hash()), 2);
    let e = restarted
        .release(&f.request(&sp, restarted.challenge().nonce, &release, enclave))
        .unwrap_err();
    assert!(matches!(e, Error::ReleaseLimit { .. }), "{e}");
    // A log it cannot read is an error at start, naming the line.
    std::fs::write(&log, "{not json\n").unwrap();
    let mut config = f.config();
    config.release_log = Some(log.clone());
    let e = KeyService::new(config).unwrap_err();
    assert!(e.to_string().contains("line 1"), "{e}");
    // A log it cannot write: nothing is released.
    let mut config = f.config();
    config.release_log = Some(dir.path().join("no-such-dir/releases.jsonl"));
    let ks = KeyService::new(config).unwrap();
    let e = ks
        .release(&f.request(&sp, ks.challenge().nonce, &release, enclave))
        .unwrap_err();
    assert!(matches!(e, Error::ReleaseLog { .. }), "{e}");
    assert_eq!(ks.releases(f.job.hash()), 0);
}

#[test]
fn nonces_are_single_use_issued_and_fresh() {
    let f = Fixture::new();
    let ks = f.service();
    let sp = f.sp(MEASUREMENT);
    let release = ReleaseKey::generate();
    let enclave = Address::repeat_byte(7);
    // Never issued.
    let e = refused(&ks, &f.request(&sp, [3; 32], &release, enclave));
    assert!(e.starts_with("nonce"), "{e}");
    // Used twice: the replay is refused.
    let req = f.request(&sp, ks.challenge().nonce, &release, enclave);
    ks.release(&req).unwrap();
    assert!(refused(&ks, &req).starts_with("nonce"));
    // Spent by a failed attempt too.
    let mut bad = f.request(&sp, ks.challenge().nonce, &release, enclave);
    bad.report[0x60] ^= 1;
    assert!(ks.release(&bad).is_err());
    bad.report[0x60] ^= 1;
    assert!(refused(&ks, &bad).starts_with("nonce"));
    // Expired.
    let mut config = f.config();
    config.nonce_ttl = Duration::ZERO;
    let stale = KeyService::new(config).unwrap();
    let e = refused(
        &stale,
        &f.request(&sp, stale.challenge().nonce, &release, enclave),
    );
    assert!(e.contains("expired"), "{e}");
}

/// A key service on loopback with `limits`, and its address.
fn serve_limited(
    ks: Arc<KeyService>,
    limits: assay_keys::http::Limits,
) -> (tokio::runtime::Runtime, std::net::SocketAddr) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(assay_keys::http::serve_with(listener, ks, limits));
    (rt, addr)
}

#[test]
fn key_release_over_http() {
    let f = Fixture::new();
    let (_rt, addr) = serve_limited(Arc::new(f.service()), assay_keys::http::Limits::default());
    let client = assay_keys::http::Client::new(&format!("http://{addr}"));
    let sp = f.sp(MEASUREMENT);
    let release = ReleaseKey::generate();
    let enclave = Address::repeat_byte(7);
    let nonce = client.challenge().unwrap().nonce;
    let response = client
        .request_key(&f.request(&sp, nonce, &release, enclave))
        .unwrap();
    assert_eq!(
        f.open(&release, &response.wrapped, &nonce).unwrap().id(),
        f.key.id()
    );
    // A refusal arrives with the failed check named.
    let e = client
        .request_key(&f.request(&sp, nonce, &release, enclave))
        .unwrap_err();
    assert!(
        matches!(&e, Error::Refused { check, .. } if check == "nonce"),
        "{e}"
    );
    // An unreachable service is a transport error naming the URL.
    let e = assay_keys::http::Client::new("http://127.0.0.1:9")
        .challenge()
        .unwrap_err();
    assert!(e.to_string().contains("127.0.0.1:9"), "{e}");
}

#[test]
fn malformed_requests_are_named() {
    let f = Fixture::new();
    let ks = f.service();
    let release = ReleaseKey::generate();
    let mut req = f.request(
        &f.sp(MEASUREMENT),
        ks.challenge().nonce,
        &release,
        Address::repeat_byte(7),
    );
    req.certificates[1] = "zz".into();
    let e = refused(&ks, &req);
    assert!(
        e.starts_with("request") && e.contains("certificates[1]"),
        "{e}"
    );
}

#[test]
fn a_service_trusting_a_test_root_serves_on_loopback_only() {
    let f = Fixture::new();
    let ks = Arc::new(f.service());
    assert!(ks.trusts_test_root());
    let anywhere: std::net::SocketAddr = "0.0.0.0:8470".parse().unwrap();
    let e = assay_keys::http::check_address(&ks, anywhere).unwrap_err();
    assert!(e.to_string().contains("loopback address only"), "{e}");
    assay_keys::http::check_address(&ks, "127.0.0.1:8470".parse().unwrap()).unwrap();
    assay_keys::http::check_address(&ks, "[::1]:8470".parse().unwrap()).unwrap();
    // serve itself refuses (it returns at once instead of serving).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let e = rt
        .block_on(async {
            let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
            assay_keys::http::serve(listener, ks.clone()).await
        })
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    // With AMD's roots only, any address will do.
    let mut config = f.config();
    config.verifier.trust = assay_attestation::verify::TrustStore::amd();
    let ks = KeyService::new(config).unwrap();
    assert!(!ks.trusts_test_root());
    assay_keys::http::check_address(&ks, anywhere).unwrap();
}

/// A client that starts a request and never finishes its headers.
fn half_open(addr: std::net::SocketAddr) -> std::net::TcpStream {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"POST /v1/challenge HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    s
}

/// Whether the server closed `stream`: reading ends (with nothing, or with a 408 answer) or the
/// connection is reset (the server closed it with the unread request in its buffer), instead
/// of waiting out the read timeout.
fn closed_by_server(stream: &mut std::net::TcpStream) -> Result<Vec<u8>, std::io::Error> {
    use std::io::Read;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut got = Vec::new();
    match stream.read_to_end(&mut got) {
        Ok(_) => Ok(got),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(got),
        Err(e) => Err(e),
    }
}

#[test]
fn the_key_service_answers_while_hundreds_of_connections_hang() {
    let f = Fixture::new();
    let (_rt, addr) = serve_limited(Arc::new(f.service()), assay_keys::http::Limits::default());
    let hanging: Vec<_> = (0..300).map(|_| half_open(addr)).collect();
    let client = assay_keys::http::Client::new(&format!("http://{addr}"));
    for _ in 0..3 {
        client.challenge().unwrap();
    }
    drop(hanging);
}

#[test]
fn a_connection_that_never_finishes_its_headers_is_closed() {
    let f = Fixture::new();
    let limits = assay_keys::http::Limits {
        max_connections: 4,
        header_timeout: Duration::from_millis(300),
        connection_timeout: Duration::from_secs(30),
    };
    let (_rt, addr) = serve_limited(Arc::new(f.service()), limits);
    let mut slow = half_open(addr);
    let closed = closed_by_server(&mut slow);
    assert!(closed.is_ok(), "not closed: {closed:?}");
}

#[test]
fn over_the_connection_limit_new_connections_are_closed_and_later_served() {
    let f = Fixture::new();
    // Headers may take long here, so the held connections stay held while the test runs.
    let limits = assay_keys::http::Limits {
        max_connections: 4,
        header_timeout: Duration::from_secs(60),
        connection_timeout: Duration::from_secs(60),
    };
    let (_rt, addr) = serve_limited(Arc::new(f.service()), limits);
    let held: Vec<_> = (0..4).map(|_| half_open(addr)).collect();
    // The server takes the four before the fifth arrives.
    std::thread::sleep(Duration::from_millis(200));
    let mut extra = half_open(addr);
    let got = closed_by_server(&mut extra).expect("the fifth connection is closed");
    assert!(got.is_empty(), "closed without an answer");
    // Once the held ones go away, the service answers again.
    drop(held);
    let client = assay_keys::http::Client::new(&format!("http://{addr}"));
    let answered = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        client.challenge().is_ok()
    });
    assert!(answered);
}
