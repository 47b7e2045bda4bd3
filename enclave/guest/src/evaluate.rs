//! Attribution inside the enclave: the pinned recipe, exact LOO (or the stratified approximation
//! above the threshold), and the EvalResult with shares computed by the Forge's rules from the
//! exact fixed-point scores that are signed.

use std::path::PathBuf;

use alloy_primitives::{Address, B256};
use assay_attribution::recipe_trial::{RecipeTrial, group};
use assay_attribution::stratified::attribute;
use assay_forge::merkle::data_root;
use assay_forge::result::{BaselineMetric, ComputeEntry, Direction, EvalResult, ScoreEntry, Wad};
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
    Wad::from_f64(x).ok_or_else(|| Error::NotFinite {
        what: what.to_owned(),
        value: x,
    })
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
            c.contributor
                .parse::<Address>()
                .map_err(|_| Error::Contributor {
                    value: c.contributor.clone(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let content: Vec<B256> = grouped
        .iter()
        .map(|c| B256::from(c.content_hash()))
        .collect();
    let data_root = data_root(addresses.iter().copied().zip(content.iter().copied()))
        .ok_or(assay_forge::Error::EmptyContributionSet)?;
    let trial = RecipeTrial {
        recipe: settings.recipe.clone(),
        model_dir: settings.model.clone(),
        contributions: grouped,
        holdout,
        threads: settings.threads,
    };
    let (sizes, keys) = trial.sizes_and_keys();
    let lower = trial.lower_is_better();
    let attributed = attribute(
        &trial,
        &sizes,
        &keys,
        settings.threshold,
        lower,
        settings.workers,
        settings.journal.as_deref(),
        progress,
    )?;
    let scores = attributed
        .scores
        .iter()
        .zip(&addresses)
        .map(|(s, a)| wad(*s, &format!("score of {a}")))
        .collect::<Result<Vec<_>, _>>()?;
    let recipe_hash: B256 = settings
        .recipe
        .hash()
        .parse()
        .expect("a recipe hash is 64 hex digits");
    let mut result = EvalResult {
        forge_id: binding.forge_id,
        code_hash: assay_forge::binding::code_hash(&binding.measurement, recipe_hash),
        recipe_hash,
        data_root,
        nonce: binding.nonce,
        tee: binding.tee,
        method: attributed.method(),
        groups: attributed.groups.map_or(0, |g| g.get() as u32),
        baseline_metric: BaselineMetric {
            name: "perplexity".into(),
            direction: if lower {
                Direction::LowerIsBetter
            } else {
                Direction::HigherIsBetter
            },
            value: wad(attributed.baseline, "the baseline perplexity")?,
        },
        scores: addresses
            .iter()
            .zip(&content)
            .zip(&scores)
            .map(|((a, c), s)| ScoreEntry {
                contributor: *a,
                content_hash: *c,
                score: *s,
                shares: 0,
            })
            .collect(),
        compute_bps: settings.compute_bps,
        compute: settings
            .providers
            .iter()
            .map(|(a, units)| ComputeEntry {
                provider: *a,
                units: *units,
                shares: 0,
            })
            .collect(),
        unallocated_bps: 0,
    };
    result.assign_shares()?;
    Ok(result)
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

/// Parses contributions (JSON Lines with `contributor` addresses); `origin` names them in errors.
pub fn parse_contributions(text: &str, origin: &str) -> Result<Vec<Example>, Error> {
    Ok(assay_recipe::data::parse(
        text,
        origin,
        assay_recipe::data::Kind::Contributions,
    )?)
}
