//! Deterministic CBOR (RFC 8949 §4.2.1) for the subset alloy uses, and a strict decoder that
//! accepts nothing else.
//!
//! Written here rather than taken from ciborium: ciborium's decoder accepts non-minimal heads,
//! indefinite lengths and unsorted or duplicate map keys without a word, and alloy must reject
//! each of them *by name* (docs/alloy.md, "Strict decoding"). The subset is small: unsigned and
//! negative integers, byte and text strings, arrays, maps, `false`, `true`, `null` and tags. No
//! floats, no `undefined`, no other simple values.

use crate::error::Rule;

/// How deep arrays, maps and tags may nest. A link needs 4 (tag, array, stage map, value).
pub const MAX_DEPTH: usize = 16;

/// A decoded CBOR data item of the subset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// Major type 0.
    Uint(u64),
    /// Major type 1: the integer −1 − n.
    Nint(u64),
    /// Major type 2.
    Bytes(Vec<u8>),
    /// Major type 3 (UTF-8).
    Text(String),
    /// Major type 4.
    Array(Vec<Value>),
    /// Major type 5, in encoded-key order (the decoder enforces it; the encoder sorts).
    Map(Vec<(Value, Value)>),
    /// `false` and `true`.
    Bool(bool),
    /// `null`.
    Null,
    /// Major type 6.
    Tag(u64, Box<Value>),
}

/// A decoding failure: the rule broken and the byte offset where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// The rule (always one of the `cbor.*` rules).
    pub rule: Rule,
    /// Offset into the decoded bytes.
    pub offset: usize,
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend([m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend((n as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend((n as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend(n.to_be_bytes());
        }
    }
}

impl Value {
    /// The deterministic encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Uint(n) => head(out, 0, *n),
            Value::Nint(n) => head(out, 1, *n),
            Value::Bytes(b) => {
                head(out, 2, b.len() as u64);
                out.extend(b);
            }
            Value::Text(t) => {
                head(out, 3, t.len() as u64);
                out.extend(t.as_bytes());
            }
            Value::Array(items) => {
                head(out, 4, items.len() as u64);
                items.iter().for_each(|v| v.encode_into(out));
            }
            Value::Map(entries) => {
                let mut encoded: Vec<(Vec<u8>, Vec<u8>)> = entries
                    .iter()
                    .map(|(k, v)| (k.encode(), v.encode()))
                    .collect();
                encoded.sort();
                head(out, 5, encoded.len() as u64);
                for (k, v) in encoded {
                    out.extend(k);
                    out.extend(v);
                }
            }
            Value::Bool(false) => out.push(0xf4),
            Value::Bool(true) => out.push(0xf5),
            Value::Null => out.push(0xf6),
            Value::Tag(t, v) => {
                head(out, 6, *t);
                v.encode_into(out);
            }
        }
    }

    /// Decodes exactly one item that fills `bytes`, by the strict rules.
    pub fn decode(bytes: &[u8]) -> Result<Value, DecodeError> {
        let mut d = Decoder { bytes, at: 0 };
        let v = d.item(0)?;
        if d.at != bytes.len() {
            return Err(d.fail(Rule::CborTrailingBytes));
        }
        Ok(v)
    }

    /// A byte string's bytes.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

struct Decoder<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Decoder<'_> {
    fn fail(&self, rule: Rule) -> DecodeError {
        DecodeError {
            rule,
            offset: self.at,
        }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if self.bytes.len() - self.at < n {
            return Err(self.fail(Rule::CborTruncated));
        }
        let s = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    /// The head of an item: its major type and argument, shortest form required.
    fn head(&mut self) -> Result<(u8, u64), DecodeError> {
        let start = self.at;
        let b = self.take(1)?[0];
        let (major, info) = (b >> 5, b & 0x1f);
        // Major type 7 is decided by its first byte: false, true and null are in the subset;
        // simple values and floats (24–27) are not, whatever follows.
        if major == 7 && (24..=27).contains(&info) {
            self.at = start;
            return Err(self.fail(Rule::CborUnsupported));
        }
        let n = match info {
            0..=23 => return Ok((major, info as u64)),
            24 => self.take(1)?[0] as u64,
            25 => u16::from_be_bytes(self.take(2)?.try_into().unwrap()) as u64,
            26 => u32::from_be_bytes(self.take(4)?.try_into().unwrap()) as u64,
            27 => u64::from_be_bytes(self.take(8)?.try_into().unwrap()),
            31 if matches!(major, 2..=5) => {
                self.at = start;
                return Err(self.fail(Rule::CborIndefiniteLength));
            }
            _ => {
                self.at = start;
                return Err(self.fail(Rule::CborMalformed));
            }
        };
        let shortest = match info {
            24 => n >= 24,
            25 => n > 0xff,
            26 => n > 0xffff,
            _ => n > 0xffff_ffff,
        };
        if !shortest {
            self.at = start;
            return Err(self.fail(Rule::CborNonMinimal));
        }
        Ok((major, n))
    }

    fn length(&mut self, n: u64, min_item: usize) -> Result<usize, DecodeError> {
        // Every item is at least one byte: a claimed length beyond what is left is truncation,
        // found before anything is allocated for it.
        let left = (self.bytes.len() - self.at) as u64;
        if n > left / min_item as u64 {
            return Err(self.fail(Rule::CborTruncated));
        }
        Ok(n as usize)
    }

    fn item(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(self.fail(Rule::CborTooDeep));
        }
        let start = self.at;
        let (major, n) = self.head()?;
        Ok(match major {
            0 => Value::Uint(n),
            1 => Value::Nint(n),
            2 => {
                let len = self.length(n, 1)?;
                Value::Bytes(self.take(len)?.to_vec())
            }
            3 => {
                let len = self.length(n, 1)?;
                let at = self.at;
                let s = self.take(len)?;
                let t = std::str::from_utf8(s).map_err(|_| DecodeError {
                    rule: Rule::CborInvalidUtf8,
                    offset: at,
                })?;
                Value::Text(t.to_owned())
            }
            4 => {
                let len = self.length(n, 1)?;
                let mut items = Vec::with_capacity(len);
                for _ in 0..len {
                    items.push(self.item(depth + 1)?);
                }
                Value::Array(items)
            }
            5 => {
                let len = self.length(n, 2)?;
                let mut entries: Vec<(Value, Value)> = Vec::with_capacity(len);
                let mut last_key: Option<&[u8]> = None;
                let bytes = self.bytes;
                for _ in 0..len {
                    let key_at = self.at;
                    let k = self.item(depth + 1)?;
                    let key = &bytes[key_at..self.at];
                    if let Some(prev) = last_key {
                        match prev.cmp(key) {
                            std::cmp::Ordering::Less => {}
                            std::cmp::Ordering::Equal => {
                                return Err(DecodeError {
                                    rule: Rule::CborDuplicateKey,
                                    offset: key_at,
                                });
                            }
                            std::cmp::Ordering::Greater => {
                                return Err(DecodeError {
                                    rule: Rule::CborUnsortedKeys,
                                    offset: key_at,
                                });
                            }
                        }
                    }
                    last_key = Some(key);
                    let v = self.item(depth + 1)?;
                    entries.push((k, v));
                }
                Value::Map(entries)
            }
            6 => Value::Tag(n, Box::new(self.item(depth + 1)?)),
            _ => match (self.bytes[start] & 0x1f, n) {
                (20, _) => Value::Bool(false),
                (21, _) => Value::Bool(true),
                (22, _) => Value::Null,
                _ => {
                    self.at = start;
                    return Err(self.fail(Rule::CborUnsupported));
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(hex_in: &str) -> Rule {
        Value::decode(&hex::decode(hex_in).unwrap())
            .unwrap_err()
            .rule
    }

    #[test]
    fn encodes_shortest_heads_and_sorted_maps() {
        let cases: [(Value, &str); 9] = [
            (Value::Uint(0), "00"),
            (Value::Uint(23), "17"),
            (Value::Uint(24), "1818"),
            (Value::Uint(256), "190100"),
            (Value::Uint(65536), "1a00010000"),
            (Value::Uint(1 << 32), "1b0000000100000000"),
            (Value::Nint(18), "32"),
            (Value::Bytes(vec![1, 2]), "420102"),
            (
                Value::Map(vec![
                    (Value::Uint(10), Value::Null),
                    (Value::Uint(1), Value::Bool(true)),
                    (Value::Nint(0), Value::Bool(false)),
                ]),
                "a301f50af620f4",
            ),
        ];
        for (v, want) in cases {
            let bytes = v.encode();
            assert_eq!(hex::encode(&bytes), want, "{v:?}");
            let back = Value::decode(&bytes).unwrap();
            assert_eq!(back.encode(), bytes);
        }
    }

    #[test]
    fn each_strictness_rule_is_named() {
        assert_eq!(rule("1817"), Rule::CborNonMinimal);
        assert_eq!(rule("190017"), Rule::CborNonMinimal);
        assert_eq!(rule("1a0000ffff"), Rule::CborNonMinimal);
        assert_eq!(rule("1b00000000ffffffff"), Rule::CborNonMinimal);
        assert_eq!(rule("5801ff"), Rule::CborNonMinimal);
        assert_eq!(rule("5fff"), Rule::CborIndefiniteLength);
        assert_eq!(rule("9fff"), Rule::CborIndefiniteLength);
        assert_eq!(
            rule("a20100 0100".replace(' ', "").as_str()),
            Rule::CborDuplicateKey
        );
        assert_eq!(rule("a202000100"), Rule::CborUnsortedKeys);
        // Sorted by encoded bytes: 0x17 (23) before 0x18 0x18 (24).
        assert_eq!(rule("a21818001700"), Rule::CborUnsortedKeys);
        assert_eq!(rule("0000"), Rule::CborTrailingBytes);
        assert_eq!(
            rule("43 0102".replace(' ', "").as_str()),
            Rule::CborTruncated
        );
        assert_eq!(rule("9b00000001000000000102"), Rule::CborTruncated);
        assert_eq!(rule("fb3ff0000000000000"), Rule::CborUnsupported);
        assert_eq!(rule("f7"), Rule::CborUnsupported);
        assert_eq!(
            rule("f9"),
            Rule::CborUnsupported,
            "a truncated float is a float"
        );
        assert_eq!(rule("1c"), Rule::CborMalformed);
        assert_eq!(rule("62c328"), Rule::CborInvalidUtf8);
        assert_eq!(
            rule(&format!("{}00", "81".repeat(MAX_DEPTH + 1))),
            Rule::CborTooDeep
        );
        assert!(
            Value::decode(&hex::decode(format!("{}00", "81".repeat(MAX_DEPTH))).unwrap()).is_ok()
        );
    }

    #[test]
    fn a_huge_claimed_map_fails_before_allocating() {
        // A map of 2^32 entries and an array of 2^60, nothing behind them.
        assert_eq!(rule("bb0000000100000000"), Rule::CborTruncated);
        assert_eq!(rule("9b1000000000000000"), Rule::CborTruncated);
    }

    proptest::proptest! {
        #[test]
        fn whatever_decodes_re_encodes_to_the_same_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            if let Ok(v) = Value::decode(&bytes) {
                proptest::prop_assert_eq!(v.encode(), bytes);
            }
        }
    }
}
