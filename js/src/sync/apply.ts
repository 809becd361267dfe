/**
 * Remote changes into the local database: a pulled page applied with its cursor advance, and
 * what every apply reports afterwards (clock skew, conflicts, the applied event, watchers).
 *
 * @module
 */

import { toSyncError } from '../errors.js';
import type { PullResponse, SyncChange } from '../types/protocol.js';
import { emit, type ApplyReport, type SyncSession } from './session.js';

/** Applies a pulled page after cursor `from`, reporting it before and after. */
export async function applyPage(s: SyncSession, page: PullResponse, from: number): Promise<ApplyReport> {
  const { changes, nextCursor, hasMore, epoch } = page;
  emit(s, 'sync.pull:action:received', { source: 'pull', changes, cursor: from, nextCursor });
  let applied: ApplyReport;
  try {
    applied = (await s.core.applyRemote(changes, nextCursor, hasMore, epoch)) as ApplyReport;
  } catch (error) {
    const err = toSyncError(error);
    // A reset server is not a bad page: the caller rescans, and the reset is reported then.
    if (err.code !== 'cursor_expired') {
      emit(s, 'sync.pull:action:error', { source: 'pull', error: err, changes: changes.length });
    }
    throw err;
  }
  afterApply(s, changes, applied);
  return applied;
}

/** Reports what applying `changes` did: skew, each conflict, the totals; tells the watchers. */
export function afterApply(s: SyncSession, changes: SyncChange[], applied: ApplyReport): void {
  if (applied.skewMs > 0) {
    emit(s, 'sync.clock:action:skew', { aheadMs: applied.skewMs });
  }
  const byKey = applied.conflicts.length > 0 ? new Map(changes.map((c) => [`${c.tableName}\u0000${c.pk}`, c])) : undefined;
  for (const conflict of applied.conflicts) {
    const remote = byKey?.get(`${conflict.tableName}\u0000${conflict.pk}`);
    if (!remote) continue;
    emit(s, 'sync.conflict:action:detected', {
      tableName: conflict.tableName,
      pk: conflict.pk,
      local: conflict.local,
      remote,
      winner: conflict.winner,
      duringBootstrap: conflict.duringBootstrap,
    });
  }
  emit(s, 'sync.pull:action:applied', {
    source: 'pull',
    applied: applied.applied.length,
    skipped: applied.echoes + applied.identical + applied.stale,
    conflicts: applied.conflicts.length,
    cursor: applied.cursor.cursor,
  });
  s.announce(applied.applied.map((a) => ({ table: a.tableName, id: a.pk })));
}
