// Node module resolution hooks: resolve the bare specifiers of the vendored @noble packages
// (`@noble/hashes/sha2.js`, imported by web/vendor/noble-curves) to web/vendor/, as
// web/index.html's import map does in the page. Node has WebCrypto Ed25519, so alloy.js loads
// noble there only when a test forces it (`useEd25519('noble')`); such a test registers this
// first:
//
//   import { register } from 'node:module';
//   register('./noble-resolve.mjs', import.meta.url);
//
// SPDX-License-Identifier: Apache-2.0

const VENDOR = new URL('../vendor/', import.meta.url);

export async function resolve(specifier, context, nextResolve) {
  const m = /^@noble\/(curves|hashes)\/(.+\.js)$/.exec(specifier);
  if (m) return { url: new URL(`noble-${m[1]}/${m[2]}`, VENDOR).href, shortCircuit: true };
  return nextResolve(specifier, context);
}
