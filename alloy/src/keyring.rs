//! Which signers a relying party trusts: a keyring file (TOML), asked of a verdict.
//!
//! ```toml
//! [[key]]
//! name = "Assay demo enclave"
//! ed25519 = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
//! valid_from = 2026-01-01T00:00:00Z      # optional
//! valid_until = 2027-01-01T00:00:00Z     # optional
//! revoked_at = 2026-06-01T00:00:00Z      # optional: links dated from then on are untrusted
//! ```
//!
//! Keys are written whole (the 32 bytes in hex): a fingerprint shorter than the key would be a
//! truncated hash.

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::chain::Verdict;
use crate::ed25519;
use crate::error::{Error, Rule};

/// One trusted key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// Who holds it.
    pub name: String,
    /// The Ed25519 public key.
    pub ed25519: [u8; 32],
    /// Links dated before are not trusted.
    pub valid_from: Option<i64>,
    /// Links dated after are not trusted.
    pub valid_until: Option<i64>,
    /// Links dated from then on are not trusted.
    pub revoked_at: Option<i64>,
}

/// The keys a relying party trusts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keyring {
    keys: Vec<Key>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    key: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    ed25519: String,
    valid_from: Option<toml::value::Datetime>,
    valid_until: Option<toml::value::Datetime>,
    revoked_at: Option<toml::value::Datetime>,
}

fn seconds(
    key: usize,
    field: &str,
    d: Option<toml::value::Datetime>,
) -> Result<Option<i64>, Error> {
    let bad = |d: &toml::value::Datetime, why: String| {
        Error::Keyring(format!("key {key}: {field} = {d}: {why}"))
    };
    d.map(|d| {
        let t = OffsetDateTime::parse(&d.to_string(), &Rfc3339).map_err(|e| {
            bad(
                &d,
                format!("not a date-time with an offset (RFC 3339): {e}"),
            )
        })?;
        // Links are dated in whole seconds: a fraction would need a rounding rule.
        if t.nanosecond() != 0 {
            return Err(bad(
                &d,
                "links are dated in whole seconds; give a time without a fraction".into(),
            ));
        }
        Ok(t.unix_timestamp())
    })
    .transpose()
}

/// One link's trust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trust {
    /// The link's position in the verdict.
    pub link: usize,
    /// The key's name, or why the signer is not trusted.
    pub signer: Result<String, Rule>,
}

impl Keyring {
    /// Parses a keyring file.
    pub fn parse(text: &str) -> Result<Keyring, Error> {
        let file: File = toml::from_str(text).map_err(|e| Error::Keyring(e.to_string()))?;
        let mut keys: Vec<Key> = Vec::new();
        for (i, e) in file.key.into_iter().enumerate() {
            let n = i + 1;
            let ed25519: [u8; 32] = hex::decode(&e.ed25519)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| Error::Keyring(format!("key {n} ({}): ed25519 must be the 32-byte key in hex (64 digits), not {:?}", e.name, e.ed25519)))?;
            ed25519::check_key(&ed25519)
                .map_err(|r| Error::Keyring(format!("key {n} ({}): {r}: {}", e.name, r.what())))?;
            if let Some(k) = keys.iter().find(|k| k.ed25519 == ed25519) {
                return Err(Error::Keyring(format!(
                    "key {n} ({}) is key {} again",
                    e.name, k.name
                )));
            }
            keys.push(Key {
                valid_from: seconds(n, "valid_from", e.valid_from)?,
                valid_until: seconds(n, "valid_until", e.valid_until)?,
                revoked_at: seconds(n, "revoked_at", e.revoked_at)?,
                name: e.name,
                ed25519,
            });
        }
        Ok(Keyring { keys })
    }

    /// The keys.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Each decoded link's signer: trusted (its name) or why not.
    pub fn assess(&self, verdict: &Verdict) -> Vec<Trust> {
        verdict
            .links
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let l = r.link.as_ref().ok()?.link();
                let t = l.timestamp as i64;
                let signer = match self.keys.iter().find(|k| k.ed25519 == l.signer) {
                    None => Err(Rule::TrustUnknown),
                    Some(k) if k.revoked_at.is_some_and(|r| t >= r) => Err(Rule::TrustRevoked),
                    Some(k) if k.valid_from.is_some_and(|f| t < f) => Err(Rule::TrustNotYetValid),
                    Some(k) if k.valid_until.is_some_and(|u| t > u) => Err(Rule::TrustExpired),
                    Some(k) => Ok(k.name.clone()),
                };
                Some(Trust { link: i, signer })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PK: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    #[test]
    fn parses_and_refuses_with_reasons() {
        let k = Keyring::parse(&format!(
            "[[key]]\nname = \"a\"\ned25519 = \"{PK}\"\nvalid_from = 2026-01-01T00:00:00Z\n"
        ))
        .unwrap();
        assert_eq!(k.keys()[0].valid_from, Some(1_767_225_600));
        for (text, says) in [
            (
                format!("[[key]]\nname = \"a\"\ned25519 = \"{}\"\n", &PK[..16]),
                "32-byte key in hex",
            ),
            (
                format!(
                    "[[key]]\nname = \"a\"\ned25519 = \"{PK}\"\n[[key]]\nname = \"b\"\ned25519 = \"{PK}\"\n"
                ),
                "is key a again",
            ),
            (
                format!("[[key]]\nname = \"a\"\ned25519 = \"{PK}\"\nvalid_from = 2026-01-01\n"),
                "RFC 3339",
            ),
            (
                format!(
                    "[[key]]\nname = \"a\"\ned25519 = \"01{}\"\n",
                    "00".repeat(31)
                ),
                "ed25519.small_order",
            ),
            (
                format!("[[key]]\nname = \"a\"\nkey = \"{PK}\"\n"),
                "unknown field",
            ),
        ] {
            let e = Keyring::parse(&text).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
    }
}
