/**
 * alloy.js: a verifier for the alloy chain, an independent implementation of docs/alloy.md
 * version 1 (written from the specification, not from the Rust crate `alloy/`).
 *
 * SPDX-License-Identifier: Apache-2.0
 *
 * An ES module, running unchanged in browsers and in Node ≥ 20. The signature equation (§3
 * rule 5) is checked by WebCrypto's Ed25519 (`globalThis.crypto.subtle`) where it has one, else
 * by the vendored @noble/curves (vendor/noble-curves, loaded only then: feature-detected once,
 * see `ed25519Implementation`); everything else is here, without dependencies: the strict CBOR
 * decoder (§1), links (§2), §3 rules 1–4 in BigInt, content hashes (§4, with an incremental
 * SHA-256 in JavaScript, and in WebAssembly where there is one: sha256.wasm), parts and Base45
 * (§5), the verification algorithm (§6) and keyrings (§7).
 *
 * The API:
 *
 * - `verify(inputs, {keyring})` (async): `inputs` is a list of `{cbor: Uint8Array}` (a chain
 *   file or a part's bytes) and `{text: string}` (a QR code's `AL1:` text), in any order;
 *   `keyring` is optional, a keyring's TOML text or what `parseKeyring` returned. Resolves to
 *   the verdict:
 *
 *   ```
 *   { valid, complete,
 *     rules:    [code, …]                  the distinct rules broken, sorted
 *     findings: [{rule, input, link, missing, detail}]
 *               input, link: 0-based positions or null; missing: the 64-hex id a qr.missing
 *               finding names, or null (consecutive missing parts that cannot be named are
 *               one qr.missing finding, "parts 2–5 of 9 are missing", however many they are)
 *     links:    [{part, id, type, prev, input_hash, output_hash, signer, timestamp, stage}]
 *               in chain order; a link that does not decode is {part, id, error: code}
 *     head:     64 hex digits or null
 *     parts:    {count, received: [index, …]}
 *     trust:    [{link, signer, name, rule}]  with a keyring only: per decoded link, the key's
 *               name (rule null) or the trust code (name null) }
 *   ```
 *
 *   Integers (part indices, timestamps, uint stage values) are numbers when they are safe
 *   integers and decimal strings otherwise; digests and keys are lowercase hex; a custom
 *   link's stage values are in CBOR diagnostic notation. A code's text is taken as given: a
 *   caller that reads it from a scanner or a paste strips line breaks first.
 *   Throws (rather than finding) only for inputs of the wrong type, a keyring that does not
 *   parse, or no Ed25519 at all (WebCrypto has none and vendor/noble-curves did not load, or
 *   `useEd25519('webcrypto')` where WebCrypto has none).
 * - `ed25519Implementation()` (async): `'webcrypto'` or `'noble'`, which one checks rule 5;
 *   `useEd25519('webcrypto' | 'noble' | 'auto')` sets it (tests).
 * - `parseKeyring(text)`: the keys of a keyring file (§7); throws `KeyringError`, whose
 *   message names the line or key and what is wrong.
 * - `Sha256` (`update(bytes)`, `digest()`), `sha256(bytes)`, `hashFile(blob, onProgress)` and
 *   `directoryHash(entries)`: the content hashes of §4. `loadSha256Wasm()` (hashFile calls it)
 *   makes Sha256 use sha256.wasm; `sha256Implementation()` says which one it uses, `useSha256(
 *   'js' | 'wasm' | 'auto')` chooses (tests, benchmarks), `sha256WasmError()` says why not.
 * - `decodeCbor(bytes)` and `encodeCbor(item)`: §1's strict decoder (throws `RuleError`, whose
 *   `rule` and `offset` say what and where) and deterministic encoder; `base45Decode(text)`.
 * - `RULES`: every rule's code and what it requires; `hex` and `unhex`.
 */

// ---------------------------------------------------------------------------------------------
// Rules

/** Every rule of docs/alloy.md: its code and what it requires. */
export const RULES = Object.freeze({
  'cbor.truncated': 'the CBOR does not end inside an item',
  'cbor.trailing_bytes': 'nothing follows the one top-level CBOR item',
  'cbor.non_minimal': 'integers and lengths are in their shortest head',
  'cbor.indefinite_length': 'strings, arrays and maps have definite lengths',
  'cbor.unsorted_keys': 'map keys are sorted by the bytes of their encodings',
  'cbor.duplicate_key': 'no map has a key twice',
  'cbor.unsupported': 'no floats, no undefined, no simple value but false, true and null',
  'cbor.malformed': 'no reserved head (additional information 28–30, or 31 with major type 0, 1, 6, 7)',
  'cbor.invalid_utf8': 'text strings are UTF-8',
  'cbor.too_deep': 'arrays, maps and tags nest at most 16 deep',
  'input.too_large': 'a chain file or part is at most 1 MiB, a code text at most 4096 bytes',
  'cose.structure': 'a link is 18([protected: bstr, unprotected: {}, payload: bstr, signature: bstr(64)])',
  'cose.algorithm': "the protected header is exactly h'a10132' {1: -19} or h'a10127' {1: -8}",
  'cose.unprotected': 'the unprotected header is the empty map',
  'link.version': 'the payload version is 1',
  'link.structure': 'the payload is [version, type, prev, input_hash, stage, output_hash, signer, timestamp] with their types',
  'link.type': 'the type is 0x01–0x06 or 0xFF',
  'link.stage': "the stage's keys and values are those its type defines",
  'ed25519.non_canonical_point': 'the signer key and R are canonical encodings (y < p, not x = 0 with the sign bit)',
  'ed25519.invalid_point': 'the signer key and R decompress to points of the curve',
  'ed25519.small_order': 'neither the signer key nor R is a point of small order',
  'ed25519.non_canonical_scalar': 'S is below the group order L',
  'ed25519.bad_signature': 'the signature verifies (cofactorless equation)',
  'chain.first_prev': "the first link's prev is null",
  'chain.prev': "each link's prev is the id of the link before it",
  'chain.input': "each link's input_hash is the previous output_hash (custom links excepted)",
  'chain.timestamp': 'timestamps do not decrease along the chain',
  'chain.head': "the last link's id is the head the parts name",
  'chain.fork': 'no key signs two different links with the same prev',
  'chain.empty': 'there is at least one input',
  'qr.prefix': "a code's text starts with AL1:",
  'qr.base45': 'the text after AL1: is strict Base45 (RFC 9285)',
  'qr.part': 'a part is [1, part_index, part_count, head_link_id: bstr(32), [link, …]] with 1 ≤ part_index ≤ part_count ≤ 64 and at least one link',
  'qr.mixed': 'all parts name the same head_link_id and part_count',
  'qr.duplicate': 'no two different parts have the same index',
  'qr.missing': 'every part is present',
  'trust.unknown': 'the signer is in the keyring',
  'trust.revoked': "the link is dated before the key's revocation",
  'trust.not_yet_valid': "the link is dated from the key's valid_from on",
  'trust.expired': "the link is dated up to the key's valid_until",
});

/**
 * A broken rule met while decoding: its code, what is wrong, and where: `offset` bytes (or
 * characters, for a text) into `place` (e.g. "the part", "the payload").
 */
export class RuleError extends Error {
  constructor(rule, offset, what, place = 'the input') {
    super(`${rule}: ${what} (${place === 'the text' ? 'character' : 'byte'} ${offset} of ${place})`);
    this.name = 'RuleError';
    this.rule = rule;
    this.offset = offset;
    this.what = what;
    this.place = place;
  }

  /** The same failure placed in an enclosing input, `shift` further on. */
  within(place, shift = 0) {
    return new RuleError(this.rule, this.offset + shift, this.what, place);
  }
}

/** Runs `decode`, placing any RuleError it throws in `place`, `shift` on. */
function placed(place, shift, decode) {
  try {
    return decode();
  } catch (e) {
    throw e instanceof RuleError ? e.within(place, shift) : e;
  }
}

// ---------------------------------------------------------------------------------------------
// Bytes

/** Lowercase hex of bytes. */
export function hex(bytes) {
  let s = '';
  for (const b of bytes) s += (b < 16 ? '0' : '') + b.toString(16);
  return s;
}

/** Bytes of a hex string (either case); throws on an odd length or a non-hex digit. */
export function unhex(text) {
  if (text.length % 2 !== 0) throw new Error(`unhex: odd number of hex digits (${text.length})`);
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) {
    const pair = text.slice(2 * i, 2 * i + 2);
    if (!/^[0-9a-fA-F]{2}$/.test(pair)) throw new Error(`unhex: ${JSON.stringify(pair)} at ${2 * i} is not hex`);
    out[i] = parseInt(pair, 16);
  }
  return out;
}

function equalBytes(a, b) {
  return compareBytes(a, b) === 0;
}

/** Bytewise lexicographic order (a prefix first). */
function compareBytes(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function concatBytes(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** u64be(n) for a non-negative safe integer or a BigInt below 2^64. */
function u64be(n) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

/** Little-endian bytes as a BigInt. */
function leBigInt(bytes) {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}

/** A non-negative BigInt for the verdict: a number when it is safe, else its decimal string. */
function num(n) {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}

const UTF8 = new TextEncoder();
// fatal: refuse what is not UTF-8; ignoreBOM: keep a leading U+FEFF as the text's own.
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// ---------------------------------------------------------------------------------------------
// SHA-256 (FIPS 180-4), incremental

/** SHA-256's round constants (FIPS 180-4 §4.2.2); web/sha256-wat.mjs writes them into the WebAssembly. */
export const SHA256_K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/**
 * Runs the compression function over the whole 64-byte blocks of `bytes[at..end)`, updating
 * `state` (8 words). Unrolled for speed (about twice a rolled loop's in V8): the schedule lives in
 * 16 locals w0–w15, each word replaced in place by w[i] = w[i−16] + σ0(w[i−15]) + w[i−7] +
 * σ1(w[i−2]) when round i ≥ 16 needs it, and instead of shifting a…h each round the names rotate:
 * round i writes only its d (the new e) and its h (the new a). Int32 arithmetic throughout.
 */
function sha256Blocks(state, bytes, at, end) {
  let h0 = state[0], h1 = state[1], h2 = state[2], h3 = state[3];
  let h4 = state[4], h5 = state[5], h6 = state[6], h7 = state[7];
  for (; at + 64 <= end; at += 64) {
    let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7, t;
    let w0 = bytes[at] << 24 | bytes[at + 1] << 16 | bytes[at + 2] << 8 | bytes[at + 3];
    let w1 = bytes[at + 4] << 24 | bytes[at + 5] << 16 | bytes[at + 6] << 8 | bytes[at + 7];
    let w2 = bytes[at + 8] << 24 | bytes[at + 9] << 16 | bytes[at + 10] << 8 | bytes[at + 11];
    let w3 = bytes[at + 12] << 24 | bytes[at + 13] << 16 | bytes[at + 14] << 8 | bytes[at + 15];
    let w4 = bytes[at + 16] << 24 | bytes[at + 17] << 16 | bytes[at + 18] << 8 | bytes[at + 19];
    let w5 = bytes[at + 20] << 24 | bytes[at + 21] << 16 | bytes[at + 22] << 8 | bytes[at + 23];
    let w6 = bytes[at + 24] << 24 | bytes[at + 25] << 16 | bytes[at + 26] << 8 | bytes[at + 27];
    let w7 = bytes[at + 28] << 24 | bytes[at + 29] << 16 | bytes[at + 30] << 8 | bytes[at + 31];
    let w8 = bytes[at + 32] << 24 | bytes[at + 33] << 16 | bytes[at + 34] << 8 | bytes[at + 35];
    let w9 = bytes[at + 36] << 24 | bytes[at + 37] << 16 | bytes[at + 38] << 8 | bytes[at + 39];
    let w10 = bytes[at + 40] << 24 | bytes[at + 41] << 16 | bytes[at + 42] << 8 | bytes[at + 43];
    let w11 = bytes[at + 44] << 24 | bytes[at + 45] << 16 | bytes[at + 46] << 8 | bytes[at + 47];
    let w12 = bytes[at + 48] << 24 | bytes[at + 49] << 16 | bytes[at + 50] << 8 | bytes[at + 51];
    let w13 = bytes[at + 52] << 24 | bytes[at + 53] << 16 | bytes[at + 54] << 8 | bytes[at + 55];
    let w14 = bytes[at + 56] << 24 | bytes[at + 57] << 16 | bytes[at + 58] << 8 | bytes[at + 59];
    let w15 = bytes[at + 60] << 24 | bytes[at + 61] << 16 | bytes[at + 62] << 8 | bytes[at + 63];
    t = (h + ((e >>> 6 | e << 26) ^ (e >>> 11 | e << 21) ^ (e >>> 25 | e << 7)) + (g ^ (e & (f ^ g))) + SHA256_K[0] + w0) | 0;
    d = (d + t) | 0; h = (t + ((a >>> 2 | a << 30) ^ (a >>> 13 | a << 19) ^ (a >>> 22 | a << 10)) + (a & b | c & (a | b))) | 0;
    t = (g + ((d >>> 6 | d << 26) ^ (d >>> 11 | d << 21) ^ (d >>> 25 | d << 7)) + (f ^ (d & (e ^ f))) + SHA256_K[1] + w1) | 0;
    c = (c + t) | 0; g = (t + ((h >>> 2 | h << 30) ^ (h >>> 13 | h << 19) ^ (h >>> 22 | h << 10)) + (h & a | b & (h | a))) | 0;
    t = (f + ((c >>> 6 | c << 26) ^ (c >>> 11 | c << 21) ^ (c >>> 25 | c << 7)) + (e ^ (c & (d ^ e))) + SHA256_K[2] + w2) | 0;
    b = (b + t) | 0; f = (t + ((g >>> 2 | g << 30) ^ (g >>> 13 | g << 19) ^ (g >>> 22 | g << 10)) + (g & h | a & (g | h))) | 0;
    t = (e + ((b >>> 6 | b << 26) ^ (b >>> 11 | b << 21) ^ (b >>> 25 | b << 7)) + (d ^ (b & (c ^ d))) + SHA256_K[3] + w3) | 0;
    a = (a + t) | 0; e = (t + ((f >>> 2 | f << 30) ^ (f >>> 13 | f << 19) ^ (f >>> 22 | f << 10)) + (f & g | h & (f | g))) | 0;
    t = (d + ((a >>> 6 | a << 26) ^ (a >>> 11 | a << 21) ^ (a >>> 25 | a << 7)) + (c ^ (a & (b ^ c))) + SHA256_K[4] + w4) | 0;
    h = (h + t) | 0; d = (t + ((e >>> 2 | e << 30) ^ (e >>> 13 | e << 19) ^ (e >>> 22 | e << 10)) + (e & f | g & (e | f))) | 0;
    t = (c + ((h >>> 6 | h << 26) ^ (h >>> 11 | h << 21) ^ (h >>> 25 | h << 7)) + (b ^ (h & (a ^ b))) + SHA256_K[5] + w5) | 0;
    g = (g + t) | 0; c = (t + ((d >>> 2 | d << 30) ^ (d >>> 13 | d << 19) ^ (d >>> 22 | d << 10)) + (d & e | f & (d | e))) | 0;
    t = (b + ((g >>> 6 | g << 26) ^ (g >>> 11 | g << 21) ^ (g >>> 25 | g << 7)) + (a ^ (g & (h ^ a))) + SHA256_K[6] + w6) | 0;
    f = (f + t) | 0; b = (t + ((c >>> 2 | c << 30) ^ (c >>> 13 | c << 19) ^ (c >>> 22 | c << 10)) + (c & d | e & (c | d))) | 0;
    t = (a + ((f >>> 6 | f << 26) ^ (f >>> 11 | f << 21) ^ (f >>> 25 | f << 7)) + (h ^ (f & (g ^ h))) + SHA256_K[7] + w7) | 0;
    e = (e + t) | 0; a = (t + ((b >>> 2 | b << 30) ^ (b >>> 13 | b << 19) ^ (b >>> 22 | b << 10)) + (b & c | d & (b | c))) | 0;
    t = (h + ((e >>> 6 | e << 26) ^ (e >>> 11 | e << 21) ^ (e >>> 25 | e << 7)) + (g ^ (e & (f ^ g))) + SHA256_K[8] + w8) | 0;
    d = (d + t) | 0; h = (t + ((a >>> 2 | a << 30) ^ (a >>> 13 | a << 19) ^ (a >>> 22 | a << 10)) + (a & b | c & (a | b))) | 0;
    t = (g + ((d >>> 6 | d << 26) ^ (d >>> 11 | d << 21) ^ (d >>> 25 | d << 7)) + (f ^ (d & (e ^ f))) + SHA256_K[9] + w9) | 0;
    c = (c + t) | 0; g = (t + ((h >>> 2 | h << 30) ^ (h >>> 13 | h << 19) ^ (h >>> 22 | h << 10)) + (h & a | b & (h | a))) | 0;
    t = (f + ((c >>> 6 | c << 26) ^ (c >>> 11 | c << 21) ^ (c >>> 25 | c << 7)) + (e ^ (c & (d ^ e))) + SHA256_K[10] + w10) | 0;
    b = (b + t) | 0; f = (t + ((g >>> 2 | g << 30) ^ (g >>> 13 | g << 19) ^ (g >>> 22 | g << 10)) + (g & h | a & (g | h))) | 0;
    t = (e + ((b >>> 6 | b << 26) ^ (b >>> 11 | b << 21) ^ (b >>> 25 | b << 7)) + (d ^ (b & (c ^ d))) + SHA256_K[11] + w11) | 0;
    a = (a + t) | 0; e = (t + ((f >>> 2 | f << 30) ^ (f >>> 13 | f << 19) ^ (f >>> 22 | f << 10)) + (f & g | h & (f | g))) | 0;
    t = (d + ((a >>> 6 | a << 26) ^ (a >>> 11 | a << 21) ^ (a >>> 25 | a << 7)) + (c ^ (a & (b ^ c))) + SHA256_K[12] + w12) | 0;
    h = (h + t) | 0; d = (t + ((e >>> 2 | e << 30) ^ (e >>> 13 | e << 19) ^ (e >>> 22 | e << 10)) + (e & f | g & (e | f))) | 0;
    t = (c + ((h >>> 6 | h << 26) ^ (h >>> 11 | h << 21) ^ (h >>> 25 | h << 7)) + (b ^ (h & (a ^ b))) + SHA256_K[13] + w13) | 0;
    g = (g + t) | 0; c = (t + ((d >>> 2 | d << 30) ^ (d >>> 13 | d << 19) ^ (d >>> 22 | d << 10)) + (d & e | f & (d | e))) | 0;
    t = (b + ((g >>> 6 | g << 26) ^ (g >>> 11 | g << 21) ^ (g >>> 25 | g << 7)) + (a ^ (g & (h ^ a))) + SHA256_K[14] + w14) | 0;
    f = (f + t) | 0; b = (t + ((c >>> 2 | c << 30) ^ (c >>> 13 | c << 19) ^ (c >>> 22 | c << 10)) + (c & d | e & (c | d))) | 0;
    t = (a + ((f >>> 6 | f << 26) ^ (f >>> 11 | f << 21) ^ (f >>> 25 | f << 7)) + (h ^ (f & (g ^ h))) + SHA256_K[15] + w15) | 0;
    e = (e + t) | 0; a = (t + ((b >>> 2 | b << 30) ^ (b >>> 13 | b << 19) ^ (b >>> 22 | b << 10)) + (b & c | d & (b | c))) | 0;
    w0 = (w0 + ((w1 >>> 7 | w1 << 25) ^ (w1 >>> 18 | w1 << 14) ^ w1 >>> 3) + w9 + ((w14 >>> 17 | w14 << 15) ^ (w14 >>> 19 | w14 << 13) ^ w14 >>> 10)) | 0;
    t = (h + ((e >>> 6 | e << 26) ^ (e >>> 11 | e << 21) ^ (e >>> 25 | e << 7)) + (g ^ (e & (f ^ g))) + SHA256_K[16] + w0) | 0;
    d = (d + t) | 0; h = (t + ((a >>> 2 | a << 30) ^ (a >>> 13 | a << 19) ^ (a >>> 22 | a << 10)) + (a & b | c & (a | b))) | 0;
    w1 = (w1 + ((w2 >>> 7 | w2 << 25) ^ (w2 >>> 18 | w2 << 14) ^ w2 >>> 3) + w10 + ((w15 >>> 17 | w15 << 15) ^ (w15 >>> 19 | w15 << 13) ^ w15 >>> 10)) | 0;
    t = (g + ((d >>> 6 | d << 26) ^ (d >>> 11 | d << 21) ^ (d >>> 25 | d << 7)) + (f ^ (d & (e ^ f))) + SHA256_K[17] + w1) | 0;
    c = (c + t) | 0; g = (t + ((h >>> 2 | h << 30) ^ (h >>> 13 | h << 19) ^ (h >>> 22 | h << 10)) + (h & a | b & (h | a))) | 0;
    w2 = (w2 + ((w3 >>> 7 | w3 << 25) ^ (w3 >>> 18 | w3 << 14) ^ w3 >>> 3) + w11 + ((w0 >>> 17 | w0 << 15) ^ (w0 >>> 19 | w0 << 13) ^ w0 >>> 10)) | 0;
    t = (f + ((c >>> 6 | c << 26) ^ (c >>> 11 | c << 21) ^ (c >>> 25 | c << 7)) + (e ^ (c & (d ^ e))) + SHA256_K[18] + w2) | 0;
    b = (b + t) | 0; f = (t + ((g >>> 2 | g << 30) ^ (g >>> 13 | g << 19) ^ (g >>> 22 | g << 10)) + (g & h | a & (g | h))) | 0;
    w3 = (w3 + ((w4 >>> 7 | w4 << 25) ^ (w4 >>> 18 | w4 << 14) ^ w4 >>> 3) + w12 + ((w1 >>> 17 | w1 << 15) ^ (w1 >>> 19 | w1 << 13) ^ w1 >>> 10)) | 0;
    t = (e + ((b >>> 6 | b << 26) ^ (b >>> 11 | b << 21) ^ (b >>> 25 | b << 7)) + (d ^ (b & (c ^ d))) + SHA256_K[19] + w3) | 0;
    a = (a + t) | 0; e = (t + ((f >>> 2 | f << 30) ^ (f >>> 13 | f << 19) ^ (f >>> 22 | f << 10)) + (f & g | h & (f | g))) | 0;
    w4 = (w4 + ((w5 >>> 7 | w5 << 25) ^ (w5 >>> 18 | w5 << 14) ^ w5 >>> 3) + w13 + ((w2 >>> 17 | w2 << 15) ^ (w2 >>> 19 | w2 << 13) ^ w2 >>> 10)) | 0;
    t = (d + ((a >>> 6 | a << 26) ^ (a >>> 11 | a << 21) ^ (a >>> 25 | a << 7)) + (c ^ (a & (b ^ c))) + SHA256_K[20] + w4) | 0;
    h = (h + t) | 0; d = (t + ((e >>> 2 | e << 30) ^ (e >>> 13 | e << 19) ^ (e >>> 22 | e << 10)) + (e & f | g & (e | f))) | 0;
    w5 = (w5 + ((w6 >>> 7 | w6 << 25) ^ (w6 >>> 18 | w6 << 14) ^ w6 >>> 3) + w14 + ((w3 >>> 17 | w3 << 15) ^ (w3 >>> 19 | w3 << 13) ^ w3 >>> 10)) | 0;
    t = (c + ((h >>> 6 | h << 26) ^ (h >>> 11 | h << 21) ^ (h >>> 25 | h << 7)) + (b ^ (h & (a ^ b))) + SHA256_K[21] + w5) | 0;
    g = (g + t) | 0; c = (t + ((d >>> 2 | d << 30) ^ (d >>> 13 | d << 19) ^ (d >>> 22 | d << 10)) + (d & e | f & (d | e))) | 0;
    w6 = (w6 + ((w7 >>> 7 | w7 << 25) ^ (w7 >>> 18 | w7 << 14) ^ w7 >>> 3) + w15 + ((w4 >>> 17 | w4 << 15) ^ (w4 >>> 19 | w4 << 13) ^ w4 >>> 10)) | 0;
    t = (b + ((g >>> 6 | g << 26) ^ (g >>> 11 | g << 21) ^ (g >>> 25 | g << 7)) + (a ^ (g & (h ^ a))) + SHA256_K[22] + w6) | 0;
    f = (f + t) | 0; b = (t + ((c >>> 2 | c << 30) ^ (c >>> 13 | c << 19) ^ (c >>> 22 | c << 10)) + (c & d | e & (c | d))) | 0;
    w7 = (w7 + ((w8 >>> 7 | w8 << 25) ^ (w8 >>> 18 | w8 << 14) ^ w8 >>> 3) + w0 + ((w5 >>> 17 | w5 << 15) ^ (w5 >>> 19 | w5 << 13) ^ w5 >>> 10)) | 0;
    t = (a + ((f >>> 6 | f << 26) ^ (f >>> 11 | f << 21) ^ (f >>> 25 | f << 7)) + (h ^ (f & (g ^ h))) + SHA256_K[23] + w7) | 0;
    e = (e + t) | 0; a = (t + ((b >>> 2 | b << 30) ^ (b >>> 13 | b << 19) ^ (b >>> 22 | b << 10)) + (b & c | d & (b | c))) | 0;
    w8 = (w8 + ((w9 >>> 7 | w9 << 25) ^ (w9 >>> 18 | w9 << 14) ^ w9 >>> 3) + w1 + ((w6 >>> 17 | w6 << 15) ^ (w6 >>> 19 | w6 << 13) ^ w6 >>> 10)) | 0;
    t = (h + ((e >>> 6 | e << 26) ^ (e >>> 11 | e << 21) ^ (e >>> 25 | e << 7)) + (g ^ (e & (f ^ g))) + SHA256_K[24] + w8) | 0;
    d = (d + t) | 0; h = (t + ((a >>> 2 | a << 30) ^ (a >>> 13 | a << 19) ^ (a >>> 22 | a << 10)) + (a & b | c & (a | b))) | 0;
    w9 = (w9 + ((w10 >>> 7 | w10 << 25) ^ (w10 >>> 18 | w10 << 14) ^ w10 >>> 3) + w2 + ((w7 >>> 17 | w7 << 15) ^ (w7 >>> 19 | w7 << 13) ^ w7 >>> 10)) | 0;
    t = (g + ((d >>> 6 | d << 26) ^ (d >>> 11 | d << 21) ^ (d >>> 25 | d << 7)) + (f ^ (d & (e ^ f))) + SHA256_K[25] + w9) | 0;
    c = (c + t) | 0; g = (t + ((h >>> 2 | h << 30) ^ (h >>> 13 | h << 19) ^ (h >>> 22 | h << 10)) + (h & a | b & (h | a))) | 0;
    w10 = (w10 + ((w11 >>> 7 | w11 << 25) ^ (w11 >>> 18 | w11 << 14) ^ w11 >>> 3) + w3 + ((w8 >>> 17 | w8 << 15) ^ (w8 >>> 19 | w8 << 13) ^ w8 >>> 10)) | 0;
    t = (f + ((c >>> 6 | c << 26) ^ (c >>> 11 | c << 21) ^ (c >>> 25 | c << 7)) + (e ^ (c & (d ^ e))) + SHA256_K[26] + w10) | 0;
    b = (b + t) | 0; f = (t + ((g >>> 2 | g << 30) ^ (g >>> 13 | g << 19) ^ (g >>> 22 | g << 10)) + (g & h | a & (g | h))) | 0;
    w11 = (w11 + ((w12 >>> 7 | w12 << 25) ^ (w12 >>> 18 | w12 << 14) ^ w12 >>> 3) + w4 + ((w9 >>> 17 | w9 << 15) ^ (w9 >>> 19 | w9 << 13) ^ w9 >>> 10)) | 0;
    t = (e + ((b >>> 6 | b << 26) ^ (b >>> 11 | b << 21) ^ (b >>> 25 | b << 7)) + (d ^ (b & (c ^ d))) + SHA256_K[27] + w11) | 0;
    a = (a + t) | 0; e = (t + ((f >>> 2 | f << 30) ^ (f >>> 13 | f << 19) ^ (f >>> 22 | f << 10)) + (f & g | h & (f | g))) | 0;
    w12 = (w12 + ((w13 >>> 7 | w13 << 25) ^ (w13 >>> 18 | w13 << 14) ^ w13 >>> 3) + w5 + ((w10 >>> 17 | w10 << 15) ^ (w10 >>> 19 | w10 << 13) ^ w10 >>> 10)) | 0;
    t = (d + ((a >>> 6 | a << 26) ^ (a >>> 11 | a << 21) ^ (a >>> 25 | a << 7)) + (c ^ (a & (b ^ c))) + SHA256_K[28] + w12) | 0;
    h = (h + t) | 0; d = (t + ((e >>> 2 | e << 30) ^ (e >>> 13 | e << 19) ^ (e >>> 22 | e << 10)) + (e & f | g & (e | f))) | 0;
    w13 = (w13 + ((w14 >>> 7 | w14 << 25) ^ (w14 >>> 18 | w14 << 14) ^ w14 >>> 3) + w6 + ((w11 >>> 17 | w11 << 15) ^ (w11 >>> 19 | w11 << 13) ^ w11 >>> 10)) | 0;
    t = (c + ((h >>> 6 | h << 26) ^ (h >>> 11 | h << 21) ^ (h >>> 25 | h << 7)) + (b ^ (h & (a ^ b))) + SHA256_K[29] + w13) | 0;
    g = (g + t) | 0; c = (t + ((d >>> 2 | d << 30) ^ (d >>> 13 | d << 19) ^ (d >>> 22 | d << 10)) + (d & e | f & (d | e))) | 0;
    w14 = (w14 + ((w15 >>> 7 | w15 << 25) ^ (w15 >>> 18 | w15 << 14) ^ w15 >>> 3) + w7 + ((w12 >>> 17 | w12 << 15) ^ (w12 >>> 19 | w12 << 13) ^ w12 >>> 10)) | 0;
    t = (b + ((g >>> 6 | g << 26) ^ (g >>> 11 | g << 21) ^ (g >>> 25 | g << 7)) + (a ^ (g & (h ^ a))) + SHA256_K[30] + w14) | 0;
    f = (f + t) | 0; b = (t + ((c >>> 2 | c << 30) ^ (c >>> 13 | c << 19) ^ (c >>> 22 | c << 10)) + (c & d | e & (c | d))) | 0;
    w15 = (w15 + ((w0 >>> 7 | w0 << 25) ^ (w0 >>> 18 | w0 << 14) ^ w0 >>> 3) + w8 + ((w13 >>> 17 | w13 << 15) ^ (w13 >>> 19 | w13 << 13) ^ w13 >>> 10)) | 0;
    t = (a + ((f >>> 6 | f << 26) ^ (f >>> 11 | f << 21) ^ (f >>> 25 | f << 7)) + (h ^ (f & (g ^ h))) + SHA256_K[31] + w15) | 0;
    e = (e + t) | 0; a = (t + ((b >>> 2 | b << 30) ^ (b >>> 13 | b << 19) ^ (b >>> 22 | b << 10)) + (b & c | d & (b | c))) | 0;
    w0 = (w0 + ((w1 >>> 7 | w1 << 25) ^ (w1 >>> 18 | w1 << 14) ^ w1 >>> 3) + w9 + ((w14 >>> 17 | w14 << 15) ^ (w14 >>> 19 | w14 << 13) ^ w14 >>> 10)) | 0;
    t = (h + ((e >>> 6 | e << 26) ^ (e >>> 11 | e << 21) ^ (e >>> 25 | e << 7)) + (g ^ (e & (f ^ g))) + SHA256_K[32] + w0) | 0;
    d = (d + t) | 0; h = (t + ((a >>> 2 | a << 30) ^ (a >>> 13 | a << 19) ^ (a >>> 22 | a << 10)) + (a & b | c & (a | b))) | 0;
    w1 = (w1 + ((w2 >>> 7 | w2 << 25) ^ (w2 >>> 18 | w2 << 14) ^ w2 >>> 3) + w10 + ((w15 >>> 17 | w15 << 15) ^ (w15 >>> 19 | w15 << 13) ^ w15 >>> 10)) | 0;
    t = (g + ((d >>> 6 | d << 26) ^ (d >>> 11 | d << 21) ^ (d >>> 25 | d << 7)) + (f ^ (d & (e ^ f))) + SHA256_K[33] + w1) | 0;
    c = (c + t) | 0; g = (t + ((h >>> 2 | h << 30) ^ (h >>> 13 | h << 19) ^ (h >>> 22 | h << 10)) + (h & a | b & (h | a))) | 0;
    w2 = (w2 + ((w3 >>> 7 | w3 << 25) ^ (w3 >>> 18 | w3 << 14) ^ w3 >>> 3) + w11 + ((w0 >>> 17 | w0 << 15) ^ (w0 >>> 19 | w0 << 13) ^ w0 >>> 10)) | 0;
    t = (f + ((c >>> 6 | c << 26) ^ (c >>> 11 | c << 21) ^ (c >>> 25 | c << 7)) + (e ^ (c & (d ^ e))) + SHA256_K[34] + w2) | 0;
    b = (b + t) | 0; f = (t + ((g >>> 2 | g << 30) ^ (g >>> 13 | g << 19) ^ (g >>> 22 | g << 10)) + (g & h | a & (g | h))) | 0;
    w3 = (w3 + ((w4 >>> 7 | w4 << 25) ^ (w4 >>> 18 | w4 << 14) ^ w4 >>> 3) + w12 + ((w1 >>> 17 | w1 << 15) ^ (w1 >>> 19 | w1 << 13) ^ w1 >>> 10)) | 0;
    t = (e + ((b >>> 6 | b << 26) ^ (b >>> 11 | b << 21) ^ (b >>> 25 | b << 7)) + (d ^ (b & (c ^ d))) + SHA256_K[35] + w3) | 0;
    a = (a + t) | 0; e = (t + ((f >>> 2 | f << 30) ^ (f >>> 13 | f << 19) ^ (f >>> 22 | f << 10)) + (f & g | h & (f | g))) | 0;
    w4 = (w4 + ((w5 >>> 7 | w5 << 25) ^ (w5 >>> 18 | w5 << 14) ^ w5 >>> 3) + w13 + ((w2 >>> 17 | w2 << 15) ^ (w2 >>> 19 | w2 << 13) ^ w2 >>> 10)) | 0;
    t = (d + ((a >>> 6 | a << 26) ^ (a >>> 11 | a << 21) ^ (a >>> 25 | a << 7)) + (c ^ (a & (b ^ c))) + SHA256_K[36] + w4) | 0;
    h = (h + t) | 0; d = (t + ((e >>> 2 | e << 30) ^ (e >>> 13 | e << 19) ^ (e >>> 22 | e << 10)) + (e & f | g & (e | f))) | 0;
    w5 = (w5 + ((w6 >>> 7 | w6 << 25) ^ (w6 >>> 18 | w6 << 14) ^ w6 >>> 3) + w14 + ((w3 >>> 17 | w3 << 15) ^ (w3 >>> 19 | w3 << 13) ^ w3 >>> 10)) | 0;
    t = (c + ((h >>> 6 | h << 26) ^ (h >>> 11 | h << 21) ^ (h >>> 25 | h << 7)) + (b ^ (h & (a ^ b))) + SHA256_K[37] + w5) | 0;
    g = (g + t) | 0; c = (t + ((d >>> 2 | d << 30) ^ (d >>> 13 | d << 19) ^ (d >>> 22 | d << 10)) + (d & e | f & (d | e))) | 0;
    w6 = (w6 + ((w7 >>> 7 | w7 << 25) ^ (w7 >>> 18 | w7 << 14) ^ w7 >>> 3) + w15 + ((w4 >>> 17 | w4 << 15) ^ (w4 >>> 19 | w4 << 13) ^ w4 >>> 10)) | 0;
    t = (b + ((g >>> 6 | g << 26) ^ (g >>> 11 | g << 21) ^ (g >>> 25 | g << 7)) + (a ^ (g & (h ^ a))) + SHA256_K[38] + w6) | 0;
    f = (f + t) | 0; b = (t + ((c >>> 2 | c << 30) ^ (c >>> 13 | c << 19) ^ (c >>> 22 | c << 10)) + (c & d | e & (c | d))) | 0;
    w7 = (w7 + ((w8 >>> 7 | w8 << 25) ^ (w8 >>> 18 | w8 << 14) ^ w8 >>> 3) + w0 + ((w5 >>> 17 | w5 << 15) ^ (w5 >>> 19 | w5 << 13) ^ w5 >>> 10)) | 0;
    t = (a + ((f >>> 6 | f << 26) ^ (f >>> 11 | f << 21) ^ (f >>> 25 | f << 7)) + (h ^ (f & (g ^ h))) + SHA256_K[39] + w7) | 0;
    e = (e + t) | 0; a = (t + ((b >>> 2 | b << 30) ^ (b >>> 13 | b << 19) ^ (b >>> 22 | b << 10)) + (b & c | d & (b | c))) | 0;
    w8 = (w8 + ((w9 >>> 7 | w9 << 25) ^ (w9 >>> 18 | w9 << 14) ^ w9 >>> 3) + w1 + ((w6 >>> 17 | w6 << 15) ^ (w6 >>> 19 | w6 << 13) ^ w6 >>> 10)) | 0;
    t = (h + ((e >>> 6 | e << 26) ^ (e >>> 11 | e << 21) ^ (e >>> 25 | e << 7)) + (g ^ (e & (f ^ g))) + SHA256_K[40] + w8) | 0;
    d = (d + t) | 0; h = (t + ((a >>> 2 | a << 30) ^ (a >>> 13 | a << 19) ^ (a >>> 22 | a << 10)) + (a & b | c & (a | b))) | 0;
    w9 = (w9 + ((w10 >>> 7 | w10 << 25) ^ (w10 >>> 18 | w10 << 14) ^ w10 >>> 3) + w2 + ((w7 >>> 17 | w7 << 15) ^ (w7 >>> 19 | w7 << 13) ^ w7 >>> 10)) | 0;
    t = (g + ((d >>> 6 | d << 26) ^ (d >>> 11 | d << 21) ^ (d >>> 25 | d << 7)) + (f ^ (d & (e ^ f))) + SHA256_K[41] + w9) | 0;
    c = (c + t) | 0; g = (t + ((h >>> 2 | h << 30) ^ (h >>> 13 | h << 19) ^ (h >>> 22 | h << 10)) + (h & a | b & (h | a))) | 0;
    w10 = (w10 + ((w11 >>> 7 | w11 << 25) ^ (w11 >>> 18 | w11 << 14) ^ w11 >>> 3) + w3 + ((w8 >>> 17 | w8 << 15) ^ (w8 >>> 19 | w8 << 13) ^ w8 >>> 10)) | 0;
    t = (f + ((c >>> 6 | c << 26) ^ (c >>> 11 | c << 21) ^ (c >>> 25 | c << 7)) + (e ^ (c & (d ^ e))) + SHA256_K[42] + w10) | 0;
    b = (b + t) | 0; f = (t + ((g >>> 2 | g << 30) ^ (g >>> 13 | g << 19) ^ (g >>> 22 | g << 10)) + (g & h | a & (g | h))) | 0;
    w11 = (w11 + ((w12 >>> 7 | w12 << 25) ^ (w12 >>> 18 | w12 << 14) ^ w12 >>> 3) + w4 + ((w9 >>> 17 | w9 << 15) ^ (w9 >>> 19 | w9 << 13) ^ w9 >>> 10)) | 0;
    t = (e + ((b >>> 6 | b << 26) ^ (b >>> 11 | b << 21) ^ (b >>> 25 | b << 7)) + (d ^ (b & (c ^ d))) + SHA256_K[43] + w11) | 0;
    a = (a + t) | 0; e = (t + ((f >>> 2 | f << 30) ^ (f >>> 13 | f << 19) ^ (f >>> 22 | f << 10)) + (f & g | h & (f | g))) | 0;
    w12 = (w12 + ((w13 >>> 7 | w13 << 25) ^ (w13 >>> 18 | w13 << 14) ^ w13 >>> 3) + w5 + ((w10 >>> 17 | w10 << 15) ^ (w10 >>> 19 | w10 << 13) ^ w10 >>> 10)) | 0;
    t = (d + ((a >>> 6 | a << 26) ^ (a >>> 11 | a << 21) ^ (a >>> 25 | a << 7)) + (c ^ (a & (b ^ c))) + SHA256_K[44] + w12) | 0;
    h = (h + t) | 0; d = (t + ((e >>> 2 | e << 30) ^ (e >>> 13 | e << 19) ^ (e >>> 22 | e << 10)) + (e & f | g & (e | f))) | 0;
    w13 = (w13 + ((w14 >>> 7 | w14 << 25) ^ (w14 >>> 18 | w14 << 14) ^ w14 >>> 3) + w6 + ((w11 >>> 17 | w11 << 15) ^ (w11 >>> 19 | w11 << 13) ^ w11 >>> 10)) | 0;
    t = (c + ((h >>> 6 | h << 26) ^ (h >>> 11 | h << 21) ^ (h >>> 25 | h << 7)) + (b ^ (h & (a ^ b))) + SHA256_K[45] + w13) | 0;
    g = (g + t) | 0; c = (t + ((d >>> 2 | d << 30) ^ (d >>> 13 | d << 19) ^ (d >>> 22 | d << 10)) + (d & e | f & (d | e))) | 0;
    w14 = (w14 + ((w15 >>> 7 | w15 << 25) ^ (w15 >>> 18 | w15 << 14) ^ w15 >>> 3) + w7 + ((w12 >>> 17 | w12 << 15) ^ (w12 >>> 19 | w12 << 13) ^ w12 >>> 10)) | 0;
    t = (b + ((g >>> 6 | g << 26) ^ (g >>> 11 | g << 21) ^ (g >>> 25 | g << 7)) + (a ^ (g & (h ^ a))) + SHA256_K[46] + w14) | 0;
    f = (f + t) | 0; b = (t + ((c >>> 2 | c << 30) ^ (c >>> 13 | c << 19) ^ (c >>> 22 | c << 10)) + (c & d | e & (c | d))) | 0;
    w15 = (w15 + ((w0 >>> 7 | w0 << 25) ^ (w0 >>> 18 | w0 << 14) ^ w0 >>> 3) + w8 + ((w13 >>> 17 | w13 << 15) ^ (w13 >>> 19 | w13 << 13) ^ w13 >>> 10)) | 0;
    t = (a + ((f >>> 6 | f << 26) ^ (f >>> 11 | f << 21) ^ (f >>> 25 | f << 7)) + (h ^ (f & (g ^ h))) + SHA256_K[47] + w15) | 0;
    e = (e + t) | 0; a = (t + ((b >>> 2 | b << 30) ^ (b >>> 13 | b << 19) ^ (b >>> 22 | b << 10)) + (b & c | d & (b | c))) | 0;
    w0 = (w0 + ((w1 >>> 7 | w1 << 25) ^ (w1 >>> 18 | w1 << 14) ^ w1 >>> 3) + w9 + ((w14 >>> 17 | w14 << 15) ^ (w14 >>> 19 | w14 << 13) ^ w14 >>> 10)) | 0;
    t = (h + ((e >>> 6 | e << 26) ^ (e >>> 11 | e << 21) ^ (e >>> 25 | e << 7)) + (g ^ (e & (f ^ g))) + SHA256_K[48] + w0) | 0;
    d = (d + t) | 0; h = (t + ((a >>> 2 | a << 30) ^ (a >>> 13 | a << 19) ^ (a >>> 22 | a << 10)) + (a & b | c & (a | b))) | 0;
    w1 = (w1 + ((w2 >>> 7 | w2 << 25) ^ (w2 >>> 18 | w2 << 14) ^ w2 >>> 3) + w10 + ((w15 >>> 17 | w15 << 15) ^ (w15 >>> 19 | w15 << 13) ^ w15 >>> 10)) | 0;
    t = (g + ((d >>> 6 | d << 26) ^ (d >>> 11 | d << 21) ^ (d >>> 25 | d << 7)) + (f ^ (d & (e ^ f))) + SHA256_K[49] + w1) | 0;
    c = (c + t) | 0; g = (t + ((h >>> 2 | h << 30) ^ (h >>> 13 | h << 19) ^ (h >>> 22 | h << 10)) + (h & a | b & (h | a))) | 0;
    w2 = (w2 + ((w3 >>> 7 | w3 << 25) ^ (w3 >>> 18 | w3 << 14) ^ w3 >>> 3) + w11 + ((w0 >>> 17 | w0 << 15) ^ (w0 >>> 19 | w0 << 13) ^ w0 >>> 10)) | 0;
    t = (f + ((c >>> 6 | c << 26) ^ (c >>> 11 | c << 21) ^ (c >>> 25 | c << 7)) + (e ^ (c & (d ^ e))) + SHA256_K[50] + w2) | 0;
    b = (b + t) | 0; f = (t + ((g >>> 2 | g << 30) ^ (g >>> 13 | g << 19) ^ (g >>> 22 | g << 10)) + (g & h | a & (g | h))) | 0;
    w3 = (w3 + ((w4 >>> 7 | w4 << 25) ^ (w4 >>> 18 | w4 << 14) ^ w4 >>> 3) + w12 + ((w1 >>> 17 | w1 << 15) ^ (w1 >>> 19 | w1 << 13) ^ w1 >>> 10)) | 0;
    t = (e + ((b >>> 6 | b << 26) ^ (b >>> 11 | b << 21) ^ (b >>> 25 | b << 7)) + (d ^ (b & (c ^ d))) + SHA256_K[51] + w3) | 0;
    a = (a + t) | 0; e = (t + ((f >>> 2 | f << 30) ^ (f >>> 13 | f << 19) ^ (f >>> 22 | f << 10)) + (f & g | h & (f | g))) | 0;
    w4 = (w4 + ((w5 >>> 7 | w5 << 25) ^ (w5 >>> 18 | w5 << 14) ^ w5 >>> 3) + w13 + ((w2 >>> 17 | w2 << 15) ^ (w2 >>> 19 | w2 << 13) ^ w2 >>> 10)) | 0;
    t = (d + ((a >>> 6 | a << 26) ^ (a >>> 11 | a << 21) ^ (a >>> 25 | a << 7)) + (c ^ (a & (b ^ c))) + SHA256_K[52] + w4) | 0;
    h = (h + t) | 0; d = (t + ((e >>> 2 | e << 30) ^ (e >>> 13 | e << 19) ^ (e >>> 22 | e << 10)) + (e & f | g & (e | f))) | 0;
    w5 = (w5 + ((w6 >>> 7 | w6 << 25) ^ (w6 >>> 18 | w6 << 14) ^ w6 >>> 3) + w14 + ((w3 >>> 17 | w3 << 15) ^ (w3 >>> 19 | w3 << 13) ^ w3 >>> 10)) | 0;
    t = (c + ((h >>> 6 | h << 26) ^ (h >>> 11 | h << 21) ^ (h >>> 25 | h << 7)) + (b ^ (h & (a ^ b))) + SHA256_K[53] + w5) | 0;
    g = (g + t) | 0; c = (t + ((d >>> 2 | d << 30) ^ (d >>> 13 | d << 19) ^ (d >>> 22 | d << 10)) + (d & e | f & (d | e))) | 0;
    w6 = (w6 + ((w7 >>> 7 | w7 << 25) ^ (w7 >>> 18 | w7 << 14) ^ w7 >>> 3) + w15 + ((w4 >>> 17 | w4 << 15) ^ (w4 >>> 19 | w4 << 13) ^ w4 >>> 10)) | 0;
    t = (b + ((g >>> 6 | g << 26) ^ (g >>> 11 | g << 21) ^ (g >>> 25 | g << 7)) + (a ^ (g & (h ^ a))) + SHA256_K[54] + w6) | 0;
    f = (f + t) | 0; b = (t + ((c >>> 2 | c << 30) ^ (c >>> 13 | c << 19) ^ (c >>> 22 | c << 10)) + (c & d | e & (c | d))) | 0;
    w7 = (w7 + ((w8 >>> 7 | w8 << 25) ^ (w8 >>> 18 | w8 << 14) ^ w8 >>> 3) + w0 + ((w5 >>> 17 | w5 << 15) ^ (w5 >>> 19 | w5 << 13) ^ w5 >>> 10)) | 0;
    t = (a + ((f >>> 6 | f << 26) ^ (f >>> 11 | f << 21) ^ (f >>> 25 | f << 7)) + (h ^ (f & (g ^ h))) + SHA256_K[55] + w7) | 0;
    e = (e + t) | 0; a = (t + ((b >>> 2 | b << 30) ^ (b >>> 13 | b << 19) ^ (b >>> 22 | b << 10)) + (b & c | d & (b | c))) | 0;
    w8 = (w8 + ((w9 >>> 7 | w9 << 25) ^ (w9 >>> 18 | w9 << 14) ^ w9 >>> 3) + w1 + ((w6 >>> 17 | w6 << 15) ^ (w6 >>> 19 | w6 << 13) ^ w6 >>> 10)) | 0;
    t = (h + ((e >>> 6 | e << 26) ^ (e >>> 11 | e << 21) ^ (e >>> 25 | e << 7)) + (g ^ (e & (f ^ g))) + SHA256_K[56] + w8) | 0;
    d = (d + t) | 0; h = (t + ((a >>> 2 | a << 30) ^ (a >>> 13 | a << 19) ^ (a >>> 22 | a << 10)) + (a & b | c & (a | b))) | 0;
    w9 = (w9 + ((w10 >>> 7 | w10 << 25) ^ (w10 >>> 18 | w10 << 14) ^ w10 >>> 3) + w2 + ((w7 >>> 17 | w7 << 15) ^ (w7 >>> 19 | w7 << 13) ^ w7 >>> 10)) | 0;
    t = (g + ((d >>> 6 | d << 26) ^ (d >>> 11 | d << 21) ^ (d >>> 25 | d << 7)) + (f ^ (d & (e ^ f))) + SHA256_K[57] + w9) | 0;
    c = (c + t) | 0; g = (t + ((h >>> 2 | h << 30) ^ (h >>> 13 | h << 19) ^ (h >>> 22 | h << 10)) + (h & a | b & (h | a))) | 0;
    w10 = (w10 + ((w11 >>> 7 | w11 << 25) ^ (w11 >>> 18 | w11 << 14) ^ w11 >>> 3) + w3 + ((w8 >>> 17 | w8 << 15) ^ (w8 >>> 19 | w8 << 13) ^ w8 >>> 10)) | 0;
    t = (f + ((c >>> 6 | c << 26) ^ (c >>> 11 | c << 21) ^ (c >>> 25 | c << 7)) + (e ^ (c & (d ^ e))) + SHA256_K[58] + w10) | 0;
    b = (b + t) | 0; f = (t + ((g >>> 2 | g << 30) ^ (g >>> 13 | g << 19) ^ (g >>> 22 | g << 10)) + (g & h | a & (g | h))) | 0;
    w11 = (w11 + ((w12 >>> 7 | w12 << 25) ^ (w12 >>> 18 | w12 << 14) ^ w12 >>> 3) + w4 + ((w9 >>> 17 | w9 << 15) ^ (w9 >>> 19 | w9 << 13) ^ w9 >>> 10)) | 0;
    t = (e + ((b >>> 6 | b << 26) ^ (b >>> 11 | b << 21) ^ (b >>> 25 | b << 7)) + (d ^ (b & (c ^ d))) + SHA256_K[59] + w11) | 0;
    a = (a + t) | 0; e = (t + ((f >>> 2 | f << 30) ^ (f >>> 13 | f << 19) ^ (f >>> 22 | f << 10)) + (f & g | h & (f | g))) | 0;
    w12 = (w12 + ((w13 >>> 7 | w13 << 25) ^ (w13 >>> 18 | w13 << 14) ^ w13 >>> 3) + w5 + ((w10 >>> 17 | w10 << 15) ^ (w10 >>> 19 | w10 << 13) ^ w10 >>> 10)) | 0;
    t = (d + ((a >>> 6 | a << 26) ^ (a >>> 11 | a << 21) ^ (a >>> 25 | a << 7)) + (c ^ (a & (b ^ c))) + SHA256_K[60] + w12) | 0;
    h = (h + t) | 0; d = (t + ((e >>> 2 | e << 30) ^ (e >>> 13 | e << 19) ^ (e >>> 22 | e << 10)) + (e & f | g & (e | f))) | 0;
    w13 = (w13 + ((w14 >>> 7 | w14 << 25) ^ (w14 >>> 18 | w14 << 14) ^ w14 >>> 3) + w6 + ((w11 >>> 17 | w11 << 15) ^ (w11 >>> 19 | w11 << 13) ^ w11 >>> 10)) | 0;
    t = (c + ((h >>> 6 | h << 26) ^ (h >>> 11 | h << 21) ^ (h >>> 25 | h << 7)) + (b ^ (h & (a ^ b))) + SHA256_K[61] + w13) | 0;
    g = (g + t) | 0; c = (t + ((d >>> 2 | d << 30) ^ (d >>> 13 | d << 19) ^ (d >>> 22 | d << 10)) + (d & e | f & (d | e))) | 0;
    w14 = (w14 + ((w15 >>> 7 | w15 << 25) ^ (w15 >>> 18 | w15 << 14) ^ w15 >>> 3) + w7 + ((w12 >>> 17 | w12 << 15) ^ (w12 >>> 19 | w12 << 13) ^ w12 >>> 10)) | 0;
    t = (b + ((g >>> 6 | g << 26) ^ (g >>> 11 | g << 21) ^ (g >>> 25 | g << 7)) + (a ^ (g & (h ^ a))) + SHA256_K[62] + w14) | 0;
    f = (f + t) | 0; b = (t + ((c >>> 2 | c << 30) ^ (c >>> 13 | c << 19) ^ (c >>> 22 | c << 10)) + (c & d | e & (c | d))) | 0;
    w15 = (w15 + ((w0 >>> 7 | w0 << 25) ^ (w0 >>> 18 | w0 << 14) ^ w0 >>> 3) + w8 + ((w13 >>> 17 | w13 << 15) ^ (w13 >>> 19 | w13 << 13) ^ w13 >>> 10)) | 0;
    t = (a + ((f >>> 6 | f << 26) ^ (f >>> 11 | f << 21) ^ (f >>> 25 | f << 7)) + (h ^ (f & (g ^ h))) + SHA256_K[63] + w15) | 0;
    e = (e + t) | 0; a = (t + ((b >>> 2 | b << 30) ^ (b >>> 13 | b << 19) ^ (b >>> 22 | b << 10)) + (b & c | d & (b | c))) | 0;
    h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
  }
  state[0] = h0; state[1] = h1; state[2] = h2; state[3] = h3;
  state[4] = h4; state[5] = h5; state[6] = h6; state[7] = h7;
}

/**
 * Incremental SHA-256: `new Sha256().update(a).update(b).digest()` is the hash of `a ‖ b`.
 * Whole blocks are hashed straight from the caller's bytes (in JavaScript), or copied into
 * sha256.wasm's memory a chunk at a time once `loadSha256Wasm()` has loaded it; only a partial
 * block is kept here.
 */
export class Sha256 {
  #state = new Int32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  #block = new Uint8Array(64);
  #filled = 0;
  #length = 0;
  #done = false;

  /** Adds bytes (a Uint8Array) to the message; returns this. */
  update(bytes) {
    if (this.#done) throw new Error('Sha256: update() after digest()');
    if (!(bytes instanceof Uint8Array)) throw new TypeError('Sha256: update() takes a Uint8Array');
    this.#length += bytes.length;
    let at = 0;
    if (this.#filled > 0) {
      at = Math.min(64 - this.#filled, bytes.length);
      this.#block.set(bytes.subarray(0, at), this.#filled);
      this.#filled += at;
      if (this.#filled < 64) return this;
      blocksFor(64)(this.#state, this.#block, 0, 64);
      this.#filled = 0;
    }
    const whole = bytes.length - ((bytes.length - at) % 64); // not & ~63: chunks may pass 2^31 bytes
    blocksFor(whole - at)(this.#state, bytes, at, whole);
    this.#block.set(bytes.subarray(whole), 0);
    this.#filled = bytes.length - whole;
    return this;
  }

  /** The 32-byte hash of everything added; the object cannot be updated afterwards. */
  digest() {
    if (this.#done) throw new Error('Sha256: digest() called twice');
    this.#done = true;
    const bits = u64be(BigInt(this.#length) * 8n);
    const pad = new Uint8Array((this.#filled < 56 ? 56 : 120) - this.#filled);
    pad[0] = 0x80;
    const tail = concatBytes(this.#block.subarray(0, this.#filled), pad, bits);
    blocksFor(tail.length)(this.#state, tail, 0, tail.length);
    const out = new Uint8Array(32);
    const view = new DataView(out.buffer);
    for (let i = 0; i < 8; i++) view.setInt32(4 * i, this.#state[i]);
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// SHA-256 in WebAssembly: sha256.wasm (assembled from sha256.wat, which sha256-wat.mjs writes),
// the same compression function, faster in V8 than the JavaScript above (docs/performance.md).
// It is used where it loads and passes a known-answer check; else the JavaScript is.

/** Updates with fewer bytes of whole blocks than this stay in JavaScript (the copy is not worth it). */
const WASM_MIN = 512;

let sha256Mode = 'auto'; // 'auto' | 'js' | 'wasm'
let wasmBlocks = null; // (state, bytes, at, end) => void, once sha256.wasm is loaded and checked
let wasmLoad = null; // the promise of loading it: true, or false (wasmError says why)
let wasmError = null;

/** The compression function for `n` bytes of whole blocks: the WebAssembly one or the JavaScript one. */
function blocksFor(n) {
  if (wasmBlocks === null || sha256Mode === 'js') return sha256Blocks;
  return sha256Mode === 'wasm' || n >= WASM_MIN ? wasmBlocks : sha256Blocks;
}

/**
 * Loads sha256.wasm (once; `fetch` beside this module, or the file in Node) and checks it on
 * known answers. Resolves to true when Sha256 uses it from now on (for updates of at least 512
 * bytes), false when it cannot (no WebAssembly, the file does not load, a Content-Security-Policy
 * without 'wasm-unsafe-eval', a wrong answer): then `sha256WasmError()` says why and the
 * JavaScript SHA-256 does everything. `hashFile` calls it.
 */
export function loadSha256Wasm() {
  wasmLoad ??= (async () => {
    try {
      if (typeof WebAssembly !== 'object') throw new Error('this environment has no WebAssembly');
      const url = new URL('./sha256.wasm', import.meta.url);
      let bytes;
      if (url.protocol === 'file:') {
        const { readFile } = await import('node:fs/promises');
        bytes = await readFile(url);
      } else {
        const response = await fetch(url);
        if (!response.ok) throw new Error(`${url.pathname}: HTTP ${response.status}`);
        bytes = await response.arrayBuffer();
      }
      const { instance } = await WebAssembly.instantiate(bytes);
      const blocks = wasmCompression(instance.exports);
      checkCompression(blocks);
      wasmBlocks = blocks;
      return true;
    } catch (e) {
      wasmError = e;
      return false;
    }
  })();
  return wasmLoad;
}

/** Why sha256.wasm is not used (an Error), or null. */
export function sha256WasmError() {
  return wasmError;
}

/**
 * Which SHA-256 `Sha256` uses: `'wasm'` (for updates of 512 bytes or more; `useSha256('wasm')`:
 * for every block) or `'js'`.
 */
export function sha256Implementation() {
  return wasmBlocks !== null && sha256Mode !== 'js' ? 'wasm' : 'js';
}

/**
 * Sets which SHA-256 to use (tests, benchmarks): `'js'`, `'wasm'` (every block, once loaded;
 * `hashFile` then throws if it does not load) or `'auto'` (the default).
 */
export function useSha256(mode) {
  if (!['js', 'wasm', 'auto'].includes(mode)) throw new TypeError(`useSha256: ${JSON.stringify(mode)} is not 'js', 'wasm' or 'auto'`);
  sha256Mode = mode;
}

/** sha256Blocks' twin over sha256.wasm's exports: state in and out, bytes copied in chunks. */
function wasmCompression({ memory, blocks, state, input, capacity }) {
  const [at0, into, room] = [state.value, input.value, capacity.value];
  if (room % 64 !== 0 || room < 64 || into + room > memory.buffer.byteLength) throw new Error('sha256.wasm: unexpected memory layout');
  const view = new DataView(memory.buffer);
  const mem = new Uint8Array(memory.buffer);
  return (st, bytes, at, end) => {
    for (let i = 0; i < 8; i++) view.setInt32(at0 + 4 * i, st[i], true);
    while (at < end) {
      const n = Math.min(room, end - at);
      mem.set(bytes.subarray(at, at + n), into);
      blocks(into, n / 64);
      at += n;
    }
    for (let i = 0; i < 8; i++) st[i] = view.getInt32(at0 + 4 * i, true);
  };
}

/** Throws unless `blocks` gives the JavaScript compression's state on a few messages. */
function checkCompression(blocks) {
  const data = new Uint8Array(64 * 37);
  for (let i = 0, x = 0x2545f491; i < data.length; i++, x = (Math.imul(x, 0x41c64e6d) + 12345) | 0) data[i] = x >>> 24;
  for (const n of [1, 2, 37]) {
    const [want, got] = [new Int32Array(8).fill(n * 0x01010101), new Int32Array(8).fill(n * 0x01010101)];
    sha256Blocks(want, data, 0, 64 * n);
    blocks(got, data, 0, 64 * n);
    if (want.some((w, i) => w !== got[i])) throw new Error(`sha256.wasm gives a wrong result on ${n} block(s)`);
  }
}

/** SHA-256 of the concatenation of its arguments (Uint8Arrays), at once. */
export function sha256(...parts) {
  const h = new Sha256();
  for (const p of parts) h.update(p);
  return h.digest();
}

// ---------------------------------------------------------------------------------------------
// §1 CBOR: the subset, deterministic and strict

/** How deep arrays, maps and tags nest: an item at depth 17 is refused (§1). */
const MAX_DEPTH = 16;

/**
 * A decoded item is `{kind, value, start, end}` where `start..end` are its bytes in the input:
 * kinds `uint` and `nint` (value n: BigInt; a nint means −1 − n), `bytes` (Uint8Array), `text`,
 * `array` (items), `map` ([key, value] pairs in encoded order), `bool`, `null`, and `tag`
 * (`tag`: BigInt, value: the item). The encoder takes the same shapes (without start, end);
 * these make the ones the Sig_structure needs.
 */
const cbor = {
  bytes: (b) => ({ kind: 'bytes', value: b }),
  text: (s) => ({ kind: 'text', value: s }),
  array: (items) => ({ kind: 'array', value: items }),
};

/** Decodes exactly one item filling `bytes`, by §1's rules; throws RuleError (offsets in bytes). */
export function decodeCbor(bytes) {
  const reader = new CborReader(bytes);
  const value = reader.item(0);
  if (reader.at !== bytes.length) {
    throw new RuleError('cbor.trailing_bytes', reader.at, `${bytes.length - reader.at} byte(s) after the item`);
  }
  return value;
}

/** Decodes and then re-encodes, requiring identical bytes (§1: "checking it guards the decoder"). */
function decodeExact(bytes) {
  const value = decodeCbor(bytes);
  const again = encodeCbor(value);
  if (!equalBytes(again, bytes)) {
    let at = 0;
    while (at < again.length && again[at] === bytes[at]) at++;
    throw new RuleError('cbor.non_minimal', at, 'the decoded item re-encodes to other bytes (a decoder fault)');
  }
  return value;
}

class CborReader {
  constructor(bytes) {
    this.bytes = bytes;
    this.at = 0;
  }

  left() {
    return this.bytes.length - this.at;
  }

  item(depth) {
    const start = this.at;
    if (depth > MAX_DEPTH) throw new RuleError('cbor.too_deep', start, `an item at depth ${depth}, deeper than ${MAX_DEPTH}`);
    if (this.left() < 1) throw new RuleError('cbor.truncated', start, 'the input ends where an item should start');
    const initial = this.bytes[start];
    const major = initial >> 5;
    const info = initial & 0x1f;
    if (major === 7) return this.simple(start, info);
    const n = this.argument(start, major, info);
    const item = this.body(start, major, n, depth);
    item.start = start;
    item.end = this.at;
    return item;
  }

  /** Major type 7: only false, true and null (decided by the initial byte). */
  simple(start, info) {
    this.at = start + 1;
    const known = { 20: ['bool', false], 21: ['bool', true], 22: ['null', null] }[info];
    if (known) return { kind: known[0], value: known[1], start, end: this.at };
    if (info >= 28) throw new RuleError('cbor.malformed', start, `reserved head 0x${hexByte(0xe0 | info)}`);
    const what = info >= 25 ? 'a float' : info === 23 ? 'undefined' : 'a simple value';
    throw new RuleError('cbor.unsupported', start, `${what} (head 0x${hexByte(0xe0 | info)}), outside the subset`);
  }

  /** The head's argument (BigInt), in its shortest form. */
  argument(start, major, info) {
    this.at = start + 1;
    if (info < 24) return BigInt(info);
    if (info === 31 && major >= 2 && major <= 5) {
      throw new RuleError('cbor.indefinite_length', start, `an indefinite-length ${MAJOR_NAMES[major]}`);
    }
    if (info >= 28) throw new RuleError('cbor.malformed', start, `reserved head 0x${hexByte((major << 5) | info)}`);
    const size = 1 << (info - 24);
    if (this.left() < size) throw new RuleError('cbor.truncated', start, `the head needs ${size} more byte(s), ${this.left()} remain`);
    let n = 0n;
    for (let i = 0; i < size; i++) n = (n << 8n) | BigInt(this.bytes[this.at + i]);
    this.at += size;
    const smallest = [24n, 0x100n, 0x10000n, 0x100000000n][info - 24];
    if (n < smallest) throw new RuleError('cbor.non_minimal', start, `${n} written in a ${size + 1}-byte head`);
    return n;
  }

  /** The item after its head; `n` is the argument. Checks claimed lengths before using them. */
  body(start, major, n, depth) {
    switch (major) {
      case 0: return { kind: 'uint', value: n };
      case 1: return { kind: 'nint', value: n };
      case 2: return { kind: 'bytes', value: this.take(start, n) };
      case 3: return { kind: 'text', value: this.text(start, n) };
      case 4: return { kind: 'array', value: this.array(start, n, depth) };
      case 5: return { kind: 'map', value: this.map(start, n, depth) };
      default: return { kind: 'tag', tag: n, value: this.item(depth + 1) };
    }
  }

  claim(start, n, perItem, what) {
    if (n > BigInt(Math.floor(this.left() / perItem))) {
      throw new RuleError('cbor.truncated', start, `${what} claims ${n}, only ${this.left()} byte(s) remain`);
    }
    return Number(n);
  }

  take(start, n) {
    const len = this.claim(start, n, 1, 'a string');
    const s = this.bytes.subarray(this.at, this.at + len);
    this.at += len;
    return s;
  }

  text(start, n) {
    const bytes = this.take(start, n);
    try {
      return STRICT_UTF8.decode(bytes);
    } catch {
      throw new RuleError('cbor.invalid_utf8', start, 'a text string that is not UTF-8');
    }
  }

  array(start, n, depth) {
    const len = this.claim(start, n, 1, 'an array');
    const items = [];
    for (let i = 0; i < len; i++) items.push(this.item(depth + 1));
    return items;
  }

  map(start, n, depth) {
    const len = this.claim(start, n, 2, 'a map');
    const entries = [];
    let previous = null;
    for (let i = 0; i < len; i++) {
      const key = this.item(depth + 1);
      const encoded = this.bytes.subarray(key.start, key.end);
      if (previous) {
        const order = compareBytes(previous, encoded);
        if (order === 0) throw new RuleError('cbor.duplicate_key', key.start, `the map key ${brief(key)} twice`);
        if (order > 0) throw new RuleError('cbor.unsorted_keys', key.start, `the map key ${brief(key)} after a key that sorts later`);
      }
      previous = encoded;
      entries.push([key, this.item(depth + 1)]);
    }
    return entries;
  }
}

const MAJOR_NAMES = { 2: 'byte string', 3: 'text string', 4: 'array', 5: 'map' };

function hexByte(b) {
  return b.toString(16).padStart(2, '0');
}

/** A growable byte buffer for the encoder. */
class ByteWriter {
  constructor() {
    this.buf = new Uint8Array(256);
    this.len = 0;
  }

  room(n) {
    if (this.len + n <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(2 * this.buf.length, this.len + n));
    bigger.set(this.buf.subarray(0, this.len));
    this.buf = bigger;
  }

  push(bytes) {
    this.room(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** The shortest head for major type `major` and argument `n` (BigInt). */
  head(major, n) {
    const m = major << 5;
    if (n < 24n) return this.push([m | Number(n)]);
    const size = n < 0x100n ? 1 : n < 0x10000n ? 2 : n < 0x100000000n ? 4 : 8;
    const out = [m | (24 + Math.log2(size))];
    for (let i = size - 1; i >= 0; i--) out.push(Number((n >> BigInt(8 * i)) & 0xffn));
    this.push(out);
  }

  result() {
    return this.buf.slice(0, this.len);
  }
}

/** The deterministic encoding of an item (maps sorted by encoded key). */
export function encodeCbor(item) {
  const w = new ByteWriter();
  writeItem(w, item);
  return w.result();
}

function writeItem(w, item) {
  switch (item.kind) {
    case 'uint': return w.head(0, item.value);
    case 'nint': return w.head(1, item.value);
    case 'bytes': w.head(2, BigInt(item.value.length)); return w.push(item.value);
    case 'text': {
      const bytes = UTF8.encode(item.value);
      w.head(3, BigInt(bytes.length));
      return w.push(bytes);
    }
    case 'array':
      w.head(4, BigInt(item.value.length));
      return item.value.forEach((v) => writeItem(w, v));
    case 'map': return writeMap(w, item.value);
    case 'bool': return w.push([item.value ? 0xf5 : 0xf4]);
    case 'null': return w.push([0xf6]);
    case 'tag': w.head(6, item.tag); return writeItem(w, item.value);
    default: throw new TypeError(`encodeCbor: no CBOR kind ${JSON.stringify(item.kind)}`);
  }
}

function writeMap(w, entries) {
  const encoded = entries.map(([k, v]) => [encodeCbor(k), encodeCbor(v)]);
  encoded.sort((a, b) => compareBytes(a[0], b[0]));
  for (let i = 1; i < encoded.length; i++) {
    if (equalBytes(encoded[i - 1][0], encoded[i][0])) throw new Error(`encodeCbor: a map key twice (${hex(encoded[i][0])})`);
  }
  w.head(5, BigInt(encoded.length));
  for (const [k, v] of encoded) {
    w.push(k);
    w.push(v);
  }
}

/** The start of an item's diagnostic notation, for messages. */
function brief(item) {
  const d = diagnostic(item);
  return d.length > 60 ? `${d.slice(0, 60)}…` : d;
}

/** An item in CBOR diagnostic notation (RFC 8949 §8), for showing custom stages and keys. */
function diagnostic(item) {
  switch (item.kind) {
    case 'uint': return item.value.toString();
    case 'nint': return (-1n - item.value).toString();
    case 'bytes': return `h'${hex(item.value)}'`;
    case 'text': return JSON.stringify(item.value);
    case 'array': return `[${item.value.map(diagnostic).join(', ')}]`;
    case 'map': return `{${item.value.map(([k, v]) => `${diagnostic(k)}: ${diagnostic(v)}`).join(', ')}}`;
    case 'tag': return `${item.tag}(${diagnostic(item.value)})`;
    default: return String(item.value);
  }
}

// ---------------------------------------------------------------------------------------------
// §3 Ed25519: rules 1–4 in BigInt, rule 5 by WebCrypto (or the vendored @noble/curves)

const P = 2n ** 255n - 19n;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function mod(a) {
  const r = a % P;
  return r < 0n ? r + P : r;
}

function power(base, exp) {
  let result = 1n;
  let b = mod(base);
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) result = mod(result * b);
    b = mod(b * b);
  }
  return result;
}

const D = mod(-121665n * power(121666n, P - 2n));
const SQRT_M1 = power(2n, (P - 1n) / 4n);

/**
 * Rules 1–3 for a point encoding (a signer key or R): null if it passes, else the rule broken.
 * Decompression is RFC 8032 §5.1.3; small order means [8]P is the identity.
 */
function checkPoint(bytes) {
  const sign = bytes[31] >> 7;
  const y = leBigInt(bytes) & (2n ** 255n - 1n);
  if (y >= P) return 'ed25519.non_canonical_point';
  // x = 0 exactly when y² = 1: then the sign bit must be clear.
  if (sign === 1 && (y === 1n || y === P - 1n)) return 'ed25519.non_canonical_point';
  const x = recoverX(y, sign);
  if (x === null) return 'ed25519.invalid_point';
  if (isSmallOrder(x, y)) return 'ed25519.small_order';
  return null;
}

/** The x of y with the given sign bit, or null when y is not on the curve. */
function recoverX(y, sign) {
  const yy = mod(y * y);
  const u = mod(yy - 1n);
  const v = mod(D * yy + 1n);
  const v3 = mod(v * v * v);
  let x = mod(u * v3 * power(u * v3 * v3 * v, (P - 5n) / 8n));
  const vxx = mod(v * x * x);
  if (vxx === mod(-u)) x = mod(x * SQRT_M1);
  else if (vxx !== u) return null;
  return (x & 1n) === BigInt(sign) ? x : mod(-x);
}

/** Whether [8](x, y) is the identity: three doublings in projective coordinates (RFC 8032 §5.1.4). */
function isSmallOrder(x, y) {
  let X = x, Y = y, Z = 1n;
  for (let i = 0; i < 3; i++) {
    const A = mod(X * X), B = mod(Y * Y), C = mod(2n * Z * Z);
    const H = mod(A + B), E = mod(H - (X + Y) * (X + Y)), G = mod(A - B), F = mod(C + G);
    [X, Y, Z] = [mod(E * F), mod(G * H), mod(F * G)];
  }
  return X === 0n && Y === Z;
}

const POINT_FAULTS = {
  'ed25519.non_canonical_point': 'is not a canonical point encoding',
  'ed25519.invalid_point': 'is not a point of the curve',
  'ed25519.small_order': 'is a point of small order',
};

/**
 * Verifies an Ed25519 signature by §3: rules 1–3 for the key, then for R, rule 4 for S, then
 * the equation (rule 5) by WebCrypto or, where WebCrypto has no Ed25519, by the vendored
 * @noble/curves. Resolves to null, or to `{rule, what}` for the first rule broken.
 */
async function verifySignature(signer, message, signature) {
  const r = signature.subarray(0, 32);
  for (const [name, point] of [[`the signer key ${hex(signer)}`, signer], [`R ${hex(r)}`, r]]) {
    const rule = checkPoint(point);
    if (rule) return { rule, what: `${name} ${POINT_FAULTS[rule]}` };
  }
  if (leBigInt(signature.subarray(32)) >= L) {
    return { rule: 'ed25519.non_canonical_scalar', what: `S ${hex(signature.subarray(32))} is not below the group order L` };
  }
  const equation = (await ed25519Implementation()) === 'noble' ? nobleVerify : webCryptoVerify;
  if (await equation(signer, message, signature)) return null;
  return { rule: 'ed25519.bad_signature', what: 'the signature does not verify by the signer key' };
}

async function webCryptoVerify(signer, message, signature) {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) {
    throw new Error('alloy.js: WebCrypto (globalThis.crypto.subtle) is missing; browsers give it only to secure contexts (https, localhost)');
  }
  let key;
  try {
    key = await subtle.importKey('raw', signer, { name: 'Ed25519' }, false, ['verify']);
  } catch (e) {
    if (e?.name === 'NotSupportedError') {
      throw new Error(`alloy.js: this environment's WebCrypto has no Ed25519 (${e.message}); alloy signatures cannot be checked here`);
    }
    throw new Error(`alloy.js: WebCrypto refused the Ed25519 key ${hex(signer)}: ${e?.message ?? e}`);
  }
  return subtle.verify({ name: 'Ed25519' }, key, signature, message);
}

// RFC 8032 §7.1 TEST 1: a public key and its signature of the empty message.
const RFC8032_KEY = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const RFC8032_SIG = 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';

let ed25519Forced = null; // 'webcrypto' | 'noble' | null (decide by feature detection)
let ed25519Chosen = null; // the promise of the decision, made once
let noble = null; // the promise of the vendored @noble/curves and @noble/hashes, loaded once

/**
 * Which implementation checks §3 rule 5: `'webcrypto'` where WebCrypto has Ed25519, else
 * `'noble'` (the vendored @noble/curves, loaded then). Decided once, by importing RFC 8032's
 * TEST 1 key into WebCrypto and verifying its signature (a WebCrypto that refuses the key, lacks
 * `crypto.subtle` or gets the answer wrong is not used). Rejects if noble cannot be loaded.
 */
export function ed25519Implementation() {
  ed25519Chosen ??= (async () => {
    if (ed25519Forced === 'webcrypto') return 'webcrypto';
    if (ed25519Forced !== 'noble' && await webCryptoHasEd25519()) return 'webcrypto';
    await loadNoble();
    return 'noble';
  })();
  return ed25519Chosen;
}

/**
 * Sets which implementation checks rule 5 (for tests, and for a page that wants one):
 * `'webcrypto'` (throws at verify time where WebCrypto has no Ed25519), `'noble'`, or `'auto'`
 * (feature detection, the default). Forgets an earlier decision.
 */
export function useEd25519(name) {
  if (!['webcrypto', 'noble', 'auto'].includes(name)) throw new TypeError(`useEd25519: ${JSON.stringify(name)} is not 'webcrypto', 'noble' or 'auto'`);
  ed25519Forced = name === 'auto' ? null : name;
  ed25519Chosen = null;
}

async function webCryptoHasEd25519() {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return false;
  try {
    const key = await subtle.importKey('raw', unhex(RFC8032_KEY), { name: 'Ed25519' }, false, ['verify']);
    return await subtle.verify({ name: 'Ed25519' }, key, unhex(RFC8032_SIG), new Uint8Array(0)) === true;
  } catch {
    return false;
  }
}

/**
 * The vendored @noble/curves 2.4.0 and @noble/hashes 2.4.0 (vendor/README.md). They import
 * each other by bare specifiers (`@noble/hashes/sha2.js`), which index.html's import map
 * resolves in the page (test/noble-resolve.mjs does it in Node).
 */
function loadNoble() {
  noble ??= Promise.all([
    import('./vendor/noble-curves/ed25519.js'),
    import('./vendor/noble-hashes/sha2.js'),
  ]).then(([curves, hashes]) => ({ Point: curves.ed25519.Point, sha512: hashes.sha512 }), (e) => {
    noble = null;
    throw new Error(`alloy.js: WebCrypto has no Ed25519 here and the fallback (vendor/noble-curves) did not load: ${e?.message ?? e}`);
  });
  return noble;
}

/**
 * Rule 5 with noble's point arithmetic, for inputs that passed rules 1–4: whether the encoding
 * of [S]B − [k]A, k = SHA-512(R ‖ A ‖ M) mod L, equals R byte for byte.
 *
 * Not `ed25519.verify(sig, msg, key, {zip215: false})`: even strict (zip215: false: canonical
 * encodings, no small-order A) noble checks the *cofactored* equation [8]([S]B − R − [k]A) = 0
 * (RFC 8032 §5.1.7's "sufficient" check), which also accepts an R or A with a torsion
 * component that the cofactorless equation refuses. ed25519-dalek's verify_strict, BoringSSL
 * (Chromium's WebCrypto) and OpenSSL (Node's) compute R' = [S]B − [k]A, compress it and compare
 * the bytes with R: that is what this does, with noble's `multiplyUnsafe` (variable time is
 * fine: everything here is public). Rules 1–3 ran before, so A decodes (`fromBytes` with
 * zip215 false, RFC 8032 decoding) and k < L, S < L are the scalars noble takes.
 */
async function nobleVerify(signer, message, signature) {
  const { Point, sha512 } = await loadNoble();
  const r = signature.subarray(0, 32);
  const s = leBigInt(signature.subarray(32));
  const k = leBigInt(sha512(concatBytes(r, signer, message))) % L;
  const a = Point.fromBytes(signer, false);
  const expected = Point.BASE.multiplyUnsafe(s).subtract(a.multiplyUnsafe(k)).toBytes();
  return equalBytes(expected, r);
}

// ---------------------------------------------------------------------------------------------
// §2 Links

const PROTECTED = ['a10132', 'a10127']; // {1: -19} Ed25519, {1: -8} EdDSA
const EXTERNAL_AAD = UTF8.encode('assay-alloy/1');

/** The types (§2.2): their names and stage keys, each `[name, kind]`. Custom's stage is free. */
const TYPES = new Map([
  [0x01, { name: 'forge', stage: { 1: ['name', 'text'], 2: ['nonce', 'hash32'], 3: ['base_model', 'hash32'] } }],
  [0x02, { name: 'adapter', stage: { 1: ['recipe', 'hash32'], 2: ['base_model', 'hash32'], 3: ['method', 'text'] } }],
  [0x03, { name: 'dataset', stage: { 1: ['contributions', 'uint'], 2: ['job', 'hash32'] } }],
  [0x04, { name: 'compute', stage: { 1: ['tee', 'bool'], 2: ['measurement', 'hash48'], 3: ['report', 'hash32'] } }],
  [0x05, { name: 'delivery', stage: { 1: ['location', 'text'], 2: ['size', 'uint'] } }],
  [0x06, {
    name: 'eval',
    stage: { 1: ['metric', 'text'], 2: ['scores', 'hash32'], 3: ['baseline', 'text'], 4: ['contributions', 'uint'], 5: ['code_hash', 'hash32'] },
  }],
  [0xff, { name: 'custom', stage: null }],
]);

const STAGE_KINDS = {
  text: (v) => v.kind === 'text',
  uint: (v) => v.kind === 'uint',
  bool: (v) => v.kind === 'bool',
  hash32: (v) => v.kind === 'bytes' && v.value.length === 32,
  hash48: (v) => v.kind === 'bytes' && v.value.length === 48,
};

function isDigest(v) {
  return v.kind === 'bytes' && v.value.length === 32;
}

/**
 * Decodes one link from its decoded item (offsets in the part) and exact bytes (§2). Returns:
 * `{id, type, typeName, prev, inputHash, stage, outputHash, signer, timestamp, sigStructure,
 * signature}` (prev null or bytes; stage a Map from BigInt key to item); throws RuleError.
 * Checks the envelope's shape, then its values, then the payload the same way.
 */
function decodeLink(item, bytes) {
  const fields = item.kind === 'tag' && item.tag === 18n && item.value.kind === 'array' ? item.value.value : null;
  const kinds = ['bytes', 'map', 'bytes', 'bytes'];
  if (!fields || fields.length !== 4 || fields.some((f, i) => f.kind !== kinds[i]) || fields[3].value.length !== 64) {
    const want = '18([protected: bstr, unprotected: map, payload: bstr, signature: bstr(64)])';
    throw new RuleError('cose.structure', 0, `${brief(item)} is not ${want}`, 'the link');
  }
  const [protectedHeader, unprotected, payload, signature] = fields.map((f) => f.value);
  if (!PROTECTED.includes(hex(protectedHeader))) {
    const what = `protected header h'${hex(protectedHeader)}', not h'a10132' or h'a10127'`;
    throw new RuleError('cose.algorithm', fields[0].start - item.start, what, 'the link');
  }
  if (unprotected.length !== 0) {
    throw new RuleError('cose.unprotected', fields[1].start - item.start, `the unprotected header ${brief(fields[1])} is not empty`, 'the link');
  }
  const link = decodePayload(payload);
  link.id = sha256(bytes);
  link.signature = signature;
  link.sigStructure = encodeCbor(cbor.array([
    cbor.text('Signature1'), cbor.bytes(protectedHeader), cbor.bytes(EXTERNAL_AAD), cbor.bytes(payload),
  ]));
  return link;
}

/** The payload (§2.1): version first, then the fields' kinds, then the type, then the stage. */
function decodePayload(bytes) {
  const item = placed('the payload', 0, () => decodeExact(bytes));
  const f = item.kind === 'array' ? item.value : null;
  if (f && f.length > 0 && !(f[0].kind === 'uint' && f[0].value === 1n)) {
    throw new RuleError('link.version', f[0].start, `payload version ${diagnostic(f[0])}, not 1`, 'the payload');
  }
  const shape = f && f.length === 8 && f[1].kind === 'uint' && (f[2].kind === 'null' || isDigest(f[2])) && isDigest(f[3])
    && f[4].kind === 'map' && isDigest(f[5]) && isDigest(f[6]) && f[7].kind === 'uint';
  if (!shape) {
    const want = '[1, type: uint, prev: bstr(32)/null, input_hash: bstr(32), stage: map, output_hash: bstr(32), signer: bstr(32), timestamp: uint]';
    throw new RuleError('link.structure', 0, `the payload ${brief(item)} is not ${want}`, 'the payload');
  }
  const type = f[1].value <= 0xffn ? TYPES.get(Number(f[1].value)) : undefined;
  if (!type) throw new RuleError('link.type', f[1].start, `type ${f[1].value} is not one of 0x01–0x06, 0xFF`, 'the payload');
  return {
    type: Number(f[1].value),
    typeName: type.name,
    prev: f[2].kind === 'null' ? null : f[2].value,
    inputHash: f[3].value,
    stage: decodeStage(type, f[4].value),
    outputHash: f[5].value,
    signer: f[6].value,
    timestamp: f[7].value,
  };
}

/** The stage map of a type (§2.2): unsigned-integer keys; the defined keys and kinds but for custom. */
function decodeStage(type, entries) {
  const stage = new Map();
  const refuse = (item, what) => new RuleError('link.stage', item.start, `the ${type.name} stage ${what}`, 'the payload');
  for (const [key, value] of entries) {
    if (key.kind !== 'uint') throw refuse(key, `has the key ${brief(key)}, not an unsigned integer`);
    if (type.stage) {
      const def = type.stage[key.value.toString()];
      if (!def) throw refuse(key, `has no key ${key.value}`);
      if (!STAGE_KINDS[def[1]](value)) throw refuse(value, `has ${def[0]} (key ${key.value}) ${brief(value)}, not ${def[1]}`);
    }
    stage.set(key.value, value);
  }
  return stage;
}

/** A decoded link for the verdict: names from §2.2, digests in hex. */
function linkView(part, link) {
  const type = TYPES.get(link.type);
  const stage = {};
  for (const [key, value] of link.stage) {
    if (type.stage) stage[type.stage[key.toString()][0]] = stageValue(value);
    else stage[key.toString()] = diagnostic(value);
  }
  return {
    part: num(part),
    id: hex(link.id),
    type: link.typeName,
    prev: link.prev && hex(link.prev),
    input_hash: hex(link.inputHash),
    output_hash: hex(link.outputHash),
    signer: hex(link.signer),
    timestamp: num(link.timestamp),
    stage,
  };
}

function stageValue(item) {
  if (item.kind === 'bytes') return hex(item.value);
  if (item.kind === 'uint') return num(item.value);
  return item.value;
}

// ---------------------------------------------------------------------------------------------
// §5.1 Parts and Base45

const MAX_PART = 1 << 20;
const MAX_TEXT = 4096;
const MAX_PARTS = 64n;
const PREFIX = 'AL1:';
const BASE45 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';
const BASE45_VALUE = new Map([...BASE45].map((c, i) => [c, i]));

/**
 * Base45 (RFC 9285), strictly: every character in the alphabet, every triple at most 65535,
 * a final pair at most 255, no dangling single character. Throws RuleError (text offsets).
 */
export function base45Decode(text) {
  const out = new Uint8Array(Math.floor(text.length / 3) * 2 + (text.length % 3 === 2 ? 1 : 0));
  for (let at = 0, o = 0; at < text.length; at += 3) {
    const group = text.slice(at, at + 3);
    let n = 0;
    for (let i = group.length - 1; i >= 0; i--) {
      const digit = BASE45_VALUE.get(group[i]);
      if (digit === undefined) throw new RuleError('qr.base45', at + i, `${JSON.stringify(group[i])} is not a Base45 character`);
      n = n * 45 + digit;
    }
    if (group.length === 1) throw new RuleError('qr.base45', at, 'a single character dangles at the end (groups are 3 characters, or a final 2)');
    if (group.length === 3) {
      if (n > 0xffff) throw new RuleError('qr.base45', at, `the triple ${JSON.stringify(group)} is ${n}, above 65535`);
      out[o++] = n >> 8;
      out[o++] = n & 0xff;
    } else {
      if (n > 0xff) throw new RuleError('qr.base45', at, `the final pair ${JSON.stringify(group)} is ${n}, above 255`);
      out[o++] = n;
    }
  }
  return out;
}

/**
 * Decodes a part (§5.1) from its bytes: `{index, count, head, links: [{item, bytes}], bytes}`
 * (index and count BigInt). Throws RuleError.
 */
function decodePart(bytes) {
  if (bytes.length > MAX_PART) throw new RuleError('input.too_large', MAX_PART, `${bytes.length} bytes, more than 1 MiB`, 'the part');
  const item = placed('the part', 0, () => decodeExact(bytes));
  const f = item.kind === 'array' ? item.value : [];
  const kinds = ['uint', 'uint', 'uint', 'bytes', 'array'];
  const shaped = f.length === 5 && f.every((x, i) => x.kind === kinds[i]) && f[0].value === 1n && f[3].value.length === 32;
  if (!shaped) throw new RuleError('qr.part', 0, 'not [1, part_index, part_count, head_link_id: bstr(32), [link, …]]', 'the part');
  const [index, count] = [f[1].value, f[2].value];
  if (index < 1n || index > count) throw new RuleError('qr.part', f[1].start, `part ${index} of ${count}`, 'the part');
  if (count > MAX_PARTS) throw new RuleError('qr.part', f[2].start, `${count} parts; a chain is split into at most ${MAX_PARTS}`, 'the part');
  if (f[4].value.length === 0) throw new RuleError('qr.part', f[4].start, 'a part without links', 'the part');
  return {
    index,
    count,
    head: f[3].value,
    links: f[4].value.map((link) => ({ item: link, bytes: bytes.subarray(link.start, link.end) })),
    bytes,
  };
}

/** Decodes a code's text: `AL1:` and Base45 of a part. Throws RuleError (text offsets). */
function decodeText(text) {
  if (new TextEncoder().encode(text).length > MAX_TEXT) {
    throw new RuleError('input.too_large', MAX_TEXT, `a code text of more than ${MAX_TEXT} bytes`, 'the text');
  }
  if (!text.startsWith(PREFIX)) {
    throw new RuleError('qr.prefix', 0, `the text ${JSON.stringify(text.slice(0, 8))}… does not start with ${PREFIX}`, 'the text');
  }
  return decodePart(placed('the text', PREFIX.length, () => base45Decode(text.slice(PREFIX.length))));
}

function decodeInput(input, i) {
  if (input?.cbor instanceof Uint8Array) return decodePart(input.cbor);
  // A scanned or pasted code may end in a line break; spaces are Base45 and stay.
  if (typeof input?.text === 'string') return decodeText(input.text.replace(/[\r\n]+$/, ''));
  throw new TypeError(`verify: input ${i} is neither {cbor: Uint8Array} nor {text: string}`);
}

// ---------------------------------------------------------------------------------------------
// §6 Verification

function finding(rule, { input = null, link = null, missing = null, detail }) {
  return { rule, input, link, missing, detail };
}

function byBigInt(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Verifies a chain from its inputs (§6) and, with a keyring, assesses trust (§7).
 * `inputs`: an iterable of `{cbor: Uint8Array}` and `{text: string}`; `keyring`: TOML text or
 * `parseKeyring`'s result. Resolves to the verdict described at the top of this module.
 */
export async function verify(inputs, { keyring } = {}) {
  const ring = typeof keyring === 'string' ? parseKeyring(keyring) : keyring ?? null;
  const list = [...inputs];
  const findings = [];
  const chain = gatherParts(list, findings);
  if (list.length === 0) findings.push(finding('chain.empty', { detail: 'no input: a chain has at least one link' }));
  const received = chain ? receiveLinks(chain) : [];
  if (chain) await checkChain(chain, received, findings);
  const verdict = {
    valid: findings.every((f) => f.rule === 'qr.missing'),
    complete: received.length > 0 && !findings.some((f) => f.rule === 'qr.missing'),
    rules: [...new Set(findings.map((f) => f.rule))].sort(),
    findings,
    links: received.map((r) => (r.link ? linkView(r.part, r.link) : { part: num(r.part), id: hex(r.id), error: r.error.rule })),
    head: chain && hex(chain.head),
    parts: chain ? { count: num(chain.count), received: chain.indices.map(num) } : { count: null, received: [] },
  };
  if (ring) verdict.trust = assessTrust(ring, received);
  return verdict;
}

/**
 * Steps 1–2: decodes every input as a part; the first decoded fixes head and count. Returns
 * `{head, count, parts: Map index → part, indices}` or null when no part decoded.
 */
function gatherParts(inputs, findings) {
  let chain = null;
  inputs.forEach((input, i) => {
    let part;
    try {
      part = decodeInput(input, i);
    } catch (e) {
      if (!(e instanceof RuleError)) throw e;
      findings.push(finding(e.rule, { input: i, detail: `input ${i} (${input.cbor ? 'cbor' : 'text'}): ${e.message}` }));
      return;
    }
    chain ??= { head: part.head, count: part.count, parts: new Map() };
    if (!equalBytes(part.head, chain.head) || part.count !== chain.count) {
      findings.push(finding('qr.mixed', {
        input: i,
        detail: `input ${i} is part ${part.index} of ${part.count} with head ${hex(part.head)}, not of ${chain.count} with head ${hex(chain.head)}`,
      }));
      return;
    }
    const seen = chain.parts.get(part.index);
    if (!seen) chain.parts.set(part.index, part);
    else if (!equalBytes(seen.bytes, part.bytes)) {
      findings.push(finding('qr.duplicate', { input: i, detail: `input ${i} is a second, different part ${part.index} of ${chain.count}` }));
    }
  });
  if (chain) chain.indices = [...chain.parts.keys()].sort(byBigInt);
  return chain;
}

/**
 * Step 3–4's decoding: the links of the parts in index order, each `{part, id, link, error,
 * gap}`: `link` when it decodes, else `error` (a RuleError); `gap` = [from, to] the missing
 * part indices just before it, on the first link of a part that follows missing ones.
 */
function receiveLinks(chain) {
  const received = [];
  let expected = 1n;
  for (const index of chain.indices) {
    const gap = index > expected ? [expected, index - 1n] : null;
    expected = index + 1n;
    chain.parts.get(index).links.forEach(({ item, bytes }, k) => {
      const r = { part: index, id: sha256(bytes), link: null, error: null, gap: k === 0 ? gap : null };
      try {
        r.link = decodeLink(item, bytes);
      } catch (e) {
        if (!(e instanceof RuleError)) throw e;
        r.error = e;
      }
      received.push(r);
    });
  }
  chain.trailingGap = expected <= chain.count ? [expected, chain.count] : null;
  return received;
}

/** Steps 3–6 over the received links: missing parts, signatures, chain rules, head, forks. */
async function checkChain(chain, received, findings) {
  const signatures = await Promise.all(
    received.map((r) => r.link && verifySignature(r.link.signer, r.link.sigStructure, r.link.signature)),
  );
  received.forEach((r, i) => {
    if (r.gap) reportGap(findings, chain.count, r.gap, r.link?.prev ?? null, i);
    if (r.error) {
      findings.push(finding(r.error.rule, { link: i, detail: `link ${i} (${hex(r.id)}) does not decode: ${r.error.message}` }));
      return;
    }
    if (signatures[i]) findings.push(finding(signatures[i].rule, { link: i, detail: `link ${i} (${hex(r.id)}): ${signatures[i].what}` }));
    checkFollows(received, i, findings);
  });
  const last = received[received.length - 1];
  if (chain.trailingGap) reportGap(findings, chain.count, chain.trailingGap, chain.head, null);
  else if (last.link && !equalBytes(last.id, chain.head)) {
    const detail = `the last link is ${hex(last.id)}, the parts name head ${hex(chain.head)}`;
    findings.push(finding('chain.head', { link: received.length - 1, detail }));
  }
  findForks(received, findings);
}

/**
 * qr.missing for the parts `gap` = [from, to]: part `to` is named by `named` (the id its last
 * link has) when known; the parts before it cannot be named and are reported as one run.
 */
function reportGap(findings, count, [from, to], named, link) {
  const where = link === null ? 'after the last link received' : `before link ${link}`;
  if (named) {
    findings.push(finding('qr.missing', { link, missing: hex(named), detail: `part ${to} of ${count} is missing: it ends with link ${hex(named)}` }));
    to -= 1n;
  }
  if (from > to) return;
  const parts = from === to ? `part ${from} of ${count} is missing` : `parts ${from}–${to} of ${count} are missing`;
  findings.push(finding('qr.missing', { link, detail: `${parts} (${where})` }));
}

/** Step 5: the chain rules between decoded link i and the one before it. */
function checkFollows(received, i, findings) {
  const l = received[i].link;
  if (received[i].gap) {
    if (l.prev === null) findings.push(finding('chain.first_prev', { link: i, detail: `link ${i} follows a missing part and has no prev` }));
    return;
  }
  if (i === 0) {
    if (l.prev !== null) findings.push(finding('chain.first_prev', { link: 0, detail: `the first link has prev ${hex(l.prev)}` }));
    return;
  }
  const before = received[i - 1];
  if (!before.link) return;
  if (l.prev === null || !equalBytes(l.prev, before.id)) {
    const detail = `link ${i} has prev ${l.prev ? hex(l.prev) : 'null'}, the link before it is ${hex(before.id)}`;
    findings.push(finding('chain.prev', { link: i, detail }));
  }
  if (l.typeName !== 'custom' && !equalBytes(l.inputHash, before.link.outputHash)) {
    findings.push(finding('chain.input', {
      link: i,
      detail: `link ${i} takes in ${hex(l.inputHash)}, link ${i - 1} put out ${hex(before.link.outputHash)}`,
    }));
  }
  if (l.timestamp < before.link.timestamp) {
    const detail = `link ${i} is dated ${l.timestamp}, before link ${i - 1} (${before.link.timestamp})`;
    findings.push(finding('chain.timestamp', { link: i, detail }));
  }
}

/** Step 6: chain.fork for each link with the signer and prev of an earlier, different link. */
function findForks(received, findings) {
  const seen = new Map(); // signer ‖ prev → (id → the first link with it)
  received.forEach((r, i) => {
    if (!r.link) return;
    const [id, signer] = [hex(r.id), hex(r.link.signer)];
    const key = `${signer}:${r.link.prev ? hex(r.link.prev) : 'null'}`;
    const ids = seen.get(key) ?? new Map();
    const other = [...ids].find(([earlier]) => earlier !== id);
    if (other) {
      findings.push(finding('chain.fork', {
        link: i,
        detail: `key ${signer} signed link ${other[1]} (${other[0]}) and link ${i} (${id}) after the same prev`,
      }));
    }
    if (!ids.has(id)) ids.set(id, i);
    seen.set(key, ids);
  });
}

// ---------------------------------------------------------------------------------------------
// §7 Keyrings and trust

/** A keyring file that does not parse or breaks §7; the message says what and where. */
export class KeyringError extends Error {
  constructor(message) {
    super(`keyring: ${message}`);
    this.name = 'KeyringError';
  }
}

const KEY_FIELDS = { name: 'string', ed25519: 'string', valid_from: 'datetime', valid_until: 'datetime', revoked_at: 'datetime' };

/**
 * Parses a keyring (§7): TOML of `[[key]]` tables with the fields `name`, `ed25519` (strings)
 * and optionally `valid_from`, `valid_until`, `revoked_at` (unquoted RFC 3339 date-times with
 * an offset). Only that subset of TOML is read. Returns `{keys: [{name, ed25519 (hex),
 * valid_from, valid_until, revoked_at}]}`, each time null or `{text, seconds}` (Unix seconds
 * rounded down and up). Throws KeyringError.
 */
export function parseKeyring(text) {
  if (typeof text !== 'string') throw new TypeError('parseKeyring: the keyring is TOML text');
  const tables = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/^[ \t]+/, '');
    const at = `line ${i + 1}`;
    if (line === '' || line.startsWith('#')) return;
    if (line.startsWith('[')) {
      if (!/^\[\[[ \t]*key[ \t]*\]\][ \t]*(#.*)?$/.test(line)) {
        throw new KeyringError(`${at}: ${line.trim()} is no [[key]] table, the only table a keyring has`);
      }
      tables.push({ line: i + 1, fields: {} });
      return;
    }
    const m = /^([A-Za-z0-9_-]+)[ \t]*=[ \t]*/.exec(line);
    if (!m) throw new KeyringError(`${at}: expected \`field = value\` with a bare field name, found ${JSON.stringify(line.trim())}`);
    const field = m[1];
    const table = tables[tables.length - 1];
    if (!table) throw new KeyringError(`${at}: \`${field}\` outside a [[key]] table`);
    if (!(field in KEY_FIELDS)) throw new KeyringError(`${at}: unknown field \`${field}\` (a key has ${Object.keys(KEY_FIELDS).join(', ')})`);
    if (field in table.fields) throw new KeyringError(`${at}: \`${field}\` is given twice in this [[key]]`);
    const { type, value, rest } = tomlValue(line.slice(m[0].length), `${at}: ${field}`);
    if (!/^[ \t]*(#.*)?$/.test(rest)) throw new KeyringError(`${at}: unexpected ${JSON.stringify(rest.trim())} after the value of \`${field}\``);
    if (type !== KEY_FIELDS[field]) {
      const want = KEY_FIELDS[field] === 'string' ? 'a quoted string' : 'an unquoted RFC 3339 date-time';
      throw new KeyringError(`${at}: \`${field}\` must be ${want}`);
    }
    table.fields[field] = value;
  });
  const keys = [];
  tables.forEach((t, i) => keys.push(keyOf(t, i + 1, keys)));
  return { keys };
}

/** One [[key]] table checked by §7: both strings given, the whole key, valid, not listed twice. */
function keyOf({ line, fields }, n, earlier) {
  for (const f of ['name', 'ed25519']) if (!(f in fields)) throw new KeyringError(`key ${n} (line ${line}): \`${f}\` is missing`);
  const at = `key ${n} (line ${line}) ${JSON.stringify(fields.name)}`;
  if (!/^[0-9a-fA-F]{64}$/.test(fields.ed25519)) {
    throw new KeyringError(`${at}: ed25519 must be the whole 32-byte key in 64 hex digits, not ${JSON.stringify(fields.ed25519)}`);
  }
  const ed25519 = fields.ed25519.toLowerCase();
  const broken = checkPoint(unhex(ed25519));
  if (broken) throw new KeyringError(`${at}: the key ${ed25519} breaks ${broken}: ${RULES[broken]}`);
  const twice = earlier.find((k) => k.ed25519 === ed25519);
  if (twice) throw new KeyringError(`${at}: the key ${ed25519} is listed twice (also as ${JSON.stringify(twice.name)})`);
  return {
    name: fields.name,
    ed25519,
    valid_from: fields.valid_from ?? null,
    valid_until: fields.valid_until ?? null,
    revoked_at: fields.revoked_at ?? null,
  };
}

/** One TOML value at the start of `s`: a string or an offset date-time. Returns {type, value, rest}. */
function tomlValue(s, at) {
  if (s.startsWith('"""') || s.startsWith("'''")) throw new KeyringError(`${at}: multi-line strings are not read in a keyring`);
  if (s.startsWith('"')) return basicString(s, at);
  if (s.startsWith("'")) {
    const end = s.indexOf("'", 1);
    if (end < 0) throw new KeyringError(`${at}: the string is not closed`);
    const value = s.slice(1, end);
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) throw new KeyringError(`${at}: a control character in a string`);
    return { type: 'string', value, rest: s.slice(end + 1) };
  }
  return dateTime(s, at);
}

const TOML_ESCAPES = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', '"': '"', '\\': '\\' };

/** A TOML basic string ("…" with escapes). */
function basicString(s, at) {
  let value = '';
  for (let i = 1; i < s.length; i++) {
    const c = s[i];
    if (c === '"') return { type: 'string', value, rest: s.slice(i + 1) };
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(c)) throw new KeyringError(`${at}: a control character in a string`);
    if (c !== '\\') {
      value += c;
      continue;
    }
    const e = s[++i];
    if (e in TOML_ESCAPES) value += TOML_ESCAPES[e];
    else if (e === 'u' || e === 'U') {
      const digits = s.slice(i + 1, i + 1 + (e === 'u' ? 4 : 8));
      const cp = /^[0-9a-fA-F]+$/.test(digits) && digits.length === (e === 'u' ? 4 : 8) ? parseInt(digits, 16) : -1;
      if (cp < 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw new KeyringError(`${at}: \\${e}${digits} is not a Unicode scalar value`);
      value += String.fromCodePoint(cp);
      i += digits.length;
    } else throw new KeyringError(`${at}: unknown escape \\${e ?? ''} in a string`);
  }
  throw new KeyringError(`${at}: the string is not closed`);
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?/;

/** An RFC 3339 date-time with an offset, in whole seconds, as `{text, seconds}` (Unix). */
function dateTime(s, at) {
  const m = DATE_TIME.exec(s);
  if (!m) {
    const what = /^\d{4}-\d{2}-\d{2}/.test(s) ? 'a date without a time' : JSON.stringify(s.trim());
    throw new KeyringError(`${at}: ${what} is not a quoted string nor an RFC 3339 date-time like 2026-01-01T00:00:00Z`);
  }
  if (!m[8]) throw new KeyringError(`${at}: ${m[0]} has no offset; write Z or ±hh:mm (RFC 3339)`);
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number);
  const [oh, om] = /[Zz]/.test(m[8]) ? [0, 0] : m[8].slice(1).split(':').map(Number);
  const days = [31, y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  if (mo < 1 || mo > 12 || d < 1 || d > days[mo - 1] || h > 23 || mi > 59 || sec > 59 || oh > 23 || om > 59) {
    throw new KeyringError(`${at}: ${m[0]} is not a valid date-time (leap seconds are not accepted)`);
  }
  const offset = (m[8][0] === '-' ? -1 : 1) * (oh * 3600 + om * 60);
  const floor = daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
  // Links are dated in whole seconds: a fraction would need a rounding rule.
  if (m[7] !== undefined && /[1-9]/.test(m[7])) {
    throw new KeyringError(`${at}: ${m[0]}: links are dated in whole seconds; give a time without a fraction`);
  }
  return { type: 'datetime', value: { text: m[0], seconds: floor }, rest: s.slice(m[0].length) };
}

/** Days from 1970-01-01 to a proleptic Gregorian date. */
function daysFromCivil(y, m, d) {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  return era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
}

/** §7 for each decoded link: `{link, signer, name, rule}`, name set when trusted, else rule. */
function assessTrust(ring, received) {
  const out = [];
  received.forEach((r, i) => {
    if (!r.link) return;
    const signer = hex(r.link.signer);
    const key = ring.keys.find((k) => k.ed25519 === signer);
    const rule = trustRule(key, r.link.timestamp);
    out.push({ link: i, signer, name: rule ? null : key.name, rule });
  });
  return out;
}

/** The trust code for a link dated `t` (BigInt) by `key` (undefined: not in the keyring), or null. */
function trustRule(key, t) {
  if (!key) return 'trust.unknown';
  if (key.revoked_at && t >= BigInt(key.revoked_at.seconds)) return 'trust.revoked';
  if (key.valid_from && t < BigInt(key.valid_from.seconds)) return 'trust.not_yet_valid';
  if (key.valid_until && t > BigInt(key.valid_until.seconds)) return 'trust.expired';
  return null;
}

// ---------------------------------------------------------------------------------------------
// §4 Content hashes

/**
 * SHA-256 of a Blob (a File) or a ReadableStream of Uint8Array chunks, read chunk by chunk,
 * never whole. `onProgress(bytesDone, bytesTotal)` is called after each chunk (total null for a
 * stream). Resolves to the 32-byte hash. Loads sha256.wasm first (`loadSha256Wasm`) unless
 * `useSha256('js')`; throws if it does not load under `useSha256('wasm')`.
 */
export async function hashFile(source, onProgress) {
  const stream = typeof source?.stream === 'function' ? source.stream() : source;
  if (typeof stream?.getReader !== 'function') throw new TypeError('hashFile: expected a Blob, a File or a ReadableStream of bytes');
  if (sha256Mode !== 'js' && !(await loadSha256Wasm()) && sha256Mode === 'wasm') {
    throw new Error(`hashFile: sha256.wasm did not load: ${wasmError?.message ?? wasmError}`);
  }
  const total = typeof source.size === 'number' ? source.size : null;
  const reader = stream.getReader();
  const h = new Sha256();
  let done = 0;
  try {
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      if (!(chunk.value instanceof Uint8Array)) throw new TypeError('hashFile: the stream gave a chunk that is not a Uint8Array');
      h.update(chunk.value);
      done += chunk.value.length;
      onProgress?.(done, total);
    }
  } finally {
    reader.releaseLock();
  }
  return h.digest();
}

/**
 * A directory's hash (§4) from its regular files, each `{path, size, sha256}`: `path` relative,
 * `/`-separated, without `./`, `.` or `..` segments (a browser's `webkitRelativePath` starts
 * with the chosen folder's name, which is not part of it); `size` a number or BigInt; `sha256`
 * 32 bytes or 64 hex digits. Returns the 32-byte hash.
 */
export function directoryHash(entries) {
  const seen = new Set();
  const leaves = [...entries].map((e, i) => {
    const path = checkPath(e?.path, i);
    if (seen.has(e.path)) throw new Error(`directoryHash: entry ${i}: the path ${JSON.stringify(e.path)} is given twice`);
    seen.add(e.path);
    return { path, leaf: leafHash(path, checkSize(e.size, i), checkDigest(e.sha256, i)) };
  });
  if (leaves.length === 0) return sha256(new Uint8Array([2]));
  leaves.sort((a, b) => compareBytes(a.path, b.path));
  let level = leaves.map((l) => l.leaf);
  while (level.length > 1) {
    const next = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(sha256(new Uint8Array([1]), level[i], level[i + 1]));
    if (level.length % 2 === 1) next.push(level[level.length - 1]);
    level = next;
  }
  return level[0];
}

/** leaf = SHA-256(0x00 ‖ u64be(len(path)) ‖ path ‖ u64be(size) ‖ SHA-256(file)) */
function leafHash(path, size, digest) {
  return sha256(new Uint8Array([0]), u64be(path.length), path, u64be(size), digest);
}

/** The path's UTF-8 bytes, once it is checked to be a clean relative path. */
function checkPath(path, i) {
  const bad = (why) => new Error(`directoryHash: entry ${i}: the path ${JSON.stringify(path)} ${why}`);
  if (typeof path !== 'string' || path === '') throw bad('is not a non-empty string');
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(path)) throw bad('has a lone surrogate: it is not UTF-8');
  if (path.startsWith('/')) throw bad('is absolute; paths are relative to the directory');
  if (path.split('/').some((s) => s === '' || s === '.' || s === '..')) throw bad('has an empty, "." or ".." segment');
  return UTF8.encode(path);
}

function checkSize(size, i) {
  const ok = typeof size === 'bigint' ? size >= 0n && size < 2n ** 64n : Number.isSafeInteger(size) && size >= 0;
  if (!ok) throw new Error(`directoryHash: entry ${i}: size ${String(size)} is not a byte count`);
  return size;
}

function checkDigest(digest, i) {
  const bytes = typeof digest === 'string' && /^[0-9a-fA-F]{64}$/.test(digest) ? unhex(digest) : digest;
  if (!(bytes instanceof Uint8Array) || bytes.length !== 32) throw new Error(`directoryHash: entry ${i}: sha256 is not 32 bytes or 64 hex digits`);
  return bytes;
}
