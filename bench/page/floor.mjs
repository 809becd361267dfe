// The floor: the least IndexedDB work that does the job, by hand, with raw requests.
//
// The layout mirrors synclane's: the app table `notes` (keyed by `id`, the sync metadata in a
// `_sync` field), `_pending_ops` (the outbox, auto-increment `seq`, indexed by record),
// `_tombstones` and `_sync_state` (the cursor).
// - local write: one readwrite transaction that puts the record and adds its outbox entry
//   (nothing read first: the clock is 1, no coalescing; a strict lower bound);
// - remote batch: one readwrite transaction that reads each record's stored version (live
//   record and tombstone: every request issued at once), then writes the winners by the
//   conflict rule (records, tombstones) and the cursor;
// - reads: one `get` or `getAll` request, values returned as stored.
import { Hlc, TABLE, beats, httpPull, httpPush, now, sleep } from './common.mjs';

const OUTBOX = '_pending_ops';
const TOMBSTONES = '_tombstones';
const STATE = '_sync_state';

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('transaction aborted'));
  });
}

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

export class Floor {
  static async open(name, deviceId = 'floor-device') {
    const open = indexedDB.open(name, 1);
    open.onupgradeneeded = () => {
      const db = open.result;
      db.createObjectStore(TABLE, { keyPath: 'id' });
      db.createObjectStore(OUTBOX, { keyPath: 'seq', autoIncrement: true }).createIndex('by_record', ['tableName', 'pk']);
      db.createObjectStore(TOMBSTONES, { keyPath: 'key' });
      db.createObjectStore(STATE, { keyPath: 'key' });
    };
    return new Floor(await request(open), deviceId);
  }

  constructor(db, deviceId) {
    this.db = db;
    this.deviceId = deviceId;
    this.hlc = new Hlc(0xf100);
    this.ops = 0;
  }

  /** Puts records: each with its outbox entry, all in one transaction. */
  write(records) {
    const tx = this.db.transaction([TABLE, OUTBOX], 'readwrite');
    const table = tx.objectStore(TABLE);
    const outbox = tx.objectStore(OUTBOX);
    const createdAt = Date.now();
    for (const record of records) {
      const stamp = { clock: 1, hlc: this.hlc.now(), deviceId: this.deviceId, opId: `${this.deviceId}-${++this.ops}` };
      table.put({ ...record, _sync: stamp });
      outbox.add({ tableName: TABLE, pk: record.id, op: 'put', payload: record, stamp, state: 'pending', attempts: 0, createdAt });
    }
    return done(tx);
  }

  /**
   * Puts one record the way a sync layer must, in one transaction: first read what the write
   * depends on (the record's clock, which the new version continues; its tombstone, which a put
   * clears; its pending outbox entry, which the new op replaces), then write. The same storage
   * work as a synclane write, by hand: how much of synclane's cost the reads alone explain.
   *
   * With `totals`, the write also keeps the outbox's running totals (count and bytes) in a
   * `_sync_state` row, read and put in the same transaction as synclane does (its capacity
   * check and status read them without scanning the outbox): all of synclane's storage work.
   */
  writeOneReading(record, { totals = false } = {}) {
    const stores = totals ? [TABLE, OUTBOX, TOMBSTONES, STATE] : [TABLE, OUTBOX, TOMBSTONES];
    const tx = this.db.transaction(stores, 'readwrite');
    const table = tx.objectStore(TABLE);
    const outbox = tx.objectStore(OUTBOX);
    const tombstones = tx.objectStore(TOMBSTONES);
    const state = totals ? tx.objectStore(STATE) : undefined;
    const key = `${TABLE}\u0000${record.id}`;
    const totalsRequest = state?.get('outbox');
    const liveRequest = table.get(record.id);
    const tombRequest = tombstones.get(key);
    const entriesRequest = outbox.index('by_record').getAll([TABLE, record.id]);
    // Requests finish in order: the last one's event says all of them are read.
    entriesRequest.onsuccess = () => {
      const previous = liveRequest.result?._sync ?? tombRequest.result?.stamp;
      const pending = entriesRequest.result.find((e) => e.state === 'pending');
      const stamp = { clock: (previous?.clock ?? 0) + 1, hlc: this.hlc.now(), deviceId: this.deviceId, opId: `${this.deviceId}-${++this.ops}` };
      table.put({ ...record, _sync: stamp });
      if (tombRequest.result) tombstones.delete(key);
      const entry = { tableName: TABLE, pk: record.id, op: 'put', payload: record, stamp, state: 'pending', attempts: 0, createdAt: Date.now() };
      outbox.put(pending ? { ...entry, seq: pending.seq } : entry);
      if (state) {
        const before = totalsRequest.result ?? { count: 0, bytes: 0 };
        const bytes = JSON.stringify(record).length + 64;
        state.put({ key: 'outbox', count: before.count + (pending ? 0 : 1), bytes: before.bytes + bytes });
      }
    };
    return done(tx);
  }

  /**
   * Applies a page of remote changes by the conflict rule, with the cursor, in one transaction:
   * every read issued at once, then the winners written when the last read answers.
   */
  applyRemote(changes, nextCursor) {
    const tx = this.db.transaction([TABLE, TOMBSTONES, STATE], 'readwrite');
    const table = tx.objectStore(TABLE);
    const tombstones = tx.objectStore(TOMBSTONES);
    const keys = changes.map((c) => `${c.tableName}\u0000${c.pk}`);
    const lives = new Array(changes.length);
    const tombs = new Array(changes.length);
    let waiting = changes.length * 2;
    let applied = 0;
    const writeWinners = () => {
      const at = Date.now();
      changes.forEach((change, i) => {
        const live = lives[i];
        const tomb = tombs[i];
        const deleted = change.op === 'delete';
        if (live && !beats(change.stamp, deleted, live._sync, false)) return;
        if (!live && tomb && !beats(change.stamp, deleted, tomb.stamp, true)) return;
        applied += 1;
        if (!deleted) {
          table.put({ ...change.payload, _sync: { ...change.stamp, serverVersion: change.serverVersion } });
          if (tomb) tombstones.delete(keys[i]);
        } else {
          if (live) table.delete(change.pk);
          tombstones.put({ key: keys[i], tableName: change.tableName, pk: change.pk, stamp: change.stamp, serverVersion: change.serverVersion, deletedAt: at });
        }
      });
      tx.objectStore(STATE).put({ key: 'cursor', cursor: nextCursor });
    };
    changes.forEach((change, i) => {
      const liveRequest = table.get(change.pk);
      const tombRequest = tombstones.get(keys[i]);
      liveRequest.onsuccess = () => {
        lives[i] = liveRequest.result;
        if (--waiting === 0) writeWinners();
      };
      tombRequest.onsuccess = () => {
        tombs[i] = tombRequest.result;
        if (--waiting === 0) writeWinners();
      };
    });
    if (changes.length === 0) writeWinners();
    return done(tx).then(() => applied);
  }

  async get(id) {
    return request(this.db.transaction(TABLE).objectStore(TABLE).get(id));
  }

  async getAll() {
    return request(this.db.transaction(TABLE).objectStore(TABLE).getAll());
  }

  async counts() {
    const tx = this.db.transaction([TABLE, TOMBSTONES, STATE, OUTBOX]);
    const [live, tombstones, cursor, outbox] = await Promise.all([
      request(tx.objectStore(TABLE).count()),
      request(tx.objectStore(TOMBSTONES).count()),
      request(tx.objectStore(STATE).get('cursor')),
      request(tx.objectStore(OUTBOX).count()),
    ]);
    return { live, tombstones, cursor: cursor?.cursor ?? 0, outbox };
  }

  /** Pushes the outbox in queue order, `maxOps` per request, deleting what the server took. */
  async flush(url, token, workspaceId, maxOps) {
    const sent = { pushes: 0, ops: 0, bytes: 0 };
    for (;;) {
      const entries = await request(this.db.transaction(OUTBOX).objectStore(OUTBOX).getAll(null, maxOps));
      if (entries.length === 0) return sent;
      const ops = entries.map((e) => ({ tableName: e.tableName, pk: e.pk, op: e.op, payload: e.payload, stamp: e.stamp }));
      const { bytes } = await httpPush(url, token, { scope: { workspaceId }, deviceId: this.deviceId, ops });
      sent.pushes += 1;
      sent.ops += ops.length;
      sent.bytes += bytes;
      const tx = this.db.transaction(OUTBOX, 'readwrite');
      tx.objectStore(OUTBOX).delete(IDBKeyRange.bound(entries[0].seq, entries.at(-1).seq));
      await done(tx);
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

  /**
   * Puts `count` records with their sync metadata, `perTransaction` to a transaction, and
   * nothing else: no network, no JSON, no reads, no cursor. The fastest this browser's
   * IndexedDB takes the records a bootstrap stores, which no bootstrap can beat.
   */
  async putOnly(count, perTransaction, makeRecord) {
    const table = TABLE;
    for (let from = 0; from < count; from += perTransaction) {
      const tx = this.db.transaction([table], 'readwrite');
      const store = tx.objectStore(table);
      for (let i = from; i < Math.min(count, from + perTransaction); i++) {
        store.put({ ...makeRecord(i), _sync: { clock: 1, hlc: this.hlc.now(), deviceId: 'bench-filler', opId: `op-${i}`, serverVersion: i + 1 } });
      }
      await done(tx);
    }
    return count;
  }

  close() {
    this.db.close();
  }
}

export { now };
