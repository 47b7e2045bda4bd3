//! Shares: the worked example, the remainder rule, and properties over random scores.

use assay_forge::Error;
use assay_forge::shares::{ComputeProvider, TOTAL_BPS, allocate, apportion};
use proptest::prelude::*;

#[test]
fn the_seed_example_follows_the_formula_not_its_printed_numbers() {
    let shares = apportion(&[0.184, 0.142, 0.071, 0.052], TOTAL_BPS);
    assert_eq!(shares, [4098, 3163, 1581, 1158]);
    // The seed text printed 4100/3160/1580/1160: rounded to tens, not the formula.
    assert_ne!(shares, [4100, 3160, 1580, 1160]);
}

#[test]
fn remainder_goes_to_the_largest_holder_earliest_first() {
    // Three equal thirds of 10000: 3333 each, remainder 1 to the first.
    assert_eq!(apportion(&[1.0, 1.0, 1.0], TOTAL_BPS), [3334, 3333, 3333]);
    // Four quarters of 10 round to 3 each (half away from zero): remainder −2 to the first.
    assert_eq!(apportion(&[1.0, 1.0, 1.0, 1.0], 10), [1, 3, 3, 3]);
    // The largest holder absorbs it even when it is not first.
    assert_eq!(apportion(&[1.0, 2.0, 1.0, 2.0], 10), [2, 3, 2, 3]);
    // Thirds of 2 round to 1 each: remainder −1 taken from the first of the equal largest.
    assert_eq!(apportion(&[1.0, 1.0, 1.0], 2), [0, 1, 1]);
    // Non-positive scores get nothing and weigh nothing.
    assert_eq!(
        apportion(&[0.5, -0.2, 0.0, 0.5], TOTAL_BPS),
        [5000, 0, 0, 5000]
    );
}

#[test]
fn compute_providers_get_their_fraction_by_units() {
    let scores = vec![
        ("a".to_owned(), 0.3),
        ("b".to_owned(), 0.1),
        ("c".to_owned(), -0.05),
    ];
    let providers = vec![
        ComputeProvider {
            provider: "p1".to_owned(),
            units: 3,
        },
        ComputeProvider {
            provider: "p2".to_owned(),
            units: 1,
        },
    ];
    let a = allocate(&scores, 2000, &providers).unwrap();
    assert_eq!(
        a.compute.iter().map(|c| c.shares).collect::<Vec<_>>(),
        [1500, 500]
    );
    assert_eq!(
        a.data.iter().map(|d| d.shares).collect::<Vec<_>>(),
        [6000, 2000, 0]
    );
    assert_eq!(
        (a.data_pool_bps, a.compute_pool_bps, a.unallocated_bps),
        (8000, 2000, 0)
    );
    assert!(!a.no_positive_scores);

    let none = allocate(
        &[("a".to_owned(), -0.1), ("b".to_owned(), 0.0)],
        1500,
        &providers,
    )
    .unwrap();
    assert!(none.no_positive_scores);
    assert_eq!(none.unallocated_bps, 8500);
    assert!(none.data.iter().all(|d| d.shares == 0));
    assert_eq!(none.compute.iter().map(|c| c.shares).sum::<u32>(), 1500);
}

#[test]
fn bad_inputs_are_refused() {
    let p = [ComputeProvider {
        provider: "p".to_owned(),
        units: 1,
    }];
    assert_eq!(
        allocate(&[("a".to_owned(), f64::NAN)], 0, &p)
            .unwrap_err()
            .to_string(),
        "score of contributor a is NaN, not a finite number"
    );
    assert!(matches!(
        allocate(&[("a".to_owned(), 1.0)], 10001, &p),
        Err(Error::ComputeFraction { bps: 10001 })
    ));
    assert!(matches!(
        allocate::<String>(&[("a".to_owned(), 1.0)], 100, &[]),
        Err(Error::NoComputeUnits { bps: 100 })
    ));
    let zero = [ComputeProvider {
        provider: "p".to_owned(),
        units: 0,
    }];
    assert!(matches!(
        allocate(&[("a".to_owned(), 1.0)], 100, &zero),
        Err(Error::NoComputeUnits { bps: 100 })
    ));
    // No compute fraction needs no provider.
    assert_eq!(
        allocate::<String>(&[("a".to_owned(), 1.0)], 0, &[])
            .unwrap()
            .data[0]
            .shares,
        10000
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn shares_sum_exactly_and_respect_sign_and_order(
        scores in proptest::collection::vec(-1.0f64..1.0, 1..300),
        compute in 0u32..=2500,
        units in proptest::collection::vec(0u64..100, 1..5),
    ) {
        let named: Vec<(String, f64)> = scores.iter().enumerate().map(|(i, s)| (format!("c{i}"), *s)).collect();
        let mut providers: Vec<ComputeProvider<String>> = units.iter().enumerate()
            .map(|(i, u)| ComputeProvider { provider: format!("p{i}"), units: *u }).collect();
        providers[0].units += 1;
        let a = allocate(&named, compute, &providers).unwrap();
        let data: u32 = a.data.iter().map(|d| d.shares).sum();
        let comp: u32 = a.compute.iter().map(|c| c.shares).sum();
        prop_assert_eq!(data + comp + a.unallocated_bps, TOTAL_BPS);
        prop_assert_eq!(comp, compute);
        for d in &a.data {
            if d.score <= 0.0 { prop_assert_eq!(d.shares, 0); }
        }
        // Monotone: a strictly higher score never gets fewer bps, except through the remainder,
        // which moves a holder's share by at most the number of holders.
        let holders = a.data.iter().filter(|d| d.score > 0.0).count() as i64;
        for x in &a.data {
            for y in &a.data {
                if x.score > y.score && y.score > 0.0 {
                    prop_assert!(i64::from(x.shares) + holders >= i64::from(y.shares));
                }
            }
        }
    }

    #[test]
    fn without_a_remainder_shares_are_exactly_monotone(
        scores in proptest::collection::vec(0.001f64..1.0, 1..50),
    ) {
        let s = apportion(&scores, TOTAL_BPS);
        prop_assert_eq!(s.iter().sum::<u32>(), TOTAL_BPS);
        let sum: f64 = scores.iter().sum();
        let raw: Vec<i64> = scores.iter().map(|w| (w / sum * 10000.0).round() as i64).collect();
        if raw.iter().sum::<i64>() == 10000 {
            for i in 0..scores.len() {
                for j in 0..scores.len() {
                    if scores[i] > scores[j] { prop_assert!(s[i] >= s[j]); }
                }
            }
        }
    }
}
