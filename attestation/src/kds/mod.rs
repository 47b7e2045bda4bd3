//! The `kds` layer: where certificates come from. AMD's Key Distribution Service URLs for VCEKs,
//! certificate chains and CRLs; AMD's intermediates built into the crate; certificate folders a
//! user supplies (snpguest's layout: `ark.pem`, `ask.pem`, `vcek.pem` or `.der`, any bundle of
//! PEM certificates); and, with the `kds-fetch` feature, fetching over rustls into a disk cache.

mod cache;
mod files;
mod url;

pub use cache::Cache;
pub use files::{load_certificate_dir, load_crl_dir, read_crl_file, read_report_file};
pub use url::{KDS_BASE, cert_chain_url, crl_url, vcek_url, vcek_url_for_report};

#[cfg(feature = "kds-fetch")]
pub use cache::fetch_https;

use std::sync::OnceLock;

use crate::verify::{Certificate, parse_certificates};

const BUILTIN_INTERMEDIATES: [(&str, &str); 6] = [
    (
        "built-in SEV-Milan",
        include_str!("../../certs/amd/milan_ask.pem"),
    ),
    (
        "built-in SEV-VLEK-Milan",
        include_str!("../../certs/amd/milan_asvk.pem"),
    ),
    (
        "built-in SEV-Genoa",
        include_str!("../../certs/amd/genoa_ask.pem"),
    ),
    (
        "built-in SEV-VLEK-Genoa",
        include_str!("../../certs/amd/genoa_asvk.pem"),
    ),
    (
        "built-in SEV-Turin",
        include_str!("../../certs/amd/turin_ask.pem"),
    ),
    (
        "built-in SEV-VLEK-Turin",
        include_str!("../../certs/amd/turin_asvk.pem"),
    ),
];

/// AMD's ASKs and ASVKs for Milan, Genoa and Turin, as KDS serves them. They are candidates only:
/// a chain through one is still verified against the pinned ARK.
pub fn builtin_intermediates() -> &'static [Certificate] {
    static CERTS: OnceLock<Vec<Certificate>> = OnceLock::new();
    CERTS.get_or_init(|| {
        BUILTIN_INTERMEDIATES
            .iter()
            .flat_map(|(origin, pem)| {
                parse_certificates(pem.as_bytes(), origin)
                    .expect("built-in certificate parses (tested)")
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::TrustStore;

    #[test]
    fn builtin_intermediates_chain_to_pinned_roots() {
        let store = TrustStore::amd();
        let certs = builtin_intermediates();
        assert_eq!(certs.len(), 6);
        for cert in certs {
            let root = store
                .anchors()
                .iter()
                .find(|a| a.cert.subject == cert.issuer)
                .expect("issuer is a pinned ARK");
            cert.check_signed_by(&root.cert).unwrap();
        }
    }
}
