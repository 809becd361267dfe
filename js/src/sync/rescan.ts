/**
 * Rescan: the server's full current set staged page by page, then swapped in by the core in
 * one transaction (or only planned, for `plan({ rescan: true })`).
 *
 * @module
 */

import { SyncError, toSyncError } from '../errors.js';
import type { SyncChange, SyncProvider } from '../types/protocol.js';
import type { SyncReport } from '../types/sync.js';
import { pull } from './requests.js';
import { emit, yieldToPage, type SyncSession } from './session.js';

const MAX_RESCAN_RESTARTS = 3;

/** Stages the server's full set, then swaps it in; an interruption leaves local data as is. */
export async function rescan(s: SyncSession, provider: SyncProvider, report: SyncReport, fromCursor: number, restarts = 0): Promise<void> {
  const started = Date.now();
  s.phase = 'rescan';
  emit(s, 'sync.rescan:action:starting', { reason: 'cursor_expired', fromCursor });
  await s.core.beginRescan();
  let cursor = 0;
  let floor: number | undefined;
  let staged = 0;
  try {
    for (;;) {
      const page = await pull(s, provider, cursor, floor, true);
      floor ??= page.retentionFloor;
      await s.core.stageRescanPage(page.changes, {
        fromCursor: cursor,
        nextCursor: page.nextCursor,
        hasMore: page.hasMore,
        retentionFloor: page.retentionFloor,
        ...(page.total !== undefined && { total: page.total }),
        ...(page.epoch !== undefined && { epoch: page.epoch }),
      });
      staged += page.changes.length;
      report.pulled += page.changes.length;
      cursor = page.nextCursor;
      emit(s, 'sync.rescan:action:progress', { cursor, staged, ...(page.total !== undefined && { total: page.total }) });
      if (!page.hasMore) break;
      await yieldToPage();
    }
  } catch (error) {
    await s.core.abortRescan();
    const err = toSyncError(error);
    // Tombstones were purged past the staged pages: start over from 0.
    if (err.code === 'cursor_expired' && restarts < MAX_RESCAN_RESTARTS) return rescan(s, provider, report, fromCursor, restarts + 1);
    throw err;
  }
  const swapped = (await s.core.completeRescan()) as {
    summary: { creations: number; updates: number; deletions: number; keptForRebase: number };
    cursor: { cursor: number };
    changed: Array<[string, string]>;
    reset?: { previousCursor: number; republishedRecords: number; republishedTombstones: number };
  };
  report.applied += swapped.changed.length;
  s.announce(swapped.changed.map(([table, id]) => ({ table, id })));
  emit(s, 'sync.rescan:action:completed', {
    cursor: swapped.cursor.cursor,
    created: swapped.summary.creations,
    updated: swapped.summary.updates,
    deleted: swapped.summary.deletions,
    kept: swapped.summary.keptForRebase,
    durationMs: Date.now() - started,
  });
  if (swapped.reset) {
    emit(s, 'sync.reset:action:completed', {
      previousCursor: swapped.reset.previousCursor,
      cursor: swapped.cursor.cursor,
      republishedRecords: swapped.reset.republishedRecords,
      republishedTombstones: swapped.reset.republishedTombstones,
      keptPending: swapped.summary.keptForRebase,
      updated: swapped.summary.updates,
    });
  }
}

/**
 * Pulls the server's full current set (a snapshot, page by page) and asks the core what a
 * rescan would change, without staging or writing anything. Returns the plan and how many
 * changes were pulled.
 */
export async function planRescan(s: SyncSession, provider: SyncProvider | undefined): Promise<{ plan: unknown; pulled: number }> {
  if (!provider) throw new SyncError('no_provider', 'a rescan plan needs a provider to pull from');
  const changes: SyncChange[] = [];
  let cursor = 0;
  let floor: number | undefined;
  for (;;) {
    const page = await pull(s, provider, cursor, floor, true);
    floor ??= page.retentionFloor;
    for (const change of page.changes) changes.push(change);
    cursor = page.nextCursor;
    if (!page.hasMore) break;
  }
  return { plan: await s.core.planRescan(changes), pulled: changes.length };
}
