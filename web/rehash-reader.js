/**
 * rehash-reader.js: reads files for rehash-worker.js on a thread of its own (a worker the hashing
 * worker starts), so that reading a file (Blob.stream(): the browser copies its bytes into the
 * reading thread's memory) and hashing it run at the same time instead of one after the other.
 *
 * Messages in: `{file, port, ahead}`: reads `file` chunk by chunk and sends each chunk's buffer
 * (transferred, not copied) on `port` as `{chunk}`, then `{done: true}`, or `{error}`. At most
 * `ahead` chunks are sent before the hasher asks for more: it posts 1 on `port` for each chunk it
 * takes (a browser's Blob chunks are at most a few MiB, so a few MiB are in flight: the file is
 * never held whole); it posts 'cancel' to stop. Out, once: `{type: 'ready'}`.
 *
 * SPDX-License-Identifier: Apache-2.0
 */

self.onmessage = async ({ data: { file, port, ahead } }) => {
  let credit = ahead;
  let cancelled = false;
  let wake = null;
  port.onmessage = ({ data }) => {
    if (data === 'cancel') cancelled = true;
    else credit += 1;
    wake?.();
    wake = null;
  };
  let reader;
  try {
    reader = file.stream().getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      while (credit <= 0 && !cancelled) await new Promise((resolve) => (wake = resolve));
      if (cancelled) {
        await reader.cancel();
        break;
      }
      credit -= 1;
      const whole = value.byteOffset === 0 && value.byteLength === value.buffer.byteLength;
      const buffer = whole ? value.buffer : value.slice().buffer;
      port.postMessage({ chunk: buffer }, [buffer]);
    }
    if (!cancelled) port.postMessage({ done: true });
  } catch (e) {
    port.postMessage({ error: e?.message ?? String(e) });
  } finally {
    port.close();
  }
};

self.postMessage({ type: 'ready' });
