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

/// A stand-in for `qemu-system-x86_64` that says it is `version` and answers QMP as QEMU with
/// SEV does (greeting, capabilities, the C-bit at 51).
fn fake_qemu(dir: &std::path::Path, version: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(format!("qemu-{version}"));
    std::fs::write(
        &path,
        format!(
            r#"#!/bin/sh
if [ "$1" = --version ]; then echo "QEMU emulator version {version}"; exit 0; fi
echo '{{"QMP": {{"version": {{}}, "capabilities": []}}}}'
read -r _; echo '{{"return": {{}}}}'
read -r _; echo '{{"return": {{"cbitpos": 51, "reduced-phys-bits": 1}}}}'
"#
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

#[test]
fn the_snp_launcher_refuses_a_qemu_or_host_without_snp_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let image = vector_image(d);
    let run = |qemu: &str| {
        host(&[
            "run",
            &d.join("job.json").display().to_string(),
            "--out",
            &d.join("bundle.json").display().to_string(),
            "--launcher",
            "qemu-snp",
            "--image",
            &image,
            "--qemu",
            qemu,
        ])
    };
    // Debian 12's QEMU: too old for SEV-SNP.
    let o = run(&fake_qemu(d, "7.2.22"));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("QEMU 7.2.22; SEV-SNP guests need QEMU 9.1 or later"),
        "{}",
        stderr(&o)
    );
    // A new enough QEMU on a host whose KVM runs no SNP guests (this one): the missing piece
    // is named.
    if !std::path::Path::new("/sys/module/kvm_amd/parameters/sev_snp").exists() {
        let o = run(&fake_qemu(d, "9.1.0"));
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains("/sys/module/kvm_amd/parameters/sev_snp"),
            "{}",
            stderr(&o)
        );
    }
    // No QEMU at all.
    let o = run(&d.join("absent-qemu").display().to_string());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("absent-qemu: cannot run"),
        "{}",
        stderr(&o)
    );
    assert!(!d.join("bundle.json").exists());
}

#[test]
fn qmp_gives_the_c_bit_from_a_qemu_that_speaks_it() {
    let dir = tempfile::tempdir().unwrap();
    let qemu = fake_qemu(dir.path(), "9.1.0");
    let caps = assay_host::launcher::qemu::probe::sev_capabilities(
        std::path::Path::new(&qemu),
        std::time::Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!((caps.cbitpos, caps.reduced_phys_bits), (51, 1));
    let silent = dir.path().join("silent");
    std::fs::write(&silent, "#!/bin/sh\nsleep 30\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&silent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let e = assay_host::launcher::qemu::probe::sev_capabilities(
        &silent,
        std::time::Duration::from_secs(1),
    )
    .unwrap_err();
    assert!(
        e.contains("did not answer") || e.contains("no QMP greeting"),
        "{e}"
    );
}
