//! Attribution for large contribution sets: exact leave-one-out up to a threshold of
//! contributions (default 200), a stratified approximation beyond it.
//!
//! The approximation, with `G` groups (G = the threshold):
//! 1. a first-order estimate `e_i` of every contribution's effect ([`FirstOrder`]: for the recipe,
//!    holdout-gradient · contribution-gradient at the adapters trained on everything);
//! 2. strata: contributions sorted by `e_i` (descending), ties by content hash, dealt round-robin
//!    into G groups, so every group holds a slice of every stratum;
//! 3. G + 1 trainings, "all" and "all but group g": measured group scores `S_g`;
//! 4. calibration: least squares `S_g ≈ a·Σ_{i∈g} e_i + b·Σ_{i∈g} size_i` (2 unknowns, G
//!    equations), then `score_i = a·e_i + b·size_i`, plus group g's residual
//!    `S_g − Σ_{j∈g} (a·e_j + b·size_j)` split by size — so each group's scores sum exactly to
//!    its measured group score.
//!
//! G + 2 trainings in all (the estimate needs one). Its error against exact LOO, and exact LOO's
//! own variation under a change of training seed, are measured in `tests/stratified.rs` and
//! documented in `docs/attribution.md`.

use std::num::NonZeroUsize;

use assay_forge::result::Method;

use crate::Error;
use crate::engine::{
    FirstOrder, Journal, JournalUse, LooMetrics, Progress, leave_one_out, run_subsets, scores,
};

/// A score vector and how it was made.
#[derive(Clone, Debug, PartialEq)]
pub struct Attribution {
    /// The groups left out, one training each, calibrating a first-order estimate (the
    /// stratified approximation); `None` for exact leave-one-out, one training per contribution.
    pub groups: Option<NonZeroUsize>,
    /// Metric with every contribution.
    pub baseline: f64,
    /// Scores, oriented: positive means the contribution helped.
    pub scores: Vec<f64>,
    /// How the journal served the trainings.
    pub journal: JournalUse,
}

impl Attribution {
    /// The method, as the Forge's EvalResult names it.
    pub fn method(&self) -> Method {
        match self.groups {
            None => Method::ExactLoo,
            Some(_) => Method::StratifiedLoo,
        }
    }
}

/// The groups of the stratification rule (see the module documentation): by `estimate`
/// descending, ties by `keys`, dealt round-robin.
pub fn strata(estimate: &[f64], keys: &[[u8; 32]], groups: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..estimate.len()).collect();
    order.sort_by(|&a, &b| {
        estimate[b]
            .total_cmp(&estimate[a])
            .then(keys[a].cmp(&keys[b]))
    });
    let g = groups.clamp(1, estimate.len().max(1));
    let mut out = vec![Vec::new(); g];
    for (k, i) in order.into_iter().enumerate() {
        out[k % g].push(i);
    }
    for group in &mut out {
        group.sort_unstable();
    }
    out
}

/// Least squares `y ≈ a·x1 + b·x2` by the normal equations; `None` when the columns are
/// (numerically) collinear.
fn fit2(x1: &[f64], x2: &[f64], y: &[f64]) -> Option<(f64, f64)> {
    let dot = |u: &[f64], v: &[f64]| u.iter().zip(v).map(|(p, q)| p * q).sum::<f64>();
    let (s11, s12, s22) = (dot(x1, x1), dot(x1, x2), dot(x2, x2));
    let (t1, t2) = (dot(x1, y), dot(x2, y));
    let det = s11 * s22 - s12 * s12;
    (det.abs() > 1e-12 * (s11 * s22).max(f64::MIN_POSITIVE) && det.is_finite())
        .then(|| ((t1 * s22 - t2 * s12) / det, (s11 * t2 - s12 * t1) / det))
}

/// Per-contribution scores from group scores: the calibrated estimate plus each group's residual
/// split by size (see the module documentation). Without a usable fit, the group score is split
/// by size alone.
pub fn calibrate(
    groups: &[Vec<usize>],
    group_scores: &[f64],
    estimate: &[f64],
    sizes: &[usize],
) -> Vec<f64> {
    let sum = |g: &[usize], f: &dyn Fn(usize) -> f64| g.iter().map(|&i| f(i)).sum::<f64>();
    let x1: Vec<f64> = groups.iter().map(|g| sum(g, &|i| estimate[i])).collect();
    let x2: Vec<f64> = groups
        .iter()
        .map(|g| sum(g, &|i| sizes[i] as f64))
        .collect();
    let (a, b) = fit2(&x1, &x2, group_scores).unwrap_or((0.0, 0.0));
    let mut out = vec![0.0; estimate.len()];
    for (g, s) in groups.iter().zip(group_scores) {
        let fitted = |i: usize| a * estimate[i] + b * sizes[i] as f64;
        let residual = s - sum(g, &fitted);
        let total = sum(g, &|i| sizes[i] as f64).max(1.0);
        for &i in g {
            out[i] = fitted(i) + residual * sizes[i] as f64 / total;
        }
    }
    out
}

/// Scores every contribution: exact LOO when there are at most `threshold`, else the stratified
/// approximation with `threshold` groups. `sizes` (examples) and `keys` (content hashes) enter
/// the calibration and the tie-breaking.
#[allow(clippy::too_many_arguments)]
pub fn attribute<T: FirstOrder>(
    trial: &T,
    sizes: &[usize],
    keys: &[[u8; 32]],
    threshold: usize,
    lower_is_better: bool,
    workers: usize,
    journal: Option<&dyn Journal>,
    progress: Progress<'_>,
) -> Result<Attribution, Error> {
    let n = trial.contributions();
    if n <= threshold.max(1) {
        let m = leave_one_out(trial, workers, journal, progress)?;
        return Ok(Attribution {
            groups: None,
            baseline: m.baseline,
            scores: scores(&m, lower_is_better),
            journal: m.journal,
        });
    }
    let estimate = trial.first_order(&mut trial.worker()?)?;
    let groups = strata(&estimate, keys, threshold);
    let subsets: Vec<Vec<usize>> = std::iter::once(vec![])
        .chain(groups.iter().cloned())
        .collect();
    let (r, used) = run_subsets(trial, &subsets, workers, journal, progress)?;
    let group_scores = scores(
        &LooMetrics {
            baseline: r[0],
            without: r[1..].to_vec(),
            journal: used,
        },
        lower_is_better,
    );
    let out = calibrate(&groups, &group_scores, &estimate, sizes);
    Ok(Attribution {
        groups: NonZeroUsize::new(groups.len()),
        baseline: r[0],
        scores: out,
        journal: used,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strata_deal_estimates_round_robin() {
        let estimate = [5.0, 1.0, 3.0, 3.0, 8.0, 2.0];
        let keys: Vec<[u8; 32]> = (0..6u8).map(|i| [i; 32]).collect();
        // By estimate: 4(8), 0(5), 2(3), 3(3), 5(2), 1(1) → groups of a round robin over 3.
        assert_eq!(
            strata(&estimate, &keys, 3),
            vec![vec![3, 4], vec![0, 5], vec![1, 2]]
        );
        assert_eq!(strata(&estimate, &keys, 10).len(), 6);
        assert_eq!(strata(&estimate, &keys, 0), vec![vec![0, 1, 2, 3, 4, 5]]);
    }

    #[test]
    fn calibration_recovers_a_linear_truth_and_keeps_group_sums() {
        // Truth: score = 2·estimate − 0.5·size, exactly; the fit must recover it.
        let estimate = [1.0, -2.0, 0.5, 3.0, 0.0, -1.0];
        let sizes = [1, 2, 3, 1, 2, 4];
        let truth: Vec<f64> = (0..6)
            .map(|i| 2.0 * estimate[i] - 0.5 * sizes[i] as f64)
            .collect();
        let groups = vec![vec![0, 1], vec![2, 3], vec![4, 5]];
        let group_scores: Vec<f64> = groups
            .iter()
            .map(|g| g.iter().map(|&i| truth[i]).sum())
            .collect();
        let got = calibrate(&groups, &group_scores, &estimate, &sizes);
        for (g, t) in got.iter().zip(&truth) {
            assert!((g - t).abs() < 1e-9, "{got:?} vs {truth:?}");
        }
        // Noisy group scores: each group's scores still sum to its measured score.
        let noisy = [
            group_scores[0] + 1.0,
            group_scores[1] - 2.0,
            group_scores[2],
        ];
        let got = calibrate(&groups, &noisy, &estimate, &sizes);
        for (g, s) in groups.iter().zip(noisy) {
            assert!((g.iter().map(|&i| got[i]).sum::<f64>() - s).abs() < 1e-9);
        }
        // Collinear features (estimate ∝ size): split by size alone.
        let est2: Vec<f64> = sizes.iter().map(|&s| s as f64).collect();
        let got = calibrate(&groups, &noisy, &est2, &sizes);
        assert!(
            (got[0] - noisy[0] / 3.0).abs() < 1e-9 && (got[1] - noisy[0] * 2.0 / 3.0).abs() < 1e-9
        );
    }
}
