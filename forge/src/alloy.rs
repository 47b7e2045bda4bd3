//! The alloy chain of a job (`docs/alloy.md`; `docs/attestation.md`, "The alloy chain of a
//! job"): the three links an enclave signs with the Ed25519 key its version-3 bundle binds,
//!
//! 1. **dataset** (0x03): input the contributions file's SHA-256, output the `data_root`; stage
//!    the number of contributions and the JobSpec's hash;
//! 2. **adapter** (0x02): input the `data_root`, output the content hash of the adapter folder
//!    trained on every contribution; stage the recipe's hash, the base model's weights hash and
//!    the method (`lora`, `qlora`);
//! 3. **eval** (0x06): input the adapter's hash, output the SHA-256 of the bundle's CBOR; stage
//!    the metric, the scores' digest, the baseline, the number of contributions and `code_hash`;
//!
//! and [`check_chain`], which checks such a chain against the bundle: every value a link states
//! that the bundle also states must be the bundle's. Links others append later (a delivery,
//! say) are the chain's, checked by the chain's own rules only.

use std::collections::BTreeMap;

use alloy_sol_types::SolValue;
use assay_alloy::cbor::Value;
use assay_alloy::{Link, LinkId, LinkType, SignedLink, SigningKey, Verdict};

use crate::Error;
use crate::eip712::to_sol;
use crate::format::Bundle;
use crate::job::{JobSpec, sha256};
use crate::result::EvalResult;

/// Stage keys of the dataset link (`docs/alloy.md` §2.2).
mod dataset {
    pub const CONTRIBUTIONS: u64 = 1;
    pub const JOB: u64 = 2;
}

/// Stage keys of the adapter link.
mod adapter {
    pub const RECIPE: u64 = 1;
    pub const BASE_MODEL: u64 = 2;
    pub const METHOD: u64 = 3;
}

/// Stage keys of the eval link.
mod eval {
    pub const METRIC: u64 = 1;
    pub const SCORES: u64 = 2;
    pub const BASELINE: u64 = 3;
    pub const CONTRIBUTIONS: u64 = 4;
    pub const CODE_HASH: u64 = 5;
}

/// The scores' digest an eval link states: SHA-256 of `abi.encode(scores)`, the `Score[]` array
/// exactly as the Forge contract receives it (`docs/attestation.md`).
pub fn scores_digest(result: &EvalResult) -> [u8; 32] {
    sha256(&to_sol(result).scores.abi_encode()).0
}

/// The hash an eval link states as its output: SHA-256 of the bundle's CBOR (`Bundle::to_cbor`,
/// which a bundle read from its JSON gives back byte for byte).
pub fn bundle_hash(bundle: &Bundle) -> [u8; 32] {
    sha256(&bundle.to_cbor()).0
}

fn count(result: &EvalResult) -> Value {
    Value::Uint(result.scores.len() as u64)
}

/// The link's stage as the job says it must be, for each type the enclave signs.
fn dataset_stage(job: &JobSpec, result: &EvalResult) -> BTreeMap<u64, Value> {
    BTreeMap::from([
        (dataset::CONTRIBUTIONS, count(result)),
        (dataset::JOB, Value::Bytes(job.hash().to_vec())),
    ])
}

/// `method`: how the adapter was trained, which the bundle does not say.
fn adapter_stage(job: &JobSpec, result: &EvalResult, method: &str) -> BTreeMap<u64, Value> {
    BTreeMap::from([
        (adapter::RECIPE, Value::Bytes(result.recipe_hash.to_vec())),
        (
            adapter::BASE_MODEL,
            Value::Bytes(job.model.weights_sha256.to_vec()),
        ),
        (adapter::METHOD, Value::Text(method.to_owned())),
    ])
}

fn eval_stage(result: &EvalResult) -> BTreeMap<u64, Value> {
    BTreeMap::from([
        (
            eval::METRIC,
            Value::Text(result.baseline_metric.name.clone()),
        ),
        (eval::SCORES, Value::Bytes(scores_digest(result).to_vec())),
        (
            eval::BASELINE,
            Value::Text(result.baseline_metric.value.to_string()),
        ),
        (eval::CONTRIBUTIONS, count(result)),
        (eval::CODE_HASH, Value::Bytes(result.code_hash.to_vec())),
    ])
}

fn unsignable(reason: impl Into<String>) -> Error {
    Error::Alloy {
        link: None,
        reason: reason.into(),
    }
}

/// Signs the job's three links (see the module documentation) with `key`, the key `bundle`
/// binds: `adapter_hash` is the content hash of the adapter folder trained on every
/// contribution, `method` how it was trained, `timestamp` the links' time (seconds since 1970).
pub fn sign_job_links(
    bundle: &Bundle,
    adapter_hash: [u8; 32],
    method: &str,
    key: &SigningKey,
    timestamp: u64,
) -> Result<Vec<SignedLink>, Error> {
    let (Some(job), Some(alloy)) = (&bundle.job, &bundle.alloy) else {
        return Err(unsignable(
            "only a version-3 bundle (with its JobSpec and alloy key) has an alloy chain",
        ));
    };
    let signer = *key.verifying_key().as_bytes();
    if alloy.key.0 != signer {
        return Err(unsignable(format!(
            "the bundle binds the alloy key {}, not this key {}",
            hex::encode(alloy.key),
            hex::encode(signer)
        )));
    }
    let result = &bundle.result;
    let sign = |link: Link| {
        link.sign(key)
            .map_err(|e| unsignable(format!("signing the {} link: {e}", link.kind.name())))
    };
    let dataset = sign(Link {
        kind: LinkType::Dataset,
        prev: None,
        input_hash: job.contributions.sha256.0,
        stage: dataset_stage(job, result),
        output_hash: result.data_root.0,
        signer,
        timestamp,
    })?;
    let adapter = sign(Link {
        kind: LinkType::Adapter,
        prev: Some(dataset.id()),
        input_hash: result.data_root.0,
        stage: adapter_stage(job, result, method),
        output_hash: adapter_hash,
        signer,
        timestamp,
    })?;
    let eval = sign(Link {
        kind: LinkType::Eval,
        prev: Some(adapter.id()),
        input_hash: adapter_hash,
        stage: eval_stage(result),
        output_hash: bundle_hash(bundle),
        signer,
        timestamp,
    })?;
    Ok(vec![dataset, adapter, eval])
}

/// What [`check_chain`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainCheck {
    /// The chain's head (its last link's id).
    pub head: LinkId,
    /// The adapter folder's content hash the adapter link states.
    pub adapter_hash: [u8; 32],
    /// The method the adapter link states.
    pub method: String,
    /// Links after the enclave's three (appended by others; valid, not compared with the
    /// bundle).
    pub later: usize,
}

fn at(link: usize, reason: String) -> Error {
    Error::Alloy {
        link: Some(link),
        reason,
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Bytes(b) => hex::encode(b),
        Value::Text(t) => format!("{t:?}"),
        Value::Uint(u) => u.to_string(),
        other => format!("{other:?}"),
    }
}

/// Each field of `link` (the chain's link `n`, 1-based) against what the bundle says.
fn expect_link(
    n: usize,
    link: &Link,
    kind: LinkType,
    input: [u8; 32],
    output: Option<[u8; 32]>,
    stage: &BTreeMap<u64, Value>,
) -> Result<(), Error> {
    if link.kind != kind {
        return Err(at(
            n,
            format!(
                "is a {} link, where the job's link {n} is its {} link",
                link.kind.name(),
                kind.name()
            ),
        ));
    }
    let name = kind.name();
    if link.input_hash != input {
        return Err(at(
            n,
            format!(
                "the {name} link's input_hash is {}, the bundle says {}",
                hex::encode(link.input_hash),
                hex::encode(input)
            ),
        ));
    }
    if let Some(output) = output
        && link.output_hash != output
    {
        return Err(at(
            n,
            format!(
                "the {name} link's output_hash is {}, the bundle says {}",
                hex::encode(link.output_hash),
                hex::encode(output)
            ),
        ));
    }
    for (key, want) in stage {
        match link.stage.get(key) {
            Some(found) if found == want => {}
            Some(found) => {
                return Err(at(
                    n,
                    format!(
                        "the {name} link's stage {key} is {}, the bundle says {}",
                        show(found),
                        show(want)
                    ),
                ));
            }
            None => {
                return Err(at(
                    n,
                    format!(
                        "the {name} link has no stage {key}; the bundle's is {}",
                        show(want)
                    ),
                ));
            }
        }
    }
    if let Some(extra) = link.stage.keys().find(|k| !stage.contains_key(k)) {
        return Err(at(
            n,
            format!("the {name} link's stage {extra} is not one the enclave states"),
        ));
    }
    Ok(())
}

/// Checks `verdict` (an alloy chain, verified by [`assay_alloy::verify`]) against `bundle`,
/// which must already have been verified ([`crate::BundleVerifier`]): the chain is valid and
/// complete, its first three links are the job's dataset, adapter and eval links (see the
/// module documentation), each signed by the alloy key the bundle binds, and every value they
/// state that the bundle also states is the bundle's.
pub fn check_chain(bundle: &Bundle, verdict: &Verdict) -> Result<ChainCheck, Error> {
    let (Some(job), Some(alloy)) = (&bundle.job, &bundle.alloy) else {
        return Err(Error::Alloy {
            link: None,
            reason: format!(
                "the bundle ({}) binds no alloy key: only a version-3 bundle's enclave signs an alloy chain",
                bundle.format
            ),
        });
    };
    if let Some(f) = verdict.findings.first() {
        return Err(Error::Alloy {
            link: None,
            reason: format!(
                "the chain itself does not verify: {} ({} finding(s) in all): {}",
                f.rule,
                verdict.findings.len(),
                f.detail
            ),
        });
    }
    if !verdict.complete() {
        return Err(Error::Alloy {
            link: None,
            reason: "the chain is incomplete: a part (QR code) is missing".into(),
        });
    }
    let links: Vec<&SignedLink> = verdict.decoded().collect();
    if links.len() < 3 {
        return Err(Error::Alloy {
            link: None,
            reason: format!(
                "{} link(s); a job's chain starts with its dataset, adapter and eval links",
                links.len()
            ),
        });
    }
    for (i, l) in links.iter().take(3).enumerate() {
        if l.link().signer != alloy.key.0 {
            return Err(at(
                i + 1,
                format!(
                    "is signed by {}, not by the enclave's alloy key {} that the bundle binds",
                    hex::encode(l.link().signer),
                    hex::encode(alloy.key)
                ),
            ));
        }
    }
    let result = &bundle.result;
    let (dataset, adapter_link, eval) = (links[0].link(), links[1].link(), links[2].link());
    expect_link(
        1,
        dataset,
        LinkType::Dataset,
        job.contributions.sha256.0,
        Some(result.data_root.0),
        &dataset_stage(job, result),
    )?;
    let method = match adapter_link.stage.get(&adapter::METHOD) {
        Some(Value::Text(m)) => m.clone(),
        _ => {
            return Err(at(
                2,
                "the adapter link states no method (stage 3)".to_owned(),
            ));
        }
    };
    expect_link(
        2,
        adapter_link,
        LinkType::Adapter,
        result.data_root.0,
        None,
        &adapter_stage(job, result, &method),
    )?;
    expect_link(
        3,
        eval,
        LinkType::Eval,
        adapter_link.output_hash,
        Some(bundle_hash(bundle)),
        &eval_stage(result),
    )?;
    Ok(ChainCheck {
        head: links.last().expect("three links or more").id(),
        adapter_hash: adapter_link.output_hash,
        method,
        later: links.len() - 3,
    })
}
