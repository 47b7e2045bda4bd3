//! The whole acceptance procedure for one report: parse → chain → CRL → signature → TCB → chip id
//! → policy. A report is accepted only when every check passes; the outcome of each check is kept
//! for display either way.

use serde::Serialize;
use time::OffsetDateTime;

use crate::Error;
use crate::abi::{AttestationReport, Envelope, Product, extract_report};
use crate::validate::Policy;
use crate::verify::{
    Certificate, CertificateChain, ChipIdCheck, Crl, TrustStore, VekKind, VerifiedChain,
};

/// What happened to one check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "detail")]
pub enum Status {
    /// It ran and passed.
    Pass(String),
    /// It ran and failed.
    Fail(String),
    /// Nothing to check (e.g. no CRL given, chip id masked).
    Skipped(String),
    /// An earlier check failed, so this one did not run.
    NotRun,
}

/// One check and its outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckOutcome {
    /// `parse`, `chain`, `crl`, `signature`, `tcb`, `chip_id` or `policy`.
    pub check: &'static str,
    /// What happened.
    #[serde(flatten)]
    pub status: Status,
}

const CHECKS: [&str; 7] = [
    "parse",
    "chain",
    "crl",
    "signature",
    "tcb",
    "chip_id",
    "policy",
];

/// A report that passed every check.
#[derive(Debug)]
pub struct Accepted {
    /// The report.
    pub report: AttestationReport,
    /// The envelope it came in.
    pub envelope: Envelope,
    /// Its product.
    pub product: Product,
    /// VCEK or VLEK.
    pub signer: VekKind,
    /// Whether the chain ends at AMD's own root.
    pub amd_root: bool,
    /// Every check, all passed or skipped.
    pub checks: Vec<CheckOutcome>,
}

/// A report that failed a check.
#[derive(Debug)]
pub struct Rejected {
    /// The first failure.
    pub error: Error,
    /// The report, if it parsed.
    pub report: Option<AttestationReport>,
    /// Every check: passed ones, the failed one, and the ones that did not run.
    pub checks: Vec<CheckOutcome>,
}

/// Settings of a verification: roots, time, CRLs, policy.
#[derive(Clone, Debug)]
pub struct Verifier {
    /// Roots that end chains.
    pub trust: TrustStore,
    /// The time certificates and CRLs are checked at.
    pub at: OffsetDateTime,
    /// CRLs to check the chain against.
    pub crls: Vec<Crl>,
    /// The policy; [`Policy::default`] forbids debug and checks nothing else.
    pub policy: Policy,
}

/// The outcomes of a sequence of checks, in the order they ran: the one recorder of this crate's
/// report checks and of callers' checks built on them (the Forge's bundle checks).
#[derive(Debug, Default)]
pub struct CheckLog(Vec<CheckOutcome>);

impl CheckLog {
    /// `check` ran and passed.
    pub fn pass(&mut self, check: &'static str, detail: impl Into<String>) {
        self.0.push(CheckOutcome {
            check,
            status: Status::Pass(detail.into()),
        });
    }

    /// `check` had nothing to check.
    pub fn skip(&mut self, check: &'static str, detail: impl Into<String>) {
        self.0.push(CheckOutcome {
            check,
            status: Status::Skipped(detail.into()),
        });
    }

    /// `check` failed with `reason`; every check after it in `order` that has not run is
    /// recorded as not run. Returns every outcome.
    pub fn fail(
        mut self,
        check: &'static str,
        reason: String,
        order: &[&'static str],
    ) -> Vec<CheckOutcome> {
        self.0.push(CheckOutcome {
            check,
            status: Status::Fail(reason),
        });
        for c in order.iter().skip_while(|c| **c != check).skip(1) {
            if self.0.iter().all(|o| o.check != *c) {
                self.0.push(CheckOutcome {
                    check: c,
                    status: Status::NotRun,
                });
            }
        }
        self.0
    }

    /// Every outcome so far.
    pub fn into_checks(self) -> Vec<CheckOutcome> {
        self.0
    }
}

struct Recorder {
    log: CheckLog,
    report: Option<AttestationReport>,
}

impl Recorder {
    fn new() -> Self {
        Recorder {
            log: CheckLog::default(),
            report: None,
        }
    }
    fn pass(&mut self, check: &'static str, detail: impl Into<String>) {
        self.log.pass(check, detail);
    }
    fn skip(&mut self, check: &'static str, detail: impl Into<String>) {
        self.log.skip(check, detail);
    }
    fn fail(self, error: Error) -> Box<Rejected> {
        let failed = error.check();
        let check = CHECKS
            .iter()
            .copied()
            .find(|c| *c == failed)
            .unwrap_or(match failed {
                "certificates" => "chain",
                _ => "parse",
            });
        let checks = self.log.fail(check, error.to_string(), &CHECKS);
        Box::new(Rejected {
            error,
            report: self.report,
            checks,
        })
    }
}

/// The report in `input`, unwrapped from its envelope, and the record of the checks with
/// `parse` passed (or the rejection).
fn parse(input: &[u8]) -> Result<(Recorder, AttestationReport, Envelope), Box<Rejected>> {
    let mut rec = Recorder::new();
    let parsed = extract_report(input)
        .and_then(|(bytes, envelope)| Ok((AttestationReport::from_bytes(bytes)?, envelope)));
    let (report, envelope) = match parsed {
        Ok(ok) => ok,
        Err(e) => return Err(rec.fail(e)),
    };
    rec.report = Some(report.clone());
    rec.pass(
        "parse",
        format!("version {} report, {envelope:?} envelope", report.version()),
    );
    Ok((rec, report, envelope))
}

impl Verifier {
    /// A verifier trusting AMD's roots only, at time `at`, with no CRL and the default policy.
    pub fn new(at: OffsetDateTime) -> Self {
        Verifier {
            trust: TrustStore::amd(),
            at,
            crls: Vec::new(),
            policy: Policy::default(),
        }
    }

    /// Verifies the report in `input` (bare or enveloped) against the certificates given, AMD's
    /// built-in intermediates and this verifier's roots, CRLs and policy.
    pub fn verify(
        &self,
        input: &[u8],
        certificates: &[Certificate],
    ) -> Result<Accepted, Box<Rejected>> {
        let (mut rec, report, envelope) = parse(input)?;
        let chain = CertificateChain::assemble(
            certificates,
            crate::kds::builtin_intermediates(),
            &self.trust,
        )
        .and_then(|c| c.verify(self.at));
        let chain = match chain {
            Ok(c) => c,
            Err(e) => return Err(rec.fail(e)),
        };
        rec.pass(
            "chain",
            format!(
                "{:?} → {} → ARK-{}{}",
                chain.kind,
                match chain.kind {
                    VekKind::Vcek => format!("SEV-{}", chain.product),
                    VekKind::Vlek => format!("SEV-VLEK-{}", chain.product),
                },
                chain.product,
                if chain.root_is_amd {
                    ""
                } else {
                    " (test root)"
                }
            ),
        );
        self.finish(rec, report, envelope, &chain)
    }

    /// Verifies a report with a chain already verified by [`CertificateChain::verify`] at this
    /// verifier's time: the fast path for many reports from one chip.
    pub fn verify_with_chain(
        &self,
        input: &[u8],
        chain: &VerifiedChain,
    ) -> Result<Accepted, Box<Rejected>> {
        let (mut rec, report, envelope) = parse(input)?;
        rec.pass("chain", "verified earlier");
        self.finish(rec, report, envelope, chain)
    }

    fn finish(
        &self,
        mut rec: Recorder,
        report: AttestationReport,
        envelope: Envelope,
        chain: &VerifiedChain,
    ) -> Result<Accepted, Box<Rejected>> {
        if self.crls.is_empty() {
            rec.skip("crl", "no CRL given");
        } else {
            if let Err(e) = self
                .crls
                .iter()
                .try_for_each(|crl| chain.check_crl(crl, self.at))
            {
                return Err(rec.fail(e));
            }
            rec.pass(
                "crl",
                format!("{} CRL(s), nothing revoked", self.crls.len()),
            );
        }
        if let Err(e) = chain
            .check_signer(&report)
            .and_then(|()| chain.check_signature(&report))
        {
            return Err(rec.fail(e));
        }
        rec.pass("signature", "ECDSA P-384/SHA-384 valid");
        if let Err(e) = chain.check_tcb(&report) {
            return Err(rec.fail(e));
        }
        rec.pass(
            "tcb",
            format!("REPORTED_TCB {}", report.reported_tcb.decode(chain.product)),
        );
        match chain.check_chip_id(&report) {
            Ok(ChipIdCheck::Matched) => rec.pass("chip_id", "CHIP_ID equals the VCEK's hwID"),
            Ok(ChipIdCheck::Masked) => rec.skip("chip_id", "CHIP_ID is masked by the report"),
            Ok(ChipIdCheck::VlekSigned) => rec.skip("chip_id", "VLEK-signed: no hwID to compare"),
            Err(e) => return Err(rec.fail(e)),
        }
        if let Err(e) = self.policy.check(&report, chain.product) {
            return Err(rec.fail(e));
        }
        rec.pass("policy", "every rule met");
        Ok(Accepted {
            report,
            envelope,
            product: chain.product,
            signer: chain.kind,
            amd_root: chain.root_is_amd,
            checks: rec.log.into_checks(),
        })
    }
}
