//! Loading exactly what a recipe pins: the model directory's config, weights, tokenizer and chat
//! template are checked against the recipe's hashes before anything runs.

use std::path::Path;

use candle_core::Device;

use crate::Error;
use crate::files::sha256_hex;
use crate::lora::LoraSpec;
use crate::model::Qwen2;
use crate::recipe::Recipe;
use crate::source::ModelSource;
use crate::tokenizer::ChatTokenizer;
use crate::weights::{ModelFiles, load_files};

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
    sha256_hex(template.as_bytes())
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

/// Checks `dir` against `recipe` and loads it. Each file is read once, and the bytes that are
/// hashed are the bytes that are loaded ([`crate::files`]).
pub fn load_pinned(recipe: &Recipe, dir: &Path, device: &Device) -> Result<Pinned, Error> {
    load_pinned_from(recipe, &ModelSource::from(dir), device)
}

/// [`load_pinned`] from a model folder on disk or in memory.
pub fn load_pinned_from(
    recipe: &Recipe,
    source: &ModelSource,
    device: &Device,
) -> Result<Pinned, Error> {
    crate::cpu::check()?;
    let dir = source.origin();
    let files = ModelFiles::from_source(source)?;
    if files.config()? != recipe.model.config {
        return Err(Error::Config {
            path: dir.join("config.json").display().to_string(),
            reason: "differs from the recipe's model.config".into(),
        });
    }
    mismatch(
        "weights",
        &recipe.model.weights_sha256,
        files.weights_hash(),
    )?;
    let tokenizer_json = source.read("tokenizer.json")?;
    mismatch(
        "tokenizer",
        &recipe.model.tokenizer_sha256,
        sha256_hex(&tokenizer_json),
    )?;
    let tokenizer_config = source.read_if_present("tokenizer_config.json")?;
    let tokenizer = ChatTokenizer::from_bytes(
        &tokenizer_json,
        tokenizer_config.as_deref().map(Vec::as_slice),
        dir,
    )?;
    mismatch(
        "chat template",
        &recipe.model.chat_template_sha256,
        template_hash(tokenizer.template()),
    )?;
    let model = load_files(
        files,
        &lora_spec(recipe),
        recipe.model.base,
        recipe.training.seq_len,
        device,
    )?;
    Ok(Pinned { model, tokenizer })
}
