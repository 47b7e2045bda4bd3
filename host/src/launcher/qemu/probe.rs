//! What the host's QEMU and kernel can do: QEMU's version, whether `/dev/kvm` can be used, and
//! (for SEV-SNP) whether the kernel runs SNP guests and where the C-bit is, asked of QEMU over
//! QMP (`query-sev-capabilities`), as libvirt does.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// QEMU's version: major, minor, micro.
pub type Version = (u32, u32, u32);

/// The version `qemu --version` prints on its first line (`QEMU emulator version 7.2.22
/// (Debian …)`).
pub fn parse_version(text: &str) -> Option<Version> {
    let rest = text
        .lines()
        .next()?
        .strip_prefix("QEMU emulator version ")?;
    let number = rest.split_whitespace().next()?;
    let mut parts = number.split('.').map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// Asks `qemu --version`.
pub fn version(qemu: &Path) -> Result<Version, String> {
    let out = Command::new(qemu)
        .arg("--version")
        .output()
        .map_err(|e| format!("{}: cannot run ({e})", qemu.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_version(&text).ok_or_else(|| {
        format!(
            "{}: {:?} is not QEMU's version line",
            qemu.display(),
            text.lines().next().unwrap_or_default()
        )
    })
}

/// Whether this process can use `/dev/kvm` (it exists and opens for reading and writing).
pub fn kvm_usable(device: &Path) -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(device)
        .is_ok()
}

/// Whether a guest kernel gets going under KVM: `/dev/kvm` can open and a vCPU start while a
/// kernel still hangs on its way to long mode (nested virtualisation, seen here), so `kernel`
/// is booted with no initrd under KVM, and KVM works if the kernel's banner reaches the console
/// within `timeout` (then it panics for want of a root, and QEMU ends). Otherwise why not.
pub fn kvm_boots(qemu: &Path, kernel: &Path, timeout: Duration) -> Result<(), String> {
    let mut child = Command::new(qemu)
        .args([
            "-machine",
            "q35,accel=kvm",
            "-cpu",
            "host",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-no-reboot",
            "-m",
            "256M",
            "-serial",
            "stdio",
            "-append",
            "console=ttyS0 panic=-1",
            "-kernel",
        ])
        .arg(kernel)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: cannot run ({e})", qemu.display()))?;
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.contains("Linux version") {
                let _ = tx.send(());
                break;
            }
        }
    });
    let booted = rx.recv_timeout(timeout).is_ok();
    let _ = child.kill();
    let _ = child.wait();
    if booted {
        Ok(())
    } else {
        Err(format!(
            "a kernel did not reach its console within {} s under KVM",
            timeout.as_secs()
        ))
    }
}

/// Why this host cannot run SEV-SNP guests, if it cannot: the kernel's KVM must say
/// `sev_snp=Y` (Linux ≥ 6.11 names it) and `/dev/sev` must be there.
pub fn snp_host_missing(sys: &Path, dev: &Path) -> Option<String> {
    let param = sys.join("module/kvm_amd/parameters/sev_snp");
    match std::fs::read_to_string(&param) {
        Ok(v) if v.trim() == "Y" || v.trim() == "1" => {}
        Ok(v) => {
            return Some(format!(
                "{} is {:?}: the kernel's KVM does not run SEV-SNP guests (an AMD EPYC host with SNP enabled in its BIOS and kvm_amd sev_snp=1)",
                param.display(),
                v.trim()
            ));
        }
        Err(_) => {
            return Some(format!(
                "{} is missing: this kernel has no KVM for AMD SEV-SNP (an AMD EPYC host, Linux ≥ 6.11, kvm_amd loaded)",
                param.display()
            ));
        }
    }
    let sev = dev.join("sev");
    (!sev.exists()).then(|| {
        format!(
            "{} is missing: no AMD Secure Processor driver (ccp)",
            sev.display()
        )
    })
}

/// What `query-sev-capabilities` answers that a launch needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SevCapabilities {
    /// The C-bit's position.
    pub cbitpos: u32,
    /// Physical address bits the C-bit takes.
    pub reduced_phys_bits: u32,
}

/// Reads QMP's answers from `lines` (one JSON object a line): the greeting, the answer to
/// `qmp_capabilities`, then the answer to `query-sev-capabilities`.
pub fn parse_qmp(lines: &[String]) -> Result<SevCapabilities, String> {
    let mut answers = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        // Asynchronous events are not answers.
        .filter(|v| v.get("event").is_none());
    let greeting = answers.next().ok_or("QEMU sent no QMP greeting")?;
    if greeting.get("QMP").is_none() {
        return Err(format!("not a QMP greeting: {greeting}"));
    }
    for step in ["qmp_capabilities", "query-sev-capabilities"] {
        let answer = answers
            .next()
            .ok_or_else(|| format!("QEMU did not answer {step}"))?;
        if let Some(e) = answer.get("error") {
            return Err(format!(
                "{step}: {}",
                e["desc"]
                    .as_str()
                    .unwrap_or("an error without a description")
            ));
        }
        if step == "query-sev-capabilities" {
            let r = &answer["return"];
            let field = |name: &str| {
                r[name]
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| format!("{step} has no {name}: {answer}"))
            };
            return Ok(SevCapabilities {
                cbitpos: field("cbitpos")?,
                reduced_phys_bits: field("reduced-phys-bits")?,
            });
        }
    }
    unreachable!("the loop returns at its last step")
}

/// Asks `qemu` (with KVM, no machine) for its SEV capabilities over QMP on its standard
/// streams, waiting at most `timeout`.
pub fn sev_capabilities(qemu: &Path, timeout: Duration) -> Result<SevCapabilities, String> {
    let mut child = Command::new(qemu)
        .args([
            "-machine",
            "none,accel=kvm",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-qmp",
            "stdio",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: cannot run ({e})", qemu.display()))?;
    let mut stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let _ = stdin.write_all(
        b"{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"query-sev-capabilities\"}\n{\"execute\":\"quit\"}\n",
    );
    drop(stdin);
    let deadline = Instant::now() + timeout;
    let mut lines = Vec::new();
    let result = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                lines.push(line);
                // The greeting, two answers: enough unless an event came between.
                if let Ok(caps) = parse_qmp(&lines) {
                    break Ok(caps);
                }
                if lines.len() > 64 {
                    break parse_qmp(&lines);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                break Err(format!(
                    "QEMU did not answer query-sev-capabilities within {timeout:?}"
                ));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break parse_qmp(&lines),
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_the_first_line() {
        assert_eq!(
            parse_version(
                "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright (c) 2003-2022"
            ),
            Some((7, 2, 22))
        );
        assert_eq!(
            parse_version("QEMU emulator version 9.1.0\n"),
            Some((9, 1, 0))
        );
        assert_eq!(
            parse_version("QEMU emulator version 10.0\n"),
            Some((10, 0, 0))
        );
        assert_eq!(parse_version("qemu-img version 10.0.2"), None);
        assert_eq!(parse_version(""), None);
    }

    #[test]
    fn qmp_answers_give_the_c_bit_or_say_why_not() {
        let greeting = r#"{"QMP": {"version": {"qemu": {"micro": 0, "minor": 1, "major": 9}}, "capabilities": ["oob"]}}"#;
        let ok = [
            greeting.to_owned(),
            r#"{"return": {}}"#.to_owned(),
            r#"{"event": "SOMETHING", "data": {}}"#.to_owned(),
            r#"{"return": {"pdh": "AA==", "cert-chain": "AA==", "cpu0-id": "AA==", "cbitpos": 51, "reduced-phys-bits": 1}}"#.to_owned(),
        ];
        assert_eq!(
            parse_qmp(&ok),
            Ok(SevCapabilities {
                cbitpos: 51,
                reduced_phys_bits: 1
            })
        );
        let no_sev = [
            greeting.to_owned(),
            r#"{"return": {}}"#.to_owned(),
            r#"{"error": {"class": "GenericError", "desc": "SEV: Failed to open /dev/sev"}}"#
                .to_owned(),
        ];
        assert_eq!(
            parse_qmp(&no_sev),
            Err("query-sev-capabilities: SEV: Failed to open /dev/sev".into())
        );
        assert!(parse_qmp(&[]).unwrap_err().contains("no QMP greeting"));
        assert!(
            parse_qmp(&[greeting.to_owned()])
                .unwrap_err()
                .contains("did not answer")
        );
        let no_field = [
            greeting.to_owned(),
            r#"{"return": {}}"#.to_owned(),
            r#"{"return": {"cbitpos": 51}}"#.to_owned(),
        ];
        assert!(
            parse_qmp(&no_field)
                .unwrap_err()
                .contains("reduced-phys-bits")
        );
    }

    #[test]
    fn a_host_without_snp_is_told_why() {
        let root = tempfile::tempdir().unwrap();
        let sys = root.path().join("sys");
        let dev = root.path().join("dev");
        assert!(
            snp_host_missing(&sys, &dev)
                .unwrap()
                .contains("no KVM for AMD SEV-SNP")
        );
        let p = sys.join("module/kvm_amd/parameters");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("sev_snp"), "N\n").unwrap();
        assert!(
            snp_host_missing(&sys, &dev)
                .unwrap()
                .contains("does not run SEV-SNP")
        );
        std::fs::write(p.join("sev_snp"), "Y\n").unwrap();
        assert!(
            snp_host_missing(&sys, &dev)
                .unwrap()
                .contains("/sev is missing")
        );
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::write(dev.join("sev"), "").unwrap();
        assert_eq!(snp_host_missing(&sys, &dev), None);
    }
}
