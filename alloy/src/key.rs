//! A signer's private key on disk: PKCS#8 (RFC 5958) in PEM, the form `openssl genpkey
//! -algorithm ed25519` writes. An Ed25519 PKCS#8 v1 key is always the same 16 bytes followed by
//! the 32-byte seed (RFC 8410 §7), so that is written and required here rather than taking a
//! DER and PKCS#8 stack (ed25519-dalek's `pkcs8` feature brings four crates) for one layout.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;
use zeroize::Zeroizing;

use crate::error::Error;

/// `SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } }`.
const PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
const BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const END: &str = "-----END PRIVATE KEY-----";

/// The key as PEM.
pub fn to_pem(key: &SigningKey) -> Zeroizing<String> {
    let mut der = Zeroizing::new(PREFIX.to_vec());
    der.extend(key.as_bytes());
    Zeroizing::new(format!("{BEGIN}\n{}\n{END}\n", STANDARD.encode(&*der)))
}

/// Reads a PEM private key; the error says what is not as expected (never the key's bytes).
pub fn from_pem(text: &str) -> Result<SigningKey, Error> {
    let bad = |why: &str| Error::Key(why.to_owned());
    let body = text
        .trim()
        .strip_prefix(BEGIN)
        .and_then(|t| t.strip_suffix(END))
        .ok_or_else(|| {
            bad("not a PEM private key (-----BEGIN PRIVATE KEY----- … -----END PRIVATE KEY-----)")
        })?;
    let b64: Zeroizing<String> =
        Zeroizing::new(body.chars().filter(|c| !c.is_ascii_whitespace()).collect());
    let der = Zeroizing::new(
        STANDARD
            .decode(b64.as_bytes())
            .map_err(|_| bad("the PEM body is not base64"))?,
    );
    if der.len() != 48 || der[..16] != PREFIX {
        return Err(bad(
            "not an Ed25519 PKCS#8 v1 key (RFC 8410): 48 bytes, OID 1.3.101.112, no public key or attributes",
        ));
    }
    let seed: Zeroizing<[u8; 32]> = Zeroizing::new(der[16..].try_into().expect("32 bytes"));
    Ok(SigningKey::from_bytes(&seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_openssl_s_form() {
        let key = SigningKey::from_bytes(&[7; 32]);
        assert_eq!(from_pem(&to_pem(&key)).unwrap().as_bytes(), key.as_bytes());
        // RFC 8410 §10.3's example private key.
        let rfc = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
        assert_eq!(
            hex::encode(from_pem(rfc).unwrap().as_bytes()),
            "d4ee72dbf913584ad5b6d8f1f769f8ad3afe7c28cbf1d4fbe097a88f44755842"
        );
        for (text, says) in [
            ("hello", "not a PEM"),
            (
                "-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----",
                "not base64",
            ),
            (
                "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VuBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----",
                "not an Ed25519",
            ),
        ] {
            assert!(
                from_pem(text).unwrap_err().to_string().contains(says),
                "{text}"
            );
        }
    }
}
