//! The exact LOO engine: planted good, useless and harmful contributions come out in the right
//! order and sign; a killed run resumes from its journal to the bitwise-same result; the number of
//! workers does not change the result.

use std::sync::atomic::{AtomicUsize, Ordering};

use assay_attribution::Error;
use assay_attribution::engine::{
    Journal, JournalUse, LooMetrics, PlainJournal, Trial, leave_one_out, scores,
};
use assay_attribution::recipe_trial::{RecipeTrial, group};
use assay_recipe::data::Example;
use assay_recipe::fixture::{reverse_task, tiny_config, write_model};
use assay_recipe::threads::Threads;

fn planted(dir: &std::path::Path) -> RecipeTrial {
    let mut recipe = write_model(dir, &tiny_config(), 21).unwrap();
    recipe.training.epochs = 3;
    recipe.optimizer.lr = 2e-2;
    let mut examples = Vec::new();
    // Good: the holdout's task.
    examples.extend(reverse_task(12, &["good"], 0));
    // Useless: an unrelated task.
    examples.extend((0..12).map(|i| {
        Example {
            contributor: "useless".into(),
            prompt: format!("count to {}", i % 5 + 1),
            answer: (1..=i % 5 + 1)
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(" "),
        }
    }));
    // Harmful: the holdout's prompts with wrong answers.
    examples.extend(reverse_task(12, &["harmful"], 0).into_iter().map(|mut e| {
        e.answer = e.prompt.trim_start_matches("reverse ").to_lowercase();
        e
    }));
    RecipeTrial {
        recipe,
        model: dir.into(),
        contributions: group(&examples),
        holdout: reverse_task(10, &["h"], 3),
        threads: Threads::per_worker(2),
    }
}

#[test]
fn planted_contributions_score_in_the_right_order_and_sign() {
    let dir = tempfile::tempdir().unwrap();
    let trial = planted(dir.path());
    assert_eq!(
        trial
            .contributions
            .iter()
            .map(|c| c.contributor.as_str())
            .collect::<Vec<_>>(),
        ["good", "useless", "harmful"]
    );
    let m = leave_one_out(&trial, 2, None, &|_| {}).unwrap();
    let s = scores(&m, trial.lower_is_better());
    eprintln!(
        "baseline {} without {:?} scores {:?}",
        m.baseline, m.without, s
    );
    assert!(s[0] > 0.0, "good helps: {s:?}");
    assert!(s[2] < 0.0, "harmful hurts: {s:?}");
    assert!(
        s[0] > s[1] && s[1] > s[2],
        "order good > useless > harmful: {s:?}"
    );
}

/// A cheap deterministic trial that can be made to fail after some runs.
struct Counted {
    n: usize,
    fail_after: Option<usize>,
    calls: AtomicUsize,
}

impl Trial for Counted {
    type Worker = ();
    fn worker(&self) -> Result<(), Error> {
        Ok(())
    }
    fn metric(&self, _: &mut (), excluded: &[usize]) -> Result<f64, Error> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail_after.is_some_and(|k| call >= k) {
            return Err(Error::Io {
                path: "trial".into(),
                source: std::io::Error::other("killed"),
            });
        }
        Ok(10.0
            + excluded
                .iter()
                .map(|&i| (i as f64 * 0.37).sin())
                .sum::<f64>())
    }
    fn contributions(&self) -> usize {
        self.n
    }
}

fn counted_journal(dir: &std::path::Path, n: usize) -> PlainJournal {
    PlainJournal::open(dir, format!("counted-{n}")).unwrap()
}

#[test]
fn a_killed_run_resumes_from_its_journal_to_the_same_bits() {
    let full = leave_one_out(
        &Counted {
            n: 9,
            fail_after: None,
            calls: 0.into(),
        },
        1,
        None,
        &|_| {},
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let killed = leave_one_out(
        &Counted {
            n: 9,
            fail_after: Some(4),
            calls: 0.into(),
        },
        2,
        Some(&counted_journal(&journal, 9)),
        &|_| {},
    );
    assert!(matches!(killed, Err(Error::Io { source, .. }) if source.to_string() == "killed"));
    let written = std::fs::read_dir(&journal).unwrap().count();
    assert!((1..=4).contains(&written), "{written} journal entries");
    let seen = std::sync::Mutex::new(Vec::new());
    let resumed = leave_one_out(
        &Counted {
            n: 9,
            fail_after: None,
            calls: 0.into(),
        },
        2,
        Some(&counted_journal(&journal, 9)),
        &|u| seen.lock().unwrap().push((u.done, u.total)),
    )
    .unwrap();
    assert_eq!(
        resumed.journal,
        JournalUse {
            resumed: written,
            refused: 0
        }
    );
    assert_eq!(
        LooMetrics {
            journal: JournalUse::default(),
            ..resumed.clone()
        },
        full
    );
    assert_eq!(seen.lock().unwrap().last(), Some(&(10, 10)));
    // Entries made for other inputs are refused, and their runs computed again.
    let other = leave_one_out(
        &Counted {
            n: 8,
            fail_after: None,
            calls: 0.into(),
        },
        1,
        Some(&counted_journal(&journal, 8)),
        &|_| {},
    )
    .unwrap();
    assert_eq!(
        other.journal,
        JournalUse {
            resumed: 0,
            refused: 9
        }
    );
    // A changed entry is refused too.
    let entry = journal.join("run-000003.json");
    let text = std::fs::read_to_string(&entry).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["run"] = 4.into();
    std::fs::write(&entry, value.to_string()).unwrap();
    assert_eq!(
        counted_journal(&journal, 8).load(3, &[2]),
        assay_attribution::engine::Loaded::Refused
    );
    // No temporary file is left behind.
    assert!(
        std::fs::read_dir(&journal)
            .unwrap()
            .all(|e| e.unwrap().path().extension().unwrap() == "json")
    );
}

#[test]
fn real_trials_resume_bitwise_and_do_not_depend_on_worker_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut trial = planted(dir.path());
    trial.recipe.training.epochs = 1;
    trial.contributions.truncate(2);
    let losses = std::sync::Mutex::new(Vec::new());
    let one = leave_one_out(&trial, 1, None, &|u| losses.lock().unwrap().push(u.loss)).unwrap();
    // The first update counts what was resumed; each finished training reports its final loss.
    let losses = losses.into_inner().unwrap();
    assert_eq!(losses.len(), 4);
    assert!(losses[0].is_none() && losses[1..].iter().all(|l| l.is_some_and(f64::is_finite)));
    let two = leave_one_out(&trial, 2, None, &|_| {}).unwrap();
    assert_eq!(one, two);
    let journal = dir.path().join("j");
    let plain = PlainJournal::open(&journal, trial.inputs_hash()).unwrap();
    leave_one_out(&trial, 2, Some(&plain), &|_| {}).unwrap();
    std::fs::remove_file(journal.join("run-000001.json")).unwrap();
    let resumed = leave_one_out(&trial, 1, Some(&plain), &|_| {}).unwrap();
    assert_eq!(resumed.journal.resumed, 2);
    assert_eq!(
        LooMetrics {
            journal: JournalUse::default(),
            ..resumed
        },
        one
    );
    assert_eq!(one.without.len(), 2);
}

#[test]
fn an_empty_contribution_set_is_refused() {
    let e = leave_one_out(
        &Counted {
            n: 0,
            fail_after: None,
            calls: 0.into(),
        },
        1,
        None,
        &|_| {},
    );
    assert!(matches!(e, Err(Error::EmptyContributionSet)));
}

#[test]
fn progress_streams_one_update_per_run() {
    use assay_attribution::engine::progress_channel;
    let (progress, updates) = progress_channel();
    leave_one_out(
        &Counted {
            n: 6,
            fail_after: None,
            calls: 0.into(),
        },
        2,
        None,
        &progress,
    )
    .unwrap();
    drop(progress);
    let mut seen: Vec<(usize, usize)> = updates.iter().map(|u| (u.done, u.total)).collect();
    seen.sort();
    assert_eq!(seen, (0..=7).map(|d| (d, 7)).collect::<Vec<_>>());
}

#[test]
fn a_single_contribution_is_scored_against_the_untrained_model() {
    let dir = tempfile::tempdir().unwrap();
    let mut trial = planted(dir.path());
    trial.recipe.training.epochs = 1;
    trial.contributions.truncate(1);
    // Leaving the only contribution out leaves nothing to train on: train(∅) is the model
    // with fresh adapters, which is the base model.
    let m = leave_one_out(&trial, 1, None, &|_| {}).unwrap();
    assert_eq!(m.without.len(), 1);
    assert!(
        m.without[0].is_finite() && m.without[0] != m.baseline,
        "{m:?}"
    );
}
