//! Reading a pinned input: once, and only from a regular file. Whatever is hashed is exactly
//! what is then parsed (a file read twice could change in between, a FIFO could serve the pinned
//! bytes to the hash and other bytes to the loader), so callers hash and parse one buffer.

use std::io::Read;
use std::path::Path;

use crate::Error;

/// The bytes of the regular file at `path` (a symbolic link to one is followed), read once.
pub fn read_pinned(path: &Path) -> Result<Vec<u8>, Error> {
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    // Checked before opening (opening a FIFO would wait for a writer) and on the open file.
    let not_regular = || Error::NotRegularFile {
        path: path.display().to_string(),
    };
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(not_regular());
    }
    let mut file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut bytes).map_err(io)?;
    Ok(bytes)
}

/// [`read_pinned`], or `None` when there is no file at `path`.
pub fn read_pinned_if_present(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        _ => read_pinned(path).map(Some),
    }
}

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"pinned").unwrap();
        assert_eq!(read_pinned(&file).unwrap(), b"pinned");
        let e = read_pinned(dir.path()).unwrap_err();
        assert!(matches!(e, Error::NotRegularFile { .. }), "{e}");
        assert!(
            read_pinned_if_present(&dir.path().join("absent"))
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            read_pinned(&dir.path().join("absent")),
            Err(Error::Io { .. })
        ));
        #[cfg(unix)]
        {
            let fifo = dir.path().join("fifo");
            let status = std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap();
            assert!(status.success());
            // Refused without opening it: nothing waits for a writer.
            let e = read_pinned(&fifo).unwrap_err();
            assert!(
                e.to_string().contains("not a regular file") && e.to_string().contains("fifo"),
                "{e}"
            );
            let e = read_pinned_if_present(&fifo).unwrap_err();
            assert!(matches!(e, Error::NotRegularFile { .. }), "{e}");
        }
    }
}
