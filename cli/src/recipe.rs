//! `assay recipe`: check a recipe file, write a tiny example setup, run train + eval.

use crate::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use assay_recipe::data::{Example, Kind, load};
use assay_recipe::eval::evaluate;
use assay_recipe::fixture::{reverse_task, tiny_config, write_model};
use assay_recipe::pinned::load_pinned;
use assay_recipe::recipe::Recipe;
use assay_recipe::threads::Threads;
use assay_recipe::train::{adapter_checksum, train};
use clap::{Args, Subcommand};
use serde_json::json;

/// Subcommands of `assay recipe`.
#[derive(Subcommand)]
pub enum RecipeCommand {
    /// Validate a recipe file and print its canonical hash.
    Check {
        /// The recipe (TOML).
        file: PathBuf,
    },
    /// Write a tiny model built in code (Hugging Face layout), a recipe pinned to it, and
    /// contributions and holdout files into a folder.
    Example {
        /// Folder to create.
        dir: PathBuf,
    },
    /// Fine-tune per the recipe on contributions, evaluate on the holdout, print the result.
    Train(TrainArgs),
}

/// Arguments of `assay recipe train`.
#[derive(Args)]
pub struct TrainArgs {
    /// The recipe (TOML).
    pub recipe: PathBuf,
    /// The model and data.
    #[command(flatten)]
    pub data: DataArgs,
    /// Threads (the recipe's shards and eval batches run in parallel); default: every CPU.
    /// Results do not depend on it.
    #[arg(long)]
    pub threads: Option<Threads>,
}

/// The model a recipe pins and the data a training reads (`assay recipe train`,
/// `assay attribute`).
#[derive(Args)]
pub struct DataArgs {
    /// The model directory (config.json, model.safetensors, tokenizer.json) the recipe pins.
    #[arg(long)]
    pub model: PathBuf,
    /// Contributions (JSON Lines; grouped by `contributor`).
    #[arg(long)]
    pub contributions: PathBuf,
    /// Holdout (JSON Lines).
    #[arg(long)]
    pub holdout: PathBuf,
}

impl DataArgs {
    /// The contributions and the holdout.
    pub fn load(&self) -> Result<(Vec<Example>, Vec<Example>), Error> {
        Ok((
            load(&self.contributions, Kind::Contributions)?,
            load(&self.holdout, Kind::Holdout)?,
        ))
    }
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    Ok(std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?)
}

fn jsonl(examples: &[assay_recipe::data::Example], with_contributor: bool) -> String {
    examples
        .iter()
        .map(|e| {
            let mut v = json!({"prompt": e.prompt, "answer": e.answer});
            if with_contributor {
                v["contributor"] = e.contributor.clone().into();
            }
            v.to_string() + "\n"
        })
        .collect()
}

pub fn run(cmd: RecipeCommand) -> Result<ExitCode, Error> {
    match cmd {
        RecipeCommand::Check { file } => {
            let recipe = Recipe::load(&file)?;
            println!("{}", recipe.hash());
            Ok(ExitCode::SUCCESS)
        }
        RecipeCommand::Example { dir } => {
            let model = dir.join("model");
            let recipe = write_model(&model, &tiny_config(), 11)?;
            write(&dir.join("recipe.toml"), &recipe.to_toml())?;
            let contributors = [
                "0x1111111111111111111111111111111111111111",
                "0x2222222222222222222222222222222222222222",
                "0x3333333333333333333333333333333333333333",
            ];
            write(
                &dir.join("contributions.jsonl"),
                &jsonl(&reverse_task(24, &contributors, 0), true),
            )?;
            write(
                &dir.join("holdout.jsonl"),
                &jsonl(&reverse_task(8, &["holdout"], 5), false),
            )?;
            println!(
                "wrote {}/{{model/,recipe.toml,contributions.jsonl,holdout.jsonl}}",
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        RecipeCommand::Train(a) => {
            let recipe = Recipe::load(&a.recipe)?;
            let (contributions, holdout) = a.data.load()?;
            let pinned = load_pinned(&recipe, &a.data.model, &candle_core::Device::Cpu)?;
            let threads = a.threads.unwrap_or_else(Threads::available);
            let report = train(
                &pinned.model,
                &pinned.tokenizer,
                &recipe,
                &contributions,
                threads,
            )?;
            let eval = evaluate(&pinned.model, &pinned.tokenizer, &recipe, &holdout, threads)?;
            let out = json!({
                "recipe_hash": recipe.hash(),
                "adapter_sha256": adapter_checksum(&pinned.model)?,
                "train": {"steps": report.steps, "examples": report.examples, "dropped": report.dropped,
                          "final_loss": report.losses.last()},
                "eval": eval,
                "eval_bits": {"perplexity": format!("{:016x}", eval.perplexity.to_bits()),
                              "mean_token_loss": format!("{:016x}", eval.mean_token_loss.to_bits())},
            });
            println!("{}", serde_json::to_string_pretty(&out).expect("json"));
            Ok(ExitCode::SUCCESS)
        }
    }
}
