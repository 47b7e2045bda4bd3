//! The pinned recipe of a Forge: `train()` and `eval()` of the attribution rules.
//!
//! A LoRA (or QLoRA) fine-tune of a Qwen2-architecture model and a perplexity eval on the
//! holdout, in candle on the CPU (a `cuda` feature builds candle with CUDA), bitwise
//! deterministic: the same recipe and data give the same adapter weights and the same eval
//! numbers on every run, in every process, with any number of threads (see [`threads`]).

#![forbid(unsafe_code)]

pub mod adapter;
pub mod config;
pub mod cpu;
pub mod data;
mod error;
pub mod eval;
pub mod files;
#[cfg(feature = "testing")]
pub mod fixture;
pub mod fused;
pub mod limits;
pub mod lora;
pub mod model;
pub mod ops;
pub mod pinned;
pub mod recipe;
pub mod rng;
pub mod source;
pub mod threads;
pub mod tokenizer;
pub mod train;
pub mod weights;

pub use error::Error;
