//! The simulated AMD-SP: in process for tests of the enclave's library, or as `assay sim-sp`
//! beside the enclave binary, as the real AMD-SP sits beside the guest; the launch it measures;
//! verifiers that name its root.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assay_attestation::Verifier;
use assay_attestation::abi::ReportRequest;
use assay_attestation::testing::{SimulatedChain, SimulatedSp};
use assay_attestation::validate::Policy;
use assay_attestation::verify::VekKind;
use assay_enclave::evidence::{Evidence, EvidenceProvider};
use assay_forge::EvidenceKind;
use assay_measurements::files::{GuestMode, LaunchFiles};

use crate::paths::{bin, measure_inputs, sim_dir};

/// A measurement for tests that do not launch anything.
pub const MEASUREMENT: [u8; 48] = [0x5a; 48];

/// The simulated chain.
pub fn chain() -> SimulatedChain {
    SimulatedChain::load(&sim_dir()).expect("the simulated chain in attestation/testdata/sim")
}

/// A verifier trusting AMD's roots and, named explicitly, the simulated ARK; the policy allows
/// exactly `MEASUREMENT`.
pub fn sim_verifier() -> Verifier {
    sim_verifier_for(MEASUREMENT)
}

/// The same, allowing exactly `measurement`.
pub fn sim_verifier_for(measurement: [u8; 48]) -> Verifier {
    let mut v = Verifier::new(time::OffsetDateTime::now_utc());
    v.trust = chain().trust();
    v.policy = Policy::from_toml(
        &format!("measurements = [\"{}\"]", hex::encode(measurement)),
        "test policy",
    )
    .unwrap();
    v
}

/// The simulated AMD-SP in this process, as an evidence provider of the enclave's library.
#[derive(Debug)]
pub struct InProcessSp(pub SimulatedSp);

impl InProcessSp {
    /// The AMD-SP of a guest launched with `measurement` (and zero HOST_DATA).
    pub fn new(measurement: [u8; 48]) -> Self {
        InProcessSp(SimulatedSp::new(chain(), measurement))
    }

    /// The AMD-SP of a guest launched with `measurement` for the job `job` (its HOST_DATA).
    pub fn launched(measurement: [u8; 48], job: alloy_primitives::B256) -> Self {
        let mut sp = SimulatedSp::new(chain(), measurement);
        sp.host_data = job.0;
        InProcessSp(sp)
    }

    /// A signed report binding `report_data` (VMPL 0).
    pub fn report(&self, report_data: [u8; 64]) -> Vec<u8> {
        self.0
            .report(&ReportRequest {
                report_data,
                vmpl: 0,
            })
            .to_vec()
    }

    /// The certificates a host serves with its reports: VCEK and ASK (DER).
    pub fn certificates(&self) -> Vec<Vec<u8>> {
        self.0
            .chain()
            .certificates(VekKind::Vcek)
            .iter()
            .map(|c| c.der().to_vec())
            .collect()
    }
}

impl EvidenceProvider for InProcessSp {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::Simulated
    }

    fn attest(&self, report_data: [u8; 64]) -> Result<Option<Evidence>, assay_enclave::Error> {
        Ok(Some(Evidence {
            report: self.report(report_data),
            certificates: self.certificates(),
        }))
    }
}

/// The launch of the measurement vectors (OVMF.amdsev suffix, synthetic kernel, tiny initrd,
/// one EPYC-v4 vCPU), whose digest sev-snp-measure computed.
pub fn launch_files() -> LaunchFiles {
    let dir = measure_inputs();
    LaunchFiles {
        mode: GuestMode::Snp,
        ovmf: dir.join("OVMF.amdsev.fd.suffix64k.bin"),
        kernel: Some(dir.join("kernel-synthetic.bin")),
        initrd: Some(dir.join("initrd-tiny.cpio.gz")),
        append: Some("console=ttyS0 loglevel=7".into()),
        vcpus: Some(1),
        vcpu_sig: assay_measurements::vcpu::vcpu_type_sig("EPYC-v4").unwrap(),
        vmm: "QEMU".parse().unwrap(),
        guest_features: 1,
        firmware_digest: None,
    }
}

/// The same launch as `assay measure` (and `assay sim-sp`) flags.
pub fn launch_args() -> Vec<String> {
    let f = launch_files();
    let p = |p: &Option<PathBuf>| p.as_ref().unwrap().display().to_string();
    vec![
        "--mode".into(),
        "snp".into(),
        "--vcpus".into(),
        "1".into(),
        "--vcpu-type".into(),
        "EPYC-v4".into(),
        "--ovmf".into(),
        f.ovmf.display().to_string(),
        "--kernel".into(),
        p(&f.kernel),
        "--initrd".into(),
        p(&f.initrd),
        "--append".into(),
        f.append.unwrap(),
    ]
}

/// The launch's measurement, computed by `assay-measurements` and checked against the value
/// sev-snp-measure gave (vector `snp-qemu-amdsev64k-syn-i-a-EPYC-v4-1vcpu-gf0x1`).
pub fn launch_measurement() -> [u8; 48] {
    let m = launch_files().measure().unwrap().digest;
    assert_eq!(
        hex::encode(&m),
        "1a7bc53c446b9ffe30ace9b9dc3373146f59df5b3d7614be48129e074d0706a32ca01d65d932e7b19278444f9e6484e0"
    );
    m.try_into().unwrap()
}

/// `assay sim-sp` serving the evidence channel at a socket in `dir`, for the launch of
/// [`launch_files`]; stopped when dropped.
pub struct SpProcess {
    child: Child,
    /// The channel's socket.
    pub socket: PathBuf,
}

impl SpProcess {
    /// Starts it, with HOST_DATA `host_data` if given, and waits for its socket.
    pub fn start(dir: &Path, host_data: Option<[u8; 32]>) -> Self {
        let socket = dir.join("sp.sock");
        let mut cmd = Command::new(bin("assay"));
        cmd.arg("sim-sp")
            .arg("--socket")
            .arg(&socket)
            .arg("--chain")
            .arg(sim_dir())
            .args(launch_args())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(h) = host_data {
            cmd.arg("--host-data").arg(format!("0x{}", hex::encode(h)));
        }
        let mut child = cmd.spawn().expect("assay sim-sp starts");
        let start = Instant::now();
        while !socket.exists() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("assay sim-sp exited early: {status}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "assay sim-sp did not open {}",
                socket.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        SpProcess { child, socket }
    }
}

impl Drop for SpProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
