/**
 * `SyncEngine`: the app-facing facade. It owns one workspace database (through the wasm
 * `EngineCore`), a provider, and the hooks. Local reads and writes never wait for the network;
 * `syncNow()` pushes the outbox and pulls what other devices wrote.
 *
 * @module
 */

import { EngineCore } from './wasm/synclane.js';
import { HookEmitter, type SyncHookMap, type SyncTrigger } from './hooks.js';
import { getActiveSyncProvider, listSyncProviders } from './registry.js';
import { SyncError, toSyncError, isTransient } from './errors.js';
import { initSynclane } from './wasm.js';
import type { PendingOp, PullResponse, PushResult, SyncChange, SyncPayload, SyncProvider, SyncScope } from './types.js';

/** An index of a table: `keyPath` is a field name or a list of field names. */
export interface IndexSchema {
  name: string;
  keyPath: string | string[];
  unique?: boolean;
  multiEntry?: boolean;
}

/** A synced table. Records are keyed by their string `id`. */
export interface TableSchema {
  name: string;
  indexes?: IndexSchema[];
}

/** Options of {@link SyncEngine.open}. */
export interface SyncEngineOptions {
  /** The workspace: one database and one cursor per workspace. */
  workspaceId: string;
  /** The synced tables (a name, or a name with indexes). */
  tables: Array<string | TableSchema>;
  /** The backend: a provider, the id of a registered one, or nothing for the active one. */
  provider?: SyncProvider | string;
  /** Defaults to an id created once and kept in the database. */
  deviceId?: string;
  /** Defaults to `synclane:<workspaceId>`. */
  dbName?: string;
  /** Changes per pull page (default 500). */
  pullLimit?: number;
  outbox?: {
    maxBatchOps?: number;
    maxBatchBytes?: number;
    capacityBytes?: number;
    retry?: { scheduleMs?: number[]; jitter?: number; maxAttempts?: number };
  };
  clock?: { maxDriftMs?: number; rejectFutureMs?: number };
  /** Where errors thrown by hook listeners and watchers go (default `console.error`). */
  onListenerError?: (error: unknown, name: string) => void;
}

/** A write of a batch. */
export type WriteOp<T extends SyncPayload = SyncPayload> =
  | { table: string; op: 'put'; record: T & { id: string } }
  | { table: string; op: 'delete'; id: string };

/** What a write became. */
export interface CapturedOp {
  opId: string;
  tableName: string;
  pk: string;
  op: 'put' | 'delete';
  clock: number;
  hlc: string;
  /** The waiting op this write replaced (coalescing). */
  replacedOpId?: string;
}

/** A query of {@link SyncEngine.getAll}. */
export interface RecordQuery {
  index?: string;
  only?: unknown;
  lower?: unknown;
  upper?: unknown;
  lowerOpen?: boolean;
  upperOpen?: boolean;
  limit?: number;
  /** Include the `_sync` metadata (stamp, server version). */
  withMeta?: boolean;
}

/** A change seen by a watcher. */
export interface WatchEvent {
  table: string;
  /** The ids that changed. */
  ids: string[];
  /** Where the change came from. */
  source: 'local' | 'remote' | 'other-tab';
}

/** An outbox entry, for tools. */
export interface OutboxEntry {
  seq: number;
  opId: string;
  tableName: string;
  pk: string;
  op: 'put' | 'delete';
  payload?: SyncPayload;
  stamp: PendingOp['stamp'];
  state: 'pending' | 'inFlight' | 'failed';
  attempts: number;
  nextAttemptAt: number;
  byteSize: number;
  createdAt: number;
  lastError?: { code: string; message: string; retryAfterMs?: number };
}

/** The cursor: `phase` is `coldStart`, `bootstrapping`, `live`, `expired` or `rescanning`. */
export interface CursorState {
  phase: 'coldStart' | 'bootstrapping' | 'live' | 'expired' | 'rescanning';
  cursor: number;
}

/** What one `syncNow` did. */
export interface SyncReport {
  trigger: SyncTrigger;
  pushed: number;
  pulled: number;
  applied: number;
  conflicts: number;
  cursor: number;
  error?: SyncError;
}

interface ApplyReport {
  applied: Array<{ tableName: string; pk: string; op: string; serverVersion: number }>;
  conflicts: Array<{ tableName: string; pk: string; local: { op: 'put' | 'delete'; stamp: PendingOp['stamp'] }; remote: { op: 'put' | 'delete'; stamp: PendingOp['stamp'] }; winner: 'local' | 'remote'; duringBootstrap: boolean }>;
  echoes: number;
  identical: number;
  stale: number;
  cursor: CursorState;
  cursorMoved: boolean;
}

const CHANNEL_PREFIX = 'synclane:';

/** The sync engine of one workspace. */
export class SyncEngine {
  /** Lifecycle and sync events; `on` returns an unsubscribe function. */
  readonly hooks: HookEmitter<SyncHookMap>;
  #core: EngineCore;
  #provider: SyncProvider | undefined;
  #pullLimit: number;
  #watchers = new Map<string, Set<(event: WatchEvent) => void>>();
  #channel: BroadcastChannel | undefined;
  #syncing: Promise<SyncReport> | undefined;
  #onListenerError: (error: unknown, name: string) => void;
  #closed = false;

  private constructor(core: EngineCore, options: SyncEngineOptions, provider: SyncProvider | undefined) {
    this.#core = core;
    this.#provider = provider;
    this.#pullLimit = options.pullLimit ?? 500;
    this.#onListenerError = options.onListenerError ?? ((error, name) => console.error(`synclane: ${name} listener failed`, error));
    this.hooks = new HookEmitter<SyncHookMap>({ onListenerError: this.#onListenerError });
    if (typeof BroadcastChannel !== 'undefined') {
      // Other tabs of the app share the database; they announce what they changed.
      this.#channel = new BroadcastChannel(CHANNEL_PREFIX + core.dbName);
      this.#channel.onmessage = (message: MessageEvent<{ table: string; ids: string[] }>) => {
        this.#notify({ ...message.data, source: 'other-tab' }, false);
      };
    }
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
    const records = new Map(ops.map((op) => [`${op.table}\u0000${op.op === 'put' ? op.record.id : op.id}`, op]));
    const pending: PendingOp[] = result.captured.map((c) => {
      const source = records.get(`${c.tableName}\u0000${c.pk}`);
      return {
        tableName: c.tableName,
        pk: c.pk,
        op: c.op,
        ...(source?.op === 'put' && { payload: source.record }),
        stamp: { clock: c.clock, hlc: c.hlc, deviceId: this.deviceId, opId: c.opId },
      };
    });
    this.hooks.emit('sync.op:action:captured', { workspaceId: this.workspaceId, ops: pending });
    this.#announce(result.captured.map((c) => ({ table: c.tableName, id: c.pk })), 'local');
    return result.captured;
  }

  /** One record, or `undefined`. */
  async get<T extends SyncPayload = SyncPayload>(table: string, id: string, options: { withMeta?: boolean } = {}): Promise<T | undefined> {
    try {
      return (await this.#core.get(table, id, options.withMeta ?? false)) as T | undefined;
    } catch (error) {
      throw toSyncError(error);
    }
  }

  /** Records of a table, by key or index range. */
  async getAll<T extends SyncPayload = SyncPayload>(table: string, query: RecordQuery = {}): Promise<T[]> {
    try {
      return (await this.#core.getAll(table, query)) as T[];
    } catch (error) {
      throw toSyncError(error);
    }
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
    try {
      await this.#core.retryOp(opId);
    } catch (error) {
      throw toSyncError(error);
    }
  }

  /** Gives up on a failed op; resolves to the discarded entry. */
  async discardOp(opId: string): Promise<OutboxEntry> {
    try {
      return (await this.#core.discardOp(opId)) as OutboxEntry;
    } catch (error) {
      throw toSyncError(error);
    }
  }

  /** The cursor state. */
  async cursor(): Promise<CursorState> {
    return (await this.#core.cursorState()) as CursorState;
  }

  /**
   * Pulls what other devices wrote (bootstrapping on first use), then pushes the outbox.
   * One sync runs at a time: a call while one runs joins it.
   */
  syncNow(options: { trigger?: SyncTrigger } = {}): Promise<SyncReport> {
    if (this.#closed) return Promise.reject(new SyncError('closed', 'the engine was closed'));
    this.#syncing ??= this.#sync(options.trigger ?? 'manual').finally(() => {
      this.#syncing = undefined;
    });
    return this.#syncing;
  }

  async #sync(trigger: SyncTrigger): Promise<SyncReport> {
    const provider = this.provider;
    const report: SyncReport = { trigger, pushed: 0, pulled: 0, applied: 0, conflicts: 0, cursor: 0 };
    if (!provider) {
      report.error = new SyncError('no_provider', 'no sync provider is registered or given');
      return report;
    }
    try {
      await this.#pull(provider, report);
      // A device pushes only once it has bootstrapped (see docs/ARCHITECTURE.md).
      if (await this.#push(provider, report)) await this.#pull(provider, report);
    } catch (error) {
      report.error = toSyncError(error);
      this.hooks.emit('sync.error:action', {
        workspaceId: this.workspaceId,
        phase: 'pull',
        error: report.error,
        transient: isTransient(report.error.code),
        willRetry: false,
      });
    }
    report.cursor = (await this.cursor()).cursor;
    return report;
  }

  async #pull(provider: SyncProvider, report: SyncReport): Promise<void> {
    const scope: SyncScope = { workspaceId: this.workspaceId };
    let floor: number | undefined;
    for (;;) {
      const state = await this.cursor();
      const snapshot = state.phase !== 'live';
      const page: PullResponse = await provider.pull({
        scope,
        cursor: state.cursor,
        limit: this.#pullLimit,
        deviceId: this.deviceId,
        ...(snapshot && { snapshot: true }),
        ...(floor !== undefined && { retentionFloor: floor }),
      });
      floor ??= page.retentionFloor;
      this.hooks.emit('sync.pull:action:received', {
        workspaceId: this.workspaceId,
        source: 'pull',
        changes: page.changes,
        cursor: state.cursor,
        nextCursor: page.nextCursor,
      });
      let applied: ApplyReport;
      try {
        applied = (await this.#core.applyRemote(page.changes, page.nextCursor, page.hasMore)) as ApplyReport;
      } catch (error) {
        const err = toSyncError(error);
        this.hooks.emit('sync.pull:action:error', {
          workspaceId: this.workspaceId,
          source: 'pull',
          error: err,
          changes: page.changes.length,
        });
        throw err;
      }
      report.pulled += page.changes.length;
      report.applied += applied.applied.length;
      report.conflicts += applied.conflicts.length;
      this.#afterApply(page.changes, applied);
      if (!page.hasMore) break;
    }
    const cursor = (await this.cursor()).cursor;
    await provider.updateCursor(scope, this.deviceId, cursor);
  }

  #afterApply(changes: SyncChange[], applied: ApplyReport): void {
    const byKey = new Map(changes.map((c) => [`${c.tableName}\u0000${c.pk}`, c]));
    for (const conflict of applied.conflicts) {
      const remote = byKey.get(`${conflict.tableName}\u0000${conflict.pk}`);
      if (!remote) continue;
      this.hooks.emit('sync.conflict:action:detected', {
        workspaceId: this.workspaceId,
        tableName: conflict.tableName,
        pk: conflict.pk,
        local: conflict.local,
        remote,
        winner: conflict.winner,
        duringBootstrap: conflict.duringBootstrap,
      });
    }
    this.hooks.emit('sync.pull:action:applied', {
      workspaceId: this.workspaceId,
      source: 'pull',
      applied: applied.applied.length,
      skipped: applied.echoes + applied.identical + applied.stale,
      conflicts: applied.conflicts.length,
      cursor: applied.cursor.cursor,
    });
    this.#announce(applied.applied.map((a) => ({ table: a.tableName, id: a.pk })), 'remote');
  }

  /** Pushes due batches until the outbox has none; returns whether anything was pushed. */
  async #push(provider: SyncProvider, report: SyncReport): Promise<boolean> {
    const scope: SyncScope = { workspaceId: this.workspaceId };
    let pushedAny = false;
    for (;;) {
      const batch = (await this.#core.takeBatch()) as Array<{ seq: number; op: PendingOp }>;
      if (batch.length === 0) return pushedAny;
      const pushBatch = { scope, deviceId: this.deviceId, ops: batch.map((b) => b.op) };
      this.hooks.emit('sync.push:action:before', { workspaceId: this.workspaceId, providerId: provider.id, batch: pushBatch });
      const started = Date.now();
      let result: PushResult;
      try {
        result = await provider.push(pushBatch);
      } catch (error) {
        const err = toSyncError(error);
        const plain = { code: err.code, message: err.message, ...(err.retryAfterMs !== undefined && { retryAfterMs: err.retryAfterMs }) };
        await this.#core.settle(batch.map((b) => ({ seq: b.seq, opId: b.op.stamp.opId, error: plain })));
        this.hooks.emit('sync.error:action', {
          workspaceId: this.workspaceId,
          phase: 'push',
          error: err,
          transient: isTransient(err.code),
          willRetry: isTransient(err.code),
          opIds: batch.map((b) => b.op.stamp.opId),
        });
        return pushedAny;
      }
      const acknowledged: string[] = [];
      const settlements = batch.map((b, i) => {
        const outcome = result.results[i];
        if (!outcome || outcome.opId !== b.op.stamp.opId) {
          return { seq: b.seq, opId: b.op.stamp.opId, error: { code: 'internal', message: 'the provider answered out of order' } };
        }
        if (outcome.status === 'rejected') {
          return { seq: b.seq, opId: b.op.stamp.opId, error: outcome.error ?? { code: 'rejected', message: 'rejected' } };
        }
        acknowledged.push(b.op.stamp.opId);
        return { seq: b.seq, opId: b.op.stamp.opId };
      });
      this.#core.rememberPushed(acknowledged);
      await this.#core.settle(settlements);
      report.pushed += acknowledged.length;
      pushedAny = true;
      this.hooks.emit('sync.push:action:after', {
        workspaceId: this.workspaceId,
        providerId: provider.id,
        batch: pushBatch,
        result,
        durationMs: Date.now() - started,
      });
    }
  }

  #announce(changes: Array<{ table: string; id: string }>, source: 'local' | 'remote'): void {
    const byTable = new Map<string, string[]>();
    for (const { table, id } of changes) {
      byTable.set(table, [...(byTable.get(table) ?? []), id]);
    }
    for (const [table, ids] of byTable) this.#notify({ table, ids, source }, true);
  }

  #notify(event: WatchEvent, broadcast: boolean): void {
    for (const watcher of this.#watchers.get(event.table) ?? []) {
      try {
        watcher(event);
      } catch (error) {
        this.#onListenerError(error, `watch:${event.table}`);
      }
    }
    if (broadcast) this.#channel?.postMessage({ table: event.table, ids: event.ids });
  }

  /** Closes the database and stops everything. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#syncing?.catch(() => undefined);
    this.#channel?.close();
    this.#core.close();
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
