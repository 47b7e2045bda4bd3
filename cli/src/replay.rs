//! `assay replay`: an auditor reruns a bundle's job on its data, with the enclave's code path,
//! and compares every number with the bundle bit for bit.

use crate::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

use assay_enclave::replay::{Rerun, files_in, replay};
use assay_forge::Bundle;
use assay_keys::DataKey;
use assay_measurements::reference::ReferenceValues;
use assay_recipe::threads::Threads;
use clap::Args;
use serde_json::json;

/// Arguments of `assay replay`.
#[derive(Args)]
pub struct ReplayArgs {
    /// The bundle (JSON or CBOR, version 2: it carries its JobSpec).
    pub bundle: PathBuf,
    /// The job's data: `recipe.toml`, `model/`, `contributions.jsonl`, `holdout.enc`.
    #[arg(long)]
    pub data: PathBuf,
    /// The holdout's data key [default: DATA/holdout.key].
    #[arg(long)]
    pub holdout_key: Option<PathBuf>,
    /// The reference values of the enclave image this build is (`assay measure --reference`,
    /// `assay-host example`'s `enclave-reference.toml`) [default: DATA/enclave-reference.toml];
    /// the bundle's code_hash must be this build's.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Trainings in parallel (results do not depend on it).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Threads per training (results do not depend on it) [default: the CPUs shared evenly].
    #[arg(long)]
    pub threads: Option<Threads>,
    /// A journal folder, so that a stopped replay resumes (entries sealed under the holdout key).
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// The job's alloy chain (files, `AL1:` texts, images of its codes): checked against the
    /// bundle, and its adapter link's output against the adapter the replay trains.
    #[arg(long, num_args = 1.., value_name = "CHAIN")]
    pub alloy: Vec<String>,
    /// Print the comparison as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &ReplayArgs) -> Result<ExitCode, Error> {
    let bytes = std::fs::read(&a.bundle).map_err(|e| format!("{}: {e}", a.bundle.display()))?;
    let bundle = Bundle::parse(&bytes, &a.bundle.display().to_string())?;
    let key = DataKey::load(
        &a.holdout_key
            .clone()
            .unwrap_or_else(|| a.data.join("holdout.key")),
    )?;
    let measurement: [u8; 48] = if bundle.result.tee {
        let path = a
            .reference
            .clone()
            .unwrap_or_else(|| a.data.join("enclave-reference.toml"));
        let measurements: Vec<[u8; 48]> = ReferenceValues::load(&path)?
            .all_measurements()
            .into_iter()
            .filter_map(|m| m.try_into().ok())
            .collect();
        // The image's vCPU configuration the bundle ran with: the one whose measurement makes
        // its code_hash (the replay checks that again); the first when none does.
        measurements
            .iter()
            .find(|m| {
                assay_forge::binding::code_hash(m, bundle.result.recipe_hash)
                    == bundle.result.code_hash
            })
            .or(measurements.first())
            .copied()
            .ok_or_else(|| {
                format!(
                    "{}: not the reference values of an SNP image",
                    path.display()
                )
            })?
    } else {
        eprintln!(
            "note: a result without a TEE binds no build (its code_hash covers 48 zero bytes and the recipe)"
        );
        [0; 48]
    };
    if a.workers == 0 {
        return Err("--workers must be at least 1".into());
    }
    // The chain is checked against the bundle before anything is trained.
    let chain = if a.alloy.is_empty() {
        None
    } else {
        let verdict = crate::alloy::verdict_of_args(&a.alloy)?;
        Some(assay_forge::alloy::check_chain(&bundle, &verdict)?)
    };
    let rerun = Rerun {
        workers: a.workers,
        threads: a.threads.unwrap_or_else(|| Threads::per_worker(a.workers)),
        journal: a.journal.clone(),
    };
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} trainings, {elapsed} ({eta} left)",
        )
        .expect("template"),
    );
    let replayed = replay(
        &bundle,
        &files_in(&a.data),
        &key,
        measurement,
        &rerun,
        &|u| {
            bar.set_length(u.total as u64);
            bar.set_position(u.done as u64);
        },
    );
    bar.finish_and_clear();
    let mut replayed = replayed?;
    let adapter = hex::encode(replayed.adapter_hash);
    if let Some(chain) = &chain {
        replayed.rows.push(assay_enclave::replay::Row {
            what: "the adapter (the alloy adapter link's output)".into(),
            bundle: hex::encode(chain.adapter_hash),
            replayed: adapter.clone(),
        });
    }
    let equal = replayed.first_difference().is_none();
    if a.json {
        let out = json!({
            "job": replayed.job,
            "equal": equal,
            "rows": replayed.rows.iter().map(|r| json!({"what": r.what, "bundle": r.bundle, "replayed": r.replayed, "equal": r.equal()})).collect::<Vec<_>>(),
            "adapter": adapter,
            "resumed_runs": replayed.journal.resumed,
            "refused_entries": replayed.journal.refused,
        });
        println!("{}", serde_json::to_string_pretty(&out).expect("json"));
    } else {
        println!(
            "replayed job {} with this build; the adapter trained on every contribution: {adapter}",
            replayed.job
        );
        println!(
            "{:<58} {:>26} {:>26} {:>6}",
            "value", "bundle", "replayed", "equal"
        );
        for r in &replayed.rows {
            println!(
                "{:<58} {:>26} {:>26} {:>6}",
                r.what,
                r.bundle,
                r.replayed,
                if r.equal() { "yes" } else { "NO" }
            );
        }
    }
    match replayed.first_difference() {
        None => {
            eprintln!(
                "replayed: all {} values equal the bundle's, bit for bit",
                replayed.rows.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(r) => {
            eprintln!(
                "replay differs: {}: the bundle has {}, the replay {}",
                r.what, r.bundle, r.replayed
            );
            Ok(ExitCode::FAILURE)
        }
    }
}
