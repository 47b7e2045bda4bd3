//! The command line of Assay, shared by its two binaries: `assay`, which runs every command
//! but the trainings and stays small (an auditor's `assay verify report` is mostly process
//! start-up: docs/performance.md), and `assay-train`, which holds the recipe (candle,
//! tokenizers) and runs `assay recipe`, `assay attribute` and `assay replay`. `assay` hands a
//! training command to the `assay-train` beside it with `exec` (same pid, same arguments), so
//! both parse this one command line and a user sees one program.
//!
//! Exit status: 0 when the command succeeded (for `verify`: every check passed), 1 when a check
//! failed or an input could not be used, 2 for a malformed command line.

#![forbid(unsafe_code)]

mod alloy;
mod attribute;
mod bundle;
mod error;
mod image;
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

use crate::error::Error;

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
    /// The enclave's VM image: assemble it from the pinned inputs and the enclave program, or
    /// check a folder against its manifest (docs/image.md).
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// The alloy chain (docs/alloy.md): signed links from dataset to delivery, in files and QR
    /// codes.
    #[command(subcommand)]
    Alloy(alloy::AlloyCommand),
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

impl Cli {
    /// Whether this command trains (or reads a recipe's model): `assay-train` runs it.
    pub fn trains(&self) -> bool {
        matches!(
            self.command,
            Command::Recipe(_) | Command::Attribute(_) | Command::Replay(_)
        )
    }
}

/// Runs a command that does not train (`assay`'s own); a training command is refused, naming
/// the binary that runs it.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Verify(VerifyCommand::Report(args)) => verify::run(&args),
        Command::Verify(VerifyCommand::Attestation(args)) => bundle::verify(&args),
        Command::Relay(cmd) => bundle::relay(cmd),
        Command::Alloy(cmd) => alloy::run(cmd),
        Command::Keys(cmd) => keys::run(cmd),
        Command::Job(cmd) => job::run(cmd),
        Command::Image(cmd) => image::run(cmd),
        Command::Kds(cmd) => kds::run(cmd),
        Command::Measure(args) => Ok(measure::run(&args)),
        Command::SimSp(args) => sim::run(&args),
        Command::Recipe(_) | Command::Attribute(_) | Command::Replay(_) => Err(Error::Input(
            format!("training commands run in {TRAINING_BINARY}, not here"),
        )),
    };
    report(result)
}

/// Runs a training command (`assay-train`'s own) with candle single-threaded; any other
/// command is refused, naming `assay`.
pub fn run_training(cli: Cli) -> ExitCode {
    if !cli.trains() {
        return report(Err(Error::Input(format!(
            "{TRAINING_BINARY} runs only `assay recipe`, `assay attribute` and `assay replay`: run this command with assay"
        ))));
    }
    // Candle's own threads off, Assay's shard threads on (see `assay_recipe::threads`).
    // Returns only if the variable is set or exec failed.
    if let Err(e) = candle_single_threaded() {
        return report(Err(e.into()));
    }
    let result = match cli.command {
        Command::Recipe(cmd) => recipe::run(cmd),
        Command::Attribute(args) => attribute::run(&args),
        Command::Replay(args) => replay::run(&args),
        _ => unreachable!("trains() holds"),
    };
    report(result)
}

/// The binary that runs the training commands, installed beside `assay`.
pub const TRAINING_BINARY: &str = "assay-train";

/// Replaces this process (`assay`) with the `assay-train` beside it, same arguments, candle
/// single-threaded (see `assay_recipe::threads`); returns only if that failed, with the error
/// printed.
pub fn exec_training() -> ExitCode {
    use std::os::unix::process::CommandExt;
    let program = match std::env::current_exe() {
        Ok(exe) => exe.with_file_name(TRAINING_BINARY),
        Err(e) => return report(Err(format!("finding this program's path: {e}").into())),
    };
    if !program.is_file() {
        return report(Err(format!(
            "{} is missing: assay runs its training commands (recipe, attribute, replay) with the {TRAINING_BINARY} beside it; `cargo build -p assay-cli` builds both, `cargo install --path cli` installs both",
            program.display()
        )
        .into()));
    }
    let mut cmd = assay_recipe::threads::candle_single_threaded(&program);
    // Under its caller's name, as `ps` and its messages show it.
    if let Some(name) = std::env::args_os().next() {
        cmd.arg0(name);
    }
    let error = cmd.exec();
    report(Err(format!("running {}: {error}", program.display()).into()))
}

fn report(result: Result<ExitCode, Error>) -> ExitCode {
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
