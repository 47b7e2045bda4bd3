//! Certificate revocation lists AMD's KDS publishes per product, signed by the ARK.

use time::OffsetDateTime;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::cert::{CertKey, Certificate, OID_RSASSA_PSS, normalize_serial};
use super::signature::verify_rsa_pss;
use crate::Error;

/// A parsed CRL, not yet checked against any root.
#[derive(Clone, Debug)]
pub struct Crl {
    origin: String,
    der: Vec<u8>,
    tbs: std::ops::Range<usize>,
    sig_alg: String,
    sig: Vec<u8>,
    issuer: Vec<u8>,
    issuer_cn: String,
    next_update: Option<OffsetDateTime>,
    revoked: Vec<Vec<u8>>,
}

impl Crl {
    /// Parses a CRL in DER or PEM ("X509 CRL" block). `origin` names it in errors.
    pub fn from_bytes(bytes: &[u8], origin: impl Into<String>) -> Result<Self, Error> {
        let origin = origin.into();
        let bad = |reason: String| Error::CrlParse {
            origin: origin.clone(),
            reason,
        };
        if bytes.len() > super::cert::MAX_CERTIFICATES {
            return Err(bad(format!(
                "{} bytes; a CRL is at most {} (1 MiB)",
                bytes.len(),
                super::cert::MAX_CERTIFICATES
            )));
        }
        let der = if bytes.starts_with(b"-----BEGIN") {
            let (_, pem) =
                x509_parser::pem::parse_x509_pem(bytes).map_err(|e| bad(format!("PEM: {e}")))?;
            if pem.label != "X509 CRL" {
                return Err(bad(format!("PEM block is {:?}, not X509 CRL", pem.label)));
            }
            pem.contents
        } else {
            bytes.to_vec()
        };
        let (rest, crl) = CertificateRevocationList::from_der(&der)
            .map_err(|e| bad(format!("not a DER CRL: {e}")))?;
        if !rest.is_empty() {
            return Err(bad(format!("{} trailing bytes", rest.len())));
        }
        let tbs_raw = crl.tbs_cert_list.as_ref();
        let tbs_start = tbs_raw.as_ptr() as usize - der.as_ptr() as usize;
        Ok(Crl {
            tbs: tbs_start..tbs_start + tbs_raw.len(),
            sig_alg: crl.signature_algorithm.algorithm.to_id_string(),
            sig: crl.signature_value.data.to_vec(),
            issuer: crl.issuer().as_raw().to_vec(),
            issuer_cn: crl
                .issuer()
                .iter_common_name()
                .next()
                .and_then(|c| c.as_str().ok())
                .unwrap_or("")
                .to_owned(),
            next_update: crl.next_update().map(|t| t.to_datetime()),
            revoked: crl
                .iter_revoked_certificates()
                .map(|r| normalize_serial(r.raw_serial()))
                .collect(),
            origin: origin.clone(),
            der: der.clone(),
        })
    }

    /// The issuer's common name, e.g. "ARK-Milan".
    pub fn issuer_cn(&self) -> &str {
        &self.issuer_cn
    }

    /// Checks that `ark` issued and signed this CRL and that it is not stale at `at`.
    ///
    /// A CRL issued after `at` is accepted: it carries newer revocation facts than one current at
    /// `at`, which is what an auditor checking an old report wants.
    pub(crate) fn check(&self, ark: &Certificate, at: OffsetDateTime) -> Result<(), Error> {
        if self.issuer != ark.subject {
            return Err(Error::CrlIssuer {
                crl: self.origin.clone(),
                issuer: self.issuer_cn.clone(),
                root: ark.subject_cn.clone(),
            });
        }
        let signed = self.sig_alg == OID_RSASSA_PSS
            && match &ark.key {
                CertKey::Rsa(key) => {
                    verify_rsa_pss(key, &self.der[self.tbs.clone()], &self.sig).is_ok()
                }
                CertKey::EcP384(_) => false,
            };
        if !signed {
            return Err(Error::CrlSignature {
                crl: self.origin.clone(),
                root: ark.subject_cn.clone(),
            });
        }
        match self.next_update {
            Some(next) if at > next => Err(Error::CrlStale {
                crl: self.origin.clone(),
                next_update: next,
                at,
            }),
            _ => Ok(()),
        }
    }

    /// Fails if `cert`'s serial number is listed.
    pub(crate) fn check_not_revoked(&self, cert: &Certificate) -> Result<(), Error> {
        if self.revoked.contains(&cert.serial) {
            return Err(Error::CertificateRevoked {
                cert: cert.label(),
                serial: format!("0x{}", hex::encode(&cert.serial)),
                crl: self.origin.clone(),
            });
        }
        Ok(())
    }
}
