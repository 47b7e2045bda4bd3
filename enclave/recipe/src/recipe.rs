//! The recipe file (TOML): everything that determines `train()` and `eval()`, pinned when a
//! Forge opens. Its canonical hash is part of the enclave's `code_hash`.
//!
//! The canonical hash is the SHA-256 of the parsed recipe serialised as compact JSON with the
//! fields in the order of this module's types: comments, key order and spacing of the TOML file
//! do not change it; any value does. See `docs/recipe.md` for the format.

use std::path::Path;

use aws_lc_rs::digest::{SHA256, digest};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::config::ModelConfig;
use crate::lora::TARGETS;
use crate::weights::BaseFormat;

/// The format tag of a recipe file.
pub const FORMAT: &str = "assay-recipe/1";

/// The base model and the files that pin it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Human name, e.g. "Qwen2.5-Coder-3B-Instruct".
    pub name: String,
    /// Weights hash (see [`crate::weights::weights_hash`]).
    pub weights_sha256: String,
    /// SHA-256 of `tokenizer.json`.
    pub tokenizer_sha256: String,
    /// SHA-256 of the chat template text.
    pub chat_template_sha256: String,
    /// How the frozen base is held: f32 (LoRA) or quantized (QLoRA).
    pub base: BaseFormat,
    /// The architecture; must equal the model directory's `config.json`.
    pub config: ModelConfig,
}

/// The adapters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraSection {
    /// Rank r.
    pub rank: usize,
    /// α; updates are scaled by α/r.
    pub alpha: f64,
    /// Dropout on the adapters' input, in [0, 1).
    pub dropout: f32,
    /// Modules adapted (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj).
    pub targets: Vec<String>,
}

/// AdamW with decoupled weight decay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Optimizer {
    /// Peak learning rate.
    pub lr: f64,
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
}

/// Learning-rate schedule after the linear warm-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decay {
    /// Constant at the peak.
    Constant,
    /// Linear to zero at the last step.
    Linear,
    /// Half-cosine to zero at the last step.
    Cosine,
}

/// The schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Steps of linear warm-up from 0 to the peak.
    pub warmup_steps: usize,
    /// Decay afterwards.
    pub decay: Decay,
}

/// The training loop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Training {
    /// Passes over the data.
    pub epochs: usize,
    /// Examples per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per optimizer step.
    pub grad_accum: usize,
    /// Row shards per micro-batch: each shard's gradient is computed on its own (on parallel
    /// threads when there are several) and the shards' gradients are summed in order. Results
    /// depend on it (the order of float sums), never on the thread count.
    pub shards: usize,
    /// Tokens per example at most (longer examples are cut from the end).
    pub seq_len: usize,
    /// Seed of initialisation, dropout and data order.
    pub seed: u64,
}

/// Which way of a metric is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Lower is better (perplexity, loss).
    LowerIsBetter,
    /// Higher is better.
    HigherIsBetter,
}

/// The metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// exp(mean token loss) over the holdout's answer tokens.
    Perplexity,
}

/// The eval spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Eval {
    /// The metric.
    pub metric: Metric,
    /// Its direction; perplexity must be lower_is_better.
    pub direction: Direction,
    /// Examples per eval batch.
    pub batch_size: usize,
}

/// A recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Always [`FORMAT`].
    pub format: String,
    /// Base model.
    pub model: ModelSpec,
    /// Adapters.
    pub lora: LoraSection,
    /// Optimizer.
    pub optimizer: Optimizer,
    /// LR schedule.
    pub schedule: Schedule,
    /// Training loop.
    pub training: Training,
    /// Eval.
    pub eval: Eval,
}

fn hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Recipe {
    /// Parses and validates recipe text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, Error> {
        crate::limits::check_size(origin, text.len(), crate::limits::RECIPE)?;
        let recipe: Recipe = toml::from_str(text).map_err(|e| {
            let field = e
                .message()
                .split('`')
                .nth(1)
                .map(str::to_owned)
                .unwrap_or_else(|| "(syntax)".into());
            Error::Recipe {
                path: origin.to_owned(),
                field,
                reason: e.to_string().trim().to_owned(),
            }
        })?;
        recipe.validate().map_err(|(field, reason)| Error::Recipe {
            path: origin.to_owned(),
            field: field.to_owned(),
            reason,
        })?;
        Ok(recipe)
    }

    /// Reads a recipe file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        let fail = |field, reason: &str| Err((field, reason.to_owned()));
        if self.format != FORMAT {
            return Err((
                "format",
                format!("is {:?}, expected {FORMAT:?}", self.format),
            ));
        }
        for (field, h) in [
            ("model.weights_sha256", &self.model.weights_sha256),
            ("model.tokenizer_sha256", &self.model.tokenizer_sha256),
            (
                "model.chat_template_sha256",
                &self.model.chat_template_sha256,
            ),
        ] {
            if !hex64(h) {
                return fail(field, "must be 64 hex digits (a SHA-256)");
            }
        }
        if let Err(reason) = self.model.config.check() {
            return Err(("model.config", reason));
        }
        let l = &self.lora;
        if l.rank == 0 {
            return fail("lora.rank", "must be at least 1");
        }
        if !(l.alpha.is_finite() && l.alpha > 0.0) {
            return fail("lora.alpha", "must be a positive number");
        }
        if !(0.0..1.0).contains(&l.dropout) {
            return fail("lora.dropout", "must be in [0, 1)");
        }
        if l.targets.is_empty() {
            return fail("lora.targets", "must name at least one module");
        }
        if let Some(t) = l.targets.iter().find(|t| !TARGETS.contains(&t.as_str())) {
            return Err((
                "lora.targets",
                format!("unknown module {t:?}; known: {}", TARGETS.join(", ")),
            ));
        }
        let mut sorted = l.targets.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != l.targets.len() {
            return fail("lora.targets", "names a module twice");
        }
        let o = &self.optimizer;
        if !(o.lr.is_finite() && o.lr > 0.0) {
            return fail("optimizer.lr", "must be a positive number");
        }
        for (field, b) in [("optimizer.beta1", o.beta1), ("optimizer.beta2", o.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return fail(field, "must be in [0, 1)");
            }
        }
        if !(o.eps.is_finite() && o.eps > 0.0) {
            return fail("optimizer.eps", "must be a positive number");
        }
        if !(o.weight_decay.is_finite() && o.weight_decay >= 0.0) {
            return fail("optimizer.weight_decay", "must be zero or positive");
        }
        let t = &self.training;
        for (field, v) in [
            ("training.epochs", t.epochs),
            ("training.batch_size", t.batch_size),
            ("training.grad_accum", t.grad_accum),
            ("training.shards", t.shards),
        ] {
            if v == 0 {
                return fail(field, "must be at least 1");
            }
        }
        if t.shards > t.batch_size {
            return fail(
                "training.shards",
                "must not exceed training.batch_size (a shard would have no rows)",
            );
        }
        if t.seq_len < 2 {
            return fail(
                "training.seq_len",
                "must be at least 2 (a token and its successor)",
            );
        }
        if t.seq_len > self.model.config.max_position_embeddings {
            return fail(
                "training.seq_len",
                "exceeds model.config.max_position_embeddings",
            );
        }
        if self.eval.batch_size == 0 {
            return fail("eval.batch_size", "must be at least 1");
        }
        if self.eval.metric == Metric::Perplexity && self.eval.direction != Direction::LowerIsBetter
        {
            return fail("eval.direction", "perplexity is lower_is_better");
        }
        if matches!(self.model.base, BaseFormat::Q4k)
            && (self.model.config.hidden_size % 256 != 0
                || self.model.config.intermediate_size % 256 != 0)
        {
            return fail(
                "model.base",
                "q4k needs hidden_size and intermediate_size multiples of 256; use q4_0",
            );
        }
        Ok(())
    }

    /// The canonical hash, hex.
    pub fn hash(&self) -> String {
        let json = serde_json::to_vec(self).expect("recipe serialises");
        hex::encode(digest(&SHA256, &json))
    }

    /// The recipe as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("recipe serialises")
    }
}
