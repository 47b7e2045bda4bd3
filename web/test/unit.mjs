// Unit checks of web/alloy.js beyond the vectors: SHA-256 known answers and streaming, the
// directory hash of docs/alloy.md §4, the strict CBOR rules of §1, Base45, §3's point rules,
// keyrings (§7), the golden vectors' spelled-out bytes, and edge cases of §6.
//
//   node web/test/unit.mjs            runs the checks; exits 1 if any fails
//   node web/test/unit.mjs --bench    also measures streaming SHA-256 (JS and WASM) over 256 MiB
//                                     (--bench-mib N: over N MiB)
//
// SPDX-License-Identifier: Apache-2.0

import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { register } from 'node:module';
import {
  RULES, RuleError, Sha256, base45Decode, decodeCbor, directoryHash, ed25519Implementation, encodeCbor, hashFile, hex,
  loadSha256Wasm, parseKeyring, sha256, sha256Implementation, sha256WasmError, unhex, useEd25519, useSha256, verify,
} from '../alloy.js';
import { assemble, loadWabt, wat as watText } from '../sha256-wat.mjs';
import { webcrypto } from 'node:crypto';

// Node 18 (Debian bookworm's) has WebCrypto, but not as a global; alloy.js looks it up there.
globalThis.crypto ??= webcrypto;
// The vendored @noble/curves imports @noble/hashes by its bare name (the page has an import map).
register('./noble-resolve.mjs', import.meta.url);

const VECTORS = fileURLToPath(new URL('../../docs/alloy/vectors/', import.meta.url));
const vector = (name) => JSON.parse(readFileSync(`${VECTORS}${name}.json`, 'utf8'));
const nodeSha256 = (...parts) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};
const utf8 = (s) => new TextEncoder().encode(s);

const checks = [];
const check = (name, fn) => checks.push([name, fn]);
/** Thrown by a check that cannot run here: reported as SKIPPED, loudly, not as a pass. */
class Skip extends Error {}

function equal(got, want, what = '') {
  const [g, w] = [JSON.stringify(got), JSON.stringify(want)];
  if (g !== w) throw new Error(`${what}\n    got  ${g}\n    want ${w}`);
}

function throwsWith(fn, pattern) {
  try {
    fn();
  } catch (e) {
    if (!pattern.test(e.message)) throw new Error(`threw ${JSON.stringify(e.message)}, not matching ${pattern}`);
    return;
  }
  throw new Error(`did not throw (${pattern})`);
}

/** The rule and offset a CBOR input is refused with, or 'ok' (checking the re-encoding). */
function cborOutcome(hexIn) {
  try {
    const item = decodeCbor(unhex(hexIn));
    if (hex(encodeCbor(item)) !== hexIn) return 'differs';
    return 'ok';
  } catch (e) {
    if (!(e instanceof RuleError)) throw e;
    return `${e.rule}@${e.offset}`;
  }
}

/** Base45 encoding (RFC 9285), for making test texts. */
function base45(bytes) {
  const A = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';
  let out = '';
  for (let i = 0; i < bytes.length; i += 2) {
    let n = i + 1 < bytes.length ? bytes[i] * 256 + bytes[i + 1] : bytes[i];
    for (let k = 0; k < (i + 1 < bytes.length ? 3 : 2); k++, n = Math.floor(n / 45)) out += A[n % 45];
  }
  return out;
}

/** A part's CBOR from decoded link items. */
function part(index, count, head, links) {
  const uint = (n) => ({ kind: 'uint', value: BigInt(n) });
  return encodeCbor({ kind: 'array', value: [uint(1), uint(index), uint(count), { kind: 'bytes', value: head }, { kind: 'array', value: links }] });
}

/** The link items of a chain file or part. */
const linksOf = (cborHex) => decodeCbor(unhex(cborHex)).value[4].value;

// --- SHA-256 ---------------------------------------------------------------------------------

/** Runs `fn` with alloy.js's SHA-256 set to `impl` ('js' or 'wasm'), then back to 'auto'. */
async function withSha256(impl, fn) {
  if (impl === 'wasm' && !(await loadSha256Wasm())) throw new Error(`sha256.wasm does not load: ${sha256WasmError()?.message}`);
  useSha256(impl);
  try {
    if (sha256Implementation() !== impl) throw new Error(`Sha256 uses ${sha256Implementation()}, not ${impl}`);
    return await fn();
  } finally {
    useSha256('auto');
  }
}

/** Deterministic pseudo-random bytes (xorshift32). */
function noise(n, seed = 0x9e3779b9) {
  const out = new Uint8Array(n);
  for (let i = 0, x = seed | 1; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = x >>> 24;
  }
  return out;
}

for (const impl of ['js', 'wasm']) {
  check(`SHA-256 (${impl}): FIPS 180-4 known answers`, () => withSha256(impl, () => {
    equal(hex(sha256(utf8(''))), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'empty');
    equal(hex(sha256(utf8('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'abc');
    equal(hex(sha256(utf8('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))),
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1', '448 bits');
    equal(hex(sha256(utf8('abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu'))),
      'cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1', '896 bits');
    const million = new Uint8Array(1_000_000).fill(0x61);
    const want = 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0';
    equal(hex(sha256(million)), want, "a million 'a' at once");
    const h = new Sha256();
    for (let at = 0, step = 1; at < million.length; at += step, step = (step * 7 + 3) % 997 + 1) {
      h.update(million.subarray(at, at + step));
    }
    equal(hex(h.digest()), want, "a million 'a' in uneven chunks");
  }));

  check(`SHA-256 (${impl}) agrees with node:crypto on every length 0–300 and any chunking`, () => withSha256(impl, () => {
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 151 + 7) & 0xff);
    for (let n = 0; n <= 300; n++) {
      const data = bytes.subarray(0, n);
      const h = new Sha256();
      for (let at = 0, step = (n % 5) + 1; at < n; at += step, step = (step * 3) % 70 + 1) h.update(data.subarray(at, at + step));
      equal(hex(h.digest()), nodeSha256(data), `length ${n}`);
    }
  }));
}

check('SHA-256: JavaScript and WebAssembly give the same digests on random lengths up to 9 MiB', async () => {
  const data = noise((9 << 20) + 77);
  const lengths = [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 511, 512, 513, 4095, 65535, 65536, 65537,
    (1 << 20) - 1, 1 << 20, (1 << 20) + 1, (1 << 20) + 64 * 3 + 5, (2 << 20) + 63, 5_000_017, data.length];
  for (let i = 0, x = 7; i < 20; i++) lengths.push((x = (x * 1103515245 + 12345) & 0x7fffffff) % data.length);
  const digests = { js: [], wasm: [] };
  for (const impl of ['js', 'wasm']) {
    await withSha256(impl, () => {
      for (const [k, n] of lengths.entries()) {
        // Whole, and in uneven pieces that straddle blocks and sha256.wasm's 1 MiB buffer.
        const whole = hex(sha256(data.subarray(0, n)));
        const h = new Sha256();
        for (let at = 0, step = 1 + k * 97; at < n; at += step, step = (step * 5 + 31) % (3 << 20) + 1) h.update(data.subarray(at, Math.min(n, at + step)));
        if (hex(h.digest()) !== whole) throw new Error(`${impl}: length ${n}: pieces and whole differ`);
        digests[impl].push(whole);
      }
    });
  }
  lengths.forEach((n, k) => {
    const want = nodeSha256(data.subarray(0, n));
    equal([digests.js[k], digests.wasm[k]], [want, want], `length ${n}`);
  });
});

check('sha256.wasm: sha256.wat is what sha256-wat.mjs writes, sha256.wasm is wat2wasm of it', async () => {
  const web = new URL('../', import.meta.url);
  equal(readFileSync(new URL('sha256.wat', web), 'utf8') === watText(), true, 'web/sha256.wat is up to date (node web/sha256-wat.mjs)');
  const wabt = await loadWabt();
  if (!wabt) throw new Skip('web/sha256.wasm NOT re-assembled: the npm package wabt is not found; install it with\n'
    + '         npm install --prefix ~/.cache/assay/wabt-1.0.39 wabt@1.0.39 and run with NODE_PATH=~/.cache/assay/wabt-1.0.39/node_modules');
  const again = assemble(wabt, watText());
  const committed = readFileSync(new URL('sha256.wasm', web));
  if (!Buffer.from(again).equals(committed)) throw new Error(`web/sha256.wasm (${committed.length} bytes) differs from wat2wasm of web/sha256.wat (${again.length} bytes): run node web/sha256-wat.mjs`);
});

check('Sha256 refuses use after digest and non-bytes', () => {
  const h = new Sha256();
  h.digest();
  throwsWith(() => h.update(new Uint8Array(1)), /after digest/);
  throwsWith(() => new Sha256().update('abc'), /Uint8Array/);
});

check('hashFile streams a Blob and a ReadableStream, reporting progress (with sha256.wasm)', async () => {
  const data = Uint8Array.from({ length: 300_001 }, (_, i) => i % 251);
  const seen = [];
  const digest = await hashFile(new Blob([data]), (done, total) => seen.push([done, total]));
  equal(sha256Implementation(), 'wasm', 'hashFile loaded sha256.wasm');
  equal(hex(digest), nodeSha256(data), 'blob');
  equal(seen[seen.length - 1], [300_001, 300_001], 'last progress');
  const stream = new ReadableStream({
    start(c) {
      for (let at = 0; at < data.length; at += 4096) c.enqueue(data.slice(at, at + 4096));
      c.close();
    },
  });
  equal(hex(await hashFile(stream)), nodeSha256(data), 'stream');
});

// --- the page's vendored files and policy -----------------------------------------------------

check('web/vendor: every vendored file has the checksum in SHA256SUMS, and no other file is there', () => {
  const vendor = new URL('../vendor/', import.meta.url);
  const listed = new Map(readFileSync(new URL('SHA256SUMS', vendor), 'utf8').trim().split('\n').map((l) => {
    const m = /^([0-9a-f]{64})  (\S+)$/.exec(l);
    if (!m) throw new Error(`SHA256SUMS: bad line ${JSON.stringify(l)}`);
    return [m[2], m[1]];
  }));
  const found = [];
  const walk = (dir) => {
    for (const e of readdirSync(new URL(dir, vendor), { withFileTypes: true })) {
      if (e.isDirectory()) walk(`${dir}${e.name}/`);
      else found.push(`${dir}${e.name}`);
    }
  };
  for (const dir of ['jsqr/', 'noble-curves/', 'noble-hashes/']) walk(dir);
  equal(found.sort(), [...listed.keys()].sort(), 'the files in SHA256SUMS are the files there');
  for (const [file, sum] of listed) equal(nodeSha256(readFileSync(new URL(file, vendor))), sum, file);
  for (const pkg of ['curves', 'hashes']) {
    equal(JSON.parse(readFileSync(new URL(`noble-${pkg}/package.json`, vendor), 'utf8')).version, '2.4.0', `@noble/${pkg}`);
  }
});

check("index.html: the import map is the inline script the policy's hash allows, and the policy is 'self' only", () => {
  const html = readFileSync(new URL('../index.html', import.meta.url), 'utf8');
  const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)?.[1];
  const inline = [...html.matchAll(/<script(?![^>]*\ssrc=)[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
  equal(inline.length, 1, 'one inline script');
  const map = JSON.parse(inline[0]);
  equal(map, { imports: { '@noble/hashes/': './vendor/noble-hashes/' } }, 'the import map');
  const hash = createHash('sha256').update(inline[0]).digest('base64');
  const directives = Object.fromEntries(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v]));
  equal(directives['script-src'], ["'self'", "'wasm-unsafe-eval'", `'sha256-${hash}'`], 'script-src');
  equal(directives['connect-src'], ["'self'"], 'connect-src');
  equal(directives['default-src'], ["'none'"], 'default-src');
  for (const [k, v] of Object.entries(directives)) {
    for (const source of v) {
      if (!["'self'", "'none'", "'wasm-unsafe-eval'", `'sha256-${hash}'`, 'blob:', 'data:', 'mediastream:'].includes(source)) throw new Error(`${k} allows ${source}`);
    }
  }
});

// --- §4 directory hash -----------------------------------------------------------------------

/** §4's leaf, computed here with node:crypto. */
function leaf(path, body) {
  const p = Buffer.from(path, 'utf8');
  const u64 = (n) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(n));
    return b;
  };
  return Buffer.from(nodeSha256(Buffer.from([0]), u64(p.length), p, u64(body.length), Buffer.from(nodeSha256(body), 'hex')), 'hex');
}
const node = (l, r) => Buffer.from(nodeSha256(Buffer.from([1]), l, r), 'hex');
const entry = (path, body) => ({ path, size: body.length, sha256: sha256(body) });

check('directory hash: empty, one file, odd nodes carried up, order of UTF-8 bytes', () => {
  equal(hex(directoryHash([])), nodeSha256(Buffer.from([2])), 'no files: SHA-256(0x02)');
  const a = utf8('{}'), b = utf8('xx'), c = utf8(''), d = utf8('d'), e = utf8('eeee');
  equal(hex(directoryHash([entry('a.json', a)])), leaf('a.json', a).toString('hex'), 'one file: its leaf');
  if (hex(directoryHash([entry('a.json', a)])) === nodeSha256(a)) throw new Error("a one-file directory's hash is the file's");
  const three = [entry('w/b.safetensors', b), entry('c', c), entry('a.json', a)];
  const want3 = node(node(leaf('a.json', a), leaf('c', c)), leaf('w/b.safetensors', b)).toString('hex');
  equal(hex(directoryHash(three)), want3, 'three files, given out of order');
  const five = [entry('e', e), entry('d', d), entry('c', c), entry('b', b), entry('a', a)];
  const [la, lb, lc, ld, le] = [leaf('a', a), leaf('b', b), leaf('c', c), leaf('d', d), leaf('e', e)];
  equal(hex(directoryHash(five)), node(node(node(la, lb), node(lc, ld)), le).toString('hex'), 'five files');
  // UTF-16 order puts U+1F600 (a surrogate pair, 0xD83D…) before U+FF61; UTF-8 bytes do not.
  const [x, y] = ['\uff61', '\u{1f600}'];
  equal(hex(directoryHash([entry(y, a), entry(x, b)])), node(leaf(x, b), leaf(y, a)).toString('hex'), 'sorted by UTF-8 bytes');
});

check('directory hash: names and bytes count, inputs are checked', () => {
  const base = [entry('a.json', utf8('{}')), entry('c', utf8(''))];
  const h = hex(directoryHash(base));
  if (hex(directoryHash([{ ...base[0], path: 'A.json' }, base[1]])) === h) throw new Error('a rename kept the hash');
  if (hex(directoryHash([entry('a.json', utf8('{ }')), base[1]])) === h) throw new Error('a change kept the hash');
  equal(hex(directoryHash([{ ...base[0], sha256: hex(base[0].sha256), size: 2n }, base[1]])), h, 'hex digest, BigInt size');
  for (const [path, why] of [['./a', /segment/], ['/a', /absolute/], ['a//b', /segment/], ['a/../b', /segment/], ['', /non-empty/], ['\ud800x', /surrogate/]]) {
    throwsWith(() => directoryHash([{ path, size: 0, sha256: sha256(utf8('')) }]), why);
  }
  throwsWith(() => directoryHash([base[0], base[0]]), /twice/);
  throwsWith(() => directoryHash([{ ...base[0], size: -1 }]), /byte count/);
  throwsWith(() => directoryHash([{ ...base[0], sha256: new Uint8Array(31) }]), /32 bytes/);
});

// --- §1 CBOR ---------------------------------------------------------------------------------

check('CBOR: each strictness rule is named, with its offset', () => {
  const cases = {
    '1817': 'cbor.non_minimal@0', '190017': 'cbor.non_minimal@0', '1a0000ffff': 'cbor.non_minimal@0',
    '1b00000000ffffffff': 'cbor.non_minimal@0', '5801ff': 'cbor.non_minimal@0', '8219ffff3800': 'cbor.non_minimal@4',
    '5fff': 'cbor.indefinite_length@0', '7fff': 'cbor.indefinite_length@0', '9fff': 'cbor.indefinite_length@0', 'bfff': 'cbor.indefinite_length@0',
    'a201000100': 'cbor.duplicate_key@3', 'a202000100': 'cbor.unsorted_keys@3', 'a21818001700': 'cbor.unsorted_keys@4',
    'a2200000f4': 'cbor.unsorted_keys@3', 'a261000000f4': 'cbor.unsorted_keys@4',
    '0000': 'cbor.trailing_bytes@1', '430102': 'cbor.truncated@0', '9b00000001000000000102': 'cbor.truncated@0',
    'bb0000000100000000': 'cbor.truncated@0', 'a30000': 'cbor.truncated@0', '1a00': 'cbor.truncated@0', '': 'cbor.truncated@0',
    '8200': 'cbor.truncated@0', '82004301': 'cbor.truncated@2',
    'fb3ff0000000000000': 'cbor.unsupported@0', 'f93c00': 'cbor.unsupported@0', 'f7': 'cbor.unsupported@0', 'f0': 'cbor.unsupported@0',
    'f818': 'cbor.unsupported@0', 'f8': 'cbor.unsupported@0', 'fb3ff0': 'cbor.unsupported@0',
    '1c': 'cbor.malformed@0', '3d': 'cbor.malformed@0', '1f': 'cbor.malformed@0', '3f': 'cbor.malformed@0', 'df': 'cbor.malformed@0',
    'ff': 'cbor.malformed@0', 'fc': 'cbor.malformed@0', '81ff': 'cbor.malformed@1',
    '62c328': 'cbor.invalid_utf8@0', '63eda080': 'cbor.invalid_utf8@0', '62c080': 'cbor.invalid_utf8@0',
  };
  for (const [input, want] of Object.entries(cases)) equal(cborOutcome(input), want, input);
});

check('CBOR: depth 16 decodes, 17 is refused, tags and maps count', () => {
  equal(cborOutcome(`${'81'.repeat(16)}00`), 'ok', '16 arrays');
  equal(cborOutcome(`${'81'.repeat(17)}00`), 'cbor.too_deep@17', '17 arrays');
  equal(cborOutcome(`${'d818'.repeat(8)}${'81'.repeat(8)}00`), 'ok', '8 tags and 8 arrays');
  equal(cborOutcome(`${'c1'.repeat(9)}${'81'.repeat(8)}00`), 'cbor.too_deep@17', '9 tags and 8 arrays');
  equal(cborOutcome(`${'a100'.repeat(16)}f6`), 'ok', '16 maps');
  equal(cborOutcome(`${'a100'.repeat(17)}f6`), 'cbor.too_deep@33', '17 maps: the keys of the last are at depth 17');
});

check('CBOR: the subset decodes and re-encodes to the same bytes', () => {
  for (const input of ['00', '17', '1818', '190100', '1a00010000', '1b0000000100000000', '1bffffffffffffffff', '20', '3bffffffffffffffff',
    '32', '420102', '40', '60', '63efbbbf', '6449455446', '80', 'a0', 'a301f50af620f4', 'a21700181800', 'a20000616100', 'f4', 'f5', 'f6',
    'd24100', 'db0000000100000000f6', '826161a1616100']) {
    equal(cborOutcome(input), 'ok', input);
  }
  equal(decodeCbor(unhex('63efbbbf')).value, '\ufeff', 'a leading BOM is the text');
  equal(hex(encodeCbor({ kind: 'map', value: [[{ kind: 'uint', value: 10n }, { kind: 'null' }], [{ kind: 'uint', value: 1n }, { kind: 'bool', value: true }]] })),
    'a201f50af6', 'the encoder sorts map keys');
});

// --- §5.1 Base45 -----------------------------------------------------------------------------

check('Base45: RFC 9285 examples and strict refusals', () => {
  for (const [text, want] of [['BB8', 'AB'], ['%69 VD92EX0', 'Hello!!'], ['QED8WEX0', 'ietf!'], ['', ''], ['FGW', '\xff\xff'], ['U5', '\xff']]) {
    equal(new TextDecoder('latin1').decode(base45Decode(text)), want, text);
  }
  const refusal = (text) => {
    try {
      base45Decode(text);
      return 'ok';
    } catch (e) {
      return `${e.rule}@${e.offset}`;
    }
  };
  equal(refusal('GGW'), 'qr.base45@0', 'a triple above 65535');
  equal(refusal('QED8WE::'), 'qr.base45@6', 'a final pair above 255');
  equal(refusal('V5'), 'qr.base45@0', 'a final pair of 256');
  equal(refusal('QEd8'), 'qr.base45@2', 'lowercase');
  equal(refusal('QED8'), 'qr.base45@3', 'a dangling character');
  equal(refusal('BB8 '), 'qr.base45@3', 'a trailing space dangles');
});

// --- §3 points, through the keyring's key check ----------------------------------------------

/** The rule a signer key breaks (rules 1–3), read from the keyring's refusal, or 'ok'. */
function keyRule(keyHex) {
  try {
    parseKeyring(`[[key]]\nname = "k"\ned25519 = "${keyHex}"\n`);
    return 'ok';
  } catch (e) {
    return /breaks (ed25519\.\w+)/.exec(e.message)?.[1] ?? e.message;
  }
}

check("§3 rules 1–3: the spec's eight small-order encodings, non-canonical and off-curve points", () => {
  const smallOrder = [
    `01${'00'.repeat(31)}`, `ec${'ff'.repeat(30)}7f`, '00'.repeat(32), `${'00'.repeat(31)}80`,
    'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
    '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
  ];
  for (const k of smallOrder) equal(keyRule(k), 'ed25519.small_order', k);
  for (const k of [`ed${'ff'.repeat(30)}7f`, `ee${'ff'.repeat(30)}7f`, `${'ff'.repeat(32)}`, `01${'00'.repeat(30)}80`, `ec${'ff'.repeat(31)}`]) {
    equal(keyRule(k), 'ed25519.non_canonical_point', k);
  }
  equal(keyRule(`02${'00'.repeat(31)}`), 'ed25519.invalid_point', 'y = 2');
  equal(keyRule('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'), 'ok', 'RFC 8032 TEST 1');
  equal(keyRule('3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c'), 'ok', 'RFC 8032 TEST 2');
});

// --- §7 keyrings -----------------------------------------------------------------------------

const PK1 = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const PK2 = '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c';

check('keyring: the §7 format, comments, escapes, offsets', () => {
  const ring = parseKeyring([
    '# trusted signers', '', '[[key]]  # the enclave', `name = "Assay \\"demo\\" enclave \\u00e9"`,
    `ed25519 = "${PK1.toUpperCase()}"  # whole`, 'valid_from = 2026-01-01T00:00:00Z', 'valid_until = 2027-01-01T01:00:00+01:00',
    'revoked_at = 2026-06-01 00:00:00.000z', '', '[[ key ]]', `  name = 'forge'`, `  ed25519 = '${PK2}'`,
  ].join('\r\n'));
  equal(ring.keys.map((k) => [k.name, k.ed25519]), [['Assay "demo" enclave é', PK1], ['forge', PK2]], 'names and keys');
  equal(ring.keys[0].valid_from, { text: '2026-01-01T00:00:00Z', seconds: 1767225600 }, 'valid_from');
  equal(ring.keys[0].valid_until.seconds, 1798761600, 'valid_until with an offset');
  equal(ring.keys[0].revoked_at.seconds, 1780272000, 'a zero fraction');
  equal(ring.keys[1].revoked_at, null, 'optional');
  equal(parseKeyring('# no keys\n').keys, [], 'an empty keyring');
});

check('keyring: every error says what and where', () => {
  const key = (extra, pk = PK1) => `[[key]]\nname = "a"\ned25519 = "${pk}"\n${extra}`;
  for (const [text, says] of [
    [key('', PK1.slice(0, 16)), /key 1 \(line 1\) "a": ed25519 must be the whole 32-byte key/],
    [key(`[[key]]\nname = "b"\ned25519 = "${PK1}"\n`), /key 2 \(line 4\) "b": the key d75a.* is listed twice \(also as "a"\)/],
    [key('valid_from = 2026-01-01\n'), /line 4: valid_from: a date without a time/],
    [key('valid_from = 2026-01-01T00:00:00\n'), /line 4: valid_from: 2026-01-01T00:00:00 has no offset/],
    [key('valid_from = 2026-02-30T00:00:00Z\n'), /line 4: .*not a valid date-time/],
    [key('valid_from = 2026-12-31T23:59:60Z\n'), /leap seconds/],
    [key('revoked_at = 2026-01-01T00:01:00.5Z\n'), /whole seconds/],
    [key('valid_from = "2026-01-01T00:00:00Z"\n'), /line 4: `valid_from` must be an unquoted RFC 3339 date-time/],
    [key('valid_from = 2026-01-01T00:00:00Z x\n'), /line 4: unexpected "x"/],
    [key('name = "b"\n'), /line 4: `name` is given twice/],
    [key('fingerprint = "d75a"\n'), /line 4: unknown field `fingerprint`/],
    [`[[key]]\nname = "a"\nkey = "${PK1}"\n`, /line 3: unknown field `key`/],
    ['[[key]]\nname = "a"\n', /key 1 \(line 1\): `ed25519` is missing/],
    [`name = "a"\n`, /line 1: `name` outside a \[\[key\]\] table/],
    ['[keys]\n', /line 1: \[keys\] is no \[\[key\]\] table/],
    ['[[key]]\nname = "a\n', /line 2: name: the string is not closed/],
    ['[[key]]\nname = """a"""\n', /multi-line strings/],
    ['[[key]]\nname = "\\q"\n', /unknown escape \\q/],
    ['[[key]]\nname = "\\ud800"\n', /not a Unicode scalar value/],
    ['[[key]]\nname = 3\n', /line 2: name: "3" is not a quoted string nor an RFC 3339 date-time/],
    ['[[key]]\nkey.name = "a"\n', /line 2: expected `field = value` with a bare field name/],
    [key('', `01${'00'.repeat(31)}`), /breaks ed25519\.small_order/],
  ]) {
    throwsWith(() => parseKeyring(text), says);
  }
});

check('trust: times compare exactly, in whole seconds', async () => {
  const inputs = [{ cbor: unhex(vector('golden-enclave').inputs[0].cbor) }]; // links dated 00:00, 00:01, 00:02
  const trust = async (field, time) => (await verify(inputs, { keyring: `[[key]]\nname = "e"\ned25519 = "${PK1}"\n${field} = ${time}\n` }))
    .trust.map((t) => t.name ?? t.rule);
  equal(await trust('revoked_at', '2026-01-01T00:01:00Z'), ['e', 'trust.revoked', 'trust.revoked'], 'revoked at 60 s, inclusive');
  equal(await trust('revoked_at', '2026-01-01T00:01:01Z'), ['e', 'e', 'trust.revoked'], 'revoked at 61 s');
  equal(await trust('revoked_at', '2026-01-01T01:01:00+01:00'), ['e', 'trust.revoked', 'trust.revoked'], 'an offset');
  equal(await trust('valid_from', '2026-01-01T00:00:01Z'), ['trust.not_yet_valid', 'e', 'e'], 'valid from 1 s');
  equal(await trust('valid_until', '2026-01-01T00:01:59Z'), ['e', 'e', 'trust.expired'], 'valid until 119 s');
  equal(await trust('valid_until', '2026-01-01T00:01:00Z'), ['e', 'e', 'trust.expired'], 'valid until 60 s, inclusive');
  const unknown = await verify(inputs, { keyring: `[[key]]\nname = "f"\ned25519 = "${PK2}"\n` });
  equal(unknown.trust.map((t) => [t.link, t.name, t.rule]), [0, 1, 2].map((i) => [i, null, 'trust.unknown']), 'unknown signer');
});

// --- golden vectors, byte for byte -----------------------------------------------------------

check('golden vectors: ids, Sig_structures, parts, Base45 and texts as spelled out', async () => {
  for (const name of ['golden-enclave', 'golden-long-qr']) {
    const { spelled_out: s } = vector(name);
    const verdict = await verify([{ cbor: unhex(s.chain_file) }]);
    equal([verdict.valid, verdict.complete, verdict.links.map((l) => l.id)], [true, true, s.links.map((l) => l.id)], `${name}: chain file`);
    for (const l of s.links) {
      const bytes = (v) => ({ kind: 'bytes', value: unhex(v) });
      const fields = [{ kind: 'text', value: 'Signature1' }, bytes('a10132'), bytes(hex(utf8('assay-alloy/1'))), bytes(l.payload)];
      const tbs = encodeCbor({ kind: 'array', value: fields });
      equal(hex(tbs), l.sig_structure, `${name}: Sig_structure of ${l.id}`);
      equal(hex(sha256(unhex(l.cose_sign1))), l.id, `${name}: id`);
    }
    for (const p of s.parts) {
      equal(hex(base45Decode(p.base45)), p.cbor, `${name}: Base45`);
      equal([p.text, base45(unhex(p.cbor))], [`AL1:${p.base45}`, p.base45], `${name}: text`);
    }
    equal((await verify(s.parts.map((p) => ({ text: p.text })))).links.map((l) => l.id), s.links.map((l) => l.id), `${name}: codes`);
  }
});

check("the worked example: golden-enclave's first link, shown with the names of §2.2", async () => {
  const { links, head, parts } = await verify([{ cbor: unhex(vector('golden-enclave').inputs[0].cbor) }]);
  equal(links[0], {
    part: 1, id: 'e82d7b61fa4104599010f4bf2f76dbf5785cc9aac1ac4efe385f2b788a7031c3', type: 'dataset', prev: null,
    input_hash: '5e8c9902207afaeb7120430c585a445f21e92932081d64bc99f80e4925bcb002',
    output_hash: '57b60d065306fd8db86d0223f9cf35ac5fcdfd22be42e365ca488e9cf496e9dd',
    signer: PK1, timestamp: 1767225600,
    stage: { contributions: 4, job: '5e8c9902207afaeb7120430c585a445f21e92932081d64bc99f80e4925bcb002' },
  }, 'link 0');
  equal([links.map((l) => l.type), head, parts], [['dataset', 'adapter', 'eval'], links[2].id, { count: 1, received: [1] }], 'chain');
  const custom = await verify([{ cbor: unhex(vector('cose-eddsa-accepted').inputs[0].cbor) }]);
  equal(custom.valid, true, 'EdDSA accepted');
});

// --- §6 edge cases ---------------------------------------------------------------------------

check('§6: inputs that are not parts', async () => {
  equal((await verify([])).rules, ['chain.empty'], 'no input');
  equal((await verify([{ cbor: new Uint8Array((1 << 20) + 1) }])).rules, ['input.too_large'], 'a file over 1 MiB');
  const text = vector('golden-enclave').spelled_out.parts[0].text;
  equal((await verify([{ text: `${text} ` }])).rules, ['qr.base45'], 'a trailing space is not trimmed');
  equal((await verify([{ text: `AL1:${base45(unhex('8501010140' + '80'))}` }])).rules, ['qr.part'], 'an empty head and no link');
  equal((await verify([{ text: `AL1:${base45(new Uint8Array([0, 0]))}` }])).rules, ['cbor.trailing_bytes'], 'two items');
  await verify([{ bytes: new Uint8Array(1) }]).then(() => { throw new Error('accepted'); }, (e) => {
    if (!/input 0 is neither/.test(e.message)) throw e;
  });
});

check('§6: a part count above 64 is no part (so a code cannot claim 2^64 − 1 parts)', async () => {
  const links = linksOf(vector('golden-enclave').inputs[0].cbor);
  const head = unhex('00'.repeat(32));
  const v = await verify([{ cbor: part(1, 2n ** 64n - 1n, head, links.slice(0, 1)) }]);
  equal(v.findings.map((f) => f.rule), ['qr.part'], 'findings');
  const ok = await verify([{ cbor: part(1, 64n, head, links.slice(0, 1)) }]);
  equal(ok.findings.filter((f) => f.rule === 'qr.part').length, 0, '64 parts is a part');
});

check('§6: a missing part is reported even when the next link does not decode', async () => {
  const s = vector('golden-long-qr').spelled_out;
  const [first, ...rest] = linksOf(s.parts[2].cbor);
  const untagged = first.value; // the COSE array without its tag 18
  const v = await verify([{ cbor: part(3, 3, decodeCbor(unhex(s.parts[2].cbor)).value[3].value, [untagged, ...rest]) }]);
  equal([v.valid, v.complete, v.rules], [false, false, ['cose.structure', 'qr.missing']], 'verdict');
  equal(v.findings.filter((f) => f.rule === 'qr.missing').map((f) => f.detail), ['parts 1–2 of 3 are missing (before link 0)'], 'unnamed');
});

check('§6 step 6: a fork is reported for every later link with the signer and prev of an earlier, different one', async () => {
  const [dataset, adapter1, adapter2] = linksOf(vector('chain-fork').inputs[0].cbor);
  const v = await verify([{ cbor: part(1, 1, unhex('00'.repeat(32)), [dataset, adapter1, adapter2, adapter1]) }]);
  equal(v.findings.filter((f) => f.rule === 'chain.fork').map((f) => f.link), [2, 3], 'forks');
});

check('§2: a link is checked shape first, then values, field by field (version first)', async () => {
  const b = (n, fill = 0) => ({ kind: 'bytes', value: new Uint8Array(n).fill(fill) });
  const u = (n) => ({ kind: 'uint', value: BigInt(n) });
  const map = (entries = []) => ({ kind: 'map', value: entries });
  const payload = (over = {}) => {
    const f = { version: u(1), type: u(3), prev: { kind: 'null' }, input: b(32), stage: map(), output: b(32), signer: b(32, 1), time: u(0), ...over };
    return encodeCbor({ kind: 'array', value: Object.values(f) });
  };
  const sign1 = (fields) => ({ kind: 'tag', tag: 18n, value: { kind: 'array', value: fields } });
  const link = (p, { alg = 'a10132', unprotected = [], sig = 64 } = {}) => sign1([{ kind: 'bytes', value: unhex(alg) }, map(unprotected), { kind: 'bytes', value: p }, b(sig)]);
  const rulesOf = async (l) => (await verify([{ cbor: part(1, 1, unhex('00'.repeat(32)), [l]) }])).findings[0].rule;
  const badStage = map([[u(9), u(0)]]);
  for (const [what, l, want] of [
    ['a 63-byte signature under another algorithm', link(payload(), { alg: 'a10126', sig: 63 }), 'cose.structure'],
    ['another algorithm and a non-empty unprotected header', link(payload(), { alg: 'a10126', unprotected: [[u(4), b(1)]] }), 'cose.algorithm'],
    ['version 2 with 7 fields', link(encodeCbor({ kind: 'array', value: [u(2), u(3)] })), 'link.version'],
    ['type 7 and a 31-byte input_hash', link(payload({ type: u(7), input: b(31) })), 'link.structure'],
    ['a bad stage key and a 31-byte signer', link(payload({ stage: badStage, signer: b(31) })), 'link.structure'],
    ['type 7 and a bad stage key', link(payload({ type: u(7), stage: badStage })), 'link.type'],
    ['a text stage key in a custom link', link(payload({ type: u(0xff), stage: map([[{ kind: 'text', value: 'k' }, u(0)]]) })), 'link.stage'],
    ['a detached (null) payload', sign1([{ kind: 'bytes', value: unhex('a10132') }, map(), { kind: 'null' }, b(64)]), 'cose.structure'],
    ['a link wrapped in a byte string', { kind: 'bytes', value: new Uint8Array(4) }, 'cose.structure'],
  ]) {
    equal(await rulesOf(l), want, what);
  }
});

check('RULES names every code the vectors use', () => {
  for (const f of ['cbor.truncated', 'chain.fork', 'qr.missing', 'trust.expired']) if (!RULES[f]) throw new Error(f);
  equal(Object.keys(RULES).length, 40, 'count');
});

/** Replaces globalThis.crypto by one whose subtle has no Ed25519 (as in a browser without it). */
function withoutWebCryptoEd25519() {
  const real = Object.getOwnPropertyDescriptor(globalThis, 'crypto');
  const isEd = (alg) => /^ed25519$/i.test(typeof alg === 'string' ? alg : alg?.name ?? '');
  const refuse = () => Promise.reject(new DOMException('Algorithm: Unrecognized name', 'NotSupportedError'));
  const subtle = {
    importKey: (format, key, alg, ...rest) => (isEd(alg) ? refuse() : real.value.subtle.importKey(format, key, alg, ...rest)),
    verify: (alg, ...rest) => (isEd(alg) ? refuse() : real.value.subtle.verify(alg, ...rest)),
  };
  Object.defineProperty(globalThis, 'crypto', { value: { subtle }, configurable: true });
  return () => Object.defineProperty(globalThis, 'crypto', real);
}

check('Ed25519: WebCrypto where it has Ed25519, else the vendored noble, detected once', async () => {
  const golden = [{ cbor: unhex(vector('golden-enclave').inputs[0].cbor) }];
  useEd25519('auto');
  equal(await ed25519Implementation(), 'webcrypto', "Node's WebCrypto has Ed25519");
  const restore = withoutWebCryptoEd25519();
  try {
    useEd25519('auto');
    equal(await ed25519Implementation(), 'noble', 'detected: no Ed25519 in WebCrypto');
    equal((await verify(golden)).valid, true, 'golden-enclave with noble');
    useEd25519('webcrypto');
    await verify(golden).then(() => { throw new Error('verified'); }, (e) => {
      if (!/WebCrypto has no Ed25519/.test(e.message)) throw e;
    });
    // No WebCrypto at all (an insecure context): noble still verifies.
    Object.defineProperty(globalThis, 'crypto', { value: undefined, configurable: true });
    useEd25519('auto');
    equal(await ed25519Implementation(), 'noble', 'detected: no crypto.subtle');
    equal((await verify(golden)).valid, true, 'golden-enclave without crypto.subtle');
  } finally {
    restore();
    useEd25519('auto');
  }
  throwsWith(() => useEd25519('dalek'), /not 'webcrypto', 'noble' or 'auto'/);
});

/**
 * A one-link chain file signed here by hand with noble's point arithmetic, so that R and the
 * signer key can carry a torsion component: secret scalar `a`, nonce `r`, `keyTorsion` and
 * `rTorsion` added to A and R (null: none).
 */
async function handSigned({ a, r, keyTorsion = null, rTorsion = null, timestamp = 1767225600 }) {
  const { ed25519 } = await import('../vendor/noble-curves/ed25519.js');
  const { sha512 } = await import('../vendor/noble-hashes/sha2.js');
  const { Point } = ed25519;
  const L = Point.Fn.ORDER;
  const le = (bytes) => bytes.reduceRight((n, b) => (n << 8n) | BigInt(b), 0n);
  const u = (n) => ({ kind: 'uint', value: BigInt(n) });
  const b = (bytes) => ({ kind: 'bytes', value: bytes });
  let A = Point.BASE.multiply(a);
  if (keyTorsion) A = A.add(keyTorsion);
  const signer = A.toBytes();
  const protectedHeader = unhex('a10132');
  const payload = encodeCbor({ kind: 'array', value: [u(1), u(3), { kind: 'null' }, b(new Uint8Array(32)), { kind: 'map', value: [] }, b(new Uint8Array(32).fill(9)), b(signer), u(timestamp)] });
  const message = encodeCbor({ kind: 'array', value: [{ kind: 'text', value: 'Signature1' }, b(protectedHeader), b(utf8('assay-alloy/1')), b(payload)] });
  let R = Point.BASE.multiply(r);
  if (rTorsion) R = R.add(rTorsion);
  const rBytes = R.toBytes();
  const k = le(sha512(new Uint8Array([...rBytes, ...signer, ...message]))) % L;
  const s = (r + k * a) % L;
  const signature = new Uint8Array(64);
  signature.set(rBytes);
  for (let i = 0, n = s; i < 32; i++, n >>= 8n) signature[32 + i] = Number(n & 0xffn);
  const link = { kind: 'tag', tag: 18n, value: { kind: 'array', value: [b(protectedHeader), { kind: 'map', value: [] }, b(payload), b(signature)] } };
  return { file: part(1, 1, sha256(encodeCbor(link)), [link]), k, signer, message, signature, ed25519 };
}

check('Ed25519: noble gives verify_strict\'s cofactorless verdict where the cofactored one differs', async () => {
  const { ED25519_TORSION_SUBGROUP, ed25519 } = await import('../vendor/noble-curves/ed25519.js');
  const T8 = ed25519.Point.fromHex(ED25519_TORSION_SUBGROUP[1]); // a point of order 8
  equal([T8.multiplyUnsafe(4n).is0(), T8.multiplyUnsafe(8n).is0()], [false, true], 'T8 has order 8');
  const a = 0x1d2c3b4a59687786954a3b2c1d0e0f1e2d3c4b5a69788796a5b4c3d2e1f0e1n;
  const r = 0x0badc0ffee0ddf00d5eed5eed5eedbeefcafe1234567890abcdef12345678n;
  // k ≡ 0 mod 8 makes [k]T8 vanish: with a torsioned key the cofactorless equation then holds.
  let kZero = null, kNonZero = null;
  for (let t = 1767225600; kZero === null || kNonZero === null; t++) {
    const c = await handSigned({ a, r, keyTorsion: T8, timestamp: t });
    if (c.k % 8n === 0n) kZero ??= c;
    else kNonZero ??= c;
  }
  const cases = [
    ['an honest signature', await handSigned({ a, r }), []],
    ['R with a torsion component (mixed order)', await handSigned({ a, r, rTorsion: T8 }), ['ed25519.bad_signature']],
    ['a mixed-order key, k ≢ 0 mod 8', kNonZero, ['ed25519.bad_signature']],
    ['a mixed-order key, k ≡ 0 mod 8', kZero, []],
  ];
  try {
    for (const impl of ['webcrypto', 'noble']) {
      useEd25519(impl);
      for (const [what, c, want] of cases) equal((await verify([{ cbor: c.file }])).rules, want, `${what} (${impl})`);
    }
  } finally {
    useEd25519('auto');
  }
  // Why alloy.js does not call ed25519.verify: even strict, it is cofactored and accepts these.
  const cofactored = cases.slice(1, 3).map(([, c]) => ed25519.verify(c.signature, c.message, c.signer, { zip215: false }));
  console.log(`       (noble's ed25519.verify with zip215: false accepts the two refused above: ${cofactored.join(', ')})`);
});

// --- run -------------------------------------------------------------------------------------

/**
 * Streaming SHA-256 over `--bench-mib` (default 256) MiB: JavaScript and WebAssembly, through
 * Sha256.update in 1 MiB chunks and through hashFile(Blob); node's OpenSSL as the peer. Best of
 * 3 by the clock, and by the process's CPU time (steadier on a shared machine).
 */
async function bench() {
  const at = process.argv.indexOf('--bench-mib');
  const mib = at > 0 ? Number(process.argv[at + 1]) : 256;
  const size = mib << 20;
  const data = noise(size);
  const want = nodeSha256(data);
  const blob = new Blob([data]); // made once: Node copies the bytes into it
  await loadSha256Wasm();
  const runs = [];
  for (const impl of ['js', 'wasm']) {
    runs.push([`Sha256.update, 1 MiB chunks (${impl})`, impl, async () => {
      const h = new Sha256();
      for (let i = 0; i < size; i += 1 << 20) h.update(data.subarray(i, i + (1 << 20)));
      return h.digest();
    }]);
    runs.push([`hashFile(Blob) (${impl})`, impl, () => hashFile(blob)]);
  }
  runs.push(['peer: node:crypto createHash (OpenSSL)', 'auto', () => createHash('sha256').update(data).digest()]);
  for (const [what, impl, run] of runs) {
    useSha256(impl);
    let [wall, cpu] = [Infinity, Infinity];
    for (let i = 0; i < 3; i++) {
      const [t, c] = [performance.now(), process.cpuUsage()];
      if (hex(await run()) !== want) throw new Error(`${what}: wrong digest`);
      const u = process.cpuUsage(c);
      wall = Math.min(wall, performance.now() - t);
      cpu = Math.min(cpu, (u.user + u.system) / 1000);
    }
    const rate = (ms) => (size / 1e6 / (ms / 1000)).toFixed(0);
    console.log(`bench  ${what}: ${mib} MiB in ${(wall / 1000).toFixed(2)} s, ${rate(wall)} MB/s (best of 3; by CPU time ${rate(cpu)} MB/s)`);
  }
  useSha256('auto');
}

let failed = 0;
let skipped = 0;
for (const [name, fn] of checks) {
  try {
    await fn();
    console.log(`ok     ${name}`);
  } catch (e) {
    if (e instanceof Skip) {
      skipped++;
      console.log(`SKIPPED ${name}: ${e.message}`);
      continue;
    }
    failed++;
    console.log(`FAIL   ${name}: ${e.message}`);
  }
}
console.log(`${checks.length - failed - skipped} of ${checks.length} checks pass${skipped ? `, ${skipped} SKIPPED (see above)` : ''}`);
if (process.argv.includes('--bench')) await bench();
process.exit(failed ? 1 : 0);
