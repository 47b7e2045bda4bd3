//! A simulated AMD-SP, like go-sev-guest's fake: reports with the real layout (version 3, Milan),
//! signed with ECDSA P-384/SHA-384 exactly as the firmware signs them, by the simulated VCEK of
//! `attestation/testdata/sim` (generated once; its ARK is trusted only when a verifier names it).
//! The MEASUREMENT is the one `measurements` computes for the launch (given as reference values).

use assay_attestation::abi::{
    AttestationReport, EcdsaSignature, PlatformInfo, Product, REPORT_SIZE, SIGNED_LEN, Tcb,
};
use assay_attestation::bundle::EvidenceKind;
use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine;

use super::{Evidence, EvidenceProvider};
use crate::Error;

const VCEK_KEY: &[u8] = include_bytes!("../../../../attestation/testdata/sim/vcek.pk8");
const VCEK_PEM: &str = include_str!("../../../../attestation/testdata/sim/vcek.pem");
const ASK_PEM: &str = include_str!("../../../../attestation/testdata/sim/ask.pem");

/// The TCB the simulated VCEK was issued for (see `attestation/testdata/sim/generate.py`).
const SIM_TCB: Tcb = Tcb {
    fmc: None,
    bootloader: 3,
    tee: 0,
    snp: 8,
    microcode: 115,
};

/// The simulated AMD-SP of one guest.
#[derive(Clone, Debug)]
pub struct SimulatedSp {
    /// The guest's launch measurement.
    pub measurement: [u8; 48],
    /// The guest policy (default 0x30000: SMT allowed, no debug).
    pub policy: u64,
}

impl SimulatedSp {
    /// A guest launched with `measurement` and the default policy.
    pub fn new(measurement: [u8; 48]) -> Self {
        SimulatedSp {
            measurement,
            policy: 0x30000,
        }
    }

    /// The certificates a host would serve with the report: the simulated VCEK and ASK (DER).
    pub fn certificates() -> Vec<Vec<u8>> {
        [VCEK_PEM, ASK_PEM]
            .iter()
            .map(|pem| {
                let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
                base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .expect("the simulated certificates are valid PEM")
            })
            .collect()
    }

    /// A signed report binding `report_data`.
    pub fn report(&self, report_data: [u8; 64]) -> Vec<u8> {
        let mut bytes = [0u8; REPORT_SIZE];
        bytes[0] = 3; // VERSION
        bytes[0x08..0x10].copy_from_slice(&self.policy.to_le_bytes()); // POLICY
        bytes[0x34] = 1; // SIGNATURE_ALGO: ECDSA P-384 with SHA-384
        bytes[0x188..0x18B].copy_from_slice(&[0x19, 0x01, 0x01]); // CPUID: Milan
        let mut report = AttestationReport::from_bytes(&bytes).expect("a valid blank report");
        let tcb = SIM_TCB.encode(Product::Milan);
        report.reported_tcb = tcb;
        report.current_tcb = tcb;
        report.committed_tcb = tcb;
        report.launch_tcb = tcb;
        report.chip_id = std::array::from_fn(|i| 0x40 + i as u8);
        report.measurement = self.measurement;
        report.report_data = report_data;
        report.platform_info = PlatformInfo(0x25);
        aws_lc_rs::rand::fill(&mut report.report_id).expect("the system RNG works");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, VCEK_KEY)
            .expect("the simulated VCEK key is valid");
        let signed = report.to_bytes();
        let sig = key
            .sign(&aws_lc_rs::rand::SystemRandom::new(), &signed[..SIGNED_LEN])
            .expect("signing works");
        report.signature =
            EcdsaSignature::from_fixed_be(sig.as_ref().try_into().expect("96-byte P-384 r ‖ s"));
        report.to_bytes().to_vec()
    }
}

impl EvidenceProvider for SimulatedSp {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::Simulated
    }

    fn attest(&self, report_data: [u8; 64]) -> Result<Option<Evidence>, Error> {
        Ok(Some(Evidence {
            report: self.report(report_data),
            certificates: Self::certificates(),
        }))
    }
}
