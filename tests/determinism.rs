//! Cross-CPU determinism, end to end: the example job's attribution (the demo's tiny model,
//! recipe and three contributors; every training and eval of leave-one-out) gives the same
//! bits natively and under Debian's user-mode QEMU as a Haswell-v4 CPU (AVX2 and FMA only:
//! where this CPU has AVX-512, other gemm kernels), and with sysfs showing that emulated CPU
//! another L1 cache. `enclave/recipe/tests/gemm_bits.rs` checks each of gemm's paths the same
//! way; docs/recipe.md says what the guarantee rests on.

use std::path::Path;
use std::process::Command;

use assay_tests::job::{Setup, jsonl};
use assay_tests::paths::bin;

/// `assay attribute --json` on the setup's files, through `qemu-x86_64 QEMU` when given.
fn attribute(s: &Setup, qemu: Option<&[&str]>) -> serde_json::Value {
    let o = run_attribute(s, qemu);
    assert!(
        o.status.success(),
        "{qemu:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn run_attribute(s: &Setup, qemu: Option<&[&str]>) -> std::process::Output {
    let d = s.path();
    let mut c = match qemu {
        Some(args) => {
            // `assay-train` itself: `assay` would hand a training over with exec, which the
            // emulator passes to the kernel, so the training would run natively.
            let mut c = Command::new("qemu-x86_64");
            c.args(args).arg(bin("assay-train"));
            c
        }
        None => Command::new(bin("assay")),
    };
    c.arg("attribute")
        .arg("--recipe")
        .arg(d.join("recipe.toml"))
        .arg("--model")
        .arg(d.join("model"))
        .arg("--contributions")
        .arg(d.join("contributions.jsonl"))
        .arg("--holdout")
        .arg(d.join("holdout.jsonl"))
        .args(["--workers", "1", "--threads", "2", "--json"])
        // Set, so that `assay` does not run itself again (outside the emulator) to set it.
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run ({e}); for qemu-x86_64, install Debian's qemu-user (scripts/test does)"
            )
        })
}

/// A sysfs under `root` with one CPU whose L1 is 48 KiB 12-way (Zen 5's), for QEMU's `-L`.
fn fake_sysfs(root: &Path) {
    for (index, level, kind, size, ways) in [
        (0, 1, "Data", "48K", 12),
        (2, 2, "Unified", "1024K", 16),
        (3, 3, "Unified", "32768K", 16),
    ] {
        let dir = root.join(format!("sys/devices/system/cpu/cpu0/cache/index{index}"));
        std::fs::create_dir_all(&dir).unwrap();
        for (file, value) in [
            ("level", level.to_string()),
            ("type", kind.to_owned()),
            ("size", size.to_owned()),
            ("ways_of_associativity", ways.to_string()),
            ("coherency_line_size", "64".to_owned()),
            ("shared_cpu_list", "0".to_owned()),
        ] {
            std::fs::write(dir.join(file), format!("{value}\n")).unwrap();
        }
    }
}

#[test]
fn the_example_attribution_is_bitwise_the_same_on_avx512_and_avx2_and_any_l1() {
    let s = Setup::new();
    std::fs::write(s.path().join("holdout.jsonl"), jsonl(&s.holdout, false)).unwrap();
    let native = attribute(&s, None);
    assert_eq!(native["scores"].as_array().unwrap().len(), 3, "{native}");
    let haswell = attribute(&s, Some(&["-cpu", "Haswell-v4"]));
    assert_eq!(native, haswell, "native vs. qemu Haswell-v4 (AVX2)");
    let root = tempfile::tempdir().unwrap();
    fake_sysfs(root.path());
    let other_l1 = attribute(
        &s,
        Some(&["-cpu", "Haswell-v4", "-L", root.path().to_str().unwrap()]),
    );
    assert_eq!(
        native, other_l1,
        "native vs. Haswell-v4 with a 48 KiB 12-way L1"
    );
}

#[test]
fn a_cpu_without_fma_is_refused_before_anything_is_computed() {
    let s = Setup::new();
    std::fs::write(s.path().join("holdout.jsonl"), jsonl(&s.holdout, false)).unwrap();
    // Nehalem: SSE4.2, no AVX, no FMA.
    let o = run_attribute(&s, Some(&["-cpu", "Nehalem"]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error: this CPU lacks FMA: results are reproducible only on x86-64-v3 CPUs"),
        "{err}"
    );
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}
