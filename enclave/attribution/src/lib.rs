//! Leave-one-out attribution, as the Forge's attribution rules define it.
//!
//! - [`shares`]: scores to integer basis points, data and compute pools, remainder rule;
//! - [`merkle`]: `data_root`, the contribution set's OpenZeppelin-compatible Merkle root and proofs.
//!
//! `score(c_i) = eval(train(C)) − eval(train(C \ c_i))`, oriented so that positive means the
//! contribution helped; see `docs/attribution.md`.

#![forbid(unsafe_code)]

pub mod engine;
mod error;
pub mod merkle;
#[cfg(feature = "recipe")]
pub mod recipe_trial;
pub mod shares;
pub mod stratified;

pub use error::Error;
