/**
 * One subscription of `ConvexSyncProvider`: a watch on the `head` query of a workspace, which
 * Convex re-runs and pushes to the client whenever the workspace's version changes. A rise of
 * the version is the change hint; with `delivery: 'changes'` the subscription pulls the new
 * changes of its tables itself and delivers them.
 *
 * @module
 */

import { SyncError } from '../errors.js';
import type { PullRequest, PullResponse, SyncChange } from '../types/protocol.js';

/** The page size of the pulls of `delivery: 'changes'` (the server caps it at its own). */
const DELIVERY_PAGE = 500;

/**
 * What a subscription hands to `onChanges`:
 * - `'hints'`: an empty array whenever the workspace's version rises. The engine pulls from its
 *   own cursor whatever it is given, so fetching the changes here would pull them twice; this
 *   is the mode for `SyncEngine` (the default).
 * - `'changes'`: the provider pulls the new changes of the subscribed tables (from the version
 *   it last saw) and delivers them, as the `SyncProvider` contract describes: for code that
 *   uses the provider without the engine, and for the conformance kit. A pull that fails is
 *   delivered as an empty hint.
 */
export type ConvexDelivery = 'hints' | 'changes';

/** What a {@link HeadSubscription} needs from its provider. */
export interface HeadHost {
  readonly delivery: ConvexDelivery;
  pull(request: PullRequest): Promise<PullResponse>;
  reportError(error: unknown): void;
  ended(subscription: HeadSubscription): void;
}

/** The `head` query's answer, checked. */
export function headOf(value: unknown): { version: number; epoch: string | undefined } | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { version, epoch } = value as Record<string, unknown>;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) return undefined;
  return { version, epoch: typeof epoch === 'string' ? epoch : undefined };
}

/** One subscription to a workspace's head. */
export class HeadSubscription {
  readonly #host: HeadHost;
  readonly #workspaceId: string;
  readonly #tables: string[];
  readonly #onChanges: (changes: SyncChange[]) => void;
  #active = true;
  #stop: (() => void) | undefined;
  /** The highest version seen (delivered or the baseline), and the epoch it belongs to. */
  #seen: number | undefined;
  #epoch: string | undefined;
  #deliveries: Promise<void> = Promise.resolve();
  /** Fails a `start` still waiting for its first head. */
  #abort: ((error: SyncError) => void) | undefined;

  constructor(host: HeadHost, workspaceId: string, tables: string[], onChanges: (changes: SyncChange[]) => void) {
    this.#host = host;
    this.#workspaceId = workspaceId;
    this.#tables = tables;
    this.#onChanges = onChanges;
  }

  /**
   * Starts watching through `watch` (the client's `onUpdate`); settles once the first head
   * arrives (the subscription is live), or fails with the query's error or after `timeoutMs`.
   */
  start(
    watch: (callback: (result: unknown) => void, onError: (error: Error) => void) => () => void,
    timeoutMs: number,
    mapError: (error: unknown) => SyncError,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        this.close();
        reject(new SyncError('timeout', `subscribe: no head arrived within ${timeoutMs} ms`));
      }, timeoutMs);
      const settle = (error?: SyncError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) {
          this.close();
          reject(error);
        } else resolve();
      };
      this.#abort = settle;
      try {
        this.#stop = watch(
          (result) => {
            if (!this.#active) return;
            const head = headOf(result);
            if (head === undefined) {
              settle(new SyncError('server_error', `subscribe: the head query answered ${JSON.stringify(result)}`));
              return;
            }
            if (settled) this.#onHead(head.version, head.epoch);
            else {
              this.#seen = head.version;
              this.#epoch = head.epoch;
              settle();
            }
          },
          (error) => {
            const mapped = mapError(error);
            if (settled) this.#host.reportError(mapped);
            else settle(mapped);
          },
        );
      } catch (error) {
        settle(mapError(error));
      }
      // Closed while the watch was being opened (a dispose in between).
      if (!this.#active) this.#end();
    });
  }

  /** Ends the subscription. Idempotent. */
  close(): void {
    if (!this.#active) return;
    this.#active = false;
    this.#end();
    this.#host.ended(this);
    const abort = this.#abort;
    this.#abort = undefined;
    abort?.(new SyncError('closed', 'subscribe: ended before the first head arrived'));
  }

  #end(): void {
    const stop = this.#stop;
    this.#stop = undefined;
    if (!stop) return;
    try {
      stop();
    } catch (error) {
      this.#host.reportError(error);
    }
  }

  #onHead(version: number, epoch: string | undefined): void {
    const seen = this.#seen ?? 0;
    const previous = this.#epoch;
    this.#epoch = epoch ?? previous;
    // An epoch is drawn with the workspace's first op; only a different one means a reset.
    if (previous !== undefined && epoch !== previous) {
      // Another data set: whatever the version, the receiver must look, and counting starts
      // again from the new head.
      this.#epoch = epoch;
      this.#seen = version;
      this.#call([]);
      return;
    }
    if (version <= seen) return;
    if (this.#host.delivery === 'hints') {
      this.#seen = version;
      this.#call([]);
      return;
    }
    this.#deliveries = this.#deliveries.then(() => this.#catchUp(version));
  }

  async #catchUp(version: number): Promise<void> {
    const from = this.#seen ?? 0;
    if (!this.#active || version <= from) return;
    try {
      let cursor = from;
      for (;;) {
        const request: PullRequest = { scope: { workspaceId: this.#workspaceId }, cursor, limit: DELIVERY_PAGE };
        if (this.#tables.length > 0) request.tables = this.#tables;
        const page = await this.#host.pull(request);
        if (!this.#active) return;
        if (page.changes.length > 0) this.#call(page.changes);
        cursor = Math.max(cursor, page.nextCursor);
        this.#seen = Math.max(this.#seen ?? 0, cursor);
        if (!page.hasMore) return;
      }
    } catch {
      if (!this.#active) return;
      // The changes cannot be fetched now: the hint goes out bare, the receiver pulls itself.
      this.#seen = Math.max(this.#seen ?? 0, version);
      this.#call([]);
    }
  }

  #call(changes: SyncChange[]): void {
    if (!this.#active) return;
    try {
      this.#onChanges(changes);
    } catch (error) {
      this.#host.reportError(error);
    }
  }
}
