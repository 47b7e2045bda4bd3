//! `assay measure` replays every sev-snp-measure 0.0.13 command line of
//! `../shared/vectors/measure/vectors.json` and must print the same digest, or fail with the
//! same exit status and message. Vectors whose Debian inputs were not fetched are skipped, and
//! counted as such (see measurements/tests/vectors.rs for the rules).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

#[path = "../../measurements/tests/paths/mod.rs"]
mod paths;

use paths::{inputs_dir, vectors_dir};

/// The path of input `id`, if present.
fn input_path(v: &Value, id: &str) -> Option<PathBuf> {
    let input = &v["inputs"][id];
    let path = match input["source"].as_str()? {
        "stored" => vectors_dir().join(input["file"].as_str()?),
        _ => inputs_dir().join(id),
    };
    path.is_file().then_some(path)
}

#[test]
fn assay_measure_replays_sev_snp_measure_command_lines() {
    let text =
        std::fs::read_to_string(vectors_dir().join("vectors.json")).expect("measure vectors");
    let v: Value = serde_json::from_str(&text).unwrap();
    let (mut passed, mut skipped) = (0, 0);
    'vectors: for x in v["vectors"].as_array().unwrap() {
        let id = x["id"].as_str().unwrap();
        let mut args = vec!["measure".to_owned()];
        for a in x["argv"].as_array().unwrap() {
            let a = a.as_str().unwrap();
            match a.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(input) => match input_path(&v, input) {
                    Some(p) => args.push(p.display().to_string()),
                    None => {
                        skipped += 1;
                        continue 'vectors;
                    }
                },
                None => args.push(a.to_owned()),
            }
        }
        let out = Command::new(env!("CARGO_BIN_EXE_assay"))
            .args(&args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if x.get("expect_error").is_some() {
            let code = x["exit_code"].as_i64().unwrap() as i32;
            assert_eq!(out.status.code(), Some(code), "{id}: {stderr}");
            let want = x["stderr_last_line"].as_str().unwrap();
            match code {
                1 => assert_eq!(stderr.trim_end().lines().last(), Some(want), "{id}"),
                _ => {
                    let msg = want.split("error: ").last().unwrap();
                    assert!(stderr.contains(&format!("error: {msg}")), "{id}: {stderr}");
                }
            }
        } else {
            assert_eq!(out.status.code(), Some(0), "{id}: {stderr}");
            assert_eq!(stdout.trim_end(), x["expected"].as_str().unwrap(), "{id}");
        }
        passed += 1;
    }
    eprintln!("assay measure: {passed} vectors passed, {skipped} skipped (inputs not fetched)");
    if std::env::var_os("ASSAY_REQUIRE_MEASURE_INPUTS").is_some() {
        assert_eq!(skipped, 0);
    }
    assert!(passed >= 46);
}

#[test]
fn reference_file_is_written_and_bad_arguments_are_refused() {
    let tail = vectors_dir().join("inputs/OVMF.amdsev.fd.suffix64k.bin");
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("ref.toml");
    let assay = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_assay"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = assay(&[
        "measure",
        "--mode",
        "snp",
        "--vcpus",
        "4",
        "--vcpu-type",
        "EPYC-Milan",
        "--ovmf",
        tail.to_str().unwrap(),
        "--reference",
        reference.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let digest = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let r = assay_measurements::reference::ReferenceValues::load(&reference).unwrap();
    assert_eq!(r.measurement, digest);
    assert_eq!(r.vcpus, Some(4));
    assert_eq!(r.firmware.size, 65536);

    for (args, code, needle) in [
        (
            vec!["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-Zen9"],
            2,
            "EPYC-Zen9",
        ),
        (
            vec!["--mode", "snp", "--vcpus", "1", "--vcpu-family", "25"],
            2,
            "--vcpu-model",
        ),
        (
            vec!["--mode", "snp", "--vcpus", "1", "--vcpu-sig", "0xzz"],
            2,
            "0xzz",
        ),
        (
            vec![
                "--mode",
                "snp",
                "--vcpus",
                "1",
                "--vcpu-type",
                "EPYC",
                "--vmm-type",
                "kvm",
            ],
            2,
            "unknown VMM type 'kvm'",
        ),
        (
            vec![
                "--mode",
                "seves",
                "--vcpus",
                "1",
                "--vcpu-type",
                "EPYC",
                "--snp-ovmf-hash",
                "00",
            ],
            1,
            "only works with SNP",
        ),
        (
            vec![
                "--mode",
                "snp",
                "--vcpus",
                "1",
                "--vcpu-type",
                "EPYC",
                "--snp-ovmf-hash",
                "00",
            ],
            1,
            "48 bytes",
        ),
        (
            vec!["--mode", "snp:svsm", "--vcpus", "1", "--vcpu-type", "EPYC"],
            2,
            "--vars-size",
        ),
        (
            vec![
                "--mode",
                "snp",
                "--vcpus",
                "1",
                "--vcpu-type",
                "EPYC",
                "--kernel",
                "/nonexistent/k",
            ],
            1,
            "/nonexistent/k",
        ),
    ] {
        let mut full = vec!["measure", "--ovmf", tail.to_str().unwrap()];
        full.extend(args.iter().copied());
        let out = assay(&full);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    let out = assay(&[
        "measure",
        "--mode",
        "snp",
        "--vcpus",
        "1",
        "--vcpu-type",
        "EPYC",
        "--ovmf",
        "/nonexistent/ovmf.fd",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("Error: /nonexistent/ovmf.fd"));
}
