/**
 * `HttpSyncProvider`: the {@link SyncProvider} contract over the HTTP protocol of the reference
 * sync server (`synclane-server`, `docs/PROTOCOL.md`): JSON requests with a bearer token,
 * canonical error codes, and a server-sent-events stream of change hints.
 *
 * It uses nothing but `fetch`, `AbortController`, `ReadableStream` and `TextDecoder`, so the
 * same code runs in browsers, workers and Node 20+.
 *
 * @module
 */

import { isSyncErrorCode, SyncError, type SyncErrorCode } from '../errors.js';
import type { PullRequest, PullResponse, PushBatch, PushResult, SyncChange, SyncProvider, SyncScope } from '../types/protocol.js';

/** The state of one subscription's stream, as {@link HttpSyncProviderOptions.onStreamStatus} reports it. */
export type HttpStreamStatus = 'connecting' | 'connected' | 'disconnected';

/**
 * What a subscription hands to `onChanges`:
 * - `'hints'`: an empty array for every `change` event (and for the `ready` of a reconnect).
 *   The engine pulls from its own cursor whatever it is given, so fetching the changes here
 *   would pull them twice; this is the mode for `SyncEngine`.
 * - `'changes'`: the provider pulls the new changes of the subscribed tables itself (from the
 *   version the stream last reported) and delivers them, as the `SyncProvider` contract
 *   describes. For code that uses the provider without the engine, and for the conformance kit.
 *   A pull that fails is delivered as an empty hint.
 */
export type HttpDelivery = 'hints' | 'changes';

/** How a dropped stream reconnects. */
export interface HttpReconnectOptions {
  /**
   * The delay before each reconnection attempt, in ms; the last one repeats. Default
   * `[250, 1000, 3000, 5000]`. A `rate_limited` answer waits at least its `retryAfterMs`.
   */
  delaysMs?: number[];
  /**
   * How many attempts in a row may fail before the subscription gives up (its last status is
   * then `'disconnected'` with the error). Counted again from 0 once a stream is live. Default
   * `Infinity`; 0 never reconnects.
   */
  maxRetries?: number;
}

/** Options of the {@link HttpSyncProvider} constructor. */
export interface HttpSyncProviderOptions {
  /**
   * The server's base URL, e.g. `'http://127.0.0.1:8787'` or `'https://example.com/sync'`
   * (a path is kept: requests go to `<url>/v1/...`).
   */
  url: string;
  /**
   * The bearer token, or a function giving it. The function is called before every request
   * and every stream (re)connection, so an app can refresh short-lived tokens there. The token
   * never appears in error messages.
   */
  token: string | (() => string | Promise<string>);
  /** The provider's id, used by the registry. Default `'http'`. */
  id?: string;
  /** The `fetch` to use. Default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /**
   * The deadline of each request (token callback, answer and body included), and of a stream's
   * connection until its `ready` event, in ms. Over it a call fails with `timeout`. Default 15000.
   */
  timeoutMs?: number;
  /**
   * A live stream that receives nothing (not even the server's keep-alive comment, sent every
   * 15 s) for this long is presumed dead (a half-open connection never ends by itself) and
   * reconnects, in ms. Default 45000; `Infinity` turns the watchdog off.
   */
  streamIdleTimeoutMs?: number;
  /** How dropped streams reconnect. */
  reconnect?: HttpReconnectOptions;
  /** What subscriptions deliver. Default `'hints'` (see {@link HttpDelivery}). */
  delivery?: HttpDelivery;
  /**
   * Told of every change of a subscription's stream: `'connecting'` before each connection
   * attempt, `'connected'` on its `ready` event, `'disconnected'` when it fails or drops (with
   * the error) or is ended by unsubscribe or dispose (without one). A `'disconnected'` with an
   * error and no `'connecting'` after it means the subscription gave up (or the first
   * connection failed, and `subscribe` rejected).
   */
  onStreamStatus?: (status: HttpStreamStatus, error: SyncError | undefined, workspaceId: string) => void;
  /** Receives what `onChanges` or `onStreamStatus` throw. Default: `console.error`. */
  onSubscriberError?: (error: unknown) => void;
}

const DEFAULT_DELAYS_MS: readonly number[] = [250, 1000, 3000, 5000];
/** The page size of the pulls of `delivery: 'changes'` (the server may cap it lower). */
const DELIVERY_PAGE = 500;
/** A stream line longer than this is not the protocol's: the stream is dropped. */
const MAX_LINE_CHARS = 1 << 20;

/**
 * A {@link SyncProvider} for a server speaking synclane's HTTP protocol: `push`, `pull` and
 * `updateCursor` are `POST`s to `/v1/push`, `/v1/pull` and `/v1/cursor`; `subscribe` reads
 * `GET /v1/stream` with `fetch` (not `EventSource`, which cannot send an `Authorization`
 * header) and reconnects by itself with backoff. Every error is a `SyncError` with the
 * server's canonical code, or `network` / `timeout` when there was no answer.
 *
 * @example
 * ```ts
 * const provider = new HttpSyncProvider({
 *   url: 'https://sync.example.com',
 *   token: async () => (await auth.session()).accessToken, // called before every request
 * });
 * registerSyncProvider(provider, { activate: true });
 * ```
 */
export class HttpSyncProvider implements SyncProvider {
  /** The provider's id (default `'http'`). */
  readonly id: string;
  /** Always `'gateway'`: the browser talks to a sync server, which talks to the database. */
  readonly mode = 'gateway' as const;
  readonly #base: string;
  readonly #token: () => string | Promise<string>;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #idleMs: number;
  readonly #delaysMs: readonly number[];
  readonly #maxRetries: number;
  readonly #delivery: HttpDelivery;
  readonly #onStreamStatus: HttpSyncProviderOptions['onStreamStatus'];
  readonly #onSubscriberError: (error: unknown) => void;
  /** Requests under way, so that `dispose` can abort them. */
  readonly #inflight = new Set<AbortController>();
  readonly #streams = new Set<StreamSubscription>();
  #disposed = false;

  /** @throws SyncError `invalid_argument` for a malformed option, or when there is no `fetch`. */
  constructor(options: HttpSyncProviderOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new SyncError('invalid_argument', 'HttpSyncProvider needs options: { url, token }');
    }
    this.id = options.id ?? 'http';
    this.#base = checkUrl(options.url);
    const token = options.token;
    if (typeof token === 'string') this.#token = () => token;
    else if (typeof token === 'function') this.#token = token;
    else throw new SyncError('invalid_argument', 'token must be a string or a function returning one');
    const fetchImpl = options.fetch ?? (globalThis.fetch as typeof fetch | undefined);
    if (typeof fetchImpl !== 'function') {
      throw new SyncError('invalid_argument', 'there is no global fetch here: pass options.fetch');
    }
    // Called as a plain function: a browser's fetch throws "Illegal invocation" when called as
    // a method of another object.
    this.#fetch = (input, init) => fetchImpl(input, init);
    this.#timeoutMs = checkDuration('timeoutMs', options.timeoutMs ?? 15_000, false);
    this.#idleMs = checkDuration('streamIdleTimeoutMs', options.streamIdleTimeoutMs ?? 45_000, true);
    const delays = options.reconnect?.delaysMs ?? DEFAULT_DELAYS_MS;
    const badDelay = (d: unknown) => typeof d !== 'number' || !(d >= 0) || !Number.isFinite(d);
    if (!Array.isArray(delays) || delays.length === 0 || delays.some(badDelay)) {
      throw new SyncError('invalid_argument', 'reconnect.delaysMs must be a non-empty array of delays ≥ 0 (ms)');
    }
    this.#delaysMs = [...delays];
    const maxRetries = options.reconnect?.maxRetries ?? Infinity;
    if (typeof maxRetries !== 'number' || !(maxRetries >= 0)) {
      throw new SyncError('invalid_argument', 'reconnect.maxRetries must be a number ≥ 0 (or Infinity)');
    }
    this.#maxRetries = maxRetries;
    const delivery = options.delivery ?? 'hints';
    if (delivery !== 'hints' && delivery !== 'changes') {
      throw new SyncError('invalid_argument', "delivery must be 'hints' or 'changes'");
    }
    this.#delivery = delivery;
    this.#onStreamStatus = options.onStreamStatus;
    this.#onSubscriberError =
      options.onSubscriberError ??
      ((error) => {
        console.error(`[synclane] a subscriber of provider "${this.id}" failed:`, error);
      });
  }

  /** `POST /v1/push`: applies a batch; one result per op, in order. */
  async push(batch: PushBatch): Promise<PushResult> {
    return this.#post('push', '/v1/push', batch, (body): body is PushResult =>
      isObject(body) && Array.isArray(body['results']) && typeof body['serverVersion'] === 'number',
    );
  }

  /** `POST /v1/pull`: one page of the changes after `request.cursor`. */
  async pull(request: PullRequest): Promise<PullResponse> {
    return this.#post('pull', '/v1/pull', request, (body): body is PullResponse =>
      isObject(body) &&
      Array.isArray(body['changes']) &&
      typeof body['nextCursor'] === 'number' &&
      typeof body['hasMore'] === 'boolean',
    );
  }

  /** `POST /v1/cursor`: records that `deviceId` has pulled up to `version` (answered `204`). */
  async updateCursor(scope: SyncScope, deviceId: string, version: number): Promise<void> {
    // The answer is a 204; a body, if any, means nothing.
    await this.#send('updateCursor', '/v1/cursor', { scope, deviceId, version });
  }

  /**
   * Opens `GET /v1/stream?workspaceId=...` and resolves once its `ready` event arrives, with a
   * function that ends the subscription. Rejects with the mapped `SyncError` when that first
   * connection fails (the caller decides about retrying it); once live, a dropped stream
   * reconnects by itself (see {@link HttpReconnectOptions}), and its `ready` is delivered as
   * a hint because changes may have been missed meanwhile.
   *
   * The stream is per workspace; `tables` only narrows the pulls of `delivery: 'changes'`.
   */
  subscribe(scope: SyncScope, tables: string[], onChanges: (changes: SyncChange[]) => void): Promise<() => void> {
    try {
      this.#checkOpen();
      const workspaceId = checkScope(scope);
      if (!Array.isArray(tables) || tables.some((t) => typeof t !== 'string')) {
        throw new SyncError('invalid_argument', 'tables must be an array of table names');
      }
      if (typeof onChanges !== 'function') {
        throw new SyncError('invalid_argument', 'onChanges must be a function');
      }
      const subscription = new StreamSubscription(this.#streamHost(), workspaceId, [...tables], onChanges);
      this.#streams.add(subscription);
      return subscription.start();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Aborts every open stream and request under way; later calls fail with `closed`. */
  dispose(): void {
    this.#disposed = true;
    for (const controller of [...this.#inflight]) controller.abort();
    for (const subscription of [...this.#streams]) subscription.close();
  }

  /** What a subscription needs from its provider. */
  #streamHost(): StreamHost {
    return {
      url: `${this.#base}/v1/stream`,
      timeoutMs: this.#timeoutMs,
      idleMs: this.#idleMs,
      delaysMs: this.#delaysMs,
      maxRetries: this.#maxRetries,
      delivery: this.#delivery,
      open: (url, signal) => this.#openStream(url, signal),
      pull: (request) => this.pull(request),
      status: (status, error, workspaceId) => {
        if (!this.#onStreamStatus) return;
        try {
          this.#onStreamStatus(status, error, workspaceId);
        } catch (thrown) {
          this.#reportSubscriberError(thrown);
        }
      },
      reportError: (error) => this.#reportSubscriberError(error),
      ended: (subscription) => this.#streams.delete(subscription),
    };
  }

  /**
   * A JSON request whose answer must have a shape: a proxy's HTML page or a truncated body is
   * a `server_error` here rather than a crash further on.
   */
  async #post<R>(call: string, path: string, body: unknown, valid: (body: unknown) => body is R): Promise<R> {
    const parsed = await this.#send(call, path, body, true);
    if (!valid(parsed)) throw new SyncError('server_error', `${call}: the server's answer has an unexpected shape`);
    return parsed;
  }

  /**
   * One `POST` with the token and the deadline; answers the body of a 2xx (parsed as JSON when
   * `json`), throws a mapped `SyncError` otherwise.
   */
  async #send(call: string, path: string, body: unknown, json = false): Promise<unknown> {
    this.#checkOpen();
    let text: string;
    try {
      text = JSON.stringify(body);
    } catch (error) {
      throw new SyncError('invalid_argument', `${call}: the request is not serialisable as JSON`, { cause: error });
    }
    const controller = new AbortController();
    this.#inflight.add(controller);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.#timeoutMs);
    let token = '';
    try {
      token = await abortable(Promise.resolve().then(this.#token), controller.signal).then(checkToken, (error: unknown) => {
        if (controller.signal.aborted) throw error;
        throw tokenFailure(error);
      });
      const headers = authHeaders(token, 'application/json');
      headers.set('content-type', 'application/json');
      const response = await abortable(
        this.#fetch(`${this.#base}${path}`, { method: 'POST', headers, body: text, signal: controller.signal }),
        controller.signal,
      );
      if (!response.ok) {
        const answer = await abortable(response.text(), controller.signal);
        throw errorFromAnswer(call, response, answer, token);
      }
      if (!json) return await abortable(response.text(), controller.signal);
      // Parsed from the bytes: a page of hundreds of records read as one string first would
      // be allocated straight into the collector's old generation, and a bootstrap's worth of
      // them ends in a long pause.
      return await abortable(response.json(), controller.signal).catch((error: unknown) => {
        if (error instanceof SyntaxError) {
          throw new SyncError('server_error', `${call}: the server's answer is not JSON`, { cause: error });
        }
        throw error;
      });
    } catch (error) {
      throw this.#failure(call, error, timedOut, token);
    } finally {
      clearTimeout(timer);
      this.#inflight.delete(controller);
    }
  }

  /** Connects a stream (token included); answers the response or throws a mapped `SyncError`. */
  async #openStream(url: string, signal: AbortSignal): Promise<Response> {
    this.#checkOpen();
    let token = '';
    try {
      token = await abortable(Promise.resolve().then(this.#token), signal).then(checkToken, (error: unknown) => {
        if (signal.aborted) throw error;
        throw tokenFailure(error);
      });
      const response = await abortable(
        this.#fetch(url, { method: 'GET', headers: authHeaders(token, 'text/event-stream'), signal }),
        signal,
      );
      if (!response.ok) {
        const answer = await abortable(response.text(), signal).catch(() => '');
        throw errorFromAnswer('subscribe', response, answer, token);
      }
      const type = response.headers.get('content-type');
      if (type !== null && !type.toLowerCase().includes('text/event-stream')) {
        void response.body?.cancel().catch(() => undefined);
        throw new SyncError('server_error', `subscribe: the server answered ${type}, not text/event-stream`);
      }
      return response;
    } catch (error) {
      // The subscription knows why it aborted (deadline, unsubscribe); it maps those itself.
      throw this.#failure('subscribe', error, false, token);
    }
  }

  /** Maps whatever a request threw: our own errors pass, an abort is `timeout` or `closed`, the rest is `network`. */
  #failure(call: string, error: unknown, timedOut: boolean, token: string): SyncError {
    if (timedOut) return new SyncError('timeout', `${call}: no answer within ${this.#timeoutMs} ms`, { cause: error });
    if (error instanceof SyncError) return error;
    if (this.#disposed) return new SyncError('closed', `provider "${this.id}" was disposed`, { cause: error });
    if (isAbort(error)) return new SyncError('network', `${call}: the request was aborted`, { cause: error });
    // fetch rejects with a TypeError for refused connections, DNS, TLS and CORS failures alike.
    const detail = scrub(error instanceof Error ? error.message : String(error), token);
    return new SyncError('network', `${call}: could not reach ${origin(this.#base)} (${detail})`, { cause: error });
  }

  #checkOpen(): void {
    if (this.#disposed) throw new SyncError('closed', `provider "${this.id}" was disposed`);
  }

  #reportSubscriberError(error: unknown): void {
    try {
      this.#onSubscriberError(error);
    } catch {
      // The handler failed too; the stream must go on regardless.
    }
  }
}

/** What a {@link StreamSubscription} needs from its provider. */
interface StreamHost {
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
class StreamSubscription {
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

/** One server-sent event. */
interface SseEvent {
  /** The `event:` field; `'message'` when absent. */
  type: string;
  /** The `data:` lines, joined with `\n`. */
  data: string;
}

/**
 * An incremental parser of the `text/event-stream` format (the WHATWG rules): lines end with
 * CRLF, LF or CR, possibly split across chunks; `:` starts a comment; a blank line dispatches
 * the event when it has data. Fields other than `event` and `data` are ignored.
 */
class SseParser {
  #buffer = '';
  /** The previous chunk ended with CR: a LF that starts the next one belongs to it. */
  #skipLf = false;
  #type = '';
  #data: string[] = [];

  /** Feeds decoded text; returns the events it completed. */
  push(chunk: string): SseEvent[] {
    let text = this.#buffer + chunk;
    if (this.#skipLf && text.startsWith('\n')) text = text.slice(1);
    this.#skipLf = false;
    const events: SseEvent[] = [];
    let start = 0;
    for (;;) {
      const cr = text.indexOf('\r', start);
      const lf = text.indexOf('\n', start);
      if (cr === -1 && lf === -1) break;
      let end: number;
      let next: number;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        end = cr;
        next = cr + 1;
        if (text[next] === '\n') next += 1;
        else if (next === text.length) this.#skipLf = true;
      } else {
        end = lf;
        next = lf + 1;
      }
      this.#line(text.slice(start, end), events);
      start = next;
    }
    this.#buffer = text.slice(start);
    if (this.#buffer.length > MAX_LINE_CHARS) {
      throw new SyncError('server_error', `subscribe: a stream line is over ${MAX_LINE_CHARS} characters`);
    }
    return events;
  }

  #line(line: string, events: SseEvent[]): void {
    if (line === '') {
      if (this.#data.length > 0) events.push({ type: this.#type || 'message', data: this.#data.join('\n') });
      this.#type = '';
      this.#data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.#type = value;
    else if (field === 'data') this.#data.push(value);
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

/**
 * The `SyncError` of a non-2xx answer: the server's `{ error: { code, message, retryAfterMs? } }`
 * when the body has that shape with a canonical code, else a code chosen by the status (a
 * proxy or load balancer answering in its own words).
 */
function errorFromAnswer(call: string, response: Response, body: string, token: string): SyncError {
  const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  const error = isObject(parsed) ? parsed['error'] : undefined;
  if (isObject(error) && isSyncErrorCode(error['code'])) {
    const code = error['code'];
    const message = typeof error['message'] === 'string' && error['message'] !== '' ? error['message'] : `${call}: ${code}`;
    const fromBody = error['retryAfterMs'];
    const retryAfterMs =
      typeof fromBody === 'number' && Number.isFinite(fromBody) && fromBody >= 0
        ? fromBody
        : code === 'rate_limited'
          ? retryAfter
          : undefined;
    return new SyncError(code, scrub(message, token), { retryAfterMs });
  }
  const code = codeForStatus(response.status);
  const statusText = response.statusText ? ` ${response.statusText}` : '';
  return new SyncError(code, scrub(`${call}: the server answered HTTP ${response.status}${statusText}`, token), {
    retryAfterMs: code === 'rate_limited' ? retryAfter : undefined,
  });
}

/** The code of an error answer without the protocol's body. */
function codeForStatus(status: number): SyncErrorCode {
  switch (status) {
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 408:
      return 'timeout';
    case 410:
      return 'cursor_expired';
    case 413:
      return 'payload_too_large';
    case 429:
      return 'rate_limited';
    default:
      // Another 4xx (400, a 404 from a wrong base URL, ...) will fail again as it is: permanent.
      // 5xx, and anything stranger, may pass later.
      return status >= 400 && status < 500 ? 'invalid_argument' : 'server_error';
  }
}

/** `Retry-After` as milliseconds: delay-seconds, or an HTTP date. */
function parseRetryAfter(header: string | null): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** The request headers; building them here turns a token with bad characters into an error that does not echo it. */
function authHeaders(token: string, accept: string): Headers {
  try {
    return new Headers({ authorization: `Bearer ${token}`, accept });
  } catch {
    throw new SyncError('unauthorized', 'the token is not a valid HTTP header value');
  }
}

function checkToken(token: unknown): string {
  if (typeof token !== 'string') throw new SyncError('unauthorized', 'the token callback did not return a string');
  return token;
}

/** A token callback that threw: its own `SyncError` is kept, anything else means no credentials. */
function tokenFailure(error: unknown): SyncError {
  if (error instanceof SyncError) return error;
  const detail = error instanceof Error ? `: ${error.message}` : '';
  return new SyncError('unauthorized', `the token callback failed${detail}`, { cause: error });
}

/** Settles with `promise`, or rejects as soon as `signal` aborts (for a `fetch` that ignores it). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function isAbort(error: unknown): boolean {
  return isObject(error) && error['name'] === 'AbortError';
}

/** Removes the token from a message: servers and fetch implementations may echo headers. */
function scrub(message: string, token: string): string {
  return token === '' ? message : message.split(token).join('[token]');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkUrl(url: unknown): string {
  if (typeof url !== 'string') throw new SyncError('invalid_argument', 'url must be a string');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SyncError('invalid_argument', `url is not an absolute URL: ${url}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new SyncError('invalid_argument', `url must be http: or https:, got ${parsed.protocol}`);
  }
  if (parsed.search !== '' || parsed.hash !== '') {
    throw new SyncError('invalid_argument', 'url must not have a query or a fragment');
  }
  return parsed.href.replace(/\/+$/, '');
}

function origin(base: string): string {
  try {
    return new URL(base).origin;
  } catch {
    return base;
  }
}

function checkDuration(name: string, value: unknown, infinite: boolean): number {
  if (typeof value !== 'number' || !(value > 0) || (!infinite && !Number.isFinite(value))) {
    throw new SyncError('invalid_argument', `${name} must be a number of milliseconds > 0${infinite ? ' (or Infinity)' : ''}`);
  }
  return value;
}

function checkScope(scope: SyncScope): string {
  if (typeof scope !== 'object' || scope === null || typeof scope.workspaceId !== 'string') {
    throw new SyncError('invalid_argument', 'scope must be { workspaceId: string }');
  }
  return scope.workspaceId;
}
