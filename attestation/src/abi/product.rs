//! AMD EPYC product generations that run SEV-SNP and how a report names them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// An EPYC generation with its own AMD root of trust (ARK) and TCB layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Product {
    /// 3rd generation EPYC (family 19h, models 0h–Fh).
    Milan,
    /// 4th generation EPYC, including Bergamo and Siena (family 19h, models 10h–1Fh, A0h–AFh).
    Genoa,
    /// 5th generation EPYC (family 1Ah, models 0h–1Fh).
    Turin,
}

impl Product {
    /// Every product, in generation order.
    pub const ALL: [Product; 3] = [Product::Milan, Product::Genoa, Product::Turin];

    /// The name AMD uses in certificates and KDS URLs ("Milan", "Genoa", "Turin").
    pub fn name(self) -> &'static str {
        match self {
            Product::Milan => "Milan",
            Product::Genoa => "Genoa",
            Product::Turin => "Turin",
        }
    }

    /// Product from the CPUID family and model a version 3+ report carries.
    pub fn from_cpuid(cpuid: Cpuid) -> Result<Product, Error> {
        match (cpuid.family, cpuid.model) {
            (0x19, 0x00..=0x0F) => Ok(Product::Milan),
            (0x19, 0x10..=0x1F | 0xA0..=0xAF) => Ok(Product::Genoa),
            (0x1A, 0x00..=0x1F) => Ok(Product::Turin),
            _ => Err(Error::UnknownCpuid {
                family: cpuid.family,
                model: cpuid.model,
            }),
        }
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Product {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Product::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::UnknownProduct { name: s.to_owned() })
    }
}

/// The CPUID family, model and stepping of the chip that signed a version 3+ report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Cpuid {
    /// Combined family (base + extended), e.g. 0x19.
    pub family: u8,
    /// Combined model (extended << 4 | base), e.g. 0x11.
    pub model: u8,
    /// Stepping.
    pub stepping: u8,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuid_maps_to_products() {
        let p = |family, model| {
            Product::from_cpuid(Cpuid {
                family,
                model,
                stepping: 1,
            })
        };
        assert_eq!(p(0x19, 0x01).unwrap(), Product::Milan);
        assert_eq!(p(0x19, 0x11).unwrap(), Product::Genoa);
        assert_eq!(p(0x19, 0xA0).unwrap(), Product::Genoa);
        assert_eq!(p(0x1A, 0x02).unwrap(), Product::Turin);
        assert!(matches!(
            p(0x17, 0x31),
            Err(Error::UnknownCpuid {
                family: 0x17,
                model: 0x31
            })
        ));
    }

    #[test]
    fn names_parse_case_insensitively() {
        assert_eq!("genoa".parse::<Product>().unwrap(), Product::Genoa);
        assert!(matches!(
            "Naples".parse::<Product>(),
            Err(Error::UnknownProduct { .. })
        ));
    }
}
