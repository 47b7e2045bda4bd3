/**
 * rehash.js: the content hashes of docs/alloy.md §4 for files chosen in the page, streamed
 * with alloy.js's `hashFile` (never a file whole in memory). Used by rehash-worker.js, and by
 * the page itself where module workers are missing.
 *
 * SPDX-License-Identifier: Apache-2.0
 *
 * `rehash(groups, onProgress, {open})`: `groups` is a list of `{kind: 'file', name, file}` (a file's
 * hash: SHA-256 of its bytes) and `{kind: 'directory', name, files: [{path, file}]}` (the
 * directory hash of its files, `path` relative to the directory's root). `onProgress(done,
 * total)` is called with the bytes hashed so far over all groups. Resolves to one result per
 * group, `{kind, name, hash, bytes, files}` (`files`: each `{path, size, sha256}` of a
 * directory, sorted by path; hashes in hex). Files are hashed with sha256.wasm where it loads
 * (alloy.js's `hashFile`), else in JavaScript; `sha256Implementation()` says which. `open(file)`,
 * optional, gives what hashFile reads for a file (a ReadableStream; default: the file itself).
 */

import { directoryHash, hashFile, hex } from './alloy.js';

export async function rehash(groups, onProgress, { open } = {}) {
  const total = groups.reduce((sum, g) => sum + (g.kind === 'file' ? g.file.size : g.files.reduce((s, f) => s + f.file.size, 0)), 0);
  let before = 0;
  const one = async (file) => {
    const start = before;
    const digest = await hashFile(open ? open(file) : file, (done) => onProgress?.(start + done, total));
    before = start + file.size;
    onProgress?.(before, total);
    return digest;
  };
  const results = [];
  for (const g of groups) {
    if (g.kind === 'file') {
      results.push({ kind: 'file', name: g.name, hash: hex(await one(g.file)), bytes: g.file.size, files: null });
      continue;
    }
    const files = [];
    for (const { path, file } of g.files) files.push({ path, size: file.size, sha256: await one(file) });
    const hash = hex(directoryHash(files));
    const listed = files.map((f) => ({ path: f.path, size: f.size, sha256: hex(f.sha256) }));
    listed.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    results.push({ kind: 'directory', name: g.name, hash, bytes: files.reduce((s, f) => s + f.size, 0), files: listed });
  }
  onProgress?.(total, total);
  return results;
}
