//! `assay image`: the enclave's VM image (`docs/image.md`). `assemble` makes it from the pinned
//! inputs and a statically linked enclave program (`scripts/image-build` fetches the one and
//! builds the other, then runs it); `check` checks a folder against its manifest, measurements
//! recomputed.

use std::path::PathBuf;
use std::process::ExitCode;

use assay_image::assemble::{Build, Sources, Vcpus, assemble, check};
use assay_image::pins::Pins;
use clap::{Args, Subcommand};

use crate::error::Error;

/// `assay image …`.
#[derive(Subcommand)]
pub enum ImageCommand {
    /// Assemble the image into a folder: vmlinuz, initrd.img (/init: the enclave program),
    /// OVMF.amdsev.fd, cmdline, image.toml, reference.toml and manifest.json; every input
    /// checked against its pin.
    Assemble(Box<AssembleArgs>),
    /// Check an image folder against its manifest.json: every file's SHA-256, and each vCPU
    /// configuration's measurement recomputed from the files.
    Check {
        /// The image folder.
        dir: PathBuf,
    },
}

/// Arguments of `assay image assemble`.
#[derive(Args)]
pub struct AssembleArgs {
    /// The pins (image/pins.toml).
    #[arg(long)]
    pins: PathBuf,
    /// The kernel package, unpacked (`dpkg-deb -x`).
    #[arg(long)]
    kernel_package: PathBuf,
    /// The firmware package, unpacked.
    #[arg(long)]
    firmware_package: PathBuf,
    /// The enclave program, statically linked: the initramfs' /init.
    #[arg(long)]
    enclave: PathBuf,
    /// Where to write the image (made if absent).
    #[arg(long)]
    out: PathBuf,
    /// vCPUs of a configuration to measure for (repeatable; the first is image.toml's)
    /// [default: 1].
    #[arg(long)]
    vcpus: Vec<u32>,
    /// vCPU model of each configuration, as QEMU names it (one for all, or one per --vcpus)
    /// [default: EPYC-v4].
    #[arg(long)]
    vcpu_type: Vec<String>,
    /// `rustc -V` of the build (recorded in the manifest).
    #[arg(long, default_value = "")]
    rustc: String,
    /// The repository's commit (recorded).
    #[arg(long, default_value = "")]
    commit: String,
    /// The flags the program was built with (recorded).
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    rustflags: String,
}

/// The vCPU configurations `--vcpus` and `--vcpu-type` ask for.
fn configurations(vcpus: &[u32], types: &[String]) -> Result<Vec<Vcpus>, Error> {
    let vcpus = if vcpus.is_empty() { &[1][..] } else { vcpus };
    let default = ["EPYC-v4".to_owned()];
    let types = if types.is_empty() {
        &default[..]
    } else {
        types
    };
    if types.len() != 1 && types.len() != vcpus.len() {
        return Err(format!(
            "{} --vcpu-type for {} --vcpus: give one for all, or one for each",
            types.len(),
            vcpus.len()
        )
        .into());
    }
    Ok(vcpus
        .iter()
        .enumerate()
        .map(|(i, n)| Vcpus {
            vcpus: *n,
            vcpu_type: types[if types.len() == 1 { 0 } else { i }].clone(),
        })
        .collect())
}

/// Runs `assay image …`.
pub fn run(cmd: ImageCommand) -> Result<ExitCode, Error> {
    match cmd {
        ImageCommand::Assemble(a) => {
            let pins = Pins::load(&a.pins)?;
            let manifest = assemble(
                &pins,
                &Sources {
                    kernel: a.kernel_package.clone(),
                    firmware: a.firmware_package.clone(),
                    enclave: a.enclave.clone(),
                },
                &Build {
                    rustc: a.rustc.clone(),
                    commit: a.commit.clone(),
                    rustflags: a.rustflags.clone(),
                },
                &configurations(&a.vcpus, &a.vcpu_type)?,
                &a.out,
            )?;
            for o in &manifest.outputs {
                println!(
                    "{}  {}/{} ({} bytes)",
                    o.sha256.as_deref().unwrap_or_default(),
                    a.out.display(),
                    o.path,
                    o.size
                );
            }
            for l in &manifest.launches {
                println!(
                    "measurement {} ({} × {})",
                    l.measurement, l.vcpus.vcpus, l.vcpus.vcpu_type
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ImageCommand::Check { dir } => {
            let manifest = check(&dir)?;
            println!(
                "{}: {} files as its manifest says; enclave program {}",
                dir.display(),
                manifest.outputs.len(),
                manifest.enclave.sha256
            );
            for l in &manifest.launches {
                println!(
                    "measurement {} ({} × {}): recomputed",
                    l.measurement, l.vcpus.vcpus, l.vcpus.vcpu_type
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
