//! The bits of candle's CPU matmuls do not depend on the CPU they run on: the same with gemm's
//! AVX-512 kernels as with its AVX2 ones, and whatever L1 cache the CPU (or sysfs, or a
//! hypervisor) reports. What it rests on (the patched gemm-common) is in docs/recipe.md.
//!
//! The products are computed here, natively, and by this same test binary run under Debian's
//! user-mode QEMU as a Haswell-v4 CPU (AVX2 and FMA, no AVX-512: other kernels, other vector
//! width), once with this machine's caches and once with sysfs showing a 48 KiB 12-way L1
//! (Zen 5's, and a geometry that changed gemm's blocking along k before the patch). Every
//! shape is chosen to take one of gemm's paths: the blocked kernel with k below and above one
//! block, the small-matrix path, the products the horizontal kernel and the row-major gemv
//! took, the column-major gemv, the k ≤ 2 path, batched products as attention makes them.
#![cfg(target_arch = "x86_64")]

use std::path::Path;
use std::process::Command;

use candle_core::{Device, Tensor};

/// How the right operand is laid out: as stored (k × n), or as `Wᵀ` of a stored n × k (what a
/// linear layer multiplies by).
#[derive(Clone, Copy)]
enum Rhs {
    Plain,
    Transposed,
}

struct Case {
    name: &'static str,
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    rhs: Rhs,
}

const fn case(name: &'static str, batch: usize, m: usize, k: usize, n: usize, rhs: Rhs) -> Case {
    Case {
        name,
        batch,
        m,
        k,
        n,
        rhs,
    }
}

const CASES: &[Case] = &[
    case(
        "blocked, k within one block",
        1,
        96,
        384,
        128,
        Rhs::Transposed,
    ),
    case(
        "blocked, k over blocks (x·Wᵀ)",
        1,
        128,
        2048,
        96,
        Rhs::Transposed,
    ),
    case(
        "blocked, k over blocks (x·W)",
        1,
        200,
        1000,
        100,
        Rhs::Plain,
    ),
    case(
        "small path, k over one block",
        1,
        24,
        1536,
        64,
        Rhs::Transposed,
    ),
    case("horizontal kernel's, k 64", 1, 8, 64, 16, Rhs::Transposed),
    case(
        "horizontal kernel's, k 2048",
        1,
        8,
        2048,
        32,
        Rhs::Transposed,
    ),
    case("row-major gemv's, one row", 1, 1, 2048, 64, Rhs::Transposed),
    case("row-major gemv's, one column", 1, 256, 2048, 1, Rhs::Plain),
    case("column-major gemv's", 1, 1, 2048, 96, Rhs::Plain),
    case("k ≤ 2", 1, 64, 2, 64, Rhs::Plain),
    case("attention scores (q·kᵀ)", 8, 16, 32, 16, Rhs::Transposed),
    case("attention values", 8, 16, 16, 32, Rhs::Plain),
];

/// `len` values in [-1, 1) with full mantissas, from `seed` (SplitMix64).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            ((z >> 40) as f32 / (1u64 << 23) as f32) - 1.0
        })
        .collect()
}

/// The SHA-256 of the product's f32 bits.
fn digest(c: &Case, seed: u64) -> String {
    let dev = Device::Cpu;
    let lhs =
        Tensor::from_vec(values(c.batch * c.m * c.k, seed), (c.batch, c.m, c.k), &dev).unwrap();
    let rhs = match c.rhs {
        Rhs::Plain => Tensor::from_vec(
            values(c.batch * c.k * c.n, !seed),
            (c.batch, c.k, c.n),
            &dev,
        )
        .unwrap(),
        Rhs::Transposed => Tensor::from_vec(
            values(c.batch * c.n * c.k, !seed),
            (c.batch, c.n, c.k),
            &dev,
        )
        .unwrap()
        .transpose(1, 2)
        .unwrap(),
    };
    let out: Vec<f32> = lhs
        .matmul(&rhs)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let bytes: Vec<u8> = out.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect();
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        &bytes,
    ))
}

/// What a run reports: the kernel it picked, the L1 gemm detected, each product's digest.
fn report() -> Vec<String> {
    let l1 = gemm_common::cache::CACHE_INFO[0];
    let mut lines = vec![
        format!(
            "cpu avx512f={} l1={}B/{}-way/{}B",
            std::arch::is_x86_feature_detected!("avx512f"),
            l1.cache_bytes,
            l1.associativity,
            l1.cache_line_bytes
        ),
        format!("cpu fma={}", std::arch::is_x86_feature_detected!("fma")),
    ];
    for (i, c) in CASES.iter().enumerate() {
        lines.push(format!("digest {}: {}", c.name, digest(c, i as u64 + 1)));
    }
    lines
}

/// The child's side: prints [`report`] (run only by the test below, through QEMU).
#[test]
#[ignore = "run by matmul_bits_do_not_depend_on_the_cpu, under QEMU"]
fn print_report() {
    for line in report() {
        println!("report: {line}");
    }
}

/// This test binary's [`print_report`] under `qemu-x86_64 ARGS`.
fn under_qemu(args: &[&str]) -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    let o = Command::new("qemu-x86_64")
        .args(args)
        .arg(&exe)
        .args(["print_report", "--exact", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env("RAYON_NUM_THREADS", "2")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "qemu-x86_64 cannot be run ({e}): install Debian's qemu-user (scripts/test does)"
            )
        });
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "under qemu-x86_64 {args:?}: {stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    stdout
        .lines()
        // (The harness's "test print_report ... " may precede the first on its line.)
        .filter_map(|l| l.split_once("report: ").map(|(_, r)| r.to_owned()))
        .collect()
}

/// A sysfs under `root` showing one CPU with a 48 KiB 12-way L1 (1 MiB L2, 32 MiB L3), which
/// QEMU's `-L root` shows the emulated program in place of the real one.
fn fake_sysfs(root: &Path) {
    for (index, level, kind, size, ways) in [
        (0, 1, "Data", "48K", 12),
        (1, 1, "Instruction", "32K", 8),
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

fn assert_same_products(native: &[String], other: &[String], what: &str) {
    assert_eq!(native.len(), other.len(), "{what}: {other:?}");
    let differ: Vec<&str> = native
        .iter()
        .zip(other)
        .skip(2)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.trim_start_matches("digest ").split(':').next().unwrap())
        .collect();
    assert!(
        differ.is_empty(),
        "{what}: the bits of these products differ from this CPU's: {differ:?}"
    );
}

#[test]
fn matmul_bits_do_not_depend_on_the_cpu() {
    let native = report();
    if native[0].contains("avx512f=true") {
        eprintln!("this CPU has AVX-512: its kernels are compared with AVX2's");
    } else {
        eprintln!(
            "NOTE: this CPU has no AVX-512, so only AVX2 kernels are compared (with other caches)"
        );
    }
    assert!(native[1].contains("fma=true"), "{native:?}");

    let haswell = under_qemu(&["-cpu", "Haswell-v4"]);
    assert!(haswell[0].contains("avx512f=false"), "{haswell:?}");
    assert_same_products(&native, &haswell, "AVX2 (qemu Haswell-v4)");

    let root = tempfile::tempdir().unwrap();
    fake_sysfs(root.path());
    let big_l1 = under_qemu(&["-cpu", "Haswell-v4", "-L", root.path().to_str().unwrap()]);
    // The fake L1 was seen (or this comparison would prove nothing).
    assert!(big_l1[0].contains("l1=49152B/12-way/64B"), "{big_l1:?}");
    assert_same_products(&native, &big_l1, "AVX2 with a 48 KiB 12-way L1");
}
