/**
 * Who may use a workspace: every function asks the app's `authorize` before it reads or writes
 * anything of the workspace, and without one it lets nobody in. A refusal says nothing about
 * the workspace (whether it exists, what it holds).
 *
 * @module
 */

import type { GenericDataModel, GenericQueryCtx } from 'convex/server';
import { fail } from './errors.js';

/** What a caller asks to do with a workspace. */
export type SynclaneAccess = {
  /** The function called. */
  operation: 'push' | 'pull' | 'head' | 'updateCursor';
  /** Whether it writes the workspace's records (only `push` does). */
  write: boolean;
};

/**
 * The app's access rule: whether the caller of a function may use `workspaceId`. It can read
 * `ctx.auth.getUserIdentity()` and the app's tables (a membership table, say). It runs in the
 * function's transaction: a query's or a mutation's context (a mutation's is a query's and
 * more), so it should only read.
 */
export type SynclaneAuthorize<DataModel extends GenericDataModel = GenericDataModel> = (
  ctx: GenericQueryCtx<DataModel>,
  workspaceId: string,
  access: SynclaneAccess,
) => boolean | Promise<boolean>;

/**
 * Runs the app's rule, or refuses when there is none. A refused caller without an identity is
 * `unauthorized` (signing in may help), one with an identity `forbidden`.
 */
export async function authorize<DataModel extends GenericDataModel>(
  rule: SynclaneAuthorize<DataModel> | undefined,
  ctx: GenericQueryCtx<DataModel>,
  workspaceId: string,
  access: SynclaneAccess,
): Promise<void> {
  // Only a literal `true` lets the caller in: a rule that returns something else by mistake
  // (a membership document, say) refuses.
  if (rule !== undefined && (await rule(ctx, workspaceId, access)) === true) return;
  const identity = await ctx.auth.getUserIdentity();
  if (identity === null) fail('unauthorized', `signing in is required to use workspace ${JSON.stringify(workspaceId)}`);
  fail('forbidden', `this caller may not use workspace ${JSON.stringify(workspaceId)}`);
}
