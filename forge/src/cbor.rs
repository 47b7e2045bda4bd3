//! Bounds on CBOR from untrusted hands, checked before any of it is deserialised.
//!
//! serde's visitors size their buffers from the lengths an item declares: a 5 kB bundle whose
//! byte string is spelt as an array claiming 2^60 elements made `ciborium::from_reader`
//! reserve that much and abort (found by the `parse_bundle` fuzz target; its inputs are in
//! `forge/fuzz/regressions/parse_bundle/`). This walk reads only the item's headers, with
//! `ciborium-ll` (ciborium's own low-level decoder, no allocation per item), and refuses:
//!
//! - a declared length that the bytes left cannot hold (an array element takes at least one
//!   byte, a map entry two, a byte or text string its length), so nothing a deserialiser
//!   reserves can exceed the input's size times an element's;
//! - nesting deeper than [`MAX_DEPTH`];
//! - indefinite lengths and stray breaks (Assay writes definite lengths only: one spelling).

use ciborium_io::Read;
use ciborium_ll::{Decoder, Header};

/// The deepest nesting of arrays, maps and tags accepted (the bundles Assay writes nest far less).
pub const MAX_DEPTH: usize = 16;

/// Checks the one CBOR item at the start of `bytes` against the bounds above; what is wrong
/// and at which byte offset.
pub fn check_bounds(bytes: &[u8]) -> Result<(), String> {
    let mut decoder = Decoder::from(bytes);
    // Items still expected at each open level; the outermost level holds the one item.
    let mut open: Vec<u64> = vec![1];
    let mut skip = [0u8; 4096];
    while let Some(expected) = open.last_mut() {
        if *expected == 0 {
            open.pop();
            continue;
        }
        *expected -= 1;
        let at = decoder.offset();
        let header = decoder
            .pull()
            .map_err(|e| format!("byte {at}: not a CBOR item ({e:?})"))?;
        let left = (bytes.len() - decoder.offset()) as u64;
        let too_long = |what: &str, n: u64, unit: &str| {
            format!(
                "byte {at}: {what} declares {n} {unit}, more than the {left} bytes left can hold"
            )
        };
        let children = match header {
            Header::Positive(_) | Header::Negative(_) | Header::Float(_) | Header::Simple(_) => 0,
            Header::Tag(_) => 1,
            Header::Bytes(Some(n)) | Header::Text(Some(n)) => {
                let what = if matches!(header, Header::Bytes(_)) {
                    "a byte string"
                } else {
                    "a text string"
                };
                if n as u64 > left {
                    return Err(too_long(what, n as u64, "bytes"));
                }
                let mut n = n;
                while n > 0 {
                    let k = n.min(skip.len());
                    decoder
                        .read_exact(&mut skip[..k])
                        .map_err(|_| format!("byte {at}: {what} ends early"))?;
                    n -= k;
                }
                0
            }
            Header::Array(Some(n)) => {
                if n as u64 > left {
                    return Err(too_long("an array", n as u64, "entries"));
                }
                n as u64
            }
            Header::Map(Some(n)) => {
                let items = (n as u64).saturating_mul(2);
                if items > left {
                    return Err(too_long("a map", n as u64, "entries"));
                }
                items
            }
            Header::Bytes(None) | Header::Text(None) | Header::Array(None) | Header::Map(None) => {
                return Err(format!(
                    "byte {at}: an indefinite-length item; only definite lengths are accepted"
                ));
            }
            Header::Break => {
                return Err(format!(
                    "byte {at}: a break outside an indefinite-length item"
                ));
            }
        };
        if children > 0 {
            if open.len() > MAX_DEPTH {
                return Err(format!("byte {at}: nested more than {MAX_DEPTH} deep"));
            }
            open.push(children);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_items_pass() {
        for item in [
            &[0x00][..],                           // 0
            &[0x83, 0x01, 0x02, 0x03],             // [1, 2, 3]
            &[0xa1, 0x61, b'a', 0x42, 0xff, 0x00], // {"a": h'ff00'}
            &[0xc2, 0x41, 0x01],                   // tag 2 (bignum) h'01'
            &[0xf9, 0x3c, 0x00],                   // 1.0 (half)
            &[0x80],                               // []
        ] {
            check_bounds(item).unwrap_or_else(|e| panic!("{item:02x?}: {e}"));
        }
    }

    #[test]
    fn lengths_the_input_cannot_hold_are_refused_without_allocating() {
        // An array claiming 2^60 elements, then a map claiming 2^32 entries, a byte string of
        // 100 GB: each refused by its header alone.
        let cases: [(&[u8], &str); 4] = [
            (
                &[0x9b, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x01],
                "an array declares 1152921504606846976 entries",
            ),
            (
                &[0xbb, 0, 0, 0, 0x01, 0, 0, 0, 0],
                "a map declares 4294967296 entries",
            ),
            (
                &[0x5b, 0, 0, 0, 0x17, 0x48, 0x76, 0xe8, 0x00, 0xff],
                "a byte string declares 100000000000 bytes",
            ),
            (
                &[0x82, 0x01],
                "an array declares 2 entries, more than the 1 bytes left",
            ),
        ];
        for (item, want) in cases {
            let e = check_bounds(item).unwrap_err();
            assert!(e.contains(want), "{item:02x?}: {e}");
            assert!(e.starts_with("byte 0:"), "{e}");
        }
        // A map of two entries needs 4 bytes after its header.
        let e = check_bounds(&[0xa2, 0x01, 0x02, 0x03]).unwrap_err();
        assert!(
            e.contains("a map declares 2 entries, more than the 3 bytes left"),
            "{e}"
        );
    }

    #[test]
    fn indefinite_lengths_breaks_depth_and_truncation_are_refused() {
        let e = check_bounds(&[0x9f, 0x01, 0xff]).unwrap_err();
        assert!(e.contains("indefinite-length"), "{e}");
        let e = check_bounds(&[0xff]).unwrap_err();
        assert!(e.contains("a break outside"), "{e}");
        let e = check_bounds(&[0x83, 0x01]).unwrap_err();
        assert!(e.contains("more than the 1 bytes left"), "{e}");
        let e = check_bounds(&[0x81, 0x19]).unwrap_err();
        assert!(e.contains("byte 1: not a CBOR item"), "{e}");
        // MAX_DEPTH nested arrays pass, one more is refused (at the byte that opens it).
        let nested = |depth: usize| [vec![0x81; depth], vec![0x00]].concat();
        check_bounds(&nested(MAX_DEPTH)).unwrap();
        let e = check_bounds(&nested(MAX_DEPTH + 1)).unwrap_err();
        assert!(
            e.contains(&format!(
                "byte {MAX_DEPTH}: nested more than {MAX_DEPTH} deep"
            )),
            "{e}"
        );
    }
}
