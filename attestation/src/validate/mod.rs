//! The `validate` layer: policy. Whether a report whose signature and chain are already verified
//! meets what the relying party requires (no debug, minimum TCB, expected measurement, …).
//!
//! A policy is a TOML file; every key is optional and an absent key checks nothing, except
//! three whose absence means the safe choice: `allow_debug` and `allow_migrate_ma` default to
//! `false` (a debuggable guest, or one a migration agent may export, is refused unless a policy
//! says otherwise), and an absent `min_tcb` means the product's floor ([`MinTcb::floor`]).
//! Unknown keys are errors, so a misspelt rule cannot be silently ignored. The format is
//! documented in `docs/policy.md`.

mod hexfield;

use std::path::Path;

use assay_measurements::reference::ReferenceValues;
use serde::Deserialize;

use crate::Error;
use crate::abi::{AttestationReport, Product};
use hexfield::Hex;

/// Minimum security patch level per TCB component; absent components are not checked.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MinTcb {
    /// Turin and later: FMC SPL.
    pub fmc: Option<u8>,
    /// Bootloader SPL.
    pub bootloader: Option<u8>,
    /// TEE (AMD-SP OS) SPL.
    pub tee: Option<u8>,
    /// SNP firmware SPL.
    pub snp: Option<u8>,
    /// Microcode SPL.
    pub microcode: Option<u8>,
}

impl MinTcb {
    /// The floor a policy without `[min_tcb]` enforces: the REPORTED_TCB that fixes AMD-SB-3019
    /// (CVE-2024-56161, microcode signature verification, February 2025) on the classic parts,
    /// as cloud providers' bulletins quote it (Google Cloud GCP-2025-007 for Milan; Genoa's
    /// SNP firmware 1.55.40 and microcode 0x0A101154). Turin's floor is the lowest published
    /// TCB of Turin's SNP firmware we know of, not an AMD bulletin's. A host on another stepping
    /// (Milan-X, Genoa-X, Bergamo, Siena carry other microcode lines) or a later bulletin's
    /// floor needs its own `[min_tcb]`; an empty `[min_tcb]` table checks nothing. See
    /// `docs/policy.md`.
    pub fn floor(product: Product) -> MinTcb {
        match product {
            Product::Milan => MinTcb {
                fmc: None,
                bootloader: Some(4),
                tee: Some(0),
                snp: Some(24),
                microcode: Some(219),
            },
            Product::Genoa => MinTcb {
                fmc: None,
                bootloader: None,
                tee: Some(0),
                snp: Some(23),
                microcode: Some(84),
            },
            Product::Turin => MinTcb {
                fmc: Some(1),
                bootloader: Some(1),
                tee: Some(1),
                snp: Some(4),
                microcode: Some(82),
            },
        }
    }
}

/// Requirements on PLATFORM_INFO; each `true` is enforced, `false` or absent is not.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PlatformRequirements {
    /// SMT must be disabled on the host.
    #[serde(default)]
    pub require_smt_disabled: bool,
    /// Transparent SME must be enabled.
    #[serde(default)]
    pub require_tsme_enabled: bool,
    /// ECC memory must be in use.
    #[serde(default)]
    pub require_ecc_enabled: bool,
    /// RAPL must be disabled.
    #[serde(default)]
    pub require_rapl_disabled: bool,
    /// Ciphertext hiding must be enabled.
    #[serde(default)]
    pub require_ciphertext_hiding: bool,
    /// The memory alias check must have completed.
    #[serde(default)]
    pub require_alias_check_complete: bool,
}

/// What a report must satisfy beyond AMD's signature. See the module documentation.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Accept guests whose POLICY allows the host to debug them (default `false`).
    #[serde(default)]
    pub allow_debug: bool,
    /// Accept guests whose POLICY allows a migration agent (default `false`: such a guest's
    /// memory can be exported by an agent the guest owner did not measure).
    #[serde(default)]
    pub allow_migrate_ma: bool,
    /// The VMPL the report must come from.
    pub vmpl: Option<u32>,
    /// Minimum GUEST_SVN.
    pub min_guest_svn: Option<u32>,
    /// Minimum REPORTED_TCB per component; absent, the product's floor ([`MinTcb::floor`]).
    pub min_tcb: Option<MinTcb>,
    /// Allowed MEASUREMENTs (hex, 48 bytes each).
    pub measurements: Option<Vec<Hex<48>>>,
    /// Reference-values files (`assay measure --reference`), relative to the policy file; each
    /// adds its measurement to `measurements`. Resolved by [`Policy::load`].
    pub reference_values: Option<Vec<String>>,
    /// Exact REPORT_DATA (hex, 64 bytes).
    pub report_data: Option<Hex<64>>,
    /// Exact HOST_DATA (hex, 32 bytes).
    pub host_data: Option<Hex<32>>,
    /// Exact FAMILY_ID (hex, 16 bytes).
    pub family_id: Option<Hex<16>>,
    /// Exact IMAGE_ID (hex, 16 bytes).
    pub image_id: Option<Hex<16>>,
    /// Allowed ID_KEY_DIGESTs (hex, 48 bytes each).
    pub id_key_digests: Option<Vec<Hex<48>>>,
    /// Allowed AUTHOR_KEY_DIGESTs (hex, 48 bytes each).
    pub author_key_digests: Option<Vec<Hex<48>>>,
    /// Allowed CHIP_IDs (hex, 64 bytes each).
    pub chip_ids: Option<Vec<Hex<64>>>,
    /// Allowed products.
    pub products: Option<Vec<Product>>,
    /// PLATFORM_INFO requirements.
    pub platform: Option<PlatformRequirements>,
}

/// The TCB rules by component (fmc, bootloader, tee, snp, microcode), as a policy names them…
const TCB_RULES: [&str; 5] = [
    "min_tcb.fmc",
    "min_tcb.bootloader",
    "min_tcb.tee",
    "min_tcb.snp",
    "min_tcb.microcode",
];

/// …and as the default floor does, so that a refusal says where the minimum came from.
const TCB_FLOOR_RULES: [&str; 5] = [
    "min_tcb.fmc (the product's default floor; set [min_tcb] to choose another)",
    "min_tcb.bootloader (the product's default floor; set [min_tcb] to choose another)",
    "min_tcb.tee (the product's default floor; set [min_tcb] to choose another)",
    "min_tcb.snp (the product's default floor; set [min_tcb] to choose another)",
    "min_tcb.microcode (the product's default floor; set [min_tcb] to choose another)",
];

fn mismatch(rule: &'static str, expected: String, found: String) -> Error {
    Error::PolicyMismatch {
        rule,
        expected,
        found,
    }
}

fn check_allowed<const N: usize>(
    rule: &'static str,
    allowed: &Option<Vec<Hex<N>>>,
    found: &[u8; N],
) -> Result<(), Error> {
    match allowed {
        Some(list) if !list.iter().any(|h| &h.0 == found) => Err(Error::PolicyNotAllowed {
            rule,
            found: hex::encode(found),
            allowed: list.len(),
        }),
        _ => Ok(()),
    }
}

fn check_exact<const N: usize>(
    rule: &'static str,
    expected: &Option<Hex<N>>,
    found: &[u8; N],
) -> Result<(), Error> {
    match expected {
        Some(e) if &e.0 != found => Err(mismatch(rule, hex::encode(e.0), hex::encode(found))),
        _ => Ok(()),
    }
}

impl Policy {
    /// Reads a policy file, loading the reference-values files it names (relative to it).
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_file_text(&text, path)
    }

    /// Parses the text of the policy file at `path` (which names it in errors and locates the
    /// reference-values files it names): for callers that read the file themselves.
    pub fn from_file_text(text: &str, path: &Path) -> Result<Self, Error> {
        let origin = path.display().to_string();
        let mut policy = Self::parse(text, &origin)?;
        let base = path.parent().unwrap_or(Path::new("."));
        for file in policy.reference_values.take().unwrap_or_default() {
            let reference =
                ReferenceValues::load(&base.join(&file)).map_err(|e| Error::PolicyFile {
                    path: origin.clone(),
                    reason: format!("reference_values: {e}"),
                })?;
            policy.allow_reference(&reference, &file)?;
        }
        Ok(policy)
    }

    /// Adds an enclave build's expected measurement to the allowlist. `origin` names the
    /// reference in errors.
    pub fn allow_reference(
        &mut self,
        reference: &ReferenceValues,
        origin: &str,
    ) -> Result<(), Error> {
        let refused = || Error::PolicyFile {
            path: origin.to_owned(),
            reason: format!(
                "reference values for mode {:?}: only an SNP measurement (48 bytes) can be allowed",
                reference.mode
            ),
        };
        if reference.mode != "snp" {
            return Err(refused());
        }
        let measurements = reference
            .all_measurements()
            .into_iter()
            .map(|m| <[u8; 48]>::try_from(m).map(Hex).map_err(|_| refused()))
            .collect::<Result<Vec<_>, _>>()?;
        if measurements.is_empty() {
            return Err(refused());
        }
        // Each of the build's vCPU configurations (the launch and its variants).
        self.measurements
            .get_or_insert_with(Vec::new)
            .extend(measurements);
        Ok(())
    }

    /// Parses a policy from TOML; `origin` (a path) names it in errors. A policy naming
    /// `reference_values` must be read with [`Policy::load`], which knows where it lies.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, Error> {
        let policy = Self::parse(text, origin)?;
        if policy.reference_values.is_some() {
            return Err(Error::PolicyFile {
                path: origin.to_owned(),
                reason: "reference_values are paths relative to the policy file: load it with Policy::load".into(),
            });
        }
        Ok(policy)
    }

    fn parse(text: &str, origin: &str) -> Result<Self, Error> {
        let policy: Policy = toml::from_str(text).map_err(|e| Error::PolicyFile {
            path: origin.to_owned(),
            reason: e.to_string(),
        })?;
        let empty = [
            ("measurements", policy.measurements.as_ref().map(Vec::len)),
            (
                "id_key_digests",
                policy.id_key_digests.as_ref().map(Vec::len),
            ),
            (
                "author_key_digests",
                policy.author_key_digests.as_ref().map(Vec::len),
            ),
            ("chip_ids", policy.chip_ids.as_ref().map(Vec::len)),
            ("products", policy.products.as_ref().map(Vec::len)),
            (
                "reference_values",
                policy.reference_values.as_ref().map(Vec::len),
            ),
        ];
        if let Some((key, _)) = empty.iter().find(|(_, n)| *n == Some(0)) {
            return Err(Error::PolicyFile {
                path: origin.to_owned(),
                reason: format!(
                    "`{key}` is an empty list, which no report can meet: list at least one value or remove the key"
                ),
            });
        }
        Ok(policy)
    }

    /// Checks every rule against `report`, whose product (needed to decode its TCB) is `product`.
    /// Returns the first rule that fails.
    pub fn check(&self, report: &AttestationReport, product: Product) -> Result<(), Error> {
        let guest = report.policy;
        if guest.debug_allowed() && !self.allow_debug {
            return Err(Error::PolicyDebug);
        }
        if guest.migrate_ma_allowed() && !self.allow_migrate_ma {
            return Err(Error::PolicyMigrationAgent);
        }
        if let Some(vmpl) = self.vmpl
            && report.vmpl != vmpl
        {
            return Err(mismatch("vmpl", vmpl.to_string(), report.vmpl.to_string()));
        }
        if let Some(min) = self.min_guest_svn
            && report.guest_svn < min
        {
            return Err(Error::PolicyBelowMinimum {
                rule: "min_guest_svn",
                minimum: min,
                found: report.guest_svn,
            });
        }
        {
            let (min, names) = match &self.min_tcb {
                Some(min) => (*min, TCB_RULES),
                None => (MinTcb::floor(product), TCB_FLOOR_RULES),
            };
            let tcb = report.reported_tcb.decode(product);
            let pairs = [
                (names[0], min.fmc, tcb.fmc),
                (names[1], min.bootloader, Some(tcb.bootloader)),
                (names[2], min.tee, Some(tcb.tee)),
                (names[3], min.snp, Some(tcb.snp)),
                (names[4], min.microcode, Some(tcb.microcode)),
            ];
            for (rule, minimum, found) in pairs {
                if let Some(minimum) = minimum {
                    // A component the product lacks (fmc before Turin) cannot meet a minimum.
                    let found = found.ok_or(Error::PolicyComponentAbsent { rule, product })?;
                    if found < minimum {
                        return Err(Error::PolicyBelowMinimum {
                            rule,
                            minimum: minimum.into(),
                            found: found.into(),
                        });
                    }
                }
            }
        }
        check_allowed("measurements", &self.measurements, &report.measurement)?;
        check_exact("report_data", &self.report_data, &report.report_data)?;
        check_exact("host_data", &self.host_data, &report.host_data)?;
        check_exact("family_id", &self.family_id, &report.family_id)?;
        check_exact("image_id", &self.image_id, &report.image_id)?;
        check_allowed(
            "id_key_digests",
            &self.id_key_digests,
            &report.id_key_digest,
        )?;
        check_allowed(
            "author_key_digests",
            &self.author_key_digests,
            &report.author_key_digest,
        )?;
        check_allowed("chip_ids", &self.chip_ids, &report.chip_id)?;
        if let Some(products) = &self.products
            && !products.contains(&product)
        {
            return Err(Error::PolicyNotAllowed {
                rule: "products",
                found: product.name().to_owned(),
                allowed: products.len(),
            });
        }
        if let Some(req) = &self.platform {
            let info = report.platform_info;
            let rules = [
                (
                    req.require_smt_disabled,
                    !info.smt_enabled(),
                    "platform.require_smt_disabled",
                ),
                (
                    req.require_tsme_enabled,
                    info.tsme_enabled(),
                    "platform.require_tsme_enabled",
                ),
                (
                    req.require_ecc_enabled,
                    info.ecc_enabled(),
                    "platform.require_ecc_enabled",
                ),
                (
                    req.require_rapl_disabled,
                    info.rapl_disabled(),
                    "platform.require_rapl_disabled",
                ),
                (
                    req.require_ciphertext_hiding,
                    info.ciphertext_hiding_enabled(),
                    "platform.require_ciphertext_hiding",
                ),
                (
                    req.require_alias_check_complete,
                    info.alias_check_complete(),
                    "platform.require_alias_check_complete",
                ),
            ];
            if let Some((_, _, rule)) = rules.iter().find(|(required, met, _)| *required && !met) {
                return Err(Error::PolicyPlatform {
                    rule,
                    platform_info: info.0,
                });
            }
        }
        Ok(())
    }
}
