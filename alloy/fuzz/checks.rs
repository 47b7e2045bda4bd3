//! What each fuzz target checks, one function per target. The fuzz targets (nightly,
//! cargo-fuzz) and the corpus replay (`tests/fuzz_corpus.rs`, stable, in every `cargo test`)
//! run the same function, so an input found once stays checked. Each returns whether its
//! parser accepted the input, which the replay requires of valid seeds.

use assay_alloy::cbor::Value;
use assay_alloy::{Input, Part, SignedLink, verify};

/// A target: its name (the folder of its corpus) and its check.
pub type Target = (&'static str, fn(&[u8]) -> bool);

/// Every target of this crate.
pub const TARGETS: &[Target] = &[
    ("decode_chain", decode_chain),
    ("parse_qr_text", parse_qr_text),
];

/// Every link a decoded part holds, decoded on its own, is its bytes again. Signatures are not
/// checked here: under the fuzzer's instrumentation one Ed25519 verification costs about a
/// millisecond, which would leave a campaign at a few hundred inputs a second, and random
/// inputs never carry a valid signature; the vectors (docs/alloy/vectors) check every rule
/// after decoding.
fn links_hold(part: &Part) {
    assert_eq!(
        Part::decode(&part.encode()).expect("its encoding decodes"),
        *part,
        "through its encoding"
    );
    for bytes in &part.links {
        assert_eq!(
            Value::decode(bytes).expect("a link is CBOR").encode(),
            *bytes
        );
        if let Ok(link) = SignedLink::decode(bytes) {
            assert_eq!(link.bytes(), &bytes[..]);
            assert_eq!(
                link.link().payload(),
                Value::decode(bytes)
                    .ok()
                    .and_then(|v| payload_of(&v))
                    .expect("a decoded link has a payload"),
                "the payload re-encodes"
            );
        }
    }
}

/// The payload bytes of a COSE_Sign1 item.
fn payload_of(v: &Value) -> Option<Vec<u8>> {
    let Value::Tag(18, inner) = v else {
        return None;
    };
    let Value::Array(f) = inner.as_ref() else {
        return None;
    };
    f.get(2)?.as_bytes().map(<[u8]>::to_vec)
}

/// Chain files and parts (CBOR): strict decoding is canonical (whatever decodes, as CBOR, as a
/// part or as a link, encodes back to the same bytes); the verifier reads nothing from an
/// input the part decoder refuses.
pub fn decode_chain(data: &[u8]) -> bool {
    if let Ok(v) = Value::decode(data) {
        assert_eq!(v.encode(), data, "deterministic CBOR round-trips");
    }
    match Part::decode(data) {
        Ok(part) => {
            assert_eq!(
                part.encode(),
                data,
                "a part that decodes is its own encoding"
            );
            links_hold(&part);
            true
        }
        Err(_) => {
            assert!(
                verify([Input::Cbor(data)]).links.is_empty(),
                "nothing is read from an input that does not decode"
            );
            false
        }
    }
}

/// QR texts (`AL1:` + Base45): a text that decodes is the only text of its part (Base45 is
/// strict), and the verifier reads nothing from a text the part decoder refuses.
pub fn parse_qr_text(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    match Part::from_text(text) {
        Ok(part) => {
            assert_eq!(part.to_text(), text, "one part, one text");
            links_hold(&part);
            true
        }
        Err(_) => {
            // The verifier trims what it is given (a scanned code may end in a newline).
            if text.trim() == text {
                assert!(
                    verify([Input::Text(text)]).links.is_empty(),
                    "nothing is read from a text that does not decode"
                );
            }
            false
        }
    }
}
