//! The enclave image (docs/image.md), built by `scripts/test` with `scripts/image-build` into
//! ASSAY_IMAGE, and booted by QEMU (ASSAY_QEMU):
//!
//! - a second build, from a clone in another directory, gives every file byte for byte and the
//!   same measurement; the build's paths appear nowhere in the program;
//! - the measurement is `assay measure` over the image's files; `assay image check` refuses a
//!   changed file;
//! - the demo's Forge job run by `assay-host run --launcher qemu` boots the image, releases the
//!   key over the channel, trains, evaluates, and writes a bundle that `assay verify attestation
//!   --reference reference.toml` accepts (and its alloy chain), while the same bundle with
//!   another JobSpec, measurement or score is refused; nothing of the holdout is on the host
//!   side afterwards;
//! - a host that changes the model, the data or the JobSpec on the channel gets the job
//!   refused inside the guest;
//! - a guest that never connects, runs past its deadline or panics fails its job with the
//!   reason.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use assay_enclave::vm::protocol::{Input, Output as GuestOutput};
use assay_forge::Bundle;
use assay_host::launcher::qemu::serve::{JobSupply, Supply};
use assay_host::launcher::qemu::{QemuLauncher, Settings};
use assay_host::launcher::{Exit, LaunchRequest, Launcher, simulated_sp};
use assay_tests::host::{Process, job_with_nonce, key_service, key_service_config};
use assay_tests::paths::{bin, provided, repo, sim_dir};
use assay_tests::scan::{example_needles, files, scan};

/// The image scripts/test built, or `None` (said) when there is none.
fn image() -> Option<PathBuf> {
    provided(
        "ASSAY_IMAGE",
        "ASSAY_REQUIRE_IMAGE",
        "set ASSAY_IMAGE to an image folder (scripts/image-build); scripts/test does",
    )
}

/// QEMU, or `None` (said) when there is none.
fn qemu() -> Option<PathBuf> {
    provided(
        "ASSAY_QEMU",
        "ASSAY_REQUIRE_QEMU",
        "set ASSAY_QEMU to qemu-system-x86_64 (Debian's qemu-system-x86); scripts/test installs it",
    )
}

fn ok(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn assay(args: &[&str]) -> Output {
    Command::new(bin("assay")).args(args).output().unwrap()
}

const OUTPUTS: [&str; 7] = [
    "vmlinuz",
    "initrd.img",
    "OVMF.amdsev.fd",
    "cmdline",
    "image.toml",
    "reference.toml",
    "manifest.json",
];

/// The working tree as a fresh clone in `dir`: the repository's HEAD, then every changed or new
/// file of the working tree over it (none in CI's clean clone).
fn clone_of_the_working_tree(dir: &Path) -> PathBuf {
    let to = dir.join("another/checkout");
    let o = Command::new("git")
        .args(["clone", "-q", "--no-local"])
        .arg(repo())
        .arg(&to)
        .output()
        .unwrap();
    ok(&o);
    let listed = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--modified",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(repo())
        .output()
        .unwrap();
    for f in listed.stdout.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        let rel = Path::new(std::str::from_utf8(f).unwrap());
        let from = repo().join(rel);
        let dest = to.join(rel);
        if from.is_file() {
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(&from, &dest).unwrap();
        } else if !from.exists() {
            let _ = std::fs::remove_file(&dest);
        }
    }
    to
}

#[test]
fn the_image_is_the_same_bytes_when_built_from_another_directory() {
    let Some(image) = image() else { return };
    let dir = tempfile::tempdir().unwrap();
    let checkout = clone_of_the_working_tree(dir.path());
    let out = dir.path().join("image");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(image.join("manifest.json")).unwrap()).unwrap();
    let mut args: Vec<String> = vec!["--out".into(), out.display().to_string()];
    for l in manifest["launches"].as_array().unwrap() {
        args.push("--vcpus".into());
        args.push(l["vcpus"].to_string());
        args.push("--vcpu-type".into());
        args.push(l["vcpu_type"].as_str().unwrap().into());
    }
    let o = Command::new(checkout.join("scripts/image-build"))
        .args(&args)
        .env("ASSAY_BIN", bin("assay"))
        .output()
        .unwrap();
    ok(&o);
    for f in OUTPUTS {
        let (a, b) = (
            std::fs::read(image.join(f)).unwrap(),
            std::fs::read(out.join(f)).unwrap(),
        );
        assert!(a == b, "{f} differs between the two builds");
    }
    // Nothing of either checkout's location is in the program.
    let program = assay_tests::image::init_of(&std::fs::read(out.join("initrd.img")).unwrap());
    for place in [repo(), checkout] {
        let p = place.display().to_string();
        assert!(
            !program.windows(p.len()).any(|w| w == p.as_bytes()),
            "the enclave program names {p}"
        );
    }
}

#[test]
fn the_measurement_is_assay_measure_of_the_files_and_a_changed_file_is_refused() {
    let Some(image) = image() else { return };
    let f = |name: &str| image.join(name).display().to_string();
    let cmdline = std::fs::read_to_string(image.join("cmdline")).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(image.join("manifest.json")).unwrap()).unwrap();
    let reference =
        assay_measurements::reference::ReferenceValues::load(&image.join("reference.toml"))
            .unwrap();
    let launches = manifest["launches"].as_array().unwrap();
    assert_eq!(reference.all_measurements().len(), launches.len());
    for (l, m) in launches.iter().zip(reference.all_measurements()) {
        let measured = ok(&assay(&[
            "measure",
            "--mode",
            "snp",
            "--vcpus",
            &l["vcpus"].to_string(),
            "--vcpu-type",
            l["vcpu_type"].as_str().unwrap(),
            "--ovmf",
            &f("OVMF.amdsev.fd"),
            "--kernel",
            &f("vmlinuz"),
            "--initrd",
            &f("initrd.img"),
            "--append",
            &cmdline,
        ]));
        assert_eq!(measured.trim(), l["measurement"].as_str().unwrap());
        assert_eq!(measured.trim(), hex::encode(m));
    }
    ok(&assay(&["image", "check", &image.display().to_string()]));
    // Its /init is the release enclave program tests/no_test_key.rs searches for test keys.
    if let Some(program) = std::env::var_os("ASSAY_RELEASE_ENCLAVE") {
        let init = assay_tests::image::init_of(&std::fs::read(image.join("initrd.img")).unwrap());
        assert!(
            init == std::fs::read(&program).unwrap(),
            "the image's /init is not {}",
            PathBuf::from(program).display()
        );
    }
    // A changed byte of the initrd: named, exit 1.
    let dir = tempfile::tempdir().unwrap();
    for name in OUTPUTS {
        std::fs::copy(image.join(name), dir.path().join(name)).unwrap();
    }
    let initrd = dir.path().join("initrd.img");
    let mut bytes = std::fs::read(&initrd).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&initrd, bytes).unwrap();
    let o = assay(&["image", "check", &dir.path().display().to_string()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("initrd.img") && err.contains("manifest says"),
        "{err}"
    );
}

/// The demo's Forge job for the image at `image` (its key service pins the image's
/// measurement), and that key service running.
struct Forge {
    dir: tempfile::TempDir,
    example: PathBuf,
    ks: Process,
}

impl Forge {
    fn new(image: &Path) -> Forge {
        let dir = tempfile::tempdir().unwrap();
        let example = dir.path().join("example");
        let o = Command::new(bin("assay-host"))
            .args(["example", "--out"])
            .arg(&example)
            .arg("--image")
            .arg(image.join("image.toml"))
            .output()
            .unwrap();
        ok(&o);
        let ks = key_service(&key_service_config(
            &example,
            &[example.join("job.json"), job_with_nonce(&example, 7)],
            8,
        ));
        // The job file beside its inputs, as `assay-host run` takes it.
        std::fs::copy(example.join("job.json"), example.join("inputs/job.json")).unwrap();
        Forge { dir, example, ks }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// `assay-host run --launcher qemu` of `job` with `extra` flags.
fn host_run(
    f: &Forge,
    image: &Path,
    qemu: &Path,
    job: &Path,
    work: &Path,
    extra: &[&str],
) -> Output {
    Command::new(bin("assay-host"))
        .arg("run")
        .arg(job)
        .arg("--out")
        .arg(f.path().join("bundle.json"))
        .arg("--work-dir")
        .arg(work)
        .args(["--key-service", &f.ks.url, "--launcher", "qemu", "--image"])
        .arg(image.join("image.toml"))
        .arg("--qemu")
        .arg(qemu)
        .arg("--sim-chain")
        .arg(sim_dir())
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_forge_job_runs_in_the_image_under_qemu_and_its_bundle_verifies_against_the_reference() {
    let (Some(image), Some(qemu)) = (image(), qemu()) else {
        return;
    };
    let f = Forge::new(&image);
    let work = f.path().join("work");
    let o = host_run(
        &f,
        &image,
        &qemu,
        &f.example.join("inputs/job.json"),
        &work,
        &["--workers", "2"],
    );
    let out = ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        out.contains("succeeded") && out.contains("it verifies"),
        "{out}"
    );
    assert!(
        err.contains("guests run with"),
        "the accelerator is said: {err}"
    );
    let bundle_path = f.path().join("bundle.json");
    let bundle = Bundle::parse(&std::fs::read(&bundle_path).unwrap(), "bundle").unwrap();
    assert_eq!(bundle.result.scores.len(), 3);
    assert!(bundle.result.tee);

    // An auditor: the image's reference values, the simulated root named, the job pinned.
    let job = f.example.join("job.json").display().to_string();
    let nonce = format!("0x{}", "99".repeat(32));
    let reference = image.join("reference.toml").display().to_string();
    let root = sim_dir().join("ark.pem").display().to_string();
    let chain = f.path().join("bundle.alloy").display().to_string();
    let verify = |bundle: &Path, extra: &[&str]| {
        let mut args = vec![
            "verify",
            "attestation",
            bundle.to_str().unwrap(),
            "--nonce",
            &nonce,
            "--reference",
            &reference,
            "--job",
            &job,
            "--insecure-test-root",
            &root,
        ];
        args.extend_from_slice(extra);
        assay(&args)
    };
    let accepted = ok(&verify(&bundle_path, &["--alloy", &chain]));
    assert!(accepted.contains("accepted: TEE (simulated)"), "{accepted}");
    assert!(accepted.contains("alloy chain:"), "{accepted}");
    // Its MEASUREMENT is `assay measure` over the image's files.
    let report =
        assay_attestation::abi::AttestationReport::from_bytes(bundle.report.as_deref().unwrap())
            .unwrap();
    let cmdline = std::fs::read_to_string(image.join("cmdline")).unwrap();
    let spec = assay_image::ImageSpec::load(&image.join("image.toml")).unwrap();
    let measured = ok(&assay(&[
        "measure",
        "--mode",
        "snp",
        "--vcpus",
        &spec.vcpus.to_string(),
        "--vcpu-type",
        &spec.vcpu_type,
        "--ovmf",
        image.join("OVMF.amdsev.fd").to_str().unwrap(),
        "--kernel",
        image.join("vmlinuz").to_str().unwrap(),
        "--initrd",
        image.join("initrd.img").to_str().unwrap(),
        "--append",
        &cmdline,
    ]));
    assert_eq!(measured.trim(), hex::encode(report.measurement));
    // The same bundle with another JobSpec, measurement or score: refused.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&bundle_path).unwrap()).unwrap();
    let tampered = |edit: &dyn Fn(&mut serde_json::Value), name: &str| {
        let mut v = json.clone();
        edit(&mut v);
        let p = f.path().join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p
    };
    let other_job = tampered(
        &|v| v["job"]["attribution"]["compute_bps"] = 0.into(),
        "job.json",
    );
    let o = verify(&other_job, &[]);
    assert_eq!(o.status.code(), Some(1), "another JobSpec");
    let mut report_bytes = bundle.report.as_deref().unwrap().to_vec();
    report_bytes[0x90] ^= 1; // MEASUREMENT's first byte
    let other_measurement = tampered(
        &|v| v["report"] = format!("0x{}", hex::encode(&report_bytes)).into(),
        "measurement.json",
    );
    let o = verify(&other_measurement, &[]);
    assert_eq!(o.status.code(), Some(1), "another measurement");
    let score = bundle.result.scores[0].score;
    let other_score = tampered(
        &|v| {
            v["result"]["scores"][0]["score"] =
                assay_forge::result::Wad(score.0 + 1).to_string().into()
        },
        "score.json",
    );
    let o = verify(&other_score, &[]);
    assert_eq!(o.status.code(), Some(1), "another score");
    // The enclave's console is in the job's log, apart from its results; nothing of the holdout
    // is anywhere on the host side.
    let logs: Vec<PathBuf> = files(&work)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "enclave.log"))
        .collect();
    assert_eq!(logs.len(), 1);
    let console = std::fs::read_to_string(&logs[0]).unwrap();
    assert!(console.contains("assay-enclave: process 1"), "{console}");
    let needles = example_needles(&f.example);
    for p in files(f.path())
        .into_iter()
        .filter(|p| !p.starts_with(&f.example) && p.is_file())
    {
        scan(
            &p.display().to_string(),
            &std::fs::read(&p).unwrap(),
            &needles,
        );
    }
    scan("assay-host's stderr", &o.stderr, &needles);
}

/// A supply that changes what the guest asks for on its way.
struct Tampering {
    inner: JobSupply,
    input: Option<Input>,
    job: Option<Vec<u8>>,
}

impl Supply for Tampering {
    fn job(&self) -> Result<(Vec<u8>, u32, u32), String> {
        let (job, w, t) = self.inner.job()?;
        Ok((self.job.clone().unwrap_or(job), w, t))
    }
    fn open(&self, input: &Input) -> Result<Box<dyn std::io::Read + Send>, String> {
        let mut r = self.inner.open(input)?;
        if self.input.as_ref() != Some(input) {
            return Ok(r);
        }
        let mut bytes = Vec::new();
        r.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        let i = bytes.len() / 2;
        bytes[i] ^= 0x20;
        Ok(Box::new(std::io::Cursor::new(bytes)))
    }
    fn model_index(&self) -> Result<Vec<(String, u64)>, String> {
        self.inner.model_index()
    }
    fn report(&self, request: &[u8]) -> Result<Vec<u8>, String> {
        self.inner.report(request)
    }
    fn key_service(&self, path: &str, body: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
        self.inner.key_service(path, body)
    }
    fn journal_get(&self, name: &str) -> Option<Vec<u8>> {
        self.inner.journal_get(name)
    }
    fn journal_put(&self, name: &str, bytes: &[u8]) -> Result<(), String> {
        self.inner.journal_put(name, bytes)
    }
    fn output(&self, output: &GuestOutput, bytes: &[u8]) -> Result<(), String> {
        self.inner.output(output, bytes)
    }
}

use std::io::Read as _;

#[test]
fn a_host_that_changes_the_model_the_data_or_the_job_on_the_channel_is_refused_in_the_guest() {
    let (Some(image), Some(qemu)) = (image(), qemu()) else {
        return;
    };
    let f = Forge::new(&image);
    let spec = assay_image::ImageSpec::load(&image.join("image.toml")).unwrap();
    let launched = spec.measure().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    let launcher = QemuLauncher::new(
        Settings {
            qemu: qemu.clone(),
            boot_timeout: Duration::from_secs(600),
            ..Settings::default()
        },
        launched.clone(),
        &sim_dir(),
        None,
    )
    .unwrap();
    // The launch file a runner writes: the job, its inputs' full paths, the key service.
    let mut job =
        assay_forge::job::JobFile::load_resolved(&f.example.join("inputs/job.json")).unwrap();
    job.run.key_service = Some(f.ks.url.clone());
    let job_file = f.path().join("launch.toml");
    std::fs::write(&job_file, job.to_toml()).unwrap();
    let other_job = {
        let mut j = job.job.clone();
        j.attribution.compute_bps = 0;
        j.attribution.providers.clear();
        serde_json::to_vec(&j).unwrap()
    };
    // (case, the input changed on its way, the JobSpec offered instead, what the guest says)
    type Case<'a> = (&'a str, Option<Input>, Option<Vec<u8>>, &'a str);
    let cases: [Case; 3] = [
        (
            "model",
            Some(Input::Model("model.safetensors".into())),
            None,
            "weights hash",
        ),
        ("data", Some(Input::Contributions), None, "contributions"),
        ("job", None, Some(other_job), "HOST_DATA"),
    ];
    for (name, input, job_bytes, needle) in cases {
        let work = f.path().join(format!("tamper-{name}"));
        std::fs::create_dir_all(&work).unwrap();
        let request = LaunchRequest {
            id: format!("tamper-{name}"),
            job_file: job_file.clone(),
            job_hash: job.job.hash(),
            work_dir: work.clone(),
        };
        let sp = simulated_sp(&sim_dir(), launched.measurement, &request).unwrap();
        let supply = Tampering {
            inner: JobSupply::new(&request, Some(sp), None, None).unwrap(),
            input,
            job: job_bytes,
        };
        let running = launcher.start(&request, Arc::new(supply)).unwrap();
        let exit = rt.block_on(running.wait());
        let Exit::Failed(e) = exit else {
            panic!("{name}: the guest took changed bytes: {exit:?}");
        };
        assert!(
            e.kind.contains(needle) || e.message.contains(needle),
            "{name}: {e:?}"
        );
        assert!(!work.join("bundle.json").exists(), "{name}: no bundle");
    }
    assert_eq!(launcher.name(), "qemu");
}

#[test]
fn a_guest_that_never_connects_runs_too_long_or_panics_fails_with_the_reason() {
    let (Some(image), Some(qemu)) = (image(), qemu()) else {
        return;
    };
    let f = Forge::new(&image);
    let job = f.example.join("inputs/job.json");
    let failure = |o: &Output| {
        assert_eq!(o.status.code(), Some(1));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let o = host_run(
        &f,
        &image,
        &qemu,
        &job,
        &f.path().join("w1"),
        &["--boot-timeout", "1"],
    );
    let err = failure(&o);
    assert!(
        err.contains("never connected to its channel within 1 s"),
        "{err}"
    );
    let o = host_run(
        &f,
        &image,
        &qemu,
        &job,
        &f.path().join("w2"),
        &["--deadline", "3"],
    );
    let err = failure(&o);
    assert!(err.contains("ran past its deadline of 3 s"), "{err}");
    // An image whose /init cannot run: the kernel panics, and the job says so.
    let broken = f.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    for name in ["vmlinuz", "OVMF.amdsev.fd", "image.toml"] {
        std::fs::copy(image.join(name), broken.join(name)).unwrap();
    }
    let (initrd, _) = assay_image::assemble::initramfs(b"not a program".to_vec(), &[]).unwrap();
    std::fs::write(broken.join("initrd.img"), initrd).unwrap();
    let o = host_run(&f, &broken, &qemu, &job, &f.path().join("w3"), &[]);
    let err = failure(&o);
    assert!(err.contains("Kernel panic"), "{err}");
}

#[test]
fn the_daemon_boots_a_jobs_guest_and_a_cancelled_guest_is_stopped() {
    use assay_tests::host::{client, daemon, post, token, wait_for};
    let (Some(image), Some(qemu)) = (image(), qemu()) else {
        return;
    };
    let f = Forge::new(&image);
    let data = f.path().join("data");
    let host = daemon(
        &data,
        &f.example.join("inputs"),
        &f.ks.url,
        &image.join("image.toml"),
        &[
            "--insecure-http",
            "--launcher",
            "qemu",
            "--qemu",
            qemu.to_str().unwrap(),
        ],
    );
    let agent = client(None);
    let body = std::fs::read(f.example.join("job.json")).unwrap();
    let created = post(
        &agent,
        &format!("{}/v1/jobs", host.url),
        Some(&token(&data)),
        &body,
    );
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let id = created.json()["id"].as_str().unwrap().to_owned();
    // The guest booted, got its key and started training: its progress reached the daemon.
    let j = wait_for(&agent, &host.url, &id, Duration::from_secs(900), |j| {
        j["state"] == "running" && j["progress"]["total"].as_u64().unwrap_or(0) > 0
    });
    assert_eq!(j["state"], "running");
    // The job's QEMU: the process whose command line names the job's channel.
    let qemu_of_job = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .find(|pid| {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let text = String::from_utf8_lossy(&cmdline);
                text.contains("qemu-system") && text.contains(&format!("{id}/channel.sock"))
            })
    };
    let pid = qemu_of_job().expect("the job's guest runs in QEMU");
    let cancelled = post(
        &agent,
        &format!("{}/v1/jobs/{id}/cancel", host.url),
        Some(&token(&data)),
        b"",
    );
    assert_eq!(
        cancelled.status,
        200,
        "{}",
        String::from_utf8_lossy(&cancelled.body)
    );
    wait_for(&agent, &host.url, &id, Duration::from_secs(60), |j| {
        j["state"] == "cancelled"
    });
    // QEMU is gone.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "QEMU {pid} still runs"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = host.logged();
    assert!(
        log.contains("guest started") && log.contains("the guest's enclave is ready"),
        "{log}"
    );
}

#[test]
fn a_pinned_package_the_archive_no_longer_serves_is_named() {
    // Only where the pinned packages could be fetched (the same network path).
    if image().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pins = std::fs::read_to_string(repo().join("image/pins.toml")).unwrap();
    let gone = pins.replacen("version = \"6.1.176-1\"", "version = \"6.1.0-gone\"", 1);
    assert_ne!(gone, pins);
    let path = dir.path().join("pins.toml");
    std::fs::write(&path, gone).unwrap();
    let o = Command::new(repo().join("scripts/image-build"))
        .args(["--out"])
        .arg(dir.path().join("image"))
        .env("ASSAY_IMAGE_PINS", &path)
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .env("ASSAY_BIN", bin("assay"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("linux-image-6.1.0-50-amd64 6.1.0-gone")
            && err.contains("no longer serve this version"),
        "{err}"
    );
    assert!(!dir.path().join("image/initrd.img").exists());
}
