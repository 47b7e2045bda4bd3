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
    assay_attestation::testing::default_chain_dir()
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

use assay_attestation::testing::SimulatedChain;
#[allow(unused_imports)]
pub use assay_attestation::testing::{SIM_TCB, sim_hwid};
use assay_attestation::verify::VekKind;

/// The simulated chain (`testdata/sim`).
pub fn chain() -> SimulatedChain {
    SimulatedChain::load(&sim_dir()).unwrap()
}

/// A version 3 Milan report for the simulated chip, as its firmware would make it (measurement
/// 0x11…), after `edit`.
pub fn sim_report(edit: impl FnOnce(&mut AttestationReport)) -> AttestationReport {
    let mut report = chain().blank_report();
    report.measurement = [0x11; 48];
    edit(&mut report);
    report
}

/// Signs `report` as the AMD-SP does, with the simulated VCEK (`vcek.pk8`) or VLEK
/// (`vlek.pk8`) private key.
pub fn sim_sign(report: AttestationReport, key_file: &str) -> Vec<u8> {
    let vek = match key_file {
        "vcek.pk8" => VekKind::Vcek,
        "vlek.pk8" => VekKind::Vlek,
        other => panic!("no simulated key {other}"),
    };
    chain().sign(report, vek).to_vec()
}

/// A trust store with AMD's roots and the simulated ARK, named explicitly.
pub fn sim_trust() -> assay_attestation::verify::TrustStore {
    chain().trust()
}
