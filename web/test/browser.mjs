// Runs the verifier page (web/index.html) in Chromium: every alloy vector through the page,
// QR images, the model-file check, and the page's own timings.
//
//   NODE_PATH=~/.cache/assay/playwright-core-1.65.1/node_modules \
//   node web/test/browser.mjs [--chromium /usr/bin/chromium] [--vectors docs/alloy/vectors]
//        [--qr-png FILE ...] [--artifacts /tmp/alloy-browser-artifacts] [--rehash-mib 256]
//        [--check-mib 64] [--runs 20] [--peers] [--no-noble]
//
// It serves web/ on 127.0.0.1 (a free port) with a small static server, fails if the page asks
// for anything else, and for each vector puts its inputs into the page (texts pasted, CBOR as
// chosen files, the keyring pasted) and compares what the page shows with the vector's
// `expect`. With --qr-png (PNG images of one chain's codes, as `assay alloy qr` writes them) it
// checks that the page reads them into a valid, complete chain (and, where a part-N-of-M.txt
// lies beside an image, that the text read is exactly that). It re-hashes generated files and
// a folder in the page against node's hashes, and prints the page's hashing throughput (on a
// --rehash-mib MiB file, 1024 for a GiB: written and hashed a MiB at a time, never whole; then
// its worker forced to SHA-256 in JavaScript and in WebAssembly; --peers: openssl and sha256sum
// on the same file) and the time verify takes in the page (median of --runs runs of
// golden-long-qr's texts). Then (unless --no-noble) it loads the page again with WebCrypto's
// Ed25519 taken out before the page's scripts run, and checks that the page says it uses the
// vendored @noble/curves and shows the golden, ed25519-* and keyring-trusted vectors as expected.
// Every file is served with the page's Content-Security-Policy as a header too, so that the
// hashing worker runs under it.
//
// Needs playwright-core (found through NODE_PATH; no browser download: the Chromium given is
// launched). Prints one summary line; exits 0 when everything passed, 1 listing the failures,
// 2 when it cannot run.
//
// SPDX-License-Identifier: Apache-2.0

import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { inflateSync } from 'node:zlib';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import {
  closeSync, existsSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { webcrypto } from 'node:crypto';

globalThis.crypto ??= webcrypto;

const WEB = fileURLToPath(new URL('..', import.meta.url));
const REPO = resolve(WEB, '..');

// ---------------------------------------------------------------------------------------------
// Arguments

function parseArgs(argv) {
  const opts = {
    chromium: '/usr/bin/chromium',
    vectors: join(REPO, 'docs/alloy/vectors'),
    qrPng: [],
    artifacts: '/tmp/alloy-browser-artifacts',
    rehashMib: 256,
    checkMib: 64,
    runs: 20,
    peers: false,
    noble: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--chromium') opts.chromium = value();
    else if (a === '--vectors') opts.vectors = value();
    else if (a === '--qr-png') {
      opts.qrPng.push(value());
      while (i + 1 < argv.length && !argv[i + 1].startsWith('--')) opts.qrPng.push(argv[++i]);
    } else if (a === '--artifacts') opts.artifacts = value();
    else if (a === '--rehash-mib') opts.rehashMib = Number(value());
    else if (a === '--check-mib') opts.checkMib = Number(value());
    else if (a === '--runs') opts.runs = Number(value());
    else if (a === '--peers') opts.peers = true;
    else if (a === '--no-noble') opts.noble = false;
    else if (a === '--help' || a === '-h') {
      const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
      console.log(lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).join('\n'));
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  for (const [k, v] of [['--rehash-mib', opts.rehashMib], ['--check-mib', opts.checkMib], ['--runs', opts.runs]]) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${k} takes a whole number ≥ 1, not ${v}`);
  }
  return opts;
}

function loadPlaywright() {
  const require = createRequire(import.meta.url);
  try {
    return require('playwright-core');
  } catch {
    throw new Error('playwright-core is not found: install it with\n'
      + '  npm install --prefix ~/.cache/assay/playwright-core-1.65.1 playwright-core@1.65.1\n'
      + 'and run with NODE_PATH=~/.cache/assay/playwright-core-1.65.1/node_modules');
  }
}

// ---------------------------------------------------------------------------------------------
// The static server: web/ only, on 127.0.0.1

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.md': 'text/markdown; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '': 'text/plain; charset=utf-8', // LICENSE
};

/** The page's Content-Security-Policy, from index.html's meta tag. */
function pagePolicy(root) {
  const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(readFileSync(join(root, 'index.html'), 'utf8'))?.[1];
  if (!csp) throw new Error('index.html has no Content-Security-Policy meta tag');
  return csp;
}

/**
 * Serves `root` on 127.0.0.1. Every response carries the page's own policy as a
 * Content-Security-Policy header too: a worker takes its policy from its script's response, not
 * from the page's meta tag, so this makes the hashing worker run under the same policy.
 */
function serve(root) {
  const misses = [];
  const csp = pagePolicy(root);
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    let path;
    try {
      path = normalize(join(root, decodeURIComponent(url.pathname)));
    } catch {
      path = null;
    }
    if (path && statSync(path, { throwIfNoEntry: false })?.isDirectory()) path = join(path, 'index.html');
    const inside = path && (path + sep).startsWith(root.endsWith(sep) ? root : root + sep);
    const type = path && MIME[extname(path)];
    if (req.method !== 'GET' || !inside || type === undefined || !existsSync(path)) {
      misses.push(`${req.method} ${req.url}`);
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store', 'content-security-policy': csp }).end(readFileSync(path));
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok({ server, port: server.address().port, misses }));
  });
}

// ---------------------------------------------------------------------------------------------
// Test data made here

const nodeSha256 = (...parts) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

/**
 * A file of `mib` MiB of a pattern that differs from chunk to chunk, written a MiB at a time and
 * synced (so that the kernel's writeback does not run beside the page's hashing); returns its
 * SHA-256 (hex).
 */
function patternFile(path, mib, seed) {
  const chunk = Buffer.alloc(1 << 20);
  const h = createHash('sha256');
  const fd = openSync(path, 'w');
  try {
    for (let c = 0; c < mib; c++) {
      for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE(((i * 2654435761) ^ (c * 40503) ^ seed) >>> 0, i);
      writeSync(fd, chunk);
      h.update(chunk);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/**
 * A chain file of two links signed here with a fresh Ed25519 key: an adapter whose output hash
 * is `adapterHash`, then a delivery whose output hash is `deliveryHash`.
 */
async function craftedChain(alloy, adapterHash, deliveryHash) {
  const { encodeCbor } = alloy;
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const signer = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
  const uint = (n) => ({ kind: 'uint', value: BigInt(n) });
  const bytes = (b) => ({ kind: 'bytes', value: new Uint8Array(b) });
  const text = (s) => ({ kind: 'text', value: s });
  const array = (items) => ({ kind: 'array', value: items });
  const protectedHeader = Buffer.from('a10132', 'hex');
  const links = [];
  let prev = null;
  const steps = [
    { type: 0x02, input: nodeSha256(Buffer.from('base model')), stage: [[uint(3), text('lora')]], output: adapterHash, time: 1767225600 },
    { type: 0x05, input: adapterHash, stage: [[uint(1), text('file:///models/model.bin')]], output: deliveryHash, time: 1767225660 },
  ];
  for (const s of steps) {
    const payload = encodeCbor(array([
      uint(1), uint(s.type), prev ? bytes(prev) : { kind: 'null' }, bytes(s.input), { kind: 'map', value: s.stage },
      bytes(s.output), bytes(signer), uint(s.time),
    ]));
    const sigStructure = encodeCbor(array([text('Signature1'), bytes(protectedHeader), bytes(Buffer.from('assay-alloy/1')), bytes(payload)]));
    const signature = sign(null, sigStructure, privateKey);
    const link = { kind: 'tag', tag: 18n, value: array([bytes(protectedHeader), { kind: 'map', value: [] }, bytes(payload), bytes(signature)]) };
    links.push(link);
    prev = nodeSha256(encodeCbor(link));
  }
  return Buffer.from(encodeCbor(array([uint(1), uint(1), uint(1), bytes(prev), array(links)])));
}

/** An 8-bit PNG (greyscale, grey+alpha, RGB or RGBA; not interlaced) as {width, height, grey}. */
function decodePng(buf) {
  if (!buf.subarray(0, 8).equals(Buffer.from('89504e470d0a1a0a', 'hex'))) throw new Error('not a PNG');
  let at = 8;
  let ihdr = null;
  const idat = [];
  while (at < buf.length) {
    const len = buf.readUInt32BE(at);
    const type = buf.toString('latin1', at + 4, at + 8);
    const data = buf.subarray(at + 8, at + 8 + len);
    if (type === 'IHDR') ihdr = { width: data.readUInt32BE(0), height: data.readUInt32BE(4), depth: data[8], color: data[9], interlace: data[12] };
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    at += 12 + len;
  }
  const channels = { 0: 1, 4: 2, 2: 3, 6: 4 }[ihdr?.color];
  if (!ihdr || ihdr.depth !== 8 || !channels || ihdr.interlace !== 0) throw new Error('only 8-bit, non-interlaced grey/RGB PNGs are read here');
  const raw = inflateSync(Buffer.concat(idat));
  const { width, height } = ihdr;
  const stride = width * channels;
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? pixels[y * stride + x - channels] : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? pixels[(y - 1) * stride + x - channels] : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const predictor = [0, a, b, (a + b) >> 1, paeth][filter];
      if (predictor === undefined) throw new Error(`PNG filter ${filter}`);
      pixels[y * stride + x] = (line[x] + predictor) & 0xff;
    }
  }
  const grey = Buffer.alloc(width * height);
  for (let i = 0; i < width * height; i++) {
    const px = pixels.subarray(i * channels, (i + 1) * channels);
    grey[i] = channels >= 3 ? Math.round(0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2]) : px[0];
  }
  return { width, height, grey };
}

/**
 * A Y4M video for Chromium's fake camera: each PNG shown for a second (10 frames), centred on
 * white, so that the page's camera scan sees one code after the other (the video loops).
 */
function cameraVideo(pngPaths, path) {
  const images = pngPaths.map((p) => decodePng(readFileSync(p)));
  const w = Math.max(...images.map((i) => i.width)) + 64 & ~1;
  const h = Math.max(...images.map((i) => i.height)) + 64 & ~1;
  const chunks = [Buffer.from(`YUV4MPEG2 W${w} H${h} F10:1 Ip A1:1 C420jpeg\n`)];
  for (const img of images) {
    const frame = Buffer.alloc(w * h * 1.5, 128);
    frame.fill(255, 0, w * h);
    const [ox, oy] = [(w - img.width) >> 1, (h - img.height) >> 1];
    for (let y = 0; y < img.height; y++) img.grey.copy(frame, (oy + y) * w + ox, y * img.width, (y + 1) * img.width);
    for (let f = 0; f < 10; f++) chunks.push(Buffer.from('FRAME\n'), frame);
  }
  writeFileSync(path, Buffer.concat(chunks));
}

// ---------------------------------------------------------------------------------------------
// The page

/** What the page shows of its verdict. */
function readVerdict(page) {
  return page.evaluate(() => {
    const $ = (id) => document.getElementById(id);
    const v = $('verdict');
    const all = (sel) => [...document.querySelectorAll(sel)];
    return {
      state: $('result').dataset.state,
      valid: v.dataset.valid,
      complete: v.dataset.complete,
      trusted: v.dataset.trusted,
      validText: $('verdict-valid').textContent,
      completeText: $('verdict-complete').textContent,
      error: $('error').hidden ? null : $('error').textContent,
      rules: [...new Set(all('#findings [data-rule]').map((e) => e.dataset.rule))].sort(),
      missing: [...new Set(all('#missing [data-missing]').map((e) => e.dataset.missing))].sort(),
      trust: all('#links li.link').map((li) => li.querySelector('[data-trust]')?.dataset.trust).filter((t) => t !== undefined),
      links: all('#links li.link').length,
      fullIds: all('#links li.link').every((li) => /^[0-9a-f]{64}$/.test(li.querySelector('[data-field="id"], dd code')?.textContent ?? '')),
    };
  });
}

async function clearPage(page) {
  await page.click('#clear');
  await page.waitForSelector('#result[data-state="idle"]', { state: 'attached' });
}

async function verifyNow(page) {
  await page.click('#verify');
  await page.waitForSelector('#result[data-state="done"], #result[data-state="error"]', { state: 'attached', timeout: 60_000 });
}

async function setKeyring(page, toml) {
  await page.evaluate(() => {
    document.getElementById('keyring-section').open = true;
  });
  await page.fill('#keyring', toml);
}

/** Puts a vector's inputs into the page in their order: texts pasted, CBOR as chosen files. */
async function putInputs(page, vector) {
  const firstCbor = vector.inputs.findIndex((i) => 'cbor' in i);
  const lastText = vector.inputs.map((i) => 'text' in i).lastIndexOf(true);
  const textsFirst = firstCbor < 0 || lastText < firstCbor;
  const file = (i, k) => ('cbor' in i
    ? { name: `input-${k}.alloy`, mimeType: 'application/octet-stream', buffer: Buffer.from(i.cbor, 'hex') }
    : { name: `input-${k}.txt`, mimeType: 'text/plain', buffer: Buffer.from(i.text) });
  if (textsFirst) {
    const texts = vector.inputs.filter((i) => 'text' in i).map((i) => i.text);
    if (texts.some((t) => /[\r\n]./.test(t))) throw new Error('a text with a line break inside cannot be pasted one a line');
    if (texts.length) await page.fill('#texts', texts.join('\n'));
    const files = vector.inputs.map(file).filter((f, k) => 'cbor' in vector.inputs[k]);
    if (files.length) await page.setInputFiles('#chain-files', files);
  } else {
    // A CBOR input before a text: every input as a file, one at a time, to keep the order.
    for (const [k, i] of vector.inputs.entries()) await page.setInputFiles('#chain-files', [file(i, k)]);
  }
  if (vector.keyring !== undefined) await setKeyring(page, vector.keyring);
}

/** Waits for the page's model check to finish; returns what it shows. */
async function rehashed(page, timeout) {
  await page.waitForSelector('#model-check[data-state="done"], #model-check[data-state="error"]', { state: 'attached', timeout });
  return page.evaluate(() => {
    const $ = (id) => document.getElementById(id);
    const p = $('rehash-progress');
    const t = $('rehash-throughput');
    return {
      state: $('model-check').dataset.state,
      status: $('rehash-status').textContent,
      percent: p.dataset.percent,
      full: p.value === p.max,
      results: [...document.querySelectorAll('#rehash-results > li')].map((li) => ({ ...li.dataset })),
      bytes: Number(t.dataset.bytes),
      ms: Number(t.dataset.ms),
      mbps: Number(t.dataset.mbps),
      sha256: t.dataset.sha256,
    };
  });
}

/** openssl (with and without SHA-NI) and sha256sum on the same file, for comparison. */
function peers(path, mib, want, fail) {
  const runs = [
    ['openssl dgst -sha256', 'openssl', ['dgst', '-sha256', path], {}],
    ['openssl dgst -sha256, SHA-NI off (OPENSSL_ia32cap=:~0x20000000)', 'openssl', ['dgst', '-sha256', path], { OPENSSL_ia32cap: ':~0x20000000' }],
    ['sha256sum', 'sha256sum', [path], {}],
  ];
  for (const [what, cmd, args, env] of runs) {
    try {
      let best = Infinity;
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        const out = execFileSync(cmd, args, { env: { ...process.env, ...env }, encoding: 'utf8' });
        best = Math.min(best, performance.now() - t);
        if (!out.includes(want)) fail(`${what}: ${out.trim()} is not ${want}`);
      }
      console.log(`peer ${what}: ${mib} MiB in ${(best / 1000).toFixed(2)} s = ${((mib << 20) / 1e6 / (best / 1000)).toFixed(1)} MB/s (best of 3)`);
    } catch (e) {
      console.log(`peer ${what}: not run (${e.message.split('\n')[0]})`);
    }
  }
}

/** The time verify takes in the page for the given texts: median, min, max of `runs` (ms). */
function verifyTiming(page, texts, runs) {
  return page.evaluate(async ({ texts, runs }) => {
    const { verify } = await import('/alloy.js');
    const inputs = texts.map((text) => ({ text }));
    for (let i = 0; i < 3; i++) await verify(inputs); // warm up
    const times = [];
    let verdict;
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      verdict = await verify(inputs);
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    return { median: times[Math.floor(times.length / 2)], min: times[0], max: times[times.length - 1], links: verdict.links.length, valid: verdict.valid };
  }, { texts, runs });
}

/** Puts a vector into the page, verifies, and lists how what the page shows differs from `expect`. */
async function vectorInPage(page, vector) {
  const want = vector.expect;
  await clearPage(page);
  await putInputs(page, vector);
  await verifyNow(page);
  const got = await readVerdict(page);
  const wrong = [];
  if (got.state !== 'done') wrong.push(`state ${got.state} (${got.error})`);
  if (got.valid !== String(want.valid)) wrong.push(`valid ${got.valid}, want ${want.valid}`);
  if (got.validText !== (want.valid ? 'valid' : 'invalid')) wrong.push(`shows "${got.validText}"`);
  if (got.complete !== String(want.complete)) wrong.push(`complete ${got.complete}, want ${want.complete}`);
  if (JSON.stringify(got.rules) !== JSON.stringify(want.rules)) wrong.push(`rules ${JSON.stringify(got.rules)}, want ${JSON.stringify(want.rules)}`);
  for (const rule of want.rules) {
    if (!(await page.locator(`#findings [data-rule="${rule}"]`).first().isVisible())) wrong.push(`${rule} not visible`);
  }
  if (JSON.stringify(got.missing) !== JSON.stringify(want.missing ?? [])) wrong.push(`missing ${JSON.stringify(got.missing)}, want ${JSON.stringify(want.missing)}`);
  if (JSON.stringify(got.trust) !== JSON.stringify(want.trust ?? [])) wrong.push(`trust ${JSON.stringify(got.trust)}, want ${JSON.stringify(want.trust)}`);
  if (vector.keyring !== undefined) {
    const trusted = String((want.trust ?? []).length > 0 && want.trust.every((t) => !t.startsWith('trust.')));
    if (got.trusted !== trusted) wrong.push(`trusted ${got.trusted}, want ${trusted}`);
  } else if (got.trusted !== 'none') wrong.push(`trusted ${got.trusted} without a keyring`);
  if (!got.fullIds) wrong.push('a link without its full 64-hex id');
  if (vector.name.startsWith('golden-') && got.validText !== 'valid') wrong.push('a golden vector not shown valid');
  return wrong;
}

/**
 * Runs before the page's scripts (page.addInitScript): takes Ed25519 out of WebCrypto, as in a
 * browser without it. importKey, generateKey, verify and sign throw NotSupportedError for it;
 * every other algorithm is WebCrypto's own.
 */
function removeWebCryptoEd25519() {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return;
  const isEd = (alg) => /^ed25519$/i.test(typeof alg === 'string' ? alg : alg?.name ?? '');
  const refuse = () => Promise.reject(new DOMException('Algorithm: Unrecognized name', 'NotSupportedError'));
  for (const [name, at] of [['importKey', 2], ['generateKey', 0], ['verify', 0], ['sign', 0]]) {
    const real = subtle[name];
    Object.defineProperty(subtle, name, {
      value: function (...args) {
        return isEd(args[at]) ? refuse() : real.apply(this, args);
      },
      configurable: true,
      writable: true,
    });
  }
}

/**
 * Hashes `file` (a File the page holds) in the page's own hashing worker with alloy.js's SHA-256
 * set to `sha256` ('js' or 'wasm'); resolves to {hash, ms, mbps, sha256}.
 */
function workerHash(page, sha256) {
  return page.evaluate((impl) => new Promise((resolve, reject) => {
    const file = window.__rehashFiles?.[0];
    if (!file) {
      reject(new Error('no file kept from #model-files'));
      return;
    }
    const worker = new Worker('/rehash-worker.js', { type: 'module' });
    let start;
    worker.onmessage = ({ data }) => {
      if (data.type === 'ready') return;
      if (data.type === 'progress') return;
      const ms = performance.now() - start;
      worker.terminate();
      if (data.type === 'done') resolve({ hash: data.results[0].hash, ms, mbps: file.size / 1e6 / (ms / 1000), sha256: data.sha256, reader: data.reader });
      else reject(new Error(data.message));
    };
    worker.onerror = (e) => reject(new Error(e.message || 'worker error'));
    start = performance.now();
    worker.postMessage({ groups: [{ kind: 'file', name: file.name, file }], sha256: impl });
  }), sha256);
}

// ---------------------------------------------------------------------------------------------

async function main(argv) {
  const opts = parseArgs(argv);
  const { chromium } = loadPlaywright();
  const alloy = await import('../alloy.js');
  if (!existsSync(opts.chromium)) throw new Error(`no Chromium at ${opts.chromium} (apt-get install -y --no-install-recommends chromium)`);
  const vectorFiles = readdirSync(opts.vectors).filter((f) => f.endsWith('.json')).sort();
  if (vectorFiles.length === 0) throw new Error(`no vector (*.json) in ${opts.vectors}`);
  for (const png of opts.qrPng) if (!existsSync(png)) throw new Error(`no such image: ${png}`);
  mkdirSync(opts.artifacts, { recursive: true });
  const scratch = mkdtempSync(join(tmpdir(), 'alloy-browser-'));

  const failures = [];
  const fail = (what) => {
    failures.push(what);
    console.error(`FAIL ${what}`);
  };
  const { server, port, misses } = await serve(WEB);
  const origin = `http://127.0.0.1:${port}`;
  const args = ['--no-sandbox'];
  let video = null;
  if (opts.qrPng.length) {
    try {
      video = join(scratch, 'codes.y4m');
      cameraVideo(opts.qrPng, video);
      args.push('--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${video}`);
    } catch (e) {
      video = null;
      console.log(`camera: not tested (${e.message})`);
    }
  }
  const browser = await chromium.launch({ executablePath: opts.chromium, args, headless: true });
  const summary = {};
  try {
    summary.chromium = browser.version();
    console.log(`Chromium ${summary.chromium}; serving ${WEB} at ${origin}/`);
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: false });
    const page = await context.newPage();
    // Every request of a page and of its workers (the hashing worker fetches sha256.wasm),
    // every page or console error, and every error in a worker.
    const requests = [];
    const watch = (p, what, own = []) => {
      p.on('request', (r) => {
        requests.push(r.url());
        own.push(r.url());
      });
      p.on('pageerror', (e) => fail(`${what}: page error: ${e.message}`));
      p.on('console', (m) => {
        if (m.type() === 'error') fail(`${what}: console error: ${m.text()}`);
      });
      p.on('worker', (w) => w.on('console', (m) => {
        if (m.type() === 'error') fail(`${what}: worker console error: ${m.text()}`);
      }));
    };
    const pageRequests = [];
    watch(page, 'page', pageRequests);
    await page.goto(`${origin}/index.html`);
    await page.waitForSelector('html[data-ready="true"]', { state: 'attached', timeout: 30_000 });
    const ed25519 = await page.evaluate(() => document.documentElement.dataset.ed25519);
    summary.ed25519 = ed25519;
    if (ed25519 !== 'yes') fail('this Chromium\'s WebCrypto has no Ed25519 (the page cannot check signatures)');
    console.log(`WebCrypto Ed25519: ${ed25519}`);

    // 1. Every vector.
    let agreed = 0;
    for (const name of vectorFiles) {
      const vector = JSON.parse(readFileSync(join(opts.vectors, name), 'utf8'));
      try {
        const wrong = await vectorInPage(page, vector);
        if (wrong.length) fail(`vector ${vector.name}: ${wrong.join('; ')}`);
        else agreed += 1;
        if (vector.name === 'golden-long-qr') await page.screenshot({ path: join(opts.artifacts, 'valid-chain.png'), fullPage: true });
        if (vector.name === 'chain-fork') await page.screenshot({ path: join(opts.artifacts, 'failing-vector.png'), fullPage: true });
      } catch (e) {
        fail(`vector ${vector.name}: ${e.message.split('\n')[0]}`);
      }
    }
    summary.vectors = `${agreed}/${vectorFiles.length}`;
    console.log(`vectors: ${agreed} of ${vectorFiles.length} shown as expected`);

    // 2. QR images.
    if (opts.qrPng.length) {
      try {
        await clearPage(page);
        await page.setInputFiles('#chain-files', opts.qrPng);
        await verifyNow(page);
        const got = await readVerdict(page);
        const read = await page.evaluate(() => [...document.querySelectorAll('#input-list li[data-source="image"]')].map((li) => ({
          texts: [...li.querySelectorAll('[data-code-text]')].map((c) => c.textContent),
          error: li.querySelector('.source-error')?.textContent ?? null,
        })));
        const wrong = [];
        if (read.length !== opts.qrPng.length) wrong.push(`${read.length} of ${opts.qrPng.length} images taken as images`);
        read.forEach((r, k) => {
          if (r.error || r.texts.length !== 1) wrong.push(`${basename(opts.qrPng[k])}: ${r.error ?? `${r.texts.length} codes`}`);
          const txt = opts.qrPng[k].replace(/\.png$/i, '.txt');
          if (existsSync(txt) && r.texts[0] !== readFileSync(txt, 'utf8').replace(/[\r\n]+$/, '')) wrong.push(`${basename(opts.qrPng[k])}: the text read differs from ${basename(txt)}`);
        });
        if (got.valid !== 'true' || got.complete !== 'true') wrong.push(`the chain is shown ${got.validText}, ${got.completeText} (rules ${got.rules.join(', ')})`);
        if (wrong.length) fail(`QR images: ${wrong.join('; ')}`);
        summary.qr = `${read.reduce((n, r) => n + r.texts.length, 0)} codes from ${opts.qrPng.length} PNGs, ${got.links} links, ${got.validText} and ${got.completeText}`;
        console.log(`QR images: ${summary.qr}`);
        await page.screenshot({ path: join(opts.artifacts, 'qr-images.png'), fullPage: true });
      } catch (e) {
        fail(`QR images: ${e.message.split('\n')[0]}`);
      }
    }

    // 2a. All the codes in one JPEG, side by side (drawn in the page, so a photo-like input).
    if (opts.qrPng.length) {
      try {
        await clearPage(page);
        await page.evaluate(async (pngs) => {
          const bitmaps = await Promise.all(pngs.map((b64) => createImageBitmap(new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], { type: 'image/png' }))));
          const gap = 40;
          const canvas = new OffscreenCanvas(bitmaps.reduce((w, b) => w + b.width + gap, gap), Math.max(...bitmaps.map((b) => b.height)) + 2 * gap);
          const ctx = canvas.getContext('2d');
          ctx.fillStyle = '#fff';
          ctx.fillRect(0, 0, canvas.width, canvas.height);
          let x = gap;
          for (const b of bitmaps) {
            ctx.drawImage(b, x, gap);
            x += b.width + gap;
          }
          const jpeg = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.85 });
          const dt = new DataTransfer();
          dt.items.add(new File([jpeg], 'all-codes.jpg', { type: 'image/jpeg' }));
          const input = document.getElementById('chain-files');
          input.files = dt.files;
          input.dispatchEvent(new Event('change', { bubbles: true }));
        }, opts.qrPng.map((p) => readFileSync(p).toString('base64')));
        await verifyNow(page);
        const got = await readVerdict(page);
        const codes = await page.locator('#input-list [data-code-text]').count();
        if (codes !== opts.qrPng.length || got.valid !== 'true' || got.complete !== 'true') {
          fail(`one JPEG of all codes: ${codes} codes read, shown ${got.validText}, ${got.completeText}`);
        } else console.log(`one JPEG of all ${codes} codes side by side: read, ${got.validText} and ${got.completeText}`);
      } catch (e) {
        fail(`one JPEG of all codes: ${e.message.split('\n')[0]}`);
      }
    }

    // 2b. The camera: Chromium's fake camera plays the same codes, one a second.
    if (video) {
      try {
        await clearPage(page);
        await page.click('#camera-start');
        await page.waitForFunction(() => {
          const v = document.getElementById('verdict');
          return v.dataset.complete === 'true' && document.getElementById('camera-stop').hidden;
        }, null, { timeout: 60_000 });
        await page.waitForSelector('#result[data-state="done"]', { state: 'attached' });
        const got = await readVerdict(page);
        const scans = await page.locator('#input-list li[data-source="camera"]').count();
        if (got.valid !== 'true' || got.complete !== 'true') fail(`camera: the chain is shown ${got.validText}, ${got.completeText}`);
        summary.camera = `${scans} codes scanned`;
        console.log(`camera (fake device playing the PNGs): ${scans} codes scanned, ${got.validText} and ${got.completeText}, camera stopped by itself`);
      } catch (e) {
        fail(`camera: ${e.message.split('\n')[0]}`);
      }
    }

    // 2c. Other ways in: a text file of AL1: lines plus a keyring file through the file input,
    // and a chain file dropped onto the drop zone.
    try {
      const golden = JSON.parse(readFileSync(join(opts.vectors, 'keyring-trusted.json'), 'utf8'));
      await clearPage(page);
      await page.setInputFiles('#chain-files', [
        { name: 'codes.txt', mimeType: 'text/plain', buffer: Buffer.from(golden.inputs.map((i) => `${i.text}\r\n`).join('')) },
        { name: 'keyring.toml', mimeType: 'application/toml', buffer: Buffer.from(golden.keyring) },
      ]);
      await verifyNow(page);
      const got = await readVerdict(page);
      if (got.valid !== 'true' || got.complete !== 'true' || got.trusted !== 'true' || JSON.stringify(got.trust) !== JSON.stringify(golden.expect.trust)) {
        fail(`text file + keyring file: shown ${got.validText}, ${got.completeText}, trusted ${got.trusted}, trust ${JSON.stringify(got.trust)}`);
      }
      const enclave = JSON.parse(readFileSync(join(opts.vectors, 'golden-enclave.json'), 'utf8'));
      await clearPage(page);
      await page.evaluate((hexBytes) => {
        const bytes = Uint8Array.from(hexBytes.match(/../g), (h) => parseInt(h, 16));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], 'dropped.alloy'));
        document.getElementById('chain-drop').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      }, enclave.inputs[0].cbor);
      await verifyNow(page);
      const dropped = await readVerdict(page);
      if (dropped.valid !== 'true' || dropped.complete !== 'true' || dropped.links !== 3) fail(`dropped chain file: shown ${dropped.validText}, ${dropped.completeText}, ${dropped.links} links`);
      console.log('other inputs: text file + keyring file (trusted), dropped chain file: as expected');
    } catch (e) {
      fail(`other inputs: ${e.message.split('\n')[0]}`);
    }

    // 3. The model check: a file, a folder, against a chain signed here.
    try {
      const bigPath = join(scratch, 'model.bin');
      const fileHash = patternFile(bigPath, opts.checkMib, 1);
      const dir = join(scratch, 'adapter');
      mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
      const dirFiles = {
        'adapter_config.json': Buffer.from('{"r": 8, "alpha": 16}\n'),
        'sub/weights.bin': Buffer.alloc(3 << 20, 7),
        'sub/deeper/ü-ñame.txt': Buffer.from('non-ASCII path\n'),
        '.hidden': Buffer.from('hidden files count too\n'),
        'empty': Buffer.alloc(0),
      };
      for (const [path, body] of Object.entries(dirFiles)) writeFileSync(join(dir, path), body);
      const dirHash = Buffer.from(alloy.directoryHash(Object.entries(dirFiles).map(([path, body]) => ({ path, size: body.length, sha256: nodeSha256(body) }))));
      const chainBytes = await craftedChain(alloy, dirHash, Buffer.from(fileHash, 'hex'));

      await clearPage(page);
      await page.setInputFiles('#chain-files', [{ name: 'crafted.alloy', mimeType: 'application/octet-stream', buffer: chainBytes }]);
      await verifyNow(page);
      const chain = await readVerdict(page);
      if (chain.valid !== 'true' || chain.complete !== 'true') fail(`crafted chain: shown ${chain.validText}, ${chain.completeText} (${chain.rules.join(', ')})`);

      await page.setInputFiles('#model-files', bigPath);
      const one = await rehashed(page, 300_000);
      const r = one.results[0] ?? {};
      if (one.state !== 'done' || r.hash !== fileHash || r.kind !== 'file') fail(`model file: page ${r.kind} ${r.hash} (${one.status}), node ${fileHash}`);
      if (r.match !== '1') fail(`model file: matches "${r.match}", want link 1`);
      if (one.percent !== '100' || !one.full) fail(`model file: progress at ${one.percent}%`);
      await page.screenshot({ path: join(opts.artifacts, 'file-check.png'), fullPage: true });

      await page.setInputFiles('#model-folder', dir);
      const folder = await rehashed(page, 120_000);
      const d = folder.results[0] ?? {};
      if (folder.state !== 'done' || d.hash !== dirHash.toString('hex') || d.kind !== 'directory' || d.name !== 'adapter') {
        fail(`model folder: page ${d.kind} ${d.name} ${d.hash} (${folder.status}), node ${dirHash.toString('hex')}`);
      }
      if (d.match !== '0') fail(`model folder: matches "${d.match}", want link 0`);

      // Files dropped onto the drop zone (a synthetic drop carries files, not folder entries).
      await page.evaluate(() => {
        const dt = new DataTransfer();
        dt.items.add(new File([new TextEncoder().encode('abc')], 'abc.txt'));
        document.getElementById('model-drop').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      });
      await page.waitForSelector('#rehash-results > li[data-name="abc.txt"]', { state: 'attached', timeout: 30_000 });
      const abc = await rehashed(page, 30_000);
      if (abc.results[0]?.hash !== 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad') fail(`dropped file: ${abc.results[0]?.hash}`);
      summary.check = `${opts.checkMib} MiB file and folder match`;
      console.log(`model check: ${opts.checkMib} MiB file → link 1, folder of ${Object.keys(dirFiles).length} files → link 0, progress 100%`);
      rmSync(bigPath);

      // 4. Throughput, on a larger file (written and hashed here a MiB at a time, read by the page
      // in pieces): the page's own way (its worker, sha256.wasm), then its worker forced to each
      // SHA-256, and, with --peers, openssl and sha256sum on the same file.
      const tpPath = join(scratch, 'large.bin');
      const tpHash = patternFile(tpPath, opts.rehashMib, 2);
      await page.evaluate(() => {
        document.getElementById('model-files').addEventListener('change', (e) => {
          window.__rehashFiles = [...e.target.files];
        }, { capture: true });
      });
      await page.setInputFiles('#model-files', tpPath);
      const tp = await rehashed(page, 1_800_000);
      if (tp.results[0]?.hash !== tpHash) fail(`rehash ${opts.rehashMib} MiB: page ${tp.results[0]?.hash}, node ${tpHash}`);
      if (tp.results[0]?.match !== 'none') fail(`rehash ${opts.rehashMib} MiB: matches "${tp.results[0]?.match}", want none`);
      if (tp.sha256 !== 'wasm') fail(`rehash ${opts.rehashMib} MiB: the page hashed with ${tp.sha256}, not sha256.wasm`);
      summary.mbps = tp.mbps;
      console.log(`in-page hashing: ${opts.rehashMib} MiB in ${(tp.ms / 1000).toFixed(2)} s = ${tp.mbps} MB/s (the page's worker, hashFile streaming, SHA-256 in ${tp.sha256})`);
      const compared = {};
      for (const impl of ['js', 'wasm']) {
        const r = await workerHash(page, impl);
        if (r.hash !== tpHash || r.sha256 !== impl) fail(`rehash ${opts.rehashMib} MiB with ${impl}: ${r.sha256} gave ${r.hash}, node ${tpHash}`);
        compared[impl] = r.mbps;
        if (r.reader !== 'worker') fail(`rehash ${opts.rehashMib} MiB with ${impl}: the file was read ${r.reader}, not by the reader worker`);
        console.log(`in-page hashing, worker forced to ${impl}: ${opts.rehashMib} MiB in ${(r.ms / 1000).toFixed(2)} s = ${r.mbps.toFixed(1)} MB/s (read by ${r.reader})`);
      }
      summary.compared = compared;
      if (opts.peers) peers(tpPath, opts.rehashMib, tpHash, fail);
      rmSync(tpPath);
    } catch (e) {
      fail(`model check: ${e.message.split('\n')[0]}`);
    }

    // 5. Verify time in the page: golden-long-qr's texts, median of --runs.
    const golden = JSON.parse(readFileSync(join(opts.vectors, 'golden-long-qr.json'), 'utf8'));
    const goldenTexts = golden.inputs.map((i) => i.text);
    try {
      const timing = await verifyTiming(page, goldenTexts, opts.runs);
      if (!timing.valid) fail('verify timing: golden-long-qr is not valid in the page');
      summary.verifyMs = timing.median;
      console.log(`in-page verify of golden-long-qr (${goldenTexts.length} codes, ${timing.links} links, WebCrypto Ed25519): median ${timing.median.toFixed(2)} ms of ${opts.runs} (min ${timing.min.toFixed(2)}, max ${timing.max.toFixed(2)})`);
    } catch (e) {
      fail(`verify timing: ${e.message.split('\n')[0]}`);
    }

    // 5b. A second page load without WebCrypto's Ed25519 (taken out before the page's scripts
    // run): the page must say it uses the vendored @noble/curves and give the same verdicts.
    if (opts.noble) {
      const nobleContext = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: false });
      try {
        await nobleContext.addInitScript(removeWebCryptoEd25519);
        const noble = await nobleContext.newPage();
        const nobleRequests = [];
        watch(noble, 'no-Ed25519 page', nobleRequests);
        await noble.goto(`${origin}/index.html`);
        await noble.waitForSelector('html[data-ready="true"]', { state: 'attached', timeout: 30_000 });
        const env = await noble.evaluate(async () => {
          let webCrypto;
          try {
            await crypto.subtle.importKey('raw', new Uint8Array(32).fill(9), { name: 'Ed25519' }, false, ['verify']);
            webCrypto = 'has Ed25519';
          } catch (e) {
            webCrypto = e.name;
          }
          return { ed25519: document.documentElement.dataset.ed25519, says: document.getElementById('ed25519-impl').textContent, webCrypto };
        });
        if (env.webCrypto !== 'NotSupportedError') fail(`no-Ed25519 page: WebCrypto's Ed25519 was not taken out (${env.webCrypto})`);
        if (env.ed25519 !== 'noble') fail(`no-Ed25519 page: data-ed25519 is ${env.ed25519}, not noble`);
        if (!/@noble\/curves/.test(env.says)) fail(`no-Ed25519 page: the page says it checks signatures with "${env.says}"`);
        const names = vectorFiles.filter((f) => /^(golden-|ed25519-|keyring-trusted)/.test(f));
        let ok = 0;
        for (const name of names) {
          const vector = JSON.parse(readFileSync(join(opts.vectors, name), 'utf8'));
          const wrong = await vectorInPage(noble, vector).catch((e) => [e.message.split('\n')[0]]);
          if (wrong.length) fail(`no-Ed25519 page: vector ${vector.name}: ${wrong.join('; ')}`);
          else ok += 1;
        }
        const said = await noble.locator('#verify-time').textContent();
        if (!/Ed25519: @noble\/curves/.test(said)) fail(`no-Ed25519 page: the verify time says "${said}"`);
        await noble.screenshot({ path: join(opts.artifacts, 'noble-ed25519.png'), fullPage: true });
        const timing = await verifyTiming(noble, goldenTexts, opts.runs);
        if (!timing.valid) fail('no-Ed25519 page: golden-long-qr is not valid');
        const loaded = nobleRequests.filter((u) => u.includes('/vendor/noble-')).length;
        if (loaded === 0) fail('no-Ed25519 page: vendor/noble-curves was not loaded');
        summary.noble = `${ok}/${names.length}`;
        summary.verifyNobleMs = timing.median;
        console.log(`no-Ed25519 page (WebCrypto's Ed25519 removed): data-ed25519=${env.ed25519}, "${env.says}"; ${ok} of ${names.length} vectors (golden, ed25519-*, keyring-trusted) shown as expected`);
        console.log(`in-page verify of golden-long-qr with @noble/curves: median ${timing.median.toFixed(2)} ms of ${opts.runs} (min ${timing.min.toFixed(2)}, max ${timing.max.toFixed(2)})`);
      } catch (e) {
        fail(`no-Ed25519 page: ${e.message.split('\n')[0]}`);
      } finally {
        await nobleContext.close();
      }
    }

    // 6. No request left the origin; where WebCrypto has Ed25519, noble is not even loaded.
    if (pageRequests.some((u) => u.includes('/vendor/noble-'))) fail('the page loaded vendor/noble-* although WebCrypto has Ed25519');
    const foreign = requests.filter((u) => !u.startsWith(`${origin}/`));
    for (const u of [...new Set(foreign)]) fail(`request to ${u}`);
    for (const m of misses) fail(`the page asked for a missing file: ${m}`);
    summary.requests = `${requests.length} requests, ${foreign.length} off ${origin}`;
    console.log(`requests: ${requests.length}, all on ${origin}: ${[...new Set(requests.map((u) => u.replace(origin, '')))].sort().join(' ')}`);
    await context.close();
  } finally {
    await browser.close();
    server.close();
    rmSync(scratch, { recursive: true, force: true });
  }

  const line = [
    `Chromium ${summary.chromium}`,
    `vectors ${summary.vectors}`,
    summary.qr ? `QR ${opts.qrPng.length} PNGs ok` : null,
    summary.camera ? `camera ${summary.camera}` : null,
    summary.check ? `model check ok` : null,
    summary.mbps !== undefined ? `rehash ${summary.mbps} MB/s` : null,
    summary.compared ? `worker JS ${summary.compared.js.toFixed(1)} / WASM ${summary.compared.wasm.toFixed(1)} MB/s` : null,
    summary.verifyMs !== undefined ? `verify ${summary.verifyMs.toFixed(2)} ms` : null,
    summary.noble ? `no-Ed25519 page: noble, vectors ${summary.noble}, verify ${summary.verifyNobleMs.toFixed(2)} ms` : null,
    summary.requests,
    `screenshots in ${opts.artifacts}`,
  ].filter(Boolean).join(', ');
  if (failures.length === 0) {
    console.log(`browser.mjs: PASS: ${line}`);
    return 0;
  }
  console.log(`browser.mjs: FAIL (${failures.length}): ${line}`);
  for (const f of failures) console.log(`  - ${f}`);
  return 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(`browser.mjs: ${e.message}`);
    process.exit(2);
  },
);
