//! The simulated AMD-SP (feature `testing`), like go-sev-guest's fakes: a test certificate chain
//! in AMD's form, a report signer that signs exactly as the firmware does, a fake KDS answering
//! for the simulated chip, and an AMD-SP that serves a guest's report requests over the evidence
//! channel ([`crate::abi::ReportRequest`]) from outside the guest, as the real one does.
//!
//! Nothing here holds a key: the chain, private keys included, is read at run time from the
//! folder a caller names (`attestation/testdata/sim`, see its README), so no binary carries a
//! simulated private key, and nothing trusts the chain unless a caller names its ARK.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair};

use crate::Error;
use crate::abi::{
    AttestationReport, CertificateKind, EcdsaSignature, ExtendedResponse, PlatformInfo, Product,
    REPORT_REQUEST_SIZE, REPORT_SIZE, ReportRequest, SIGNED_LEN, TableEntry, Tcb, build_cert_table,
    report_response,
};
use crate::kds::vcek_url;
use crate::verify::{Certificate, TrustStore, VekKind, parse_certificates};

/// The folder of the simulated chain in this repository.
pub fn default_chain_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sim")
}

/// The TCB the simulated VCEK was issued for (see `testdata/sim/generate.py`): Milan's default
/// floor ([`crate::validate::MinTcb::floor`]).
pub const SIM_TCB: Tcb = Tcb {
    fmc: None,
    bootloader: 4,
    tee: 0,
    snp: 24,
    microcode: 219,
};

/// The simulated chip's id (the VCEK's hwID): bytes 0x40, 0x41, … 0x7f.
pub fn sim_hwid() -> [u8; 64] {
    std::array::from_fn(|i| 0x40 + i as u8)
}

/// The simulated chain: ARK, ASK, ASVK, VCEK and VLEK, and the two leaves' private keys.
pub struct SimulatedChain {
    dir: PathBuf,
    ark: Certificate,
    ask: Certificate,
    asvk: Certificate,
    vcek: Certificate,
    vlek: Certificate,
    vcek_key: EcdsaKeyPair,
    vlek_key: EcdsaKeyPair,
}

impl std::fmt::Debug for SimulatedChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SimulatedChain({})", self.dir.display())
    }
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

impl SimulatedChain {
    /// Reads the chain from `dir` (`ark.pem`, `ask.pem`, `asvk.pem`, `vcek.pem`, `vlek.pem`,
    /// `vcek.pk8`, `vlek.pk8`).
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let cert = |name: &str| -> Result<Certificate, Error> {
            let path = dir.join(name);
            let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
            let origin = path.display().to_string();
            parse_certificates(&bytes, &origin)?
                .into_iter()
                .next()
                .ok_or(Error::CertificateParse {
                    origin,
                    reason: "holds no certificate".into(),
                })
        };
        let key = |name: &str| -> Result<EcdsaKeyPair, Error> {
            let path = dir.join(name);
            let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
            EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &bytes).map_err(|_| {
                Error::CertificateParse {
                    origin: path.display().to_string(),
                    reason: "not a PKCS#8 P-384 private key".into(),
                }
            })
        };
        Ok(SimulatedChain {
            dir: dir.to_owned(),
            ark: cert("ark.pem")?,
            ask: cert("ask.pem")?,
            asvk: cert("asvk.pem")?,
            vcek: cert("vcek.pem")?,
            vlek: cert("vlek.pem")?,
            vcek_key: key("vcek.pk8")?,
            vlek_key: key("vlek.pk8")?,
        })
    }

    /// The simulated ARK, for a caller that names it as a test root.
    pub fn ark(&self) -> &Certificate {
        &self.ark
    }

    /// AMD's roots and, named here explicitly, the simulated ARK.
    pub fn trust(&self) -> TrustStore {
        TrustStore::amd()
            .with_test_root(self.ark.clone())
            .expect("the simulated ARK is a self-signed root")
    }

    /// The certificates a host serves with a `vek`-signed report: the VEK and its ASK or ASVK.
    pub fn certificates(&self, vek: VekKind) -> Vec<Certificate> {
        match vek {
            VekKind::Vcek => vec![self.vcek.clone(), self.ask.clone()],
            VekKind::Vlek => vec![self.vlek.clone(), self.asvk.clone()],
        }
    }

    /// The host's certificate table for `vek`-signed reports: VEK, ASK (or ASVK), ARK.
    pub fn cert_table(&self, vek: VekKind) -> Vec<u8> {
        let (leaf, kind, middle) = match vek {
            VekKind::Vcek => (&self.vcek, CertificateKind::Vcek, &self.ask),
            VekKind::Vlek => (&self.vlek, CertificateKind::Vlek, &self.asvk),
        };
        let entry = |kind, c: &Certificate| TableEntry {
            kind,
            der: c.der().to_vec(),
        };
        build_cert_table(&[
            entry(kind, leaf),
            entry(CertificateKind::Ask, middle),
            entry(CertificateKind::Ark, &self.ark),
        ])
    }

    /// A version 3 Milan report of the simulated chip at its TCB, as its firmware would make
    /// it, with MEASUREMENT, REPORT_DATA and HOST_DATA zero and guest policy 0x30000.
    pub fn blank_report(&self) -> AttestationReport {
        let mut bytes = [0u8; REPORT_SIZE];
        bytes[0] = 3; // VERSION
        bytes[0x08..0x10].copy_from_slice(&0x30000u64.to_le_bytes()); // POLICY
        bytes[0x34] = 1; // SIGNATURE_ALGO: ECDSA P-384 with SHA-384
        bytes[0x188..0x18B].copy_from_slice(&[0x19, 0x01, 0x01]); // CPUID: Milan
        let mut report = AttestationReport::from_bytes(&bytes).expect("a valid blank report");
        let tcb = SIM_TCB.encode(Product::Milan);
        report.reported_tcb = tcb;
        report.current_tcb = tcb;
        report.committed_tcb = tcb;
        report.launch_tcb = tcb;
        report.chip_id = sim_hwid();
        report.platform_info = PlatformInfo(0x25);
        report
    }

    /// Signs `report` as the AMD-SP does (ECDSA P-384/SHA-384 over its first 0x2A0 bytes) with
    /// the `vek` private key; returns the 1184 bytes.
    pub fn sign(&self, mut report: AttestationReport, vek: VekKind) -> [u8; REPORT_SIZE] {
        let key = match vek {
            VekKind::Vcek => &self.vcek_key,
            VekKind::Vlek => &self.vlek_key,
        };
        let signed = report.to_bytes();
        let sig = key
            .sign(&aws_lc_rs::rand::SystemRandom::new(), &signed[..SIGNED_LEN])
            .expect("signing works");
        report.signature =
            EcdsaSignature::from_fixed_be(sig.as_ref().try_into().expect("96-byte P-384 r ‖ s"));
        report.to_bytes()
    }

    /// A fake KDS: the DER AMD's KDS would answer at `url` for the simulated chip's VCEK at
    /// its TCB, or `None` where the real KDS would answer 404.
    pub fn kds(&self, url: &str) -> Option<Vec<u8>> {
        (url == vcek_url(Product::Milan, &sim_hwid(), SIM_TCB)).then(|| self.vcek.der().to_vec())
    }
}

/// The simulated AMD-SP of one launched guest: it knows what was launched (its MEASUREMENT,
/// computed by `assay-measurements` from the launched files, and HOST_DATA) and answers the
/// guest's report requests with VCEK-signed reports.
#[derive(Debug)]
pub struct SimulatedSp {
    chain: SimulatedChain,
    /// The guest's launch measurement.
    pub measurement: [u8; 48],
    /// HOST_DATA the host gave at launch.
    pub host_data: [u8; 32],
    /// The guest policy (default 0x30000: SMT allowed, no debug).
    pub policy: u64,
}

impl SimulatedSp {
    /// The AMD-SP of a guest launched with `measurement`, zero HOST_DATA and the default policy.
    pub fn new(chain: SimulatedChain, measurement: [u8; 48]) -> Self {
        SimulatedSp {
            chain,
            measurement,
            host_data: [0; 32],
            policy: 0x30000,
        }
    }

    /// The chain it signs with.
    pub fn chain(&self) -> &SimulatedChain {
        &self.chain
    }

    /// A signed report answering `request`.
    pub fn report(&self, request: &ReportRequest) -> [u8; REPORT_SIZE] {
        let mut report = self.chain.blank_report();
        report.policy = crate::abi::GuestPolicy(self.policy);
        report.vmpl = request.vmpl;
        report.measurement = self.measurement;
        report.host_data = self.host_data;
        report.report_data = request.report_data;
        aws_lc_rs::rand::fill(&mut report.report_id).expect("the system RNG works");
        self.chain.sign(report, VekKind::Vcek)
    }

    /// The extended answer to `request`: MSG_REPORT_RSP and the certificate table.
    pub fn answer(&self, request: &ReportRequest) -> ExtendedResponse {
        ExtendedResponse {
            message: report_response(&self.report(request)),
            certificates: self.chain.cert_table(VekKind::Vcek),
        }
    }

    /// Serves one request on `stream`: reads MSG_REPORT_REQ, writes the answer.
    pub fn serve_one(&self, stream: &mut (impl Read + Write)) -> Result<(), Error> {
        let mut request = [0u8; REPORT_REQUEST_SIZE];
        stream
            .read_exact(&mut request)
            .map_err(|e| Error::Channel {
                reason: format!("reading MSG_REPORT_REQ: {e}"),
            })?;
        let request = ReportRequest::from_bytes(&request)?;
        self.answer(&request).write_to(stream)
    }

    /// Serves report requests on `listener` until it fails; each connection carries one
    /// request. A malformed request closes its connection and is reported to `log`.
    #[cfg(unix)]
    pub fn serve(&self, listener: &std::os::unix::net::UnixListener, log: &dyn Fn(&Error)) {
        for stream in listener.incoming() {
            match stream {
                Ok(mut s) => {
                    if let Err(e) = self.serve_one(&mut s) {
                        log(&e);
                    }
                }
                Err(e) => {
                    log(&Error::Channel {
                        reason: format!("accepting a connection: {e}"),
                    });
                    return;
                }
            }
        }
    }
}
