//! Bundles made by the enclave's sealing step with the simulated AMD-SP and the `none` provider:
//! accepted when everything holds, rejected when any field is tampered, a `none` bundle never
//! passes a policy that requires a TEE, a result that breaks a rule of the job it commits to is
//! refused, and version-1 bundles still verify, marked as such.

use alloy_primitives::{Address, B256};
use assay_enclave::evidence::EvidenceProvider;
use assay_enclave::evidence::none::NoTee;
use assay_enclave::identity::Signer;
use assay_enclave::job::seal;
use assay_forge::job::JobSpec;
use assay_forge::result::{EvalResult, Wad};
use assay_forge::{Bundle, BundleVerifier, Pins, eip712::Domain};
use assay_tests::forge::{
    commitment, coordinator_key_file, domain_of, sample_bundle, sample_job, sample_result,
    version_1_bundle,
};
use assay_tests::sim::{InProcessSp, MEASUREMENT, sim_verifier};
use serde_json::Value;

const SCORES: [f64; 4] = [0.184, 0.142, -0.02, 0.052];

fn domain() -> Domain {
    domain_of(&sample_job(true, 4))
}

/// The simulated AMD-SP of a guest launched with `measurement` for the sample TEE job of `n`
/// contributions.
fn sp(measurement: [u8; 48], n: usize) -> InProcessSp {
    InProcessSp::launched(measurement, sample_job(true, n).hash())
}

fn sim_bundle(signer: &Signer) -> Bundle {
    sample_bundle(
        true,
        MEASUREMENT,
        &SCORES,
        &sp(MEASUREMENT, 4),
        signer,
        [0x42; 32],
    )
}

/// `r` sealed by `provider` and carrying `job` (which `r` may or may not keep to).
fn sealed(
    r: EvalResult,
    job: &JobSpec,
    provider: &dyn EvidenceProvider,
    signer: &Signer,
) -> Bundle {
    let mut b = seal(r, &domain_of(job), provider, signer, [0; 32]).unwrap();
    b.job = Some(job.clone());
    b
}

fn verifier() -> BundleVerifier {
    BundleVerifier {
        nonce: Some(B256::repeat_byte(0x99)),
        ..BundleVerifier::new(sim_verifier())
    }
}

fn failed_check(v: &BundleVerifier, b: &Bundle) -> &'static str {
    let r = v.verify(b).expect_err("must be rejected");
    r.checks
        .iter()
        .find(|c| matches!(c.status, assay_attestation::Status::Fail(_)))
        .unwrap()
        .check
}

#[test]
fn simulated_bundle_verifies_in_json_and_cbor() {
    let b = sim_bundle(&Signer::generate());
    let mut v = verifier();
    v.pins = Pins {
        forge_id: Some(b.result.forge_id),
        chain_id: Some(b.domain.chain_id),
        contract: Some(b.domain.verifying_contract),
        job: Some(sample_job(true, 4).hash()),
    };
    let ok = v.verify(&b).unwrap();
    assert!(
        ok.checks
            .iter()
            .all(|c| matches!(c.status, assay_attestation::Status::Pass(_)))
    );
    assert_eq!(ok.checks.len(), assay_forge::BUNDLE_CHECKS.len());
    let json = b.to_json();
    let cbor = b.to_cbor();
    assert!(
        cbor.len() < json.len() * 2 / 3,
        "CBOR {} vs JSON {}",
        cbor.len(),
        json.len()
    );
    for bytes in [json.as_bytes(), &cbor[..]] {
        let back = Bundle::parse(bytes, "test").unwrap();
        assert_eq!(back, b);
        verifier().verify(&back).unwrap();
    }
    // Shares sum to 10000 and the negative score holds 0.
    let r = &b.result;
    let total: u32 = r.scores.iter().map(|s| u32::from(s.shares)).sum::<u32>()
        + r.compute.iter().map(|c| u32::from(c.shares)).sum::<u32>();
    assert_eq!(total, 10000);
    assert_eq!(r.scores[2].shares, 0);
}

#[test]
fn simulated_bundle_needs_the_test_root_named() {
    let b = sim_bundle(&Signer::generate());
    let mut v = verifier();
    v.report.trust = assay_attestation::verify::TrustStore::amd();
    assert_eq!(failed_check(&v, &b), "report");
    let e = v.verify(&b).unwrap_err().error;
    assert_eq!(e.kind(), "chain", "{e}");
}

/// Every leaf of the bundle's JSON, as a JSON pointer.
fn leaves(v: &Value, path: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m
            .iter()
            .for_each(|(k, v)| leaves(v, format!("{path}/{k}"), out)),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| leaves(v, format!("{path}/{i}"), out)),
        _ => out.push(path),
    }
}

/// A different value of the same JSON type.
fn tamper(v: &Value) -> Vec<Value> {
    match v {
        Value::Bool(b) => vec![Value::Bool(!b)],
        Value::Number(n) => vec![Value::from(n.as_u64().unwrap_or(0) + 1)],
        Value::Null => vec![Value::String("0x00".into())],
        Value::Array(_) => vec![Value::Array(vec![])],
        Value::String(s) => {
            let mut out = Vec::new();
            if let Some(hex) = s.strip_prefix("0x").filter(|h| !h.is_empty()) {
                // Flip the first, a middle and the last hex digit; in long values (the report,
                // certificates, signature) 32 digits spread over the whole value.
                let mut at: Vec<usize> = vec![0, hex.len() / 2, hex.len() - 1];
                if hex.len() > 64 {
                    at.extend((1..32).map(|i| i * hex.len() / 32));
                }
                for at in at {
                    let mut h: Vec<u8> = hex.bytes().collect();
                    h[at] = if h[at] == b'0' { b'1' } else { b'0' };
                    out.push(Value::String(format!(
                        "0x{}",
                        String::from_utf8(h).unwrap()
                    )));
                }
            } else if let Ok(w) = s.parse::<Wad>() {
                out.push(Value::String(Wad(w.0 + 1).to_string()));
            } else {
                out.push(Value::String(format!("{s}x")));
            }
            out
        }
        Value::Object(_) => vec![Value::Null],
    }
}

#[test]
fn every_tampered_field_is_rejected() {
    let b = sim_bundle(&Signer::generate());
    let original: Value = serde_json::from_str(&b.to_json()).unwrap();
    let mut paths = Vec::new();
    leaves(&original, String::new(), &mut paths);
    assert!(paths.len() > 40, "{paths:?}");
    let v = verifier();
    let mut tried = 0;
    for path in &paths {
        for value in tamper(original.pointer(path).unwrap()) {
            let mut t = original.clone();
            *t.pointer_mut(path).unwrap() = value.clone();
            let text = serde_json::to_string(&t).unwrap();
            tried += 1;
            if let Ok(bundle) = Bundle::parse(text.as_bytes(), "tampered") {
                assert!(v.verify(&bundle).is_err(), "{path} = {value} was accepted");
            }
        }
    }
    assert!(tried > 100);
}

#[test]
fn checks_beyond_the_signature_catch_what_a_signer_could_get_wrong() {
    let signer = Signer::generate();
    let sp = sp(MEASUREMENT, 4);
    let job = sample_job(true, 4);
    let v = verifier();
    let base = sample_result(true, MEASUREMENT, &[0.184, 0.142, 0.071, 0.052]);

    // Shares not by the rules (the seed's rounded example), properly signed.
    let mut r = base.clone();
    for (s, bps) in r.scores.iter_mut().zip([3485, 2686, 1343, 986]) {
        s.shares = bps;
    }
    assert_eq!(failed_check(&v, &sealed(r, &job, &sp, &signer)), "shares");

    // data_root that is not the root of the listed contributions.
    let mut r = base.clone();
    r.data_root = B256::repeat_byte(1);
    assert_eq!(
        failed_check(&v, &sealed(r, &job, &sp, &signer)),
        "data_root"
    );

    // code_hash of another measurement.
    let r = sample_result(true, [0x11; 48], &[0.184, 0.142, 0.071, 0.052]);
    assert_eq!(
        failed_check(&v, &sealed(r, &job, &sp, &signer)),
        "code_hash"
    );

    // A report that binds a different result (spliced from another bundle).
    let a = sealed(base.clone(), &job, &sp, &signer);
    let mut other = base.clone();
    other.forge_id = B256::repeat_byte(2);
    let c = sealed(other, &job, &sp, &signer);
    let mut spliced = a.clone();
    spliced.report = c.report.clone();
    assert_eq!(failed_check(&v, &spliced), "binding");

    // Another signer's signature over the same result.
    let mut wrong = a.clone();
    wrong.signer = Signer::generate().address();
    assert_eq!(failed_check(&v, &wrong), "result_signature");

    // High-s twin of a valid signature (malleability) is refused.
    let mut high = a.clone();
    let mut sig = high.signature.to_vec();
    let n = alloy_primitives::U256::from_str_radix(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        16,
    )
    .unwrap();
    let s = alloy_primitives::U256::from_be_slice(&sig[32..64]);
    sig[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
    sig[64] ^= 1;
    high.signature = sig.into();
    assert_eq!(failed_check(&v, &high), "result_signature");

    // Wrong nonce expected.
    let mut v2 = verifier();
    v2.nonce = Some(B256::repeat_byte(0x98));
    assert_eq!(failed_check(&v2, &a), "nonce");
    v2.nonce = None;
    let ok = v2.verify(&a).unwrap();
    assert!(
        ok.checks.iter().any(
            |c| c.check == "nonce" && matches!(c.status, assay_attestation::Status::Skipped(_))
        )
    );

    // The measurement is not the policy's.
    let r = sample_result(true, [0x11; 48], &[0.1]);
    let b = sealed(r, &sample_job(true, 1), &self::sp([0x11; 48], 1), &signer);
    let e = v.verify(&b).unwrap_err().error;
    assert_eq!(e.kind(), "policy", "{e}");

    // A debug guest.
    let mut debug = self::sp(MEASUREMENT, 4);
    debug.0.policy |= 1 << 19;
    let b = sealed(base.clone(), &job, &debug, &signer);
    assert_eq!(v.verify(&b).unwrap_err().error.kind(), "policy");

    // A report requested at VMPL 1 (not by the enclave, which runs at VMPL 0).
    struct AtVmpl1(InProcessSp);
    impl EvidenceProvider for AtVmpl1 {
        fn kind(&self) -> assay_forge::EvidenceKind {
            assay_forge::EvidenceKind::Simulated
        }
        fn attest(
            &self,
            report_data: [u8; 64],
        ) -> Result<Option<assay_enclave::evidence::Evidence>, assay_enclave::Error> {
            let report = self
                .0
                .0
                .report(&assay_attestation::abi::ReportRequest {
                    report_data,
                    vmpl: 1,
                })
                .to_vec();
            Ok(Some(assay_enclave::evidence::Evidence {
                report,
                certificates: self.0.certificates(),
            }))
        }
    }
    let b = sealed(
        base.clone(),
        &job,
        &AtVmpl1(self::sp(MEASUREMENT, 4)),
        &signer,
    );
    let e = v.verify(&b).unwrap_err().error;
    assert!(
        e.kind() == "policy" && e.to_string().contains("vmpl"),
        "{e}"
    );

    // A simulated report relabelled as a real one.
    let mut relabelled = a.clone();
    relabelled.evidence = assay_forge::EvidenceKind::Snp;
    assert_eq!(failed_check(&v, &relabelled), "report");
}

#[test]
fn no_tee_bundles_never_pass_a_policy_that_requires_a_tee() {
    let dir = tempfile::tempdir().unwrap();
    let coordinator = Signer::load(&coordinator_key_file(dir.path())).unwrap();
    let r = sample_result(false, [0; 48], &[0.2, 0.1]);
    let b = sealed(r.clone(), &sample_job(false, 2), &NoTee, &coordinator);
    assert!(!b.result.tee && b.report.is_none());

    let mut v = verifier();
    v.coordinator = Some(coordinator.address());
    let e = v.verify(&b).unwrap_err().error.to_string();
    assert!(e.contains("requires a TEE"), "{e}");
    assert_eq!(failed_check(&v, &b), "tee");

    v.allow_no_tee = true;
    v.verify(&b).unwrap();
    v.coordinator = None;
    assert_eq!(failed_check(&v, &b), "tee");
    v.coordinator = Some(Address::repeat_byte(3));
    assert_eq!(failed_check(&v, &b), "tee");
    v.coordinator = Some(coordinator.address());

    // Claiming a TEE without a report is inconsistent, whatever the signature.
    let mut claimed = b.clone();
    claimed.evidence = assay_forge::EvidenceKind::Simulated;
    assert_eq!(failed_check(&v, &claimed), "tee");

    // A TEE result cannot be sealed by the none provider, nor the reverse.
    assert!(
        seal(
            r.clone(),
            &domain(),
            &InProcessSp::new(MEASUREMENT),
            &coordinator,
            [0; 32]
        )
        .is_err()
    );
    let mut t = r;
    t.tee = true;
    assert!(seal(t, &domain(), &NoTee, &coordinator, [0; 32]).is_err());
}

#[test]
fn bundle_format_errors_name_the_problem() {
    let b = sim_bundle(&Signer::generate());
    let mut v: Value = serde_json::from_str(&b.to_json()).unwrap();
    v["format"] = "assay-attestation-bundle/9".into();
    let e = Bundle::parse(v.to_string().as_bytes(), "x.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("x.json") && e.contains("bundle/9"), "{e}");
    let e = Bundle::parse(b"{\"format\": 1}", "y.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("y.json") && e.contains("JSON"), "{e}");
    let e = Bundle::parse(&[0xff, 0x00], "z.cbor")
        .unwrap_err()
        .to_string();
    assert!(e.contains("z.cbor") && e.contains("CBOR"), "{e}");
    let mut v: Value = serde_json::from_str(&b.to_json()).unwrap();
    v["result"]["scores"][0]["score"] = "0.1234567890123456789".into();
    let e = Bundle::parse(v.to_string().as_bytes(), "w.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("18 fraction digits"), "{e}");
}

/// Checks `value` against the subset of JSON Schema that docs/attestation-bundle.schema.json
/// uses (type, const, enum, pattern, required, additionalProperties, items, $ref, oneOf,
/// minimum/maximum), so the published schema cannot drift from what the enclave writes.
fn conforms(schema: &Value, root: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => root.pointer(r.trim_start_matches('#')).unwrap(),
        None => schema,
    };
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let ok = options
            .iter()
            .filter(|s| conforms(s, root, value, at).is_ok())
            .count();
        return if ok == 1 {
            Ok(())
        } else {
            Err(format!("{at}: {ok} oneOf branches match"))
        };
    }
    if let Some(c) = schema.get("const") {
        if c != value {
            return Err(format!("{at}: {value} != const {c}"));
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(value) {
            return Err(format!("{at}: {value} not in enum"));
        }
    }
    let ty = schema.get("type").and_then(Value::as_str);
    let type_ok = match ty {
        None => true,
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_u64() || value.is_i64(),
        Some("boolean") => value.is_boolean(),
        Some("null") => value.is_null(),
        Some(t) => return Err(format!("schema type {t} not handled")),
    };
    if !type_ok {
        return Err(format!("{at}: {value} is not {ty:?}"));
    }
    if let (Some(p), Some(s)) = (
        schema.get("pattern").and_then(Value::as_str),
        value.as_str(),
    ) {
        // The schema's patterns are anchored hex/decimal shapes; check them without a regex crate.
        let ok = match p {
            "^0x[0-9a-fA-F]{64}$" => {
                s.len() == 66 && s.starts_with("0x") && hex::decode(&s[2..]).is_ok()
            }
            "^0x[0-9a-fA-F]{40}$" => {
                s.len() == 42 && s.starts_with("0x") && hex::decode(&s[2..]).is_ok()
            }
            "^0x[0-9a-fA-F]{32}$" => {
                s.len() == 34 && s.starts_with("0x") && hex::decode(&s[2..]).is_ok()
            }
            "^0x[0-9a-fA-F]{130}$" => s.len() == 132 && hex::decode(&s[2..]).is_ok(),
            "^0x[0-9a-fA-F]{2368}$" => s.len() == 2370 && hex::decode(&s[2..]).is_ok(),
            "^0x([0-9a-fA-F]{2})+$" => {
                s.len() > 2 && s.starts_with("0x") && hex::decode(&s[2..]).is_ok()
            }
            "^-?[0-9]+(\\.[0-9]{1,18})?$" => s.parse::<Wad>().is_ok(),
            other => return Err(format!("pattern {other} not handled")),
        };
        if !ok {
            return Err(format!("{at}: {s} does not match {p}"));
        }
    }
    if let (Some(min), Some(n)) = (
        schema.get("minimum").and_then(Value::as_i64),
        value.as_i64(),
    ) {
        if n < min {
            return Err(format!("{at}: {n} < {min}"));
        }
    }
    if let (Some(max), Some(n)) = (
        schema.get("maximum").and_then(Value::as_i64),
        value.as_i64(),
    ) {
        if n > max {
            return Err(format!("{at}: {n} > {max}"));
        }
    }
    if let Some(obj) = value.as_object().filter(|_| ty == Some("object")) {
        let props = schema["properties"].as_object().unwrap();
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for key in obj.keys() {
            if !props.contains_key(key) {
                return Err(format!("{at}/{key}: not in the schema"));
            }
        }
        for key in &required {
            if !obj.contains_key(*key) {
                return Err(format!("{at}/{key}: required but absent"));
            }
        }
        for (key, v) in obj {
            conforms(&props[key], root, v, &format!("{at}/{key}"))?;
        }
    }
    if let (Some(items), Some(a)) = (schema.get("items"), value.as_array()) {
        for (i, v) in a.iter().enumerate() {
            conforms(items, root, v, &format!("{at}/{i}"))?;
        }
    }
    Ok(())
}

#[test]
fn bundles_conform_to_the_published_schema() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/attestation-bundle.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let coordinator = Signer::load(&coordinator_key_file(dir.path())).unwrap();
    let none = sample_bundle(false, [0; 48], &[0.2, -0.1], &NoTee, &coordinator, [0; 32]);
    let v1 = version_1_bundle(
        true,
        MEASUREMENT,
        &SCORES,
        &domain(),
        &InProcessSp::new(MEASUREMENT),
        &Signer::generate(),
        [0x42; 32],
    );
    for b in [sim_bundle(&Signer::generate()), none, v1] {
        let v: Value = serde_json::from_str(&b.to_json()).unwrap();
        conforms(&schema, &schema, &v, "").unwrap();
    }
    // The checker itself rejects what the schema forbids.
    let mut v: Value = serde_json::from_str(&sim_bundle(&Signer::generate()).to_json()).unwrap();
    v["extra"] = 1.into();
    assert!(conforms(&schema, &schema, &v, "").is_err());
    v.as_object_mut().unwrap().remove("extra");
    v["result"]["scores"][0]["shares"] = 10001.into();
    assert!(conforms(&schema, &schema, &v, "").is_err());
}

#[test]
fn one_spelling_only_v_trailing_bytes_envelopes_duplicates_and_wads_are_refused() {
    let b = sim_bundle(&Signer::generate());
    let v = verifier();
    // v other than 27/28 (0/1 parity, EIP-155 values, garbage) is refused, even when the rest
    // of the signature would recover the right signer.
    for bad_v in [0u8, 1, 36, 254] {
        let mut t = b.clone();
        let mut sig = t.signature.to_vec();
        sig[64] = bad_v;
        t.signature = sig.into();
        let e = v.verify(&t).unwrap_err().error;
        assert_eq!(e.kind(), "result_signature", "v = {bad_v}: {e}");
        assert!(e.to_string().contains(&format!("v = {bad_v}")), "{e}");
    }
    // Nothing after the CBOR item; only whitespace after the JSON object.
    let cbor = b.to_cbor();
    assert_eq!(Bundle::parse(&cbor, "b").unwrap(), b);
    let e = Bundle::parse(&[cbor.as_slice(), &[0]].concat(), "b").unwrap_err();
    assert!(
        e.to_string().contains("1 bytes follow the CBOR item"),
        "{e}"
    );
    let json = b.to_json();
    assert!(Bundle::parse(format!("{json}\n").as_bytes(), "b").is_ok());
    assert!(Bundle::parse(format!("{json}{{}}").as_bytes(), "b").is_err());
    // The bare report: the same report inside MSG_REPORT_RSP is refused.
    let mut enveloped: Value = serde_json::from_str(&json).unwrap();
    let bare: [u8; 1184] = b.report.as_ref().unwrap()[..].try_into().unwrap();
    enveloped["report"] = format!(
        "0x{}",
        hex::encode(assay_attestation::abi::report_response(&bare))
    )
    .into();
    let e = Bundle::parse(enveloped.to_string().as_bytes(), "b").unwrap_err();
    assert!(e.to_string().contains("bare 1184-byte report"), "{e}");
    // A certificate twice.
    let mut twice = b.clone();
    twice.certificates.push(twice.certificates[0].clone());
    let e = Bundle::parse(&twice.to_cbor(), "b").unwrap_err();
    assert!(
        e.to_string()
            .contains("certificates[2] repeats certificates[0]"),
        "{e}"
    );
    // Wads in their canonical text only.
    let score = b.result.scores[0].score.to_string();
    for other in [
        format!("{score}0"),
        format!("0{score}"),
        format!("+{score}"),
    ] {
        let t = json.replacen(&format!("\"{score}\""), &format!("\"{other}\""), 1);
        assert_ne!(t, json, "the score is in the JSON");
        let e = Bundle::parse(t.as_bytes(), "b").unwrap_err();
        assert_eq!(e.kind(), "format", "{other}: {e}");
    }
    let t = json.replacen("\"12.25\"", "\"-0\"", 1);
    assert!(Bundle::parse(t.as_bytes(), "b").is_err());
}

#[test]
fn a_policy_without_a_measurement_and_every_pin_are_enforced() {
    let b = sim_bundle(&Signer::generate());
    // No measurement pinned: refused, unless the caller accepts any, and then it says so.
    let mut open = verifier();
    open.report.policy.measurements = None;
    let e = open.verify(&b).unwrap_err().error;
    assert_eq!(e.kind(), "report");
    assert!(e.to_string().contains("pins no MEASUREMENT"), "{e}");
    open.any_measurement = true;
    let ok = open.verify(&b).unwrap();
    let report = ok.checks.iter().find(|c| c.check == "report").unwrap();
    assert!(
        matches!(&report.status, assay_attestation::Status::Pass(d) if d.contains("ANY MEASUREMENT")),
        "{report:?}"
    );
    // Forge, domain and job pins: each right one passes, each wrong one fails its check.
    let right = Pins {
        forge_id: Some(b.result.forge_id),
        chain_id: Some(b.domain.chain_id),
        contract: Some(b.domain.verifying_contract),
        job: Some(sample_job(true, 4).hash()),
    };
    let mut v = verifier();
    v.pins = right.clone();
    v.verify(&b).unwrap();
    let wrong = [
        (
            Pins {
                forge_id: Some(B256::repeat_byte(1)),
                ..right.clone()
            },
            "forge",
        ),
        (
            Pins {
                chain_id: Some(1),
                ..right.clone()
            },
            "forge",
        ),
        (
            Pins {
                contract: Some(Address::repeat_byte(1)),
                ..right.clone()
            },
            "forge",
        ),
        (
            Pins {
                job: Some(B256::repeat_byte(1)),
                ..right.clone()
            },
            "job",
        ),
    ];
    for (pins, check) in wrong {
        v.pins = pins;
        assert_eq!(failed_check(&v, &b), check, "{:?}", v.pins);
    }
    // A job pinned on a bundle without a TEE: the result itself commits to its job, so the pin
    // is checked against that.
    let dir = tempfile::tempdir().unwrap();
    let coordinator = Signer::load(&coordinator_key_file(dir.path())).unwrap();
    let none = sample_bundle(false, [0; 48], &[0.2], &NoTee, &coordinator, [0; 32]);
    let mut v = verifier();
    v.allow_no_tee = true;
    v.coordinator = Some(coordinator.address());
    v.verify(&none).unwrap();
    v.pins.job = Some(sample_job(false, 1).hash());
    v.verify(&none).unwrap();
    v.pins.job = Some(B256::ZERO);
    assert_eq!(failed_check(&v, &none), "job");
    // A version-1 bundle without a TEE: nothing carries the job, so a pin cannot pass.
    let v1 = version_1_bundle(
        false,
        [0; 48],
        &[0.2],
        &domain(),
        &NoTee,
        &coordinator,
        [0; 32],
    );
    v.pins.job = None;
    v.verify(&v1).unwrap();
    v.pins.job = Some(B256::ZERO);
    assert_eq!(failed_check(&v, &v1), "job");
}

#[test]
fn version_1_bundles_still_verify_and_say_what_they_lack() {
    let b = version_1_bundle(
        true,
        MEASUREMENT,
        &SCORES,
        &domain(),
        &InProcessSp::new(MEASUREMENT),
        &Signer::generate(),
        [0x42; 32],
    );
    assert_eq!(b.format, assay_forge::BUNDLE_FORMAT_V1);
    for bytes in [b.to_json().into_bytes(), b.to_cbor()] {
        let back = Bundle::parse(&bytes, "v1").unwrap();
        assert_eq!(back, b);
        let ok = verifier().verify(&back).unwrap();
        let detail = |check: &str| {
            format!(
                "{:?}",
                ok.checks.iter().find(|c| c.check == check).unwrap().status
            )
        };
        assert!(
            detail("format").contains("VERSION 1"),
            "{}",
            detail("format")
        );
        assert!(
            detail("job").contains("commits to no job"),
            "{}",
            detail("job")
        );
    }
    // Its digest is version 1's: EvalResult, not EvalResultV2.
    assert_eq!(
        assay_forge::eip712::struct_hash(&b.result),
        alloy_sol_types::SolStruct::eip712_hash_struct(&assay_forge::eip712::to_sol(&b.result))
    );
    // A version-1 bundle that carries a job, or a version-2 one without, is malformed.
    let mut mixed = b.clone();
    mixed.job = Some(sample_job(true, 4));
    let e = Bundle::parse(&mixed.to_cbor(), "mixed").unwrap_err();
    assert!(e.to_string().contains("version-1 bundle has no job"), "{e}");
    assert_eq!(failed_check(&verifier(), &mixed), "format");
    let mut bare = sim_bundle(&Signer::generate());
    bare.job = None;
    let e = Bundle::parse(&bare.to_cbor(), "bare").unwrap_err();
    assert!(e.to_string().contains("carries its JobSpec"), "{e}");
    assert_eq!(failed_check(&verifier(), &bare), "format");
}

/// A TEE bundle whose result breaks one rule of the approved job it commits to: the job is the
/// sample job changed by `edit`, the result is the sample result (committing to the changed
/// job), and the guest was launched for the changed job.
fn breaking(edit: impl Fn(&mut JobSpec)) -> Bundle {
    let mut job = sample_job(true, 4);
    edit(&mut job);
    let mut r = sample_result(true, MEASUREMENT, &SCORES);
    r.job = Some(commitment(&job));
    let provider = InProcessSp::launched(MEASUREMENT, job.hash());
    let mut b = seal(r, &domain_of(&job), &provider, &Signer::generate(), [0; 32]).unwrap();
    b.job = Some(job);
    b
}

#[test]
fn a_result_that_breaks_its_jobs_rules_is_refused() {
    let v = verifier();
    // The rules kept: accepted (the helper itself makes good bundles).
    v.verify(&breaking(|_| {})).unwrap();
    type Edit = Box<dyn Fn(&mut JobSpec)>;
    let cases: [(&str, Edit); 9] = [
        // The host attested a compute share the Forge did not approve (here the reverse: the
        // job says 2000 bps, the result gives 1500).
        (
            "attribution compute",
            Box::new(|j| j.attribution.compute_bps = 2000),
        ),
        (
            "attribution compute",
            Box::new(|j| j.attribution.providers[0].units = 4),
        ),
        (
            "attribution.threshold",
            Box::new(|j| j.attribution.threshold = 3),
        ),
        (
            "forge.nonce",
            Box::new(|j| j.forge.nonce = B256::repeat_byte(1)),
        ),
        ("forge.id", Box::new(|j| j.forge.id = B256::repeat_byte(1))),
        (
            "recipe.hash",
            Box::new(|j| j.recipe.hash = B256::repeat_byte(1)),
        ),
        (
            "contributions.data_root",
            Box::new(|j| j.contributions.data_root = B256::repeat_byte(1)),
        ),
        ("key_release", Box::new(|j| j.key_release = None)),
        (
            "attribution.threshold",
            Box::new(|j| j.attribution.threshold = 1),
        ),
    ];
    for (field, edit) in cases {
        let b = breaking(edit);
        let r = v.verify(&b).expect_err(field);
        assert_eq!(r.error.kind(), "job", "{field}: {}", r.error);
        assert!(r.error.to_string().contains(field), "{field}: {}", r.error);
    }
    // The result commits to another holdout than the job's (scored on the host's own, say).
    let job = sample_job(true, 4);
    let mut r = sample_result(true, MEASUREMENT, &SCORES);
    r.job.as_mut().unwrap().holdout_sha256 = B256::repeat_byte(1);
    let b = sealed(r, &job, &sp(MEASUREMENT, 4), &Signer::generate());
    let e = v.verify(&b).unwrap_err().error;
    assert!(
        e.kind() == "job" && e.to_string().contains("holdout"),
        "{e}"
    );
    // The domain the result is signed in is the job's.
    let mut b = breaking(|_| {});
    let job = b.job.clone().unwrap();
    b = seal(
        b.result.clone(),
        &Domain::assay(1, job.forge.contract),
        &InProcessSp::launched(MEASUREMENT, job.hash()),
        &Signer::generate(),
        [0; 32],
    )
    .unwrap();
    b.job = Some(job);
    let e = v.verify(&b).unwrap_err().error;
    assert!(e.to_string().contains("forge.chain_id"), "{e}");
    // The bundle's JobSpec is not the one the result commits to.
    let mut swapped = sim_bundle(&Signer::generate());
    swapped.job.as_mut().unwrap().attribution.compute_bps = 0;
    let e = v.verify(&swapped).unwrap_err().error;
    assert!(
        e.kind() == "job" && e.to_string().contains("the hash of the bundle's JobSpec"),
        "{e}"
    );
    // The guest was launched for another job (HOST_DATA).
    let other = sample_bundle(
        true,
        MEASUREMENT,
        &SCORES,
        &InProcessSp::launched(MEASUREMENT, B256::repeat_byte(0x42)),
        &Signer::generate(),
        [0; 32],
    );
    let e = v.verify(&other).unwrap_err().error;
    assert!(
        e.kind() == "job" && e.to_string().contains("HOST_DATA"),
        "{e}"
    );
}

/// The secp256k1 group order, big-endian: `s` and `n − s` are the same signature.
const SECP256K1_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

/// `signature` with s replaced by n − s and v flipped: the other spelling of the same signature.
fn high_s(signature: &[u8]) -> Vec<u8> {
    let mut out = signature.to_vec();
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(SECP256K1_N[i]) - i16::from(signature[32 + i]) - borrow;
        out[32 + i] = d.rem_euclid(256) as u8;
        borrow = i16::from(d < 0);
    }
    out[64] = if signature[64] == 27 { 28 } else { 27 };
    out
}

#[test]
fn version_3_binds_its_alloy_key_and_version_2_still_verifies() {
    use assay_forge::binding::alloy_key_digest;
    use assay_forge::eip712::signing_hash;
    let signer = Signer::generate();
    let b = sim_bundle(&signer);
    assert_eq!(b.format, assay_forge::BUNDLE_FORMAT);
    let v = verifier();
    let ok = v.verify(&b).unwrap();
    let alloy = ok.checks.iter().find(|c| c.check == "alloy_key").unwrap();
    assert!(
        matches!(alloy.status, assay_attestation::Status::Pass(_)),
        "{alloy:?}"
    );
    // A version-2 bundle (no alloy key) still verifies; the check says it was skipped.
    let v2 = assay_tests::forge::version_2_bundle(
        true,
        MEASUREMENT,
        &SCORES,
        &sp(MEASUREMENT, 4),
        &signer,
        [0x42; 32],
    );
    assert_eq!(v2.format, assay_forge::BUNDLE_FORMAT_V2);
    let ok = v
        .verify(&Bundle::parse(&v2.to_cbor(), "v2").unwrap())
        .unwrap();
    let alloy = ok.checks.iter().find(|c| c.check == "alloy_key").unwrap();
    assert!(
        matches!(alloy.status, assay_attestation::Status::Skipped(_)),
        "{alloy:?}"
    );
    // A version that does not hold what it says is not read.
    let mut no_key = b.clone();
    no_key.alloy = None;
    let e = Bundle::parse(&no_key.to_cbor(), "b").unwrap_err();
    assert!(e.to_string().contains("alloy key (`alloy`)"), "{e}");
    let mut v2_with_key = b.clone();
    v2_with_key.format = assay_forge::BUNDLE_FORMAT_V2.into();
    let e = Bundle::parse(&v2_with_key.to_cbor(), "b").unwrap_err();
    assert!(e.to_string().contains("no alloy key"), "{e}");

    let digest = signing_hash(&b.domain, &b.result);
    let key = b.alloy.as_ref().unwrap().key;
    let other = Signer::generate();
    let with = |edit: &dyn Fn(&mut assay_forge::AlloyKey)| {
        let mut t = b.clone();
        edit(t.alloy.as_mut().unwrap());
        t
    };
    let cases: Vec<(&str, Bundle)> = vec![
        (
            "bound by another key (a host's)",
            with(&|a| {
                a.signature = other
                    .sign(alloy_key_digest(digest, &key))
                    .unwrap()
                    .to_vec()
                    .into();
            }),
        ),
        (
            "another key with this binding",
            with(&|a| a.key = B256::repeat_byte(0x5a)),
        ),
        (
            "the binding of another result",
            with(&|a| {
                a.signature = signer
                    .sign(alloy_key_digest(B256::repeat_byte(1), &key))
                    .unwrap()
                    .to_vec()
                    .into();
            }),
        ),
        (
            "the result's own signature",
            with(&|a| a.signature = b.signature.clone()),
        ),
        (
            "v = 1",
            with(&|a| {
                let mut s = a.signature.to_vec();
                s[64] = 1;
                a.signature = s.into();
            }),
        ),
        (
            "s in the upper half",
            with(&|a| a.signature = high_s(&a.signature).into()),
        ),
        (
            "64 bytes",
            with(&|a| a.signature = a.signature[..64].to_vec().into()),
        ),
    ];
    for (what, t) in cases {
        assert_eq!(failed_check(&v, &t), "alloy_key", "{what}");
    }
}

/// `links` (payloads) signed in turn by `key`, each `prev` the one before.
fn chained(links: Vec<assay_alloy::Link>, key: &assay_alloy::SigningKey) -> Vec<Vec<u8>> {
    let mut prev = None;
    let mut out = Vec::new();
    for mut l in links {
        l.prev = prev;
        let s = l.sign(key).unwrap();
        prev = Some(s.id());
        out.push(s);
    }
    vec![assay_alloy::chain_file(&out).unwrap()]
}

fn chain_check(b: &Bundle, files: &[Vec<u8>]) -> Result<assay_forge::alloy::ChainCheck, String> {
    let v = assay_alloy::verify(files.iter().map(|f| assay_alloy::Input::Cbor(f)));
    assay_forge::alloy::check_chain(b, &v).map_err(|e| e.to_string())
}

#[test]
fn a_jobs_alloy_chain_must_say_what_its_bundle_says() {
    use assay_alloy::cbor::Value as Cbor;
    use assay_enclave::job::{alloy_key, bind_alloy_key};
    use assay_forge::alloy::sign_job_links;
    let signer = Signer::generate();
    let key = alloy_key().unwrap();
    let mut b = assay_tests::forge::version_2_bundle(
        true,
        MEASUREMENT,
        &SCORES,
        &sp(MEASUREMENT, 4),
        &signer,
        [0x42; 32],
    );
    bind_alloy_key(&mut b, &signer, &key).unwrap();
    verifier().verify(&b).unwrap();
    let adapter = [7u8; 32];
    let links = sign_job_links(&b, adapter, "lora", &key, 1_800_000_000).unwrap();
    let file = assay_alloy::chain_file(&links).unwrap();
    let ok = chain_check(&b, std::slice::from_ref(&file)).unwrap();
    assert_eq!(
        (ok.head, ok.adapter_hash, ok.method.as_str(), ok.later),
        (links[2].id(), adapter, "lora", 0)
    );
    // The same chain from its QR texts, and from the bundle read back from its JSON.
    let texts: Vec<String> = assay_alloy::split(&links)
        .unwrap()
        .iter()
        .map(|p| p.to_text())
        .collect();
    let v = assay_alloy::verify(texts.iter().map(|t| assay_alloy::Input::Text(t)));
    let from_json = Bundle::parse(b.to_json().as_bytes(), "b").unwrap();
    assay_forge::alloy::check_chain(&from_json, &v).unwrap();
    // A link appended by someone else: valid, counted, not compared.
    let delivery = assay_alloy::Link {
        kind: assay_alloy::LinkType::Delivery,
        prev: Some(links[2].id()),
        input_hash: links[2].link().output_hash,
        stage: [(1, Cbor::Text("https://example.invalid/m".into()))].into(),
        output_hash: [9; 32],
        signer: *key.verifying_key().as_bytes(),
        timestamp: 1_800_000_001,
    };
    let mut longer = links.clone();
    longer.push(delivery.sign(&key).unwrap());
    let ok = chain_check(&b, &[assay_alloy::chain_file(&longer).unwrap()]).unwrap();
    assert_eq!(ok.later, 1);

    let payloads: Vec<assay_alloy::Link> = links.iter().map(|l| l.link().clone()).collect();
    let edited = |i: usize, edit: &dyn Fn(&mut assay_alloy::Link)| {
        let mut p = payloads.clone();
        edit(&mut p[i]);
        p
    };
    let another = alloy_key().unwrap();
    let other_signer = *another.verifying_key().as_bytes();
    let resigned_by_another: Vec<assay_alloy::Link> = payloads
        .iter()
        .cloned()
        .map(|mut l| {
            l.signer = other_signer;
            l
        })
        .collect();
    let cases: Vec<(&str, Vec<Vec<u8>>, &str)> = vec![
        (
            "signed by a key the bundle does not bind",
            chained(resigned_by_another, &another),
            "link 1: is signed by",
        ),
        (
            "another data_root",
            chained(
                {
                    let mut p = edited(0, &|l| l.output_hash = [1; 32]);
                    p[1].input_hash = [1; 32];
                    p
                },
                &key,
            ),
            "link 1: the dataset link's output_hash",
        ),
        (
            "another contributions file",
            chained(edited(0, &|l| l.input_hash = [1; 32]), &key),
            "link 1: the dataset link's input_hash",
        ),
        (
            "another job",
            chained(
                edited(0, &|l| {
                    l.stage.insert(2, Cbor::Bytes(vec![3; 32]));
                }),
                &key,
            ),
            "link 1: the dataset link's stage 2",
        ),
        (
            "another recipe",
            chained(
                edited(1, &|l| {
                    l.stage.insert(1, Cbor::Bytes(vec![3; 32]));
                }),
                &key,
            ),
            "link 2: the adapter link's stage 1",
        ),
        (
            "no method",
            chained(
                edited(1, &|l| {
                    l.stage.remove(&3);
                }),
                &key,
            ),
            "link 2: the adapter link states no method",
        ),
        (
            "another bundle",
            chained(edited(2, &|l| l.output_hash = [1; 32]), &key),
            "link 3: the eval link's output_hash",
        ),
        (
            "other scores",
            chained(
                edited(2, &|l| {
                    l.stage.insert(2, Cbor::Bytes(vec![3; 32]));
                }),
                &key,
            ),
            "link 3: the eval link's stage 2",
        ),
        (
            "another baseline",
            chained(
                edited(2, &|l| {
                    l.stage.insert(3, Cbor::Text("12.5".into()));
                }),
                &key,
            ),
            "link 3: the eval link's stage 3",
        ),
        (
            "another type",
            chained(edited(1, &|l| l.kind = assay_alloy::LinkType::Custom), &key),
            "link 2: is a custom link, where the job's link 2 is its adapter link",
        ),
        (
            "two links",
            vec![assay_alloy::chain_file(&links[..2]).unwrap()],
            "2 link(s)",
        ),
    ];
    for (what, files, needle) in cases {
        let e = chain_check(&b, &files).expect_err(what);
        assert!(e.contains(needle), "{what}: {e}");
    }
    // A chain that does not verify (a signature broken) is refused as such.
    let mut broken = file.clone();
    let last = broken.len() - 1;
    broken[last] ^= 1;
    let e = chain_check(&b, &[broken]).unwrap_err();
    assert!(e.contains("does not verify"), "{e}");
    // A bundle before version 3 has no alloy chain.
    let mut v2 = b.clone();
    v2.alloy = None;
    v2.format = assay_forge::BUNDLE_FORMAT_V2.into();
    let e = chain_check(&v2, std::slice::from_ref(&file)).unwrap_err();
    assert!(e.contains("binds no alloy key"), "{e}");
    // The chain of another result (a score changed) does not match.
    let mut changed = b.clone();
    changed.result.baseline_metric.value = Wad(changed.result.baseline_metric.value.0 + 1);
    let e = chain_check(&changed, std::slice::from_ref(&file)).unwrap_err();
    assert!(e.contains("link 3"), "{e}");
}
