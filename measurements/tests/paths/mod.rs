//! Where the launch-measurement vectors and their fetched Debian inputs are (shared by the
//! measurement tests, the `assay measure` CLI test and the bench).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// `../shared/vectors/measure`, or `$ASSAY_MEASURE_VECTORS`. Every workspace crate sits one
/// folder below the workspace root, so the path is the same from each.
pub fn vectors_dir() -> PathBuf {
    std::env::var_os("ASSAY_MEASURE_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/measure")
        })
}

/// Where `scripts/fetch-measure-inputs` puts the Debian inputs: `$ASSAY_MEASURE_INPUTS`, or
/// `~/.cache/assay/measure-inputs`.
pub fn inputs_dir() -> PathBuf {
    std::env::var_os("ASSAY_MEASURE_INPUTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(&std::env::var("HOME").unwrap_or_default())
                .join(".cache/assay/measure-inputs")
        })
}
