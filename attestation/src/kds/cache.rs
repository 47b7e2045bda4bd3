//! A disk cache for KDS downloads, so that each VCEK, chain and CRL is fetched once.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::Error;

/// A folder of cached KDS responses, one file per URL.
#[derive(Clone, Debug)]
pub struct Cache {
    dir: PathBuf,
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

impl Cache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Cache { dir: dir.into() }
    }

    /// The file that caches `url`.
    pub fn path_for(&self, url: &str) -> PathBuf {
        let key = url
            .trim_start_matches("https://")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>();
        self.dir.join(key)
    }

    /// Returns the cached body of `url` if present and younger than `max_age` (`None`: no
    /// limit, right for VCEKs and chains, which never change), else calls `fetch` and stores its
    /// answer atomically (`atomic-write-file`: temporary file, fsync, rename, fsync of the
    /// folder), so a crash never leaves half a file.
    pub fn get(
        &self,
        url: &str,
        max_age: Option<Duration>,
        fetch: impl FnOnce(&str) -> Result<Vec<u8>, Error>,
    ) -> Result<Vec<u8>, Error> {
        let path = self.path_for(url);
        if let Ok(meta) = std::fs::metadata(&path) {
            let fresh = match max_age {
                None => true,
                Some(max) => meta
                    .modified()
                    .ok()
                    .and_then(|m| SystemTime::now().duration_since(m).ok())
                    .is_some_and(|age| age < max),
            };
            if fresh {
                return std::fs::read(&path).map_err(|e| io(&path, e));
            }
        }
        let body = fetch(url)?;
        std::fs::create_dir_all(&self.dir).map_err(|e| io(&self.dir, e))?;
        let mut file = atomic_write_file::AtomicWriteFile::open(&path).map_err(|e| io(&path, e))?;
        std::io::Write::write_all(&mut file, &body)
            .and_then(|()| file.commit())
            .map_err(|e| io(&path, e))?;
        Ok(body)
    }
}

/// Fetches `url` over HTTPS (rustls, webpki roots) with a 30-second timeout.
#[cfg(feature = "kds-fetch")]
pub fn fetch_https(url: &str) -> Result<Vec<u8>, Error> {
    let fail = |reason: String| Error::KdsFetch {
        url: url.to_owned(),
        reason,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
    response
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_vec()
        .map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn fetches_once_then_serves_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("kds"));
        let calls = Cell::new(0);
        let fetch = |_: &str| {
            calls.set(calls.get() + 1);
            Ok(b"vcek-der".to_vec())
        };
        let url = "https://kdsintf.amd.com/vcek/v1/Milan/abcd?blSPL=03";
        assert_eq!(cache.get(url, None, fetch).unwrap(), b"vcek-der");
        assert_eq!(cache.get(url, None, fetch).unwrap(), b"vcek-der");
        assert_eq!(calls.get(), 1);
        // A zero max age forces a refetch (CRLs).
        cache.get(url, Some(Duration::ZERO), fetch).unwrap();
        assert_eq!(calls.get(), 2);
        assert!(
            cache
                .path_for(url)
                .ends_with("kdsintf.amd.com_vcek_v1_Milan_abcd_blSPL_03")
        );
    }

    #[test]
    fn failed_fetch_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let url = "https://kdsintf.amd.com/vcek/v1/Genoa/crl";
        let err = cache
            .get(url, None, |u| {
                Err(Error::KdsFetch {
                    url: u.into(),
                    reason: "offline".into(),
                })
            })
            .unwrap_err();
        assert!(matches!(err, Error::KdsFetch { .. }));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
