//! Where a model folder's files come from: a folder on disk, or files already in memory (a
//! guest receives the model over its channel and holds each file once, hashed as it arrived;
//! every worker's loader shares those bytes). Either way the bytes a loader hashes are the
//! bytes it loads ([`crate::files`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::Error;
use crate::files::read_pinned;

/// A model folder's files held in memory, by name.
#[derive(Debug, Default)]
pub struct MemoryModel {
    /// What to call the folder in messages (e.g. `channel:model`).
    pub origin: PathBuf,
    /// The files, by plain name (no folder).
    pub files: BTreeMap<String, Arc<Vec<u8>>>,
}

/// Where a model's files are.
#[derive(Clone, Debug)]
pub enum ModelSource {
    /// A folder.
    Dir(PathBuf),
    /// Files in memory.
    Memory(Arc<MemoryModel>),
}

impl From<PathBuf> for ModelSource {
    fn from(dir: PathBuf) -> Self {
        ModelSource::Dir(dir)
    }
}

impl From<&Path> for ModelSource {
    fn from(dir: &Path) -> Self {
        ModelSource::Dir(dir.to_owned())
    }
}

impl ModelSource {
    /// The path `name` has in messages.
    pub fn path(&self, name: &str) -> PathBuf {
        match self {
            ModelSource::Dir(dir) => dir.join(name),
            ModelSource::Memory(m) => m.origin.join(name),
        }
    }

    /// The folder, as messages name it.
    pub fn origin(&self) -> &Path {
        match self {
            ModelSource::Dir(dir) => dir,
            ModelSource::Memory(m) => &m.origin,
        }
    }

    /// Whether there is a file `name`.
    pub fn has(&self, name: &str) -> bool {
        match self {
            // Whatever is there (a FIFO, say) is named by the reader, which takes regular
            // files only.
            ModelSource::Dir(dir) => std::fs::metadata(dir.join(name)).is_ok(),
            ModelSource::Memory(m) => m.files.contains_key(name),
        }
    }

    /// The bytes of the file `name`, read once (from a regular file only, on disk).
    pub fn read(&self, name: &str) -> Result<Arc<Vec<u8>>, Error> {
        match self {
            ModelSource::Dir(dir) => read_pinned(&dir.join(name)).map(Arc::new),
            ModelSource::Memory(m) => m.files.get(name).cloned().ok_or_else(|| Error::Io {
                path: self.path(name).display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such file in the model received",
                ),
            }),
        }
    }

    /// [`ModelSource::read`], or `None` when there is no file `name`.
    pub fn read_if_present(&self, name: &str) -> Result<Option<Arc<Vec<u8>>>, Error> {
        match self {
            ModelSource::Dir(dir) => {
                crate::files::read_pinned_if_present(&dir.join(name)).map(|b| b.map(Arc::new))
            }
            ModelSource::Memory(m) => Ok(m.files.get(name).cloned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_and_folder_give_the_same_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), b"{}").unwrap();
        let disk = ModelSource::from(dir.path());
        let memory = ModelSource::Memory(Arc::new(MemoryModel {
            origin: "channel:model".into(),
            files: [("config.json".to_owned(), Arc::new(b"{}".to_vec()))].into(),
        }));
        for s in [&disk, &memory] {
            assert!(s.has("config.json") && !s.has("absent.json"));
            assert_eq!(s.read("config.json").unwrap().as_slice(), b"{}");
            assert!(s.read_if_present("absent.json").unwrap().is_none());
            let e = s.read("absent.json").unwrap_err();
            assert!(e.to_string().contains("absent.json"), "{e}");
        }
        assert_eq!(memory.path("x"), PathBuf::from("channel:model").join("x"));
    }
}
