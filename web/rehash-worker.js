/**
 * rehash-worker.js: runs rehash.js off the page's main thread (a module worker), so that the
 * page stays responsive while gigabytes are hashed. Files of 4 MiB or more are read on a third
 * thread (rehash-reader.js, a worker this one starts) while this one hashes: reading a file costs
 * the reading thread about a third of what hashing it does, and this way the two overlap. Where
 * that worker cannot start (a browser without workers in workers), files are read here.
 *
 * Messages in: `{groups, sha256}` (groups: see rehash.js; sha256, optional: 'js', 'wasm' or
 * 'auto', alloy.js's useSha256, for comparisons; the page sends none). Out: `{type: 'ready'}`,
 * `{type: 'progress', done, total}` (at most every 50 ms), then `{type: 'done', results,
 * sha256, reader}` (sha256: 'wasm' or 'js', which SHA-256 hashed; reader: 'worker' or 'here',
 * where the files were read) or `{type: 'error', message}`.
 *
 * SPDX-License-Identifier: Apache-2.0
 */

import { sha256Implementation, useSha256 } from './alloy.js';
import { rehash } from './rehash.js';

/** Files below this are read here: a reader round trip is not worth it for them. */
const READ_ELSEWHERE = 4 << 20;
/** Chunks the reader may send ahead of the hashing (each at most a few MiB). */
const AHEAD = 4;

let readerWorker; // a Promise of the reader worker, or of null where it cannot start
const reading = new Set(); // a callback per file being read there, told if the reader fails

/** The reader worker, started once; null where it cannot start. */
function startReader() {
  readerWorker ??= new Promise((resolve) => {
    let worker;
    try {
      worker = new Worker(new URL('./rehash-reader.js', import.meta.url), { type: 'module' });
    } catch {
      resolve(null);
      return;
    }
    worker.onmessage = ({ data }) => {
      if (data?.type === 'ready') resolve(worker);
    };
    worker.onerror = (e) => {
      e.preventDefault?.();
      worker.terminate();
      resolve(null); // before 'ready': read here instead; after: the files being read fail
      readerWorker = Promise.resolve(null);
      for (const fail of reading) fail(e.message || 'the reading worker failed');
    };
  });
  return readerWorker;
}

/** A ReadableStream of `file`'s bytes, read by `worker` on its thread (rehash-reader.js). */
function readElsewhere(worker, file) {
  const { port1, port2 } = new MessageChannel();
  const arrived = [];
  let wake = null;
  const take = (data) => {
    arrived.push(data);
    wake?.();
    wake = null;
  };
  const fail = (message) => take({ error: message });
  reading.add(fail);
  port1.onmessage = ({ data }) => take(data);
  worker.postMessage({ file, port: port2, ahead: AHEAD }, [port2]);
  // highWaterMark 0: pull runs once per read, so one chunk asked for per chunk taken.
  return new ReadableStream({
    async pull(controller) {
      while (arrived.length === 0) await new Promise((resolve) => (wake = resolve));
      const m = arrived.shift();
      if (m.chunk) {
        port1.postMessage(1);
        controller.enqueue(new Uint8Array(m.chunk));
        return;
      }
      port1.close();
      reading.delete(fail);
      if (m.done) controller.close();
      else controller.error(new Error(`reading ${file.name}: ${m.error}`));
    },
    cancel() {
      port1.postMessage('cancel');
      port1.close();
      reading.delete(fail);
    },
  }, { highWaterMark: 0 });
}

self.postMessage({ type: 'ready' });

self.onmessage = async (event) => {
  let last = 0;
  try {
    if (event.data.sha256) useSha256(event.data.sha256);
    const big = event.data.groups.some((g) => (g.kind === 'file' ? [g] : g.files).some((f) => f.file.size >= READ_ELSEWHERE));
    const worker = big ? await startReader() : null;
    const open = worker ? (file) => (file.size >= READ_ELSEWHERE ? readElsewhere(worker, file) : file) : undefined;
    const results = await rehash(event.data.groups, (done, total) => {
      const now = performance.now();
      if (now - last < 50 && done < total) return;
      last = now;
      self.postMessage({ type: 'progress', done, total });
    }, { open });
    self.postMessage({ type: 'done', results, sha256: sha256Implementation(), reader: worker ? 'worker' : 'here' });
  } catch (e) {
    self.postMessage({ type: 'error', message: e?.message ?? String(e) });
  }
};
