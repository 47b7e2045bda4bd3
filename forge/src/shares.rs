//! Shares in basis points (10000 = 100 %).
//!
//! Rules (the Forge's attribution spec):
//! - a pool of `P` bps is split pro rata: `round(w_i / Σ w · P)` for each positive weight `w_i`,
//!   0 for weights ≤ 0 (`round` is half away from zero);
//! - the rounding remainder `P − Σ shares` (positive or negative) goes to the largest holder; ties
//!   go to the earliest in input order. Should the largest holder be too small to absorb a negative
//!   remainder (possible only with hundreds of near-equal weights), the rest goes to the next
//!   largest, and so on;
//! - compute providers get a flat fraction `F` of the 10000 bps, split by compute units with the
//!   same rule; data contributions share the other `10000 − F` by score;
//! - if no contribution scores above 0, the data pool is left unallocated and the result says so.
//!
//! The seed example's scores 0.184, 0.142, 0.071, 0.052 give 4098/3163/1581/1158 by this formula
//! (the seed text printed 4100/3160/1580/1160, which does not follow it); a test keeps both.

use std::fmt::Display;

use serde::Serialize;

use crate::Error;

/// All the basis points there are.
pub const TOTAL_BPS: u32 = 10_000;

/// Splits `pool` bps among `weights` by the rules above. Non-positive weights get 0; if no
/// weight is positive every share is 0 (the pool is not distributed).
pub fn apportion(weights: &[f64], pool: u32) -> Vec<u32> {
    let sum: f64 = weights.iter().filter(|w| **w > 0.0).sum();
    if sum <= 0.0 {
        return vec![0; weights.len()];
    }
    let mut shares: Vec<i64> = weights
        .iter()
        .map(|&w| {
            if w > 0.0 {
                (w / sum * f64::from(pool)).round() as i64
            } else {
                0
            }
        })
        .collect();
    let mut remainder = i64::from(pool) - shares.iter().sum::<i64>();
    // Holders by size, largest first, earliest first among equals.
    let mut order: Vec<usize> = (0..weights.len()).filter(|&i| weights[i] > 0.0).collect();
    order.sort_by(|&a, &b| shares[b].cmp(&shares[a]).then(a.cmp(&b)));
    for &i in &order {
        if remainder == 0 {
            break;
        }
        let take = if remainder > 0 {
            remainder
        } else {
            remainder.max(-shares[i])
        };
        shares[i] += take;
        remainder -= take;
    }
    shares.into_iter().map(|s| s as u32).collect()
}

/// A contribution's score and share; `K` identifies contributors (an address in a Forge, any
/// name in `assay attribute`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DataShare<K> {
    /// The contributor.
    pub contributor: K,
    /// Its leave-one-out score (positive: it helped).
    pub score: f64,
    /// Its share in bps.
    pub shares: u32,
}

/// A compute provider and its units.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ComputeProvider<K> {
    /// The provider.
    pub provider: K,
    /// Compute units it supplied.
    pub units: u64,
}

/// A compute provider's share.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ComputeShare<K> {
    /// The provider.
    pub provider: K,
    /// Its compute units.
    pub units: u64,
    /// Its share in bps.
    pub shares: u32,
}

/// Everybody's shares. `data` + `compute` + `unallocated_bps` sum to exactly 10000.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Allocation<K> {
    /// Data contributions, in input order.
    pub data: Vec<DataShare<K>>,
    /// Compute providers, in input order.
    pub compute: Vec<ComputeShare<K>>,
    /// Bps of the data pool.
    pub data_pool_bps: u32,
    /// Bps of the compute pool.
    pub compute_pool_bps: u32,
    /// `true` when no contribution scored above 0: the data pool is then unallocated.
    pub no_positive_scores: bool,
    /// Bps nobody received (the data pool when no score is positive, else 0).
    pub unallocated_bps: u32,
}

/// Allocates 10000 bps: `compute_bps` to `providers` by units, the rest to contributions by
/// score.
pub fn allocate<K: Clone + Display>(
    scores: &[(K, f64)],
    compute_bps: u32,
    providers: &[ComputeProvider<K>],
) -> Result<Allocation<K>, Error> {
    if compute_bps > TOTAL_BPS {
        return Err(Error::ComputeFraction { bps: compute_bps });
    }
    if let Some((contributor, score)) = scores.iter().find(|(_, s)| !s.is_finite()) {
        return Err(Error::NonFiniteScore {
            contributor: contributor.to_string(),
            score: *score,
        });
    }
    let units: Vec<f64> = providers.iter().map(|p| p.units as f64).collect();
    if compute_bps > 0 && !units.iter().any(|u| *u > 0.0) {
        return Err(Error::NoComputeUnits { bps: compute_bps });
    }
    let data_pool = TOTAL_BPS - compute_bps;
    let weights: Vec<f64> = scores.iter().map(|(_, s)| *s).collect();
    let data_bps = apportion(&weights, data_pool);
    let compute_bps_each = apportion(&units, compute_bps);
    let no_positive_scores = !weights.iter().any(|w| *w > 0.0);
    Ok(Allocation {
        data: scores
            .iter()
            .zip(data_bps)
            .map(|((contributor, score), shares)| DataShare {
                contributor: contributor.clone(),
                score: *score,
                shares,
            })
            .collect(),
        compute: providers
            .iter()
            .zip(compute_bps_each)
            .map(|(p, shares)| ComputeShare {
                provider: p.provider.clone(),
                units: p.units,
                shares,
            })
            .collect(),
        data_pool_bps: data_pool,
        compute_pool_bps: compute_bps,
        no_positive_scores,
        unallocated_bps: if no_positive_scores { data_pool } else { 0 },
    })
}
