//! Differential test against the reference tool itself: random synthetic firmware, SVSM images
//! and launch parameters, measured by sev-snp-measure 0.0.13 (installed from PyPI by
//! `scripts/test`, named by `ASSAY_SEV_SNP_MEASURE`) and by this crate. This is also the test of
//! the `snp:svsm` mode, which the stored vectors do not cover.
//!
//! Without `ASSAY_SEV_SNP_MEASURE` the test reports itself skipped; with
//! `ASSAY_REQUIRE_ORACLE=1` (set by `scripts/test` when the install succeeded) that is a failure.

mod common;

use std::path::Path;
use std::process::Command;

use assay_measurements::vcpu::{VCPU_TYPES, VmmType, vcpu_type_sig};
use assay_measurements::{DirectBoot, Launch, SvsmLaunch};
use common::*;

fn oracle() -> Option<String> {
    match std::env::var("ASSAY_SEV_SNP_MEASURE") {
        Ok(bin) => Some(bin),
        Err(_) => {
            eprintln!("oracle test SKIPPED: ASSAY_SEV_SNP_MEASURE is not set");
            assert!(
                std::env::var_os("ASSAY_REQUIRE_ORACLE").is_none(),
                "oracle required"
            );
            None
        }
    }
}

/// Runs the oracle; `Ok(hex)` or `Err(last line of stderr)`.
fn run(bin: &str, args: &[String]) -> Result<String, String> {
    let out = Command::new(bin).args(args).output().expect("oracle runs");
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap().trim().to_owned())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(stderr
            .trim_end()
            .lines()
            .last()
            .unwrap_or_default()
            .to_owned())
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

/// A random but well-formed SEV firmware of `pages` pages.
fn random_image(rng: &mut Rng, pages: usize, svsm: bool) -> Image {
    let base = 0x80_0000u32;
    let mut sections = Vec::new();
    let mut gpa = base;
    for _ in 0..rng.below(6) {
        let (ty, size) = match rng.below(if svsm { 4 } else { 5 }) {
            0 => (1, (1 + rng.below(3) as u32) * 0x1000),
            1 => (2, 0x1000),
            2 => (3, 0x1000),
            3 => (4, 0x1000),
            _ => (0x10, 0x1000),
        };
        sections.push((gpa, size, ty));
        gpa += size;
    }
    let reset = if rng.below(8) == 0 {
        0
    } else {
        0xffff_0000u32 | (rng.below(0x1000) as u32 & !3)
    };
    let table_off = rng.below(0x1000 - 176) as u32;
    let mut entries = vec![(RESET_BLOCK, reset.to_le_bytes().to_vec())];
    if rng.below(4) != 0 {
        let hashes_gpa = base + 0x10_0000 + table_off;
        entries.push((
            HASH_TABLE,
            [hashes_gpa.to_le_bytes(), 0x400u32.to_le_bytes()].concat(),
        ));
    }
    if svsm {
        entries.push((SVSM_INFO, (rng.below(0x1000) as u32).to_le_bytes().to_vec()));
    }
    Image {
        pages,
        entries,
        sections: Some(sections),
        metadata_at: 0x200,
        fill: rng.next() as u8,
    }
}

#[test]
fn random_launches_agree_with_sev_snp_measure() {
    let Some(bin) = oracle() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x5eed_a55a_1234_9876);
    let kernel = write(
        dir.path(),
        "kernel",
        &(0..70_000u32).map(|i| (i * 7) as u8).collect::<Vec<_>>(),
    );
    let initrd = write(dir.path(), "initrd", b"initrd bytes");
    let (mut agreed, mut both_failed) = (0, 0);
    for case in 0..100 {
        let pages = 1 + rng.below(6) as usize;
        let img = random_image(&mut rng, pages, false);
        let fw = img.build();
        let ovmf = write(dir.path(), &format!("fw{case}"), &fw);
        let mode = ["snp", "snp", "snp", "seves", "sev"][rng.below(5) as usize];
        let vcpus = 1 + rng.below(4) as u32;
        let (vcpu_type, _) = VCPU_TYPES[rng.below(VCPU_TYPES.len() as u64) as usize];
        let vmm = ["QEMU", "QEMU", "ec2", "gce"][rng.below(4) as usize];
        let features = [0x1u64, 0x0, 0x21, 0x5][rng.below(4) as usize];
        let with_kernel = rng.coin();
        let with_initrd = with_kernel && rng.coin();
        let append = (with_kernel && rng.coin()).then_some("console=ttyS0 quiet");
        let mut args: Vec<String> = ["--mode", mode, "--ovmf", &ovmf, "--vmm-type", vmm]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if mode != "sev" {
            args.extend([
                "--vcpus".into(),
                vcpus.to_string(),
                "--vcpu-type".into(),
                vcpu_type.into(),
            ]);
        }
        if mode == "snp" {
            args.extend(["--guest-features".into(), format!("{features:#x}")]);
        }
        if with_kernel {
            args.extend(["--kernel".into(), kernel.clone()]);
        }
        if with_initrd {
            args.extend(["--initrd".into(), initrd.clone()]);
        }
        if let Some(a) = append {
            args.extend(["--append".into(), a.into()]);
        }
        let kernel_bytes = std::fs::read(&kernel).unwrap();
        let initrd_bytes = std::fs::read(&initrd).unwrap();
        let l = Launch {
            firmware: &fw,
            boot: with_kernel.then_some(DirectBoot::Files {
                kernel: &kernel_bytes,
                initrd: with_initrd.then_some(initrd_bytes.as_slice()),
                append,
            }),
            vcpus,
            vcpu_sig: vcpu_type_sig(vcpu_type).unwrap(),
            vmm: vmm.parse::<VmmType>().unwrap(),
            guest_features: features,
            firmware_digest: None,
        };
        let ours = match mode {
            "snp" => assay_measurements::snp_launch_digest(&l).map(hex::encode),
            "seves" => assay_measurements::seves_launch_digest(&l).map(hex::encode),
            _ => assay_measurements::sev_launch_digest(&l).map(hex::encode),
        };
        match (run(&bin, &args), ours) {
            (Ok(theirs), Ok(ours)) => {
                assert_eq!(ours, theirs, "case {case}: {args:?}");
                agreed += 1;
            }
            (Err(theirs), Err(ours)) => {
                // A deliberate error of the tool ("Error: …") must be ours too (ours may add a hint); its crashes
                // (a Python traceback, e.g. AP entry 0 with several vCPUs) are ours to name.
                if let Some(msg) = theirs.strip_prefix("Error: ") {
                    let ours = ours.to_string();
                    assert!(
                        ours.starts_with(msg),
                        "case {case}: {args:?}\n{ours} vs {msg}"
                    );
                }
                both_failed += 1;
            }
            (theirs, ours) => panic!("case {case}: {args:?}\noracle: {theirs:?}\nours: {ours:?}"),
        }
    }
    eprintln!("oracle: {agreed} digests agreed, {both_failed} cases failed in both");
    assert!(agreed >= 50 && both_failed >= 10, "{agreed} {both_failed}");
}

#[test]
fn svsm_launches_agree_with_sev_snp_measure() {
    let Some(bin) = oracle() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for case in 0..12 {
        let pages = 1 + rng.below(4) as usize;
        let ovmf = random_image(&mut rng, pages, false).build();
        let pages = 1 + rng.below(4) as usize;
        let svsm = random_image(&mut rng, pages, true).build();
        let vars_size = (1 + rng.below(8)) * 0x1000;
        let vcpus = 1 + rng.below(4) as u32;
        let (vcpu_type, _) = VCPU_TYPES[rng.below(VCPU_TYPES.len() as u64) as usize];
        let args: Vec<String> = [
            "--mode",
            "snp:svsm",
            "--ovmf",
            &write(dir.path(), "ovmf", &ovmf),
            "--svsm",
            &write(dir.path(), "svsm", &svsm),
            "--vars-size",
            &vars_size.to_string(),
            "--vcpus",
            &vcpus.to_string(),
            "--vcpu-type",
            vcpu_type,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let ours = assay_measurements::svsm_launch_digest(&SvsmLaunch {
            firmware: &ovmf,
            vars_size,
            svsm: &svsm,
            vcpus,
            vcpu_sig: vcpu_type_sig(vcpu_type).unwrap(),
        })
        .map(hex::encode)
        .unwrap_or_else(|e| panic!("case {case}: {e}"));
        assert_eq!(run(&bin, &args), Ok(ours), "case {case}: {args:?}");
    }
}
