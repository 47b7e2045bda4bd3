//! Parts: how a chain travels whole, in a file or split over QR codes.
//!
//! A part is the deterministic CBOR of `[1, part_index, part_count, head_link_id, [link…]]`; a
//! chain file is the one part `1` of `1`; a QR code's text is `AL1:` followed by the part's
//! Base45 (RFC 9285).

use crate::cbor::Value;
use crate::error::{Error, Rule};
use crate::link::{LinkId, SignedLink};

/// What starts every code's text.
pub const QR_PREFIX: &str = "AL1:";

/// The most characters one code holds: a version-25 symbol at error correction M in
/// alphanumeric mode: 964 bytes of part (the `render` feature's tests check the figure
/// against the encoder).
pub const MAX_CODE_TEXT: usize = 1451;

/// The largest chain file (and the largest decoded part).
pub const MAX_CHAIN_FILE: usize = 1 << 20;

/// The most parts a chain may be split into (a larger chain travels as a file).
pub const MAX_PARTS: u64 = 64;

/// The longest code text accepted (a few times [`MAX_CODE_TEXT`], for codes made by others).
pub const MAX_TEXT: usize = 4096;

/// The Base45 alphabet (RFC 9285 §4), which is also the QR alphanumeric alphabet.
const BASE45: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// One part of a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// 1-based.
    pub index: u64,
    /// How many parts the chain has.
    pub count: u64,
    /// The id of the chain's last link.
    pub head: LinkId,
    /// Each link's exact bytes, in chain order.
    pub links: Vec<Vec<u8>>,
}

impl Part {
    /// A part over signed links.
    pub fn new(index: u64, count: u64, head: LinkId, links: &[SignedLink]) -> Part {
        Part {
            index,
            count,
            head,
            links: links.iter().map(|l| l.bytes().to_vec()).collect(),
        }
    }

    /// Its deterministic CBOR.
    pub fn encode(&self) -> Vec<u8> {
        let links = self
            .links
            .iter()
            .map(|b| Value::decode(b).expect("a part holds decoded links"))
            .collect();
        Value::Array(vec![
            Value::Uint(1),
            Value::Uint(self.index),
            Value::Uint(self.count),
            Value::Bytes(self.head.0.to_vec()),
            Value::Array(links),
        ])
        .encode()
    }

    /// Decodes a part (a chain file, or a code's bytes) strictly.
    pub fn decode(bytes: &[u8]) -> Result<Part, Error> {
        if bytes.len() > MAX_CHAIN_FILE {
            return Err(Error::TooLarge {
                what: "a chain file or part",
                size: bytes.len(),
                max: MAX_CHAIN_FILE,
            });
        }
        let bad = || Error::rule(Rule::QrPart, 0);
        let Value::Array(f) = Value::decode(bytes)? else {
            return Err(bad());
        };
        let [
            Value::Uint(1),
            Value::Uint(index),
            Value::Uint(count),
            Value::Bytes(head),
            Value::Array(links),
        ] = &f[..]
        else {
            return Err(bad());
        };
        if *index == 0 || index > count || *count > MAX_PARTS || links.is_empty() {
            return Err(bad());
        }
        let head = LinkId(head[..].try_into().map_err(|_| bad())?);
        Ok(Part {
            index: *index,
            count: *count,
            head,
            links: links.iter().map(Value::encode).collect(),
        })
    }

    /// The text of its QR code.
    pub fn to_text(&self) -> String {
        format!("{QR_PREFIX}{}", base45::encode(self.encode()))
    }

    /// Decodes a code's text.
    pub fn from_text(text: &str) -> Result<Part, Error> {
        if text.len() > MAX_TEXT {
            return Err(Error::TooLarge {
                what: "a code text",
                size: text.len(),
                max: MAX_TEXT,
            });
        }
        let body = text
            .strip_prefix(QR_PREFIX)
            .ok_or(Error::rule(Rule::QrPrefix, 0))?;
        Part::decode(
            &base45_decode(body).map_err(|at| Error::rule(Rule::QrBase45, QR_PREFIX.len() + at))?,
        )
    }
}

/// Base45 decoding by RFC 9285, strictly: the base45 crate wraps a final pair above 255 into a
/// byte (3.2.0: `as u8`), so two texts would decode to the same part; such a pair is refused
/// here before the crate decodes. Returns the offset of what is wrong.
fn base45_decode(text: &str) -> Result<Vec<u8>, usize> {
    let digit = |i: usize| {
        BASE45
            .iter()
            .position(|&c| c == text.as_bytes()[i])
            .ok_or(i)
    };
    if text.len() % 3 == 2 {
        let last = text.len() - 2;
        if digit(last)? + 45 * digit(last + 1)? > 0xff {
            return Err(last);
        }
    }
    base45::decode(text).map_err(|_| {
        // The crate does not say where: the first character outside the alphabet, a group
        // above 65535, or a dangling single character.
        (0..text.len())
            .find(|&i| digit(i).is_err())
            .unwrap_or_else(|| {
                (0..text.len() / 3)
                    .map(|g| 3 * g)
                    .find(|&g| {
                        digit(g).unwrap()
                            + 45 * digit(g + 1).unwrap()
                            + 2025 * digit(g + 2).unwrap()
                            > 0xffff
                    })
                    .unwrap_or(text.len() - 1)
            })
    })
}

/// Splits a chain into parts that each fit one code, on link boundaries, in order.
pub fn split(chain: &[SignedLink]) -> Result<Vec<Part>, Error> {
    let head = chain.last().ok_or(Error::rule(Rule::ChainEmpty, 0))?.id();
    // The count's own size changes a part's size (1 byte below 24, 2 below 256): settle it.
    let mut count = 1;
    loop {
        if count > MAX_PARTS {
            return Err(Error::TooManyParts {
                count,
                max: MAX_PARTS,
            });
        }
        let mut parts: Vec<Vec<SignedLink>> = vec![];
        let mut current: Vec<SignedLink> = vec![];
        for (index, link) in chain.iter().enumerate() {
            current.push(link.clone());
            let part = Part::new(parts.len() as u64 + 1, count, head, &current);
            if part.to_text().len() > MAX_CODE_TEXT {
                current.pop();
                if current.is_empty() {
                    let alone = Part::new(count, count, head, std::slice::from_ref(link))
                        .to_text()
                        .len();
                    return Err(Error::LinkTooLargeForCode {
                        index,
                        size: link.bytes().len(),
                        max: link.bytes().len() + MAX_CODE_TEXT - alone,
                    });
                }
                parts.push(std::mem::take(&mut current));
                current.push(link.clone());
            }
        }
        parts.push(current);
        if parts.len() as u64 == count {
            return Ok(parts
                .iter()
                .enumerate()
                .map(|(i, l)| Part::new(i as u64 + 1, count, head, l))
                .collect());
        }
        count = parts.len() as u64;
    }
}

/// The chain file: the whole chain as part 1 of 1.
pub fn chain_file(chain: &[SignedLink]) -> Result<Vec<u8>, Error> {
    let head = chain.last().ok_or(Error::rule(Rule::ChainEmpty, 0))?.id();
    Ok(Part::new(1, 1, head, chain).encode())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base45_is_rfc9285_and_strict() {
        // RFC 9285 §4.3's examples.
        assert_eq!(base45::encode("AB"), "BB8");
        assert_eq!(base45::encode("Hello!!"), "%69 VD92EX0");
        assert_eq!(base45::encode("ietf!"), "QED8WEX0");
        assert_eq!(base45_decode("QED8WEX0").unwrap(), b"ietf!");
        // A final pair above 255 ("::" = 44 + 44·45) and a group above 65535 ("GGW").
        assert_eq!(base45_decode("QED8WE::"), Err(6));
        assert_eq!(base45_decode("GGW"), Err(0));
        assert_eq!(base45_decode("QEd8"), Err(2));
        assert_eq!(base45_decode("QED8"), Err(3));
        assert_eq!(base45_decode("QED8W"), Err(3));
    }

    #[test]
    fn a_part_that_is_not_one_is_named() {
        for (text, rule) in [
            ("AL2:BB8", Rule::QrPrefix),
            ("AL1:bb8", Rule::QrBase45),
            (
                &format!("AL1:{}", base45::encode([0, 0])),
                Rule::CborTrailingBytes,
            ),
            // [1, 1, 1, h'', []] is no part: empty head, no link.
            (
                &format!("AL1:{}", base45::encode([0x85, 1, 1, 1, 0x40, 0x80])),
                Rule::QrPart,
            ),
        ] {
            match Part::from_text(text) {
                Err(Error::Rule { rule: r, .. }) => assert_eq!(r, rule, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
