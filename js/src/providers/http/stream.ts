/**
 * One subscription of `HttpSyncProvider`: a chain of `GET /v1/stream` connections that
 * reconnects with backoff, watches for silent (half-open) streams, and delivers hints or,
 * with `delivery: 'changes'`, the changes themselves.
 *
 * @module
 */

import { SyncError } from '../../errors.js';
import type { PullRequest, PullResponse, SyncChange } from '../../types/protocol.js';
import type { HttpDelivery, HttpStreamStatus } from './options.js';
import { SseParser, type SseEvent } from './sse.js';
import { isObject } from './transport.js';

/** The page size of the pulls of `delivery: 'changes'` (the server may cap it lower). */
const DELIVERY_PAGE = 500;

/** What a {@link StreamSubscription} needs from its provider. */
export interface StreamHost {
  readonly url: string;
  readonly timeoutMs: number;
  readonly idleMs: number;
  readonly delaysMs: readonly number[];
  readonly maxRetries: number;
  readonly delivery: HttpDelivery;
  open(url: string, signal: AbortSignal): Promise<Response>;
  pull(request: PullRequest): Promise<PullResponse>;
  status(status: HttpStreamStatus, error: SyncError | undefined, workspaceId: string): void;
  reportError(error: unknown): void;
  ended(subscription: StreamSubscription): void;
}

/**
 * One subscription: a chain of stream connections. The first one settles `start()`; after
 * that, each drop schedules the next connection until one is live again, the retries run out,
 * or the subscription is closed.
 */
export class StreamSubscription {
  readonly #host: StreamHost;
  readonly #workspaceId: string;
  readonly #tables: string[];
  readonly #onChanges: (changes: SyncChange[]) => void;
  #active = true;
  /** Whether `start()` has settled (a `ready` arrived, or the first connection failed). */
  #settled = false;
  #resolve: (unsubscribe: () => void) => void = () => undefined;
  #reject: (error: SyncError) => void = () => undefined;
  #connection: AbortController | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Failed connection attempts since the stream was last live. */
  #failures = 0;
  /** `delivery: 'changes'`: the version up to which changes were delivered. */
  #seen: number | undefined;
  #deliveries: Promise<void> = Promise.resolve();

  constructor(host: StreamHost, workspaceId: string, tables: string[], onChanges: (changes: SyncChange[]) => void) {
    this.#host = host;
    this.#workspaceId = workspaceId;
    this.#tables = tables;
    this.#onChanges = onChanges;
  }

  start(): Promise<() => void> {
    return new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
      void this.#connect();
    });
  }

  /** Ends the subscription: aborts the stream, cancels the pending reconnection. Idempotent. */
  close(): void {
    if (!this.#active) return;
    this.#active = false;
    clearTimeout(this.#retryTimer);
    this.#connection?.abort();
    this.#host.ended(this);
    this.#host.status('disconnected', undefined, this.#workspaceId);
    if (!this.#settled) {
      this.#settled = true;
      this.#reject(new SyncError('closed', 'the provider was disposed before the stream was ready'));
    }
  }

  async #connect(): Promise<void> {
    const controller = new AbortController();
    this.#connection = controller;
    let live = false;
    /** Why we aborted the connection ourselves, if we did. */
    let abortedWith: SyncError | undefined;
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    const arm = (ms: number, error: () => SyncError) => {
      clearTimeout(watchdog);
      if (!Number.isFinite(ms)) return;
      watchdog = setTimeout(() => {
        abortedWith = error();
        controller.abort();
      }, ms);
    };
    const timeoutMs = this.#host.timeoutMs;
    arm(timeoutMs, () => new SyncError('timeout', `subscribe: the stream was not ready within ${timeoutMs} ms`));
    this.#host.status('connecting', undefined, this.#workspaceId);
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    let failure: SyncError;
    try {
      const url = `${this.#host.url}?workspaceId=${encodeURIComponent(this.#workspaceId)}`;
      const response = await this.#host.open(url, controller.signal);
      if (!response.body) throw new SyncError('server_error', 'subscribe: the stream answer has no body');
      const bodyReader = response.body.getReader();
      reader = bodyReader;
      // A fetch that ignores the signal still ends the read loop.
      controller.signal.addEventListener('abort', () => void bodyReader.cancel().catch(() => undefined), { once: true });
      if (controller.signal.aborted) void bodyReader.cancel().catch(() => undefined);
      const decoder = new TextDecoder();
      const parser = new SseParser();
      for (;;) {
        const { done, value } = await bodyReader.read();
        if (!this.#active || controller.signal.aborted) break;
        if (done) {
          const tail = parser.push(decoder.decode());
          for (const event of tail) live = this.#onEvent(event, live) || live;
          const message = live ? 'subscribe: the stream ended' : 'subscribe: the stream ended before it was ready';
          throw new SyncError('network', message);
        }
        const events = parser.push(decoder.decode(value, { stream: true }));
        for (const event of events) {
          if (!this.#active) break;
          live = this.#onEvent(event, live) || live;
        }
        const idleMs = this.#host.idleMs;
        // Live: anything received, keep-alive comments included, proves the connection alive.
        if (live) arm(idleMs, () => new SyncError('timeout', `subscribe: the stream was silent for ${idleMs} ms`));
      }
      failure = abortedWith ?? new SyncError('closed', 'subscribe: the subscription was ended');
    } catch (error) {
      failure =
        abortedWith ??
        (error instanceof SyncError ? error : new SyncError('network', 'subscribe: the stream failed', { cause: error }));
    } finally {
      clearTimeout(watchdog);
      if (this.#connection === controller) this.#connection = undefined;
      controller.abort();
      void reader?.cancel().catch(() => undefined);
    }
    if (!this.#active) return;
    this.#host.status('disconnected', failure, this.#workspaceId);
    if (!this.#settled) {
      // The first connection failed: the caller decides whether to subscribe again.
      this.#settled = true;
      this.#active = false;
      this.#host.ended(this);
      this.#reject(failure);
      return;
    }
    if (live) this.#failures = 0;
    else this.#failures += 1;
    this.#scheduleReconnect(failure);
  }

  #scheduleReconnect(failure: SyncError): void {
    // `#failures` counts the failed reconnection attempts; the drop of a live stream is not one.
    if (this.#failures >= this.#host.maxRetries) {
      this.#active = false;
      this.#host.ended(this);
      return;
    }
    const delays = this.#host.delaysMs;
    let delay = delays[Math.min(this.#failures, delays.length - 1)] ?? 0;
    if (failure.code === 'rate_limited' && failure.retryAfterMs !== undefined) delay = Math.max(delay, failure.retryAfterMs);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#active) void this.#connect();
    }, delay);
  }

  /** Handles one event; returns whether the stream is live after it. */
  #onEvent(event: SseEvent, live: boolean): boolean {
    if (event.type === 'ready') {
      const version = versionOf(event.data);
      this.#failures = 0;
      this.#host.status('connected', undefined, this.#workspaceId);
      if (!this.#settled) {
        this.#settled = true;
        this.#seen = version;
        this.#resolve(() => this.close());
      } else {
        // A reconnection: whatever happened while the stream was down is unknown.
        this.#deliver(version);
      }
      return true;
    }
    if (event.type === 'change' && live) {
      // Version 0 is the reference server's "notices were missed": the head is unknown.
      const version = versionOf(event.data);
      this.#deliver(version === 0 ? undefined : version);
    }
    return live;
  }

  /** Delivers a hint, or in `'changes'` mode the changes up to `version` (queued, in order). */
  #deliver(version: number | undefined): void {
    if (this.#host.delivery === 'hints') {
      this.#call([]);
      return;
    }
    this.#deliveries = this.#deliveries.then(() => this.#catchUp(version));
  }

  async #catchUp(version: number | undefined): Promise<void> {
    if (!this.#active) return;
    if (this.#seen === undefined) {
      // The `ready` had no usable version: start just below the change that woke us.
      if (version === undefined) return this.#call([]);
      this.#seen = Math.max(0, version - 1);
    }
    if (version !== undefined && version <= this.#seen) return undefined;
    try {
      for (;;) {
        const request: PullRequest = { scope: { workspaceId: this.#workspaceId }, cursor: this.#seen, limit: DELIVERY_PAGE };
        if (this.#tables.length > 0) request.tables = this.#tables;
        const page = await this.#host.pull(request);
        if (!this.#active) return undefined;
        if (page.changes.length > 0) this.#call(page.changes);
        this.#seen = Math.max(this.#seen, page.nextCursor);
        if (!page.hasMore) return undefined;
      }
    } catch {
      if (!this.#active) return undefined;
      // Expired cursor, rate limit, network: the changes cannot be fetched now, so the hint
      // goes out bare and the receiver pulls from its own cursor.
      if (version !== undefined) this.#seen = Math.max(this.#seen, version);
      return this.#call([]);
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

/** The `version` of an event's JSON data, if it has a usable one. */
function versionOf(data: string): number | undefined {
  try {
    const parsed: unknown = JSON.parse(data);
    const version = isObject(parsed) ? parsed['version'] : undefined;
    return typeof version === 'number' && Number.isSafeInteger(version) && version >= 0 ? version : undefined;
  } catch {
    return undefined;
  }
}
