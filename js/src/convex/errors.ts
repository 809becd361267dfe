/**
 * How `ConvexSyncProvider` turns what a Convex call threw into a `SyncError` with a canonical
 * code, the original error kept as its `cause`.
 *
 * @module
 */

import { isSyncErrorCode, SyncError } from '../errors.js';

/**
 * The `SyncError` of a failed Convex call:
 * - a `ConvexError` whose `data` is `{ code, message }` with a canonical code (what synclane's
 *   functions throw) keeps that code and message;
 * - a closed client is `closed`;
 * - a failure to reach the deployment (fetch or WebSocket errors) is `network`;
 * - anything else (a bug in a function, an error without synclane's data) is `server_error`.
 */
export function convexSyncError(call: string, error: unknown): SyncError {
  if (error instanceof SyncError) return error;
  const data = isObject(error) && error['name'] === 'ConvexError' ? error['data'] : undefined;
  if (isObject(data) && isSyncErrorCode(data['code'])) {
    const message = typeof data['message'] === 'string' && data['message'] !== '' ? data['message'] : `${call}: ${data['code']}`;
    const retry = data['retryAfterMs'];
    const retryAfterMs = typeof retry === 'number' && Number.isFinite(retry) && retry >= 0 ? retry : undefined;
    return new SyncError(data['code'], message, { cause: error, retryAfterMs });
  }
  const message = isObject(error) && typeof error['message'] === 'string' ? error['message'] : String(error);
  if (/has already been closed/i.test(message)) {
    return new SyncError('closed', `${call}: the Convex client was closed`, { cause: error });
  }
  if (isNetworkFailure(error, message)) {
    return new SyncError('network', `${call}: the Convex deployment could not be reached: ${message}`, { cause: error });
  }
  return new SyncError('server_error', `${call}: ${message}`, { cause: error });
}

/**
 * Whether an error says the deployment was not reached: `fetch` rejects with a `TypeError`,
 * browsers and Node name their socket failures, and Convex's client reports lost connections.
 */
function isNetworkFailure(error: unknown, message: string): boolean {
  if (error instanceof TypeError) return true;
  const name = isObject(error) ? error['name'] : undefined;
  if (name === 'NetworkError') return true;
  return /network|connection lost|websocket|fetch failed|ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|offline/i.test(message);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
