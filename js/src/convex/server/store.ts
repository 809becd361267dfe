/**
 * Where the rules' state lives in Convex: reading what a decision needs from synclane's tables
 * (./schema.ts) and writing what it produced. Nothing here decides anything.
 *
 * A push loads everything its batch touches up front, with the reads issued together (the op
 * ids, the records of its keys, the purged stamps of the keys without a record), lets the
 * rules run over that in memory (`BatchState`), then writes only the final state of each key:
 * a record written twice in one batch is stored once, at its last version, as the change log
 * compaction of the reference server has it.
 *
 * @module
 */

import type { GenericDatabaseReader, GenericDatabaseWriter } from 'convex/server';
import type { GenericId } from 'convex/values';
import type { ConvexStamp } from '../wire.js';
import type { PushState, StoredVersion } from './rules.js';
import type { SynclaneDataModel, SynclaneDoc } from './schema.js';
import type { ValidOp } from './validate.js';

/** A reader of synclane's tables. */
export type Reader = GenericDatabaseReader<SynclaneDataModel>;
/** A writer of synclane's tables. */
export type Writer = GenericDatabaseWriter<SynclaneDataModel>;

/** The workspace's version counter document, if the workspace ever stored anything. */
export function readWorkspace(db: Reader, workspaceId: string): Promise<SynclaneDoc<'synclane_workspaces'> | null> {
  return db
    .query('synclane_workspaces')
    .withIndex('by_workspace', (q) => q.eq('workspaceId', workspaceId))
    .unique();
}

/** A stored record document as the rules see it. */
export function storedVersion(doc: SynclaneDoc<'synclane_records'>): StoredVersion {
  return {
    op: doc.op,
    payload: doc.payload,
    stamp: stampOf(doc.stamp),
    serverVersion: doc.serverVersion,
    storedAt: doc.storedAt,
  };
}

/** A stamp with exactly its four fields (a document's copy may carry no others, but be sure). */
export function stampOf(stamp: ConvexStamp): ConvexStamp {
  return { clock: stamp.clock, hlc: stamp.hlc, deviceId: stamp.deviceId, opId: stamp.opId };
}

const keyOf = (tableName: string, pk: string): string => JSON.stringify([tableName, pk]);

/** What one key of a batch held when it was loaded. */
type Loaded = {
  tableName: string;
  pk: string;
  recordId: GenericId<'synclane_records'> | undefined;
  current: StoredVersion | undefined;
  purgedId: GenericId<'synclane_purged'> | undefined;
  purged: ConvexStamp | undefined;
  /** Set once the batch stored a version of this key. */
  written: boolean;
};

/**
 * The state a batch runs against: loaded once, changed in memory by the rules, then written
 * by {@link BatchState.commit}.
 */
export class BatchState implements PushState {
  private constructor(
    private readonly workspaceId: string,
    private readonly workspace: SynclaneDoc<'synclane_workspaces'> | null,
    private readonly keys: Map<string, Loaded>,
    private readonly ops: Map<string, number | null | undefined>,
    private version: number,
  ) {}

  /** The new op ids and their fate, to be written. */
  private readonly newOps = new Map<string, number | null>();

  /** Loads what `ops` touch. */
  static async load(db: Reader, workspaceId: string, ops: readonly ValidOp[]): Promise<BatchState> {
    const workspace = await readWorkspace(db, workspaceId);
    const opIds = [...new Set(ops.map((op) => op.stamp.opId))];
    const keys = new Map<string, { tableName: string; pk: string }>();
    for (const op of ops) keys.set(keyOf(op.tableName, op.pk), { tableName: op.tableName, pk: op.pk });
    // A workspace without its counter document has stored nothing: nothing else to read.
    const [seen, loaded] = workspace
      ? await Promise.all([
          Promise.all(
            opIds.map((opId) =>
              db
                .query('synclane_ops')
                .withIndex('by_op', (q) => q.eq('workspaceId', workspaceId).eq('opId', opId))
                .unique(),
            ),
          ),
          Promise.all([...keys.values()].map(({ tableName, pk }) => loadKey(db, workspaceId, tableName, pk))),
        ])
      : [[], [...keys.values()].map(({ tableName, pk }) => emptyKey(tableName, pk))];
    const opMap = new Map<string, number | null | undefined>();
    opIds.forEach((opId, i) => opMap.set(opId, seen[i]?.appliedAt));
    const keyMap = new Map(loaded.map((entry) => [keyOf(entry.tableName, entry.pk), entry]));
    return new BatchState(workspaceId, workspace, keyMap, opMap, workspace?.version ?? 0);
  }

  seenOp(opId: string): number | null | undefined {
    return this.newOps.has(opId) ? this.newOps.get(opId) : this.ops.get(opId);
  }

  current(tableName: string, pk: string): StoredVersion | undefined {
    return this.keys.get(keyOf(tableName, pk))?.current;
  }

  purged(tableName: string, pk: string): ConvexStamp | undefined {
    return this.keys.get(keyOf(tableName, pk))?.purged;
  }

  floor(): number {
    return this.workspace?.floor ?? 0;
  }

  nextVersion(): number {
    this.version += 1;
    return this.version;
  }

  rememberOp(opId: string, appliedAt: number | null): void {
    this.newOps.set(opId, appliedAt);
  }

  store(tableName: string, pk: string, version: StoredVersion): void {
    const entry = this.keys.get(keyOf(tableName, pk));
    // The rules only store keys of the batch, which were all loaded.
    if (entry === undefined) throw new Error(`synclane: store of a key the batch did not load: ${tableName}/${pk}`);
    entry.current = version;
    entry.purged = undefined;
    entry.written = true;
  }

  /** The workspace's version after the batch. */
  get head(): number {
    return this.version;
  }

  /**
   * Writes the batch's outcome: each stored key's final version (its purged stamp removed),
   * every new op id, and the counter document when the version moved (a batch of duplicates
   * and losers leaves it alone, so the `head` query's result stays as it is).
   */
  async commit(db: Writer, newEpoch: () => string): Promise<void> {
    const writes: Promise<unknown>[] = [];
    let added = 0;
    for (const entry of this.keys.values()) {
      if (!entry.written || entry.current === undefined) continue;
      const { op, payload, stamp, serverVersion, storedAt } = entry.current;
      const doc = {
        workspaceId: this.workspaceId,
        tableName: entry.tableName,
        pk: entry.pk,
        op,
        ...(payload !== undefined && { payload }),
        serverVersion,
        storedAt,
        stamp,
      };
      if (entry.recordId !== undefined) writes.push(db.replace(entry.recordId, doc));
      else {
        writes.push(db.insert('synclane_records', doc));
        added += 1;
      }
      if (entry.purgedId !== undefined) writes.push(db.delete(entry.purgedId));
    }
    for (const [opId, appliedAt] of this.newOps) {
      writes.push(db.insert('synclane_ops', { workspaceId: this.workspaceId, opId, appliedAt }));
    }
    const before = this.workspace?.version ?? 0;
    if (this.version !== before) {
      if (this.workspace) {
        writes.push(db.patch(this.workspace._id, { version: this.version, records: this.workspace.records + added }));
      } else {
        writes.push(
          db.insert('synclane_workspaces', {
            workspaceId: this.workspaceId,
            version: this.version,
            floor: 0,
            records: added,
            epoch: newEpoch(),
          }),
        );
      }
    }
    await Promise.all(writes);
  }
}

async function loadKey(db: Reader, workspaceId: string, tableName: string, pk: string): Promise<Loaded> {
  const record = await db
    .query('synclane_records')
    .withIndex('by_key', (q) => q.eq('workspaceId', workspaceId).eq('tableName', tableName).eq('pk', pk))
    .unique();
  if (record) {
    return { ...emptyKey(tableName, pk), recordId: record._id, current: storedVersion(record) };
  }
  // A record's purged stamp is only kept while it has no record: only then can it matter.
  const purged = await db
    .query('synclane_purged')
    .withIndex('by_key', (q) => q.eq('workspaceId', workspaceId).eq('tableName', tableName).eq('pk', pk))
    .unique();
  return purged ? { ...emptyKey(tableName, pk), purgedId: purged._id, purged: stampOf(purged.stamp) } : emptyKey(tableName, pk);
}

function emptyKey(tableName: string, pk: string): Loaded {
  return { tableName, pk, recordId: undefined, current: undefined, purgedId: undefined, purged: undefined, written: false };
}

/**
 * A fresh epoch: random, so that a workspace whose data was lost and that starts again is
 * told apart from the one devices synced with.
 */
export function drawEpoch(): string {
  const random = globalThis.crypto?.randomUUID?.();
  if (random) return random;
  let out = '';
  for (let i = 0; i < 4; i++) out += Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, '0');
  return out;
}
