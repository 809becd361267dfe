/**
 * `HttpSyncProvider`: the {@link SyncProvider} contract over the HTTP protocol of the reference
 * sync server (`synclane-server`, `docs/PROTOCOL.md`): JSON requests with a bearer token,
 * canonical error codes, and a server-sent-events stream of change hints.
 *
 * It uses nothing but `fetch`, `AbortController`, `ReadableStream` and `TextDecoder`, so the
 * same code runs in browsers, workers and Node 20+.
 *
 * This module is the provider and its requests; `http/` holds its options, the transport
 * (token, headers, abortable promises), the error mapping, the stream subscription and the
 * event-stream parser.
 *
 * @module
 */

import { SyncError } from '../errors.js';
import type { PullRequest, PullResponse, PushBatch, PushResult, SyncChange, SyncProvider, SyncScope } from '../types/protocol.js';
import { errorFromAnswer, isAbort, origin, scrub } from './http/errors.js';
import { checkDuration, checkUrl, DEFAULT_DELAYS_MS, type HttpDelivery, type HttpSyncProviderOptions } from './http/options.js';
import { StreamSubscription, type StreamHost } from './http/stream.js';
import { abortable, authHeaders, isObject, readToken } from './http/transport.js';

export type { HttpDelivery, HttpReconnectOptions, HttpStreamStatus, HttpSyncProviderOptions } from './http/options.js';

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
      token = await readToken(this.#token, controller.signal);
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
      token = await readToken(this.#token, signal);
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

function checkScope(scope: SyncScope): string {
  if (typeof scope !== 'object' || scope === null || typeof scope.workspaceId !== 'string') {
    throw new SyncError('invalid_argument', 'scope must be { workspaceId: string }');
  }
  return scope.workspaceId;
}
