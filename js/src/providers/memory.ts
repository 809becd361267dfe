/**
 * `MemorySyncProvider`: the {@link SyncProvider} contract over the in-memory reference server,
 * with fault knobs (latency, failures, rate limits, expired cursors, offline, rejected ops) so
 * tests, demos and the conformance kit can exercise every path of the engine without a backend.
 * The knobs and how a call meets them are in `memory/faults.ts`.
 *
 * @module
 */

import { isSyncErrorCode, SyncError, toSyncError, type SyncErrorCode } from '../errors.js';
import type {
  PendingOp,
  PullRequest,
  PullResponse,
  PushBatch,
  PushOpResult,
  PushResult,
  SyncChange,
  SyncProvider,
  SyncScope,
} from '../types/protocol.js';
import {
  isMemoryServerReady,
  MemorySyncServer,
  type MemorySyncServerOptions,
  type MemoryWorkspaceStats,
} from '../memory-server.js';
import { copyFaults, failureFor, pause, type MemoryProviderCall, type MemoryProviderFaults } from './memory/faults.js';

export type { InjectedFailure, MemoryProviderCall, MemoryProviderFaults } from './memory/faults.js';

/** Options of the {@link MemorySyncProvider} constructor. */
export interface MemorySyncProviderOptions {
  /** The provider's id. Default `'memory'`. */
  id?: string;
  /**
   * The server to talk to. Several providers sharing one server are several devices of one
   * backend. Default: a new server made with `serverOptions` (which needs `initMemoryServer()`).
   */
  server?: MemorySyncServer;
  /** Options of the server made when `server` is not given. */
  serverOptions?: MemorySyncServerOptions;
  /** Initial fault knobs. */
  faults?: MemoryProviderFaults;
  /** Receives what a subscriber's `onChanges` throws. Default: `console.error`. */
  onSubscriberError?: (error: unknown) => void;
}

interface Subscriber {
  readonly workspaceId: string;
  /** Empty means every table. */
  readonly tables: ReadonlySet<string>;
  /** Queues a delivery; drops it when the subscriber's provider is offline. */
  readonly deliver: (changes: SyncChange[]) => void;
  active: boolean;
}

// Subscribers per server, so that every provider sharing a server (every device of one
// backend) hears every other's pushes. Weak, so a dropped server takes its list with it.
const subscribersByServer = new WeakMap<MemorySyncServer, Set<Subscriber>>();

function subscribersOf(server: MemorySyncServer): Set<Subscriber> {
  let set = subscribersByServer.get(server);
  if (!set) {
    set = new Set();
    subscribersByServer.set(server, set);
  }
  return set;
}

/**
 * A {@link SyncProvider} over a {@link MemorySyncServer}, with fault knobs. Every error it
 * throws is a `SyncError` with a canonical code.
 *
 * Subscriptions receive the changes of every later successful push made through any
 * `MemorySyncProvider` sharing the server (the pusher's own subscriptions included, as real
 * backends echo), asynchronously and in order, never re-entrantly. Pushes made by calling the
 * server directly are not delivered.
 *
 * @example
 * ```ts
 * await initMemoryServer();
 * const laptop = new MemorySyncProvider({ id: 'laptop' });
 * const phone = new MemorySyncProvider({ id: 'phone', server: laptop.server });
 * phone.setFaults({ offline: true });
 * phone.updateFaults({ latencyMs: 50 }); // still offline, and slow
 * phone.setFaults({}); // every fault off: online and fast again
 * ```
 */
export class MemorySyncProvider implements SyncProvider {
  /** The provider's id (default `'memory'`). */
  readonly id: string;
  /** Always `'direct'`: the "backend" lives in the page. */
  readonly mode = 'direct' as const;
  #server: MemorySyncServer;
  #faults: MemoryProviderFaults = {};
  #onSubscriberError: (error: unknown) => void;
  #subscribers = new Set<Subscriber>();
  #disposed = false;

  /** @throws SyncError `internal` when no server is given and the wasm module is not loaded. */
  constructor(options: MemorySyncProviderOptions = {}) {
    this.id = options.id ?? 'memory';
    this.#server = options.server ?? createServer(options.serverOptions);
    this.#onSubscriberError =
      options.onSubscriberError ??
      ((error) => {
        console.error(`[synclane] a subscriber of provider "${this.id}" failed:`, error);
      });
    if (options.faults) this.faults = options.faults;
  }

  /** The server this provider talks to; pass it to other providers to share the backend. */
  get server(): MemorySyncServer {
    return this.#server;
  }

  /** A copy of the current fault knobs (with what is left of `failNext` and `rateLimit`). */
  get faults(): MemoryProviderFaults {
    return copyFaults(this.#faults);
  }

  /** Replaces every fault knob, as {@link MemorySyncProvider.setFaults} does. */
  set faults(faults: MemoryProviderFaults) {
    this.#faults = copyFaults(faults);
  }

  /**
   * Replaces the whole fault set: the knobs given are on, every other knob is off, so
   * `setFaults({})` clears every fault (an earlier `offline: true` included). To change some
   * knobs and keep the others, use {@link MemorySyncProvider.updateFaults}.
   */
  setFaults(faults: MemoryProviderFaults): void {
    this.#faults = copyFaults(faults);
  }

  /**
   * Changes the given knobs and keeps the others (a merge); a knob given as `undefined` is
   * turned off. `updateFaults({ latencyMs: 50 })` adds latency to whatever faults are on.
   */
  updateFaults(patch: MemoryProviderFaults): void {
    this.#faults = copyFaults({ ...this.#faults, ...patch });
  }

  /** Subscribes to the changes later pushed to `tables` of `scope` (all tables if empty). */
  async subscribe(
    scope: SyncScope,
    tables: string[],
    onChanges: (changes: SyncChange[]) => void,
  ): Promise<() => void> {
    const workspaceId = checkScope(scope);
    if (!Array.isArray(tables) || tables.some((t) => typeof t !== 'string')) {
      throw new SyncError('invalid_argument', 'tables must be an array of table names');
    }
    if (typeof onChanges !== 'function') {
      throw new SyncError('invalid_argument', 'onChanges must be a function');
    }
    await this.#call('subscribe', () => undefined);
    let queue: Promise<void> = Promise.resolve();
    const subscriber: Subscriber = {
      workspaceId,
      tables: new Set(tables),
      active: true,
      deliver: (changes) => {
        if (this.#faults.offline) return;
        // One queue per subscriber keeps deliveries in push order whatever the latency.
        queue = queue.then(async () => {
          await pause(this.#faults.latencyMs);
          if (!subscriber.active || this.#faults.offline) return;
          try {
            onChanges(structuredClone(changes));
          } catch (error) {
            this.#reportSubscriberError(error);
          }
        });
      },
    };
    this.#subscribers.add(subscriber);
    subscribersOf(this.#server).add(subscriber);
    return () => this.#unsubscribe(subscriber);
  }

  /** One page of changes after `request.cursor`. */
  async pull(request: PullRequest): Promise<PullResponse> {
    return this.#call('pull', () => {
      const floor = this.#faults.expireCursorBelow;
      if (floor !== undefined && typeof request?.cursor === 'number' && request.cursor < floor) {
        const freshSnapshot = request.snapshot === true && request.cursor === 0;
        const floorUnchanged = typeof request.retentionFloor === 'number' && request.retentionFloor >= floor;
        if (!freshSnapshot && !floorUnchanged) {
          throw new SyncError(
            'cursor_expired',
            `cursor ${request.cursor} is below the retention floor ${floor}; rescan from 0`,
          );
        }
      }
      const response = this.#server.pull(request);
      if (floor !== undefined && floor > response.retentionFloor) response.retentionFloor = floor;
      return response;
    });
  }

  /** Pushes a batch; ops chosen by `faults.rejectOps` come back `rejected` without reaching the server. */
  async push(batch: PushBatch): Promise<PushResult> {
    return this.#call('push', () => this.#pushNow(batch));
  }

  /** Records how far `deviceId` has pulled. */
  async updateCursor(scope: SyncScope, deviceId: string, version: number): Promise<void> {
    const workspaceId = checkScope(scope);
    if (typeof deviceId !== 'string') {
      throw new SyncError('invalid_argument', 'deviceId must be a string');
    }
    if (typeof version !== 'number') {
      throw new SyncError('invalid_argument', 'version must be a number');
    }
    await this.#call('updateCursor', () => this.#server.updateCursor(workspaceId, deviceId, version));
  }

  /** Ends this provider's subscriptions; later calls fail with `closed`. The server is left as it is. */
  dispose(): void {
    this.#disposed = true;
    for (const subscriber of [...this.#subscribers]) this.#unsubscribe(subscriber);
  }

  /** Purges the server's old tombstones that every active device has pulled; returns how many. */
  collectGarbage(): number {
    return wrapSync(() => this.#server.collectGarbage());
  }

  /** The server's counts for a workspace. */
  stats(workspaceId: string): MemoryWorkspaceStats {
    return wrapSync(() => this.#server.stats(workspaceId));
  }

  async #call<R>(call: MemoryProviderCall, run: () => R): Promise<R> {
    this.#checkOpen();
    await pause(this.#faults.latencyMs);
    this.#checkOpen();
    const before = failureFor(this.#faults, this.id, call, 'before');
    if (before) throw before;
    const result = wrapSync(run);
    const after = failureFor(this.#faults, this.id, call, 'after');
    if (after) throw after;
    return result;
  }

  #pushNow(batch: PushBatch): PushResult {
    const rejectOps = this.#faults.rejectOps;
    const rejected = new Map<number, SyncErrorCode>();
    if (rejectOps && Array.isArray(batch?.ops)) {
      batch.ops.forEach((op, index) => {
        const code = rejectOps(op);
        if (code !== undefined) rejected.set(index, code);
      });
    }
    if (rejected.size === 0) {
      const result = this.#server.push(batch);
      this.#publish(batch, batch.ops, result.results);
      return result;
    }
    const forwarded = batch.ops.filter((_, index) => !rejected.has(index));
    const serverResult: PushResult =
      forwarded.length > 0
        ? this.#server.push({ ...batch, ops: forwarded })
        : { results: [], serverVersion: this.#server.stats(checkScope(batch.scope)).version };
    this.#publish(batch, forwarded, serverResult.results);
    const fromServer = serverResult.results[Symbol.iterator]();
    const results = batch.ops.map((op, index): PushOpResult => {
      const code = rejected.get(index);
      if (code === undefined) return fromServer.next().value as PushOpResult;
      return {
        opId: op.stamp.opId,
        status: 'rejected',
        error: { code, message: `op ${op.stamp.opId} was rejected by the server (injected fault)` },
      };
    });
    return { results, serverVersion: serverResult.serverVersion };
  }

  /** Hands the applied ops of a push to every subscriber of the workspace, on every provider. */
  #publish(batch: PushBatch, ops: PendingOp[], results: PushOpResult[]): void {
    const applied: SyncChange[] = [];
    ops.forEach((op, index) => {
      const result = results[index];
      if (result?.status !== 'applied' || result.serverVersion === undefined) return;
      const change: SyncChange = {
        tableName: op.tableName,
        pk: op.pk,
        op: op.op,
        serverVersion: result.serverVersion,
        // Only the stamp's own fields: the server ignores extra ones, so pulls never show them.
        stamp: { clock: op.stamp.clock, hlc: op.stamp.hlc, deviceId: op.stamp.deviceId, opId: op.stamp.opId },
      };
      if (op.op === 'put' && op.payload !== undefined) change.payload = op.payload;
      applied.push(change);
    });
    if (applied.length === 0) return;
    // Copy now: the pusher may change its objects before the delivery runs.
    const snapshot = structuredClone(applied);
    for (const subscriber of subscribersOf(this.#server)) {
      if (!subscriber.active || subscriber.workspaceId !== batch.scope.workspaceId) continue;
      const wanted =
        subscriber.tables.size === 0 ? snapshot : snapshot.filter((c) => subscriber.tables.has(c.tableName));
      if (wanted.length > 0) subscriber.deliver(wanted);
    }
  }

  #unsubscribe(subscriber: Subscriber): void {
    subscriber.active = false;
    this.#subscribers.delete(subscriber);
    subscribersByServer.get(this.#server)?.delete(subscriber);
  }

  #checkOpen(): void {
    if (this.#disposed) throw new SyncError('closed', `provider "${this.id}" was disposed`);
  }

  #reportSubscriberError(error: unknown): void {
    try {
      this.#onSubscriberError(error);
    } catch {
      // The handler failed too; delivery to the other subscribers must go on regardless.
    }
  }
}

function createServer(options: MemorySyncServerOptions | undefined): MemorySyncServer {
  try {
    return new MemorySyncServer(options);
  } catch (error) {
    if (!isMemoryServerReady()) {
      throw new SyncError('internal', "the in-memory server's wasm module is not loaded: await initMemoryServer() first", {
        cause: error,
      });
    }
    throw toSyncError(error);
  }
}

function checkScope(scope: SyncScope): string {
  if (typeof scope !== 'object' || scope === null || typeof scope.workspaceId !== 'string') {
    throw new SyncError('invalid_argument', 'scope must be { workspaceId: string }');
  }
  return scope.workspaceId;
}

/**
 * Runs a synchronous wasm call, turning what it throws into a `SyncError`. Only the wasm's own
 * errors carry a code; anything else here is a bug, not a network failure, so it is `internal`.
 */
function wrapSync<R>(run: () => R): R {
  try {
    return run();
  } catch (error) {
    if (error instanceof SyncError || isSyncErrorCode((error as { code?: unknown } | null)?.code)) {
      throw toSyncError(error);
    }
    throw new SyncError('internal', error instanceof Error ? error.message : String(error), { cause: error });
  }
}
