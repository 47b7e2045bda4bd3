//! Firmware without what a launch needs, and malformed firmware, give errors that say what is
//! missing — never a digest.

mod common;

use assay_measurements::vcpu::VmmType;
use assay_measurements::{DirectBoot, Error, Launch};
use common::*;

fn launch(fw: &[u8]) -> Launch<'_> {
    Launch {
        firmware: fw,
        boot: None,
        vcpus: 2,
        vcpu_sig: 0xa00f11,
        vmm: VmmType::Qemu,
        guest_features: 1,
        firmware_digest: None,
    }
}

fn files(kernel: &[u8]) -> DirectBoot<'_> {
    DirectBoot::Files {
        kernel,
        initrd: None,
        append: None,
    }
}

fn full() -> Image {
    Image {
        pages: 4,
        entries: vec![
            (RESET_BLOCK, 0xfffff004u32.to_le_bytes().to_vec()),
            (HASH_TABLE, [0x00u8, 0xc0, 0xff, 0xff, 0, 4, 0, 0].to_vec()),
        ],
        sections: Some(vec![
            (0x80_0000, 0x2000, 1),
            (0x80_2000, 0x1000, 2),
            (0x80_3000, 0x1000, 3),
            (0xffffc000, 0x1000, 0x10),
        ]),
        metadata_at: 0x100,
        fill: 0x5a,
    }
}

#[test]
fn a_complete_synthetic_firmware_measures() {
    let fw = full().build();
    let kernel = b"kernel".to_vec();
    for vmm in [VmmType::Qemu, VmmType::Ec2, VmmType::Gce] {
        let mut l = launch(&fw);
        l.vmm = vmm;
        assay_measurements::snp_launch_digest(&l).unwrap();
        l.boot = Some(files(&kernel));
        assay_measurements::snp_launch_digest(&l).unwrap();
        assay_measurements::seves_launch_digest(&l).unwrap();
        assay_measurements::sev_launch_digest(&l).unwrap();
    }
}

#[test]
fn missing_reset_block_is_named() {
    let mut img = full();
    img.entries.remove(0);
    let fw = img.build();
    let e = assay_measurements::snp_launch_digest(&launch(&fw)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::MissingTableEntry {
                name: "SEV_ES_RESET_BLOCK_GUID",
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("Can't find SEV_ES_RESET_BLOCK_GUID entry in OVMF table")
    );
    // No footer table at all: the same, and the SNP firmware hash still works.
    let bare = vec![0u8; 8192];
    assert!(matches!(
        assay_measurements::seves_launch_digest(&launch(&bare)),
        Err(Error::MissingTableEntry { .. })
    ));
    assay_measurements::snp_ovmf_hash(&bare).unwrap();
}

#[test]
fn kernel_needs_a_hashes_section_and_table() {
    let kernel = b"k".to_vec();
    let mut img = full();
    img.sections.as_mut().unwrap().pop();
    let fw = img.build();
    let mut l = launch(&fw);
    l.boot = Some(files(&kernel));
    assert!(matches!(
        assay_measurements::snp_launch_digest(&l),
        Err(Error::NoKernelHashesSection)
    ));

    let mut img = full();
    img.entries.remove(1);
    let fw = img.build();
    let mut l = launch(&fw);
    l.boot = Some(files(&kernel));
    let e = assay_measurements::snp_launch_digest(&l).unwrap_err();
    assert!(
        matches!(
            e,
            Error::MissingTableEntry {
                name: "SEV_HASH_TABLE_RV_GUID",
                ..
            }
        ),
        "{e}"
    );
    assert!(matches!(
        assay_measurements::sev_launch_digest(&l),
        Err(Error::NoHashesTable)
    ));
    // Without a kernel, the hashes section is zero pages and no table is needed.
    l.boot = None;
    assay_measurements::snp_launch_digest(&l).unwrap();
}

#[test]
fn no_ap_entry_allows_one_vcpu_only() {
    let mut img = full();
    img.entries[0].1 = vec![0, 0, 0, 0];
    let fw = img.build();
    let mut l = launch(&fw);
    assert!(matches!(
        assay_measurements::snp_launch_digest(&l),
        Err(Error::NoApEntry { vcpus: 2 })
    ));
    l.vcpus = 1;
    assay_measurements::snp_launch_digest(&l).unwrap();
}

#[test]
fn malformed_metadata_and_tables_are_refused() {
    // Unknown section type.
    let mut img = full();
    img.sections.as_mut().unwrap().push((0, 0x1000, 7));
    let e = assay_measurements::snp_launch_digest(&launch(&img.build())).unwrap_err();
    assert!(
        matches!(&e, Error::Metadata { reason } if reason.contains("unknown type 0x7")),
        "{e}"
    );
    // Wrong signature.
    let mut fw = full().build();
    fw[0x100] = b'X';
    let e = assay_measurements::snp_launch_digest(&launch(&fw)).unwrap_err();
    assert!(
        e.to_string().contains("Wrong SEV metadata signature"),
        "{e}"
    );
    // Wrong version.
    let mut fw = full().build();
    fw[0x108] = 2;
    let e = assay_measurements::snp_launch_digest(&launch(&fw)).unwrap_err();
    assert!(e.to_string().contains("Wrong SEV metadata version"), "{e}");
    // A section that is not whole pages.
    let mut img = full();
    img.sections.as_mut().unwrap()[0].1 = 0x1800;
    let e = assay_measurements::snp_launch_digest(&launch(&img.build())).unwrap_err();
    assert!(e.to_string().contains("not a whole number of pages"), "{e}");
    // A footer-table entry shorter than its header.
    let mut fw = full().build();
    let end = fw.len() - 32 - 18;
    fw[end - 18] = 3;
    fw[end - 17] = 0;
    let e = assay_measurements::snp_launch_digest(&launch(&fw)).unwrap_err();
    assert!(matches!(e, Error::FooterTable { .. }), "{e}");
    // A firmware that is not whole pages, and one too small for a footer.
    assert!(matches!(
        assay_measurements::snp_ovmf_hash(&[0u8; 4097]),
        Err(Error::FirmwareNotPageAligned { size: 4097 })
    ));
    assert!(matches!(
        assay_measurements::snp_ovmf_hash(&[0u8; 40]),
        Err(Error::FirmwareTooSmall { size: 40 })
    ));
}
