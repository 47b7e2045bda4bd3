// Runs the alloy vectors (docs/alloy.md §9) through web/alloy.js.
//
//   node web/test/vectors.mjs DIR           prints {name: {valid, complete, rules, missing, trust}}
//   node web/test/vectors.mjs --check DIR   also compares with each vector's `expect`; exits 1
//                                           listing the disagreements
//   --ed25519 webcrypto|noble|both          which Ed25519 checks §3 rule 5 (default: what alloy.js
//                                           detects, WebCrypto in Node). noble: WebCrypto's Ed25519
//                                           is removed first (importKey and verify throw
//                                           NotSupportedError for it), so alloy.js's feature
//                                           detection must fall back to the vendored
//                                           @noble/curves. both: every vector through each, and
//                                           exits 1 unless the verdicts are identical (the JSON
//                                           printed is WebCrypto's).
//
// Without --check (and without --ed25519 both) it exits 0 whatever the outcomes (the Rust tests
// compare the printed JSON); it exits 2 when it cannot run (no directory, a vector that does not
// parse, verify throwing).
//
// SPDX-License-Identifier: Apache-2.0

import { readdirSync, readFileSync } from 'node:fs';
import { register } from 'node:module';
import { join } from 'node:path';
import { ed25519Implementation, unhex, useEd25519, verify } from '../alloy.js';
import { webcrypto } from 'node:crypto';

// Node 18 (Debian bookworm's) has WebCrypto, but not as a global; alloy.js looks it up there.
globalThis.crypto ??= webcrypto;
// The vendored @noble/curves imports @noble/hashes by its bare name (the page has an import map).
register('./noble-resolve.mjs', import.meta.url);

const realCrypto = Object.getOwnPropertyDescriptor(globalThis, 'crypto');

/** WebCrypto as it is, or without Ed25519 (as in a browser that lacks it), then detection again. */
function ed25519Mode(mode) {
  Object.defineProperty(globalThis, 'crypto', realCrypto);
  if (mode === 'noble') {
    const real = globalThis.crypto;
    const isEd = (alg) => /^ed25519$/i.test(typeof alg === 'string' ? alg : alg?.name ?? '');
    const refuse = () => Promise.reject(new DOMException('Algorithm: Unrecognized name', 'NotSupportedError'));
    const subtle = new Proxy(real.subtle, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target);
        if (prop === 'importKey') return (format, key, alg, ...rest) => (isEd(alg) ? refuse() : value.call(target, format, key, alg, ...rest));
        if (prop === 'verify' || prop === 'generateKey') return (alg, ...rest) => (isEd(alg) ? refuse() : value.call(target, alg, ...rest));
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    Object.defineProperty(globalThis, 'crypto', { value: { subtle, getRandomValues: (a) => real.getRandomValues(a) }, configurable: true });
  }
  useEd25519('auto');
}

/** A vector's outcome in its `expect` format. */
async function outcome(vector) {
  const inputs = vector.inputs.map((i) => ('cbor' in i ? { cbor: unhex(i.cbor) } : { text: i.text }));
  const verdict = await verify(inputs, { keyring: vector.keyring });
  const missing = verdict.findings.filter((f) => f.rule === 'qr.missing' && f.missing).map((f) => f.missing);
  return {
    valid: verdict.valid,
    complete: verdict.complete,
    rules: verdict.rules,
    missing: [...new Set(missing)].sort(),
    trust: (verdict.trust ?? []).map((t) => t.name ?? t.rule),
  };
}

/** Whether two outcomes agree (key order aside). */
function agree(got, want) {
  const fields = ['valid', 'complete', 'rules', 'missing', 'trust'];
  return fields.every((f) => JSON.stringify(got[f]) === JSON.stringify(want[f]));
}

function parseArgs(argv) {
  const opts = { check: false, ed25519: null, dirs: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--check') opts.check = true;
    else if (argv[i] === '--ed25519') opts.ed25519 = argv[++i];
    else opts.dirs.push(argv[i]);
  }
  if (opts.dirs.length !== 1 || (opts.ed25519 !== null && !['webcrypto', 'noble', 'both'].includes(opts.ed25519))) {
    throw new Error('usage: node web/test/vectors.mjs [--check] [--ed25519 webcrypto|noble|both] DIR');
  }
  return opts;
}

/** Every vector's outcome, with the Ed25519 of `mode` (null: as detected). */
async function runAll(dir, files, mode) {
  if (mode) ed25519Mode(mode);
  const impl = await ed25519Implementation();
  if (mode && impl !== mode) throw new Error(`alloy.js checks Ed25519 with ${impl}, not ${mode}`);
  const results = {};
  for (const file of files) {
    let vector;
    try {
      vector = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    } catch (e) {
      throw new Error(`${file}: ${e.message}`);
    }
    results[vector.name] = { vector, got: await outcome(vector).catch((e) => {
      throw new Error(`${file} (${vector.name}) with ${impl}: ${e.message}`);
    }) };
  }
  return { impl, results };
}

async function main(argv) {
  const opts = parseArgs(argv);
  const dir = opts.dirs[0];
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  if (files.length === 0) throw new Error(`no vector (*.json) in ${dir}`);
  const modes = opts.ed25519 === 'both' ? ['webcrypto', 'noble'] : [opts.ed25519];
  const runs = [];
  for (const mode of modes) runs.push(await runAll(dir, files, mode));
  const { results } = runs[0];
  console.log(JSON.stringify(Object.fromEntries(Object.entries(results).map(([n, r]) => [n, r.got])), null, 2));
  let failed = false;
  if (runs.length === 2) {
    const differ = Object.keys(results).filter((n) => JSON.stringify(results[n].got) !== JSON.stringify(runs[1].results[n]?.got));
    for (const n of differ) {
      console.error(`DIFFER ${n}\n  ${runs[0].impl} ${JSON.stringify(results[n].got)}\n  ${runs[1].impl} ${JSON.stringify(runs[1].results[n]?.got)}`);
    }
    console.error(`${files.length - differ.length} of ${files.length} vectors: identical verdicts with ${runs[0].impl} and ${runs[1].impl}`);
    failed ||= differ.length > 0;
  }
  if (opts.check) {
    for (const run of runs) {
      const disagreements = Object.entries(run.results).filter(([, r]) => !agree(r.got, r.vector.expect));
      for (const [name, r] of disagreements) {
        console.error(`DISAGREE ${name} (${run.impl})\n  got  ${JSON.stringify(r.got)}\n  want ${JSON.stringify(r.vector.expect)}`);
      }
      console.error(`${files.length - disagreements.length} of ${files.length} vectors agree (Ed25519: ${run.impl})`);
      failed ||= disagreements.length > 0;
    }
  }
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(`vectors.mjs: ${e.message}`);
    process.exit(2);
  },
);
