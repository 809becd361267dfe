/**
 * Tombstone retention: `collectGarbage`, an internal mutation for the app's cron, purges the
 * tombstones that are older than the retention and that every active device has pulled, and
 * raises the workspace's retention floor to the highest version it purged. The stamp of each
 * purged tombstone is kept (`synclane_purged`), so a late write the delete beat still loses.
 *
 * @module
 */

import type { ConvexCollectGarbageArgs, ConvexCollectGarbageResult } from '../wire.js';
import type { Settings } from './config.js';
import { fail } from './errors.js';
import { isPurgeable, purgeHorizon } from './rules.js';
import { stampOf, type Writer } from './store.js';
import type { SynclaneDoc } from './schema.js';

/**
 * Purges what may be purged now, in one workspace or in all of them, at most `maxPurges`
 * tombstones per run (the rest waits for the next run: `complete` is false).
 */
export async function collectGarbage(
  db: Writer,
  args: ConvexCollectGarbageArgs,
  settings: Settings,
  nowMs: number,
): Promise<ConvexCollectGarbageResult> {
  const budget = args.maxPurges ?? settings.retention.maxPurgesPerRun;
  if (!Number.isSafeInteger(budget) || budget < 1) fail('invalid_argument', `maxPurges must be a positive whole number, got ${budget}`);
  const { workspaceId } = args;
  // Read before anything is written: the loop patches these documents.
  const workspaces =
    workspaceId === undefined
      ? await db.query('synclane_workspaces').collect()
      : await db
          .query('synclane_workspaces')
          .withIndex('by_workspace', (q) => q.eq('workspaceId', workspaceId))
          .collect();
  let purged = 0;
  for (const workspace of workspaces) {
    const left = budget - purged;
    if (left === 0) return { purged, complete: false };
    const done = await purgeWorkspace(db, workspace, settings, nowMs, left);
    purged += done.purged;
    if (!done.complete) return { purged, complete: false };
  }
  return { purged, complete: true };
}

async function purgeWorkspace(
  db: Writer,
  workspace: SynclaneDoc<'synclane_workspaces'>,
  settings: Settings,
  nowMs: number,
  budget: number,
): Promise<ConvexCollectGarbageResult> {
  const { workspaceId } = workspace;
  const { tombstoneRetentionMs, deviceTtlMs } = settings.retention;
  const devices = await db
    .query('synclane_devices')
    .withIndex('by_device', (q) => q.eq('workspaceId', workspaceId))
    .collect();
  const horizon = purgeHorizon(devices, workspace.version, nowMs, deviceTtlMs);
  // Only tombstones old enough are looked at; of those, the ones some active device has not
  // pulled yet stay. Looking is bounded too, so a run's reads stay bounded however many
  // tombstones wait above the horizon.
  // Read before anything is deleted: the loop deletes from the index it would walk.
  const lookAt = 4 * budget;
  const candidates = await db
    .query('synclane_records')
    .withIndex('by_tombstone_age', (q) =>
      q.eq('workspaceId', workspaceId).eq('op', 'delete').lte('storedAt', nowMs - tombstoneRetentionMs),
    )
    .take(lookAt + 1);
  let purged = 0;
  let floor = workspace.floor;
  let complete = candidates.length <= lookAt;
  for (const tombstone of candidates.slice(0, lookAt)) {
    if (purged === budget) {
      complete = false;
      break;
    }
    if (!isPurgeable(tombstone, horizon, nowMs, tombstoneRetentionMs)) continue;
    await db.delete(tombstone._id);
    await db.insert('synclane_purged', {
      workspaceId,
      tableName: tombstone.tableName,
      pk: tombstone.pk,
      stamp: stampOf(tombstone.stamp),
    });
    floor = Math.max(floor, tombstone.serverVersion);
    purged += 1;
  }
  if (purged > 0) await db.patch(workspace._id, { floor, records: workspace.records - purged });
  return { purged, complete };
}
