//! Launch digests per guest mode, computed exactly as sev-snp-measure 0.0.13 computes them.
//!
//! - SNP: firmware pages, then the SEV metadata sections in file order, then one VMSA per vCPU,
//!   each step a PAGE_INFO update of the SHA-384 launch digest.
//! - SEV-ES: SHA-256 over firmware ‖ hashes table ‖ VMSA pages (GCTX.LD, before the HMAC).
//! - SEV: SHA-256 over firmware ‖ hashes table.
//! - SNP with Coconut-SVSM: firmware, SVSM image and its metadata, one SVSM VMSA per vCPU.

use aws_lc_rs::digest::{Context, SHA256};

use crate::Error;
use crate::gctx::{LaunchDigest, PAGE, PageType};
use crate::hashes::{KernelHashes, PADDED_TABLE_LEN};
use crate::ovmf::{FOUR_GIB, Firmware, SectionKind};
use crate::vcpu::VmmType;
use crate::vmsa::{BSP_EIP, svsm_vmsa_page, vmsa_page};

/// What a confidential VM is launched with.
#[derive(Clone, Copy, Debug)]
pub struct Launch<'a> {
    /// The firmware image (OVMF), loaded to end at 4 GiB.
    pub firmware: &'a [u8],
    /// A measured direct boot of a kernel (with initrd and command line), if any.
    pub boot: Option<DirectBoot<'a>>,
    /// Number of vCPUs.
    pub vcpus: u32,
    /// CPUID signature of the vCPUs (RDX at reset under QEMU).
    pub vcpu_sig: u32,
    /// The VMM.
    pub vmm: VmmType,
    /// SEV_FEATURES of the VMSAs in SNP mode (sev-snp-measure's default is 0x1).
    pub guest_features: u64,
    /// A precomputed digest of the firmware pages (`--snp-ovmf-hash`): the firmware's own
    /// pages are then not hashed, only its metadata is read.
    pub firmware_digest: Option<[u8; 48]>,
}

/// The kernel, initrd and command line of a measured direct boot: only their SHA-256s enter the
/// measurement, so they can be given as bytes or as hashes computed elsewhere (streamed from
/// disk, say).
#[derive(Clone, Copy, Debug)]
pub enum DirectBoot<'a> {
    /// The inputs themselves, hashed here.
    Files {
        /// Kernel image.
        kernel: &'a [u8],
        /// Initrd, if any.
        initrd: Option<&'a [u8]>,
        /// Command line, if any; empty is the same as none.
        append: Option<&'a str>,
    },
    /// Their hashes.
    Hashed(KernelHashes),
}

/// Below this size the kernel is hashed on the calling thread: a thread costs more than it saves.
const PARALLEL_KERNEL_MIN: usize = 1 << 20;

fn kernel_hashes(l: &Launch<'_>, kernel_hash: Option<[u8; 32]>) -> Option<KernelHashes> {
    l.boot.map(|boot| match boot {
        DirectBoot::Hashed(h) => h,
        DirectBoot::Files {
            kernel,
            initrd,
            append,
        } => match kernel_hash {
            Some(h) => KernelHashes::from_kernel_hash(h, initrd, append),
            None => KernelHashes::new(kernel, initrd, append),
        },
    })
}

/// The VMSA pages of `vcpus` vCPUs: the boot processor at the reset vector, the others at the
/// firmware's AP entry point.
fn vmsa_pages(
    fw: &Firmware<'_>,
    vcpus: u32,
    sev_features: u64,
    vcpu_sig: u32,
    vmm: VmmType,
) -> Result<Vec<[u8; PAGE]>, Error> {
    let ap_eip = fw.sev_es_reset_eip()?;
    if vcpus > 1 && ap_eip == 0 {
        return Err(Error::NoApEntry { vcpus });
    }
    let bsp = vmsa_page(BSP_EIP, sev_features, vcpu_sig, vmm);
    let ap = vmsa_page(ap_eip, sev_features, vcpu_sig, vmm);
    Ok((0..vcpus).map(|i| if i == 0 { bsp } else { ap }).collect())
}

fn page_multiple(size: u32, what: &str) -> Result<u64, Error> {
    if size as usize % PAGE != 0 {
        return Err(Error::Metadata {
            reason: format!("{what} section of {size} bytes is not a whole number of pages"),
        });
    }
    Ok(u64::from(size))
}

/// Measures the SEV metadata sections in file order (then, on EC2, the CPUID pages again last,
/// as EC2 adds them).
fn update_metadata(
    ld: &mut LaunchDigest,
    fw: &Firmware<'_>,
    hashes: Option<&KernelHashes>,
    vmm: VmmType,
) -> Result<(), Error> {
    if hashes.is_some() && !fw.has_section(SectionKind::SnpKernelHashes) {
        return Err(Error::NoKernelHashesSection);
    }
    for s in fw.sections() {
        let gpa = u64::from(s.gpa);
        match s.kind {
            SectionKind::SnpSecMem => {
                let len = page_multiple(s.size, "SNP_SEC_MEM")?;
                let ty = if vmm == VmmType::Gce {
                    PageType::Unmeasured
                } else {
                    PageType::Zero
                };
                ld.update_empty_pages(ty, gpa, len);
            }
            SectionKind::SnpSecrets => ld.update(PageType::Secrets, gpa, &[0; 48]),
            SectionKind::Cpuid if vmm != VmmType::Ec2 => ld.update(PageType::Cpuid, gpa, &[0; 48]),
            SectionKind::Cpuid => {}
            SectionKind::SnpKernelHashes => match hashes {
                Some(h) => {
                    if s.size as usize != PAGE {
                        return Err(Error::Metadata {
                            reason: format!(
                                "SNP_KERNEL_HASHES section is {} bytes, not one page",
                                s.size
                            ),
                        });
                    }
                    let offset = (fw.sev_hashes_table_gpa()? as usize) & (PAGE - 1);
                    if offset + PADDED_TABLE_LEN > PAGE {
                        return Err(Error::Metadata {
                            reason: format!(
                                "the hashes table at page offset {offset:#x} does not fit in its page"
                            ),
                        });
                    }
                    ld.update_normal_pages(gpa, &h.page(offset))?;
                }
                None => ld.update_empty_pages(
                    PageType::Zero,
                    gpa,
                    page_multiple(s.size, "SNP_KERNEL_HASHES")?,
                ),
            },
            SectionKind::SvsmCaa => {
                ld.update_empty_pages(PageType::Zero, gpa, page_multiple(s.size, "SVSM_CAA")?)
            }
        }
    }
    if vmm == VmmType::Ec2 {
        for s in fw
            .sections()
            .iter()
            .filter(|s| s.kind == SectionKind::Cpuid)
        {
            ld.update(PageType::Cpuid, u64::from(s.gpa), &[0; 48]);
        }
    }
    Ok(())
}

/// The digest of the firmware pages alone (`--mode snp:ovmf-hash`), to pass later as
/// [`Launch::firmware_digest`].
pub fn snp_ovmf_hash(firmware: &[u8]) -> Result<[u8; 48], Error> {
    let fw = Firmware::parse(firmware, FOUR_GIB)?;
    let mut ld = LaunchDigest::default();
    ld.update_normal_pages(fw.gpa(), fw.data())?;
    Ok(ld.bytes())
}

/// The SNP launch digest: the MEASUREMENT of the guest's attestation reports.
pub fn snp_launch_digest(l: &Launch<'_>) -> Result<[u8; 48], Error> {
    let fw = Firmware::parse(l.firmware, FOUR_GIB)?;
    // The kernel's SHA-256 and the firmware's SHA-384 pages are the bulk of the work and
    // independent: with a large kernel, hash it on a second thread meanwhile.
    let parallel = match l.boot {
        Some(DirectBoot::Files { kernel, .. })
            if kernel.len() >= PARALLEL_KERNEL_MIN && l.firmware_digest.is_none() =>
        {
            Some(kernel)
        }
        _ => None,
    };
    let (ld, kernel_hash) = std::thread::scope(|scope| {
        let kernel = parallel.map(|k| {
            scope.spawn(move || -> [u8; 32] {
                aws_lc_rs::digest::digest(&SHA256, k)
                    .as_ref()
                    .try_into()
                    .expect("32 bytes")
            })
        });
        let ld = match l.firmware_digest {
            Some(seed) => Ok(LaunchDigest::from_seed(seed)),
            None => {
                let mut ld = LaunchDigest::default();
                ld.update_normal_pages(fw.gpa(), fw.data()).map(|()| ld)
            }
        };
        (
            ld,
            kernel.map(|h| h.join().expect("hashing does not panic")),
        )
    });
    let mut ld = ld?;
    let hashes = kernel_hashes(l, kernel_hash);
    update_metadata(&mut ld, &fw, hashes.as_ref(), l.vmm)?;
    for page in vmsa_pages(&fw, l.vcpus, l.guest_features, l.vcpu_sig, l.vmm)? {
        ld.update_vmsa(&page);
    }
    Ok(ld.bytes())
}

fn sev_hash(l: &Launch<'_>, fw: &Firmware<'_>) -> Result<Context, Error> {
    let mut ctx = Context::new(&SHA256);
    ctx.update(fw.data());
    if let Some(hashes) = kernel_hashes(l, None) {
        if !fw.hashes_table_supported() {
            return Err(Error::NoHashesTable);
        }
        ctx.update(&hashes.table());
    }
    Ok(ctx)
}

fn finish(ctx: Context) -> [u8; 32] {
    ctx.finish().as_ref().try_into().expect("32 bytes")
}

/// The SEV-ES launch digest (GCTX.LD, SHA-256; VMSAs with SEV_FEATURES 0).
pub fn seves_launch_digest(l: &Launch<'_>) -> Result<[u8; 32], Error> {
    let fw = Firmware::parse(l.firmware, FOUR_GIB)?;
    let mut ctx = sev_hash(l, &fw)?;
    for page in vmsa_pages(&fw, l.vcpus, 0, l.vcpu_sig, l.vmm)? {
        ctx.update(&page);
    }
    Ok(finish(ctx))
}

/// The SEV launch digest (GCTX.LD, SHA-256).
pub fn sev_launch_digest(l: &Launch<'_>) -> Result<[u8; 32], Error> {
    let fw = Firmware::parse(l.firmware, FOUR_GIB)?;
    Ok(finish(sev_hash(l, &fw)?))
}

/// What an SNP guest under a Coconut-SVSM is launched with.
#[derive(Clone, Copy, Debug)]
pub struct SvsmLaunch<'a> {
    /// The OVMF image, ending at 4 GiB.
    pub firmware: &'a [u8],
    /// Size of the OVMF variables store placed below the firmware.
    pub vars_size: u64,
    /// The SVSM image, ending where the variables store begins.
    pub svsm: &'a [u8],
    /// Number of vCPUs.
    pub vcpus: u32,
    /// CPUID signature of the vCPUs.
    pub vcpu_sig: u32,
}

/// The SNP launch digest of a guest under a Coconut-SVSM (QEMU only).
pub fn svsm_launch_digest(l: &SvsmLaunch<'_>) -> Result<[u8; 48], Error> {
    let ovmf = Firmware::parse(l.firmware, FOUR_GIB)?;
    let end = ovmf.gpa().checked_sub(l.vars_size).ok_or_else(|| {
        Error::Argument(format!(
            "--vars-size {} is larger than the space below the firmware",
            l.vars_size
        ))
    })?;
    let svsm = Firmware::parse(l.svsm, end)?;
    let eip = svsm.svsm_entry()?;
    let mut ld = LaunchDigest::default();
    ld.update_normal_pages(ovmf.gpa(), ovmf.data())?;
    ld.update_normal_pages(svsm.gpa(), svsm.data())?;
    update_metadata(&mut ld, &svsm, None, VmmType::Qemu)?;
    let page = svsm_vmsa_page(eip, l.vcpu_sig);
    for _ in 0..l.vcpus {
        ld.update_vmsa(&page);
    }
    Ok(ld.bytes())
}
