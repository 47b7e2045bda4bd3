// Runs the alloy vectors (docs/alloy.md §9) through web/alloy.js.
//
//   node web/test/vectors.mjs DIR           prints {name: {valid, complete, rules, missing, trust}}
//   node web/test/vectors.mjs --check DIR   also compares with each vector's `expect`; exits 1
//                                           listing the disagreements
//
// Without --check it exits 0 whatever the outcomes (the Rust tests compare the printed JSON);
// it exits 2 when it cannot run (no directory, a vector that does not parse, verify throwing).
//
// SPDX-License-Identifier: Apache-2.0

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { unhex, verify } from '../alloy.js';
import { webcrypto } from 'node:crypto';

// Node 18 (Debian bookworm's) has WebCrypto, but not as a global; alloy.js looks it up there.
globalThis.crypto ??= webcrypto;

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

async function main(argv) {
  const check = argv.includes('--check');
  const dirs = argv.filter((a) => a !== '--check');
  if (dirs.length !== 1) throw new Error('usage: node web/test/vectors.mjs [--check] DIR');
  const files = readdirSync(dirs[0]).filter((f) => f.endsWith('.json')).sort();
  if (files.length === 0) throw new Error(`no vector (*.json) in ${dirs[0]}`);
  const results = {};
  const disagreements = [];
  for (const file of files) {
    let vector;
    try {
      vector = JSON.parse(readFileSync(join(dirs[0], file), 'utf8'));
    } catch (e) {
      throw new Error(`${file}: ${e.message}`);
    }
    const got = await outcome(vector).catch((e) => {
      throw new Error(`${file} (${vector.name}): ${e.message}`);
    });
    results[vector.name] = got;
    if (check && !agree(got, vector.expect)) disagreements.push({ name: vector.name, got, want: vector.expect });
  }
  console.log(JSON.stringify(results, null, 2));
  if (!check) return 0;
  for (const d of disagreements) {
    console.error(`DISAGREE ${d.name}\n  got  ${JSON.stringify(d.got)}\n  want ${JSON.stringify(d.want)}`);
  }
  console.error(`${files.length - disagreements.length} of ${files.length} vectors agree`);
  return disagreements.length === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(`vectors.mjs: ${e.message}`);
    process.exit(2);
  },
);
