//! The largest input each parser of this crate reads, checked on the bytes before any parsing
//! (so a too-large input costs nothing beyond its own buffer), and the nesting each accepts.
//!
//! Nesting: JSON is read by serde_json, which refuses nesting deeper than 128; TOML by the
//! `toml` crate, which refuses nesting deeper than its recursion limit (tests/limits.rs checks
//! both give an error, not a stack overflow). The sizes are far above any real input: Qwen2.5's
//! `tokenizer.json` is 7 MB, its `config.json` 1 kB.

use std::path::Path;

use crate::Error;

/// A recipe file (TOML).
pub const RECIPE: usize = 1 << 20;
/// A model's `config.json`.
pub const MODEL_CONFIG: usize = 1 << 20;
/// A `model.safetensors.index.json`.
pub const WEIGHTS_INDEX: usize = 16 << 20;
/// A `tokenizer.json`.
pub const TOKENIZER: usize = 64 << 20;
/// A `tokenizer_config.json` (it carries the chat template).
pub const TOKENIZER_CONFIG: usize = 4 << 20;
/// A contributions or holdout file (JSON Lines).
pub const DATA: usize = 256 << 20;

/// Refuses `len` bytes read from `path` when they exceed `max`.
pub fn check_size(path: impl AsRef<Path>, len: usize, max: usize) -> Result<(), Error> {
    if len > max {
        return Err(Error::TooLarge {
            path: path.as_ref().display().to_string(),
            size: len,
            max,
        });
    }
    Ok(())
}
