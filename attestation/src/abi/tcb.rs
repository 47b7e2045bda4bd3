//! TCB_VERSION: the security patch levels of the firmware components, packed in a u64.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Product;

/// A raw TCB_VERSION as it stands in a report (little-endian u64). Its byte layout depends on the
/// product, so it is decoded with [`TcbVersion::decode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct TcbVersion(pub u64);

/// A decoded TCB: one security patch level (SPL) per firmware component.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tcb {
    /// Firmware of the AMD-SP's first mutable stage; only Turin and later have it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fmc: Option<u8>,
    /// AMD-SP bootloader SPL.
    pub bootloader: u8,
    /// AMD-SP trusted OS SPL.
    pub tee: u8,
    /// SNP firmware SPL.
    pub snp: u8,
    /// CPU microcode SPL.
    pub microcode: u8,
}

impl TcbVersion {
    /// Decodes the SPLs. Milan and Genoa: `[bootloader, tee, 4 reserved, snp, microcode]`;
    /// Turin: `[fmc, bootloader, tee, snp, 3 reserved, microcode]` (byte 0 first).
    pub fn decode(self, product: Product) -> Tcb {
        let b = self.0.to_le_bytes();
        match product {
            Product::Milan | Product::Genoa => Tcb {
                fmc: None,
                bootloader: b[0],
                tee: b[1],
                snp: b[6],
                microcode: b[7],
            },
            Product::Turin => Tcb {
                fmc: Some(b[0]),
                bootloader: b[1],
                tee: b[2],
                snp: b[3],
                microcode: b[7],
            },
        }
    }
}

impl Tcb {
    /// Encodes the SPLs in `product`'s layout (reserved bytes zero). `fmc` is ignored on products
    /// that have none.
    pub fn encode(self, product: Product) -> TcbVersion {
        let b = match product {
            Product::Milan | Product::Genoa => [
                self.bootloader,
                self.tee,
                0,
                0,
                0,
                0,
                self.snp,
                self.microcode,
            ],
            Product::Turin => [
                self.fmc.unwrap_or(0),
                self.bootloader,
                self.tee,
                self.snp,
                0,
                0,
                0,
                self.microcode,
            ],
        };
        TcbVersion(u64::from_le_bytes(b))
    }

    /// The components as `(name, value)` pairs, for comparisons that must name what differs.
    pub fn components(self) -> Vec<(&'static str, u8)> {
        let mut out = Vec::with_capacity(5);
        if let Some(fmc) = self.fmc {
            out.push(("fmc", fmc));
        }
        out.extend([
            ("bootloader", self.bootloader),
            ("tee", self.tee),
            ("snp", self.snp),
            ("microcode", self.microcode),
        ]);
        out
    }
}

impl fmt::Display for Tcb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(fmc) = self.fmc {
            write!(f, "fmc={fmc} ")?;
        }
        write!(
            f,
            "bootloader={} tee={} snp={} microcode={}",
            self.bootloader, self.tee, self.snp, self.microcode
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milan_layout_matches_real_report() {
        // virtee/sev report_milan.hex: REPORTED_TCB 0x7308000000000003 = bl 3, tee 0, snp 8, ucode 115.
        let tcb = TcbVersion(0x7308_0000_0000_0003).decode(Product::Milan);
        assert_eq!(
            tcb,
            Tcb {
                fmc: None,
                bootloader: 3,
                tee: 0,
                snp: 8,
                microcode: 115
            }
        );
        assert_eq!(
            tcb.encode(Product::Milan),
            TcbVersion(0x7308_0000_0000_0003)
        );
    }

    #[test]
    fn turin_layout_puts_fmc_first() {
        let raw = TcbVersion(u64::from_le_bytes([0, 1, 0, 2, 0, 0, 0, 0x47]));
        let tcb = raw.decode(Product::Turin);
        assert_eq!(
            (tcb.fmc, tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode),
            (Some(0), 1, 0, 2, 0x47)
        );
        assert_eq!(tcb.encode(Product::Turin), raw);
        assert_eq!(
            tcb.to_string(),
            "fmc=0 bootloader=1 tee=0 snp=2 microcode=71"
        );
    }
}
