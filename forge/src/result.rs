//! The EvalResult: what the enclave computed for one Forge, in the form it is signed and submitted.

use std::fmt;
use std::str::FromStr;

use alloy_primitives::{Address, B256, FixedBytes};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::shares::{Allocation, ComputeProvider, allocate};

/// A signed fixed-point number with 18 decimals (a "wad"), as Solidity contracts hold fractions:
/// `1.5` is `1500000000000000000`. Written in JSON as an exact decimal string (`"1.5"`,
/// `"-0.000000000000000001"`), never as a float, so the signed bytes and the text agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Wad(pub i128);

/// One wad unit, 10^18.
const WAD: i128 = 1_000_000_000_000_000_000;

impl Wad {
    /// The nearest wad to a finite `f64` (ties away from zero); `None` for NaN, infinities and
    /// values beyond ±1.7e20.
    pub fn from_f64(x: f64) -> Option<Wad> {
        let scaled = (x * 1e18).round();
        (scaled.is_finite() && scaled.abs() < 1.7e38).then_some(Wad(scaled as i128))
    }

    /// The value as an `f64` (the form the share rules are computed in).
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / 1e18
    }
}

impl fmt::Display for Wad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (int, frac) = (abs / WAD as u128, abs % WAD as u128);
        if frac == 0 {
            return write!(f, "{sign}{int}");
        }
        let digits = format!("{frac:018}");
        write!(f, "{sign}{int}.{}", digits.trim_end_matches('0'))
    }
}

impl FromStr for Wad {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not a decimal number with at most 18 fraction digits");
        let (neg, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        if int.is_empty()
            || frac.len() > 18
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || (body.contains('.') && frac.is_empty())
        {
            return Err(bad());
        }
        let int: i128 = int.parse().map_err(|_| bad())?;
        let frac: i128 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<18}").parse().map_err(|_| bad())?
        };
        let v = int
            .checked_mul(WAD)
            .and_then(|v| v.checked_add(frac))
            .ok_or_else(bad)?;
        Ok(Wad(if neg { -v } else { v }))
    }
}

impl Serialize for Wad {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Read strictly: only the canonical text (what [`Wad`]'s `Display` writes: no leading zeros,
/// no trailing fraction zeros, no `-0`, no `+`), so that one number has one spelling in a file.
impl<'de> Deserialize<'de> for Wad {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let w: Wad = s.parse().map_err(serde::de::Error::custom)?;
        if w.to_string() != s {
            return Err(serde::de::Error::custom(format!(
                "{s:?} is not canonical: write {w}"
            )));
        }
        Ok(w)
    }
}

/// How the scores were computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Exact leave-one-out: n + 1 trainings.
    ExactLoo,
    /// The stratified approximation (more contributions than the threshold).
    StratifiedLoo,
}

impl Method {
    /// Its code in the signed struct: 0 exact, 1 stratified.
    pub fn code(self) -> u8 {
        match self {
            Method::ExactLoo => 0,
            Method::StratifiedLoo => 1,
        }
    }
}

/// Whether a smaller metric is better (perplexity) or a larger one (accuracy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Smaller is better.
    LowerIsBetter,
    /// Larger is better.
    HigherIsBetter,
}

/// The eval metric of the model trained on every contribution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineMetric {
    /// The metric's name, e.g. `perplexity`.
    pub name: String,
    /// Its direction, from the eval spec.
    pub direction: Direction,
    /// Its value.
    pub value: Wad,
}

/// One contribution's score and shares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreEntry {
    /// The contributor's address.
    pub contributor: Address,
    /// The contribution's content hash (its leaf in `data_root`).
    pub content_hash: B256,
    /// `eval(train(C)) − eval(train(C \ c))`, oriented so that positive helped.
    pub score: Wad,
    /// Basis points of the Forge's Ingots.
    pub shares: u16,
}

/// One compute provider's shares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComputeEntry {
    /// The provider's address.
    pub provider: Address,
    /// Compute units it supplied.
    pub units: u64,
    /// Basis points of the Forge's Ingots.
    pub shares: u16,
}

/// What the enclave signs and the Forge contract receives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalResult {
    /// The Forge.
    pub forge_id: B256,
    /// `keccak256(MEASUREMENT ‖ recipe_hash)`: the enclave's code and the recipe it ran (48 zero
    /// bytes of MEASUREMENT without a TEE). See `docs/attestation.md`.
    pub code_hash: B256,
    /// The pinned recipe's canonical hash.
    pub recipe_hash: B256,
    /// Merkle root of the contribution set (`scores` in order), as the ContributionRegistry commits it.
    pub data_root: B256,
    /// The Forge's nonce for this evaluation.
    pub nonce: B256,
    /// Whether it ran in a TEE.
    pub tee: bool,
    /// Exact or stratified.
    pub method: Method,
    /// Groups left out by the stratified method (0 for exact).
    pub groups: u32,
    /// The metric of the model trained on everything.
    pub baseline_metric: BaselineMetric,
    /// Every contribution, in the registry's order.
    pub scores: Vec<ScoreEntry>,
    /// Basis points reserved for compute providers.
    pub compute_bps: u16,
    /// Compute providers.
    pub compute: Vec<ComputeEntry>,
    /// Basis points nobody received (the data pool when no score is positive).
    pub unallocated_bps: u16,
    /// The approved job it ran and the holdout it was scored on (version 2 of the bundle);
    /// absent in version-1 results, which commit to neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobCommitment>,
}

/// What a version-2 result commits to beyond version 1: the job and its holdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobCommitment {
    /// The JobSpec's hash (`docs/jobspec.md`).
    pub job_hash: B256,
    /// The holdout data key's id.
    pub holdout_key_id: FixedBytes<16>,
    /// SHA-256 of the encrypted holdout.
    pub holdout_sha256: B256,
}

impl EvalResult {
    /// The shares the Forge's rules give for these scores and compute units: the one place a
    /// result's shares are derived, by the enclave that signs them and by every verifier.
    pub fn allocation(&self) -> Result<Allocation<Address>, Error> {
        let scores: Vec<(Address, f64)> = self
            .scores
            .iter()
            .map(|s| (s.contributor, s.score.to_f64()))
            .collect();
        let providers: Vec<ComputeProvider<Address>> = self
            .compute
            .iter()
            .map(|c| ComputeProvider {
                provider: c.provider,
                units: c.units,
            })
            .collect();
        allocate(&scores, u32::from(self.compute_bps), &providers)
    }

    /// Sets every `shares` field and `unallocated_bps` from [`EvalResult::allocation`].
    pub fn assign_shares(&mut self) -> Result<(), Error> {
        let alloc = self.allocation()?;
        let bps = |v: u32| u16::try_from(v).expect("shares never exceed 10000");
        for (entry, share) in self.scores.iter_mut().zip(&alloc.data) {
            entry.shares = bps(share.shares);
        }
        for (entry, share) in self.compute.iter_mut().zip(&alloc.compute) {
            entry.shares = bps(share.shares);
        }
        self.unallocated_bps = bps(alloc.unallocated_bps);
        Ok(())
    }
}
