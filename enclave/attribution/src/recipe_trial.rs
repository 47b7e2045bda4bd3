//! The LOO trial of a pinned recipe: train on the contributions (one left out, or none), evaluate
//! on the holdout. Contributions are the contributors' groups of examples.

use assay_recipe::data::Example;
use assay_recipe::eval::evaluate;
use assay_recipe::pinned::{Pinned, load_pinned_from, lora_spec};
use assay_recipe::recipe::{Direction, Recipe};
use assay_recipe::source::ModelSource;
use assay_recipe::threads::Threads;
use assay_recipe::train::{adapter_gradient, train};
use aws_lc_rs::digest::{Context, SHA256};

use crate::Error;
use crate::engine::{FirstOrder, Run, Trial};

/// One contributor's examples.
#[derive(Clone, Debug, PartialEq)]
pub struct Contribution {
    /// The contributor.
    pub contributor: String,
    /// Its examples, in file order.
    pub examples: Vec<Example>,
}

impl Contribution {
    /// The contribution's hash: SHA-256 over its examples' content hashes in file order (the
    /// `bytes32` of its `data_root` leaf).
    pub fn content_hash(&self) -> [u8; 32] {
        let mut ctx = Context::new(&SHA256);
        for e in &self.examples {
            ctx.update(&e.content_hash());
        }
        ctx.finish().as_ref().try_into().expect("32 bytes")
    }
}

/// Groups examples by contributor, contributors in order of first appearance.
pub fn group(examples: &[Example]) -> Vec<Contribution> {
    let mut out: Vec<Contribution> = Vec::new();
    for ex in examples {
        match out.iter_mut().find(|c| c.contributor == ex.contributor) {
            Some(c) => c.examples.push(ex.clone()),
            None => out.push(Contribution {
                contributor: ex.contributor.clone(),
                examples: vec![ex.clone()],
            }),
        }
    }
    out
}

/// Train-and-evaluate with a pinned recipe.
pub struct RecipeTrial {
    /// The recipe.
    pub recipe: Recipe,
    /// The model folder it pins (on disk or in memory).
    pub model: ModelSource,
    /// The contributions.
    pub contributions: Vec<Contribution>,
    /// The holdout.
    pub holdout: Vec<Example>,
    /// Threads for each training and eval (shards and eval batches); results do not depend on
    /// it. With several workers, each gets its share ([`Threads::per_worker`]).
    pub threads: Threads,
}

impl RecipeTrial {
    /// Each contribution's size (examples) and content hash: what the stratification rule of
    /// [`crate::stratified::attribute`] sorts by.
    pub fn sizes_and_keys(&self) -> (Vec<usize>, Vec<[u8; 32]>) {
        self.contributions
            .iter()
            .map(|c| (c.examples.len(), c.content_hash()))
            .unzip()
    }

    /// Whether the recipe's metric is lower-is-better.
    pub fn lower_is_better(&self) -> bool {
        self.recipe.eval.direction == Direction::LowerIsBetter
    }
}

/// `g_h · g_i` at the adapters trained on every contribution, where `g_h` is the gradient of the
/// holdout's mean loss and `g_i` that of contribution i's loss as training weighs it (TracIn at
/// the final checkpoint): positive when a gradient step on i lowers the holdout loss. One training
/// and n + 1 backward passes. (The fresh adapters were also tried as a checkpoint: with LoRA's
/// B = 0 start their estimate ranked worse; see docs/attribution.md.)
impl RecipeTrial {
    /// Fresh adapters, trained on every contribution but the `excluded` ones; the training's
    /// final loss (none when nothing is left to train on).
    fn train_without(&self, w: &mut Pinned, excluded: &[usize]) -> Result<Option<f64>, Error> {
        w.model
            .reset_adapters(&lora_spec(&self.recipe))
            .map_err(assay_recipe::Error::Tensor)?;
        let data: Vec<Example> = self
            .contributions
            .iter()
            .enumerate()
            .filter(|(i, _)| !excluded.contains(i))
            .flat_map(|(_, c)| c.examples.iter().cloned())
            .collect();
        // Nothing left to train on (the only contribution left out): the model with fresh
        // adapters, which leave the base model as it is, is `train(∅)`.
        if data.is_empty() {
            return Ok(None);
        }
        let report = train(&w.model, &w.tokenizer, &self.recipe, &data, self.threads)?;
        Ok(report.losses.last().map(|l| f64::from(*l)))
    }
}

impl RecipeTrial {
    /// Trains `w`'s fresh adapters on every contribution: `train(C)`, the model a Forge
    /// publishes. It needs no holdout; the baseline run of [`crate::engine`] trains the same
    /// adapters bit for bit before evaluating them.
    pub fn train_all(&self, w: &mut Pinned) -> Result<(), Error> {
        self.train_without(w, &[]).map(drop)
    }
}

impl FirstOrder for RecipeTrial {
    fn first_order(&self, w: &mut Pinned) -> Result<Vec<f64>, Error> {
        self.train_without(w, &[])?;
        let gradient = |examples: &[Example]| {
            adapter_gradient(&w.model, &w.tokenizer, &self.recipe, examples, self.threads)
        };
        let g_h = gradient(&self.holdout)?;
        let scale = 1.0 / self.holdout.len().max(1) as f64;
        self.contributions
            .iter()
            .map(|c| {
                let g = gradient(&c.examples)?;
                Ok(g_h
                    .iter()
                    .zip(&g)
                    .map(|(a, b)| f64::from(*a) * f64::from(*b))
                    .sum::<f64>()
                    * scale)
            })
            .collect()
    }
}

impl Trial for RecipeTrial {
    type Worker = Pinned;

    fn worker(&self) -> Result<Pinned, Error> {
        Ok(load_pinned_from(
            &self.recipe,
            &self.model,
            &candle_core::Device::Cpu,
        )?)
    }

    fn metric(&self, w: &mut Pinned, excluded: &[usize]) -> Result<f64, Error> {
        self.measure(w, excluded).map(|r| r.metric)
    }

    fn measure(&self, w: &mut Pinned, excluded: &[usize]) -> Result<Run, Error> {
        let loss = self.train_without(w, excluded)?;
        let eval = evaluate(
            &w.model,
            &w.tokenizer,
            &self.recipe,
            &self.holdout,
            self.threads,
        )?;
        Ok(Run {
            metric: eval.perplexity,
            loss,
        })
    }

    fn contributions(&self) -> usize {
        self.contributions.len()
    }
}

impl RecipeTrial {
    /// Hash of everything that determines the metrics (recipe, contributions, holdout), for a
    /// [`crate::engine::PlainJournal`]: entries made for other inputs are refused. It includes
    /// a hash of each holdout example, so it is for callers who own the holdout; the enclave's
    /// journal is sealed instead.
    pub fn inputs_hash(&self) -> String {
        let mut ctx = Context::new(&SHA256);
        ctx.update(self.recipe.hash().as_bytes());
        for c in &self.contributions {
            ctx.update(&(c.examples.len() as u64).to_le_bytes());
            for e in &c.examples {
                ctx.update(&e.content_hash());
            }
        }
        for e in &self.holdout {
            ctx.update(&e.content_hash());
        }
        hex::encode(ctx.finish())
    }
}
