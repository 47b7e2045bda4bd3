//! Attribution inside the enclave, in two steps: [`prepare`] checks and loads everything that
//! needs no holdout (the pinned model, the contributions, their `data_root`), before the
//! holdout key is asked for, so that a bad input costs no key release and is reported in full;
//! [`Prepared::evaluate`] then runs exact LOO (or the stratified approximation above the
//! threshold) on the holdout and builds the EvalResult, with shares computed by the Forge's
//! rules from the exact fixed-point scores that are signed.

use std::sync::Mutex;

use alloy_primitives::{Address, B256};
use assay_attribution::engine::{FirstOrder, Journal, JournalUse, Run, Trial};
use assay_attribution::recipe_trial::{Contribution, RecipeTrial, group};
use assay_attribution::stratified::{Attribution, attribute};
use assay_forge::merkle::data_root;
use assay_forge::result::{
    BaselineMetric, ComputeEntry, Direction, EvalResult, JobCommitment, ScoreEntry, Wad,
};
use assay_recipe::adapter::AdapterFiles;
use assay_recipe::data::Example;
use assay_recipe::pinned::{Pinned, load_pinned_from};
use assay_recipe::recipe::Recipe;
use assay_recipe::source::ModelSource;
use assay_recipe::threads::Threads;

use crate::Error;

/// What the attribution needs besides the data.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The pinned recipe.
    pub recipe: Recipe,
    /// The model folder the recipe pins (on disk, or received into memory).
    pub model: ModelSource,
    /// Trainings in parallel.
    pub workers: usize,
    /// Threads for each training (shards and eval batches).
    pub threads: Threads,
    /// Above this many contributions, the stratified approximation.
    pub threshold: usize,
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
    /// The approved job and its holdout.
    pub job: JobCommitment,
}

fn wad(x: f64, what: &str) -> Result<Wad, Error> {
    Wad::from_f64(x).ok_or_else(|| Error::NotFinite {
        what: what.to_owned(),
        value: x,
    })
}

/// A contribution set as the Forge registers it: contributors (addresses) and their
/// contributions' content hashes, in order of first appearance, and its `data_root`.
#[derive(Clone, Debug)]
pub struct ContributionSet {
    /// The contributions, grouped by contributor.
    pub contributions: Vec<Contribution>,
    /// Their contributors.
    pub addresses: Vec<Address>,
    /// Their content hashes.
    pub content: Vec<B256>,
    /// The Merkle root of (address, content hash).
    pub data_root: B256,
}

impl ContributionSet {
    /// Groups `examples` by contributor; every contributor must be an address.
    pub fn new(examples: &[Example]) -> Result<Self, Error> {
        let contributions = group(examples);
        let addresses = contributions
            .iter()
            .map(|c| {
                c.contributor
                    .parse::<Address>()
                    .map_err(|_| Error::Contributor {
                        value: c.contributor.clone(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let content: Vec<B256> = contributions
            .iter()
            .map(|c| B256::from(c.content_hash()))
            .collect();
        let data_root = data_root(addresses.iter().copied().zip(content.iter().copied()))
            .ok_or(assay_forge::Error::EmptyContributionSet)?;
        Ok(ContributionSet {
            contributions,
            addresses,
            content,
            data_root,
        })
    }
}

/// Everything checked before the holdout key is asked for.
pub struct Prepared {
    settings: Settings,
    set: ContributionSet,
    worker: Pinned,
}

/// Loads the pinned model (checked against the recipe's hashes), groups the contributions and
/// tokenizes them with the model's chat template: every failure that needs no holdout happens
/// here, before any key is released.
pub fn prepare(settings: Settings, contributions: &[Example]) -> Result<Prepared, Error> {
    let set = ContributionSet::new(contributions)?;
    let worker = load_pinned_from(&settings.recipe, &settings.model, &candle_core::Device::Cpu)?;
    assay_recipe::train::tokenize(
        &worker.tokenizer,
        contributions,
        settings.recipe.training.seq_len,
    )?;
    Ok(Prepared {
        settings,
        set,
        worker,
    })
}

/// A trial whose first worker was built in advance (by [`prepare`]), so the model is loaded
/// once for it; it also keeps the adapters trained on every contribution (`train(C)`, what a
/// Forge publishes) from whichever run trains them.
struct Preloaded {
    trial: RecipeTrial,
    first: Mutex<Option<Pinned>>,
    adapter: Mutex<Option<AdapterFiles>>,
}

impl Preloaded {
    /// Keeps `w`'s adapters, just trained on every contribution.
    fn keep_adapter(&self, w: &Pinned) -> Result<(), assay_attribution::Error> {
        let files = assay_recipe::adapter::export(&w.model, &self.trial.recipe)?;
        *self.adapter.lock().expect("not poisoned") = Some(files);
        Ok(())
    }

    /// The adapters trained on every contribution: those a run kept, or (when every such run
    /// was resumed from the journal) trained once more, bit for bit the same.
    fn into_adapter(self) -> Result<AdapterFiles, Error> {
        if let Some(files) = self.adapter.into_inner().expect("not poisoned") {
            return Ok(files);
        }
        let mut w = match self.first.into_inner().expect("not poisoned") {
            Some(w) => w,
            None => self.trial.worker()?,
        };
        self.trial.train_all(&mut w)?;
        Ok(assay_recipe::adapter::export(&w.model, &self.trial.recipe)?)
    }
}

impl Trial for Preloaded {
    type Worker = Pinned;

    fn worker(&self) -> Result<Pinned, assay_attribution::Error> {
        match self.first.lock().expect("not poisoned").take() {
            Some(w) => Ok(w),
            None => self.trial.worker(),
        }
    }

    fn metric(&self, w: &mut Pinned, excluded: &[usize]) -> Result<f64, assay_attribution::Error> {
        self.trial.metric(w, excluded)
    }

    fn measure(&self, w: &mut Pinned, excluded: &[usize]) -> Result<Run, assay_attribution::Error> {
        let run = self.trial.measure(w, excluded)?;
        if excluded.is_empty() {
            self.keep_adapter(w)?;
        }
        Ok(run)
    }

    fn contributions(&self) -> usize {
        self.trial.contributions()
    }
}

impl FirstOrder for Preloaded {
    fn first_order(&self, w: &mut Pinned) -> Result<Vec<f64>, assay_attribution::Error> {
        // `first_order` trains on every contribution first; the adapters it leaves are
        // `train(C)`'s whatever gradients it then takes.
        let estimate = self.trial.first_order(w)?;
        self.keep_adapter(w)?;
        Ok(estimate)
    }
}

impl Prepared {
    /// The contribution set's `data_root`.
    pub fn data_root(&self) -> B256 {
        self.set.data_root
    }

    /// Runs the attribution on `holdout` and builds the (unsigned) result; also says how the
    /// journal served the trainings, and gives the adapters trained on every contribution.
    pub fn evaluate(
        self,
        holdout: Vec<Example>,
        binding: Binding,
        journal: Option<&dyn Journal>,
        progress: assay_attribution::engine::Progress<'_>,
    ) -> Result<Evaluated, Error> {
        let Prepared {
            settings,
            set,
            worker,
        } = self;
        let trial = Preloaded {
            trial: RecipeTrial {
                recipe: settings.recipe.clone(),
                model: settings.model.clone(),
                contributions: set.contributions.clone(),
                holdout,
                threads: settings.threads,
            },
            first: Mutex::new(Some(worker)),
            adapter: Mutex::new(None),
        };
        let (sizes, keys) = trial.trial.sizes_and_keys();
        let lower = trial.trial.lower_is_better();
        let attributed = attribute(
            &trial,
            &sizes,
            &keys,
            settings.threshold,
            lower,
            settings.workers,
            journal,
            progress,
        )?;
        let result = result(&settings, &set, &attributed, lower, binding)?;
        Ok(Evaluated {
            result,
            journal: attributed.journal,
            adapter: trial.into_adapter()?,
        })
    }
}

/// What [`Prepared::evaluate`] gives.
#[derive(Debug)]
pub struct Evaluated {
    /// The (unsigned) result.
    pub result: EvalResult,
    /// How the journal served the trainings.
    pub journal: JournalUse,
    /// The adapters trained on every contribution, as a PEFT folder's files.
    pub adapter: AdapterFiles,
}

/// The EvalResult of an attribution.
fn result(
    settings: &Settings,
    set: &ContributionSet,
    attributed: &Attribution,
    lower: bool,
    binding: Binding,
) -> Result<EvalResult, Error> {
    let scores = attributed
        .scores
        .iter()
        .zip(&set.addresses)
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
        data_root: set.data_root,
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
        scores: set
            .addresses
            .iter()
            .zip(&set.content)
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
        job: Some(binding.job),
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
