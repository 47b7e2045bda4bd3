/**
 * qr.js: QR codes read from images and camera frames, with the vendored jsQR.
 *
 * SPDX-License-Identifier: Apache-2.0
 *
 * - `decodeImage(blob)` (async): every QR code's text found in an image file (PNG, JPEG, GIF,
 *   WebP, BMP, SVG), as `{texts, width, height}`. Several codes in one image are found one by
 *   one: each code found is painted over and the image read again.
 * - `decodeFrame(source, width, height, canvas)`: the text of one QR code in a video frame (or
 *   any CanvasImageSource), or null.
 *
 * An `AL1:` code is in QR alphanumeric mode (the Rust encoder may add numeric segments for
 * runs of digits); jsQR gives those characters exactly in its `data`, which is what is
 * returned. Nothing is trimmed: the verifier removes a trailing line break itself.
 */

import jsQR from './vendor/jsqr.mjs';

/** Images are read at most this big (pixels); larger ones are scaled down to it. */
const MAX_PIXELS = 40e6;
/** The first attempt reads a large image scaled so that its longer side is this. */
const FIRST_SIDE = 1600;
/** Images smaller than this (longer side) are scaled up, without smoothing, before reading. */
const MIN_SIDE = 480;
/** At most this many codes are read from one image (a chain has at most 64 parts). */
const MAX_CODES = 64;

function canvasOf(width, height) {
  if (typeof OffscreenCanvas === 'function') return new OffscreenCanvas(width, height);
  const c = document.createElement('canvas');
  c.width = width;
  c.height = height;
  return c;
}

function context2d(canvas) {
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('this browser gives no 2D canvas to read the image with');
  return ctx;
}

/** The image as something drawImage takes, with its size; SVG through an <img>. */
async function loadImage(blob) {
  const svg = blob.type === 'image/svg+xml' || /\.svg$/i.test(blob.name ?? '');
  if (!svg) {
    const bitmap = await createImageBitmap(blob);
    return { image: bitmap, width: bitmap.width, height: bitmap.height, close: () => bitmap.close() };
  }
  const url = URL.createObjectURL(blob);
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    // An SVG without a size of its own is drawn large enough for its modules to be read.
    const width = img.naturalWidth || 1000;
    const height = img.naturalHeight || 1000;
    return { image: img, width, height, close: () => {} };
  } finally {
    // The <img> keeps its decoded picture after the URL is revoked.
    setTimeout(() => URL.revokeObjectURL(url), 0);
  }
}

/** The scales to try for an image of this size, smallest work first. */
function scalesFor(width, height) {
  const side = Math.max(width, height);
  const cap = Math.min(1, Math.sqrt(MAX_PIXELS / (width * height)));
  if (side < MIN_SIDE) return [Math.min(Math.ceil(MIN_SIDE / side), 8)];
  if (side <= FIRST_SIDE) return [Math.min(1, cap)];
  return [FIRST_SIDE / side, cap].filter((s, i, all) => all.indexOf(s) === i);
}

/** jsQR on pixels; null when it finds no code (it throws on some pictures instead of saying so). */
function scan(data, width, height, inversionAttempts) {
  try {
    return jsQR(data, width, height, { inversionAttempts });
  } catch {
    return null;
  }
}

/** Paints white over a found code (its corners, pushed out a little), so that it is not found again. */
function paintOver(ctx, location) {
  const corners = [location.topLeftCorner, location.topRightCorner, location.bottomRightCorner, location.bottomLeftCorner];
  const cx = corners.reduce((s, p) => s + p.x, 0) / 4;
  const cy = corners.reduce((s, p) => s + p.y, 0) / 4;
  ctx.fillStyle = '#ffffff';
  ctx.beginPath();
  corners.forEach((p, i) => {
    const [x, y] = [cx + (p.x - cx) * 1.2, cy + (p.y - cy) * 1.2];
    if (i === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  });
  ctx.closePath();
  ctx.fill();
}

/** The area of a found code's quadrilateral (shoelace formula), in pixels. */
function areaOf(location) {
  const p = [location.topLeftCorner, location.topRightCorner, location.bottomRightCorner, location.bottomLeftCorner];
  let twice = 0;
  for (let i = 0; i < 4; i++) twice += p[i].x * p[(i + 1) % 4].y - p[(i + 1) % 4].x * p[i].y;
  return Math.abs(twice) / 2;
}

/**
 * Every code in the region (x, y, w, h) of the canvas, painting each over once read; adds the
 * texts not yet in `texts`. Returns the area the codes found cover.
 */
function readRegion(ctx, [x, y, w, h], inversion, texts) {
  let area = 0;
  while (texts.length < MAX_CODES) {
    const { data } = ctx.getImageData(x, y, w, h);
    const found = scan(data, w, h, inversion);
    if (!found) break;
    if (found.data !== '' && !texts.includes(found.data)) texts.push(found.data);
    area += areaOf(found.location);
    ctx.save();
    ctx.translate(x, y);
    paintOver(ctx, found.location);
    ctx.restore();
  }
  return area;
}

/**
 * Every code in the canvas. The whole image is read first; jsQR takes the three finder patterns
 * it likes best, so with several codes in view it may read none. With `tiles`, overlapping
 * square tiles (a half and a third of the longer side, each step half a tile) are read next,
 * unless the codes found already cover most of the picture; each code read is painted over, so
 * the sweep is repeated while it finds codes (a tile that held parts of two codes may hold one
 * now). Only when nothing is found is the image read once more as light-on-dark.
 */
function readAll(ctx, width, height, tiles) {
  const texts = [];
  let covered = readRegion(ctx, [0, 0, width, height], 'dontInvert', texts);
  for (let round = 0; tiles && round < 3 && covered < 0.5 * width * height; round++) {
    const before = texts.length;
    for (const k of [2, 3]) {
      // Square tiles, a half and a third of the longer side (no larger than the image).
      const side = Math.ceil(Math.max(width, height) / k);
      const [tw, th] = [Math.min(side, width), Math.min(side, height)];
      for (let ty = 0; ty + th <= height + th / 2 - 1; ty += Math.ceil(th / 2)) {
        for (let tx = 0; tx + tw <= width + tw / 2 - 1; tx += Math.ceil(tw / 2)) {
          covered += readRegion(ctx, [Math.min(tx, width - tw), Math.min(ty, height - th), tw, th], 'dontInvert', texts);
        }
      }
    }
    if (texts.length === before) break;
  }
  if (texts.length === 0) readRegion(ctx, [0, 0, width, height], 'onlyInvert', texts);
  return texts;
}

/** Every QR code's text in an image file, in the order found. Throws if the file is no image. */
export async function decodeImage(blob) {
  let loaded;
  try {
    loaded = await loadImage(blob);
  } catch (e) {
    throw new Error(`not an image this browser can read (${e.message || e.name})`);
  }
  try {
    const { image, width, height } = loaded;
    for (const [n, scale] of scalesFor(width, height).entries()) {
      const [w, h] = [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
      const canvas = canvasOf(w, h);
      const ctx = context2d(canvas);
      ctx.imageSmoothingEnabled = scale < 1;
      ctx.fillStyle = '#ffffff'; // transparent pixels read as white
      ctx.fillRect(0, 0, w, h);
      ctx.drawImage(image, 0, 0, w, h);
      const texts = readAll(ctx, w, h, n === 0); // tiles at the first scale only: they cost
      if (texts.length > 0) return { texts, width, height };
    }
    return { texts: [], width, height };
  } finally {
    loaded.close();
  }
}

/** The text of one QR code in a frame (drawn into `canvas`, at most 960 pixels wide), or null. */
export function decodeFrame(source, width, height, canvas) {
  if (!width || !height) return null;
  const scale = Math.min(1, 960 / Math.max(width, height));
  const [w, h] = [Math.round(width * scale), Math.round(height * scale)];
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const ctx = context2d(canvas);
  ctx.drawImage(source, 0, 0, w, h);
  const found = scan(ctx.getImageData(0, 0, w, h).data, w, h, 'dontInvert');
  return found && found.data !== '' ? found.data : null;
}
