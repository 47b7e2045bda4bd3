//! Leave-one-out attribution, as the Forge's attribution rules define it: which trainings to run
//! and how their metrics become scores (shares and `data_root` are the Forge protocol's:
//! `assay_forge::shares`, `assay_forge::merkle`).
//!
//! - [`engine`]: exact leave-one-out, its journal and parallel runs;
//! - [`stratified`]: the approximation above the threshold;
//! - [`recipe_trial`]: trainings and evals through the pinned recipe.
//!
//! `score(c_i) = eval(train(C)) − eval(train(C \ c_i))`, oriented so that positive means the
//! contribution helped; see `docs/attribution.md`.

#![forbid(unsafe_code)]

pub mod engine;
mod error;
pub mod recipe_trial;
pub mod stratified;

pub use error::Error;
