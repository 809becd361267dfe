// Loads the compiled package (dist/npm/dist) and its wasm module for the Node unit tests.
// Node's fetch cannot read files, so the wasm bytes are handed to initSynclane directly.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../../../', import.meta.url));
export const packageDir = `${root}dist/npm/`;

if (!existsSync(`${packageDir}dist/index.js`)) {
  throw new Error('dist/npm/dist is missing: run scripts/build.sh first');
}

export const synclane = await import(`${packageDir}dist/index.js`);

/** Loads the wasm module once; later calls are no-ops. */
export function loadWasm() {
  return synclane.initSynclane({ module_or_path: readFileSync(`${packageDir}dist/wasm/synclane_bg.wasm`) });
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
