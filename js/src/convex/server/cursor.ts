/**
 * `updateCursor`: how far a device has pulled, so tombstones every active device has seen can
 * be purged. A device's cursor never moves backwards.
 *
 * @module
 */

import type { ConvexUpdateCursorArgs } from '../wire.js';
import { checkCursorUpdate } from './rules.js';
import { readWorkspace, type Writer } from './store.js';

/** Records a device's cursor (authorized callers only); `cursor_expired` when it is ahead of the head. */
export async function updateCursor(db: Writer, args: ConvexUpdateCursorArgs, nowMs: number): Promise<null> {
  const { workspaceId, deviceId, version } = args;
  const workspace = await readWorkspace(db, workspaceId);
  checkCursorUpdate(workspaceId, deviceId, version, workspace?.version ?? 0);
  const device = await db
    .query('synclane_devices')
    .withIndex('by_device', (q) => q.eq('workspaceId', workspaceId).eq('deviceId', deviceId))
    .unique();
  if (device === null) await db.insert('synclane_devices', { workspaceId, deviceId, version, seenAt: nowMs });
  else await db.patch(device._id, { version: Math.max(device.version, version), seenAt: nowMs });
  return null;
}
