//! Replaying a bundle: an auditor who is given the job's data (and the holdout's key) reruns the
//! job with the enclave's own code path ([`crate::evaluate::prepare`] and
//! [`crate::evaluate::Prepared::evaluate`]) and compares every number with the bundle, bit for
//! bit. Every input is first checked against the hashes the bundle's JobSpec commits to (the
//! same checks the enclave makes: [`crate::job::read_inputs`]), and the build against the
//! bundle's `code_hash`, since another build may compute other bits.

use std::path::{Path, PathBuf};

use alloy_primitives::B256;
use assay_attribution::engine::{JournalUse, Progress};
use assay_forge::Bundle;
use assay_forge::binding::code_hash;
use assay_forge::result::{EvalResult, JobCommitment};
use assay_keys::DataKey;
use assay_recipe::threads::Threads;

use crate::Error;
use crate::evaluate::{Binding, parse_holdout};
use crate::job::{Files, prepare_job, read_inputs};
use crate::journal::SealedJournal;

/// Where an auditor keeps a job's data: `recipe.toml`, `model/`, `contributions.jsonl` and the
/// encrypted `holdout.enc` in one folder (as `assay-host example` writes a job's inputs).
pub fn files_in(dir: &Path) -> Files {
    Files {
        recipe: dir.join("recipe.toml"),
        model: dir.join("model"),
        contributions: dir.join("contributions.jsonl"),
        holdout: dir.join("holdout.enc"),
    }
}

/// How to rerun.
#[derive(Clone, Debug)]
pub struct Rerun {
    /// Trainings in parallel (results do not depend on it).
    pub workers: usize,
    /// Threads per training (results do not depend on it).
    pub threads: Threads,
    /// A journal folder, so that a stopped replay resumes (sealed under the holdout key, apart
    /// from the enclave's: a replay never takes the enclave's entries).
    pub journal: Option<PathBuf>,
}

/// One compared value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// What it is (`baseline perplexity`, `score of 0x…`, `shares of 0x…`, …).
    pub what: String,
    /// The bundle's value.
    pub bundle: String,
    /// The replayed value.
    pub replayed: String,
}

impl Row {
    /// Whether the two are the same.
    pub fn equal(&self) -> bool {
        self.bundle == self.replayed
    }
}

/// A finished replay.
#[derive(Debug)]
pub struct Replayed {
    /// The job's hash.
    pub job: B256,
    /// The result as recomputed.
    pub result: EvalResult,
    /// Every value compared, in order: the baseline, each contribution's score and shares, the
    /// compute shares and the rest of the result.
    pub rows: Vec<Row>,
    /// How the journal served the trainings.
    pub journal: JournalUse,
    /// The content hash of the adapters trained on every contribution, as recomputed: what the
    /// job's alloy adapter link must state.
    pub adapter_hash: [u8; 32],
}

impl Replayed {
    /// The first value that differs, if any.
    pub fn first_difference(&self) -> Option<&Row> {
        self.rows.iter().find(|r| !r.equal())
    }
}

fn row(what: impl Into<String>, bundle: impl ToString, replayed: impl ToString) -> Row {
    Row {
        what: what.into(),
        bundle: bundle.to_string(),
        replayed: replayed.to_string(),
    }
}

/// Every value of `ours` against the bundle's `theirs`.
fn compare(theirs: &EvalResult, ours: &EvalResult) -> Vec<Row> {
    let mut rows = vec![row(
        format!("baseline {}", theirs.baseline_metric.name),
        theirs.baseline_metric.value,
        ours.baseline_metric.value,
    )];
    let n = theirs.scores.len().max(ours.scores.len());
    for i in 0..n {
        let (t, o) = (theirs.scores.get(i), ours.scores.get(i));
        let who = t
            .or(o)
            .map(|s| s.contributor.to_string())
            .unwrap_or_default();
        let show = |s: Option<String>| s.unwrap_or_else(|| "(none)".into());
        rows.push(row(
            format!("score of {who}"),
            show(t.map(|s| s.score.to_string())),
            show(o.map(|s| s.score.to_string())),
        ));
        rows.push(row(
            format!("shares of {who}"),
            show(t.map(|s| s.shares.to_string())),
            show(o.map(|s| s.shares.to_string())),
        ));
        rows.push(row(
            format!("content hash of {who}"),
            show(t.map(|s| format!("{}:{}", s.contributor, s.content_hash))),
            show(o.map(|s| format!("{}:{}", s.contributor, s.content_hash))),
        ));
    }
    for (t, o) in theirs.compute.iter().zip(&ours.compute) {
        rows.push(row(
            format!("shares of compute {}", t.provider),
            t.shares,
            o.shares,
        ));
    }
    rows.push(row(
        "compute providers",
        format!(
            "{:?}",
            theirs
                .compute
                .iter()
                .map(|c| (c.provider, c.units))
                .collect::<Vec<_>>()
        ),
        format!(
            "{:?}",
            ours.compute
                .iter()
                .map(|c| (c.provider, c.units))
                .collect::<Vec<_>>()
        ),
    ));
    rows.push(row(
        "unallocated bps",
        theirs.unallocated_bps,
        ours.unallocated_bps,
    ));
    rows.push(row(
        "method",
        format!("{:?} ({} groups)", theirs.method, theirs.groups),
        format!("{:?} ({} groups)", ours.method, ours.groups),
    ));
    rows.push(row("data_root", theirs.data_root, ours.data_root));
    rows.push(row("recipe_hash", theirs.recipe_hash, ours.recipe_hash));
    rows.push(row("code_hash", theirs.code_hash, ours.code_hash));
    // Anything else the two results hold (there should be nothing).
    rows.push(row(
        "the whole result",
        if theirs == ours { "equal" } else { "—" },
        if theirs == ours { "equal" } else { "differs" },
    ));
    rows
}

/// Replays `bundle` on the inputs `files`, with the holdout's data key `key`. `measurement`
/// is the enclave image's launch digest this build corresponds to (its reference values): the
/// bundle's `code_hash` must be this build's, or the replay is refused before anything runs.
pub fn replay(
    bundle: &Bundle,
    files: &Files,
    key: &DataKey,
    measurement: [u8; 48],
    rerun: &Rerun,
    progress: Progress<'_>,
) -> Result<Replayed, Error> {
    let job = bundle.job.as_ref().ok_or_else(|| {
        Error::Usage(
            "a version-1 bundle commits to no job: there is no JobSpec to replay it from".into(),
        )
    })?;
    let hash = job.hash();
    let ours = code_hash(&measurement, job.recipe.hash);
    if ours != bundle.result.code_hash {
        return Err(Error::Usage(format!(
            "the bundle's code_hash is {}, but this build's is {ours} (MEASUREMENT {} ‖ recipe_hash): another build may compute other bits; replay with the build the bundle names",
            bundle.result.code_hash,
            hex::encode(measurement)
        )));
    }
    if key.id() != job.holdout.key_id.0 {
        return Err(Error::Usage(format!(
            "the holdout key given has id {}, but the job's holdout is sealed under key {}",
            alloy_primitives::FixedBytes::from(key.id()),
            job.holdout.key_id
        )));
    }
    let inputs = read_inputs(job, files)?;
    let prepared = prepare_job(
        job,
        inputs.recipe,
        inputs.model,
        &inputs.contributions,
        rerun.workers,
        rerun.threads,
    )?;
    let journal = rerun
        .journal
        .as_deref()
        .map(|dir| SealedJournal::open_replay(dir, key, hash))
        .transpose()?;
    let plaintext = assay_keys::holdout::decrypt(&inputs.encrypted_holdout, key)?;
    let text = std::str::from_utf8(&plaintext)
        .map_err(|e| Error::Holdout(format!("not UTF-8 at byte {}", e.valid_up_to())))?;
    let holdout = parse_holdout(text)?;
    drop(plaintext);
    let evaluated = prepared.evaluate(
        holdout,
        Binding {
            forge_id: job.forge.id,
            nonce: job.forge.nonce,
            measurement,
            tee: bundle.result.tee,
            job: JobCommitment {
                job_hash: hash,
                holdout_key_id: job.holdout.key_id,
                holdout_sha256: job.holdout.sha256,
            },
        },
        journal
            .as_ref()
            .map(|j| j as &dyn assay_attribution::engine::Journal),
        progress,
    )?;
    Ok(Replayed {
        job: hash,
        rows: compare(&bundle.result, &evaluated.result),
        result: evaluated.result,
        journal: evaluated.journal,
        adapter_hash: crate::job::adapter_hash(&evaluated.adapter),
    })
}
