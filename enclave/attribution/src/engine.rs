//! The exact leave-one-out engine: n+1 independent trainings (all contributions, then each left
//! out), run by up to `workers` threads, each run's metric kept in a [`Journal`] as it finishes,
//! so a killed computation resumes where it stopped and gives the bitwise-same result. A journal
//! entry that is not this computation's, or was changed, is refused and its run recomputed.
//! [`PlainJournal`] keeps entries as files (one per run, written atomically) for a caller who
//! owns every input; the enclave seals its entries under a key the host never sees.

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
    /// [`Trial::metric`], and the training's final loss where the trial knows it (it is
    /// reported as progress; the loss is on the contributions, not the holdout).
    fn measure(&self, worker: &mut Self::Worker, excluded: &[usize]) -> Result<Run, Error> {
        Ok(Run {
            metric: self.metric(worker, excluded)?,
            loss: None,
        })
    }
    /// Number of contributions.
    fn contributions(&self) -> usize;
}

/// What a journal holds for a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Loaded {
    /// The run's metric, exactly as it was computed.
    Found(f64),
    /// Nothing.
    Absent,
    /// An entry that is not this computation's (other inputs, another run) or that was changed:
    /// never used; the run is computed again.
    Refused,
}

/// Where finished runs are kept, so that a stopped computation resumes. Run `run` of a
/// computation left out the contributions `excluded`.
pub trait Journal: Sync {
    /// The entry of `run`, if it is this computation's.
    fn load(&self, run: usize, excluded: &[usize]) -> Loaded;
    /// Keeps `metric` as the result of `run`, whole or not at all.
    fn store(&self, run: usize, excluded: &[usize], metric: f64) -> Result<(), Error>;
}

/// A trial that can also estimate every contribution's effect to first order, far cheaper than a
/// training per contribution. The stratified approximation groups contributions by this estimate
/// and calibrates it against leave-group-out trainings.
pub trait FirstOrder: Trial {
    /// One estimate per contribution, larger meaning "helped more"; only their relative sizes
    /// matter (the scale is calibrated).
    fn first_order(&self, worker: &mut Self::Worker) -> Result<Vec<f64>, Error>;
}

/// An entry of a [`PlainJournal`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Entry {
    inputs_hash: String,
    run: usize,
    excluded: Vec<usize>,
    /// The metric's IEEE-754 bits, hex: exact on reload.
    metric_bits: String,
    metric: f64,
}

/// One finished training and eval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Run {
    /// Its eval metric.
    pub metric: f64,
    /// Its training's final loss, if the trial reports one.
    pub loss: Option<f64>,
}

/// Where a computation is: `done` of `total` runs, and the final training loss of the run that
/// just finished (none for the first update, which counts the runs resumed from the journal).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Update {
    /// Runs finished (computed or resumed).
    pub done: usize,
    /// Runs in all.
    pub total: usize,
    /// The final training loss of the run that just finished.
    pub loss: Option<f64>,
}

/// Progress of a computation: one [`Update`] at the start, then one per finished run.
pub type Progress<'a> = &'a (dyn Fn(Update) + Sync);

/// Progress as a stream the host can serve (e.g. as server-sent events): every update is sent
/// on the returned channel; the receiver sees the initial state, then one message per finished
/// run.
pub fn progress_channel() -> (impl Fn(Update) + Sync, std::sync::mpsc::Receiver<Update>) {
    let (tx, rx) = std::sync::mpsc::channel();
    // A receiver that went away only means nobody is watching.
    (
        move |update| {
            let _ = tx.send(update);
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
    /// How the journal served them.
    pub journal: JournalUse,
}

/// How a computation used its journal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalUse {
    /// Runs taken from the journal rather than computed.
    pub resumed: usize,
    /// Entries refused (not this computation's, or changed) and computed again.
    pub refused: usize,
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A journal of plain files in a folder, one per run (`run-NNNNNN.json`, written atomically),
/// each naming the hash of the computation's inputs: for a caller who owns every input (the
/// command line's `assay attribute`). Its entries are not authenticated; the enclave keeps a
/// sealed journal instead.
#[derive(Clone, Debug)]
pub struct PlainJournal {
    dir: PathBuf,
    inputs_hash: String,
}

impl PlainJournal {
    /// The journal in `dir` (made if absent) of the computation whose inputs hash to
    /// `inputs_hash`: entries made for other inputs are refused.
    pub fn open(dir: &Path, inputs_hash: String) -> Result<Self, Error> {
        std::fs::create_dir_all(dir).map_err(|s| io(dir, s))?;
        Ok(PlainJournal {
            dir: dir.to_owned(),
            inputs_hash,
        })
    }

    fn path(&self, run: usize) -> PathBuf {
        self.dir.join(format!("run-{run:06}.json"))
    }
}

impl Journal for PlainJournal {
    fn load(&self, run: usize, excluded: &[usize]) -> Loaded {
        let Ok(text) = std::fs::read_to_string(self.path(run)) else {
            return Loaded::Absent;
        };
        let entry: Option<f64> = serde_json::from_str::<Entry>(&text).ok().and_then(|e| {
            let bits = u64::from_str_radix(&e.metric_bits, 16).ok()?;
            (e.inputs_hash == self.inputs_hash && e.run == run && e.excluded == excluded)
                .then_some(f64::from_bits(bits))
        });
        entry.map_or(Loaded::Refused, Loaded::Found)
    }

    fn store(&self, run: usize, excluded: &[usize], metric: f64) -> Result<(), Error> {
        use std::io::Write;
        let path = self.path(run);
        let entry = Entry {
            inputs_hash: self.inputs_hash.clone(),
            run,
            excluded: excluded.to_vec(),
            metric_bits: format!("{:016x}", metric.to_bits()),
            metric,
        };
        let mut file = atomic_write_file::AtomicWriteFile::open(&path).map_err(|s| io(&path, s))?;
        file.write_all(&serde_json::to_vec_pretty(&entry).expect("json"))
            .and_then(|()| file.commit())
            .map_err(|s| io(&path, s))
    }
}

/// Runs one trial per entry of `subsets` (the contributions each leaves out) with up to
/// `workers` threads, journaling into `journal` if given. Returns the metrics in `subsets` order
/// and how the journal served them.
pub fn run_subsets<T: Trial>(
    trial: &T,
    subsets: &[Vec<usize>],
    workers: usize,
    journal: Option<&dyn Journal>,
    progress: Progress<'_>,
) -> Result<(Vec<f64>, JournalUse), Error> {
    if trial.contributions() == 0 {
        return Err(Error::EmptyContributionSet);
    }
    let total = subsets.len();
    let results: Mutex<Vec<Option<f64>>> = Mutex::new(vec![None; total]);
    let mut used = JournalUse::default();
    if let Some(j) = journal {
        let mut r = results.lock().expect("not poisoned");
        for (run, slot) in r.iter_mut().enumerate() {
            match j.load(run, &subsets[run]) {
                Loaded::Found(metric) => {
                    *slot = Some(metric);
                    used.resumed += 1;
                }
                Loaded::Refused => used.refused += 1,
                Loaded::Absent => {}
            }
        }
    }
    let resumed = used.resumed;
    let todo: Vec<usize> = {
        let r = results.lock().expect("not poisoned");
        (0..total).filter(|&i| r[i].is_none()).collect()
    };
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(resumed);
    progress(Update {
        done: resumed,
        total,
        loss: None,
    });
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
                    let excluded = &subsets[run];
                    let outcome = trial.measure(&mut worker, excluded).and_then(|r| {
                        if let Some(j) = journal {
                            j.store(run, excluded, r.metric)?;
                        }
                        Ok(r)
                    });
                    match outcome {
                        Ok(r) => {
                            results.lock().expect("not poisoned")[run] = Some(r.metric);
                            progress(Update {
                                done: done.fetch_add(1, Ordering::SeqCst) + 1,
                                total,
                                loss: r.loss,
                            });
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
    Ok((r, used))
}

/// Exact leave-one-out: n+1 trials (all contributions, then each left out).
pub fn leave_one_out<T: Trial>(
    trial: &T,
    workers: usize,
    journal: Option<&dyn Journal>,
    progress: Progress<'_>,
) -> Result<LooMetrics, Error> {
    let n = trial.contributions();
    let subsets: Vec<Vec<usize>> = std::iter::once(vec![])
        .chain((0..n).map(|i| vec![i]))
        .collect();
    let (r, journal) = run_subsets(trial, &subsets, workers, journal, progress)?;
    Ok(LooMetrics {
        baseline: r[0],
        without: r[1..].to_vec(),
        journal,
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
