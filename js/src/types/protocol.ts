/**
 * The protocol's data types, exactly as the Rust core serialises them (camelCase fields,
 * optional fields absent rather than `null`), and the {@link SyncProvider} contract that every
 * backend adapter implements.
 *
 * Numbers: server versions, cursors and clocks are unsigned 64-bit integers in the core; they
 * travel as JavaScript numbers and stay exact up to `Number.MAX_SAFE_INTEGER`.
 *
 * @module
 */

import type { SyncErrorCode } from '../errors.js';

/** The default payload type: a plain JSON object (a record). */
export type SyncPayload = Record<string, unknown>;

/** Which workspace a request is about. One database and one cursor per workspace. */
export interface SyncScope {
  /** The workspace's id: 1 to 256 bytes. */
  workspaceId: string;
}

/**
 * The sync metadata of one version of one record. Between two versions the higher `clock`
 * wins, then the higher `hlc` (as a string); deletes are versions too.
 */
export interface ChangeStamp {
  /** Rises on every write of the record: one more than the highest clock seen for it (≥ 1). */
  clock: number;
  /**
   * The hybrid logical clock string `TTTTTTTTTTTTTTTT-IIIIIIIIIIIIIIII`: 16 lowercase hex
   * digits of NTP64 time, a dash, 16 hex digits of the device's clock id. Fixed width, so
   * string order is time order.
   */
  hlc: string;
  /** The device that wrote this version. */
  deviceId: string;
  /** Unique per op; the server deduplicates pushes by it. */
  opId: string;
}

/** What an op does to its record: write it, or delete it (leaving a tombstone). */
export type OpKind = 'put' | 'delete';

/** One version of one record as the server hands it out, with its place in the change log. */
export interface SyncChange<T = SyncPayload> {
  /** The table (store) the record belongs to. */
  tableName: string;
  /** The record's primary key (its `id`). */
  pk: string;
  /** Whether this version is a put or a delete (tombstone). */
  op: OpKind;
  /** The record for a put; absent for a delete. */
  payload?: T;
  /** The server version this change was stored at: its position in the change log. */
  serverVersion: number;
  /** The version's stamp, which the conflict rule compares. */
  stamp: ChangeStamp;
}

/** A local write waiting to be pushed, as it travels in a push. */
export interface PendingOp<T = SyncPayload> {
  /** The table (store) the record belongs to. */
  tableName: string;
  /** The record's primary key (its `id`). */
  pk: string;
  /** Whether the op writes or deletes the record. */
  op: OpKind;
  /** The record for a put (a plain object whose `id`, if present, equals `pk`); absent for a delete. */
  payload?: T;
  /** The op's stamp. */
  stamp: ChangeStamp;
}

/**
 * A batch of local ops for one workspace. The server validates it whole (one malformed op
 * rejects the batch and nothing is stored), then decides each op.
 */
export interface PushBatch<T = SyncPayload> {
  /** The workspace the ops belong to. */
  scope: SyncScope;
  /** The pushing device. */
  deviceId: string;
  /** The ops, each with a distinct `stamp.opId`. */
  ops: PendingOp<T>[];
}

/**
 * What happened to one pushed op:
 * - `applied`: stored; it is now the current version of its record;
 * - `duplicate`: this op id was applied before (a retry): nothing changed, and that is a success;
 * - `superseded`: accepted, but a higher version of the record was already stored, so it lost;
 * - `rejected`: refused for good (see `error`); retrying will not help.
 */
export type PushStatus = 'applied' | 'duplicate' | 'superseded' | 'rejected';

/** Why an op was rejected: the JSON form of a `SyncError`. */
export interface PushOpError {
  /** The canonical code. */
  code: SyncErrorCode;
  /** A message for people. */
  message: string;
  /** For `rate_limited`: the delay asked for, in milliseconds. */
  retryAfterMs?: number;
}

/** The outcome of one pushed op. */
export interface PushOpResult<T = SyncPayload> {
  /** The op's `stamp.opId`. */
  opId: string;
  /** What happened to it. */
  status: PushStatus;
  /** The server version the op was stored at (`applied`), or first stored at (`duplicate`). */
  serverVersion?: number;
  /** For `rejected`: why. */
  error?: PushOpError;
  /**
   * For a `superseded` op (and a `duplicate` whose record has moved on): the version that beat
   * it. The pusher applies it at once, because it may sit below its cursor and never arrive by
   * pulling (for instance a delete whose tombstone was purged).
   */
  current?: SyncChange<T>;
}

/** The answer to a push: per-op results, in the order of the batch's ops. */
export interface PushResult<T = SyncPayload> {
  /** One result per op, in the batch's order. */
  results: PushOpResult<T>[];
  /** The server's version counter after the batch. */
  serverVersion: number;
}

/** Asks for the changes after `cursor`, ascending by server version. */
export interface PullRequest {
  /** The workspace to pull. */
  scope: SyncScope;
  /** The last server version the client has; the page starts after it. 0 for everything. */
  cursor: number;
  /** The largest page wanted (≥ 1); the provider may return fewer. */
  limit: number;
  /** Only these tables' changes (the cursor still advances over the others). */
  tables?: string[];
  /** The pulling device, so the server knows it is active. */
  deviceId?: string;
  /**
   * The client holds nothing from before this pull sequence (a bootstrap, or a rescan that
   * stages the full set). Its first page (cursor 0) is served whatever the retention floor.
   */
  snapshot?: boolean;
  /**
   * The `retentionFloor` the first page of this sequence reported. Later pages may sit below
   * the floor as long as the floor has not risen since.
   */
  retentionFloor?: number;
}

/** One page of changes. */
export interface PullResponse<T = SyncPayload> {
  /** The changes after the request's cursor, ascending by `serverVersion`, each record once. */
  changes: SyncChange<T>[];
  /** The cursor to ask from next. Every change up to it has been delivered. */
  nextCursor: number;
  /** Whether more changes follow `nextCursor` right now. */
  hasMore: boolean;
  /** How many changes were after the request's cursor when the page was cut, if known. */
  total?: number;
  /**
   * The server's retention floor: the highest version of a purged tombstone (0 for a backend
   * that never purges). Send it back as `PullRequest.retentionFloor` with the next pages.
   */
  retentionFloor: number;
  /**
   * Names the server's data set: drawn when its database is created, the same in every page
   * until the data is replaced (a new or reset database, a restarted in-memory server). A
   * device that synced under another epoch reconciles as after a reset and loses nothing
   * (docs/PROTOCOL.md). Optional: without it a reset is recognised only when the server holds
   * fewer versions than the device had pulled.
   */
  epoch?: string;
}

/**
 * A backend adapter. The engine calls it outside any IndexedDB transaction, and expects
 * failures as `SyncError`s with canonical codes: `cursor_expired` for a pull below the
 * retention floor, `rate_limited` with `retryAfterMs`, `unauthorized` / `forbidden` for auth,
 * `network` / `timeout` / `server_error` for what may succeed later.
 *
 * `synclane/conformance` checks an implementation against this contract.
 */
export interface SyncProvider {
  /** A unique id (e.g. `'memory'`, `'convex'`, `'my-gateway'`), used by the registry. */
  readonly id: string;
  /** `'direct'` when the browser talks to the backend, `'gateway'` through the app's own server. */
  readonly mode: 'direct' | 'gateway';
  /**
   * Starts delivering the changes that other clients push to `tables` of `scope`, from now on,
   * to `onChanges`. Resolves once the subscription is live, with a function that ends it.
   * Delivery is a hint, not a log: the engine pulls to catch up on anything missed.
   */
  subscribe(
    scope: SyncScope,
    tables: string[],
    onChanges: (changes: SyncChange[]) => void,
  ): Promise<() => void>;
  /** One page of the changes after `request.cursor`, ascending by server version. */
  pull(request: PullRequest): Promise<PullResponse>;
  /** Applies a batch; one result per op, in order; idempotent by `opId`. */
  push(batch: PushBatch): Promise<PushResult>;
  /** Records that `deviceId` has pulled up to `version`, so the server may purge tombstones. */
  updateCursor(scope: SyncScope, deviceId: string, version: number): Promise<void>;
  /** Releases connections and timers. Optional. */
  dispose?(): void | Promise<void>;
}
