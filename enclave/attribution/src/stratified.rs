//! Attribution for large contribution sets: exact leave-one-out up to a threshold of
//! contributions (default 200), a stratified approximation beyond it.
//!
//! Stratification rule: contributions are sorted by size (number of examples, descending), ties
//! by content hash, and dealt round-robin into `G` groups, so every group holds a slice of every
//! size stratum. The G+1 trainings are "all" and "all but group g"; a group's score is split among
//! its members in proportion to their sizes. The error of this approximation against exact LOO is
//! measured in `tests/stratified.rs` and documented in `docs/attribution.md`.

use std::path::Path;

use serde::Serialize;

use crate::Error;
use crate::engine::{LooMetrics, Progress, Trial, leave_one_out, run_subsets, scores};

/// How a score vector was computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum Method {
    /// One training per contribution left out.
    ExactLoo,
    /// One training per group left out.
    StratifiedLoo {
        /// Number of groups.
        groups: usize,
    },
}

/// A score vector and how it was made.
#[derive(Clone, Debug, PartialEq)]
pub struct Attribution {
    /// The method.
    pub method: Method,
    /// Metric with every contribution.
    pub baseline: f64,
    /// Scores, oriented: positive means the contribution helped.
    pub scores: Vec<f64>,
    /// Trainings taken from the journal.
    pub resumed: usize,
}

/// The groups of the stratification rule (see the module documentation).
pub fn strata(sizes: &[usize], keys: &[[u8; 32]], groups: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(keys[a].cmp(&keys[b])));
    let g = groups.clamp(1, sizes.len().max(1));
    let mut out = vec![Vec::new(); g];
    for (k, i) in order.into_iter().enumerate() {
        out[k % g].push(i);
    }
    for group in &mut out {
        group.sort_unstable();
    }
    out
}

/// Scores every contribution: exact LOO when there are at most `threshold`, else stratified LOO
/// with `threshold` groups. `sizes` and `keys` (content hashes) drive the stratification.
#[allow(clippy::too_many_arguments)]
pub fn attribute<T: Trial>(
    trial: &T,
    sizes: &[usize],
    keys: &[[u8; 32]],
    threshold: usize,
    lower_is_better: bool,
    workers: usize,
    journal: Option<&Path>,
    progress: Progress<'_>,
) -> Result<Attribution, Error> {
    let n = trial.contributions();
    if n <= threshold.max(1) {
        let m = leave_one_out(trial, workers, journal, progress)?;
        return Ok(Attribution {
            method: Method::ExactLoo,
            baseline: m.baseline,
            scores: scores(&m, lower_is_better),
            resumed: m.resumed,
        });
    }
    let groups = strata(sizes, keys, threshold);
    let subsets: Vec<Vec<usize>> = std::iter::once(vec![])
        .chain(groups.iter().cloned())
        .collect();
    let (r, resumed) = run_subsets(trial, &subsets, workers, journal, progress)?;
    let group_scores = scores(
        &LooMetrics {
            baseline: r[0],
            without: r[1..].to_vec(),
            resumed,
        },
        lower_is_better,
    );
    let mut out = vec![0.0; n];
    for (group, score) in groups.iter().zip(group_scores) {
        let total: usize = group.iter().map(|&i| sizes[i]).sum();
        for &i in group {
            out[i] = score * sizes[i] as f64 / total.max(1) as f64;
        }
    }
    Ok(Attribution {
        method: Method::StratifiedLoo {
            groups: groups.len(),
        },
        baseline: r[0],
        scores: out,
        resumed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strata_deal_sizes_round_robin() {
        let sizes = [5, 1, 3, 3, 8, 2];
        let keys: Vec<[u8; 32]> = (0..6u8).map(|i| [i; 32]).collect();
        // By size: 4(8), 0(5), 2(3), 3(3), 5(2), 1(1) → groups of a round robin over 3.
        assert_eq!(
            strata(&sizes, &keys, 3),
            vec![vec![3, 4], vec![0, 5], vec![1, 2]]
        );
        assert_eq!(strata(&sizes, &keys, 10).len(), 6);
        assert_eq!(strata(&sizes, &keys, 0), vec![vec![0, 1, 2, 3, 4, 5]]);
    }
}
