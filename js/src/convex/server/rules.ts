/**
 * The server's rules, as `crates/synclane-core/src/server_rules.rs` states them: what a push
 * does to each op, which pulls and cursor reports are answered, which tombstones may be
 * purged. Storage (./store.ts) only loads what a decision needs and writes what it produced,
 * as the Rust backends do; the golden vectors (tests/vectors/server-rules.json) check the
 * decisions against the core's.
 *
 * Pure: no Convex import.
 *
 * @module
 */

import type { ConvexOpKind, ConvexPushOpResult, ConvexStamp, ConvexSyncChange } from '../wire.js';
import { incomingWins } from './conflict.js';
import { checkScope, type ValidOp } from './validate.js';
import { fail } from './errors.js';

/** One stored version of a record. */
export type StoredVersion = {
  op: ConvexOpKind;
  /** The JSON text of a put; undefined for a tombstone. */
  payload: string | undefined;
  stamp: ConvexStamp;
  serverVersion: number;
  storedAt: number;
};

/**
 * What the push rules read and write (the core's `PushState`): the records, purged stamps and
 * op ids a batch touches, and the version counter.
 */
export interface PushState {
  /** `undefined`: never seen; a number: applied at that version; `null`: superseded. */
  seenOp(opId: string): number | null | undefined;
  /** A record's current version, tombstones included (not purged ones). */
  current(tableName: string, pk: string): StoredVersion | undefined;
  /** The stamp of a record's purged tombstone. */
  purged(tableName: string, pk: string): ConvexStamp | undefined;
  /** The retention floor. */
  floor(): number;
  /** Takes the next server version. */
  nextVersion(): number;
  /** Remembers an op id and its fate. */
  rememberOp(opId: string, appliedAt: number | null): void;
  /** Makes `version` the record's current version (its purged stamp, if any, is gone). */
  store(tableName: string, pk: string, version: StoredVersion): void;
}

/**
 * Applies a validated batch, op by op and in order (later ops see earlier ones): each is
 * applied, a duplicate (its op id was seen) or superseded by the conflict rule. One result per
 * op (the core's `apply_push`).
 */
export function applyPush(state: PushState, ops: readonly ValidOp[], nowMs: number): ConvexPushOpResult[] {
  return ops.map((op) => applyOp(state, op, nowMs));
}

function applyOp(state: PushState, op: ValidOp, nowMs: number): ConvexPushOpResult {
  const { opId } = op.stamp;
  const first = state.seenOp(opId);
  if (first !== undefined) {
    // A retry of an op seen before. If the record has moved on since, report its current
    // version too: the pusher may have kept its op through a rescan and never see it.
    const current = currentChange(state, op.tableName, op.pk);
    return {
      opId,
      status: 'duplicate',
      ...(first !== null && { serverVersion: first }),
      ...(current !== undefined && current.stamp.opId !== opId && { current }),
    };
  }
  const stored = state.current(op.tableName, op.pk);
  const purged = stored === undefined ? state.purged(op.tableName, op.pk) : undefined;
  const against = stored ?? (purged && { stamp: purged, op: 'delete' as const });
  if (!incomingWins(op, against)) {
    state.rememberOp(opId, null);
    const current = currentChange(state, op.tableName, op.pk);
    return { opId, status: 'superseded', ...(current !== undefined && { current }) };
  }
  const serverVersion = state.nextVersion();
  state.store(op.tableName, op.pk, {
    op: op.op,
    payload: op.op === 'put' ? op.payload : undefined,
    stamp: op.stamp,
    serverVersion,
    storedAt: nowMs,
  });
  state.rememberOp(opId, serverVersion);
  return { opId, status: 'applied', serverVersion };
}

/** A stored version as a change of a page or a push result. */
export function toChange(tableName: string, pk: string, stored: StoredVersion): ConvexSyncChange {
  return {
    tableName,
    pk,
    op: stored.op,
    ...(stored.payload !== undefined && { payload: stored.payload }),
    serverVersion: stored.serverVersion,
    stamp: stored.stamp,
  };
}

/**
 * A record's current version as a change, purged tombstones included: those have no log entry
 * any more, so they are reported at the retention floor (at least 1).
 */
function currentChange(state: PushState, tableName: string, pk: string): ConvexSyncChange | undefined {
  const stored = state.current(tableName, pk);
  if (stored !== undefined) return toChange(tableName, pk, stored);
  const purged = state.purged(tableName, pk);
  if (purged === undefined) return undefined;
  return { tableName, pk, op: 'delete', serverVersion: Math.max(state.floor(), 1), stamp: purged };
}

/** A whole number in 0..2^53-1, or an `invalid_argument` naming `name`. */
export function checkCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    fail('invalid_argument', `${name} must be a whole number from 0 to 2^53 - 1, got ${value}`);
  }
}

/** The parts of a pull request the checks read. */
export type PullCheck = { cursor: number; limit: number; snapshot?: boolean; retentionFloor?: number };

/**
 * Checks a pull against the workspace's head and retention floor (the core's `check_pull`);
 * returns the page size to read (the request's limit, capped).
 */
export function checkPull(workspaceId: string, request: PullCheck, head: number, floor: number, maxLimit: number): number {
  checkScope(workspaceId);
  checkCount('cursor', request.cursor);
  checkCount('limit', request.limit);
  if (request.retentionFloor !== undefined) checkCount('retentionFloor', request.retentionFloor);
  if (request.limit === 0) fail('invalid_argument', 'limit must be at least 1');
  const { cursor } = request;
  if (cursor > head) {
    fail('cursor_expired', `cursor ${cursor} is ahead of the server (${head}); the server's data was reset`);
  }
  // Below the floor a client may have missed purged deletions, unless it holds nothing from
  // before (the first page of a snapshot) or the floor has not risen since its sequence began.
  const freshSnapshot = request.snapshot === true && cursor === 0;
  const floorUnchanged = request.retentionFloor !== undefined && request.retentionFloor >= floor;
  if (cursor < floor && !freshSnapshot && !floorUnchanged) {
    fail('cursor_expired', `cursor ${cursor} is below the retention floor ${floor}; rescan from 0`);
  }
  return Math.min(request.limit, maxLimit);
}

/** Checks a device's cursor report (the core's `check_cursor_update`). */
export function checkCursorUpdate(workspaceId: string, deviceId: string, version: number, head: number): void {
  checkScope(workspaceId);
  if (deviceId.length === 0) fail('invalid_argument', 'deviceId must not be empty');
  checkCount('version', version);
  if (version > head) {
    // Only a server that lost versions it once handed out is behind a device: the device has
    // to reconcile, as a pull says, not give up on a bad argument.
    fail('cursor_expired', `cursor ${version} is ahead of the server (${head}); the server's data was reset`);
  }
}

/** A device's cursor and when it was last seen. */
export type DeviceSeen = { version: number; seenAt: number };

/**
 * The highest server version every active device has pulled: tombstones at or below it may
 * be purged. Devices not seen for `deviceTtlMs` do not count; with none active it is the head
 * (the core's `purge_horizon`).
 */
export function purgeHorizon(devices: readonly DeviceSeen[], head: number, nowMs: number, deviceTtlMs: number): number {
  let horizon = Infinity;
  for (const device of devices) {
    if (Math.max(0, nowMs - device.seenAt) < deviceTtlMs) horizon = Math.min(horizon, device.version);
  }
  return horizon === Infinity ? head : horizon;
}

/** Whether a stored version is a tombstone that may be purged now (the core's `is_purgeable`). */
export function isPurgeable(
  stored: { op: ConvexOpKind; serverVersion: number; storedAt: number },
  horizon: number,
  nowMs: number,
  tombstoneRetentionMs: number,
): boolean {
  return stored.op === 'delete' && stored.serverVersion <= horizon && Math.max(0, nowMs - stored.storedAt) >= tombstoneRetentionMs;
}
