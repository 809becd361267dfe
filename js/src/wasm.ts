/**
 * Loading the WebAssembly module, and the wasm classes with precise TypeScript types.
 *
 * Call {@link initSynclane} once before using anything backed by wasm (`MemorySyncServer`,
 * `SyncClock`, `MemorySyncProvider` without a server). In browsers and bundlers it finds
 * `synclane_bg.wasm` beside the JavaScript through `import.meta.url` (Vite serves and
 * fingerprints it without plugins); in Node pass the bytes.
 *
 * @module
 */

import init, {
  initSync,
  MemorySyncServer as WasmMemorySyncServer,
  SyncClock as WasmSyncClock,
  type InitInput,
} from './wasm/synclane.js';
import { toSyncError } from './errors.js';
import type { PullRequest, PullResponse, PushBatch, PushResult } from './types.js';

/**
 * What {@link initSynclane} accepts: nothing (fetch `synclane_bg.wasm` next to the module), a
 * URL or path, a `Response`, the module's bytes, a compiled `WebAssembly.Module`, a promise of
 * one of these, or `{ module_or_path }` wrapping one (wasm-bindgen's own form).
 */
export type SynclaneInitInput =
  | InitInput
  | Promise<InitInput>
  | { module_or_path: InitInput | Promise<InitInput> };

let loading: Promise<void> | undefined;
let ready = false;

/**
 * Loads and instantiates the wasm module. Idempotent: every call returns the same promise, so
 * any number of callers may await it; if loading fails, the next call tries again.
 *
 * @throws SyncError `network` when the module cannot be fetched, `internal` when it cannot be
 *   instantiated.
 */
export function initSynclane(input?: SynclaneInitInput): Promise<void> {
  if (ready) return Promise.resolve();
  loading ??= init(input === undefined ? undefined : wrapInput(input)).then(
    () => {
      ready = true;
    },
    (error: unknown) => {
      loading = undefined;
      throw toSyncError(error);
    },
  );
  return loading;
}

/**
 * Instantiates the wasm module synchronously from its bytes or a compiled module (workers,
 * Node tests). A no-op once the module is loaded.
 */
export function initSynclaneSync(module: BufferSource | WebAssembly.Module): void {
  if (ready) return;
  try {
    initSync({ module });
  } catch (error) {
    throw toSyncError(error);
  }
  ready = true;
}

/** Whether the wasm module is loaded, so wasm-backed classes can be constructed. */
export function isSynclaneReady(): boolean {
  return ready;
}

function wrapInput(input: SynclaneInitInput): { module_or_path: InitInput | Promise<InitInput> } {
  // wasm-bindgen deprecates the bare form and warns on the console: always pass the object.
  if (typeof input === 'object' && input !== null && Object.getPrototypeOf(input) === Object.prototype) {
    return input as { module_or_path: InitInput | Promise<InitInput> };
  }
  return { module_or_path: input as InitInput | Promise<InitInput> };
}

/** Options of a {@link MemorySyncServer}. Unknown fields are refused with `invalid_argument`. */
export interface MemorySyncServerOptions {
  /** How long a tombstone is kept at least (ms). Default 7 days. */
  tombstoneRetentionMs?: number;
  /** A device not seen for this long no longer holds back tombstone purging (ms). Default 30 days. */
  deviceTtlMs?: number;
  /** The largest page a pull returns. Default 1000. */
  maxPullLimit?: number;
}

/** Counts of one workspace of a {@link MemorySyncServer}. */
export interface MemoryWorkspaceStats {
  /** The workspace's version counter (the head). */
  version: number;
  /** Live records. */
  records: number;
  /** Tombstones still in the change log. */
  tombstones: number;
  /** The retention floor: the highest version of a purged tombstone. */
  floor: number;
  /** Devices with a cursor. */
  devices: number;
}

/**
 * The in-memory reference server, running the core's protocol rules in wasm: version counter,
 * compacted change log, push idempotent by `opId`, the conflict rule, tombstones, paginated
 * pull, device cursors and a retention floor.
 *
 * Its methods are synchronous and throw the wasm module's errors (plain `Error`s named
 * `'SyncError'` with a `code`); `toSyncError` turns them into `SyncError` instances.
 * `MemorySyncProvider` wraps it in the asynchronous provider contract.
 */
export interface MemorySyncServer {
  /** Applies a batch atomically and returns the per-op results. */
  push(batch: PushBatch): PushResult;
  /** Answers one page of a pull. */
  pull(request: PullRequest): PullResponse;
  /** Records how far a device has pulled. */
  updateCursor(workspaceId: string, deviceId: string, version: number): void;
  /** Purges old tombstones that every active device has pulled; returns how many. */
  collectGarbage(): number;
  /** Counts for one workspace (all zero for an unknown one). */
  stats(workspaceId: string): MemoryWorkspaceStats;
  /** Frees the wasm memory now rather than when the object is garbage collected. */
  free(): void;
}

/** The constructor of {@link MemorySyncServer}. */
export interface MemorySyncServerConstructor {
  /** Requires {@link initSynclane} to have completed. */
  new (options?: MemorySyncServerOptions): MemorySyncServer;
  /** The prototype, so `instanceof MemorySyncServer` works. */
  readonly prototype: MemorySyncServer;
}

/**
 * The wasm class itself, typed with the protocol's shapes instead of the generated `any`s.
 */
export const MemorySyncServer: MemorySyncServerConstructor =
  WasmMemorySyncServer as unknown as MemorySyncServerConstructor;

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
