//! The browser page (`web/`) driven in Debian's Chromium by playwright-core (both installed by
//! `scripts/test`, which sets ASSAY_CHROMIUM and ASSAY_PLAYWRIGHT): every vector's verdict and
//! reasons shown, QR codes read from the PNGs `assay alloy qr` writes, a dropped file re-hashed,
//! and no request leaving 127.0.0.1. Screenshots go to target/alloy-browser.

use std::path::PathBuf;
use std::process::Command;

use assay_tests::paths::{bin, repo};

fn tools() -> Option<(PathBuf, PathBuf)> {
    match (
        std::env::var_os("ASSAY_CHROMIUM"),
        std::env::var_os("ASSAY_PLAYWRIGHT"),
    ) {
        (Some(c), Some(p)) => Some((c.into(), p.into())),
        _ => {
            assert!(
                std::env::var_os("ASSAY_REQUIRE_BROWSER").is_none(),
                "ASSAY_REQUIRE_BROWSER is set but ASSAY_CHROMIUM or ASSAY_PLAYWRIGHT is not"
            );
            eprintln!(
                "SKIPPED: set ASSAY_CHROMIUM (a Chromium binary) and ASSAY_PLAYWRIGHT (a folder with node_modules/playwright-core); scripts/test does"
            );
            None
        }
    }
}

#[test]
fn the_page_verifies_every_vector_reads_qr_images_and_rehashes_files() {
    let Some((chromium, playwright)) = tools() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The golden long chain as a file, and its codes as `assay alloy qr` renders them.
    let golden: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo().join("docs/alloy/vectors/golden-long-qr.json")).unwrap(),
    )
    .unwrap();
    let file = dir.path().join("chain.alloy");
    std::fs::write(
        &file,
        hex::decode(golden["spelled_out"]["chain_file"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let o = Command::new(bin("assay"))
        .args(["alloy", "qr"])
        .arg(&file)
        .arg("--out")
        .arg(dir.path().join("codes"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut pngs: Vec<PathBuf> = std::fs::read_dir(dir.path().join("codes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    pngs.sort();
    let artifacts = repo().join("target/alloy-browser");
    let mut cmd = Command::new("node");
    cmd.arg("web/test/browser.mjs")
        .arg("--chromium")
        .arg(&chromium)
        .arg("--vectors")
        .arg(repo().join("docs/alloy/vectors"))
        .arg("--artifacts")
        .arg(&artifacts)
        .args(["--rehash-mib", "64"])
        .env("NODE_PATH", playwright.join("node_modules"))
        .current_dir(repo());
    for p in &pngs {
        cmd.arg("--qr-png").arg(p);
    }
    let o = cmd.output().expect("node runs");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!("{out}");
    assert!(o.status.success(), "the browser test failed:\n{out}");
}
