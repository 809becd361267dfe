/**
 * `pull` and `head`: the change log read by server version, and the workspace's version alone.
 *
 * Both are queries, so Convex caches them and re-runs them when what they read changes. A
 * query cannot write, so unlike the reference server a pull does not mark its device as seen;
 * the cursor report that ends every sync does.
 *
 * @module
 */

import type { ConvexHeadResult, ConvexPullArgs, ConvexPullResult, ConvexSyncChange } from '../wire.js';
import type { Settings } from './config.js';
import { checkPull, toChange } from './rules.js';
import { readWorkspace, storedVersion, type Reader } from './store.js';
import { utf8Length } from './validate.js';

/**
 * One page of the changes after `args.cursor`, ascending by server version (authorized
 * callers only). Each record appears once, at its latest version.
 *
 * `total` (what was left after the cursor) is given when it costs nothing: from cursor 0 it is
 * the workspace's record count, which its counter document keeps; on the last page it is what
 * the page read. Between those it is left out, since counting would read every document after
 * the cursor; clients use it for progress only, and take the count a sequence must reach from
 * its first page.
 */
export async function pull(db: Reader, args: ConvexPullArgs, settings: Settings): Promise<ConvexPullResult> {
  const workspace = await readWorkspace(db, args.workspaceId);
  const head = workspace?.version ?? 0;
  const floor = workspace?.floor ?? 0;
  const limit = checkPull(args.workspaceId, args, head, floor, settings.limits.maxPullLimit);
  const tables = args.tables && new Set(args.tables);
  const changes: ConvexSyncChange[] = [];
  let nextCursor = args.cursor;
  let hasMore = false;
  let taken = 0;
  let bytes = 0;
  const rows = db
    .query('synclane_records')
    .withIndex('by_version', (q) => q.eq('workspaceId', args.workspaceId).gt('serverVersion', args.cursor));
  for await (const row of rows) {
    // One row past a full page tells whether there is more, as the core's `assemble_page`.
    const size = row.payload === undefined ? 0 : utf8Length(row.payload);
    if (taken === limit || (taken > 0 && bytes + size > settings.limits.maxPageBytes)) {
      hasMore = true;
      break;
    }
    taken += 1;
    bytes += size;
    // Rows of tables the request did not ask for still move the cursor.
    nextCursor = row.serverVersion;
    if (tables && !tables.has(row.tableName)) continue;
    changes.push(toChange(row.tableName, row.pk, storedVersion(row)));
  }
  // A last page delivered everything up to the head, versions compacted away included.
  if (!hasMore) nextCursor = head;
  const total = args.cursor === 0 ? workspace?.records ?? 0 : hasMore ? undefined : taken;
  return {
    changes,
    nextCursor,
    hasMore,
    ...(total !== undefined && { total }),
    retentionFloor: floor,
    ...(workspace && { epoch: workspace.epoch }),
  };
}

/**
 * The workspace's version and epoch (authorized callers only). It reads the counter document
 * alone, which every push that stores something rewrites: a client that subscribes to it
 * (`client.onUpdate`) hears of each change for the price of one document, then pulls.
 */
export async function head(db: Reader, workspaceId: string): Promise<ConvexHeadResult> {
  const workspace = await readWorkspace(db, workspaceId);
  return workspace ? { version: workspace.version, epoch: workspace.epoch } : { version: 0 };
}
