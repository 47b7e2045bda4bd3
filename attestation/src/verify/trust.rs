//! Roots of trust: AMD's ARKs, pinned in the crate, and test roots a caller names explicitly.

use std::sync::OnceLock;

use crate::Error;
use crate::abi::Product;

use super::cert::{Certificate, parse_certificates};

const PINNED_ARKS: [(Product, &str); 3] = [
    (
        Product::Milan,
        include_str!("../../certs/amd/milan_ark.pem"),
    ),
    (
        Product::Genoa,
        include_str!("../../certs/amd/genoa_ark.pem"),
    ),
    (
        Product::Turin,
        include_str!("../../certs/amd/turin_ark.pem"),
    ),
];

/// A root certificate the verifier ends chains at. A test root's self-signature is checked when
/// it enters a [`TrustStore`]; AMD's pinned ARKs are trusted by their bytes, and a test checks
/// that each is validly self-signed.
#[derive(Clone, Debug)]
pub struct TrustAnchor {
    /// The product whose chips chain to this root.
    pub product: Product,
    /// The self-signed root certificate.
    pub cert: Certificate,
    /// `true` for AMD's real roots, `false` for a test root a caller added.
    pub is_amd: bool,
}

/// The set of roots a verification trusts. [`TrustStore::amd`] holds AMD's real ARKs for Milan,
/// Genoa and Turin and nothing else; a test root is trusted only after
/// [`TrustStore::with_test_root`] names it.
#[derive(Clone, Debug)]
pub struct TrustStore {
    anchors: Vec<TrustAnchor>,
}

fn pinned() -> &'static [TrustAnchor] {
    static ANCHORS: OnceLock<Vec<TrustAnchor>> = OnceLock::new();
    ANCHORS.get_or_init(|| {
        PINNED_ARKS
            .iter()
            .map(|(product, pem)| {
                // No self-signature check here: these bytes are the trust, and checking three
                // RSA-4096 signatures again in every process would only cost its start-up.
                // `pinned_roots_have_known_hashes` checks them once, with the hashes.
                let cert = parse_certificates(pem.as_bytes(), &format!("pinned ARK-{product}"))
                    .expect("pinned ARK parses (tested)")
                    .remove(0);
                TrustAnchor {
                    product: *product,
                    cert,
                    is_amd: true,
                }
            })
            .collect()
    })
}

impl Default for TrustStore {
    fn default() -> Self {
        TrustStore::amd()
    }
}

impl TrustStore {
    /// AMD's ARKs for Milan, Genoa and Turin.
    pub fn amd() -> Self {
        TrustStore {
            anchors: pinned().to_vec(),
        }
    }

    /// Adds a test root (e.g. a simulated AMD-SP's ARK). Its product is read from its common name,
    /// which must be `ARK-<Product>` like AMD's, and it must be validly self-signed.
    pub fn with_test_root(mut self, root: Certificate) -> Result<Self, Error> {
        let product = root
            .subject_cn()
            .strip_prefix("ARK-")
            .and_then(|p| p.parse::<Product>().ok())
            .ok_or_else(|| Error::CertificateRole {
                cert: root.label(),
                reason: "a root's common name must be ARK-Milan, ARK-Genoa or ARK-Turin".into(),
            })?;
        if root.subject != root.issuer {
            return Err(Error::CertificateRole {
                cert: root.label(),
                reason: "a root must be self-issued".into(),
            });
        }
        root.check_signed_by(&root)?;
        self.anchors.push(TrustAnchor {
            product,
            cert: root,
            is_amd: false,
        });
        Ok(self)
    }

    /// Whether any anchor is not AMD's own (a test root a caller named).
    pub fn trusts_test_root(&self) -> bool {
        self.anchors.iter().any(|a| !a.is_amd)
    }

    /// Every anchor.
    pub fn anchors(&self) -> &[TrustAnchor] {
        &self.anchors
    }

    /// Anchors whose subject is exactly `subject` (raw DER name).
    pub(crate) fn by_subject<'a>(
        &'a self,
        subject: &'a [u8],
    ) -> impl Iterator<Item = &'a TrustAnchor> + 'a {
        self.anchors
            .iter()
            .filter(move |a| a.cert.subject == subject)
    }

    /// Whether `cert` is byte-identical to one of the anchors.
    pub(crate) fn contains(&self, cert: &Certificate) -> bool {
        self.anchors.iter().any(|a| a.cert.der() == cert.der())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_roots_have_known_hashes() {
        let expected = [
            (
                Product::Milan,
                "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
            ),
            (
                Product::Genoa,
                "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
            ),
            (
                Product::Turin,
                "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
            ),
        ];
        let store = TrustStore::amd();
        assert_eq!(store.anchors().len(), 3);
        for (anchor, (product, sha)) in store.anchors().iter().zip(expected) {
            assert_eq!(anchor.product, product);
            assert_eq!(anchor.cert.sha256_hex(), sha);
            assert_eq!(anchor.cert.subject_cn(), format!("ARK-{product}"));
            assert!(anchor.is_amd);
            anchor.cert.check_signed_by(&anchor.cert).unwrap();
        }
    }

    #[test]
    fn test_root_needs_an_ark_name_and_self_signature() {
        let ask = parse_certificates(include_bytes!("../../certs/amd/milan_ask.pem"), "ask")
            .unwrap()
            .remove(0);
        assert!(matches!(
            TrustStore::amd().with_test_root(ask),
            Err(Error::CertificateRole { .. })
        ));
    }
}
