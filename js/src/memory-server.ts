/**
 * The in-memory reference server's wasm module: its loader and the `MemorySyncServer` class
 * with precise TypeScript types. A module of its own, behind `synclane/memory`, so an app that
 * syncs with a real backend never downloads it.
 *
 * @module
 */

import init, { initSync, MemorySyncServer as WasmMemorySyncServer } from './wasm/synclane_memory.js';
import type { PullRequest, PullResponse, PushBatch, PushResult } from './types/protocol.js';
import { wasmLoader, type SynclaneInitInput } from './wasm-loader.js';

const memoryModule = wasmLoader(init, initSync);

/**
 * Loads and instantiates the in-memory server's wasm module (`synclane_memory_bg.wasm`, found
 * beside the JavaScript like the engine's). Idempotent: every call returns the same promise;
 * if loading fails, the next call tries again.
 *
 * @throws SyncError `network` when the module cannot be fetched, `internal` when it cannot be
 *   instantiated.
 */
export function initMemoryServer(input?: SynclaneInitInput): Promise<void> {
  return memoryModule.load(input);
}

/**
 * Instantiates the in-memory server's wasm module synchronously from its bytes or a compiled
 * module (workers, Node tests). A no-op once the module is loaded.
 */
export function initMemoryServerSync(module: BufferSource | WebAssembly.Module): void {
  memoryModule.loadSync(module);
}

/** Whether the in-memory server's wasm module is loaded, so servers can be constructed. */
export function isMemoryServerReady(): boolean {
  return memoryModule.isReady();
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
  /** Requires {@link initMemoryServer} to have completed. */
  new (options?: MemorySyncServerOptions): MemorySyncServer;
  /** The prototype, so `instanceof MemorySyncServer` works. */
  readonly prototype: MemorySyncServer;
}

/**
 * The wasm class itself, typed with the protocol's shapes instead of the generated `any`s.
 */
export const MemorySyncServer: MemorySyncServerConstructor =
  WasmMemorySyncServer as unknown as MemorySyncServerConstructor;
