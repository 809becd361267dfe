/**
 * `SyncEngine`: the app-facing facade. It owns one workspace database (through the wasm
 * `EngineCore`), a provider, and the hooks. Local reads and writes never wait for the network;
 * `syncNow()` pushes the outbox and pulls what other devices wrote.
 *
 * @module
 */

import { EngineCore } from './wasm/synclane.js';
import { HookEmitter } from './hooks.js';
import { getActiveSyncProvider, listSyncProviders } from './registry.js';
import { SyncError, toSyncError } from './errors.js';
import { SyncRunner } from './sync-runner.js';
import { initSynclane } from './wasm.js';
import { installDevtoolsHook } from './devtools/hook.js';
import { openTabChannel, type TabChannel } from './tab-channel.js';
import type { PendingOp, SyncPayload, SyncProvider } from './types/protocol.js';
import type { SyncHookMap } from './types/hooks.js';
import type { SyncDecision, SyncReport, SyncStatus, SyncTrigger } from './types/sync.js';
import type {
  CapturedOp,
  CursorState,
  EngineInspection,
  OutboxEntry,
  RecordQuery,
  RescanPlan,
  SyncEngineOptions,
  SyncPlan,
  WatchEvent,
  WriteOp,
} from './types/engine.js';

/** The sync engine of one workspace. */
export class SyncEngine {
  /** Lifecycle and sync events; `on` returns an unsubscribe function. */
  readonly hooks: HookEmitter<SyncHookMap>;
  #core: EngineCore;
  #provider: SyncProvider | undefined;
  #watchers = new Map<string, Set<(event: WatchEvent) => void>>();
  /** The other tabs of the app (none without BroadcastChannel, or once closed). */
  #tabs: TabChannel | undefined;
  #runner: SyncRunner;
  #onListenerError: (error: unknown, name: string) => void;
  #closed = false;

  private constructor(core: EngineCore, options: SyncEngineOptions, provider: SyncProvider | undefined) {
    this.#core = core;
    this.#provider = provider;
    this.#onListenerError = options.onListenerError ?? ((error, name) => console.error(`synclane: ${name} listener failed`, error));
    this.hooks = new HookEmitter<SyncHookMap>({ onListenerError: this.#onListenerError });
    const tables = options.tables.map((t) => (typeof t === 'string' ? t : t.name));
    const handOver = (trigger: SyncTrigger) => this.#tabs?.requestSync(trigger);
    this.#runner = new SyncRunner(core, this.hooks, () => this.provider, tables, (changes) => this.#announce(changes, 'remote'), handOver, {
      ...(options.pullLimit !== undefined && { pullLimit: options.pullLimit }),
      ...options.sync,
      ...(options.outbox?.capacityBytes !== undefined && { outboxCapacityBytes: options.outbox.capacityBytes }),
    });
    // Other tabs of the app share the database; they announce what they changed.
    this.#tabs = openTabChannel(
      core.dbName,
      (table, ids, local) => {
        this.#notify({ table, ids, source: 'other-tab' }, false);
        // Another tab wrote: if this tab runs the sync loop, it pushes those writes.
        if (local) this.#runner.localWrite(local);
      },
      (trigger) => {
        // A tab without the loop asked for a sync; the tab that runs it (if this is it) obliges.
        // As a request of the loop's own: dropped once the loop stops, never left unhandled.
        if (this.#runner.isLeader) this.#runner.wake(trigger);
      },
    );
    core.onStorageLost((info: { reason: 'deleted' | 'closed'; pendingOps?: OutboxEntry[] | null }) => void this.#storageLost(info));
    // Tools (the devtools panel and extension) find the page's engines here.
    installDevtoolsHook(this);
  }

  /** Opens (creating or upgrading) the workspace database. */
  static async open(options: SyncEngineOptions): Promise<SyncEngine> {
    await initSynclane();
    const provider = resolveProvider(options.provider);
    const tables = options.tables.map((t) => (typeof t === 'string' ? { name: t } : t));
    try {
      const core = (await EngineCore.open({
        workspaceId: options.workspaceId,
        tables,
        ...(options.deviceId !== undefined && { deviceId: options.deviceId }),
        ...(options.dbName !== undefined && { dbName: options.dbName }),
        ...(options.outbox !== undefined && { outbox: options.outbox }),
        ...(options.clock !== undefined && { clock: options.clock }),
      })) as EngineCore;
      return new SyncEngine(core, options, provider);
    } catch (error) {
      throw toSyncError(error);
    }
  }

  get workspaceId(): string {
    return this.#core.workspaceId;
  }

  get deviceId(): string {
    return this.#core.deviceId;
  }

  get dbName(): string {
    return this.#core.dbName;
  }

  /** The provider in use, if any. */
  get provider(): SyncProvider | undefined {
    return this.#provider ?? getActiveSyncProvider();
  }

  /** Writes (creates or replaces) a record. */
  async put<T extends SyncPayload>(table: string, record: T & { id: string }): Promise<CapturedOp> {
    const [captured] = await this.batch([{ table, op: 'put', record }]);
    return captured!;
  }

  /** Deletes a record (it becomes a tombstone that syncs). */
  async delete(table: string, id: string): Promise<CapturedOp> {
    const [captured] = await this.batch([{ table, op: 'delete', id }]);
    return captured!;
  }

  /** Writes several records in one transaction: all of them land, or none. */
  async batch(ops: WriteOp[]): Promise<CapturedOp[]> {
    let result: { captured: CapturedOp[]; outbox: { count: number; bytes: number } };
    try {
      result = await this.#core.write(ops);
    } catch (error) {
      const err = toSyncError(error);
      const first = ops[0];
      this.hooks.emit('sync.capture:action:failed', {
        workspaceId: this.workspaceId,
        tableName: first?.table ?? '',
        ...(first && { pk: first.op === 'put' ? first.record.id : first.id }),
        error: err,
      });
      throw err;
    }
    // The core captures one op per write, in the order of `ops`.
    const deviceId = this.deviceId;
    const pending: PendingOp[] = result.captured.map((c, i) => {
      const source = ops[i];
      return {
        tableName: c.tableName,
        pk: c.pk,
        op: c.op,
        ...(source?.op === 'put' && { payload: source.record }),
        stamp: { clock: c.clock, hlc: c.hlc, deviceId, opId: c.opId },
      };
    });
    this.hooks.emit('sync.op:action:captured', { workspaceId: this.workspaceId, ops: pending });
    this.#announce(result.captured.map((c) => ({ table: c.tableName, id: c.pk })), 'local', result.outbox);
    this.#runner.localWrite(result.outbox);
    return result.captured;
  }

  /** One record, or `undefined`. */
  get<T extends SyncPayload = SyncPayload>(table: string, id: string, options: { withMeta?: boolean } = {}): Promise<T | undefined> {
    return fromCore(() => this.#core.get(table, id, options.withMeta ?? false));
  }

  /** Records of a table, by key or index range. */
  getAll<T extends SyncPayload = SyncPayload>(table: string, query: RecordQuery = {}): Promise<T[]> {
    return fromCore(() => this.#core.getAll(table, query));
  }

  /**
   * Calls `callback` whenever records of `table` change: local writes, remote changes and
   * writes in other tabs. Returns the function that stops watching.
   */
  watch(table: string, callback: (event: WatchEvent) => void): () => void {
    let set = this.#watchers.get(table);
    if (!set) this.#watchers.set(table, (set = new Set()));
    set.add(callback);
    return () => set!.delete(callback);
  }

  /** The outbox in queue order, with state, attempts, next retry, size and last error. */
  async outbox(): Promise<{ entries: OutboxEntry[]; totals: { count: number; bytes: number } }> {
    return (await this.#core.outbox()) as { entries: OutboxEntry[]; totals: { count: number; bytes: number } };
  }

  /** Makes a failed op pending again. */
  async retryOp(opId: string): Promise<void> {
    await fromCore(() => this.#core.retryOp(opId));
    // The op is due now: a running loop pushes it without waiting for another trigger.
    this.#runner.wake('retry');
  }

  /** Gives up on a failed op; resolves to the discarded entry. */
  discardOp(opId: string): Promise<OutboxEntry> {
    return fromCore(() => this.#core.discardOp(opId));
  }

  /** The cursor state. */
  async cursor(): Promise<CursorState> {
    return (await this.#core.cursorState()) as CursorState;
  }

  /**
   * Asks for a sync now. The core's policy decides (no provider, offline, rate-limited, already
   * syncing, manual cooldown...); when it says start, the sync runs (pull or bootstrap or
   * rescan, then push) and the promise resolves when it ends, with its report.
   */
  syncNow(options: { trigger?: SyncTrigger } = {}): Promise<SyncDecision & { report?: SyncReport }> {
    if (this.#closed) return Promise.reject(new SyncError('closed', 'the engine was closed'));
    return this.#runner.request(options.trigger ?? 'manual');
  }

  /**
   * A bounded, read-only view of the engine's internals for tools such as the devtools panel:
   * the head of the outbox, tombstone count, latest conflicts, cursor, status and storage use.
   * Fast whatever the outbox holds (`outboxLimit` entries at most, default 500).
   */
  async inspect(options: { outboxLimit?: number; conflictLimit?: number } = {}): Promise<EngineInspection> {
    if (this.#closed) throw new SyncError('closed', 'the engine was closed');
    try {
      const view = (await this.#core.inspect(options)) as Omit<EngineInspection, 'status' | 'storage'>;
      const status = await this.#runner.status();
      const estimate = await (globalThis.navigator as Navigator | undefined)?.storage?.estimate?.().catch(() => undefined);
      return {
        ...view,
        status,
        ...(estimate?.usage !== undefined && estimate.quota !== undefined && { storage: { usage: estimate.usage, quota: estimate.quota } }),
      };
    } catch (error) {
      throw toSyncError(error);
    }
  }

  /**
   * A dry run of the next sync: what it would push, in which batches, and what waits. With
   * `{ rescan: true }` it also pulls the server's full current set (read-only, page by page)
   * and says what a rescan would create, update, delete and keep for rebase. Nothing is
   * written, pushed or marked, and the cursor does not move.
   *
   * @throws SyncError `no_provider` when a rescan plan is asked for without a provider, or the
   * provider's error when a pull fails.
   */
  async plan(options: { rescan?: boolean } = {}): Promise<SyncPlan> {
    if (this.#closed) throw new SyncError('closed', 'the engine was closed');
    try {
      const push = (await this.#core.previewPush()) as SyncPlan['push'];
      const cursor = (await this.#core.cursorState()) as CursorState;
      if (!options.rescan) return { push, cursor };
      const { plan, pulled } = await this.#runner.planRescan();
      return { push, cursor, rescan: { ...(plan as Omit<RescanPlan, 'pulled'>), pulled } };
    } catch (error) {
      throw toSyncError(error);
    }
  }

  /**
   * Starts syncing in the background: one tab of the app runs the loop (the others hand over
   * through the shared database); it syncs on start, on local writes, on remote changes, on
   * an interval, when the device comes online or the page becomes visible, and when retries
   * and rate limits are due.
   */
  start(): void {
    this.#runner.start();
  }

  /** Stops background syncing (another tab may take over). */
  stop(): Promise<void> {
    return this.#runner.stop();
  }

  /** Whether this tab runs the sync loop. */
  get isSyncLeader(): boolean {
    return this.#runner.isLeader;
  }

  /** The status view-model: state, whether a sync can start now, cooldown, progress, errors. */
  status(): Promise<SyncStatus> {
    return this.#runner.status();
  }

  #announce(changes: Array<{ table: string; id: string }>, source: 'local' | 'remote', outbox?: { count: number; bytes: number }): void {
    const byTable = new Map<string, string[]>();
    for (const { table, id } of changes) {
      const ids = byTable.get(table);
      if (ids) ids.push(id);
      else byTable.set(table, [id]);
    }
    for (const [table, ids] of byTable) {
      this.#notify({ table, ids, source }, true, source === 'local' ? outbox : undefined);
    }
  }

  #notify(event: WatchEvent, broadcast: boolean, local?: { count: number; bytes: number }): void {
    for (const watcher of this.#watchers.get(event.table) ?? []) {
      try {
        watcher(event);
      } catch (error) {
        this.#onListenerError(error, `watch:${event.table}`);
      }
    }
    if (broadcast) this.#tabs?.changed(event.table, event.ids, local);
  }

  /** The database went away: tell the app, and stop or carry on (see `sync.storage:action:lost`). */
  async #storageLost(info: { reason: 'deleted' | 'closed'; pendingOps?: OutboxEntry[] | null }): Promise<void> {
    const base = { workspaceId: this.workspaceId, dbName: this.dbName };
    if (info.reason === 'deleted') {
      this.#closed = true;
      await this.#runner.stop();
      this.#tabs?.close();
      this.hooks.emit('sync.storage:action:lost', { ...base, reason: 'deleted', pendingOps: info.pendingOps ?? [] });
      return;
    }
    const pendingBefore = this.#runner.lastKnownPendingOps;
    let pendingAfter: number | undefined;
    // Reopen the connection (recreating the stores if the data went with it). While the browser
    // is still clearing the origin's data, opening fails: try again a few times.
    for (const delayMs of [0, 50, 200, 1000]) {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      try {
        pendingAfter = (await this.#runner.outboxTotals()).count;
        break;
      } catch (error) {
        if (toSyncError(error).code === 'closed') break;
      }
    }
    this.hooks.emit('sync.storage:action:lost', {
      ...base,
      reason: 'closed',
      pendingBefore,
      ...(pendingAfter !== undefined && { pendingAfter }),
    });
  }

  /** Closes the database and stops everything. */
  async close(): Promise<void> {
    this.#closed = true;
    // Resolves once every sync request under way has ended: none meets a closed database.
    await this.#runner.stop();
    this.#tabs?.close();
    // A write still finishing would post on the closed channel, which throws.
    this.#tabs = undefined;
    this.#core.close();
  }
}

/** Runs a call of the core: whatever it throws or rejects with comes out as a `SyncError`. */
async function fromCore<T>(call: () => Promise<unknown>): Promise<T> {
  try {
    return (await call()) as T;
  } catch (error) {
    throw toSyncError(error);
  }
}

function resolveProvider(choice: SyncProvider | string | undefined): SyncProvider | undefined {
  if (typeof choice === 'string') {
    const found = listSyncProviders().find((p) => p.id === choice);
    if (!found) throw new SyncError('no_provider', `no registered provider has the id "${choice}"`);
    return found;
  }
  return choice;
}
