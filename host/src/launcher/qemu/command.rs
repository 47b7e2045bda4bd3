//! QEMU's command lines for a job's guest, built from the image description alone (the vCPU
//! count and type are the image's, the ones its measurement is computed for) and the job's
//! folder: the kernel, initrd and command line booted directly; the console to a file; the
//! channel a virtio-serial port on the host's Unix socket.
//!
//! - [`plain`]: no SEV (development, CI): KVM when it can be used, else TCG; QEMU's SeaBIOS
//!   boots the kernel (the SEV-SNP firmware refuses to boot one without SEV).
//! - [`snp`]: an SEV-SNP guest (QEMU ≥ 9.1, `docs/image.md`): the image's firmware with
//!   `kernel-hashes=on` (so the kernel, initrd and command line are measured), the JobSpec's
//!   hash as HOST_DATA, guest memory a memfd, every virtio device modern-only behind the IOMMU.

use std::path::Path;

use assay_image::ImageSpec;
use base64::Engine;

/// How a guest without SEV is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualisation (`/dev/kvm`).
    Kvm,
    /// QEMU's emulator (no `/dev/kvm`, or one that cannot be used): slower, same results.
    Tcg,
}

impl Accel {
    /// Its name, as QEMU and the logs say it.
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// A guest's files and sockets.
#[derive(Clone, Copy, Debug)]
pub struct Vm<'a> {
    /// The image.
    pub image: &'a ImageSpec,
    /// Its memory, MiB.
    pub memory_mib: u32,
    /// The Unix socket the host listens on for the channel.
    pub channel: &'a Path,
    /// Where the guest's console goes.
    pub console: &'a Path,
}

/// What an SEV-SNP launch needs beyond the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snp {
    /// The C-bit's position (QMP `query-sev-capabilities`).
    pub cbitpos: u32,
    /// Physical address bits the C-bit takes (QMP `query-sev-capabilities`).
    pub reduced_phys_bits: u32,
    /// The guest policy (0x30000: SMT allowed, the reserved bit 17 set; no debug, no migration
    /// agent).
    pub policy: u64,
    /// HOST_DATA: the JobSpec's hash.
    pub host_data: [u8; 32],
}

/// The SEV-SNP policy an Assay guest is launched with.
pub const POLICY: u64 = 0x30000;

/// A path as a QEMU option value (a comma is written twice).
fn value(p: &Path) -> String {
    p.display().to_string().replace(',', ",,")
}

/// The arguments both kinds of guest share: vCPUs, memory, the direct boot, the console, the
/// channel (`virtio` names extra properties of the virtio devices).
fn common(vm: &Vm, virtio: &str) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "-nodefaults".into(),
        "-no-user-config".into(),
        "-display".into(),
        "none".into(),
        "-no-reboot".into(),
        "-smp".into(),
        vm.image.vcpus.to_string(),
        "-m".into(),
        format!("{}M", vm.memory_mib),
        "-kernel".into(),
        vm.image.kernel.display().to_string(),
        "-initrd".into(),
        vm.image.initrd.display().to_string(),
    ];
    if let Some(append) = &vm.image.append {
        a.extend(["-append".into(), append.clone()]);
    }
    a.extend([
        "-chardev".into(),
        format!("file,id=console,path={}", value(vm.console)),
        "-serial".into(),
        "chardev:console".into(),
        "-chardev".into(),
        format!("socket,id=channel,path={}", value(vm.channel)),
        "-device".into(),
        format!("virtio-serial-pci,id=serial0{virtio}"),
        "-device".into(),
        format!(
            "virtserialport,bus=serial0.0,chardev=channel,name={}",
            assay_enclave::vm::protocol::PORT_NAME
        ),
    ]);
    a
}

/// The command line of a guest without SEV. The vCPU model is the host's (KVM) or QEMU's
/// `max` (TCG: AVX2 and FMA emulated, which the recipe needs); results do not depend on it.
pub fn plain(vm: &Vm, accel: Accel) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "-machine".into(),
        format!("q35,accel={}", accel.name()),
        "-cpu".into(),
        match accel {
            Accel::Kvm => "host",
            Accel::Tcg => "max",
        }
        .into(),
    ];
    a.extend(common(vm, ""));
    a
}

/// The command line of an SEV-SNP guest (QEMU ≥ 9.1). The vCPU model is the image's: the
/// measurement depends on it.
pub fn snp(vm: &Vm, snp: &Snp) -> Vec<String> {
    let host_data = base64::engine::general_purpose::STANDARD.encode(snp.host_data);
    let mut a: Vec<String> = vec![
        "-machine".into(),
        "q35,confidential-guest-support=sev0,memory-backend=ram1,kernel-irqchip=split,vmport=off"
            .into(),
        "-enable-kvm".into(),
        "-cpu".into(),
        vm.image.vcpu_type.clone(),
        "-object".into(),
        format!(
            "memory-backend-memfd,id=ram1,size={}M,share=true,prealloc=false",
            vm.memory_mib
        ),
        "-object".into(),
        format!(
            "sev-snp-guest,id=sev0,policy={:#x},cbitpos={},reduced-phys-bits={},kernel-hashes=on,host-data={host_data}",
            snp.policy, snp.cbitpos, snp.reduced_phys_bits
        ),
        "-bios".into(),
        vm.image.ovmf.display().to_string(),
    ];
    a.extend(common(vm, ",disable-legacy=on,iommu_platform=true"));
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> ImageSpec {
        ImageSpec {
            ovmf: "/img/OVMF.amdsev.fd".into(),
            kernel: "/img/vmlinuz".into(),
            initrd: "/img/initrd.img".into(),
            append: Some("console=ttyS0 quiet panic=-1".into()),
            vcpus: 4,
            vcpu_type: "EPYC-Milan".into(),
            guest_features: 1,
        }
    }

    #[test]
    fn the_snp_command_line_is_exactly_this() {
        let image = image();
        let vm = Vm {
            image: &image,
            memory_mib: 4096,
            channel: Path::new("/data/jobs/j1/channel.sock"),
            console: Path::new("/data/jobs/j1/console.log"),
        };
        let args = snp(
            &vm,
            &Snp {
                cbitpos: 51,
                reduced_phys_bits: 1,
                policy: POLICY,
                host_data: [0xab; 32],
            },
        );
        let golden = [
            "-machine",
            "q35,confidential-guest-support=sev0,memory-backend=ram1,kernel-irqchip=split,vmport=off",
            "-enable-kvm",
            "-cpu",
            "EPYC-Milan",
            "-object",
            "memory-backend-memfd,id=ram1,size=4096M,share=true,prealloc=false",
            "-object",
            "sev-snp-guest,id=sev0,policy=0x30000,cbitpos=51,reduced-phys-bits=1,kernel-hashes=on,host-data=q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=",
            "-bios",
            "/img/OVMF.amdsev.fd",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-no-reboot",
            "-smp",
            "4",
            "-m",
            "4096M",
            "-kernel",
            "/img/vmlinuz",
            "-initrd",
            "/img/initrd.img",
            "-append",
            "console=ttyS0 quiet panic=-1",
            "-chardev",
            "file,id=console,path=/data/jobs/j1/console.log",
            "-serial",
            "chardev:console",
            "-chardev",
            "socket,id=channel,path=/data/jobs/j1/channel.sock",
            "-device",
            "virtio-serial-pci,id=serial0,disable-legacy=on,iommu_platform=true",
            "-device",
            "virtserialport,bus=serial0.0,chardev=channel,name=org.assay.channel.0",
        ];
        assert_eq!(args, golden);
    }

    #[test]
    fn a_plain_guest_boots_the_same_files_without_sev_and_commas_are_escaped() {
        let image = image();
        let vm = Vm {
            image: &image,
            memory_mib: 2048,
            channel: Path::new("/data/a,b/channel.sock"),
            console: Path::new("/data/a,b/console.log"),
        };
        let kvm = plain(&vm, Accel::Kvm);
        assert_eq!(&kvm[..4], ["-machine", "q35,accel=kvm", "-cpu", "host"]);
        let tcg = plain(&vm, Accel::Tcg);
        assert_eq!(&tcg[..4], ["-machine", "q35,accel=tcg", "-cpu", "max"]);
        for a in [&kvm, &tcg] {
            assert!(
                !a.iter().any(|x| x.contains("sev") || x == "-bios"),
                "{a:?}"
            );
            assert!(a.contains(&"socket,id=channel,path=/data/a,,b/channel.sock".to_owned()));
            let smp = a.iter().position(|x| x == "-smp").unwrap();
            assert_eq!(a[smp + 1], "4", "the image's vCPUs");
        }
    }
}
