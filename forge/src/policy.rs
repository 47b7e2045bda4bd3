//! A relying party's policy for bundles: the SNP policy (`assay_attestation::validate::Policy`)
//! and the one rule about bundles rather than reports, `allow_no_tee`. Both live in one TOML file
//! (`docs/policy.md`); this module takes `allow_no_tee` out and hands the rest to the SNP policy,
//! whose unknown-key check then still applies to every other key.

use std::path::Path;

use assay_attestation::validate::Policy;

use crate::Error;

/// The key of the bundle rule.
const ALLOW_NO_TEE: &str = "allow_no_tee";

/// What a bundle must meet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BundlePolicy {
    /// The SNP report's policy.
    pub report: Policy,
    /// Accept bundles made without a TEE (evidence `none`, signed by a named coordinator).
    /// Default `false`: a TEE is required.
    pub allow_no_tee: bool,
}

impl BundlePolicy {
    /// Reads a policy file, with the reference-values files it names (relative to it).
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        let bad = |reason: String| {
            Error::Report(assay_attestation::Error::PolicyFile {
                path: path.display().to_string(),
                reason,
            })
        };
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| bad(e.to_string()))?;
        let allow_no_tee = match table.remove(ALLOW_NO_TEE) {
            None => false,
            Some(toml::Value::Boolean(b)) => b,
            Some(other) => {
                return Err(bad(format!(
                    "`{ALLOW_NO_TEE}` must be true or false, not {other}"
                )));
            }
        };
        let rest = toml::to_string(&table).map_err(|e| bad(e.to_string()))?;
        Ok(BundlePolicy {
            report: Policy::from_file_text(&rest, path)?,
            allow_no_tee,
        })
    }
}

/// The SNP policy as it applies to an enclave's own reports (results and key releases): the
/// policy as given and, where it says nothing about the VMPL, VMPL 0. The enclave runs at the
/// guest's most privileged level; a report requested at another level (by code under an SVSM,
/// say) was not requested by it.
pub fn for_enclave_reports(mut policy: Policy) -> Policy {
    policy.vmpl.get_or_insert(0);
    policy
}
