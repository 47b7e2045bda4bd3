//! Helpers shared by the enclave's integration tests.
#![allow(dead_code, missing_docs)]

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256};
use assay_attestation::Verifier;
use assay_attestation::bundle::binding::code_hash;
use assay_attestation::bundle::result::{
    BaselineMetric, ComputeEntry, Direction, EvalResult, Method, ScoreEntry, Wad, data_root,
};
use assay_attestation::validate::Policy;
use assay_attestation::verify::{TrustStore, parse_certificates};
use assay_attribution::shares::{ComputeProvider, allocate};

pub const MEASUREMENT: [u8; 48] = [0x5a; 48];
/// A throwaway secp256k1 key (Hardhat's well-known account #1): only for tests.
pub const COORDINATOR_KEY: &str =
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

pub fn sim_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../attestation/testdata/sim")
}

/// A verifier trusting AMD's roots and, named explicitly, the simulated ARK; the policy allows
/// exactly `MEASUREMENT`.
pub fn sim_verifier() -> Verifier {
    sim_verifier_for(MEASUREMENT)
}

/// The same, allowing exactly `measurement`.
pub fn sim_verifier_for(measurement: [u8; 48]) -> Verifier {
    let ark = std::fs::read(sim_dir().join("ark.pem")).unwrap();
    let ark = parse_certificates(&ark, "ark.pem").unwrap().remove(0);
    let mut v = Verifier::new(time::OffsetDateTime::now_utc());
    v.trust = TrustStore::amd().with_test_root(ark).unwrap();
    v.policy = Policy::from_toml(
        &format!("measurements = [\"{}\"]", hex::encode(measurement)),
        "test policy",
    )
    .unwrap();
    v
}

/// A result as the enclave would make it: shares by the rules, data_root over the listed
/// contributions, code_hash over `measurement`.
pub fn sample_result(tee: bool, measurement: [u8; 48], scores: &[f64]) -> EvalResult {
    let recipe_hash = B256::repeat_byte(0x7e);
    let contributors: Vec<Address> = (0..scores.len())
        .map(|i| Address::repeat_byte(0x11 * (i as u8 + 1)))
        .collect();
    let content: Vec<B256> = (0..scores.len())
        .map(|i| B256::repeat_byte(0xc0 + i as u8))
        .collect();
    let wads: Vec<Wad> = scores.iter().map(|s| Wad::from_f64(*s).unwrap()).collect();
    let named: Vec<(String, f64)> = contributors
        .iter()
        .zip(&wads)
        .map(|(a, w)| (a.to_string(), w.to_f64()))
        .collect();
    let provider = Address::repeat_byte(0xee);
    let alloc = allocate(
        &named,
        1500,
        &[ComputeProvider {
            provider: provider.to_string(),
            units: 3,
        }],
    )
    .unwrap();
    EvalResult {
        forge_id: B256::repeat_byte(0xf0),
        code_hash: code_hash(&measurement, recipe_hash),
        recipe_hash,
        data_root: data_root(contributors.iter().copied().zip(content.iter().copied())).unwrap(),
        nonce: B256::repeat_byte(0x99),
        tee,
        method: Method::ExactLoo,
        groups: 0,
        baseline_metric: BaselineMetric {
            name: "perplexity".into(),
            direction: Direction::LowerIsBetter,
            value: "12.25".parse().unwrap(),
        },
        scores: alloc
            .data
            .iter()
            .zip(contributors.iter().zip(&content).zip(&wads))
            .map(|(d, ((a, c), w))| ScoreEntry {
                contributor: *a,
                content_hash: *c,
                score: *w,
                shares: d.shares as u16,
            })
            .collect(),
        compute_bps: 1500,
        compute: vec![ComputeEntry {
            provider,
            units: 3,
            shares: alloc.compute[0].shares as u16,
        }],
        unallocated_bps: alloc.unallocated_bps as u16,
    }
}

pub fn coordinator_key_file(dir: &Path) -> PathBuf {
    let p = dir.join("coordinator.key");
    std::fs::write(&p, COORDINATOR_KEY).unwrap();
    p
}

/// The launch measurement of a guest booted with the offline inputs of the measurement vectors
/// (OVMF.amdsev suffix, synthetic kernel, tiny initrd), computed by `assay-measurements`, and
/// checked against the value sev-snp-measure gave for the same launch (vector
/// `snp-qemu-amdsev64k-syn-i-a-EPYC-v4-1vcpu-gf0x1`).
pub fn launch_measurement() -> [u8; 48] {
    use assay_measurements::launch::{DirectBoot, Launch, snp_launch_digest};
    let dir = std::env::var_os("ASSAY_MEASURE_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/measure")
        })
        .join("inputs");
    let read = |f: &str| {
        std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()))
    };
    let (ovmf, kernel, initrd) = (
        read("OVMF.amdsev.fd.suffix64k.bin"),
        read("kernel-synthetic.bin"),
        read("initrd-tiny.cpio.gz"),
    );
    let m = snp_launch_digest(&Launch {
        firmware: &ovmf,
        boot: Some(DirectBoot::Files {
            kernel: &kernel,
            initrd: Some(&initrd),
            append: Some("console=ttyS0 loglevel=7"),
        }),
        vcpus: 1,
        vcpu_sig: assay_measurements::vcpu::vcpu_type_sig("EPYC-v4").unwrap(),
        vmm: "QEMU".parse().unwrap(),
        guest_features: 1,
        firmware_digest: None,
    })
    .unwrap();
    assert_eq!(
        hex::encode(m),
        "1a7bc53c446b9ffe30ace9b9dc3373146f59df5b3d7614be48129e074d0706a32ca01d65d932e7b19278444f9e6484e0"
    );
    m
}
