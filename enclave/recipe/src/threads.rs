//! Who runs the recipe's CPU work, and on how many threads.
//!
//! Assay owns the parallelism of a training: a micro-batch is split into the recipe's fixed
//! number of row shards (`training.shards`), whose gradients are computed on up to [`Threads`]
//! threads and summed in shard order, and eval batches are spread the same way. Which thread
//! computes a shard never changes a bit of the result; the shard count does, which is why it
//! is part of the recipe and the thread count is not.
//!
//! candle's own CPU threads are best left off then: they compete with the shard threads for
//! the same cores (measured on the tiny config, 2 cores: 6.9 ms per step with candle
//! single-threaded and 2 shard threads, 17.9 ms with both at 2). candle reads its thread count
//! from `RAYON_NUM_THREADS` on every matmul, and when that is unset it parses
//! `/proc/cpuinfo` each time (about 5,000 reads in a few seconds of tiny steps, a quarter of
//! the step time). [`candle_single_threaded_command`] is how a binary turns both off.

use std::num::NonZeroUsize;

use crate::Error;

/// How many threads one training or eval may use; results never depend on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Threads(NonZeroUsize);

impl Threads {
    /// One thread: everything on the calling thread.
    pub const ONE: Threads = Threads(NonZeroUsize::MIN);

    /// `n` threads; `None` for 0.
    pub fn new(n: usize) -> Option<Self> {
        NonZeroUsize::new(n).map(Threads)
    }

    /// The CPUs this process may run on (1 if that cannot be determined).
    pub fn available() -> Self {
        Threads(std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN))
    }

    /// An even share of the available CPUs for each of `workers` concurrent trainings, at
    /// least one.
    pub fn per_worker(workers: usize) -> Self {
        Threads::new(Self::available().get() / workers.max(1)).unwrap_or(Self::ONE)
    }

    /// The count.
    pub fn get(self) -> usize {
        self.0.get()
    }
}

impl std::str::FromStr for Threads {
    type Err = String;

    /// A positive decimal count, as a `--threads` flag takes it.
    fn from_str(s: &str) -> Result<Self, String> {
        let n: usize = s
            .parse()
            .map_err(|_| format!("{s:?} is not a thread count (a whole number, at least 1)"))?;
        Threads::new(n).ok_or_else(|| "0 is not a thread count (at least 1)".to_owned())
    }
}

/// `f(0), …, f(jobs − 1)` on up to `threads` threads (the calling thread is one of them),
/// returned in index order. Thread t runs jobs t, t + threads, …: the assignment is fixed, and
/// each job's result is the same whichever thread runs it.
pub fn map_ordered<T: Send>(
    jobs: usize,
    threads: Threads,
    f: impl Fn(usize) -> T + Sync,
) -> Vec<T> {
    let threads = threads.get().min(jobs);
    if threads <= 1 {
        return (0..jobs).map(f).collect();
    }
    let f = &f;
    let stride = |t: usize| (t..jobs).step_by(threads);
    let mut lanes: Vec<Vec<T>> = std::thread::scope(|scope| {
        let others: Vec<_> = (1..threads)
            .map(|t| scope.spawn(move || stride(t).map(f).collect::<Vec<T>>()))
            .collect();
        let mut lanes = vec![stride(0).map(f).collect::<Vec<T>>()];
        for handle in others {
            match handle.join() {
                Ok(lane) => lanes.push(lane),
                // A job's panic is the caller's panic, as it would be on one thread.
                Err(payload) => std::panic::resume_unwind(payload),
            }
        }
        lanes
    });
    let mut lanes: Vec<_> = lanes.iter_mut().map(|l| l.drain(..)).collect();
    (0..jobs)
        .map(|j| lanes[j % threads].next().expect("lane holds its jobs"))
        .collect()
}

/// The environment variable candle reads its CPU thread count from.
pub const CANDLE_THREADS_VAR: &str = "RAYON_NUM_THREADS";

/// The command that runs this program again — same executable, same arguments — with candle's
/// CPU kernels single-threaded ([`CANDLE_THREADS_VAR`] = 1), the parallelism being Assay's own
/// (see the module documentation); `None` when the variable is already set (an explicit choice
/// is kept; results do not depend on it). candle reads the variable, which safe Rust cannot set
/// in a running process, so a binary `exec`s this command (on Unix: same pid, same standard
/// streams) before any other work. The library never replaces a process itself.
pub fn candle_single_threaded_command() -> Result<Option<std::process::Command>, Error> {
    if std::env::var_os(CANDLE_THREADS_VAR).is_some() {
        return Ok(None);
    }
    let exe = std::env::current_exe().map_err(Error::Exec)?;
    Ok(Some(candle_single_threaded(&exe)))
}

/// The command that runs `program` with this process's arguments and candle's CPU kernels
/// single-threaded: [`CANDLE_THREADS_VAR`] = 1 unless already set (an explicit choice is kept).
/// For a binary that hands its arguments to another (`assay` to `assay-train`).
pub fn candle_single_threaded(program: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(program);
    cmd.args(std::env::args_os().skip(1));
    if std::env::var_os(CANDLE_THREADS_VAR).is_none() {
        cmd.env(CANDLE_THREADS_VAR, "1");
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_job_order_for_any_thread_count() {
        for threads in 1..=5 {
            for jobs in 0..9 {
                let out = map_ordered(jobs, Threads::new(threads).unwrap(), |j| j * 10);
                assert_eq!(out, (0..jobs).map(|j| j * 10).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn jobs_run_on_as_many_threads_as_allowed() {
        let ids = map_ordered(4, Threads::new(2).unwrap(), |_| std::thread::current().id());
        assert_eq!(
            ids[0],
            std::thread::current().id(),
            "thread 0 is the caller"
        );
        assert_eq!(ids[0], ids[2]);
        assert_eq!(ids[1], ids[3]);
        assert_ne!(ids[0], ids[1], "two threads were allowed");
        let one = map_ordered(3, Threads::ONE, |_| std::thread::current().id());
        assert!(one.iter().all(|id| *id == std::thread::current().id()));
    }

    #[test]
    fn a_panicking_job_panics_the_caller() {
        let r = std::panic::catch_unwind(|| {
            map_ordered(4, Threads::new(2).unwrap(), |j| {
                assert!(j != 3, "job 3 fails");
                j
            })
        });
        assert!(r.is_err());
    }

    #[test]
    fn zero_threads_is_not_a_thread_count() {
        assert_eq!(Threads::new(0), None);
        assert_eq!(Threads::new(3).map(Threads::get), Some(3));
        assert!(Threads::per_worker(usize::MAX).get() >= 1);
        assert!(Threads::available().get() >= 1);
    }

    #[test]
    fn a_failed_exec_says_how_to_do_without_it() {
        let e = Error::Exec(std::io::Error::from(std::io::ErrorKind::NotFound));
        let text = e.to_string();
        assert!(text.contains("set RAYON_NUM_THREADS yourself"), "{text}");
    }

    #[test]
    fn thread_counts_parse_from_flags_and_bad_ones_are_named() {
        assert_eq!("2".parse::<Threads>(), Ok(Threads::new(2).unwrap()));
        assert_eq!(
            "0".parse::<Threads>(),
            Err("0 is not a thread count (at least 1)".to_owned())
        );
        let e = "two".parse::<Threads>().unwrap_err();
        assert!(e.contains("\"two\" is not a thread count"), "{e}");
    }
}
