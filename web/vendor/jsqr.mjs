// An ES-module face for the vendored jsQR 1.4.0 (./jsqr/jsQR.js, unchanged from the npm package
// `jsqr`, Apache-2.0, see ./jsqr/LICENSE and ./README.md).
//
// jsqr/jsQR.js is a webpack UMD bundle. Evaluated as a module it finds neither CommonJS nor AMD and
// sets `self.jsQR`; this module takes the function from there and removes the global again.
//
// SPDX-License-Identifier: Apache-2.0

import './jsqr/jsQR.js';

const jsQR = globalThis.jsQR;
if (typeof jsQR !== 'function') throw new Error('vendor/jsqr/jsQR.js did not define jsQR');
delete globalThis.jsQR;

export default jsQR;
