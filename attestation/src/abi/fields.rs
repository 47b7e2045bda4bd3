//! Bit-field words of the report: guest policy, platform info, key info, firmware versions.

use serde::Serialize;

use crate::Error;

/// The guest POLICY the VM was launched with (report offset 0x08).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct GuestPolicy(pub u64);

impl GuestPolicy {
    const SMT: u64 = 1 << 16;
    const RESERVED_ONE: u64 = 1 << 17;
    const MIGRATE_MA: u64 = 1 << 18;
    const DEBUG: u64 = 1 << 19;
    const SINGLE_SOCKET: u64 = 1 << 20;

    /// Checks the bit the ABI requires to be one (bit 17): firmware refuses a launch without it,
    /// so a report where it is zero was not produced by AMD firmware.
    pub(crate) fn check(self) -> Result<Self, Error> {
        if self.0 & Self::RESERVED_ONE == 0 {
            return Err(Error::PolicyReservedBitClear { policy: self.0 });
        }
        Ok(self)
    }

    /// Minimum ABI (major, minor) the guest requires.
    pub fn abi(self) -> (u8, u8) {
        ((self.0 >> 8) as u8, self.0 as u8)
    }
    /// Simultaneous multithreading is allowed.
    pub fn smt_allowed(self) -> bool {
        self.0 & Self::SMT != 0
    }
    /// A migration agent may be associated with the guest.
    pub fn migrate_ma_allowed(self) -> bool {
        self.0 & Self::MIGRATE_MA != 0
    }
    /// The host may debug (decrypt) the guest: its memory is not confidential.
    pub fn debug_allowed(self) -> bool {
        self.0 & Self::DEBUG != 0
    }
    /// The guest may run on a single socket only.
    pub fn single_socket_required(self) -> bool {
        self.0 & Self::SINGLE_SOCKET != 0
    }
}

/// PLATFORM_INFO (report offset 0x40): the platform's configuration when the report was made.
///
/// Unknown bits are kept, never rejected: newer firmware sets bits older specifications call
/// reserved (real Turin reports set bit 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PlatformInfo(pub u64);

impl PlatformInfo {
    /// SMT is enabled on the platform.
    pub fn smt_enabled(self) -> bool {
        self.0 & 1 != 0
    }
    /// Transparent SME is enabled.
    pub fn tsme_enabled(self) -> bool {
        self.0 & (1 << 1) != 0
    }
    /// The platform uses error-correcting memory.
    pub fn ecc_enabled(self) -> bool {
        self.0 & (1 << 2) != 0
    }
    /// The RAPL power interface is disabled.
    pub fn rapl_disabled(self) -> bool {
        self.0 & (1 << 3) != 0
    }
    /// Ciphertext hiding is enabled.
    pub fn ciphertext_hiding_enabled(self) -> bool {
        self.0 & (1 << 4) != 0
    }
    /// The memory alias check completed at boot.
    pub fn alias_check_complete(self) -> bool {
        self.0 & (1 << 5) != 0
    }
}

/// Which key signed the report (KEY_INFO bits 4:2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum SigningKey {
    /// The Versioned Chip Endorsement Key, unique to the chip and its TCB.
    Vcek,
    /// The Versioned Loaded Endorsement Key, provisioned by a cloud provider.
    Vlek,
    /// The report is not signed.
    None,
}

impl SigningKey {
    fn from_bits(bits: u32) -> Result<Self, Error> {
        match bits {
            0 => Ok(SigningKey::Vcek),
            1 => Ok(SigningKey::Vlek),
            7 => Ok(SigningKey::None),
            other => Err(Error::SigningKeyReserved { value: other }),
        }
    }
    fn bits(self) -> u32 {
        match self {
            SigningKey::Vcek => 0,
            SigningKey::Vlek => 1,
            SigningKey::None => 7,
        }
    }
    /// The name used in certificates ("VCEK", "VLEK") or "none".
    pub fn name(self) -> &'static str {
        match self {
            SigningKey::Vcek => "VCEK",
            SigningKey::Vlek => "VLEK",
            SigningKey::None => "none",
        }
    }
}

/// KEY_INFO (report offset 0x48).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// The ID block carried an author key.
    pub author_key_en: bool,
    /// The host asked the firmware to zero CHIP_ID in reports.
    pub mask_chip_id: bool,
    /// The key that signed this report.
    pub signing_key: SigningKey,
}

impl KeyInfo {
    pub(crate) fn from_word(word: u32) -> Result<Self, Error> {
        if word >> 5 != 0 {
            return Err(Error::ReservedNonZero {
                field: "KEY_INFO bits 31:5",
                offset: 0x48,
            });
        }
        Ok(KeyInfo {
            author_key_en: word & 1 != 0,
            mask_chip_id: word & 2 != 0,
            signing_key: SigningKey::from_bits((word >> 2) & 7)?,
        })
    }
    pub(crate) fn word(self) -> u32 {
        u32::from(self.author_key_en)
            | (u32::from(self.mask_chip_id) << 1)
            | (self.signing_key.bits() << 2)
    }
}

/// An SNP firmware version, `major.minor.build`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FirmwareVersion {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Build number.
    pub build: u8,
}

impl std::fmt::Display for FirmwareVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.build)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_bits() {
        let debug = GuestPolicy(0xb0000).check().unwrap();
        assert!(debug.debug_allowed() && debug.smt_allowed() && !debug.migrate_ma_allowed());
        assert_eq!(GuestPolicy(0x3001f).abi(), (0, 0x1f));
        assert!(matches!(
            GuestPolicy(0x10000).check(),
            Err(Error::PolicyReservedBitClear { policy: 0x10000 })
        ));
    }

    #[test]
    fn key_info_round_trips_and_rejects_reserved() {
        for word in [0, 1, 2, 3, 4, 6, 0x1c, 0x1f] {
            assert_eq!(KeyInfo::from_word(word).unwrap().word(), word);
        }
        assert!(matches!(
            KeyInfo::from_word(0x20),
            Err(Error::ReservedNonZero { offset: 0x48, .. })
        ));
        assert!(matches!(
            KeyInfo::from_word(2 << 2),
            Err(Error::SigningKeyReserved { value: 2 })
        ));
    }

    #[test]
    fn platform_info_keeps_turin_bit_six() {
        let info = PlatformInfo(0x67);
        assert!(info.smt_enabled() && info.tsme_enabled() && info.ecc_enabled());
        assert!(!info.rapl_disabled() && !info.ciphertext_hiding_enabled());
        assert!(info.alias_check_complete());
    }
}
