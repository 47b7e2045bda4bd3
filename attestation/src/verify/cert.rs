//! AMD certificates (ARK, ASK, ASVK, VCEK, VLEK): the parts of X.509 the chain checks need,
//! extracted once from the DER into owned values.

use aws_lc_rs::digest;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use super::extensions::VekExtensions;
use super::signature::{self, RsaPssKey};
use crate::Error;

/// OID of RSASSA-PSS, the only algorithm AMD signs ARK, ASK, ASVK, VCEK, VLEK and CRLs with.
pub(crate) const OID_RSASSA_PSS: &str = "1.2.840.113549.1.1.10";

/// The public key a certificate carries.
#[derive(Clone)]
pub(crate) enum CertKey {
    /// RSA (ARK, ASK, ASVK): verifies RSASSA-PSS signatures of the next certificate down.
    Rsa(RsaPssKey),
    /// ECDSA P-384 (VCEK, VLEK): the uncompressed point, verifies report signatures.
    EcP384(Vec<u8>),
}

/// One parsed AMD certificate.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    /// Where it came from (a file path, "built-in", …), for error messages.
    pub(crate) origin: String,
    pub(crate) subject: Vec<u8>,
    pub(crate) issuer: Vec<u8>,
    pub(crate) subject_cn: String,
    pub(crate) issuer_cn: String,
    pub(crate) serial: Vec<u8>,
    pub(crate) not_before: OffsetDateTime,
    pub(crate) not_after: OffsetDateTime,
    pub(crate) key: CertKey,
    tbs: std::ops::Range<usize>,
    sig_alg: String,
    sig: Vec<u8>,
    pub(crate) vek_extensions: Option<VekExtensions>,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("subject_cn", &self.subject_cn)
            .field("issuer_cn", &self.issuer_cn)
            .field("origin", &self.origin)
            .finish()
    }
}

fn common_name(name: &x509_parser::x509::X509Name<'_>) -> String {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Serial number without DER's sign-padding zeros, so equal serials compare equal.
pub(crate) fn normalize_serial(raw: &[u8]) -> Vec<u8> {
    let start = raw.iter().position(|&b| b != 0).unwrap_or(raw.len());
    raw[start..].to_vec()
}

impl Certificate {
    /// Parses one DER certificate. `origin` names its source in errors.
    pub fn from_der(der: &[u8], origin: impl Into<String>) -> Result<Self, Error> {
        let origin = origin.into();
        let bad = |reason: String| Error::CertificateParse {
            origin: origin.clone(),
            reason,
        };
        let (rest, x509) =
            X509Certificate::from_der(der).map_err(|e| bad(format!("not X.509 DER: {e}")))?;
        if !rest.is_empty() {
            return Err(bad(format!(
                "{} trailing bytes after the certificate",
                rest.len()
            )));
        }
        // RFC 5280 4.1.1.2: the unsigned outer signatureAlgorithm must equal the signed one
        // inside tbsCertificate, or its bytes could be changed without breaking the signature.
        let alg = |a: &x509_parser::x509::AlgorithmIdentifier| {
            (
                a.algorithm.to_id_string(),
                a.parameters.as_ref().map(|p| (p.tag(), p.data.to_vec())),
            )
        };
        if alg(&x509.signature_algorithm) != alg(&x509.tbs_certificate.signature) {
            return Err(bad(
                "signatureAlgorithm differs from the signed tbsCertificate.signature (RFC 5280 4.1.1.2)"
                    .into(),
            ));
        }
        let tbs_raw = x509.tbs_certificate.as_ref();
        let tbs_start = tbs_raw.as_ptr() as usize - der.as_ptr() as usize;
        let key = match x509.public_key().parsed() {
            Ok(PublicKey::RSA(_)) => CertKey::Rsa(
                RsaPssKey::new(x509.public_key().subject_public_key.data.as_ref())
                    .map_err(|()| bad("RSA public key rejected".into()))?,
            ),
            Ok(PublicKey::EC(point)) => {
                let curve = x509
                    .public_key()
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string());
                if curve.as_deref() != Some("1.3.132.0.34") {
                    return Err(bad(format!(
                        "EC key is not on P-384 (curve {})",
                        curve.unwrap_or_else(|| "unnamed".into())
                    )));
                }
                CertKey::EcP384(point.data().to_vec())
            }
            Ok(_) => return Err(bad("public key is neither RSA nor EC P-384".into())),
            Err(e) => return Err(bad(format!("public key: {e}"))),
        };
        let vek_extensions = match key {
            CertKey::EcP384(_) => Some(VekExtensions::parse(&x509, &origin)?),
            CertKey::Rsa(_) => None,
        };
        Ok(Certificate {
            origin: origin.clone(),
            subject: x509.subject().as_raw().to_vec(),
            issuer: x509.issuer().as_raw().to_vec(),
            subject_cn: common_name(x509.subject()),
            issuer_cn: common_name(x509.issuer()),
            serial: normalize_serial(x509.raw_serial()),
            not_before: x509.validity().not_before.to_datetime(),
            not_after: x509.validity().not_after.to_datetime(),
            key,
            tbs: tbs_start..tbs_start + tbs_raw.len(),
            sig_alg: x509.signature_algorithm.algorithm.to_id_string(),
            sig: x509.signature_value.data.to_vec(),
            vek_extensions,
            der: der.to_vec(),
        })
    }

    /// The certificate's DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Subject common name, e.g. "ARK-Milan", "SEV-VCEK".
    pub fn subject_cn(&self) -> &str {
        &self.subject_cn
    }

    /// What a VCEK or VLEK certifies (AMD's extensions); `None` for RSA certificates.
    pub fn vek_extensions(&self) -> Option<&VekExtensions> {
        self.vek_extensions.as_ref()
    }

    /// SHA-256 of the DER encoding, hex.
    pub fn sha256_hex(&self) -> String {
        hex::encode(digest::digest(&digest::SHA256, &self.der))
    }

    /// A short human name: common name and origin.
    pub(crate) fn label(&self) -> String {
        format!("{} ({})", self.subject_cn, self.origin)
    }

    /// Checks that `issuer`'s key signed this certificate with RSASSA-PSS/SHA-384.
    pub(crate) fn check_signed_by(&self, issuer: &Certificate) -> Result<(), Error> {
        if self.sig_alg != OID_RSASSA_PSS {
            return Err(Error::CertificateAlgorithm {
                cert: self.label(),
                found: self.sig_alg.clone(),
            });
        }
        let CertKey::Rsa(key) = &issuer.key else {
            return Err(Error::CertificateSignature {
                cert: self.label(),
                issuer: issuer.label(),
            });
        };
        signature::verify_rsa_pss(key, &self.der[self.tbs.clone()], &self.sig).map_err(|()| {
            Error::CertificateSignature {
                cert: self.label(),
                issuer: issuer.label(),
            }
        })
    }

    /// Checks the validity window against `at`.
    pub(crate) fn check_validity(&self, at: OffsetDateTime) -> Result<(), Error> {
        if at < self.not_before {
            return Err(Error::CertificateNotYetValid {
                cert: self.label(),
                not_before: self.not_before,
                at,
            });
        }
        if at > self.not_after {
            return Err(Error::CertificateExpired {
                cert: self.label(),
                not_after: self.not_after,
                at,
            });
        }
        Ok(())
    }
}

/// The largest certificate file (PEM or DER) or CRL read: AMD's chain is 5 kB, its CRLs
/// smaller. DER nesting is bounded by x509-parser's own limit.
pub const MAX_CERTIFICATES: usize = 1 << 20;

/// Parses every certificate in `bytes`: PEM (any number of CERTIFICATE blocks) or one DER.
pub fn parse_certificates(bytes: &[u8], origin: &str) -> Result<Vec<Certificate>, Error> {
    if bytes.len() > MAX_CERTIFICATES {
        return Err(Error::CertificateParse {
            origin: origin.to_owned(),
            reason: format!(
                "{} bytes; a certificate file is at most {MAX_CERTIFICATES} (1 MiB)",
                bytes.len()
            ),
        });
    }
    if bytes.starts_with(b"-----BEGIN") || bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        let mut out = Vec::new();
        for (i, pem) in x509_parser::pem::Pem::iter_from_buffer(bytes).enumerate() {
            let pem = pem.map_err(|e| Error::CertificateParse {
                origin: origin.to_owned(),
                reason: format!("PEM block {}: {e}", i + 1),
            })?;
            if pem.label == "CERTIFICATE" {
                out.push(Certificate::from_der(
                    &pem.contents,
                    format!("{origin} #{}", i + 1),
                )?);
            }
        }
        if out.is_empty() {
            return Err(Error::CertificateParse {
                origin: origin.to_owned(),
                reason: "no CERTIFICATE block in PEM".into(),
            });
        }
        Ok(out)
    } else {
        Ok(vec![Certificate::from_der(bytes, origin)?])
    }
}
