//! The rules a chain can break (each with the stable code the spec and the vectors use) and the
//! crate's error.

use std::fmt;

macro_rules! rules {
    ($($(#[$doc:meta])* $name:ident = $code:literal, $what:literal;)*) => {
        /// A rule of docs/alloy.md. [`Rule::code`] is stable: the vectors, the JSON output and
        /// the browser verifier use it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Rule {
            $($(#[$doc])* $name,)*
        }

        impl Rule {
            /// Every rule, in the spec's order.
            pub const ALL: &[Rule] = &[$(Rule::$name,)*];

            /// The stable code, e.g. `cbor.non_minimal`.
            pub fn code(self) -> &'static str {
                match self { $(Rule::$name => $code,)* }
            }

            /// What the rule requires, in words.
            pub fn what(self) -> &'static str {
                match self { $(Rule::$name => $what,)* }
            }

            /// The rule with this code.
            pub fn from_code(code: &str) -> Option<Rule> {
                match code { $($code => Some(Rule::$name),)* _ => None }
            }
        }
    };
}

rules! {
    /// An item claims more bytes than there are.
    CborTruncated = "cbor.truncated", "the CBOR ends before the item it starts";
    /// Bytes after the one item.
    CborTrailingBytes = "cbor.trailing_bytes", "nothing may follow the CBOR item";
    /// A head longer than needed.
    CborNonMinimal = "cbor.non_minimal", "integers and lengths take their shortest form";
    /// Indefinite-length string, array or map.
    CborIndefiniteLength = "cbor.indefinite_length", "lengths are definite";
    /// Map keys out of order.
    CborUnsortedKeys = "cbor.unsorted_keys", "map keys are sorted by their encoded bytes";
    /// A map key twice.
    CborDuplicateKey = "cbor.duplicate_key", "a map key appears once";
    /// A float, `undefined` or another simple value.
    CborUnsupported = "cbor.unsupported", "only integers, strings, arrays, maps, false, true, null and tags";
    /// A reserved additional-information value.
    CborMalformed = "cbor.malformed", "well-formed CBOR (no reserved head values, no stray break)";
    /// A text string that is not UTF-8.
    CborInvalidUtf8 = "cbor.invalid_utf8", "text strings are UTF-8";
    /// Deeper than `cbor::MAX_DEPTH`.
    CborTooDeep = "cbor.too_deep", "items nest at most 16 deep";
    /// Larger than a chain may be.
    TooLarge = "input.too_large", "a chain file is at most 1 MiB, a QR text at most 4 KiB";
    /// Not `18([bstr, {}, bstr, bstr])`.
    CoseStructure = "cose.structure", "a link is a tagged COSE_Sign1: 18([protected, {}, payload, signature])";
    /// The protected header is not exactly `{1: -19}` or `{1: -8}`.
    CoseAlgorithm = "cose.algorithm", "the protected header is exactly {1: -19} (Ed25519) or {1: -8} (EdDSA)";
    /// The unprotected header is not empty.
    CoseUnprotected = "cose.unprotected", "the unprotected header is the empty map";
    /// The payload array has an unknown version.
    LinkVersion = "link.version", "the payload's version is 1";
    /// The payload is not the 8-element array with the fields' types.
    LinkStructure = "link.structure", "the payload is [1, type, prev, input_hash, stage, output_hash, signer, timestamp]";
    /// The type is not one the spec defines.
    LinkType = "link.type", "the type is 0x01-0x06 or 0xFF";
    /// A stage key the type does not define, or a value of the wrong kind.
    LinkStage = "link.stage", "stage keys and their values are those the type defines";
    /// A point encoding with y ≥ p, or x = 0 with the sign bit set.
    Ed25519NonCanonicalPoint = "ed25519.non_canonical_point", "the signer key and R are canonical encodings";
    /// The signer key or R is a point of small order.
    Ed25519SmallOrder = "ed25519.small_order", "neither the signer key nor R has small order";
    /// The signer key or R is not on the curve.
    Ed25519InvalidPoint = "ed25519.invalid_point", "the signer key and R are points of the curve";
    /// S ≥ L.
    Ed25519NonCanonicalScalar = "ed25519.non_canonical_scalar", "the signature's S is less than the group order L";
    /// The equation does not hold.
    Ed25519BadSignature = "ed25519.bad_signature", "the signature verifies (RFC 8032, cofactorless)";
    /// No link at all.
    ChainEmpty = "chain.empty", "a chain has at least one link";
    /// The first link has a `prev`.
    ChainFirstPrev = "chain.first_prev", "the first link's prev is null";
    /// `prev` is not the previous link's id.
    ChainPrev = "chain.prev", "each link's prev is the id of the link before it";
    /// `input_hash` is not the previous `output_hash`.
    ChainInput = "chain.input", "each link's input_hash is the output_hash of the link before it (custom links excepted)";
    /// A timestamp earlier than the previous one.
    ChainTimestamp = "chain.timestamp", "timestamps do not decrease along the chain";
    /// The last link is not the head the codes name.
    ChainHead = "chain.head", "the last link's id is the head_link_id";
    /// One key signed two different links with the same `prev`.
    ChainFork = "chain.fork", "a key signs one link per prev";
    /// Not `AL1:` followed by Base45.
    QrPrefix = "qr.prefix", "a code's text is AL1: followed by Base45";
    /// Not Base45 (RFC 9285).
    QrBase45 = "qr.base45", "the text after AL1: is Base45 (RFC 9285)";
    /// Not `[1, part_index, part_count, head_link_id, [links…]]`.
    QrPart = "qr.part", "a part is [1, part_index, part_count, head_link_id, [link…]] with 1 ≤ part_index ≤ part_count ≤ 64 and at least one link";
    /// Parts of different chains (head or count differ).
    QrMixed = "qr.mixed", "all parts name the same head_link_id and part_count";
    /// The same part twice, with different contents.
    QrDuplicate = "qr.duplicate", "each part appears once";
    /// A part is missing; the finding names the missing link's id.
    QrMissing = "qr.missing", "every part is present";
    /// No key in the keyring.
    TrustUnknown = "trust.unknown", "the signer is in the keyring";
    /// Signed before the key's validity.
    TrustNotYetValid = "trust.not_yet_valid", "the link is signed within the key's validity";
    /// Signed after the key's validity.
    TrustExpired = "trust.expired", "the link is signed within the key's validity";
    /// Signed at or after the key's revocation.
    TrustRevoked = "trust.revoked", "the link is signed before the key's revocation";
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// What can go wrong outside a verdict: making links and codes, reading keyrings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input that breaks a rule (decoding a link, a part or a chain file).
    #[error("{rule} at byte {offset}: {}", rule.what())]
    Rule {
        /// The rule.
        rule: Rule,
        /// Where in the input.
        offset: usize,
    },
    /// An input larger than its limit (rule `input.too_large`), refused before it is read.
    #[error("{what} is {size} bytes; input.too_large: at most {max}")]
    TooLarge {
        /// Which input.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A link to be signed is not well-formed.
    #[error("cannot sign this link: {0}")]
    Unsignable(String),
    /// One link is larger than a QR code carries.
    #[error("link {index} is {size} bytes; a QR code carries at most {max} bytes of part")]
    LinkTooLargeForCode {
        /// Its index in the chain.
        index: usize,
        /// Its encoded size.
        size: usize,
        /// What one part can carry.
        max: usize,
    },
    /// A private key file.
    #[error("private key: {0}")]
    Key(String),
    /// A chain too large for the codes.
    #[error(
        "the chain takes {count} QR codes, more than the {max} a chain is split into; it travels as a file"
    )]
    TooManyParts {
        /// Codes it would take.
        count: u64,
        /// The limit.
        max: u64,
    },
    /// The keyring file.
    #[error("keyring: {0}")]
    Keyring(String),
    /// Rendering or reading a QR image.
    #[error("QR image: {0}")]
    Image(String),
}

impl Error {
    pub(crate) fn rule(rule: Rule, offset: usize) -> Error {
        Error::Rule { rule, offset }
    }

    /// The rule an input broke, for an error that is one.
    pub fn broken_rule(&self) -> Option<Rule> {
        match self {
            Error::Rule { rule, .. } => Some(*rule),
            Error::TooLarge { .. } => Some(Rule::TooLarge),
            _ => None,
        }
    }
}

impl From<crate::cbor::DecodeError> for Error {
    fn from(e: crate::cbor::DecodeError) -> Error {
        Error::rule(e.rule, e.offset)
    }
}
