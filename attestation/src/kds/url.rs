//! KDS endpoints, as documented in AMD's *Versioned Chip Endorsement Key (VCEK) Certificate and
//! KDS Interface Specification* (publication 57230).

use crate::Error;
use crate::abi::{AttestationReport, Product, SigningKey, Tcb};
use crate::verify::VekKind;

/// AMD's Key Distribution Service.
pub const KDS_BASE: &str = "https://kdsintf.amd.com";

fn kind_path(kind: VekKind) -> &'static str {
    match kind {
        VekKind::Vcek => "vcek",
        VekKind::Vlek => "vlek",
    }
}

/// The VCEK certificate (DER) for a chip and TCB. Turin chips are named by the first 8 bytes of
/// their chip id and their URL carries the FMC SPL.
pub fn vcek_url(product: Product, chip_id: &[u8; 64], tcb: Tcb) -> String {
    let (hwid, fmc) = match product {
        Product::Turin => (
            hex::encode(&chip_id[..8]),
            format!("fmcSPL={:02}&", tcb.fmc.unwrap_or(0)),
        ),
        Product::Milan | Product::Genoa => (hex::encode(chip_id), String::new()),
    };
    format!(
        "{KDS_BASE}/vcek/v1/{product}/{hwid}?{fmc}blSPL={:02}&teeSPL={:02}&snpSPL={:02}&ucodeSPL={:02}",
        tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode
    )
}

/// The VCEK URL for the chip and REPORTED_TCB of `report` (never CURRENT_TCB: the VCEK that
/// signed a report is the one derived from its REPORTED_TCB).
pub fn vcek_url_for_report(report: &AttestationReport, product: Product) -> Result<String, Error> {
    if report.signing_key() != SigningKey::Vcek {
        return Err(Error::KdsUrl {
            reason: format!(
                "the report is signed by its {}; KDS serves only VCEKs (a VLEK comes from the cloud provider's host)",
                report.signing_key().name()
            ),
        });
    }
    if report.key_info.mask_chip_id || report.chip_id.iter().all(|&b| b == 0) {
        return Err(Error::KdsUrl {
            reason: "the report's CHIP_ID is masked, so the chip cannot be named; get the VCEK from the host".into(),
        });
    }
    Ok(vcek_url(
        product,
        &report.chip_id,
        report.reported_tcb.decode(product),
    ))
}

/// The ASK+ARK (VCEK) or ASVK+ARK (VLEK) chain, PEM.
pub fn cert_chain_url(product: Product, kind: VekKind) -> String {
    format!("{KDS_BASE}/{}/v1/{product}/cert_chain", kind_path(kind))
}

/// The CRL signed by the product's ARK, DER.
pub fn crl_url(product: Product, kind: VekKind) -> String {
    format!("{KDS_BASE}/{}/v1/{product}/crl", kind_path(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_kds_layout() {
        let tcb = Tcb {
            fmc: None,
            bootloader: 3,
            tee: 0,
            snp: 8,
            microcode: 115,
        };
        let chip = [0xab; 64];
        assert_eq!(
            vcek_url(Product::Milan, &chip, tcb),
            format!(
                "https://kdsintf.amd.com/vcek/v1/Milan/{}?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115",
                "ab".repeat(64)
            )
        );
        let turin = Tcb {
            fmc: Some(1),
            ..tcb
        };
        assert_eq!(
            vcek_url(Product::Turin, &chip, turin),
            "https://kdsintf.amd.com/vcek/v1/Turin/abababababababab?fmcSPL=01&blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115"
        );
        assert_eq!(
            cert_chain_url(Product::Genoa, VekKind::Vlek),
            "https://kdsintf.amd.com/vlek/v1/Genoa/cert_chain"
        );
        assert_eq!(
            crl_url(Product::Turin, VekKind::Vcek),
            "https://kdsintf.amd.com/vcek/v1/Turin/crl"
        );
    }
}
