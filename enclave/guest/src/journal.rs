//! The enclave's journal: finished runs kept on host storage, sealed so that the host can
//! neither read nor forge them.
//!
//! Each entry is one file, `run-NNNNNN.sealed`, written atomically: `nonce (12) ‖
//! AES-256-GCM(metric's IEEE-754 bits, aad)`, under a key derived from the released holdout key
//! and the job hash (`HKDF-SHA256(salt "assay-journal/1", ikm data key, info job hash)`), with
//! `aad = "assay-journal/1" ‖ job hash ‖ run (u64 LE) ‖ count of left-out contributions (u64
//! LE) ‖ each of them (u64 LE)`. The host never sees the key, so it cannot make an entry; the
//! job hash (which binds the Forge, its nonce, the recipe, the contributions and the holdout)
//! and the run are in every entry's aad, so an entry of another job, another run or a changed
//! one does not open. Such entries are refused and their runs computed again. Nothing on disk
//! is a fingerprint of the holdout: without the key an entry is random bytes.
//!
//! An auditor's replay ([`crate::replay`]) keeps its own journal under the label
//! `assay-replay-journal/1` instead, so that a replay pointed at the enclave's journal by
//! mistake refuses its entries and computes every run again rather than echoing the enclave's
//! metrics back.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use alloy_primitives::B256;
use assay_attribution::engine::{Journal, Loaded};
use assay_keys::{DataKey, SealingKey};

/// The label of the enclave's journal: its key derivation and every entry's aad.
const LABEL: &[u8] = b"assay-journal/1";
/// The label of a replay's journal.
const REPLAY_LABEL: &[u8] = b"assay-replay-journal/1";

/// Where sealed entries are kept, by name: a folder, or (in a VM) the host's storage reached
/// over the channel. The keeper is the host: it sees only sealed bytes.
pub trait Shelf: Send + Sync + std::fmt::Debug {
    /// The entry `name`, if there is one.
    fn get(&self, name: &str) -> Option<Vec<u8>>;
    /// Keeps `bytes` as the entry `name`, whole or not at all.
    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), String>;
    /// Where `name` is kept, for messages.
    fn place(&self, name: &str) -> String;
}

/// Entries as files in a folder (made if absent).
#[derive(Debug)]
pub struct Folder(PathBuf);

impl Folder {
    /// The folder `dir`, made if absent.
    pub fn open(dir: &Path) -> Result<Folder, crate::Error> {
        std::fs::create_dir_all(dir).map_err(|source| crate::Error::Io {
            path: dir.display().to_string(),
            source,
        })?;
        Ok(Folder(dir.to_owned()))
    }
}

impl Shelf for Folder {
    fn get(&self, name: &str) -> Option<Vec<u8>> {
        std::fs::read(self.0.join(name)).ok()
    }

    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), String> {
        assay_keys::write_atomic(&self.0.join(name), bytes, false).map_err(|e| e.to_string())
    }

    fn place(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

/// A sealed journal on a [`Shelf`]. See the module documentation.
#[derive(Debug)]
pub struct SealedJournal {
    shelf: Arc<dyn Shelf>,
    label: &'static [u8],
    job: B256,
    key: SealingKey,
}

impl SealedJournal {
    /// The journal in `dir` (made if absent) of the job `job`, sealed under a key derived from
    /// the holdout's data key.
    pub fn open(dir: &Path, data_key: &DataKey, job: B256) -> Result<Self, crate::Error> {
        Ok(Self::on(Arc::new(Folder::open(dir)?), data_key, job))
    }

    /// The journal of the job `job` on `shelf`, sealed under a key derived from the holdout's
    /// data key.
    pub fn on(shelf: Arc<dyn Shelf>, data_key: &DataKey, job: B256) -> Self {
        Self::labelled(shelf, LABEL, data_key, job)
    }

    /// A replay's journal in `dir`: as [`SealedJournal::open`], under the replay's label.
    pub fn open_replay(dir: &Path, data_key: &DataKey, job: B256) -> Result<Self, crate::Error> {
        Ok(Self::labelled(
            Arc::new(Folder::open(dir)?),
            REPLAY_LABEL,
            data_key,
            job,
        ))
    }

    fn labelled(
        shelf: Arc<dyn Shelf>,
        label: &'static [u8],
        data_key: &DataKey,
        job: B256,
    ) -> Self {
        SealedJournal {
            shelf,
            label,
            job,
            key: data_key.derive(label, job.as_slice()),
        }
    }

    /// The name of `run`'s entry.
    fn name(run: usize) -> String {
        format!("run-{run:06}.sealed")
    }

    fn aad(&self, run: usize, excluded: &[usize]) -> Vec<u8> {
        let mut aad = Vec::with_capacity(self.label.len() + 32 + 16 + 8 * excluded.len());
        aad.extend_from_slice(self.label);
        aad.extend_from_slice(self.job.as_slice());
        aad.extend_from_slice(&(run as u64).to_le_bytes());
        aad.extend_from_slice(&(excluded.len() as u64).to_le_bytes());
        for &i in excluded {
            aad.extend_from_slice(&(i as u64).to_le_bytes());
        }
        aad
    }
}

impl Journal for SealedJournal {
    fn load(&self, run: usize, excluded: &[usize]) -> Loaded {
        let Some(sealed) = self.shelf.get(&Self::name(run)) else {
            return Loaded::Absent;
        };
        match self.key.open(&self.aad(run, excluded), &sealed) {
            Some(bits) => match <[u8; 8]>::try_from(bits.as_slice()) {
                Ok(b) => Loaded::Found(f64::from_bits(u64::from_le_bytes(b))),
                Err(_) => Loaded::Refused,
            },
            None => Loaded::Refused,
        }
    }

    fn store(
        &self,
        run: usize,
        excluded: &[usize],
        metric: f64,
    ) -> Result<(), assay_attribution::Error> {
        let sealed = self
            .key
            .seal(&self.aad(run, excluded), &metric.to_bits().to_le_bytes());
        let name = Self::name(run);
        self.shelf
            .put(&name, &sealed)
            .map_err(|e| assay_attribution::Error::Io {
                path: self.shelf.place(&name),
                source: std::io::Error::other(e),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_open_for_their_job_and_run_only() {
        let dir = tempfile::tempdir().unwrap();
        let key = DataKey::generate();
        let job = B256::repeat_byte(1);
        let j = SealedJournal::open(dir.path(), &key, job).unwrap();
        assert_eq!(j.load(1, &[0]), Loaded::Absent);
        j.store(1, &[0], 2.5).unwrap();
        j.store(2, &[1], 3.5).unwrap();
        assert_eq!(j.load(1, &[0]), Loaded::Found(2.5));
        // Another job (another Forge nonce, say) or another data key: refused.
        let other_job = SealedJournal::open(dir.path(), &key, B256::repeat_byte(2)).unwrap();
        assert_eq!(other_job.load(1, &[0]), Loaded::Refused);
        let other_key = SealedJournal::open(dir.path(), &DataKey::generate(), job).unwrap();
        assert_eq!(other_key.load(1, &[0]), Loaded::Refused);
        // A replay's journal does not take the enclave's entries, nor the enclave a replay's.
        let replay = SealedJournal::open_replay(dir.path(), &key, job).unwrap();
        assert_eq!(replay.load(1, &[0]), Loaded::Refused);
        replay.store(3, &[2], 4.5).unwrap();
        assert_eq!(replay.load(3, &[2]), Loaded::Found(4.5));
        assert_eq!(j.load(3, &[2]), Loaded::Refused);
        // Another run's entry put in its place (reordered): refused.
        std::fs::copy(
            dir.path().join("run-000002.sealed"),
            dir.path().join("run-000001.sealed"),
        )
        .unwrap();
        assert_eq!(j.load(1, &[0]), Loaded::Refused);
        // A changed byte anywhere: refused.
        j.store(1, &[0], 2.5).unwrap();
        let path = dir.path().join("run-000001.sealed");
        let good = std::fs::read(&path).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x80;
            std::fs::write(&path, &bad).unwrap();
            assert_eq!(j.load(1, &[0]), Loaded::Refused, "byte {i}");
        }
        // The file holds no plaintext metric.
        assert!(!good.windows(8).any(|w| w == 2.5f64.to_bits().to_le_bytes()));
    }
}
