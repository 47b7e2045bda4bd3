//! Verification of a bundle: every check an auditor needs, in order, each able to fail.
//!
//! `format` → `shares` → `data_root` → `result_signature` → `alloy_key` → `nonce` → `forge` →
//! `tee` → `report` → `binding` → `job` → `code_hash`. Without a TEE, `report` and `binding` are
//! skipped, `tee` checks the named coordinator, and the bundle policy must say
//! `allow_no_tee = true`. The result's report must come from VMPL 0 unless the policy names
//! another level ([`crate::policy::for_enclave_reports`]).

use alloy_primitives::{Address, B256, Signature};
use assay_attestation::{Accepted, CheckLog, CheckOutcome, Verifier};

use crate::Error;
use crate::binding::{alloy_key_digest, code_hash, result_report_data};
use crate::eip712::signing_hash;
use crate::format::{BUNDLE_FORMAT, BUNDLE_FORMAT_V1, BUNDLE_FORMAT_V2, Bundle, EvidenceKind};
use crate::job::JobSpec;
use crate::merkle::data_root;
use crate::result::JobCommitment;
use crate::result::{Direction, Method};

/// The checks, in the order they run.
pub const BUNDLE_CHECKS: [&str; 12] = [
    "format",
    "shares",
    "data_root",
    "result_signature",
    "alloy_key",
    "nonce",
    "forge",
    "tee",
    "report",
    "binding",
    "job",
    "code_hash",
];

/// What a relying party expects of a bundle beyond its nonce; each `None` is not checked, and
/// the check's outcome says so.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pins {
    /// The Forge the result must be for.
    pub forge_id: Option<B256>,
    /// The chain of the EIP-712 domain.
    pub chain_id: Option<u64>,
    /// The Forge contract of the EIP-712 domain.
    pub contract: Option<Address>,
    /// The JobSpec hash the report's HOST_DATA must carry (a host puts it there at launch).
    pub job: Option<B256>,
}

/// How to verify bundles.
#[derive(Clone, Debug)]
pub struct BundleVerifier {
    /// Verifies the SNP report: roots (name the test root for `simulated` bundles), time, CRLs
    /// and policy.
    pub report: Verifier,
    /// Whether `none` bundles (no TEE, signed by the named coordinator) can pass at all; the
    /// bundle policy's `allow_no_tee`, default `false`.
    pub allow_no_tee: bool,
    /// The nonce the caller expects (the Forge's); `None` skips the check and says so.
    pub nonce: Option<B256>,
    /// The coordinator address a `none` bundle must be signed by.
    pub coordinator: Option<Address>,
    /// Forge, domain and job pins.
    pub pins: Pins,
    /// Accept a TEE bundle whose report's policy pins no MEASUREMENT (any code at all would
    /// pass): only when a caller says so, and the outcome says it loudly. Default `false`.
    pub any_measurement: bool,
}

impl BundleVerifier {
    /// A verifier with `report`'s roots, time, CRLs and policy; a TEE is required, nothing else
    /// is pinned.
    pub fn new(report: Verifier) -> Self {
        BundleVerifier {
            report,
            allow_no_tee: false,
            nonce: None,
            coordinator: None,
            pins: Pins::default(),
            any_measurement: false,
        }
    }

    /// The Forge and domain pins: the first that differs, or what was checked (`None` when
    /// nothing is pinned).
    fn check_forge(&self, b: &Bundle) -> Result<Option<String>, Error> {
        let p = &self.pins;
        let pairs = [
            (
                "forge_id",
                p.forge_id.map(|v| v.to_string()),
                b.result.forge_id.to_string(),
            ),
            (
                "chain_id",
                p.chain_id.map(|v| v.to_string()),
                b.domain.chain_id.to_string(),
            ),
            (
                "contract",
                p.contract.map(|v| v.to_string()),
                b.domain.verifying_contract.to_string(),
            ),
        ];
        let mut checked = Vec::new();
        for (name, want, got) in pairs {
            match want {
                Some(w) if w != got => {
                    return Err(mismatch(
                        "forge",
                        format!("{name} {w}"),
                        format!("{name} {got}"),
                    ));
                }
                Some(w) => checked.push(format!("{name} {w}")),
                None => {}
            }
        }
        Ok((!checked.is_empty()).then(|| checked.join(", ") + " as expected"))
    }
}

/// A check's outcome when it did not fail.
enum Checked {
    Pass(String),
    Skip(String),
}

impl BundleVerifier {
    /// The `job` check. A version-2 bundle: its JobSpec hashes to what the signed result
    /// commits to; the result keeps every rule of that job (Forge, nonce, domain, recipe,
    /// data_root, holdout, TEE, compute share, method); HOST_DATA (with a TEE) is that job's
    /// hash; and so is the relying party's pin, if one is given. A version-1 bundle commits to
    /// no job: only the pin against HOST_DATA can be checked.
    fn check_job(&self, b: &Bundle, host_data: Option<B256>) -> Result<Checked, Error> {
        let (Some(job), Some(commitment)) = (&b.job, &b.result.job) else {
            return match (self.pins.job, host_data) {
                (None, _) => Ok(Checked::Skip(
                    "version-1 bundle: commits to no job; none pinned".into(),
                )),
                (Some(pin), Some(h)) if pin == h => Ok(Checked::Pass(format!(
                    "HOST_DATA is the pinned job {pin} (version-1 bundle: the result itself commits to no job)"
                ))),
                (Some(pin), h) => Err(mismatch(
                    "job",
                    format!("HOST_DATA {pin}"),
                    h.map_or("no report (no TEE)".to_owned(), |h| {
                        format!("HOST_DATA {h}")
                    }),
                )),
            };
        };
        let hash = job.hash();
        if hash != commitment.job_hash {
            return Err(mismatch(
                "job",
                format!("result.job.job_hash {hash} (the hash of the bundle's JobSpec)"),
                commitment.job_hash,
            ));
        }
        keeps_rules(job, commitment, b)?;
        let mut detail = format!(
            "the result keeps every rule of JobSpec {hash} (Forge, nonce, domain, recipe, data_root, holdout, compute, method)"
        );
        if let Some(h) = host_data {
            if h != hash {
                return Err(mismatch(
                    "job",
                    format!("HOST_DATA {hash} (the job's hash)"),
                    format!("HOST_DATA {h}"),
                ));
            }
            detail.push_str("; HOST_DATA is its hash");
        }
        match self.pins.job {
            Some(pin) if pin != hash => {
                return Err(mismatch("job", format!("the pinned job {pin}"), hash));
            }
            Some(_) => detail.push_str("; it is the pinned job"),
            None => detail.push_str("; no job pinned"),
        }
        Ok(Checked::Pass(detail))
    }
}

/// Whether the result `b` keeps the rules of `job`, which it commits to with `commitment`.
fn keeps_rules(job: &JobSpec, commitment: &JobCommitment, b: &Bundle) -> Result<(), Error> {
    let r = &b.result;
    let rules = &job.attribution;
    let n = r.scores.len();
    let stratified = n > rules.threshold as usize;
    let want_method = if stratified {
        format!("stratified_loo with {} groups", rules.threshold)
    } else {
        "exact_loo".to_owned()
    };
    let got_method = format!("{:?} with {} groups", r.method, r.groups);
    let providers: Vec<(Address, u64)> = rules
        .providers
        .iter()
        .map(|p| (p.address, p.units))
        .collect();
    let listed: Vec<(Address, u64)> = r.compute.iter().map(|c| (c.provider, c.units)).collect();
    let pairs: [(&str, String, String, bool); 10] = [
        (
            "forge.id",
            job.forge.id.to_string(),
            r.forge_id.to_string(),
            job.forge.id == r.forge_id,
        ),
        (
            "forge.nonce",
            job.forge.nonce.to_string(),
            r.nonce.to_string(),
            job.forge.nonce == r.nonce,
        ),
        (
            "forge.chain_id",
            job.forge.chain_id.to_string(),
            b.domain.chain_id.to_string(),
            job.forge.chain_id == b.domain.chain_id,
        ),
        (
            "forge.contract",
            job.forge.contract.to_string(),
            b.domain.verifying_contract.to_string(),
            job.forge.contract == b.domain.verifying_contract,
        ),
        (
            "recipe.hash",
            job.recipe.hash.to_string(),
            r.recipe_hash.to_string(),
            job.recipe.hash == r.recipe_hash,
        ),
        (
            "contributions.data_root",
            job.contributions.data_root.to_string(),
            r.data_root.to_string(),
            job.contributions.data_root == r.data_root,
        ),
        (
            "holdout",
            format!(
                "key id {} sha256 {}",
                job.holdout.key_id, job.holdout.sha256
            ),
            format!(
                "key id {} sha256 {}",
                commitment.holdout_key_id, commitment.holdout_sha256
            ),
            job.holdout.key_id == commitment.holdout_key_id
                && job.holdout.sha256 == commitment.holdout_sha256,
        ),
        (
            "key_release",
            if job.key_release.is_some() {
                "a TEE result (the job names a key service)"
            } else {
                "a result without a TEE (the job names no key service)"
            }
            .to_owned(),
            format!("tee {}", r.tee),
            job.key_release.is_some() == r.tee,
        ),
        (
            "attribution compute",
            format!("compute_bps {} for {providers:?}", rules.compute_bps),
            format!("compute_bps {} for {listed:?}", r.compute_bps),
            rules.compute_bps == r.compute_bps && providers == listed,
        ),
        (
            "attribution.threshold",
            format!("{want_method} for {n} contributions"),
            got_method,
            (r.method == crate::result::Method::StratifiedLoo) == stratified
                && (!stratified || r.groups == rules.threshold),
        ),
    ];
    match pairs.into_iter().find(|p| !p.3) {
        Some((field, want, got, _)) => {
            Err(mismatch("job", format!("the job's {field}: {want}"), got))
        }
        None => Ok(()),
    }
}

/// A bundle that passed.
#[derive(Debug)]
pub struct VerifiedBundle {
    /// Every check.
    pub checks: Vec<CheckOutcome>,
    /// The accepted report (absent without a TEE).
    pub report: Option<Accepted>,
    /// The EIP-712 digest that was signed.
    pub digest: B256,
}

/// A bundle that failed.
#[derive(Debug)]
pub struct RejectedBundle {
    /// The first failure.
    pub error: Error,
    /// Every check: passed, the failed one, not run.
    pub checks: Vec<CheckOutcome>,
}

/// The bundle's checks, recorded in [`BUNDLE_CHECKS`] order.
struct Log(CheckLog);

impl Log {
    fn pass(&mut self, check: &'static str, detail: impl Into<String>) {
        self.0.pass(check, detail);
    }
    fn skip(&mut self, check: &'static str, detail: impl Into<String>) {
        self.0.skip(check, detail);
    }
    fn fail(self, check: &'static str, error: Error) -> Box<RejectedBundle> {
        let checks = self.0.fail(check, error.to_string(), &BUNDLE_CHECKS);
        Box::new(RejectedBundle { error, checks })
    }
}

/// Why a 65-byte signature does not recover an address.
enum BadSignature {
    /// v is not 27 or 28.
    V(u8),
    /// Not a signature at all, or a malleable one.
    Other(String),
}

impl BadSignature {
    fn into_mismatch(self, check: &'static str) -> Error {
        match self {
            BadSignature::V(v) => mismatch(check, "v = 27 or 28", format!("v = {v}")),
            BadSignature::Other(e) => mismatch(check, "a 65-byte secp256k1 signature r ‖ s ‖ v", e),
        }
    }
}

/// The address that signed `prehash` with `signature` (`r ‖ s ‖ v`). v must be 27 or 28 (0/1
/// and EIP-155 values are other spellings of the same signature) and s in the lower half of
/// the curve order (the other half is the same signature again): one message, one signature.
fn recover(signature: &[u8], prehash: B256) -> Result<Address, BadSignature> {
    if let Some(v) = signature.get(64).filter(|v| !matches!(v, 27 | 28)) {
        return Err(BadSignature::V(*v));
    }
    let s = Signature::from_raw(signature).map_err(|e| BadSignature::Other(e.to_string()))?;
    if s.normalize_s().is_some() {
        return Err(BadSignature::Other(
            "s is in the upper half of the curve order (malleable)".to_owned(),
        ));
    }
    s.recover_address_from_prehash(&prehash)
        .map_err(|e| BadSignature::Other(e.to_string()))
}

fn mismatch(check: &'static str, expected: impl ToString, found: impl ToString) -> Error {
    Error::BundleMismatch {
        check,
        expected: expected.to_string(),
        found: found.to_string(),
    }
}

/// The shares the rules give for the bundle's scores, compared entry by entry.
fn check_shares(b: &Bundle) -> Result<String, Error> {
    let r = &b.result;
    let alloc = r
        .allocation()
        .map_err(|e| mismatch("shares", "an allocation", e))?;
    // Every holder: (list, index, (the rules' bps, (address, the bundle's bps))).
    let data = alloc.data.iter().map(|d| d.shares);
    let listed = r.scores.iter().map(|s| (s.contributor, s.shares));
    let compute = alloc.compute.iter().map(|c| c.shares);
    let providers = r.compute.iter().map(|c| (c.provider, c.shares));
    let holders = (data.zip(listed).enumerate().map(|(i, x)| ("scores", i, x))).chain(
        compute
            .zip(providers)
            .enumerate()
            .map(|(i, x)| ("compute", i, x)),
    );
    for (what, i, (want, (holder, got))) in holders {
        if want == u32::from(got) {
            continue;
        }
        return Err(mismatch(
            "shares",
            format!("{what}[{i}] ({holder}) to hold {want} bps"),
            format!("{got} bps"),
        ));
    }
    if alloc.unallocated_bps != u32::from(r.unallocated_bps) {
        return Err(mismatch(
            "shares",
            format!("unallocated_bps {}", alloc.unallocated_bps),
            r.unallocated_bps,
        ));
    }
    if (r.method == Method::ExactLoo) != (r.groups == 0) {
        return Err(mismatch(
            "shares",
            "groups = 0 exactly when the method is exact_loo",
            format!("{:?} with {} groups", r.method, r.groups),
        ));
    }
    Ok(format!(
        "{} contributions and {} compute providers hold 10000 bps by the rules{}",
        r.scores.len(),
        r.compute.len(),
        if alloc.no_positive_scores {
            format!(
                "; no contribution scored above 0, {} bps unallocated",
                alloc.unallocated_bps
            )
        } else {
            String::new()
        }
    ))
}

impl BundleVerifier {
    /// Verifies `b`, running every check in order and stopping at the first failure.
    pub fn verify(&self, b: &Bundle) -> Result<VerifiedBundle, Box<RejectedBundle>> {
        let mut log = Log(CheckLog::default());
        let version = match b.version() {
            Ok(3) => "version 3: commits to its job and holdout, binds its alloy key",
            Ok(2) => "version 2: commits to its job and holdout",
            Ok(_) => "VERSION 1: commits to no job and no holdout",
            Err(reason) => {
                return Err(log.fail(
                    "format",
                    mismatch(
                        "format",
                        format!(
                            "a {BUNDLE_FORMAT}, {BUNDLE_FORMAT_V2} or {BUNDLE_FORMAT_V1} bundle"
                        ),
                        reason,
                    ),
                ));
            }
        };
        if b.result.baseline_metric.name == "perplexity"
            && b.result.baseline_metric.direction != Direction::LowerIsBetter
        {
            return Err(log.fail(
                "format",
                mismatch("format", "perplexity lower_is_better", "higher_is_better"),
            ));
        }
        log.pass(
            "format",
            format!("{} ({version}), evidence {}", b.format, b.evidence.name()),
        );

        match check_shares(b) {
            Ok(detail) => log.pass("shares", detail),
            Err(e) => return Err(log.fail("shares", e)),
        }

        let listed = b
            .result
            .scores
            .iter()
            .map(|s| (s.contributor, s.content_hash));
        let Some(root) = data_root(listed) else {
            return Err(log.fail(
                "data_root",
                mismatch("data_root", "a contribution set", "none listed"),
            ));
        };
        if root != b.result.data_root {
            return Err(log.fail("data_root", mismatch("data_root", root, b.result.data_root)));
        }
        log.pass(
            "data_root",
            format!(
                "{root} is the Merkle root of the {} listed contributions",
                b.result.scores.len()
            ),
        );

        let digest = signing_hash(&b.domain, &b.result);
        match recover(&b.signature, digest) {
            Ok(a) if a == b.signer => log.pass(
                "result_signature",
                format!(
                    "EIP-712 digest {digest} signed by {a} (chain {}, contract {})",
                    b.domain.chain_id, b.domain.verifying_contract
                ),
            ),
            Ok(a) => {
                return Err(log.fail(
                    "result_signature",
                    mismatch(
                        "result_signature",
                        format!("signer {}", b.signer),
                        format!("signature by {a}"),
                    ),
                ));
            }
            Err(e) => return Err(log.fail("result_signature", e.into_mismatch("result_signature"))),
        }

        match &b.alloy {
            None => log.skip("alloy_key", "no alloy key (a bundle before version 3)"),
            Some(alloy) => match recover(&alloy.signature, alloy_key_digest(digest, &alloy.key)) {
                Ok(a) if a == b.signer => log.pass(
                    "alloy_key",
                    format!(
                        "Ed25519 key {} bound to this result by its signer {a}",
                        hex::encode(alloy.key)
                    ),
                ),
                Ok(a) => {
                    return Err(log.fail(
                        "alloy_key",
                        mismatch(
                            "alloy_key",
                            format!(
                                "the alloy key's binding signed by the result's signer {}",
                                b.signer
                            ),
                            format!("a signature by {a}"),
                        ),
                    ));
                }
                Err(e) => return Err(log.fail("alloy_key", e.into_mismatch("alloy_key"))),
            },
        }

        match self.nonce {
            Some(n) if n != b.result.nonce => {
                return Err(log.fail("nonce", mismatch("nonce", n, b.result.nonce)));
            }
            Some(n) => log.pass("nonce", format!("{n} as expected")),
            None => log.skip("nonce", "no expected nonce given"),
        }
        match self.check_forge(b) {
            Ok(Some(detail)) => log.pass("forge", detail),
            Ok(None) => log.skip("forge", "no Forge id, chain id or contract pinned"),
            Err(e) => return Err(log.fail("forge", e)),
        }

        let tee_claims = (
            b.evidence != EvidenceKind::None,
            b.result.tee,
            b.report.is_some(),
        );
        if tee_claims.0 != tee_claims.1 || tee_claims.0 != tee_claims.2 {
            return Err(log.fail(
                "tee",
                mismatch(
                    "tee",
                    "evidence, the signed tee flag and the presence of a report to agree",
                    format!(
                        "evidence {}, tee {}, report {}",
                        b.evidence.name(),
                        b.result.tee,
                        if b.report.is_some() {
                            "present"
                        } else {
                            "absent"
                        }
                    ),
                ),
            ));
        }
        let report = match &b.report {
            None => {
                if !self.allow_no_tee {
                    return Err(log.fail("tee", Error::TeeRequired));
                }
                match self.coordinator {
                    None => return Err(log.fail("tee", Error::CoordinatorNotNamed)),
                    Some(c) if c != b.signer => {
                        return Err(log.fail("tee", mismatch("tee", format!("coordinator {c}"), format!("signer {}", b.signer))));
                    }
                    Some(c) => log.pass("tee", format!("NO TEE: signed by the named coordinator {c}; the policy allows results without a TEE")),
                }
                log.skip("report", "no TEE, no report");
                log.skip("binding", "no TEE, no report");
                match self.check_job(b, None) {
                    Ok(Checked::Pass(detail)) => log.pass("job", detail),
                    Ok(Checked::Skip(detail)) => log.skip("job", detail),
                    Err(e) => return Err(log.fail("job", e)),
                }
                let want = code_hash(&[0; 48], b.result.recipe_hash);
                if want != b.result.code_hash {
                    return Err(
                        log.fail("code_hash", mismatch("code_hash", want, b.result.code_hash))
                    );
                }
                log.pass(
                    "code_hash",
                    "keccak256(48 zero bytes ‖ recipe_hash): no measured launch",
                );
                return Ok(VerifiedBundle {
                    checks: log.0.into_checks(),
                    report: None,
                    digest,
                });
            }
            Some(r) => r,
        };
        log.pass("tee", format!("evidence {}", b.evidence.name()));
        let pinned = self
            .report
            .policy
            .measurements
            .as_ref()
            .is_some_and(|m| !m.is_empty());
        if !pinned && !self.any_measurement {
            return Err(log.fail("report", Error::MeasurementNotPinned));
        }

        let certs: Result<Vec<_>, Error> = b
            .certificates
            .iter()
            .enumerate()
            .map(|(i, der)| {
                assay_attestation::verify::Certificate::from_der(der, format!("certificates[{i}]"))
                    .map_err(Error::Report)
            })
            .collect();
        let report_verifier = Verifier {
            policy: crate::policy::for_enclave_reports(self.report.policy.clone()),
            ..self.report.clone()
        };
        let accepted = match certs.map(|c| report_verifier.verify(report, &c)) {
            Err(e) => return Err(log.fail("report", e)),
            Ok(Err(rejected)) => return Err(log.fail("report", Error::Report(rejected.error))),
            Ok(Ok(a)) => a,
        };
        let root_ok = match b.evidence {
            EvidenceKind::Snp => accepted.amd_root,
            EvidenceKind::Simulated => !accepted.amd_root,
            EvidenceKind::None => unreachable!("handled above"),
        };
        if !root_ok {
            return Err(log.fail(
                "report",
                mismatch(
                    "report",
                    format!(
                        "a {} report to chain to {}",
                        b.evidence.name(),
                        if b.evidence == EvidenceKind::Snp {
                            "AMD's root"
                        } else {
                            "a test root"
                        }
                    ),
                    if accepted.amd_root {
                        "AMD's root"
                    } else {
                        "a test root"
                    },
                ),
            ));
        }
        log.pass(
            "report",
            format!(
                "SNP report accepted ({:?}, {}; signature, chain, TCB and policy passed){}",
                accepted.product,
                if accepted.amd_root {
                    "AMD root"
                } else {
                    "test root named by the caller"
                },
                if pinned {
                    ""
                } else {
                    "; ANY MEASUREMENT accepted: the policy pins none"
                }
            ),
        );

        let want = result_report_data(b.signer, digest, &b.enclave_x25519.0);
        if want != accepted.report.report_data {
            return Err(log.fail(
                "binding",
                mismatch(
                    "binding",
                    hex::encode(want),
                    hex::encode(accepted.report.report_data),
                ),
            ));
        }
        log.pass(
            "binding",
            "REPORT_DATA = signer ‖ keccak256(digest ‖ x25519 key) ‖ zeros",
        );
        match self.check_job(b, Some(B256::from(accepted.report.host_data))) {
            Ok(Checked::Pass(detail)) => log.pass("job", detail),
            Ok(Checked::Skip(detail)) => log.skip("job", detail),
            Err(e) => return Err(log.fail("job", e)),
        }

        let want = code_hash(&accepted.report.measurement, b.result.recipe_hash);
        if want != b.result.code_hash {
            return Err(log.fail("code_hash", mismatch("code_hash", want, b.result.code_hash)));
        }
        log.pass(
            "code_hash",
            format!(
                "keccak256(MEASUREMENT {} ‖ recipe_hash)",
                hex::encode(accepted.report.measurement)
            ),
        );
        Ok(VerifiedBundle {
            checks: log.0.into_checks(),
            report: Some(accepted),
            digest,
        })
    }
}
