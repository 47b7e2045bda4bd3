//! `assay measure`: the expected launch measurement, with sev-snp-measure's flags and output, so
//! that scripts calling `sev-snp-measure` can call `assay measure` instead.
//!
//! Exit status as sev-snp-measure: 0 with the digest on stdout, 1 for a runtime error
//! (`Error: …` on stderr), 2 for an argument error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use assay_measurements::reference::{Artifact, FORMAT, ReferenceValues};
use assay_measurements::vcpu::{VmmType, cpu_sig, vcpu_type_sig};
use std::io::Read;

use assay_measurements::gctx::{LaunchDigest, PAGE, PageHasher, PageType};
use assay_measurements::hashes::KernelHashes;
use assay_measurements::ovmf::FOUR_GIB;
use assay_measurements::{DirectBoot, Launch, SvsmLaunch};
use aws_lc_rs::digest::{Context, SHA256, digest};
use base64::Engine;
use clap::{Args, CommandFactory, ValueEnum};

/// Guest mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// SEV: SHA-256 launch digest.
    Sev,
    /// SEV-ES: SHA-256 launch digest including VMSAs.
    Seves,
    /// SEV-SNP: the MEASUREMENT of attestation reports.
    Snp,
    /// The SNP digest of the firmware pages only (for --snp-ovmf-hash).
    #[value(name = "snp:ovmf-hash")]
    SnpOvmfHash,
    /// SEV-SNP under a Coconut-SVSM.
    #[value(name = "snp:svsm")]
    SnpSvsm,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Sev => "SEV",
            Mode::Seves => "SEV_ES",
            Mode::Snp | Mode::SnpOvmfHash => "SEV_SNP",
            Mode::SnpSvsm => "SEV_SNP_SVSM",
        }
    }
    fn arg(self) -> &'static str {
        match self {
            Mode::Sev => "sev",
            Mode::Seves => "seves",
            Mode::Snp => "snp",
            Mode::SnpOvmfHash => "snp:ovmf-hash",
            Mode::SnpSvsm => "snp:svsm",
        }
    }
}

/// Output encoding of the digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Lowercase hex.
    Hex,
    /// Standard base64.
    Base64,
}

/// An integer written as Python's `int(s, 0)` reads it: decimal, or 0x/0o/0b prefixed.
fn auto_int(s: &str) -> Result<u64, String> {
    let t = s.replace('_', "");
    let (digits, radix) = match t.get(..2).map(str::to_ascii_lowercase).as_deref() {
        Some("0x") => (&t[2..], 16),
        Some("0o") => (&t[2..], 8),
        Some("0b") => (&t[2..], 2),
        _ => (t.as_str(), 10),
    };
    u64::from_str_radix(digits, radix).map_err(|e| format!("invalid int value {s:?}: {e}"))
}

/// Arguments of `assay measure` (sev-snp-measure's, plus `--reference`).
#[derive(Args)]
pub struct MeasureArgs {
    /// Guest mode.
    #[arg(long)]
    pub mode: Mode,
    /// Number of guest vCPUs.
    #[arg(long, value_name = "N")]
    pub vcpus: Option<u32>,
    /// Type of guest vCPU (EPYC, EPYC-v1…v4, EPYC-IBPB, EPYC-Rome[-v1…v3], EPYC-Milan[-v1,-v2],
    /// EPYC-Genoa[-v1], EPYC-Turin).
    #[arg(long, value_name = "CPUTYPE")]
    pub vcpu_type: Option<String>,
    /// Guest vCPU signature value.
    #[arg(long, value_name = "VALUE", value_parser = auto_int)]
    pub vcpu_sig: Option<u64>,
    /// Guest vCPU family.
    #[arg(long, value_name = "FAMILY")]
    pub vcpu_family: Option<u32>,
    /// Guest vCPU model.
    #[arg(long, value_name = "MODEL")]
    pub vcpu_model: Option<u32>,
    /// Guest vCPU stepping.
    #[arg(long, value_name = "STEPPING")]
    pub vcpu_stepping: Option<u32>,
    /// Type of guest VMM (QEMU, ec2, gce).
    #[arg(long, value_name = "VMMTYPE", default_value = "QEMU")]
    pub vmm_type: String,
    /// OVMF file to calculate the hash from.
    #[arg(long, value_name = "PATH")]
    pub ovmf: PathBuf,
    /// Kernel file to calculate the hash from.
    #[arg(long, value_name = "PATH")]
    pub kernel: Option<PathBuf>,
    /// Initrd file to calculate the hash from (use with --kernel).
    #[arg(long, value_name = "PATH")]
    pub initrd: Option<PathBuf>,
    /// Kernel command line to calculate the hash from (use with --kernel).
    #[arg(long, value_name = "CMDLINE", allow_hyphen_values = true)]
    pub append: Option<String>,
    /// Guest kernel features (SEV_FEATURES) of the VMSAs.
    #[arg(long, value_name = "VALUE", value_parser = auto_int, default_value = "0x1")]
    pub guest_features: u64,
    /// Measurement output format.
    #[arg(long, value_enum, default_value = "hex")]
    pub output_format: OutputFormat,
    /// Precalculated SNP hash of the OVMF binary (hex).
    #[arg(long, value_name = "HASH")]
    pub snp_ovmf_hash: Option<String>,
    /// SVSM binary (snp:svsm mode).
    #[arg(long, value_name = "PATH")]
    pub svsm: Option<PathBuf>,
    /// Size of the OVMF_VARS file in bytes (snp:svsm mode).
    #[arg(long, value_name = "SIZE", conflicts_with = "vars_file")]
    pub vars_size: Option<u64>,
    /// OVMF_VARS file (snp:svsm mode).
    #[arg(long, value_name = "PATH")]
    pub vars_file: Option<PathBuf>,
    /// Print "Calculated <MODE> guest measurement: <digest>".
    #[arg(short, long)]
    pub verbose: bool,
    /// Also write a reference-values file naming this build and its measurement.
    #[arg(long, value_name = "FILE")]
    pub reference: Option<PathBuf>,
}

/// An argument error: clap's format and exit status 2, like argparse's.
fn usage_error(msg: impl std::fmt::Display) -> ! {
    let mut cmd = crate::Cli::command();
    let measure = cmd
        .find_subcommand_mut("measure")
        .expect("measure subcommand")
        .clone();
    measure
        .bin_name("assay measure")
        .error(clap::error::ErrorKind::ArgumentConflict, msg)
        .exit()
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn vcpu_signature(a: &MeasureArgs, vmm: VmmType) -> u32 {
    if a.mode == Mode::Sev {
        return 0;
    }
    if let Some(family) = a.vcpu_family {
        let (Some(model), Some(stepping)) = (a.vcpu_model, a.vcpu_stepping) else {
            usage_error("--vcpu-family needs --vcpu-model and --vcpu-stepping");
        };
        return cpu_sig(family, model, stepping);
    }
    if let Some(sig) = a.vcpu_sig {
        return u32::try_from(sig)
            .unwrap_or_else(|_| usage_error(format!("--vcpu-sig {sig:#x} exceeds 32 bits")));
    }
    if let Some(t) = &a.vcpu_type {
        return vcpu_type_sig(t).unwrap_or_else(|e| usage_error(e));
    }
    if vmm == VmmType::Qemu {
        usage_error(format!(
            "missing --vcpu-type or --vcpu-sig or --vcpu-family in guest mode '{}'",
            a.mode.arg()
        ));
    }
    // EC2 and GCE put a fixed value in RDX; the signature is not used.
    0
}

fn print(digest: &[u8], a: &MeasureArgs) {
    let text = match a.output_format {
        OutputFormat::Hex => hex::encode(digest),
        OutputFormat::Base64 => base64::engine::general_purpose::STANDARD.encode(digest),
    };
    if a.verbose {
        println!("Calculated {} guest measurement: {text}", a.mode.name());
    } else {
        println!("{text}");
    }
}

/// Runs the command; a runtime error is printed as sev-snp-measure prints it (`Error: …`).
pub fn run(a: &MeasureArgs) -> ExitCode {
    match measure(a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn measure(a: &MeasureArgs) -> Result<(), String> {
    if a.mode == Mode::SnpOvmfHash {
        let firmware = read(&a.ovmf)?;
        let hash = assay_measurements::snp_ovmf_hash(&firmware).map_err(|e| e.to_string())?;
        println!("{}", hex::encode(hash));
        return Ok(());
    }
    if a.initrd.is_some() && a.kernel.is_none() {
        usage_error("--kernel required when using --initrd");
    }
    if a.append.as_deref().is_some_and(|s| !s.is_empty()) && a.kernel.is_none() {
        usage_error("--kernel required when using --append");
    }
    if a.mode != Mode::Sev && a.vcpus.is_none() {
        usage_error(format!(
            "missing --vcpus N in guest mode '{}'",
            a.mode.arg()
        ));
    }
    let vmm: VmmType = a.vmm_type.parse().unwrap_or_else(|e| usage_error(e));
    let vcpu_sig = vcpu_signature(a, vmm);
    let mut firmware_digest = match &a.snp_ovmf_hash {
        None => None,
        Some(_) if a.mode != Mode::Snp => return Err("SNP OVMF hash only works with SNP".into()),
        Some(h) => Some(
            hex::decode(h)
                .ok()
                .and_then(|b| <[u8; 48]>::try_from(b).ok())
                .ok_or_else(|| format!("--snp-ovmf-hash {h:?} is not 48 bytes of hex"))?,
        ),
    };
    if a.mode == Mode::SnpSvsm {
        return measure_svsm(a, vmm, vcpu_sig);
    }

    // Kernel and initrd are streamed through SHA-256 on a second thread while this one reads
    // the firmware and hashes its pages: the two are the bulk of the work and independent.
    let (firmware, boot) = std::thread::scope(|scope| {
        let boot = a.kernel.as_deref().map(|kernel| {
            scope.spawn(move || -> Result<BootFiles, String> {
                let (kernel_hash, kernel_size) = sha256_file(kernel)?;
                let initrd = a.initrd.as_deref().map(sha256_file).transpose()?;
                let initrd_hash = initrd.map_or_else(|| sha256_file_bytes(&[]), |(h, _)| h);
                Ok(BootFiles {
                    hashes: KernelHashes::from_hashes(
                        kernel_hash,
                        initrd_hash,
                        a.append.as_deref(),
                    ),
                    kernel: artifact(kernel_hash, kernel_size),
                    initrd: initrd.map(|(h, n)| artifact(h, n)),
                })
            })
        });
        let firmware = if a.mode == Mode::Snp && firmware_digest.is_none() {
            stream_firmware(&a.ovmf).map(|(digest, tail)| {
                firmware_digest = Some(digest);
                tail
            })
        } else {
            read(&a.ovmf)
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
        vcpus: a.vcpus.unwrap_or(0),
        vcpu_sig,
        vmm,
        guest_features: a.guest_features,
        firmware_digest,
    };
    let digest = match a.mode {
        Mode::Snp => match assay_measurements::snp_launch_digest(&launch) {
            Ok(d) => d.to_vec(),
            // The tail did not hold all the firmware's tables: measure with the whole image,
            // whose parse is authoritative (and names the problem if there is one).
            Err(_) if (firmware.len() as u64) < file_size(&a.ovmf)? => {
                let full = read(&a.ovmf)?;
                let whole = Launch {
                    firmware: &full,
                    ..launch
                };
                assay_measurements::snp_launch_digest(&whole)
                    .map_err(|e| e.to_string())?
                    .to_vec()
            }
            Err(e) => return Err(e.to_string()),
        },
        Mode::Seves => assay_measurements::seves_launch_digest(&launch)
            .map_err(|e| e.to_string())?
            .to_vec(),
        _ => assay_measurements::sev_launch_digest(&launch)
            .map_err(|e| e.to_string())?
            .to_vec(),
    };
    print(&digest, a);
    if let Some(path) = &a.reference {
        let (sha256, size) = sha256_file(&a.ovmf)?;
        reference(
            a,
            &launch,
            artifact(sha256, size),
            boot.as_ref(),
            &digest,
            vcpu_sig,
        )
        .save(path)
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn measure_svsm(a: &MeasureArgs, vmm: VmmType, vcpu_sig: u32) -> Result<(), String> {
    if vmm != VmmType::Qemu {
        return Err("SVSM mode is only implemented for Qemu.".into());
    }
    let vars_size = match (&a.vars_file, a.vars_size) {
        (Some(f), _) => std::fs::metadata(f)
            .map_err(|e| format!("{}: {e}", f.display()))?
            .len(),
        (None, Some(n)) if n > 0 => n,
        _ => usage_error("snp:svsm mode requires --vars-size or --vars-file"),
    };
    let Some(svsm_path) = &a.svsm else {
        usage_error("snp:svsm mode requires --svsm");
    };
    let firmware = read(&a.ovmf)?;
    let svsm = read(svsm_path)?;
    let digest = assay_measurements::svsm_launch_digest(&SvsmLaunch {
        firmware: &firmware,
        vars_size,
        svsm: &svsm,
        vcpus: a.vcpus.unwrap_or(0),
        vcpu_sig,
    })
    .map_err(|e| e.to_string())?;
    print(&digest, a);
    Ok(())
}

/// How much of the end of the firmware is kept for parsing when its pages are streamed: OVMF's
/// footer table and SEV metadata sit in its last few KiB.
const FIRMWARE_TAIL: usize = 64 << 10;

fn file_size(path: &Path) -> Result<u64, String> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Computes the SNP digest of the firmware's pages (as `--mode snp:ovmf-hash` does) from the
/// file, and returns it with the firmware's last [`FIRMWARE_TAIL`] bytes. With the digest given,
/// measuring needs only the tables at the end, so the image is never held whole: it is read
/// through one small buffer (holding it whole costs a page fault per 4 KiB, more than its
/// hashing on some machines).
fn stream_firmware(path: &Path) -> Result<([u8; 48], Vec<u8>), String> {
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    let size = file_size(path)?;
    if size % PAGE as u64 != 0 || size > FOUR_GIB {
        // Let the library name the problem on the whole image.
        let whole = read(path)?;
        let digest = assay_measurements::snp_ovmf_hash(&whole).map_err(|e| e.to_string())?;
        return Ok((digest, whole));
    }
    let mut file = std::fs::File::open(path).map_err(fail)?;
    let mut ld = LaunchDigest::default();
    let mut hasher = PageHasher::default();
    let mut buf = vec![0u8; 16 * PAGE];
    let mut tail = Vec::with_capacity(FIRMWARE_TAIL);
    let mut gpa = FOUR_GIB - size;
    let mut left = size as usize;
    while left > 0 {
        let n = buf.len().min(left);
        file.read_exact(&mut buf[..n]).map_err(fail)?;
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

/// The hashes of a direct boot's files, and the files' descriptions for reference values.
struct BootFiles {
    hashes: KernelHashes,
    kernel: Artifact,
    initrd: Option<Artifact>,
}

fn artifact(sha256: [u8; 32], size: u64) -> Artifact {
    Artifact {
        sha256: hex::encode(sha256),
        size,
        snp_ovmf_hash: None,
    }
}

fn sha256_file_bytes(bytes: &[u8]) -> [u8; 32] {
    digest(&SHA256, bytes)
        .as_ref()
        .try_into()
        .expect("32 bytes")
}

/// SHA-256 and size of a file, read in 64 KiB pieces through one buffer: no allocation the size of
/// the file, and no page faults to fill one.
fn sha256_file(path: &Path) -> Result<([u8; 32], u64), String> {
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut file = std::fs::File::open(path).map_err(fail)?;
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
            Err(e) => return Err(fail(e)),
        }
    }
    Ok((ctx.finish().as_ref().try_into().expect("32 bytes"), size))
}

fn reference(
    a: &MeasureArgs,
    l: &Launch<'_>,
    mut firmware: Artifact,
    boot: Option<&BootFiles>,
    digest: &[u8],
    vcpu_sig: u32,
) -> ReferenceValues {
    if a.mode == Mode::Snp {
        firmware.snp_ovmf_hash = l.firmware_digest.map(hex::encode);
    }
    ReferenceValues {
        format: FORMAT.into(),
        name: a
            .ovmf
            .file_name()
            .map(|n| format!("launch of {}", n.to_string_lossy()))
            .unwrap_or_default(),
        mode: a.mode.arg().into(),
        measurement: hex::encode(digest),
        vcpus: a.vcpus,
        vcpu_sig: (a.mode != Mode::Sev).then(|| format!("{vcpu_sig:#x}")),
        vmm_type: l.vmm.to_string(),
        guest_features: (a.mode == Mode::Snp).then(|| format!("{:#x}", a.guest_features)),
        append: a.append.clone().filter(|s| !s.is_empty()),
        firmware,
        kernel: boot.map(|b| b.kernel.clone()),
        initrd: boot.and_then(|b| b.initrd.clone()),
    }
}
