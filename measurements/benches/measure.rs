//! The typical launch (4 MiB OVMF.amdsev.fd, 8 MiB kernel, initrd, append, 4 vCPUs) next to its
//! hashing floor: SHA-384 over the firmware plus SHA-256 over kernel and initrd, on one core and
//! with the two on both cores. Needs the Debian inputs (`scripts/fetch-measure-inputs`).
#![allow(missing_docs)]

#[path = "../tests/paths/mod.rs"]
mod paths;

use std::hint::black_box;

use assay_measurements::vcpu::{VmmType, vcpu_type_sig};
use assay_measurements::{DirectBoot, Launch};
use aws_lc_rs::digest::{SHA256, SHA384, digest};
use criterion::{Criterion, criterion_group, criterion_main};

fn input(id: &str) -> Vec<u8> {
    std::fs::read(paths::inputs_dir().join(id))
        .unwrap_or_else(|e| panic!("{id}: {e}; run scripts/fetch-measure-inputs first"))
}

fn bench(c: &mut Criterion) {
    let firmware = input("ovmf-amdsev");
    let kernel = input("kernel-debian");
    let initrd = std::fs::read(paths::vectors_dir().join("inputs/initrd-tiny.cpio.gz")).unwrap();
    let launch = Launch {
        firmware: &firmware,
        boot: Some(DirectBoot::Files {
            kernel: &kernel,
            initrd: Some(&initrd),
            append: Some("console=ttyS0 loglevel=7"),
        }),
        vcpus: 4,
        vcpu_sig: vcpu_type_sig("EPYC-Milan").unwrap(),
        vmm: VmmType::Qemu,
        guest_features: 1,
        firmware_digest: None,
    };
    let mut g = c.benchmark_group("measure");
    g.sample_size(50);
    g.bench_function("snp_launch_digest_typical", |b| {
        b.iter(|| assay_measurements::snp_launch_digest(black_box(&launch)).unwrap())
    });
    g.bench_function("floor_one_core", |b| {
        b.iter(|| {
            black_box(digest(&SHA384, black_box(&firmware)));
            black_box(digest(&SHA256, black_box(&kernel)));
            black_box(digest(&SHA256, black_box(&initrd)));
        })
    });
    g.bench_function("floor_two_cores", |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                let k = s.spawn(|| digest(&SHA256, black_box(&kernel)));
                black_box(digest(&SHA384, black_box(&firmware)));
                black_box(digest(&SHA256, black_box(&initrd)));
                black_box(k.join().unwrap());
            })
        })
    });
    g.bench_function("snp_ovmf_hash", |b| {
        b.iter(|| assay_measurements::snp_ovmf_hash(black_box(&firmware)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
