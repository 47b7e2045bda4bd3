//! The AMD certificate chain: VCEK → ASK → ARK or VLEK → ASVK → ARK.

use serde::Serialize;
use time::OffsetDateTime;

use super::cert::{CertKey, Certificate};
use super::crl::Crl;
use super::extensions::VekExtensions;
use super::signature::ReportKey;
use super::trust::{TrustAnchor, TrustStore};
use crate::Error;
use crate::abi::{AttestationReport, Product, SigningKey};

/// Which kind of versioned endorsement key ends the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum VekKind {
    /// Versioned Chip Endorsement Key, issued by the ASK.
    Vcek,
    /// Versioned Loaded Endorsement Key, issued by the ASVK.
    Vlek,
}

impl VekKind {
    fn signing_key(self) -> SigningKey {
        match self {
            VekKind::Vcek => SigningKey::Vcek,
            VekKind::Vlek => SigningKey::Vlek,
        }
    }
}

/// A chain picked from the available certificates, not yet verified.
#[derive(Clone, Debug)]
pub struct CertificateChain {
    /// The VCEK or VLEK.
    pub vek: Certificate,
    /// The ASK (for a VCEK) or ASVK (for a VLEK).
    pub intermediate: Certificate,
    /// The trusted ARK.
    pub root: TrustAnchor,
    kind: VekKind,
}

fn role_error(cert: &Certificate, reason: impl Into<String>) -> Error {
    Error::CertificateRole {
        cert: cert.label(),
        reason: reason.into(),
    }
}

impl CertificateChain {
    /// Picks the chain: the one VCEK/VLEK (the only EC P-384 certificate) in `supplied`, its issuer
    /// from `supplied` or else from `known_intermediates`, and a root from `trust`. A supplied root
    /// that is not byte-identical to a trusted one is an error, never silently replaced.
    pub fn assemble(
        supplied: &[Certificate],
        known_intermediates: &[Certificate],
        trust: &TrustStore,
    ) -> Result<Self, Error> {
        let veks: Vec<&Certificate> = supplied
            .iter()
            .filter(|c| matches!(c.key, CertKey::EcP384(_)))
            .collect();
        let vek = match veks.as_slice() {
            [one] => (*one).clone(),
            [] => return Err(Error::NoVek),
            many => {
                return Err(Error::MultipleVeks {
                    certs: many
                        .iter()
                        .map(|c| c.label())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        };
        let is_rsa = |c: &&Certificate| matches!(c.key, CertKey::Rsa(_));
        let intermediate = supplied
            .iter()
            .filter(is_rsa)
            .find(|c| c.subject == vek.issuer)
            .or_else(|| {
                known_intermediates
                    .iter()
                    .filter(is_rsa)
                    .find(|c| c.subject == vek.issuer)
            })
            .cloned()
            .ok_or_else(|| Error::MissingIssuer {
                cert: vek.label(),
                issuer: vek.issuer_cn.clone(),
            })?;
        for c in supplied.iter().filter(|c| c.subject == intermediate.issuer) {
            if !trust.contains(c) {
                return Err(Error::UntrustedRoot {
                    cert: c.label(),
                    sha256: c.sha256_hex(),
                });
            }
        }
        // A test root may share AMD's name (a simulated ARK-Milan); then the anchor is the one
        // whose key signed the intermediate. With one candidate, `verify` checks the signature.
        let candidates: Vec<&TrustAnchor> = trust.by_subject(&intermediate.issuer).collect();
        let root = match candidates.as_slice() {
            [] => None,
            [one] => Some(*one),
            many => Some(
                many.iter()
                    .copied()
                    .find(|a| intermediate.check_signed_by(&a.cert).is_ok())
                    .unwrap_or(many[0]),
            ),
        }
        .cloned()
        .ok_or_else(|| Error::MissingIssuer {
            cert: intermediate.label(),
            issuer: intermediate.issuer_cn.clone(),
        })?;

        let product = root.product;
        let kind = if intermediate.subject_cn == format!("SEV-{product}") {
            VekKind::Vcek
        } else if intermediate.subject_cn == format!("SEV-VLEK-{product}") {
            VekKind::Vlek
        } else {
            return Err(role_error(
                &intermediate,
                format!(
                    "issuer of a VEK under ARK-{product} must be SEV-{product} or SEV-VLEK-{product}"
                ),
            ));
        };
        let expected_cn = match kind {
            VekKind::Vcek => "SEV-VCEK",
            VekKind::Vlek => "SEV-VLEK",
        };
        if vek.subject_cn != expected_cn {
            return Err(role_error(
                &vek,
                format!(
                    "issued by {} so its common name must be {expected_cn}",
                    intermediate.subject_cn
                ),
            ));
        }
        Ok(CertificateChain {
            vek,
            intermediate,
            root,
            kind,
        })
    }

    /// Verifies every signature of the chain and every validity window at `at`. Revocation is
    /// checked afterwards, per CRL, with [`VerifiedChain::check_crl`].
    pub fn verify(&self, at: OffsetDateTime) -> Result<VerifiedChain, Error> {
        // The root is trusted by identity; its self-signature was checked when it entered the
        // trust store, so only its validity window depends on `at`.
        let ark = &self.root.cert;
        ark.check_validity(at)?;
        self.intermediate.check_signed_by(ark)?;
        self.intermediate.check_validity(at)?;
        self.vek.check_signed_by(&self.intermediate)?;
        self.vek.check_validity(at)?;
        let CertKey::EcP384(point) = &self.vek.key else {
            unreachable!("assemble picks an EC P-384 VEK");
        };
        let extensions = self
            .vek
            .vek_extensions
            .clone()
            .expect("EC certificates carry parsed VEK extensions");
        let product = self.root.product;
        if let Some(name) = &extensions.product_name
            && !name.starts_with(product.name())
        {
            return Err(Error::ProductMismatch {
                report: name.clone(),
                chain: product,
            });
        }
        Ok(VerifiedChain {
            product,
            kind: self.kind,
            root_is_amd: self.root.is_amd,
            key: ReportKey::from_point(point)?,
            extensions,
            vek_label: self.vek.label(),
            root: ark.clone(),
            intermediate: self.intermediate.clone(),
            vek: self.vek.clone(),
        })
    }
}

/// How the CHIP_ID check ended when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChipIdCheck {
    /// CHIP_ID equals the VCEK's hwID.
    Matched,
    /// The report masks its CHIP_ID; nothing to compare.
    Masked,
    /// VLEKs carry no hwID; nothing to compare.
    VlekSigned,
}

/// A chain whose signatures, validity and revocation status have been checked: it can verify any
/// number of reports from its VEK cheaply.
#[derive(Clone, Debug)]
pub struct VerifiedChain {
    /// Product of the root the chain ends at.
    pub product: Product,
    /// VCEK or VLEK.
    pub kind: VekKind,
    /// Whether the root is AMD's own (`false`: a test root the caller named).
    pub root_is_amd: bool,
    /// What the VEK certifies.
    pub extensions: VekExtensions,
    key: ReportKey,
    vek_label: String,
    root: Certificate,
    intermediate: Certificate,
    vek: Certificate,
}

impl VerifiedChain {
    /// Checks that `crl` is signed by this chain's root and not stale at `at`, and that it
    /// revokes neither the intermediate nor the VEK.
    pub fn check_crl(&self, crl: &Crl, at: OffsetDateTime) -> Result<(), Error> {
        crl.check(&self.root, at)?;
        crl.check_not_revoked(&self.intermediate)?;
        crl.check_not_revoked(&self.vek)
    }

    /// Checks a report against this chain: signing key and product agree, the ECDSA signature,
    /// REPORTED_TCB equals the VEK's TCB, and CHIP_ID equals its hwID unless masked or VLEK-signed.
    pub fn verify_report(&self, report: &AttestationReport) -> Result<ChipIdCheck, Error> {
        self.check_signer(report)?;
        self.key.verify(report)?;
        self.check_tcb(report)?;
        self.check_chip_id(report)
    }

    /// The report names this chain's kind of key and product.
    pub fn check_signer(&self, report: &AttestationReport) -> Result<(), Error> {
        match report.signing_key() {
            SigningKey::None => return Err(Error::ReportUnsigned),
            k if k != self.kind.signing_key() => {
                return Err(Error::SigningKeyMismatch {
                    report: k.name(),
                    chain: self.kind.signing_key().name(),
                });
            }
            _ => {}
        }
        if let Some(p) = report.product()?
            && p != self.product
        {
            return Err(Error::ProductMismatch {
                report: p.name().to_owned(),
                chain: self.product,
            });
        }
        Ok(())
    }

    /// Only the ECDSA signature.
    pub fn check_signature(&self, report: &AttestationReport) -> Result<(), Error> {
        self.key.verify(report)
    }

    /// REPORTED_TCB, decoded for this product, equals the VEK's TCB extensions.
    pub fn check_tcb(&self, report: &AttestationReport) -> Result<(), Error> {
        let reported = report.reported_tcb.decode(self.product);
        let vek = self.extensions.tcb;
        if self.product == Product::Turin && vek.fmc.is_none() {
            return Err(Error::VekExtension {
                cert: self.vek_label.clone(),
                oid: "1.3.6.1.4.1.3704.1.3.9",
                reason: "a Turin VEK must carry fmcSPL".into(),
            });
        }
        let vek = crate::abi::Tcb {
            fmc: reported.fmc.and(vek.fmc),
            ..vek
        };
        for ((name, r), (_, v)) in reported.components().into_iter().zip(vek.components()) {
            if r != v {
                return Err(Error::TcbMismatch {
                    component: name,
                    report: r,
                    vek: v,
                });
            }
        }
        Ok(())
    }

    /// CHIP_ID equals the VCEK's hwID (Turin: the first 8 bytes, the rest zero).
    pub fn check_chip_id(&self, report: &AttestationReport) -> Result<ChipIdCheck, Error> {
        if self.kind == VekKind::Vlek {
            return Ok(ChipIdCheck::VlekSigned);
        }
        if report.key_info.mask_chip_id {
            return Ok(ChipIdCheck::Masked);
        }
        let hwid = self
            .extensions
            .hwid
            .as_deref()
            .ok_or_else(|| Error::VekExtension {
                cert: self.vek_label.clone(),
                oid: "1.3.6.1.4.1.3704.1.4",
                reason: "a VCEK must carry hwID".into(),
            })?;
        let (head, tail) = report.chip_id.split_at(hwid.len());
        if head != hwid || tail.iter().any(|&b| b != 0) {
            return Err(Error::ChipIdMismatch {
                report: hex::encode(report.chip_id),
                vek: hex::encode(hwid),
            });
        }
        Ok(ChipIdCheck::Matched)
    }
}
