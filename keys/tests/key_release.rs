//! Key release: the key service releases the holdout key only to a report that passes the AMD
//! chain, the policy (measurement, no debug) and binds a fresh nonce and the enclave's X25519 key.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::Address;
use assay_attestation::Verifier;
use assay_attestation::abi::ReportRequest;
use assay_attestation::testing::{SimulatedChain, SimulatedSp, default_chain_dir};
use assay_attestation::validate::Policy;
use assay_attestation::verify::VekKind;
use assay_forge::binding::key_release_report_data;
use assay_keys::protocol::KeyRequest;
use assay_keys::service::KeyService;
use assay_keys::wrap::ReleaseKey;
use assay_keys::{DataKey, Error};

const RESOURCE: &str = "holdout";
const MEASUREMENT: [u8; 48] = [0x5a; 48];

fn chain() -> SimulatedChain {
    SimulatedChain::load(&default_chain_dir()).unwrap()
}

/// The simulated AMD-SP of a guest launched with `measurement`.
fn sp(measurement: [u8; 48]) -> SimulatedSp {
    SimulatedSp::new(chain(), measurement)
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

fn service(key: &DataKey, ttl: Duration) -> KeyService {
    KeyService::new(
        sim_verifier(),
        HashMap::from([(RESOURCE.to_owned(), key.clone())]),
        ttl,
    )
    .unwrap()
}

/// An attested request as the enclave makes it, with `sp` vouching for the report data.
fn request(
    sp: &SimulatedSp,
    nonce: [u8; 32],
    release: &ReleaseKey,
    enclave: Address,
) -> KeyRequest {
    let report = sp.report(&ReportRequest {
        report_data: key_release_report_data(&nonce, &release.public(), enclave),
        vmpl: 0,
    });
    KeyRequest {
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

#[test]
fn a_key_service_refuses_a_policy_that_pins_no_measurement() {
    let keys = || HashMap::from([(RESOURCE.to_owned(), DataKey::generate())]);
    let mut open = sim_verifier();
    open.policy.measurements = None;
    let e = KeyService::new(open.clone(), keys(), Duration::from_secs(60)).unwrap_err();
    assert!(matches!(e, Error::UnpinnedPolicy), "{e}");
    assert!(e.to_string().contains("measurement"), "{e}");
    open.policy.measurements = Some(Vec::new());
    assert!(matches!(
        KeyService::new(open, keys(), Duration::from_secs(60)),
        Err(Error::UnpinnedPolicy)
    ));
    // Reference values pin one: accepted.
    KeyService::new(sim_verifier(), keys(), Duration::from_secs(60)).unwrap();
}

#[test]
fn a_good_report_gets_the_key_and_only_its_x25519_key_opens_it() {
    let key = DataKey::generate();
    let ks = service(&key, Duration::from_secs(60));
    let release = ReleaseKey::generate();
    let nonce = ks.challenge().nonce;
    let enclave = Address::repeat_byte(7);
    let response = ks
        .release(&request(&sp(MEASUREMENT), nonce, &release, enclave))
        .unwrap();
    let got = release
        .unwrap_key(&response.wrapped, &nonce, RESOURCE)
        .unwrap();
    assert_eq!(got.id(), key.id());
    // Another enclave key, another nonce or another resource label cannot open it.
    assert!(matches!(
        ReleaseKey::generate().unwrap_key(&response.wrapped, &nonce, RESOURCE),
        Err(Error::Unwrap)
    ));
    assert!(
        release
            .unwrap_key(&response.wrapped, &[0; 32], RESOURCE)
            .is_err()
    );
    assert!(
        release
            .unwrap_key(&response.wrapped, &nonce, "other")
            .is_err()
    );
}

fn refused(ks: &KeyService, req: &KeyRequest) -> String {
    let e = ks.release(req).expect_err("must be refused");
    format!("{}: {e}", e.check())
}

#[test]
fn refused_for_wrong_measurement_debug_policy_tampered_report_and_binding() {
    let key = DataKey::generate();
    let ks = service(&key, Duration::from_secs(60));
    let enclave = Address::repeat_byte(7);
    let release = ReleaseKey::generate();

    let wrong = sp([0x11; 48]);
    let e = refused(
        &ks,
        &request(&wrong, ks.challenge().nonce, &release, enclave),
    );
    assert!(e.starts_with("policy") && e.contains("measurement"), "{e}");

    let mut debug = sp(MEASUREMENT);
    debug.policy |= 1 << 19;
    let e = refused(
        &ks,
        &request(&debug, ks.challenge().nonce, &release, enclave),
    );
    assert!(e.starts_with("policy") && e.contains("debug"), "{e}");

    let good = sp(MEASUREMENT);
    for at in [0x50, 0x90, 0x1A0, 0x2A0 - 1, 0x2A0 + 5] {
        let mut req = request(&good, ks.challenge().nonce, &release, enclave);
        req.report[at] ^= 1;
        let e = refused(&ks, &req);
        assert!(!e.is_empty(), "tampered byte {at:#x}");
    }
    let mut req = request(&good, ks.challenge().nonce, &release, enclave);
    req.report[0x50] ^= 1; // inside REPORT_DATA
    assert!(refused(&ks, &req).starts_with("signature"));

    // REPORT_DATA binds another X25519 key than the one the key would be sealed to.
    let mut req = request(&good, ks.challenge().nonce, &release, enclave);
    req.x25519 = ReleaseKey::generate().public();
    assert!(refused(&ks, &req).starts_with("report_data"));
    // … or another enclave address.
    let mut req = request(&good, ks.challenge().nonce, &release, enclave);
    req.enclave = Address::repeat_byte(8);
    assert!(refused(&ks, &req).starts_with("report_data"));

    // Certificates missing: no VEK.
    let mut req = request(&good, ks.challenge().nonce, &release, enclave);
    req.certificates.clear();
    assert!(refused(&ks, &req).starts_with("certificates"));

    // Unknown resource.
    let mut req = request(&good, ks.challenge().nonce, &release, enclave);
    req.resource = "other".into();
    assert!(refused(&ks, &req).starts_with("resource"));

    // The simulated root not named: the chain does not end at a trusted root.
    let mut strict = sim_verifier();
    strict.trust = assay_attestation::verify::TrustStore::amd();
    let ks2 = KeyService::new(
        strict,
        HashMap::from([(RESOURCE.to_owned(), key.clone())]),
        Duration::from_secs(60),
    )
    .unwrap();
    let e = refused(
        &ks2,
        &request(&good, ks2.challenge().nonce, &release, enclave),
    );
    assert!(e.starts_with("chain"), "{e}");
}

#[test]
fn nonces_are_single_use_issued_and_fresh() {
    let key = DataKey::generate();
    let ks = service(&key, Duration::from_secs(60));
    let sp = sp(MEASUREMENT);
    let release = ReleaseKey::generate();
    let enclave = Address::repeat_byte(7);
    // Never issued.
    let e = refused(&ks, &request(&sp, [3; 32], &release, enclave));
    assert!(e.starts_with("nonce"), "{e}");
    // Used twice: the replay is refused.
    let req = request(&sp, ks.challenge().nonce, &release, enclave);
    ks.release(&req).unwrap();
    assert!(refused(&ks, &req).starts_with("nonce"));
    // Spent by a failed attempt too.
    let mut bad = request(&sp, ks.challenge().nonce, &release, enclave);
    bad.report[0x60] ^= 1;
    assert!(ks.release(&bad).is_err());
    bad.report[0x60] ^= 1;
    assert!(refused(&ks, &bad).starts_with("nonce"));
    // Expired.
    let stale = service(&key, Duration::ZERO);
    let e = refused(
        &stale,
        &request(&sp, stale.challenge().nonce, &release, enclave),
    );
    assert!(e.contains("expired"), "{e}");
}

#[test]
fn key_release_over_http() {
    let key = DataKey::generate();
    let ks = Arc::new(service(&key, Duration::from_secs(60)));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(assay_keys::http::serve(listener, ks));
    let client = assay_keys::http::Client::new(&url);
    let sp = sp(MEASUREMENT);
    let release = ReleaseKey::generate();
    let enclave = Address::repeat_byte(7);
    let nonce = client.challenge().unwrap().nonce;
    let response = client
        .request_key(&request(&sp, nonce, &release, enclave))
        .unwrap();
    assert_eq!(
        release
            .unwrap_key(&response.wrapped, &nonce, RESOURCE)
            .unwrap()
            .id(),
        key.id()
    );
    // A refusal arrives with the failed check named.
    let e = client
        .request_key(&request(&sp, nonce, &release, enclave))
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
    let key = DataKey::generate();
    let ks = service(&key, Duration::from_secs(60));
    let release = ReleaseKey::generate();
    let mut req = request(
        &sp(MEASUREMENT),
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
    let key = DataKey::generate();
    let ks = Arc::new(service(&key, Duration::from_secs(60)));
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
    let mut amd_only = sim_verifier();
    amd_only.trust = assay_attestation::verify::TrustStore::amd();
    let ks = KeyService::new(
        amd_only,
        HashMap::from([(RESOURCE.to_owned(), key)]),
        Duration::from_secs(60),
    )
    .unwrap();
    assert!(!ks.trusts_test_root());
    assay_keys::http::check_address(&ks, anywhere).unwrap();
}

/// A key service on loopback with `limits`, and its URL.
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

/// A client that starts a request and never finishes its headers.
fn half_open(addr: std::net::SocketAddr) -> std::net::TcpStream {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"POST /v1/challenge HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    s
}

#[test]
fn the_key_service_answers_while_hundreds_of_connections_hang() {
    let key = DataKey::generate();
    let ks = Arc::new(service(&key, Duration::from_secs(60)));
    let (_rt, addr) = serve_limited(ks, assay_keys::http::Limits::default());
    let hanging: Vec<_> = (0..300).map(|_| half_open(addr)).collect();
    let client = assay_keys::http::Client::new(&format!("http://{addr}"));
    for _ in 0..3 {
        client.challenge().unwrap();
    }
    drop(hanging);
}

#[test]
fn a_connection_that_never_finishes_its_headers_is_closed_and_over_the_limit_none_is_kept() {
    use std::io::Read;
    let key = DataKey::generate();
    let ks = Arc::new(service(&key, Duration::from_secs(60)));
    let limits = assay_keys::http::Limits {
        max_connections: 4,
        header_timeout: Duration::from_millis(300),
        connection_timeout: Duration::from_secs(30),
    };
    let (_rt, addr) = serve_limited(ks, limits);
    // The server closes it (after answering 408, or not): reading ends instead of waiting
    // for the 20 s this read would allow.
    let mut slow = half_open(addr);
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut rest = Vec::new();
    let closed = slow.read_to_end(&mut rest);
    assert!(closed.is_ok(), "not closed: {closed:?}");
    // Over the connection limit, new connections are closed as they arrive.
    let held: Vec<_> = (0..4).map(|_| half_open(addr)).collect();
    std::thread::sleep(Duration::from_millis(50));
    let mut extra = half_open(addr);
    extra
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut got = Vec::new();
    assert!(extra.read_to_end(&mut got).is_ok());
    assert!(got.is_empty(), "closed without an answer");
    drop(held);
    // Once the held ones time out, the service answers again.
    let client = assay_keys::http::Client::new(&format!("http://{addr}"));
    let answered = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        client.challenge().is_ok()
    });
    assert!(answered);
}
