// The functions as an app mounts them: a caller may use the workspaces it is a member of, and
// push to those where it is a writer.
import { synclaneFunctions } from '../../../js/src/convex/server/index.js';
import type { DataModel } from './_generated/dataModel.js';

export const { push, pull, head, updateCursor, collectGarbage } = synclaneFunctions<DataModel>({
  authorize: async (ctx, workspaceId, access) => {
    const identity = await ctx.auth.getUserIdentity();
    if (identity === null) return false;
    const member = await ctx.db
      .query('members')
      .withIndex('by_user_workspace', (q) => q.eq('user', identity.subject).eq('workspaceId', workspaceId))
      .unique();
    return member !== null && (!access.write || member.role === 'writer');
  },
});
