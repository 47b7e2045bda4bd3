//! Measuring a launch from its files: the firmware is streamed through the page hasher (never
//! held whole when only its tables are needed), the kernel and initrd through SHA-256 on a second
//! thread, and the result can be written as reference values naming every input.

use std::io::Read;
use std::path::{Path, PathBuf};

use aws_lc_rs::digest::{Context, SHA256};

use crate::Error;
use crate::gctx::{LaunchDigest, PAGE, PageHasher, PageType};
use crate::hashes::KernelHashes;
use crate::ovmf::FOUR_GIB;
use crate::reference::{Artifact, FORMAT, ReferenceValues};
use crate::vcpu::VmmType;
use crate::{DirectBoot, Launch};

/// The guest modes a launch from files is measured in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestMode {
    /// SEV: SHA-256 launch digest.
    Sev,
    /// SEV-ES: SHA-256 launch digest including VMSAs.
    SevEs,
    /// SEV-SNP: the MEASUREMENT of attestation reports.
    Snp,
}

impl GuestMode {
    /// The mode as `assay measure --mode` and reference values name it.
    pub fn arg(self) -> &'static str {
        match self {
            GuestMode::Sev => "sev",
            GuestMode::SevEs => "seves",
            GuestMode::Snp => "snp",
        }
    }
}

/// Everything a launch's measurement depends on, with its files by path.
#[derive(Clone, Debug)]
pub struct LaunchFiles {
    /// The guest mode.
    pub mode: GuestMode,
    /// The firmware (OVMF).
    pub ovmf: PathBuf,
    /// The kernel of a measured direct boot.
    pub kernel: Option<PathBuf>,
    /// Its initrd.
    pub initrd: Option<PathBuf>,
    /// Its command line.
    pub append: Option<String>,
    /// vCPUs (not used by SEV).
    pub vcpus: Option<u32>,
    /// The vCPU signature (CPUID leaf 1 EAX).
    pub vcpu_sig: u32,
    /// The VMM.
    pub vmm: VmmType,
    /// SEV_FEATURES of the VMSAs.
    pub guest_features: u64,
    /// The firmware pages' SNP digest, if precalculated (`--snp-ovmf-hash`).
    pub firmware_digest: Option<[u8; 48]>,
}

/// A measured launch: the digest and what is needed to name its inputs.
#[derive(Clone, Debug)]
pub struct Measured {
    /// The launch digest: 48 bytes (SNP) or 32 (SEV, SEV-ES).
    pub digest: Vec<u8>,
    /// The firmware pages' SNP digest (SNP).
    pub firmware_digest: Option<[u8; 48]>,
    /// The kernel's SHA-256 and size.
    pub kernel: Option<Artifact>,
    /// The initrd's SHA-256 and size.
    pub initrd: Option<Artifact>,
}

/// How much of the end of the firmware is kept for parsing when its pages are streamed: OVMF's
/// footer table and SEV metadata sit in its last few KiB.
const FIRMWARE_TAIL: usize = 64 << 10;

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| io(path, e))
}

fn file_size(path: &Path) -> Result<u64, Error> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| io(path, e))
}

/// SHA-256 and size of a file, read in 64 KiB pieces through one buffer: no allocation the size of
/// the file, and no page faults to fill one.
pub fn sha256_file(path: &Path) -> Result<([u8; 32], u64), Error> {
    let mut file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let mut ctx = Context::new(&SHA256);
    let mut buf = vec![0u8; 64 << 10];
    let mut size = 0u64;
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                ctx.update(&buf[..n]);
                size += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(path, e)),
        }
    }
    Ok((ctx.finish().as_ref().try_into().expect("32 bytes"), size))
}

fn artifact(sha256: [u8; 32], size: u64) -> Artifact {
    Artifact {
        sha256: hex::encode(sha256),
        size,
        snp_ovmf_hash: None,
    }
}

/// Computes the SNP digest of the firmware's pages (as `--mode snp:ovmf-hash` does) from the
/// file, and returns it with the firmware's last [`FIRMWARE_TAIL`] bytes. With the digest given,
/// measuring needs only the tables at the end, so the image is never held whole: it is read
/// through one small buffer (holding it whole costs a page fault per 4 KiB, more than its
/// hashing on some machines).
fn stream_firmware(path: &Path) -> Result<([u8; 48], Vec<u8>), Error> {
    let size = file_size(path)?;
    if size % PAGE as u64 != 0 || size > FOUR_GIB {
        // Let the page parser name the problem on the whole image.
        let whole = read(path)?;
        let digest = crate::snp_ovmf_hash(&whole)?;
        return Ok((digest, whole));
    }
    let mut file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let mut ld = LaunchDigest::default();
    let mut hasher = PageHasher::default();
    let mut buf = vec![0u8; 16 * PAGE];
    let mut tail = Vec::with_capacity(FIRMWARE_TAIL);
    let mut gpa = FOUR_GIB - size;
    let mut left = size as usize;
    while left > 0 {
        let n = buf.len().min(left);
        file.read_exact(&mut buf[..n]).map_err(|e| io(path, e))?;
        for page in buf[..n].chunks_exact(PAGE) {
            let page: &[u8; PAGE] = page.try_into().expect("a whole page");
            ld.update(PageType::Normal, gpa, &hasher.digest(page));
            gpa += PAGE as u64;
        }
        left -= n;
        if left < FIRMWARE_TAIL {
            let keep = n.min(FIRMWARE_TAIL - left.min(FIRMWARE_TAIL));
            tail.extend_from_slice(&buf[n - keep..n]);
        }
    }
    Ok((ld.bytes(), tail))
}

/// The hashes of a direct boot's files.
struct BootFiles {
    hashes: KernelHashes,
    kernel: Artifact,
    initrd: Option<Artifact>,
}

impl LaunchFiles {
    fn boot_files(&self, kernel: &Path) -> Result<BootFiles, Error> {
        let (kernel_hash, kernel_size) = sha256_file(kernel)?;
        let initrd = self.initrd.as_deref().map(sha256_file).transpose()?;
        let initrd_hash = initrd.map_or_else(
            || {
                aws_lc_rs::digest::digest(&SHA256, &[])
                    .as_ref()
                    .try_into()
                    .expect("32 bytes")
            },
            |(h, _)| h,
        );
        Ok(BootFiles {
            hashes: KernelHashes::from_hashes(kernel_hash, initrd_hash, self.append.as_deref()),
            kernel: artifact(kernel_hash, kernel_size),
            initrd: initrd.map(|(h, n)| artifact(h, n)),
        })
    }

    /// Measures the launch. Kernel and initrd are streamed through SHA-256 on a second thread
    /// while this one reads the firmware and hashes its pages: the two are the bulk of the work
    /// and independent.
    pub fn measure(&self) -> Result<Measured, Error> {
        let mut firmware_digest = self.firmware_digest;
        let (firmware, boot) = std::thread::scope(|scope| {
            let boot = self
                .kernel
                .as_deref()
                .map(|kernel| scope.spawn(move || self.boot_files(kernel)));
            let firmware = if self.mode == GuestMode::Snp && firmware_digest.is_none() {
                stream_firmware(&self.ovmf).map(|(digest, tail)| {
                    firmware_digest = Some(digest);
                    tail
                })
            } else {
                read(&self.ovmf)
            };
            let boot = boot
                .map(|h| h.join().expect("hashing does not panic"))
                .transpose();
            (firmware, boot)
        });
        let (firmware, boot) = (firmware?, boot?);
        let launch = Launch {
            firmware: &firmware,
            boot: boot.as_ref().map(|b| DirectBoot::Hashed(b.hashes)),
            vcpus: self.vcpus.unwrap_or(0),
            vcpu_sig: self.vcpu_sig,
            vmm: self.vmm,
            guest_features: self.guest_features,
            firmware_digest,
        };
        let digest = match self.mode {
            GuestMode::Snp => match crate::snp_launch_digest(&launch) {
                Ok(d) => d.to_vec(),
                // The tail did not hold all the firmware's tables: measure with the whole image,
                // whose parse is authoritative (and names the problem if there is one).
                Err(_) if (firmware.len() as u64) < file_size(&self.ovmf)? => {
                    let full = read(&self.ovmf)?;
                    crate::snp_launch_digest(&Launch {
                        firmware: &full,
                        ..launch
                    })?
                    .to_vec()
                }
                Err(e) => return Err(e),
            },
            GuestMode::SevEs => crate::seves_launch_digest(&launch)?.to_vec(),
            GuestMode::Sev => crate::sev_launch_digest(&launch)?.to_vec(),
        };
        Ok(Measured {
            digest,
            firmware_digest,
            kernel: boot.as_ref().map(|b| b.kernel.clone()),
            initrd: boot.and_then(|b| b.initrd),
        })
    }

    /// Reference values naming this launch's inputs and its measurement (hashes the firmware
    /// file once more for its SHA-256).
    pub fn reference(&self, measured: &Measured) -> Result<ReferenceValues, Error> {
        let (sha256, size) = sha256_file(&self.ovmf)?;
        let mut firmware = artifact(sha256, size);
        if self.mode == GuestMode::Snp {
            firmware.snp_ovmf_hash = measured.firmware_digest.map(hex::encode);
        }
        Ok(ReferenceValues {
            format: FORMAT.into(),
            name: self
                .ovmf
                .file_name()
                .map(|n| format!("launch of {}", n.to_string_lossy()))
                .unwrap_or_default(),
            mode: self.mode.arg().into(),
            measurement: hex::encode(&measured.digest),
            vcpus: self.vcpus,
            vcpu_sig: (self.mode != GuestMode::Sev).then(|| format!("{:#x}", self.vcpu_sig)),
            vmm_type: self.vmm.to_string(),
            guest_features: (self.mode == GuestMode::Snp)
                .then(|| format!("{:#x}", self.guest_features)),
            append: self.append.clone().filter(|s| !s.is_empty()),
            firmware,
            kernel: measured.kernel.clone(),
            initrd: measured.initrd.clone(),
            variants: Vec::new(),
        })
    }
}
