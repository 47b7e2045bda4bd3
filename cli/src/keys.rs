//! `assay keys`: the holdout owner's side of key release.

use crate::error::Error;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use assay_forge::job::JobFile;
use assay_keys::DataKey;
use assay_keys::holdout::{DEFAULT_CHUNK, encrypt};
use assay_keys::service::{Config, KeyService};
use assay_keys::wrap::ServiceKey;
use clap::Subcommand;

use crate::TrustArgs;

/// `assay keys …`.
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Make a fresh AES-256 data key (64 hex digits, file mode 0600); refuses to overwrite.
    New {
        /// Where to write it.
        out: PathBuf,
    },
    /// Encrypt a holdout (JSON Lines) into the `assay-holdout/1` format.
    Encrypt {
        /// The plaintext holdout.
        holdout: PathBuf,
        /// The data key file.
        #[arg(long)]
        key: PathBuf,
        /// Where to write the encrypted holdout.
        #[arg(long)]
        out: PathBuf,
        /// Plaintext bytes per chunk.
        #[arg(long, default_value_t = DEFAULT_CHUNK)]
        chunk_size: u32,
    },
    /// Make the key service's own key (an X25519 key, 64 hex digits, file mode 0600), which
    /// authenticates every key it releases; prints the public key a JobSpec pins. Refuses to
    /// overwrite.
    NewServiceKey {
        /// Where to write it.
        out: PathBuf,
    },
    /// Serve data keys to enclaves running a job the Forge approved, whose SNP reports pass the
    /// policy (with the expected measurement from --reference or the policy's
    /// reference_values), a few times per job, each release logged.
    Serve {
        /// Everything below from a TOML file instead (the same names, `resources` a table of
        /// NAME = KEYFILE, `insecure_test_root` for --insecure-test-root; paths relative to the
        /// file; `assay-host example` writes one).
        #[arg(long, conflicts_with_all = ["listen", "resource", "service_key", "approve", "release_log"])]
        config: Option<PathBuf>,
        /// Address to listen on [default: 127.0.0.1:8470].
        #[arg(long)]
        listen: Option<String>,
        /// A resource and its key file, `NAME=KEYFILE`; repeatable.
        #[arg(long, value_parser = parse_resource, required_unless_present = "config")]
        resource: Vec<(String, PathBuf)>,
        /// The service's key (`assay keys new-service-key`); the approved jobs pin its public
        /// half.
        #[arg(long, required_unless_present = "config")]
        service_key: Option<PathBuf>,
        /// A job the Forge approved (a job file, `assay job new`); repeatable. Keys go to
        /// these jobs only.
        #[arg(long, required_unless_present = "config")]
        approve: Vec<PathBuf>,
        /// Releases per job at most (a first run and resumptions).
        #[arg(long, default_value_t = assay_keys::service::DEFAULT_MAX_RELEASES)]
        max_releases: u32,
        /// Append every release to this file (JSON Lines); read at start, so the limit holds
        /// across restarts.
        #[arg(long)]
        release_log: Option<PathBuf>,
        /// Seconds a challenge nonce stays valid.
        #[arg(long, default_value_t = 60)]
        nonce_ttl: u64,
        /// Roots, CRLs and policy the enclave's report must pass.
        #[command(flatten)]
        trust: TrustArgs,
    },
}

/// `assay keys serve --config FILE`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ServeConfig {
    listen: Option<String>,
    resources: std::collections::BTreeMap<String, PathBuf>,
    service_key: PathBuf,
    approve: Vec<PathBuf>,
    max_releases: Option<u32>,
    release_log: Option<PathBuf>,
    nonce_ttl: Option<u64>,
    policy: Option<PathBuf>,
    #[serde(default)]
    reference: Vec<PathBuf>,
    #[serde(default)]
    crl: Vec<PathBuf>,
    at: Option<String>,
    #[serde(default)]
    insecure_test_root: Vec<PathBuf>,
}

/// What a key service serves, from flags or a configuration file.
struct Serve {
    listen: String,
    resources: Vec<(String, PathBuf)>,
    service_key: PathBuf,
    approve: Vec<PathBuf>,
    max_releases: u32,
    release_log: Option<PathBuf>,
    nonce_ttl: u64,
    trust: TrustArgs,
}

const DEFAULT_LISTEN: &str = "127.0.0.1:8470";

impl Serve {
    /// Reads a configuration file; its relative paths are its folder's.
    fn from_file(path: &std::path::Path) -> Result<Serve, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let c: ServeConfig =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(std::path::Path::new("."));
        let at = |p: PathBuf| if p.is_relative() { base.join(p) } else { p };
        Ok(Serve {
            listen: c.listen.unwrap_or_else(|| DEFAULT_LISTEN.into()),
            resources: c.resources.into_iter().map(|(n, p)| (n, at(p))).collect(),
            service_key: at(c.service_key),
            approve: c.approve.into_iter().map(at).collect(),
            max_releases: c
                .max_releases
                .unwrap_or(assay_keys::service::DEFAULT_MAX_RELEASES),
            release_log: c.release_log.map(at),
            nonce_ttl: c.nonce_ttl.unwrap_or(60),
            trust: TrustArgs {
                policy: c.policy.map(at),
                reference: c.reference.into_iter().map(at).collect(),
                crl: c.crl.into_iter().map(at).collect(),
                at: c.at,
                trust_root: c.insecure_test_root.into_iter().map(at).collect(),
            },
        })
    }
}

fn parse_resource(s: &str) -> Result<(String, PathBuf), String> {
    let (name, path) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not NAME=KEYFILE"))?;
    if name.is_empty() {
        return Err(format!("{s:?}: the resource name is empty"));
    }
    Ok((name.to_owned(), PathBuf::from(path)))
}

pub fn run(cmd: KeysCommand) -> Result<ExitCode, Error> {
    match cmd {
        KeysCommand::New { out } => {
            if out.exists() {
                return Err(
                    format!("{}: exists; refusing to overwrite a key", out.display()).into(),
                );
            }
            let key = DataKey::generate();
            key.save(&out)?;
            println!("wrote {} (key id {})", out.display(), hex::encode(key.id()));
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Encrypt {
            holdout,
            key,
            out,
            chunk_size,
        } => {
            let key = DataKey::load(&key)?;
            let plaintext = zeroize::Zeroizing::new(
                std::fs::read(&holdout).map_err(|e| format!("{}: {e}", holdout.display()))?,
            );
            let sealed = encrypt(&plaintext, &key, chunk_size)?;
            assay_keys::write_atomic(&out, &sealed, false)?;
            println!(
                "wrote {} ({} bytes, key id {})",
                out.display(),
                sealed.len(),
                hex::encode(key.id())
            );
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::NewServiceKey { out } => {
            if out.exists() {
                return Err(
                    format!("{}: exists; refusing to overwrite a key", out.display()).into(),
                );
            }
            let key = ServiceKey::generate();
            key.save(&out)?;
            println!("wrote {} (public key {})", out.display(), key.public());
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Serve {
            config,
            listen,
            resource,
            service_key,
            approve,
            max_releases,
            release_log,
            nonce_ttl,
            trust,
        } => {
            let serve = match config {
                Some(path) => Serve::from_file(&path)?,
                None => Serve {
                    listen: listen.unwrap_or_else(|| DEFAULT_LISTEN.into()),
                    resources: resource,
                    service_key: service_key.expect("clap requires it without --config"),
                    approve,
                    max_releases,
                    release_log,
                    nonce_ttl,
                    trust,
                },
            };
            serve_keys(serve)
        }
    }
}

fn serve_keys(s: Serve) -> Result<ExitCode, Error> {
    let Serve {
        listen,
        resources: resource,
        service_key,
        approve,
        max_releases,
        release_log,
        nonce_ttl,
        trust,
    } = s;
    {
        {
            let verifier = crate::verify::verifier(&trust)?;
            let mut resources = HashMap::new();
            for (name, path) in resource {
                resources.insert(name, DataKey::load(&path)?);
            }
            let approved = approve
                .iter()
                .map(|p| JobFile::load(p).map(|f| f.job))
                .collect::<Result<Vec<_>, _>>()?;
            let hashes: Vec<String> = approved.iter().map(|j| j.hash().to_string()).collect();
            let service = Arc::new(KeyService::new(Config {
                verifier,
                resources,
                service_key: ServiceKey::load(&service_key)?,
                approved,
                nonce_ttl: Duration::from_secs(nonce_ttl),
                max_releases,
                release_log,
            })?);
            let rt = tokio::runtime::Runtime::new()
                .map_err(|e| format!("cannot start the key service's runtime: {e}"))?;
            rt.block_on(async {
                let listener = tokio::net::TcpListener::bind(&listen)
                    .await
                    .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
                let addr = listener
                    .local_addr()
                    .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
                assay_keys::http::check_address(&service, addr)
                    .map_err(|e| format!("cannot serve on {listen}: {e}"))?;
                if service.trusts_test_root() {
                    eprintln!(
                        "key service: WARNING: a TEST root is trusted: keys go to enclaves a simulated AMD-SP vouches for; serving on loopback only, every release is logged"
                    );
                }
                eprintln!(
                    "key service: public key {}; approved jobs {}; at most {max_releases} releases each",
                    service.public_key(),
                    hashes.join(", ")
                );
                println!("key service listening on http://{addr}");
                assay_keys::http::serve(listener, service)
                    .await
                    .map_err(|e| Error::Input(format!("key service on {addr}: {e}")))
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
