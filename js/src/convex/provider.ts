/**
 * `ConvexSyncProvider`: the {@link SyncProvider} of an app whose backend runs synclane's Convex
 * functions (`synclane/convex/server`), over the app's own Convex client.
 *
 * @module
 */

import { SyncError } from '../errors.js';
import type {
  PullRequest,
  PullResponse,
  PushBatch,
  PushOpResult,
  PushResult,
  SyncChange,
  SyncPayload,
  SyncProvider,
  SyncScope,
} from '../types/protocol.js';
import { DEFAULT_PUSH_LIMITS, planPush, utf8Bytes, type ConvexPushLimits } from './batches.js';
import type { ConvexClientLike, ConvexSyncFunctions } from './client.js';
import { convexSyncError } from './errors.js';
import { headOf, HeadSubscription, type ConvexDelivery, type HeadHost } from './head.js';
import type {
  ConvexPendingOp,
  ConvexPullArgs,
  ConvexPullResult,
  ConvexPushOpResult,
  ConvexPushResult,
  ConvexSyncChange,
} from './wire.js';

/** The options of {@link ConvexSyncProvider}. */
export interface ConvexSyncProviderOptions {
  /**
   * The Convex client: a `ConvexClient` from `convex/browser`, authenticated by the app with
   * `client.setAuth(fetchToken)`. The provider never sees tokens, and does not close the client.
   */
  client: ConvexClientLike;
  /** The app's mounted synclane functions (`api.synclane.push`, ...). */
  functions: ConvexSyncFunctions;
  /** The provider's id in the registry. Default `'convex'`. */
  id?: string;
  /** What subscriptions deliver (see {@link ConvexDelivery}). Default `'hints'`. */
  delivery?: ConvexDelivery;
  /**
   * The limits a push is cut to; set them to the `limits` the functions were mounted with when
   * those are lower than the defaults.
   */
  limits?: Partial<ConvexPushLimits>;
  /** How long `subscribe` waits for the first head, in ms. Default 30000. */
  subscribeTimeoutMs?: number;
  /** Errors that have no caller to go to: a live subscription's failure, a throwing listener. */
  onError?: (error: SyncError) => void;
}

/**
 * A {@link SyncProvider} over synclane's Convex functions (`mode: 'direct'`: the browser talks
 * to the Convex deployment). Payloads travel as JSON text, so records may use any field name.
 * Failures are `SyncError`s: a `ConvexError` from the functions keeps its code, an unreachable
 * deployment is `network`, anything else `server_error`, the original error as `cause`.
 *
 * A push larger than one mutation may carry is sent as several mutations, in order; each is
 * atomic on its own. An op whose payload is over `limits.maxPayloadBytes` is answered
 * `rejected` with `payload_too_large` and the rest of the batch still goes.
 *
 * ```ts
 * import { ConvexClient } from 'convex/browser';
 * import { ConvexSyncProvider } from 'synclane/convex';
 * import { api } from '../convex/_generated/api';
 *
 * const client = new ConvexClient(import.meta.env.VITE_CONVEX_URL);
 * client.setAuth(fetchToken);
 * const provider = new ConvexSyncProvider({ client, functions: api.synclane });
 * ```
 */
export class ConvexSyncProvider implements SyncProvider {
  /** The registry id (`'convex'` unless given). */
  readonly id: string;
  /** Always `'direct'`. */
  readonly mode = 'direct' as const;
  readonly #client: ConvexClientLike;
  readonly #functions: ConvexSyncFunctions;
  readonly #limits: ConvexPushLimits;
  readonly #timeoutMs: number;
  readonly #onError: ((error: SyncError) => void) | undefined;
  readonly #subscriptions = new Set<HeadSubscription>();
  readonly #host: HeadHost;
  #disposed = false;

  constructor(options: ConvexSyncProviderOptions) {
    this.id = options.id ?? 'convex';
    this.#client = options.client;
    this.#functions = options.functions;
    this.#limits = { ...DEFAULT_PUSH_LIMITS, ...definedOnly(options.limits) };
    this.#timeoutMs = options.subscribeTimeoutMs ?? 30_000;
    this.#onError = options.onError;
    this.#host = {
      delivery: options.delivery ?? 'hints',
      pull: (request) => this.pull(request),
      reportError: (error) => this.#report(error),
      ended: (subscription) => this.#subscriptions.delete(subscription),
    };
  }

  /** Watches the workspace's `head` query; every rise of its version is delivered. */
  async subscribe(
    scope: SyncScope,
    tables: string[],
    onChanges: (changes: SyncChange[]) => void,
  ): Promise<() => void> {
    this.#open('subscribe');
    const subscription = new HeadSubscription(this.#host, scope.workspaceId, [...tables], onChanges);
    this.#subscriptions.add(subscription);
    await subscription.start(
      (callback, onError) =>
        this.#client.onUpdate(this.#functions.head, { workspaceId: scope.workspaceId }, callback, onError),
      this.#timeoutMs,
      (error) => convexSyncError('subscribe', error),
    );
    return () => subscription.close();
  }

  /** One page of changes, with each payload parsed back from its JSON text. */
  async pull(request: PullRequest): Promise<PullResponse> {
    this.#open('pull');
    const args: ConvexPullArgs = { workspaceId: request.scope.workspaceId, cursor: request.cursor, limit: request.limit };
    if (request.tables !== undefined) args.tables = request.tables;
    if (request.deviceId !== undefined) args.deviceId = request.deviceId;
    if (request.snapshot !== undefined) args.snapshot = request.snapshot;
    if (request.retentionFloor !== undefined) args.retentionFloor = request.retentionFloor;
    const page = (await this.#call('pull', () => this.#client.query(this.#functions.pull, args))) as ConvexPullResult;
    const response: PullResponse = {
      changes: page.changes.map((change) => changeOf('pull', change)),
      nextCursor: page.nextCursor,
      hasMore: page.hasMore,
      retentionFloor: page.retentionFloor,
    };
    if (page.total !== undefined) response.total = page.total;
    if (page.epoch !== undefined) response.epoch = page.epoch;
    return response;
  }

  /** Pushes a batch in as many mutations as Convex's limits need; results in the batch's order. */
  async push(batch: PushBatch): Promise<PushResult> {
    this.#open('push');
    const workspaceId = batch.scope.workspaceId;
    const ops = batch.ops.map((op): ConvexPendingOp => {
      const wire: ConvexPendingOp = { tableName: op.tableName, pk: op.pk, op: op.op, stamp: op.stamp };
      if (op.op === 'put' && op.payload !== undefined) wire.payload = serialize(op.payload);
      return wire;
    });
    const envelope = utf8Bytes(JSON.stringify({ workspaceId, deviceId: batch.deviceId, ops: [] }));
    const plan = planPush(ops, envelope, this.#limits);
    const results: PushOpResult[] = new Array<PushOpResult>(ops.length);
    for (const { index, bytes } of plan.oversized) {
      results[index] = {
        opId: ops[index]!.stamp.opId,
        status: 'rejected',
        error: {
          code: 'payload_too_large',
          message: `the payload of ${ops[index]!.tableName}/${ops[index]!.pk} is ${bytes} bytes of JSON, over the limit of ${this.#limits.maxPayloadBytes}`,
        },
      };
    }
    let serverVersion: number | undefined;
    for (const chunk of plan.chunks) {
      const args = { workspaceId, deviceId: batch.deviceId, ops: chunk.map(({ op }) => op) };
      const answer = (await this.#call('push', () => this.#client.mutation(this.#functions.push, args))) as ConvexPushResult;
      if (answer.results.length !== chunk.length) {
        throw new SyncError('server_error', `push: ${chunk.length} ops got ${answer.results.length} results`);
      }
      answer.results.forEach((result, i) => {
        results[chunk[i]!.index] = resultOf(result);
      });
      serverVersion = answer.serverVersion;
    }
    if (serverVersion === undefined) {
      // Nothing was sent (every op refused here): the version is the head's.
      const head = headOf(
        await this.#call('push', () => this.#client.query(this.#functions.head, { workspaceId })),
      );
      serverVersion = head?.version ?? 0;
    }
    return { results, serverVersion };
  }

  /** Records how far `deviceId` has pulled. */
  async updateCursor(scope: SyncScope, deviceId: string, version: number): Promise<void> {
    this.#open('updateCursor');
    await this.#call('updateCursor', () =>
      this.#client.mutation(this.#functions.updateCursor, { workspaceId: scope.workspaceId, deviceId, version }),
    );
  }

  /** Ends every subscription this provider opened; later calls fail with `closed`. */
  dispose(): void {
    this.#disposed = true;
    for (const subscription of [...this.#subscriptions]) subscription.close();
  }

  #open(call: string): void {
    if (this.#disposed) throw new SyncError('closed', `${call}: the provider was disposed`);
  }

  async #call(name: string, run: () => Promise<unknown>): Promise<unknown> {
    try {
      return await run();
    } catch (error) {
      throw convexSyncError(name, error);
    }
  }

  #report(error: unknown): void {
    if (!this.#onError) return;
    try {
      this.#onError(error instanceof SyncError ? error : convexSyncError('subscribe', error));
    } catch {
      // The app's error handler failed: nothing more to tell.
    }
  }
}

/** A payload's JSON text; a payload JSON cannot carry is `invalid_payload`. */
function serialize(payload: SyncPayload): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(payload);
  } catch (error) {
    throw new SyncError('invalid_payload', `push: a payload is not JSON: ${String(error)}`, { cause: error });
  }
  if (text === undefined) throw new SyncError('invalid_payload', 'push: a payload is not JSON');
  return text;
}

/** A change with its payload parsed. */
function changeOf(call: string, change: ConvexSyncChange): SyncChange {
  const out: SyncChange = {
    tableName: change.tableName,
    pk: change.pk,
    op: change.op,
    serverVersion: change.serverVersion,
    stamp: change.stamp,
  };
  if (change.payload !== undefined) {
    try {
      out.payload = JSON.parse(change.payload) as SyncPayload;
    } catch (error) {
      throw new SyncError('server_error', `${call}: the payload of ${change.tableName}/${change.pk} is not JSON`, { cause: error });
    }
  }
  return out;
}

function resultOf(result: ConvexPushOpResult): PushOpResult {
  const out: PushOpResult = { opId: result.opId, status: result.status };
  if (result.serverVersion !== undefined) out.serverVersion = result.serverVersion;
  if (result.current !== undefined) out.current = changeOf('push', result.current);
  return out;
}

function definedOnly<T extends object>(values: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(values ?? {}).filter(([, value]) => value !== undefined)) as Partial<T>;
}
