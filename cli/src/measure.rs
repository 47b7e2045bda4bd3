//! `assay measure`: the expected launch measurement, with sev-snp-measure's flags and output, so
//! that scripts calling `sev-snp-measure` can call `assay measure` instead.
//!
//! Exit status as sev-snp-measure: 0 with the digest on stdout, 1 for a runtime error
//! (`Error: …` on stderr), 2 for an argument error.

use crate::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use assay_measurements::SvsmLaunch;
use assay_measurements::files::{GuestMode, LaunchFiles};
use assay_measurements::vcpu::{VmmType, cpu_sig, vcpu_type_sig};
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

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    Ok(std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?)
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

fn measure(a: &MeasureArgs) -> Result<(), Error> {
    if a.mode == Mode::SnpOvmfHash {
        let firmware = read(&a.ovmf)?;
        let hash = assay_measurements::snp_ovmf_hash(&firmware)?;
        println!("{}", hex::encode(hash));
        return Ok(());
    }
    if a.mode == Mode::SnpSvsm {
        let files = launch_files(a)?;
        return measure_svsm(a, files.vmm, files.vcpu_sig);
    }
    let files = launch_files(a)?;
    let measured = files.measure()?;
    print(&measured.digest, a);
    if let Some(path) = &a.reference {
        files.reference(&measured).and_then(|r| r.save(path))?;
    }
    Ok(())
}

/// The launch the arguments describe; argument errors exit as argparse's do.
pub fn launch_files(a: &MeasureArgs) -> Result<LaunchFiles, Error> {
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
    let firmware_digest = match &a.snp_ovmf_hash {
        None => None,
        Some(_) if a.mode != Mode::Snp => {
            return Err("SNP OVMF hash only works with SNP".into());
        }
        Some(h) => Some(
            hex::decode(h)
                .ok()
                .and_then(|b| <[u8; 48]>::try_from(b).ok())
                .ok_or_else(|| format!("--snp-ovmf-hash {h:?} is not 48 bytes of hex"))?,
        ),
    };
    Ok(LaunchFiles {
        mode: match a.mode {
            Mode::Sev => GuestMode::Sev,
            Mode::Seves => GuestMode::SevEs,
            _ => GuestMode::Snp,
        },
        ovmf: a.ovmf.clone(),
        kernel: a.kernel.clone(),
        initrd: a.initrd.clone(),
        append: a.append.clone(),
        vcpus: a.vcpus,
        vcpu_sig,
        vmm,
        guest_features: a.guest_features,
        firmware_digest,
    })
}

fn measure_svsm(a: &MeasureArgs, vmm: VmmType, vcpu_sig: u32) -> Result<(), Error> {
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
    })?;
    print(&digest, a);
    Ok(())
}
