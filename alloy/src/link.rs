//! One link: its payload, its COSE_Sign1 envelope, its id.

use std::collections::BTreeMap;
use std::fmt;

use coset::{CoseSign1, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable as _, iana};
use ed25519_dalek::{Signer as _, SigningKey};
use sha2::{Digest as _, Sha256};

use crate::cbor::Value;
use crate::ed25519;
use crate::error::{Error, Rule};

/// COSE_Sign1's `external_aad` for every link: a signature made for something else never
/// verifies as a link.
pub const EXTERNAL_AAD: &[u8] = b"assay-alloy/1";

/// The payload's version.
pub const VERSION: u64 = 1;

/// The protected header for Ed25519 (RFC 9864), `{1: -19}`: what links are signed with.
const PROTECTED_ED25519: [u8; 3] = [0xa1, 0x01, 0x32];
/// `{1: -8}` (EdDSA, RFC 9053): accepted from other signers, never produced.
const PROTECTED_EDDSA: [u8; 3] = [0xa1, 0x01, 0x27];

/// A link's id: SHA-256 of its exact encoded bytes, tag included.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub [u8; 32]);

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LinkId({self})")
    }
}

/// What a link attests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// 0x01: a Forge opened (its name, nonce and base model).
    Forge,
    /// 0x02: an adapter trained (recipe, base model).
    Adapter,
    /// 0x03: a dataset fixed (its contribution set's `data_root`).
    Dataset,
    /// 0x04: the compute it ran on (TEE, measurement, report).
    Compute,
    /// 0x05: a delivery (where the output is published, its size).
    Delivery,
    /// 0x06: an evaluation (metric, scores, the attestation bundle).
    Eval,
    /// 0xFF: anything else; its stage is free and its input unconstrained.
    Custom,
}

/// The kind of value a stage key holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StageKind {
    /// A 32-byte digest.
    Hash32,
    /// A 48-byte digest (an SNP measurement).
    Hash48,
    /// A text string.
    Text,
    /// An unsigned integer.
    Uint,
    /// `true` or `false`.
    Bool,
}

/// A defined stage key: its number, name and kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StageKey {
    /// The map key.
    pub key: u64,
    /// Its name in the spec and in `assay alloy show`.
    pub name: &'static str,
    /// What it holds.
    pub kind: StageKind,
}

const fn sk(key: u64, name: &'static str, kind: StageKind) -> StageKey {
    StageKey { key, name, kind }
}

impl LinkType {
    /// Every type, in code order.
    pub const ALL: [LinkType; 7] = [
        LinkType::Forge,
        LinkType::Adapter,
        LinkType::Dataset,
        LinkType::Compute,
        LinkType::Delivery,
        LinkType::Eval,
        LinkType::Custom,
    ];

    /// The type's code in the payload.
    pub fn code(self) -> u64 {
        match self {
            LinkType::Forge => 0x01,
            LinkType::Adapter => 0x02,
            LinkType::Dataset => 0x03,
            LinkType::Compute => 0x04,
            LinkType::Delivery => 0x05,
            LinkType::Eval => 0x06,
            LinkType::Custom => 0xff,
        }
    }

    /// The type with this code.
    pub fn from_code(code: u64) -> Option<LinkType> {
        LinkType::ALL.into_iter().find(|t| t.code() == code)
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            LinkType::Forge => "forge",
            LinkType::Adapter => "adapter",
            LinkType::Dataset => "dataset",
            LinkType::Compute => "compute",
            LinkType::Delivery => "delivery",
            LinkType::Eval => "eval",
            LinkType::Custom => "custom",
        }
    }

    /// The stage keys it defines (none for custom, whose stage is free).
    pub fn stage_keys(self) -> &'static [StageKey] {
        use StageKind::*;
        const FORGE: &[StageKey] = &[
            sk(1, "name", Text),
            sk(2, "nonce", Hash32),
            sk(3, "base_model", Hash32),
        ];
        const ADAPTER: &[StageKey] = &[
            sk(1, "recipe", Hash32),
            sk(2, "base_model", Hash32),
            sk(3, "method", Text),
        ];
        const DATASET: &[StageKey] = &[sk(1, "contributions", Uint), sk(2, "job", Hash32)];
        const COMPUTE: &[StageKey] = &[
            sk(1, "tee", Bool),
            sk(2, "measurement", Hash48),
            sk(3, "report", Hash32),
        ];
        const DELIVERY: &[StageKey] = &[sk(1, "location", Text), sk(2, "size", Uint)];
        const EVAL: &[StageKey] = &[
            sk(1, "metric", Text),
            sk(2, "scores", Hash32),
            sk(3, "baseline", Text),
            sk(4, "contributions", Uint),
            sk(5, "code_hash", Hash32),
        ];
        match self {
            LinkType::Forge => FORGE,
            LinkType::Adapter => ADAPTER,
            LinkType::Dataset => DATASET,
            LinkType::Compute => COMPUTE,
            LinkType::Delivery => DELIVERY,
            LinkType::Eval => EVAL,
            LinkType::Custom => &[],
        }
    }

    /// Whether its `input_hash` must be the previous link's `output_hash`.
    pub fn chained_input(self) -> bool {
        self != LinkType::Custom
    }
}

impl StageKind {
    fn admits(self, v: &Value) -> bool {
        match (self, v) {
            (StageKind::Hash32, Value::Bytes(b)) => b.len() == 32,
            (StageKind::Hash48, Value::Bytes(b)) => b.len() == 48,
            (StageKind::Text, Value::Text(_))
            | (StageKind::Uint, Value::Uint(_))
            | (StageKind::Bool, Value::Bool(_)) => true,
            _ => false,
        }
    }
}

/// A link's payload: what its signer attests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// What it attests.
    pub kind: LinkType,
    /// The previous link's id; `None` for the first.
    pub prev: Option<LinkId>,
    /// What the step took in.
    pub input_hash: [u8; 32],
    /// The step's details, by the type's keys.
    pub stage: BTreeMap<u64, Value>,
    /// What the step produced.
    pub output_hash: [u8; 32],
    /// The Ed25519 public key that signs it.
    pub signer: [u8; 32],
    /// When, in seconds since the Unix epoch.
    pub timestamp: u64,
}

fn bytes32(v: &Value) -> Option<[u8; 32]> {
    v.as_bytes()?.try_into().ok()
}

impl Link {
    /// The payload's deterministic CBOR.
    pub fn payload(&self) -> Vec<u8> {
        Value::Array(vec![
            Value::Uint(VERSION),
            Value::Uint(self.kind.code()),
            self.prev
                .map_or(Value::Null, |p| Value::Bytes(p.0.to_vec())),
            Value::Bytes(self.input_hash.to_vec()),
            Value::Map(
                self.stage
                    .iter()
                    .map(|(k, v)| (Value::Uint(*k), v.clone()))
                    .collect(),
            ),
            Value::Bytes(self.output_hash.to_vec()),
            Value::Bytes(self.signer.to_vec()),
            Value::Uint(self.timestamp),
        ])
        .encode()
    }

    /// Checks the stage against the type's keys.
    pub fn check_stage(kind: LinkType, stage: &BTreeMap<u64, Value>) -> Result<(), Rule> {
        if kind == LinkType::Custom {
            return Ok(());
        }
        for (k, v) in stage {
            let def = kind
                .stage_keys()
                .iter()
                .find(|d| d.key == *k)
                .ok_or(Rule::LinkStage)?;
            if !def.kind.admits(v) {
                return Err(Rule::LinkStage);
            }
        }
        Ok(())
    }

    /// Decodes a payload (strictly): the version, then the shape of all eight fields, then the
    /// type, then the stage (docs/alloy.md §2.1).
    pub fn from_payload(bytes: &[u8]) -> Result<Link, Rule> {
        let Value::Array(f) = Value::decode(bytes).map_err(|e| e.rule)? else {
            return Err(Rule::LinkStructure);
        };
        if f.first()
            .is_some_and(|v| !matches!(v, Value::Uint(VERSION)))
        {
            return Err(Rule::LinkVersion);
        }
        let [
            _,
            Value::Uint(kind),
            prev,
            input,
            Value::Map(entries),
            output,
            signer,
            Value::Uint(timestamp),
        ] = &f[..]
        else {
            return Err(Rule::LinkStructure);
        };
        let prev = match prev {
            Value::Null => None,
            v => Some(LinkId(bytes32(v).ok_or(Rule::LinkStructure)?)),
        };
        let (Some(input_hash), Some(output_hash), Some(signer)) =
            (bytes32(input), bytes32(output), bytes32(signer))
        else {
            return Err(Rule::LinkStructure);
        };
        let kind = LinkType::from_code(*kind).ok_or(Rule::LinkType)?;
        let mut stage = BTreeMap::new();
        for (k, v) in entries {
            let Value::Uint(k) = k else {
                return Err(Rule::LinkStage);
            };
            stage.insert(*k, v.clone());
        }
        Link::check_stage(kind, &stage)?;
        Ok(Link {
            kind,
            prev,
            input_hash,
            stage,
            output_hash,
            signer,
            timestamp: *timestamp,
        })
    }

    /// Signs the link with `key` (which must be its `signer`): a COSE_Sign1 with the protected
    /// header `{1: -19}`.
    pub fn sign(&self, key: &SigningKey) -> Result<SignedLink, Error> {
        if key.verifying_key().as_bytes() != &self.signer {
            return Err(Error::Unsignable(format!(
                "its signer is {}, the key's public half is {}",
                hex::encode(self.signer),
                hex::encode(key.verifying_key().as_bytes())
            )));
        }
        Link::check_stage(self.kind, &self.stage)
            .map_err(|r| Error::Unsignable(format!("its stage breaks {r}: {}", r.what())))?;
        let sign1 = CoseSign1Builder::new()
            .protected(
                HeaderBuilder::new()
                    .algorithm(iana::Algorithm::Ed25519)
                    .build(),
            )
            .payload(self.payload())
            .create_signature(EXTERNAL_AAD, |tbs| key.sign(tbs).to_bytes().to_vec())
            .build();
        let bytes = sign1
            .to_tagged_vec()
            .map_err(|e| Error::Unsignable(e.to_string()))?;
        SignedLink::decode(&bytes)
            .map_err(|e| Error::Unsignable(format!("it does not decode back: {e}")))
    }
}

/// A link with its signature, as encoded: the exact bytes its id is the hash of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedLink {
    bytes: Vec<u8>,
    id: LinkId,
    link: Link,
    sig_structure: Vec<u8>,
    signature: [u8; 64],
}

impl SignedLink {
    /// Decodes one link from its exact bytes (strict CBOR, COSE_Sign1 shape, payload). The
    /// signature is checked by [`SignedLink::verify_signature`].
    pub fn decode(bytes: &[u8]) -> Result<SignedLink, Error> {
        let value = Value::decode(bytes)?;
        SignedLink::from_value(&value, bytes.to_vec())
    }

    /// From a decoded item and its encoding.
    pub(crate) fn from_value(value: &Value, bytes: Vec<u8>) -> Result<SignedLink, Error> {
        let structure = || Error::rule(Rule::CoseStructure, 0);
        let Value::Tag(18, inner) = value else {
            return Err(structure());
        };
        let Value::Array(f) = inner.as_ref() else {
            return Err(structure());
        };
        // The shape first (the signature's length included), then the headers' values.
        let [
            Value::Bytes(protected),
            Value::Map(unprotected),
            Value::Bytes(payload),
            Value::Bytes(signature),
        ] = &f[..]
        else {
            return Err(structure());
        };
        let signature: [u8; 64] = signature[..].try_into().map_err(|_| structure())?;
        if protected[..] != PROTECTED_ED25519 && protected[..] != PROTECTED_EDDSA {
            return Err(Error::rule(Rule::CoseAlgorithm, 0));
        }
        if !unprotected.is_empty() {
            return Err(Error::rule(Rule::CoseUnprotected, 0));
        }
        let link = Link::from_payload(payload).map_err(|r| Error::rule(r, 0))?;
        // The strict decoder admits only canonical bytes, so re-encoding gives them back; the
        // spec asks verifiers to check it all the same.
        if value.encode() != bytes {
            return Err(Error::rule(Rule::CborNonMinimal, 0));
        }
        // The Sig_structure from coset, over the bytes as received (RFC 9052 §4.4).
        let sign1 = CoseSign1::from_tagged_slice(&bytes).map_err(|_| structure())?;
        let sig_structure = sign1.tbs_data(EXTERNAL_AAD);
        let id = LinkId(Sha256::digest(&bytes).into());
        Ok(SignedLink {
            bytes,
            id,
            link,
            sig_structure,
            signature,
        })
    }

    /// Checks the signature by the link's `signer` (docs/alloy.md, "Signatures").
    pub fn verify_signature(&self) -> Result<(), Rule> {
        ed25519::verify(&self.link.signer, &self.sig_structure, &self.signature)
    }

    /// The same, with the signer's key checked already (rules 1–3 hold for it).
    pub(crate) fn verify_signature_with(
        &self,
        key: &ed25519_dalek::VerifyingKey,
    ) -> Result<(), Rule> {
        debug_assert_eq!(key.as_bytes(), &self.link.signer);
        ed25519::verify_with(key, &self.sig_structure, &self.signature)
    }

    /// The exact encoded bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// SHA-256 of the bytes.
    pub fn id(&self) -> LinkId {
        self.id
    }

    /// The payload.
    pub fn link(&self) -> &Link {
        &self.link
    }

    /// What was signed: `["Signature1", protected, "assay-alloy/1", payload]`.
    pub fn sig_structure(&self) -> &[u8] {
        &self.sig_structure
    }

    /// The 64-byte signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }
}
