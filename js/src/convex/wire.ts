/**
 * What synclane's Convex functions take and answer: the protocol of docs/PROTOCOL.md in the
 * shape Convex can carry.
 *
 * Two differences from the HTTP protocol's bodies:
 * - the workspace is a top-level `workspaceId` instead of `scope: { workspaceId }`;
 * - payloads travel and are stored as JSON strings (`payload: string`), never as Convex
 *   objects: Convex refuses field names that start with `$` and non-ASCII field names, and
 *   reserves those starting with `_` in documents, while a synced record may use any. The
 *   client serializes each payload with `JSON.stringify` and parses what comes back.
 *
 * No Convex import here: the client provider and the server functions both use these types.
 *
 * @module
 */

import type { SyncErrorCode } from '../errors.js';

/** An op kind, as in the core. */
export type ConvexOpKind = 'put' | 'delete';

/** The sync metadata of one version of a record (the core's `ChangeStamp`). */
export type ConvexStamp = {
  clock: number;
  hlc: string;
  deviceId: string;
  opId: string;
};

/** A local write as `push` takes it: a `PendingOp` whose payload is its JSON text. */
export type ConvexPendingOp = {
  tableName: string;
  pk: string;
  op: ConvexOpKind;
  /** `JSON.stringify(record)` for a put; absent (or ignored) for a delete. */
  payload?: string;
  stamp: ConvexStamp;
};

/** One version of a record as the server hands it out: a `SyncChange` with a JSON payload. */
export type ConvexSyncChange = {
  tableName: string;
  pk: string;
  op: ConvexOpKind;
  /** The record's JSON text, exactly as it was pushed; absent for a delete. */
  payload?: string;
  serverVersion: number;
  stamp: ConvexStamp;
};

/** The arguments of `push`. */
export type ConvexPushArgs = {
  workspaceId: string;
  deviceId: string;
  /** Checked op by op by the functions themselves, so a bad op gets synclane's error code. */
  ops: ConvexPendingOp[];
};

/** What happened to one pushed op (the core's `PushOpResult`; `rejected` never occurs). */
export type ConvexPushOpResult = {
  opId: string;
  status: 'applied' | 'duplicate' | 'superseded';
  /** The version the op was stored at (applied), or first stored at (a duplicate of an applied op). */
  serverVersion?: number;
  /** The record's winning version, for a superseded op and a duplicate whose record moved on. */
  current?: ConvexSyncChange;
};

/** The answer of `push`: one result per op, in order, and the workspace's version after it. */
export type ConvexPushResult = {
  results: ConvexPushOpResult[];
  serverVersion: number;
};

/** The arguments of `pull` (the core's `PullRequest`). */
export type ConvexPullArgs = {
  workspaceId: string;
  cursor: number;
  limit: number;
  deviceId?: string;
  tables?: string[];
  snapshot?: boolean;
  retentionFloor?: number;
};

/** A page of `pull` (the core's `PullResponse`). */
export type ConvexPullResult = {
  changes: ConvexSyncChange[];
  nextCursor: number;
  hasMore: boolean;
  /** What was left to pull from the cursor; given on pages from cursor 0 and on last pages. */
  total?: number;
  retentionFloor: number;
  /** Drawn when the workspace's first op was stored; absent while the workspace is empty. */
  epoch?: string;
};

/** The arguments of `head`. */
export type ConvexHeadArgs = { workspaceId: string };

/** The answer of `head`: changes exactly when the workspace's version does. */
export type ConvexHeadResult = {
  version: number;
  epoch?: string;
};

/** The arguments of `updateCursor`. */
export type ConvexUpdateCursorArgs = {
  workspaceId: string;
  deviceId: string;
  version: number;
};

/** The arguments of `collectGarbage` (an internal mutation, for a cron). */
export type ConvexCollectGarbageArgs = {
  /** Only this workspace; every workspace when absent. */
  workspaceId?: string;
  /** At most this many tombstones per run (default: the `retention.maxPurgesPerRun` option). */
  maxPurges?: number;
};

/** The answer of `collectGarbage`. */
export type ConvexCollectGarbageResult = {
  /** How many tombstones were purged. */
  purged: number;
  /** False when the run stopped at its limit with more left to look at: the next run goes on. */
  complete: boolean;
};

/**
 * The `data` of the `ConvexError` every synclane function throws: the canonical error code
 * (`error.data.code` on the client) and a message.
 */
export type ConvexSyncErrorData = {
  code: SyncErrorCode;
  message: string;
};
