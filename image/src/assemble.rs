//! The image from its pinned inputs and the enclave program (`assay image assemble`, which
//! `scripts/image-build` runs after fetching the packages and building the program): every input
//! checked against its pin, the initramfs packed, and the image's files written with their
//! manifest, the reference values of each vCPU configuration asked for, and the description a
//! host launches.
//!
//! The folder it writes:
//!
//! | file | what |
//! |---|---|
//! | `vmlinuz` | the pinned kernel |
//! | `initrd.img` | gzip (fixed level, no name, no time) of the cpio archive: `/init` (the enclave program), `lib/modules/NN-name.ko` (loaded in `NN` order) and the mount points |
//! | `OVMF.amdsev.fd` | the pinned SEV-SNP firmware |
//! | `cmdline` | the kernel command line (no newline) |
//! | `image.toml` | the description a host launches, with the first vCPU configuration |
//! | `reference.toml` | the reference values: the first configuration's measurement, the others' as variants |
//! | `manifest.json` | every input (package, version, SHA-256), every file of the initramfs and of the folder, the measurements |

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::cpio::Archive;
use crate::error::io;
use crate::pins::{PinnedFile, Pins};
use crate::sha256;
use crate::spec::ImageSpec;

/// The format tag of `manifest.json`.
pub const MANIFEST_FORMAT: &str = "assay-image-manifest/1";

/// The files of the folder an image is assembled into.
pub mod files {
    /// The kernel.
    pub const KERNEL: &str = "vmlinuz";
    /// The initramfs.
    pub const INITRD: &str = "initrd.img";
    /// The SEV-SNP firmware.
    pub const FIRMWARE: &str = "OVMF.amdsev.fd";
    /// The kernel command line.
    pub const CMDLINE: &str = "cmdline";
    /// The description a host launches.
    pub const SPEC: &str = "image.toml";
    /// The reference values.
    pub const REFERENCE: &str = "reference.toml";
    /// The manifest.
    pub const MANIFEST: &str = "manifest.json";
}

/// Where the unpacked inputs are.
#[derive(Clone, Debug)]
pub struct Sources {
    /// The kernel package, unpacked (`dpkg-deb -x`).
    pub kernel: PathBuf,
    /// The firmware package, unpacked.
    pub firmware: PathBuf,
    /// The enclave program, statically linked.
    pub enclave: PathBuf,
}

/// A vCPU configuration the image is measured for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vcpus {
    /// How many.
    pub vcpus: u32,
    /// Their model, as QEMU names it (`EPYC-v4`, `EPYC-Milan`, …).
    pub vcpu_type: String,
}

/// How the enclave program was built, as the build says (recorded, not checked).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Build {
    /// `rustc -V`.
    pub rustc: String,
    /// The repository's commit.
    pub commit: String,
    /// The flags it was built with.
    pub rustflags: String,
}

/// The enclave program in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enclave {
    /// SHA-256 of the program, hex.
    pub sha256: String,
    /// Its size.
    pub size: u64,
    /// How it was built.
    pub build: Build,
    /// SOURCE_DATE_EPOCH of the build.
    pub source_date_epoch: u64,
}

/// A pinned input in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The Debian package.
    pub package: String,
    /// Its version.
    pub version: String,
    /// The suite that served it.
    pub suite: String,
    /// SHA-256 of the `.deb`.
    pub deb_sha256: String,
    /// The file taken from it.
    pub path: String,
    /// Its SHA-256.
    pub sha256: String,
    /// Its size.
    pub size: u64,
}

/// A file (of the initramfs or of the folder) in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Its path.
    pub path: String,
    /// Its mode, octal (initramfs entries only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Its SHA-256 (none for a directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Its size.
    pub size: u64,
}

/// A measured launch in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Launch {
    /// The vCPU configuration.
    #[serde(flatten)]
    pub vcpus: Vcpus,
    /// The MEASUREMENT its guests report, hex.
    pub measurement: String,
}

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// The kernel command line.
    pub cmdline: String,
    /// The enclave program (`/init`).
    pub enclave: Enclave,
    /// The kernel, its modules and the firmware, as pinned.
    pub inputs: Vec<Input>,
    /// The initramfs' entries, in archive order.
    pub initrd: Vec<FileEntry>,
    /// The folder's files (but this one).
    pub outputs: Vec<FileEntry>,
    /// The measurement of each vCPU configuration.
    pub launches: Vec<Launch>,
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| io(path, e))
}

/// Reads `pin` from the unpacked package `root` and checks it.
fn read_pinned(root: &Path, pin: &PinnedFile, package: &str) -> Result<Vec<u8>, Error> {
    let path = root.join(&pin.path);
    let bytes = read(&path)?;
    let found = hex::encode(sha256(&bytes));
    if found != pin.sha256 {
        return Err(Error::Pin {
            what: format!("{package}: {}", pin.path),
            reason: format!(
                "SHA-256 {found}, but image/pins.toml pins {} (another version of the package?)",
                pin.sha256
            ),
        });
    }
    Ok(bytes)
}

/// Whether an ELF executable asks for a program interpreter (is dynamically linked).
fn interpreter(elf: &[u8]) -> Result<bool, String> {
    let u16_at = |o: usize| elf.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8")))
    };
    if elf.get(..6) != Some(b"\x7fELF\x02\x01") {
        return Err("not a little-endian 64-bit ELF file".into());
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return Err("its ELF header is cut short".into());
    };
    for i in 0..usize::from(phnum) {
        let at = usize::try_from(phoff)
            .ok()
            .and_then(|o| o.checked_add(i * usize::from(phentsize)))
            .ok_or("its program headers are out of range")?;
        let kind = elf
            .get(at..at + 4)
            .ok_or("its program headers are cut short")?;
        if kind == 3u32.to_le_bytes() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The module's name in the initramfs: `lib/modules/NN-file.ko`, `NN` its place in the order.
fn module_path(i: usize, pin: &PinnedFile) -> String {
    let file = pin.path.rsplit('/').next().unwrap_or(&pin.path);
    format!("lib/modules/{:02}-{file}", i + 1)
}

/// The initramfs (cpio newc, gzip at level 9 with no name and no time) of `enclave` and the
/// modules, in order; and its entries for the manifest.
pub fn initramfs(
    enclave: Vec<u8>,
    modules: &[(String, Vec<u8>)],
) -> Result<(Vec<u8>, Vec<FileEntry>), Error> {
    use std::io::Write;
    let mut archive = Archive::default();
    for dir in ["dev", "proc", "sys"] {
        archive.dir(dir)?;
    }
    archive.file("init", enclave, true)?;
    for (path, bytes) in modules {
        archive.file(path, bytes.clone(), false)?;
    }
    let entries = archive
        .entries()
        .map(|e| FileEntry {
            path: e.path.to_owned(),
            mode: Some(format!("{:o}", e.mode)),
            sha256: (e.mode & 0o040_000 == 0).then(|| hex::encode(sha256(e.data))),
            size: e.data.len() as u64,
        })
        .collect();
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(3)
        .write(Vec::new(), flate2::Compression::best());
    gz.write_all(&archive.to_bytes())
        .map_err(|e| Error::Archive(e.to_string()))?;
    let bytes = gz.finish().map_err(|e| Error::Archive(e.to_string()))?;
    Ok((bytes, entries))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    // Whole or not at all: a temporary file beside it, then a rename.
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| io(path, e))
}

fn output(out: &Path, name: &str, bytes: &[u8]) -> Result<FileEntry, Error> {
    write(&out.join(name), bytes)?;
    Ok(FileEntry {
        path: name.to_owned(),
        mode: None,
        sha256: Some(hex::encode(sha256(bytes))),
        size: bytes.len() as u64,
    })
}

fn input(pkg: (&str, &str, &str, &str), pin: &PinnedFile, bytes: &[u8]) -> Input {
    Input {
        package: pkg.0.to_owned(),
        version: pkg.1.to_owned(),
        suite: pkg.2.to_owned(),
        deb_sha256: pkg.3.to_owned(),
        path: pin.path.clone(),
        sha256: pin.sha256.clone(),
        size: bytes.len() as u64,
    }
}

/// The launch of the image in the folder `dir`, booted with `cmdline` on `vcpus`.
fn spec_in(dir: &Path, cmdline: &str, vcpus: &Vcpus) -> ImageSpec {
    ImageSpec {
        ovmf: dir.join(files::FIRMWARE),
        kernel: dir.join(files::KERNEL),
        initrd: dir.join(files::INITRD),
        append: Some(cmdline.to_owned()),
        vcpus: vcpus.vcpus,
        vcpu_type: vcpus.vcpu_type.clone(),
        guest_features: 1,
    }
}

/// Assembles the image of `pins`, `sources` and `build` into `out` (made if absent), measured
/// for each of `vcpus` (the first is the one `image.toml` launches). See the module
/// documentation.
pub fn assemble(
    pins: &Pins,
    sources: &Sources,
    build: &Build,
    vcpus: &[Vcpus],
    out: &Path,
) -> Result<Manifest, Error> {
    let usage = |reason: String| Error::Spec {
        path: "the command line".into(),
        reason,
    };
    let Some(first) = vcpus.first() else {
        return Err(usage(
            "no vCPU configuration to measure the image for".into(),
        ));
    };
    for (i, v) in vcpus.iter().enumerate() {
        if v.vcpus == 0 {
            return Err(usage("a guest has at least one vCPU".into()));
        }
        assay_measurements::vcpu::vcpu_type_sig(&v.vcpu_type)?;
        if vcpus[..i].contains(v) {
            return Err(usage(format!(
                "{} × {} is asked for twice",
                v.vcpus, v.vcpu_type
            )));
        }
    }
    let k = &pins.kernel;
    let f = &pins.firmware;
    let kpkg = (
        k.package.as_str(),
        k.version.as_str(),
        k.suite.as_str(),
        k.deb_sha256.as_str(),
    );
    let fpkg = (
        f.package.as_str(),
        f.version.as_str(),
        f.suite.as_str(),
        f.deb_sha256.as_str(),
    );
    let kernel = read_pinned(&sources.kernel, &k.vmlinuz, &k.package)?;
    let firmware = read_pinned(&sources.firmware, &f.file, &f.package)?;
    let mut inputs = vec![input(kpkg, &k.vmlinuz, &kernel)];
    let mut modules = Vec::new();
    for (i, m) in k.modules.iter().enumerate() {
        let bytes = read_pinned(&sources.kernel, m, &k.package)?;
        inputs.push(input(kpkg, m, &bytes));
        modules.push((module_path(i, m), bytes));
    }
    inputs.push(input(fpkg, &f.file, &firmware));
    let program = read(&sources.enclave)?;
    match interpreter(&program) {
        Ok(false) => {}
        Ok(true) => {
            return Err(Error::Pin {
                what: sources.enclave.display().to_string(),
                reason: "it is dynamically linked (it names a program interpreter): /init must be static (build it with -C target-feature=+crt-static, as scripts/image-build does)".into(),
            });
        }
        Err(why) => {
            return Err(Error::Pin {
                what: sources.enclave.display().to_string(),
                reason: format!("not the enclave program: {why}"),
            });
        }
    }
    let enclave = Enclave {
        sha256: hex::encode(sha256(&program)),
        size: program.len() as u64,
        build: build.clone(),
        source_date_epoch: pins.source_date_epoch,
    };
    let (initrd, initrd_entries) = initramfs(program, &modules)?;

    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    let mut outputs = vec![
        output(out, files::KERNEL, &kernel)?,
        output(out, files::INITRD, &initrd)?,
        output(out, files::FIRMWARE, &firmware)?,
        output(out, files::CMDLINE, pins.cmdline.as_bytes())?,
    ];
    let mut launches = Vec::new();
    let mut reference = None;
    for v in vcpus {
        let spec = spec_in(out, &pins.cmdline, v);
        let launch = spec.launch_files()?;
        let measured = launch.measure()?;
        launches.push(Launch {
            vcpus: v.clone(),
            measurement: hex::encode(&measured.digest),
        });
        match &mut reference {
            None => {
                let mut r = launch.reference(&measured)?;
                r.name = format!("assay-enclave image, commit {}", build.commit);
                reference = Some(r);
            }
            Some(r) => {
                let r: &mut assay_measurements::reference::ReferenceValues = r;
                r.variants.push(assay_measurements::reference::Variant {
                    vcpus: v.vcpus,
                    vcpu_sig: format!("{:#x}", launch.vcpu_sig),
                    measurement: hex::encode(&measured.digest),
                });
            }
        }
    }
    let reference = reference.expect("at least one configuration").to_toml();
    outputs.push(output(out, files::REFERENCE, reference.as_bytes())?);
    // The description a host launches names its files relative to its own folder.
    let spec = ImageSpec {
        ovmf: files::FIRMWARE.into(),
        kernel: files::KERNEL.into(),
        initrd: files::INITRD.into(),
        ..spec_in(out, &pins.cmdline, first)
    };
    outputs.push(output(out, files::SPEC, spec.to_toml().as_bytes())?);
    let manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        cmdline: pins.cmdline.clone(),
        enclave,
        inputs,
        initrd: initrd_entries,
        outputs,
        launches,
    };
    let mut text = serde_json::to_vec_pretty(&manifest).expect("a manifest serialises");
    text.push(b'\n');
    write(&out.join(files::MANIFEST), &text)?;
    Ok(manifest)
}

/// Checks an assembled image folder against its manifest: every file's SHA-256, and each
/// launch's measurement recomputed from the files. What an auditor runs on a rebuild, and a
/// host on an image it is given.
pub fn check(dir: &Path) -> Result<Manifest, Error> {
    let path = dir.join(files::MANIFEST);
    let manifest: Manifest = serde_json::from_slice(&read(&path)?).map_err(|e| Error::Spec {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(Error::Spec {
            path: path.display().to_string(),
            reason: format!(
                "format is {:?}, expected {MANIFEST_FORMAT:?}",
                manifest.format
            ),
        });
    }
    for o in &manifest.outputs {
        let file = dir.join(&o.path);
        let found = hex::encode(sha256(&read(&file)?));
        if Some(&found) != o.sha256.as_ref() {
            return Err(Error::Pin {
                what: file.display().to_string(),
                reason: format!(
                    "SHA-256 {found}, but the manifest says {}",
                    o.sha256.as_deref().unwrap_or("none")
                ),
            });
        }
    }
    for l in &manifest.launches {
        let spec = spec_in(dir, &manifest.cmdline, &l.vcpus);
        let found = hex::encode(spec.measure()?.measurement);
        if found != l.measurement {
            return Err(Error::Pin {
                what: format!("the launch with {} × {}", l.vcpus.vcpus, l.vcpus.vcpu_type),
                reason: format!("measures {found}, but the manifest says {}", l.measurement),
            });
        }
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamically_linked_program_is_told_apart_from_a_static_one() {
        // This test binary is dynamically linked (it runs on the host's ld.so).
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(interpreter(&me), Ok(true));
        assert!(
            interpreter(b"#!/bin/sh")
                .unwrap_err()
                .contains("not a little-endian")
        );
        let cut = &me[..0x30];
        assert!(interpreter(cut).unwrap_err().contains("cut short"));
    }

    #[test]
    fn the_initramfs_is_the_same_bytes_for_the_same_inputs() {
        let modules = vec![
            ("lib/modules/01-a.ko".to_owned(), b"a".to_vec()),
            ("lib/modules/02-b.ko".to_owned(), b"b".to_vec()),
        ];
        let (a, entries) = initramfs(b"\x7fELF init".to_vec(), &modules).unwrap();
        let (b, _) = initramfs(b"\x7fELF init".to_vec(), &modules).unwrap();
        assert_eq!(a, b);
        // gzip: no name, mtime 0, Unix.
        assert_eq!(&a[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3]);
        let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "dev",
                "init",
                "lib",
                "lib/modules",
                "lib/modules/01-a.ko",
                "lib/modules/02-b.ko",
                "proc",
                "sys"
            ]
        );
        assert_eq!(entries[1].mode.as_deref(), Some("100755"));
        let (c, _) = initramfs(b"\x7fELF other".to_vec(), &modules).unwrap();
        assert_ne!(a, c);
    }
}
