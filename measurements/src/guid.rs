//! GUIDs as OVMF stores them: the mixed-endian ("bytes_le") layout of EFI_GUID.

/// A GUID in its on-disk (EFI, mixed-endian) byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guid(pub [u8; 16]);

const fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => panic!("not a hex digit"),
    }
}

impl Guid {
    /// Parses the canonical text form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` at compile time.
    pub const fn parse(s: &str) -> Guid {
        let s = s.as_bytes();
        assert!(s.len() == 36, "GUID text is 36 characters");
        let mut canon = [0u8; 16];
        let (mut i, mut j) = (0, 0);
        while i < 36 {
            if s[i] == b'-' {
                i += 1;
                continue;
            }
            canon[j] = hex_val(s[i]) << 4 | hex_val(s[i + 1]);
            j += 1;
            i += 2;
        }
        // The first three fields are little-endian on disk.
        let mut le = canon;
        le[0] = canon[3];
        le[1] = canon[2];
        le[2] = canon[1];
        le[3] = canon[0];
        le[4] = canon[5];
        le[5] = canon[4];
        le[6] = canon[7];
        le[7] = canon[6];
        Guid(le)
    }
}

impl std::fmt::Display for Guid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{}-{}",
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            u16::from_le_bytes([b[4], b[5]]),
            u16::from_le_bytes([b[6], b[7]]),
            hex::encode(&b[8..10]),
            hex::encode(&b[10..])
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_endian_layout() {
        let g = Guid::parse("96b582de-1fb2-45f7-baea-a366c55a082d");
        assert_eq!(hex::encode(g.0), "de82b596b21ff745baeaa366c55a082d");
        assert_eq!(g.to_string(), "96b582de-1fb2-45f7-baea-a366c55a082d");
    }
}
