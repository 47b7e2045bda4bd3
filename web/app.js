/**
 * app.js: the alloy chain verifier page (index.html). Takes a chain's QR texts, chain files,
 * images of its codes or the camera, and a keyring; verifies them with alloy.js and shows the
 * verdict, every finding and every link; re-hashes model files and folders and says which link
 * they match.
 *
 * SPDX-License-Identifier: Apache-2.0
 *
 * Nothing leaves the page: files are read locally, links are never followed, and the page's
 * Content-Security-Policy forbids any connection off its origin (the one fetch is its own
 * sha256.wasm).
 *
 * For tests, the page keeps its state in attributes:
 *   html[data-ready="true"]                       the page is set up; data-ed25519: yes (WebCrypto's),
 *                                                  noble (the vendored @noble/curves), no (none)
 *   #result[data-state]                            idle | running | done | error
 *   #verdict[data-valid|data-complete|data-trusted]  "true"/"false"; trusted also "none", "error"
 *   #findings [data-rule="code"]                   each finding's rule code
 *   #missing [data-missing="64 hex"]               each missing link named by its id
 *   #links li[data-link-id] … [data-trust]          per link; the trust code or the key's name
 *   #model-check[data-state], #rehash-progress[data-percent], #rehash-results li[data-hash,
 *   data-kind, data-name, data-match], #rehash-throughput[data-bytes, data-ms, data-mbps,
 *   data-sha256 (wasm | js)]
 */

import { KeyringError, RULES, ed25519Implementation, parseKeyring, verify } from './alloy.js';

/** A chain file or part is at most 1 MiB (§8); one byte more is read so that alloy.js can say so. */
const MAX_PART = 1 << 20;
/** A text file of codes is read up to this (64 codes of 4096 bytes fit many times). */
const MAX_TEXT_FILE = 1 << 20;

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------
// Small helpers

/** An element with attributes (`class`, `data-*`, properties) and children (strings or nodes). */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role' || k === 'href' || k === 'id' || k === 'title') e.setAttribute(k, String(v));
    else e[k] = v;
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

const hexCode = (h) => el('code', { class: 'hex' }, h);

/** Text from a chain, safe to show: controls and invisible or direction-changing characters escaped. */
function shown(text) {
  return String(text).replace(/[\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g,
    (c) => `\\u{${c.codePointAt(0).toString(16)}}`);
}

function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

function bytesText(n) {
  if (typeof n !== 'number') return `${n} bytes`;
  if (n < 1024) return plural(n, 'byte');
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

/** A link's timestamp (a number, or a decimal string when beyond safe integers) in words. */
function timeText(ts) {
  if (typeof ts === 'number' && Math.abs(ts) <= 8.64e12) {
    return `${new Date(ts * 1000).toISOString().replace('.000Z', 'Z').replace('T', ' ').replace('Z', ' UTC')} (${ts} s)`;
  }
  return `${ts} seconds after 1970-01-01 (beyond the calendar this page shows)`;
}

// ---------------------------------------------------------------------------------------------
// What links and their stages mean (docs/alloy.md §2.2)

const TYPES = {
  forge: { title: 'Forge', words: 'A Forge was set up', output: "the Forge's configuration hash" },
  adapter: { title: 'Adapter training', words: 'An adapter was trained', output: "the trained adapter's content hash" },
  dataset: { title: 'Dataset', words: 'A dataset of contributions was fixed', output: "the contribution set's data_root" },
  compute: { title: 'Compute', words: 'The computation ran', output: "the compute's evidence hash" },
  delivery: { title: 'Delivery', words: 'The model was delivered', output: "the delivered content's hash" },
  eval: { title: 'Evaluation', words: 'The model was evaluated', output: "SHA-256 of the attestation bundle's bytes" },
  custom: { title: 'Custom step', words: 'A custom step was recorded', output: 'whatever its signer defines' },
};

/** Stage fields: a label, whether the value is a digest, and a note. */
const STAGE = {
  name: ['Name'],
  nonce: ['Nonce', true],
  base_model: ['Base model', true, "the base model's hash"],
  recipe: ['Recipe', true, 'SHA-256 of the recipe file'],
  method: ['Method'],
  contributions: ['Contributions'],
  job: ['Job', true, "the JobSpec's hash"],
  tee: ['Ran in a TEE'],
  measurement: ['Measurement', true, 'the SNP launch digest'],
  report: ['Report', true, 'SHA-256 of the attestation report'],
  location: ['Location', false, 'a URI, shown and never opened by this page'],
  size: ['Size'],
  metric: ['Metric'],
  scores: ['Scores', true, 'SHA-256 of the scores as the bundle carries them'],
  baseline: ['Baseline', false, 'the baseline metric'],
  code_hash: ['Code hash', true],
};

const TRUST_WORDS = {
  'trust.unknown': 'the key is not in your keyring',
  'trust.revoked': "the link is dated at or after the key's revocation",
  'trust.not_yet_valid': 'the link is dated before the key became valid',
  'trust.expired': 'the link is dated after the key expired',
};

// ---------------------------------------------------------------------------------------------
// Inputs: the pasted texts, and sources (files, images, camera scans) in the order added

/** Each source: {id, label, kind, status, error, inputs: [{text}|{cbor}], ready}. */
let sources = [];
let nextSource = 1;

function pastedLines() {
  const lines = [];
  $('texts').value.split(/\r\n|\n|\r/).forEach((text, i) => {
    if (/\S/.test(text)) lines.push({ text, line: i + 1 });
  });
  return lines;
}

function hasInputs() {
  return pastedLines().length > 0 || sources.length > 0;
}

/** The inputs for verify, in order: the pasted lines, then the sources' inputs; each with a label. */
function collectInputs() {
  const list = pastedLines().map(({ text, line }) => ({ input: { text }, label: `line ${line} of the pasted texts` }));
  for (const s of sources) {
    s.inputs.forEach((input, k) => list.push({ input, label: s.inputs.length > 1 ? `${s.label}, code ${k + 1}` : s.label }));
  }
  return list;
}

function updateTextCount() {
  const n = pastedLines().length;
  $('texts-count').textContent = n === 0 ? 'No text.' : `${plural(n, 'text')} (one a line; blank lines are skipped, nothing else is changed).`;
}

function renderSources() {
  const list = $('input-list');
  list.replaceChildren(...sources.map((s) => {
    const status = s.error
      ? el('span', { class: 'source-error' }, s.error)
      : el('span', { class: 'hint' }, s.status);
    const remove = el('button', { type: 'button', class: 'small', 'aria-label': `Remove ${s.label}` }, 'Remove');
    remove.addEventListener('click', () => {
      sources = sources.filter((x) => x !== s);
      renderSources();
      scheduleVerify(0);
    });
    // The texts read from images and the camera, to see or copy.
    const texts = s.kind === 'image' || s.kind === 'camera' ? s.inputs.filter((i) => 'text' in i) : [];
    const shownTexts = texts.length === 0 ? null : el('details', {},
      el('summary', {}, texts.length === 1 ? 'the text read' : `the ${texts.length} texts read`),
      ...texts.map((i) => el('p', {}, el('code', { class: 'hex', 'data-code-text': '' }, i.text))));
    return el('li', { 'data-source': s.kind }, el('div', {}, el('strong', {}, s.label), ' ', status, shownTexts), remove);
  }));
  $('inputs-added').hidden = sources.length === 0;
}

function addSource(source) {
  const s = { id: nextSource++, status: '', error: null, inputs: [], ready: Promise.resolve(), ...source };
  sources.push(s);
  renderSources();
  return s;
}

let qrModule = null;
const loadQr = () => (qrModule ??= import('./qr.js'));

/** What a file is: by its name, type and first bytes. */
async function kindOf(file) {
  const name = file.name.toLowerCase();
  if (name.endsWith('.toml')) return 'keyring';
  const head = new Uint8Array(await file.slice(0, 16).arrayBuffer());
  const starts = (...b) => b.every((x, i) => head[i] === x);
  const ascii = (from, s) => [...s].every((c, i) => head[from + i] === c.charCodeAt(0));
  if (file.type.startsWith('image/') || name.endsWith('.svg') || starts(0x89, 0x50, 0x4e, 0x47) || starts(0xff, 0xd8, 0xff)
    || ascii(0, 'GIF8') || (ascii(0, 'RIFF') && ascii(8, 'WEBP'))) return 'image';
  if (name.endsWith('.txt') || ascii(0, 'AL1:')) return 'text';
  return 'cbor';
}

/** Adds files: each becomes a source at once (keeping their order), read in the background. */
function addFiles(files) {
  for (const file of files) {
    const s = addSource({ label: file.name || 'a pasted image', kind: 'pending', status: 'reading…' });
    s.ready = loadFile(s, file).catch((e) => {
      s.error = `could not be read: ${e.message || e}`;
    }).finally(renderSources);
  }
  scheduleVerify();
}

async function loadFile(s, file) {
  const kind = await kindOf(file);
  s.kind = kind;
  if (kind === 'keyring') {
    $('keyring').value = await file.text();
    $('keyring-section').open = true;
    sources = sources.filter((x) => x !== s);
    keyringChanged();
    return;
  }
  if (kind === 'image') {
    s.status = 'reading its QR codes…';
    renderSources();
    const { decodeImage } = await loadQr();
    const { texts, width, height } = await decodeImage(file);
    s.inputs = texts.map((text) => ({ text }));
    if (texts.length === 0) s.error = `no QR code found in this ${width}×${height} image`;
    else s.status = `image, ${plural(texts.length, 'QR code')} read (${texts.map((t) => `${t.length} characters`).join(', ')})`;
    return;
  }
  if (kind === 'text') {
    const text = await file.slice(0, MAX_TEXT_FILE).text();
    const lines = text.split(/\r\n|\n|\r/).filter((l) => /\S/.test(l));
    s.inputs = lines.map((line) => ({ text: line }));
    const cut = file.size > MAX_TEXT_FILE ? `; only its first ${bytesText(MAX_TEXT_FILE)} read` : '';
    s.status = `text file, ${plural(lines.length, 'line')}${cut}`;
    if (lines.length === 0) s.error = 'the text file has no line';
    return;
  }
  const bytes = new Uint8Array(await file.slice(0, MAX_PART + 1).arrayBuffer());
  s.inputs = [{ cbor: bytes }];
  s.status = file.size > MAX_PART
    ? `chain file of ${bytesText(file.size)}, over the 1 MiB a chain file may have`
    : `chain file, ${plural(file.size, 'byte')}`;
}

// ---------------------------------------------------------------------------------------------
// The keyring

/** The keyring's text, parsed: {ring, error} (both null when none is given). */
function readKeyring() {
  const text = $('keyring').value;
  if (!text.split(/\r?\n/).some((l) => /^\s*[^\s#]/.test(l))) return { ring: null, error: null };
  try {
    return { ring: parseKeyring(text), error: null };
  } catch (e) {
    if (e instanceof KeyringError) return { ring: null, error: e.message };
    throw e;
  }
}

function keyringChanged() {
  const { ring, error } = readKeyring();
  const status = $('keyring-status');
  status.classList.toggle('error', Boolean(error));
  if (error) status.textContent = `The keyring does not parse, so trust is not assessed: ${error}`;
  else if (ring) status.textContent = `${plural(ring.keys.length, 'key')}: ${ring.keys.map((k) => `“${shown(k.name)}”`).join(', ')}.`;
  else status.textContent = 'No keyring: the verdict says whether the chain holds, not whether you trust its signers.';
  if (hasInputs() || $('result').dataset.state !== 'idle') scheduleVerify();
}

// ---------------------------------------------------------------------------------------------
// Verifying

let generation = 0;
let timer = null;
let lastVerdict = null;

function scheduleVerify(delay = 350) {
  clearTimeout(timer);
  if (!hasInputs()) return;
  timer = setTimeout(runVerify, delay);
}

async function runVerify() {
  clearTimeout(timer);
  const mine = ++generation;
  const result = $('result');
  result.dataset.state = 'running';
  await Promise.all(sources.map((s) => s.ready));
  if (mine !== generation) return;
  const inputs = collectInputs();
  const keyring = readKeyring();
  let verdict = null;
  let error = null;
  const start = performance.now();
  try {
    verdict = await verify(inputs.map((i) => i.input), { keyring: keyring.ring ?? undefined });
  } catch (e) {
    error = e;
  }
  const ms = performance.now() - start;
  if (mine !== generation) return;
  if (error) renderError(error);
  else renderVerdict(verdict, inputs, keyring, ms);
  result.dataset.state = error ? 'error' : 'done';
  result.dataset.run = String(mine);
  lastVerdict = error ? null : verdict;
  renderRehashResults();
  cameraAfterVerdict(verdict);
}

function setBadge(id, text, tone) {
  const b = $(id);
  b.textContent = text;
  b.className = `badge ${tone}`;
}

function resetResult() {
  generation += 1;
  clearTimeout(timer);
  lastVerdict = null;
  const v = $('verdict');
  v.dataset.valid = '';
  v.dataset.complete = '';
  v.dataset.trusted = '';
  setBadge('verdict-valid', 'not verified yet', 'neutral');
  setBadge('verdict-complete', '', '');
  setBadge('verdict-trust', '', '');
  $('verdict-summary').textContent = 'Add a chain above: paste its QR texts, drop its file or images of its codes.';
  $('error').hidden = true;
  $('details').hidden = true;
  $('result').dataset.state = 'idle';
  renderRehashResults();
}

function renderError(e) {
  const v = $('verdict');
  v.dataset.valid = 'false';
  v.dataset.complete = 'false';
  v.dataset.trusted = '';
  setBadge('verdict-valid', 'not verified', 'bad');
  setBadge('verdict-complete', '', '');
  setBadge('verdict-trust', '', '');
  $('verdict-summary').textContent = 'The chain could not be verified in this browser.';
  $('error').textContent = String(e?.message ?? e);
  $('error').hidden = false;
  $('details').hidden = true;
}

function renderVerdict(v, inputs, keyring, ms) {
  const box = $('verdict');
  box.dataset.valid = String(v.valid);
  box.dataset.complete = String(v.complete);
  $('error').hidden = true;
  setBadge('verdict-valid', v.valid ? 'valid' : 'invalid', v.valid ? 'ok' : 'bad');
  setBadge('verdict-complete', v.complete ? 'complete' : 'incomplete', v.complete ? 'ok' : 'warn');

  // Trust (§7): only with a keyring.
  const trust = v.trust ?? [];
  const untrusted = trust.filter((t) => t.rule);
  let trustSentence = '';
  if (keyring.error) {
    box.dataset.trusted = 'error';
    setBadge('verdict-trust', 'keyring error: trust not assessed', 'bad');
    trustSentence = ' The keyring does not parse, so trust was not assessed.';
  } else if (!keyring.ring) {
    box.dataset.trusted = 'none';
    setBadge('verdict-trust', 'no keyring: trust not assessed', 'neutral');
  } else {
    const trusted = trust.length > 0 && untrusted.length === 0;
    box.dataset.trusted = String(trusted);
    setBadge('verdict-trust', trusted ? 'trusted' : 'untrusted', trusted ? 'ok' : 'bad');
    trustSentence = trust.length === 0
      ? ' No link decoded, so no signer could be trusted.'
      : trusted
        ? ' Every link is signed by a key your keyring accepts at the link\'s date.'
        : ` ${untrusted.length} of ${plural(trust.length, 'link')} ${untrusted.length === 1 ? 'is' : 'are'} not signed by a key your keyring accepts at the link's date.`;
  }

  const n = v.links.length;
  const missing = v.findings.filter((f) => f.rule === 'qr.missing');
  const received = v.parts.received.join(', ');
  const partsText = v.parts.count === null ? '' : ` Parts received: ${received || 'none'} of ${v.parts.count}.`;
  let summary;
  if (v.valid && v.complete) {
    summary = `All ${plural(n, 'link')} verify and follow each other, and the chain is complete.${partsText}`;
  } else if (v.valid) {
    summary = `The ${plural(n, 'link')} received verify and follow each other, but the chain is incomplete: parts are missing (below).${partsText}`;
  } else {
    const broken = v.findings.filter((f) => f.rule !== 'qr.missing');
    summary = `${plural(broken.length, 'finding')}: the chain breaks ${v.rules.filter((r) => r !== 'qr.missing').join(', ')}.${partsText}`;
  }
  $('verdict-summary').textContent = summary + trustSentence + (v.head ? ` Head: ${v.head}.` : '');

  renderFindings(v, inputs);
  renderMissing(missing);
  renderLinks(v);
  const ed = { yes: 'WebCrypto', noble: '@noble/curves' }[document.documentElement.dataset.ed25519];
  $('verify-time').textContent = `Verified ${plural(inputs.length, 'input')} (${plural(n, 'link')}) in ${ms.toFixed(1)} ms${ed ? ` (Ed25519: ${ed})` : ''}.`;
  $('details').hidden = false;
}

function whereOf(f, inputs, v) {
  const parts = [];
  if (f.input !== null && inputs[f.input]) parts.push(`input ${f.input}: ${inputs[f.input].label}`);
  if (f.link !== null && v.links[f.link]) {
    parts.push(el('a', { href: `#link-${f.link}` }, `link ${f.link}`));
  }
  return parts.length ? [' — ', ...parts.flatMap((p, i) => (i ? [', ', p] : [p]))] : [];
}

function renderFindings(v, inputs) {
  const list = $('findings');
  list.replaceChildren(...v.findings.map((f, i) => el('li', { 'data-finding-index': i, 'data-finding-rule': f.rule },
    el('code', { class: 'rule', 'data-rule': f.rule }, f.rule), ' ',
    el('span', { class: 'detail' }, shown(f.detail)),
    ...whereOf(f, inputs, v),
    el('br'),
    el('span', { class: 'requires' }, `The rule: ${RULES[f.rule] ?? 'unknown rule'}.`))));
  $('findings-count').textContent = `(${v.findings.length})`;
  $('no-findings').hidden = v.findings.length !== 0;
}

function renderMissing(missing) {
  $('missing').replaceChildren(...missing.map((f) => (f.missing
    ? el('li', { 'data-missing': f.missing }, 'A part is missing; it ends with the link ', hexCode(f.missing), '.')
    : el('li', { 'data-missing-parts': '' }, shown(f.detail), ' (the links of these parts cannot be named).'))));
  $('missing-section').hidden = missing.length === 0;
}

function stageValue(key, value, custom) {
  if (custom) return el('code', {}, shown(value));
  const [, digest] = STAGE[key] ?? [];
  if (digest && typeof value === 'string') return hexCode(value);
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (key === 'size') return `${value} bytes${typeof value === 'number' && value >= 1024 ? ` (${bytesText(value)})` : ''}`;
  if (typeof value === 'string') return el('q', {}, shown(value));
  return String(value);
}

/** Whether link i names the link before it as its prev, in words. */
function follows(v, i) {
  const links = v.links;
  const l = links[i];
  if (v.findings.some((f) => f.rule === 'qr.missing' && f.link === i)) {
    return l.prev === null
      ? ' It comes after a missing part, yet names no previous link.'
      : ' It comes after a missing part, whose last link is the previous link it names.';
  }
  if (i === 0) return l.prev === null ? ' It is the first link.' : ' As the first link it should have no previous link, but names one.';
  const before = links[i - 1];
  if (l.prev === before.id) return ` It names link ${i - 1} as its previous link.`;
  return l.prev === null
    ? ` It names no previous link, though it comes after link ${i - 1}.`
    : ` The previous link it names is not link ${i - 1}.`;
}

function renderLinks(v) {
  const trustOf = new Map((v.trust ?? []).map((t) => [t.link, t]));
  const byLink = new Map();
  for (const f of v.findings) if (f.link !== null) byLink.set(f.link, [...(byLink.get(f.link) ?? []), f]);
  $('links').replaceChildren(...v.links.map((l, i) => {
    const findings = (byLink.get(i) ?? []).filter((f) => f.rule !== 'qr.missing');
    const local = findings.length === 0 ? null : el('ul', { class: 'link-findings' },
      ...findings.map((f) => el('li', {}, el('code', { class: 'rule' }, f.rule), ' ', shown(f.detail))));
    if (l.error) {
      return el('li', { class: 'link', id: `link-${i}`, 'data-link-index': i, 'data-link-id': l.id, 'data-broken': 'true' },
        el('h4', {}, `Link ${i}: does not decode`),
        el('dl', {},
          el('dt', {}, 'Id'), el('dd', {}, hexCode(l.id)),
          el('dt', {}, 'Part'), el('dd', {}, String(l.part)),
          el('dt', {}, 'Broken rule'), el('dd', {}, el('code', {}, l.error), ` (${RULES[l.error] ?? ''})`)),
        local);
    }
    const info = TYPES[l.type] ?? { title: l.type, words: `A ${l.type} step`, output: 'its output' };
    const t = trustOf.get(i);
    let signerNote = null;
    let signerWords = 'by the key below';
    if (t) {
      signerNote = t.rule
        ? el('span', { class: 'trust untrusted', 'data-trust': t.rule }, ' — untrusted: ', el('code', { class: 'trust-code' }, t.rule), ` (${TRUST_WORDS[t.rule] ?? RULES[t.rule]})`)
        : el('span', { class: 'trust trusted', 'data-trust': t.name }, ` — trusted: “${shown(t.name)}” in your keyring`);
      if (!t.rule) signerWords = `by “${shown(t.name)}”`;
    }
    const custom = l.type === 'custom';
    const stageEntries = Object.entries(l.stage);
    const stage = stageEntries.length === 0 ? el('span', { class: 'note' }, 'no fields') : el('dl', { class: 'stage' },
      ...stageEntries.flatMap(([k, val]) => {
        const [label, , note] = custom ? [`key ${k}`] : STAGE[k] ?? [k];
        return [el('dt', {}, label), el('dd', { 'data-stage': k }, stageValue(k, val, custom), note ? el('span', { class: 'note' }, ` (${note})`) : null)];
      }));
    return el('li', { class: 'link', id: `link-${i}`, 'data-link-index': i, 'data-link-id': l.id, 'data-type': l.type, 'data-broken': String(findings.length > 0) },
      el('h4', {}, `Link ${i}: ${info.title} `, el('span', { class: 'note' }, `(type ${l.type}, in part ${l.part})`)),
      el('p', { class: 'words' }, `${info.words}, signed ${signerWords} at ${timeText(l.timestamp).replace(/ \(.*\)$/, '')}. `
        + `Its output hash is ${info.output}.${follows(v, i)}`),
      el('dl', {},
        el('dt', {}, 'Id'), el('dd', { 'data-field': 'id' }, hexCode(l.id)),
        el('dt', {}, 'Previous link'), el('dd', { 'data-field': 'prev' }, l.prev ? hexCode(l.prev) : el('span', { class: 'note' }, 'none: the first link')),
        el('dt', {}, 'Input hash'), el('dd', { 'data-field': 'input_hash' }, hexCode(l.input_hash), el('span', { class: 'note' }, ' (what the step took in)')),
        el('dt', {}, 'Output hash'), el('dd', { 'data-field': 'output_hash' }, hexCode(l.output_hash), el('span', { class: 'note' }, ` (${info.output})`)),
        el('dt', {}, 'Signer'), el('dd', { 'data-field': 'signer' }, hexCode(l.signer), signerNote ?? el('span', { class: 'note' }, ' (an Ed25519 public key, written whole)')),
        el('dt', {}, 'Time'), el('dd', { 'data-field': 'timestamp' }, timeText(l.timestamp)),
        el('dt', {}, 'Stage'), el('dd', { 'data-field': 'stage' }, stage)),
      local);
  }));
  $('links-count').textContent = `(${v.links.length})`;
}

// ---------------------------------------------------------------------------------------------
// The camera (optional): reads codes from video frames until the chain is complete

let camera = null;
let cameraCount = 0;

async function startCamera() {
  if (camera) return;
  const status = $('camera-status');
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: 'environment' } }, audio: false });
  } catch (e) {
    status.textContent = `The camera could not be opened: ${e.message || e.name}.`;
    return;
  }
  const video = $('camera-video');
  video.srcObject = stream;
  video.hidden = false;
  $('camera-start').hidden = true;
  $('camera-stop').hidden = false;
  camera = { stream, timer: null, seen: new Set(), canvas: document.createElement('canvas') };
  status.textContent = 'Hold each QR code of the chain steady in view, one after the other.';
  try {
    await video.play();
  } catch {
    // Autoplay of a muted camera stream is allowed; if not, frames still arrive once shown.
  }
  const { decodeFrame } = await loadQr();
  const tick = () => {
    if (!camera) return;
    try {
      const text = video.readyState >= 2 ? decodeFrame(video, video.videoWidth, video.videoHeight, camera.canvas) : null;
      if (text && !camera.seen.has(text)) {
        camera.seen.add(text);
        cameraCount += 1;
        addSource({ label: `camera scan ${cameraCount}`, kind: 'camera', inputs: [{ text }], status: `${text.length} characters` });
        status.textContent = `${plural(camera.seen.size, 'code')} read so far.`;
        scheduleVerify(0);
      }
    } catch {
      // A frame that cannot be read is skipped.
    }
    camera.timer = setTimeout(tick, 120);
  };
  tick();
}

function stopCamera(why) {
  if (!camera) return;
  clearTimeout(camera.timer);
  for (const track of camera.stream.getTracks()) track.stop();
  camera = null;
  const video = $('camera-video');
  video.srcObject = null;
  video.hidden = true;
  $('camera-stop').hidden = true;
  $('camera-start').hidden = false;
  $('camera-status').textContent = why ?? 'The camera is off.';
}

function cameraAfterVerdict(verdict) {
  if (camera && verdict?.complete) stopCamera(`All ${verdict.parts.count} part(s) read: the camera is off.`);
}

// ---------------------------------------------------------------------------------------------
// Checking model files: re-hash files and folders, compare with the links' output hashes

let rehashResults = [];
let rehashJob = null;

/** Runs the hashing in a module worker; rejects with `noWorker` set where there is none. */
function rehashInWorker(groups, onProgress, job) {
  return new Promise((resolve, reject) => {
    let worker;
    try {
      worker = new Worker(new URL('./rehash-worker.js', import.meta.url), { type: 'module' });
    } catch (e) {
      reject(Object.assign(new Error(e.message), { noWorker: true }));
      return;
    }
    let started = false;
    job.cancel = () => {
      worker.terminate();
      reject(Object.assign(new Error('cancelled'), { cancelled: true }));
    };
    worker.onmessage = ({ data }) => {
      if (data.type === 'ready') started = true;
      else if (data.type === 'progress') onProgress(data.done, data.total);
      else {
        worker.terminate();
        if (data.type === 'done') resolve({ results: data.results, sha256: data.sha256 });
        else reject(new Error(data.message));
      }
    };
    worker.onerror = (e) => {
      e.preventDefault();
      worker.terminate();
      reject(Object.assign(new Error(e.message || 'the hashing worker failed'), { noWorker: !started }));
    };
    worker.postMessage({ groups });
  });
}

/** The same on the page's own thread, for browsers without module workers. */
async function rehashHere(groups, onProgress, job) {
  const [{ rehash }, { sha256Implementation }] = await Promise.all([import('./rehash.js'), import('./alloy.js')]);
  let cancelled = false;
  job.cancel = () => {
    cancelled = true;
  };
  let last = 0;
  const results = await rehash(groups, (done, total) => {
    if (cancelled) throw Object.assign(new Error('cancelled'), { cancelled: true });
    const now = performance.now();
    if (now - last >= 50 || done === total) {
      last = now;
      onProgress(done, total);
    }
  });
  return { results, sha256: sha256Implementation() };
}

function setProgress(done, total) {
  const p = $('rehash-progress');
  const percent = total > 0 ? Math.floor((done / total) * 100) : 100;
  p.max = total > 0 ? total : 1;
  p.value = total > 0 ? done : 1;
  p.dataset.percent = String(percent);
  $('rehash-percent').textContent = `${percent}%`;
}

async function startRehash(groups) {
  if (groups.length === 0) return;
  rehashJob?.cancel?.();
  const job = {};
  rehashJob = job;
  const section = $('model-check');
  const fileCount = groups.reduce((n, g) => n + (g.kind === 'file' ? 1 : g.files.length), 0);
  const total = groups.reduce((n, g) => n + (g.kind === 'file' ? g.file.size : g.files.reduce((s, f) => s + f.file.size, 0)), 0);
  section.dataset.state = 'hashing';
  setProgress(0, total);
  $('rehash-cancel').hidden = false;
  $('rehash-status').textContent = `Hashing ${plural(fileCount, 'file')} (${bytesText(total)})…`;
  $('rehash-throughput').textContent = '';
  const start = performance.now();
  let results;
  let sha256;
  try {
    try {
      ({ results, sha256 } = await rehashInWorker(groups, setProgress, job));
    } catch (e) {
      if (!e.noWorker) throw e;
      ({ results, sha256 } = await rehashHere(groups, setProgress, job));
    }
  } catch (e) {
    if (rehashJob !== job) return;
    rehashJob = null;
    $('rehash-cancel').hidden = true;
    section.dataset.state = e.cancelled ? 'idle' : 'error';
    $('rehash-status').textContent = e.cancelled ? 'Cancelled.' : `Hashing failed: ${e.message}`;
    return;
  }
  if (rehashJob !== job) return;
  rehashJob = null;
  const ms = performance.now() - start;
  setProgress(total, total);
  $('rehash-cancel').hidden = true;
  rehashResults = results;
  renderRehashResults();
  const mbps = ms > 0 ? total / 1e6 / (ms / 1000) : 0;
  const tp = $('rehash-throughput');
  tp.dataset.bytes = String(total);
  tp.dataset.ms = ms.toFixed(1);
  tp.dataset.mbps = mbps.toFixed(1);
  tp.dataset.sha256 = sha256;
  tp.textContent = `Hashed ${bytesText(total)} in ${(ms / 1000).toFixed(2)} s: ${mbps.toFixed(1)} MB/s (SHA-256 in ${sha256 === 'wasm' ? 'WebAssembly' : 'JavaScript'}).`;
  $('rehash-status').textContent = `Done: ${plural(fileCount, 'file')} hashed.`;
  section.dataset.state = 'done';
}

function renderRehashResults() {
  const links = lastVerdict?.links.filter((l) => !l.error) ?? [];
  const indexOf = new Map((lastVerdict?.links ?? []).map((l, i) => [l, i]));
  $('rehash-results').replaceChildren(...rehashResults.map((r) => {
    const outputs = links.filter((l) => l.output_hash === r.hash);
    const inputs = links.filter((l) => l.input_hash === r.hash);
    const what = r.kind === 'file' ? `file, ${bytesText(r.bytes)}: SHA-256` : `folder of ${plural(r.files.length, 'file')}, ${bytesText(r.bytes)}: directory hash (§4)`;
    let match;
    let matchAttr;
    if (!lastVerdict) {
      matchAttr = 'no-chain';
      match = el('p', { class: 'hint' }, 'No chain is verified yet: verify one above to compare.');
    } else if (outputs.length === 0) {
      matchAttr = 'none';
      match = el('p', {}, 'It matches no link\'s output hash.'
        + (inputs.length ? ` It is the input hash of ${inputs.map((l) => `link ${indexOf.get(l)}`).join(', ')}.` : ''));
    } else {
      matchAttr = outputs.map((l) => indexOf.get(l)).join(',');
      match = el('p', { class: 'match' }, 'It matches the output hash of ',
        ...outputs.flatMap((l, k) => {
          const i = indexOf.get(l);
          return [k ? ', ' : '', el('a', { href: `#link-${i}` }, `link ${i}`), ` (${TYPES[l.type]?.title ?? l.type}: ${TYPES[l.type]?.output ?? 'its output'})`];
        }), '.');
    }
    const files = r.files === null ? null : el('details', {},
      el('summary', {}, `The ${plural(r.files.length, 'file')} hashed, by path`),
      el('table', {},
        el('thead', {}, el('tr', {}, el('th', {}, 'path'), el('th', {}, 'size'), el('th', {}, 'SHA-256'))),
        el('tbody', {}, ...r.files.map((f) => el('tr', {}, el('td', {}, shown(f.path)), el('td', {}, String(f.size)), el('td', {}, hexCode(f.sha256)))))));
    return el('li', { 'data-kind': r.kind, 'data-name': r.name, 'data-hash': r.hash, 'data-match': matchAttr },
      el('p', {}, el('strong', {}, shown(r.name)), ` (${what}) `, hexCode(r.hash)), match, files);
  }));
}

/** Groups from an <input webkitdirectory>: one directory per top folder of webkitRelativePath. */
function groupsFromFolderInput(files) {
  const dirs = new Map();
  const loose = [];
  for (const file of files) {
    const rel = file.webkitRelativePath || '';
    const cut = rel.indexOf('/');
    if (cut < 0) {
      loose.push({ kind: 'file', name: file.name, file });
      continue;
    }
    const root = rel.slice(0, cut);
    if (!dirs.has(root)) dirs.set(root, { kind: 'directory', name: root, files: [] });
    dirs.get(root).files.push({ path: rel.slice(cut + 1), file });
  }
  return [...dirs.values(), ...loose];
}

const entryFile = (entry) => new Promise((resolve, reject) => entry.file(resolve, reject));
const readBatch = (reader) => new Promise((resolve, reject) => reader.readEntries(resolve, reject));

/** Every regular file below a dropped directory entry, with its path relative to it. */
async function walk(dir, prefix, out) {
  const reader = dir.createReader();
  for (;;) {
    const batch = await readBatch(reader);
    if (batch.length === 0) return out;
    for (const entry of batch) {
      if (entry.isFile) out.push({ path: prefix + entry.name, file: await entryFile(entry) });
      else if (entry.isDirectory) await walk(entry, `${prefix}${entry.name}/`, out);
    }
  }
}

/** Groups from a drop: folders (via webkitGetAsEntry) and files. Entries are taken synchronously. */
function groupsFromDrop(dataTransfer) {
  const items = [...(dataTransfer.items ?? [])].filter((i) => i.kind === 'file');
  const entries = items.map((i) => (typeof i.webkitGetAsEntry === 'function' ? i.webkitGetAsEntry() : null));
  const files = items.map((i) => i.getAsFile());
  if (items.length === 0) return Promise.resolve([...dataTransfer.files].map((file) => ({ kind: 'file', name: file.name, file })));
  return Promise.all(entries.map(async (entry, k) => {
    if (entry?.isDirectory) return { kind: 'directory', name: entry.name, files: await walk(entry, '', []) };
    const file = files[k] ?? (entry?.isFile ? await entryFile(entry) : null);
    return file ? { kind: 'file', name: file.name, file } : null;
  })).then((groups) => groups.filter(Boolean));
}

// ---------------------------------------------------------------------------------------------
// Wiring

function dropZone(zone, onDrop) {
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
    zone.classList.add('dragover');
  });
  zone.addEventListener('dragleave', (e) => {
    if (!zone.contains(e.relatedTarget)) zone.classList.remove('dragover');
  });
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    e.stopPropagation();
    zone.classList.remove('dragover');
    onDrop(e.dataTransfer);
  });
}

/** What checks signatures (§3 rule 5), in words, by `ed25519Implementation()`'s answer. */
const ED25519_NAMES = {
  webcrypto: () => "this browser's WebCrypto (Ed25519)",
  noble: () => `@noble/curves 2.4.0, vendored with this page (the browser gives it no WebCrypto Ed25519${window.isSecureContext ? '' : ': the page is not in a secure context, https or localhost'})`,
};

async function checkEnvironment() {
  const warn = $('env-warning');
  const problems = [];
  let ed25519 = 'no';
  try {
    // WebCrypto's Ed25519 where the browser has it (a secure context: https or localhost), else
    // the vendored @noble/curves; alloy.js decides once.
    const impl = await ed25519Implementation();
    ed25519 = impl === 'webcrypto' ? 'yes' : 'noble';
    $('ed25519-impl').textContent = ED25519_NAMES[impl]();
  } catch (e) {
    $('ed25519-impl').textContent = 'nothing: signatures cannot be checked here';
    problems.push(`Signatures cannot be checked: this browser's WebCrypto has no Ed25519 and the page's own Ed25519 (vendor/noble-curves) did not load (${e.message}).`);
  }
  document.documentElement.dataset.ed25519 = ed25519;
  if (problems.length) {
    warn.textContent = problems.join(' ');
    warn.hidden = false;
  }
}

function init() {
  $('not-running').hidden = true;
  $('texts').addEventListener('input', () => {
    updateTextCount();
    if (hasInputs()) scheduleVerify();
  });
  $('chain-files').addEventListener('change', (e) => {
    addFiles([...e.target.files]);
    e.target.value = '';
  });
  dropZone($('chain-drop'), (dt) => {
    if (dt.files.length > 0) addFiles([...dt.files]);
    else {
      const text = dt.getData('text/plain');
      if (text) {
        const box = $('texts');
        box.value = box.value && !/[\r\n]$/.test(box.value) ? `${box.value}\n${text}` : box.value + text;
        updateTextCount();
        scheduleVerify();
      }
    }
  });
  // Images pasted anywhere but in a text box (a screenshot of a code) are read too.
  document.addEventListener('paste', (e) => {
    if (e.target instanceof HTMLTextAreaElement || e.target instanceof HTMLInputElement) return;
    const images = [...(e.clipboardData?.files ?? [])].filter((f) => f.type.startsWith('image/'));
    if (images.length) {
      e.preventDefault();
      addFiles(images);
    }
  });
  $('keyring').addEventListener('input', keyringChanged);
  $('keyring-file').addEventListener('change', async (e) => {
    const file = e.target.files[0];
    e.target.value = '';
    if (!file) return;
    $('keyring').value = await file.text();
    keyringChanged();
  });
  $('verify').addEventListener('click', () => {
    runVerify();
  });
  $('clear').addEventListener('click', () => {
    stopCamera();
    $('texts').value = '';
    $('keyring').value = '';
    sources = [];
    renderSources();
    updateTextCount();
    $('keyring-status').textContent = '';
    $('keyring-status').classList.remove('error');
    resetResult();
  });
  if (navigator.mediaDevices?.getUserMedia) {
    $('camera-start').hidden = false;
    $('camera-start').addEventListener('click', startCamera);
    $('camera-stop').addEventListener('click', () => stopCamera());
  } else {
    $('camera-status').textContent = window.isSecureContext
      ? 'This browser gives the page no camera; use images of the codes instead.'
      : 'The camera needs a secure context (https or localhost); use images of the codes instead.';
  }

  $('model-files').addEventListener('change', (e) => {
    startRehash([...e.target.files].map((file) => ({ kind: 'file', name: file.name, file })));
    e.target.value = '';
  });
  $('model-folder').addEventListener('change', (e) => {
    startRehash(groupsFromFolderInput([...e.target.files]));
    e.target.value = '';
  });
  dropZone($('model-drop'), (dt) => {
    groupsFromDrop(dt).then(startRehash, (err) => {
      $('rehash-status').textContent = `The dropped files could not be read: ${err.message}`;
    });
  });
  $('rehash-cancel').addEventListener('click', () => rehashJob?.cancel?.());

  // A file dropped beside the drop zones must not replace the page.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());

  updateTextCount();
  if (hasInputs()) scheduleVerify(0);
  checkEnvironment().finally(() => {
    document.documentElement.dataset.ready = 'true';
  });
}

init();
