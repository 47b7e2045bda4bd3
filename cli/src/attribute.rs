//! `assay attribute`: exact leave-one-out scores and shares on local files, printed as a table or
//! as JSON in the shape of the Forge's score vector.

use crate::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

use assay_attribution::engine::{Journal, PlainJournal};
use assay_attribution::recipe_trial::{RecipeTrial, group};
use assay_attribution::stratified::attribute;
use assay_forge::shares::{ComputeProvider, allocate};
use assay_recipe::recipe::Recipe;
use assay_recipe::threads::Threads;
use clap::Args;
use serde_json::json;

/// Arguments of `assay attribute`.
#[derive(Args)]
pub struct AttributeArgs {
    /// The recipe (TOML).
    #[arg(long)]
    pub recipe: PathBuf,
    /// The model and data.
    #[command(flatten)]
    pub data: crate::recipe::DataArgs,
    /// Trainings run in parallel.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Threads for each training (its shards and eval batches); default: the CPUs shared
    /// evenly between the workers. Results do not depend on it.
    #[arg(long)]
    pub threads: Option<Threads>,
    /// Above this many contributions, the stratified approximation replaces exact LOO (see
    /// docs/attribution.md for its measured error).
    #[arg(long, default_value_t = 200)]
    pub threshold: usize,
    /// Journal folder: each finished run is recorded there, and a rerun resumes from it.
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// Basis points for compute providers (e.g. 1500–2500); needs --provider.
    #[arg(long, default_value_t = 0)]
    pub compute_bps: u32,
    /// A compute provider and its compute units, `ID:UNITS`; repeatable.
    #[arg(long, value_parser = parse_provider)]
    pub provider: Vec<ComputeProvider<String>>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn parse_provider(s: &str) -> Result<ComputeProvider<String>, String> {
    let (id, units) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?} is not ID:UNITS"))?;
    Ok(ComputeProvider {
        provider: id.to_owned(),
        units: units.parse().map_err(|e| format!("{s:?}: units: {e}"))?,
    })
}

pub fn run(a: &AttributeArgs) -> Result<ExitCode, Error> {
    let recipe = Recipe::load(&a.recipe)?;
    let (contributions, holdout) = a.data.load()?;
    let trial = RecipeTrial {
        recipe,
        model: a.data.model.clone().into(),
        contributions: group(&contributions),
        holdout,
        threads: a.threads.unwrap_or_else(|| Threads::per_worker(a.workers)),
    };
    let n = trial.contributions.len();
    let total = if n <= a.threshold {
        n + 1
    } else {
        a.threshold + 1
    } as u64;
    let bar = indicatif::ProgressBar::new(total).with_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} trainings, {elapsed} ({eta} left)",
        )
        .expect("template"),
    );
    let (sizes, keys) = trial.sizes_and_keys();
    let journal = a
        .journal
        .as_deref()
        .map(|dir| PlainJournal::open(dir, trial.inputs_hash()))
        .transpose()?;
    let result = attribute(
        &trial,
        &sizes,
        &keys,
        a.threshold,
        trial.lower_is_better(),
        a.workers,
        journal.as_ref().map(|j| j as &dyn Journal),
        &|u| bar.set_position(u.done as u64),
    )?;
    bar.finish_and_clear();
    if result.journal.refused > 0 {
        eprintln!(
            "journal: {} entries were not this computation's (other inputs, or changed) and their runs were computed again",
            result.journal.refused
        );
    }
    let named: Vec<(String, f64)> = trial
        .contributions
        .iter()
        .map(|c| c.contributor.clone())
        .zip(result.scores.iter().copied())
        .collect();
    let alloc = allocate(&named, a.compute_bps, &a.provider)?;
    let direction = if trial.lower_is_better() {
        "lower_is_better"
    } else {
        "higher_is_better"
    };
    if a.json {
        let out = json!({
            "method": result.method(),
            "groups": result.groups,
            "recipe_hash": trial.recipe.hash(),
            "baseline_metric": {"name": "perplexity", "value": result.baseline, "direction": direction},
            "scores": alloc.data.iter().map(|d| json!({"contributor": d.contributor, "score": d.score, "shares": d.shares})).collect::<Vec<_>>(),
            "compute": alloc.compute,
            "no_positive_scores": alloc.no_positive_scores,
            "unallocated_bps": alloc.unallocated_bps,
            "resumed_runs": result.journal.resumed,
            "refused_journal_entries": result.journal.refused,
        });
        println!("{}", serde_json::to_string_pretty(&out).expect("json"));
    } else {
        let method = match result.groups {
            None => "exact leave-one-out".to_owned(),
            Some(groups) => {
                format!(
                    "stratified leave-groups-out calibrating a first-order estimate ({groups} groups; approximate)"
                )
            }
        };
        println!(
            "method: {method}; baseline perplexity {:.6} ({direction})",
            result.baseline
        );
        println!("{:<44} {:>14} {:>7}", "contributor", "score", "bps");
        for d in &alloc.data {
            println!("{:<44} {:>14.6} {:>7}", d.contributor, d.score, d.shares);
        }
        for c in &alloc.compute {
            println!(
                "{:<44} {:>14} {:>7}",
                format!("compute: {}", c.provider),
                format!("{} units", c.units),
                c.shares
            );
        }
        if alloc.no_positive_scores {
            println!(
                "no contribution scored above 0: {} bps unallocated",
                alloc.unallocated_bps
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
