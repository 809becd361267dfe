/**
 * How `HttpSyncProvider` turns what went wrong into `SyncError`s with canonical codes: the
 * server's error bodies, bare HTTP statuses (a proxy answering in its own words), `Retry-After`,
 * aborts; and the token kept out of every message.
 *
 * @module
 */

import { isSyncErrorCode, SyncError, type SyncErrorCode } from '../../errors.js';
import { isObject } from './transport.js';

/**
 * The `SyncError` of a non-2xx answer: the server's `{ error: { code, message, retryAfterMs? } }`
 * when the body has that shape with a canonical code, else a code chosen by the status (a
 * proxy or load balancer answering in its own words).
 */
export function errorFromAnswer(call: string, response: Response, body: string, token: string): SyncError {
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

export function isAbort(error: unknown): boolean {
  return isObject(error) && error['name'] === 'AbortError';
}

/** Removes the token from a message: servers and fetch implementations may echo headers. */
export function scrub(message: string, token: string): string {
  return token === '' ? message : message.split(token).join('[token]');
}

export function origin(base: string): string {
  try {
    return new URL(base).origin;
  } catch {
    return base;
  }
}
