//! The attestation bundle: everything a relayer submits and an auditor checks, in JSON or CBOR.

use alloy_primitives::{Address, B256, Bytes};
use assay_attestation::abi::REPORT_SIZE;
use serde::{Deserialize, Serialize};

use super::eip712::Domain;
use super::result::EvalResult;
use crate::Error;
use crate::job::JobSpec;

/// The `format` of the bundle the enclave writes: version 3, version 2's with the enclave's
/// alloy key (the Ed25519 key that signs the job's alloy links), bound by the result's signer.
pub const BUNDLE_FORMAT: &str = "assay-attestation-bundle/3";

/// The `format` of version-2 bundles: the result commits to the approved job and its holdout,
/// and the bundle carries that JobSpec; no alloy key. They still verify.
pub const BUNDLE_FORMAT_V2: &str = "assay-attestation-bundle/2";

/// The `format` of version-1 bundles (no job commitment); they still verify, and say so.
pub const BUNDLE_FORMAT_V1: &str = "assay-attestation-bundle/1";

/// The largest bundle read, JSON or CBOR (a million scores fit in it). Nesting: JSON by
/// serde_json's limit (128), CBOR by [`crate::cbor::MAX_DEPTH`].
pub const MAX_BUNDLE: usize = 32 << 20;

/// Where the evidence came from. Always named, so a bundle made without a TEE can never pass as
/// one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    /// A real SEV-SNP guest (`/dev/sev-guest` or configfs-tsm).
    Snp,
    /// The simulated AMD-SP: real layout and signatures, test roots. Development and CI only.
    Simulated,
    /// No TEE: a coordinator key signs, `tee: false`.
    None,
}

impl EvidenceKind {
    /// Its name in files and messages.
    pub fn name(self) -> &'static str {
        match self {
            EvidenceKind::Snp => "snp",
            EvidenceKind::Simulated => "simulated",
            EvidenceKind::None => "none",
        }
    }
}

/// A signed EvalResult with its evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// Which evidence provider made it.
    pub evidence: EvidenceKind,
    /// The EIP-712 domain the result is signed in.
    pub domain: Domain,
    /// The result.
    pub result: EvalResult,
    /// The signer: the enclave's address (or the coordinator's, without a TEE).
    pub signer: Address,
    /// EIP-712 signature, 65 bytes `r ‖ s ‖ v` (v = 27 or 28).
    pub signature: Bytes,
    /// The enclave's X25519 key-release public key (zeros without a TEE), bound in REPORT_DATA.
    pub enclave_x25519: B256,
    /// The SNP attestation report (1184 bytes); absent without a TEE.
    pub report: Option<Bytes>,
    /// DER certificates for the report: VCEK or VLEK, optionally ASK/ASVK and ARK.
    pub certificates: Vec<Bytes>,
    /// The JobSpec the result commits to (versions 2 and 3; absent in version 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobSpec>,
    /// The enclave's alloy key and its binding (version 3 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alloy: Option<AlloyKey>,
}

/// The Ed25519 key an enclave signs its alloy links with (`docs/alloy.md`), and the result
/// signer's signature that binds it to this result: the signer is the key the SNP report binds
/// (or, without a TEE, the named coordinator), so a link signed by this key was signed where the
/// result was computed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlloyKey {
    /// The Ed25519 public key (32 bytes).
    pub key: B256,
    /// 65 bytes `r ‖ s ‖ v` (v = 27 or 28, s in the lower half): the result signer's secp256k1
    /// signature of [`crate::binding::alloy_key_digest`] of the result's EIP-712 digest and `key`.
    pub signature: Bytes,
}

impl Bundle {
    /// The bundle's version (1, 2 or 3), checked against what its version holds: version 3
    /// carries its JobSpec, a result that commits to it and the enclave's alloy key; version 2
    /// the first two; version 1 none of them.
    pub fn version(&self) -> Result<u8, String> {
        let version = match self.format.as_str() {
            BUNDLE_FORMAT => 3,
            BUNDLE_FORMAT_V2 => 2,
            BUNDLE_FORMAT_V1 => 1,
            other => {
                return Err(format!(
                    "format is {other:?}; this verifier reads {BUNDLE_FORMAT:?}, {BUNDLE_FORMAT_V2:?} and {BUNDLE_FORMAT_V1:?}"
                ));
            }
        };
        let holds = (
            self.job.is_some(),
            self.result.job.is_some(),
            self.alloy.is_some(),
        );
        match (version, holds) {
            (3, (true, true, true)) | (2, (true, true, false)) | (1, (false, false, false)) => {
                Ok(version)
            }
            (3, _) => Err(
                "a version-3 bundle carries its JobSpec (`job`), a result that commits to it (`result.job`) and the enclave's alloy key (`alloy`)".into(),
            ),
            (2, _) => Err(format!(
                "a version-2 bundle carries its JobSpec (`job`) and a result that commits to it (`result.job`), and no alloy key (`alloy` belongs to {BUNDLE_FORMAT:?})"
            )),
            _ => Err(format!(
                "a version-1 bundle has no job; `job` and `result.job` belong to {BUNDLE_FORMAT_V2:?} and later"
            )),
        }
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a bundle always serialises")
    }

    /// CBOR (RFC 8949); byte fields are CBOR byte strings.
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(self, &mut out).expect("writing to a Vec cannot fail");
        out
    }

    /// Reads a bundle in JSON or CBOR (JSON starts with `{` after whitespace), version 2 or 1,
    /// naming `origin` in errors. Strict: nothing may follow the CBOR item (JSON allows only
    /// whitespace), the report is the bare 1184 bytes (no envelope), no certificate appears
    /// twice, and a version-2 bundle carries its JobSpec and commits to it (a version-1 one has
    /// neither).
    pub fn parse(bytes: &[u8], origin: &str) -> Result<Bundle, Error> {
        let bad = |reason: String| Error::BundleFormat {
            origin: origin.into(),
            reason,
        };
        if bytes.len() > MAX_BUNDLE {
            return Err(bad(format!(
                "{} bytes; a bundle is at most {MAX_BUNDLE} (32 MiB)",
                bytes.len()
            )));
        }
        let json = bytes
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{');
        let bundle: Bundle = if json {
            serde_json::from_slice(bytes).map_err(|e| bad(format!("JSON: {e}")))?
        } else {
            crate::cbor::check_bounds(bytes).map_err(|e| bad(format!("CBOR: {e}")))?;
            let mut rest = bytes;
            let bundle = ciborium::from_reader(&mut rest).map_err(|e| bad(format!("CBOR: {e}")))?;
            if !rest.is_empty() {
                return Err(bad(format!(
                    "{} bytes follow the CBOR item; a bundle is exactly one",
                    rest.len()
                )));
            }
            bundle
        };
        bundle.version().map_err(bad)?;
        if let Some(job) = &bundle.job {
            job.check(&format!("{origin}: job"))?;
        }
        if let Some(report) = &bundle.report
            && report.len() != REPORT_SIZE
        {
            return Err(bad(format!(
                "report is {} bytes; a bundle carries the bare {REPORT_SIZE}-byte report, no envelope",
                report.len()
            )));
        }
        for (i, c) in bundle.certificates.iter().enumerate() {
            if let Some(j) = bundle.certificates[..i].iter().position(|d| d == c) {
                return Err(bad(format!("certificates[{i}] repeats certificates[{j}]")));
            }
        }
        Ok(bundle)
    }
}
