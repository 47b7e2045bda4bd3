//! The two signature primitives AMD uses, on aws-lc-rs: RSASSA-PSS/SHA-384 (salt 48, MGF1-SHA-384)
//! for certificates and CRLs, and ECDSA P-384/SHA-384 for reports.

use aws_lc_rs::signature::{
    ECDSA_P384_SHA384_FIXED, ParsedPublicKey, RSA_PSS_2048_8192_SHA384, VerificationAlgorithm,
};

use crate::Error;
use crate::abi::{AttestationReport, SIGNED_LEN};

/// An RSA public key parsed once for RSASSA-PSS/SHA-384 verification.
#[derive(Clone)]
pub(crate) struct RsaPssKey(ParsedPublicKey);

impl RsaPssKey {
    /// `pkcs1` is the certificate's subjectPublicKey (a PKCS#1 RSAPublicKey).
    pub(crate) fn new(pkcs1: &[u8]) -> Result<Self, ()> {
        ParsedPublicKey::new(&RSA_PSS_2048_8192_SHA384, pkcs1)
            .map(RsaPssKey)
            .map_err(|_| ())
    }
}

pub(crate) fn verify_rsa_pss(key: &RsaPssKey, message: &[u8], sig: &[u8]) -> Result<(), ()> {
    key.0.verify_sig(message, sig).map_err(|_| ())
}

/// A VCEK or VLEK public key, parsed once, that checks report signatures.
#[derive(Clone)]
pub struct ReportKey(ParsedPublicKey);

impl std::fmt::Debug for ReportKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReportKey(P-384)")
    }
}

impl ReportKey {
    /// Parses an uncompressed P-384 point (97 bytes, 0x04 ‖ X ‖ Y).
    pub fn from_point(point: &[u8]) -> Result<Self, Error> {
        let alg: &'static dyn VerificationAlgorithm = &ECDSA_P384_SHA384_FIXED;
        ParsedPublicKey::new(alg, point)
            .map(ReportKey)
            .map_err(|_| Error::CertificateParse {
                origin: "VEK".into(),
                reason: "P-384 public key point rejected".into(),
            })
    }

    /// Checks the report's ECDSA P-384/SHA-384 signature over bytes 0x000..0x2A0.
    pub fn verify(&self, report: &AttestationReport) -> Result<(), Error> {
        let rs = report.signature.to_fixed_be()?;
        let bytes = report.to_bytes();
        self.0
            .verify_sig(&bytes[..SIGNED_LEN], &rs)
            .map_err(|_| Error::SignatureInvalid)
    }
}
