//! The exact leave-one-out engine: n+1 independent trainings (all contributions, then each left
//! out), run by up to `workers` threads, each run's metric journaled on disk as it finishes (one
//! file per run, written atomically), so a killed computation resumes where it stopped and gives
//! the bitwise-same result.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use crate::Error;

/// One training + eval: the metric of the model trained on every contribution but `excluded`
/// (`None`: on all of them).
pub trait Trial: Sync {
    /// A worker's private state (its loaded model, say), built once per worker.
    type Worker;
    /// Builds a worker.
    fn worker(&self) -> Result<Self::Worker, Error>;
    /// Runs one training and eval without the contributions in `excluded` (sorted indices).
    fn metric(&self, worker: &mut Self::Worker, excluded: &[usize]) -> Result<f64, Error>;
    /// Number of contributions.
    fn contributions(&self) -> usize;
    /// Hash of everything that determines the metrics (recipe, data, holdout): journal entries
    /// made for other inputs are never reused.
    fn inputs_hash(&self) -> String;
}

/// A trial that can also estimate every contribution's effect to first order, far cheaper than a
/// training per contribution. The stratified approximation groups contributions by this estimate
/// and calibrates it against leave-group-out trainings.
pub trait FirstOrder: Trial {
    /// One estimate per contribution, larger meaning "helped more"; only their relative sizes
    /// matter (the scale is calibrated).
    fn first_order(&self, worker: &mut Self::Worker) -> Result<Vec<f64>, Error>;
}

/// A journal entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Entry {
    inputs_hash: String,
    run: usize,
    excluded: Vec<usize>,
    /// The metric's IEEE-754 bits, hex: exact on reload.
    metric_bits: String,
    metric: f64,
}

/// Progress of a computation: `done` of `total` runs.
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// Progress as a stream the host can serve (e.g. as server-sent events): every `(done, total)`
/// update is sent on the returned channel; the receiver sees the initial state, then one message
/// per finished run.
pub fn progress_channel() -> (
    impl Fn(usize, usize) + Sync,
    std::sync::mpsc::Receiver<(usize, usize)>,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    // A receiver that went away only means nobody is watching.
    (
        move |done, total| {
            let _ = tx.send((done, total));
        },
        rx,
    )
}

/// The metrics of all n+1 runs.
#[derive(Clone, Debug, PartialEq)]
pub struct LooMetrics {
    /// Metric with every contribution.
    pub baseline: f64,
    /// Metric without contribution i.
    pub without: Vec<f64>,
    /// Runs taken from the journal rather than computed.
    pub resumed: usize,
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

fn entry_path(dir: &Path, run: usize) -> PathBuf {
    dir.join(format!("run-{run:06}.json"))
}

fn read_entry(dir: &Path, run: usize, inputs_hash: &str, excluded: &[usize]) -> Option<f64> {
    let text = std::fs::read_to_string(entry_path(dir, run)).ok()?;
    let e: Entry = serde_json::from_str(&text).ok()?;
    let bits = u64::from_str_radix(&e.metric_bits, 16).ok()?;
    (e.inputs_hash == inputs_hash && e.run == run && e.excluded == excluded)
        .then_some(f64::from_bits(bits))
}

fn write_entry(dir: &Path, e: &Entry) -> Result<(), Error> {
    use std::io::Write;
    let path = entry_path(dir, e.run);
    let mut file = atomic_write_file::AtomicWriteFile::open(&path).map_err(|s| io(&path, s))?;
    file.write_all(&serde_json::to_vec_pretty(e).expect("json"))
        .and_then(|()| file.commit())
        .map_err(|s| io(&path, s))
}

/// Runs one trial per entry of `subsets` (the contributions each leaves out) with up to
/// `workers` threads, journaling into `journal` if given. Returns the metrics in `subsets` order
/// and how many came from the journal.
pub fn run_subsets<T: Trial>(
    trial: &T,
    subsets: &[Vec<usize>],
    workers: usize,
    journal: Option<&Path>,
    progress: Progress<'_>,
) -> Result<(Vec<f64>, usize), Error> {
    if trial.contributions() == 0 {
        return Err(Error::EmptyContributionSet);
    }
    let total = subsets.len();
    let hash = trial.inputs_hash();
    if let Some(dir) = journal {
        std::fs::create_dir_all(dir).map_err(|s| io(dir, s))?;
    }
    let results: Mutex<Vec<Option<f64>>> = Mutex::new(vec![None; total]);
    let mut resumed = 0;
    if let Some(dir) = journal {
        let mut r = results.lock().expect("not poisoned");
        for (run, slot) in r.iter_mut().enumerate() {
            *slot = read_entry(dir, run, &hash, &subsets[run]);
            resumed += usize::from(slot.is_some());
        }
    }
    let todo: Vec<usize> = {
        let r = results.lock().expect("not poisoned");
        (0..total).filter(|&i| r[i].is_none()).collect()
    };
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(resumed);
    progress(resumed, total);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1).min(todo.len().max(1)) {
            scope.spawn(|| {
                let mut worker = match trial.worker() {
                    Ok(w) => w,
                    Err(e) => {
                        failure.lock().expect("not poisoned").get_or_insert(e);
                        return;
                    }
                };
                loop {
                    if failure.lock().expect("not poisoned").is_some() {
                        return;
                    }
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&run) = todo.get(k) else { return };
                    let excluded = subsets[run].clone();
                    let outcome = trial.metric(&mut worker, &excluded).and_then(|metric| {
                        if let Some(dir) = journal {
                            write_entry(
                                dir,
                                &Entry {
                                    inputs_hash: hash.clone(),
                                    run,
                                    excluded,
                                    metric_bits: format!("{:016x}", metric.to_bits()),
                                    metric,
                                },
                            )?;
                        }
                        Ok(metric)
                    });
                    match outcome {
                        Ok(metric) => {
                            results.lock().expect("not poisoned")[run] = Some(metric);
                            progress(done.fetch_add(1, Ordering::SeqCst) + 1, total);
                        }
                        Err(e) => {
                            failure.lock().expect("not poisoned").get_or_insert(e);
                            return;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().expect("not poisoned") {
        return Err(e);
    }
    let r: Vec<f64> = results
        .into_inner()
        .expect("not poisoned")
        .into_iter()
        .map(|m| m.expect("every run finished"))
        .collect();
    Ok((r, resumed))
}

/// Exact leave-one-out: n+1 trials (all contributions, then each left out).
pub fn leave_one_out<T: Trial>(
    trial: &T,
    workers: usize,
    journal: Option<&Path>,
    progress: Progress<'_>,
) -> Result<LooMetrics, Error> {
    let n = trial.contributions();
    let subsets: Vec<Vec<usize>> = std::iter::once(vec![])
        .chain((0..n).map(|i| vec![i]))
        .collect();
    let (r, resumed) = run_subsets(trial, &subsets, workers, journal, progress)?;
    Ok(LooMetrics {
        baseline: r[0],
        without: r[1..].to_vec(),
        resumed,
    })
}

/// Orients the metrics into scores: positive means the contribution helped. For a
/// lower-is-better metric `score_i = metric(without i) − metric(all)`; for higher-is-better the
/// opposite.
pub fn scores(m: &LooMetrics, lower_is_better: bool) -> Vec<f64> {
    m.without
        .iter()
        .map(|w| {
            if lower_is_better {
                w - m.baseline
            } else {
                m.baseline - w
            }
        })
        .collect()
}
