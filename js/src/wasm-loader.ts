/**
 * Loading a wasm module of the package (the engine's, the in-memory server's): once, by any
 * number of callers, with errors as `SyncError`s. It imports neither module's bindings, so each
 * entry point bundles only the module it uses.
 *
 * @module
 */

import type { InitInput } from './wasm/synclane.js';
import { toSyncError } from './errors.js';

/**
 * What `initSynclane` and `initMemoryServer` accept: nothing (fetch the module's `.wasm` file
 * next to its JavaScript), a URL or path, a `Response`, the module's bytes, a compiled
 * `WebAssembly.Module`, a promise of one of these, or `{ module_or_path }` wrapping one
 * (wasm-bindgen's own form).
 */
export type SynclaneInitInput =
  | InitInput
  | Promise<InitInput>
  | { module_or_path: InitInput | Promise<InitInput> };

/** How one wasm module of the package is loaded: once, by any number of callers. */
export interface WasmLoader {
  load(input?: SynclaneInitInput): Promise<void>;
  loadSync(module: BufferSource | WebAssembly.Module): void;
  isReady(): boolean;
}

/**
 * A loader over a wasm-bindgen module's `init` and `initSync`. Loading is idempotent: every
 * call returns the same promise; if it fails, the next call tries again. Errors are
 * `SyncError`s: `network` when the module cannot be fetched, `internal` when it cannot be
 * instantiated.
 *
 * @internal
 */
export function wasmLoader(
  initAsync: (input?: { module_or_path: InitInput | Promise<InitInput> }) => Promise<unknown>,
  initNow: (input: { module: BufferSource | WebAssembly.Module }) => unknown,
): WasmLoader {
  let loading: Promise<void> | undefined;
  let ready = false;
  return {
    load(input) {
      if (ready) return Promise.resolve();
      loading ??= initAsync(input === undefined ? undefined : wrapInput(input)).then(
        () => {
          ready = true;
        },
        (error: unknown) => {
          loading = undefined;
          throw toSyncError(error);
        },
      );
      return loading;
    },
    loadSync(module) {
      if (ready) return;
      try {
        initNow({ module });
      } catch (error) {
        throw toSyncError(error);
      }
      ready = true;
    },
    isReady: () => ready,
  };
}

function wrapInput(input: SynclaneInitInput): { module_or_path: InitInput | Promise<InitInput> } {
  // wasm-bindgen deprecates the bare form and warns on the console: always pass the object.
  if (typeof input === 'object' && input !== null && Object.getPrototypeOf(input) === Object.prototype) {
    return input as { module_or_path: InitInput | Promise<InitInput> };
  }
  return { module_or_path: input as InitInput | Promise<InitInput> };
}
