//! TLS for the API (rustls, aws-lc-rs): the operator's certificate and key, or a self-signed
//! certificate made on first start and kept in the data folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::Error;

fn tls_error(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Config(format!("TLS {}: {reason}", path.display()))
}

/// A server configuration from a certificate chain and a private key, both PEM.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, Error> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| tls_error(cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls_error(cert, e))?;
    if certs.is_empty() {
        return Err(tls_error(cert, "no certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| tls_error(key, e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls_error(cert, e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The self-signed certificate and key in `dir` (`cert.pem`, `key.pem`), made if absent, for
/// `localhost`, 127.0.0.1 and ::1 plus `names`; returns their paths and whether they are new.
pub fn self_signed(dir: &Path, names: &[String]) -> Result<(PathBuf, PathBuf, bool), Error> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert.is_file() && key.is_file() {
        return Ok((cert, key, false));
    }
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut subject_alt_names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    subject_alt_names.extend(names.iter().cloned());
    let made = rcgen::generate_simple_self_signed(subject_alt_names)
        .map_err(|e| Error::Config(format!("making a self-signed certificate: {e}")))?;
    let write = |path: &Path, bytes: &[u8], private: bool| {
        assay_keys::write_atomic(path, bytes, private).map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })
    };
    write(&key, made.signing_key.serialize_pem().as_bytes(), true)?;
    write(&cert, made.cert.pem().as_bytes(), false)?;
    Ok((cert, key, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_is_made_once_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, new) = self_signed(dir.path(), &[]).unwrap();
        assert!(new);
        server_config(&cert, &key).unwrap();
        let before = std::fs::read(&cert).unwrap();
        let (_, _, new) = self_signed(dir.path(), &[]).unwrap();
        assert!(!new);
        assert_eq!(std::fs::read(&cert).unwrap(), before, "kept, not remade");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Unusable files are named.
        std::fs::write(dir.path().join("junk.pem"), "junk").unwrap();
        let e = server_config(&dir.path().join("junk.pem"), &key).unwrap_err();
        assert!(e.to_string().contains("junk.pem"), "{e}");
    }
}
