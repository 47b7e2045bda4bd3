//! Attribution inside the enclave: the pinned recipe, exact LOO (or the stratified approximation
//! above the threshold), and the EvalResult with shares computed by the Forge's rules from the
//! exact fixed-point scores that are signed.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256};
use assay_attestation::bundle::result::{
    BaselineMetric, ComputeEntry, Direction, EvalResult, Method, ScoreEntry, Wad, data_root,
};
use assay_attribution::recipe_trial::{RecipeTrial, group};
use assay_attribution::shares::{ComputeProvider, allocate};
use assay_attribution::stratified::{self, attribute};
use assay_recipe::data::Example;
use assay_recipe::recipe::Recipe;
use assay_recipe::threads::Threads;

use crate::Error;

/// What the attribution needs besides the data.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The pinned recipe.
    pub recipe: Recipe,
    /// The model directory the recipe pins.
    pub model: PathBuf,
    /// Trainings in parallel.
    pub workers: usize,
    /// Threads for each training (shards and eval batches).
    pub threads: Threads,
    /// Above this many contributions, the stratified approximation.
    pub threshold: usize,
    /// Journal folder for resumption.
    pub journal: Option<PathBuf>,
    /// Basis points for compute providers.
    pub compute_bps: u16,
    /// Compute providers and their units.
    pub providers: Vec<(Address, u64)>,
}

/// The identifiers the result is bound to.
#[derive(Clone, Copy, Debug)]
pub struct Binding {
    /// The Forge.
    pub forge_id: B256,
    /// The Forge's nonce.
    pub nonce: B256,
    /// The launch measurement (48 zeros without a TEE).
    pub measurement: [u8; 48],
    /// Whether it runs in a TEE.
    pub tee: bool,
}

fn wad(x: f64, what: &str) -> Result<Wad, Error> {
    Wad::from_f64(x)
        .ok_or_else(|| Error::Attribution(format!("{what} is {x}, not a finite number")))
}

/// Runs the attribution and builds the (unsigned) result.
pub fn evaluate(
    settings: &Settings,
    contributions: &[Example],
    holdout: Vec<Example>,
    binding: Binding,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<EvalResult, Error> {
    let grouped = group(contributions);
    let addresses = grouped
        .iter()
        .map(|c| {
            c.contributor.parse::<Address>().map_err(|_| {
                Error::Attribution(format!(
                    "contributor {:?} is not an Ethereum address (0x followed by 40 hex digits)",
                    c.contributor
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let content: Vec<B256> = grouped
        .iter()
        .map(|c| B256::from(c.content_hash()))
        .collect();
    let data_root =
        data_root(addresses.iter().copied().zip(content.iter().copied())).ok_or_else(|| {
            Error::Attribution(assay_attribution::Error::EmptyContributionSet.to_string())
        })?;
    let trial = RecipeTrial {
        recipe: settings.recipe.clone(),
        model_dir: settings.model.clone(),
        contributions: grouped,
        holdout,
        threads: settings.threads,
    };
    let (sizes, keys) = trial.sizes_and_keys();
    let lower = trial.lower_is_better();
    let result = attribute(
        &trial,
        &sizes,
        &keys,
        settings.threshold,
        lower,
        settings.workers,
        settings.journal.as_deref(),
        progress,
    )
    .map_err(|e| Error::Attribution(e.to_string()))?;
    let scores = result
        .scores
        .iter()
        .zip(&addresses)
        .map(|(s, a)| wad(*s, &format!("score of {a}")))
        .collect::<Result<Vec<_>, _>>()?;
    let named: Vec<(String, f64)> = addresses
        .iter()
        .zip(&scores)
        .map(|(a, s)| (a.to_string(), s.to_f64()))
        .collect();
    let providers: Vec<ComputeProvider> = settings
        .providers
        .iter()
        .map(|(a, units)| ComputeProvider {
            provider: a.to_string(),
            units: *units,
        })
        .collect();
    let alloc = allocate(&named, u32::from(settings.compute_bps), &providers)
        .map_err(|e| Error::Attribution(e.to_string()))?;
    let recipe_hash: B256 = settings
        .recipe
        .hash()
        .parse()
        .map_err(|_| Error::Attribution("the recipe hash is not 32 bytes of hex".into()))?;
    let bps = |v: u32| u16::try_from(v).expect("shares never exceed 10000");
    Ok(EvalResult {
        forge_id: binding.forge_id,
        code_hash: assay_attestation::bundle::binding::code_hash(&binding.measurement, recipe_hash),
        recipe_hash,
        data_root,
        nonce: binding.nonce,
        tee: binding.tee,
        method: match result.method {
            stratified::Method::ExactLoo => Method::ExactLoo,
            stratified::Method::StratifiedLoo { .. } => Method::StratifiedLoo,
        },
        groups: match result.method {
            stratified::Method::ExactLoo => 0,
            stratified::Method::StratifiedLoo { groups } => groups as u32,
        },
        baseline_metric: BaselineMetric {
            name: "perplexity".into(),
            direction: if lower {
                Direction::LowerIsBetter
            } else {
                Direction::HigherIsBetter
            },
            value: wad(result.baseline, "the baseline perplexity")?,
        },
        scores: alloc
            .data
            .iter()
            .zip(addresses.iter().zip(&content).zip(&scores))
            .map(|(d, ((a, c), s))| ScoreEntry {
                contributor: *a,
                content_hash: *c,
                score: *s,
                shares: bps(d.shares),
            })
            .collect(),
        compute_bps: settings.compute_bps,
        compute: alloc
            .compute
            .iter()
            .zip(&settings.providers)
            .map(|(c, (a, _))| ComputeEntry {
                provider: *a,
                units: c.units,
                shares: bps(c.shares),
            })
            .collect(),
        unallocated_bps: bps(alloc.unallocated_bps),
    })
}

/// Parses the decrypted holdout. Its errors name the line only: the reason a JSON parser gives
/// can quote the line's text, and the holdout's plaintext never leaves the enclave.
pub fn parse_holdout(text: &str) -> Result<Vec<Example>, Error> {
    use assay_recipe::data::{Kind, parse};
    parse(text, "holdout", Kind::Holdout).map_err(|e| match e {
        assay_recipe::Error::Data { line, .. } => Error::Holdout(format!(
            "line {line} of the decrypted holdout is not a valid prompt/answer record"
        )),
        _ => Error::Holdout("the decrypted holdout holds no examples".into()),
    })
}

/// Reads contributions (JSON Lines with `contributor` addresses).
pub fn load_contributions(path: &Path) -> Result<Vec<Example>, Error> {
    assay_recipe::data::load(path, assay_recipe::data::Kind::Contributions)
        .map_err(|e| Error::Attribution(e.to_string()))
}
