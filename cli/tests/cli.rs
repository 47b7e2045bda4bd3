//! `assay` as a process: exit codes, the one-line verdict, JSON output, and input errors.

#[path = "../../attestation/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

fn assay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_assay"))
        .args(args)
        .output()
        .expect("assay runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A certificate folder with just one VEK file copied from the vectors.
fn cert_dir(vek_rel: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let name = if vek_rel.ends_with(".pem") {
        "vcek.pem"
    } else {
        "vcek.der"
    };
    std::fs::copy(vectors().join(vek_rel), dir.path().join(name)).unwrap();
    dir
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

const GENOA_AT: &str = "2025-08-09T00:00:00Z";

fn genoa() -> (String, tempfile::TempDir) {
    (
        path(&vectors().join("oak/genoa_oc_report.bin")).to_owned(),
        cert_dir("oak/genoa_oc_vcek.der"),
    )
}

#[test]
fn genuine_report_is_accepted() {
    let (report, certs) = genoa();
    let o = assay(&[
        "verify",
        "report",
        &report,
        "--certs",
        path(certs.path()),
        "--at",
        GENOA_AT,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("accepted: Genoa report v5 signed by Vcek (AMD root)"));
}

#[test]
fn json_lists_the_report_and_every_check() {
    let (report, certs) = genoa();
    let o = assay(&[
        "verify",
        "report",
        &report,
        "--certs",
        path(certs.path()),
        "--at",
        GENOA_AT,
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["accepted"], true);
    assert_eq!(v["product"], "Genoa");
    assert_eq!(v["report"]["version"], "5");
    assert_eq!(v["checks"].as_array().unwrap().len(), 7);
    assert_eq!(v["report"]["chip_id"].as_str().unwrap().len(), 128);
}

#[test]
fn tampered_report_fails_with_one_line_naming_the_signature_check() {
    let (report, certs) = genoa();
    let mut bytes = std::fs::read(&report).unwrap();
    bytes[0x95] ^= 0x80; // inside MEASUREMENT
    let dir = tempfile::tempdir().unwrap();
    let tampered = dir.path().join("tampered.bin");
    std::fs::write(&tampered, bytes).unwrap();
    let o = assay(&[
        "verify",
        "report",
        path(&tampered),
        "--certs",
        path(certs.path()),
        "--at",
        GENOA_AT,
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("rejected: signature check failed"), "{err}");

    let o = assay(&[
        "verify",
        "report",
        path(&tampered),
        "--certs",
        path(certs.path()),
        "--at",
        GENOA_AT,
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["accepted"], false);
    assert_eq!(v["error"]["check"], "signature");
}

#[test]
fn debug_guest_needs_a_policy_that_allows_it() {
    let report = vectors().join("go-sev-guest/attestation.bin");
    let certs = cert_dir("go-sev-guest/vcek.testcer");
    let at = "2022-09-25T00:55:28Z";
    let o = assay(&[
        "verify",
        "report",
        path(&report),
        "--certs",
        path(certs.path()),
        "--at",
        at,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("rejected: policy check failed"),
        "{}",
        stderr(&o)
    );

    let policy = certs.path().join("policy.toml");
    std::fs::write(&policy, "allow_debug = true\nvmpl = 0\n[min_tcb]\n").unwrap();
    let o = assay(&[
        "verify",
        "report",
        path(&report),
        "--certs",
        path(certs.path()),
        "--at",
        at,
        "--policy",
        path(&policy),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    std::fs::write(&policy, "allow_debug = true\nvmpl = 2\n[min_tcb]\n").unwrap();
    let o = assay(&[
        "verify",
        "report",
        path(&report),
        "--certs",
        path(certs.path()),
        "--at",
        at,
        "--policy",
        path(&policy),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("vmpl must be 2"), "{}", stderr(&o));
}

#[test]
fn crl_option_is_checked() {
    let report = vectors().join("oak/milan_oc_release_report.bin");
    let certs = cert_dir("oak/milan_oc_release_vcek.der");
    let crl = vectors().join("openpcc/test_amd_milan_crl.pem");
    let ok = assay(&[
        "verify",
        "report",
        path(&report),
        "--certs",
        path(certs.path()),
        "--crl",
        path(&crl),
        "--at",
        "2025-06-01T00:00:00Z",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let stale = assay(&[
        "verify",
        "report",
        path(&report),
        "--certs",
        path(certs.path()),
        "--crl",
        path(&crl),
        "--at",
        "2026-11-24T00:00:00Z",
    ]);
    assert_eq!(stale.status.code(), Some(1));
    assert!(
        stderr(&stale).starts_with("rejected: crl check failed"),
        "{}",
        stderr(&stale)
    );
    // Without a CRL the report passes, and stderr says that none was checked.
    let unchecked = assay(&[
        "verify",
        "report",
        path(&report),
        "--certs",
        path(certs.path()),
        "--at",
        "2026-11-24T00:00:00Z",
    ]);
    assert_eq!(unchecked.status.code(), Some(0), "{}", stderr(&unchecked));
    assert!(stderr(&unchecked).contains("note: no CRL was checked"));
    // A CRL beside the certificates (as `assay kds fetch` writes it) is checked without --crl.
    std::fs::copy(&crl, certs.path().join("crl.pem")).unwrap();
    let beside = assay(&[
        "verify",
        "report",
        path(&report),
        "--certs",
        path(certs.path()),
        "--at",
        "2026-11-24T00:00:00Z",
    ]);
    assert_eq!(beside.status.code(), Some(1));
    assert!(
        stderr(&beside).starts_with("rejected: crl check failed"),
        "{}",
        stderr(&beside)
    );
    let fresh = assay(&[
        "verify",
        "report",
        path(&report),
        "--certs",
        path(certs.path()),
        "--at",
        "2025-06-01T00:00:00Z",
    ]);
    assert_eq!(fresh.status.code(), Some(0), "{}", stderr(&fresh));
    assert!(!stderr(&fresh).contains("no CRL"), "{}", stderr(&fresh));
}

#[test]
fn test_root_is_trusted_only_when_named() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("sim.bin");
    std::fs::write(&report, sim_sign(sim_report(|_| {}), "vcek.pk8")).unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    for f in ["vcek.pem", "ask.pem"] {
        std::fs::copy(sim_dir().join(f), certs.join(f)).unwrap();
    }
    let at = "2025-01-01T00:00:00Z";
    let o = assay(&[
        "verify",
        "report",
        path(&report),
        "--certs",
        path(&certs),
        "--at",
        at,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("rejected: chain check failed"),
        "{}",
        stderr(&o)
    );
    let ark = sim_dir().join("ark.pem");
    let o = assay(&[
        "verify",
        "report",
        path(&report),
        "--certs",
        path(&certs),
        "--at",
        at,
        "--trust-root",
        path(&ark),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("TEST ROOT (not AMD)"));
}

#[test]
fn unusable_inputs_are_named() {
    let (report, certs) = genoa();
    let c = path(certs.path());
    let cases: [(&[&str], &str); 5] = [
        (
            &["verify", "report", "/nonexistent/report.bin", "--certs", c],
            "/nonexistent/report.bin",
        ),
        (
            &["verify", "report", &report, "--certs", "/nonexistent/certs"],
            "/nonexistent/certs",
        ),
        (
            &[
                "verify",
                "report",
                &report,
                "--certs",
                c,
                "--at",
                "2025-13-01",
            ],
            "--at",
        ),
        (
            &[
                "verify",
                "report",
                &report,
                "--certs",
                c,
                "--policy",
                "/nonexistent/p.toml",
            ],
            "/nonexistent/p.toml",
        ),
        (
            &["verify", "report", &report, "--certs", c, "--crl", &report],
            "CRL",
        ),
    ];
    for (args, needle) in cases {
        let o = assay(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
    let bad_policy = certs.path().join("bad.toml");
    std::fs::write(&bad_policy, "measurements = [\"00\"]").unwrap();
    let o = assay(&[
        "verify",
        "report",
        &report,
        "--certs",
        c,
        "--policy",
        path(&bad_policy),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("measurements"), "{}", stderr(&o));
    // A malformed command line is clap's exit 2.
    assert_eq!(assay(&["verify", "report"]).status.code(), Some(2));
}

#[test]
fn kds_urls_use_reported_tcb_and_need_a_product_for_v2() {
    let lit = path(&vectors().join("lit-sev-snp-utils/guest_report.bin")).to_owned();
    let o = assay(&["kds", "urls", &lit]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--product"), "{}", stderr(&o));
    let o = assay(&["kds", "urls", &lit, "--product", "Milan"]);
    assert_eq!(o.status.code(), Some(0));
    // REPORTED_TCB snp=5, not CURRENT_TCB snp=6.
    assert!(stdout(&o).contains("snpSPL=05"), "{}", stdout(&o));
    let (genoa, _) = genoa();
    let o = assay(&["kds", "urls", &genoa, "--product", "Milan"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("contradicts"), "{}", stderr(&o));
}

#[test]
fn reference_values_restrict_the_measurement() {
    use assay_measurements::reference::{Artifact, FORMAT, ReferenceValues};
    let (report, certs) = genoa();
    let c = path(certs.path());
    let make = |measurement: &str| ReferenceValues {
        format: FORMAT.into(),
        name: "demo".into(),
        mode: "snp".into(),
        measurement: measurement.into(),
        vcpus: None,
        vcpu_sig: None,
        vmm_type: "QEMU".into(),
        guest_features: None,
        append: None,
        firmware: Artifact::of(b"ovmf"),
        kernel: None,
        initrd: None,
        variants: Vec::new(),
    };
    let genoa_measurement = "c57729018b0a6fb90dc17bb138b0aa35e4401004283ff4a2c24d3739ff3750f52384370e77b7032862a08c440a9bc4dc";
    let good = certs.path().join("good.ref");
    make(genoa_measurement).save(&good).unwrap();
    let other = certs.path().join("other.ref");
    make(&"00".repeat(48)).save(&other).unwrap();
    let o = assay(&[
        "verify",
        "report",
        &report,
        "--certs",
        c,
        "--at",
        GENOA_AT,
        "--reference",
        path(&good),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = assay(&[
        "verify",
        "report",
        &report,
        "--certs",
        c,
        "--at",
        GENOA_AT,
        "--reference",
        path(&other),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("measurements"), "{}", stderr(&o));
    let o = assay(&[
        "verify",
        "report",
        &report,
        "--certs",
        c,
        "--at",
        GENOA_AT,
        "--reference",
        "/nonexistent.ref",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/nonexistent.ref"), "{}", stderr(&o));
}

#[test]
fn a_training_command_without_assay_train_beside_names_the_missing_binary() {
    // `assay` alone in a folder: a command that does not train still runs, a training one is
    // refused with the path it looked for, and no training starts.
    let dir = tempfile::tempdir().unwrap();
    let lone = dir.path().join("assay");
    // A hard link where it can be (a copy's write handle, inherited by a process another test
    // forks meanwhile, makes exec fail with "text file busy").
    if std::fs::hard_link(env!("CARGO_BIN_EXE_assay"), &lone).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_assay"), &lone).unwrap();
    }
    let run = |args: &[&str]| {
        for _ in 0..100 {
            match Command::new(&lone).args(args).output() {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                o => return o.unwrap(),
            }
        }
        panic!("{} stayed busy", lone.display())
    };
    let o = run(&["kds", "--help"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run(&["recipe", "check", "recipe.toml"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let missing = dir.path().join("assay-train");
    assert!(
        err.contains(&format!("{} is missing", missing.display()))
            && err.contains("cargo install --path cli"),
        "{err}"
    );
}

#[test]
fn assay_train_refuses_the_commands_that_do_not_train() {
    let o = Command::new(env!("CARGO_BIN_EXE_assay-train"))
        .args(["kds", "urls", "report.bin"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("assay-train runs only `assay recipe`, `assay attribute` and `assay replay`"),
        "{err}"
    );
}

#[test]
fn a_training_command_runs_through_assay_train() {
    // `assay recipe check` (a training command: the recipe is assay-train's) gives the same
    // answer as `assay-train recipe check`; a malformed command line is `assay`'s own error.
    let args = ["recipe", "check", "/nonexistent/recipe.toml"];
    let via_assay = assay(&args);
    let direct = Command::new(env!("CARGO_BIN_EXE_assay-train"))
        .args(args)
        .output()
        .unwrap();
    assert_eq!(via_assay.status.code(), Some(1));
    assert_eq!(direct.status.code(), Some(1));
    assert!(stderr(&via_assay).contains("/nonexistent/recipe.toml"));
    assert_eq!(stderr(&via_assay), stderr(&direct));
    let o = assay(&["recipe", "check"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("Usage: assay recipe check <FILE>"), "{err}");
}
