//! Reading reports, certificate folders and CRLs from disk.

use std::path::Path;

use crate::Error;
use crate::verify::{Certificate, Crl, parse_certificates};

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Reads a report file: binary (bare or in an envelope), or the same bytes as hex text.
pub fn read_report_file(path: &Path) -> Result<Vec<u8>, Error> {
    let bytes = read(path)?;
    let text: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    // A binary report starts with its version (2..5) as a raw byte, never a hex digit.
    if !text.is_empty() && text.iter().all(u8::is_ascii_hexdigit) {
        return hex::decode(&text).map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, format!("hex text: {e}")),
        });
    }
    Ok(bytes)
}

/// Whether `path` names a CRL in a certificate folder: `*.crl`, or a name starting with `crl`
/// (`assay kds fetch` writes `crl.der`).
fn is_crl_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "crl")
        || path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("crl"))
}

/// The regular files in `dir` that `wanted` picks, sorted by name.
fn files_in(dir: &Path, wanted: impl Fn(&Path) -> bool) -> Result<Vec<std::path::PathBuf>, Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let path = entry.path();
        if wanted(&path) && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

/// Loads every certificate in `dir`: files ending in `.pem`, `.der`, `.crt`, `.cer` or `.testcer`,
/// PEM (any number of certificates) or DER, but for CRLs ([`load_crl_dir`]). Other files are
/// ignored; a certificate file that does not parse is an error naming it.
pub fn load_certificate_dir(dir: &Path) -> Result<Vec<Certificate>, Error> {
    let paths = files_in(dir, |path| {
        !is_crl_file(path)
            && path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "pem" | "der" | "crt" | "cer" | "testcer"))
    })?;
    let mut certs = Vec::new();
    for path in paths {
        certs.extend(parse_certificates(
            &read(&path)?,
            &path.display().to_string(),
        )?);
    }
    Ok(certs)
}

/// Loads the CRLs in a certificate folder: `*.crl` files and files whose name starts with `crl`
/// (`crl.der`, as `assay kds fetch` writes it), DER or PEM. A CRL that does not parse is an
/// error naming it.
pub fn load_crl_dir(dir: &Path) -> Result<Vec<Crl>, Error> {
    files_in(dir, is_crl_file)?
        .iter()
        .map(|p| read_crl_file(p))
        .collect()
}

/// Reads a CRL file (DER or PEM).
pub fn read_crl_file(path: &Path) -> Result<Crl, Error> {
    Crl::from_bytes(&read(path)?, path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_hex_and_binary_reports() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("r.bin");
        let report = [0x5au8; crate::abi::REPORT_SIZE];
        std::fs::write(&bin, report).unwrap();
        assert_eq!(read_report_file(&bin).unwrap(), report);
        let hexfile = dir.path().join("r.hex");
        std::fs::write(&hexfile, format!("{}\n", hex::encode(report))).unwrap();
        assert_eq!(read_report_file(&hexfile).unwrap(), report);
        assert!(matches!(
            read_report_file(&dir.path().join("missing")),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn certificate_dir_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        assert!(load_certificate_dir(dir.path()).unwrap().is_empty());
        std::fs::write(dir.path().join("vcek.pem"), "not a certificate").unwrap();
        let err = load_certificate_dir(dir.path()).unwrap_err();
        assert!(err.to_string().contains("vcek.pem"), "{err}");
        assert!(matches!(
            load_certificate_dir(&dir.path().join("absent")),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn a_crl_beside_the_certificates_is_read_as_a_crl() {
        let sim = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sim");
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(sim.join("vcek.pem"), dir.path().join("vcek.pem")).unwrap();
        assert!(load_crl_dir(dir.path()).unwrap().is_empty());
        std::fs::copy(sim.join("crl-empty.der"), dir.path().join("crl.der")).unwrap();
        // The certificate loader leaves it alone; the CRL loader reads it.
        assert_eq!(load_certificate_dir(dir.path()).unwrap().len(), 1);
        assert_eq!(load_crl_dir(dir.path()).unwrap().len(), 1);
        std::fs::write(dir.path().join("revoked.crl"), "not a CRL").unwrap();
        let err = load_crl_dir(dir.path()).unwrap_err();
        assert!(err.to_string().contains("revoked.crl"), "{err}");
    }
}
