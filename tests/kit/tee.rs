//! A TEE job on loopback, as a host runs one: the simulated AMD-SP launched for it (`assay
//! sim-sp`), a key service that approved it, its job file, and the scan of everything that left
//! the enclave.

use std::process::{Command, Output};

use alloy_primitives::B256;
use assay_forge::job::{EvidenceSpec, JobSpec};
use assay_forge::{BundleVerifier, Pins};

use crate::forge::{CHAIN_ID, CONTRACT, FORGE_ID};
use crate::job::Setup;
use crate::key_service::{self, RunningKeyService};
use crate::paths::bin;
use crate::scan::{files, needles, scan};
use crate::sim::{SpProcess, launch_measurement, sim_verifier_for};

/// A TEE job on loopback: the simulated AMD-SP launched for it, a key service that approved
/// it, its job file.
pub struct Tee {
    /// The job's files.
    pub s: Setup,
    /// The approved job.
    pub job: JobSpec,
    /// The key service.
    pub ks: RunningKeyService,
    _sp: SpProcess,
    /// The job file.
    pub file: std::path::PathBuf,
}

impl Tee {
    /// The setup's TEE job with `nonce`, approved (with `also`) by a key service that expects the
    /// launch's measurement.
    pub fn start(s: Setup, nonce: B256, also: &[JobSpec]) -> Tee {
        let job = s.job_with_nonce(true, nonce);
        let mut approved = vec![job.clone()];
        approved.extend_from_slice(also);
        let ks = key_service::start(
            &s.key,
            &s.service_key,
            &approved,
            sim_verifier_for(launch_measurement()),
        );
        let sp = SpProcess::start(s.path(), Some(job.hash().0));
        let run = s.run(
            EvidenceSpec::Simulated {
                socket: sp.socket.clone(),
            },
            Some(&ks.url),
        );
        let file = s.write_job(&job, &run, "job.toml");
        Tee {
            s,
            job,
            ks,
            _sp: sp,
            file,
        }
    }

    /// Runs `assay-enclave --job` with `extra` flags.
    pub fn run(&self, extra: &[&str]) -> Output {
        Command::new(bin("assay-enclave"))
            .arg("--job")
            .arg(&self.file)
            .args(extra)
            .output()
            .unwrap()
    }

    /// A verifier of this job's bundles, with every pin.
    pub fn verifier(&self) -> BundleVerifier {
        BundleVerifier {
            nonce: Some(self.job.forge.nonce),
            pins: Pins {
                forge_id: Some(FORGE_ID),
                chain_id: Some(CHAIN_ID),
                contract: Some(CONTRACT),
                job: Some(self.job.hash()),
            },
            ..BundleVerifier::new(sim_verifier_for(launch_measurement()))
        }
    }

    /// Scans everything that left the enclave: its output, the key requests, every file in
    /// the folder but the encrypted holdout.
    pub fn scan(&self, o: &Output) {
        let needles = needles(&self.s);
        scan("stdout", &o.stdout, &needles);
        scan("stderr", &o.stderr, &needles);
        for (i, body) in self.ks.requests.lock().unwrap().iter().enumerate() {
            scan(&format!("request {i}"), body, &needles);
        }
        for f in files(self.s.path())
            .iter()
            .filter(|f| !f.ends_with("holdout.enc") && !f.ends_with("sp.sock"))
        {
            scan(
                &f.display().to_string(),
                &std::fs::read(f).unwrap(),
                &needles,
            );
        }
    }
}
