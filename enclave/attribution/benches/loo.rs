//! Leave-one-out wall time with k workers against (n+1)·T/k, T being one training + eval, on the
//! tiny model (3 contributions of 8 examples, 1 epoch). Run as `assay attribute` runs: candle
//! single-threaded, each of k workers training on its share of the CPUs.
#![allow(missing_docs)]

use std::hint::black_box;

use assay_attribution::engine::{Trial, leave_one_out};
use assay_attribution::recipe_trial::{RecipeTrial, group};
use assay_recipe::fixture::{reverse_task, tiny_config, write_model};
use assay_recipe::threads::Threads;
use criterion::{Criterion, criterion_group};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut recipe = write_model(dir.path(), &tiny_config(), 1).unwrap();
    recipe.training.epochs = 1;
    let trial = RecipeTrial {
        recipe,
        model: dir.path().into(),
        contributions: group(&reverse_task(24, &["a", "b", "c"], 0)),
        holdout: reverse_task(8, &["h"], 1),
        threads: Threads::ONE,
    };
    let mut worker = trial.worker().unwrap();
    let mut g = c.benchmark_group("loo");
    g.sample_size(10);
    g.bench_function("one_training_T", |b| {
        b.iter(|| black_box(trial.metric(&mut worker, &[]).unwrap()))
    });
    for k in [1, 2] {
        let trial = RecipeTrial {
            recipe: trial.recipe.clone(),
            model: trial.model.clone(),
            contributions: trial.contributions.clone(),
            holdout: trial.holdout.clone(),
            threads: Threads::per_worker(k),
        };
        g.bench_function(format!("n3_workers{k}"), |b| {
            b.iter(|| black_box(leave_one_out(&trial, k, None, &|_| {}).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    assay_recipe::fixture::bench_with_candle_single_threaded();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
