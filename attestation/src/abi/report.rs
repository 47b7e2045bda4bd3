//! The 1184-byte ATTESTATION_REPORT, versions 2 to 5.
//!
//! Written by hand rather than taken from the `sev` crate: this layer must reject non-zero
//! reserved bytes, keep version-specific fields unrepresentable where the version lacks them, and
//! serialise back to the exact bytes it parsed (so the signature can be checked over
//! `to_bytes()`); `sev`'s report type does none of these and pulls in its ioctl layer.

use serde::Serialize;

use super::{
    Cpuid, FirmwareVersion, GuestPolicy, KeyInfo, PlatformInfo, Product, TcbVersion,
    fields::SigningKey,
};
use crate::Error;

/// Size of an ATTESTATION_REPORT in bytes.
pub const REPORT_SIZE: usize = 0x4A0;
/// Bytes 0x000..0x2A0 are covered by the signature.
pub const SIGNED_LEN: usize = 0x2A0;
const SIG_COMPONENT: usize = 72;
/// ECDSA-P384-SHA384, the only SIGNATURE_ALGO the ABI defines.
const SIG_ALGO_ECDSA_P384_SHA384: u32 = 1;

/// The fields only some report versions carry; the version number follows from the variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "version")]
pub enum VersionFields {
    /// Version 2: no CPUID fields.
    #[serde(rename = "2")]
    V2,
    /// Version 3: CPUID family/model/stepping at 0x188.
    #[serde(rename = "3")]
    V3 {
        /// Identification of the signing chip.
        cpuid: Cpuid,
    },
    /// Version 4: the version 3 layout.
    #[serde(rename = "4")]
    V4 {
        /// Identification of the signing chip.
        cpuid: Cpuid,
    },
    /// Version 5: adds the launch and current mitigation vectors at 0x1F8.
    #[serde(rename = "5")]
    V5 {
        /// Identification of the signing chip.
        cpuid: Cpuid,
        /// Mitigation vectors.
        mitigations: MitigationVectors,
    },
}

/// LAUNCH_MIT_VECTOR and CURRENT_MIT_VECTOR of a version 5 report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct MitigationVectors {
    /// Mitigations in force when the guest launched.
    pub launch: u64,
    /// Mitigations in force now.
    pub current: u64,
}

/// The report's ECDSA P-384 signature: R and S as 72-byte little-endian integers, as AMD stores
/// them (only the low 48 bytes of each may be non-zero in a well-formed signature).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EcdsaSignature {
    /// R, little-endian.
    pub r: [u8; SIG_COMPONENT],
    /// S, little-endian.
    pub s: [u8; SIG_COMPONENT],
}

impl std::fmt::Debug for EcdsaSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcdsaSignature")
            .field("r", &hex::encode(self.r))
            .field("s", &hex::encode(self.s))
            .finish()
    }
}

impl Serialize for EcdsaSignature {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = serializer.serialize_struct("EcdsaSignature", 2)?;
        st.serialize_field("r", &hex::encode(self.r))?;
        st.serialize_field("s", &hex::encode(self.s))?;
        st.end()
    }
}

impl EcdsaSignature {
    /// The fixed-width big-endian `r || s` (96 bytes) that ECDSA libraries take, or an error if a
    /// component does not fit in 48 bytes.
    pub fn to_fixed_be(&self) -> Result<[u8; 96], Error> {
        let mut out = [0u8; 96];
        for (i, comp) in [&self.r, &self.s].into_iter().enumerate() {
            if comp[48..].iter().any(|&b| b != 0) {
                return Err(Error::SignatureMalformed);
            }
            for (j, b) in comp[..48].iter().rev().enumerate() {
                out[i * 48 + j] = *b;
            }
        }
        Ok(out)
    }

    /// Builds the AMD form from a fixed-width big-endian `r || s`.
    pub fn from_fixed_be(rs: &[u8; 96]) -> Self {
        let mut sig = EcdsaSignature {
            r: [0; SIG_COMPONENT],
            s: [0; SIG_COMPONENT],
        };
        for j in 0..48 {
            sig.r[j] = rs[47 - j];
            sig.s[j] = rs[95 - j];
        }
        sig
    }
}

/// A parsed ATTESTATION_REPORT. Every field of the ABI is here at its offset; reserved bytes are
/// not (parsing checks them and serialising writes zeros), so `to_bytes` reproduces the input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AttestationReport {
    /// Version number and the fields that depend on it.
    #[serde(flatten)]
    pub version_fields: VersionFields,
    /// 0x04 GUEST_SVN: the guest's security version number.
    pub guest_svn: u32,
    /// 0x08 POLICY.
    pub policy: GuestPolicy,
    /// 0x10 FAMILY_ID from the ID block.
    #[serde(with = "hex_bytes")]
    pub family_id: [u8; 16],
    /// 0x20 IMAGE_ID from the ID block.
    #[serde(with = "hex_bytes")]
    pub image_id: [u8; 16],
    /// 0x30 VMPL the report was requested from.
    pub vmpl: u32,
    /// 0x38 CURRENT_TCB.
    pub current_tcb: TcbVersion,
    /// 0x40 PLATFORM_INFO.
    pub platform_info: PlatformInfo,
    /// 0x48 KEY_INFO (author key, chip-id masking, signing key).
    pub key_info: KeyInfo,
    /// 0x50 REPORT_DATA supplied by the guest.
    #[serde(with = "hex_bytes")]
    pub report_data: [u8; 64],
    /// 0x90 MEASUREMENT: the launch digest.
    #[serde(with = "hex_bytes")]
    pub measurement: [u8; 48],
    /// 0xC0 HOST_DATA supplied by the host at launch.
    #[serde(with = "hex_bytes")]
    pub host_data: [u8; 32],
    /// 0xE0 ID_KEY_DIGEST: SHA-384 of the ID block's signing key.
    #[serde(with = "hex_bytes")]
    pub id_key_digest: [u8; 48],
    /// 0x110 AUTHOR_KEY_DIGEST.
    #[serde(with = "hex_bytes")]
    pub author_key_digest: [u8; 48],
    /// 0x140 REPORT_ID.
    #[serde(with = "hex_bytes")]
    pub report_id: [u8; 32],
    /// 0x160 REPORT_ID_MA: the migration agent's report id.
    #[serde(with = "hex_bytes")]
    pub report_id_ma: [u8; 32],
    /// 0x180 REPORTED_TCB: the TCB the VCEK was derived from.
    pub reported_tcb: TcbVersion,
    /// 0x1A0 CHIP_ID (zero when masked or VLEK-signed; Turin uses the first 8 bytes).
    #[serde(with = "hex_bytes")]
    pub chip_id: [u8; 64],
    /// 0x1E0 COMMITTED_TCB.
    pub committed_tcb: TcbVersion,
    /// 0x1E8 CURRENT_BUILD/MINOR/MAJOR.
    pub current_version: FirmwareVersion,
    /// 0x1EC COMMITTED_BUILD/MINOR/MAJOR.
    pub committed_version: FirmwareVersion,
    /// 0x1F0 LAUNCH_TCB.
    pub launch_tcb: TcbVersion,
    /// 0x2A0 SIGNATURE (0x34 SIGNATURE_ALGO is always ECDSA P-384 with SHA-384).
    pub signature: EcdsaSignature,
}

mod hex_bytes {
    pub fn serialize<S: serde::Serializer, const N: usize>(
        bytes: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}
fn array<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    b[off..off + N].try_into().expect("in range")
}

fn reserved(b: &[u8], field: &'static str, start: usize, end: usize) -> Result<(), Error> {
    match b[start..end].iter().position(|&x| x != 0) {
        None => Ok(()),
        Some(i) => Err(Error::ReservedNonZero {
            field,
            offset: start + i,
        }),
    }
}

impl AttestationReport {
    /// Parses exactly [`REPORT_SIZE`] bytes. Use [`super::extract_report`] first for wrapped input.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Error> {
        if b.len() != REPORT_SIZE {
            return Err(Error::ReportLength { len: b.len() });
        }
        let version = u32_at(b, 0x00);
        let cpuid = || Cpuid {
            family: b[0x188],
            model: b[0x189],
            stepping: b[0x18A],
        };
        let version_fields = match version {
            2 => VersionFields::V2,
            3 => VersionFields::V3 { cpuid: cpuid() },
            4 => VersionFields::V4 { cpuid: cpuid() },
            5 => VersionFields::V5 {
                cpuid: cpuid(),
                mitigations: MitigationVectors {
                    launch: u64_at(b, 0x1F8),
                    current: u64_at(b, 0x200),
                },
            },
            other => return Err(Error::UnsupportedVersion { version: other }),
        };
        let algo = u32_at(b, 0x34);
        if algo != SIG_ALGO_ECDSA_P384_SHA384 {
            return Err(Error::UnsupportedSignatureAlgorithm { algo });
        }
        reserved(b, "reserved after KEY_INFO", 0x4C, 0x50)?;
        let cpuid_end = if version == 2 { 0x188 } else { 0x18B };
        reserved(b, "reserved after REPORTED_TCB", cpuid_end, 0x1A0)?;
        reserved(b, "reserved after CURRENT_MAJOR", 0x1EB, 0x1EC)?;
        reserved(b, "reserved after COMMITTED_MAJOR", 0x1EF, 0x1F0)?;
        let tail_start = if version == 5 { 0x208 } else { 0x1F8 };
        reserved(b, "reserved before SIGNATURE", tail_start, SIGNED_LEN)?;
        reserved(
            b,
            "reserved after signature S",
            SIGNED_LEN + 2 * SIG_COMPONENT,
            REPORT_SIZE,
        )?;
        Ok(AttestationReport {
            version_fields,
            guest_svn: u32_at(b, 0x04),
            policy: GuestPolicy(u64_at(b, 0x08)).check()?,
            family_id: array(b, 0x10),
            image_id: array(b, 0x20),
            vmpl: u32_at(b, 0x30),
            current_tcb: TcbVersion(u64_at(b, 0x38)),
            platform_info: PlatformInfo(u64_at(b, 0x40)),
            key_info: KeyInfo::from_word(u32_at(b, 0x48))?,
            report_data: array(b, 0x50),
            measurement: array(b, 0x90),
            host_data: array(b, 0xC0),
            id_key_digest: array(b, 0xE0),
            author_key_digest: array(b, 0x110),
            report_id: array(b, 0x140),
            report_id_ma: array(b, 0x160),
            reported_tcb: TcbVersion(u64_at(b, 0x180)),
            chip_id: array(b, 0x1A0),
            committed_tcb: TcbVersion(u64_at(b, 0x1E0)),
            current_version: FirmwareVersion {
                build: b[0x1E8],
                minor: b[0x1E9],
                major: b[0x1EA],
            },
            committed_version: FirmwareVersion {
                build: b[0x1EC],
                minor: b[0x1ED],
                major: b[0x1EE],
            },
            launch_tcb: TcbVersion(u64_at(b, 0x1F0)),
            signature: EcdsaSignature {
                r: array(b, SIGNED_LEN),
                s: array(b, SIGNED_LEN + SIG_COMPONENT),
            },
        })
    }

    /// Serialises to the ABI layout; reserved bytes are zero.
    pub fn to_bytes(&self) -> [u8; REPORT_SIZE] {
        let mut b = [0u8; REPORT_SIZE];
        let put = |b: &mut [u8], off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
        put(&mut b, 0x00, &self.version().to_le_bytes());
        put(&mut b, 0x04, &self.guest_svn.to_le_bytes());
        put(&mut b, 0x08, &self.policy.0.to_le_bytes());
        put(&mut b, 0x10, &self.family_id);
        put(&mut b, 0x20, &self.image_id);
        put(&mut b, 0x30, &self.vmpl.to_le_bytes());
        put(&mut b, 0x34, &SIG_ALGO_ECDSA_P384_SHA384.to_le_bytes());
        put(&mut b, 0x38, &self.current_tcb.0.to_le_bytes());
        put(&mut b, 0x40, &self.platform_info.0.to_le_bytes());
        put(&mut b, 0x48, &self.key_info.word().to_le_bytes());
        put(&mut b, 0x50, &self.report_data);
        put(&mut b, 0x90, &self.measurement);
        put(&mut b, 0xC0, &self.host_data);
        put(&mut b, 0xE0, &self.id_key_digest);
        put(&mut b, 0x110, &self.author_key_digest);
        put(&mut b, 0x140, &self.report_id);
        put(&mut b, 0x160, &self.report_id_ma);
        put(&mut b, 0x180, &self.reported_tcb.0.to_le_bytes());
        if let Some(c) = self.cpuid() {
            put(&mut b, 0x188, &[c.family, c.model, c.stepping]);
        }
        put(&mut b, 0x1A0, &self.chip_id);
        put(&mut b, 0x1E0, &self.committed_tcb.0.to_le_bytes());
        let v = self.current_version;
        put(&mut b, 0x1E8, &[v.build, v.minor, v.major]);
        let v = self.committed_version;
        put(&mut b, 0x1EC, &[v.build, v.minor, v.major]);
        put(&mut b, 0x1F0, &self.launch_tcb.0.to_le_bytes());
        if let VersionFields::V5 { mitigations, .. } = self.version_fields {
            put(&mut b, 0x1F8, &mitigations.launch.to_le_bytes());
            put(&mut b, 0x200, &mitigations.current.to_le_bytes());
        }
        put(&mut b, SIGNED_LEN, &self.signature.r);
        put(&mut b, SIGNED_LEN + SIG_COMPONENT, &self.signature.s);
        b
    }

    /// The VERSION field.
    pub fn version(&self) -> u32 {
        match self.version_fields {
            VersionFields::V2 => 2,
            VersionFields::V3 { .. } => 3,
            VersionFields::V4 { .. } => 4,
            VersionFields::V5 { .. } => 5,
        }
    }

    /// CPUID identification of the signing chip (versions 3 and later).
    pub fn cpuid(&self) -> Option<Cpuid> {
        match self.version_fields {
            VersionFields::V2 => None,
            VersionFields::V3 { cpuid }
            | VersionFields::V4 { cpuid }
            | VersionFields::V5 { cpuid, .. } => Some(cpuid),
        }
    }

    /// The product named by the report's CPUID fields; `None` for version 2 reports, whose
    /// product must come from the certificate chain.
    pub fn product(&self) -> Result<Option<Product>, Error> {
        self.cpuid().map(Product::from_cpuid).transpose()
    }

    /// The key that signed the report.
    pub fn signing_key(&self) -> SigningKey {
        self.key_info.signing_key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal(version: u32) -> [u8; REPORT_SIZE] {
        let mut b = [0u8; REPORT_SIZE];
        b[0..4].copy_from_slice(&version.to_le_bytes());
        b[0x08..0x10].copy_from_slice(&0x30000u64.to_le_bytes());
        b[0x34] = 1;
        b
    }

    #[test]
    fn rejects_wrong_length_and_version() {
        assert!(matches!(
            AttestationReport::from_bytes(&[0u8; 793]),
            Err(Error::ReportLength { len: 793 })
        ));
        assert!(matches!(
            AttestationReport::from_bytes(&minimal(1)),
            Err(Error::UnsupportedVersion { version: 1 })
        ));
        assert!(matches!(
            AttestationReport::from_bytes(&minimal(6)),
            Err(Error::UnsupportedVersion { version: 6 })
        ));
    }

    #[test]
    fn rejects_unknown_signature_algorithm() {
        let mut b = minimal(2);
        b[0x34] = 2;
        assert!(matches!(
            AttestationReport::from_bytes(&b),
            Err(Error::UnsupportedSignatureAlgorithm { algo: 2 })
        ));
    }

    #[test]
    fn reserved_bytes_depend_on_version() {
        // 0x188 is CPUID family on v3+, reserved on v2.
        let mut b = minimal(2);
        b[0x188] = 0x19;
        assert!(matches!(
            AttestationReport::from_bytes(&b),
            Err(Error::ReservedNonZero { offset: 0x188, .. })
        ));
        let mut b = minimal(3);
        b[0x188] = 0x19;
        assert_eq!(
            AttestationReport::from_bytes(&b)
                .unwrap()
                .cpuid()
                .unwrap()
                .family,
            0x19
        );
        // 0x1F8 is LAUNCH_MIT_VECTOR on v5, reserved before.
        let mut b = minimal(4);
        b[0x1F8] = 1;
        assert!(matches!(
            AttestationReport::from_bytes(&b),
            Err(Error::ReservedNonZero { offset: 0x1F8, .. })
        ));
        let mut b = minimal(5);
        b[0x1F8] = 1;
        let r = AttestationReport::from_bytes(&b).unwrap();
        assert!(matches!(
            r.version_fields,
            VersionFields::V5 {
                mitigations: MitigationVectors { launch: 1, .. },
                ..
            }
        ));
        for off in [0x4C, 0x18B, 0x19F, 0x1EB, 0x1EF, 0x208, 0x29F, 0x330, 0x49F] {
            let mut b = minimal(5);
            b[off] = 0xff;
            assert!(
                matches!(AttestationReport::from_bytes(&b), Err(Error::ReservedNonZero { offset, .. }) if offset == off),
                "offset {off:#x}"
            );
        }
    }

    #[test]
    fn signature_conversion_round_trips_and_rejects_wide_components() {
        let mut rs = [0u8; 96];
        for (i, x) in rs.iter_mut().enumerate() {
            *x = i as u8 + 1;
        }
        let sig = EcdsaSignature::from_fixed_be(&rs);
        assert_eq!(sig.r[0], 48);
        assert_eq!(sig.to_fixed_be().unwrap(), rs);
        let mut wide = sig;
        wide.s[50] = 1;
        assert!(matches!(wide.to_fixed_be(), Err(Error::SignatureMalformed)));
    }
}
