//! The job store: one SQLite database under the data directory (bundled SQLite, WAL, one
//! writer), versioned by `PRAGMA user_version` and migrated forward at open.
//!
//! A job moves `queued → running → succeeded | failed | cancelled`; `running → queued` again
//! only when the daemon restarts with it unfinished (it resumes from its sealed journal).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Error;

/// A job's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Waiting for a launch slot.
    Queued,
    /// Its enclave runs.
    Running,
    /// Finished with a bundle.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Cancelled by the operator.
    Cancelled,
}

impl State {
    /// Its name in the store and the API.
    pub fn name(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Running => "running",
            State::Succeeded => "succeeded",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
        }
    }

    /// Whether the job is over.
    pub fn is_final(self) -> bool {
        matches!(self, State::Succeeded | State::Failed | State::Cancelled)
    }

    /// Every state.
    pub const ALL: [State; 5] = [
        State::Queued,
        State::Running,
        State::Succeeded,
        State::Failed,
        State::Cancelled,
    ];

    fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.name() == s)
    }
}

/// Where a running job is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Progress {
    /// Trainings finished (computed or resumed from the journal).
    pub done: u32,
    /// Trainings in all (n + 1 for exact leave-one-out).
    pub total: u32,
    /// The final training loss of the last finished training.
    pub loss: Option<f64>,
}

/// Why a job failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct JobError {
    /// The error's kind (the enclave's, or the host's).
    pub kind: String,
    /// Its message.
    pub message: String,
}

/// A job as the store keeps it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Job {
    /// Its id.
    pub id: String,
    /// Its state.
    pub state: State,
    /// The JobSpec's hash.
    pub job_hash: String,
    /// The Forge.
    pub forge_id: String,
    /// The submitted job file (JSON: the JobSpec and its `run` table).
    pub job_file: String,
    /// When it was submitted (RFC 3339).
    pub created_at: String,
    /// When its enclave last started.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// How often its enclave was started.
    pub attempts: u32,
    /// Its progress.
    pub progress: Progress,
    /// Why it failed.
    pub error: Option<JobError>,
    /// Whether its bundle passed the host's own verification.
    pub verified: bool,
    /// The enclave's process id, while one runs.
    pub pid: Option<u32>,
}

/// The schema, one migration a version: `user_version` says how many have run.
const MIGRATIONS: [&str; 2] = ["CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
        job_hash TEXT NOT NULL,
        forge_id TEXT NOT NULL,
        job_file TEXT NOT NULL,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        progress_done INTEGER NOT NULL DEFAULT 0,
        progress_total INTEGER NOT NULL DEFAULT 0,
        progress_loss REAL,
        error_kind TEXT,
        error_message TEXT,
        bundle_json TEXT,
        bundle_cbor BLOB,
        verified INTEGER NOT NULL DEFAULT 0,
        pid INTEGER
    );
    CREATE INDEX jobs_by_state ON jobs (state, seq);
    CREATE INDEX jobs_by_forge ON jobs (forge_id, verified, finished_at);",
    // Version-3 bundles come with the job's alloy chain (a chain file, docs/alloy.md).
    "ALTER TABLE jobs ADD COLUMN chain BLOB;"];

/// The job store. One connection, behind a lock: SQLite's one writer.
pub struct Store {
    path: PathBuf,
    db: Mutex<Connection>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// The current time, RFC 3339.
pub fn now() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .expect("the current time formats")
}

const COLUMNS: &str = "id, state, job_hash, forge_id, job_file, created_at, started_at, finished_at, attempts, progress_done, progress_total, progress_loss, error_kind, error_message, verified, pid";

fn row_to_job(r: &rusqlite::Row<'_>) -> rusqlite::Result<Job> {
    let state: String = r.get(1)?;
    let error_kind: Option<String> = r.get(12)?;
    let error_message: Option<String> = r.get(13)?;
    Ok(Job {
        id: r.get(0)?,
        state: State::parse(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                1,
                rusqlite::types::Type::Text,
                format!("unknown state {state:?}").into(),
            )
        })?,
        job_hash: r.get(2)?,
        forge_id: r.get(3)?,
        job_file: r.get(4)?,
        created_at: r.get(5)?,
        started_at: r.get(6)?,
        finished_at: r.get(7)?,
        attempts: r.get(8)?,
        progress: Progress {
            done: r.get(9)?,
            total: r.get(10)?,
            loss: r.get(11)?,
        },
        error: error_kind.map(|kind| JobError {
            kind,
            message: error_message.unwrap_or_default(),
        }),
        verified: r.get(14)?,
        pid: r.get(15)?,
    })
}

impl Store {
    /// Opens (creating if absent) and migrates the store at `path`. A file that is not a
    /// SQLite database, or one written by a newer version, is an error naming it; nothing is
    /// changed then.
    pub fn open(path: &Path) -> Result<Store, Error> {
        let bad = |reason: String| Error::Store {
            path: path.display().to_string(),
            reason,
        };
        let db = Connection::open(path).map_err(|e| bad(e.to_string()))?;
        db.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| bad(e.to_string()))?;
        // Any read proves the file is a database before anything is written to it.
        let version: i64 = db
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| bad(format!("not a job store ({e})")))?;
        let version = usize::try_from(version).unwrap_or(usize::MAX);
        let mode: String = db
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| bad(e.to_string()))?;
        if mode != "wal" {
            return Err(bad(format!("cannot use WAL (journal mode {mode})")));
        }
        db.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(|e| bad(e.to_string()))?;
        if version > MIGRATIONS.len() {
            return Err(bad(format!(
                "schema version {version} is newer than this program's {}",
                MIGRATIONS.len()
            )));
        }
        for (i, migration) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = db.unchecked_transaction().map_err(|e| bad(e.to_string()))?;
            tx.execute_batch(migration)
                .and_then(|()| tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1)))
                .and_then(|()| tx.commit())
                .map_err(|e| bad(format!("migration {}: {e}", i + 1)))?;
        }
        Ok(Store {
            path: path.to_owned(),
            db: Mutex::new(db),
        })
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        Error::Store {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, Error> {
        let db = self.db.lock().expect("the store lock");
        f(&db).map_err(|e| self.err(e))
    }

    /// Adds a queued job; returns it.
    pub fn create(&self, job_hash: &str, forge_id: &str, job_file: &str) -> Result<Job, Error> {
        let mut id_bytes = [0u8; 8];
        aws_lc_rs::rand::fill(&mut id_bytes).expect("the system RNG works");
        let id = format!("j{}", hex::encode(id_bytes));
        let created = now();
        self.with(|db| {
            db.execute(
                "INSERT INTO jobs (id, seq, state, job_hash, forge_id, job_file, created_at)
                 VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs), 'queued', ?2, ?3, ?4, ?5)",
                params![id, job_hash, forge_id, job_file, created],
            )
        })?;
        self.get(&id)
    }

    /// The job `id`.
    pub fn get(&self, id: &str) -> Result<Job, Error> {
        self.with(|db| {
            db.query_row(
                &format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"),
                [id],
                row_to_job,
            )
            .optional()
        })?
        .ok_or_else(|| Error::NotFound { id: id.to_owned() })
    }

    /// Up to `limit` jobs after the one with id `after` (in submission order), and whether
    /// more follow.
    pub fn list(&self, after: Option<&str>, limit: usize) -> Result<(Vec<Job>, bool), Error> {
        let after_seq: i64 = match after {
            None => 0,
            Some(id) => self
                .with(|db| {
                    db.query_row("SELECT seq FROM jobs WHERE id = ?1", [id], |r| r.get(0))
                        .optional()
                })?
                .ok_or_else(|| Error::NotFound { id: id.to_owned() })?,
        };
        let mut jobs = self.with(|db| {
            let mut st = db.prepare(&format!(
                "SELECT {COLUMNS} FROM jobs WHERE seq > ?1 ORDER BY seq LIMIT ?2"
            ))?;
            st.query_map(params![after_seq, limit as i64 + 1], row_to_job)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        let more = jobs.len() > limit;
        jobs.truncate(limit);
        Ok((jobs, more))
    }

    /// The oldest queued jobs, up to `n`.
    pub fn queued(&self, n: usize) -> Result<Vec<Job>, Error> {
        self.with(|db| {
            let mut st = db.prepare(&format!(
                "SELECT {COLUMNS} FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT ?1"
            ))?;
            st.query_map([n as i64], row_to_job)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
    }

    /// Moves `id` from queued to running (one more attempt), if it is still queued.
    pub fn start(&self, id: &str) -> Result<bool, Error> {
        let started = now();
        let n = self.with(|db| {
            db.execute(
                "UPDATE jobs SET state = 'running', started_at = ?2, attempts = attempts + 1
                 WHERE id = ?1 AND state = 'queued'",
                params![id, started],
            )
        })?;
        Ok(n == 1)
    }

    /// Records the running enclave's process id.
    pub fn set_pid(&self, id: &str, pid: Option<u32>) -> Result<(), Error> {
        self.with(|db| db.execute("UPDATE jobs SET pid = ?2 WHERE id = ?1", params![id, pid]))
            .map(drop)
    }

    /// Records progress. Not synced to disk at once (the store is synced at the job's end and
    /// at every other change): progress lost to a power failure is only shown as older, and a
    /// sync per finished training would sit on the job's critical path.
    pub fn set_progress(&self, id: &str, p: Progress) -> Result<(), Error> {
        self.with(|db| {
            db.execute_batch("PRAGMA synchronous = NORMAL")?;
            let updated = db.execute(
                "UPDATE jobs SET progress_done = ?2, progress_total = ?3, progress_loss = ?4 WHERE id = ?1",
                params![id, p.done, p.total, p.loss],
            );
            db.execute_batch("PRAGMA synchronous = FULL")?;
            updated
        })
        .map(drop)
    }

    /// Ends a running job with its bundle (and its alloy chain, if it came with one);
    /// `verified` says whether both passed the host's check.
    pub fn succeed(
        &self,
        id: &str,
        bundle: (&str, &[u8]),
        chain: Option<&[u8]>,
        verified: bool,
        error: Option<&JobError>,
    ) -> Result<(), Error> {
        let finished = now();
        self.with(|db| {
            db.execute(
                "UPDATE jobs SET state = 'succeeded', finished_at = ?2, bundle_json = ?3, bundle_cbor = ?4,
                 verified = ?5, error_kind = ?6, error_message = ?7, pid = NULL, chain = ?8
                 WHERE id = ?1 AND state = 'running'",
                params![
                    id,
                    finished,
                    bundle.0,
                    bundle.1,
                    verified,
                    error.map(|e| e.kind.as_str()),
                    error.map(|e| e.message.as_str()),
                    chain
                ],
            )
        })
        .map(drop)
    }

    /// A job's alloy chain (a chain file), if it has one.
    pub fn chain(&self, id: &str) -> Result<Option<Vec<u8>>, Error> {
        self.get(id)?;
        self.with(|db| {
            db.query_row(
                "SELECT chain FROM jobs WHERE id = ?1 AND chain IS NOT NULL",
                [id],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// Ends a running job with an error.
    pub fn fail(&self, id: &str, error: &JobError) -> Result<(), Error> {
        let finished = now();
        self.with(|db| {
            db.execute(
                "UPDATE jobs SET state = 'failed', finished_at = ?2, error_kind = ?3, error_message = ?4, pid = NULL
                 WHERE id = ?1 AND state = 'running'",
                params![id, finished, error.kind, error.message],
            )
        })
        .map(drop)
    }

    /// Cancels a job that is not over; returns its state before, or the conflict.
    pub fn cancel(&self, id: &str) -> Result<State, Error> {
        let job = self.get(id)?;
        if job.state.is_final() {
            return Err(Error::Conflict {
                id: id.to_owned(),
                state: job.state.name().to_owned(),
                action: "cancel",
            });
        }
        let finished = now();
        let n = self.with(|db| {
            db.execute(
                "UPDATE jobs SET state = 'cancelled', finished_at = ?2, pid = NULL
                 WHERE id = ?1 AND state IN ('queued', 'running')",
                params![id, finished],
            )
        })?;
        if n == 0 {
            // It ended meanwhile.
            let now_state = self.get(id)?.state;
            return Err(Error::Conflict {
                id: id.to_owned(),
                state: now_state.name().to_owned(),
                action: "cancel",
            });
        }
        Ok(job.state)
    }

    /// At start: every job left running by a previous daemon goes back to the queue (it
    /// resumes from its journal). Returns them, with the process ids they had.
    pub fn requeue_running(&self) -> Result<Vec<Job>, Error> {
        let running = self.with(|db| {
            let mut st = db.prepare(&format!(
                "SELECT {COLUMNS} FROM jobs WHERE state = 'running' ORDER BY seq"
            ))?;
            st.query_map([], row_to_job)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        self.with(|db| {
            db.execute(
                "UPDATE jobs SET state = 'queued', pid = NULL WHERE state = 'running'",
                [],
            )
        })?;
        Ok(running)
    }

    /// A job's bundle, as JSON and as CBOR, if it has one.
    pub fn bundle(&self, id: &str) -> Result<Option<(String, Vec<u8>)>, Error> {
        self.get(id)?;
        self.with(|db| {
            db.query_row(
                "SELECT bundle_json, bundle_cbor FROM jobs WHERE id = ?1 AND bundle_json IS NOT NULL",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })
    }

    /// The latest verified bundle of a Forge (by finishing time), as JSON and CBOR, and its
    /// job's id.
    pub fn latest_verified(
        &self,
        forge_id: &str,
    ) -> Result<Option<(String, String, Vec<u8>)>, Error> {
        self.with(|db| {
            db.query_row(
                "SELECT id, bundle_json, bundle_cbor FROM jobs
                 WHERE forge_id = ?1 AND verified = 1 AND state = 'succeeded'
                 ORDER BY finished_at DESC, seq DESC LIMIT 1",
                [forge_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
        })
    }

    /// How many jobs are in each state.
    pub fn counts(&self) -> Result<Vec<(State, u64)>, Error> {
        let rows = self.with(|db| {
            let mut st = db.prepare("SELECT state, COUNT(*) FROM jobs GROUP BY state")?;
            st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        Ok(State::ALL
            .into_iter()
            .map(|s| {
                let n = rows
                    .iter()
                    .find(|(name, _)| name == s.name())
                    .map_or(0, |(_, n)| u64::try_from(*n).unwrap_or(0));
                (s, n)
            })
            .collect())
    }

    /// Whether the store answers.
    pub fn ping(&self) -> Result<(), Error> {
        self.with(|db| db.query_row("SELECT 1", [], |_| Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_move_through_their_states_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.db");
        let store = Store::open(&path).unwrap();
        let a = store.create("0xaa", "0xf0", "{}").unwrap();
        let b = store.create("0xbb", "0xf0", "{}").unwrap();
        assert_eq!((a.state, a.attempts), (State::Queued, 0));
        assert_eq!(store.queued(10).unwrap().len(), 2);
        assert!(store.start(&a.id).unwrap());
        assert!(!store.start(&a.id).unwrap(), "only a queued job starts");
        store
            .set_progress(
                &a.id,
                Progress {
                    done: 2,
                    total: 4,
                    loss: Some(1.5),
                },
            )
            .unwrap();
        store.set_pid(&a.id, Some(42)).unwrap();
        drop(store);
        // A restart: the running job goes back to the queue, its pid reported.
        let store = Store::open(&path).unwrap();
        let requeued = store.requeue_running().unwrap();
        assert_eq!(requeued.len(), 1);
        assert_eq!(requeued[0].pid, Some(42));
        let a = store.get(&a.id).unwrap();
        assert_eq!(
            (a.state, a.attempts, a.progress.done),
            (State::Queued, 1, 2)
        );
        assert!(store.start(&a.id).unwrap());
        store
            .succeed(&a.id, ("{\"x\":1}", &[1, 2]), Some(&[3]), true, None)
            .unwrap();
        assert_eq!(store.latest_verified("0xf0").unwrap().unwrap().0, a.id);
        assert_eq!(store.chain(&a.id).unwrap(), Some(vec![3]));
        assert_eq!(store.chain(&b.id).unwrap(), None);
        assert!(store.latest_verified("0xf1").unwrap().is_none());
        // Cancel: a queued job can be, a finished one not.
        assert_eq!(store.cancel(&b.id).unwrap(), State::Queued);
        let e = store.cancel(&a.id).unwrap_err();
        assert_eq!(e.http_status(), 409);
        assert!(matches!(store.get("nope"), Err(Error::NotFound { .. })));
        let (page, more) = store.list(None, 1).unwrap();
        assert_eq!((page.len(), more), (1, true));
        let (page, more) = store.list(Some(&page[0].id), 10).unwrap();
        assert_eq!((page.len(), more), (1, false));
        let counts = store.counts().unwrap();
        assert!(counts.contains(&(State::Succeeded, 1)) && counts.contains(&(State::Cancelled, 1)));
    }

    #[test]
    fn a_file_that_is_not_a_store_or_a_newer_store_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.db");
        std::fs::write(
            &path,
            b"this is not a database, just forty-odd bytes of text",
        )
        .unwrap();
        let before = std::fs::read(&path).unwrap();
        let e = Store::open(&path).unwrap_err();
        assert!(e.to_string().contains("jobs.db"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), before, "nothing was written");
        let newer = dir.path().join("newer.db");
        Connection::open(&newer)
            .unwrap()
            .execute_batch("PRAGMA user_version = 99")
            .unwrap();
        let e = Store::open(&newer).unwrap_err();
        assert!(e.to_string().contains("newer than this program's"), "{e}");
    }
}
