/**
 * `synclaneFunctions`: builds the Convex functions of the sync protocol for the app to export
 * from a module of its `convex/` folder:
 *
 * ```ts
 * // convex/synclane.ts
 * export const { push, pull, head, updateCursor, collectGarbage } = synclaneFunctions({
 *   authorize: async (ctx, workspaceId) => isMember(ctx, workspaceId),
 * });
 * ```
 *
 * @module
 */

import { internalMutationGeneric, mutationGeneric, queryGeneric } from 'convex/server';
import type { GenericDataModel, GenericQueryCtx, RegisteredMutation, RegisteredQuery } from 'convex/server';
import type {
  ConvexCollectGarbageArgs,
  ConvexCollectGarbageResult,
  ConvexHeadArgs,
  ConvexHeadResult,
  ConvexPullArgs,
  ConvexPullResult,
  ConvexPushArgs,
  ConvexPushResult,
  ConvexUpdateCursorArgs,
} from '../wire.js';
import { collectGarbageArgs, headArgs, pullArgs, pushArgs, updateCursorArgs } from './args.js';
import { authorize, type SynclaneAccess, type SynclaneAuthorize } from './auth.js';
import { resolveSettings, type SynclaneLimits, type SynclaneRetention } from './config.js';
import { updateCursor } from './cursor.js';
import { head, pull } from './pull.js';
import { push } from './push.js';
import { collectGarbage } from './retention.js';
import type { Reader, Writer } from './store.js';

/** The options of {@link synclaneFunctions}. */
export type SynclaneFunctionsOptions<DataModel extends GenericDataModel = GenericDataModel> = {
  /**
   * Whether the caller may use a workspace; asked before every call touches one. Without it
   * every call is refused (`unauthorized` for a caller without an identity, else `forbidden`).
   */
  authorize?: SynclaneAuthorize<DataModel>;
  /** Size limits (see {@link SynclaneLimits} for the defaults). */
  limits?: Partial<SynclaneLimits>;
  /** Tombstone retention (see {@link SynclaneRetention} for the defaults). */
  retention?: Partial<SynclaneRetention>;
};

/**
 * The functions {@link synclaneFunctions} builds; their names are the ones the app exports
 * them under, which the client provider is given.
 */
export type SynclaneFunctions = {
  /**
   * Mutation. Pushes a batch: validated whole (a bad op throws `invalid_change`,
   * `invalid_payload`, `payload_too_large`, `clock_skew` or `invalid_argument`, and nothing is
   * written), then each op applied, a duplicate (its op id was seen) or superseded.
   */
  push: RegisteredMutation<'public', ConvexPushArgs, Promise<ConvexPushResult>>;
  /**
   * Query. A page of the changes after a cursor, ascending by server version; `cursor_expired`
   * below the retention floor (except a snapshot's first page, and pages that send back the
   * floor their sequence began under) and ahead of the head.
   */
  pull: RegisteredQuery<'public', ConvexPullArgs, Promise<ConvexPullResult>>;
  /** Query. The workspace's version and epoch, reading the counter document alone: subscribe to it. */
  head: RegisteredQuery<'public', ConvexHeadArgs, Promise<ConvexHeadResult>>;
  /** Mutation. Records how far a device has pulled (never backwards); `cursor_expired` ahead of the head. */
  updateCursor: RegisteredMutation<'public', ConvexUpdateCursorArgs, Promise<null>>;
  /** Internal mutation, for a cron. Purges old tombstones every active device has pulled. */
  collectGarbage: RegisteredMutation<'internal', ConvexCollectGarbageArgs, Promise<ConvexCollectGarbageResult>>;
};

/**
 * Builds synclane's Convex functions: the protocol of docs/PROTOCOL.md over the tables of
 * `synclaneTables`, which the app's schema must include. Every function but `collectGarbage`
 * asks `options.authorize` first; each throws a `ConvexError` whose `data` is
 * `{ code, message }` with synclane's canonical codes.
 */
export function synclaneFunctions<DataModel extends GenericDataModel = GenericDataModel>(
  options: SynclaneFunctionsOptions<DataModel> = {},
): SynclaneFunctions {
  const settings = resolveSettings(options.limits, options.retention);
  const rule = options.authorize;
  // The app's context holds synclane's tables (its schema spreads `synclaneTables`), so its
  // database can be used as one of synclane's own.
  const check = (ctx: GenericQueryCtx<GenericDataModel>, workspaceId: string, access: SynclaneAccess) =>
    authorize(rule, ctx as unknown as GenericQueryCtx<DataModel>, workspaceId, access);
  const reader = (ctx: GenericQueryCtx<GenericDataModel>) => ctx.db as unknown as Reader;

  return {
    push: mutationGeneric({
      args: pushArgs,
      handler: (ctx, args) =>
        push(ctx.db as unknown as Writer, args, settings, Date.now(), () =>
          check(ctx, args.workspaceId, { operation: 'push', write: true }),
        ),
    }),
    pull: queryGeneric({
      args: pullArgs,
      handler: async (ctx, args) => {
        await check(ctx, args.workspaceId, { operation: 'pull', write: false });
        return pull(reader(ctx), args, settings);
      },
    }),
    head: queryGeneric({
      args: headArgs,
      handler: async (ctx, args) => {
        await check(ctx, args.workspaceId, { operation: 'head', write: false });
        return head(reader(ctx), args.workspaceId);
      },
    }),
    updateCursor: mutationGeneric({
      args: updateCursorArgs,
      handler: async (ctx, args) => {
        await check(ctx, args.workspaceId, { operation: 'updateCursor', write: false });
        return updateCursor(ctx.db as unknown as Writer, args, Date.now());
      },
    }),
    collectGarbage: internalMutationGeneric({
      args: collectGarbageArgs,
      handler: (ctx, args) => collectGarbage(ctx.db as unknown as Writer, args, settings, Date.now()),
    }),
  };
}
