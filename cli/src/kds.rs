//! `assay kds`: the KDS URLs for a report's certificates, and (feature `kds-fetch`) downloading
//! them into a folder `assay verify report --certs` reads.

#[cfg(feature = "kds-fetch")]
use crate::error::Error;
use std::path::Path;
use std::path::PathBuf;
use std::process::ExitCode;

use assay_attestation::abi::{AttestationReport, Product, SigningKey, extract_report};
use assay_attestation::kds::{cert_chain_url, crl_url, read_report_file, vcek_url_for_report};
use assay_attestation::verify::VekKind;
use clap::{Args, Subcommand};

/// Subcommands of `assay kds`.
#[derive(Subcommand)]
pub enum KdsCommand {
    /// Print the KDS URLs of the VCEK (chosen by REPORTED_TCB), chain and CRL for a report.
    Urls(ReportRef),
    /// Download the VCEK, ASK, ARK and CRL for a report into a folder (vcek.der, ask.der,
    /// ark.der, crl.der), through a disk cache.
    #[cfg(feature = "kds-fetch")]
    Fetch(FetchArgs),
}

/// A report and, for version 2 reports (no CPUID), its product.
#[derive(Args)]
pub struct ReportRef {
    /// The report file.
    pub report: PathBuf,
    /// Product, needed for version 2 reports: Milan, Genoa or Turin.
    #[arg(long)]
    pub product: Option<String>,
}

/// Arguments of `assay kds fetch`.
#[cfg(feature = "kds-fetch")]
#[derive(Args)]
pub struct FetchArgs {
    #[command(flatten)]
    pub report: ReportRef,
    /// Folder to write the certificates into.
    #[arg(long)]
    pub out: PathBuf,
    /// Cache folder for KDS responses.
    #[arg(long, default_value = ".assay-kds-cache")]
    pub cache: PathBuf,
}

struct Located {
    report: AttestationReport,
    product: Product,
}

fn locate(r: &ReportRef) -> Result<Located, Error> {
    let input = read_report_file(&r.report)?;
    let (bytes, _) = extract_report(&input).map_err(|e| format!("{}: {e}", r.report.display()))?;
    let report =
        AttestationReport::from_bytes(bytes).map_err(|e| format!("{}: {e}", r.report.display()))?;
    let named = r
        .product
        .as_deref()
        .map(str::parse::<Product>)
        .transpose()
        .map_err(|e| format!("--product: {e}"))?;
    let product = match (report.product()?, named) {
        (Some(p), Some(n)) if p != n => {
            return Err(
                format!("--product {n} contradicts the report's CPUID, which says {p}").into(),
            );
        }
        (Some(p), _) | (None, Some(p)) => p,
        (None, None) => {
            return Err(
                "a version 2 report does not name its product: pass --product Milan|Genoa|Turin"
                    .into(),
            );
        }
    };
    Ok(Located { report, product })
}

fn kind(report: &AttestationReport) -> VekKind {
    match report.signing_key() {
        SigningKey::Vlek => VekKind::Vlek,
        _ => VekKind::Vcek,
    }
}

pub fn run(cmd: KdsCommand) -> Result<ExitCode, Error> {
    match cmd {
        KdsCommand::Urls(r) => {
            let l = locate(&r)?;
            let kind = kind(&l.report);
            match vcek_url_for_report(&l.report, l.product) {
                Ok(url) => println!("vcek        {url}"),
                Err(e) => println!("vcek        (none: {e})"),
            }
            println!("cert_chain  {}", cert_chain_url(l.product, kind));
            println!("crl         {}", crl_url(l.product, kind));
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "kds-fetch")]
        KdsCommand::Fetch(args) => fetch(&args),
    }
}

#[cfg(feature = "kds-fetch")]
/// Writes `bytes` to `dir/name`, whole or not at all.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), Error> {
    Ok(assay_keys::write_atomic(&dir.join(name), bytes, false)?)
}

#[cfg(feature = "kds-fetch")]
fn fetch(args: &FetchArgs) -> Result<ExitCode, Error> {
    use assay_attestation::kds::{Cache, fetch_https};
    use std::time::Duration;

    let l = locate(&args.report)?;
    let cache = Cache::new(&args.cache);
    let vcek_url = vcek_url_for_report(&l.report, l.product)?;
    let vcek = cache.get(&vcek_url, None, fetch_https)?;
    let chain_url = cert_chain_url(l.product, VekKind::Vcek);
    let chain = cache.get(&chain_url, None, fetch_https)?;
    let crl_url = crl_url(l.product, VekKind::Vcek);
    let crl = cache.get(&crl_url, Some(Duration::from_secs(24 * 3600)), fetch_https)?;
    // KDS serves the chain as PEM, ASK first then ARK.
    let certs = assay_attestation::verify::parse_certificates(&chain, &chain_url)?;
    let [ask, ark] = certs.as_slice() else {
        return Err(format!(
            "{chain_url} returned {} certificates, expected ASK and ARK",
            certs.len()
        )
        .into());
    };
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    write_atomically(&args.out, "vcek.der", &vcek)?;
    write_atomically(&args.out, "ask.der", ask.der())?;
    write_atomically(&args.out, "ark.der", ark.der())?;
    write_atomically(&args.out, "crl.der", &crl)?;
    println!(
        "wrote vcek.der, ask.der, ark.der, crl.der to {}",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
