/**
 * The options of `HttpSyncProvider`, and the checks that refuse a malformed one at
 * construction rather than at the first request.
 *
 * @module
 */

import { SyncError } from '../../errors.js';

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

export const DEFAULT_DELAYS_MS: readonly number[] = [250, 1000, 3000, 5000];

export function checkUrl(url: unknown): string {
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

export function checkDuration(name: string, value: unknown, infinite: boolean): number {
  if (typeof value !== 'number' || !(value > 0) || (!infinite && !Number.isFinite(value))) {
    throw new SyncError('invalid_argument', `${name} must be a number of milliseconds > 0${infinite ? ' (or Infinity)' : ''}`);
  }
  return value;
}
