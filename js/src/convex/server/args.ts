/**
 * The Convex argument validators of synclane's functions. Convex checks them before a function
 * runs; their types are the wire types of ../wire.ts. A pushed op's fields are checked by the
 * functions themselves (./validate.ts), so that a bad op is refused with synclane's error
 * code and the core's message, naming the op, rather than with Convex's validation error.
 *
 * @module
 */

import { v } from 'convex/values';

/** `push`: `ConvexPushArgs`. */
export const pushArgs = {
  workspaceId: v.string(),
  deviceId: v.string(),
  ops: v.array(v.any()),
};

/** `pull`: `ConvexPullArgs`. */
export const pullArgs = {
  workspaceId: v.string(),
  cursor: v.number(),
  limit: v.number(),
  deviceId: v.optional(v.string()),
  tables: v.optional(v.array(v.string())),
  snapshot: v.optional(v.boolean()),
  retentionFloor: v.optional(v.number()),
};

/** `head`: `ConvexHeadArgs`. */
export const headArgs = {
  workspaceId: v.string(),
};

/** `updateCursor`: `ConvexUpdateCursorArgs`. */
export const updateCursorArgs = {
  workspaceId: v.string(),
  deviceId: v.string(),
  version: v.number(),
};

/** `collectGarbage`: `ConvexCollectGarbageArgs`. */
export const collectGarbageArgs = {
  workspaceId: v.optional(v.string()),
  maxPurges: v.optional(v.number()),
};
