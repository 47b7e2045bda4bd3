/**
 * rehash-worker.js: runs rehash.js off the page's main thread (a module worker), so that the
 * page stays responsive while gigabytes are hashed.
 *
 * Messages in: `{groups}` (see rehash.js). Out: `{type: 'progress', done, total}` (at most
 * every 50 ms), then `{type: 'done', results}` or `{type: 'error', message}`.
 *
 * SPDX-License-Identifier: Apache-2.0
 */

import { rehash } from './rehash.js';

self.postMessage({ type: 'ready' });

self.onmessage = async (event) => {
  let last = 0;
  try {
    const results = await rehash(event.data.groups, (done, total) => {
      const now = performance.now();
      if (now - last < 50 && done < total) return;
      last = now;
      self.postMessage({ type: 'progress', done, total });
    });
    self.postMessage({ type: 'done', results });
  } catch (e) {
    self.postMessage({ type: 'error', message: e?.message ?? String(e) });
  }
};
