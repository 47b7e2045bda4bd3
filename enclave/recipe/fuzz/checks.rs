//! What each fuzz target checks, one function per target. The fuzz targets (nightly,
//! cargo-fuzz) and the corpus replay (`tests/fuzz_corpus.rs`, stable, in every `cargo test`)
//! run the same function, so an input found once stays checked. Each returns whether its
//! parser accepted the input, which the replay requires of valid seeds.
//!
//! The model's files are pinned by hash in the recipe, but they reach the enclave through the
//! host, and contributions come from strangers: each is parsed before anything trusts it.

use std::path::Path;

use assay_recipe::config::ModelConfig;
use assay_recipe::data::{self, Kind};
use assay_recipe::recipe::Recipe;
use assay_recipe::tokenizer::ChatTokenizer;
use assay_recipe::weights;

/// A target: its name (the folder of its corpus) and its check.
pub type Target = (&'static str, fn(&[u8]) -> bool);

/// Every target of this crate.
pub const TARGETS: &[Target] = &[
    ("parse_recipe", parse_recipe),
    ("parse_model_config", parse_model_config),
    ("parse_weights", parse_weights),
    ("parse_tokenizer", parse_tokenizer),
    ("parse_data", parse_data),
];

/// Recipe TOML: no panic; a recipe that parses comes back equal, with the same hash, from the
/// TOML it writes.
pub fn parse_recipe(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let Ok(recipe) = Recipe::from_toml(text, "fuzz") else {
        return false;
    };
    let back = Recipe::from_toml(&recipe.to_toml(), "fuzz").expect("its TOML parses");
    assert_eq!(back, recipe, "through its TOML");
    assert_eq!(back.hash(), recipe.hash());
    true
}

/// A model's `config.json`: no panic; one that parses passes the architecture's checks and
/// comes back equal through its JSON.
pub fn parse_model_config(data: &[u8]) -> bool {
    let Ok(config) = ModelConfig::from_json(data, Path::new("fuzz")) else {
        return false;
    };
    assert!(config.check().is_ok());
    let json = serde_json::to_vec(&config).expect("a config serialises");
    let back = ModelConfig::from_json(&json, Path::new("fuzz")).expect("its JSON parses");
    assert_eq!(back, config, "through its JSON");
    true
}

/// A safetensors file and a `model.safetensors.index.json`: no panic; the tensors read take no
/// more bytes than the file holds (nothing is allocated from a declared size alone); every
/// shard an index names is a plain file name in the model's folder.
pub fn parse_weights(data: &[u8]) -> bool {
    let device = candle_core::Device::Cpu;
    let tensors = weights::tensors(data, Path::new("fuzz"), &device);
    if let Ok(tensors) = &tensors {
        let bytes: usize = tensors
            .values()
            .map(|t| t.elem_count() * t.dtype().size_in_bytes())
            .sum();
        assert!(
            bytes <= data.len(),
            "{bytes} tensor bytes from a {}-byte file",
            data.len()
        );
    }
    let index = weights::parse_index(data, Path::new("fuzz"));
    if let Ok(files) = &index {
        for file in files {
            assert!(
                Path::new(file).file_name() == Some(file.as_ref()),
                "{file:?} leaves the folder"
            );
            assert!(file.ends_with(".safetensors") && !file.contains(['/', '\\']));
        }
    }
    tensors.is_ok() || index.is_ok()
}

/// `tokenizer.json` and `tokenizer_config.json` (the input's bytes before and after its first
/// NUL; no NUL: no config): no panic while parsing, encoding, decoding or rendering the chat
/// template.
pub fn parse_tokenizer(data: &[u8]) -> bool {
    let (tokenizer, config) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    };
    let Ok(chat) = ChatTokenizer::from_bytes(tokenizer, config, Path::new("fuzz")) else {
        return false;
    };
    if let Ok(ids) = chat.encode_text("The holdout: 42 + 1 = 43.") {
        let _ = chat.decode(&ids);
    }
    let _ = chat.render(&[("user", "What is 2 + 2?"), ("assistant", "4")], true);
    true
}

/// Contributions and holdout files (JSON Lines): no panic; every example read has a prompt and
/// an answer, and a contribution names its contributor.
pub fn parse_data(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let mut accepted = false;
    for kind in [Kind::Contributions, Kind::Holdout] {
        if let Ok(examples) = data::parse(text, "fuzz", kind) {
            assert!(!examples.is_empty());
            for e in &examples {
                assert!(!e.prompt.is_empty() && !e.answer.is_empty());
                if kind == Kind::Contributions {
                    assert!(!e.contributor.trim().is_empty());
                }
            }
            accepted = true;
        }
    }
    accepted
}
