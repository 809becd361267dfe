/**
 * `synclane/convex/server`: synclane's sync protocol as Convex functions, for apps whose
 * backend is Convex. The app spreads {@link synclaneTables} into its schema and exports the
 * functions {@link synclaneFunctions} builds from a module of its `convex/` folder:
 *
 * ```ts
 * // convex/schema.ts
 * import { defineSchema } from 'convex/server';
 * import { synclaneTables } from 'synclane/convex/server';
 * export default defineSchema({ ...synclaneTables, ...appTables });
 *
 * // convex/synclane.ts
 * import { synclaneFunctions } from 'synclane/convex/server';
 * export const { push, pull, head, updateCursor, collectGarbage } = synclaneFunctions({
 *   authorize: async (ctx, workspaceId) => isMember(ctx, workspaceId),
 * });
 *
 * // convex/crons.ts
 * const crons = cronJobs();
 * crons.interval('synclane tombstones', { hours: 1 }, internal.synclane.collectGarbage, {});
 * export default crons;
 * ```
 *
 * `convex` is a peer dependency of synclane, needed only by this entry point.
 *
 * @module
 */

export { synclaneTables } from './schema.js';
export type { SynclaneDataModel, SynclaneDoc } from './schema.js';
export { synclaneFunctions } from './functions.js';
export type { SynclaneFunctions, SynclaneFunctionsOptions } from './functions.js';
export type { SynclaneAccess, SynclaneAuthorize } from './auth.js';
export { DEFAULT_LIMITS, DEFAULT_RETENTION, MAX_PAYLOAD_BYTES } from './config.js';
export type { SynclaneLimits, SynclaneRetention } from './config.js';
export { compareVersions, incomingWins } from './conflict.js';
export type { VersionRef } from './conflict.js';
export type {
  ConvexCollectGarbageArgs,
  ConvexCollectGarbageResult,
  ConvexHeadArgs,
  ConvexHeadResult,
  ConvexOpKind,
  ConvexPendingOp,
  ConvexPullArgs,
  ConvexPullResult,
  ConvexPushArgs,
  ConvexPushOpResult,
  ConvexPushResult,
  ConvexStamp,
  ConvexSyncChange,
  ConvexSyncErrorData,
  ConvexUpdateCursorArgs,
} from '../wire.js';
