/**
 * Loading the engine's WebAssembly module, and its classes with precise TypeScript types.
 *
 * `SyncEngine.open` loads the module itself; call {@link initSynclane} before constructing a
 * {@link SyncClock}. In browsers and bundlers it finds `synclane_bg.wasm` beside the JavaScript
 * through `import.meta.url` (Vite serves and fingerprints it without plugins); in Node pass the
 * bytes. The in-memory server is a module of its own (`synclane/memory`).
 *
 * @module
 */

import init, { initSync, SyncClock as WasmSyncClock } from './wasm/synclane.js';
import { wasmLoader, type SynclaneInitInput } from './wasm-loader.js';

export type { SynclaneInitInput } from './wasm-loader.js';

const engineModule = wasmLoader(init, initSync);

/**
 * Loads and instantiates the engine's wasm module. Idempotent: every call returns the same
 * promise, so any number of callers may await it; if loading fails, the next call tries again.
 *
 * @throws SyncError `network` when the module cannot be fetched, `internal` when it cannot be
 *   instantiated.
 */
export function initSynclane(input?: SynclaneInitInput): Promise<void> {
  return engineModule.load(input);
}

/**
 * Instantiates the engine's wasm module synchronously from its bytes or a compiled module
 * (workers, Node tests). A no-op once the module is loaded.
 */
export function initSynclaneSync(module: BufferSource | WebAssembly.Module): void {
  engineModule.loadSync(module);
}

/** Whether the engine's wasm module is loaded, so wasm-backed classes can be constructed. */
export function isSynclaneReady(): boolean {
  return engineModule.isReady();
}

/**
 * A device's hybrid logical clock, on the browser's clock, with the engine's skew policy
 * (5 minutes of drift, stamps more than 24 hours ahead refused). Tools and custom providers
 * use it to stamp ops exactly as the engine does.
 */
export interface SyncClock {
  /** A new stamp string, greater than every stamp this clock made or merged. */
  now(): string;
  /**
   * Merges a remote stamp. Returns how many milliseconds it was ahead when that exceeded the
   * drift bound (the skew is reported, the clock stops at the bound), or 0. Throws
   * `invalid_change` for a malformed stamp and `clock_skew` for one from the far future.
   */
  merge(hlc: string): number;
  /** Frees the wasm memory now rather than when the object is garbage collected. */
  free(): void;
}

/** The constructor of {@link SyncClock}. */
export interface SyncClockConstructor {
  /** A clock for `deviceId`. Requires {@link initSynclane} to have completed. */
  new (deviceId: string): SyncClock;
  /** The prototype, so `instanceof SyncClock` works. */
  readonly prototype: SyncClock;
}

/** The wasm class itself, documented here. */
export const SyncClock: SyncClockConstructor = WasmSyncClock;
