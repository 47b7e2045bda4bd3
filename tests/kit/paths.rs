//! Where things are: the repository, the shared vectors, the workspace's binaries.

use std::path::{Path, PathBuf};

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
        .to_owned()
}

/// The simulated AMD chain (test keys) in `attestation/testdata/sim`.
pub fn sim_dir() -> PathBuf {
    repo().join("attestation/testdata/sim")
}

/// The inputs of the launch-measurement vectors (`../shared/vectors/measure/inputs`, or
/// `$ASSAY_MEASURE_VECTORS/inputs`).
pub fn measure_inputs() -> PathBuf {
    std::env::var_os("ASSAY_MEASURE_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/vectors/measure"))
        .join("inputs")
}

/// A binary of the workspace (`assay`, `assay-enclave`), as `cargo test --workspace` builds it
/// beside the test executables (its packages have integration tests of their own, so Cargo
/// builds their binaries before any test runs).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from target/<profile>/deps");
    let path = profile.join(name);
    assert!(
        path.is_file(),
        "{} is not built: run the tests with `cargo test --workspace` (as scripts/test does), which builds the workspace's binaries first",
        path.display()
    );
    path
}

/// What the environment variable `var` names (a tool or folder scripts/test fetches), or `None`
/// once the test has said it is skipped and `how` to run it; unless `require` is set (as
/// scripts/test sets it when the fetch worked): then its absence fails the test.
pub fn provided(var: &str, require: &str, how: &str) -> Option<PathBuf> {
    if let Some(v) = std::env::var_os(var) {
        return Some(v.into());
    }
    assert!(
        std::env::var_os(require).is_none(),
        "{require} is set but {var} is not"
    );
    eprintln!("SKIPPED: {how}");
    None
}
