// Refreshes the vendored @noble/curves and @noble/hashes (see README.md here):
//
//   node web/vendor/refresh-noble.mjs VERSION      e.g. 2.4.0 (both packages are released together)
//
// It runs `npm pack @noble/curves@VERSION @noble/hashes@VERSION` in a scratch folder, prints
// each tarball's sha512 integrity (compare it with `npm view @noble/curves@VERSION
// dist.integrity`), and copies into noble-curves/ and noble-hashes/, unchanged, the package's
// LICENSE and package.json and the ESM files ed25519.js needs: ed25519.js and every file it
// imports, transitively (relative imports, and `@noble/hashes/…`, which index.html's import map
// resolves). Then it rewrites SHA256SUMS (every vendored file, jsQR's included). Update the
// versions in README.md, web/README.md, web/index.html's footer and alloy.js's loadNoble
// comment, and run web/test/unit.mjs, vectors.mjs --ed25519 both and browser.mjs.
//
// SPDX-License-Identifier: Apache-2.0

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const VENDOR = dirname(fileURLToPath(import.meta.url));

/** The files `entry` imports (static `import`/`export … from`), transitively, within `roots`. */
function closure(roots, entry) {
  const seen = new Set();
  const todo = [entry];
  while (todo.length) {
    const file = todo.pop();
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\s(?:[^'";]*?\sfrom\s)?['"]([^'"]+)['"]/gm)) {
      const spec = m[1];
      if (spec.startsWith('.')) todo.push(join(dirname(file), spec));
      else {
        const pkg = /^@noble\/(curves|hashes)\/(.+)$/.exec(spec);
        if (!pkg) throw new Error(`${file} imports ${spec}, which is not vendored`);
        todo.push(join(roots[pkg[1]], pkg[2]));
      }
    }
    if (/\bimport\s*\(/.test(text.replace(/\/\/.*|\/\*[\s\S]*?\*\//g, ''))) throw new Error(`${file} has a dynamic import: check it by hand`);
  }
  return [...seen];
}

function sums() {
  const files = [];
  const walk = (dir) => {
    for (const name of readdirSync(join(VENDOR, dir)).sort()) {
      const path = join(dir, name);
      if (statSync(join(VENDOR, path)).isDirectory()) walk(path);
      else files.push(path);
    }
  };
  for (const dir of ['jsqr', 'noble-curves', 'noble-hashes']) walk(dir);
  return files.sort().map((f) => `${createHash('sha256').update(readFileSync(join(VENDOR, f))).digest('hex')}  ${f}\n`).join('');
}

function main([version]) {
  if (!/^\d+\.\d+\.\d+$/.test(version ?? '')) throw new Error('usage: node web/vendor/refresh-noble.mjs VERSION (e.g. 2.4.0)');
  const scratch = mkdtempSync(join(tmpdir(), 'noble-'));
  try {
    execFileSync('npm', ['pack', '--silent', `@noble/curves@${version}`, `@noble/hashes@${version}`], { cwd: scratch, stdio: ['ignore', 'ignore', 'inherit'] });
    const roots = {};
    for (const name of ['curves', 'hashes']) {
      const tgz = join(scratch, `noble-${name}-${version}.tgz`);
      console.log(`@noble/${name}@${version}: sha512-${createHash('sha512').update(readFileSync(tgz)).digest('base64')}`);
      mkdirSync(join(scratch, name));
      execFileSync('tar', ['xzf', tgz, '-C', join(scratch, name)]);
      roots[name] = join(scratch, name, 'package');
    }
    const needed = closure(roots, join(roots.curves, 'ed25519.js'));
    for (const name of ['curves', 'hashes']) {
      const out = join(VENDOR, `noble-${name}`);
      rmSync(out, { recursive: true, force: true });
      const files = ['LICENSE', 'package.json', ...needed.filter((f) => f.startsWith(roots[name] + '/')).map((f) => relative(roots[name], f))];
      for (const f of files.sort()) {
        mkdirSync(dirname(join(out, f)), { recursive: true });
        copyFileSync(join(roots[name], f), join(out, f));
      }
      console.log(`noble-${name}/: ${files.join(' ')}`);
    }
    writeFileSync(join(VENDOR, 'SHA256SUMS'), sums());
    console.log('SHA256SUMS rewritten');
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

try {
  main(process.argv.slice(2));
} catch (e) {
  console.error(`refresh-noble.mjs: ${e.message}`);
  process.exit(1);
}
