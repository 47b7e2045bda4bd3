//! The stratified approximation against exact leave-one-out on generated data sets: rank
//! correlation and the largest share error, the figures `docs/attribution.md` reports.

use assay_attribution::engine::leave_one_out;
use assay_attribution::engine::scores;
use assay_attribution::recipe_trial::{RecipeTrial, group};
use assay_attribution::stratified::attribute;
use assay_forge::shares::apportion;
use assay_recipe::data::Example;
use assay_recipe::fixture::{reverse_task, tiny_config, write_model};
use assay_recipe::threads::Threads;

/// `n` contributions of 1–4 examples each: good (the holdout's task), useless (another task) or
/// harmful (wrong answers), mixed by `seed`.
fn dataset(n: usize, seed: u64) -> Vec<Example> {
    let mut s = seed;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) as usize
    };
    let mut out = Vec::new();
    for c in 0..n {
        let who = format!("c{c:03}");
        let size = 1 + next() % 4;
        let kind = next() % 3;
        for e in reverse_task(size, &[&who], (next() % 16) as u64) {
            out.push(match kind {
                0 => e,
                1 => Example {
                    answer: format!("{} items", e.prompt.len()),
                    prompt: format!("count {}", e.prompt),
                    ..e
                },
                _ => Example {
                    answer: e.prompt.trim_start_matches("reverse ").to_owned(),
                    ..e
                },
            });
        }
    }
    out
}

fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let rank = |v: &[f64]| {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
        let mut r = vec![0.0; v.len()];
        for (k, &i) in idx.iter().enumerate() {
            r[i] = k as f64;
        }
        r
    };
    let (ra, rb) = (rank(a), rank(b));
    let n = a.len() as f64;
    let d2: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - y).powi(2)).sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

/// Largest difference of the basis points two score vectors give.
fn max_share_error(a: &[f64], b: &[f64]) -> u32 {
    let (x, y) = (apportion(a, 10_000), apportion(b, 10_000));
    x.iter().zip(&y).map(|(p, q)| p.abs_diff(*q)).max().unwrap()
}

#[test]
fn stratified_error_against_exact_loo_on_three_data_sets() {
    let dir = tempfile::tempdir().unwrap();
    let mut recipe = write_model(dir.path(), &tiny_config(), 5).unwrap();
    recipe.training.epochs = 1;
    recipe.optimizer.lr = 2e-2;
    let mut report = Vec::new();
    for seed in [1u64, 2, 3] {
        let examples = dataset(24, seed);
        let trial = RecipeTrial {
            recipe: recipe.clone(),
            model: dir.path().into(),
            contributions: group(&examples),
            holdout: reverse_task(8, &["h"], 11),
            threads: Threads::per_worker(2),
        };
        let (sizes, keys) = trial.sizes_and_keys();
        let exact = scores(&leave_one_out(&trial, 2, None, &|_| {}).unwrap(), true);
        let approx = attribute(&trial, &sizes, &keys, 6, true, 2, None, &|_| {}).unwrap();
        assert_eq!(approx.groups.map(|g| g.get()), Some(6));
        assert_eq!(approx.method(), assay_forge::result::Method::StratifiedLoo);
        // Exact LOO's own variation: the same computation with another training seed.
        let mut reseeded = RecipeTrial {
            recipe: recipe.clone(),
            ..trial
        };
        reseeded.recipe.training.seed += 1;
        let exact2 = scores(&leave_one_out(&reseeded, 2, None, &|_| {}).unwrap(), true);

        let rho = spearman(&exact, &approx.scores);
        let max_err = max_share_error(&exact, &approx.scores);
        let rho_seed = spearman(&exact, &exact2);
        let max_err_seed = max_share_error(&exact, &exact2);
        let sign_agree = exact
            .iter()
            .zip(&approx.scores)
            .filter(|(x, y)| (**x > 0.0) == (**y > 0.0))
            .count();
        eprintln!(
            "data set {seed}: approximation vs exact: spearman {rho:.3}, max share error {max_err} bps, sign agreement {sign_agree}/24; \
             exact vs exact with training seed + 1: spearman {rho_seed:.3}, max share error {max_err_seed} bps"
        );
        report.push((rho, max_err, rho_seed, max_err_seed));
    }
    // The claim of docs/attribution.md: on each data set the approximation (8 trainings) is closer
    // to exact LOO (25 trainings) than exact LOO is to itself under another training seed, in rank
    // correlation and in the largest share error. The runs are deterministic, so this fails if the
    // approximation gets worse.
    for (rho, max_err, rho_seed, max_err_seed) in &report {
        assert!(rho > rho_seed, "spearman {rho} vs seed noise {rho_seed}");
        assert!(
            max_err < max_err_seed,
            "max share error {max_err} vs seed noise {max_err_seed}"
        );
    }
}
