//! `assay sim-sp`: a simulated AMD-SP for hosts without SEV-SNP. It runs beside the enclave, as
//! the real AMD-SP runs beside the guest, and answers the enclave's report requests on the
//! evidence channel (a Unix socket; `assay-enclave --sp-socket`). Its MEASUREMENT is the launch
//! digest of the files given, computed exactly as `assay measure` computes it; its keys are the
//! simulated chain's, read from the folder named with --chain, so only a verifier that names
//! that chain's ARK (`--trust-root`) accepts its reports.

use crate::error::Error;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::ExitCode;

use alloy_primitives::B256;
use assay_attestation::testing::{SimulatedChain, SimulatedSp};
use clap::Args;

use crate::measure::{MeasureArgs, Mode, launch_files};

/// Arguments of `assay sim-sp`.
#[derive(Args)]
pub struct SimSpArgs {
    /// The evidence channel's Unix socket to listen on (must not exist yet).
    #[arg(long)]
    pub socket: PathBuf,
    /// The simulated chain's folder (ark.pem, ask.pem, asvk.pem, vcek.pem, vlek.pem and the
    /// leaves' private keys, e.g. attestation/testdata/sim): test keys, named explicitly.
    #[arg(long)]
    pub chain: PathBuf,
    /// HOST_DATA the host gives at launch (32 bytes hex) [default: zeros].
    #[arg(long)]
    pub host_data: Option<B256>,
    /// Serve this many report requests, then exit [default: until stopped].
    #[arg(long)]
    pub requests: Option<usize>,
    /// The launched files, as `assay measure --mode snp` takes them.
    #[command(flatten)]
    pub launch: MeasureArgs,
}

pub fn run(a: &SimSpArgs) -> Result<ExitCode, Error> {
    if a.launch.mode != Mode::Snp {
        return Err("assay sim-sp simulates an SEV-SNP launch: give --mode snp".into());
    }
    let files = launch_files(&a.launch)?;
    let measured = files.measure()?;
    let measurement: [u8; 48] = measured
        .digest
        .as_slice()
        .try_into()
        .expect("an SNP launch digest is 48 bytes");
    let chain = SimulatedChain::load(&a.chain)?;
    let mut sp = SimulatedSp::new(chain, measurement);
    if let Some(h) = a.host_data {
        sp.host_data = h.0;
    }
    let listener = UnixListener::bind(&a.socket)
        .map_err(|e| format!("{}: cannot listen: {e}", a.socket.display()))?;
    eprintln!(
        "assay sim-sp: WARNING: SIMULATED AMD-SP with the TEST chain of {}; its reports are accepted only by verifiers that name that chain's ARK",
        a.chain.display()
    );
    println!(
        "simulated AMD-SP on {}; MEASUREMENT {}; HOST_DATA {}",
        a.socket.display(),
        hex::encode(measurement),
        hex::encode(sp.host_data)
    );
    let log = |e: &assay_attestation::Error| eprintln!("assay sim-sp: {e}");
    match a.requests {
        None => sp.serve(&listener, &log),
        Some(n) => {
            for stream in listener.incoming().take(n) {
                let mut stream = stream.map_err(|e| format!("accepting a connection: {e}"))?;
                if let Err(e) = sp.serve_one(&mut stream) {
                    log(&e);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
