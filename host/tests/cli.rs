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

/// An image of the launch-measurement vectors' files (`../shared/vectors/measure/inputs`, or
/// `$ASSAY_MEASURE_VECTORS/inputs`).
fn vector_image(dir: &std::path::Path) -> String {
    let inputs = std::env::var_os("ASSAY_MEASURE_VECTORS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/measure")
        })
        .join("inputs");
    let path = dir.join("image.toml");
    std::fs::write(
        &path,
        format!(
            "ovmf = {:?}\nkernel = {:?}\ninitrd = {:?}\nvcpus = 1\nvcpu_type = \"EPYC-v4\"\n",
            inputs
                .join("OVMF.amdsev.fd.suffix64k.bin")
                .display()
                .to_string(),
            inputs.join("kernel-synthetic.bin").display().to_string(),
            inputs.join("initrd-tiny.cpio.gz").display().to_string(),
        ),
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn an_unusable_data_folder_or_store_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = |name: &str| d.join(name).display().to_string();
    let image = vector_image(d);
    let chain = concat!(env!("CARGO_MANIFEST_DIR"), "/../attestation/testdata/sim");
    let serve = |data: &str, extra: &[&str]| {
        let mut args = vec![
            "serve",
            "--data-dir",
            data,
            "--image",
            &image,
            "--sim-chain",
            chain,
            "--enclave",
            env!("CARGO_BIN_EXE_assay-host"),
        ];
        args.extend_from_slice(extra);
        host(&args)
    };
    // The data folder is a file.
    std::fs::write(d.join("file"), "x").unwrap();
    let o = serve(&p("file"), &["--insecure-http", "--listen", "127.0.0.1:0"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains(&p("file")), "{}", stderr(&o));
    // The store is not a database: refused, and left as it was.
    std::fs::create_dir(d.join("data")).unwrap();
    std::fs::write(
        d.join("data/jobs.db"),
        b"this is not a SQLite database, only text",
    )
    .unwrap();
    let o = serve(&p("data"), &["--insecure-http", "--listen", "127.0.0.1:0"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("jobs.db") && stderr(&o).contains("not a job store"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(d.join("data/jobs.db")).unwrap(),
        b"this is not a SQLite database, only text"
    );
    // Plain HTTP off loopback.
    let o = serve(&p("fresh"), &["--insecure-http", "--listen", "0.0.0.0:0"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("loopback address only"),
        "{}",
        stderr(&o)
    );
    // A listen address that is not one.
    let o = serve(&p("fresh"), &["--listen", "nowhere"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot listen on nowhere"),
        "{}",
        stderr(&o)
    );
}
