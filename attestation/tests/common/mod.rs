//! Helpers shared by the integration tests: the real vectors in `../shared/vectors/snp` and the
//! simulated chain in `testdata/sim`.
#![allow(dead_code, missing_docs)]

use std::path::{Path, PathBuf};

use assay_attestation::abi::{AttestationReport, extract_report};
use assay_attestation::kds::read_report_file;
use assay_attestation::verify::{Certificate, parse_certificates};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The real SNP vectors; `ASSAY_SNP_VECTORS` overrides the location. Missing vectors fail the
/// test run rather than skip it: these tests are the proof that real reports verify.
pub fn vectors() -> PathBuf {
    let dir = std::env::var_os("ASSAY_SNP_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/snp"));
    assert!(
        dir.join("manifest.json").is_file(),
        "real SNP vectors not found at {} (set ASSAY_SNP_VECTORS)",
        dir.display()
    );
    dir
}

pub fn manifest() -> Value {
    let text = std::fs::read_to_string(vectors().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn sim_dir() -> PathBuf {
    // Every crate of the workspace sits one folder below its root.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../attestation/testdata/sim")
}

pub fn time(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &Rfc3339).unwrap()
}

/// The input bytes of a report file as stored (hex decoded, envelope kept).
pub fn report_input(rel: &str) -> Vec<u8> {
    read_report_file(&vectors().join(rel)).unwrap()
}

pub fn report(rel: &str) -> AttestationReport {
    let input = report_input(rel);
    AttestationReport::from_bytes(extract_report(&input).unwrap().0).unwrap()
}

pub fn certs(rel: &str) -> Vec<Certificate> {
    let path = vectors().join(rel);
    parse_certificates(&std::fs::read(&path).unwrap(), rel).unwrap()
}

pub fn sim_certs(names: &[&str]) -> Vec<Certificate> {
    names
        .iter()
        .flat_map(|n| parse_certificates(&std::fs::read(sim_dir().join(n)).unwrap(), n).unwrap())
        .collect()
}

/// The TCB and chip id the simulated VCEK was issued for (see testdata/sim/generate.py).
pub const SIM_TCB: assay_attestation::abi::Tcb = assay_attestation::abi::Tcb {
    fmc: None,
    bootloader: 3,
    tee: 0,
    snp: 8,
    microcode: 115,
};

pub fn sim_hwid() -> [u8; 64] {
    std::array::from_fn(|i| 0x40 + i as u8)
}

/// A version 3 Milan report for the simulated chip, as its firmware would make it, after `edit`.
pub fn sim_report(edit: impl FnOnce(&mut AttestationReport)) -> AttestationReport {
    use assay_attestation::abi::{Product, TcbVersion};
    let mut bytes = [0u8; assay_attestation::abi::REPORT_SIZE];
    bytes[0] = 3;
    bytes[0x08..0x10].copy_from_slice(&0x30000u64.to_le_bytes());
    bytes[0x34] = 1;
    bytes[0x188..0x18B].copy_from_slice(&[0x19, 0x01, 0x01]);
    let mut report = AttestationReport::from_bytes(&bytes).unwrap();
    let tcb: TcbVersion = SIM_TCB.encode(Product::Milan);
    report.reported_tcb = tcb;
    report.current_tcb = tcb;
    report.committed_tcb = tcb;
    report.launch_tcb = tcb;
    report.chip_id = sim_hwid();
    report.measurement = [0x11; 48];
    report.platform_info = assay_attestation::abi::PlatformInfo(0x25);
    edit(&mut report);
    report
}

/// Signs `report` as the AMD-SP does, with the simulated VCEK (or VLEK) private key.
pub fn sim_sign(mut report: AttestationReport, key_file: &str) -> Vec<u8> {
    use assay_attestation::abi::{EcdsaSignature, SIGNED_LEN};
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair};
    let pk8 = std::fs::read(sim_dir().join(key_file)).unwrap();
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &pk8).unwrap();
    let bytes = report.to_bytes();
    let sig = key
        .sign(&SystemRandom::new(), &bytes[..SIGNED_LEN])
        .unwrap();
    report.signature = EcdsaSignature::from_fixed_be(sig.as_ref().try_into().unwrap());
    report.to_bytes().to_vec()
}

/// A trust store with AMD's roots and the simulated ARK, named explicitly.
pub fn sim_trust() -> assay_attestation::verify::TrustStore {
    let ark = sim_certs(&["ark.pem"]).remove(0);
    assay_attestation::verify::TrustStore::amd()
        .with_test_root(ark)
        .unwrap()
}
