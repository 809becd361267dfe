/**
 * What the engine takes and hands out: its options, the writes and queries of its API, and the
 * views of its outbox, conflicts, cursor and plans. Declarations only, shared by the engine,
 * its hooks and the devtools.
 *
 * @module
 */

import type { PendingOp, SyncPayload, SyncProvider } from './protocol.js';
import type { SyncLoopOptions, SyncStatus } from './sync.js';

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
  /** Changes per pull page (default 500; a bootstrap's first page is at most 100). */
  pullLimit?: number;
  outbox?: {
    maxBatchOps?: number;
    maxBatchBytes?: number;
    capacityBytes?: number;
    retry?: { scheduleMs?: number[]; jitter?: number; maxAttempts?: number };
  };
  clock?: { maxDriftMs?: number; rejectFutureMs?: number };
  /** The background loop: interval, manual cooldown, tombstone retention, reconnects. */
  sync?: SyncLoopOptions;
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

/** A conflict as the engine logged it (the devtools panel's conflict log). */
export interface ConflictRecord {
  seq: number;
  tableName: string;
  pk: string;
  local: { op: 'put' | 'delete'; stamp: PendingOp['stamp'] };
  remote: { op: 'put' | 'delete'; stamp: PendingOp['stamp'] };
  winner: 'local' | 'remote';
  /** Whether the local version was a pending op (an edit not yet pushed). */
  localPending: boolean;
  duringBootstrap: boolean;
  /** When it was detected (Unix ms). */
  at: number;
}

/** What `inspect()` returns: a bounded view of the engine's internals, for tools. */
export interface EngineInspection {
  /** The head of the outbox (at most `outboxLimit` entries, payloads included) and its totals. */
  outbox: { entries: OutboxEntry[]; totals: { count: number; bytes: number } };
  /** Local tombstones not yet collected. */
  tombstones: number;
  /** The latest conflicts (at most `conflictLimit`) and how many were logged in all. */
  conflicts: { entries: ConflictRecord[]; total: number };
  cursor: CursorState;
  status: SyncStatus;
  /** The origin's storage use, when the browser tells (`navigator.storage.estimate()`). */
  storage?: { usage: number; quota: number };
}

/** A record version in a rescan plan (metadata only: no payload). */
export interface PlannedVersion {
  key: { table: string; pk: string };
  stamp: PendingOp['stamp'];
  /** Whether this version is a tombstone. */
  deleted: boolean;
}

/** What a rescan would change locally, from the server's full current set. */
export interface RescanPlan {
  /** Server records this device has no live copy of: they would be created. */
  creations: PlannedVersion[];
  /** Local records (or tombstones) the server holds a different version of. */
  updates: PlannedVersion[];
  /**
   * Local live records to delete: deleted on the server (`deleted: true`, the server's
   * tombstone is stored) or gone from it altogether (`deleted: false`, the tombstone was purged).
   */
  deletions: PlannedVersion[];
  /** Records with pending local ops: left alone and re-pushed, so the server decides. */
  keptForRebase: Array<{ table: string; pk: string }>;
  summary: { creations: number; updates: number; deletions: number; keptForRebase: number };
  /** Changes pulled from the server to compute the plan. */
  pulled: number;
}

/** The result of `plan()`: a dry run of the next sync. Nothing is written, pushed or marked. */
export interface SyncPlan {
  push: {
    /** The batches the next sync would push, in order (ops without payloads). */
    batches: OutboxEntry[][];
    ops: number;
    bytes: number;
    /** Pending ops that back off until their `nextAttemptAt` (or wait for an op of the same record in flight). */
    waiting: OutboxEntry[];
    /** Failed ops, which wait for `retryOp` or `discardOp`. */
    failed: OutboxEntry[];
    /** Ops a running sync is pushing now. */
    inFlight: OutboxEntry[];
  };
  cursor: CursorState;
  /** What a rescan would change; present when `plan({ rescan: true })` asked for it. */
  rescan?: RescanPlan;
}

/** The cursor: `phase` is `coldStart`, `bootstrapping`, `live`, `expired` or `rescanning`. */
export interface CursorState {
  phase: 'coldStart' | 'bootstrapping' | 'live' | 'expired' | 'rescanning';
  cursor: number;
}
