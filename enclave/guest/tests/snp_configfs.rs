//! The `snp` provider's configfs-tsm exchange, on a directory laid out as the kernel lays out a
//! report entry (the real device is not on this machine): the report and the certificate table
//! are read, the table is parsed bounds-checked, and device errors name the file.

use std::path::Path;

use assay_attestation::Verifier;
use assay_attestation::abi::{CertificateKind, ReportRequest, TableEntry, build_cert_table};
use assay_attestation::testing::{SimulatedChain, SimulatedSp, default_chain_dir};
use assay_attestation::verify::VekKind;
use assay_enclave::evidence::snp::request;

fn sp() -> SimulatedSp {
    SimulatedSp::new(
        SimulatedChain::load(&default_chain_dir()).unwrap(),
        [0x5a; 48],
    )
}

fn report(sp: &SimulatedSp, report_data: [u8; 64]) -> Vec<u8> {
    sp.report(&ReportRequest {
        report_data,
        vmpl: 0,
    })
    .to_vec()
}

fn entry(dir: &Path, report: &[u8], table: Option<Vec<u8>>, provider: &str) {
    std::fs::write(dir.join("provider"), format!("{provider}\n")).unwrap();
    std::fs::write(dir.join("generation"), "1\n").unwrap();
    std::fs::write(dir.join("outblob"), report).unwrap();
    if let Some(t) = table {
        std::fs::write(dir.join("auxblob"), t).unwrap();
    }
}

#[test]
fn reads_report_and_certificate_table() {
    let dir = tempfile::tempdir().unwrap();
    let sp = sp();
    let report = report(&sp, [9; 64]);
    let certs: Vec<Vec<u8>> = sp
        .chain()
        .certificates(VekKind::Vcek)
        .iter()
        .map(|c| c.der().to_vec())
        .collect();
    let table = build_cert_table(&[
        TableEntry {
            kind: CertificateKind::Ask,
            der: certs[1].clone(),
        },
        TableEntry {
            kind: CertificateKind::Other([7; 16]),
            der: vec![1, 2, 3],
        },
        TableEntry {
            kind: CertificateKind::Vcek,
            der: certs[0].clone(),
        },
    ]);
    let mut padded = table.clone();
    padded.resize(table.len().next_multiple_of(4096), 0);
    entry(dir.path(), &report, Some(padded), "sev_guest");
    let ev = request(dir.path(), &[9; 64], &[]).unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("inblob")).unwrap(),
        vec![9; 64]
    );
    assert_eq!(ev.report, report);
    assert_eq!(ev.certificates, vec![certs[0].clone(), certs[1].clone()]);
    // The evidence verifies like any report.
    let parsed: Vec<_> = ev
        .certificates
        .iter()
        .map(|d| assay_attestation::verify::Certificate::from_der(d, "c").unwrap())
        .collect();
    let mut verifier = Verifier::new(time::OffsetDateTime::now_utc());
    verifier.trust = sp.chain().trust();
    verifier.verify(&ev.report, &parsed).unwrap();

    // No auxblob: the fallback certificates (e.g. from KDS), or none.
    let dir2 = tempfile::tempdir().unwrap();
    entry(dir2.path(), &report, None, "sev_guest");
    assert!(
        request(dir2.path(), &[9; 64], &[])
            .unwrap()
            .certificates
            .is_empty()
    );
    assert_eq!(
        request(dir2.path(), &[9; 64], &certs).unwrap().certificates,
        certs
    );
    // A host table wins over the fallback.
    let ev = request(dir.path(), &[9; 64], &[vec![1]]).unwrap();
    assert_eq!(ev.certificates, vec![certs[0].clone(), certs[1].clone()]);
}

#[test]
fn device_errors_name_the_file() {
    let report = report(&sp(), [0; 64]);
    let dir = tempfile::tempdir().unwrap();
    entry(dir.path(), &report, None, "tdx_guest");
    let e = request(dir.path(), &[0; 64], &[]).unwrap_err().to_string();
    assert!(e.contains("provider") && e.contains("tdx_guest"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    entry(dir.path(), &report, Some(vec![0xAB; 30]), "sev_guest");
    let e = request(dir.path(), &[0; 64], &[]).unwrap_err().to_string();
    assert!(e.contains("certificate table entry 0"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let e = request(dir.path(), &[0; 64], &[]).unwrap_err().to_string();
    assert!(e.contains("generation"), "{e}");

    let missing = assay_enclave::evidence::snp::ConfigfsTsm {
        root: dir.path().join("no-such-dir"),
        fallback_certificates: Vec::new(),
    };
    use assay_enclave::evidence::EvidenceProvider;
    let e = missing.attest([0; 64]).unwrap_err().to_string();
    assert!(e.contains("no-such-dir"), "{e}");
}
