//! Whole-file writes that never leave a half-written file: the one helper the workspace's
//! binaries write their outputs with (keys, holdouts, bundles); and the one reader of secret key
//! files.

use std::io::Write;
use std::path::Path;

use atomic_write_file::AtomicWriteFile;

use crate::Error;

/// Writes `bytes` to a temporary file next to `path`, fsyncs it, renames it over `path` and
/// fsyncs the folder (`atomic-write-file`). With `private`, the file is created readable by its
/// owner only.
pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let mut options = AtomicWriteFile::options();
    #[cfg(unix)]
    if private {
        use atomic_write_file::unix::OpenOptionsExt;
        use std::os::unix::fs::OpenOptionsExt as _;
        options.preserve_mode(false).mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.commit().map_err(io)
}

/// Reads a key file holding exactly 64 hex digits (whitespace around them ignored): 32 secret
/// bytes. The text read is wiped; the error says what the file must hold (`holds`), never what
/// it held.
pub(crate) fn read_secret_hex(path: &Path, holds: &str) -> Result<[u8; 32], Error> {
    use zeroize::Zeroize;
    let mut text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    let mut bytes = [0u8; 32];
    let ok = hex::decode_to_slice(text.trim(), &mut bytes).is_ok();
    text.zeroize();
    if !ok {
        bytes.zeroize();
        return Err(Error::KeyFile {
            path: path.display().to_string(),
            reason: format!("a {holds} file holds exactly 64 hex digits (32 bytes)"),
        });
    }
    Ok(bytes)
}
