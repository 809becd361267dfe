/**
 * What every request and stream of `HttpSyncProvider` goes through: the bearer token (read
 * fresh each time, never echoed), the headers, and promises that give up when their signal
 * aborts.
 *
 * @module
 */

import { SyncError } from '../../errors.js';

/**
 * The token of a request or a stream, from the app's callback: abandoned when `signal` aborts,
 * `unauthorized` when the callback fails or gives no string.
 */
export function readToken(token: () => string | Promise<string>, signal: AbortSignal): Promise<string> {
  return abortable(Promise.resolve().then(token), signal).then(checkToken, (error: unknown) => {
    if (signal.aborted) throw error;
    throw tokenFailure(error);
  });
}

/** The request headers; building them here turns a token with bad characters into an error that does not echo it. */
export function authHeaders(token: string, accept: string): Headers {
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
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
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

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
