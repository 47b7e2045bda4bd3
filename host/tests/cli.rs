//! `assay-host`'s command line: every unusable input or setting is named, with exit 1 (2 for a
//! malformed command line), before anything is served or written.

use std::process::{Command, Output};

fn host(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_assay-host"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn unusable_settings_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = |name: &str| d.join(name).display().to_string();
    // No image, an image that is not one, no simulated chain for the process launcher.
    let o = host(&["serve", "--data-dir", &p("data")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--image"));
    let o = host(&[
        "serve",
        "--data-dir",
        &p("data"),
        "--image",
        &p("absent.toml"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("absent.toml"), "{}", stderr(&o));
    std::fs::write(d.join("bad.toml"), "ovmf = 1").unwrap();
    let o = host(&["serve", "--data-dir", &p("data"), "--image", &p("bad.toml")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("image") && stderr(&o).contains("bad.toml"),
        "{}",
        stderr(&o)
    );
    // TLS flags go in pairs; plain HTTP excludes them.
    let o = host(&[
        "serve",
        "--data-dir",
        &p("data"),
        "--image",
        "x",
        "--tls-cert",
        "c",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = host(&[
        "serve",
        "--data-dir",
        &p("data"),
        "--image",
        "x",
        "--tls-cert",
        "c",
        "--tls-key",
        "k",
        "--insecure-http",
    ]);
    assert_eq!(o.status.code(), Some(2));
    // The example refuses to write over a folder.
    std::fs::create_dir(d.join("exists")).unwrap();
    let o = host(&["example", "--out", &p("exists"), "--image", &p("bad.toml")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("exists"), "{}", stderr(&o));
}
