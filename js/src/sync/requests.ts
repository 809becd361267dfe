/**
 * The provider calls of a sync job: each one reported as a `sync.request` event, and pull
 * answers checked before anything reads them.
 *
 * @module
 */

import { SyncError, toSyncError } from '../errors.js';
import type { PullResponse, SyncProvider } from '../types/protocol.js';
import { emit, type SyncSession } from './session.js';

/** Runs one provider call and emits its `sync.request` event; failures become `SyncError`s. */
export async function call<T>(
  s: SyncSession,
  provider: SyncProvider,
  kind: 'push' | 'pull' | 'updateCursor',
  run: () => Promise<T>,
  size: (value: T) => { ops?: number; changes?: number } = () => ({}),
): Promise<T> {
  const started = Date.now();
  try {
    const value = await run();
    emit(s, 'sync.request', { providerId: provider.id, kind, outcome: 'ok', durationMs: Date.now() - started, ...size(value) });
    return value;
  } catch (error) {
    const err = toSyncError(error);
    emit(s, 'sync.request', { providerId: provider.id, kind, outcome: 'error', durationMs: Date.now() - started, errorCode: err.code });
    throw err;
  }
}

/**
 * One pull request, with its envelope checked (see checkPage). `snapshot` for bootstraps,
 * rescans and rescan plans, which stage the server's full current set.
 */
export function pull(s: SyncSession, provider: SyncProvider, cursor: number, floor: number | undefined, snapshot: boolean, limit = s.pullLimit): Promise<PullResponse> {
  const request = {
    scope: { workspaceId: s.workspaceId },
    cursor,
    limit,
    deviceId: s.core.deviceId,
    ...(snapshot && { snapshot: true }),
    ...(floor !== undefined && { retentionFloor: floor }),
  };
  return call(s, provider, 'pull', () => provider.pull(request).then((p) => checkPage(s, p)), (p) => ({ changes: p.changes.length }));
}

/**
 * A pull answer's envelope, checked before anything reads it (the core checks each change):
 * a provider that answers with something else gets a typed error, not a crash.
 */
function checkPage(s: SyncSession, page: PullResponse): PullResponse {
  const cursorLike = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  const optionalCursorLike = (v: unknown) => v === undefined || cursorLike(v);
  // The first problem found, in the order a reader would trip on them.
  const checks: Array<[boolean, string]> = [
    [page !== null && typeof page === 'object', 'is not an object'],
    [Array.isArray(page?.changes), 'has no changes array'],
    [cursorLike(page?.nextCursor), 'has no valid nextCursor'],
    [typeof page?.hasMore === 'boolean', 'has no boolean hasMore'],
    [optionalCursorLike(page?.retentionFloor) && optionalCursorLike(page?.total), 'has an invalid retentionFloor or total'],
  ];
  const problem = checks.find(([ok]) => !ok)?.[1];
  if (problem === undefined) return page;
  const error = new SyncError('invalid_change', `the provider's pull answer ${problem}`);
  emit(s, 'sync.pull:action:error', { source: 'pull', error, changes: 0 });
  throw error;
}
