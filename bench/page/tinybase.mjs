// The TinyBase contender (npm `tinybase`): a MergeableStore (TinyBase's sync-capable store:
// every cell carries an HLC, merges are last-writer-wins per cell) persisted with its own
// IndexedDB persister. Every write is followed by an awaited `persister.save()`, which is what
// its auto-save does after each change; that persister writes the store's whole mergeable
// content (one IndexedDB row) on every save, and opens a connection for each.
//
// Scenarios it supports: single writes, one batch, applying remote changes (produced by other
// MergeableStores, applied with `applyMergeableChanges`, its own conflict rule), get/getAll
// (from memory: TinyBase keeps the whole store in memory). Not: an outbox and coalescing
// (TinyBase syncs state, not ops), a bootstrap from synclane's server (another protocol).
import { createMergeableStore } from 'tinybase/mergeable-store';
import { createIndexedDbPersister } from 'tinybase/persisters/persister-indexed-db';
import { TABLE, chunk, record, REMOTE_BASE, REMOTE_CHANGES, REMOTE_BATCH } from './common.mjs';

export class TinyBase {
  static async open(name, uniqueId = 'tinybase-device') {
    const store = createMergeableStore(uniqueId);
    const persister = createIndexedDbPersister(store, name, 3600);
    await persister.load();
    return new TinyBase(store, persister);
  }

  constructor(store, persister) {
    this.store = store;
    this.persister = persister;
  }

  async write(records) {
    this.store.transaction(() => {
      for (const r of records) this.store.setRow(TABLE, r.id, r);
    });
    await this.persister.save();
  }

  async writeOne(r) {
    this.store.setRow(TABLE, r.id, r);
    await this.persister.save();
  }

  async get(id) {
    return this.store.getRow(TABLE, id);
  }

  async getAll() {
    return Object.values(this.store.getTable(TABLE));
  }

  counts() {
    return { live: this.store.getRowCount(TABLE) };
  }

  async close() {
    await this.persister.destroy();
  }
}

/**
 * The remote scenario in TinyBase's terms, from the same plan as the others: 5,000 base rows
 * written by a remote store (2 h ago), merged locally and saved (not timed); then 20 batches of
 * 500 changes: updates and deletes of base rows by the remote store (1 h ago: they win), updates
 * by a third store whose clock is 3 h ago (they lose, per cell), new rows; each batch's changes
 * (`getTransactionMergeableChanges`) are applied locally and saved (timed). Deletes of records
 * the remote never had produce no change in TinyBase (it has no tombstone for an unknown row).
 */
export function tinybaseRemoteData(baseMs) {
  let remoteNow = baseMs - 2 * 3600_000;
  const remote = createMergeableStore('remote-b', () => remoteNow);
  const early = createMergeableStore('remote-c', () => baseMs - 3 * 3600_000);
  const collect = (store, actions) => {
    let changes;
    store.startTransaction();
    actions();
    store.finishTransaction(() => {
      changes = store.getTransactionMergeableChanges();
      return false;
    });
    return changes;
  };
  const baseBatches = chunk(Array.from({ length: REMOTE_BASE }, (_, i) => i), REMOTE_BATCH).map((ids) =>
    collect(remote, () => ids.forEach((i) => remote.setRow(TABLE, `r${i}`, record(i, 0)))),
  );
  remoteNow = baseMs - 3600_000;
  const batches = chunk(Array.from({ length: REMOTE_CHANGES }, (_, k) => k), REMOTE_BATCH).map((ks) => {
    const losers = [];
    const fromRemote = collect(remote, () => {
      for (const k of ks) {
        if (k % 2 === 0) {
          const j = k / 2;
          const kind = j % 5;
          if (kind === 2) remote.delRow(TABLE, `r${j}`);
          else if (kind === 4) losers.push(j);
          else remote.setRow(TABLE, `r${j}`, record(j, 1));
        } else {
          const j = REMOTE_BASE + (k - 1) / 2;
          if (j % 10 === 0) remote.delRow(TABLE, `r${j}`);
          else remote.setRow(TABLE, `r${j}`, record(j, 1));
        }
      }
    });
    const fromEarly = collect(early, () => losers.forEach((j) => early.setRow(TABLE, `r${j}`, record(j, 1))));
    return [fromRemote, fromEarly];
  });
  return { baseBatches, batches };
}
