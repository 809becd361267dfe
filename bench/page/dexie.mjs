// The Dexie contender: a typical hand-rolled sync layer on Dexie 4.
//
// Same layout as the floor (notes, outbox, tombstones, meta). A local write is an explicit
// 'rw' transaction over the record, its tombstone and the outbox: it reads the stored version
// (the next clock is one more than the highest seen), stamps the write with a JS HLC, puts the
// record and queues a pending op (no coalescing: the outbox holds every write). Remote batches
// are applied with the same conflict rule in JS: bulkGet of the records and tombstones, then
// bulkPut/bulkDelete of the winners and the cursor, in one transaction.
import Dexie from 'dexie';
import { Hlc, TABLE, beats, httpPull, httpPush, sleep } from './common.mjs';

export class DexieSync {
  static async open(name, deviceId = 'dexie-device') {
    const db = new Dexie(name);
    db.version(1).stores({
      [TABLE]: 'id',
      outbox: '++seq, [tableName+pk]',
      tombstones: 'key',
      meta: 'key',
    });
    await db.open();
    return new DexieSync(db, deviceId);
  }

  constructor(db, deviceId) {
    this.db = db;
    this.notes = db.table(TABLE);
    this.deviceId = deviceId;
    this.hlc = new Hlc(0xde1e);
    this.ops = 0;
  }

  /** Puts records with their outbox entries in one transaction. */
  write(records) {
    const { db, notes } = this;
    return db.transaction('rw', notes, db.tombstones, db.outbox, async () => {
      const ids = records.map((r) => r.id);
      const [lives, tombs] = await Promise.all([notes.bulkGet(ids), db.tombstones.bulkGet(ids.map((id) => `${TABLE}\u0000${id}`))]);
      const createdAt = Date.now();
      const rows = [];
      const entries = [];
      records.forEach((record, i) => {
        const clock = Math.max(lives[i]?._sync.clock ?? 0, tombs[i]?.stamp.clock ?? 0) + 1;
        const stamp = { clock, hlc: this.hlc.now(), deviceId: this.deviceId, opId: `${this.deviceId}-${++this.ops}` };
        rows.push({ ...record, _sync: stamp });
        entries.push({ tableName: TABLE, pk: record.id, op: 'put', payload: record, stamp, state: 'pending', attempts: 0, createdAt });
      });
      await notes.bulkPut(rows);
      await db.outbox.bulkAdd(entries);
      if (tombs.some(Boolean)) await db.tombstones.bulkDelete(tombs.filter(Boolean).map((t) => t.key));
    });
  }

  /** Applies a page of remote changes by the conflict rule, with the cursor, in one transaction. */
  applyRemote(changes, nextCursor) {
    const { db, notes } = this;
    return db.transaction('rw', notes, db.tombstones, db.meta, async () => {
      const keys = changes.map((c) => `${c.tableName}\u0000${c.pk}`);
      const [lives, tombs] = await Promise.all([notes.bulkGet(changes.map((c) => c.pk)), db.tombstones.bulkGet(keys)]);
      const puts = [];
      const deletes = [];
      const tombPuts = [];
      const tombDeletes = [];
      const at = Date.now();
      changes.forEach((change, i) => {
        const live = lives[i];
        const tomb = tombs[i];
        const deleted = change.op === 'delete';
        if (live && !beats(change.stamp, deleted, live._sync, false)) return;
        if (!live && tomb && !beats(change.stamp, deleted, tomb.stamp, true)) return;
        if (!deleted) {
          puts.push({ ...change.payload, _sync: { ...change.stamp, serverVersion: change.serverVersion } });
          if (tomb) tombDeletes.push(keys[i]);
        } else {
          if (live) deletes.push(change.pk);
          tombPuts.push({ key: keys[i], tableName: change.tableName, pk: change.pk, stamp: change.stamp, serverVersion: change.serverVersion, deletedAt: at });
        }
      });
      await Promise.all([
        puts.length && notes.bulkPut(puts),
        deletes.length && notes.bulkDelete(deletes),
        tombPuts.length && db.tombstones.bulkPut(tombPuts),
        tombDeletes.length && db.tombstones.bulkDelete(tombDeletes),
        db.meta.put({ key: 'cursor', cursor: nextCursor }),
      ]);
      return puts.length + tombPuts.length;
    });
  }

  get(id) {
    return this.notes.get(id);
  }

  getAll() {
    return this.notes.toArray();
  }

  async counts() {
    const { db } = this;
    const [live, tombstones, cursor, outbox] = await Promise.all([this.notes.count(), db.tombstones.count(), db.meta.get('cursor'), db.outbox.count()]);
    return { live, tombstones, cursor: cursor?.cursor ?? 0, outbox };
  }

  /** Pushes the outbox in queue order, `maxOps` per request, deleting what the server took. */
  async flush(url, token, workspaceId, maxOps) {
    const sent = { pushes: 0, ops: 0, bytes: 0 };
    for (;;) {
      const entries = await this.db.outbox.orderBy('seq').limit(maxOps).toArray();
      if (entries.length === 0) return sent;
      const ops = entries.map((e) => ({ tableName: e.tableName, pk: e.pk, op: e.op, payload: e.payload, stamp: e.stamp }));
      const { bytes } = await httpPush(url, token, { scope: { workspaceId }, deviceId: this.deviceId, ops });
      sent.pushes += 1;
      sent.ops += ops.length;
      sent.bytes += bytes;
      await this.db.outbox.bulkDelete(entries.map((e) => e.seq));
    }
  }

  /** A bootstrap: snapshot pages pulled over HTTP, each applied in one transaction. */
  async bootstrap(url, token, workspaceId, limit) {
    let cursor = 0;
    let floor;
    let pulled = 0;
    for (;;) {
      const page = await httpPull(url, token, {
        scope: { workspaceId }, cursor, limit, deviceId: this.deviceId, snapshot: true,
        ...(floor !== undefined && { retentionFloor: floor }),
      });
      floor ??= page.retentionFloor;
      await this.applyRemote(page.changes, page.nextCursor);
      pulled += page.changes.length;
      cursor = page.nextCursor;
      if (!page.hasMore) return pulled;
      await sleep(0);
    }
  }

  close() {
    this.db.close();
  }
}
