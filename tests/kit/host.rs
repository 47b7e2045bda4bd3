//! The host daemon and the key service as processes, as a provider and a Forge run them: the
//! example job (`assay-host example`), `assay keys serve --config`, `assay-host serve`, and an
//! HTTP client for the daemon's API.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::paths::{bin, sim_dir};
use crate::sim::launch_files;

/// The image the process launcher's guests "run": the launch-measurement vectors' files.
pub fn write_image(dir: &Path) -> PathBuf {
    let f = launch_files();
    let path = dir.join("image.toml");
    let text = format!(
        "ovmf = {:?}\nkernel = {:?}\ninitrd = {:?}\nappend = {:?}\nvcpus = 1\nvcpu_type = \"EPYC-v4\"\n",
        f.ovmf.display().to_string(),
        f.kernel.unwrap().display().to_string(),
        f.initrd.unwrap().display().to_string(),
        f.append.unwrap()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// `assay-host example --out DIR/example` with the image of [`write_image`].
pub fn write_example(dir: &Path) -> PathBuf {
    let image = write_image(dir);
    let out = dir.join("example");
    let o = Command::new(bin("assay-host"))
        .args(["example", "--out"])
        .arg(&out)
        .arg("--image")
        .arg(&image)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

/// A child process whose first stdout line names its URL; killed when dropped.
pub struct Process {
    /// The child.
    pub child: Child,
    /// Its URL.
    pub url: String,
    /// Its stdout after the first line, and its stderr, are written here.
    pub log: PathBuf,
}

impl Process {
    /// Starts `cmd`, waits for a stdout line containing `listening` and takes its last word as
    /// the URL.
    fn start(mut cmd: Command, log: PathBuf) -> Process {
        let err = std::fs::File::create(&log).unwrap();
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("the process starts");
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut url = None;
        let mut lines = Vec::new();
        for _ in 0..8 {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            if line.contains("listening") {
                url = line.split_whitespace().last().map(str::to_owned);
                break;
            }
            lines.push(line);
        }
        let Some(url) = url else {
            let _ = child.kill();
            panic!(
                "no URL from {cmd:?}: {lines:?}; log: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        // Keep reading stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in out.lines() {});
        Process { child, url, log }
    }

    /// Sends `signal` (`KILL`, `TERM`) and waits for the process to end.
    pub fn signal(mut self, signal: &str) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let status = self.child.wait().unwrap();
        std::mem::forget(self);
        status
    }

    /// What it logged so far.
    pub fn logged(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `assay keys serve --config CONFIG`.
pub fn key_service(config: &Path) -> Process {
    let mut cmd = Command::new(bin("assay"));
    cmd.args(["keys", "serve", "--config"]).arg(config);
    Process::start(cmd, config.with_extension("log"))
}

/// `assay-host serve` on loopback over `transport` (`--insecure-http`, or nothing for TLS
/// with a self-signed certificate), with the data in `data`, the inputs in `inputs`, the
/// key service at `key_service`, `extra` flags.
pub fn daemon(
    data: &Path,
    inputs: &Path,
    key_service: &str,
    image: &Path,
    extra: &[&str],
) -> Process {
    let mut cmd = Command::new(bin("assay-host"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .arg("--inputs")
        .arg(inputs)
        .args(["--key-service", key_service, "--image"])
        .arg(image)
        .arg("--sim-chain")
        .arg(sim_dir())
        .arg("--enclave")
        .arg(bin("assay-enclave"))
        .args(extra);
    std::fs::create_dir_all(data).unwrap();
    Process::start(cmd, data.with_extension("log"))
}

/// An HTTP client of the daemon: plain, or trusting `ca` (PEM).
pub fn client(ca: Option<&Path>) -> ureq::Agent {
    use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
    let mut tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ));
    if let Some(path) = ca {
        let pem = std::fs::read(path).unwrap();
        tls = tls.root_certs(RootCerts::new_with_certs(&[
            Certificate::from_pem(&pem).unwrap()
        ]));
    }
    ureq::Agent::config_builder()
        .tls_config(tls.build())
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// A response: status, content type, body.
pub struct Answer {
    /// The status.
    pub status: u16,
    /// Its content type.
    pub content_type: String,
    /// Its body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

fn answer(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut r = r.expect("the daemon answers");
    Answer {
        status: r.status().as_u16(),
        content_type: r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        body: r
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap(),
    }
}

/// GET `url` with `accept`.
pub fn get(agent: &ureq::Agent, url: &str, accept: &str) -> Answer {
    answer(agent.get(url).header("Accept", accept).call())
}

/// POST `body` to `url`, with the bearer `token` if given.
pub fn post(agent: &ureq::Agent, url: &str, token: Option<&str>, body: &[u8]) -> Answer {
    let mut req = agent.post(url).header("Content-Type", "application/json");
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    answer(req.send(body))
}

/// The operator's token of a data folder.
pub fn token(data: &Path) -> String {
    std::fs::read_to_string(data.join("operator-token"))
        .unwrap()
        .trim()
        .to_owned()
}

/// Polls the job `id` until `done` holds of it (or panics after `limit`).
pub fn wait_for(
    agent: &ureq::Agent,
    base: &str,
    id: &str,
    limit: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let a = get(agent, &format!("{base}/v1/jobs/{id}"), "application/json");
        if a.status == 200 {
            let j = a.json();
            if done(&j) {
                return j;
            }
            assert!(start.elapsed() < limit, "job {id} never got there: {j}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A key-service configuration for the example in `example`, approving `jobs` (job files),
/// releasing each job's key up to `max_releases` times; returns its path.
pub fn key_service_config(example: &Path, jobs: &[PathBuf], max_releases: u32) -> PathBuf {
    let ks = example.join("key-service");
    let approve: Vec<String> = jobs
        .iter()
        .map(|j| format!("{:?}", j.display().to_string()))
        .collect();
    let text = format!(
        "listen = \"127.0.0.1:0\"\nservice_key = \"service.key\"\napprove = [{}]\nreference = [\"enclave-reference.toml\"]\nrelease_log = \"releases.jsonl\"\nmax_releases = {max_releases}\ninsecure_test_root = [{:?}]\n[resources]\nholdout = \"holdout.key\"\n",
        approve.join(", "),
        sim_dir().join("ark.pem").display().to_string()
    );
    let path = ks.join("test-key-service.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The example's job file with another nonce (another job of the same Forge): written beside
/// it as `job-NONCEBYTE.json`.
pub fn job_with_nonce(example: &Path, nonce: u8) -> PathBuf {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(example.join("job.json")).unwrap()).unwrap();
    v["forge"]["nonce"] = format!("0x{}", hex::encode([nonce; 32])).into();
    let path = example.join(format!("job-{nonce:02x}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    path
}
