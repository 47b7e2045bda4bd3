//! Tiny models built in code, saved in exactly a Hugging Face model's layout, with a recipe
//! pinned to them: what tests, benchmarks and demos run where no real weights can be downloaded.

use std::path::Path;

use crate::Error;
use crate::config::ModelConfig;
use crate::data::Example;
use crate::pinned::template_hash;
use crate::recipe::{
    Decay, Direction, Eval, FORMAT, LoraSection, Metric, ModelSpec, Optimizer, Recipe, Schedule,
    Training,
};
use crate::tokenizer::{CHATML, byte_level_tokenizer_json};
use crate::weights::{BaseFormat, file_hash, random_tensors, save, weights_hash};

/// A tiny Qwen2 configuration (hidden 128, intermediate 384, 2 layers, 4 query / 2 KV heads,
/// vocab 512): the tiny configuration of the performance targets.
pub fn tiny_config() -> ModelConfig {
    ModelConfig {
        vocab_size: 512,
        hidden_size: 128,
        intermediate_size: 384,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        max_position_embeddings: 512,
        rope_theta: 10_000.0,
        rms_norm_eps: 1e-6,
        tie_word_embeddings: true,
        hidden_act: "silu".into(),
    }
}

/// Writes a random model with `config` (weights from `seed`), the byte-level tokenizer and a
/// ChatML chat template into `dir`, and returns a recipe pinned to it.
pub fn write_model(dir: &Path, config: &ModelConfig, seed: u64) -> Result<Recipe, Error> {
    save(dir, config, &random_tensors(config, seed)?)?;
    let io = |path: &Path, source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let tok = dir.join("tokenizer.json");
    std::fs::write(&tok, byte_level_tokenizer_json()).map_err(|e| io(&tok, e))?;
    let cfg = dir.join("tokenizer_config.json");
    let config_json = serde_json::json!({"chat_template": CHATML, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"});
    std::fs::write(
        &cfg,
        serde_json::to_string_pretty(&config_json).expect("json"),
    )
    .map_err(|e| io(&cfg, e))?;
    Ok(Recipe {
        format: FORMAT.into(),
        model: ModelSpec {
            name: "tiny-qwen2 (random, built in code)".into(),
            weights_sha256: weights_hash(dir)?,
            tokenizer_sha256: file_hash(&tok)?,
            chat_template_sha256: template_hash(CHATML),
            base: BaseFormat::F32,
            config: config.clone(),
        },
        lora: LoraSection {
            rank: 4,
            alpha: 8.0,
            dropout: 0.0,
            targets: vec![
                "q_proj".into(),
                "k_proj".into(),
                "v_proj".into(),
                "o_proj".into(),
            ],
        },
        optimizer: Optimizer {
            lr: 1e-2,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        },
        schedule: Schedule {
            warmup_steps: 2,
            decay: Decay::Linear,
        },
        training: Training {
            epochs: 2,
            batch_size: 4,
            grad_accum: 1,
            shards: 2,
            seq_len: 96,
            seed: 7,
        },
        eval: Eval {
            metric: Metric::Perplexity,
            direction: Direction::LowerIsBetter,
            batch_size: 4,
        },
    })
}

/// `n` examples of a learnable task (answer: the prompt's word reversed and upper-cased),
/// attributed round-robin to `contributors`.
pub fn reverse_task(n: usize, contributors: &[&str], salt: u64) -> Vec<Example> {
    const WORDS: [&str; 16] = [
        "alpha", "bravo", "cargo", "delta", "eagle", "fable", "gamma", "hotel", "index", "joker",
        "karma", "lemon", "mango", "nylon", "opera", "pixel",
    ];
    (0..n)
        .map(|i| {
            let a = WORDS[(i + salt as usize) % WORDS.len()];
            let b = WORDS[(i * 7 + 3 + salt as usize) % WORDS.len()];
            let word = format!("{a}{b}");
            Example {
                contributor: contributors[i % contributors.len()].to_owned(),
                prompt: format!("reverse {word}"),
                answer: word.chars().rev().collect::<String>().to_uppercase(),
            }
        })
        .collect()
}

/// For benches: replaces the process with itself running candle single-threaded, as the
/// binaries do (`crate::threads::candle_single_threaded_command`), so that figures are taken as
/// the enclave runs; returns when the variable is already set.
pub fn bench_with_candle_single_threaded() {
    use std::os::unix::process::CommandExt;
    if let Some(mut cmd) =
        crate::threads::candle_single_threaded_command().expect("the bench's own path is readable")
    {
        panic!(
            "cannot run the bench again with candle single-threaded: {}",
            cmd.exec()
        );
    }
}
