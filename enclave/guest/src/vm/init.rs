//! What process 1 of the image does before the job, and after: mounts the kernel's file
//! systems, loads the pinned modules from `/lib/modules` in their order (the initramfs has no
//! modprobe, so the kernel cannot load them itself), and powers the guest off at the end. Each
//! step may run twice (process 1 replaces itself once to start single-threaded, see
//! `assay_recipe::threads`).

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::kmod::{ModuleInitFlags, finit_module};
use nix::mount::{MsFlags, mount};

use crate::Error;

/// Where the image keeps its modules, loaded in file-name order (`NN-name.ko`).
pub const MODULES: &str = "/lib/modules";

fn device(path: &Path, reason: String) -> Error {
    Error::Device {
        path: path.display().to_string(),
        reason,
    }
}

/// Mounts `fstype` on `target` unless something is mounted there already.
fn mount_once(fstype: &str, target: &str, probe: &str) -> Result<(), Error> {
    if Path::new(probe).exists() {
        return Ok(());
    }
    std::fs::create_dir_all(target).map_err(|e| device(Path::new(target), e.to_string()))?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    mount(Some(fstype), target, Some(fstype), flags, None::<&str>)
        .map_err(|e| device(Path::new(target), format!("cannot mount {fstype}: {e}")))
}

/// Mounts `/proc`, `/sys` and `/dev` (devtmpfs: the kernel makes the device nodes).
pub fn mount_all() -> Result<(), Error> {
    mount_once("proc", "/proc", "/proc/self")?;
    mount_once("sysfs", "/sys", "/sys/kernel")?;
    mount_once("devtmpfs", "/dev", "/dev/null")?;
    Ok(())
}

/// The modules in `dir`, in the order to load them.
pub fn module_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| device(dir, e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ko"))
        .collect();
    files.sort();
    Ok(files)
}

/// Loads every module in `dir`, in order; one already loaded is fine. Returns how many were
/// loaded now.
pub fn load_modules(dir: &Path) -> Result<usize, Error> {
    // No modprobe to run: the kernel must not try (and wait for) one.
    let _ = std::fs::write("/proc/sys/kernel/modprobe", "\n");
    let mut loaded = 0;
    for path in module_files(dir)? {
        let file = std::fs::File::open(&path).map_err(|e| device(&path, e.to_string()))?;
        match finit_module(file.as_fd(), c"", ModuleInitFlags::empty()) {
            Ok(()) => loaded += 1,
            Err(nix::errno::Errno::EEXIST) => {}
            // sev-guest finds no SNP firmware interface in a guest without SNP and declines to
            // load: that guest has no device, which is how the enclave tells it apart.
            Err(nix::errno::Errno::ENODEV) => {}
            Err(e) => return Err(device(&path, format!("the kernel refused it: {e}"))),
        }
    }
    Ok(loaded)
}

/// Ends the guest: the file systems synced, the power off. Never returns.
pub fn power_off() -> ! {
    nix::unistd::sync();
    let _ = nix::sys::reboot::reboot(nix::sys::reboot::RebootMode::RB_POWER_OFF);
    // Unreachable unless the kernel refused; process 1 exiting panics the kernel, which
    // (panic=-1) resets the guest, and the launcher (-no-reboot) sees it end.
    std::process::exit(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_load_in_file_name_order_and_other_files_are_not_modules() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "10-virtio_console.ko",
            "02-gcm.ko",
            "01-gf128mul.ko",
            "README",
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let names: Vec<String> = module_files(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["01-gf128mul.ko", "02-gcm.ko", "10-virtio_console.ko"]
        );
        let e = module_files(&dir.path().join("absent")).unwrap_err();
        assert!(e.to_string().contains("absent"), "{e}");
    }
}
