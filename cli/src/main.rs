//! `assay`: the command line of Assay.
//!
//! Exit status: 0 when the command succeeded (for `verify`: every check passed), 1 when a check
//! failed or an input could not be used, 2 for a malformed command line.

#![forbid(unsafe_code)]

mod attribute;
mod bundle;
mod error;
mod job;
mod kds;
mod keys;
mod measure;
mod recipe;
mod replay;
mod sim;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

// Training allocates and frees large tensors every step; glibc's malloc hands each back to the
// kernel and faults it in again (measured: training steps ~1.7× slower than with mimalloc).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Assay: provable data attribution for model fine-tunes, attested by AMD SEV-SNP.
#[derive(Parser)]
#[command(name = "assay", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify attestation evidence.
    #[command(subcommand)]
    Verify(VerifyCommand),
    /// AMD Key Distribution Service: certificate URLs and downloads.
    #[command(subcommand)]
    Kds(kds::KdsCommand),
    /// Compute the expected launch measurement of a confidential VM (sev-snp-measure's flags).
    Measure(Box<measure::MeasureArgs>),
    /// Leave-one-out scores and shares of contributions, with a pinned recipe.
    Attribute(Box<attribute::AttributeArgs>),
    /// Rerun a bundle's job on its data with the enclave's code path and compare every number
    /// with the bundle, bit for bit.
    Replay(Box<replay::ReplayArgs>),
    /// The pinned recipe: check a recipe file, run its fine-tune and eval.
    #[command(subcommand)]
    Recipe(recipe::RecipeCommand),
    /// Holdout keys: make one, encrypt a holdout, serve keys to attested enclaves.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// The job a Forge approves: write one from its files, print its hash.
    #[command(subcommand)]
    Job(job::JobCommand),
    /// For relayers: what to submit to the Forge contract.
    #[command(subcommand)]
    Relay(bundle::RelayCommand),
    /// A simulated AMD-SP (test keys) answering an enclave's report requests, for hosts without
    /// SEV-SNP; its MEASUREMENT is the launch digest of the files given.
    SimSp(Box<sim::SimSpArgs>),
}

#[derive(Subcommand)]
enum VerifyCommand {
    /// Verify an SEV-SNP attestation report: signature, AMD chain, TCB, chip id and policy.
    Report(ReportArgs),
    /// Verify an attestation bundle: the SNP report (chain, TCB, policy, measurement), that
    /// REPORT_DATA binds this EvalResult and signer, the EIP-712 signature, the nonce, the shares.
    Attestation(bundle::AttestationArgs),
}

/// Arguments of `assay verify report`.
#[derive(Args)]
pub struct ReportArgs {
    /// The report: 1184 bytes, an SNP_REPORT response, an Azure HCL report, or hex text.
    pub report: PathBuf,
    /// Folder with the VCEK or VLEK (vcek.pem/.der), optionally ask.pem/ark.pem and a CRL
    /// (crl.der, checked as if given with --crl); AMD's intermediates are built in and only
    /// AMD's ARKs are trusted.
    #[arg(long)]
    pub certs: PathBuf,
    /// Roots, time, CRLs and policy.
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Print the parsed report and every check's outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What a verification trusts and requires.
#[derive(Args)]
pub struct TrustArgs {
    /// Policy file (TOML, see docs/policy.md). Without one, debug guests are refused and nothing
    /// else is required.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Reference values (`assay measure --reference`): allow this enclave build's measurement;
    /// repeatable. With reference values, only the measurements they name are accepted.
    #[arg(long)]
    pub reference: Vec<PathBuf>,
    /// A CRL (DER or PEM) from AMD's KDS to check the chain against; repeatable.
    #[arg(long)]
    pub crl: Vec<PathBuf>,
    /// Check certificate and CRL validity at this time (RFC 3339) instead of now.
    #[arg(long)]
    pub at: Option<String>,
    /// INSECURE, for tests: also trust this root certificate (a simulated AMD-SP's ARK), so
    /// that reports signed with its test keys pass; repeatable. Warned about at start (and, by a
    /// key service, at every release, which then serves on loopback only). Also `--trust-root`.
    #[arg(long = "insecure-test-root", alias = "trust-root")]
    pub trust_root: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Recipe(recipe::RecipeCommand::Train(_))
            | Command::Attribute(_)
            | Command::Replay(_)
    ) {
        // Training: candle's own threads off, Assay's shard threads on (see
        // `assay_recipe::threads`). Returns only if the variable is set or exec failed.
        if let Err(e) = candle_single_threaded() {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    let result = match cli.command {
        Command::Verify(VerifyCommand::Report(args)) => verify::run(&args),
        Command::Verify(VerifyCommand::Attestation(args)) => bundle::verify(&args),
        Command::Relay(cmd) => bundle::relay(cmd),
        Command::Keys(cmd) => keys::run(cmd),
        Command::Job(cmd) => job::run(cmd),
        Command::Kds(cmd) => kds::run(cmd),
        Command::Measure(args) => Ok(measure::run(&args)),
        Command::Recipe(cmd) => recipe::run(cmd),
        Command::Attribute(args) => attribute::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::SimSp(args) => sim::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Replaces this process with itself running candle single-threaded (see
/// `assay_recipe::threads::candle_single_threaded_command`); returns only when that is not
/// needed, or with the error if it failed.
fn candle_single_threaded() -> Result<(), assay_recipe::Error> {
    use std::os::unix::process::CommandExt;
    match assay_recipe::threads::candle_single_threaded_command()? {
        Some(mut cmd) => Err(assay_recipe::Error::Exec(cmd.exec())),
        None => Ok(()),
    }
}
