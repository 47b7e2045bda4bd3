//! vCPU identification: QEMU CPU model names and CPUID signatures, and the VMM that starts them.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// CPUID Fn0000_0001_EAX from family, model and stepping (AMD publication 25481): families above
/// 0xF are split into base 0xF plus an extended family.
pub fn cpu_sig(family: u32, model: u32, stepping: u32) -> u32 {
    let (family_low, family_high) = if family > 0xF {
        (0xF, (family - 0xF) & 0xFF)
    } else {
        (family, 0)
    };
    (family_high << 20)
        | (((model >> 4) & 0xF) << 16)
        | (family_low << 8)
        | ((model & 0xF) << 4)
        | (stepping & 0xF)
}

/// QEMU's built-in EPYC CPU models and their signatures.
pub const VCPU_TYPES: [(&str, (u32, u32, u32)); 16] = [
    ("EPYC", (23, 1, 2)),
    ("EPYC-v1", (23, 1, 2)),
    ("EPYC-v2", (23, 1, 2)),
    ("EPYC-IBPB", (23, 1, 2)),
    ("EPYC-v3", (23, 1, 2)),
    ("EPYC-v4", (23, 1, 2)),
    ("EPYC-Rome", (23, 49, 0)),
    ("EPYC-Rome-v1", (23, 49, 0)),
    ("EPYC-Rome-v2", (23, 49, 0)),
    ("EPYC-Rome-v3", (23, 49, 0)),
    ("EPYC-Milan", (25, 1, 1)),
    ("EPYC-Milan-v1", (25, 1, 1)),
    ("EPYC-Milan-v2", (25, 1, 1)),
    ("EPYC-Genoa", (25, 17, 0)),
    ("EPYC-Genoa-v1", (25, 17, 0)),
    ("EPYC-Turin", (26, 0, 0)),
];

/// The signature of a QEMU CPU model name.
pub fn vcpu_type_sig(name: &str) -> Result<u32, Error> {
    VCPU_TYPES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, (f, m, s))| cpu_sig(*f, *m, *s))
        .ok_or_else(|| {
            Error::Argument(format!(
                "unknown vCPU type {name:?}; known: {}",
                VCPU_TYPES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// The VMM that launches the guest; each sets initial registers slightly differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmmType {
    /// QEMU/KVM.
    Qemu,
    /// AWS EC2.
    Ec2,
    /// Google Compute Engine.
    Gce,
}

impl FromStr for VmmType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "QEMU" => Ok(VmmType::Qemu),
            "ec2" => Ok(VmmType::Ec2),
            "gce" => Ok(VmmType::Gce),
            other => Err(Error::Argument(format!("unknown VMM type '{other}'"))),
        }
    }
}

impl fmt::Display for VmmType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VmmType::Qemu => "QEMU",
            VmmType::Ec2 => "ec2",
            VmmType::Gce => "gce",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_documented_values() {
        assert_eq!(vcpu_type_sig("EPYC-v4").unwrap(), 0x800f12);
        assert_eq!(vcpu_type_sig("EPYC-Rome").unwrap(), 0x830f10);
        assert_eq!(vcpu_type_sig("EPYC-Milan").unwrap(), 0xa00f11);
        assert_eq!(vcpu_type_sig("EPYC-Genoa").unwrap(), 0xa10f10);
        assert_eq!(vcpu_type_sig("EPYC-Turin").unwrap(), 0xb00f00);
        assert!(matches!(
            vcpu_type_sig("EPYC-Zen9"),
            Err(Error::Argument(_))
        ));
        assert_eq!(cpu_sig(6, 0x55, 4), 0x50654);
    }
}
