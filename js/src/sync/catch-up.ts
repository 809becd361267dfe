/**
 * Catching up with the server: a bootstrap from a cold start, a pull from the cursor once
 * live, or a rescan after the cursor expired; then the cursor reported to the server.
 *
 * @module
 */

import { toSyncError } from '../errors.js';
import type { PullResponse, SyncProvider, SyncScope } from '../types/protocol.js';
import type { SyncReport } from '../types/sync.js';
import { applyPage } from './apply.js';
import { rescan } from './rescan.js';
import { call, pull } from './requests.js';
import { emit, yieldToPage, type ApplyReport, type SyncSession } from './session.js';

/** The size of a bootstrap's first page (at most `pullLimit`). */
const FIRST_BOOTSTRAP_PAGE = 100;

/** Pulls until caught up: a bootstrap from a cold start, a rescan after expiry. */
export async function catchUp(s: SyncSession, provider: SyncProvider, report: SyncReport, jobId: string): Promise<void> {
  const scope: SyncScope = { workspaceId: s.workspaceId };
  let cursor = (await s.core.cursorState()) as { phase: string; cursor: number };
  if (cursor.phase === 'expired' || cursor.phase === 'rescanning') {
    await rescan(s, provider, report, cursor.cursor);
  } else {
    const bootstrapping = cursor.phase !== 'live';
    s.phase = bootstrapping ? 'bootstrap' : 'pull';
    const started = Date.now();
    let floor: number | undefined;
    let pulled = 0;
    if (bootstrapping) emit(s, 'sync.bootstrap:action:start', { providerId: provider.id });
    // The next page, asked for while the current one is stored.
    let next: { cursor: number; page: Promise<PullResponse> } | undefined;
    for (;;) {
      let page: PullResponse;
      let applied: ApplyReport;
      try {
        // A bootstrap's first page is small: the app gets its first records sooner, and the
        // page's work runs while the code is still cold (not yet optimised by the engine),
        // where a full page would hold the main thread for tens of milliseconds.
        const limit = bootstrapping && pulled === 0 ? Math.min(s.pullLimit, FIRST_BOOTSTRAP_PAGE) : s.pullLimit;
        page = await (next?.cursor === cursor.cursor ? next.page : pull(s, provider, cursor.cursor, floor, bootstrapping, limit));
        floor ??= page.retentionFloor;
        // While this page is stored, the next one downloads: the network and the database
        // work at the same time (a bootstrap over HTTP on 127.0.0.1 went from about 6,600 to
        // about 8,000 records/s). A failure of the next pull surfaces when it is awaited; if
        // this page fails, the next one is dropped unseen.
        next = undefined;
        if (page.hasMore) {
          next = { cursor: page.nextCursor, page: pull(s, provider, page.nextCursor, floor, bootstrapping) };
          next.page.catch(() => undefined);
        }
        applied = await applyPage(s, page, cursor.cursor);
      } catch (error) {
        // The server no longer serves this cursor (below its retention floor, or ahead of its
        // head), or the page names another server data set than the cursor's (a reset): rescan.
        const err = toSyncError(error);
        if (err.code !== 'cursor_expired') throw err;
        await rescan(s, provider, report, cursor.cursor);
        break;
      }
      report.pulled += page.changes.length;
      report.applied += applied.applied.length;
      report.conflicts += applied.conflicts.length;
      pulled += page.changes.length;
      cursor = applied.cursor;
      if (page.total !== undefined) s.progress = { current: pulled, total: page.total };
      s.hooks.emit('sync.job.progress', { jobId, workspaceId: s.workspaceId, kind: bootstrapping ? 'bootstrap' : 'pull', done: pulled, ...(page.total !== undefined && { total: page.total }) });
      if (bootstrapping) {
        emit(s, 'sync.bootstrap:action:progress', { cursor: cursor.cursor, pulled, ...(page.total !== undefined && { total: page.total }) });
      }
      if (!page.hasMore) break;
      await yieldToPage();
    }
    if (bootstrapping && cursor.phase === 'live') {
      emit(s, 'sync.bootstrap:action:complete', { cursor: cursor.cursor, totalPulled: pulled, durationMs: Date.now() - started });
    }
  }
  s.phase = 'cursor';
  try {
    await reportCursor(s, provider, scope);
  } catch (error) {
    // The server lost versions this device pulled, after the pull (a reset in between):
    // reconcile now rather than fail every sync until the next pull notices.
    if (toSyncError(error).code !== 'cursor_expired') throw error;
    const expired = ((await s.core.cursorState()) as { cursor: number }).cursor;
    await rescan(s, provider, report, expired);
    s.phase = 'cursor';
    await reportCursor(s, provider, scope);
  }
}

/** Tells the server how far this device has pulled, so it can purge what every device has. */
async function reportCursor(s: SyncSession, provider: SyncProvider, scope: SyncScope): Promise<void> {
  const final = ((await s.core.cursorState()) as { cursor: number }).cursor;
  await call(s, provider, 'updateCursor', () => provider.updateCursor(scope, s.core.deviceId, final));
}
