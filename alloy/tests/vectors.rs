//! The vectors of docs/alloy/vectors: built here from RFC 8032's test keys, each with the verdict
//! it must get, checked against the Rust verifier and against the committed files (which the
//! browser's verifier runs too, tests/alloy_js.rs). `ASSAY_ALLOY_VECTORS=write` rewrites them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use assay_alloy::cbor::Value;
use assay_alloy::{
    EXTERNAL_AAD, Input, Keyring, Link, LinkId, LinkType, Part, SignedLink, SigningKey, chain_file,
    split, verify,
};
use ed25519_dalek::Signer as _;
use serde_json::{Value as Json, json};
use sha2::{Digest as _, Sha256};

/// RFC 8032 §7.1 TEST 1 and TEST 2 secret keys (public test vectors).
const TEST_1: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const TEST_2: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
/// 2026-01-01T00:00:00Z.
const T0: u64 = 1_767_225_600;

fn key(secret: &str) -> SigningKey {
    SigningKey::from_bytes(&hex::decode(secret).unwrap().try_into().unwrap())
}

fn h(label: &str) -> [u8; 32] {
    Sha256::digest(label.as_bytes()).into()
}

fn b(x: impl AsRef<[u8]>) -> Value {
    Value::Bytes(x.as_ref().to_vec())
}

fn t(s: &str) -> Value {
    Value::Text(s.into())
}

fn stage(entries: &[(u64, Value)]) -> BTreeMap<u64, Value> {
    entries.iter().cloned().collect()
}

/// A link after `prev` (its input the previous output), signed by `k`.
fn next(
    prev: Option<&SignedLink>,
    kind: LinkType,
    k: &SigningKey,
    output: &str,
    st: &[(u64, Value)],
    dt: u64,
) -> SignedLink {
    Link {
        kind,
        prev: prev.map(|p| p.id()),
        input_hash: prev.map_or(h("job"), |p| p.link().output_hash),
        stage: stage(st),
        output_hash: h(output),
        signer: *k.verifying_key().as_bytes(),
        timestamp: T0 + dt,
    }
    .sign(k)
    .unwrap()
}

/// What a job of Assay's enclave emits: dataset → adapter → eval.
fn enclave_chain() -> Vec<SignedLink> {
    let k = key(TEST_1);
    let d = next(
        None,
        LinkType::Dataset,
        &k,
        "data_root",
        &[(1, Value::Uint(4)), (2, b(h("job")))],
        0,
    );
    let a = next(
        Some(&d),
        LinkType::Adapter,
        &k,
        "adapter",
        &[(1, b(h("recipe"))), (2, b(h("base model"))), (3, t("lora"))],
        60,
    );
    let e = next(
        Some(&a),
        LinkType::Eval,
        &k,
        "bundle",
        &[
            (1, t("perplexity")),
            (2, b(h("scores"))),
            (3, t("12.5")),
            (4, Value::Uint(4)),
            (5, b(h("code"))),
        ],
        120,
    );
    vec![d, a, e]
}

/// A longer chain, two signers, every type: it takes several codes.
fn long_chain() -> Vec<SignedLink> {
    let (k1, k2) = (key(TEST_1), key(TEST_2));
    let f = next(
        None,
        LinkType::Forge,
        &k2,
        "forge",
        &[
            (1, t("demo forge")),
            (2, b(h("nonce"))),
            (3, b(h("base model"))),
        ],
        0,
    );
    let d = next(
        Some(&f),
        LinkType::Dataset,
        &k1,
        "data_root",
        &[(1, Value::Uint(4)), (2, b(h("job")))],
        60,
    );
    let a = next(
        Some(&d),
        LinkType::Adapter,
        &k1,
        "adapter",
        &[(1, b(h("recipe"))), (2, b(h("base model"))), (3, t("lora"))],
        120,
    );
    let e = next(
        Some(&a),
        LinkType::Eval,
        &k1,
        "bundle",
        &[(1, t("perplexity")), (2, b(h("scores")))],
        180,
    );
    let c = next(
        Some(&e),
        LinkType::Compute,
        &k1,
        "report",
        &[
            (1, Value::Bool(true)),
            (2, b([0x5a; 48])),
            (3, b(h("report"))),
        ],
        240,
    );
    let x = next(
        Some(&c),
        LinkType::Custom,
        &k2,
        "note",
        &[
            (7, Value::Array(vec![Value::Nint(0), Value::Null])),
            (9, t("free")),
        ],
        300,
    );
    let v = next(
        Some(&x),
        LinkType::Delivery,
        &k2,
        "model",
        &[
            (1, t("https://models.example/demo")),
            (2, Value::Uint(123_456_789)),
        ],
        360,
    );
    let v2 = {
        let mut l = v.link().clone();
        l.input_hash = v.link().output_hash;
        l.timestamp += 60;
        l.prev = Some(v.id());
        l.output_hash = h("model v2");
        l.sign(&k2).unwrap()
    };
    vec![f, d, a, e, c, x, v, v2]
}

fn enc(v: &Value) -> Vec<u8> {
    v.encode()
}

/// The payload's fields, each as encoded bytes, so a vector can put non-canonical bytes in one.
fn fields(l: &Link) -> Vec<Vec<u8>> {
    let Value::Array(f) = Value::decode(&l.payload()).unwrap() else {
        unreachable!()
    };
    f.iter().map(enc).collect()
}

fn payload_of(fields: &[Vec<u8>]) -> Vec<u8> {
    let mut p = vec![0x80 | fields.len() as u8];
    fields.iter().for_each(|f| p.extend(f));
    p
}

/// A COSE_Sign1 put together by hand, correctly signed over whatever bytes it is given.
fn raw_link(
    k: &SigningKey,
    protected: &[u8],
    unprotected: &[u8],
    payload: &[u8],
    tagged: bool,
) -> Vec<u8> {
    let tbs = enc(&Value::Array(vec![
        t("Signature1"),
        b(protected),
        b(EXTERNAL_AAD),
        b(payload),
    ]));
    let sig = k.sign(&tbs).to_bytes();
    let mut out = if tagged { vec![0xd2, 0x84] } else { vec![0x84] };
    out.extend(enc(&b(protected)));
    out.extend(unprotected);
    out.extend(enc(&b(payload)));
    out.extend(enc(&b(sig)));
    out
}

fn resign(k: &SigningKey, payload: &[u8]) -> Vec<u8> {
    raw_link(k, &[0xa1, 0x01, 0x32], &[0xa0], payload, true)
}

/// A part put together by hand around raw link bytes.
fn raw_part(index: u64, count: u64, head: [u8; 32], links: &[Vec<u8>]) -> Vec<u8> {
    let mut p = vec![0x85, 0x01];
    p.extend(enc(&Value::Uint(index)));
    p.extend(enc(&Value::Uint(count)));
    p.extend(enc(&b(head)));
    p.extend(
        enc(&Value::Uint(links.len() as u64))
            .iter()
            .map(|x| x | 0x80),
    );
    links.iter().for_each(|l| p.extend(l));
    p
}

fn id_of(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// One vector: its inputs, an optional keyring, and the verdict it must get.
struct Vector {
    name: &'static str,
    what: &'static str,
    inputs: Vec<Json>,
    keyring: Option<String>,
    valid: bool,
    complete: bool,
    rules: Vec<&'static str>,
    missing: Vec<String>,
    trust: Vec<String>,
    spelled: Option<Json>,
}

fn cbor_in(bytes: &[u8]) -> Json {
    json!({ "cbor": hex::encode(bytes) })
}

fn text_in(text: &str) -> Json {
    json!({ "text": text })
}

fn vector(
    name: &'static str,
    what: &'static str,
    inputs: Vec<Json>,
    rules: &[&'static str],
) -> Vector {
    let valid = rules.iter().all(|r| *r == "qr.missing");
    Vector {
        name,
        what,
        inputs,
        keyring: None,
        valid,
        complete: !rules.contains(&"qr.missing") && !rules.contains(&"chain.empty"),
        rules: rules.to_vec(),
        missing: vec![],
        trust: vec![],
        spelled: None,
    }
}

impl Vector {
    /// No input decodes as a part, so nothing says the chain is complete.
    fn undecodable(mut self) -> Vector {
        self.complete = false;
        self
    }
}

/// A single-link chain file whose link is `bytes`.
fn one(bytes: Vec<u8>) -> Vec<Json> {
    vec![cbor_in(&raw_part(1, 1, id_of(&bytes), &[bytes]))]
}

fn spelled(chain: &[SignedLink], parts: &[Part]) -> Json {
    json!({
        "links": chain.iter().map(|l| json!({
            "id": l.id().to_string(),
            "payload": hex::encode(l.link().payload()),
            "sig_structure": hex::encode(l.sig_structure()),
            "signature": hex::encode(l.signature()),
            "cose_sign1": hex::encode(l.bytes()),
        })).collect::<Vec<_>>(),
        "chain_file": hex::encode(chain_file(chain).unwrap()),
        "parts": parts.iter().map(|p| json!({
            "cbor": hex::encode(p.encode()),
            "base45": base45::encode(p.encode()),
            "text": p.to_text(),
        })).collect::<Vec<_>>(),
    })
}

fn vectors() -> Vec<Vector> {
    let (k1, k2) = (key(TEST_1), key(TEST_2));
    let pk1 = hex::encode(k1.verifying_key().as_bytes());
    let pk2 = hex::encode(k2.verifying_key().as_bytes());
    let chain = enclave_chain();
    let long = long_chain();
    let file = chain_file(&chain).unwrap();
    let parts = split(&long).unwrap();
    let texts: Vec<String> = parts.iter().map(Part::to_text).collect();
    assert!(
        parts.len() >= 3,
        "the long chain takes {} codes",
        parts.len()
    );
    let mut v = vec![];

    let mut g = vector(
        "golden-enclave",
        "the chain an Assay job emits (dataset, adapter, eval), one file",
        vec![cbor_in(&file)],
        &[],
    );
    g.spelled = Some(spelled(&chain, &split(&chain).unwrap()));
    v.push(g);
    let mut g = vector(
        "golden-long-qr",
        "eight links, two signers, every type, split over QR codes",
        texts.iter().map(|t| text_in(t)).collect(),
        &[],
    );
    g.spelled = Some(spelled(&long, &parts));
    v.push(g);
    let mut shuffled: Vec<Json> = texts.iter().rev().map(|t| text_in(t)).collect();
    shuffled.push(text_in(&texts[0]));
    v.push(vector(
        "codes-any-order",
        "the codes in reverse order, one of them scanned twice",
        shuffled,
        &[],
    ));
    let mut out_of_order: Vec<Json> = vec![text_in(&texts[1]), text_in(&texts[0])];
    out_of_order.extend(texts[2..].iter().map(|t| text_in(t)));
    v.push(vector(
        "codes-out-of-order",
        "the second code scanned before the first",
        out_of_order,
        &[],
    ));
    let mut alone = vector(
        "one-code-alone",
        "the second code alone: what it holds is valid, the rest is missing",
        vec![text_in(&texts[1])],
        &["qr.missing"],
    );
    let first_of_2 = SignedLink::decode(&parts[1].links[0]).unwrap();
    alone.missing = vec![
        first_of_2.link().prev.unwrap().to_string(),
        long.last().unwrap().id().to_string(),
    ];
    alone.missing.sort();
    v.push(alone);
    let mut gap = vector(
        "missing-middle-code",
        "the first and last codes without the one between: the missing link's full id is named",
        vec![
            text_in(&texts[0]),
            text_in(&texts[2..].last().unwrap().clone()),
        ],
        &["qr.missing"],
    );
    let before_last = SignedLink::decode(parts[parts.len() - 2].links.last().unwrap()).unwrap();
    gap.missing = vec![before_last.id().to_string()];
    v.push(gap);
    let mut trusted = vector(
        "keyring-trusted",
        "both signers in the keyring, within their validity",
        texts.iter().map(|t| text_in(t)).collect(),
        &[],
    );
    trusted.keyring = Some(format!(
        "[[key]]\nname = \"enclave\"\ned25519 = \"{pk1}\"\nvalid_from = 2026-01-01T00:00:00Z\nvalid_until = 2027-01-01T00:00:00Z\n\n[[key]]\nname = \"forge operator\"\ned25519 = \"{pk2}\"\n"
    ));
    trusted.trust = [
        "forge operator",
        "enclave",
        "enclave",
        "enclave",
        "enclave",
        "forge operator",
        "forge operator",
        "forge operator",
    ]
    .map(String::from)
    .to_vec();
    v.push(trusted);
    let mut untrusted = vector(
        "keyring-untrusted",
        "valid links whose signers are unknown, not yet valid, expired or revoked",
        vec![cbor_in(&chain_file(&long).unwrap())],
        &[],
    );
    untrusted.keyring = Some(format!(
        "[[key]]\nname = \"enclave\"\ned25519 = \"{pk1}\"\nvalid_from = 2026-01-01T00:01:30Z\nvalid_until = 2026-01-01T00:03:30Z\n"
    ));
    untrusted.trust = [
        "trust.unknown",
        "trust.not_yet_valid",
        "enclave",
        "enclave",
        "trust.expired",
        "trust.unknown",
        "trust.unknown",
        "trust.unknown",
    ]
    .map(String::from)
    .to_vec();
    v.push(untrusted);
    let mut revoked = vector(
        "keyring-revoked",
        "links dated from the key's revocation on are not trusted",
        vec![cbor_in(&file)],
        &[],
    );
    revoked.keyring = Some(format!(
        "[[key]]\nname = \"enclave\"\ned25519 = \"{pk1}\"\nrevoked_at = 2026-01-01T00:01:00Z\n"
    ));
    revoked.trust = ["enclave", "trust.revoked", "trust.revoked"]
        .map(String::from)
        .to_vec();
    v.push(revoked);

    // Strict CBOR, each rule inside a correctly signed link.
    let l = chain[0].link();
    let f = fields(l);
    let with = |i: usize, bytes: &[u8]| {
        let mut f = f.clone();
        f[i] = bytes.to_vec();
        resign(&k1, &payload_of(&f))
    };
    let ts = T0.to_be_bytes();
    v.push(vector(
        "cbor-non-minimal",
        "the timestamp in 8 bytes where 4 do",
        one(with(7, &[&[0x1b][..], &ts].concat())),
        &["cbor.non_minimal"],
    ));
    v.push(vector(
        "cbor-indefinite-length",
        "the stage as an indefinite-length map",
        one(with(
            4,
            &hex::decode("bf0104025820")
                .unwrap()
                .into_iter()
                .chain(h("job"))
                .chain([0xff])
                .collect::<Vec<_>>(),
        )),
        &["cbor.indefinite_length"],
    ));
    v.push(vector(
        "cbor-unsorted-keys",
        "stage key 2 before key 1",
        one(with(
            4,
            &[&[0xa2, 0x02, 0x58, 0x20][..], &h("job"), &[0x01, 0x04]].concat(),
        )),
        &["cbor.unsorted_keys"],
    ));
    v.push(vector(
        "cbor-duplicate-key",
        "stage key 1 twice",
        one(with(4, &[0xa2, 0x01, 0x04, 0x01, 0x05])),
        &["cbor.duplicate_key"],
    ));
    v.push(
        vector(
            "cbor-trailing-bytes",
            "a byte after the chain file's item",
            vec![cbor_in(&[&file[..], &[0x00]].concat())],
            &["cbor.trailing_bytes"],
        )
        .undecodable(),
    );
    v.push(
        vector(
            "cbor-truncated",
            "the chain file cut short",
            vec![cbor_in(&file[..file.len() - 1])],
            &["cbor.truncated"],
        )
        .undecodable(),
    );
    v.push(vector(
        "cbor-unsupported",
        "a float in a custom link's stage",
        one({
            let mut f = f.clone();
            f[1] = enc(&Value::Uint(0xff));
            f[4] = hex::decode("a101fb3ff8000000000000").unwrap();
            resign(&k1, &payload_of(&f))
        }),
        &["cbor.unsupported"],
    ));
    v.push(vector(
        "cbor-invalid-utf8",
        "a text string that is not UTF-8",
        one({
            let mut f = fields(chain[1].link());
            f[4] = hex::decode("a10362c328").unwrap();
            resign(&k1, &payload_of(&f))
        }),
        &["cbor.invalid_utf8"],
    ));
    v.push(vector(
        "cbor-too-deep",
        "a custom stage nested 17 deep",
        one({
            let mut f = f.clone();
            f[1] = enc(&Value::Uint(0xff));
            f[4] = [vec![0xa1, 0x01], vec![0x81; 15], vec![0x00]].concat();
            resign(&k1, &payload_of(&f))
        }),
        &["cbor.too_deep"],
    ));
    v.push(vector(
        "cbor-malformed",
        "a reserved head value (additional information 28)",
        one(with(7, &[0x1c])),
        &["cbor.malformed"],
    ));

    // COSE.
    let payload = l.payload();
    v.push(vector(
        "cose-untagged",
        "a COSE_Sign1 without tag 18",
        one(raw_link(&k1, &[0xa1, 0x01, 0x32], &[0xa0], &payload, false)),
        &["cose.structure"],
    ));
    v.push(vector(
        "cose-algorithm",
        "the protected header names ES256 (-7)",
        one(raw_link(&k1, &[0xa1, 0x01, 0x26], &[0xa0], &payload, true)),
        &["cose.algorithm"],
    ));
    v.push(vector(
        "cose-eddsa-accepted",
        "the protected header {1: -8} (EdDSA) is accepted",
        one(raw_link(&k1, &[0xa1, 0x01, 0x27], &[0xa0], &payload, true)),
        &[],
    ));
    v.push(vector(
        "cose-unprotected",
        "an unprotected header that is not empty",
        one(raw_link(
            &k1,
            &[0xa1, 0x01, 0x32],
            &[0xa1, 0x04, 0x41, 0x01],
            &payload,
            true,
        )),
        &["cose.unprotected"],
    ));

    // The payload.
    v.push(vector(
        "link-version",
        "payload version 2",
        one(with(0, &[0x02])),
        &["link.version"],
    ));
    v.push(vector(
        "link-structure",
        "a payload of 7 fields",
        one(resign(&k1, &payload_of(&f[..7]))),
        &["link.structure"],
    ));
    v.push(vector(
        "link-type",
        "type 0x07, which no spec defines",
        one(with(1, &[0x07])),
        &["link.type"],
    ));
    v.push(vector(
        "link-stage",
        "a dataset stage with key 9",
        one(with(4, &[0xa1, 0x09, 0x00])),
        &["link.stage"],
    ));
    v.push(vector(
        "link-stage-kind",
        "a dataset's contribution count as text",
        one(with(4, &[0xa1, 0x01, 0x61, 0x34])),
        &["link.stage"],
    ));

    // Signatures.
    let signer_as = |key: [u8; 32]| {
        let mut f = f.clone();
        f[6] = enc(&b(key));
        resign(&k1, &payload_of(&f))
    };
    let mut y_is_p = [0xff; 32];
    y_is_p[0] = 0xed;
    y_is_p[31] = 0x7f;
    v.push(vector(
        "ed25519-non-canonical-key",
        "a signer key encoding y = p",
        one(signer_as(y_is_p)),
        &["ed25519.non_canonical_point"],
    ));
    let mut identity = [0; 32];
    identity[0] = 1;
    v.push(vector(
        "ed25519-small-order-key",
        "the identity point as signer key",
        one(signer_as(identity)),
        &["ed25519.small_order"],
    ));
    let mut off_curve = [0; 32];
    off_curve[0] = 2;
    v.push(vector(
        "ed25519-invalid-key",
        "a signer key off the curve (y = 2)",
        one(signer_as(off_curve)),
        &["ed25519.invalid_point"],
    ));
    let good = chain[0].bytes().to_vec();
    let sig_at = good.len() - 64;
    let patched = |f: &dyn Fn(&mut [u8])| {
        let mut b = good.clone();
        f(&mut b[sig_at..]);
        b
    };
    v.push(vector(
        "ed25519-bad-signature",
        "one bit of S flipped",
        one(patched(&|s| s[40] ^= 1)),
        &["ed25519.bad_signature"],
    ));
    v.push(vector(
        "ed25519-non-canonical-s",
        "S + L in place of S",
        one(patched(&|s| {
            let l: [u8; 32] =
                hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
                    .unwrap()
                    .try_into()
                    .unwrap();
            let mut carry = 0u16;
            for i in 0..32 {
                let x = s[32 + i] as u16 + l[i] as u16 + carry;
                s[32 + i] = x as u8;
                carry = x >> 8;
            }
        })),
        &["ed25519.non_canonical_scalar"],
    ));
    v.push(vector(
        "ed25519-small-order-r",
        "R the identity point",
        one(patched(&|s| {
            s[..32].fill(0);
            s[0] = 1;
        })),
        &["ed25519.small_order"],
    ));
    v.push(vector(
        "ed25519-foreign-aad",
        "a link signed without the external_aad assay-alloy/1",
        one({
            let tbs = enc(&Value::Array(vec![
                t("Signature1"),
                b([0xa1, 0x01, 0x32]),
                b(b""),
                b(&payload),
            ]));
            let mut b = good.clone();
            b[sig_at..].copy_from_slice(&k1.sign(&tbs).to_bytes());
            b
        }),
        &["ed25519.bad_signature"],
    ));

    // The chain.
    let links: Vec<Vec<u8>> = chain.iter().map(|l| l.bytes().to_vec()).collect();
    let head = chain[2].id().0;
    let relink = |i: usize, edit: &dyn Fn(&mut Link)| -> Vec<Vec<u8>> {
        let mut out = links.clone();
        let mut l = chain[i].link().clone();
        edit(&mut l);
        out[i] = l.sign(&k1).unwrap().bytes().to_vec();
        out
    };
    v.push(vector(
        "chain-empty",
        "no input at all",
        vec![],
        &["chain.empty"],
    ));
    let ls = relink(0, &|l| l.prev = Some(LinkId(h("elsewhere"))));
    v.push(vector(
        "chain-first-prev",
        "the first link names a prev",
        vec![cbor_in(&raw_part(1, 1, head, &ls))],
        &["chain.first_prev", "chain.prev"],
    ));
    let ls = relink(2, &|l| l.prev = Some(LinkId(h("elsewhere"))));
    v.push(vector(
        "chain-prev",
        "the last link's prev is not the link before it",
        vec![cbor_in(&raw_part(1, 1, id_of(&ls[2]), &ls))],
        &["chain.prev"],
    ));
    let ls = relink(1, &|l| l.input_hash = h("other data"));
    let mut ls2 = ls.clone();
    let mut e = chain[2].link().clone();
    e.prev = Some(LinkId(id_of(&ls[1])));
    ls2[2] = e.sign(&k1).unwrap().bytes().to_vec();
    v.push(vector(
        "chain-input",
        "the adapter takes in something other than the dataset's output",
        vec![cbor_in(&raw_part(1, 1, id_of(&ls2[2]), &ls2))],
        &["chain.input"],
    ));
    let mut ls = links.clone();
    let mut e = chain[2].link().clone();
    e.timestamp = T0 + 30;
    ls[2] = e.sign(&k1).unwrap().bytes().to_vec();
    v.push(vector(
        "chain-timestamp",
        "the eval dated before the adapter",
        vec![cbor_in(&raw_part(1, 1, id_of(&ls[2]), &ls))],
        &["chain.timestamp"],
    ));
    v.push(vector(
        "chain-head",
        "a chain file naming another head",
        vec![cbor_in(&raw_part(1, 1, h("not the head"), &links))],
        &["chain.head"],
    ));
    let mut fork = links.clone();
    let mut a2 = chain[1].link().clone();
    a2.output_hash = h("another adapter");
    a2.timestamp += 1;
    fork.insert(2, a2.sign(&k1).unwrap().bytes().to_vec());
    fork.truncate(3);
    v.push(vector(
        "chain-fork",
        "one key signed two adapters after the same dataset",
        vec![cbor_in(&raw_part(1, 1, id_of(&fork[2]), &fork))],
        &["chain.fork", "chain.input", "chain.prev"],
    ));

    // QR texts and parts.
    v.push(
        vector(
            "qr-prefix",
            "a code for another format",
            vec![text_in(&texts[0].replacen("AL1:", "AL2:", 1))],
            &["qr.prefix"],
        )
        .undecodable(),
    );
    v.push(
        vector(
            "qr-base45",
            "a character outside Base45",
            vec![text_in(&texts[0].replacen("AL1:", "AL1:a", 1))],
            &["qr.base45"],
        )
        .undecodable(),
    );
    let body = &texts[0][4..];
    let whole_groups = &body[..body.len() - body.len() % 3];
    v.push(
        vector(
            "qr-base45-final-pair",
            "a final pair of Base45 above 255",
            vec![text_in(&format!("AL1:{whole_groups}::"))],
            &["qr.base45"],
        )
        .undecodable(),
    );
    v.push(
        vector(
            "qr-part",
            "part 3 of 2",
            vec![cbor_in(&raw_part(3, 2, head, &links))],
            &["qr.part"],
        )
        .undecodable(),
    );
    v.push(vector(
        "qr-mixed",
        "a code of another chain among the codes",
        {
            let mut i: Vec<Json> = texts.iter().map(|t| text_in(t)).collect();
            i.push(text_in(&split(&chain).unwrap()[0].to_text()));
            i
        },
        &["qr.mixed"],
    ));
    v.push(vector(
        "qr-duplicate",
        "two different parts with index 1",
        {
            let mut i: Vec<Json> = texts.iter().map(|t| text_in(t)).collect();
            let other = Part {
                links: vec![long[0].bytes().to_vec()],
                ..parts[0].clone()
            };
            i.push(text_in(&other.to_text()));
            i
        },
        &["qr.duplicate"],
    ));
    v.push(vector(
        "qr-swapped",
        "the first two codes' contents under each other's index",
        {
            let mut p = parts.clone();
            let (first, rest) = p.split_at_mut(1);
            std::mem::swap(&mut first[0].links, &mut rest[0].links);
            p.iter().map(|p| text_in(&p.to_text())).collect()
        },
        &[
            "chain.first_prev",
            "chain.input",
            "chain.prev",
            "chain.timestamp",
        ],
    ));
    v.push(vector(
        "qr-text-line-break",
        "codes as scanned, each ending in CR LF (stripped; a space is Base45 and is not)",
        texts.iter().map(|t| text_in(&format!("{t}\r\n"))).collect(),
        &[],
    ));
    v.push(
        vector(
            "qr-part-count",
            "part 1 of 65: a chain takes at most 64 codes",
            vec![cbor_in(&raw_part(1, 65, head, &links))],
            &["qr.part"],
        )
        .undecodable(),
    );
    v.push(vector(
        "qr-missing-then-undecodable",
        "a missing code before one whose first link does not decode: the gap is still reported",
        {
            let last = parts.len() as u64;
            let mut f = fields(long[0].link());
            f[1] = vec![0x07];
            let mut ls = parts[parts.len() - 1].links.clone();
            ls[0] = resign(&k2, &payload_of(&f));
            vec![
                text_in(&texts[0]),
                cbor_in(&raw_part(last, last, long.last().unwrap().id().0, &ls)),
            ]
        },
        &["link.type", "qr.missing"],
    ));
    v.push(vector(
        "link-shape-before-type",
        "type 0x07 and a 31-byte input_hash: the shape is checked before the type",
        one({
            let mut f = f.clone();
            f[1] = vec![0x07];
            f[3] = enc(&b([0; 31]));
            resign(&k1, &payload_of(&f))
        }),
        &["link.structure"],
    ));
    v.push(vector(
        "cbor-float-head",
        "a timestamp that starts a half-precision float and ends there: a float, not a truncation",
        one(with(7, &[0xf9])),
        &["cbor.unsupported"],
    ));
    v.push(
        vector(
            "input-too-large",
            "a code text of 5000 characters",
            vec![text_in(&format!("AL1:{}", "0".repeat(4996)))],
            &["input.too_large"],
        )
        .undecodable(),
    );
    v
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/alloy/vectors")
}

fn verdict(vector: &Vector) -> Json {
    let owned: Vec<(Option<Vec<u8>>, Option<String>)> = vector
        .inputs
        .iter()
        .map(|i| match (i.get("cbor"), i.get("text")) {
            (Some(c), _) => (Some(hex::decode(c.as_str().unwrap()).unwrap()), None),
            (_, Some(t)) => (None, Some(t.as_str().unwrap().to_owned())),
            _ => unreachable!(),
        })
        .collect();
    let verdict = verify(owned.iter().map(|(c, t)| match (c, t) {
        (Some(c), _) => Input::Cbor(c),
        (_, Some(t)) => Input::Text(t),
        _ => unreachable!(),
    }));
    let mut missing: Vec<String> = verdict
        .findings
        .iter()
        .filter_map(|f| f.missing.map(|m| m.to_string()))
        .collect();
    missing.sort();
    let trust: Vec<String> = vector
        .keyring
        .as_ref()
        .map(|k| {
            Keyring::parse(k)
                .unwrap()
                .assess(&verdict)
                .into_iter()
                .map(|t| t.signer.unwrap_or_else(|r| r.code().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "valid": verdict.valid(),
        "complete": verdict.complete(),
        "rules": verdict.rules(),
        "missing": missing,
        "trust": trust,
    })
}

#[test]
fn every_vector_gets_its_verdict_and_matches_its_file() {
    let write = std::env::var("ASSAY_ALLOY_VECTORS").is_ok_and(|v| v == "write");
    let vectors = vectors();
    let mut names = vec![];
    for vector in &vectors {
        let mut rules = vector.rules.clone();
        rules.sort();
        let expect = json!({
            "valid": vector.valid,
            "complete": vector.complete,
            "rules": rules,
            "missing": vector.missing,
            "trust": vector.trust,
        });
        let got = verdict(vector);
        assert_eq!(got, expect, "vector {}: {}", vector.name, vector.what);
        let mut file = json!({
            "name": vector.name,
            "description": vector.what,
            "inputs": vector.inputs,
            "expect": expect,
        });
        if let Some(k) = &vector.keyring {
            file["keyring"] = Json::from(k.as_str());
        }
        if let Some(s) = &vector.spelled {
            file["spelled_out"] = s.clone();
        }
        let text = serde_json::to_string_pretty(&file).unwrap() + "\n";
        let path = dir().join(format!("{}.json", vector.name));
        if write {
            std::fs::create_dir_all(dir()).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else {
            let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (ASSAY_ALLOY_VECTORS=write cargo test -p assay-alloy --test vectors)",
                    path.display()
                )
            });
            assert_eq!(
                committed,
                text,
                "{} is not what the generator makes",
                path.display()
            );
        }
        names.push(format!("{}.json", vector.name));
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    on_disk.sort();
    names.sort();
    assert_eq!(
        on_disk, names,
        "docs/alloy/vectors holds exactly the generated vectors"
    );
}

#[test]
fn every_rule_has_a_negative_vector() {
    let covered: Vec<String> = vectors()
        .iter()
        .flat_map(|v| {
            v.rules
                .iter()
                .map(|r| r.to_string())
                .chain(v.trust.iter().filter(|t| t.contains('.')).cloned())
                .collect::<Vec<_>>()
        })
        .collect();
    for rule in assay_alloy::Rule::ALL {
        assert!(
            covered.iter().any(|c| c == rule.code()),
            "no vector breaks {}",
            rule.code()
        );
    }
}
