//! EIP-712 digests, signatures and `submitEvalResult` calldata, byte for byte against ethers v6
//! (npm, installed by `scripts/test` into `$ASSAY_ETHERS`, run with node).

use std::path::PathBuf;
use std::process::Command;

use alloy_primitives::Address;
use assay_enclave::evidence::EvidenceProvider;
use assay_enclave::evidence::none::NoTee;
use assay_enclave::identity::Signer;
use assay_forge::eip712::{Domain, struct_hash, type_string, type_string_v2};
use assay_forge::{Bundle, calldata};
use assay_tests::forge::{
    COORDINATOR_KEY, coordinator_key_file, domain_of, sample_bundle, sample_job, version_1_bundle,
};
use assay_tests::paths::provided;
use assay_tests::sim::{InProcessSp, MEASUREMENT};
use serde_json::Value;

fn ethers() -> Option<PathBuf> {
    provided(
        "ASSAY_ETHERS",
        "ASSAY_REQUIRE_ETHERS",
        "set ASSAY_ETHERS to a folder with node_modules/ethers (scripts/test does)",
    )
}

fn oracle(dir: &std::path::Path, bundle: &Bundle) -> Value {
    let path = dir.join("bundle.json");
    std::fs::write(&path, bundle.to_json()).unwrap();
    let o = Command::new("node")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/ethers_oracle.js"))
        .arg(&path)
        .arg(format!("0x{COORDINATOR_KEY}"))
        .env("NODE_PATH", ethers().unwrap().join("node_modules"))
        .output()
        .expect("node runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn eip712_and_calldata_match_ethers() {
    if ethers().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::load(&coordinator_key_file(dir.path())).unwrap();
    // (TEE, scores, chain of a version-1 bundle; version 2 signs in its job's domain.)
    let cases = [
        (false, vec![0.184, 0.142, 0.071, 0.052], 1u64),
        (false, vec![-0.5, 0.0, -1e-18], 8453),
        (true, vec![0.3, -0.01, 12.75, 1e-9, 0.0], 11155111),
    ];
    for ((tee, scores, chain), version_2) in cases
        .iter()
        .flat_map(|c| [(c.clone(), true), (c.clone(), false)])
    {
        let measurement = if tee { MEASUREMENT } else { [0; 48] };
        let provider: Box<dyn EvidenceProvider> = if tee {
            Box::new(InProcessSp::launched(
                MEASUREMENT,
                sample_job(true, scores.len()).hash(),
            ))
        } else {
            Box::new(NoTee)
        };
        let x25519 = if tee { [5; 32] } else { [0; 32] };
        let (bundle, domain) = if version_2 {
            let b = sample_bundle(
                tee,
                measurement,
                &scores,
                provider.as_ref(),
                &signer,
                x25519,
            );
            let domain = domain_of(b.job.as_ref().unwrap());
            (b, domain)
        } else {
            let domain = Domain::assay(chain, Address::repeat_byte(0xab));
            let b = version_1_bundle(
                tee,
                measurement,
                &scores,
                &domain,
                provider.as_ref(),
                &signer,
                x25519,
            );
            (b, domain)
        };
        let js = oracle(dir.path(), &bundle);
        let s = |k: &str| js[k].as_str().unwrap().to_owned();
        let encode_type = if version_2 {
            type_string_v2()
        } else {
            type_string()
        };
        assert_eq!(s("encode_type"), encode_type);
        assert_eq!(s("domain_separator"), domain.separator().to_string());
        assert_eq!(s("struct_hash"), struct_hash(&bundle.result).to_string());
        assert_eq!(
            s("digest"),
            assay_forge::eip712::signing_hash(&domain, &bundle.result).to_string()
        );
        assert_eq!(
            s("address").to_lowercase(),
            signer.address().to_string().to_lowercase()
        );
        assert_eq!(
            s("signature"),
            bundle.signature.to_string(),
            "RFC 6979 signatures are equal"
        );
        assert_eq!(s("recovered"), bundle.signer.to_checksum(None));
        assert_eq!(
            s("calldata"),
            format!("0x{}", hex::encode(calldata(&bundle)))
        );
    }
}
