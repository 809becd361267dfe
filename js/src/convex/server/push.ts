/**
 * `push`: a batch of ops, validated whole, then applied op by op in one mutation (Convex's
 * transaction), exactly as the reference server does (docs/PROTOCOL.md).
 *
 * @module
 */

import type { ConvexPushArgs, ConvexPushResult } from '../wire.js';
import type { Settings } from './config.js';
import { applyPush } from './rules.js';
import { BatchState, drawEpoch, type Writer } from './store.js';
import { checkShape, validateBatch } from './validate.js';

/**
 * Applies a batch whose caller is authorized (`authorized` runs once the batch's shape is
 * known to be right, as the reference server authorizes after parsing the body). A bad op
 * throws before anything is written; otherwise each op is applied, a duplicate or superseded.
 */
export async function push(
  db: Writer,
  args: ConvexPushArgs,
  settings: Settings,
  nowMs: number,
  authorized: () => Promise<void>,
): Promise<ConvexPushResult> {
  const shaped = checkShape(args.ops);
  await authorized();
  const ops = validateBatch(args.workspaceId, args.deviceId, shaped, settings.limits, nowMs);
  const state = await BatchState.load(db, args.workspaceId, ops);
  const results = applyPush(state, ops, nowMs);
  await state.commit(db, drawEpoch);
  await touchDevice(db, args.workspaceId, args.deviceId, nowMs);
  return { results, serverVersion: state.head };
}

/** Pushing keeps a known device active; only cursor reports register one (as the core's server). */
async function touchDevice(db: Writer, workspaceId: string, deviceId: string, nowMs: number): Promise<void> {
  const device = await db
    .query('synclane_devices')
    .withIndex('by_device', (q) => q.eq('workspaceId', workspaceId).eq('deviceId', deviceId))
    .unique();
  if (device && device.seenAt !== nowMs) await db.patch(device._id, { seenAt: nowMs });
}
