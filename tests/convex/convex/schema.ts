// The test app's schema: synclane's tables, as an app spreads them, and a membership table
// that the app's `authorize` reads.
import { defineSchema, defineTable } from 'convex/server';
import { v } from 'convex/values';
import { synclaneTables } from '../../../js/src/convex/server/index.js';

export default defineSchema({
  ...synclaneTables,
  members: defineTable({
    user: v.string(),
    workspaceId: v.string(),
    role: v.union(v.literal('writer'), v.literal('reader')),
  }).index('by_user_workspace', ['user', 'workspaceId']),
});
