//! Loading exactly what a recipe pins: the model directory's config, weights, tokenizer and chat
//! template are checked against the recipe's hashes before anything runs.

use std::path::Path;

use aws_lc_rs::digest::{SHA256, digest};
use candle_core::Device;

use crate::Error;
use crate::config::ModelConfig;
use crate::lora::LoraSpec;
use crate::model::Qwen2;
use crate::recipe::Recipe;
use crate::tokenizer::ChatTokenizer;
use crate::weights::{file_hash, load, weights_hash};

/// A model and tokenizer that match a recipe.
pub struct Pinned {
    /// The model with freshly initialised adapters.
    pub model: Qwen2,
    /// Its tokenizer and chat template.
    pub tokenizer: ChatTokenizer,
}

/// The adapter spec of a recipe.
pub fn lora_spec(recipe: &Recipe) -> LoraSpec {
    LoraSpec {
        rank: recipe.lora.rank,
        alpha: recipe.lora.alpha,
        dropout: recipe.lora.dropout,
        targets: recipe.lora.targets.clone(),
        seed: recipe.training.seed,
    }
}

/// SHA-256 of a chat template's text, hex.
pub fn template_hash(template: &str) -> String {
    hex::encode(digest(&SHA256, template.as_bytes()))
}

fn mismatch(what: &'static str, expected: &str, found: String) -> Result<(), Error> {
    if expected.eq_ignore_ascii_case(&found) {
        Ok(())
    } else {
        Err(Error::HashMismatch {
            what,
            expected: expected.to_owned(),
            found,
        })
    }
}

/// Checks `dir` against `recipe` and loads it.
pub fn load_pinned(recipe: &Recipe, dir: &Path, device: &Device) -> Result<Pinned, Error> {
    let config = ModelConfig::load(&dir.join("config.json"))?;
    if config != recipe.model.config {
        return Err(Error::Config {
            path: dir.join("config.json").display().to_string(),
            reason: "differs from the recipe's model.config".into(),
        });
    }
    mismatch("weights", &recipe.model.weights_sha256, weights_hash(dir)?)?;
    mismatch(
        "tokenizer",
        &recipe.model.tokenizer_sha256,
        file_hash(&dir.join("tokenizer.json"))?,
    )?;
    let tokenizer = ChatTokenizer::load(dir)?;
    mismatch(
        "chat template",
        &recipe.model.chat_template_sha256,
        template_hash(tokenizer.template()),
    )?;
    let model = load(
        dir,
        &lora_spec(recipe),
        recipe.model.base,
        recipe.training.seq_len,
        device,
    )?;
    Ok(Pinned { model, tokenizer })
}
