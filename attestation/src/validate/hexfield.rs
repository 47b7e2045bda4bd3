//! Fixed-length byte strings written as hex in policy files.

use serde::{Deserialize, Deserializer};

/// `N` bytes, deserialised from a hex string of exactly `2N` digits (an optional `0x` prefix is
/// allowed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hex<const N: usize>(pub [u8; N]);

impl<'de, const N: usize> Deserialize<'de> for Hex<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let digits = s.strip_prefix("0x").unwrap_or(&s);
        let mut out = [0u8; N];
        hex::decode_to_slice(digits, &mut out).map_err(|e| {
            serde::de::Error::custom(format!(
                "expected {N} bytes as {} hex digits, got {} characters ({e})",
                2 * N,
                digits.len()
            ))
        })?;
        Ok(Hex(out))
    }
}
