//! Whole-file writes that never leave a half-written file: the one helper the workspace's
//! binaries write their outputs with (keys, holdouts, bundles).

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
