// Loads the compiled package (dist/npm/dist) and its wasm modules for the Node unit tests.
// Node's fetch cannot read files, so the wasm bytes are handed to the loaders directly.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../../../', import.meta.url));
export const packageDir = `${root}dist/npm/`;

if (!existsSync(`${packageDir}dist/index.js`)) {
  throw new Error('dist/npm/dist is missing: run scripts/build.sh first');
}

/** The exports of the main entry, `synclane/memory` and `synclane/conformance` together. */
export const synclane = {
  ...(await import(`${packageDir}dist/index.js`)),
  ...(await import(`${packageDir}dist/memory.js`)),
  ...(await import(`${packageDir}dist/conformance.js`)),
};

/** Loads both wasm modules (the engine's and the in-memory server's) once; later calls are no-ops. */
export function loadWasm() {
  return Promise.all([
    synclane.initSynclane({ module_or_path: readFileSync(`${packageDir}dist/wasm/synclane_bg.wasm`) }),
    synclane.initMemoryServer({ module_or_path: readFileSync(`${packageDir}dist/wasm/synclane_memory_bg.wasm`) }),
  ]);
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `predicate()` holds, or fails after `timeoutMs`. */
export async function waitFor(predicate, timeoutMs = 1000, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
