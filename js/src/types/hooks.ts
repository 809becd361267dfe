/**
 * The hooks the engine emits and their payloads ({@link SyncHookMap}). Declarations only; the
 * emitter that delivers them is in `hooks.ts`.
 *
 * @module
 */

import type { SyncError, SyncErrorCode } from '../errors.js';
import type { ChangeStamp, OpKind, PendingOp, PushBatch, PushResult, SyncChange, SyncPayload } from './protocol.js';
import type { OutboxEntry } from './engine.js';
import type { SubscriptionStatus, SyncBlockReason, SyncJobKind, SyncPhase, SyncTrigger } from './sync.js';

/** Where remote changes came from: a pull (catch-up, bootstrap, rescan) or the live subscription. */
export type ChangeSource = 'pull' | 'subscription';

/** One side of a conflict: a version of a record with its stamp. */
export interface ConflictVersion<T = SyncPayload> {
  /** Whether this version is a put or a delete. */
  op: OpKind;
  /** The record for a put; absent for a delete. */
  payload?: T;
  /** The version's stamp. */
  stamp: ChangeStamp;
}

/**
 * Every hook the engine emits, with its payload. Names follow the `sync.<area>:action:<what>`
 * scheme; the `sync.request` and `sync.job.*` events are structured records for logs and
 * devtools. Every payload carries the `workspaceId` it is about.
 */
export interface SyncHookMap {
  /** Local writes were stamped and queued in the outbox, in the same transaction as the data. */
  'sync.op:action:captured': {
    workspaceId: string;
    /** The ops of the transaction, as they will be pushed. */
    ops: PendingOp[];
  };
  /** A local write could not be captured: its transaction failed and nothing was written. */
  'sync.capture:action:failed': {
    workspaceId: string;
    tableName: string;
    /** The record's key, when the write named one. */
    pk?: string;
    error: SyncError;
  };
  /**
   * The database went away under the engine.
   * - `deleted`: another tab, the app or the user deleted it. The engine is closed (its calls
   *   fail with `closed`); `pendingOps` are the writes that were waiting in its outbox, read just
   *   before the database went: write them again (to a newly opened engine) to keep them.
   * - `closed`: the browser closed the connection (site data cleared, a disk error). The engine
   *   reopens it on its next call; `pendingBefore` and `pendingAfter` count the outbox before and
   *   after, so a drop shows writes lost with the data.
   */
  'sync.storage:action:lost': {
    workspaceId: string;
    dbName: string;
    reason: 'deleted' | 'closed';
    pendingOps?: OutboxEntry[];
    pendingBefore?: number;
    pendingAfter?: number;
  };
  /** A batch is about to be pushed. */
  'sync.push:action:before': {
    workspaceId: string;
    providerId: string;
    batch: PushBatch;
  };
  /** A batch was pushed and the provider answered (per-op results, rejected ones included). */
  'sync.push:action:after': {
    workspaceId: string;
    providerId: string;
    batch: PushBatch;
    result: PushResult;
    durationMs: number;
  };
  /** A sync operation failed; `willRetry` says whether the engine retries it by itself. */
  'sync.error:action': {
    workspaceId: string;
    phase: SyncPhase;
    error: SyncError;
    /** Whether the error's code is transient. */
    transient: boolean;
    /** Whether the engine schedules a retry. */
    willRetry: boolean;
    /** When the retry is due (Unix ms). */
    retryAt?: number;
    /** The ops concerned, for push failures. */
    opIds?: string[];
    /** True when the error hit a bootstrap or a rescan, which apps may report differently. */
    duringBootstrap: boolean;
  };
  /** Remote changes arrived, before they are applied. */
  'sync.pull:action:received': {
    workspaceId: string;
    source: ChangeSource;
    changes: SyncChange[];
    /** The cursor the changes come after. */
    cursor: number;
    /** The cursor they bring the client to (pulls only). */
    nextCursor?: number;
  };
  /** Remote changes were applied to the local database, with the cursor that covers them. */
  'sync.pull:action:applied': {
    workspaceId: string;
    source: ChangeSource;
    /** Changes written locally. */
    applied: number;
    /** Changes that changed nothing (duplicates, echoes of this device's pushes, older versions). */
    skipped: number;
    /** Changes that met a different local version (each also emits `sync.conflict:action:detected`). */
    conflicts: number;
    /** The cursor after the transaction. */
    cursor: number;
  };
  /**
   * Remote changes carried stamps from a clock further ahead than the drift bound (5 minutes
   * by default). They were applied, but this device's clock followed them only up to the bound:
   * `aheadMs` is how far ahead of this device's clock the furthest stamp was. Usually another
   * device with a wrong clock (or this one's).
   */
  'sync.clock:action:skew': {
    workspaceId: string;
    aheadMs: number;
  };
  /** Remote changes could not be applied; nothing was written and the cursor did not move. */
  'sync.pull:action:error': {
    workspaceId: string;
    source: ChangeSource;
    error: SyncError;
    /** How many changes the failed batch had. */
    changes: number;
  };
  /** A remote version met a different local version of the same record; the conflict rule chose. */
  'sync.conflict:action:detected': {
    workspaceId: string;
    tableName: string;
    pk: string;
    /** The local version (a pending op or the stored record). */
    local: ConflictVersion;
    /** The remote version. */
    remote: SyncChange;
    /** Which version is now the record's. */
    winner: 'local' | 'remote';
    /** True during bootstrap and rescan, when apps usually do not notify users. */
    duringBootstrap: boolean;
  };
  /** The first full download of a workspace started. */
  'sync.bootstrap:action:start': {
    workspaceId: string;
    providerId: string;
  };
  /** A bootstrap page was stored. */
  'sync.bootstrap:action:progress': {
    workspaceId: string;
    /** The cursor reached. */
    cursor: number;
    /** Changes pulled so far. */
    pulled: number;
    /** Changes expected in all, when the provider reports it. */
    total?: number;
  };
  /** The bootstrap finished; the workspace is live. */
  'sync.bootstrap:action:complete': {
    workspaceId: string;
    cursor: number;
    totalPulled: number;
    durationMs: number;
  };
  /** A rescan started: the full set is staged again and reconciled with local data. */
  'sync.rescan:action:starting': {
    workspaceId: string;
    /** `cursor_expired` when the provider expired the cursor, `manual` when the app asked. */
    reason: 'cursor_expired' | 'manual';
    /** The cursor the client had. */
    fromCursor: number;
  };
  /** A rescan page was staged. */
  'sync.rescan:action:progress': {
    workspaceId: string;
    cursor: number;
    /** Changes staged so far. */
    staged: number;
    /** Changes expected in all, when the provider reports it. */
    total?: number;
  };
  /** The rescan was swapped in: local data now matches the server, pending ops kept. */
  'sync.rescan:action:completed': {
    workspaceId: string;
    cursor: number;
    created: number;
    updated: number;
    deleted: number;
    /** Records kept because they have pending local ops (re-pushed afterwards). */
    kept: number;
    durationMs: number;
  };
  /**
   * The rescan found the server reset: it holds fewer versions than this device had pulled, or
   * names another data set (`PullResponse.epoch`). Nothing local was dropped for it: the
   * cursor restarted from the server's head, pending ops were kept, and every local version
   * the server lost (or holds an older version of) was queued again with its own stamp.
   * Emitted once per reset, after `sync.rescan:action:completed`.
   */
  'sync.reset:action:completed': {
    workspaceId: string;
    /** The cursor this device had, counted in the lost data set. */
    previousCursor: number;
    /** The cursor now: the reset server's head. */
    cursor: number;
    /** Records queued again for the server. */
    republishedRecords: number;
    /** Tombstones queued again, so a device that missed a delete cannot bring the record back. */
    republishedTombstones: number;
    /** Keys whose pending ops were kept and are pushed as they are. */
    keptPending: number;
    /** Local records replaced by a newer version the server still had. */
    updated: number;
  };
  /** The live subscription changed state. */
  'sync.subscription:action:statusChange': {
    workspaceId: string;
    status: SubscriptionStatus;
    previous: SubscriptionStatus;
    /** Why it disconnected, when it did so on an error. */
    error?: SyncError;
  };
  /** The subscription gave up reconnecting; the engine falls back to pulling on its triggers. */
  'sync.subscription:action:maxRetriesExceeded': {
    workspaceId: string;
    attempts: number;
    error: SyncError;
  };
  /** The outbox holds more than its capacity. Writes are still accepted (refusing one would lose the user's data); apps can warn or slow down. */
  'sync.queue:action:full': {
    workspaceId: string;
    pendingOps: number;
    pendingBytes: number;
    capacityBytes: number;
  };
  /** Local garbage collection ran. */
  'sync.gc:action:completed': {
    workspaceId: string;
    /** Tombstones purged. */
    purgedTombstones: number;
    durationMs: number;
  };
  /** One provider call finished (structured event, one per request). */
  'sync.request': {
    workspaceId: string;
    providerId: string;
    kind: 'push' | 'pull' | 'updateCursor' | 'subscribe';
    outcome: 'ok' | 'error';
    durationMs: number;
    /** For failures: the error's code. */
    errorCode?: SyncErrorCode;
    /** For pushes: how many ops. */
    ops?: number;
    /** For pulls: how many changes came back. */
    changes?: number;
  };
  /** A job started (structured event). */
  'sync.job.started': {
    jobId: string;
    workspaceId: string;
    kind: SyncJobKind;
    trigger: SyncTrigger;
  };
  /** A job made progress (structured event). */
  'sync.job.progress': {
    jobId: string;
    workspaceId: string;
    kind: SyncJobKind;
    /** Units done (ops pushed, changes pulled, ...). */
    done: number;
    /** Units expected, when known. */
    total?: number;
  };
  /** A sync was asked for but the policy blocked or skipped it (structured event). */
  'sync.job.blocked': {
    workspaceId: string;
    kind: SyncJobKind;
    trigger: SyncTrigger;
    reason: SyncBlockReason;
    /** For waits that end by themselves: ms until the same request would pass. */
    cooldownMs?: number;
    /** For rate limits: when the provider may be called again (Unix ms). */
    blockedUntil?: number;
  };
  /** A job finished (structured event). */
  'sync.job.completed': {
    jobId: string;
    workspaceId: string;
    kind: SyncJobKind;
    trigger: SyncTrigger;
    durationMs: number;
    pushed: number;
    pulled: number;
  };
  /** A job failed (structured event). */
  'sync.job.failed': {
    jobId: string;
    workspaceId: string;
    kind: SyncJobKind;
    trigger: SyncTrigger;
    durationMs: number;
    error: SyncError;
  };
}

/** The name of a synclane hook. */
export type SyncHookName = keyof SyncHookMap;
