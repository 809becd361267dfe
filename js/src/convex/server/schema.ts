/**
 * The tables synclane's Convex functions keep, to spread into the app's schema:
 *
 * ```ts
 * export default defineSchema({ ...synclaneTables, ...appTables });
 * ```
 *
 * Per workspace, as the reference server keeps it (docs/PROTOCOL.md):
 * - `synclane_workspaces`: the version counter document (head version, retention floor, the
 *   number of records and the epoch). Every push that stores something rewrites it, which is
 *   also what serializes pushes of one workspace: Convex retries a push that raced another.
 * - `synclane_records`: the current version of every record, tombstones included, each at the
 *   server version it was stored at. Ordered by version it is the change log, compacted per
 *   record: a record written again moves up, so a pull sees each record once, at its latest.
 * - `synclane_purged`: the stamps of purged tombstones, so a late write the delete beat still
 *   loses after the tombstone is gone.
 * - `synclane_devices`: each device's cursor and when it was last seen (holds back purging).
 * - `synclane_ops`: every op id pushed and its fate (applied at a version, or superseded), which
 *   makes pushes idempotent.
 *
 * Payloads are JSON strings, so every field name a record uses survives Convex's rules.
 *
 * @module
 */

import { defineTable } from 'convex/server';
import type { DataModelFromSchemaDefinition, SchemaDefinition } from 'convex/server';
import { v } from 'convex/values';

const stamp = v.object({ clock: v.number(), hlc: v.string(), deviceId: v.string(), opId: v.string() });
const opKind = v.union(v.literal('put'), v.literal('delete'));

/**
 * synclane's tables, to spread into the app's `defineSchema({ ...synclaneTables, ... })`. Their
 * names all start with `synclane_`.
 */
export const synclaneTables = {
  synclane_workspaces: defineTable({
    workspaceId: v.string(),
    /** The head: the last server version handed out. */
    version: v.number(),
    /** The retention floor: the highest server version of a purged tombstone. */
    floor: v.number(),
    /** How many documents of `synclane_records` the workspace has (what a pull from 0 sends). */
    records: v.number(),
    /** Names this data set; drawn when the document is created. */
    epoch: v.string(),
  }).index('by_workspace', ['workspaceId']),
  synclane_records: defineTable({
    workspaceId: v.string(),
    tableName: v.string(),
    pk: v.string(),
    op: opKind,
    payload: v.optional(v.string()),
    serverVersion: v.number(),
    /** When this version was stored (ms): a tombstone is purged once it is old enough. */
    storedAt: v.number(),
    stamp,
  })
    .index('by_version', ['workspaceId', 'serverVersion'])
    .index('by_key', ['workspaceId', 'tableName', 'pk'])
    .index('by_tombstone_age', ['workspaceId', 'op', 'storedAt']),
  synclane_purged: defineTable({
    workspaceId: v.string(),
    tableName: v.string(),
    pk: v.string(),
    stamp,
  }).index('by_key', ['workspaceId', 'tableName', 'pk']),
  synclane_devices: defineTable({
    workspaceId: v.string(),
    deviceId: v.string(),
    version: v.number(),
    seenAt: v.number(),
  }).index('by_device', ['workspaceId', 'deviceId']),
  synclane_ops: defineTable({
    workspaceId: v.string(),
    opId: v.string(),
    /** The version the op was stored at, or null when it was superseded. */
    appliedAt: v.union(v.number(), v.null()),
  }).index('by_op', ['workspaceId', 'opId']),
};

/** The data model of synclane's own tables, as the functions read and write them. */
export type SynclaneDataModel = DataModelFromSchemaDefinition<SchemaDefinition<typeof synclaneTables, true>>;

/** A document of one of synclane's tables. */
export type SynclaneDoc<Table extends keyof SynclaneDataModel> = SynclaneDataModel[Table]['document'];
